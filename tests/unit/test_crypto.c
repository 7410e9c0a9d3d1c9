/* Crypto core: known answers (RFC 6979, Taquito, Octez BLS vectors, derived Signatory vectors), round
 * trips, tampering, bad secrets, BLS versions, low-S, and concurrent signing with one key. */
#include "testlib.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <strings.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/key.h"
#include "crypto/key_impl.h"
#include "tezos/encoding.h"

static const vg_key_type ALL_TYPES[] = {VG_KEY_ED25519, VG_KEY_SECP256K1, VG_KEY_P256, VG_KEY_BLS};

static bool hex_eq(const uint8_t *b, size_t len, const char *hex)
{
    char buf[2 * 256 + 1];
    if (len > 256)
        return false;
    vg_hex_encode(b, len, buf);
    return strcasecmp(buf, hex) == 0;
}

/* Fixed-size hex into a caller buffer; the test fails (and zero-fills) on a length mismatch. */
static void unhex_exact(const char *hex, uint8_t *out, size_t len)
{
    size_t n = 0;
    uint8_t *b = vt_unhex(hex, &n);
    CHECK_MSG(b != NULL && n == len, "bad hex fixture %s", hex);
    memset(out, 0, len);
    if (b != NULL && n == len)
        memcpy(out, b, len);
    free(b);
}

static vg_key *key_from_hex(vg_key_type t, const char *hex)
{
    uint8_t secret[32];
    vg_key *k = NULL;
    vg_err err = {0};
    unhex_exact(hex, secret, sizeof secret);
    CHECK_MSG(vg_key_from_secret(t, secret, sizeof secret, &k, &err) == 0, "%s", err.msg);
    return k;
}

/* ---------------- RFC 6979 A.2.5 (P-256, SHA-256) ---------------- */

static void test_rfc6979_p256(void)
{
    static const char *X = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
    static const struct {
        const char *msg, *k, *r, *s;
    } cases[] = {
        {"sample", "a6e3c57dd01abe90086538398355dd4c3b17aa873382b0f24d6129493d8aad60",
         "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
         "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"},
        {"test", "d16b6ae827f17175e040871a1c7ec3500192c4c92677336ec2537acaee0008e0",
         "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367",
         "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083"},
    };
    uint8_t x[32];
    unhex_exact(X, x, sizeof x);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t digest[32], rs[64], k[32];
        crypto_hash_sha256(digest, (const uint8_t *)cases[i].msg, strlen(cases[i].msg));
        vg_err err = {0};
        CHECK_MSG(vg_p256_sign_digest_raw(x, digest, rs, k, &err) == 0, "%s", err.msg);
        CHECK_MSG(hex_eq(k, 32, cases[i].k), "k for %s", cases[i].msg);
        CHECK_MSG(hex_eq(rs, 32, cases[i].r), "r for %s", cases[i].msg);
        CHECK_MSG(hex_eq(rs + 32, 32, cases[i].s), "s for %s", cases[i].msg);
    }
    /* "sample" has a high s: the public signer must return n - s, and both must verify. */
    vg_key *key = key_from_hex(VG_KEY_P256, X);
    CHECK(key != NULL);
    if (key == NULL)
        return;
    CHECK(hex_eq(vg_key_public(key, NULL), 33, "0360fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"));
    uint8_t sig[VG_SIG_MAX];
    size_t siglen = 0;
    vg_err err = {0};
    for (int m = 0; m < 32; m++) {
        uint8_t msg[1] = {(uint8_t)m};
        CHECK(vg_sign(key, msg, sizeof msg, VG_SIGN_V2, sig, &siglen, &err) == 0 && siglen == 64);
        CHECK(vg_ecdsa_is_low_s(VG_KEY_P256, sig));
        CHECK(vg_verify(VG_KEY_P256, vg_key_public(key, NULL), 33, msg, sizeof msg, sig, 64, VG_SIGN_V2));
    }
    vg_key_free(key);
}

