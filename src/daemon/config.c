/* Configuration loader: a Signatory-compatible YAML file read with libfyaml.
 *
 * The file is capped (VG_CONFIG_FILE_MAX) before parsing, parsed into one document, then walked
 * key by key into a vg_config. Every failure names "<file>:<line>: <key path>: <what>". Scalar
 * values (never mapping keys) go through ${VAR} / $VAR expansion; `$$` is a literal `$`.
 * spec: shared/specs/signatory.md §3 (policy), §6 (file), §7.2 (file vault), §13 items 1, 3, 5, 10, 24. */
#define _GNU_SOURCE /* memmem */
#include "daemon/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secmem.h"

#define NODE_BUDGET 200000 /* nodes visited, aliases included: bounds alias fan-out */
#define EXPAND_MAX 65536   /* longest scalar after env expansion */
#define JSON_DEPTH_MAX 32  /* nesting of a raw `config:` node */
#define KEYS_DEPTH_MAX 8   /* nesting of authorized_keys lists */
#define VAULTS_MAX 64
#define POLICIES_MAX 4096
#define PATH_MAX_LEN 256 /* key paths in messages */

struct ctx {
    const char *name; /* file name for messages */
    vg_err *err;
    size_t budget;
    vg_config *cfg;
};

/* ---------- messages ---------- */

/* Copies untrusted text for a message: control and non-ASCII bytes become '?', at most 80 bytes. */
static const char *clean(const char *s, size_t len, char out[96])
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < 80; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (len > 80) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

