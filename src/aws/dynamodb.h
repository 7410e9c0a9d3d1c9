/* DynamoDB client: the JSON 1.0 protocol (POST /, X-Amz-Target: DynamoDB_20120810.<Op>) over
 * libcurl, signed by libcurl's SigV4 (CURLOPT_AWS_SIGV4 "aws:amz:<region>:dynamodb" with the key
 * id / secret as user / password and X-Amz-Security-Token for session credentials).
 *
 * Every call has a per-attempt timeout and a total time budget; throttling
 * (ThrottlingException, ProvisionedThroughputExceededException, RequestLimitExceeded), 5xx,
 * transaction conflicts and transport failures (refused, reset, timeout) are retried with full-jitter
 * exponential backoff until the budget or the attempt limit runs out. Connections are kept in a
 * small pool of curl easy handles (one in use per calling thread at a time), so keep-alive
 * connections are reused.
 *
 * Errors: a failed condition (ConditionalCheckFailedException, or a TransactionCanceledException
 * whose reasons include ConditionalCheckFailed) is VG_E_CONFLICT; every other failure is
 * VG_E_UNAVAILABLE with "DynamoDB <Op>: <type>: <message> (...)". Server text is escaped and
 * truncated. Requests and credentials are never logged. */
#ifndef VIGIL_AWS_DYNAMODB_H
#define VIGIL_AWS_DYNAMODB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/credentials.h"
#include "common/err.h"

#define VG_DDB_RESPONSE_MAX (8 * 1024 * 1024) /* a Scan page is ≤ 1 MB of data; JSON/base64 adds */

typedef struct vg_ddb vg_ddb;

typedef struct {
    const char *endpoint;    /* NULL: $AWS_ENDPOINT_URL_DYNAMODB, $AWS_ENDPOINT_URL, else
                                https://dynamodb.<region>.amazonaws.com */
    const char *region;      /* NULL: the credentials' region; "us-east-1" with an explicit endpoint */
    long connect_timeout_ms; /* 0 → 1000 */
    long attempt_timeout_ms; /* 0 → 2000: one HTTP exchange */
    long retry_budget_ms;    /* 0 → 5000: all attempts and backoff sleeps of one call */
    int max_attempts;        /* 0 → 8 */
    long backoff_base_ms;    /* 0 → 25 */
    long backoff_cap_ms;     /* 0 → 1000 */
} vg_ddb_options;

/* Details of the last failure of a call (what an operator needs; no secrets). */
typedef struct {
    long http_status;       /* 0: no HTTP answer (transport failure) */
    char type[96];          /* AWS error type after '#', e.g. "ResourceNotFoundException"; "" if none */
    char message[192];      /* server message (escaped) or transport error text */
    bool condition_failed;  /* the write's condition did not hold */
    bool retryable;         /* the last failure was of a retryable class */
    int attempts;
    long elapsed_ms;
    json_t *body;           /* parsed error document, owned (e.g. the old Item on a failed condition) */
} vg_ddb_error;

void vg_ddb_error_clear(vg_ddb_error *e); /* frees body, zeroes; NULL-safe */

/* creds is borrowed and must outlive the client. Errors: VG_E_INVALID (endpoint scheme, no
 * region), VG_E_UNAVAILABLE (libcurl). */
int vg_ddb_new(const vg_ddb_options *opt, vg_aws_credentials *creds, vg_ddb **out, vg_err *err);
void vg_ddb_free(vg_ddb *d); /* no call may be in flight; NULL-safe */
const char *vg_ddb_endpoint(const vg_ddb *d);
const char *vg_ddb_region(const vg_ddb *d);

/* One operation: op is the bare name ("PutItem"), req the request document (borrowed). On
 * success *resp (if resp != NULL) receives the parsed answer (caller decrefs). de (may be NULL)
 * receives the details of a failure. */
