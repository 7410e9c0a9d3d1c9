/* Secret keys from PKCS#8 (PEM or DER) via OpenSSL: Ed25519, secp256k1, P-256 — what HSM and
 * cloud tooling export. The raw secret is copied into a vg_key (secure memory); OpenSSL's copy is
 * freed with EVP_PKEY_free, which clears private key material. */
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>

#include "common/secmem.h"
#include "crypto/key.h"

static EVP_PKEY *read_any(const uint8_t *buf, size_t len)
{
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL)
        return NULL;
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (pkey == NULL) {
        const unsigned char *p = buf;
        pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
    }
    BIO_free(bio);
    ERR_clear_error();
    return pkey;
}

int vg_key_from_pkcs8(const uint8_t *buf, size_t len, vg_key **out, vg_err *err)
{
    if (len > 16384)
        return vg_fail(err, VG_E_INVALID, "private key file too large");
    EVP_PKEY *pkey = read_any(buf, len);
    if (pkey == NULL)
        return vg_fail(err, VG_E_INVALID, "not a PEM or DER PKCS#8 private key");
    uint8_t *secret = vg_secure_alloc(VG_SECRET_LEN);
    int rc = -1;
    if (secret == NULL) {
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        goto out;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        size_t n = VG_SECRET_LEN;
        if (EVP_PKEY_get_raw_private_key(pkey, secret, &n) != 1 || n != VG_SECRET_LEN) {
            vg_fail(err, VG_E_INVALID, "Ed25519 private key: unexpected encoding");
            goto out;
        }
        rc = vg_key_from_secret(VG_KEY_ED25519, secret, VG_SECRET_LEN, out, err);
        goto out;
    }
    if (!EVP_PKEY_is_a(pkey, "EC")) {
        vg_fail(err, VG_E_INVALID, "unsupported key algorithm (want Ed25519, secp256k1 or P-256)");
        goto out;
    }
    char curve[64] = "";
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, NULL) != 1) {
        vg_fail(err, VG_E_INVALID, "EC private key without a named curve");
        goto out;
    }
    vg_key_type t;
    if (strcmp(curve, "secp256k1") == 0) {
        t = VG_KEY_SECP256K1;
    } else if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0) {
        t = VG_KEY_P256;
    } else {
        vg_fail(err, VG_E_INVALID, "unsupported curve %s (want secp256k1 or P-256)", curve);
        goto out;
    }
    BIGNUM *d = NULL;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
        BN_bn2binpad(d, secret, VG_SECRET_LEN) != VG_SECRET_LEN) {
        BN_clear_free(d);
        vg_fail(err, VG_E_INVALID, "EC private key: cannot read the scalar");
        goto out;
    }
    BN_clear_free(d);
    rc = vg_key_from_secret(t, secret, VG_SECRET_LEN, out, err);
out:
    vg_secure_free(secret);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}