static int fail_at(struct ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(struct ctx *c, int line, const char *fmt, ...)
{
    char what[VG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (line > 0)
        return vg_fail(c->err, VG_E_INVALID, "%s:%d: %s", c->name, line, what);
    return vg_fail(c->err, VG_E_INVALID, "%s: %s", c->name, what);
}

static void warn_at(struct ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warn_at(struct ctx *c, int line, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    VG_WARN("%s:%d: %s", c->name, line, what);
}

/* ---------- nodes ---------- */

/* 1-based line of a node: scalars (and aliases) by their token; collections by their first child. */
static int node_line(struct fy_node *n)
{
    for (int depth = 0; n != NULL && depth < 8; depth++) {
        if (fy_node_is_scalar(n)) {
            struct fy_token *t = fy_node_get_scalar_token(n);
            const struct fy_mark *m = t != NULL ? fy_token_start_mark(t) : NULL;
            return m != NULL ? m->line + 1 : 0;
        }
        void *it = NULL;
        if (fy_node_is_mapping(n)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p != NULL ? fy_node_pair_key(p) : NULL;
        } else {
            n = fy_node_sequence_iterate(n, &it);
        }
    }
    return 0;
}

static int line_or(struct fy_node *n, int fallback)
{
    int l = node_line(n);
    return l > 0 ? l : fallback;
}

/* Follows an alias and charges the visit budget. *n may be NULL (an absent value). */
static int visit(struct ctx *c, struct fy_node **n, int line)
{
    if (c->budget == 0)
        return fail_at(c, line, "document too large (more than %d nodes after aliases)", NODE_BUDGET);
    c->budget--;
    if (*n != NULL && fy_node_get_type(*n) == FYNT_SCALAR && fy_node_get_style(*n) == FYNS_ALIAS) {
        struct fy_node *target = fy_node_resolve_alias(*n);
        if (target == NULL)
            return fail_at(c, line, "unresolved alias");
        *n = target;
    }
    return 0;
}

/* YAML null: absent value, or a plain `~` / `null` / empty scalar. */
static bool is_null(struct fy_node *n)
{
    if (n == NULL)
        return true;
    if (fy_node_get_type(n) != FYNT_SCALAR || fy_node_get_style(n) != FYNS_PLAIN)
        return false;
    size_t len = 0;
    const char *s = fy_node_get_scalar(n, &len);
    if (s == NULL || len == 0)
        return true;
    return (len == 1 && s[0] == '~') ||
           (len == 4 && (memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0 || memcmp(s, "NULL", 4) == 0));
}

/* A mapping key as text (keys are never env-expanded). */
static int key_text(struct ctx *c, struct fy_node *k, const char *where, const char **s, size_t *len)
{
    int line = node_line(k);
    if (k == NULL || fy_node_get_type(k) != FYNT_SCALAR || fy_node_get_style(k) == FYNS_ALIAS)
        return fail_at(c, line, "%s: mapping keys must be plain scalars", where);
    *s = fy_node_get_scalar(k, len);
    if (*s == NULL)
        *s = "";
    if (*len == 2 && memcmp(*s, "<<", 2) == 0)
        return fail_at(c, line, "%s: YAML merge keys (`<<`) are not supported", where);
    if (memchr(*s, '\0', *len) != NULL)
        return fail_at(c, line, "%s: key contains a NUL byte", where);
    return 0;
}

static bool key_is(const char *s, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(s, name, len) == 0;
}

/* ---------- ${VAR} expansion ---------- */

struct sbuf {
    char *p;
    size_t len, cap;
};

static int sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (n > EXPAND_MAX || b->len + n > EXPAND_MAX)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL)
            return -1;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static bool name_start(char ch)
{
    return ch == '_' || isalpha((unsigned char)ch);
}
static bool name_char(char ch)
{
    return ch == '_' || isalnum((unsigned char)ch);
}

/* Expands s[0..len) into a malloc'ed NUL-terminated string. Errors name `key`. */
static int expand(struct ctx *c, const char *s, size_t len, const char *key, int line, char **out)
{
    struct sbuf b = {0};
    *out = NULL;
    if (sb_put(&b, "", 0) < 0)
        return fail_at(c, line, "%s: out of memory", key);
    size_t i = 0;
    while (i < len) {
        const char *dollar = memchr(s + i, '$', len - i);
        size_t lit = dollar != NULL ? (size_t)(dollar - (s + i)) : len - i;
        if (sb_put(&b, s + i, lit) < 0)
            goto too_long;
        i += lit;
        if (i >= len)
            break;
        i++; /* past '$' */
        size_t name_at, name_len;
        if (i < len && s[i] == '$') {
            if (sb_put(&b, "$", 1) < 0)
                goto too_long;
            i++;
            continue;
        }
        if (i < len && s[i] == '{') {
            name_at = i + 1;
            size_t j = name_at;
            while (j < len && name_char(s[j]))
                j++;
            if (j >= len || s[j] != '}' || j == name_at || !name_start(s[name_at])) {
                free(b.p);
                return fail_at(c, line, "%s: malformed `${...}` (expected ${NAME}; write `$$` for a literal `$`)", key);
            }
            name_len = j - name_at;
            i = j + 1;
        } else if (i < len && name_start(s[i])) {
            name_at = i;
            while (i < len && name_char(s[i]))
                i++;
            name_len = i - name_at;
        } else {
            free(b.p);
            return fail_at(c, line, "%s: lone `$` (write `$$` for a literal `$`, ${NAME} for a variable)", key);
        }
        char name[128];
        if (name_len >= sizeof name) {
            free(b.p);
            return fail_at(c, line, "%s: environment variable name too long", key);
        }
        memcpy(name, s + name_at, name_len);
        name[name_len] = '\0';
        const char *val = getenv(name); /* NOLINT(concurrency-mt-unsafe): startup, single thread */
        if (val == NULL) {
            free(b.p);
            return fail_at(c, line, "%s: environment variable `%s` is not set", key, name);
        }
        if (sb_put(&b, val, strlen(val)) < 0)
            goto too_long;
    }
    if (memchr(b.p, '\0', b.len) != NULL) {
        free(b.p);
        return fail_at(c, line, "%s: value contains a NUL byte", key);
    }
    *out = b.p;
    return 0;
too_long:
    free(b.p);
    return fail_at(c, line, "%s: value longer than %d bytes (or out of memory)", key, EXPAND_MAX);
}

/* Expanded text of a scalar value. null → *out = NULL (allowed only if allow_null). */
static int scalar(struct ctx *c, struct fy_node *n, const char *key, int line, bool allow_null, char **out)
{
    *out = NULL;
    if (visit(c, &n, line) < 0)
        return -1;
    line = line_or(n, line);
    if (is_null(n)) {
        if (allow_null)
            return 0;
        return fail_at(c, line, "%s: empty value", key);
    }
    if (fy_node_get_type(n) != FYNT_SCALAR)
        return fail_at(c, line, "%s: expected a single value, found a %s", key,
                       fy_node_is_mapping(n) ? "mapping" : "list");
    size_t len = 0;
    const char *s = fy_node_get_scalar(n, &len);
    return expand(c, s != NULL ? s : "", s != NULL ? len : 0, key, line, out);
}

/* A required non-empty string copied into a fixed buffer. */
static int string_into(struct ctx *c, struct fy_node *n, const char *key, int line, char *dst, size_t cap)
{
    char *v;
    if (scalar(c, n, key, line, false, &v) < 0)
        return -1;
    line = line_or(n, line);
    int rc = 0;
    if (v == NULL || v[0] == '\0')
        rc = fail_at(c, line, "%s: empty value", key);
    else if (strlen(v) >= cap)
        rc = fail_at(c, line, "%s: value longer than %zu bytes", key, cap - 1);
    else
        memcpy(dst, v, strlen(v) + 1);
    free(v);
    return rc;
}

static int boolean(struct ctx *c, struct fy_node *n, const char *key, int line, bool *out)
{
    char *v;
    if (scalar(c, n, key, line, false, &v) < 0)
        return -1;
    line = line_or(n, line);
    int rc = 0;
    if (v == NULL || v[0] == '\0')
        rc = fail_at(c, line, "%s: empty value", key);
    else if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
        *out = false;
    else {
        char tmp[96];
        rc = fail_at(c, line, "%s: expected true or false, found `%s`", key, clean(v, strlen(v), tmp));
    }
    free(v);
    return rc;
}

/* ---------- raw config nodes → JSON ---------- */

static json_t *to_json(struct ctx *c, struct fy_node *n, char *path, size_t plen, int line, int depth)
{
    if (visit(c, &n, line) < 0)
        return NULL;
    line = line_or(n, line);
    if (depth > JSON_DEPTH_MAX) {
        fail_at(c, line, "%s: nested deeper than %d levels", path, JSON_DEPTH_MAX);
        return NULL;
    }
    if (is_null(n))
        return json_null();
    if (fy_node_get_type(n) == FYNT_SCALAR) {
        char *v;
        if (scalar(c, n, path, line, false, &v) < 0)
            return NULL;
        json_t *j = json_string(v);
        free(v);
        if (j == NULL)
            fail_at(c, line, "%s: value is not valid UTF-8", path);
        return j;
    }
    json_t *out = fy_node_is_mapping(n) ? json_object() : json_array();
    if (out == NULL) {
        fail_at(c, line, "%s: out of memory", path);
        return NULL;
    }
    void *it = NULL;
    if (fy_node_is_sequence(n)) {
        struct fy_node *item;
        for (size_t i = 0; (item = fy_node_sequence_iterate(n, &it)) != NULL; i++) {
            snprintf(path + plen, PATH_MAX_LEN - plen, "[%zu]", i);
            json_t *j = to_json(c, item, path, strlen(path), line_or(item, line), depth + 1);
            path[plen] = '\0';
            if (j == NULL || json_array_append_new(out, j) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
        const char *k;
        size_t klen;
        if (key_text(c, fy_node_pair_key(pair), path, &k, &klen) < 0) {
            json_decref(out);
            return NULL;
        }
        char tmp[96];
        snprintf(path + plen, PATH_MAX_LEN - plen, ".%s", clean(k, klen, tmp));
        char *kz = strndup(k, klen);
        json_t *j = kz != NULL ? to_json(c, fy_node_pair_value(pair), path, strlen(path),
                                         line_or(fy_node_pair_key(pair), line), depth + 1)
                               : NULL;
        path[plen] = '\0';
        if (j == NULL || json_object_set_new(out, kz, j) < 0) {
            if (kz == NULL)
                fail_at(c, line, "%s: out of memory", path);
            else if (j != NULL)
                fail_at(c, line, "%s: key is not valid UTF-8", path);
            free(kz);
            json_decref(out);
            return NULL;
        }
        free(kz);
    }
    return out;
}

/* ---------- addresses ---------- */

static bool valid_hostname(const char *h, size_t len)
{
    /* RFC 1123 labels, as go-playground's hostname_port check. */
    if (len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = h[i];
        if (ch == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum((unsigned char)ch) || (ch == '-' && label > 0)))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

/* host:port with a numeric port 1..65535; host empty, a hostname, an IPv4 address or [IPv6]. */
static bool valid_address(const char *s)
{
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return false;
        char host[64];
        size_t hl = (size_t)(close - s - 1);
        if (hl == 0 || hl >= sizeof host)
            return false;
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return false;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
            return false;
        if (colon != s && !valid_hostname(s, (size_t)(colon - s)))
            return false;
    }
    const char *port = colon + 1;
    size_t pl = strlen(port);
    if (pl == 0 || pl > 5)
        return false;
    long v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (!isdigit((unsigned char)port[i]))
            return false;
        v = v * 10 + (port[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

static int address(struct ctx *c, struct fy_node *n, const char *key, int line, char *dst, size_t cap)
{
    if (string_into(c, n, key, line, dst, cap) < 0)
        return -1;
    if (!valid_address(dst)) {
        char tmp[96];
        return fail_at(c, line_or(n, line),
                       "%s: invalid address `%s` (expected host:port, e.g. :6732, 127.0.0.1:6732 or [::1]:6732)", key,
                       clean(dst, strlen(dst), tmp));
    }
    return 0;
}

/* ---------- authorized_keys ---------- */

struct keylist {
    vg_config_pubkey *v;
    size_t n;
};

static int keys_walk(struct ctx *c, struct fy_node *n, const char *key, int line, int depth, struct keylist *out)
{
    if (visit(c, &n, line) < 0)
        return -1;
    line = line_or(n, line);
    if (depth > KEYS_DEPTH_MAX)
        return fail_at(c, line, "%s: lists nested deeper than %d levels", key, KEYS_DEPTH_MAX);
    if (fy_node_is_mapping(n))
        return fail_at(c, line, "%s: expected a public key or a list of public keys", key);
    if (fy_node_is_sequence(n)) {
        void *it = NULL;
        struct fy_node *item;
        while ((item = fy_node_sequence_iterate(n, &it)) != NULL)
            if (keys_walk(c, item, key, line_or(item, line), depth + 1, out) < 0)
                return -1;
        return 0;
    }
    char *v;
    if (scalar(c, n, key, line, false, &v) < 0)
        return -1;
    if (out->n >= VG_CONFIG_KEYS_MAX) {
        free(v);
        return fail_at(c, line, "%s: more than %d keys", key, VG_CONFIG_KEYS_MAX);
    }
    vg_config_pubkey *grown = realloc(out->v, (out->n + 1) * sizeof *grown);
    if (grown == NULL) {
        free(v);
        return fail_at(c, line, "%s: out of memory", key);
    }
    out->v = grown;
    vg_config_pubkey *pk = &out->v[out->n];
    memset(pk, 0, sizeof *pk);
    vg_err perr = {0};
    if (vg_pubkey_parse(v, &pk->type, pk->pk, &pk->pk_len, &perr) < 0) {
        char tmp[96];
        int rc = fail_at(c, line, "%s: invalid public key `%s`: %s", key, clean(v, strlen(v), tmp), perr.msg);
        free(v);
        return rc;
    }
    free(v);
    vg_pkh_from_pubkey(pk->type, pk->pk, pk->pk_len, &pk->pkh);
    out->n++;
    return 0;
}

/* null → no list; otherwise one key or a (nested) non-empty list of keys. */
static int authorized_keys(struct ctx *c, struct fy_node *n, const char *key, int line, vg_config_pubkey **out,
                           size_t *n_out)
{
    struct fy_node *v = n;
    if (visit(c, &v, line) < 0)
        return -1;
    if (is_null(v))
        return 0;
    struct keylist l = {0};
    if (keys_walk(c, v, key, line, 0, &l) < 0) {
        free(l.v);
        return -1;
    }
    if (l.n == 0)
        return fail_at(c, line_or(v, line), "%s: empty list (remove the key to disable client authentication)", key);
    *out = l.v;
    *n_out = l.n;
    return 0;
}

/* ---------- policy ---------- */

struct allow_names {
    char req[VG_REQ_KIND_COUNT][32]; /* for the deprecation snippet */
    bool any_op;
};

/* spec: §3.2 "Operation aliases: endorsement→attestation, preendorsement→preattestation,
 * double_endorsement_evidence→double_attestation_evidence, double_preendorsement_evidence→
 * double_preattestation_evidence (applied to the part before `:`)" */
static const char *op_alias(const char *base)
{
    static const char *const map[][2] = {
        {"endorsement", "attestation"},
        {"preendorsement", "preattestation"},
        {"double_endorsement_evidence", "double_attestation_evidence"},
        {"double_preendorsement_evidence", "double_preattestation_evidence"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(base, map[i][0]) == 0)
            return map[i][1];
    return base;
}

static int allow_op(struct ctx *c, vg_policy *p, const char *where, const char *name, int line)
{
    char base[128], norm[160];
    const char *colon = strchr(name, ':');
    size_t bl = colon != NULL ? (size_t)(colon - name) : strlen(name);
    if (bl >= sizeof base)
        bl = sizeof base - 1;
    memcpy(base, name, bl);
    base[bl] = '\0';
    const char *b = op_alias(base);
    snprintf(norm, sizeof norm, "%s%s%s", b, colon != NULL ? ":" : "", colon != NULL ? colon + 1 : "");
    char tmp[96];
    int ballot = vg_op_kind_lookup("ballot");
    if (colon != NULL) {
        /* spec: §3.2 "any `:sub` other than `ballot:yay|nay|pass` → invalid operation kind" */
        static const char *const subs[3] = {"yay", "nay", "pass"};
        if (strcmp(b, "ballot") == 0 && ballot >= 0)
            for (int i = 0; i < 3; i++)
                if (strcmp(colon + 1, subs[i]) == 0) {
                    p->ballot_allowed[i] = true;
                    return 0;
                }
        return fail_at(c, line, "%s: invalid operation kind `%s` in `allow.generic` list", where,
                       clean(norm, strlen(norm), tmp));
    }
    /* The consensus kinds are request kinds, never generic operations (even if a future
     * operation table listed them). */
    int idx = vg_op_kind_lookup(b);
    if (idx < 0 || idx >= vg_op_kind_count() || strcmp(b, "attestation") == 0 || strcmp(b, "preattestation") == 0 ||
        strcmp(b, "attestation_with_dal") == 0)
        return fail_at(c, line, "%s: invalid operation kind `%s` in `allow.generic` list", where,
                       clean(norm, strlen(norm), tmp));
    p->allowed_ops[idx] = true;
    if (idx == ballot)
        p->ballot_allowed[0] = p->ballot_allowed[1] = p->ballot_allowed[2] = true;
    return 0;
}

/* A list of generic operation kinds (allow.generic or deprecated allowed_kinds). */
static int op_list(struct ctx *c, vg_policy *p, const char *where, const char *key, struct fy_node *n, int line)
{
    if (visit(c, &n, line) < 0)
        return -1;
    if (is_null(n))
        return 0;
    line = line_or(n, line);
    if (!fy_node_is_sequence(n))
        return fail_at(c, line, "%s.%s: expected a list of operation kinds", where, key);
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it)) != NULL) {
        int il = line_or(item, line);
        char *v;
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof path, "%s.%s", where, key);
        if (scalar(c, item, path, il, true, &v) < 0)
            return -1;
        int rc = allow_op(c, p, where, v != NULL ? v : "", il);
        free(v);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* One request kind name (allow map key or deprecated allowed_operations entry). */
static int allow_request(struct ctx *c, vg_policy *p, const char *where, const char *name, int line)
{
    vg_req_kind k;
    char tmp[96];
    if (vg_req_kind_parse(name, &k) < 0 || (unsigned)k >= VG_REQ_KIND_COUNT)
        return fail_at(c, line, "%s: invalid request kind `%s` in `allow` list", where, clean(name, strlen(name), tmp));
    if (strcmp(name, vg_req_kind_name(k)) != 0)
        /* spec: §3.2 aliases, "WARN Deprecated configuration detected" */
        warn_at(c, line, "%s: deprecated configuration detected: '%s' should be replaced with '%s'", where,
                clean(name, strlen(name), tmp), vg_req_kind_name(k));
    p->allowed_requests[k] = true;
    return 0;
}

static int allow_map(struct ctx *c, vg_policy *p, const char *where, struct fy_node *n, int line)
{
    line = line_or(n, line);
    if (!fy_node_is_mapping(n))
        return fail_at(c, line, "%s.allow: expected a mapping of request kinds", where);
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pair), *v = fy_node_pair_value(pair);
        int kl = line_or(k, line);
        const char *name;
        size_t nl;
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof path, "%s.allow", where);
        if (key_text(c, k, path, &name, &nl) < 0)
            return -1;
        char *kz = strndup(name, nl);
        if (kz == NULL)
            return fail_at(c, kl, "%s: out of memory", path);
        int rc = allow_request(c, p, where, kz, kl);
        if (rc == 0 && strcmp(kz, "generic") == 0) {
            rc = op_list(c, p, where, "allow.generic", v, kl);
        } else if (rc == 0) {
            /* spec: §3.1 "Lists under other keys are ignored (`block: []` and `block:` are equivalent)" */
            char tmp[96];
            if (visit(c, &v, kl) < 0)
                rc = -1;
            else if (!is_null(v) && !fy_node_is_sequence(v))
                rc = fail_at(c, line_or(v, kl), "%s.allow.%s: expected nothing or a list", where, clean(kz, nl, tmp));
            else if (!is_null(v) && fy_node_sequence_item_count(v) > 0)
                warn_at(c, kl, "%s.allow.%s: the list under a request kind is ignored", where, clean(kz, nl, tmp));
        }
        free(kz);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Deprecated allowed_operations (request kinds) + allowed_kinds (generic ops), used only when
 * `allow` is absent or null. */
static int deprecated_lists(struct ctx *c, vg_policy *p, const char *where, struct fy_node *reqs, int rl,
                            struct fy_node *ops, int ol)
{
    if (reqs != NULL) {
        if (visit(c, &reqs, rl) < 0)
            return -1;
        if (!is_null(reqs)) {
            if (!fy_node_is_sequence(reqs))
                return fail_at(c, line_or(reqs, rl), "%s.allowed_operations: expected a list of request kinds", where);
            void *it = NULL;
            struct fy_node *item;
            while ((item = fy_node_sequence_iterate(reqs, &it)) != NULL) {
                int il = line_or(item, rl);
                char *v;
                char path[PATH_MAX_LEN];
                snprintf(path, sizeof path, "%s.allowed_operations", where);
                if (scalar(c, item, path, il, true, &v) < 0)
                    return -1;
                int rc = allow_request(c, p, where, v != NULL ? v : "", il);
                free(v);
                if (rc < 0)
                    return -1;
            }
        }
    }
    if (ops != NULL && op_list(c, p, where, "allowed_kinds", ops, ol) < 0)
        return -1;

    /* spec: §3.1 "A warning plus an equivalent `allow:` YAML snippet is logged." The snippet is
     * the exact equivalent (upstream's adds `generic` even when it was not allowed). */
    char snip[1024];
    size_t len = 0;
    len += (size_t)snprintf(snip + len, sizeof snip - len, "allow: {");
    bool first = true;
    for (int k = 0; k < VG_REQ_KIND_COUNT && len < sizeof snip; k++) {
        if (!p->allowed_requests[k] || k == VG_REQ_GENERIC)
            continue;
        len += (size_t)snprintf(snip + len, sizeof snip - len, "%s%s: []", first ? "" : ", ",
                                vg_req_kind_name((vg_req_kind)k));
        first = false;
    }
    if (p->allowed_requests[VG_REQ_GENERIC] && len < sizeof snip) {
        len += (size_t)snprintf(snip + len, sizeof snip - len, "%sgeneric: [", first ? "" : ", ");
        bool f2 = true;
        for (int i = 0; i < vg_op_kind_count() && len < sizeof snip; i++) {
            if (!p->allowed_ops[i])
                continue;
            len += (size_t)snprintf(snip + len, sizeof snip - len, "%s%s", f2 ? "" : ", ", vg_op_kind_name(i));
            f2 = false;
        }
        static const char *const subs[3] = {"yay", "nay", "pass"};
        int ballot = vg_op_kind_lookup("ballot");
        for (int b = 0; b < 3 && len < sizeof snip; b++) {
            if (!p->ballot_allowed[b] || (ballot >= 0 && p->allowed_ops[ballot]))
                continue;
            len += (size_t)snprintf(snip + len, sizeof snip - len, "%sballot:%s", f2 ? "" : ", ", subs[b]);
            f2 = false;
        }
        if (len < sizeof snip)
            len += (size_t)snprintf(snip + len, sizeof snip - len, "]");
    }
    if (len < sizeof snip)
        snprintf(snip + len, sizeof snip - len, "}");
    warn_at(c, rl > 0 ? rl : ol,
            "%s: `allowed_operations` and `allowed_kinds` options are deprecated. Use `allow` instead: %s%s", where,
            snip,
            !p->allowed_requests[VG_REQ_GENERIC] && ops != NULL
                ? " (allowed_kinds has no effect: `generic` is not in allowed_operations)"
                : "");
    return 0;
}

static int chains(struct ctx *c, vg_policy *p, const char *where, struct fy_node *n, int line)
{
    if (visit(c, &n, line) < 0)
        return -1;
    if (is_null(n))
        return 0;
    line = line_or(n, line);
    if (!fy_node_is_sequence(n))
        return fail_at(c, line, "%s.allowed_chains: expected a list of chain ids", where);
    if (fy_node_sequence_item_count(n) == 0)
        /* Upstream: an empty list refuses every block/consensus request. Say so instead. */
        return fail_at(c, line, "%s.allowed_chains: empty list (remove the key to allow every chain)", where);
    void *it = NULL;
    struct fy_node *item;
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s.allowed_chains", where);
    while ((item = fy_node_sequence_iterate(n, &it)) != NULL) {
        int il = line_or(item, line);
        if (p->n_chains >= VG_MAX_CHAINS)
            return fail_at(c, il, "%s: more than %d chains", path, VG_MAX_CHAINS);
        char *v;
        if (scalar(c, item, path, il, false, &v) < 0)
            return -1;
        uint8_t id[8];
        size_t len = 0;
        vg_err derr = {0};
        if (vg_b58check_decode(VG_B58_CHAIN_ID, v, id, sizeof id, &len, &derr) < 0 || len != 4) {
            char tmp[96];
            int rc = fail_at(c, il, "%s: invalid chain id `%s`: %s", path, clean(v, strlen(v), tmp),
                             derr.msg[0] ? derr.msg : "wrong length");
            free(v);
            return rc;
        }
        free(v);
        memcpy(p->allowed_chains[p->n_chains++], id, 4);
    }
    return 0;
}

static int jwt_users(struct ctx *c, vg_policy *p, const char *where, struct fy_node *n, int line)
{
    if (visit(c, &n, line) < 0)
        return -1;
    if (is_null(n))
        return 0;
    line = line_or(n, line);
    if (!fy_node_is_sequence(n))
        return fail_at(c, line, "%s.jwt_users: expected a list of user names", where);
    int count = fy_node_sequence_item_count(n);
    if (count > 0) {
        p->jwt_users = calloc((size_t)count, sizeof *p->jwt_users);
        if (p->jwt_users == NULL)
            return fail_at(c, line, "%s.jwt_users: out of memory", where);
    }
    void *it = NULL;
    struct fy_node *item;
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s.jwt_users", where);
    while ((item = fy_node_sequence_iterate(n, &it)) != NULL && p->n_jwt_users < (size_t)count) {
        if (scalar(c, item, path, line_or(item, line), false, &p->jwt_users[p->n_jwt_users]) < 0)
            return -1;
        p->n_jwt_users++;
    }
    /* Checked against server.jwt in check_clients (a list without JWT is refused there). */
    return 0;
}

/* A `tezos:` entry. On failure *p may hold allocations; the caller frees it. */
static int policy(struct ctx *c, vg_policy *p, const char *where, struct fy_node *n, int line)
{
    if (visit(c, &n, line) < 0)
        return -1;
    if (is_null(n)) {
        vg_pkh pkh = p->pkh;
        char text[sizeof p->pkh_text];
        memcpy(text, p->pkh_text, sizeof text);
        vg_policy_init_default(p);
        p->pkh = pkh;
        memcpy(p->pkh_text, text, sizeof text);
        p->line = line;
        if (p->allowed_ops == NULL)
            return fail_at(c, line, "%s: out of memory", where);
        return 0;
    }
    if (!fy_node_is_mapping(n))
        return fail_at(c, line_or(n, line), "%s: expected a policy mapping or nothing (default policy)", where);
    p->allowed_ops = calloc((size_t)(vg_op_kind_count() > 0 ? vg_op_kind_count() : 1), sizeof *p->allowed_ops);
    if (p->allowed_ops == NULL)
        return fail_at(c, line, "%s: out of memory", where);

    enum { K_ALLOW, K_OPS, K_KINDS, K_CHAINS, K_POP, K_LOG, K_AUTH, K_JWT, K_COUNT };
    static const char *const names[K_COUNT] = {
        "allow",        "allowed_operations", "allowed_kinds", "allowed_chains", "allow_proof_of_possession",
        "log_payloads", "authorized_keys",    "jwt_users"};
    struct fy_node *val[K_COUNT] = {0};
    bool present[K_COUNT] = {0};
    int lines[K_COUNT] = {0};
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
        const char *k;
        size_t kl;
        if (key_text(c, fy_node_pair_key(pair), where, &k, &kl) < 0)
            return -1;
        int kline = line_or(fy_node_pair_key(pair), line);
        int i;
        for (i = 0; i < K_COUNT; i++)
            if (key_is(k, kl, names[i]))
                break;
        char tmp[96];
        if (i == K_COUNT) {
            warn_at(c, kline, "%s: unknown key `%s` ignored", where, clean(k, kl, tmp));
            continue;
        }
        val[i] = fy_node_pair_value(pair);
        present[i] = true;
        lines[i] = kline;
    }

    struct fy_node *allow = val[K_ALLOW];
    if (present[K_ALLOW] && visit(c, &allow, lines[K_ALLOW]) < 0)
        return -1;
    /* spec: §3.2 "mapping but no allow/deprecated lists (..., or `allow:` null) → nothing is allowed";
     * §3.1 deprecated lists are "used only if allow absent". */
    if (!is_null(allow)) {
        if (allow_map(c, p, where, allow, lines[K_ALLOW]) < 0)
            return -1;
        if (present[K_OPS] || present[K_KINDS])
            warn_at(c, lines[present[K_OPS] ? K_OPS : K_KINDS],
                    "%s: `allowed_operations` / `allowed_kinds` are ignored because `allow` is set", where);
    } else if ((present[K_OPS] && !is_null(val[K_OPS])) || (present[K_KINDS] && !is_null(val[K_KINDS]))) {
        if (deprecated_lists(c, p, where, present[K_OPS] ? val[K_OPS] : NULL, lines[K_OPS],
                             present[K_KINDS] ? val[K_KINDS] : NULL, lines[K_KINDS]) < 0)
            return -1;
    }
    if (present[K_CHAINS] && chains(c, p, where, val[K_CHAINS], lines[K_CHAINS]) < 0)
        return -1;
    char path[PATH_MAX_LEN];
    if (present[K_POP]) {
        snprintf(path, sizeof path, "%s.allow_proof_of_possession", where);
        if (boolean(c, val[K_POP], path, lines[K_POP], &p->allow_proof_of_possession) < 0)
            return -1;
        if (p->allow_proof_of_possession && p->pkh.type != VG_KEY_BLS) {
            /* spec: §3.1 "Forced to false (with a WARN ...) for non-tz4 keys" */
            warn_at(c, lines[K_POP], "proof of possession is not supported for %s", p->pkh_text);
            p->allow_proof_of_possession = false;
        }
    }
    if (present[K_LOG]) {
        snprintf(path, sizeof path, "%s.log_payloads", where);
        if (boolean(c, val[K_LOG], path, lines[K_LOG], &p->log_payloads) < 0)
            return -1;
    }
    if (present[K_AUTH]) {
        snprintf(path, sizeof path, "%s.authorized_keys", where);
        if (authorized_keys(c, val[K_AUTH], path, lines[K_AUTH], &p->authorized_keys, &p->n_authorized_keys) < 0)
            return -1;
    }
    if (present[K_JWT] && jwt_users(c, p, where, val[K_JWT], lines[K_JWT]) < 0)
        return -1;
    return 0;
}

/* The common opening of a top-level section that maps names to entries: follows aliases, treats
 * null as empty, requires a mapping of at most max items. Returns the item count, or -1. */
static int section_entries(struct ctx *c, struct fy_node **n, int line, const char *section, const char *expected,
                           const char *noun, int max)
{
    if (visit(c, n, line) < 0)
        return -1;
    if (is_null(*n))
        return 0;
    if (!fy_node_is_mapping(*n))
        return fail_at(c, line_or(*n, line), "%s: expected a mapping of %s", section, expected);
    int count = fy_node_mapping_item_count(*n);
    if (count > max)
        return fail_at(c, line, "%s: more than %d %s", section, max, noun);
    return count < 0 ? 0 : count;
}

static int tezos(struct ctx *c, struct fy_node *n, int line)
{
    vg_config *cfg = c->cfg;
    int count = section_entries(c, &n, line, "tezos", "public key hashes", "keys", POLICIES_MAX);
    if (count <= 0)
        return count;
    cfg->policies = calloc((size_t)count, sizeof *cfg->policies);
    if (cfg->policies == NULL)
        return fail_at(c, line, "tezos: out of memory");
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL && cfg->n_policies < (size_t)count) {
        struct fy_node *k = fy_node_pair_key(pair);
        const char *s;
        size_t sl;
        if (key_text(c, k, "tezos", &s, &sl) < 0)
            return -1;
        int kl = line_or(k, line);
        char tmp[96];
        vg_policy *p = &cfg->policies[cfg->n_policies++];
        vg_err perr = {0};
        if (sl >= sizeof p->pkh_text || memchr(s, '\0', sl) != NULL)
            return fail_at(c, kl, "tezos: invalid public key hash `%s`", clean(s, sl, tmp));
        memcpy(p->pkh_text, s, sl);
        p->pkh_text[sl] = '\0';
        if (vg_pkh_parse(p->pkh_text, &p->pkh, &perr) < 0)
            return fail_at(c, kl, "tezos: invalid public key hash `%s`: %s", clean(s, sl, tmp), perr.msg);
        for (size_t i = 0; i + 1 < cfg->n_policies; i++)
            if (cfg->policies[i].pkh.type == p->pkh.type &&
                memcmp(cfg->policies[i].pkh.hash, p->pkh.hash, sizeof p->pkh.hash) == 0)
                return fail_at(c, kl, "tezos: %s is listed twice", p->pkh_text);
        p->line = kl;
        char where[PATH_MAX_LEN];
        snprintf(where, sizeof where, "tezos.%s", p->pkh_text);
        if (policy(c, p, where, fy_node_pair_value(pair), kl) < 0)
            return -1;
    }
    return 0;
}

/* ---------- vaults ---------- */

static int file_vault(struct ctx *c, vg_vault_config *vc, struct fy_node *cfgn, int line)
{
    /* spec: §7.2 "`config` is either a scalar path or `{file: <path>}`; env-expanded" */
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "vaults.%s.config", vc->name);
    if (visit(c, &cfgn, line) < 0)
        return -1;
    if (is_null(cfgn))
        return fail_at(c, line, "%s: the file driver needs a path (`config: /path/to/secret_keys.json`)", path);
    if (fy_node_is_mapping(cfgn)) {
        struct fy_node *file = NULL;
        int fl = line_or(cfgn, line);
        void *it = NULL;
        struct fy_node_pair *pair;
        while ((pair = fy_node_mapping_iterate(cfgn, &it)) != NULL) {
            const char *k;
            size_t kl;
            if (key_text(c, fy_node_pair_key(pair), path, &k, &kl) < 0)
                return -1;
            char tmp[96];
            if (!key_is(k, kl, "file"))
                return fail_at(c, line_or(fy_node_pair_key(pair), line), "%s: unknown key `%s` (expected `file`)", path,
                               clean(k, kl, tmp));
            file = fy_node_pair_value(pair);
            fl = line_or(fy_node_pair_key(pair), fl);
        }
        if (file == NULL)
            return fail_at(c, fl, "%s: missing `file`", path);
        snprintf(path + strlen(path), sizeof path - strlen(path), ".file");
        return string_into(c, file, path, fl, vc->file, sizeof vc->file);
    }
    return string_into(c, cfgn, path, line_or(cfgn, line), vc->file, sizeof vc->file);
}

static int vault(struct ctx *c, vg_vault_config *vc, struct fy_node *n, int line)
{
    char where[PATH_MAX_LEN];
    snprintf(where, sizeof where, "vaults.%s", vc->name);
    if (visit(c, &n, line) < 0)
        return -1;
    if (is_null(n))
        return fail_at(c, line, "%s: empty vault entry (needs `driver` and usually `config`)", where);
    if (!fy_node_is_mapping(n))
        return fail_at(c, line_or(n, line), "%s: expected a mapping with `driver` and `config`", where);
    struct fy_node *driver = NULL, *cfgn = NULL;
    bool have_driver = false;
    int dl = line, cl = line;
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
        const char *k;
        size_t kl;
        if (key_text(c, fy_node_pair_key(pair), where, &k, &kl) < 0)
            return -1;
        int kline = line_or(fy_node_pair_key(pair), line);
        char tmp[96];
        if (key_is(k, kl, "driver")) {
            driver = fy_node_pair_value(pair);
            have_driver = true;
            dl = kline;
        } else if (key_is(k, kl, "config")) {
            cfgn = fy_node_pair_value(pair);
            cl = kline;
        } else {
            /* spec: §13 item 5 "Driver keys found at vault level are a startup error naming the
             * misplaced keys, not silently ignored." */
            return fail_at(c, kline, "%s: unexpected key `%s` (driver options belong under `config:`)", where,
                           clean(k, kl, tmp));
        }
    }
    if (!have_driver)
        return fail_at(c, line, "%s: missing `driver`", where);
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s.driver", where);
    if (string_into(c, driver, path, dl, vc->driver, sizeof vc->driver) < 0)
        return -1;
    snprintf(path, sizeof path, "%s.config", where);
    if (cfgn != NULL) {
        vc->raw = to_json(c, cfgn, path, strlen(path), cl, 0);
        if (vc->raw == NULL)
            return -1;
    }
    if (strcmp(vc->driver, "file") == 0)
        return file_vault(c, vc, cfgn, cl);
    return 0;
}

static int vaults(struct ctx *c, struct fy_node *n, int line)
{
    vg_config *cfg = c->cfg;
    int count = section_entries(c, &n, line, "vaults", "vault names", "vaults", VAULTS_MAX);
    if (count <= 0)
        return count;
    cfg->vaults = calloc((size_t)count, sizeof *cfg->vaults);
    if (cfg->vaults == NULL)
        return fail_at(c, line, "vaults: out of memory");
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL && cfg->n_vaults < (size_t)count) {
        struct fy_node *k = fy_node_pair_key(pair);
        const char *s;
        size_t sl;
        if (key_text(c, k, "vaults", &s, &sl) < 0)
            return -1;
        int kl = line_or(k, line);
        vg_vault_config *vc = &cfg->vaults[cfg->n_vaults++];
        char tmp[96];
        if (sl == 0 || sl >= sizeof vc->name)
            return fail_at(c, kl, "vaults: vault name `%s` must be 1 to %zu bytes", clean(s, sl, tmp),
                           sizeof vc->name - 1);
        memcpy(vc->name, s, sl);
        vc->name[sl] = '\0';
        vc->line = kl;
        if (vault(c, vc, fy_node_pair_value(pair), kl) < 0)
            return -1;
    }
    return 0;
}

