/* AWS plumbing: the credentials chain (config, environment, shared file + profile, IMDSv2 with
 * expiry and refresh) against a local HTTP stub that enforces the IMDSv2 token header; libcurl's
 * SigV4 against AWS's published test suite (../shared/vectors/sigv4) through a capture server, plus
 * a DynamoDB-shaped request checked by an independent SigV4 computation; the DynamoDB client's error
 * parsing, retry/backoff, timeouts, pagination; the nitro key storage.
 *
 * With VIGIL_TEST_DDB_ENDPOINT=http://127.0.0.1:PORT (set by tests/integration/dynamodb.test.mjs)
 * only the live cases run, against that real server (DynamoDB Local or dynalite). */
#define _GNU_SOURCE
#include "testlib.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aws/credentials.h"
#include "aws/dynamodb.h"
#include "aws/key_storage_dynamodb.h"
#include "common/json.h"
#include "common/log.h"
#include "tezos/encoding.h"
#include "watermark/watermark.h"

/* ---- a tiny HTTP/1.1 stub server (one thread per connection, keep-alive) ------------------- */

struct stub_req {
    char method[16];
    char path[1024];
    char headers[16384]; /* raw header block, CRLF separated */
    char *body;
    size_t body_len;
};

enum { ACT_ANSWER = 0, ACT_HANG, ACT_CLOSE };

struct stub_resp {
    int status;
    char body[65536];
    int action;
};

typedef void (*stub_handler)(const struct stub_req *rq, struct stub_resp *rs, void *ctx);

struct stub {
    int fd;
    int port;
    stub_handler handler;
    void *ctx;
    pthread_mutex_t lock;
    atomic_int requests, connections, active;
    struct stub_req last; /* under lock */
    atomic_bool stop;
    pthread_t thread;
};

struct conn_arg {
    struct stub *s;
    int fd;
};

/* Case-insensitive header lookup in a raw block; copies the trimmed value. */
static bool header_get(const char *block, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = block;
    while (p != NULL && *p != '\0') {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t n = strcspn(v, "\r\n");
            while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    return false;
}

static bool read_request(int fd, struct stub_req *rq)
{
    static __thread char buf[1 << 20];
    size_t len = 0;
    char *end = NULL;
    while (end == NULL) {
        if (len == sizeof buf - 1)
            return false;
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (r <= 0)
            return false;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t hlen = (size_t)(end - buf) + 4;
    memset(rq, 0, sizeof *rq);
    sscanf(buf, "%15s %1023s", rq->method, rq->path);
    const char *h = strstr(buf, "\r\n");
    size_t hb = h != NULL ? (size_t)(end - h - 2) : 0;
    if (hb >= sizeof rq->headers)
        hb = sizeof rq->headers - 1;
    if (h != NULL)
        memcpy(rq->headers, h + 2, hb);
    rq->headers[hb] = '\0';
    char cl[32] = "0";
    header_get(rq->headers, "Content-Length", cl, sizeof cl);
    size_t want = (size_t)strtoul(cl, NULL, 10);
    rq->body = malloc(want + 1);
    size_t have = len - hlen;
    if (have > want)
        have = want;
    memcpy(rq->body, buf + hlen, have);
    while (have < want) {
        ssize_t r = recv(fd, rq->body + have, want - have, 0);
        if (r <= 0) {
            free(rq->body);
            return false;
        }
        have += (size_t)r;
    }
    rq->body[want] = '\0';
    rq->body_len = want;
    return true;
}

static void *conn_main(void *p)
{
    struct conn_arg *a = p;
    struct stub *s = a->s;
    int fd = a->fd;
    free(a);
    struct stub_req *rq = malloc(sizeof *rq);
    struct stub_resp *rs = malloc(sizeof *rs);
    while (!atomic_load(&s->stop) && read_request(fd, rq)) {
        atomic_fetch_add(&s->requests, 1);
        pthread_mutex_lock(&s->lock);
        free(s->last.body);
        s->last = *rq;
        s->last.body = strdup(rq->body);
        pthread_mutex_unlock(&s->lock);
        memset(rs, 0, sizeof *rs);
        rs->status = 200;
        snprintf(rs->body, sizeof rs->body, "{}");
        s->handler(rq, rs, s->ctx);
        free(rq->body);
        if (rs->action == ACT_HANG) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            poll(&pfd, 1, 5000);
            break;
        }
        if (rs->action == ACT_CLOSE)
            break;
        char head[256];
        size_t bl = strlen(rs->body);
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %zu\r\n\r\n",
                          rs->status, bl);
        if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) < 0 || send(fd, rs->body, bl, MSG_NOSIGNAL) < 0)
            break;
    }
    free(rq);
    free(rs);
    close(fd);
    atomic_fetch_sub(&s->active, 1);
    return NULL;
}

static void *accept_main(void *p)
{
    struct stub *s = p;
    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        atomic_fetch_add(&s->connections, 1);
        atomic_fetch_add(&s->active, 1);
        struct conn_arg *a = malloc(sizeof *a);
        a->s = s;
        a->fd = c;
        pthread_t t;
        pthread_create(&t, NULL, conn_main, a);
        pthread_detach(t);
    }
    return NULL;
}

static struct stub *stub_start(stub_handler h, void *ctx)
{
    struct stub *s = calloc(1, sizeof *s);
    s->handler = h;
    s->ctx = ctx;
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(s->fd, 64) < 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &al) < 0) {
        perror("stub");
        exit(1);
    }
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, accept_main, s);
    return s;
}

