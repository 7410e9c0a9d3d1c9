/* AWS credentials chain: config → environment → shared file/profile → IMDSv2 (see credentials.h). */
#define _GNU_SOURCE
#include "aws/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws_http.h"
#include "common/log.h"
#include "common/secmem.h"

#define SHARED_FILE_MAX (1024 * 1024)
#define IMDS_DOC_MAX (64 * 1024)
#define IMDS_TOKEN_TTL "21600"
#define IMDS_CONNECT_MS 1000L
#define IMDS_TOTAL_MS 3000L
#define IMDS_ATTEMPTS 2
#define REFRESH_RETRY_SECONDS 10

enum source { SRC_CONFIG, SRC_ENV, SRC_FILE, SRC_IMDS };
static const char *const source_names[] = {"config", "environment", "shared file", "imds"};

struct vg_aws_credentials {
    pthread_mutex_t lock;
    enum source source;
    char region[64];
    char imds_endpoint[256];
    /* under lock */
    char *akid, *secret, *token; /* vg_secure_alloc */
    int64_t expiration;          /* 0 = static */
    uint64_t generation;
    int64_t next_refresh_try;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static int64_t now_s(void) { return (int64_t)time(NULL); }

static char *sec_strndup(const char *s, size_t n)
{
    char *p = vg_secure_alloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void sec_free_str(char **p)
{
    if (*p != NULL) {
        vg_wipe(*p, strlen(*p));
        vg_secure_free(*p);
        *p = NULL;
    }
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static bool nonempty(const char *s) { return s != NULL && s[0] != '\0'; }

/* Values pasted into files often carry stray blanks; AWS tools trim them. Only printable ASCII is
 * accepted (SigV4 key ids, secrets and tokens are base64/alphanumeric). */
static bool plausible(const char *s, size_t n)
{
    if (n == 0 || n > 4096)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    }
    return true;
}

/* Installs a new set (takes ownership of the three strings). Caller holds the lock or is alone. */
static void install(vg_aws_credentials *c, char *akid, char *secret, char *token, int64_t expiration)
{
    sec_free_str(&c->akid);
    sec_free_str(&c->secret);
    sec_free_str(&c->token);
    c->akid = akid;
    c->secret = secret;
    c->token = token;
    c->expiration = expiration;
    c->generation++;
}

static int install_copy(vg_aws_credentials *c, const char *akid, size_t akid_len, const char *secret,
                        size_t secret_len, const char *token, size_t token_len, const char *where, vg_err *err)
{
    if (!plausible(akid, akid_len) || !plausible(secret, secret_len) ||
        (token != NULL && !plausible(token, token_len)))
        return vg_fail(err, VG_E_INVALID, "AWS credentials from %s: empty or malformed value", where);
    char *a = sec_strndup(akid, akid_len), *s = sec_strndup(secret, secret_len);
    char *t = token != NULL ? sec_strndup(token, token_len) : NULL;
    if (a == NULL || s == NULL || (token != NULL && t == NULL)) {
        sec_free_str(&a);
        sec_free_str(&s);
        sec_free_str(&t);
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory for AWS credentials");
    }
    install(c, a, s, t, 0);
    return 0;
}

/* ---- shared files (INI) -------------------------------------------------------------------- */

/* Reads a whole regular file (≤ SHARED_FILE_MAX) into secure memory. Returns 1 if read, 0 if it
 * does not exist, -1 on error. */
static int read_secret_file(const char *path, char **out, size_t *len, vg_err *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return vg_fail(err, VG_E_UNAVAILABLE, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SHARED_FILE_MAX) {
        close(fd);
        return vg_fail(err, VG_E_INVALID, "%s: not a regular file of at most %d bytes", path, SHARED_FILE_MAX);
    }
    size_t cap = (size_t)st.st_size;
    char *buf = vg_secure_alloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory reading %s", path);
    }
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 1;
}

static void free_secret_file(char *buf, size_t len)
{
    if (buf != NULL) {
        vg_wipe(buf, len);
        vg_secure_free(buf);
    }
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
        (*n)--;
}

/* Looks up `key` in section [section] (exact, after trimming; "profile x" for config files).
 * The value points into buf. */
static bool ini_lookup(const char *buf, size_t len, const char *section, const char *key, const char **val,
                       size_t *vlen)
{
    bool in = false;
    size_t i = 0;
    while (i < len) {
        const char *line = buf + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - i;
        i += n + 1;
        trim(&line, &n);
        if (n == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            const char *name = line + 1;
            const char *end = memchr(name, ']', n - 1);
            size_t nn = end != NULL ? (size_t)(end - name) : 0;
            trim(&name, &nn);
            in = end != NULL && nn == strlen(section) && strncmp(name, section, nn) == 0;
            continue;
        }
        if (!in)
            continue;
        const char *eq = memchr(line, '=', n);
        if (eq == NULL)
            continue;
        const char *k = line;
        size_t kn = (size_t)(eq - line);
        trim(&k, &kn);
        if (kn != strlen(key) || strncasecmp(k, key, kn) != 0)
            continue;
        const char *v = eq + 1;
        size_t vn = n - (size_t)(eq + 1 - line);
        trim(&v, &vn);
        *val = v;
        *vlen = vn;
        return true;
    }
    return false;
}

static void home_path(const char *env_name, const char *rel, char *out, size_t cap)
{
    const char *p = env_nonempty(env_name);
    if (p != NULL) {
        snprintf(out, cap, "%s", p);
        return;
    }
    const char *home = env_nonempty("HOME");
    snprintf(out, cap, "%s/%s", home != NULL ? home : "/nonexistent", rel);
}

/* 1 = credentials installed, 0 = no file / no such profile, -1 = error. */
static int from_shared_file(vg_aws_credentials *c, const char *profile, vg_err *err)
{
    char path[1024];
    home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", path, sizeof path);
    char *buf = NULL;
    size_t len = 0;
    int r = read_secret_file(path, &buf, &len, err);
    if (r <= 0)
        return r;
    const char *a = NULL, *s = NULL, *t = NULL;
    size_t an = 0, sn = 0, tn = 0;
    bool ha = ini_lookup(buf, len, profile, "aws_access_key_id", &a, &an);
    bool hs = ini_lookup(buf, len, profile, "aws_secret_access_key", &s, &sn);
    bool ht = ini_lookup(buf, len, profile, "aws_session_token", &t, &tn) && tn > 0;
    int rc = 0;
    if (ha != hs) {
        rc = vg_fail(err, VG_E_INVALID, "%s [%s]: aws_access_key_id and aws_secret_access_key go together", path,
                     profile);
    } else if (ha) {
        char where[1100];
        snprintf(where, sizeof where, "%s [%s]", path, profile);
        rc = install_copy(c, a, an, s, sn, ht ? t : NULL, tn, where, err) < 0 ? -1 : 1;
    }
    free_secret_file(buf, len);
    return rc;
}

static void region_from_config_file(vg_aws_credentials *c, const char *profile)
{
    char path[1024];
    home_path("AWS_CONFIG_FILE", ".aws/config", path, sizeof path);
    char *buf = NULL;
    size_t len = 0;
    vg_err ignored;
    if (read_secret_file(path, &buf, &len, &ignored) <= 0)
        return;
    char section[160];
    if (strcmp(profile, "default") == 0)
        snprintf(section, sizeof section, "default");
    else
        snprintf(section, sizeof section, "profile %s", profile);
    const char *v;
    size_t vn;
    if (ini_lookup(buf, len, section, "region", &v, &vn) && vn > 0 && vn < sizeof c->region && plausible(v, vn)) {
        memcpy(c->region, v, vn);
        c->region[vn] = '\0';
    }
    free_secret_file(buf, len);
}

/* ---- IMDSv2 -------------------------------------------------------------------------------- */

/* One IMDS request; `hdr` (may be NULL) is passed as a hand-built curl_slist node so the token
 * header never gets copied by curl_slist_append. Returns the HTTP status, or -1 on transport
 * failure (err set). */
static long imds_call(CURL *h, const char *url, bool put, char *hdr, vg_aws_http_buf *out, vg_err *err)
{
    vg_aws_http_buf_reset(out);
    struct curl_slist node = {.data = hdr, .next = NULL};
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, IMDS_CONNECT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, IMDS_TOTAL_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, vg_aws_http_buf_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (put) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (hdr != NULL)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, &node);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    if (rc != CURLE_OK) {
        vg_fail(err, VG_E_UNAVAILABLE, "IMDS %s: %s", put ? "token" : "credentials", curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static int parse_iso8601(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, hh, mm, ss;
    char z = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &hh, &mm, &ss, &z) < 6)
        return -1;
    if (z != 'Z' && z != '.' && z != '+' && z != 0)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (int64_t)t;
    return 0;
}

/* Parses the security-credentials document and installs it. The document is a secret. */
static int imds_install(vg_aws_credentials *c, const vg_aws_http_buf *doc, vg_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(doc->data, doc->len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        return vg_fail(err, VG_E_UNAVAILABLE, "IMDS credentials document is not a JSON object");
    }
    const char *code = json_string_value(json_object_get(j, "Code"));
    json_t *a = json_object_get(j, "AccessKeyId"), *s = json_object_get(j, "SecretAccessKey");
    json_t *t = json_object_get(j, "Token");
    const char *exp = json_string_value(json_object_get(j, "Expiration"));
    int64_t expiration = 0;
    int rc = 0;
    if (code != NULL && strcmp(code, "Success") != 0) {
        char safe[48];
        size_t n = 0;
        for (const char *p = code; *p != '\0' && n + 1 < sizeof safe; p++)
            safe[n++] = (*p >= ' ' && *p <= '~') ? *p : '?';
        safe[n] = '\0';
        rc = vg_fail(err, VG_E_UNAVAILABLE, "IMDS credentials: Code %s", safe);
    } else if (!json_is_string(a) || !json_is_string(s)) {
        rc = vg_fail(err, VG_E_UNAVAILABLE, "IMDS credentials document lacks AccessKeyId/SecretAccessKey");
    } else if (exp == NULL || parse_iso8601(exp, &expiration) < 0) {
        rc = vg_fail(err, VG_E_UNAVAILABLE, "IMDS credentials document has no valid Expiration");
    } else {
        rc = install_copy(c, json_string_value(a), json_string_length(a), json_string_value(s),
                          json_string_length(s), json_is_string(t) ? json_string_value(t) : NULL,
                          json_is_string(t) ? json_string_length(t) : 0, "IMDS", err);
        if (rc == 0)
            c->expiration = expiration;
    }
    json_decref(j); /* jansson's allocator wipes when vg_json_init ran (the daemon) */
    return rc;
}

/* Token, role, credentials (and the region when wanted). Caller holds the lock or is alone. */
static int imds_fetch_once(vg_aws_credentials *c, CURL *h, bool want_region, vg_err *err)
{
    char url[512];
    vg_aws_http_buf buf;
    vg_aws_http_buf_init(&buf, IMDS_DOC_MAX, true);
    char *hdr = NULL;
    int rc = -1;

    snprintf(url, sizeof url, "%s/latest/api/token", c->imds_endpoint);
    char ttl_hdr[] = "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL;
    long st = imds_call(h, url, true, ttl_hdr, &buf, err);
    if (st < 0)
        goto out;
    if (st != 200 || buf.len == 0 || !plausible(buf.data, buf.len)) {
        vg_fail(err, VG_E_UNAVAILABLE, "IMDS token request answered HTTP %ld", st);
        goto out;
    }
    static const char tok_name[] = "X-aws-ec2-metadata-token: ";
    size_t hlen = sizeof tok_name - 1 + buf.len;
    hdr = vg_secure_alloc(hlen + 1);
    if (hdr == NULL) {
        vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
        goto out;
    }
    memcpy(hdr, tok_name, sizeof tok_name - 1);
    memcpy(hdr + sizeof tok_name - 1, buf.data, buf.len);
    hdr[hlen] = '\0';

    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", c->imds_endpoint);
    st = imds_call(h, url, false, hdr, &buf, err);
    if (st < 0)
        goto out;
    if (st != 200 || buf.len == 0) {
        vg_fail(err, VG_E_UNAVAILABLE, "IMDS role lookup answered HTTP %ld (no instance role attached?)", st);
        goto out;
    }
    size_t rl = strcspn(buf.data, "\r\n");
    char role[256];
    if (rl == 0 || rl >= sizeof role || !plausible(buf.data, rl)) {
        vg_fail(err, VG_E_UNAVAILABLE, "IMDS returned an unusable role name");
        goto out;
    }
    memcpy(role, buf.data, rl);
    role[rl] = '\0';
    if (strchr(role, '/') != NULL || strchr(role, '?') != NULL || strchr(role, '#') != NULL) {
        vg_fail(err, VG_E_UNAVAILABLE, "IMDS returned an unusable role name");
        goto out;
    }
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", c->imds_endpoint, role);
    st = imds_call(h, url, false, hdr, &buf, err);
    if (st < 0)
        goto out;
    if (st != 200) {
        vg_fail(err, VG_E_UNAVAILABLE, "IMDS credentials for role %s answered HTTP %ld", role, st);
        goto out;
    }
    if (imds_install(c, &buf, err) < 0)
        goto out;
    rc = 0;
    if (want_region) {
        snprintf(url, sizeof url, "%s/latest/meta-data/placement/region", c->imds_endpoint);
        vg_err ignored;
        st = imds_call(h, url, false, hdr, &buf, &ignored);
        if (st == 200 && buf.len > 0 && buf.len < sizeof c->region && plausible(buf.data, buf.len)) {
            memcpy(c->region, buf.data, buf.len);
            c->region[buf.len] = '\0';
        }
    }
out:
    if (hdr != NULL) {
        vg_wipe(hdr, strlen(hdr));
        vg_secure_free(hdr);
    }
    vg_aws_http_buf_free(&buf);
    return rc;
}

static int imds_fetch(vg_aws_credentials *c, bool want_region, vg_err *err)
{
    if (vg_aws_http_init(err) < 0)
        return -1;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "curl_easy_init failed");
    int rc = -1;
    for (int attempt = 0; attempt < IMDS_ATTEMPTS && rc < 0; attempt++) {
        if (attempt > 0)
            usleep(200 * 1000);
        rc = imds_fetch_once(c, h, want_region, err);
    }
    curl_easy_cleanup(h);
    return rc;
}

