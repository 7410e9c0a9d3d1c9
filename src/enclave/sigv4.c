#include "enclave/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"
#include "enclave/kms_buf.h"

#define NAME_MAX_LEN 256

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

static void uri_encode(struct vg_kms_buf *b, const char *s, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) {
            vg_kms_buf_char(b, (char)c);
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            vg_kms_buf_add(b, esc, 3);
        }
    }
}

/* spec (AWS SigV4, non-S3): "Normalize URI paths according to RFC 3986. Remove redundant and relative
 * path components." Segments are kept as views into path. */
static void canonical_uri(struct vg_kms_buf *b, const char *path)
{
    const char *seg[256];
    size_t seg_len[256], n = 0;
    const char *p = path != NULL ? path : "";
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != '/')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.'))
            continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            if (n > 0)
                n--;
            continue;
        }
        if (n == sizeof seg / sizeof seg[0]) {
            b->failed = true;
            return;
        }
        seg[n] = start;
        seg_len[n++] = len;
    }
    /* A trailing '/' of the original path is kept (unless nothing is left but the root). */
    size_t plen = path != NULL ? strlen(path) : 0;
    bool trailing = plen > 0 && path[plen - 1] == '/';
    vg_kms_buf_char(b, '/');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            vg_kms_buf_char(b, '/');
        uri_encode(b, seg[i], seg_len[i]);
    }
    if (trailing && n > 0)
        vg_kms_buf_char(b, '/');
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) into out (capacity ≥ len); a malformed escape leaves the component as it
 * was (as decodeURIComponent failing would). Returns the decoded length. */
static size_t percent_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (i + 2 >= len) {
            memcpy(out, s, len);
            return len;
        }
        int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
        if (h < 0 || l < 0) {
            memcpy(out, s, len);
            return len;
        }
        out[o++] = (char)(h << 4 | l);
        i += 2;
    }
    return o;
}

