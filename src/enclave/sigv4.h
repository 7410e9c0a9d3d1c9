/* AWS Signature Version 4 (AWS4-HMAC-SHA256), small and transport-free: the KMS client in the enclave
 * signs with it (no libcurl there). Canonical request as in AWS's documentation and test suite
 * (../shared/vectors/sigv4/, every case of which tests/unit/test_sigv4.c checks):
 *
 *   METHOD \n canonical URI \n canonical query \n canonical headers \n signed headers \n hex(SHA-256(payload))
 *
 *   - URI: path segments with "", "." removed and ".." applied (non-S3 normalisation), each segment
 *     URI-encoded (unreserved A-Z a-z 0-9 - _ . ~ kept, every other byte %XX upper case), a trailing
 *     slash kept;
 *   - query: name=value pairs split at '&', percent-decoded then re-encoded, sorted by name then value;
 *   - headers: names lower-cased, values trimmed with inner whitespace runs collapsed to one space,
 *     sorted by name (stable), repeated names joined with ',' in the order given.
 * Every header passed is signed. The signing key chain (kDate, kRegion, kService, kSigning) is wiped. */
#ifndef VIGIL_ENCLAVE_SIGV4_H
#define VIGIL_ENCLAVE_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

#define VG_SIGV4_DATE_LEN 16      /* "YYYYMMDDTHHMMSSZ" */
#define VG_SIGV4_HEADERS_MAX 64
#define VG_SIGV4_TEXT_MAX 65536   /* cap on the canonical request */

struct vg_sigv4_header {
    const char *name;
    const char *value;
};

struct vg_sigv4_request {
    const char *method;
    const char *path;  /* as on the request line, without the query */
    const char *query; /* without '?'; NULL or "" for none */
    const struct vg_sigv4_header *headers;
    size_t n_headers; /* all signed; must include host and x-amz-date */
    const uint8_t *payload;
    size_t payload_len;
};

struct vg_sigv4_params {
    const char *access_key_id;
    const char *secret_access_key; /* never copied outside wiped memory */
    const char *region;
    const char *service;
    const char *amz_date; /* VG_SIGV4_DATE_LEN characters; the X-Amz-Date header's value */
};

/* What signing produced. Every string is malloc'ed (free with vg_sigv4_result_clear). The canonical
 * request and string to sign are kept for tests and for debugging a server's "signature does not
 * match"; none of them contains the secret. */
struct vg_sigv4_result {
    char *canonical_request;
    char *string_to_sign;
    char *signed_headers; /* "host;x-amz-date;..." */
    char *authorization;  /* the Authorization header value */
};

/* Signs req. Errors: VG_E_INVALID for a malformed date, too many headers or a text over
 * VG_SIGV4_TEXT_MAX; VG_E_INTERNAL when OpenSSL or an allocation fails. */
int vg_sigv4_sign(const struct vg_sigv4_request *req, const struct vg_sigv4_params *p, struct vg_sigv4_result *out,
                  vg_err *err);
void vg_sigv4_result_clear(struct vg_sigv4_result *r);

/* t as "YYYYMMDDTHHMMSSZ" (UTC) into out (VG_SIGV4_DATE_LEN + 1 bytes). */
void vg_sigv4_amz_date(time_t t, char out[VG_SIGV4_DATE_LEN + 1]);

#endif