/* ---------- server.jwt ---------- */

#define JWT_USERS_MAX 1024
#define JWT_NAME_MAX 128
#define JWT_EXP_MAX (10ULL * 366 * 24 * 60) /* jwt_exp above ten years (in minutes) is refused */

/* A password or HMAC secret, copied into secure memory (*out, NUL-terminated; "" when null).
 * Unlike other scalars these are literal: `$` is a common special character in passwords, and an
 * expansion error would echo part of the secret. The whole value `${NAME}` is the one exception:
 * it reads the secret from the environment variable NAME. Messages never quote the value. */
static int secret_scalar(struct ctx *c, struct fy_node *n, const char *key, int line, char **out)
{
    *out = NULL;
    if (visit(c, &n, line) < 0)
        return -1;
    line = line_or(n, line);
    const char *s = "";
    size_t len = 0;
    if (!is_null(n)) {
        if (fy_node_get_type(n) != FYNT_SCALAR)
            return fail_at(c, line, "%s: expected a single value, found a %s", key,
                           fy_node_is_mapping(n) ? "mapping" : "list");
        s = fy_node_get_scalar(n, &len);
        if (s == NULL) {
            s = "";
            len = 0;
        }
    }
    if (len > 3 && s[0] == '$' && s[1] == '{' && s[len - 1] == '}') {
        char name[128];
        size_t nl = len - 3;
        bool ok = nl < sizeof name && name_start(s[2]);
        for (size_t i = 2; ok && i < len - 1; i++)
            ok = name_char(s[i]);
        if (ok) {
            memcpy(name, s + 2, nl);
            name[nl] = '\0';
            s = getenv(name); /* NOLINT(concurrency-mt-unsafe): startup, single thread */
            if (s == NULL)
                return fail_at(c, line, "%s: environment variable `%s` is not set", key, name);
            len = strlen(s);
        }
    }
    if (memchr(s, '\0', len) != NULL)
        return fail_at(c, line, "%s: value contains a NUL byte", key);
    if (len > EXPAND_MAX)
        return fail_at(c, line, "%s: value longer than %d bytes", key, EXPAND_MAX);
    char *copy = vg_secure_alloc(len + 1);
    if (copy == NULL)
        return fail_at(c, line, "%s: out of memory", key);
    memcpy(copy, s, len);
    copy[len] = '\0';
    *out = copy;
    return 0;
}