static void stub_stop(struct stub *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
    /* connection threads end when their client closes (every test frees its clients first) */
    for (int i = 0; i < 700 && atomic_load(&s->active) > 0; i++)
        usleep(10 * 1000);
    if (atomic_load(&s->active) > 0) {
        fprintf(stderr, "stub: %d connection(s) still open; leaking the stub\n", atomic_load(&s->active));
        return;
    }
    free(s->last.body);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void stub_last(struct stub *s, struct stub_req *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->last;
    out->body = s->last.body != NULL ? strdup(s->last.body) : NULL;
    pthread_mutex_unlock(&s->lock);
}

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

/* A JSON string's value for CHECK_STR ("(null)" when absent, so a failed check does not crash). */
static const char *jstr(const json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : "(null)";
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- environment isolation ----------------------------------------------------------------- */

static const char *const aws_env[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                      "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
                                      "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
                                      "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED",
                                      "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"};

static void clean_env(void)
{
    for (size_t i = 0; i < sizeof aws_env / sizeof aws_env[0]; i++)
        unsetenv(aws_env[i]);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static char tmpdir_path[64];

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmpdir_path, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* ---- credentials: config / env / file ------------------------------------------------------ */

static void test_creds_config(void)
{
    clean_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1); /* config wins over env */
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    vg_aws_credentials_options o = {.access_key_id = "AKIDCONFIG", .secret_access_key = "configsecret/+=",
                                    .session_token = "tok", .region = "eu-west-3"};
    vg_aws_credentials *c = NULL;
    vg_err err = {0};
    CHECK_MSG(vg_aws_credentials_new(&o, &c, &err) == 0, "%s", err.msg);
    if (c == NULL)
        return;
    CHECK_STR(vg_aws_credentials_source(c), "config");
    CHECK_STR(vg_aws_credentials_region(c), "eu-west-3");
    vg_aws_creds v = {0};
    CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
    CHECK_STR(v.access_key_id, "AKIDCONFIG");
    CHECK_STR(v.secret_access_key, "configsecret/+=");
    CHECK(v.session_token != NULL && strcmp(v.session_token, "tok") == 0);
    CHECK(v.generation != 0 && v.expiration == 0);
    /* unchanged generation: no copy, same pointers */
    char *before = v.access_key_id;
    CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
    CHECK(v.access_key_id == before);
    vg_aws_creds_clear(&v);
    CHECK(v.access_key_id == NULL && v.generation == 0);
    vg_aws_credentials_free(c);

    vg_aws_credentials_options half = {.access_key_id = "AKIDONLY"};
    err = (vg_err){0};
    CHECK(vg_aws_credentials_new(&half, &c, &err) < 0 && err.kind == VG_E_INVALID && c == NULL);
    vg_aws_credentials_options bad = {.access_key_id = "AKID", .secret_access_key = "has space secret"};
    CHECK(vg_aws_credentials_new(&bad, &c, &err) < 0 && err.kind == VG_E_INVALID);
    CHECK_MSG(strstr(err.msg, "has space") == NULL, "secret echoed in error: %s", err.msg);
}

static void test_creds_env(void)
{
    clean_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    vg_aws_credentials *c = NULL;
    vg_err err = {0};
    CHECK_MSG(vg_aws_credentials_new(NULL, &c, &err) == 0, "%s", err.msg);
    if (c != NULL) {
        CHECK_STR(vg_aws_credentials_source(c), "environment");
        CHECK_STR(vg_aws_credentials_region(c), "ap-south-1");
        vg_aws_creds v = {0};
        CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
        CHECK_STR(v.access_key_id, "AKIDENV");
        CHECK_STR(v.secret_access_key, "envsecret");
        CHECK(v.session_token != NULL && strcmp(v.session_token, "envtoken") == 0);
        vg_aws_creds_clear(&v);
        vg_aws_credentials_free(c);
    }
    setenv("AWS_REGION", "us-west-2", 1); /* AWS_REGION before AWS_DEFAULT_REGION */
    CHECK(vg_aws_credentials_new(NULL, &c, &err) == 0);
    if (c != NULL) {
        CHECK_STR(vg_aws_credentials_region(c), "us-west-2");
        vg_aws_credentials_free(c);
    }
    unsetenv("AWS_SECRET_ACCESS_KEY");
    CHECK(vg_aws_credentials_new(NULL, &c, &err) < 0 && err.kind == VG_E_INVALID);
    /* nothing anywhere, IMDS disabled */
    clean_env();
    CHECK(vg_aws_credentials_new(NULL, &c, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "no AWS credentials") != NULL, "%s", err.msg);
}

static void test_creds_file(void)
{
    clean_env();
    char cred_path[256], conf_path[256];
    write_file("credentials",
               "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key=defsecret\n\n"
               "[dev]\r\n  aws_access_key_id   =  AKIDDEV  \r\naws_secret_access_key = devsecret\r\n"
               "aws_session_token = devtoken\r\n[half]\naws_access_key_id = AKIDHALF\n",
               cred_path, sizeof cred_path);
    write_file("config", "[default]\nregion = us-east-2\n[profile dev]\nregion = eu-central-1\n", conf_path,
               sizeof conf_path);
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
    setenv("AWS_CONFIG_FILE", conf_path, 1);
    vg_aws_credentials *c = NULL;
    vg_err err = {0};
    vg_aws_creds v = {0};
    CHECK_MSG(vg_aws_credentials_new(NULL, &c, &err) == 0, "%s", err.msg);
    if (c != NULL) {
        CHECK_STR(vg_aws_credentials_source(c), "shared file");
        CHECK_STR(vg_aws_credentials_region(c), "us-east-2");
        CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
        CHECK_STR(v.access_key_id, "AKIDDEFAULT");
        CHECK_STR(v.secret_access_key, "defsecret");
        CHECK(v.session_token == NULL);
        vg_aws_creds_clear(&v);
        vg_aws_credentials_free(c);
    }
    setenv("AWS_PROFILE", "dev", 1);
    CHECK_MSG(vg_aws_credentials_new(NULL, &c, &err) == 0, "%s", err.msg);
    if (c != NULL) {
        CHECK_STR(vg_aws_credentials_region(c), "eu-central-1");
        CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
        CHECK_STR(v.access_key_id, "AKIDDEV");
        CHECK_STR(v.secret_access_key, "devsecret");
        CHECK(v.session_token != NULL && strcmp(v.session_token, "devtoken") == 0);
        vg_aws_creds_clear(&v);
        vg_aws_credentials_free(c);
    }
    vg_aws_credentials_options o = {.profile = "half"};
    CHECK(vg_aws_credentials_new(&o, &c, &err) < 0 && err.kind == VG_E_INVALID);
    o.profile = "missing"; /* no such profile and IMDS disabled */
    CHECK(vg_aws_credentials_new(&o, &c, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "missing") != NULL, "%s", err.msg);
}

/* ---- credentials: IMDSv2 ------------------------------------------------------------------- */

struct imds_state {
    atomic_int token_puts, creds_gets, unauthorized;
    atomic_int serial;
    atomic_int fail;           /* 1: answer 500 to everything */
    atomic_long expires_in;    /* seconds from now for Expiration */
    atomic_int refuse_token;   /* 1: the token PUT answers 403 (no IMDSv2) */
};

static void imds_handler(const struct stub_req *rq, struct stub_resp *rs, void *ctx)
{
    struct imds_state *st = ctx;
    char v[256];
    if (atomic_load(&st->fail)) {
        rs->status = 500;
        return;
    }
    if (strcmp(rq->path, "/latest/api/token") == 0) {
        if (strcmp(rq->method, "PUT") != 0 || atomic_load(&st->refuse_token) ||
            !header_get(rq->headers, "X-aws-ec2-metadata-token-ttl-seconds", v, sizeof v)) {
            rs->status = strcmp(rq->method, "PUT") != 0 ? 405 : 403;
            return;
        }
        atomic_fetch_add(&st->token_puts, 1);
        snprintf(rs->body, sizeof rs->body, "IMDSTOKEN-%d", atomic_load(&st->token_puts));
        return;
    }
    /* every other path requires a token issued above */
    if (!header_get(rq->headers, "X-aws-ec2-metadata-token", v, sizeof v) || strncmp(v, "IMDSTOKEN-", 10) != 0) {
        atomic_fetch_add(&st->unauthorized, 1);
        rs->status = 401;
        return;
    }
    if (strcmp(rq->path, "/latest/meta-data/iam/security-credentials/") == 0) {
        snprintf(rs->body, sizeof rs->body, "vigil-role\n");
    } else if (strcmp(rq->path, "/latest/meta-data/iam/security-credentials/vigil-role") == 0) {
        int n = atomic_fetch_add(&st->serial, 1) + 1;
        time_t t = time(NULL) + atomic_load(&st->expires_in);
        struct tm tm;
        gmtime_r(&t, &tm);
        char exp[32];
        strftime(exp, sizeof exp, "%Y-%m-%dT%H:%M:%SZ", &tm);
        atomic_fetch_add(&st->creds_gets, 1);
        snprintf(rs->body, sizeof rs->body,
                 "{\"Code\":\"Success\",\"LastUpdated\":\"2025-01-01T00:00:00Z\",\"Type\":\"AWS-HMAC\","
                 "\"AccessKeyId\":\"ASIAIMDS%d\",\"SecretAccessKey\":\"imdssecret%d\",\"Token\":\"imdstoken%d\","
                 "\"Expiration\":\"%s\"}",
                 n, n, n, exp);
    } else if (strcmp(rq->path, "/latest/meta-data/placement/region") == 0) {
        snprintf(rs->body, sizeof rs->body, "sa-east-1");
    } else {
        rs->status = 404;
    }
}

static void test_creds_imds(void)
{
    clean_env();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    struct imds_state st = {0};
    atomic_store(&st.expires_in, 3600);
    struct stub *s = stub_start(imds_handler, &st);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", s->port);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);

    vg_aws_credentials *c = NULL;
    vg_err err = {0};
    CHECK_MSG(vg_aws_credentials_new(NULL, &c, &err) == 0, "%s", err.msg);
    if (c == NULL) {
        stub_stop(s);
        return;
    }
    CHECK_STR(vg_aws_credentials_source(c), "imds");
    CHECK_STR(vg_aws_credentials_region(c), "sa-east-1");
    CHECK(atomic_load(&st.token_puts) == 1);
    CHECK(atomic_load(&st.unauthorized) == 0);
    vg_aws_creds v = {0};
    CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
    CHECK_STR(v.access_key_id, "ASIAIMDS1");
    CHECK_STR(v.secret_access_key, "imdssecret1");
    CHECK(v.session_token != NULL && strcmp(v.session_token, "imdstoken1") == 0);
    CHECK(v.expiration > time(NULL) + 3000);
    /* far from expiry: cached, IMDS not asked again */
    CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
    CHECK(atomic_load(&st.creds_gets) == 1);
    vg_aws_creds_clear(&v);
    vg_aws_credentials_free(c);

    /* close to expiry: every get refreshes first */
    atomic_store(&st.expires_in, 60);
    CHECK(vg_aws_credentials_new(NULL, &c, &err) == 0);
    if (c != NULL) {
        int gets = atomic_load(&st.creds_gets);
        CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
        CHECK(atomic_load(&st.creds_gets) == gets + 1);
        uint64_t g1 = v.generation;
        char first[32];
        snprintf(first, sizeof first, "%s", v.access_key_id);
        CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
        CHECK(v.generation != g1);
        CHECK_MSG(strcmp(first, v.access_key_id) != 0, "not refreshed: %s", v.access_key_id);
        /* IMDS fails while the current ones are still valid: keep them, and do not hammer IMDS */
        atomic_store(&st.fail, 1);
        uint64_t g2 = v.generation;
        int puts = atomic_load(&st.token_puts);
        CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
        CHECK(v.generation == g2);
        int after_fail = atomic_load(&st.token_puts);
        CHECK(vg_aws_credentials_get(c, &v, &err) == 0);
        CHECK(atomic_load(&st.token_puts) == after_fail && after_fail == puts);
        atomic_store(&st.fail, 0);
        vg_aws_creds_clear(&v);
        vg_aws_credentials_free(c);
    }

    /* already expired and IMDS down: an error, not stale credentials */
    atomic_store(&st.expires_in, -30);
    CHECK(vg_aws_credentials_new(NULL, &c, &err) == 0);
    if (c != NULL) {
        atomic_store(&st.fail, 1);
        err = (vg_err){0};
        CHECK(vg_aws_credentials_get(c, &v, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
        CHECK_MSG(strstr(err.msg, "expired") != NULL, "%s", err.msg);
        CHECK(v.access_key_id == NULL);
        atomic_store(&st.fail, 0);
        vg_aws_credentials_free(c);
    }

    /* IMDSv1 only (the token PUT is refused): no fallback to tokenless requests */
    atomic_store(&st.expires_in, 3600);
    atomic_store(&st.refuse_token, 1);
    int unauth = atomic_load(&st.unauthorized);
    CHECK(vg_aws_credentials_new(NULL, &c, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK(atomic_load(&st.unauthorized) == unauth);
    atomic_store(&st.refuse_token, 0);

    /* IMDS unreachable */
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", closed_port());
    vg_aws_credentials_options o = {.imds_endpoint = ep};
    long t0 = mono_ms();
    CHECK(vg_aws_credentials_new(&o, &c, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK(mono_ms() - t0 < 5000);
    stub_stop(s);
}

/* ---- SigV4: AWS test suite through libcurl ------------------------------------------------- */

static void capture_handler(const struct stub_req *rq, struct stub_resp *rs, void *ctx)
{
    (void)rq;
    (void)ctx;
    rs->status = 200;
    snprintf(rs->body, sizeof rs->body, "{}");
}

static const char SUITE_AKID[] = "AKIDEXAMPLE";
static const char SUITE_SECRET[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/* Sends a suite .req through libcurl's SigV4 to the capture server (which records the
 * Authorization it produced). Returns false when the request cannot be expressed (folded header
 * lines) or was not sent. */
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static bool curl_sign_suite(const char *req, int port)
{
    const char *eol = strchr(req, '\n');
    if (eol == NULL)
        return false;
    char line[2048];
    snprintf(line, sizeof line, "%.*s", (int)(eol - req), req);
    char method[16];
    char *sp1 = strchr(line, ' '), *sp2 = strrchr(line, ' ');
    if (sp1 == NULL || sp2 == NULL || sp2 <= sp1)
        return false;
    snprintf(method, sizeof method, "%.*s", (int)(sp1 - line), line);
    char path[1024];
    snprintf(path, sizeof path, "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);

    struct curl_slist *hdrs = NULL;
    const char *p = eol + 1;
    const char *body = NULL;
    while (*p != '\0') {
        const char *e = strchr(p, '\n');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n == 0) {
            body = e != NULL ? e + 1 : p + n;
            break;
        }
        if (p[0] == ' ' || p[0] == '\t') { /* folded continuation: not expressible */
            curl_slist_free_all(hdrs);
            return false;
        }
        char h[1024];
        snprintf(h, sizeof h, "%.*s", (int)n, p);
        if (strncasecmp(h, "host:", 5) != 0)
            hdrs = curl_slist_append(hdrs, h);
        p = e != NULL ? e + 1 : p + n;
    }
    CURL *h = curl_easy_init();
    char url[1200], connect_to[128];
    snprintf(url, sizeof url, "http://example.amazonaws.com%s", path);
    snprintf(connect_to, sizeof connect_to, "example.amazonaws.com:80:127.0.0.1:%d", port);
    struct curl_slist *ct = curl_slist_append(NULL, connect_to);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, ct);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:service");
    curl_easy_setopt(h, CURLOPT_USERNAME, SUITE_AKID);
    curl_easy_setopt(h, CURLOPT_PASSWORD, SUITE_SECRET);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body != NULL ? strlen(body) : 0));
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(ct);
    return rc == CURLE_OK;
}

/* The 16 cases libcurl 7.88.1 reproduces exactly (test-peers.md §6 named four; this test found
 * the rest). The other 15 are printed, not failed: query parameters not sorted by key/value
 * (get-vanilla-query-order-*), duplicate, multi-line and reordered header values
 * (get-header-key-duplicate, get-header-value-multiline, get-header-value-order), UTF-8 in path or
 * query (get-utf8, get-vanilla-utf8-query) and path normalisation (normalize-path/ *): none of these
 * occur in a DynamoDB or KMS request, which is POST / with a JSON body and fixed headers. */
static const char *const suite_must_match[] = {
    "get-vanilla",           "post-vanilla", "post-x-www-form-urlencoded", "post-sts-token/post-sts-header-before",
    "post-header-key-case",  "post-header-key-sort", "post-header-value-case", "get-header-value-trim",
    "get-vanilla-query",     "post-vanilla-empty-query-value", "post-vanilla-query",
    "post-x-www-form-urlencoded-parameters", "get-vanilla-empty-query-key", "get-unreserved",
    "get-vanilla-query-unreserved", "post-sts-token/post-sts-header-after",
};

static bool must_match(const char *name)
{
    for (size_t i = 0; i < sizeof suite_must_match / sizeof suite_must_match[0]; i++) {
        if (strcmp(name, suite_must_match[i]) == 0)
            return true;
    }
    return false;
}

static void test_sigv4_suite(void)
{
    char dir[1024];
    if (vt_vector_path("sigv4/aws-sig-v4-test-suite", dir, sizeof dir) == NULL) {
        printf("sigv4 suite: skipped (VIGIL_SHARED absent)\n");
        return;
    }
    struct stub *s = stub_start(capture_handler, NULL);
    const char *groups[] = {"", "post-sts-token", "normalize-path"};
    int matched = 0, differed = 0, total = 0;
    int must_seen = 0;
    for (size_t g = 0; g < 3; g++) {
        char gdir[1200];
        snprintf(gdir, sizeof gdir, "%s%s%s", dir, groups[g][0] ? "/" : "", groups[g]);
        DIR *d = opendir(gdir);
        if (d == NULL)
            continue;
        struct dirent *de;
        char names[64][128];
        int n = 0;
        while ((de = readdir(d)) != NULL && n < 64) {
            if (de->d_name[0] == '.' || strcmp(de->d_name, "post-sts-token") == 0 ||
                strcmp(de->d_name, "normalize-path") == 0 || strchr(de->d_name, '.') != NULL)
                continue;
            snprintf(names[n++], sizeof names[0], "%s", de->d_name);
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
        for (int i = 0; i < n; i++) {
            char name[300], base[1600], p[1700];
            snprintf(name, sizeof name, "%s%s%s", groups[g], groups[g][0] ? "/" : "", names[i]);
            snprintf(base, sizeof base, "%s/%s/%s", dir, name, names[i]);
            snprintf(p, sizeof p, "%s.req", base);
            size_t len = 0;
            char *req = vt_read_file(p, &len);
            snprintf(p, sizeof p, "%s.authz", base);
            char *want = vt_read_file(p, &len);
            if (req == NULL || want == NULL) {
                free(req);
                free(want);
                continue;
            }
            /* post-sts-token cases sign with the token from readme.txt; the .req carries it */
            total++;
            int before = atomic_load(&s->requests);
            bool sent = curl_sign_suite(req, s->port) || atomic_load(&s->requests) > before;
            char got[1024] = "";
            if (atomic_load(&s->requests) > before) {
                struct stub_req last;
                stub_last(s, &last);
                header_get(last.headers, "Authorization", got, sizeof got);
                free(last.body);
            }
            bool ok = sent && strcmp(got, want) == 0;
            if (ok)
                matched++;
            else
                differed++;
            if (must_match(name)) {
                must_seen++;
                CHECK_MSG(ok, "sigv4 %s:\n  want %s\n  got  %s", name, want, got);
            } else {
                printf("sigv4 %-45s %s\n", name, ok ? "matches" : "differs (not required, see comment)");
            }
            free(req);
            free(want);
        }
    }
    CHECK_MSG(must_seen == (int)(sizeof suite_must_match / sizeof suite_must_match[0]), "required cases found: %d",
              must_seen);
    printf("sigv4 suite via libcurl %s: %d of %d cases match exactly, %d differ\n", curl_version_info(CURLVERSION_NOW)->version,
           matched, total, differed);
    stub_stop(s);
}

/* ---- SigV4: a DynamoDB request checked by an independent computation ------------------------ */

static void sha256_hex(const void *d, size_t n, char out[65])
{
    uint8_t h[32];
    SHA256(d, n, h);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void hmac(const void *key, size_t klen, const char *msg, uint8_t out[32])
{
    unsigned int ol = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const uint8_t *)msg, strlen(msg), out, &ol);
}

/* Recomputes the signature from the captured request (headers named in SignedHeaders). */
static bool independent_sigv4(const struct stub_req *rq, const char *secret, const char *region, char *why,
                              size_t wcap)
{
    char authz[1024], amzdate[32];
    if (!header_get(rq->headers, "Authorization", authz, sizeof authz) ||
        !header_get(rq->headers, "X-Amz-Date", amzdate, sizeof amzdate)) {
        snprintf(why, wcap, "missing Authorization or X-Amz-Date");
        return false;
    }
    char *sh = strstr(authz, "SignedHeaders="), *sig = strstr(authz, "Signature=");
    if (sh == NULL || sig == NULL) {
        snprintf(why, wcap, "malformed Authorization");
        return false;
    }
    char signed_headers[512];
    snprintf(signed_headers, sizeof signed_headers, "%.*s", (int)strcspn(sh + 14, ", "), sh + 14);
    char creq[8192];
    size_t o = (size_t)snprintf(creq, sizeof creq, "%s\n%s\n\n", rq->method, rq->path);
    char names[512];
    snprintf(names, sizeof names, "%s", signed_headers);
    for (char *save = NULL, *n = strtok_r(names, ";", &save); n != NULL; n = strtok_r(NULL, ";", &save)) {
        char v[4096] = "";
        header_get(rq->headers, n, v, sizeof v);
        o += (size_t)snprintf(creq + o, sizeof creq - o, "%s:%s\n", n, v);
    }
    char bh[65];
    sha256_hex(rq->body, rq->body_len, bh);
    o += (size_t)snprintf(creq + o, sizeof creq - o, "\n%s\n%s", signed_headers, bh);
    char ch[65];
    sha256_hex(creq, o, ch);
    char date[9];
    snprintf(date, sizeof date, "%.8s", amzdate);
    char sts[512];
    snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/dynamodb/aws4_request\n%s", amzdate, date, region, ch);
    char k0[128];
    snprintf(k0, sizeof k0, "AWS4%s", secret);
    uint8_t k1[32], k2[32], k3[32], k4[32], s[32];
    hmac(k0, strlen(k0), date, k1);
    hmac(k1, 32, region, k2);
    hmac(k2, 32, "dynamodb", k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts, s);
    char hexsig[65];
    for (int i = 0; i < 32; i++)
        snprintf(hexsig + 2 * i, 3, "%02x", s[i]);
    if (strncmp(sig + 10, hexsig, 64) != 0) {
        snprintf(why, wcap, "signature %.64s, independent %s", sig + 10, hexsig);
        return false;
    }
    return true;
}

static void test_sigv4_dynamodb(void)
{
    clean_env();
    struct stub *s = stub_start(capture_handler, NULL);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", s->port);
    vg_aws_credentials_options co = {.access_key_id = "AKIDDDB", .secret_access_key = "ddb/secret+key",
                                     .session_token = "SESSIONTOKEN123", .region = "eu-west-1"};
    vg_aws_credentials *c = NULL;
    vg_ddb *d = NULL;
    vg_err err = {0};
    CHECK(vg_aws_credentials_new(&co, &c, &err) == 0);
    vg_ddb_options o = {.endpoint = ep};
    CHECK_MSG(vg_ddb_new(&o, c, &d, &err) == 0, "%s", err.msg);
    if (d == NULL) {
        stub_stop(s);
        vg_aws_credentials_free(c);
        return;
    }
    CHECK_STR(vg_ddb_region(d), "eu-west-1");
    /* a body above 1 KiB: no Expect: 100-continue (it would cost a round trip and is not signed) */
    json_t *req = json_pack("{s:s, s:s}", "TableName", "watermark", "Pad", "");
    char pad[3000];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    json_object_set_new(req, "Pad", json_string(pad));
    json_t *resp = NULL;
    CHECK_MSG(vg_ddb_call(d, "DescribeTable", req, &resp, NULL, &err) == 0, "%s", err.msg);
    json_decref(resp);
    json_decref(req);
    struct stub_req last;
    stub_last(s, &last);
    char v[1024];
    CHECK(strcmp(last.method, "POST") == 0 && strcmp(last.path, "/") == 0);
    CHECK(header_get(last.headers, "X-Amz-Target", v, sizeof v) && strcmp(v, "DynamoDB_20120810.DescribeTable") == 0);
    CHECK(header_get(last.headers, "Content-Type", v, sizeof v) && strcmp(v, "application/x-amz-json-1.0") == 0);
    CHECK(header_get(last.headers, "X-Amz-Security-Token", v, sizeof v) && strcmp(v, "SESSIONTOKEN123") == 0);
    CHECK(!header_get(last.headers, "Expect", v, sizeof v));
    CHECK(header_get(last.headers, "Authorization", v, sizeof v));
    CHECK_MSG(strncmp(v, "AWS4-HMAC-SHA256 Credential=AKIDDDB/", 36) == 0, "%s", v);
    CHECK_MSG(strstr(v, "/eu-west-1/dynamodb/aws4_request") != NULL, "%s", v);
    CHECK_MSG(strstr(v, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,") != NULL,
              "%s", v);
    CHECK_MSG(strstr(v, "ddb/secret") == NULL, "secret in header");
    char why[300] = "";
    CHECK_MSG(independent_sigv4(&last, "ddb/secret+key", "eu-west-1", why, sizeof why), "%s", why);
    free(last.body);
    vg_ddb_free(d);
    vg_aws_credentials_free(c);
    stub_stop(s);
}

/* ---- DynamoDB: errors, retries, timeouts --------------------------------------------------- */

static void test_parse_error(void)
{
    vg_ddb_error e = {0};
    const char *dynalite = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
                           "\"message\":\"The conditional request failed\"}";
    vg_ddb_parse_error(dynalite, strlen(dynalite), 400, &e);
    CHECK_STR(e.type, "ConditionalCheckFailedException");
    CHECK_STR(e.message, "The conditional request failed");
    CHECK(e.condition_failed && !e.retryable);
    const char *local = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
                        "\"Message\":\"The conditional request failed\",\"Item\":{\"lvl\":{\"N\":\"5\"}}}";
    vg_ddb_parse_error(local, strlen(local), 400, &e);
    CHECK(e.condition_failed);
    CHECK_STR(e.message, "The conditional request failed");
    CHECK(json_is_object(json_object_get(e.body, "Item")));
    const char *thr = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\",\"message\":\"slow\"}";
    vg_ddb_parse_error(thr, strlen(thr), 400, &e);
    CHECK(e.retryable && !e.condition_failed);
    const char *pte = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\"}";
    vg_ddb_parse_error(pte, strlen(pte), 400, &e);
    CHECK(e.retryable);
    CHECK_STR(e.message, "HTTP 400");
    const char *val = "{\"__type\":\"com.amazon.coral.validate#ValidationException\",\"Message\":\"bad\\u0001x\"}";
    vg_ddb_parse_error(val, strlen(val), 400, &e);
    CHECK_STR(e.type, "ValidationException");
    CHECK_STR(e.message, "bad?x");
    CHECK(!e.retryable && !e.condition_failed);
    const char *rnf = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException\",\"message\":"
                      "\"Requested resource not found\"}";
    vg_ddb_parse_error(rnf, strlen(rnf), 400, &e);
    CHECK(!e.retryable);
    const char *tx = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\",\"Message\":"
                     "\"Transaction cancelled\",\"CancellationReasons\":[{\"Code\":\"None\"},{\"Code\":"
                     "\"ConditionalCheckFailed\",\"Item\":{}}]}";
    vg_ddb_parse_error(tx, strlen(tx), 400, &e);
    CHECK(e.condition_failed && !e.retryable);
    const char *txc = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\",\"message\":"
                      "\"Transaction cancelled, please refer cancellation reasons for specific reasons "
                      "[None, TransactionConflict]\"}";
    vg_ddb_parse_error(txc, strlen(txc), 400, &e);
    CHECK(!e.condition_failed && e.retryable);
    const char *txm = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\",\"message\":"
                      "\"Transaction cancelled, please refer cancellation reasons for specific reasons "
                      "[ConditionalCheckFailed, None]\"}";
    vg_ddb_parse_error(txm, strlen(txm), 400, &e);
    CHECK(e.condition_failed);
    vg_ddb_parse_error("<html>Service Unavailable</html>", 32, 503, &e);
    CHECK(e.type[0] == '\0' && e.retryable && e.body == NULL);
    CHECK_STR(e.message, "HTTP 503");
    const char *bare = "{\"__type\":\"InternalServerError\",\"message\":\"oops\"}";
    vg_ddb_parse_error(bare, strlen(bare), 500, &e);
    CHECK_STR(e.type, "InternalServerError");
    CHECK(e.retryable);
    const char *unk = "{\"__type\":\"com.amazon.coral.service#UnrecognizedClientException\"}";
    vg_ddb_parse_error(unk, strlen(unk), 400, &e);
    CHECK(!e.retryable);
    vg_ddb_error_clear(&e);
    CHECK(e.body == NULL);
}

static void test_backoff(void)
{
    CHECK(vg_ddb_backoff_ms(0, 25, 1000, 12345) == 0);
    for (uint32_t r = 0; r < 2000; r += 7) {
        CHECK(vg_ddb_backoff_ms(1, 25, 1000, r) <= 25);
        CHECK(vg_ddb_backoff_ms(3, 25, 1000, r) <= 100);
        CHECK(vg_ddb_backoff_ms(10, 25, 1000, r) <= 1000);
        CHECK(vg_ddb_backoff_ms(60, 25, 1000, r) <= 1000);
    }
    CHECK(vg_ddb_backoff_ms(5, 25, 1000, 400) == 400 % 401);
    CHECK(vg_ddb_backoff_ms(10, 25, 1000, UINT32_MAX) <= 1000);
    /* jitter spreads: not every value the same */
    long a = vg_ddb_backoff_ms(4, 25, 1000, 3), b = vg_ddb_backoff_ms(4, 25, 1000, 150);
    CHECK(a != b);
}

struct script {
    atomic_int n;
    int fail_first;     /* answer `fail_body` with `fail_status` to the first fail_first requests */
    int fail_status;
    const char *fail_body;
    int hang;           /* hang instead of answering */
};

static void script_handler(const struct stub_req *rq, struct stub_resp *rs, void *ctx)
{
    (void)rq;
    struct script *sc = ctx;
    int i = atomic_fetch_add(&sc->n, 1);
    if (sc->hang) {
        rs->action = ACT_HANG;
        return;
    }
    if (i < sc->fail_first) {
        rs->status = sc->fail_status;
        snprintf(rs->body, sizeof rs->body, "%s", sc->fail_body);
        return;
    }
    snprintf(rs->body, sizeof rs->body, "{\"ok\":%d}", i);
}

static vg_aws_credentials *static_creds(void)
{
    clean_env();
    vg_aws_credentials_options co = {.access_key_id = "AKIDTEST", .secret_access_key = "secret", .region = "us-east-1"};
    vg_aws_credentials *c = NULL;
    vg_err err = {0};
    if (vg_aws_credentials_new(&co, &c, &err) < 0) {
        fprintf(stderr, "creds: %s\n", err.msg);
        exit(1);
    }
    return c;
}

static vg_ddb *client_for(vg_aws_credentials *c, int port, long attempt_ms, long budget_ms)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    vg_ddb_options o = {.endpoint = ep, .attempt_timeout_ms = attempt_ms, .retry_budget_ms = budget_ms,
                        .backoff_base_ms = 10, .backoff_cap_ms = 100};
    vg_ddb *d = NULL;
    vg_err err = {0};
    if (vg_ddb_new(&o, c, &d, &err) < 0) {
        fprintf(stderr, "ddb: %s\n", err.msg);
        exit(1);
    }
    return d;
}

static void test_retries(void)
{
    vg_aws_credentials *c = static_creds();
    json_t *req = json_pack("{s:s}", "TableName", "t");
    vg_err err = {0};
    vg_ddb_error de = {0};
    json_t *resp = NULL;

    /* throttled twice, then fine */
    struct script sc = {.fail_first = 2, .fail_status = 400,
                        .fail_body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\","
                                     "\"message\":\"Rate exceeded\"}"};
    struct stub *s = stub_start(script_handler, &sc);
    vg_ddb *d = client_for(c, s->port, 1000, 3000);
    CHECK_MSG(vg_ddb_call(d, "GetItem", req, &resp, &de, &err) == 0, "%s", err.msg);
    CHECK(de.attempts == 3 && atomic_load(&sc.n) == 3);
    CHECK(json_integer_value(json_object_get(resp, "ok")) == 2);
    json_decref(resp);
    /* the keep-alive connection was reused for all of it */
    CHECK_MSG(atomic_load(&s->connections) == 1, "connections %d", atomic_load(&s->connections));
    vg_ddb_free(d);
    stub_stop(s);

    /* 500 forever: bounded by the budget */
    struct script sc5 = {.fail_first = 1000000, .fail_status = 500,
                         .fail_body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\"}"};
    s = stub_start(script_handler, &sc5);
    d = client_for(c, s->port, 500, 800);
    long t0 = mono_ms();
    CHECK(vg_ddb_call(d, "PutItem", req, NULL, &de, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    long took = mono_ms() - t0;
    CHECK_MSG(took < 1500, "took %ld ms", took);
    CHECK_MSG(de.attempts >= 3, "attempts %d", de.attempts);
    CHECK_MSG(strstr(err.msg, "DynamoDB PutItem: InternalServerError") != NULL && strstr(err.msg, "HTTP 500"),
              "%s", err.msg);
    vg_ddb_free(d);
    stub_stop(s);

    /* throttled for good: 503 naming the throttling after several attempts, within the budget */
    struct script sct = {.fail_first = 1000000, .fail_status = 400,
                         .fail_body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\","
                                      "\"message\":\"The level of configured provisioned throughput for the table was "
                                      "exceeded\"}"};
    s = stub_start(script_handler, &sct);
    d = client_for(c, s->port, 500, 600);
    t0 = mono_ms();
    CHECK(vg_ddb_call(d, "TransactWriteItems", req, NULL, &de, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK_MSG(mono_ms() - t0 < 1200 && de.attempts >= 3, "%ld ms, %d attempts", mono_ms() - t0, de.attempts);
    CHECK_MSG(strstr(err.msg, "DynamoDB TransactWriteItems: ProvisionedThroughputExceededException: The level") != NULL,
              "%s", err.msg);
    vg_ddb_free(d);
    stub_stop(s);

    /* wrong credentials: no retry, the AWS error in the message */
    struct script scu = {.fail_first = 1000, .fail_status = 400,
                         .fail_body = "{\"__type\":\"com.amazon.coral.service#UnrecognizedClientException\","
                                      "\"message\":\"The security token included in the request is invalid.\"}"};
    s = stub_start(script_handler, &scu);
    d = client_for(c, s->port, 500, 3000);
    CHECK(vg_ddb_call(d, "PutItem", req, NULL, &de, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK(de.attempts == 1);
    CHECK_MSG(strstr(err.msg, "UnrecognizedClientException: The security token included in the request is invalid.") !=
                  NULL,
              "%s", err.msg);
    vg_ddb_free(d);
    stub_stop(s);

    /* ValidationException: no retry */
    struct script scv = {.fail_first = 1000, .fail_status = 400,
                         .fail_body = "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                                      "\"Message\":\"One or more parameter values were invalid\"}"};
    s = stub_start(script_handler, &scv);
    d = client_for(c, s->port, 500, 3000);
    CHECK(vg_ddb_call(d, "PutItem", req, NULL, &de, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK(de.attempts == 1 && atomic_load(&scv.n) == 1);
    CHECK_MSG(strstr(err.msg, "ValidationException: One or more parameter values were invalid") != NULL, "%s",
              err.msg);
    vg_ddb_free(d);
    stub_stop(s);

    /* failed condition: VG_E_CONFLICT, no retry, old item kept in de.body */
    struct script scc = {.fail_first = 1000, .fail_status = 400,
                         .fail_body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
                                      "\"Message\":\"The conditional request failed\",\"Item\":{\"lvl\":{\"N\":\"7\"}}}"};
    s = stub_start(script_handler, &scc);
    d = client_for(c, s->port, 500, 3000);
    CHECK(vg_ddb_call(d, "PutItem", req, NULL, &de, &err) < 0 && err.kind == VG_E_CONFLICT);
    CHECK(de.attempts == 1 && de.condition_failed);
    CHECK(json_is_object(json_object_get(de.body, "Item")));
    vg_ddb_free(d);
    stub_stop(s);

    /* a server that never answers: per-attempt timeout, total bounded */
    struct script sch = {.hang = 1};
    s = stub_start(script_handler, &sch);
    d = client_for(c, s->port, 200, 700);
    t0 = mono_ms();
    CHECK(vg_ddb_call(d, "PutItem", req, NULL, &de, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    took = mono_ms() - t0;
    CHECK_MSG(took < 1200 && took >= 190, "took %ld ms", took);
    CHECK_MSG(de.http_status == 0 && strstr(err.msg, "imeout") != NULL, "%s", err.msg);
    vg_ddb_free(d);
    stub_stop(s);

    /* nothing listening: quick 503 after a few attempts */
    d = client_for(c, closed_port(), 500, 1500);
    t0 = mono_ms();
    CHECK(vg_ddb_call(d, "PutItem", req, NULL, &de, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    took = mono_ms() - t0;
    CHECK_MSG(took < 1600, "took %ld ms", took);
    CHECK_MSG(de.attempts >= 2 && strstr(err.msg, "onnect") != NULL, "%d %s", de.attempts, err.msg);
    vg_ddb_free(d);

    vg_ddb_error_clear(&de);
    json_decref(req);
    vg_aws_credentials_free(c);
}

/* ---- pagination and key storage ------------------------------------------------------------ */

struct pages {
    atomic_int n;
    int fail_page; /* 1-based page that answers a non-retryable error; 0 = none */
    char seen_esk[3][128];
};

static void pages_handler(const struct stub_req *rq, struct stub_resp *rs, void *ctx)
{
    struct pages *pg = ctx;
    char target[128] = "";
    header_get(rq->headers, "X-Amz-Target", target, sizeof target);
    if (strcmp(target, "DynamoDB_20120810.DescribeTable") == 0) {
        snprintf(rs->body, sizeof rs->body, "{\"Table\":{\"TableStatus\":\"ACTIVE\"}}");
        return;
    }
    if (strcmp(target, "DynamoDB_20120810.PutItem") == 0) {
        snprintf(rs->body, sizeof rs->body, "{}");
        return;
    }
    int page = atomic_fetch_add(&pg->n, 1) + 1;
    json_error_t je;
    json_t *req = json_loadb(rq->body, rq->body_len, 0, &je);
    char *esk = json_dumps(json_object_get(req, "ExclusiveStartKey"), JSON_COMPACT | JSON_ENCODE_ANY);
    if (page <= 3)
        snprintf(pg->seen_esk[page - 1], sizeof pg->seen_esk[0], "%s", esk != NULL ? esk : "null");
    vg_json_free_string(esk);
    json_decref(req);
    if (page == pg->fail_page) {
        rs->status = 400;
        snprintf(rs->body, sizeof rs->body,
                 "{\"__type\":\"com.amazon.coral.validate#ValidationException\",\"message\":\"page gone\"}");
        return;
    }
    /* base64 of "blob-N" */
    static const char *const b64[] = {"YmxvYi0x", "YmxvYi0y", "YmxvYi0z", "YmxvYi00", "YmxvYi01"};
    if (page == 1)
        snprintf(rs->body, sizeof rs->body,
                 "{\"Items\":[{\"pkh\":{\"S\":\"tz1a\"},\"value\":{\"B\":\"%s\"}},{\"pkh\":{\"S\":\"tz1b\"},\"value\":"
                 "{\"B\":\"%s\"}}],\"Count\":2,\"LastEvaluatedKey\":{\"pkh\":{\"S\":\"tz1b\"}}}",
                 b64[0], b64[1]);
    else if (page == 2)
        snprintf(rs->body, sizeof rs->body,
                 "{\"Items\":[{\"pkh\":{\"S\":\"tz2c\"},\"value\":{\"B\":\"%s\"}}],\"Count\":1,"
                 "\"LastEvaluatedKey\":{\"pkh\":{\"S\":\"tz2c\"}}}",
                 b64[2]);
    else
        snprintf(rs->body, sizeof rs->body,
                 "{\"Items\":[{\"pkh\":{\"S\":\"tz3d\"},\"value\":{\"B\":\"%s\"}},{\"pkh\":{\"S\":\"tz4e\"},\"value\":"
                 "{\"B\":\"%s\"}}],\"Count\":2}",
                 b64[3], b64[4]);
}

static json_t *storage_config(int port, const char *table)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "access_key_id", "AKIDTEST", "secret_access_key", "secret",
                     "region", "us-east-1", "endpoint", ep, "table", table, "create_table", "false",
                     "retry_budget_ms", "1500");
}

static void test_key_storage_pages(void)
{
    clean_env();
    struct pages pg = {.fail_page = 0};
    struct stub *s = stub_start(pages_handler, &pg);
    json_t *cfg = storage_config(s->port, "encrypted_keys");
    vg_key_storage_dynamodb *ks = NULL;
    vg_err err = {0};
    CHECK_MSG(vg_key_storage_dynamodb_open(cfg, &ks, &err) == 0, "%s", err.msg);
    if (ks == NULL) {
        json_decref(cfg);
        stub_stop(s);
        return;
    }
    CHECK_STR(vg_key_storage_dynamodb_table(ks), "encrypted_keys");
    vg_key_storage_entry *e = NULL;
    size_t n = 0;
    CHECK_MSG(vg_key_storage_dynamodb_list(ks, 0, &e, &n, &err) == 0, "%s", err.msg);
    CHECK(n == 5);
    const char *want[] = {"tz1a", "tz1b", "tz2c", "tz3d", "tz4e"};
    for (size_t i = 0; i < n && i < 5; i++) {
        CHECK_STR(e[i].pkh, want[i]);
        char blob[16];
        snprintf(blob, sizeof blob, "blob-%zu", i + 1);
        CHECK(e[i].blob_len == strlen(blob) && memcmp(e[i].blob, blob, e[i].blob_len) == 0);
    }
    vg_key_storage_entries_free(e, n);
    CHECK_STR(pg.seen_esk[0], "null");
    CHECK_STR(pg.seen_esk[1], "{\"pkh\":{\"S\":\"tz1b\"}}");
    CHECK_STR(pg.seen_esk[2], "{\"pkh\":{\"S\":\"tz2c\"}}");

    /* a failure on page 2: nothing at all, a loud error */
    atomic_store(&pg.n, 0);
    pg.fail_page = 2;
    e = NULL;
    n = 99;
    CHECK(vg_key_storage_dynamodb_list(ks, 0, &e, &n, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK(e == NULL && n == 0);
    CHECK_MSG(strstr(err.msg, "page 2") != NULL && strstr(err.msg, "after 2 items") != NULL, "%s", err.msg);

    /* put: {pkh: S, value: B base64} */
    const uint8_t blob[] = {0, 1, 2, 0xff, 0xfe};
    CHECK_MSG(vg_key_storage_dynamodb_put(ks, "tz4Quq6VcCeJVmCknjzTX5kcrhUzcMruoavF", blob, sizeof blob, &err) == 0,
              "%s", err.msg);
    struct stub_req last;
    stub_last(s, &last);
    json_error_t je;
    json_t *body = json_loadb(last.body, last.body_len, 0, &je);
    CHECK_STR(jstr(json_object_get(body, "TableName")), "encrypted_keys");
    CHECK_STR(jstr(json_object_get(json_object_get(json_object_get(body, "Item"), "pkh"), "S")),
              "tz4Quq6VcCeJVmCknjzTX5kcrhUzcMruoavF");
    CHECK_STR(jstr(json_object_get(json_object_get(json_object_get(body, "Item"), "value"), "B")),
              "AAEC//4=");
    json_decref(body);
    free(last.body);
    CHECK(vg_key_storage_dynamodb_put(ks, "tz1 bad", blob, sizeof blob, &err) < 0 && err.kind == VG_E_INVALID);
    CHECK(vg_key_storage_dynamodb_put(ks, "tz1x", blob, 0, &err) < 0 && err.kind == VG_E_INVALID);
    vg_key_storage_dynamodb_close(ks);
    json_decref(cfg);

    /* config errors */
    json_t *bad = json_pack("{s:s}", "create_table", "maybe");
    CHECK(vg_key_storage_dynamodb_open(bad, &ks, &err) < 0 && err.kind == VG_E_INVALID);
    CHECK_MSG(strstr(err.msg, "storage.config.create_table") != NULL, "%s", err.msg);
    json_decref(bad);
    bad = json_pack("{s:s}", "table", "x");
    CHECK(vg_key_storage_dynamodb_open(bad, &ks, &err) < 0 && err.kind == VG_E_INVALID);
    json_decref(bad);
    stub_stop(s);
}

/* ---- the watermark driver against a scripted server --------------------------------------- */

struct wmsrv {
    atomic_int puts, transacts, creates;
    int conflict_on_put;        /* PutItem number (1-based) that fails its condition */
    char last_target[96];
    char last_body[8192];
};

static void wm_handler(const struct stub_req *rq, struct stub_resp *rs, void *ctx)
{
    struct wmsrv *w = ctx;
    char target[96] = "";
    header_get(rq->headers, "X-Amz-Target", target, sizeof target);
    snprintf(w->last_target, sizeof w->last_target, "%s", target);
    snprintf(w->last_body, sizeof w->last_body, "%s", rq->body);
    if (strstr(target, ".CreateTable") != NULL) {
        atomic_fetch_add(&w->creates, 1);
        snprintf(rs->body, sizeof rs->body, "{\"TableDescription\":{\"TableStatus\":\"CREATING\"}}");
    } else if (strstr(target, ".DescribeTable") != NULL) {
        snprintf(rs->body, sizeof rs->body, "{\"Table\":{\"TableStatus\":\"ACTIVE\"}}");
    } else if (strstr(target, ".PutItem") != NULL) {
        int n = atomic_fetch_add(&w->puts, 1) + 1;
        if (n == w->conflict_on_put) {
            rs->status = 400;
            snprintf(rs->body, sizeof rs->body,
                     "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\",\"Message\":"
                     "\"The conditional request failed\",\"Item\":{\"idx\":{\"S\":\"x\"},\"request\":{\"S\":\"block\"},"
                     "\"lvl\":{\"N\":\"50\"},\"round\":{\"N\":\"2\"},\"digest\":{\"S\":"
                     "\"vh2THNfr1pU3TjJyJkw7BKq19suqMX1W9PXRVAgpueELhGTAuhSx\"}}}");
        }
    } else if (strstr(target, ".TransactWriteItems") != NULL) {
        atomic_fetch_add(&w->transacts, 1);
    } else {
        rs->status = 400;
        snprintf(rs->body, sizeof rs->body, "{\"__type\":\"com.amazon.coral.service#UnknownOperationException\"}");
    }
}

static json_t *wm_config(const char *endpoint)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "access_key_id", "AKIDWM", "secret_access_key", "wm-secret",
                     "region", "us-east-1", "endpoint", endpoint, "timeout_ms", "300", "retry_budget_ms", "800");
}

static void test_wm_driver(void)
{
    clean_env();
    struct wmsrv w = {.conflict_on_put = 2};
    struct stub *s = stub_start(wm_handler, &w);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", s->port);
    json_t *cfg = wm_config(ep);
    vg_watermark *wm = NULL;
    vg_err err = {0};
    CHECK_MSG(vg_watermark_open_config("dynamodb", tmpdir_path, cfg, &wm, &err) == 0, "%s", err.msg);
    if (wm == NULL) {
        json_decref(cfg);
        stub_stop(s);
        return;
    }
    CHECK_STR(vg_watermark_driver(wm), "aws");
    CHECK(atomic_load(&w.creates) == 1);
    const uint8_t chain[4] = {0x7a, 0x06, 0xa7, 0x70}; /* NetXdQprcVkpaWU */
    vg_pkh pkh;
    CHECK(vg_pkh_parse("tz1WGcYos3hL7GXYXjKrMnSFdkT7FyXnFBvf", &pkh, &err) == 0);
    vg_wm_mark m = {.level = 10, .round = 0, .has_digest = true};
    memset(m.digest, 7, sizeof m.digest);
    vg_wm_ticket *t = NULL;

    /* 1st PutItem: accepted; the request is Signatory's item with the equal-digest clause */
    CHECK(vg_wm_reserve(wm, chain, &pkh, VG_REQ_BLOCK, &m, &t, &err) == 0);
    CHECK_MSG(vg_wm_commit(wm, t, &err) == 0, "%s", err.msg);
    json_error_t je;
    json_t *body = json_loads(w.last_body, 0, &je);
    json_t *item = json_object_get(body, "Item");
    CHECK_STR(jstr(json_object_get(json_object_get(item, "idx"), "S")),
              "NetXdQprcVkpaWU/tz1WGcYos3hL7GXYXjKrMnSFdkT7FyXnFBvf");
    CHECK_STR(jstr(json_object_get(json_object_get(item, "request"), "S")), "block");
    CHECK_STR(jstr(json_object_get(json_object_get(item, "lvl"), "N")), "10");
    CHECK_STR(jstr(json_object_get(json_object_get(item, "round"), "N")), "0");
    const char *dg = json_string_value(json_object_get(json_object_get(item, "digest"), "S"));
    CHECK(dg != NULL && strncmp(dg, "vh", 2) == 0);
    CHECK_STR(jstr(json_object_get(body, "TableName")), "watermark");
    CHECK_STR(jstr(json_object_get(body, "ConditionExpression")),
              "attribute_not_exists(#i) OR #l < :l OR (#l = :l AND #r < :r) OR (#l = :l AND #r = :r AND #d = :d)");
    CHECK_STR(jstr(json_object_get(json_object_get(json_object_get(body, "ExpressionAttributeValues"), ":l"), "N")),
              "10");
    json_decref(body);

    /* 2nd PutItem: the table holds a higher mark written by another signer → 409 naming it, and
     * the stored mark is adopted locally */
    m.level = 11;
    CHECK(vg_wm_reserve(wm, chain, &pkh, VG_REQ_BLOCK, &m, &t, &err) == 0);
    err = (vg_err){0};
    CHECK(vg_wm_commit(wm, t, &err) < 0 && err.kind == VG_E_CONFLICT);
    CHECK_MSG(strstr(err.msg, "watermark validation failed: requested block level 11 round 0, stored block level 50 "
                              "round 2 (shared DynamoDB table)") != NULL,
              "%s", err.msg);
    vg_wm_mark cur;
    CHECK(vg_wm_get(wm, chain, &pkh, VG_REQ_BLOCK, &cur) && cur.level == 50 && cur.round == 2);
    m.level = 20;
    CHECK(vg_wm_reserve(wm, chain, &pkh, VG_REQ_BLOCK, &m, &t, &err) < 0 && err.kind == VG_E_CONFLICT);
    CHECK(atomic_load(&w.puts) == 2); /* refused locally, no write */

    /* attestation: one TransactWriteItems, Put + ConditionCheck of the sibling */
    m.level = 100;
    CHECK(vg_wm_reserve(wm, chain, &pkh, VG_REQ_ATTESTATION_WITH_DAL, &m, &t, &err) == 0);
    CHECK_MSG(vg_wm_commit(wm, t, &err) == 0, "%s", err.msg);
    CHECK(atomic_load(&w.transacts) == 1);
    body = json_loads(w.last_body, 0, &je);
    json_t *items = json_object_get(body, "TransactItems");
    CHECK(json_array_size(items) == 2);
    CHECK_STR(jstr(json_object_get(
                  json_object_get(json_object_get(json_object_get(json_array_get(items, 0), "Put"), "Item"), "request"),
                  "S")),
              "attestation_with_dal");
    CHECK_STR(jstr(json_object_get(
                  json_object_get(json_object_get(json_object_get(json_array_get(items, 1), "ConditionCheck"), "Key"),
                                  "request"),
                  "S")),
              "attestation");
    json_decref(body);
    vg_watermark_close(wm);
    stub_stop(s);

    /* nothing listening: open still succeeds (other signers keep the table), commits answer 503
     * quickly, and the key is not poisoned: the next request tries again */
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", closed_port());
    json_decref(cfg);
    cfg = wm_config(ep);
    CHECK_MSG(vg_watermark_open_config("aws", tmpdir_path, cfg, &wm, &err) == 0, "%s", err.msg);
    if (wm != NULL) {
        m.level = 5;
        for (int i = 0; i < 2; i++) {
            CHECK(vg_wm_reserve(wm, chain, &pkh, VG_REQ_PREATTESTATION, &m, &t, &err) == 0);
            long t0 = mono_ms();
            err = (vg_err){0};
            CHECK(vg_wm_commit(wm, t, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
            CHECK_MSG(mono_ms() - t0 < 1500, "took %ld ms", mono_ms() - t0);
            CHECK_MSG(strncmp(err.msg, "watermark storage failure: DynamoDB PutItem: ", 45) == 0, "%s", err.msg);
        }
        vg_wm_stats st;
        vg_wm_get_stats(wm, &st);
        CHECK(st.io_errors == 2);
        vg_watermark_close(wm);
    }
    json_decref(cfg);

    /* config errors name the key */
    cfg = json_pack("{s:s}", "create_table", "perhaps");
    CHECK(vg_watermark_open_config("aws", tmpdir_path, cfg, &wm, &err) < 0 && err.kind == VG_E_INVALID);
    CHECK_MSG(strstr(err.msg, "watermark.config.create_table") != NULL, "%s", err.msg);
    json_decref(cfg);
    cfg = json_pack("{s:s, s:s}", "table", "no spaces allowed", "endpoint", "http://127.0.0.1:1");
    CHECK(vg_watermark_open_config("aws", tmpdir_path, cfg, &wm, &err) < 0 && err.kind == VG_E_INVALID);
    json_decref(cfg);
    cfg = json_pack("{s:s, s:s, s:s}", "access_key_id", "AKID", "secret_access_key", "x", "endpoint", "ftp://host");
    CHECK(vg_watermark_open_config("aws", tmpdir_path, cfg, &wm, &err) < 0 && err.kind == VG_E_INVALID);
    CHECK_MSG(strstr(err.msg, "http:// or https://") != NULL, "%s", err.msg);
    json_decref(cfg);
}

/* ---- live cases against a real server ------------------------------------------------------ */

static int count_items(const json_t *item, void *ctx, vg_err *err)
{
    (void)item;
    (void)err;
    (*(size_t *)ctx)++;
    return 0;
}

static void live(const char *endpoint)
{
    clean_env();
    char table[64];
    snprintf(table, sizeof table, "keys_%ld_%d", (long)time(NULL), (int)getpid());
    json_t *cfg = json_pack("{s:s, s:s, s:s, s:s, s:s}", "access_key_id", "AKIDLIVE", "secret_access_key", "secret",
                            "region", "us-east-1", "endpoint", endpoint, "table", table);
    vg_key_storage_dynamodb *ks = NULL;
    vg_err err = {0};
    long t0 = mono_ms();
    CHECK_MSG(vg_key_storage_dynamodb_open(cfg, &ks, &err) == 0, "%s", err.msg);
    if (ks == NULL) {
        json_decref(cfg);
        return;
    }
    /* > 1 MB of items: the server must page even without Limit */
    enum { N = 1100, BLOB = 1024 };
    uint8_t blob[BLOB];
    char pkh[64];
    for (int i = 0; i < N; i++) {
        memset(blob, i & 0xff, sizeof blob);
        blob[0] = (uint8_t)(i >> 8);
        snprintf(pkh, sizeof pkh, "tz1live%05d", i);
        if (vg_key_storage_dynamodb_put(ks, pkh, blob, sizeof blob, &err) < 0) {
            CHECK_MSG(0, "put %d: %s", i, err.msg);
            break;
        }
    }
    vg_key_storage_entry *e = NULL;
    size_t n = 0;
    CHECK_MSG(vg_key_storage_dynamodb_list(ks, 0, &e, &n, &err) == 0, "%s", err.msg);
    CHECK_MSG(n == N, "listed %zu of %d", n, N);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int idx = atoi(e[i].pkh + 7);
        if (e[i].blob_len != BLOB || e[i].blob[0] != (uint8_t)(idx >> 8) || e[i].blob[1] != (uint8_t)(idx & 0xff))
            bad++;
    }
    CHECK(bad == 0);
    vg_key_storage_entries_free(e, n);
    CHECK_MSG(vg_key_storage_dynamodb_list(ks, 97, &e, &n, &err) == 0 && n == N, "%zu %s", n, err.msg);
    vg_key_storage_entries_free(e, n);
    vg_key_storage_dynamodb_close(ks);
    json_decref(cfg);

    /* the raw client: UpdateItem with a condition, GetItem consistent, Query with pages */
    vg_aws_credentials_options co = {.access_key_id = "AKIDLIVE", .secret_access_key = "secret", .region = "us-east-1"};
    vg_aws_credentials *c = NULL;
    vg_ddb *d = NULL;
    vg_ddb_options o = {.endpoint = endpoint};
    CHECK(vg_aws_credentials_new(&co, &c, &err) == 0 && vg_ddb_new(&o, c, &d, &err) == 0);
    char t2[80];
    snprintf(t2, sizeof t2, "wm_%s", table);
    json_t *spec = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:[{s:s, s:s}, {s:s, s:s}], s:s}", "TableName", t2,
                             "AttributeDefinitions", "AttributeName", "idx", "AttributeType", "S", "AttributeName",
                             "request", "AttributeType", "S", "KeySchema", "AttributeName", "idx", "KeyType", "HASH",
                             "AttributeName", "request", "KeyType", "RANGE", "BillingMode", "PAY_PER_REQUEST");
    bool created = false;
    CHECK_MSG(vg_ddb_ensure_table(d, spec, true, 30000, &created, NULL, &err) == 0 && created, "%s", err.msg);
    CHECK_MSG(vg_ddb_ensure_table(d, spec, true, 30000, &created, NULL, &err) == 0 && !created, "%s", err.msg);
    CHECK_MSG(vg_ddb_ensure_table(d, spec, false, 30000, &created, NULL, &err) == 0, "%s", err.msg);
    json_t *missing = json_pack("{s:s}", "TableName", "no_such_table_here");
    vg_ddb_error de = {0};
    CHECK(vg_ddb_ensure_table(d, missing, false, 1000, NULL, &de, &err) < 0 && err.kind == VG_E_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "does not exist") != NULL && strcmp(de.type, "ResourceNotFoundException") == 0, "%s",
              err.msg);
    json_decref(missing);
    json_t *names = json_pack("{s:s}", "#l", "lvl");
    for (int r = 0; r < 30; r++) {
        char rk[16];
        snprintf(rk, sizeof rk, "r%02d", r);
        json_t *key = json_pack("{s:{s:s}, s:{s:s}}", "idx", "S", "chain/pkh", "request", "S", rk);
        json_t *vals = json_pack("{s:{s:s}}", ":l", "N", "5");
        CHECK_MSG(vg_ddb_update_item(d, t2, key, "SET #l = :l", "attribute_not_exists(#l) OR #l < :l", names, vals,
                                     &de, &err) == 0,
                  "%s", err.msg);
        if (r == 0) {
            CHECK(vg_ddb_update_item(d, t2, key, "SET #l = :l", "attribute_not_exists(#l) OR #l < :l", names, vals,
                                     &de, &err) < 0 &&
                  err.kind == VG_E_CONFLICT && de.condition_failed);
            json_t *item = NULL;
            CHECK(vg_ddb_get_item(d, t2, key, true, &item, &de, &err) == 0 && item != NULL);
            CHECK_STR(jstr(json_object_get(json_object_get(item, "lvl"), "N")), "5");
            json_decref(item);
        }
        json_decref(key);
        json_decref(vals);
    }
    json_t *q = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}}, s:i, s:b}", "TableName", t2, "KeyConditionExpression",
                          "#i = :i", "ExpressionAttributeNames", "#i", "idx", "ExpressionAttributeValues", ":i", "S",
                          "chain/pkh", "Limit", 7, "ConsistentRead", 1);
    size_t count = 0, pages = 0;
    CHECK_MSG(vg_ddb_paginate(d, "Query", q, count_items, &count, &pages, &de, &err) == 0, "%s", err.msg);
    CHECK_MSG(count == 30 && pages >= 5, "count %zu pages %zu", count, pages);
    json_t *absent = json_pack("{s:{s:s}, s:{s:s}}", "idx", "S", "nope", "request", "S", "nope");
    json_t *item = (json_t *)1;
    CHECK(vg_ddb_get_item(d, t2, absent, true, &item, &de, &err) == 0 && item == NULL);
    json_decref(absent);
    json_decref(q);
    json_decref(names);
    json_decref(spec);
    vg_ddb_error_clear(&de);
    vg_ddb_free(d);
    vg_aws_credentials_free(c);
    printf("live %s: %d items through key storage, %ld ms\n", endpoint, N, mono_ms() - t0);
}

int main(void)
{
    vt_init();
    vg_json_init();
    vg_log_set_level(VG_LOG_WARN);
    snprintf(tmpdir_path, sizeof tmpdir_path, "/tmp/vigil-aws-XXXXXX");
    if (mkdtemp(tmpdir_path) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const char *live_ep = getenv("VIGIL_TEST_DDB_ENDPOINT");
    if (live_ep != NULL && live_ep[0] != '\0') {
        char ep[256];
        snprintf(ep, sizeof ep, "%s", live_ep);
        live(ep);
        rmdir(tmpdir_path);
        return vt_done("test_aws (live)");
    }
    test_creds_config();
    test_creds_env();
    test_creds_file();
    test_creds_imds();
    test_sigv4_suite();
    test_sigv4_dynamodb();
    test_parse_error();
    test_backoff();
    test_retries();
    test_key_storage_pages();
    test_wm_driver();
    char p[128];
    snprintf(p, sizeof p, "%s/credentials", tmpdir_path);
    unlink(p);
    snprintf(p, sizeof p, "%s/config", tmpdir_path);
    unlink(p);
    rmdir(tmpdir_path);
    return vt_done("test_aws");
}