/* ---------------- round trips and tampering ---------------- */

static void check_round_trip(vg_key_type t)
{
    vg_key *a = NULL, *b = NULL;
    vg_err err = {0};
    CHECK_MSG(vg_key_generate(t, &a, &err) == 0, "%s: %s", vg_key_type_name(t), err.msg);
    CHECK_MSG(vg_key_generate(t, &b, &err) == 0, "%s: %s", vg_key_type_name(t), err.msg);
    if (a == NULL || b == NULL)
        goto out;
    CHECK(vg_key_get_type(a) == t);
    size_t pklen = 0;
    const uint8_t *pk = vg_key_public(a, &pklen);
    CHECK(pklen == vg_pubkey_len(t));

    uint8_t msg[150];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 3);
    uint8_t sig[VG_SIG_MAX], sig2[VG_SIG_MAX];
    size_t siglen = 0, siglen2 = 0;
    CHECK_MSG(vg_sign(a, msg, sizeof msg, VG_SIGN_V2, sig, &siglen, &err) == 0, "%s", err.msg);
    CHECK(siglen == vg_sig_len(t));
    CHECK(vg_verify(t, pk, pklen, msg, sizeof msg, sig, siglen, VG_SIGN_V2));
    /* All four schemes are deterministic (ECDSA through RFC 6979). */
    CHECK(vg_sign(a, msg, sizeof msg, VG_SIGN_V2, sig2, &siglen2, &err) == 0);
    CHECK(siglen2 == siglen && memcmp(sig, sig2, siglen) == 0);
    CHECK(vg_ecdsa_is_low_s(t, sig));
    /* Empty messages are signable. */
    CHECK(vg_sign(a, NULL, 0, VG_SIGN_V2, sig2, &siglen2, &err) == 0);
    CHECK(vg_verify(t, pk, pklen, NULL, 0, sig2, siglen2, VG_SIGN_V2));

    /* Tampering: every 13th bit of the signature, the message, the key, the lengths. */
    for (size_t bit = 0; bit < siglen * 8; bit += 13) {
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        CHECK_MSG(!vg_verify(t, pk, pklen, msg, sizeof msg, sig, siglen, VG_SIGN_V2), "%s bit %zu",
                  vg_key_type_name(t), bit);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    msg[17] ^= 1;
    CHECK(!vg_verify(t, pk, pklen, msg, sizeof msg, sig, siglen, VG_SIGN_V2));
    msg[17] ^= 1;
    CHECK(!vg_verify(t, vg_key_public(b, NULL), pklen, msg, sizeof msg, sig, siglen, VG_SIGN_V2));
    CHECK(!vg_verify(t, pk, pklen - 1, msg, sizeof msg, sig, siglen, VG_SIGN_V2));
    CHECK(!vg_verify(t, pk, pklen, msg, sizeof msg, sig, siglen - 1, VG_SIGN_V2));
    CHECK(!vg_verify(t, pk, pklen, msg, sizeof msg - 1, sig, siglen, VG_SIGN_V2));

    /* The exported secret rebuilds the same key. */
    uint8_t *secret = vg_secure_alloc(VG_SECRET_LEN);
    vg_key *c = NULL;
    vg_key_secret(a, secret);
    CHECK(vg_key_from_secret(t, secret, VG_SECRET_LEN, &c, &err) == 0);
    CHECK(c != NULL && memcmp(vg_key_public(c, NULL), pk, pklen) == 0);
    vg_key_free(c);
    vg_secure_free(secret);
out:
    vg_key_free(a);
    vg_key_free(b);
}