static void jwt_cred_free(vg_jwt_cred *cr)
{
    vg_secure_free(cr->password);
    vg_secure_free(cr->secret);
    memset(cr, 0, sizeof *cr);
}

static int jwt_exp(struct ctx *c, struct fy_node *n, const char *key, int line, uint64_t *out)
{
    char *v;
    if (scalar(c, n, key, line, true, &v) < 0)
        return -1;
    line = line_or(n, line);
    *out = 0;
    if (v == NULL || v[0] == '\0') {
        free(v);
        return 0;
    }
    uint64_t m = 0;
    bool ok = true;
    for (const char *p = v; *p != '\0' && ok; p++) {
        ok = *p >= '0' && *p <= '9' && m <= JWT_EXP_MAX;
        m = m * 10 + (uint64_t)(*p - '0');
    }
    char tmp[96];
    int rc = 0;
    if (!ok || m > JWT_EXP_MAX)
        rc = fail_at(c, line, "%s: expected a number of minutes between 0 and %llu, found `%s`", key,
                     (unsigned long long)JWT_EXP_MAX, clean(v, strlen(v), tmp));
    else
        *out = m;
    free(v);
    return rc;
}

/* old_cred_exp: Go's time.Parse("2006-01-02 15:04:05", s), UTC. */
static int jwt_time(struct ctx *c, struct fy_node *n, const char *key, int line, bool *has, int64_t *out)
{
    char *v;
    if (scalar(c, n, key, line, true, &v) < 0)
        return -1;
    line = line_or(n, line);
    *has = false;
    if (v == NULL || v[0] == '\0') {
        free(v);
        return 0;
    }
    static const char shape[] = "dddd-dd-dd dd:dd:dd";
    bool ok = strlen(v) == sizeof shape - 1;
    for (size_t i = 0; ok && i < sizeof shape - 1; i++)
        ok = shape[i] == 'd' ? isdigit((unsigned char)v[i]) != 0 : v[i] == shape[i];
    struct tm tm = {0};
    if (ok) {
        tm.tm_year = atoi(v) - 1900;
        tm.tm_mon = atoi(v + 5) - 1;
        tm.tm_mday = atoi(v + 8);
        tm.tm_hour = atoi(v + 11);
        tm.tm_min = atoi(v + 14);
        tm.tm_sec = atoi(v + 17);
        static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int year = tm.tm_year + 1900;
        bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        ok = tm.tm_mon >= 0 && tm.tm_mon < 12 && tm.tm_mday >= 1 && tm.tm_mday <= mdays[tm.tm_mon] &&
             !(tm.tm_mon == 1 && tm.tm_mday == 29 && !leap) && tm.tm_hour < 24 && tm.tm_min < 60 && tm.tm_sec < 60;
    }
    char tmp[96];
    int rc = 0;
    if (!ok)
        rc = fail_at(c, line, "%s: invalid time `%s` (expected \"YYYY-MM-DD hh:mm:ss\", UTC)", key,
                     clean(v, strlen(v), tmp));
    else {
        *out = (int64_t)timegm(&tm);
        *has = true;
    }
    free(v);
    return rc;
}

