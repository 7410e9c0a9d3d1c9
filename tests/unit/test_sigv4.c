/* The enclave's KMS client pieces that need no network.
 *
 * SigV4 (src/enclave/sigv4.c) against every case of AWS's SigV4 test suite
 * (../shared/vectors/sigv4/aws-sig-v4-test-suite/, 31 cases): canonical request, string to sign and
 * Authorization must match byte for byte, and the signed request (.sreq) must carry that
 * Authorization. All cases apply: KMS is a non-S3 service (paths are normalised), and the signer is
 * general (the KMS client only ever signs POST / with a JSON body). Plus: the amz date format, bad
 * inputs, and the secret never appearing in any output.
 *
 * The HTTP reply parser (kms_tls.c): Content-Length and chunked bodies, every split point of a reply
 * (incomplete until the last byte), caps, malformed heads, and every bit flip of valid replies (no
 * crash; run under ASan). The KMS reply interpreter (kms_client.c): the fields of Encrypt/Decrypt
 * replies, "zero output", a Plaintext refused, error types and their kinds, escapes, hostile text.
 * The credentials check (missing fields in upstream's words, header injection refused) and the
 * embedded TLS roots. Exit 77 without ../shared (after the tests that need nothing). */
#include <dirent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "enclave/kms_client.h"
#include "enclave/kms_tls.h"
#include "enclave/sigv4.h"
#include "testlib.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DATE "20150830T123600Z"
#define MAX_HEADERS 32

struct parsed {
    char method[16];
    char *target; /* path?query */
    char *path, *query;
    struct vg_sigv4_header h[MAX_HEADERS];
    char *names[MAX_HEADERS], *values[MAX_HEADERS];
    size_t n;
    char *body;
};

static void parsed_free(struct parsed *p)
{
    free(p->target);
    free(p->path);
    free(p->query);
    for (size_t i = 0; i < p->n; i++) {
        free(p->names[i]);
        free(p->values[i]);
    }
    free(p->body);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* A .req file: "METHOD TARGET HTTP/1.1", header lines ("Name:value"; a line starting with whitespace
 * continues the previous header as another value), an empty line, the body (lines joined by \n). */
static bool parse_req(const char *text, struct parsed *p)
{
    memset(p, 0, sizeof *p);
    const char *eol = strchr(text, '\n');
    size_t first_len = eol != NULL ? (size_t)(eol - text) : strlen(text);
    char *first = dup_n(text, first_len);
    char *sp1 = strchr(first, ' '), *sp2 = strrchr(first, ' ');
    if (sp1 == NULL || sp2 == sp1 || (size_t)(sp1 - first) >= sizeof p->method) {
        free(first);
        return false;
    }
    memcpy(p->method, first, (size_t)(sp1 - first));
    p->target = dup_n(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    free(first);
    char *q = strchr(p->target, '?');
    p->path = q != NULL ? dup_n(p->target, (size_t)(q - p->target)) : strdup(p->target);
    p->query = strdup(q != NULL ? q + 1 : "");
    const char *line = eol != NULL ? eol + 1 : text + first_len;
    while (eol != NULL && *line != '\0') {
        eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
        if (len == 0) {
            line = eol + 1;
            p->body = strdup(line);
            break;
        }
        if (p->n == MAX_HEADERS)
            return false;
        if ((line[0] == ' ' || line[0] == '\t') && p->n > 0) {
            p->names[p->n] = strdup(p->names[p->n - 1]);
            p->values[p->n] = dup_n(line, len);
        } else {
            const char *colon = memchr(line, ':', len);
            if (colon == NULL)
                return false;
            p->names[p->n] = dup_n(line, (size_t)(colon - line));
            p->values[p->n] = dup_n(colon + 1, len - (size_t)(colon - line) - 1);
        }
        p->h[p->n] = (struct vg_sigv4_header){p->names[p->n], p->values[p->n]};
        p->n++;
        line = eol != NULL ? eol + 1 : line + len;
    }
    if (p->body == NULL)
        p->body = strdup("");
    return true;
}

static char *read_case(const char *dir, const char *name, const char *ext)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    size_t len;
    return vt_read_file(path, &len);
}

static int cases_run;

static void run_case(const char *dir, const char *name)
{
    char *req = read_case(dir, name, "req"), *creq = read_case(dir, name, "creq"), *sts = read_case(dir, name, "sts"),
         *authz = read_case(dir, name, "authz"), *sreq = read_case(dir, name, "sreq");
    struct parsed p;
    CHECK_MSG(req && creq && sts && authz && sreq, "%s: missing files", name);
    if (req == NULL || creq == NULL || sts == NULL || authz == NULL || sreq == NULL || !parse_req(req, &p)) {
        CHECK_MSG(false, "%s: unparseable .req", name);
        goto out_files;
    }
    struct vg_sigv4_request r = {p.method, p.path, p.query, p.h, p.n, (const uint8_t *)p.body, strlen(p.body)};
    struct vg_sigv4_params prm = {AKID, SECRET, "us-east-1", "service", DATE};
    struct vg_sigv4_result res;
    vg_err err = {0};
    int rc = vg_sigv4_sign(&r, &prm, &res, &err);
    CHECK_MSG(rc == 0, "%s: %s", name, err.msg);
    if (rc == 0) {
        CHECK_MSG(strcmp(res.canonical_request, creq) == 0, "%s: canonical request\n--- got\n%s\n--- want\n%s", name,
                  res.canonical_request, creq);
        CHECK_MSG(strcmp(res.string_to_sign, sts) == 0, "%s: string to sign\n%s\n--- want\n%s", name,
                  res.string_to_sign, sts);
        CHECK_MSG(strcmp(res.authorization, authz) == 0, "%s: authorization\n%s\n--- want\n%s", name,
                  res.authorization, authz);
        char line[1024];
        snprintf(line, sizeof line, "\nAuthorization: %s", res.authorization);
        CHECK_MSG(strstr(sreq, line) != NULL, "%s: .sreq does not carry our Authorization", name);
        CHECK_MSG(strstr(res.canonical_request, SECRET) == NULL && strstr(res.string_to_sign, SECRET) == NULL &&
                      strstr(res.authorization, SECRET) == NULL,
                  "%s: secret in an output", name);
        vg_sigv4_result_clear(&res);
        cases_run++;
    }
    parsed_free(&p);
out_files:
    free(req);
    free(creq);
    free(sts);
    free(authz);
    free(sreq);
}

/* A case directory holds <name>/<name>.req; groups (normalize-path, post-sts-token) hold cases. */
static void walk(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (d == NULL)
        return;
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        char sub[1024], req[1100];
        struct stat st;
        snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(req, sizeof req, "%s/%s.req", sub, names[i]);
            if (stat(req, &st) == 0)
                run_case(sub, names[i]);
            else
                walk(sub);
        }
        free(names[i]);
    }
}