struct qpair {
    char *key, *value; /* encoded */
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

static char *encode_component(const char *s, size_t len)
{
    char *dec = malloc(len + 1);
    if (dec == NULL)
        return NULL;
    size_t n = percent_decode(s, len, dec);
    struct vg_kms_buf b;
    vg_kms_buf_init(&b, 3 * n + 1, false);
    vg_kms_buf_str(&b, "");
    uri_encode(&b, dec, n);
    free(dec);
    if (!vg_kms_buf_ok(&b)) {
        vg_kms_buf_free(&b);
        return NULL;
    }
    return b.p;
}

static void canonical_query(struct vg_kms_buf *b, const char *query)
{
    if (query == NULL || *query == '\0')
        return;
    size_t n = 1;
    for (const char *q = query; *q != '\0'; q++)
        n += *q == '&';
    struct qpair *pairs = calloc(n, sizeof *pairs);
    size_t count = 0;
    if (pairs == NULL) {
        b->failed = true;
        return;
    }
    for (const char *q = query; *q != '\0' && !b->failed;) {
        const char *end = strchr(q, '&');
        size_t len = end != NULL ? (size_t)(end - q) : strlen(q);
        if (len > 0) {
            const char *eq = memchr(q, '=', len);
            size_t klen = eq != NULL ? (size_t)(eq - q) : len;
            pairs[count].key = encode_component(q, klen);
            pairs[count].value = eq != NULL ? encode_component(eq + 1, len - klen - 1) : encode_component("", 0);
            if (pairs[count].key == NULL || pairs[count].value == NULL)
                b->failed = true;
            count++;
        }
        q += len;
        if (*q == '&')
            q++;
    }
    if (!b->failed) {
        qsort(pairs, count, sizeof *pairs, qpair_cmp);
        for (size_t i = 0; i < count; i++) {
            if (i > 0)
                vg_kms_buf_char(b, '&');
            vg_kms_buf_str(b, pairs[i].key);
            vg_kms_buf_char(b, '=');
            vg_kms_buf_str(b, pairs[i].value);
        }
    }
    for (size_t i = 0; i < count; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    free(pairs);
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Appends value trimmed, with each inner run of whitespace as one space. */
static void canonical_value(struct vg_kms_buf *b, const char *v)
{
    while (is_space(*v))
        v++;
    bool gap = false;
    for (; *v != '\0'; v++) {
        if (is_space(*v)) {
            gap = true;
            continue;
        }
        if (gap)
            vg_kms_buf_char(b, ' ');
        gap = false;
        vg_kms_buf_char(b, *v);
    }
}

struct hdr {
    char name[NAME_MAX_LEN];
    const char *value;
};

/* Stable insertion sort by name (≤ VG_SIGV4_HEADERS_MAX entries): repeated names keep their order. */
static void sort_headers(struct hdr *h, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct hdr cur = h[i];
        size_t j = i;
        while (j > 0 && strcmp(h[j - 1].name, cur.name) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = cur;
    }
}

/* Canonical header lines into creq, the signed-header list into signed_list. */
static int canonical_headers(const struct vg_sigv4_request *req, struct vg_kms_buf *creq, struct vg_kms_buf *signed_list,
                             vg_err *err)
{
    if (req->n_headers > VG_SIGV4_HEADERS_MAX)
        return vg_fail(err, VG_E_INVALID, "sigv4: more than %d headers", VG_SIGV4_HEADERS_MAX);
    struct hdr h[VG_SIGV4_HEADERS_MAX];
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        size_t len = strlen(name);
        while (len > 0 && is_space(name[len - 1]))
            len--;
        while (len > 0 && is_space(*name)) {
            name++;
            len--;
        }
        if (len == 0 || len >= NAME_MAX_LEN)
            return vg_fail(err, VG_E_INVALID, "sigv4: header %zu: empty or overlong name", i);
        for (size_t k = 0; k < len; k++) {
            char c = name[k];
            h[i].name[k] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        h[i].name[len] = '\0';
        h[i].value = req->headers[i].value != NULL ? req->headers[i].value : "";
    }
    size_t n = req->n_headers;
    sort_headers(h, n);
    for (size_t i = 0; i < n; i++) {
        bool same_as_prev = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
        if (same_as_prev) {
            vg_kms_buf_char(creq, ',');
        } else {
            if (i > 0) {
                vg_kms_buf_char(creq, '\n');
                vg_kms_buf_char(signed_list, ';');
            }
            vg_kms_buf_str(creq, h[i].name);
            vg_kms_buf_char(creq, ':');
            vg_kms_buf_str(signed_list, h[i].name);
        }
        canonical_value(creq, h[i].value);
    }
    if (n > 0)
        vg_kms_buf_char(creq, '\n');
    return 0;
}

static int sha256_hex(const void *data, size_t len, struct vg_kms_buf *out)
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    if (SHA256(data, len, d) == NULL)
        return -1;
    vg_kms_buf_hex(out, d, sizeof d);
    return 0;
}

static int hmac(const uint8_t *key, size_t key_len, const void *msg, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    return HMAC(EVP_sha256(), key, (int)key_len, msg, len, out, &n) != NULL && n == 32 ? 0 : -1;
}

static bool valid_date(const char *d)
{
    if (d == NULL || strlen(d) != VG_SIGV4_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return false;
    return true;
}

/* Signature = hex(HMAC(kSigning, string to sign)); the key chain lives in secure memory. */
static int derive_signature(const struct vg_sigv4_params *p, const char *sts, struct vg_kms_buf *out)
{
    size_t slen = strlen(p->secret_access_key);
    struct keys {
        uint8_t k[4][32];
        uint8_t sig[32];
    } *ks = vg_secure_alloc(sizeof *ks);
    struct vg_kms_buf secret;
    vg_kms_buf_init(&secret, slen + 4, true);
    vg_kms_buf_str(&secret, "AWS4");
    vg_kms_buf_str(&secret, p->secret_access_key);
    int rc = -1;
    if (ks != NULL && vg_kms_buf_ok(&secret) &&
        hmac((const uint8_t *)secret.p, secret.len, p->amz_date, 8, ks->k[0]) == 0 &&
        hmac(ks->k[0], 32, p->region, strlen(p->region), ks->k[1]) == 0 &&
        hmac(ks->k[1], 32, p->service, strlen(p->service), ks->k[2]) == 0 &&
        hmac(ks->k[2], 32, "aws4_request", 12, ks->k[3]) == 0 && hmac(ks->k[3], 32, sts, strlen(sts), ks->sig) == 0) {
        vg_kms_buf_hex(out, ks->sig, 32);
        rc = 0;
    }
    vg_kms_buf_free(&secret);
    vg_secure_free(ks);
    return rc;
}

static char *take(struct vg_kms_buf *b)
{
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

int vg_sigv4_sign(const struct vg_sigv4_request *req, const struct vg_sigv4_params *p, struct vg_sigv4_result *out,
                  vg_err *err)
{
    memset(out, 0, sizeof *out);
    if (!valid_date(p->amz_date))
        return vg_fail(err, VG_E_INVALID, "sigv4: X-Amz-Date must be YYYYMMDDTHHMMSSZ");
    struct vg_kms_buf creq, signed_list, sts, auth, sig;
    vg_kms_buf_init(&creq, VG_SIGV4_TEXT_MAX, false);
    vg_kms_buf_init(&signed_list, VG_SIGV4_TEXT_MAX, false);
    vg_kms_buf_init(&sts, VG_SIGV4_TEXT_MAX, false);
    vg_kms_buf_init(&auth, VG_SIGV4_TEXT_MAX, false);
    vg_kms_buf_init(&sig, 65, false);
    int rc = -1;

    vg_kms_buf_str(&creq, req->method);
    vg_kms_buf_char(&creq, '\n');
    canonical_uri(&creq, req->path);
    vg_kms_buf_char(&creq, '\n');
    canonical_query(&creq, req->query);
    vg_kms_buf_char(&creq, '\n');
    vg_kms_buf_str(&signed_list, "");
    if (canonical_headers(req, &creq, &signed_list, err) < 0)
        goto out;
    vg_kms_buf_char(&creq, '\n');
    vg_kms_buf_str(&creq, signed_list.p != NULL ? signed_list.p : "");
    vg_kms_buf_char(&creq, '\n');
    if (sha256_hex(req->payload != NULL ? (const void *)req->payload : "", req->payload_len, &creq) < 0 ||
        !vg_kms_buf_ok(&creq) || !vg_kms_buf_ok(&signed_list)) {
        rc = vg_fail(err, creq.failed ? VG_E_INVALID : VG_E_INTERNAL, "sigv4: canonical request too large or failed");
        goto out;
    }

    char scope[160];
    int sn = snprintf(scope, sizeof scope, "%.8s/%s/%s/aws4_request", p->amz_date, p->region, p->service);
    if (sn < 0 || (size_t)sn >= sizeof scope) {
        rc = vg_fail(err, VG_E_INVALID, "sigv4: region or service too long");
        goto out;
    }
    vg_kms_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n", p->amz_date, scope);
    if (sha256_hex(creq.p, creq.len, &sts) < 0 || !vg_kms_buf_ok(&sts) || derive_signature(p, sts.p, &sig) < 0 ||
        !vg_kms_buf_ok(&sig)) {
        rc = vg_fail(err, VG_E_INTERNAL, "sigv4: hashing failed");
        goto out;
    }
    vg_kms_buf_printf(&auth, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", p->access_key_id,
                      scope, signed_list.p, sig.p);
    if (!vg_kms_buf_ok(&auth)) {
        rc = vg_fail(err, VG_E_INTERNAL, "sigv4: Authorization too long");
        goto out;
    }
    out->canonical_request = take(&creq);
    out->string_to_sign = take(&sts);
    out->signed_headers = take(&signed_list);
    out->authorization = take(&auth);
    rc = 0;
out:
    vg_kms_buf_free(&creq);
    vg_kms_buf_free(&signed_list);
    vg_kms_buf_free(&sts);
    vg_kms_buf_free(&auth);
    vg_kms_buf_free(&sig);
    return rc;
}

/* The canonical request may carry a session token: wiped like everything else here. */
static void wipe_free(char *p)
{
    if (p != NULL) {
        vg_wipe(p, strlen(p));
        free(p);
    }
}

void vg_sigv4_result_clear(struct vg_sigv4_result *r)
{
    wipe_free(r->canonical_request);
    wipe_free(r->string_to_sign);
    wipe_free(r->signed_headers);
    wipe_free(r->authorization);
    memset(r, 0, sizeof *r);
}

void vg_sigv4_amz_date(time_t t, char out[VG_SIGV4_DATE_LEN + 1])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, VG_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}
