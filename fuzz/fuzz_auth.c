/* Target: client authentication, src/daemon/auth.c -- everything a network client controls there:
 *   mode 0  the Authorization header + username header of every JWT-protected request
 *           (vg_auth_jwt_check: golang-jwt-compatible parsing, alg handling, libjwt HMAC check, claims);
 *   mode 1  the same, but the harness signs the input's header and claims JSON with the user's real
 *           HMAC secret (HS256/384/512 by byte 1), so the fuzzer reaches the claim checks (exp, nbf,
 *           user) behind the signature instead of only the signature gate;
 *   mode 2  POST /login's username/password headers (vg_auth_jwt_login);
 *   mode 3  ?authentication= over a request (vg_auth_verify_request with four client keys, one of
 *           each type; the target and request bytes come from the input too);
 *   mode 4  the same with a signature the harness makes with client key data[1] % 4 over the input's
 *           target and request: it must be accepted and identify that client.
 * Input: byte 0 = mode (mod 5), then fields separated by '\n'.
 * Invariants: every refusal is 401 (JWT) or 400/401/403 (authorized keys), never another kind; a
 * JWT accepted in mode 0/2 is accepted again (no state change); nothing crashes or leaks. The clock is
 * pinned (2026-01-01) so expiry decisions are reproducible. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/auth.h"
#include "crypto/key.h"
#include "daemon/config.h"
#include "fuzz_common.h"
#include "tezos/encoding.h"

#define PASS1 "87GridNEG3gKZ3I!"
#define SECRET1 "!sEtcU5RwLQYsA5qQ1c6zpo3FljQxfAKP"
#define PASS2 "RkB143NUCmok2f4!"
#define SECRET2 "*sEtcU5RwLQYsA5qQ1c6zpo3FljQxfAKP"
#define NOW_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

static vg_auth *jwt, *keys;
static vg_key *clients[4];
static vg_config jwt_cfg, keys_cfg;

static int64_t fixed_clock(void) { return NOW_MS; }

static vg_auth *make(const char *yaml, vg_config *cfg)
{
    vg_err err = {0};
    vg_auth *a = NULL;
    if (vg_config_parse(yaml, strlen(yaml), "fuzz.yaml", cfg, &err) < 0 || vg_auth_new(cfg, &a, &err) < 0) {
        vg_fuzz_say("fuzz_auth: setup: %s\n", err.msg);
        abort();
    }
    vg_auth_set_clock(a, fixed_clock);
    return a;
}

static void setup(void)
{
    vg_fuzz_init();
    jwt = make("server:\n  jwt:\n    users:\n"
               "      username1:\n        password: '" PASS1 "'\n        secret: '" SECRET1 "'\n        jwt_exp: 60\n"
               "      username2:\n        password: '" PASS2 "'\n        secret: '" SECRET2 "'\n"
               "        old_cred_exp: '2030-01-01 00:00:00'\n"
               "        new_data: {password: 'N3w-Passw0rd-For-Ops', secret: 'N3w-0ps-Secret-That-Is-Long-Enough'}\n",
               &jwt_cfg);
    /* One client key of each type, from fixed secrets. */
    char yaml[2048];
    size_t n = (size_t)snprintf(yaml, sizeof yaml, "server:\n  authorized_keys:\n");
    for (int t = 0; t < 4; t++) {
        uint8_t secret[32];
        memset(secret, 0x11 * (t + 1), sizeof secret);
        secret[31] &= 0x3f; /* BLS: little-endian scalar below r */
        vg_err err = {0};
        if (vg_key_from_secret((vg_key_type)t, secret, sizeof secret, &clients[t], &err) < 0) {
            vg_fuzz_say("fuzz_auth: client key %d: %s\n", t, err.msg);
            abort();
        }
        size_t pklen;
        const uint8_t *pk = vg_key_public(clients[t], &pklen);
        char text[VG_B58_MAX];
        vg_pubkey_format((vg_key_type)t, pk, pklen, text);
        n += (size_t)snprintf(yaml + n, sizeof yaml - n, "    - %s\n", text);
    }
    keys = make(yaml, &keys_cfg);
}

/* Splits data at the first '\n' into NUL-terminated a and b (b empty if none). */
static void split2(const uint8_t *data, size_t size, char *a, size_t acap, char *b, size_t bcap)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t alen = nl ? (size_t)(nl - data) : size;
    size_t blen = nl ? size - alen - 1 : 0;
    if (alen >= acap)
        alen = acap - 1;
    if (blen >= bcap)
        blen = bcap - 1;
    memcpy(a, data, alen);
    a[alen] = '\0';
    if (nl)
        memcpy(b, nl + 1, blen);
    b[blen] = '\0';
}

static void check_jwt(const char *authorization, const char *user)
{
    vg_err err = {0};
    if (vg_auth_jwt_check(jwt, authorization, user, &err) < 0) {
        if (err.kind != VG_E_UNAUTHORIZED) {
            vg_fuzz_say("fuzz_auth: JWT refusal of kind %d: %s\n", err.kind, err.msg);
            abort();
        }
        if (vg_fuzz_verbose())
            vg_fuzz_say("jwt: %s\n", err.msg);
        return;
    }
    if (vg_fuzz_verbose())
        vg_fuzz_say("jwt: accepted for %s\n", user);
    if (vg_auth_jwt_check(jwt, authorization, user, &err) < 0)
        abort();
}

static size_t b64url(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > cap)
        return 0;
    sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return strlen(out);
}

