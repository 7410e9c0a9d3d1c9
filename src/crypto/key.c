/* The algorithm-independent half of key.h: allocation, secure storage, dispatch by table. */
#include "crypto/key.h"

#include <sodium.h>
#include <stdlib.h>

#include "common/secmem.h"
#include "crypto/key_impl.h"

/* Indexed by vg_key_type (the Tezos tag). */
static const struct vg_key_ops *const KEY_OPS[] = {
    &vg_ed25519_ops,
    &vg_secp256k1_ops,
    &vg_p256_ops,
    &vg_bls_ops,
};

/* Generating a secret in range fails with negligible probability (P-256: about 2^-32 per draw). */
#define GENERATE_ATTEMPTS 16

static const struct vg_key_ops *ops_for(vg_key_type t)
{
    if ((unsigned)t >= sizeof KEY_OPS / sizeof KEY_OPS[0])
        return NULL;
    return KEY_OPS[t];
}

const char *vg_key_type_name(vg_key_type t)
{
    const struct vg_key_ops *ops = ops_for(t);
    return ops != NULL ? ops->name : "unknown";
}

size_t vg_pubkey_len(vg_key_type t)
{
    const struct vg_key_ops *ops = ops_for(t);
    return ops != NULL ? ops->pub_len : 0;
}

size_t vg_sig_len(vg_key_type t)
{
    const struct vg_key_ops *ops = ops_for(t);
    return ops != NULL ? ops->sig_len : 0;
}

int vg_key_from_secret(vg_key_type t, const uint8_t *secret, size_t len, vg_key **out, vg_err *err)
{
    if (out == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_key_from_secret: no output");
    *out = NULL;
    const struct vg_key_ops *ops = ops_for(t);
    if (ops == NULL)
        return vg_fail(err, VG_E_INVALID, "unknown key type %d", (int)t);
    if (secret == NULL || len != VG_SECRET_LEN)
        return vg_fail(err, VG_E_INVALID, "%s secret key: want %d bytes, got %zu", ops->name, VG_SECRET_LEN,
                       secret == NULL ? (size_t)0 : len);
    vg_key *k = calloc(1, sizeof *k);
    if (k == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    k->ops = ops;
    k->sec = vg_secure_alloc(ops->sec_len);
    if (k->sec == NULL) {
        free(k);
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
    }
    if (ops->load(secret, k->sec, k->pub, err) < 0) {
        vg_key_free(k);
        return -1;
    }
    /* Immutable from here on: concurrent signers only read, and a stray write faults. */
    (void)sodium_mprotect_readonly(k->sec);
    *out = k;
    return 0;
}

int vg_key_generate(vg_key_type t, vg_key **out, vg_err *err)
{
    if (out == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_key_generate: no output");
    *out = NULL;
    const struct vg_key_ops *ops = ops_for(t);
    if (ops == NULL)
        return vg_fail(err, VG_E_INVALID, "unknown key type %d", (int)t);
    uint8_t *secret = vg_secure_alloc(VG_SECRET_LEN);
    if (secret == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
    int rc = -1;
    for (int i = 0; i < GENERATE_ATTEMPTS && rc < 0; i++) {
        ops->random_secret(secret);
        rc = vg_key_from_secret(t, secret, VG_SECRET_LEN, out, err);
    }
    vg_secure_free(secret);
    return rc;
}

void vg_key_free(vg_key *k)
{
    if (k == NULL)
        return;
    vg_secure_free(k->sec);
    free(k);
}

vg_key_type vg_key_get_type(const vg_key *k) { return k->ops->type; }

const uint8_t *vg_key_public(const vg_key *k, size_t *len)
{
    if (len != NULL)
        *len = k->ops->pub_len;
    return k->pub;
}

void vg_key_secret(const vg_key *k, uint8_t out[VG_SECRET_LEN]) { k->ops->export_secret(k->sec, out); }

int vg_sign(const vg_key *k, const uint8_t *msg, size_t len, int version, uint8_t sig[VG_SIG_MAX], size_t *siglen,
            vg_err *err)
{
    if (siglen != NULL)
        *siglen = 0;
    if (k == NULL || sig == NULL || (msg == NULL && len != 0))
        return vg_fail(err, VG_E_INTERNAL, "vg_sign: missing argument");
    if (k->ops->sign(k, msg, len, version, sig, err) < 0)
        return -1;
    if (siglen != NULL)
        *siglen = k->ops->sig_len;
    return 0;
}

bool vg_verify(vg_key_type t, const uint8_t *pk, size_t pklen, const uint8_t *msg, size_t len, const uint8_t *sig,
               size_t siglen, int version)
{
    const struct vg_key_ops *ops = ops_for(t);
    if (ops == NULL || pk == NULL || sig == NULL || (msg == NULL && len != 0))
        return false;
    if (pklen != ops->pub_len || siglen != ops->sig_len)
        return false;
    return ops->verify(pk, msg, len, sig, version);
}

void vg_ecdsa_normalize(vg_key_type t, uint8_t sig[64])
{
    const struct vg_key_ops *ops = ops_for(t);
    if (ops != NULL && ops->n != NULL && !vg_ecdsa_scalar_is_low_s(sig + 32, ops->half_n))
        vg_ecdsa_scalar_negate(sig + 32, ops->n);
}

/* Schemes without an S component have nothing to normalise, so they count as low-S. */
bool vg_ecdsa_is_low_s(vg_key_type t, const uint8_t sig[64])
{
    const struct vg_key_ops *ops = ops_for(t);
    if (ops == NULL || ops->half_n == NULL)
        return ops != NULL;
    return vg_ecdsa_scalar_is_low_s(sig + 32, ops->half_n);
}
