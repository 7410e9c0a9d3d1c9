/* secp256k1 ECDSA (tz2) via libsecp256k1: RFC 6979 nonces (the library default), low-S r||s. */
#include <pthread.h>
#include <secp256k1.h>
#include <sodium.h>
#include <string.h>

#include "common/secmem.h"
#include "crypto/key_impl.h"

static const uint8_t SECP256K1_N[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};
static const uint8_t SECP256K1_HALF_N[32] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};

/* One context for the process, randomized once (blinding against side channels) and never
 * modified afterwards: libsecp256k1 allows concurrent use of a context through const calls. */
static secp256k1_context *shared_ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_create(void)
{
    secp256k1_context *c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (c == NULL)
        return;
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    int ok = secp256k1_context_randomize(c, seed);
    vg_wipe(seed, sizeof seed);
    if (!ok) {
        secp256k1_context_destroy(c);
        return;
    }
    shared_ctx = c;
}

static const secp256k1_context *ctx_get(void)
{
    pthread_once(&ctx_once, ctx_create);
    return shared_ctx;
}

static void secp256k1_random_secret(uint8_t out[VG_SECRET_LEN]) { randombytes_buf(out, VG_SECRET_LEN); }

static int secp256k1_load(const uint8_t secret[VG_SECRET_LEN], uint8_t *sec, uint8_t *pub, vg_err *err)
{
    const secp256k1_context *ctx = ctx_get();
    if (ctx == NULL)
        return vg_fail(err, VG_E_INTERNAL, "secp256k1: context creation failed");
    if (!secp256k1_ec_seckey_verify(ctx, secret))
        return vg_fail(err, VG_E_INVALID, "secp256k1 secret key: scalar must be in [1, n-1]");
    secp256k1_pubkey pk;
    size_t pklen = 33;
    if (!secp256k1_ec_pubkey_create(ctx, &pk, secret) ||
        !secp256k1_ec_pubkey_serialize(ctx, pub, &pklen, &pk, SECP256K1_EC_COMPRESSED))
        return vg_fail(err, VG_E_INTERNAL, "secp256k1: public key derivation failed");
    memcpy(sec, secret, VG_SECRET_LEN);
    return 0;
}

static void secp256k1_export_secret(const uint8_t *sec, uint8_t out[VG_SECRET_LEN])
{
    memcpy(out, sec, VG_SECRET_LEN);
}

static int secp256k1_sign(const vg_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig, vg_err *err)
{
    (void)version;
    const secp256k1_context *ctx = ctx_get();
    if (ctx == NULL)
        return vg_fail(err, VG_E_INTERNAL, "secp256k1: context creation failed");
    uint8_t digest[32];
    vg_blake2b_256(msg, len, digest);
    secp256k1_ecdsa_signature s;
    if (!secp256k1_ecdsa_sign(ctx, &s, digest, k->sec, NULL, NULL))
        return vg_fail(err, VG_E_INTERNAL, "secp256k1: signing failed");
    /* libsecp256k1 already returns low-S; normalising again keeps the guarantee explicit. */
    secp256k1_ecdsa_signature_normalize(ctx, &s, &s);
    secp256k1_ecdsa_signature_serialize_compact(ctx, sig, &s);
    return 0;
}

/* Accepts high-S (Tezos verifiers of client signatures do): a normalised copy is verified. */
static bool secp256k1_verify(const uint8_t *pk, const uint8_t *msg, size_t len, const uint8_t *sig, int version)
{
    (void)version;
    const secp256k1_context *ctx = ctx_get();
    if (ctx == NULL)
        return false;
    secp256k1_pubkey p;
    secp256k1_ecdsa_signature s;
    if (!secp256k1_ec_pubkey_parse(ctx, &p, pk, 33) || !secp256k1_ecdsa_signature_parse_compact(ctx, &s, sig))
        return false;
    secp256k1_ecdsa_signature_normalize(ctx, &s, &s);
    uint8_t digest[32];
    vg_blake2b_256(msg, len, digest);
    return secp256k1_ecdsa_verify(ctx, &s, digest, &p) == 1;
}

const struct vg_key_ops vg_secp256k1_ops = {
    .type = VG_KEY_SECP256K1,
    .name = "secp256k1",
    .pub_len = 33,
    .sig_len = 64,
    .sec_len = VG_SECRET_LEN,
    .n = SECP256K1_N,
    .half_n = SECP256K1_HALF_N,
    .random_secret = secp256k1_random_secret,
    .load = secp256k1_load,
    .export_secret = secp256k1_export_secret,
    .sign = secp256k1_sign,
    .verify = secp256k1_verify,
};
