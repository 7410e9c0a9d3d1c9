/* Private to src/crypto (and its unit tests): the per-algorithm table behind key.h, and test hooks
 * that reach below the public API (RFC 6979 known answers, IETF BLS KeyGen vectors). */
#ifndef VIGIL_CRYPTO_KEY_IMPL_H
#define VIGIL_CRYPTO_KEY_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/key.h"

/* Immutable after creation: `sec` is a read-only vg_secure_alloc region of ops->sec_len bytes. */
struct vg_key {
    const struct vg_key_ops *ops;
    uint8_t *sec;
    uint8_t pub[VG_PUBKEY_MAX];
};

/* One row per algorithm; key.c never switches on the type. */
struct vg_key_ops {
    vg_key_type type;
    const char *name;
    size_t pub_len;
    size_t sig_len;
    size_t sec_len; /* bytes of secure storage; a multiple of 16 so sodium_malloc keeps alignment */
    const uint8_t *n;      /* ECDSA: the group order, big-endian; NULL for other schemes */
    const uint8_t *half_n; /* ECDSA: floor(n/2) big-endian, the low-S bound; NULL for other schemes */
    /* Fresh raw secret (the format `load` takes) from the OS CSPRNG. */
    void (*random_secret)(uint8_t out[VG_SECRET_LEN]);
    /* Validates a raw 32-byte secret and fills the secure storage and the public key. */
    int (*load)(const uint8_t secret[VG_SECRET_LEN], uint8_t *sec, uint8_t *pub, vg_err *err);
    void (*export_secret)(const uint8_t *sec, uint8_t out[VG_SECRET_LEN]);
    int (*sign)(const struct vg_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig, vg_err *err);
    bool (*verify)(const uint8_t *pk, const uint8_t *msg, size_t len, const uint8_t *sig, int version);
};

extern const struct vg_key_ops vg_ed25519_ops;
extern const struct vg_key_ops vg_secp256k1_ops;
extern const struct vg_key_ops vg_p256_ops;
extern const struct vg_key_ops vg_bls_ops;

/* True iff the 32-byte big-endian s is at most (n-1)/2 for the curve order n (also big-endian). */
bool vg_ecdsa_scalar_is_low_s(const uint8_t s[32], const uint8_t half_n[32]);
/* s := n - s for a public big-endian s in [1, n-1] (the low-S normalisation). */
void vg_ecdsa_scalar_negate(uint8_t s[32], const uint8_t n[32]);
/* Constant-time big-endian comparison: true iff 0 < x < n. */
bool vg_ecdsa_scalar_in_range(const uint8_t x[32], const uint8_t n[32]);

/* P-256 ECDSA over a given 32-byte digest with RFC 6979 nonces (HMAC-SHA256, h1 = digest). Writes r||s
 * as computed (before low-S) to rs and, when k_out is not NULL, the nonce (test use only: k is secret). */
int vg_p256_sign_digest_raw(const uint8_t d[32], const uint8_t digest[32], uint8_t rs[64], uint8_t *k_out,
                            vg_err *err);

/* BLS key from input keying material with IETF KeyGen (blst_keygen, no key_info); ikm >= 32 bytes. */
int vg_bls_key_from_ikm(const uint8_t *ikm, size_t len, vg_key **out, vg_err *err);

#endif