int vg_ddb_call(vg_ddb *d, const char *op, const json_t *req, json_t **resp, vg_ddb_error *de, vg_err *err);

/* GetItem with ConsistentRead when `consistent`. *item = the item (caller decrefs) or NULL when
 * absent. */
int vg_ddb_get_item(vg_ddb *d, const char *table, const json_t *key, bool consistent, json_t **item,
                    vg_ddb_error *de, vg_err *err);
/* PutItem; cond/names/values may be NULL. With a condition, ReturnValuesOnConditionCheckFailure
 * is ALL_OLD so de->body may carry the stored "Item". */
int vg_ddb_put_item(vg_ddb *d, const char *table, const json_t *item, const char *cond, const json_t *names,
                    const json_t *values, vg_ddb_error *de, vg_err *err);
/* UpdateItem with an update expression and optional condition. */
int vg_ddb_update_item(vg_ddb *d, const char *table, const json_t *key, const char *update, const char *cond,
                       const json_t *names, const json_t *values, vg_ddb_error *de, vg_err *err);
/* TransactWriteItems with the given TransactItems array (borrowed). */
int vg_ddb_transact_write(vg_ddb *d, const json_t *items, vg_ddb_error *de, vg_err *err);

/* Query or Scan (op) following LastEvaluatedKey until the end: fn runs for every item of every
 * page, in order; a non-zero return from fn stops with that result. *pages (may be NULL) counts
 * the pages read. A failure on any page fails the whole call. */
typedef int (*vg_ddb_item_fn)(const json_t *item, void *ctx, vg_err *err);
int vg_ddb_paginate(vg_ddb *d, const char *op, const json_t *req, vg_ddb_item_fn fn, void *ctx, size_t *pages,
                    vg_ddb_error *de, vg_err *err);

/* Makes sure the table described by `spec` (a CreateTable request) exists and is ACTIVE:
 * create = true: CreateTable, ResourceInUseException meaning "already there"; create = false:
 * DescribeTable only (a missing table is VG_E_UNAVAILABLE "table ... does not exist"). Then polls
 * DescribeTable until ACTIVE or wait_ms passes. *created (may be NULL) tells whether this call
 * created it. */
int vg_ddb_ensure_table(vg_ddb *d, const json_t *spec, bool create, long wait_ms, bool *created, vg_ddb_error *de,
                        vg_err *err);

/* The options every DynamoDB-backed driver reads from its config mapping (watermark.config,
 * nitro storage.config): access_key_id, secret_access_key, session_token, region, profile,
 * imds_endpoint, endpoint, table, create_table (default true), timeout_ms (per attempt),
 * retry_budget_ms. Values may be JSON strings (config.c keeps scalars as strings) or JSON
 * booleans/integers. The strings point into cfg, which must outlive their use. Unknown keys are
 * logged (WARN) and ignored, like Signatory. Errors: VG_E_INVALID naming `what`.key. */
typedef struct {
    vg_aws_credentials_options creds;
    vg_ddb_options ddb;
    char table[256];
    bool create_table;
} vg_ddb_config;
int vg_ddb_config_parse(const json_t *cfg, const char *what, const char *default_table, vg_ddb_config *out,
                        vg_err *err);

/* ---- pieces exposed for unit tests --------------------------------------------------------- */

/* Parses an error answer: type from "__type" after its last '#', message from "message" or
 * "Message" (any case); condition_failed / retryable from the type, the HTTP status and, for
 * TransactionCanceledException, the CancellationReasons codes (or the bracketed list in the
 * message). Takes ownership of nothing; sets e->body to the parsed document. */
void vg_ddb_parse_error(const char *body, size_t len, long http_status, vg_ddb_error *e);
/* Sleep before attempt `attempt` (1-based retry number): uniform in [0, min(cap, base * 2^(attempt-1))]
 * using rnd as the random source. */
long vg_ddb_backoff_ms(int attempt, long base_ms, long cap_ms, uint32_t rnd);

#endif