static void test_suite(void)
{
    char dir[1024];
    if (vt_vector_path("sigv4/aws-sig-v4-test-suite", dir, sizeof dir) == NULL)
        return;
    walk(dir);
    CHECK_MSG(cases_run == 31, "ran %d cases, want all 31", cases_run);
}

/* A KMS-shaped request (what the enclave sends) signs deterministically, with a session token among
 * the signed headers, and any change to a signed input changes the signature. */
static void test_kms_shape(void)
{
    static const char body[] = "{\"KeyId\":\"alias/x\",\"Plaintext\":\"AAEC\"}";
    struct vg_sigv4_header h[] = {
        {"Content-Type", "application/x-amz-json-1.1"}, {"Host", "kms.us-east-1.amazonaws.com"},
        {"X-Amz-Date", DATE},                           {"X-Amz-Security-Token", "token+/="},
        {"X-Amz-Target", "TrentService.Encrypt"},
    };
    struct vg_sigv4_request r = {"POST", "/", "", h, 5, (const uint8_t *)body, strlen(body)};
    struct vg_sigv4_params prm = {AKID, SECRET, "us-east-1", "kms", DATE};
    struct vg_sigv4_result a, b;
    vg_err err = {0};
    CHECK(vg_sigv4_sign(&r, &prm, &a, &err) == 0);
    CHECK_STR(a.signed_headers, "content-type;host;x-amz-date;x-amz-security-token;x-amz-target");
    static const char prefix[] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, "
                                 "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
                                 "Signature=";
    CHECK_MSG(strncmp(a.authorization, prefix, sizeof prefix - 1) == 0 &&
                  strlen(a.authorization) == sizeof prefix - 1 + 64,
              "%s", a.authorization);
    r.payload_len--; /* one byte less of body */
    CHECK(vg_sigv4_sign(&r, &prm, &b, &err) == 0);
    CHECK(strcmp(a.authorization, b.authorization) != 0);
    vg_sigv4_result_clear(&b);
    r.payload_len++;
    prm.region = "eu-west-1";
    CHECK(vg_sigv4_sign(&r, &prm, &b, &err) == 0);
    CHECK(strcmp(a.authorization, b.authorization) != 0);
    vg_sigv4_result_clear(&b);
    vg_sigv4_result_clear(&a);
}