/* password / secret / jwt_exp of a user or of its new_data. */
static int jwt_cred(struct ctx *c, struct fy_node *n, const char *where, int line, vg_jwt_cred *cr, vg_jwt_user *u)
{
    void *it = NULL;
    struct fy_node_pair *pair;
    char path[PATH_MAX_LEN];
    struct fy_node *new_data = NULL;
    int new_line = 0;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
        const char *k;
        size_t kl;
        if (key_text(c, fy_node_pair_key(pair), where, &k, &kl) < 0)
            return -1;
        int kline = line_or(fy_node_pair_key(pair), line);
        struct fy_node *v = fy_node_pair_value(pair);
        char tmp[96];
        snprintf(path, sizeof path, "%s.%s", where, clean(k, kl, tmp));
        char **dst = key_is(k, kl, "password") ? &cr->password : key_is(k, kl, "secret") ? &cr->secret : NULL;
        if (dst != NULL) {
            vg_secure_free(*dst);
            *dst = NULL;
            if (secret_scalar(c, v, path, kline, dst) < 0)
                return -1;
        } else if (key_is(k, kl, "jwt_exp")) {
            if (jwt_exp(c, v, path, kline, &cr->exp_minutes) < 0)
                return -1;
        } else if (u != NULL && key_is(k, kl, "old_cred_exp")) {
            if (jwt_time(c, v, path, kline, &u->has_old_cred_exp, &u->old_cred_exp) < 0)
                return -1;
        } else if (u != NULL && key_is(k, kl, "new_data")) {
            new_data = v;
            new_line = kline;
        } else {
            warn_at(c, kline, "%s: unknown key `%s` ignored", where, clean(k, kl, tmp));
        }
    }
    if (new_data != NULL) {
        snprintf(path, sizeof path, "%s.new_data", where);
        if (visit(c, &new_data, new_line) < 0)
            return -1;
        if (!is_null(new_data)) {
            if (!fy_node_is_mapping(new_data))
                return fail_at(c, line_or(new_data, new_line), "%s: expected a mapping (password, secret, jwt_exp)",
                               path);
            u->has_new = true;
            if (jwt_cred(c, new_data, path, new_line, &u->new_cred, NULL) < 0)
                return -1;
        }
    }
    /* Absent values become "" so the strength rules report them at serve start. */
    char **fill[2] = {&cr->password, &cr->secret};
    for (int i = 0; i < 2; i++)
        if (*fill[i] == NULL && (*fill[i] = vg_secure_alloc(1)) != NULL)
            (*fill[i])[0] = '\0';
    if (cr->password == NULL || cr->secret == NULL)
        return fail_at(c, line, "%s: out of memory", where);
    return 0;
}

