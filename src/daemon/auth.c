/* Client authentication: authorized-key request signatures and JWT (spec: shared/specs/signatory.md
 * §5.1, §5.2). Error texts follow Signatory (pkg/server/server.go, pkg/middlewares/jwt.go) and
 * golang-jwt v5, which is what octez-client / Signatory users see and match on. */
#include "daemon/auth.h"

#include <jansson.h>
#include <jwt.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"
#include "crypto/key.h"

#define CMP_LEN 32
#define TOKEN_MAX 8192 /* longer Authorization values are refused before parsing */

typedef struct {
    char *password; /* secure memory */
    char *secret;   /* secure memory */
    size_t secret_len;
    uint64_t exp_minutes;
} cred;

typedef struct {
    char *name;
    cred cur;
    bool has_next;
    cred next;
    bool rotate_pending; /* next replaces cur at rotate_at */
    int64_t rotate_at;   /* unix seconds */
} user;

struct vg_auth {
    size_t n_keys;
    vg_config_pubkey *keys;
    size_t n_users;
    user *users;
    uint8_t *cmp_key; /* secure memory: keys the password comparison hash */
    pthread_mutex_t lock;
    int64_t (*now_ms)(void);
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cred_free(cred *c)
{
    vg_secure_free(c->password);
    vg_secure_free(c->secret);
    memset(c, 0, sizeof *c);
}

static char *secure_strdup(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    char *d = vg_secure_alloc(n + 1);
    if (d != NULL) {
        if (n > 0)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int cred_copy(cred *dst, const vg_jwt_cred *src)
{
    dst->password = secure_strdup(src->password);
    dst->secret = secure_strdup(src->secret);
    dst->secret_len = src->secret != NULL ? strlen(src->secret) : 0;
    dst->exp_minutes = src->exp_minutes;
    return dst->password != NULL && dst->secret != NULL ? 0 : -1;
}

/* Constant time in the contents and lengths of both strings: keyed BLAKE2b of each, then
 * sodium_memcmp of the digests (upstream's subtle.ConstantTimeCompare leaks the length). */
static bool same_secret(const vg_auth *a, const char *x, const char *y)
{
    uint8_t hx[CMP_LEN], hy[CMP_LEN];
    crypto_generichash(hx, sizeof hx, (const uint8_t *)x, strlen(x), a->cmp_key, CMP_LEN);
    crypto_generichash(hy, sizeof hy, (const uint8_t *)y, strlen(y), a->cmp_key, CMP_LEN);
    bool eq = sodium_memcmp(hx, hy, sizeof hx) == 0;
    vg_wipe(hx, sizeof hx);
    vg_wipe(hy, sizeof hy);
    return eq;
}

/* ---------- strength rules (Signatory validateSecretAndPass) ---------- */

static const char *weakness_of(const char *s, size_t min, bool is_secret)
{
    static const char *const msgs[2][5] = {
        {"password should be at least 16 characters", "password should contain at least one uppercase character",
         "password should contain at least one lowercase character", "password should contain at least one digit",
         "password should contain at least one special character"},
        {"secret should be at least 32 characters", "secret should contain at least one uppercase character",
         "secret should contain at least one lowercase character", "secret should contain at least one digit",
         "secret should contain at least one special character"}};
    const char *const *m = msgs[is_secret ? 1 : 0];
    if (s == NULL || strlen(s) < min)
        return m[0];
    bool upper = false, lower = false, digit = false, special = false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        upper |= *p >= 'A' && *p <= 'Z';
        lower |= *p >= 'a' && *p <= 'z';
        digit |= *p >= '0' && *p <= '9';
        /* "printable ASCII special character": 32..126 that is not alphanumeric (space counts) */
        special |= *p >= 32 && *p <= 126 && !((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                                              (*p >= '0' && *p <= '9'));
    }
    return !upper ? m[1] : !lower ? m[2] : !digit ? m[3] : !special ? m[4] : NULL;
}

const char *vg_auth_jwt_weakness(const char *password, const char *secret)
{
    const char *w = weakness_of(password, 16, false);
    return w != NULL ? w : weakness_of(secret, 32, true);
}

/* ---------- lifecycle ---------- */

static void rotate(user *u)
{
    cred_free(&u->cur);
    u->cur = u->next;
    memset(&u->next, 0, sizeof u->next);
    u->has_next = false;
    u->rotate_pending = false;
}

/* Applies a scheduled rotation once its time has come. Upstream sleeps in a goroutine; checking on
 * every use gives the same observable behaviour (no request can see the old set after the time)
 * without a thread. Caller holds the lock. */
static void rotate_if_due(vg_auth *a, user *u)
{
    if (u->rotate_pending && a->now_ms() >= u->rotate_at * 1000) {
        rotate(u);
        VG_INFO("JWT: rotated credentials for user %s", u->name);
    }
}

void vg_auth_free(vg_auth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n_users; i++) {
        free(a->users[i].name);
        cred_free(&a->users[i].cur);
        cred_free(&a->users[i].next);
    }
    free(a->users);
    free(a->keys);
    vg_secure_free(a->cmp_key);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

static int setup_user(vg_auth *a, user *u, const vg_jwt_user *src, vg_err *err)
{
    int64_t now_s = a->now_ms() / 1000;
    if ((u->name = strdup(src->name)) == NULL || cred_copy(&u->cur, &src->cred) < 0)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    /* spec: §5.2 "every password must be ≥16 chars and every secret ≥32 chars, each containing an
     * upper-case letter, a lower-case letter, a digit and a printable ASCII special character" */
    const char *w = vg_auth_jwt_weakness(u->cur.password, u->cur.secret);
    if (w != NULL)
        return vg_fail(err, VG_E_INVALID, "JWT: config validation failed for user %s: %s", u->name, w);
    if (!src->has_new)
        return 0;
    if (cred_copy(&u->next, &src->new_cred) < 0)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    u->has_next = true;
    /* spec: §5.2 "New credentials must differ from the old ones (both password and secret)" */
    if (same_secret(a, u->next.password, u->cur.password) || same_secret(a, u->next.secret, u->cur.secret))
        return vg_fail(err, VG_E_INVALID, "JWT: new credentials are same as old for user %s", u->name);
    if ((w = vg_auth_jwt_weakness(u->next.password, u->next.secret)) != NULL)
        return vg_fail(err, VG_E_INVALID, "JWT: config validation failed for new credentials of user %s: %s",
                       u->name, w);
    /* spec: §5.2 "new_data without old_cred_exp, or with a time already past → new credentials
     * replace the old ones immediately; future old_cred_exp → both sets accepted until then" */
    if (!src->has_old_cred_exp) {
        rotate(u);
        VG_INFO("JWT: applied new credentials for user %s", u->name);
    } else if (src->old_cred_exp <= now_s) {
        rotate(u);
        VG_INFO("JWT: applied new credentials for user %s (expiry passed)", u->name);
    } else {
        u->rotate_pending = true;
        u->rotate_at = src->old_cred_exp;
        char when[32];
        time_t t = (time_t)src->old_cred_exp;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
        VG_INFO("JWT: scheduled credential rotation for user %s at %s UTC (in %lld s); both sets accepted until then",
                u->name, when, (long long)(src->old_cred_exp - now_s));
    }
    return 0;
}

int vg_auth_new(const vg_config *cfg, vg_auth **out, vg_err *err)
{
    vg_auth *a = calloc(1, sizeof *a);
    if (a == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    pthread_mutex_init(&a->lock, NULL);
    a->now_ms = wall_ms;
    a->cmp_key = vg_secure_alloc(CMP_LEN);
    if (a->cmp_key == NULL) {
        vg_auth_free(a);
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    }
    randombytes_buf(a->cmp_key, CMP_LEN);
    if (cfg->n_authorized_keys > 0 && cfg->n_jwt_users > 0) {
        vg_auth_free(a);
        return vg_fail(err, VG_E_INVALID, "cannot use both JWT and static authorized keys");
    }
    if (cfg->n_authorized_keys > 0) {
        a->keys = calloc(cfg->n_authorized_keys, sizeof *a->keys);
        if (a->keys == NULL) {
            vg_auth_free(a);
            return vg_fail(err, VG_E_INTERNAL, "out of memory");
        }
        memcpy(a->keys, cfg->authorized_keys, cfg->n_authorized_keys * sizeof *a->keys);
        a->n_keys = cfg->n_authorized_keys;
        char list[1024] = "";
        size_t len = 0;
        for (size_t i = 0; i < a->n_keys && len + VG_B58_MAX + 2 < sizeof list; i++) {
            char text[VG_B58_MAX];
            vg_pkh_format(&a->keys[i].pkh, text);
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", text);
        }
        VG_INFO("client authentication: %zu authorized key(s): %s%s", a->n_keys, list,
                len + VG_B58_MAX + 2 >= sizeof list ? ", ..." : "");
    }
    if (cfg->n_jwt_users > 0) {
        a->users = calloc(cfg->n_jwt_users, sizeof *a->users);
        if (a->users == NULL) {
            vg_auth_free(a);
            return vg_fail(err, VG_E_INTERNAL, "out of memory");
        }
        for (size_t i = 0; i < cfg->n_jwt_users; i++) {
            a->n_users++;
            if (setup_user(a, &a->users[i], &cfg->jwt_users[i], err) < 0) {
                vg_auth_free(a);
                return -1;
            }
        }
        VG_INFO("client authentication: JWT with %zu user(s); tokens from POST /login", a->n_users);
    }
    *out = a;
    return 0;
}

bool vg_auth_has_keys(const vg_auth *a) { return a != NULL && a->n_keys > 0; }
bool vg_auth_has_jwt(const vg_auth *a) { return a != NULL && a->n_users > 0; }
size_t vg_auth_key_count(const vg_auth *a) { return a != NULL ? a->n_keys : 0; }
const vg_pkh *vg_auth_key_pkh(const vg_auth *a, size_t i) { return i < vg_auth_key_count(a) ? &a->keys[i].pkh : NULL; }

void vg_auth_set_clock(vg_auth *a, int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&a->lock);
    a->now_ms = now_ms != NULL ? now_ms : wall_ms;
    pthread_mutex_unlock(&a->lock);
}

/* ---------- authorized keys (§5.1) ---------- */

int vg_auth_signed_bytes(const vg_pkh *target, const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len,
                         vg_err *err)
{
    /* spec: §5.1 "0x04 ‖ 0x01 ‖ binary public_key_hash of the *target* key (1 tag byte + 20 bytes) ‖
     * raw request bytes" */
    uint8_t *b = malloc(2 + 1 + sizeof target->hash + len);
    if (b == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    b[0] = 0x04;
    b[1] = 0x01;
    b[2] = (uint8_t)target->type;
    memcpy(b + 3, target->hash, sizeof target->hash);
    if (len > 0)
        memcpy(b + 3 + sizeof target->hash, msg, len);
    *out = b;
    *out_len = 3 + sizeof target->hash + len;
    return 0;
}

int vg_auth_verify_request(const vg_auth *a, const vg_pkh *target, const uint8_t *msg, size_t len,
                           const char *signature, vg_pkh *client, vg_err *err)
{
    if (signature == NULL || signature[0] == '\0')
        return vg_fail(err, VG_E_UNAUTHORIZED, "missing authentication signature field");
    vg_b58_kind kind;
    uint8_t sig[VG_SIG_MAX];
    size_t siglen = 0;
    vg_err perr = {0};
    if (vg_b58check_decode_any(signature, &kind, sig, sizeof sig, &siglen, &perr) < 0)
        return vg_fail(err, VG_E_INVALID, "invalid authentication signature encoding: %s", perr.msg);
    /* Which client key types this signature can verify against. */
    bool fits[4] = {false, false, false, false};
    switch (kind) {
    case VG_B58_EDSIG: fits[VG_KEY_ED25519] = true; break;
    case VG_B58_SPSIG: fits[VG_KEY_SECP256K1] = true; break;
    case VG_B58_P2SIG: fits[VG_KEY_P256] = true; break;
    case VG_B58_BLSIG: fits[VG_KEY_BLS] = true; break;
    case VG_B58_SIG:
        /* spec: §5.1 "A generic sig… signature is accepted for Ed25519 and ECDSA client keys
         * (interpreted per key type) but never verifies against a BLS client key." */
        fits[VG_KEY_ED25519] = fits[VG_KEY_SECP256K1] = fits[VG_KEY_P256] = true;
        break;
    default: return vg_fail(err, VG_E_INVALID, "invalid authentication signature encoding: not a signature");
    }
    uint8_t *bytes;
    size_t n;
    if (vg_auth_signed_bytes(target, msg, len, &bytes, &n, err) < 0)
        return -1;
    int rc = vg_fail(err, VG_E_FORBIDDEN, "invalid authentication signature");
    for (size_t i = 0; a != NULL && i < a->n_keys; i++) {
        const vg_config_pubkey *k = &a->keys[i];
        if ((unsigned)k->type > VG_KEY_BLS || !fits[k->type] || siglen != vg_sig_len(k->type))
            continue;
        /* Ed25519/ECDSA over BLAKE2b-256 (ECDSA accepts high-S), BLS over the raw bytes with the
         * POP ciphersuite (version 2). */
        if (vg_verify(k->type, k->pk, k->pk_len, bytes, n, sig, siglen, VG_SIGN_V2)) {
            *client = k->pkh;
            memset(err, 0, sizeof *err);
            rc = 0;
            break;
        }
    }
    free(bytes);
    return rc;
}

/* ---------- JWT (§5.2) ---------- */

/* Go's encoding/base64 RawURLEncoding (no padding), with its error text. *out is malloc'ed. */
static int b64url_decode(const char *s, size_t len, uint8_t **out, size_t *out_len, char *why, size_t cap)
{
    uint8_t *b = malloc(len / 4 * 3 + 3);
    if (b == NULL) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int v = ch >= 'A' && ch <= 'Z'   ? ch - 'A'
                : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
                : ch >= '0' && ch <= '9' ? ch - '0' + 52
                : ch == '-'              ? 62
                : ch == '_'              ? 63
                                         : -1;
        if (v < 0) {
            free(b);
            snprintf(why, cap, "illegal base64 data at input byte %zu", i);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (len % 4 == 1) {
        free(b);
        snprintf(why, cap, "illegal base64 data at input byte %zu", len - 1);
        return -1;
    }
    *out = b;
    *out_len = o;
    return 0;
}

/* strconv.Quote of one byte in Go's json error style ('x', '\x05', '\'', '"'). */
static void go_quote_char(unsigned char c, char out[16])
{
    static const char esc[] = {'a', 'b', 't', 'n', 'v', 'f', 'r'};
    if (c == '\'')
        snprintf(out, 16, "'\\''");
    else if (c == '"')
        snprintf(out, 16, "'\"'");
    else if (c == '\\')
        snprintf(out, 16, "'\\\\'");
    else if (c >= 7 && c <= 13)
        snprintf(out, 16, "'\\%c'", esc[c - 7]);
    else if (c < 0x20 || c == 0x7f)
        snprintf(out, 16, "'\\x%02x'", c);
    else if (c >= 0x80 && (c < 0xa1 || c == 0xad))
        snprintf(out, 16, "'\\u%04x'", c);
    else if (c >= 0x80)
        snprintf(out, 16, "'%c%c'", 0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else
        snprintf(out, 16, "'%c'", c);
}

/* json.Unmarshal of a segment into a map, with Go's messages where they are cheap to reproduce
 * (the first byte, empty input, wrong top-level type). NULL → *why set. */
static json_t *go_json_object(const uint8_t *b, size_t len, const char *go_type, char *why, size_t cap)
{
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    if (i == len) {
        snprintf(why, cap, "unexpected end of JSON input");
        return NULL;
    }
    if (strchr("{[\"-0123456789tfn", b[i]) == NULL || b[i] == '\0') {
        char q[16];
        go_quote_char(b[i], q);
        snprintf(why, cap, "invalid character %s looking for beginning of value", q);
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadb((const char *)b, len, JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        snprintf(why, cap, "%s", jerr.text);
        return NULL;
    }
    if (json_is_null(v)) { /* Go leaves the map nil: no alg, no claims */
        json_decref(v);
        return json_object();
    }
    if (!json_is_object(v)) {
        snprintf(why, cap, "json: cannot unmarshal %s into Go value of type %s",
                 json_is_array(v) ? "array" : json_is_string(v) ? "string" : json_is_boolean(v) ? "bool" : "number",
                 go_type);
        json_decref(v);
        return NULL;
    }
    return v;
}

static bool known_alg(const char *alg)
{
    static const char *const algs[] = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256",
                                       "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA", "none"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(alg, algs[i]) == 0)
            return true;
    return false;
}

/* golang-jwt v5 Parse with a []byte key: split, decode header and claims, check alg, verify the
 * signature (libjwt), then validate exp/nbf. On success *claims_out holds the claims. */
static int parse_token(const vg_auth *a, const char *token, const char *secret, size_t secret_len,
                       json_t **claims_out, vg_err *err)
{
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
    if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL)
        return vg_fail(err, VG_E_UNAUTHORIZED, "token is malformed: token contains an invalid number of segments");
    char why[160];
    uint8_t *seg;
    size_t seglen;
    if (b64url_decode(token, (size_t)(d1 - token), &seg, &seglen, why, sizeof why) < 0)
        return vg_fail(err, VG_E_UNAUTHORIZED, "token is malformed: could not base64 decode header: %s", why);
    json_t *header = go_json_object(seg, seglen, "map[string]interface {}", why, sizeof why);
    free(seg);
    if (header == NULL)
        return vg_fail(err, VG_E_UNAUTHORIZED, "token is malformed: could not JSON decode header: %s", why);
    json_t *claims = NULL;
    int rc = -1;
    if (b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &seg, &seglen, why, sizeof why) < 0) {
        vg_fail(err, VG_E_UNAUTHORIZED, "token is malformed: could not base64 decode claim: %s", why);
        goto out;
    }
    claims = go_json_object(seg, seglen, "jwt.MapClaims", why, sizeof why);
    free(seg);
    if (claims == NULL) {
        vg_fail(err, VG_E_UNAUTHORIZED, "token is malformed: could not JSON decode claim: %s", why);
        goto out;
    }
    const char *alg = json_string_value(json_object_get(header, "alg"));
    if (alg == NULL) {
        vg_fail(err, VG_E_UNAUTHORIZED, "token is unverifiable: signing method (alg) is unspecified");
        goto out;
    }
    if (!known_alg(alg)) {
        vg_fail(err, VG_E_UNAUTHORIZED, "token is unverifiable: signing method (alg) is unavailable");
        goto out;
    }
    if (b64url_decode(d2 + 1, strlen(d2 + 1), &seg, &seglen, why, sizeof why) < 0) {
        vg_fail(err, VG_E_UNAUTHORIZED, "token is malformed: could not base64 decode signature: %s", why);
        goto out;
    }
    free(seg);
    if (strcmp(alg, "none") == 0) {
        vg_fail(err, VG_E_UNAUTHORIZED, "token is unverifiable: 'none' signature type is not allowed");
        goto out;
    }
    if (strncmp(alg, "HS", 2) != 0) { /* an HMAC secret is never an RSA/EC/Ed25519 key */
        vg_fail(err, VG_E_UNAUTHORIZED, "token signature is invalid: key is of invalid type");
        goto out;
    }
    jwt_t *jwt = NULL;
    int jrc = jwt_decode(&jwt, token, (const unsigned char *)secret, (int)secret_len);
    bool verified = jrc == 0 && jwt != NULL && strcmp(jwt_alg_str(jwt_get_alg(jwt)), alg) == 0;
    jwt_free(jwt);
    if (!verified) {
        vg_fail(err, VG_E_UNAUTHORIZED, "token signature is invalid: signature is invalid");
        goto out;
    }
    /* Claims (v5 default validator): exp and nbf when present; numbers only. */
    int64_t now = a->now_ms();
    char problems[160] = "";
    size_t plen = 0;
    static const char *const names[2] = {"exp", "nbf"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(claims, names[i]);
        if (v == NULL || json_is_null(v))
            continue;
        const char *p = NULL;
        if (!json_is_number(v))
            p = i == 0 ? "invalid type for claim: exp is invalid" : "invalid type for claim: nbf is invalid";
        else if (i == 0 && (double)now >= json_number_value(v) * 1000.0)
            p = "token is expired";
        else if (i == 1 && (double)now < json_number_value(v) * 1000.0)
            p = "token is not valid yet";
        if (p != NULL)
            plen += (size_t)snprintf(problems + plen, sizeof problems - plen, "%s%s", plen ? ", " : "", p);
        if (plen >= sizeof problems)
            plen = sizeof problems - 1;
    }
    if (plen > 0) {
        vg_fail(err, VG_E_UNAUTHORIZED, "token has invalid claims: %s", problems);
        goto out;
    }
    *claims_out = claims;
    claims = NULL;
    rc = 0;
out:
    json_decref(header);
    json_decref(claims);
    return rc;
}

static char *b64url_encode(const uint8_t *in, size_t len)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(len / 3 * 4 + 5);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0u) |
                     (i + 2 < len ? (uint32_t)in[i + 2] : 0u);
        out[o++] = al[v >> 18 & 63];
        out[o++] = al[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = al[v >> 6 & 63];
        if (i + 2 < len)
            out[o++] = al[v & 63];
    }
    out[o] = '\0';
    return out;
}

static char *b64url_json(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return NULL;
    char *out = b64url_encode((const uint8_t *)text, strlen(text));
    vg_json_free_string(text);
    return out;
}

/* HS256 token {"alg":"HS256","typ":"JWT"}.{"exp":N,"user":"u"} — the bytes golang-jwt produces for
 * these claims. Encoded here rather than with jwt_encode_str: libjwt 1.10 releases jansson's
 * json_dumps output with free(), which breaks under vigil's wiping jansson allocator (vg_json_init).
 * The caller verifies the result with libjwt before handing it out. */
static char *issue_token(const char *name, int64_t exp, const char *secret, size_t secret_len)
{
    json_t *header = json_pack("{s:s, s:s}", "alg", "HS256", "typ", "JWT");
    json_t *claims = json_pack("{s:I, s:s}", "exp", (json_int_t)exp, "user", name);
    char *h = header != NULL ? b64url_json(header) : NULL;
    char *c = claims != NULL ? b64url_json(claims) : NULL;
    json_decref(header);
    json_decref(claims);
    char *token = NULL;
    if (h != NULL && c != NULL) {
        size_t signed_len = strlen(h) + 1 + strlen(c);
        token = malloc(signed_len + 1 + 44);
        if (token != NULL) {
            snprintf(token, signed_len + 1, "%s.%s", h, c);
            uint8_t mac[crypto_auth_hmacsha256_BYTES];
            crypto_auth_hmacsha256_state st;
            crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret, secret_len);
            crypto_auth_hmacsha256_update(&st, (const uint8_t *)token, signed_len);
            crypto_auth_hmacsha256_final(&st, mac);
            vg_wipe(&st, sizeof st);
            char *sig = b64url_encode(mac, sizeof mac);
            if (sig != NULL)
                snprintf(token + signed_len, 1 + 44, ".%s", sig);
            else {
                free(token);
                token = NULL;
            }
            free(sig);
        }
    }
    free(h);
    free(c);
    return token;
}

static user *find_user(vg_auth *a, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < a->n_users; i++)
        if (strcmp(a->users[i].name, name) == 0)
            return &a->users[i];
    return NULL;
}