/* "Bearer " + b64(header) "." b64(claims) "." b64(HMAC-SHA-(256|384|512)(secret, signing input)). */
static void signed_token(int alg, const char *header, const char *claims, const char *secret, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "Bearer ");
    n += b64url((const uint8_t *)header, strlen(header), out + n, cap - n);
    out[n++] = '.';
    n += b64url((const uint8_t *)claims, strlen(claims), out + n, cap - n);
    const char *input = out + 7;
    size_t input_len = n - 7;
    uint8_t mac[64];
    size_t mac_len;
    if (alg == 0) {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret, strlen(secret));
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)input, input_len);
        crypto_auth_hmacsha256_final(&st, mac);
        mac_len = 32;
    } else {
        /* HS384 is HMAC-SHA-384, which libsodium lacks: use HS512 for both (HS384 then fails the
         * signature check, which is also worth exercising). */
        crypto_auth_hmacsha512_state st;
        crypto_auth_hmacsha512_init(&st, (const uint8_t *)secret, strlen(secret));
        crypto_auth_hmacsha512_update(&st, (const uint8_t *)input, input_len);
        crypto_auth_hmacsha512_final(&st, mac);
        mac_len = 64;
    }
    out[n++] = '.';
    b64url(mac, mac_len, out + n, cap - n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (jwt == NULL)
        setup();
    if (size < 1 || size > 16384)
        return 0;
    int mode = data[0] % 5;
    static char a[16384], b[16384], tok[40000];
    vg_err err = {0};
    switch (mode) {
    case 0:
        split2(data + 1, size - 1, a, sizeof a, b, sizeof b);
        check_jwt(a, b[0] != '\0' ? b : "username1");
        check_jwt(a, NULL);
        break;
    case 1: {
        if (size < 2)
            return 0;
        int alg = data[1] % 3;
        split2(data + 2, size - 2, a, 4096, b, 4096);
        int who = data[1] & 0x10 ? 2 : 1;
        signed_token(alg, a, b, who == 1 ? SECRET1 : SECRET2, tok, sizeof tok);
        check_jwt(tok, who == 1 ? "username1" : "username2");
        break;
    }
    case 2: {
        split2(data + 1, size - 1, a, sizeof a, b, sizeof b);
        char *token = NULL;
        if (vg_auth_jwt_login(jwt, a, b, &token, &err) < 0) {
            if (err.kind != VG_E_UNAUTHORIZED)
                abort();
        } else {
            /* A token just issued must pass the check for its own user. */
            snprintf(tok, sizeof tok, "Bearer %s", token);
            free(token);
            err = (vg_err){0};
            if (vg_auth_jwt_check(jwt, tok, a, &err) < 0) {
                vg_fuzz_say("fuzz_auth: fresh token refused: %s\n", err.msg);
                abort();
            }
        }
        break;
    }
    case 4: {
        /* byte 1: client; then target (type byte + 20) and the request bytes */
        if (size < 2 + 21)
            return 0;
        int c = data[1] % 4;
        vg_pkh target = {.type = (vg_key_type)(data[2] & 3)};
        memcpy(target.hash, data + 3, 20);
        const uint8_t *msg = data + 23;
        size_t msg_len = size - 23;
        uint8_t *signed_bytes = NULL, sig[VG_SIG_MAX];
        size_t signed_len = 0, sig_len = 0;
        if (vg_auth_signed_bytes(&target, msg, msg_len, &signed_bytes, &signed_len, &err) < 0 ||
            vg_sign(clients[c], signed_bytes, signed_len, 2, sig, &sig_len, &err) < 0) {
            vg_fuzz_say("fuzz_auth: cannot make the client signature: %s\n", err.msg);
            abort();
        }
        free(signed_bytes);
        vg_signature_format((vg_key_type)c, sig, sig_len, a);
        vg_pkh client, want;
        size_t pklen;
        const uint8_t *pk = vg_key_public(clients[c], &pklen);
        vg_pkh_from_pubkey((vg_key_type)c, pk, pklen, &want);
        if (vg_auth_verify_request(keys, &target, msg, msg_len, a, &client, &err) < 0 || client.type != want.type ||
            memcmp(client.hash, want.hash, 20) != 0) {
            vg_fuzz_say("fuzz_auth: a valid client signature was refused: %s\n", err.msg);
            abort();
        }
        break;
    }
    case 3: {
        /* signature \n target pkh (binary: type byte + 20) followed by the request bytes */
        const uint8_t *nl = memchr(data + 1, '\n', size - 1);
        size_t slen = nl ? (size_t)(nl - (data + 1)) : size - 1;
        if (slen >= sizeof a)
            return 0;
        memcpy(a, data + 1, slen);
        a[slen] = '\0';
        const uint8_t *rest = nl ? nl + 1 : data + size;
        size_t rlen = (size_t)(data + size - rest);
        vg_pkh target = {.type = VG_KEY_ED25519};
        if (rlen >= 21) {
            target.type = (vg_key_type)(rest[0] & 3);
            memcpy(target.hash, rest + 1, 20);
            rest += 21;
            rlen -= 21;
        }
        vg_pkh client;
        if (vg_auth_verify_request(keys, &target, rest, rlen, slen > 0 ? a : NULL, &client, &err) < 0 &&
            err.kind != VG_E_INVALID && err.kind != VG_E_UNAUTHORIZED && err.kind != VG_E_FORBIDDEN) {
            vg_fuzz_say("fuzz_auth: authentication refusal of kind %d: %s\n", err.kind, err.msg);
            abort();
        }
        break;
    }
    }
    return 0;
}
