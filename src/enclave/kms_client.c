#include "enclave/kms_client.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/secmem.h"
#include "enclave/kms_buf.h"
#include "enclave/sigv4.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "dev"
#endif

#define AKID_MAX 128
#define SECRET_MAX 256
#define TOKEN_MAX 8192
#define REGION_MAX 32
#define REQUEST_MAX (VG_KMS_ATTESTATION_MAX * 2 + 32768) /* base64 doc + blob + head */
#define HEAD_MAX 16384
#define JSON_DEPTH_MAX 32

struct vg_kms_client {
    struct vg_kms_endpoint ep;
    char host[VG_KMS_HOST_MAX];
    char region[REGION_MAX + 1];
    /* secure memory: access key id, secret, token (NUL-terminated, token "" when absent) */
    char *akid, *secret, *token;
};

/* ---- credentials ---- */

static bool all_in(const char *s, const char *extra, bool alnum)
{
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        bool ok = (alnum && ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'))) ||
                  strchr(extra, *c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

static bool printable(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++)
        if (*c < 0x21 || *c > 0x7e)
            return false;
    return true;
}

static int missing(const char *field, vg_err *err)
{
    /* spec §5.3 Initialize: "Errors: decode error (e.g. the Nitro app needs encryption_key_id and region)". */
    return vg_fail(err, VG_E_INVALID, "Semantic(None, \"missing field `%s`\")", field);
}

int vg_kms_credentials_check(const struct vg_rpc_credentials *c, vg_err *err)
{
    if (c->access_key_id == NULL)
        return missing("access_key_id", err);
    if (c->secret_access_key == NULL)
        return missing("secret_access_key", err);
    if (c->encryption_key_id == NULL)
        return missing("encryption_key_id", err);
    if (c->region == NULL)
        return missing("region", err);
    size_t n = strlen(c->access_key_id);
    if (n == 0 || n > AKID_MAX || !all_in(c->access_key_id, "", true))
        return vg_fail(err, VG_E_INVALID, "access_key_id: want 1..%d letters and digits", AKID_MAX);
    n = strlen(c->secret_access_key);
    if (n == 0 || n > SECRET_MAX || !printable(c->secret_access_key))
        return vg_fail(err, VG_E_INVALID, "secret_access_key: want 1..%d printable characters", SECRET_MAX);
    if (c->session_token != NULL &&
        (strlen(c->session_token) > TOKEN_MAX || !all_in(c->session_token, "+/=_-", true)))
        return vg_fail(err, VG_E_INVALID, "session_token: want up to %d base64 characters", TOKEN_MAX);
    n = strlen(c->region);
    if (n == 0 || n > REGION_MAX || !all_in(c->region, "-abcdefghijklmnopqrstuvwxyz0123456789", false))
        return vg_fail(err, VG_E_INVALID, "region: want 1..%d of a-z, 0-9 and '-'", REGION_MAX);
    n = strlen(c->encryption_key_id);
    if (n == 0 || n > VG_KMS_KEY_ID_MAX || !printable(c->encryption_key_id))
        return vg_fail(err, VG_E_INVALID, "encryption_key_id: want 1..%d printable characters", VG_KMS_KEY_ID_MAX);
    return 0;
}

static char *secure_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = vg_secure_alloc(n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

static void wipe_creds(struct vg_kms_client *c)
{
    vg_secure_free(c->akid);
    vg_secure_free(c->secret);
    vg_secure_free(c->token);
    c->akid = c->secret = c->token = NULL;
}

int vg_kms_client_set_credentials(struct vg_kms_client *c, const struct vg_rpc_credentials *creds, vg_err *err)
{
    if (vg_kms_credentials_check(creds, err) < 0)
        return -1;
    if (strcmp(creds->region, c->region) != 0)
        return vg_fail(err, VG_E_INVALID, "region cannot change (was %s)", c->region);
    char *akid = secure_strdup(creds->access_key_id), *secret = secure_strdup(creds->secret_access_key),
         *token = secure_strdup(creds->session_token != NULL ? creds->session_token : "");
    if (akid == NULL || secret == NULL || token == NULL) {
        vg_secure_free(akid);
        vg_secure_free(secret);
        vg_secure_free(token);
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
    }
    wipe_creds(c);
    c->akid = akid;
    c->secret = secret;
    c->token = token;
    return 0;
}

int vg_kms_client_new(const struct vg_kms_endpoint *ep, const struct vg_rpc_credentials *creds,
                      struct vg_kms_client **out, vg_err *err)
{
    *out = NULL;
    if (vg_kms_credentials_check(creds, err) < 0)
        return -1;
    struct vg_kms_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    c->ep = *ep;
    if (c->ep.attempts < 1)
        c->ep.attempts = 1;
    snprintf(c->region, sizeof c->region, "%s", creds->region);
    /* spec §12.1: "Endpoint: https://kms.<region>.amazonaws.com, region from Initialize". */
    if (ep->host_override[0] != '\0')
        snprintf(c->host, sizeof c->host, "%s", ep->host_override);
    else
        snprintf(c->host, sizeof c->host, "kms.%s.amazonaws.com", c->region);
    if (vg_kms_client_set_credentials(c, creds, err) < 0) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void vg_kms_client_free(struct vg_kms_client *c)
{
    if (c == NULL)
        return;
    wipe_creds(c);
    free(c);
}

const char *vg_kms_client_host(const struct vg_kms_client *c) { return c->host; }

/* ---- a small JSON reader for KMS replies: one top-level object; wanted members must be strings or
 * null; every other member is skipped (bounded depth, strings honoured). ---- */

struct json_field {
    const char *name;
    char *value; /* decoded, malloc'ed (NULL when absent or null) */
    size_t len;
    bool present, null;
};

struct json_in {
    const char *p, *end;
};

static void ws(struct json_in *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
        in->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* Reads a string at in->p ('"'). With out != NULL, decodes into a malloc'ed buffer. */
static int json_string(struct json_in *in, char **out, size_t *out_len)
{
    if (in->p >= in->end || *in->p != '"')
        return -1;
    in->p++;
    const char *start = in->p;
    /* first pass: find the end, validate escapes */
    while (in->p < in->end && *in->p != '"') {
        unsigned char c = (unsigned char)*in->p;
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (in->end - in->p < 2)
                return -1;
            char e = in->p[1];
            if (e == 'u') {
                unsigned v;
                if (in->end - in->p < 6 || hex4(in->p + 2, &v) < 0)
                    return -1;
                in->p += 6;
                continue;
            }
            if (strchr("\"\\/bfnrt", e) == NULL || e == '\0')
                return -1;
            in->p += 2;
            continue;
        }
        in->p++;
    }
    if (in->p >= in->end)
        return -1;
    const char *stop = in->p;
    in->p++; /* closing quote */
    if (out == NULL)
        return 0;
    char *d = malloc((size_t)(stop - start) + 1);
    if (d == NULL)
        return -1;
    size_t n = 0;
    for (const char *s = start; s < stop;) {
        if (*s != '\\') {
            d[n++] = *s++;
            continue;
        }
        char e = s[1];
        if (e == 'u') {
            unsigned v = 0;
            hex4(s + 2, &v);
            s += 6;
            if (v < 0x80) {
                d[n++] = (char)v;
            } else if (v < 0x800) {
                d[n++] = (char)(0xc0 | v >> 6);
                d[n++] = (char)(0x80 | (v & 0x3f));
            } else {
                d[n++] = (char)(0xe0 | v >> 12);
                d[n++] = (char)(0x80 | ((v >> 6) & 0x3f));
                d[n++] = (char)(0x80 | (v & 0x3f));
            }
            continue;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        d[n++] = to[strchr(from, e) - from];
        s += 2;
    }
    d[n] = '\0';
    *out = d;
    *out_len = n;
    return 0;
}

/* Skips one value of any type. */
static int json_skip(struct json_in *in)
{
    ws(in);
    if (in->p >= in->end)
        return -1;
    if (*in->p == '"')
        return json_string(in, NULL, NULL);
    if (*in->p == '{' || *in->p == '[') {
        int depth = 0;
        while (in->p < in->end) {
            char c = *in->p;
            if (c == '"') {
                if (json_string(in, NULL, NULL) < 0)
                    return -1;
                continue;
            }
            if (c == '{' || c == '[') {
                if (++depth > JSON_DEPTH_MAX)
                    return -1;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    in->p++;
                    return 0;
                }
            }
            in->p++;
        }
        return -1;
    }
    const char *start = in->p;
    while (in->p < in->end && strchr("0123456789+-.eEtruefalsn", *in->p) != NULL && *in->p != '\0')
        in->p++;
    return in->p > start ? 0 : -1;
}

static int json_fields(const char *text, size_t len, struct json_field *f, size_t n)
{
    struct json_in in = {text, text + len};
    ws(&in);
    if (in.p >= in.end || *in.p != '{')
        return -1;
    in.p++;
    ws(&in);
    if (in.p < in.end && *in.p == '}') {
        in.p++;
    } else {
        for (;;) {
            ws(&in);
            char *key = NULL;
            size_t klen = 0;
            if (json_string(&in, &key, &klen) < 0)
                return -1;
            ws(&in);
            if (in.p >= in.end || *in.p != ':') {
                free(key);
                return -1;
            }
            in.p++;
            ws(&in);
            struct json_field *want = NULL;
            for (size_t i = 0; i < n; i++)
                if (strlen(f[i].name) == klen && memcmp(f[i].name, key, klen) == 0)
                    want = &f[i];
            free(key);
            if (want != NULL) {
                if (want->present)
                    return -1; /* duplicate member */
                want->present = true;
                if (in.end - in.p >= 4 && memcmp(in.p, "null", 4) == 0) {
                    want->null = true;
                    in.p += 4;
                } else if (json_string(&in, &want->value, &want->len) < 0) {
                    return -1;
                }
            } else if (json_skip(&in) < 0) {
                return -1;
            }
            ws(&in);
            if (in.p < in.end && *in.p == ',') {
                in.p++;
                continue;
            }
            if (in.p < in.end && *in.p == '}') {
                in.p++;
                break;
            }
            return -1;
        }
    }
    ws(&in);
    return in.p == in.end ? 0 : -1;
}

static void fields_free(struct json_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].value != NULL) {
            vg_wipe(f[i].value, f[i].len);
            free(f[i].value);
        }
        f[i].value = NULL;
    }
}

/* Untrusted text for an error message: printable ASCII kept, the rest '?', at most max bytes. */
static void clean(const char *s, char *out, size_t max)
{
    size_t n = 0;
    for (; s != NULL && *s != '\0' && n + 1 < max; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (s != NULL && *s != '\0' && max > 4 && n >= 3) {
        out[n - 3] = out[n - 2] = out[n - 1] = '.';
    }
    out[n] = '\0';
}

static vg_errkind error_kind(const char *type, int status)
{
    static const char *const forbidden[] = {
        "AccessDeniedException",      "UnrecognizedClientException", "InvalidSignatureException",
        "IncompleteSignatureException", "ExpiredTokenException",     "MissingAuthenticationTokenException",
        "InvalidClientTokenId",       "SignatureDoesNotMatch",       "KMSInvalidStateException",
        "DisabledException",          "NotFoundException",           "KMSInvalidSignatureException",
    };
    static const char *const transient[] = {
        "ThrottlingException",  "ThrottledException", "RequestLimitExceeded", "KMSInternalException",
        "DependencyTimeoutException", "ServiceUnavailable", "InternalFailure",
    };
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++)
        if (strcmp(type, forbidden[i]) == 0)
            return VG_E_FORBIDDEN;
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        if (strcmp(type, transient[i]) == 0)
            return VG_E_UNAVAILABLE;
    return status >= 500 ? VG_E_UNAVAILABLE : VG_E_INVALID;
}

int vg_kms_reply_parse(const char *op, int status, const char *body, size_t len, const char *field, uint8_t **out,
                       size_t *out_len, vg_err *err)
{
    *out = NULL;
    *out_len = 0;
    struct json_field f[] = {{.name = field}, {.name = "Plaintext"}, {.name = "__type"}, {.name = "message"},
                             {.name = "Message"}};
    size_t nf = sizeof f / sizeof f[0];
    bool parsed = json_fields(body, len, f, nf) == 0;
    int rc = -1;
    if (status != 200) {
        char type[96], msg[160];
        const char *t = parsed && f[2].value != NULL ? f[2].value : NULL;
        /* "__type" may be namespaced: "com.amazonaws.kms#AccessDeniedException". */
        if (t != NULL && strchr(t, '#') != NULL)
            t = strchr(t, '#') + 1;
        clean(t != NULL ? t : "", type, sizeof type);
        const char *m = parsed ? (f[3].value != NULL ? f[3].value : f[4].value) : NULL;
        clean(m != NULL ? m : "", msg, sizeof msg);
        if (type[0] == '\0')
            rc = vg_fail(err, status >= 500 ? VG_E_UNAVAILABLE : VG_E_INVALID, "KMS %s: HTTP %d%s%s", op, status,
                         msg[0] ? ": " : "", msg);
        else
            rc = vg_fail(err, error_kind(type, status), "KMS %s: %s%s%s", op, type, msg[0] ? ": " : "", msg);
    } else if (!parsed) {
        rc = vg_fail(err, VG_E_INVALID, "KMS %s: reply is not the expected JSON object", op);
    } else if (f[1].value != NULL) {
        /* vigil always sends a Recipient: a Plaintext in the reply means KMS (or something posing as
         * it) ignored it. Never use it. */
        rc = vg_fail(err, VG_E_INVALID, "KMS %s: reply carries Plaintext (refused: only CiphertextForRecipient is "
                                        "accepted)", op);
    } else if (f[0].value == NULL) {
        /* spec §3.4: "zero output (no CiphertextForRecipient in the Decrypt reply)" */
        if (strcmp(field, "CiphertextForRecipient") == 0)
            rc = vg_fail(err, VG_E_INVALID, "zero output");
        else
            rc = vg_fail(err, VG_E_INVALID, "KMS %s: reply has no %s", op, field);
    } else {
        size_t cap = f[0].len / 4 * 3 + 3;
        uint8_t *bin = malloc(cap);
        size_t n = 0;
        if (bin == NULL) {
            rc = vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
        } else if (sodium_base642bin(bin, cap, f[0].value, f[0].len, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) !=
                       0 ||
                   n == 0) {
            free(bin);
            rc = vg_fail(err, VG_E_INVALID, "KMS %s: %s is not base64", op, field);
        } else {
            *out = bin;
            *out_len = n;
            rc = 0;
        }
    }
    fields_free(f, nf);
    return rc;
}

/* ---- requests ---- */

/* Builds the signed HTTP request for target with body into req (secure when the body is). */
static int build_request(struct vg_kms_client *c, const char *target, const struct vg_kms_buf *body,
                         struct vg_kms_buf *req, vg_err *err)
{
    char date[VG_SIGV4_DATE_LEN + 1];
    char target_hdr[64];
    vg_sigv4_amz_date(time(NULL), date);
    snprintf(target_hdr, sizeof target_hdr, "TrentService.%s", target);
    struct vg_sigv4_header h[5] = {
        {"content-type", "application/x-amz-json-1.1"},
        {"host", c->host},
        {"x-amz-date", date},
        {"x-amz-target", target_hdr},
        {"x-amz-security-token", c->token},
    };
    /* spec §12.2: "X-Amz-Security-Token when a session token was given". */
    size_t nh = c->token[0] != '\0' ? 5 : 4;
    struct vg_sigv4_request sreq = {"POST", "/", NULL, h, nh, (const uint8_t *)body->p, body->len};
    struct vg_sigv4_params prm = {c->akid, c->secret, c->region, "kms", date};
    struct vg_sigv4_result sig;
    if (vg_sigv4_sign(&sreq, &prm, &sig, err) < 0)
        return -1;
    vg_kms_buf_printf(req,
                      "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"
                      "X-Amz-Date: %s\r\nX-Amz-Target: %s\r\n",
                      c->host, date, target_hdr);
    if (nh == 5) {
        vg_kms_buf_str(req, "X-Amz-Security-Token: ");
        vg_kms_buf_str(req, c->token);
        vg_kms_buf_str(req, "\r\n");
    }
    vg_kms_buf_printf(req,
                      "Authorization: %s\r\nContent-Length: %zu\r\nUser-Agent: vigil-enclave/%s\r\n"
                      "Accept: application/x-amz-json-1.1\r\nConnection: close\r\n\r\n",
                      sig.authorization, body->len, VIGIL_VERSION);
    vg_kms_buf_add(req, body->p, body->len);
    vg_sigv4_result_clear(&sig);
    if (!vg_kms_buf_ok(req))
        return vg_fail(err, VG_E_INVALID, "KMS %s: request too large", target);
    return 0;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One operation with retries; fills *out from `field` of the reply. */
static int call(struct vg_kms_client *c, const char *target, const struct vg_kms_buf *body, const char *field,
                uint8_t **out, size_t *out_len, vg_err *err)
{
    struct vg_kms_http_limits lim = {c->ep.timeout_ms, HEAD_MAX, VG_KMS_REPLY_MAX};
    int rc = -1;
    for (int attempt = 1; attempt <= c->ep.attempts; attempt++) {
        struct vg_kms_buf req;
        struct vg_kms_http_reply rep;
        vg_kms_buf_init(&req, REQUEST_MAX, body->secure);
        rc = build_request(c, target, body, &req, err);
        if (rc == 0) {
            rc = vg_kms_tls_exchange(c->ep.tls, &c->ep.proxy, c->host, (const uint8_t *)req.p, req.len, &lim, &rep,
                                     err);
            if (rc == 0) {
                rc = vg_kms_reply_parse(target, rep.status, rep.body, rep.body_len, field, out, out_len, err);
                vg_kms_http_reply_clear(&rep);
            }
        }
        vg_kms_buf_free(&req);
        if (rc == 0 || err->kind != VG_E_UNAVAILABLE || attempt == c->ep.attempts)
            break;
        VG_WARN("KMS %s: attempt %d/%d failed, retrying: %s", target, attempt, c->ep.attempts, err->msg);
        pause_ms(attempt == 1 ? 200 : 800);
    }
    return rc;
}

int vg_kms_encrypt(struct vg_kms_client *c, const char *key_id, const uint8_t *pt, size_t pt_len, uint8_t **blob,
                   size_t *blob_len, vg_err *err)
{
    *blob = NULL;
    *blob_len = 0;
    if (pt_len == 0 || pt_len > VG_KMS_PLAINTEXT_MAX)
        return vg_fail(err, VG_E_INVALID, "KMS Encrypt: plaintext of %zu bytes (want 1..%d)", pt_len,
                       VG_KMS_PLAINTEXT_MAX);
    /* spec §9: {"KeyId": "<encryption_key_id>", "Plaintext": "<base64>"}; no context, no algorithm. The
     * body holds the private key: secure memory. */
    struct vg_kms_buf body;
    vg_kms_buf_init(&body, VG_KMS_KEY_ID_MAX * 6 + VG_KMS_PLAINTEXT_MAX * 2, true);
    vg_kms_buf_str(&body, "{\"KeyId\":");
    vg_kms_buf_json_string(&body, key_id);
    vg_kms_buf_str(&body, ",\"Plaintext\":\"");
    vg_kms_buf_base64(&body, pt, pt_len);
    vg_kms_buf_str(&body, "\"}");
    int rc = vg_kms_buf_ok(&body) ? call(c, "Encrypt", &body, "CiphertextBlob", blob, blob_len, err)
                                  : vg_fail(err, VG_E_INVALID, "KMS Encrypt: request too large");
    vg_kms_buf_free(&body);
    if (rc == 0 && *blob_len > VG_KMS_BLOB_MAX) {
        free(*blob);
        *blob = NULL;
        *blob_len = 0;
        return vg_fail(err, VG_E_INVALID, "KMS Encrypt: CiphertextBlob over %d bytes", VG_KMS_BLOB_MAX);
    }
    return rc;
}

int vg_kms_decrypt_for_recipient(struct vg_kms_client *c, const uint8_t *blob, size_t blob_len, const uint8_t *doc,
                                 size_t doc_len, uint8_t **cms, size_t *cms_len, vg_err *err)
{
    *cms = NULL;
    *cms_len = 0;
    if (blob_len == 0 || blob_len > VG_KMS_BLOB_MAX)
        return vg_fail(err, VG_E_INVALID, "KMS Decrypt: blob of %zu bytes (want 1..%d)", blob_len, VG_KMS_BLOB_MAX);
    if (doc_len == 0 || doc_len > VG_KMS_ATTESTATION_MAX)
        return vg_fail(err, VG_E_INVALID, "KMS Decrypt: attestation document of %zu bytes", doc_len);
    /* spec §10 step 2: {"CiphertextBlob", "Recipient": {"AttestationDocument", "KeyEncryptionAlgorithm"}};
     * no KeyId, no EncryptionContext, no EncryptionAlgorithm. */
    struct vg_kms_buf body;
    vg_kms_buf_init(&body, (blob_len + doc_len) / 3 * 4 + 256, false);
    vg_kms_buf_str(&body, "{\"CiphertextBlob\":\"");
    vg_kms_buf_base64(&body, blob, blob_len);
    vg_kms_buf_str(&body, "\",\"Recipient\":{\"AttestationDocument\":\"");
    vg_kms_buf_base64(&body, doc, doc_len);
    vg_kms_buf_str(&body, "\",\"KeyEncryptionAlgorithm\":\"RSAES_OAEP_SHA_256\"}}");
    int rc = vg_kms_buf_ok(&body) ? call(c, "Decrypt", &body, "CiphertextForRecipient", cms, cms_len, err)
                                  : vg_fail(err, VG_E_INVALID, "KMS Decrypt: request too large");
    vg_kms_buf_free(&body);
    return rc;
}
