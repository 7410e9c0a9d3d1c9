/* DynamoDB JSON 1.0 client over libcurl (see dynamodb.h). */
#include "aws/dynamodb.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws_http.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"

#define POOL_IDLE_MAX 64
#define TARGET_PREFIX "DynamoDB_20120810."
#define PAGES_MAX 1000000

struct conn {
    struct conn *next;
    CURL *h;
    vg_aws_creds creds; /* this handle's copy; re-set into curl only when the generation changes */
    uint64_t applied_gen;
    char *token_hdr;    /* "X-Amz-Security-Token: ..." in secure memory, NULL without a token */
    vg_aws_http_buf resp;
};

struct vg_ddb {
    vg_aws_credentials *creds;
    char endpoint[512];
    char region[64];
    char sigv4[128];
    long connect_ms, attempt_ms, budget_ms, base_ms, cap_ms;
    int max_attempts;
    pthread_mutex_t pool_lock;
    struct conn *idle;
    size_t n_idle;
};

/* ---- errors -------------------------------------------------------------------------------- */

void vg_ddb_error_clear(vg_ddb_error *e)
{
    if (e == NULL)
        return;
    json_decref(e->body);
    memset(e, 0, sizeof *e);
}

/* Printable ASCII only, truncated to cap - 1. */
static void escape_into(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[o++] = (ch >= ' ' && ch <= '~') ? (char)ch : '?';
    }
    out[o] = '\0';
}

static bool type_is(const vg_ddb_error *e, const char *t) { return strcmp(e->type, t) == 0; }

static bool retryable_type(const char *t)
{
    static const char *const types[] = {
        "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
        "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
        "TransactionInProgressException", "TransactionConflictException", "ExpiredTokenException",
        "LimitExceededException",
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(t, types[i]) == 0)
            return true;
    }
    return false;
}

/* TransactionCanceledException: the reasons say whether a condition failed or whether it is a
 * conflict/throttle worth retrying. */
static void classify_cancellation(vg_ddb_error *e)
{
    bool cond = false, retry = false, other = false;
    json_t *reasons = json_object_get(e->body, "CancellationReasons");
    if (json_is_array(reasons) && json_array_size(reasons) > 0) {
        size_t i;
        json_t *r;
        json_array_foreach(reasons, i, r) {
            const char *code = json_string_value(json_object_get(r, "Code"));
            if (code == NULL || strcmp(code, "None") == 0)
                continue;
            if (strcmp(code, "ConditionalCheckFailed") == 0)
                cond = true;
            else if (strcmp(code, "TransactionConflict") == 0 || strcmp(code, "ThrottlingError") == 0 ||
                     strcmp(code, "ProvisionedThroughputExceeded") == 0)
                retry = true;
            else
                other = true;
        }
    } else {
        /* "Transaction cancelled, please refer cancellation reasons for specific reasons
         * [ConditionalCheckFailed, None]" */
        const char *lb = strchr(e->message, '[');
        if (lb != NULL) {
            cond = strstr(lb, "ConditionalCheckFailed") != NULL;
            retry = strstr(lb, "TransactionConflict") != NULL || strstr(lb, "ThrottlingError") != NULL ||
                    strstr(lb, "ProvisionedThroughputExceeded") != NULL;
        } else {
            other = true;
        }
    }
    e->condition_failed = cond;
    e->retryable = !cond && !other && retry;
}

void vg_ddb_parse_error(const char *body, size_t len, long http_status, vg_ddb_error *e)
{
    json_decref(e->body);
    e->body = NULL;
    e->http_status = http_status;
    e->type[0] = e->message[0] = '\0';
    e->condition_failed = e->retryable = false;
    json_error_t je;
    json_t *j = body != NULL && len > 0 ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (json_is_object(j)) {
        const char *t = json_string_value(json_object_get(j, "__type"));
        if (t != NULL) {
            const char *h = strrchr(t, '#');
            h = h != NULL ? h + 1 : t;
            escape_into(e->type, sizeof e->type, h, strlen(h));
        }
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (strcasecmp(k, "message") == 0 && json_is_string(v)) {
                escape_into(e->message, sizeof e->message, json_string_value(v), json_string_length(v));
                break;
            }
        }
        e->body = j;
    } else {
        json_decref(j);
    }
    if (e->message[0] == '\0')
        snprintf(e->message, sizeof e->message, "HTTP %ld", http_status);
    if (type_is(e, "ConditionalCheckFailedException")) {
        e->condition_failed = true;
    } else if (type_is(e, "TransactionCanceledException")) {
        classify_cancellation(e);
    } else {
        e->retryable = http_status >= 500 || retryable_type(e->type);
    }
}