int vg_auth_jwt_login(vg_auth *a, const char *name, const char *password, char **token, vg_err *err)
{
    *token = NULL;
    if (name == NULL || name[0] == '\0' || password == NULL || password[0] == '\0')
        return vg_fail(err, VG_E_UNAUTHORIZED, "username and password required");
    pthread_mutex_lock(&a->lock);
    user *u = find_user(a, name);
    int rc = -1;
    if (u == NULL) {
        vg_fail(err, VG_E_UNAUTHORIZED, "Access denied");
        goto out;
    }
    rotate_if_due(a, u);
    /* Both comparisons always run: the timing does not say which set matched. */
    bool cur_ok = same_secret(a, password, u->cur.password);
    bool next_ok = u->has_next && same_secret(a, password, u->next.password);
    if (!cur_ok && !next_ok) {
        vg_fail(err, VG_E_UNAUTHORIZED, "Access denied");
        goto out;
    }
    const cred *c = cur_ok ? &u->cur : &u->next;
    uint64_t minutes = c->exp_minutes != 0 ? c->exp_minutes : 60;
    *token = issue_token(u->name, a->now_ms() / 1000 + (int64_t)minutes * 60, c->secret, c->secret_len);
    json_t *claims = NULL;
    vg_err verr = {0};
    if (*token == NULL || parse_token(a, *token, c->secret, c->secret_len, &claims, &verr) < 0) {
        free(*token);
        *token = NULL;
        vg_fail(err, VG_E_INTERNAL, "JWT: cannot issue a token");
    } else {
        rc = 0;
    }
    json_decref(claims);
out:
    pthread_mutex_unlock(&a->lock);
    return rc;
}

