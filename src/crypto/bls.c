/* BLS12-381 min_pk (tz4) via blst: public keys in G1 (48 bytes compressed), signatures in G2 (96).
 * spec: shared/specs/signatory.md#10.1 "version 2 (default) ... DST BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_;
 * version 1, message augmentation, DST ..._AUG_, message = 48-byte compressed pk || raw bytes; version 0 refused". */
#include <blst.h>
#include <sodium.h>
#include <string.h>

#include "common/secmem.h"
#include "crypto/key_impl.h"

#define BLS_PUB_LEN 48
#define BLS_SIG_LEN 96
#define BLS_IKM_MIN 32 /* IETF KeyGen requires at least 32 bytes of keying material */

static const char DST_SIG_POP[] = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
static const char DST_SIG_AUG[] = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_AUG_";
static const char DST_POP_PROOF[] = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/* What a signing version means for BLS: the DST, and whether the public key is prepended. */
struct bls_scheme {
    const char *dst;
    size_t dst_len;
    bool augmented;
};

static bool scheme_for_version(int version, struct bls_scheme *out)
{
    switch (version) {
    case VG_SIGN_V1:
        *out = (struct bls_scheme){DST_SIG_AUG, sizeof DST_SIG_AUG - 1, true};
        return true;
    case VG_SIGN_V2:
        *out = (struct bls_scheme){DST_SIG_POP, sizeof DST_SIG_POP - 1, false};
        return true;
    default:
        return false;
    }
}

static void sign_hashed(const blst_scalar *sk, const uint8_t *msg, size_t len, const char *dst, size_t dst_len,
                        const uint8_t *aug, size_t aug_len, uint8_t sig[BLS_SIG_LEN])
{
    blst_p2 point;
    blst_hash_to_g2(&point, msg, len, (const byte *)dst, dst_len, aug, aug_len);
    blst_sign_pk_in_g1(&point, &point, sk);
    blst_p2_compress(sig, &point);
}

/* Full checks on untrusted bytes: valid encodings, pk not the identity, both in their subgroups. */
static bool verify_hashed(const uint8_t pk[BLS_PUB_LEN], const uint8_t *msg, size_t len, const uint8_t sig[BLS_SIG_LEN],
                          const char *dst, size_t dst_len, const uint8_t *aug, size_t aug_len)
{
    blst_p1_affine p;
    blst_p2_affine s;
    if (blst_p1_uncompress(&p, pk) != BLST_SUCCESS || blst_p1_affine_is_inf(&p) || !blst_p1_affine_in_g1(&p))
        return false;
    if (blst_p2_uncompress(&s, sig) != BLST_SUCCESS || !blst_p2_affine_in_g2(&s))
        return false;
    return blst_core_verify_pk_in_g1(&p, &s, true, msg, len, (const byte *)dst, dst_len, aug, aug_len) ==
           BLST_SUCCESS;
}

static void secret_from_ikm(const uint8_t *ikm, size_t len, uint8_t out[VG_SECRET_LEN])
{
    blst_scalar sk;
    blst_keygen(&sk, ikm, len, NULL, 0);
    blst_bendian_from_scalar(out, &sk);
    vg_wipe(&sk, sizeof sk);
}

static void bls_random_secret(uint8_t out[VG_SECRET_LEN])
{
    uint8_t ikm[BLS_IKM_MIN];
    randombytes_buf(ikm, sizeof ikm);
    secret_from_ikm(ikm, sizeof ikm, out);
    vg_wipe(ikm, sizeof ikm);
}

/* Secure storage holds the blst_scalar itself (a byte array, so no alignment needs). */
static int bls_load(const uint8_t secret[VG_SECRET_LEN], uint8_t *sec, uint8_t *pub, vg_err *err)
{
    blst_scalar *sk = (blst_scalar *)sec;
    blst_scalar_from_bendian(sk, secret);
    if (!blst_sk_check(sk))
        return vg_fail(err, VG_E_INVALID, "bls secret key: scalar must be nonzero and below the group order");
    blst_p1 pk;
    blst_sk_to_pk_in_g1(&pk, sk);
    blst_p1_compress(pub, &pk);
    return 0;
}

static void bls_export_secret(const uint8_t *sec, uint8_t out[VG_SECRET_LEN])
{
    blst_bendian_from_scalar(out, (const blst_scalar *)sec);
}

static int bls_sign(const vg_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig, vg_err *err)
{
    struct bls_scheme sch;
    if (version == VG_SIGN_V0)
        return vg_fail(err, VG_E_INVALID, "signing version 0 is not supported for BLS keys");
    if (!scheme_for_version(version, &sch))
        return vg_fail(err, VG_E_INVALID, "signing version %d is not supported for BLS keys", version);
    sign_hashed((const blst_scalar *)k->sec, msg, len, sch.dst, sch.dst_len, sch.augmented ? k->pub : NULL,
                sch.augmented ? BLS_PUB_LEN : 0, sig);
    return 0;
}

static bool bls_verify(const uint8_t *pk, const uint8_t *msg, size_t len, const uint8_t *sig, int version)
{
    struct bls_scheme sch;
    if (!scheme_for_version(version, &sch))
        return false;
    return verify_hashed(pk, msg, len, sig, sch.dst, sch.dst_len, sch.augmented ? pk : NULL,
                         sch.augmented ? BLS_PUB_LEN : 0);
}

int vg_bls_prove_possession(const vg_key *k, uint8_t sig[96], vg_err *err)
{
    if (k == NULL || sig == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_bls_prove_possession: missing argument");
    if (k->ops != &vg_bls_ops)
        return vg_fail(err, VG_E_INVALID, "proof of possession is only defined for BLS keys, not %s", k->ops->name);
    sign_hashed((const blst_scalar *)k->sec, k->pub, BLS_PUB_LEN, DST_POP_PROOF, sizeof DST_POP_PROOF - 1, NULL, 0,
                sig);
    return 0;
}

bool vg_bls_verify_pop(const uint8_t pk[48], const uint8_t sig[96])
{
    if (pk == NULL || sig == NULL)
        return false;
    return verify_hashed(pk, pk, BLS_PUB_LEN, sig, DST_POP_PROOF, sizeof DST_POP_PROOF - 1, NULL, 0);
}

int vg_bls_key_from_ikm(const uint8_t *ikm, size_t len, vg_key **out, vg_err *err)
{
    if (ikm == NULL || len < BLS_IKM_MIN)
        return vg_fail(err, VG_E_INVALID, "bls key generation: want at least %d bytes of keying material",
                       BLS_IKM_MIN);
    uint8_t *secret = vg_secure_alloc(VG_SECRET_LEN);
    if (secret == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
    secret_from_ikm(ikm, len, secret);
    int rc = vg_key_from_secret(VG_KEY_BLS, secret, VG_SECRET_LEN, out, err);
    vg_secure_free(secret);
    return rc;
}

const struct vg_key_ops vg_bls_ops = {
    .type = VG_KEY_BLS,
    .name = "bls",
    .pub_len = BLS_PUB_LEN,
    .sig_len = BLS_SIG_LEN,
    .sec_len = sizeof(blst_scalar),
    .half_n = NULL,
    .random_secret = bls_random_secret,
    .load = bls_load,
    .export_secret = bls_export_secret,
    .sign = bls_sign,
    .verify = bls_verify,
};