long vg_ddb_backoff_ms(int attempt, long base_ms, long cap_ms, uint32_t rnd)
{
    if (attempt < 1)
        return 0;
    long ceiling = base_ms;
    for (int i = 1; i < attempt && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    if (ceiling <= 0)
        return 0;
    return (long)(rnd % (uint32_t)(ceiling + 1));
}

/* ---- client -------------------------------------------------------------------------------- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int vg_ddb_new(const vg_ddb_options *opt, vg_aws_credentials *creds, vg_ddb **out, vg_err *err)
{
    static const vg_ddb_options none = {0};
    if (out == NULL || creds == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_ddb_new: missing argument");
    *out = NULL;
    if (opt == NULL)
        opt = &none;
    if (vg_aws_http_init(err) < 0)
        return -1;
    const char *ep = opt->endpoint != NULL && opt->endpoint[0] != '\0' ? opt->endpoint : NULL;
    if (ep == NULL)
        ep = env_nonempty("AWS_ENDPOINT_URL_DYNAMODB");
    if (ep == NULL)
        ep = env_nonempty("AWS_ENDPOINT_URL");
    const char *region = opt->region != NULL && opt->region[0] != '\0' ? opt->region : vg_aws_credentials_region(creds);
    if (region == NULL || region[0] == '\0') {
        if (ep == NULL)
            return vg_fail(err, VG_E_INVALID,
                           "DynamoDB: no AWS region (set region in the config, AWS_REGION or ~/.aws/config)");
        region = "us-east-1";
    }
    for (const char *p = region; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return vg_fail(err, VG_E_INVALID, "DynamoDB: region `%.32s` is not a valid AWS region name", region);
    }
    if (strlen(region) >= 64)
        return vg_fail(err, VG_E_INVALID, "DynamoDB: region name too long");
    if (ep != NULL && strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
        return vg_fail(err, VG_E_INVALID, "DynamoDB: endpoint `%.200s` must start with http:// or https://", ep);
    if (ep != NULL && strlen(ep) >= 500)
        return vg_fail(err, VG_E_INVALID, "DynamoDB: endpoint too long");

    vg_ddb *d = calloc(1, sizeof *d);
    if (d == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    d->creds = creds;
    snprintf(d->region, sizeof d->region, "%s", region);
    if (ep != NULL)
        snprintf(d->endpoint, sizeof d->endpoint, "%s", ep);
    else
        snprintf(d->endpoint, sizeof d->endpoint, "https://dynamodb.%s.amazonaws.com", region);
    size_t el = strlen(d->endpoint);
    while (el > 8 && d->endpoint[el - 1] == '/')
        d->endpoint[--el] = '\0';
    snprintf(d->endpoint + el, sizeof d->endpoint - el, "/");
    snprintf(d->sigv4, sizeof d->sigv4, "aws:amz:%s:dynamodb", d->region);
    d->connect_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 1000;
    d->attempt_ms = opt->attempt_timeout_ms > 0 ? opt->attempt_timeout_ms : 2000;
    d->budget_ms = opt->retry_budget_ms > 0 ? opt->retry_budget_ms : 5000;
    d->max_attempts = opt->max_attempts > 0 ? opt->max_attempts : 8;
    d->base_ms = opt->backoff_base_ms > 0 ? opt->backoff_base_ms : 25;
    d->cap_ms = opt->backoff_cap_ms > 0 ? opt->backoff_cap_ms : 1000;
    pthread_mutex_init(&d->pool_lock, NULL);
    *out = d;
    return 0;
}

static void conn_free(struct conn *c)
{
    if (c == NULL)
        return;
    if (c->h != NULL)
        curl_easy_cleanup(c->h);
    vg_aws_creds_clear(&c->creds);
    if (c->token_hdr != NULL) {
        vg_wipe(c->token_hdr, strlen(c->token_hdr));
        vg_secure_free(c->token_hdr);
    }
    vg_aws_http_buf_free(&c->resp);
    free(c);
}

void vg_ddb_free(vg_ddb *d)
{
    if (d == NULL)
        return;
    while (d->idle != NULL) {
        struct conn *c = d->idle;
        d->idle = c->next;
        conn_free(c);
    }
    pthread_mutex_destroy(&d->pool_lock);
    free(d);
}

const char *vg_ddb_endpoint(const vg_ddb *d) { return d->endpoint; }
const char *vg_ddb_region(const vg_ddb *d) { return d->region; }

static struct conn *conn_acquire(vg_ddb *d)
{
    pthread_mutex_lock(&d->pool_lock);
    struct conn *c = d->idle;
    if (c != NULL) {
        d->idle = c->next;
        d->n_idle--;
    }
    pthread_mutex_unlock(&d->pool_lock);
    if (c != NULL)
        return c;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->h = curl_easy_init();
    if (c->h == NULL) {
        free(c);
        return NULL;
    }
    vg_aws_http_buf_init(&c->resp, VG_DDB_RESPONSE_MAX, false);
    return c;
}

static void conn_release(vg_ddb *d, struct conn *c, bool keep)
{
    if (c == NULL)
        return;
    c->next = NULL;
    vg_aws_http_buf_reset(&c->resp);
    pthread_mutex_lock(&d->pool_lock);
    if (keep && d->n_idle < POOL_IDLE_MAX) {
        c->next = d->idle;
        d->idle = c;
        d->n_idle++;
        c = NULL;
    }
    pthread_mutex_unlock(&d->pool_lock);
    conn_free(c);
}

/* Puts the current credentials into the handle (only after they changed). */
static int conn_apply_creds(vg_ddb *d, struct conn *c, vg_err *err)
{
    if (vg_aws_credentials_get(d->creds, &c->creds, err) < 0)
        return -1;
    if (c->applied_gen == c->creds.generation)
        return 0;
    if (c->token_hdr != NULL) {
        vg_wipe(c->token_hdr, strlen(c->token_hdr));
        vg_secure_free(c->token_hdr);
        c->token_hdr = NULL;
    }
    if (c->creds.session_token != NULL) {
        static const char name[] = "X-Amz-Security-Token: ";
        size_t tl = strlen(c->creds.session_token);
        c->token_hdr = vg_secure_alloc(sizeof name + tl);
        if (c->token_hdr == NULL)
            return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
        memcpy(c->token_hdr, name, sizeof name - 1);
        memcpy(c->token_hdr + sizeof name - 1, c->creds.session_token, tl + 1);
    }
    /* libcurl keeps its own copies of user and password for SigV4 (see docs/watermarks.md). */
    curl_easy_setopt(c->h, CURLOPT_USERNAME, c->creds.access_key_id);
    curl_easy_setopt(c->h, CURLOPT_PASSWORD, c->creds.secret_access_key);
    c->applied_gen = c->creds.generation;
    return 0;
}

/* One HTTP exchange. Returns the HTTP status, or 0 with *crc set on a transport failure. */
static long exchange(vg_ddb *d, struct conn *c, const char *target_hdr, const char *body, size_t body_len,
                     long timeout_ms, CURLcode *crc)
{
    static char ctype[] = "Content-Type: application/x-amz-json-1.0";
    /* Hand-built list: the token header stays in secure memory instead of a curl_slist_append copy.
     * No "Expect:" removal header: libcurl 7.88's SigV4 would sign it as an empty `expect` header
     * that is never sent (AWS would reject the signature); POSTFIELDS bodies below 1 MiB get no
     * Expect: 100-continue anyway (checked by tests/unit/test_aws.c). */
    struct curl_slist h_token = {.data = c->token_hdr, .next = NULL};
    struct curl_slist h_target = {.data = (char *)target_hdr, .next = c->token_hdr != NULL ? &h_token : NULL};
    struct curl_slist h_ctype = {.data = ctype, .next = &h_target};

    CURL *h = c->h;
    vg_aws_http_buf_reset(&c->resp);
    curl_easy_setopt(h, CURLOPT_URL, d->endpoint);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, &h_ctype);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, d->sigv4);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < d->connect_ms ? timeout_ms : d->connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, vg_aws_http_buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->resp);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    *crc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    if (*crc != CURLE_OK)
        return 0;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int fail_from(const char *op, const vg_ddb_error *e, vg_err *err)
{
    if (e->condition_failed)
        return vg_fail(err, VG_E_CONFLICT, "DynamoDB %s: conditional check failed", op);
    if (e->http_status == 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s: %s (%d attempt%s in %ld ms)", op, e->message,
                       e->attempts, e->attempts == 1 ? "" : "s", e->elapsed_ms);
    return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s: %s%s%s (HTTP %ld, %d attempt%s in %ld ms)", op, e->type,
                   e->type[0] != '\0' ? ": " : "", e->message, e->http_status, e->attempts,
                   e->attempts == 1 ? "" : "s", e->elapsed_ms);
}

