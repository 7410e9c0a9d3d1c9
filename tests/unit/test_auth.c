/* Client authentication (src/daemon/auth.c; spec: shared/specs/signatory.md §5.1, §5.2):
 * authorized-key request signatures against the upstream vector (derived_signatures.json →
 * authenticated_request) and keys of every type, each error text; the JWT configuration, strength
 * rules, login, verification (expiry, alg none, HS384/512, tampering, malformed tokens), user check
 * and credential rotation with a fake clock; the per-key jwt_users check. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>

#include "common/hex.h"
#include "common/json.h"
#include "common/log.h"
#include "crypto/key.h"
#include "daemon/auth.h"
#include "daemon/config.h"
#include "testlib.h"

#define TZ1 "tz1Wz4ZabKRsz842Xuzy4a7CcWADfPVsPKus"

/* Signatory's integration-test credentials (http_cases.json → jwt.example_integration_credentials). */
#define PASS1 "87GridNEG3gKZ3I!"
#define PASS2 "RkB143NUCmok2f4!"
#define SECRET1 "!sEtcU5RwLQYsA5qQ1c6zpo3FljQxfAKP"
#define SECRET2 "*sEtcU5RwLQYsA5qQ1c6zpo3FljQxfAKP"

static int64_t fake_now_ms;
static int64_t fake_clock(void) { return fake_now_ms; }

static int parse(const char *yaml, vg_config *cfg, vg_err *err)
{
    memset(err, 0, sizeof *err);
    return vg_config_parse(yaml, strlen(yaml), "vigil.yaml", cfg, err);
}

static void expect_cfg_err(int line, const char *yaml, const char *want)
{
    vg_config cfg;
    vg_err err;
    int rc = parse(yaml, &cfg, &err);
    CHECK_MSG(rc < 0 && strstr(err.msg, want) != NULL, "line %d: want '%s', got rc=%d '%s'", line, want, rc,
              rc < 0 ? err.msg : "");
    if (rc == 0)
        vg_config_free(&cfg);
}

/* vg_auth_new on a YAML document must fail with `want` (serve-start validation). */
static void expect_auth_err(int line, const char *yaml, const char *want)
{
    vg_config cfg;
    vg_err err;
    if (parse(yaml, &cfg, &err) < 0) {
        CHECK_MSG(0, "line %d: config failed: %s", line, err.msg);
        return;
    }
    vg_auth *a = NULL;
    int rc = vg_auth_new(&cfg, &a, &err);
    CHECK_MSG(rc < 0 && strcmp(err.msg, want) == 0 && err.kind == VG_E_INVALID, "line %d: want '%s', got rc=%d '%s'",
              line, want, rc, rc < 0 ? err.msg : "");
    vg_auth_free(a);
    vg_config_free(&cfg);
}

static vg_auth *auth_from(const char *yaml, vg_config *cfg)
{
    vg_err err;
    if (parse(yaml, cfg, &err) < 0) {
        CHECK_MSG(0, "config: %s", err.msg);
        return NULL;
    }
    vg_auth *a = NULL;
    if (vg_auth_new(cfg, &a, &err) < 0) {
        CHECK_MSG(0, "auth: %s", err.msg);
        vg_config_free(cfg);
        return NULL;
    }
    vg_auth_set_clock(a, fake_clock);
    return a;
}

/* ---------- authorized keys: the upstream vector ---------- */

static json_t *load_vector(const char *rel, const char *key)
{
    char p[512];
    size_t len;
    char *text = vt_read_file(vt_vector_path(rel, p, sizeof p), &len);
    CHECK_MSG(text != NULL, "cannot read %s", rel);
    if (text == NULL)
        return NULL;
    json_t *root = json_loads(text, 0, NULL);
    free(text);
    json_t *v = json_incref(json_object_get(root, key));
    json_decref(root);
    return v;
}

