/* One key API over the four Tezos key types. Secret material lives in vg_secure_alloc memory
 * and is wiped by vg_key_free. All functions are thread-safe for concurrent use of one key.
 *
 * Signing follows Tezos conventions: Ed25519 and ECDSA sign BLAKE2b-256(msg); ECDSA uses RFC 6979
 * deterministic nonces and returns low-S r||s; BLS (min_pk: pk in G1, sig in G2) signs the raw msg
 * with the ciphersuite chosen by `version` (2 = POP DST, 1 = AUG with pk||msg, 0 = refused). */
#ifndef VIGIL_CRYPTO_KEY_H
#define VIGIL_CRYPTO_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Numbering = Tezos public_key_hash / public_key tag bytes. */
typedef enum {
    VG_KEY_ED25519 = 0,   /* tz1 */
    VG_KEY_SECP256K1 = 1, /* tz2 */
    VG_KEY_P256 = 2,      /* tz3 */
    VG_KEY_BLS = 3,       /* tz4 */
} vg_key_type;

#define VG_SECRET_LEN 32
#define VG_PUBKEY_MAX 48
#define VG_SIG_MAX 96

/* BLS signing versions (Signatory's `?version=`). */
#define VG_SIGN_V0 0
#define VG_SIGN_V1 1
#define VG_SIGN_V2 2

typedef struct vg_key vg_key;

const char *vg_key_type_name(vg_key_type t);   /* "ed25519", "secp256k1", "p256", "bls" */
size_t vg_pubkey_len(vg_key_type t);            /* 32, 33, 33, 48 */
size_t vg_sig_len(vg_key_type t);               /* 64, 64, 64, 96 */

/* Fresh key from the OS CSPRNG. */
int vg_key_generate(vg_key_type t, vg_key **out, vg_err *err);
/* From raw secret bytes: Ed25519 32-byte seed; ECDSA 32-byte big-endian scalar in [1,n-1];
 * BLS 32-byte big-endian scalar, nonzero and < r. The input is not retained (caller wipes it). */
int vg_key_from_secret(vg_key_type t, const uint8_t *secret, size_t len, vg_key **out, vg_err *err);
void vg_key_free(vg_key *k);
/* From a PKCS#8 private key, PEM or DER (Ed25519, secp256k1, P-256), as HSM and cloud tools export. */
int vg_key_from_pkcs8(const uint8_t *buf, size_t len, vg_key **out, vg_err *err);

vg_key_type vg_key_get_type(const vg_key *k);
/* Compressed public key: 32 (Ed25519), 33 (SEC1 compressed), 48 (G1 compressed) bytes. */
const uint8_t *vg_key_public(const vg_key *k, size_t *len);
/* Raw secret in the same format vg_key_from_secret takes. out must be a secure buffer. */
void vg_key_secret(const vg_key *k, uint8_t out[VG_SECRET_LEN]);

int vg_sign(const vg_key *k, const uint8_t *msg, size_t len, int version, uint8_t sig[VG_SIG_MAX],
            size_t *siglen, vg_err *err);
/* BLS proof of possession: sign the 48-byte pk with DST BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_. */
int vg_bls_prove_possession(const vg_key *k, uint8_t sig[96], vg_err *err);

/* Verification with the same conventions. ECDSA verification accepts high-S (as Tezos' verifiers
 * of client signatures do); use vg_ecdsa_is_low_s to check normalisation. Returns true iff valid.
 * vg_ecdsa_is_low_s is true for Ed25519/BLS (nothing to normalise). */
bool vg_verify(vg_key_type t, const uint8_t *pk, size_t pklen, const uint8_t *msg, size_t len, const uint8_t *sig,
               size_t siglen, int version);
bool vg_bls_verify_pop(const uint8_t pk[48], const uint8_t sig[96]);
bool vg_ecdsa_is_low_s(vg_key_type t, const uint8_t sig[64]);
/* Rewrites a high-S ECDSA r||s to low-S (s := n - s); no-op for low-S and non-ECDSA types. One place
 * for every vault whose signer may not normalise (HSMs, tee-signer's P-256). */
void vg_ecdsa_normalize(vg_key_type t, uint8_t sig[64]);

/* BLAKE2b-256 (unkeyed), the Tezos message digest and watermark digest. */
void vg_blake2b_256(const uint8_t *msg, size_t len, uint8_t out[32]);
void vg_blake2b_160(const uint8_t *msg, size_t len, uint8_t out[20]);

#endif