static void test_round_trips(void)
{
    for (size_t i = 0; i < sizeof ALL_TYPES / sizeof ALL_TYPES[0]; i++)
        check_round_trip(ALL_TYPES[i]);
    CHECK_STR(vg_key_type_name(VG_KEY_ED25519), "ed25519");
    CHECK_STR(vg_key_type_name(VG_KEY_SECP256K1), "secp256k1");
    CHECK_STR(vg_key_type_name(VG_KEY_P256), "p256");
    CHECK_STR(vg_key_type_name(VG_KEY_BLS), "bls");
    CHECK(vg_pubkey_len(VG_KEY_ED25519) == 32 && vg_pubkey_len(VG_KEY_SECP256K1) == 33 &&
          vg_pubkey_len(VG_KEY_P256) == 33 && vg_pubkey_len(VG_KEY_BLS) == 48);
    CHECK(vg_sig_len(VG_KEY_ED25519) == 64 && vg_sig_len(VG_KEY_SECP256K1) == 64 && vg_sig_len(VG_KEY_P256) == 64 &&
          vg_sig_len(VG_KEY_BLS) == 96);
}

/* ECDSA verification accepts the high-S twin of a valid signature; vg_ecdsa_is_low_s tells them apart. */
static void test_high_s_accepted(void)
{
    static const struct {
        vg_key_type t;
        const char *n;
    } curves[] = {
        {VG_KEY_SECP256K1, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"},
        {VG_KEY_P256, "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"},
    };
    for (size_t c = 0; c < 2; c++) {
        vg_key *k = NULL;
        vg_err err = {0};
        CHECK(vg_key_generate(curves[c].t, &k, &err) == 0);
        if (k == NULL)
            continue;
        uint8_t n[32], sig[VG_SIG_MAX];
        size_t siglen;
        unhex_exact(curves[c].n, n, sizeof n);
        const uint8_t msg[] = "high-s";
        CHECK(vg_sign(k, msg, sizeof msg, VG_SIGN_V2, sig, &siglen, &err) == 0);
        unsigned borrow = 0;
        for (int i = 31; i >= 0; i--) {
            unsigned v = (unsigned)n[i] - sig[32 + i] - borrow;
            sig[32 + i] = (uint8_t)v;
            borrow = (v >> 8) & 1u;
        }
        CHECK(!vg_ecdsa_is_low_s(curves[c].t, sig));
        CHECK(vg_verify(curves[c].t, vg_key_public(k, NULL), 33, msg, sizeof msg, sig, 64, VG_SIGN_V2));
        vg_key_free(k);
    }
}

static void expect_bad_secret(vg_key_type t, const char *hex, size_t len)
{
    uint8_t secret[40] = {0};
    if (hex != NULL)
        unhex_exact(hex, secret, 32);
    vg_key *k = (vg_key *)&k; /* must be cleared on failure */
    vg_err err = {0};
    CHECK_MSG(vg_key_from_secret(t, secret, len, &k, &err) == -1, "%s accepted %s", vg_key_type_name(t),
              hex ? hex : "(zeros)");
    CHECK(k == NULL);
    CHECK_MSG(err.kind == VG_E_INVALID, "%s: %s", vg_key_type_name(t), err.msg);
    if (hex != NULL)
        CHECK_MSG(strstr(err.msg, hex) == NULL, "secret in error message: %s", err.msg);
}

static void test_bad_secrets(void)
{
    static const char *SECP_N = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    static const char *P256_N = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    static const char *BLS_R = "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001";
    static const char *ONES = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    for (size_t i = 0; i < sizeof ALL_TYPES / sizeof ALL_TYPES[0]; i++) {
        expect_bad_secret(ALL_TYPES[i], NULL, 31);
        expect_bad_secret(ALL_TYPES[i], NULL, 33);
        expect_bad_secret(ALL_TYPES[i], NULL, 0);
    }
    expect_bad_secret(VG_KEY_SECP256K1, NULL, 32);
    expect_bad_secret(VG_KEY_P256, NULL, 32);
    expect_bad_secret(VG_KEY_BLS, NULL, 32);
    expect_bad_secret(VG_KEY_SECP256K1, SECP_N, 32);
    expect_bad_secret(VG_KEY_P256, P256_N, 32);
    expect_bad_secret(VG_KEY_BLS, BLS_R, 32);
    expect_bad_secret(VG_KEY_SECP256K1, ONES, 32);
    expect_bad_secret(VG_KEY_P256, ONES, 32);
    expect_bad_secret(VG_KEY_BLS, ONES, 32);
    expect_bad_secret((vg_key_type)9, ONES, 32);

    /* n - 1 and 1 are the extremes that must work; any Ed25519 seed is valid. */
    vg_key *k = key_from_hex(VG_KEY_SECP256K1, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140");
    vg_key_free(k);
    k = key_from_hex(VG_KEY_P256, "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550");
    vg_key_free(k);
    k = key_from_hex(VG_KEY_BLS, "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000000");
    vg_key_free(k);
    k = key_from_hex(VG_KEY_BLS, "0000000000000000000000000000000000000000000000000000000000000001");
    vg_key_free(k);
    k = key_from_hex(VG_KEY_ED25519, "0000000000000000000000000000000000000000000000000000000000000000");
    vg_key_free(k);

    vg_key *out = NULL;
    vg_err err = {0};
    uint8_t ikm[31] = {0};
    CHECK(vg_bls_key_from_ikm(ikm, sizeof ikm, &out, &err) == -1 && err.kind == VG_E_INVALID && out == NULL);
}

/* ---------------- BLS versions and proof of possession ---------------- */

static void test_bls_versions(void)
{
    vg_key *k = NULL, *ed = NULL;
    vg_err err = {0};
    CHECK(vg_key_generate(VG_KEY_BLS, &k, &err) == 0);
    CHECK(vg_key_generate(VG_KEY_ED25519, &ed, &err) == 0);
    if (k == NULL || ed == NULL)
        goto out;
    const uint8_t *pk = vg_key_public(k, NULL);
    const uint8_t msg[] = "bls versions";
    uint8_t s1[VG_SIG_MAX], s2[VG_SIG_MAX];
    size_t len = 99;

    CHECK(vg_sign(k, msg, sizeof msg, VG_SIGN_V0, s1, &len, &err) == -1 && len == 0);
    CHECK(err.kind == VG_E_INVALID);
    CHECK_STR(err.msg, "signing version 0 is not supported for BLS keys");
    CHECK(vg_sign(k, msg, sizeof msg, 3, s1, &len, &err) == -1 && err.kind == VG_E_INVALID);
    CHECK(vg_sign(k, msg, sizeof msg, -1, s1, &len, &err) == -1 && err.kind == VG_E_INVALID);

    CHECK(vg_sign(k, msg, sizeof msg, VG_SIGN_V1, s1, &len, &err) == 0 && len == 96);
    CHECK(vg_sign(k, msg, sizeof msg, VG_SIGN_V2, s2, &len, &err) == 0 && len == 96);
    CHECK(memcmp(s1, s2, 96) != 0);
    CHECK(vg_verify(VG_KEY_BLS, pk, 48, msg, sizeof msg, s1, 96, VG_SIGN_V1));
    CHECK(!vg_verify(VG_KEY_BLS, pk, 48, msg, sizeof msg, s1, 96, VG_SIGN_V2));
    CHECK(vg_verify(VG_KEY_BLS, pk, 48, msg, sizeof msg, s2, 96, VG_SIGN_V2));
    CHECK(!vg_verify(VG_KEY_BLS, pk, 48, msg, sizeof msg, s2, 96, VG_SIGN_V1));
    CHECK(!vg_verify(VG_KEY_BLS, pk, 48, msg, sizeof msg, s2, 96, VG_SIGN_V0));

    /* Version only matters for BLS. */
    CHECK(vg_sign(ed, msg, sizeof msg, VG_SIGN_V0, s1, &len, &err) == 0);
    CHECK(vg_sign(ed, msg, sizeof msg, VG_SIGN_V2, s2, &len, &err) == 0 && memcmp(s1, s2, 64) == 0);

    uint8_t pop[96];
    CHECK(vg_bls_prove_possession(k, pop, &err) == 0);
    CHECK(vg_bls_verify_pop(pk, pop));
    CHECK(!vg_verify(VG_KEY_BLS, pk, 48, pk, 48, pop, 96, VG_SIGN_V2)); /* different DST */
    pop[5] ^= 0x10;
    CHECK(!vg_bls_verify_pop(pk, pop));
    CHECK(vg_bls_prove_possession(ed, pop, &err) == -1 && err.kind == VG_E_INVALID);

    /* The identity public key (0xc0 then zeros) must never verify. */
    uint8_t inf_pk[48] = {0xc0};
    uint8_t inf_sig[96] = {0xc0};
    CHECK(!vg_verify(VG_KEY_BLS, inf_pk, 48, msg, sizeof msg, inf_sig, 96, VG_SIGN_V2));
out:
    vg_key_free(k);
    vg_key_free(ed);
}

/* ---------------- one key, several signing threads ---------------- */

#define THREADS 4
#define THREAD_ROUNDS 20

struct thread_job {
    const vg_key *keys[4];
    uint8_t expect[4][VG_SIG_MAX];
    int failures;
};

static void *sign_worker(void *arg)
{
    struct thread_job *job = arg;
    const uint8_t msg[] = "concurrent";
    for (int r = 0; r < THREAD_ROUNDS; r++) {
        for (size_t i = 0; i < 4; i++) {
            uint8_t sig[VG_SIG_MAX];
            size_t len;
            vg_err err;
            vg_key_type t = vg_key_get_type(job->keys[i]);
            if (t == VG_KEY_BLS && r % 5 != 0)
                continue; /* BLS is slow: fewer rounds */
            if (vg_sign(job->keys[i], msg, sizeof msg, VG_SIGN_V2, sig, &len, &err) != 0 ||
                memcmp(sig, job->expect[i], len) != 0)
                __atomic_add_fetch(&job->failures, 1, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void test_concurrent_signing(void)
{
    struct thread_job job = {0};
    vg_key *keys[4] = {0};
    vg_err err;
    const uint8_t msg[] = "concurrent";
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        CHECK(vg_key_generate(ALL_TYPES[i], &keys[i], &err) == 0);
        if (keys[i] == NULL)
            goto out;
        job.keys[i] = keys[i];
        CHECK(vg_sign(keys[i], msg, sizeof msg, VG_SIGN_V2, job.expect[i], &len, &err) == 0);
    }
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, sign_worker, &job) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(job.failures == 0);
out:
    for (size_t i = 0; i < 4; i++)
        vg_key_free(keys[i]);
}

/* ---------------- shared vectors ---------------- */

static json_t *load_json(const char *rel)
{
    char path[512];
    json_error_t jerr;
    if (vt_vector_path(rel, path, sizeof path) == NULL)
        return NULL;
    json_t *j = json_load_file(path, 0, &jerr);
    CHECK_MSG(j != NULL, "%s: %s", rel, jerr.text);
    return j;
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    CHECK_MSG(s != NULL, "missing string %s", key);
    return s != NULL ? s : "";
}

static uint8_t *unhex_alloc(const char *hex, size_t *len)
{
    uint8_t *b = vt_unhex(hex, len);
    CHECK_MSG(b != NULL, "bad hex %.40s", hex);
    return b;
}

static vg_key *parse_secret(const char *sk)
{
    vg_key *k = NULL;
    vg_err err = {0};
    CHECK_MSG(vg_secret_key_parse(sk, &k, &err) == 0, "%s", err.msg);
    return k;
}

static void check_public(const vg_key *k, const char *pk_b58, const char *pkh_b58)
{
    char buf[VG_B58_MAX];
    size_t pklen;
    const uint8_t *pk = vg_key_public(k, &pklen);
    vg_pubkey_format(vg_key_get_type(k), pk, pklen, buf);
    CHECK_STR(buf, pk_b58);
    vg_pkh pkh;
    vg_pkh_from_pubkey(vg_key_get_type(k), pk, pklen, &pkh);
    vg_pkh_format(&pkh, buf);
    CHECK_STR(buf, pkh_b58);
}

static const vg_key *taquito_key(json_t *keys, vg_key *loaded[4], const char *kind)
{
    for (size_t i = 0; i < json_array_size(keys); i++)
        if (strcmp(jstr(json_array_get(keys, i), "kind"), kind) == 0)
            return loaded[i];
    return NULL;
}

static void test_taquito_signatures(void)
{
    json_t *doc = load_json("tezos/signatures_taquito.json");
    if (doc == NULL)
        return;
    json_t *keys = json_object_get(doc, "keys");
    vg_key *loaded[4] = {0};
    CHECK(json_array_size(keys) == 4);
    for (size_t i = 0; i < json_array_size(keys) && i < 4; i++) {
        json_t *kj = json_array_get(keys, i);
        loaded[i] = parse_secret(jstr(kj, "sk"));
        if (loaded[i] == NULL)
            continue;
        check_public(loaded[i], jstr(kj, "pk"), jstr(kj, "pkh"));
        CHECK(hex_eq(vg_key_public(loaded[i], NULL), vg_pubkey_len(vg_key_get_type(loaded[i])),
                     jstr(kj, "pk_payload_hex")));
    }
    json_t *vectors = json_object_get(doc, "vectors");
    size_t exact = 0, verified = 0;
    for (size_t i = 0; i < json_array_size(vectors); i++) {
        json_t *v = json_array_get(vectors, i);
        const vg_key *k = taquito_key(keys, loaded, jstr(v, "kind"));
        if (k == NULL)
            continue;
        vg_key_type t = vg_key_get_type(k);
        size_t wlen, blen;
        uint8_t *w = unhex_alloc(jstr(v, "watermark_hex"), &wlen);
        uint8_t *b = unhex_alloc(jstr(v, "bytes_hex"), &blen);
        uint8_t *msg = malloc(wlen + blen + 1);
        if (w == NULL || b == NULL || msg == NULL)
            goto next;
        memcpy(msg, w, wlen);
        memcpy(msg + wlen, b, blen);
        size_t mlen = wlen + blen;
        if (t != VG_KEY_BLS) {
            uint8_t digest[32];
            vg_blake2b_256(msg, mlen, digest);
            CHECK(hex_eq(digest, 32, jstr(v, "blake2b256_of_message_hex")));
        }
        uint8_t sig[VG_SIG_MAX], theirs[VG_SIG_MAX];
        size_t siglen = 0, theirlen = 0;
        vg_err err = {0};
        char b58[VG_B58_MAX];
        CHECK_MSG(vg_sign(k, msg, mlen, VG_SIGN_V2, sig, &siglen, &err) == 0, "%s", err.msg);
        CHECK(vg_verify(t, vg_key_public(k, NULL), vg_pubkey_len(t), msg, mlen, sig, siglen, VG_SIGN_V2));
        unhex_exact(jstr(v, "signature_hex"), theirs, vg_sig_len(t));
        theirlen = vg_sig_len(t);
        CHECK_MSG(vg_verify(t, vg_key_public(k, NULL), vg_pubkey_len(t), msg, mlen, theirs, theirlen, VG_SIGN_V2),
                  "their %s signature", vg_key_type_name(t));
        if (t == VG_KEY_ED25519 || t == VG_KEY_BLS) {
            CHECK_MSG(siglen == theirlen && memcmp(sig, theirs, siglen) == 0, "%s %s", jstr(v, "kind"),
                      jstr(v, "label"));
            vg_signature_format(t, sig, siglen, b58);
            CHECK_STR(b58, jstr(v, "signature"));
            exact++;
        } else {
            CHECK(vg_ecdsa_is_low_s(t, sig));
            CHECK(vg_ecdsa_is_low_s(t, theirs));
            verified++;
        }
        if (t != VG_KEY_BLS) {
            uint8_t generic[64];
            size_t glen;
            CHECK(vg_b58check_decode(VG_B58_SIG, jstr(v, "generic_sig"), generic, sizeof generic, &glen, &err) == 0);
            CHECK(glen == 64 && memcmp(generic, theirs, 64) == 0);
        }
    next:
        free(w);
        free(b);
        free(msg);
    }
    CHECK(exact == 8 && verified == 8);
    for (size_t i = 0; i < 4; i++)
        vg_key_free(loaded[i]);
    json_decref(doc);
}

static void test_derived_signatures(void)
{
    json_t *doc = load_json("signatory/derived_signatures.json");
    if (doc == NULL)
        return;
    json_t *signer = json_object_get(doc, "signer");
    vg_key *k = parse_secret(jstr(signer, "secret_key"));
    vg_err err = {0};
    if (k != NULL) {
        check_public(k, jstr(signer, "public_key"), jstr(signer, "pkh"));
        json_t *cases = json_object_get(doc, "cases");
        CHECK(json_array_size(cases) > 0);
        for (size_t i = 0; i < json_array_size(cases); i++) {
            json_t *c = json_array_get(cases, i);
            size_t mlen;
            uint8_t *msg = unhex_alloc(jstr(c, "message_hex"), &mlen);
            uint8_t sig[VG_SIG_MAX], digest[32];
            size_t siglen;
            char b58[VG_B58_MAX];
            vg_blake2b_256(msg, mlen, digest);
            CHECK(hex_eq(digest, 32, jstr(c, "blake2b_256_hex")));
            CHECK(vg_sign(k, msg, mlen, VG_SIGN_V2, sig, &siglen, &err) == 0);
            CHECK_MSG(hex_eq(sig, siglen, jstr(c, "signature_raw_hex")), "case %s", jstr(c, "name"));
            vg_signature_format(VG_KEY_ED25519, sig, siglen, b58);
            CHECK_STR(b58, jstr(c, "signature_edsig"));
            vg_b58check_encode(VG_B58_SIG, sig, siglen, b58);
            CHECK_STR(b58, jstr(c, "signature_generic_sig"));
            free(msg);
        }
        vg_key_free(k);
    }

    json_t *auth = json_object_get(doc, "authenticated_request");
    vg_key *client = parse_secret(jstr(auth, "client_secret_key"));
    if (client != NULL) {
        check_public(client, jstr(auth, "client_public_key"), jstr(auth, "client_pkh"));
        size_t mlen;
        uint8_t *msg = unhex_alloc(jstr(auth, "authenticated_bytes_hex"), &mlen);
        uint8_t sig[VG_SIG_MAX];
        size_t siglen;
        char b58[VG_B58_MAX];
        CHECK(vg_sign(client, msg, mlen, VG_SIGN_V2, sig, &siglen, &err) == 0);
        vg_signature_format(VG_KEY_ED25519, sig, siglen, b58);
        CHECK_STR(b58, jstr(auth, "signature_edsig"));
        free(msg);
        vg_key_free(client);
    }

    json_t *ecdsa = json_object_get(doc, "ecdsa_examples");
    CHECK(json_array_size(ecdsa) == 2);
    for (size_t i = 0; i < json_array_size(ecdsa); i++) {
        json_t *e = json_array_get(ecdsa, i);
        vg_key *ek = parse_secret(jstr(e, "secret_key"));
        if (ek == NULL)
            continue;
        vg_key_type t = vg_key_get_type(ek);
        check_public(ek, jstr(e, "public_key"), jstr(e, "pkh"));
        size_t mlen;
        uint8_t *msg = unhex_alloc(jstr(e, "message_hex"), &mlen);
        uint8_t theirs[64], ours[VG_SIG_MAX];
        size_t len;
        vg_b58_kind kind = t == VG_KEY_SECP256K1 ? VG_B58_SPSIG : VG_B58_P2SIG;
        CHECK(vg_b58check_decode(kind, jstr(e, "signature_b58"), theirs, sizeof theirs, &len, &err) == 0);
        CHECK(hex_eq(theirs, 64, jstr(e, "signature_raw_r_s_hex")));
        const uint8_t *pk = vg_key_public(ek, NULL);
        CHECK(vg_verify(t, pk, 33, msg, mlen, theirs, 64, VG_SIGN_V2));
        CHECK(vg_ecdsa_is_low_s(t, theirs) == json_is_true(json_object_get(e, "low_s_normalized")));
        CHECK(vg_sign(ek, msg, mlen, VG_SIGN_V2, ours, &len, &err) == 0);
        CHECK(vg_verify(t, pk, 33, msg, mlen, ours, 64, VG_SIGN_V2) && vg_ecdsa_is_low_s(t, ours));
        theirs[40] ^= 4;
        CHECK(!vg_verify(t, pk, 33, msg, mlen, theirs, 64, VG_SIGN_V2));
        free(msg);
        vg_key_free(ek);
    }
    json_decref(doc);
}

/* Lines "msg_hex ikm_hex sig_hex"; sk = KeyGen(ikm). Octez skips ikm shorter than 32 bytes, so do we. */
static size_t run_bls_file(const char *path, bool pop)
{
    size_t len = 0, done = 0;
    char *text = vt_read_file(path, &len);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    if (text == NULL)
        return 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *msg_hex = strtok(line, " ");
        char *ikm_hex = strtok(NULL, " ");
        char *sig_hex = strtok(NULL, " \r");
        CHECK(sig_hex != NULL);
        if (sig_hex == NULL || strlen(ikm_hex) < 64)
            continue;
        size_t mlen, ilen;
        uint8_t *msg = unhex_alloc(msg_hex, &mlen);
        uint8_t *ikm = unhex_alloc(ikm_hex, &ilen);
        vg_key *k = NULL;
        vg_err err = {0};
        CHECK_MSG(vg_bls_key_from_ikm(ikm, ilen, &k, &err) == 0, "%s", err.msg);
        if (k != NULL) {
            uint8_t sig[VG_SIG_MAX];
            size_t siglen = 96;
            if (pop)
                CHECK(vg_bls_prove_possession(k, sig, &err) == 0);
            else
                CHECK(vg_sign(k, msg, mlen, VG_SIGN_V2, sig, &siglen, &err) == 0);
            CHECK_MSG(hex_eq(sig, siglen, sig_hex), "%s line with ikm %s", path, ikm_hex);
            done++;
        }
        vg_key_free(k);
        free(msg);
        free(ikm);
    }
    free(text);
    return done;
}

static void test_bls_vector_files(void)
{
    static const char *dirs[] = {"tezos/bls_min_pk_pop/sig_g2_pop", "tezos/bls_min_pk_pop/pop_g2"};
    for (size_t d = 0; d < 2; d++) {
        char dir[512];
        if (vt_vector_path(dirs[d], dir, sizeof dir) == NULL)
            return;
        DIR *dh = opendir(dir);
        CHECK_MSG(dh != NULL, "cannot open %s", dir);
        if (dh == NULL)
            continue;
        size_t files = 0, lines = 0;
        struct dirent *de;
        while ((de = readdir(dh)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            lines += run_bls_file(path, d == 1);
            files++;
        }
        closedir(dh);
        CHECK_MSG(files == 12 && lines >= 500, "%s: %zu files, %zu lines", dirs[d], files, lines);
    }
}

int main(void)
{
    vt_init();
    test_rfc6979_p256();
    test_round_trips();
    test_high_s_accepted();
    test_bad_secrets();
    test_bls_versions();
    test_concurrent_signing();

    char probe[512];
    if (vt_vector_path("tezos", probe, sizeof probe) == NULL) {
        if (vt_failures == 0)
            vt_require_shared(); /* exits 77: the offline part passed, the vectors are missing */
        return vt_done("test_crypto");
    }
    test_taquito_signatures();
    test_derived_signatures();
    test_bls_vector_files();
    return vt_done("test_crypto");
}
