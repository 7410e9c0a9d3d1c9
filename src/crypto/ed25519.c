/* Ed25519 (tz1) via libsodium. Tezos signs BLAKE2b-256(msg), not msg itself. */
#include <sodium.h>
#include <string.h>

#include "crypto/key_impl.h"

/* Secure storage is libsodium's 64-byte secret key: seed || public key. */
#define ED25519_SEC_LEN crypto_sign_SECRETKEYBYTES

static void ed25519_random_secret(uint8_t out[VG_SECRET_LEN]) { randombytes_buf(out, VG_SECRET_LEN); }

static int ed25519_load(const uint8_t seed[VG_SECRET_LEN], uint8_t *sec, uint8_t *pub, vg_err *err)
{
    if (crypto_sign_seed_keypair(pub, sec, seed) != 0)
        return vg_fail(err, VG_E_INTERNAL, "ed25519: key derivation failed");
    return 0;
}

static void ed25519_export_secret(const uint8_t *sec, uint8_t out[VG_SECRET_LEN])
{
    memcpy(out, sec, VG_SECRET_LEN);
}

static int ed25519_sign(const vg_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig, vg_err *err)
{
    (void)version; /* versions only choose the BLS scheme */
    uint8_t digest[32];
    vg_blake2b_256(msg, len, digest);
    if (crypto_sign_detached(sig, NULL, digest, sizeof digest, k->sec) != 0)
        return vg_fail(err, VG_E_INTERNAL, "ed25519: signing failed");
    return 0;
}

static bool ed25519_verify(const uint8_t *pk, const uint8_t *msg, size_t len, const uint8_t *sig, int version)
{
    (void)version;
    uint8_t digest[32];
    vg_blake2b_256(msg, len, digest);
    return crypto_sign_verify_detached(sig, digest, sizeof digest, pk) == 0;
}

const struct vg_key_ops vg_ed25519_ops = {
    .type = VG_KEY_ED25519,
    .name = "ed25519",
    .pub_len = crypto_sign_PUBLICKEYBYTES,
    .sig_len = crypto_sign_BYTES,
    .sec_len = ED25519_SEC_LEN,
    .half_n = NULL,
    .random_secret = ed25519_random_secret,
    .load = ed25519_load,
    .export_secret = ed25519_export_secret,
    .sign = ed25519_sign,
    .verify = ed25519_verify,
};