static void test_vector(void)
{
    json_t *v = load_vector("signatory/derived_signatures.json", "authenticated_request");
    CHECK(v != NULL);
    if (v == NULL)
        return;
    const char *client_pk = json_string_value(json_object_get(v, "client_public_key"));
    const char *client_pkh = json_string_value(json_object_get(v, "client_pkh"));
    const char *target_text = json_string_value(json_object_get(v, "target_pkh"));
    const char *msg_hex = json_string_value(json_object_get(v, "message_hex"));
    const char *bytes_hex = json_string_value(json_object_get(v, "authenticated_bytes_hex"));
    const char *sig = json_string_value(json_object_get(v, "signature_edsig"));
    const char *http_request = json_string_value(json_object_get(v, "http_request"));
    CHECK(client_pk && client_pkh && target_text && msg_hex && bytes_hex && sig && http_request);
    if (!(client_pk && client_pkh && target_text && msg_hex && bytes_hex && sig && http_request)) {
        json_decref(v);
        return;
    }
    /* the request line names the same target and signature */
    CHECK(strstr(http_request, target_text) != NULL && strstr(http_request, sig) != NULL);

    vg_err err = {0};
    vg_pkh target, client;
    CHECK(vg_pkh_parse(target_text, &target, &err) == 0);
    size_t msglen;
    uint8_t *msg = vt_unhex(msg_hex, &msglen);

    /* the signed bytes are exactly 0x04 0x01 || tag || hash || message */
    uint8_t *bytes;
    size_t n;
    CHECK(vg_auth_signed_bytes(&target, msg, msglen, &bytes, &n, &err) == 0);
    char *hex = malloc(2 * n + 1);
    vg_hex_encode(bytes, n, hex);
    CHECK_STR(hex, bytes_hex);
    free(hex);
    free(bytes);

    /* a second, unrelated key first: every key is tried in order */
    char yaml[1024];
    vg_key *other;
    CHECK(vg_key_generate(VG_KEY_SECP256K1, &other, &err) == 0);
    size_t opl;
    const uint8_t *opk = vg_key_public(other, &opl);
    char other_pk[VG_B58_MAX];
    vg_pubkey_format(VG_KEY_SECP256K1, opk, opl, other_pk);
    snprintf(yaml, sizeof yaml, "server:\n  authorized_keys: [%s, %s]\n", other_pk, client_pk);
    vg_config cfg;
    vg_auth *a = auth_from(yaml, &cfg);
    CHECK(a != NULL && vg_auth_has_keys(a) && !vg_auth_has_jwt(a) && vg_auth_key_count(a) == 2);
    if (a != NULL) {
        char text[VG_B58_MAX];
        vg_pkh_format(vg_auth_key_pkh(a, 1), text);
        CHECK_STR(text, client_pkh);

        /* the vector verifies and yields the client pkh */
        memset(&client, 0, sizeof client);
        CHECK_MSG(vg_auth_verify_request(a, &target, msg, msglen, sig, &client, &err) == 0, "%s", err.msg);
        vg_pkh_format(&client, text);
        CHECK_STR(text, client_pkh);

        /* absent / empty → 401 */
        CHECK(vg_auth_verify_request(a, &target, msg, msglen, NULL, &client, &err) < 0 &&
              err.kind == VG_E_UNAUTHORIZED && strcmp(err.msg, "missing authentication signature field") == 0);
        CHECK(vg_auth_verify_request(a, &target, msg, msglen, "", &client, &err) < 0 && err.kind == VG_E_UNAUTHORIZED);
        /* unparsable → 400 */
        CHECK(vg_auth_verify_request(a, &target, msg, msglen, "edsigXXXX", &client, &err) < 0 &&
              err.kind == VG_E_INVALID);
        CHECK(vg_auth_verify_request(a, &target, msg, msglen, target_text, &client, &err) < 0 &&
              err.kind == VG_E_INVALID);
        char bad[VG_B58_MAX];
        snprintf(bad, sizeof bad, "%s", sig);
        bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'e' ? 'f' : 'e'; /* checksum broken */
        CHECK(vg_auth_verify_request(a, &target, msg, msglen, bad, &client, &err) < 0 && err.kind == VG_E_INVALID);

        /* tampered message, other target, empty message → 403 */
        msg[msglen - 2] ^= 1;
        CHECK(vg_auth_verify_request(a, &target, msg, msglen, sig, &client, &err) < 0 && err.kind == VG_E_FORBIDDEN &&
              strcmp(err.msg, "invalid authentication signature") == 0);
        msg[msglen - 2] ^= 1;
        vg_pkh other_target = target;
        other_target.hash[0] ^= 1;
        CHECK(vg_auth_verify_request(a, &other_target, msg, msglen, sig, &client, &err) < 0 &&
              err.kind == VG_E_FORBIDDEN);
        other_target = target;
        other_target.type = VG_KEY_SECP256K1; /* same hash, tz2: the tag byte is signed too */
        CHECK(vg_auth_verify_request(a, &other_target, msg, msglen, sig, &client, &err) < 0 &&
              err.kind == VG_E_FORBIDDEN);
        CHECK(vg_auth_verify_request(a, &target, NULL, 0, sig, &client, &err) < 0 && err.kind == VG_E_FORBIDDEN);

        /* the same 64 bytes as a generic `sig...` verify against the Ed25519 key */
        uint8_t raw[96];
        size_t rawlen;
        vg_b58_kind kind;
        CHECK(vg_b58check_decode_any(sig, &kind, raw, sizeof raw, &rawlen, &err) == 0 && kind == VG_B58_EDSIG);
        char generic[VG_B58_MAX];
        CHECK(vg_b58check_encode(VG_B58_SIG, raw, 64, generic) > 0 && strncmp(generic, "sig", 3) == 0);
        CHECK_MSG(vg_auth_verify_request(a, &target, msg, msglen, generic, &client, &err) == 0, "%s", err.msg);
        vg_auth_free(a);
        vg_config_free(&cfg);
    }

    /* configured without the client key: the vector is refused */
    snprintf(yaml, sizeof yaml, "server:\n  authorized_keys: %s\n", other_pk);
    a = auth_from(yaml, &cfg);
    if (a != NULL) {
        CHECK(vg_auth_verify_request(a, &target, msg, msglen, sig, &client, &err) < 0 && err.kind == VG_E_FORBIDDEN &&
              strcmp(err.msg, "invalid authentication signature") == 0);
        vg_auth_free(a);
        vg_config_free(&cfg);
    }
    vg_key_free(other);
    free(msg);
    json_decref(v);
}

/* ---------- authorized keys: every key type ---------- */