int vg_ddb_call(vg_ddb *d, const char *op, const json_t *req, json_t **resp, vg_ddb_error *de, vg_err *err)
{
    vg_ddb_error local = {0};
    vg_ddb_error *e = de != NULL ? de : &local;
    vg_ddb_error_clear(e);
    if (resp != NULL)
        *resp = NULL;
    if (d == NULL || op == NULL || req == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_ddb_call: missing argument");
    char target[96];
    if (snprintf(target, sizeof target, "X-Amz-Target: " TARGET_PREFIX "%s", op) >= (int)sizeof target)
        return vg_fail(err, VG_E_INTERNAL, "vg_ddb_call: operation name too long");
    char *body = json_dumps(req, JSON_COMPACT);
    if (body == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s: cannot encode the request", op);
    size_t body_len = strlen(body);
    struct conn *c = conn_acquire(d);
    if (c == NULL) {
        vg_json_free_string(body);
        return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s: out of memory for a connection", op);
    }

    long start = now_ms(), deadline = start + d->budget_ms;
    int rc = -1;
    bool keep = true, refreshed = false;
    for (int attempt = 1;; attempt++) {
        e->attempts = attempt;
        long remaining = deadline - now_ms();
        long timeout = remaining < d->attempt_ms ? remaining : d->attempt_ms;
        if (timeout < 1)
            timeout = 1; /* 0 would mean "no timeout" to libcurl */
        if (conn_apply_creds(d, c, err) < 0) {
            e->elapsed_ms = now_ms() - start;
            snprintf(e->message, sizeof e->message, "%s", err != NULL ? err->msg : "no credentials");
            keep = false;
            goto out;
        }
        CURLcode crc = CURLE_OK;
        long status = exchange(d, c, target, body, body_len, timeout, &crc);
        if (status == 200) {
            json_error_t je;
            json_t *j = json_loadb(c->resp.data != NULL ? c->resp.data : "{}", c->resp.len > 0 ? c->resp.len : 2,
                                   JSON_REJECT_DUPLICATES, &je);
            if (json_is_object(j)) {
                if (resp != NULL)
                    *resp = j;
                else
                    json_decref(j);
                rc = 0;
                e->elapsed_ms = now_ms() - start;
                goto out;
            }
            json_decref(j);
            vg_ddb_parse_error(NULL, 0, 200, e);
            snprintf(e->message, sizeof e->message, "answer is not a JSON object");
            e->retryable = false;
        } else if (status == 0) {
            json_decref(e->body);
            e->body = NULL;
            e->http_status = 0;
            e->type[0] = '\0';
            e->condition_failed = false;
            e->retryable = vg_aws_http_transient(crc);
            snprintf(e->message, sizeof e->message, "%s%s", curl_easy_strerror(crc),
                     c->resp.overflow ? " (answer too large)" : "");
            keep = false; /* the connection state is unknown */
        } else {
            vg_ddb_parse_error(c->resp.data, c->resp.len, status, e);
            if (type_is(e, "ExpiredTokenException") && !refreshed) {
                refreshed = true;
                vg_err ignored;
                (void)vg_aws_credentials_refresh(d->creds, &ignored);
            }
        }
        e->elapsed_ms = now_ms() - start;
        if (!e->retryable || attempt >= d->max_attempts)
            break;
        long pause = vg_ddb_backoff_ms(attempt, d->base_ms, d->cap_ms, randombytes_random());
        if (now_ms() + pause + 20 >= deadline)
            break;
        VG_DEBUG("DynamoDB %s attempt %d failed (%s%s%s), retrying in %ld ms", op, attempt, e->type,
                 e->type[0] != '\0' ? ": " : "", e->message, pause);
        sleep_ms(pause);
        if (!keep) {
            /* a failed transfer may leave a half-open connection: start the next one clean */
            curl_easy_cleanup(c->h);
            c->h = curl_easy_init();
            c->applied_gen = 0;
            keep = true;
            if (c->h == NULL) {
                snprintf(e->message, sizeof e->message, "curl_easy_init failed");
                keep = false;
                break;
            }
        }
    }
    e->elapsed_ms = now_ms() - start;
    fail_from(op, e, err);
out:
    conn_release(d, c, keep);
    vg_json_free_string(body);
    if (de == NULL)
        vg_ddb_error_clear(&local);
    return rc;
}

/* ---- typed helpers ------------------------------------------------------------------------- */

static int set_opt(json_t *req, const char *key, const json_t *v)
{
    if (v == NULL)
        return 0;
    return json_object_set(req, key, (json_t *)v);
}

int vg_ddb_get_item(vg_ddb *d, const char *table, const json_t *key, bool consistent, json_t **item,
                    vg_ddb_error *de, vg_err *err)
{
    if (item != NULL)
        *item = NULL;
    json_t *req = json_pack("{s:s, s:O, s:b}", "TableName", table, "Key", key, "ConsistentRead", consistent);
    if (req == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB GetItem: cannot build the request");
    json_t *resp = NULL;
    int rc = vg_ddb_call(d, "GetItem", req, &resp, de, err);
    json_decref(req);
    if (rc < 0)
        return -1;
    json_t *it = json_object_get(resp, "Item");
    if (item != NULL && json_is_object(it))
        *item = json_incref(it);
    json_decref(resp);
    return 0;
}

int vg_ddb_put_item(vg_ddb *d, const char *table, const json_t *item, const char *cond, const json_t *names,
                    const json_t *values, vg_ddb_error *de, vg_err *err)
{
    json_t *req = json_pack("{s:s, s:O}", "TableName", table, "Item", item);
    if (req == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB PutItem: cannot build the request");
    if (cond != NULL) {
        json_object_set_new(req, "ConditionExpression", json_string(cond));
        json_object_set_new(req, "ReturnValuesOnConditionCheckFailure", json_string("ALL_OLD"));
    }
    set_opt(req, "ExpressionAttributeNames", names);
    set_opt(req, "ExpressionAttributeValues", values);
    int rc = vg_ddb_call(d, "PutItem", req, NULL, de, err);
    json_decref(req);
    return rc;
}

int vg_ddb_update_item(vg_ddb *d, const char *table, const json_t *key, const char *update, const char *cond,
                       const json_t *names, const json_t *values, vg_ddb_error *de, vg_err *err)
{
    json_t *req = json_pack("{s:s, s:O, s:s}", "TableName", table, "Key", key, "UpdateExpression", update);
    if (req == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB UpdateItem: cannot build the request");
    if (cond != NULL) {
        json_object_set_new(req, "ConditionExpression", json_string(cond));
        json_object_set_new(req, "ReturnValuesOnConditionCheckFailure", json_string("ALL_OLD"));
    }
    set_opt(req, "ExpressionAttributeNames", names);
    set_opt(req, "ExpressionAttributeValues", values);
    int rc = vg_ddb_call(d, "UpdateItem", req, NULL, de, err);
    json_decref(req);
    return rc;
}

int vg_ddb_transact_write(vg_ddb *d, const json_t *items, vg_ddb_error *de, vg_err *err)
{
    json_t *req = json_pack("{s:O}", "TransactItems", items);
    if (req == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB TransactWriteItems: cannot build the request");
    int rc = vg_ddb_call(d, "TransactWriteItems", req, NULL, de, err);
    json_decref(req);
    return rc;
}

int vg_ddb_paginate(vg_ddb *d, const char *op, const json_t *req, vg_ddb_item_fn fn, void *ctx, size_t *pages,
                    vg_ddb_error *de, vg_err *err)
{
    if (pages != NULL)
        *pages = 0;
    json_t *r = json_deep_copy(req);
    if (r == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s: out of memory", op);
    json_object_del(r, "ExclusiveStartKey");
    int rc = 0;
    size_t n = 0, items = 0;
    for (;;) {
        json_t *resp = NULL;
        if (vg_ddb_call(d, op, r, &resp, de, err) < 0) {
            vg_wrap(err, "%s page %zu (after %zu items)", op, n + 1, items);
            rc = -1;
            break;
        }
        n++;
        json_t *list = json_object_get(resp, "Items");
        if (list != NULL && !json_is_array(list)) {
            json_decref(resp);
            rc = vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s page %zu: Items is not an array", op, n);
            break;
        }
        size_t i;
        json_t *it;
        json_array_foreach(list, i, it) {
            if (!json_is_object(it)) {
                rc = vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s page %zu: item %zu is not an object", op, n, i);
                break;
            }
            rc = fn(it, ctx, err);
            if (rc != 0)
                break;
            items++;
        }
        json_t *lek = json_object_get(resp, "LastEvaluatedKey");
        if (rc == 0 && json_is_object(lek) && json_object_size(lek) > 0) {
            json_t *prev = json_object_get(r, "ExclusiveStartKey");
            if (prev != NULL && json_equal(prev, lek)) {
                rc = vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s page %zu: LastEvaluatedKey did not advance", op, n);
            } else if (n >= PAGES_MAX) {
                rc = vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB %s: more than %d pages", op, PAGES_MAX);
            } else {
                json_object_set(r, "ExclusiveStartKey", lek);
                json_decref(resp);
                continue;
            }
        }
        json_decref(resp);
        break;
    }
    json_decref(r);
    if (pages != NULL)
        *pages = n;
    return rc;
}

static int describe_status(vg_ddb *d, const char *table, char *status, size_t cap, vg_ddb_error *de, vg_err *err)
{
    json_t *req = json_pack("{s:s}", "TableName", table);
    json_t *resp = NULL;
    int rc = req != NULL ? vg_ddb_call(d, "DescribeTable", req, &resp, de, err)
                         : vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    json_decref(req);
    if (rc < 0)
        return -1;
    const char *s = json_string_value(json_object_get(json_object_get(resp, "Table"), "TableStatus"));
    escape_into(status, cap, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
    json_decref(resp);
    return 0;
}

int vg_ddb_ensure_table(vg_ddb *d, const json_t *spec, bool create, long wait_ms, bool *created, vg_ddb_error *de,
                        vg_err *err)
{
    vg_ddb_error local = {0};
    vg_ddb_error *e = de != NULL ? de : &local;
    if (created != NULL)
        *created = false;
    const char *table = json_string_value(json_object_get(spec, "TableName"));
    if (table == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_ddb_ensure_table: spec without TableName");
    int rc = -1;
    char status[32] = "";
    if (create) {
        if (vg_ddb_call(d, "CreateTable", spec, NULL, e, err) == 0) {
            if (created != NULL)
                *created = true;
        } else if (!type_is(e, "ResourceInUseException")) {
            vg_wrap(err, "cannot create table `%s`", table);
            goto out;
        }
    } else if (describe_status(d, table, status, sizeof status, e, err) < 0) {
        if (type_is(e, "ResourceNotFoundException"))
            vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB table `%s` does not exist (and create_table is false)", table);
        goto out;
    }
    long deadline = now_ms() + wait_ms;
    for (;;) {
        if (strcmp(status, "ACTIVE") == 0) {
            rc = 0;
            break;
        }
        if (status[0] != '\0' && now_ms() >= deadline) {
            vg_fail(err, VG_E_UNAVAILABLE, "DynamoDB table `%s` is %s, not ACTIVE, after %ld ms", table, status,
                    wait_ms);
            break;
        }
        if (status[0] != '\0')
            sleep_ms(200);
        if (describe_status(d, table, status, sizeof status, e, err) < 0) {
            /* right after CreateTable some servers briefly answer ResourceNotFound */
            if (!type_is(e, "ResourceNotFoundException") || now_ms() >= deadline)
                break;
            snprintf(status, sizeof status, "CREATING");
        }
    }
out:
    if (de == NULL)
        vg_ddb_error_clear(&local);
    return rc;
}

/* ---- driver config ------------------------------------------------------------------------- */

static const char *const config_keys[] = {"access_key_id", "secret_access_key", "session_token", "region",
                                          "profile", "imds_endpoint", "endpoint", "table", "create_table",
                                          "timeout_ms", "retry_budget_ms"};

static const char *cfg_str(const json_t *cfg, const char *key)
{
    const char *s = json_string_value(json_object_get(cfg, key));
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static int cfg_bool(const json_t *cfg, const char *what, const char *key, bool def, bool *out, vg_err *err)
{
    const json_t *v = json_object_get(cfg, key);
    *out = def;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "1") == 0)) {
        *out = true;
        return 0;
    }
    if (s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "0") == 0)) {
        *out = false;
        return 0;
    }
    return vg_fail(err, VG_E_INVALID, "%s.%s: expected true or false", what, key);
}

static int cfg_ms(const json_t *cfg, const char *what, const char *key, long *out, vg_err *err)
{
    const json_t *v = json_object_get(cfg, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    long n = -1;
    if (json_is_integer(v)) {
        n = (long)json_integer_value(v);
    } else if (json_is_string(v)) {
        char *end = NULL;
        n = strtol(json_string_value(v), &end, 10);
        if (end == json_string_value(v) || *end != '\0')
            n = -1;
    }
    if (n < 1 || n > 600000)
        return vg_fail(err, VG_E_INVALID, "%s.%s: expected milliseconds between 1 and 600000", what, key);
    *out = n;
    return 0;
}

static bool table_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n < 3 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return false;
    }
    return true;
}

int vg_ddb_config_parse(const json_t *cfg, const char *what, const char *default_table, vg_ddb_config *out,
                        vg_err *err)
{
    memset(out, 0, sizeof *out);
    if (cfg != NULL && !json_is_null(cfg) && !json_is_object(cfg))
        return vg_fail(err, VG_E_INVALID, "%s: expected a mapping", what);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cfg, k, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof config_keys / sizeof config_keys[0]; i++)
            known = known || strcmp(k, config_keys[i]) == 0;
        if (!known) {
            char safe[64];
            escape_into(safe, sizeof safe, k, strlen(k));
            VG_WARN("%s: unknown key `%s` ignored", what, safe);
        }
    }
    out->creds.access_key_id = cfg_str(cfg, "access_key_id");
    out->creds.secret_access_key = cfg_str(cfg, "secret_access_key");
    out->creds.session_token = cfg_str(cfg, "session_token");
    out->creds.region = cfg_str(cfg, "region");
    out->creds.profile = cfg_str(cfg, "profile");
    out->creds.imds_endpoint = cfg_str(cfg, "imds_endpoint");
    out->ddb.endpoint = cfg_str(cfg, "endpoint");
    out->ddb.region = out->creds.region;
    if (cfg_ms(cfg, what, "timeout_ms", &out->ddb.attempt_timeout_ms, err) < 0 ||
        cfg_ms(cfg, what, "retry_budget_ms", &out->ddb.retry_budget_ms, err) < 0 ||
        cfg_bool(cfg, what, "create_table", true, &out->create_table, err) < 0)
        return -1;
    const char *t = cfg_str(cfg, "table");
    snprintf(out->table, sizeof out->table, "%s", t != NULL ? t : default_table);
    if (!table_name_ok(out->table)) {
        char safe[64];
        escape_into(safe, sizeof safe, out->table, strlen(out->table));
        return vg_fail(err, VG_E_INVALID, "%s.table: `%s` is not a valid DynamoDB table name", what, safe);
    }
    return 0;
}