/* server.jwt: {users: {<name>: {password, secret, jwt_exp, old_cred_exp, new_data}}} (spec §5.2). */
static int jwt_section(struct ctx *c, struct fy_node *n, int line)
{
    vg_config *cfg = c->cfg;
    if (visit(c, &n, line) < 0)
        return -1;
    if (is_null(n))
        return 0;
    if (!fy_node_is_mapping(n))
        return fail_at(c, line_or(n, line), "server.jwt: expected a mapping with `users`");
    cfg->jwt_line = line;
    struct fy_node *users = NULL;
    int ul = line;
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
        const char *k;
        size_t kl;
        if (key_text(c, fy_node_pair_key(pair), "server.jwt", &k, &kl) < 0)
            return -1;
        char tmp[96];
        if (key_is(k, kl, "users")) {
            users = fy_node_pair_value(pair);
            ul = line_or(fy_node_pair_key(pair), line);
        } else {
            warn_at(c, line_or(fy_node_pair_key(pair), line), "server.jwt: unknown key `%s` ignored",
                    clean(k, kl, tmp));
        }
    }
    if (visit(c, &users, ul) < 0)
        return -1;
    /* A jwt section that enables nobody is refused: the operator meant to turn authentication on. */
    if (is_null(users) || !fy_node_is_mapping(users) || fy_node_mapping_item_count(users) <= 0)
        return fail_at(c, line_or(users, ul),
                       "server.jwt.users: expected a mapping of user names to credentials (remove server.jwt to "
                       "disable JWT)");
    int count = fy_node_mapping_item_count(users);
    if (count > JWT_USERS_MAX)
        return fail_at(c, ul, "server.jwt.users: more than %d users", JWT_USERS_MAX);
    for (size_t i = 0; i < cfg->n_jwt_users; i++) {
        free(cfg->jwt_users[i].name);
        jwt_cred_free(&cfg->jwt_users[i].cred);
        jwt_cred_free(&cfg->jwt_users[i].new_cred);
    }
    free(cfg->jwt_users);
    cfg->n_jwt_users = 0;
    cfg->jwt_users = calloc((size_t)count, sizeof *cfg->jwt_users);
    if (cfg->jwt_users == NULL)
        return fail_at(c, ul, "server.jwt.users: out of memory");
    it = NULL;
    while ((pair = fy_node_mapping_iterate(users, &it)) != NULL && cfg->n_jwt_users < (size_t)count) {
        const char *k;
        size_t kl;
        if (key_text(c, fy_node_pair_key(pair), "server.jwt.users", &k, &kl) < 0)
            return -1;
        int kline = line_or(fy_node_pair_key(pair), ul);
        char tmp[96];
        bool printable = kl > 0 && kl <= JWT_NAME_MAX;
        for (size_t i = 0; printable && i < kl; i++)
            printable = (unsigned char)k[i] > 0x20 && (unsigned char)k[i] < 0x7f;
        if (!printable)
            return fail_at(c, kline,
                           "server.jwt.users: invalid user name `%s` (1 to %d printable ASCII characters, no spaces: "
                           "it travels in the `username` header)",
                           clean(k, kl, tmp), JWT_NAME_MAX);
        vg_jwt_user *u = &cfg->jwt_users[cfg->n_jwt_users++];
        u->line = kline;
        u->name = strndup(k, kl);
        if (u->name == NULL)
            return fail_at(c, kline, "server.jwt.users: out of memory");
        for (size_t i = 0; i + 1 < cfg->n_jwt_users; i++)
            if (strcmp(cfg->jwt_users[i].name, u->name) == 0)
                return fail_at(c, kline, "server.jwt.users: user `%s` is listed twice", u->name);
        char where[PATH_MAX_LEN];
        snprintf(where, sizeof where, "server.jwt.users.%s", u->name);
        struct fy_node *v = fy_node_pair_value(pair);
        if (visit(c, &v, kline) < 0)
            return -1;
        if (is_null(v) || !fy_node_is_mapping(v))
            return fail_at(c, line_or(v, kline), "%s: expected a mapping (password, secret, jwt_exp, old_cred_exp, "
                                                 "new_data)", where);
        if (jwt_cred(c, v, where, kline, &u->cred, u) < 0)
            return -1;
        if (u->has_old_cred_exp && !u->has_new)
            warn_at(c, kline, "%s: old_cred_exp without new_data has no effect", where);
    }
    return 0;
}

/* ---------- server, watermark ---------- */