/* s := n - s for secp256k1 (a high-S twin of a low-S signature). */
static void to_high_s(uint8_t sig[64])
{
    static const uint8_t n[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                  0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
                                  0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - sig[32 + i] - borrow;
        borrow = d < 0;
        sig[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

static void test_key_types(void)
{
    vg_err err = {0};
    vg_key *keys[4];
    char pks[4][VG_B58_MAX];
    for (int t = 0; t < 4; t++) {
        CHECK(vg_key_generate((vg_key_type)t, &keys[t], &err) == 0);
        size_t pl;
        const uint8_t *pk = vg_key_public(keys[t], &pl);
        vg_pubkey_format((vg_key_type)t, pk, pl, pks[t]);
    }
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "server:\n  authorized_keys:\n    - %s\n    - [%s, [%s]]\n    - %s\n", pks[0], pks[1],
             pks[2], pks[3]);
    vg_config cfg;
    vg_auth *a = auth_from(yaml, &cfg);
    CHECK(a != NULL && vg_auth_key_count(a) == 4);
    if (a == NULL)
        return;
    vg_pkh target;
    CHECK(vg_pkh_parse(TZ1, &target, &err) == 0);
    static const uint8_t msg[] = {0x03, 0x01, 0x02, 0x03};
    uint8_t *bytes;
    size_t n;
    CHECK(vg_auth_signed_bytes(&target, msg, sizeof msg, &bytes, &n, &err) == 0);
    uint8_t *pop_bytes;
    size_t pop_n;
    CHECK(vg_auth_signed_bytes(&target, NULL, 0, &pop_bytes, &pop_n, &err) == 0 && pop_n == 23);

    for (int t = 0; t < 4; t++) {
        uint8_t sig[VG_SIG_MAX];
        size_t siglen;
        char text[VG_B58_MAX];
        vg_pkh client;
        vg_pkh want;
        size_t pl;
        const uint8_t *pk = vg_key_public(keys[t], &pl);
        vg_pkh_from_pubkey((vg_key_type)t, pk, pl, &want);

        CHECK(vg_sign(keys[t], bytes, n, VG_SIGN_V2, sig, &siglen, &err) == 0);
        vg_signature_format((vg_key_type)t, sig, siglen, text);
        memset(&client, 0, sizeof client);
        CHECK_MSG(vg_auth_verify_request(a, &target, msg, sizeof msg, text, &client, &err) == 0, "type %d: %s", t,
                  err.msg);
        CHECK(client.type == want.type && memcmp(client.hash, want.hash, 20) == 0);
        /* signed for the sign request, replayed on PoP (empty message): refused */
        CHECK(vg_auth_verify_request(a, &target, NULL, 0, text, &client, &err) < 0 && err.kind == VG_E_FORBIDDEN);

        /* PoP authentication: the client signs 0x04 0x01 || pkh only */
        CHECK(vg_sign(keys[t], pop_bytes, pop_n, VG_SIGN_V2, sig, &siglen, &err) == 0);
        vg_signature_format((vg_key_type)t, sig, siglen, text);
        CHECK_MSG(vg_auth_verify_request(a, &target, NULL, 0, text, &client, &err) == 0, "pop type %d: %s", t, err.msg);

        CHECK(vg_sign(keys[t], bytes, n, VG_SIGN_V2, sig, &siglen, &err) == 0);
        if (t != VG_KEY_BLS) {
            /* generic sig... form: accepted for Ed25519 and ECDSA */
            vg_b58check_encode(VG_B58_SIG, sig, 64, text);
            CHECK_MSG(vg_auth_verify_request(a, &target, msg, sizeof msg, text, &client, &err) == 0, "generic %d: %s",
                      t, err.msg);
        } else {
            /* BLS: version 1 (AUG) is not the authentication scheme */
            CHECK(vg_sign(keys[t], bytes, n, VG_SIGN_V1, sig, &siglen, &err) == 0);
            vg_signature_format(VG_KEY_BLS, sig, siglen, text);
            CHECK(vg_auth_verify_request(a, &target, msg, sizeof msg, text, &client, &err) < 0 &&
                  err.kind == VG_E_FORBIDDEN);
        }
        if (t == VG_KEY_SECP256K1) {
            /* high-S ECDSA verifies (client verification follows Tezos, not the signer's low-S rule) */
            CHECK(vg_sign(keys[t], bytes, n, VG_SIGN_V2, sig, &siglen, &err) == 0);
            to_high_s(sig);
            CHECK(!vg_ecdsa_is_low_s(VG_KEY_SECP256K1, sig));
            vg_signature_format(VG_KEY_SECP256K1, sig, 64, text);
            CHECK_MSG(vg_auth_verify_request(a, &target, msg, sizeof msg, text, &client, &err) == 0, "high-S: %s",
                      err.msg);
        }
    }
    /* a generic sig made of the first 64 bytes of a BLS signature never verifies */
    {
        uint8_t sig[VG_SIG_MAX];
        size_t siglen;
        char text[VG_B58_MAX];
        vg_pkh client;
        CHECK(vg_sign(keys[VG_KEY_BLS], bytes, n, VG_SIGN_V2, sig, &siglen, &err) == 0);
        vg_b58check_encode(VG_B58_SIG, sig, 64, text);
        CHECK(vg_auth_verify_request(a, &target, msg, sizeof msg, text, &client, &err) < 0 &&
              err.kind == VG_E_FORBIDDEN);
    }
    free(bytes);
    free(pop_bytes);
    vg_auth_free(a);
    vg_config_free(&cfg);
    for (int t = 0; t < 4; t++)
        vg_key_free(keys[t]);
}

/* ---------- configuration ---------- */

#define USER1 "      username1:\n        password: '" PASS1 "'\n        secret: '" SECRET1 "'\n"

static void test_config(void)
{
    vg_config cfg;
    vg_err err;
    /* a JWT section loads; secrets are literal ($ is not expanded), ${VAR} alone reads the env */
    setenv("VIGIL_TEST_JWT_SECRET", SECRET2, 1);
    const char *y = "server:\n  jwt:\n    users:\n" USER1 "        jwt_exp: 5\n"
                    "      username2:\n        password: 'A$b1cdefghijklmnop'\n"
                    "        secret: ${VIGIL_TEST_JWT_SECRET}\n"
                    "        old_cred_exp: '2031-02-03 04:05:06'\n"
                    "        new_data: {password: 'Zz9$zzzzzzzzzzzzzz', secret: '" SECRET1 "', jwt_exp: 7}\n"
                    "tezos:\n  " TZ1 ":\n    jwt_users: [username1]\n";
    CHECK_MSG(parse(y, &cfg, &err) == 0, "%s", err.msg);
    if (cfg.n_jwt_users == 2) {
        CHECK_STR(cfg.jwt_users[0].name, "username1");
        CHECK_STR(cfg.jwt_users[0].cred.password, PASS1);
        CHECK_STR(cfg.jwt_users[0].cred.secret, SECRET1);
        CHECK(cfg.jwt_users[0].cred.exp_minutes == 5 && !cfg.jwt_users[0].has_new);
        CHECK_STR(cfg.jwt_users[1].cred.password, "A$b1cdefghijklmnop");
        CHECK_STR(cfg.jwt_users[1].cred.secret, SECRET2);
        CHECK(cfg.jwt_users[1].has_old_cred_exp && cfg.jwt_users[1].old_cred_exp == 1927857906);
        CHECK(cfg.jwt_users[1].has_new && cfg.jwt_users[1].new_cred.exp_minutes == 7);
        CHECK_STR(cfg.jwt_users[1].new_cred.password, "Zz9$zzzzzzzzzzzzzz");
        CHECK(cfg.n_policies == 1 && cfg.policies[0].n_jwt_users == 1);
        vg_config_free(&cfg);
    } else {
        CHECK_MSG(0, "n_jwt_users = %zu", cfg.n_jwt_users);
    }
    /* jwt: null stays off */
    CHECK(parse("server:\n  jwt:\n", &cfg, &err) == 0 && cfg.n_jwt_users == 0);
    vg_config_free(&cfg);

    expect_cfg_err(__LINE__,
                   "server:\n  authorized_keys: edpkvGfYw3LyB1UcCahKQk4rF2tvbMUk8GFiTuMjL75uGXrpvKXhjn\n  jwt:\n"
                   "    users:\n" USER1,
                   "vigil.yaml:3: cannot use both JWT and static authorized keys");
    expect_cfg_err(__LINE__, "tezos:\n  " TZ1 ":\n    jwt_users: [alice]\n",
                   "tezos." TZ1 ".jwt_users: users are identified only through JWT login");
    expect_cfg_err(__LINE__,
                   "server:\n  jwt:\n    users:\n" USER1 "tezos:\n  " TZ1
                   ":\n    authorized_keys: edpkvGfYw3LyB1UcCahKQk4rF2tvbMUk8GFiTuMjL75uGXrpvKXhjn\n",
                   "cannot be combined with server.jwt; restrict the key with jwt_users instead");
    expect_cfg_err(__LINE__, "server:\n  jwt:\n    users:\n", "server.jwt.users: expected a mapping of user names");
    expect_cfg_err(__LINE__, "server:\n  jwt:\n    users: {}\n", "server.jwt.users: expected a mapping");
    expect_cfg_err(__LINE__, "server:\n  jwt: [a]\n", "server.jwt: expected a mapping with `users`");
    expect_cfg_err(__LINE__, "server:\n  jwt:\n    users:\n      u:\n", "server.jwt.users.u: expected a mapping");
    expect_cfg_err(__LINE__, "server:\n  jwt:\n    users:\n" USER1 "        jwt_exp: -1\n",
                   "server.jwt.users.username1.jwt_exp: expected a number of minutes");
    expect_cfg_err(__LINE__, "server:\n  jwt:\n    users:\n" USER1 "        old_cred_exp: 2030-01-01T00:00:00\n",
                   "server.jwt.users.username1.old_cred_exp: invalid time `2030-01-01T00:00:00`");
    expect_cfg_err(__LINE__, "server:\n  jwt:\n    users:\n" USER1 "        old_cred_exp: '2030-02-30 00:00:00'\n",
                   "invalid time");
    expect_cfg_err(
        __LINE__,
        "server:\n  jwt:\n    users:\n      u:\n        password: x\n        secret: ${VIGIL_TEST_UNSET_VAR}\n",
        "environment variable `VIGIL_TEST_UNSET_VAR` is not set");
    expect_cfg_err(__LINE__, "server:\n  jwt:\n    users:\n      'a b':\n        password: x\n",
                   "server.jwt.users: invalid user name `a b`");
}

/* ---------- strength rules at serve start ---------- */

static void test_validation(void)
{
    CHECK(vg_auth_jwt_weakness(PASS1, SECRET1) == NULL);
    /* Signatory's TestValidateSecret cases (password valid, secret varies) */
    static const struct {
        const char *secret, *want;
    } cases[] = {
        {"Secret1!Secret1!Secret1!Secret1", "secret should be at least 32 characters"},
        {"secretsecretsecretsecretsecrets1", "secret should contain at least one uppercase character"},
        {"SECRETSECRETSECRETSECRETSECRETS1", "secret should contain at least one lowercase character"},
        {"SecretSecretSecretSecretSecretSe", "secret should contain at least one digit"},
        {"SecretSecretSecretSecretSecretS1", "secret should contain at least one special character"},
        {"SecretSecretSecretSecretSecret 1", NULL}, /* a space is a printable special character */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = vg_auth_jwt_weakness("SecretSecretSecretSecretSecretS1#$", cases[i].secret);
        CHECK_MSG(got == cases[i].want || (got && cases[i].want && strcmp(got, cases[i].want) == 0), "%zu: %s", i,
                  got ? got : "(ok)");
    }
    CHECK_STR(vg_auth_jwt_weakness("short", SECRET1), "password should be at least 16 characters");
    CHECK_STR(vg_auth_jwt_weakness("aaaaaaaaaaaaaaaa1!", SECRET1),
              "password should contain at least one uppercase character");
    CHECK_STR(vg_auth_jwt_weakness("", SECRET1), "password should be at least 16 characters");

    expect_auth_err(__LINE__, "server:\n  jwt:\n    users:\n      u:\n        password: p\n",
                    "JWT: config validation failed for user u: password should be at least 16 characters");
    expect_auth_err(__LINE__, "server:\n  jwt:\n    users:\n      u:\n        password: '" PASS1 "'\n",
                    "JWT: config validation failed for user u: secret should be at least 32 characters");
    expect_auth_err(__LINE__,
                    "server:\n  jwt:\n    users:\n" USER1 "        new_data: {password: '" PASS1 "', secret: '" SECRET2
                    "'}\n",
                    "JWT: new credentials are same as old for user username1");
    expect_auth_err(__LINE__,
                    "server:\n  jwt:\n    users:\n" USER1 "        new_data: {password: '" PASS2 "', secret: '" SECRET1
                    "'}\n",
                    "JWT: new credentials are same as old for user username1");
    expect_auth_err(__LINE__,
                    "server:\n  jwt:\n    users:\n" USER1 "        new_data: {password: '" PASS2 "', secret: short}\n",
                    "JWT: config validation failed for new credentials of user username1: secret should be at least "
                    "32 characters");
}

/* ---------- JWT login and verification ---------- */

static void b64url(const uint8_t *in, size_t len, char *out)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = al[v >> 18 & 63];
        out[o++] = al[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = al[v >> 6 & 63];
        if (i + 2 < len)
            out[o++] = al[v & 63];
    }
    out[o] = '\0';
}

static char *make_token(const char *header_json, const char *claims_json, const char *sig_segment)
{
    char *t = malloc(4096);
    char h[1024], c[1024];
    b64url((const uint8_t *)header_json, strlen(header_json), h);
    b64url((const uint8_t *)claims_json, strlen(claims_json), c);
    snprintf(t, 4096, "%s.%s.%s", h, c, sig_segment);
    return t;
}

/* An HMAC-signed token built independently of vigil (OpenSSL HMAC). libjwt 1.10's encoder cannot
 * be used while vg_json_init's allocator is installed (it frees json_dumps output with free()). */
static char *signed_token(const char *alg, const char *secret, const char *claims_json)
{
    const EVP_MD *md = strcmp(alg, "HS384") == 0   ? EVP_sha384()
                       : strcmp(alg, "HS512") == 0 ? EVP_sha512()
                                                   : EVP_sha256();
    char header[64];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    char *t = make_token(header, claims_json, "");
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(md, secret, (int)strlen(secret), (const uint8_t *)t, strlen(t) - 1, mac, &maclen);
    b64url(mac, maclen, t + strlen(t));
    return t;
}

static char *hs_token(const char *alg, const char *secret, const char *user, long exp)
{
    char claims[256];
    snprintf(claims, sizeof claims, "{\"exp\":%ld,\"user\":\"%s\"}", exp, user);
    return signed_token(alg, secret, claims);
}

static void expect_check(int line, vg_auth *a, const char *authz, const char *user, const char *want_exact,
                         const char *want_part)
{
    vg_err err = {0};
    int rc = vg_auth_jwt_check(a, authz, user, &err);
    if (want_exact == NULL && want_part == NULL) {
        CHECK_MSG(rc == 0, "line %d: expected success, got '%s'", line, err.msg);
        return;
    }
    bool ok = rc < 0 && err.kind == VG_E_UNAUTHORIZED &&
              (want_exact != NULL ? strcmp(err.msg, want_exact) == 0 : strstr(err.msg, want_part) != NULL);
    CHECK_MSG(ok, "line %d: want '%s', got rc=%d '%s'", line, want_exact ? want_exact : want_part, rc, err.msg);
}

static void test_jwt(void)
{
    vg_config cfg;
    fake_now_ms = 1700000000000LL;
    vg_auth *a = auth_from("server:\n  jwt:\n    users:\n" USER1 "        jwt_exp: 1\n"
                           "      username2:\n        password: '" PASS2 "'\n        secret: '" SECRET1 "'\n",
                           &cfg);
    CHECK(a != NULL && vg_auth_has_jwt(a) && !vg_auth_has_keys(a) && vg_auth_key_count(a) == 0);
    if (a == NULL)
        return;
    vg_err err = {0};
    char *tok = NULL;

    /* login errors */
    CHECK(vg_auth_jwt_login(a, NULL, PASS1, &tok, &err) < 0 && err.kind == VG_E_UNAUTHORIZED &&
          strcmp(err.msg, "username and password required") == 0);
    CHECK(vg_auth_jwt_login(a, "username1", "", &tok, &err) < 0 &&
          strcmp(err.msg, "username and password required") == 0);
    CHECK(vg_auth_jwt_login(a, "username3", PASS1, &tok, &err) < 0 && strcmp(err.msg, "Access denied") == 0);
    CHECK(vg_auth_jwt_login(a, "username2", PASS1, &tok, &err) < 0 && strcmp(err.msg, "Access denied") == 0);
    CHECK(vg_auth_jwt_login(a, "username1", PASS1 "x", &tok, &err) < 0 && strcmp(err.msg, "Access denied") == 0);
    CHECK(tok == NULL);

    /* login: HS256, {"exp","user"}, byte-identical to golang-jwt's output for the same claims */
    CHECK_MSG(vg_auth_jwt_login(a, "username1", PASS1, &tok, &err) == 0, "%s", err.msg);
    if (tok == NULL) {
        vg_auth_free(a);
        vg_config_free(&cfg);
        return;
    }
    char *expected =
        make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"exp\":1700000060,\"user\":\"username1\"}", "");
    CHECK_MSG(strncmp(tok, expected, strlen(expected)) == 0, "%s vs %s", tok, expected);
    free(expected);
    char authz[4200];
    snprintf(authz, sizeof authz, "Bearer %s", tok);

    expect_check(__LINE__, a, authz, "username1", NULL, NULL);
    expect_check(__LINE__, a, NULL, "username1", "token required", NULL);
    expect_check(__LINE__, a, "", "username1", "token required", NULL);
    expect_check(__LINE__, a, authz, NULL, "JWT: user not found", NULL);
    expect_check(__LINE__, a, authz, "nobody", "JWT: user not found", NULL);
    /* username2 shares the secret, so the token verifies but names another user */
    expect_check(__LINE__, a, authz, "username2", "JWT: invalid token", NULL);
    /* "Bearer" without the space: the whole value is parsed, the header is not JSON */
    char nospace[4200];
    snprintf(nospace, sizeof nospace, "Bearer%s", tok);
    expect_check(__LINE__, a, nospace, "username1", NULL, "looking for beginning of value");
    expect_check(__LINE__, a, nospace, "username1",
                 "token is malformed: could not JSON decode header: invalid character '\\x05' looking for beginning of "
                 "value",
                 NULL);
    expect_check(__LINE__, a, "Bearer invalid-token", "username1",
                 "token is malformed: token contains an invalid number of segments", NULL);
    expect_check(__LINE__, a, "Bearer a.b.c.d", "username1", NULL, "invalid number of segments");
    expect_check(__LINE__, a, "Bearer a=.b.c", "username1",
                 "token is malformed: could not base64 decode header: illegal base64 data at input byte 1", NULL);

    /* tampered payload: user2's claims with user1's signature (Signatory TestSignatureIsVerified) */
    const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char c2[256], tampered[4200];
    const char *claims2 = "{\"exp\":9999999999,\"user\":\"username2\"}";
    b64url((const uint8_t *)claims2, strlen(claims2), c2);
    snprintf(tampered, sizeof tampered, "Bearer %.*s.%s%s", (int)(dot1 - tok), tok, c2, dot2);
    expect_check(__LINE__, a, tampered, "username2", "token signature is invalid: signature is invalid", NULL);
    /* a flipped signature character */
    snprintf(tampered, sizeof tampered, "Bearer %s", tok);
    char *last = tampered + strlen(tampered) - 2;
    *last = *last == 'A' ? 'B' : 'A';
    expect_check(__LINE__, a, tampered, "username1", NULL, "signature is invalid");

    /* alg none (Signatory TestAlgNoneAttack), with and without a signature segment */
    char *none = make_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"exp\":9999999999,\"user\":\"username1\"}",
                            "8x-WJhWP7IXiyeFYTaxNg6IlJrXB9_2xvgUS3O_3aeE");
    snprintf(authz, sizeof authz, "Bearer %s", none);
    expect_check(__LINE__, a, authz, "username1", "token is unverifiable: 'none' signature type is not allowed", NULL);
    free(none);
    none = make_token("{\"alg\":\"none\"}", "{\"user\":\"username1\"}", "");
    snprintf(authz, sizeof authz, "Bearer %s", none);
    expect_check(__LINE__, a, authz, "username1", NULL, "'none' signature type is not allowed");
    free(none);
    /* other algs: RS256 with an HMAC secret, unknown alg, no alg */
    char *rs = make_token("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{\"user\":\"username1\"}", "AAAA");
    snprintf(authz, sizeof authz, "Bearer %s", rs);
    expect_check(__LINE__, a, authz, "username1", "token signature is invalid: key is of invalid type", NULL);
    free(rs);
    rs = make_token("{\"alg\":\"XX1\"}", "{\"user\":\"username1\"}", "AAAA");
    snprintf(authz, sizeof authz, "Bearer %s", rs);
    expect_check(__LINE__, a, authz, "username1", "token is unverifiable: signing method (alg) is unavailable", NULL);
    free(rs);
    rs = make_token("{\"typ\":\"JWT\"}", "{\"user\":\"username1\"}", "AAAA");
    snprintf(authz, sizeof authz, "Bearer %s", rs);
    expect_check(__LINE__, a, authz, "username1", "token is unverifiable: signing method (alg) is unspecified", NULL);
    free(rs);
    rs = make_token("{\"alg\":\"HS256\"}", "[1]", "AAAA");
    snprintf(authz, sizeof authz, "Bearer %s", rs);
    expect_check(__LINE__, a, authz, "username1",
                 "token is malformed: could not JSON decode claim: json: cannot unmarshal array into Go value of type "
                 "jwt.MapClaims",
                 NULL);
    free(rs);

    /* HS384 and HS512 are accepted (any HMAC alg), and a wrong secret is refused */
    long exp = (long)(fake_now_ms / 1000 + 30);
    char *t384 = hs_token("HS384", SECRET1, "username1", exp);
    char *t512 = hs_token("HS512", SECRET1, "username1", exp);
    char *twrong = hs_token("HS256", SECRET2, "username1", exp);
    snprintf(authz, sizeof authz, "Bearer %s", t384);
    expect_check(__LINE__, a, authz, "username1", NULL, NULL);
    snprintf(authz, sizeof authz, "Bearer %s", t512);
    expect_check(__LINE__, a, authz, "username1", NULL, NULL);
    snprintf(authz, sizeof authz, "Bearer %s", twrong);
    expect_check(__LINE__, a, authz, "username1", "token signature is invalid: signature is invalid", NULL);
    free(t384);
    free(t512);
    free(twrong);
    /* claims: exp as a string, nbf in the future, no user claim */
    char *odd = signed_token("HS256", SECRET1, "{\"exp\":\"soon\",\"user\":\"username1\"}");
    snprintf(authz, sizeof authz, "Bearer %s", odd);
    expect_check(__LINE__, a, authz, "username1", "token has invalid claims: invalid type for claim: exp is invalid",
                 NULL);
    free(odd);
    odd = signed_token("HS256", SECRET1, "{\"nbf\":1900000000,\"user\":\"username1\"}");
    snprintf(authz, sizeof authz, "Bearer %s", odd);
    expect_check(__LINE__, a, authz, "username1", "token has invalid claims: token is not valid yet", NULL);
    free(odd);
    odd = signed_token("HS256", SECRET1, "{\"sub\":\"username1\"}");
    snprintf(authz, sizeof authz, "Bearer %s", odd);
    expect_check(__LINE__, a, authz, "username1", "JWT: invalid token", NULL);
    free(odd);
    /* our own HS256 construction matches the independent one byte for byte */
    odd = hs_token("HS256", SECRET1, "username1", 1700000060);
    snprintf(authz, sizeof authz, "Bearer %s", odd);
    expect_check(__LINE__, a, authz, "username1", NULL, NULL);
    CHECK_MSG(strcmp(odd, tok) == 0, "%s vs %s", odd, tok);
    free(odd);

    /* expiry: jwt_exp 1 minute; valid at +59.999 s, expired at +60 s (golang-jwt: now >= exp) */
    snprintf(authz, sizeof authz, "Bearer %s", tok);
    fake_now_ms += 59999;
    expect_check(__LINE__, a, authz, "username1", NULL, NULL);
    fake_now_ms += 1;
    expect_check(__LINE__, a, authz, "username1", "token has invalid claims: token is expired", NULL);
    free(tok);

    /* default jwt_exp: 60 minutes */
    fake_now_ms = 1700000000000LL;
    CHECK(vg_auth_jwt_login(a, "username2", PASS2, &tok, &err) == 0);
    if (tok != NULL) {
        expected = make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"exp\":1700003600,\"user\":\"username2\"}", "");
        CHECK(strncmp(tok, expected, strlen(expected)) == 0);
        free(expected);
        free(tok);
    }
    vg_auth_free(a);
    vg_config_free(&cfg);
}