static void test_bad_inputs(void)
{
    struct vg_sigv4_header h[VG_SIGV4_HEADERS_MAX + 1];
    for (size_t i = 0; i < VG_SIGV4_HEADERS_MAX + 1; i++)
        h[i] = (struct vg_sigv4_header){"X-A", "b"};
    struct vg_sigv4_request r = {"POST", "/", NULL, h, 1, NULL, 0};
    struct vg_sigv4_params prm = {AKID, SECRET, "us-east-1", "kms", "2015-08-30T12:36:00Z"};
    struct vg_sigv4_result res;
    vg_err err = {0};
    CHECK(vg_sigv4_sign(&r, &prm, &res, &err) == -1 && err.kind == VG_E_INVALID);
    CHECK(res.authorization == NULL);
    prm.amz_date = DATE;
    r.n_headers = VG_SIGV4_HEADERS_MAX + 1;
    CHECK(vg_sigv4_sign(&r, &prm, &res, &err) == -1 && err.kind == VG_E_INVALID);
    h[0].name = " ";
    r.n_headers = 1;
    CHECK(vg_sigv4_sign(&r, &prm, &res, &err) == -1 && err.kind == VG_E_INVALID);
    /* a canonical request over the cap */
    char *big = malloc(VG_SIGV4_TEXT_MAX + 10);
    memset(big, 'a', VG_SIGV4_TEXT_MAX + 9);
    big[VG_SIGV4_TEXT_MAX + 9] = '\0';
    h[0] = (struct vg_sigv4_header){"x-big", big};
    CHECK(vg_sigv4_sign(&r, &prm, &res, &err) == -1 && err.kind == VG_E_INVALID);
    free(big);
}

/* ---- HTTP replies ---- */

static const struct vg_kms_http_limits LIM = {1000, 2048, 4096};

static int parse_str(const char *text, struct vg_kms_http_reply *r, vg_err *err)
{
    return vg_kms_http_parse(text, strlen(text), &LIM, r, err);
}

static void test_http_parse(void)
{
    struct vg_kms_http_reply r;
    vg_err err = {0};
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 13\r\n"
                             "x-amzn-RequestId: 1\r\n\r\n{\"a\":\"bcde\"}\n";
    CHECK(parse_str(ok, &r, &err) == 1 && r.status == 200 && r.body_len == 13 && strcmp(r.body, "{\"a\":\"bcde\"}\n") == 0);
    vg_kms_http_reply_clear(&r);
    /* every proper prefix is incomplete, never an error */
    for (size_t n = 0; n < sizeof ok - 1; n++) {
        int rc = vg_kms_http_parse(ok, n, &LIM, &r, &err);
        CHECK_MSG(rc == 0, "prefix %zu gave %d (%s)", n, rc, err.msg);
        vg_kms_http_reply_clear(&r);
    }
    static const char chunked[] = "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "5;ext=1\r\n{\"__t\r\na\r\nype\":\"x\"}\n\r\n0\r\nTrailer: t\r\n\r\n";
    CHECK(parse_str(chunked, &r, &err) == 1 && r.status == 400 && strcmp(r.body, "{\"__type\":\"x\"}\n") == 0);
    vg_kms_http_reply_clear(&r);
    for (size_t n = 0; n < sizeof chunked - 1; n++) {
        int rc = vg_kms_http_parse(chunked, n, &LIM, &r, &err);
        CHECK_MSG(rc == 0, "chunked prefix %zu gave %d (%s)", n, rc, err.msg);
        vg_kms_http_reply_clear(&r);
    }
    CHECK(parse_str("HTTP/1.0 503 x\r\nContent-Length: 0\r\n\r\n", &r, &err) == 1 && r.status == 503 && r.body_len == 0);
    vg_kms_http_reply_clear(&r);
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n{}",                                          /* no length */
        "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",                    /* over body_max */
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", /* conflicting */
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n", /* chunk over body_max */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (vg_err){0};
        CHECK_MSG(parse_str(bad[i], &r, &err) == -1 && err.kind == VG_E_INVALID && r.body == NULL, "bad reply %zu", i);
    }
    /* a head that never ends: an error once it passes head_max, not before */
    char head[3000];
    memset(head, 'a', sizeof head);
    memcpy(head, "HTTP/1.1 200 OK\r\nX: ", 20);
    CHECK(vg_kms_http_parse(head, 2048, &LIM, &r, &err) == 0);
    CHECK(vg_kms_http_parse(head, 2049, &LIM, &r, &err) == -1 && err.kind == VG_E_INVALID);
    /* every single-bit flip of the valid replies: a result or an error, never a crash (ASan) */
    const char *valid[] = {ok, chunked};
    size_t lens[] = {sizeof ok - 1, sizeof chunked - 1};
    int outcomes[3] = {0};
    for (int v = 0; v < 2; v++) {
        char *m = malloc(lens[v]);
        for (size_t i = 0; i < lens[v] * 8; i++) {
            memcpy(m, valid[v], lens[v]);
            m[i / 8] = (char)(m[i / 8] ^ (1 << (i % 8)));
            int rc = vg_kms_http_parse(m, lens[v], &LIM, &r, &err);
            outcomes[rc + 1]++;
            vg_kms_http_reply_clear(&r);
        }
        free(m);
    }
    CHECK(outcomes[0] > 0 && outcomes[2] > 0);
}