static int server(struct ctx *c, struct fy_node *n, int line)
{
    vg_config *cfg = c->cfg;
    if (visit(c, &n, line) < 0)
        return -1;
    if (is_null(n)) {
        /* spec: §13 item 24 "A null section means use the defaults ... (log it at INFO)" */
        VG_INFO("%s:%d: server: empty section, using defaults", c->name, line);
        return 0;
    }
    if (!fy_node_is_mapping(n))
        return fail_at(c, line_or(n, line), "server: expected a mapping");
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
        const char *k;
        size_t kl;
        if (key_text(c, fy_node_pair_key(pair), "server", &k, &kl) < 0)
            return -1;
        int kline = line_or(fy_node_pair_key(pair), line);
        struct fy_node *v = fy_node_pair_value(pair);
        char tmp[96];
        if (key_is(k, kl, "address")) {
            if (address(c, v, "server.address", kline, cfg->address, sizeof cfg->address) < 0)
                return -1;
        } else if (key_is(k, kl, "utility_address")) {
            if (address(c, v, "server.utility_address", kline, cfg->utility_address, sizeof cfg->utility_address) < 0)
                return -1;
        } else if (key_is(k, kl, "authorized_keys")) {
            if (authorized_keys(c, v, "server.authorized_keys", kline, &cfg->authorized_keys, &cfg->n_authorized_keys) <
                0)
                return -1;
        } else if (key_is(k, kl, "jwt")) {
            if (jwt_section(c, v, kline) < 0)
                return -1;
        } else {
            warn_at(c, kline, "server: unknown key `%s` ignored", clean(k, kl, tmp));
        }
    }
    return 0;
}

static int watermark(struct ctx *c, struct fy_node *n, int line)
{
    vg_config *cfg = c->cfg;
    if (visit(c, &n, line) < 0)
        return -1;
    if (is_null(n)) {
        VG_INFO("%s:%d: watermark: empty section, using the default driver `file`", c->name, line);
        return 0;
    }
    if (!fy_node_is_mapping(n))
        return fail_at(c, line_or(n, line), "watermark: expected a mapping");
    void *it = NULL;
    struct fy_node_pair *pair;
    int cl = line;
    while ((pair = fy_node_mapping_iterate(n, &it)) != NULL) {
        const char *k;
        size_t kl;
        if (key_text(c, fy_node_pair_key(pair), "watermark", &k, &kl) < 0)
            return -1;
        int kline = line_or(fy_node_pair_key(pair), line);
        struct fy_node *v = fy_node_pair_value(pair);
        char tmp[96];
        if (key_is(k, kl, "driver")) {
            if (string_into(c, v, "watermark.driver", kline, cfg->watermark_driver, sizeof cfg->watermark_driver) < 0)
                return -1;
            if (strcmp(cfg->watermark_driver, "file") != 0 && strcmp(cfg->watermark_driver, "mem") != 0 &&
                strcmp(cfg->watermark_driver, "aws") != 0 && strcmp(cfg->watermark_driver, "dynamodb") != 0) {
                return fail_at(c, kline,
                               "watermark.driver: `%s` is not supported by this version (supported: file, mem, "
                               "aws/dynamodb)",
                               clean(cfg->watermark_driver, strlen(cfg->watermark_driver), tmp));
            }
        } else if (key_is(k, kl, "config")) {
            char path[PATH_MAX_LEN] = "watermark.config";
            cl = kline;
            json_decref(cfg->watermark_config);
            cfg->watermark_config = to_json(c, v, path, strlen(path), kline, 0);
            if (cfg->watermark_config == NULL)
                return -1;
        } else {
            warn_at(c, kline, "watermark: unknown key `%s` ignored", clean(k, kl, tmp));
        }
    }
    /* aws/dynamodb read access_key_id, secret_access_key, session_token, region, table, endpoint,
     * create_table (and profile, imds_endpoint, timeout_ms, retry_budget_ms) from watermark.config
     * when the watermark is opened (src/watermark/wm_dynamodb.c). */
    bool takes_config = strcmp(cfg->watermark_driver, "aws") == 0 || strcmp(cfg->watermark_driver, "dynamodb") == 0;
    if (cfg->watermark_config != NULL && !json_is_null(cfg->watermark_config) && !takes_config)
        warn_at(c, cl, "watermark.config is ignored by the `%s` driver", cfg->watermark_driver);
    return 0;
}

/* ---------- cross-checks ---------- */

static int check_clients(struct ctx *c)
{
    vg_config *cfg = c->cfg;
    /* spec: §5.1 "Mutually exclusive with server.jwt (startup error `cannot use both JWT and static
     * authorized keys`)" */
    if (cfg->n_jwt_users > 0 && cfg->n_authorized_keys > 0)
        return fail_at(c, cfg->jwt_line, "cannot use both JWT and static authorized keys");
    for (size_t i = 0; i < cfg->n_policies; i++) {
        const vg_policy *p = &cfg->policies[i];
        /* Upstream ignores jwt_users when JWT is off, silently lifting the restriction the operator
         * wrote; vigil refuses the file instead (the same reasoning as §13 item 10). */
        if (p->n_jwt_users > 0 && cfg->n_jwt_users == 0)
            return fail_at(c, p->line,
                           "tezos.%s.jwt_users: users are identified only through JWT login; configure "
                           "server.jwt.users or remove jwt_users",
                           p->pkh_text);
        for (size_t j = 0; j < p->n_jwt_users; j++) {
            bool known = false;
            for (size_t u = 0; u < cfg->n_jwt_users && !known; u++)
                known = strcmp(cfg->jwt_users[u].name, p->jwt_users[j]) == 0;
            if (!known) {
                char tmp[96];
                warn_at(c, p->line, "tezos.%s.jwt_users: `%s` is not in server.jwt.users, so it can never log in",
                        p->pkh_text, clean(p->jwt_users[j], strlen(p->jwt_users[j]), tmp));
            }
        }
        if (p->n_authorized_keys == 0)
            continue;
        if (cfg->n_jwt_users > 0)
            return fail_at(c, p->line,
                           "tezos.%s.authorized_keys: per-key client keys need server.authorized_keys, which cannot "
                           "be combined with server.jwt; restrict the key with jwt_users instead",
                           p->pkh_text);
        /* spec: §13 item 10 "Reject that configuration at startup with an error that says what to add." */
        if (cfg->n_authorized_keys == 0)
            return fail_at(c, p->line,
                           "tezos.%s.authorized_keys: clients are identified only through server-level "
                           "authentication; add these keys to server.authorized_keys",
                           p->pkh_text);
        for (size_t j = 0; j < p->n_authorized_keys; j++) {
            bool found = false;
            for (size_t s = 0; s < cfg->n_authorized_keys && !found; s++)
                found = cfg->authorized_keys[s].type == p->authorized_keys[j].type &&
                        cfg->authorized_keys[s].pk_len == p->authorized_keys[j].pk_len &&
                        memcmp(cfg->authorized_keys[s].pk, p->authorized_keys[j].pk, p->authorized_keys[j].pk_len) == 0;
            if (!found) {
                char text[VG_B58_MAX];
                vg_pubkey_format(p->authorized_keys[j].type, p->authorized_keys[j].pk, p->authorized_keys[j].pk_len,
                                 text);
                return fail_at(c, p->line,
                               "tezos.%s.authorized_keys: `%s` is not in server.authorized_keys, so it can never "
                               "authenticate; add it there",
                               p->pkh_text, text);
            }
        }
    }
    return 0;
}

/* ---------- document ---------- */

static void set_file_defaults(vg_config *cfg)
{
    /* spec: §6 defaults table; base_dir is vigil's own /var/lib/vigil instead of /var/lib/signatory. */
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->base_dir, sizeof cfg->base_dir, "/var/lib/vigil");
    snprintf(cfg->address, sizeof cfg->address, ":6732");
    snprintf(cfg->utility_address, sizeof cfg->utility_address, ":9583");
    snprintf(cfg->watermark_driver, sizeof cfg->watermark_driver, "file");
}

static int walk_root(struct ctx *c, struct fy_node *root)
{
    vg_config *cfg = c->cfg;
    if (visit(c, &root, 1) < 0)
        return -1;
    if (is_null(root))
        return 0;
    if (!fy_node_is_mapping(root))
        return fail_at(c, line_or(root, 1), "the top level must be a mapping");
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(root, &it)) != NULL) {
        const char *k;
        size_t kl;
        if (key_text(c, fy_node_pair_key(pair), "top level", &k, &kl) < 0)
            return -1;
        int kline = line_or(fy_node_pair_key(pair), 1);
        struct fy_node *v = fy_node_pair_value(pair);
        int rc = 0;
        char tmp[96];
        if (key_is(k, kl, "base_dir")) {
            rc = string_into(c, v, "base_dir", kline, cfg->base_dir, sizeof cfg->base_dir);
        } else if (key_is(k, kl, "server")) {
            rc = server(c, v, kline);
        } else if (key_is(k, kl, "vaults")) {
            rc = vaults(c, v, kline);
        } else if (key_is(k, kl, "tezos")) {
            rc = tezos(c, v, kline);
        } else if (key_is(k, kl, "watermark")) {
            rc = watermark(c, v, kline);
        } else if (key_is(k, kl, "policy_hook")) {
            if (visit(c, &v, kline) < 0)
                return -1;
            if (!is_null(v))
                rc = fail_at(c, kline, "policy_hook is not supported by this version");
        } else {
            warn_at(c, kline, "unknown top-level key `%s` ignored", clean(k, kl, tmp));
        }
        if (rc < 0)
            return -1;
    }
    return check_clients(c);
}