/* ---------- rotation ---------- */

static char *login_ok(vg_auth *a, const char *user, const char *pass)
{
    vg_err err = {0};
    char *tok = NULL;
    int rc = vg_auth_jwt_login(a, user, pass, &tok, &err);
    CHECK_MSG(rc == 0, "login %s: %s", user, err.msg);
    return tok;
}

static void test_rotation(void)
{
    vg_config cfg;
    vg_err err = {0};
    char authz[4200];
    char *tok;

    /* no old_cred_exp: the new set replaces the old one at start */
    fake_now_ms = 1900000000000LL;
    vg_auth *a = auth_from("server:\n  jwt:\n    users:\n" USER1 "        new_data: {password: '" PASS2
                           "', secret: '" SECRET2 "'}\n",
                           &cfg);
    if (a != NULL) {
        CHECK(vg_auth_jwt_login(a, "username1", PASS1, &tok, &err) < 0 && strcmp(err.msg, "Access denied") == 0);
        tok = login_ok(a, "username1", PASS2);
        snprintf(authz, sizeof authz, "Bearer %s", tok ? tok : "");
        expect_check(__LINE__, a, authz, "username1", NULL, NULL);
        free(tok);
        char *old = hs_token("HS256", SECRET1, "username1", 1900000100);
        snprintf(authz, sizeof authz, "Bearer %s", old);
        expect_check(__LINE__, a, authz, "username1", "token signature is invalid: signature is invalid", NULL);
        free(old);
        vg_auth_free(a);
        vg_config_free(&cfg);
    }

    /* old_cred_exp in the past (1900000000 = 2030-03-17 17:46:40 UTC): applied at start too */
    a = auth_from("server:\n  jwt:\n    users:\n" USER1 "        old_cred_exp: '2030-03-17 17:46:39'\n"
                  "        new_data: {password: '" PASS2 "', secret: '" SECRET2 "'}\n",
                  &cfg);
    if (a != NULL) {
        CHECK(vg_auth_jwt_login(a, "username1", PASS1, &tok, &err) < 0);
        free(login_ok(a, "username1", PASS2));
        vg_auth_free(a);
        vg_config_free(&cfg);
    }

    /* future old_cred_exp: both sets work until then, then only the new one */
    a = auth_from("server:\n  jwt:\n    users:\n" USER1 "        jwt_exp: 120\n"
                  "        old_cred_exp: '2030-03-17 17:47:40'\n"
                  "        new_data: {password: '" PASS2 "', secret: '" SECRET2 "', jwt_exp: 3}\n",
                  &cfg);
    if (a == NULL)
        return;
    char *old_tok = login_ok(a, "username1", PASS1);
    char *new_tok = login_ok(a, "username1", PASS2);
    char *expected =
        make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"exp\":1900000180,\"user\":\"username1\"}", "");
    CHECK_MSG(new_tok != NULL && strncmp(new_tok, expected, strlen(expected)) == 0, "new set's jwt_exp: %s",
              new_tok ? new_tok : "");
    free(expected);
    snprintf(authz, sizeof authz, "Bearer %s", old_tok ? old_tok : "");
    expect_check(__LINE__, a, authz, "username1", NULL, NULL);
    char authz_new[4200];
    snprintf(authz_new, sizeof authz_new, "Bearer %s", new_tok ? new_tok : "");
    expect_check(__LINE__, a, authz_new, "username1", NULL, NULL); /* verified with the new secret (issue 711) */
    /* a token signed with neither secret */
    char *stranger = hs_token("HS256", "!Neither0ldNorNewSecretButLongEnough", "username1", 1900000100);
    char authz_s[4200];
    snprintf(authz_s, sizeof authz_s, "Bearer %s", stranger);
    expect_check(__LINE__, a, authz_s, "username1", "token signature is invalid: signature is invalid", NULL);
    free(stranger);

    fake_now_ms = 1900000060000LL - 1; /* one millisecond before old_cred_exp */
    free(login_ok(a, "username1", PASS1));
    fake_now_ms = 1900000060000LL;
    CHECK(vg_auth_jwt_login(a, "username1", PASS1, &tok, &err) < 0 && strcmp(err.msg, "Access denied") == 0);
    free(login_ok(a, "username1", PASS2));
    expect_check(__LINE__, a, authz, "username1", "token signature is invalid: signature is invalid", NULL);
    expect_check(__LINE__, a, authz_new, "username1", NULL, NULL);
    free(old_tok);
    free(new_tok);
    vg_auth_free(a);
    vg_config_free(&cfg);
}