/* ---- KMS replies ---- */

static void test_kms_reply(void)
{
    uint8_t *out;
    size_t len;
    vg_err err = {0};
#define REPLY(status, body, field) vg_kms_reply_parse("Decrypt", status, body, strlen(body), field, &out, &len, &err)
    CHECK(REPLY(200, "{\"CiphertextBlob\":\"AQID\",\"KeyId\":\"arn:aws:kms:x\",\"EncryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"}",
                "CiphertextBlob") == 0 &&
          len == 3 && out[0] == 1 && out[2] == 3);
    free(out);
    /* KMS's Decrypt with a Recipient: Plaintext absent or null; nested values and escapes skipped/decoded */
    CHECK(REPLY(200, " {\"KeyId\":\"k\",\"Plaintext\":null,\"X\":{\"a\":[1,2,{\"b\":\"}\"}]},\"n\":-1.5e3,\"t\":true,"
                     "\"CiphertextForRecipient\":\"q\\/8=\"} ",
                "CiphertextForRecipient") == 0 &&
          len == 2 && out[0] == 0xab && out[1] == 0xff);
    free(out);
    CHECK(REPLY(200, "{\"KeyId\":\"k\"}", "CiphertextForRecipient") == -1 && strcmp(err.msg, "zero output") == 0);
    CHECK(REPLY(200, "{\"KeyId\":\"k\",\"Plaintext\":\"AAAA\",\"CiphertextForRecipient\":\"AQID\"}",
                "CiphertextForRecipient") == -1 &&
          strstr(err.msg, "Plaintext") != NULL && out == NULL);
    CHECK(REPLY(200, "{\"CiphertextForRecipient\":\"AQID\",\"CiphertextForRecipient\":\"AQID\"}",
                "CiphertextForRecipient") == -1 &&
          err.kind == VG_E_INVALID);
    CHECK(REPLY(200, "{\"CiphertextForRecipient\":\"AQ!D\"}", "CiphertextForRecipient") == -1 &&
          strstr(err.msg, "not base64") != NULL);
    CHECK(REPLY(200, "{\"CiphertextForRecipient\":12}", "CiphertextForRecipient") == -1);
    CHECK(REPLY(200, "{\"CiphertextForRecipient\":\"AQID\"} x", "CiphertextForRecipient") == -1);
    CHECK(REPLY(200, "[]", "CiphertextForRecipient") == -1);
    CHECK(REPLY(200, "{\"a\":\"\x01\"}", "CiphertextForRecipient") == -1);
    /* errors keep KMS's type and message; the kind decides retries and the HTTP status upstream */
    CHECK(REPLY(400, "{\"__type\":\"AccessDeniedException\",\"message\":\"User is not authorized\"}", "x") == -1 &&
          err.kind == VG_E_FORBIDDEN);
    CHECK_STR(err.msg, "KMS Decrypt: AccessDeniedException: User is not authorized");
    CHECK(REPLY(400, "{\"__type\":\"com.amazonaws.kms#ThrottlingException\",\"Message\":\"slow down\"}", "x") == -1 &&
          err.kind == VG_E_UNAVAILABLE);
    CHECK_STR(err.msg, "KMS Decrypt: ThrottlingException: slow down");
    CHECK(REPLY(400, "{\"__type\":\"InvalidCiphertextException\"}", "x") == -1 && err.kind == VG_E_INVALID);
    CHECK_STR(err.msg, "KMS Decrypt: InvalidCiphertextException");
    CHECK(REPLY(502, "<html>bad gateway</html>", "x") == -1 && err.kind == VG_E_UNAVAILABLE);
    CHECK_STR(err.msg, "KMS Decrypt: HTTP 502");
    CHECK(REPLY(400, "{\"__type\":\"X\\u0007Y\",\"message\":\"a\\nb\\u00e9\"}", "x") == -1);
    CHECK_STR(err.msg, "KMS Decrypt: X?Y: a?b??");
    char big[1200];
    snprintf(big, sizeof big, "{\"__type\":\"AccessDeniedException\",\"message\":\"%0900d\"}", 7);
    CHECK(REPLY(400, big, "x") == -1 && strlen(err.msg) < 220 && strstr(err.msg, "...") != NULL);