/* ---- public -------------------------------------------------------------------------------- */

int vg_aws_credentials_new(const vg_aws_credentials_options *opt, vg_aws_credentials **out, vg_err *err)
{
    static const vg_aws_credentials_options none = {0};
    if (out == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_aws_credentials_new: no output");
    *out = NULL;
    if (opt == NULL)
        opt = &none;
    vg_aws_credentials *c = calloc(1, sizeof *c);
    if (c == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    const char *ep = nonempty(opt->imds_endpoint) ? opt->imds_endpoint
                                                   : env_nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    snprintf(c->imds_endpoint, sizeof c->imds_endpoint, "%s", ep != NULL ? ep : "http://169.254.169.254");
    size_t el = strlen(c->imds_endpoint);
    while (el > 0 && c->imds_endpoint[el - 1] == '/')
        c->imds_endpoint[--el] = '\0';

    const char *region = nonempty(opt->region)             ? opt->region
                         : env_nonempty("AWS_REGION")       ? env_nonempty("AWS_REGION")
                                                            : env_nonempty("AWS_DEFAULT_REGION");
    if (region != NULL)
        snprintf(c->region, sizeof c->region, "%s", region);
    const char *profile = nonempty(opt->profile) ? opt->profile : env_nonempty("AWS_PROFILE");
    if (profile == NULL)
        profile = "default";

    int rc;
    bool has_a = nonempty(opt->access_key_id), has_s = nonempty(opt->secret_access_key);
    const char *ea = env_nonempty("AWS_ACCESS_KEY_ID"), *es = env_nonempty("AWS_SECRET_ACCESS_KEY");
    if (has_a || has_s) {
        c->source = SRC_CONFIG;
        if (has_a != has_s) {
            rc = vg_fail(err, VG_E_INVALID, "config: access_key_id and secret_access_key must be given together");
        } else {
            const char *t = nonempty(opt->session_token) ? opt->session_token : NULL;
            rc = install_copy(c, opt->access_key_id, strlen(opt->access_key_id), opt->secret_access_key,
                              strlen(opt->secret_access_key), t, t != NULL ? strlen(t) : 0, "config", err);
        }
    } else if (ea != NULL || es != NULL) {
        c->source = SRC_ENV;
        if ((ea == NULL) != (es == NULL)) {
            rc = vg_fail(err, VG_E_INVALID,
                         "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
        } else {
            const char *t = env_nonempty("AWS_SESSION_TOKEN");
            rc = install_copy(c, ea, strlen(ea), es, strlen(es), t, t != NULL ? strlen(t) : 0, "environment", err);
        }
    } else {
        c->source = SRC_FILE;
        rc = from_shared_file(c, profile, err);
        if (rc == 0) {
            const char *dis = getenv("AWS_EC2_METADATA_DISABLED");
            if (dis != NULL && strcasecmp(dis, "true") == 0) {
                rc = vg_fail(err, VG_E_UNAVAILABLE,
                             "no AWS credentials: none in config, environment or shared file (profile %s), and "
                             "IMDS is disabled",
                             profile);
            } else {
                c->source = SRC_IMDS;
                rc = imds_fetch(c, c->region[0] == '\0', err);
                if (rc < 0)
                    vg_wrap(err, "no AWS credentials in config, environment or shared file (profile %s); IMDS at %s",
                            profile, c->imds_endpoint);
            }
        } else if (rc > 0) {
            rc = 0;
        }
    }
    if (rc == 0 && c->region[0] == '\0')
        region_from_config_file(c, profile);
    if (rc < 0) {
        vg_aws_credentials_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void vg_aws_credentials_free(vg_aws_credentials *c)
{
    if (c == NULL)
        return;
    install(c, NULL, NULL, NULL, 0);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *vg_aws_credentials_region(const vg_aws_credentials *c) { return c->region; }

const char *vg_aws_credentials_source(const vg_aws_credentials *c) { return source_names[c->source]; }

/* Caller holds the lock. */
static int refresh_locked(vg_aws_credentials *c, bool force, vg_err *err)
{
    if (c->source != SRC_IMDS)
        return 0;
    int64_t now = now_s();
    bool due = force || c->expiration - now <= VG_AWS_CREDS_REFRESH_SECONDS;
    if (!due)
        return 0;
    bool valid = c->akid != NULL && c->expiration > now;
    if (!force && valid && now < c->next_refresh_try)
        return 0;
    vg_err e = {0};
    if (imds_fetch(c, false, &e) == 0) {
        c->next_refresh_try = 0;
        return 0;
    }
    c->next_refresh_try = now + REFRESH_RETRY_SECONDS;
    if (valid) {
        VG_WARN("AWS credentials refresh from IMDS failed, keeping the current ones (valid %llds more): %s",
                (long long)(c->expiration - now), e.msg);
        return 0;
    }
    *err = e;
    return vg_wrap(err, "AWS credentials expired and could not be refreshed");
}

int vg_aws_credentials_get(vg_aws_credentials *c, vg_aws_creds *inout, vg_err *err)
{
    if (c == NULL || inout == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_aws_credentials_get: missing argument");
    pthread_mutex_lock(&c->lock);
    int rc = refresh_locked(c, false, err);
    if (rc == 0 && inout->generation != c->generation) {
        vg_aws_creds n = {0};
        n.access_key_id = sec_strndup(c->akid, strlen(c->akid));
        n.secret_access_key = sec_strndup(c->secret, strlen(c->secret));
        n.session_token = c->token != NULL ? sec_strndup(c->token, strlen(c->token)) : NULL;
        n.generation = c->generation;
        n.expiration = c->expiration;
        if (n.access_key_id == NULL || n.secret_access_key == NULL || (c->token != NULL && n.session_token == NULL)) {
            vg_aws_creds_clear(&n);
            rc = vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory for AWS credentials");
        } else {
            vg_aws_creds_clear(inout);
            *inout = n;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int vg_aws_credentials_refresh(vg_aws_credentials *c, vg_err *err)
{
    pthread_mutex_lock(&c->lock);
    int rc = refresh_locked(c, true, err);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void vg_aws_creds_clear(vg_aws_creds *v)
{
    if (v == NULL)
        return;
    sec_free_str(&v->access_key_id);
    sec_free_str(&v->secret_access_key);
    sec_free_str(&v->session_token);
    v->generation = 0;
    v->expiration = 0;
}