/* ---------- per-key jwt_users ---------- */

static void test_policy_users(void)
{
    vg_config cfg;
    vg_err err = {0};
    const char *y = "server:\n  jwt:\n    users:\n" USER1 "      username2:\n        password: '" PASS2
                    "'\n        secret: '" SECRET1 "'\ntezos:\n  " TZ1 ":\n    jwt_users: [username1]\n"
                    "  tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb:\n";
    CHECK_MSG(parse(y, &cfg, &err) == 0, "%s", err.msg);
    if (cfg.n_policies != 2)
        return;
    const vg_policy *p = &cfg.policies[0], *open = &cfg.policies[1];
    CHECK(vg_policy_check_jwt_user(p, "username1", &err) == 0);
    CHECK(vg_policy_check_jwt_user(p, "username2", &err) < 0 && err.kind == VG_E_FORBIDDEN);
    CHECK_STR(err.msg, "user `username2' is not authorized to access " TZ1);
    CHECK(vg_policy_check_jwt_user(p, NULL, &err) < 0 && strcmp(err.msg, "authentication required") == 0);
    CHECK(vg_policy_check_jwt_user(open, "username2", &err) == 0);
    CHECK(vg_policy_check_jwt_user(open, NULL, &err) == 0);
    char desc[256];
    vg_policy_describe(p, desc, sizeof desc);
    CHECK(strstr(desc, "jwt users: 1") != NULL);
    vg_config_free(&cfg);
}

int main(void)
{
    vt_init();
    vg_json_init();
    vg_log_set_level(VG_LOG_ERROR);
    test_key_types();
    test_config();
    test_validation();
    test_jwt();
    test_rotation();
    test_policy_users();
    if (vt_failures > 0)
        return vt_done("test_auth");
    vt_require_shared();
    test_vector();
    return vt_done("test_auth");
}