/* Diagnostic sink: keeps the first error line libfyaml prints ("<src>:L:C: error: msg"). */
struct diag_capture {
    char first[VG_ERR_MSG_MAX];
};

static void diag_out(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    struct diag_capture *d = user;
    if (d->first[0] != '\0' || len == 0)
        return;
    const char *e = memmem(buf, len, "error: ", 7);
    if (e == NULL)
        return;
    size_t n = len < sizeof d->first - 1 ? len : sizeof d->first - 1;
    memcpy(d->first, buf, n);
    d->first[n] = '\0';
}

/* "<src>:L:C: error: msg" → "<name>:L: msg" (column dropped: lines are what we quote elsewhere). */
static int yaml_error(struct ctx *c, const char *diag)
{
    const char *e = strstr(diag, ": error: ");
    if (e != NULL) {
        const char *msg = e + 9;
        size_t ml = strcspn(msg, "\n");
        /* walk back over ":C" then ":L" */
        const char *p = e;
        int colons = 0;
        const char *lstart = NULL;
        while (p > diag && colons < 2) {
            p--;
            if (*p == ':') {
                colons++;
                if (colons == 2)
                    lstart = p + 1;
            } else if (!isdigit((unsigned char)*p)) {
                break;
            }
        }
        char tmp[96];
        if (lstart != NULL)
            return fail_at(c, atoi(lstart), "invalid YAML: %s", clean(msg, ml, tmp));
        return fail_at(c, 0, "invalid YAML: %s", clean(msg, ml, tmp));
    }
    return fail_at(c, 0, "invalid YAML");
}

static int parse_into(struct ctx *c, const char *yaml, size_t len)
{
    struct diag_capture cap = {{0}};
    struct fy_diag_cfg dc;
    fy_diag_cfg_default(&dc);
    dc.fp = NULL;
    dc.output_fn = diag_out;
    dc.user = &cap;
    dc.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dc);
    if (diag == NULL)
        return fail_at(c, 0, "out of memory");
    struct fy_parse_cfg pc;
    memset(&pc, 0, sizeof pc);
    pc.flags = FYPCF_QUIET | FYPCF_DISABLE_MMAP_OPT;
    pc.diag = diag;
    struct fy_parser *fyp = fy_parser_create(&pc);
    int rc = -1;
    struct fy_document *doc = NULL;
    if (fyp == NULL) {
        fail_at(c, 0, "out of memory");
        goto out;
    }
    if (fy_parser_set_string(fyp, yaml, len) != 0) {
        fail_at(c, 0, "cannot read the document");
        goto out;
    }
    doc = fy_parse_load_document(fyp);
    if (doc == NULL) {
        if (fy_parser_get_stream_error(fyp) || cap.first[0] != '\0')
            yaml_error(c, cap.first);
        else
            rc = 0; /* empty stream: all defaults */
        goto out;
    }
    struct fy_document *second = fy_parse_load_document(fyp);
    if (second != NULL) {
        fy_parse_document_destroy(fyp, second);
        fail_at(c, 0, "more than one YAML document (`---`) in the file");
        goto out;
    }
    if (fy_parser_get_stream_error(fyp)) {
        yaml_error(c, cap.first);
        goto out;
    }
    rc = walk_root(c, fy_document_root(doc));
out:
    if (doc != NULL)
        fy_parse_document_destroy(fyp, doc);
    if (fyp != NULL)
        fy_parser_destroy(fyp);
    fy_diag_destroy(diag);
    return rc;
}

/* Offset of the first byte that breaks UTF-8 (overlongs, surrogates and > U+10FFFF included), or
 * len. YAML is UTF-8, and libfyaml 0.7.12 loops forever on some invalid sequences (docs/testing.md). */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07;
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n + 1;
    }
    return len;
}

int vg_config_parse(const char *yaml, size_t len, const char *name, vg_config *cfg, vg_err *err)
{
    if (cfg == NULL || name == NULL || (yaml == NULL && len > 0))
        return vg_fail(err, VG_E_INTERNAL, "vg_config_parse: bad arguments");
    memset(cfg, 0, sizeof *cfg);
    if (len > VG_CONFIG_FILE_MAX)
        return vg_fail(err, VG_E_INVALID, "%s: config is larger than %d bytes", name, VG_CONFIG_FILE_MAX);
    if (yaml != NULL && memchr(yaml, '\0', len) != NULL)
        return vg_fail(err, VG_E_INVALID, "%s: config contains a NUL byte", name);
    size_t bad = yaml != NULL ? utf8_invalid_at((const unsigned char *)yaml, len) : len;
    if (bad < len)
        return vg_fail(err, VG_E_INVALID, "%s: invalid UTF-8 at byte offset %zu", name, bad);
    vg_config tmp;
    set_file_defaults(&tmp);
    snprintf(tmp.path, sizeof tmp.path, "%s", name);
    struct ctx c = {.name = name, .err = err, .budget = NODE_BUDGET, .cfg = &tmp};
    if (parse_into(&c, yaml != NULL ? yaml : "", len) < 0) {
        vg_config_free(&tmp);
        return -1;
    }
    *cfg = tmp;
    return 0;
}

int vg_config_load(const char *path, vg_config *cfg, vg_err *err)
{
    if (cfg == NULL || path == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_config_load: bad arguments");
    memset(cfg, 0, sizeof *cfg);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return vg_fail(err, errno == ENOENT ? VG_E_NOTFOUND : VG_E_INVALID, "%s: cannot open config file: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vg_fail(err, VG_E_INVALID, "%s: not a regular file", path);
    }
    /* Cap before buffering, and again while reading (the file may grow under us). */
    if (st.st_size > VG_CONFIG_FILE_MAX) {
        close(fd);
        return vg_fail(err, VG_E_INVALID, "%s: config file is larger than %d bytes", path, VG_CONFIG_FILE_MAX);
    }
    char *buf = malloc((size_t)VG_CONFIG_FILE_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, (size_t)VG_CONFIG_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return vg_fail(err, VG_E_INVALID, "%s: read error: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > VG_CONFIG_FILE_MAX) {
            free(buf);
            close(fd);
            return vg_fail(err, VG_E_INVALID, "%s: config file is larger than %d bytes", path, VG_CONFIG_FILE_MAX);
        }
    }
    close(fd);
    buf[len] = '\0';
    int rc = vg_config_parse(buf, len, path, cfg, err);
    free(buf);
    if (rc < 0)
        return -1;
    /* spec: §13 item 1 "print the effective allowed kinds of every key at startup" */
    for (size_t i = 0; i < cfg->n_policies; i++) {
        char d[512];
        vg_policy_describe(&cfg->policies[i], d, sizeof d);
        VG_INFO("policy %s: %s", cfg->policies[i].pkh_text, d);
    }
    return 0;
}

void vg_config_defaults(vg_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    const char *dir = getenv("VIGIL_BASE_DIR"); /* NOLINT(concurrency-mt-unsafe) */
    const char *home = getenv("HOME");          /* NOLINT(concurrency-mt-unsafe) */
    if (dir != NULL && dir[0] != '\0')
        snprintf(cfg->base_dir, sizeof cfg->base_dir, "%s", dir);
    else if (home != NULL && home[0] != '\0')
        snprintf(cfg->base_dir, sizeof cfg->base_dir, "%s/.vigil", home);
    else
        snprintf(cfg->base_dir, sizeof cfg->base_dir, "/var/lib/vigil");
    snprintf(cfg->address, sizeof cfg->address, "127.0.0.1:6732");
    snprintf(cfg->utility_address, sizeof cfg->utility_address, "127.0.0.1:9583");
    snprintf(cfg->watermark_driver, sizeof cfg->watermark_driver, "file");
}

void vg_config_free(vg_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_vaults; i++)
        json_decref(cfg->vaults[i].raw);
    free(cfg->vaults);
    for (size_t i = 0; i < cfg->n_policies; i++)
        vg_policy_free(&cfg->policies[i]);
    free(cfg->policies);
    json_decref(cfg->watermark_config);
    free(cfg->authorized_keys);
    for (size_t i = 0; i < cfg->n_jwt_users; i++) {
        free(cfg->jwt_users[i].name);
        jwt_cred_free(&cfg->jwt_users[i].cred);
        jwt_cred_free(&cfg->jwt_users[i].new_cred);
    }
    free(cfg->jwt_users);
    memset(cfg, 0, sizeof *cfg);
}

const vg_policy *vg_config_policy(const vg_config *cfg, const vg_pkh *pkh)
{
    if (cfg == NULL || pkh == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_policies; i++) {
        const vg_policy *p = &cfg->policies[i];
        if (p->pkh.type == pkh->type && memcmp(p->pkh.hash, pkh->hash, sizeof pkh->hash) == 0)
            return p;
    }
    return NULL;
}