#undef REPLY
}

static void test_credentials_check(void)
{
    vg_err err = {0};
    struct vg_rpc_credentials c = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, "alias/k", "us-east-1", false};
    CHECK(vg_kms_credentials_check(&c, &err) == 0);
    c.session_token = "AQoDYXdzEPT//////////wEXAMPLE+/=";
    CHECK(vg_kms_credentials_check(&c, &err) == 0);
    struct vg_rpc_credentials m = c;
    m.region = NULL;
    CHECK(vg_kms_credentials_check(&m, &err) == -1);
    CHECK_STR(err.msg, "Semantic(None, \"missing field `region`\")");
    m = c;
    m.encryption_key_id = NULL;
    CHECK(vg_kms_credentials_check(&m, &err) == -1);
    CHECK_STR(err.msg, "Semantic(None, \"missing field `encryption_key_id`\")");
    static const char *const bad_tokens[] = {"abc\r\nX-Evil: 1", "a b", "a\"b"};
    for (size_t i = 0; i < 3; i++) {
        m = c;
        m.session_token = (char *)bad_tokens[i];
        CHECK(vg_kms_credentials_check(&m, &err) == -1 && strstr(err.msg, bad_tokens[i]) == NULL);
    }
    m = c;
    m.region = "us-east-1.evil.com/";
    CHECK(vg_kms_credentials_check(&m, &err) == -1);
    m = c;
    m.access_key_id = "AKID\r\n";
    CHECK(vg_kms_credentials_check(&m, &err) == -1);
    m = c;
    m.secret_access_key = "has space";
    CHECK(vg_kms_credentials_check(&m, &err) == -1 && strstr(err.msg, "has space") == NULL);
    m = c;
    m.encryption_key_id = "key\n";
    CHECK(vg_kms_credentials_check(&m, &err) == -1);
}

static void test_roots(void)
{
    struct vg_kms_tls *t = NULL;
    vg_err err = {0};
    /* Amazon Root CA 1-4 + Starfield Services Root CA G2 (when ca-certificates was there at build time) */
    CHECK_MSG(vg_kms_roots_count == 5, "embedded roots: %u", vg_kms_roots_count);
    CHECK(vg_kms_tls_new(NULL, &t, &err) == 0 && vg_kms_tls_root_count(t) == vg_kms_roots_count);
    vg_kms_tls_free(t);
    CHECK(vg_kms_tls_new("/nonexistent/ca.pem", &t, &err) == -1 && err.kind == VG_E_INVALID && t == NULL);
    CHECK(vg_kms_tls_new("/dev/null", &t, &err) == -1 && strstr(err.msg, "no PEM certificate") != NULL);
}

static void test_amz_date(void)
{
    char d[VG_SIGV4_DATE_LEN + 1];
    vg_sigv4_amz_date(1440938160, d); /* 2015-08-30T12:36:00Z */
    CHECK_STR(d, DATE);
}

int main(void)
{
    vt_init();
    test_amz_date();
    test_kms_shape();
    test_bad_inputs();
    test_http_parse();
    test_kms_reply();
    test_credentials_check();
    test_roots();
    vt_require_shared();
    test_suite();
    return vt_done("test_sigv4");
}
