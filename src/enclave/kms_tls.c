#include "enclave/kms_tls.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secmem.h"

#define CA_FILE_MAX (1u << 20)

struct vg_kms_tls {
    SSL_CTX *ctx;
    size_t roots;
};

/* "reason" of the oldest queued OpenSSL error (and the queue emptied). */
static const char *ossl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    while (ERR_get_error() != 0) {
        /* keep the first: it is the root cause */
    }
    if (e == 0) {
        snprintf(buf, cap, "no detail");
        return buf;
    }
    const char *r = ERR_reason_error_string(e);
    if (r != NULL)
        snprintf(buf, cap, "%s", r);
    else
        ERR_error_string_n(e, buf, cap);
    return buf;
}

static size_t add_pem_certs(X509_STORE *store, const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    size_t n = 0;
    X509 *x;
    while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error(); /* the loop ends on "no start line" */
    BIO_free(bio);
    return n;
}

static char *read_small_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf != NULL ? fread(buf, 1, max + 1, f) : 0;
    bool bad = buf == NULL || ferror(f) || n > max;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int vg_kms_tls_new(const char *ca_file, struct vg_kms_tls **out, vg_err *err)
{
    char why[160];
    *out = NULL;
    struct vg_kms_tls *t = calloc(1, sizeof *t);
    if (t == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL) {
        free(t);
        return vg_fail(err, VG_E_INTERNAL, "TLS: SSL_CTX_new: %s", ossl_reason(why, sizeof why));
    }
    /* spec §12.1: "Versions 1.2 and 1.3"; upstream's suites: TLS 1.3 AES-GCM, TLS 1.2 ECDHE with
     * AES-GCM or ChaCha20-Poly1305. */
    if (SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(t->ctx, "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1 ||
        SSL_CTX_set_ciphersuites(t->ctx, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:"
                                         "TLS_CHACHA20_POLY1305_SHA256") != 1) {
        vg_kms_tls_free(t);
        return vg_fail(err, VG_E_INTERNAL, "TLS: configuration: %s", ossl_reason(why, sizeof why));
    }
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    X509_STORE *store = SSL_CTX_get_cert_store(t->ctx);
    if (ca_file != NULL) {
        size_t len = 0;
        char *pem = read_small_file(ca_file, CA_FILE_MAX, &len);
        if (pem == NULL) {
            vg_kms_tls_free(t);
            return vg_fail(err, VG_E_INVALID, "--kms-ca-file %s: unreadable or over %u bytes", ca_file, CA_FILE_MAX);
        }
        t->roots = add_pem_certs(store, pem, len);
        free(pem);
        if (t->roots == 0) {
            vg_kms_tls_free(t);
            return vg_fail(err, VG_E_INVALID, "--kms-ca-file %s: no PEM certificate in it", ca_file);
        }
    } else {
        t->roots = add_pem_certs(store, vg_kms_roots_pem, strlen(vg_kms_roots_pem));
        if (t->roots == 0) {
            vg_kms_tls_free(t);
            return vg_fail(err, VG_E_INVALID, "TLS: this build embeds no KMS root certificate (ca-certificates was "
                                              "missing at build time); rebuild, or give --kms-ca-file");
        }
    }
    *out = t;
    return 0;
}

void vg_kms_tls_free(struct vg_kms_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

size_t vg_kms_tls_root_count(const struct vg_kms_tls *t) { return t->roots; }

void vg_kms_http_reply_clear(struct vg_kms_http_reply *r)
{
    if (r->body != NULL) {
        vg_wipe(r->body, r->body_len);
        free(r->body);
    }
    memset(r, 0, sizeof *r);
}

/* ---- response parsing ---- */

static const char *find_crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    return NULL;
}

static bool name_is(const char *line, size_t name_len, const char *want)
{
    return strlen(want) == name_len && strncasecmp(line, want, name_len) == 0;
}

/* Decimal, no sign, no overflow, at most max. */
static bool parse_dec(const char *s, size_t len, size_t max, size_t *out)
{
    size_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (max - (size_t)(s[i] - '0')) / 10)
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

/* De-chunks body[0..len) into out (capacity ≥ len). 1 = complete, 0 = more needed, -1 = invalid. */
static int dechunk(const char *p, size_t len, size_t body_max, char *out, size_t *out_len, vg_err *err)
{
    const char *end = p + len;
    size_t total = 0;
    for (;;) {
        const char *eol = find_crlf(p, end);
        if (eol == NULL)
            return (size_t)(end - p) > 64 ? vg_fail(err, VG_E_INVALID, "KMS reply: chunk size line too long") : 0;
        const char *semi = memchr(p, ';', (size_t)(eol - p));
        size_t digits = (size_t)((semi != NULL ? semi : eol) - p);
        size_t size = 0;
        if (digits == 0 || digits > 8)
            return vg_fail(err, VG_E_INVALID, "KMS reply: bad chunk size");
        for (size_t i = 0; i < digits; i++) {
            char c = p[i];
            int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (v < 0)
                return vg_fail(err, VG_E_INVALID, "KMS reply: bad chunk size");
            size = size * 16 + (size_t)v;
        }
        p = eol + 2;
        if (size == 0) {
            /* trailers, then an empty line */
            for (;;) {
                eol = find_crlf(p, end);
                if (eol == NULL)
                    return (size_t)(end - p) > 4096 ? vg_fail(err, VG_E_INVALID, "KMS reply: trailers too long") : 0;
                if (eol == p) {
                    *out_len = total;
                    return 1;
                }
                p = eol + 2;
            }
        }
        if (size > body_max - total)
            return vg_fail(err, VG_E_INVALID, "KMS reply: body over %zu bytes", body_max);
        if ((size_t)(end - p) < size + 2)
            return 0;
        if (p[size] != '\r' || p[size + 1] != '\n')
            return vg_fail(err, VG_E_INVALID, "KMS reply: chunk not followed by CRLF");
        memcpy(out + total, p, size);
        total += size;
        p += size + 2;
    }
}

int vg_kms_http_parse(const char *buf, size_t len, const struct vg_kms_http_limits *lim, struct vg_kms_http_reply *out,
                      vg_err *err)
{
    memset(out, 0, sizeof *out);
    const char *end = buf + len;
    /* the head ends at the first empty line */
    const char *head_end = NULL;
    for (const char *p = buf; p + 3 < end; p++) {
        if (p[0] == '\r' && p[1] == '\n' && p[2] == '\r' && p[3] == '\n') {
            head_end = p + 2; /* just after the last header's CRLF */
            break;
        }
    }
    if (head_end == NULL)
        return len > lim->head_max ? vg_fail(err, VG_E_INVALID, "KMS reply: header over %zu bytes", lim->head_max) : 0;
    if ((size_t)(head_end - buf) > lim->head_max)
        return vg_fail(err, VG_E_INVALID, "KMS reply: header over %zu bytes", lim->head_max);
    /* status line: HTTP/1.x SP 3DIGIT [SP reason] */
    const char *eol = find_crlf(buf, head_end);
    if (eol == NULL || eol - buf < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ' || (eol - buf > 12 && buf[12] != ' '))
        return vg_fail(err, VG_E_INVALID, "KMS reply: not an HTTP/1.x status line");
    size_t status = 0;
    if (!parse_dec(buf + 9, 3, 999, &status) || status < 100)
        return vg_fail(err, VG_E_INVALID, "KMS reply: bad status code");
    bool have_len = false, chunked = false;
    size_t content_length = 0;
    for (const char *line = eol + 2; line < head_end;) {
        const char *le = find_crlf(line, head_end + 2);
        if (le == NULL)
            break;
        const char *colon = memchr(line, ':', (size_t)(le - line));
        if (colon == NULL || colon == line)
            return vg_fail(err, VG_E_INVALID, "KMS reply: malformed header line");
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = (size_t)(le - v);
        trim(&v, &vlen);
        if (name_is(line, name_len, "content-length")) {
            size_t n;
            if (!parse_dec(v, vlen, (size_t)-1 / 2, &n) || (have_len && n != content_length))
                return vg_fail(err, VG_E_INVALID, "KMS reply: bad Content-Length");
            if (n > lim->body_max)
                return vg_fail(err, VG_E_INVALID, "KMS reply: body of %zu bytes is over %zu", n, lim->body_max);
            content_length = n;
            have_len = true;
        } else if (name_is(line, name_len, "transfer-encoding")) {
            if (!(vlen == 7 && strncasecmp(v, "chunked", 7) == 0))
                return vg_fail(err, VG_E_INVALID, "KMS reply: unsupported Transfer-Encoding");
            chunked = true;
        }
        line = le + 2;
    }
    const char *body = head_end + 2;
    size_t avail = (size_t)(end - body);
    size_t body_len = 0;
    char *copy = NULL;
    if (chunked) {
        /* RFC 9112 §6.3: Transfer-Encoding overrides Content-Length. */
        copy = malloc(avail + 1);
        if (copy == NULL)
            return vg_fail(err, VG_E_INTERNAL, "out of memory");
        int rc = dechunk(body, avail, lim->body_max, copy, &body_len, err);
        if (rc <= 0) {
            vg_wipe(copy, avail);
            free(copy);
            return rc;
        }
    } else if (have_len || status == 204 || status == 304 || status < 200) {
        if (avail < content_length)
            return 0;
        body_len = content_length;
        copy = malloc(body_len + 1);
        if (copy == NULL)
            return vg_fail(err, VG_E_INTERNAL, "out of memory");
        if (body_len > 0)
            memcpy(copy, body, body_len);
    } else {
        return vg_fail(err, VG_E_INVALID, "KMS reply: neither Content-Length nor chunked encoding");
    }
    copy[body_len] = '\0';
    out->status = (int)status;
    out->body = copy;
    out->body_len = body_len;
    return 1;
}

/* ---- the exchange ---- */

static long remaining_ms(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (deadline->tv_sec - now.tv_sec) * 1000L + (deadline->tv_nsec - now.tv_nsec) / 1000000L;
}

/* Socket timeouts = what is left of the deadline, so a blocking SSL call cannot outlive it. */
static bool arm(int fd, const struct timespec *deadline)
{
    long ms = remaining_ms(deadline);
    if (ms <= 0)
        return false;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

/* After a failed SSL call: true when it may be retried (timeout slices, WANT_*), before the deadline. */
static bool retry(SSL *ssl, int rc, int fd, const struct timespec *deadline)
{
    int e = SSL_get_error(ssl, rc);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && arm(fd, deadline);
}

static int io_fail(SSL *ssl, int rc, const char *what, const char *host, vg_err *err)
{
    char why[160];
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return vg_fail(err, VG_E_UNAVAILABLE, "KMS %s: %s: timed out", host, what);
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "KMS %s: %s: %s", host, what,
                       errno != 0 ? strerror(errno) : "connection closed");
    if (e == SSL_ERROR_ZERO_RETURN)
        return vg_fail(err, VG_E_UNAVAILABLE, "KMS %s: %s: connection closed", host, what);
    return vg_fail(err, VG_E_UNAVAILABLE, "KMS %s: %s: TLS: %s", host, what, ossl_reason(why, sizeof why));
}

static int handshake(SSL *ssl, int fd, const char *host, const struct timespec *deadline, vg_err *err)
{
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_connect(ssl);
        if (rc == 1)
            return 0;
        long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) {
            ERR_clear_error();
            /* spec §12.1: "SNI and certificate name check = the endpoint host". */
            return vg_fail(err, VG_E_FORBIDDEN, "KMS %s: TLS: server certificate rejected: %s", host,
                           X509_verify_cert_error_string(verify));
        }
        if (!retry(ssl, rc, fd, deadline))
            return io_fail(ssl, rc, "TLS handshake", host, err);
    }
}