int vg_auth_jwt_check(vg_auth *a, const char *authorization, const char *name, vg_err *err)
{
    /* spec: §5.2 "missing Authorization → 401 `token required`" (an empty header counts as missing) */
    if (authorization == NULL || authorization[0] == '\0')
        return vg_fail(err, VG_E_UNAUTHORIZED, "token required");
    /* strings.TrimPrefix(token, "Bearer "): without the space the whole value is parsed as a token. */
    const char *token = strncmp(authorization, "Bearer ", 7) == 0 ? authorization + 7 : authorization;
    if (strlen(token) > TOKEN_MAX)
        return vg_fail(err, VG_E_UNAUTHORIZED, "token is malformed: token is longer than %d bytes", TOKEN_MAX);
    pthread_mutex_lock(&a->lock);
    int rc = -1;
    json_t *claims = NULL;
    user *u = find_user(a, name);
    if (u == NULL) {
        vg_fail(err, VG_E_UNAUTHORIZED, "JWT: user not found");
        goto out;
    }
    rotate_if_due(a, u);
    /* spec: §5.2 "Verification tries the current secret, then the new_data secret" (the error
     * reported is the last one, as upstream). */
    if (parse_token(a, token, u->cur.secret, u->cur.secret_len, &claims, err) < 0 &&
        (!u->has_next || parse_token(a, token, u->next.secret, u->next.secret_len, &claims, err) < 0))
        goto out;
    const char *claimed = json_string_value(json_object_get(claims, "user"));
    if (claimed == NULL || strcmp(claimed, u->name) != 0) {
        VG_WARN("JWT: suspicious activity detected, token user does not match request user %s", u->name);
        vg_fail(err, VG_E_UNAUTHORIZED, "JWT: invalid token");
        goto out;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&a->lock);
    json_decref(claims);
    return rc;
}
