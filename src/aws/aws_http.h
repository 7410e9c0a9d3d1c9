/* The libcurl plumbing shared by the AWS clients (IMDS in credentials.c, DynamoDB in dynamodb.c):
 * one-time global initialisation, a capped response buffer, and transport error texts. Message
 * encoding and parsing stay in the callers. */
#ifndef VIGIL_AWS_AWS_HTTP_H
#define VIGIL_AWS_AWS_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* Runs curl_global_init once per process (thread-safe). Returns -1 (VG_E_UNAVAILABLE) on failure. */
int vg_aws_http_init(vg_err *err);

/* A response body collected up to `cap` bytes; a longer body makes the transfer fail
 * (CURLE_WRITE_ERROR) and sets `overflow`. The buffer is NUL-terminated. When `secret` is set the
 * buffer lives in vg_secure_alloc memory (IMDS credential documents). */
typedef struct {
    char *data;
    size_t len, cap, alloc;
    bool overflow, secret;
} vg_aws_http_buf;

/* Prepares an empty buffer (no allocation yet). */
void vg_aws_http_buf_init(vg_aws_http_buf *b, size_t cap, bool secret);
/* Empties the buffer, keeping its allocation (wiped first). */
void vg_aws_http_buf_reset(vg_aws_http_buf *b);
/* Wipes and frees. NULL-safe. */
void vg_aws_http_buf_free(vg_aws_http_buf *b);
/* CURLOPT_WRITEFUNCTION for a vg_aws_http_buf passed as CURLOPT_WRITEDATA. */
size_t vg_aws_http_buf_write(char *ptr, size_t size, size_t nmemb, void *userdata);

/* True for transport failures worth another attempt (connect refused/timeout, reset, partial
 * reply, DNS hiccup). */
bool vg_aws_http_transient(CURLcode rc);

#endif