int vg_kms_tls_exchange(struct vg_kms_tls *t, const struct vg_rpc_addr *proxy, const char *host, const uint8_t *request,
                        size_t request_len, const struct vg_kms_http_limits *lim, struct vg_kms_http_reply *out,
                        vg_err *err)
{
    memset(out, 0, sizeof *out);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += lim->timeout_ms / 1000;
    deadline.tv_nsec += (long)(lim->timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int fd = -1;
    if (vg_rpc_addr_connect(proxy, lim->timeout_ms, &fd, err) < 0)
        return vg_wrap(err, "KMS proxy");
    SSL *ssl = SSL_new(t->ctx);
    size_t cap = lim->head_max + lim->body_max + 4096, len = 0;
    char *buf = NULL;
    int rc = -1;
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1 ||
        SSL_set1_host(ssl, host) != 1) {
        char why[160];
        vg_fail(err, VG_E_INTERNAL, "TLS: setting up the connection: %s", ossl_reason(why, sizeof why));
        goto out;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!arm(fd, &deadline)) {
        vg_fail(err, VG_E_UNAVAILABLE, "KMS %s: timed out connecting", host);
        goto out;
    }
    if (handshake(ssl, fd, host, &deadline, err) < 0)
        goto out;
    for (size_t off = 0; off < request_len;) {
        ERR_clear_error();
        errno = 0;
        size_t chunk = request_len - off > 16384 ? 16384 : request_len - off;
        int w = SSL_write(ssl, request + off, (int)chunk);
        if (w > 0) {
            off += (size_t)w;
        } else if (!retry(ssl, w, fd, &deadline)) {
            io_fail(ssl, w, "sending", host, err);
            goto out;
        }
    }
    buf = malloc(cap + 1);
    if (buf == NULL) {
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        goto out;
    }
    for (;;) {
        int p = vg_kms_http_parse(buf, len, lim, out, err);
        if (p < 0)
            goto out;
        if (p == 1) {
            rc = 0;
            goto out;
        }
        if (len == cap) {
            vg_fail(err, VG_E_INVALID, "KMS reply: over %zu bytes", cap);
            goto out;
        }
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(ssl, buf + len, (int)(cap - len > 65536 ? 65536 : cap - len));
        if (r > 0) {
            len += (size_t)r;
        } else if (!retry(ssl, r, fd, &deadline)) {
            io_fail(ssl, r, len == 0 ? "waiting for the reply" : "reading the reply (truncated)", host, err);
            goto out;
        }
    }
out:
    if (buf != NULL) {
        vg_wipe(buf, len);
        free(buf);
    }
    SSL_free(ssl);
    close(fd);
    ERR_clear_error();
    if (rc < 0)
        vg_kms_http_reply_clear(out);
    return rc;
}
