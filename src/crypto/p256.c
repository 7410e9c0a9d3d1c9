/* NIST P-256 ECDSA (tz3) with OpenSSL 3.0 primitives. OpenSSL 3.0 has no deterministic ECDSA, so the
 * RFC 6979 nonce and the signature equation are computed here; verification goes through EVP, an
 * independent path that would catch a mistake in the arithmetic below. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "common/secmem.h"
#include "crypto/key_impl.h"

#define P256_PUB_LEN 33
#define P256_SIG_DER_MAX 72

static const uint8_t P256_N[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const uint8_t P256_HALF_N[32] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
};

/* Process-wide, read-only after initialisation, so safe to share between signing threads. */
static struct {
    EC_GROUP *group;
    BIGNUM *n;
    BIGNUM *n_minus_2; /* Fermat exponent for the constant-time inverse k^(n-2) */
    BN_MONT_CTX *mont_n;
    EVP_MAC *hmac;
    bool ready;
} p256;
static pthread_once_t p256_once = PTHREAD_ONCE_INIT;

static void p256_init(void)
{
    BN_CTX *bn = BN_CTX_new();
    p256.group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    p256.n = BN_bin2bn(P256_N, sizeof P256_N, NULL);
    p256.n_minus_2 = BN_dup(p256.n);
    p256.mont_n = BN_MONT_CTX_new();
    p256.hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    p256.ready = bn != NULL && p256.group != NULL && p256.n != NULL && p256.n_minus_2 != NULL &&
                 p256.mont_n != NULL && p256.hmac != NULL && BN_sub_word(p256.n_minus_2, 2) &&
                 BN_MONT_CTX_set(p256.mont_n, p256.n, bn) && BN_cmp(EC_GROUP_get0_order(p256.group), p256.n) == 0;
    BN_CTX_free(bn);
    ERR_clear_error();
}

static bool p256_ready(void)
{
    pthread_once(&p256_once, p256_init);
    return p256.ready;
}

/* ---- RFC 6979 section 3.2 with HMAC-SHA256; qlen = hlen = 256, so bits2int is the identity. ---- */

struct rfc6979 {
    EVP_MAC_CTX *mac;
    uint8_t K[32];
    uint8_t V[32];
};

/* out = HMAC_K(a || b || c || d); absent parts are NULL. */
static bool hmac4(struct rfc6979 *st, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                  const uint8_t *c, size_t clen, const uint8_t *d, size_t dlen, uint8_t out[32])
{
    size_t outlen = 0;
    return EVP_MAC_init(st->mac, st->K, sizeof st->K, NULL) && EVP_MAC_update(st->mac, a, alen) &&
           (b == NULL || EVP_MAC_update(st->mac, b, blen)) && (c == NULL || EVP_MAC_update(st->mac, c, clen)) &&
           (d == NULL || EVP_MAC_update(st->mac, d, dlen)) && EVP_MAC_final(st->mac, out, &outlen, 32) &&
           outlen == 32;
}

/* Steps b-f: seeds K and V from x = int2octets(d) and bits2octets(h1). */
static bool rfc6979_init(struct rfc6979 *st, const uint8_t x[32], const uint8_t h1_mod_n[32])
{
    static const uint8_t zero = 0x00, one = 0x01;
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    st->mac = EVP_MAC_CTX_new(p256.hmac);
    if (st->mac == NULL || !EVP_MAC_CTX_set_params(st->mac, params))
        return false;
    memset(st->V, 0x01, sizeof st->V);
    memset(st->K, 0x00, sizeof st->K);
    return hmac4(st, st->V, 32, &zero, 1, x, 32, h1_mod_n, 32, st->K) &&
           hmac4(st, st->V, 32, NULL, 0, NULL, 0, NULL, 0, st->V) &&
           hmac4(st, st->V, 32, &one, 1, x, 32, h1_mod_n, 32, st->K) &&
           hmac4(st, st->V, 32, NULL, 0, NULL, 0, NULL, 0, st->V);
}

/* Step h: the next candidate T (to be range-checked by the caller); `retry` first applies the
 * K = HMAC_K(V || 0x00), V = HMAC_K(V) update that follows a rejected candidate. */
static bool rfc6979_next(struct rfc6979 *st, bool retry, uint8_t T[32])
{
    static const uint8_t zero = 0x00;
    if (retry && !(hmac4(st, st->V, 32, &zero, 1, NULL, 0, NULL, 0, st->K) &&
                   hmac4(st, st->V, 32, NULL, 0, NULL, 0, NULL, 0, st->V)))
        return false;
    if (!hmac4(st, st->V, 32, NULL, 0, NULL, 0, NULL, 0, st->V))
        return false;
    memcpy(T, st->V, 32);
    return true;
}

static void rfc6979_cleanup(struct rfc6979 *st)
{
    EVP_MAC_CTX_free(st->mac); /* cleanses the keyed HMAC state */
    vg_wipe(st, sizeof *st);
}

/* ---- signing ---- */

/* s = k^-1 (e + r d) mod n with Montgomery multiplications and a Fermat inverse, all on
 * BN_FLG_CONSTTIME values; BN_mod_mul/BN_mod_inverse would take data-dependent paths. */
static bool sign_equation(BN_CTX *bn, const BIGNUM *k, const BIGNUM *d, const BIGNUM *e, const BIGNUM *r, BIGNUM *s)
{
    BIGNUM *kinv = BN_CTX_get(bn);
    BIGNUM *t = BN_CTX_get(bn);
    BIGNUM *m = BN_CTX_get(bn);
    if (m == NULL)
        return false;
    BN_set_flags(kinv, BN_FLG_CONSTTIME);
    BN_set_flags(t, BN_FLG_CONSTTIME);
    BN_set_flags(m, BN_FLG_CONSTTIME);
    BN_set_flags(s, BN_FLG_CONSTTIME);
    /* Montgomery product of (x R) and y is x y, so converting one factor gives a plain product. */
    return BN_mod_exp_mont_consttime(kinv, k, p256.n_minus_2, p256.n, bn, p256.mont_n) &&
           BN_to_montgomery(m, r, p256.mont_n, bn) && BN_mod_mul_montgomery(t, m, d, p256.mont_n, bn) &&
           BN_mod_add_quick(t, t, e, p256.n) && BN_to_montgomery(m, kinv, p256.mont_n, bn) &&
           BN_mod_mul_montgomery(s, m, t, p256.mont_n, bn);
}

/* r = x(kG) mod n. */
static bool nonce_point_x(BN_CTX *bn, const BIGNUM *k, EC_POINT *R, BIGNUM *r)
{
    BIGNUM *x = BN_CTX_get(bn);
    return x != NULL && EC_POINT_mul(p256.group, R, k, NULL, NULL, bn) &&
           EC_POINT_get_affine_coordinates(p256.group, R, x, NULL, bn) && BN_nnmod(r, x, p256.n, bn);
}

/* e = h1 mod n, also bits2octets(h1) for the nonce derivation. The digest is public. */
static bool reduce_digest(BN_CTX *bn, const uint8_t digest[32], BIGNUM *e, uint8_t e_bytes[32])
{
    return BN_bin2bn(digest, 32, e) != NULL && BN_nnmod(e, e, p256.n, bn) && BN_bn2binpad(e, e_bytes, 32) == 32;
}

/* One nonce candidate: 1 = signature computed, 0 = r or s was zero (try the next k), -1 = error. */
static int try_nonce(BN_CTX *bn, const uint8_t T[32], BIGNUM *k, const BIGNUM *d, const BIGNUM *e, EC_POINT *R,
                     BIGNUM *r, BIGNUM *s)
{
    BN_CTX_start(bn);
    int res = -1;
    if (BN_bin2bn(T, 32, k) != NULL && nonce_point_x(bn, k, R, r)) {
        if (BN_is_zero(r))
            res = 0;
        else if (sign_equation(bn, k, d, e, r, s))
            res = BN_is_zero(s) ? 0 : 1;
    }
    BN_CTX_end(bn);
    return res;
}

/* Candidates are rejected with probability about 2^-32 each; a long run of them means a bug. */
#define RFC6979_MAX_CANDIDATES 64

int vg_p256_sign_digest_raw(const uint8_t d[32], const uint8_t digest[32], uint8_t rs[64], uint8_t *k_out,
                            vg_err *err)
{
    if (!p256_ready())
        return vg_fail(err, VG_E_INTERNAL, "p256: OpenSSL initialisation failed");
    if (!vg_ecdsa_scalar_in_range(d, P256_N))
        return vg_fail(err, VG_E_INVALID, "p256 secret key: scalar must be in [1, n-1]");
    /* A secure BN_CTX hands out BN_secure_new numbers, cleared when the context is freed. */
    BN_CTX *bn = BN_CTX_secure_new();
    EC_POINT *R = EC_POINT_new(p256.group);
    struct rfc6979 st = {0};
    uint8_t e_bytes[32];
    uint8_t T[32];
    int res = -1;
    if (bn != NULL && R != NULL) {
        BN_CTX_start(bn);
        BIGNUM *bd = BN_CTX_get(bn);
        BIGNUM *bk = BN_CTX_get(bn);
        BIGNUM *e = BN_CTX_get(bn);
        BIGNUM *r = BN_CTX_get(bn);
        BIGNUM *s = BN_CTX_get(bn);
        if (s != NULL) {
            BN_set_flags(bd, BN_FLG_CONSTTIME);
            BN_set_flags(bk, BN_FLG_CONSTTIME);
            BN_set_flags(s, BN_FLG_CONSTTIME);
        }
        if (s != NULL && BN_bin2bn(d, 32, bd) != NULL && reduce_digest(bn, digest, e, e_bytes) &&
            rfc6979_init(&st, d, e_bytes)) {
            /* Step h: the first candidate k in [1, n-1] giving r != 0 and s != 0. */
            res = 0;
            for (int i = 0; i < RFC6979_MAX_CANDIDATES && res == 0; i++) {
                if (!rfc6979_next(&st, i > 0, T))
                    res = -1;
                else if (vg_ecdsa_scalar_in_range(T, P256_N))
                    res = try_nonce(bn, T, bk, bd, e, R, r, s);
            }
        }
        if (res == 1 && (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32 ||
                         (k_out != NULL && BN_bn2binpad(bk, k_out, 32) != 32)))
            res = -1;
        BN_CTX_end(bn);
    }
    rfc6979_cleanup(&st);
    vg_wipe(T, sizeof T);
    EC_POINT_clear_free(R);
    BN_CTX_free(bn);
    if (res != 1) {
        ERR_clear_error();
        return vg_fail(err, VG_E_INTERNAL, "p256: signing failed");
    }
    return 0;
}


static int p256_sign(const vg_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig, vg_err *err)
{
    (void)version;
    uint8_t digest[32];
    vg_blake2b_256(msg, len, digest);
    if (vg_p256_sign_digest_raw(k->sec, digest, sig, NULL, err) < 0)
        return -1;
    if (!vg_ecdsa_scalar_is_low_s(sig + 32, P256_HALF_N))
        vg_ecdsa_scalar_negate(sig + 32, P256_N);
    return 0;
}

/* ---- keys ---- */

static void p256_random_secret(uint8_t out[VG_SECRET_LEN]) { randombytes_buf(out, VG_SECRET_LEN); }

static int p256_load(const uint8_t secret[VG_SECRET_LEN], uint8_t *sec, uint8_t *pub, vg_err *err)
{
    if (!p256_ready())
        return vg_fail(err, VG_E_INTERNAL, "p256: OpenSSL initialisation failed");
    if (!vg_ecdsa_scalar_in_range(secret, P256_N))
        return vg_fail(err, VG_E_INVALID, "p256 secret key: scalar must be in [1, n-1]");
    BN_CTX *bn = BN_CTX_secure_new();
    EC_POINT *P = EC_POINT_new(p256.group);
    BIGNUM *d = BN_secure_new();
    bool ok = false;
    if (bn != NULL && P != NULL && d != NULL) {
        BN_set_flags(d, BN_FLG_CONSTTIME);
        ok = BN_bin2bn(secret, VG_SECRET_LEN, d) != NULL && EC_POINT_mul(p256.group, P, d, NULL, NULL, bn) &&
             EC_POINT_point2oct(p256.group, P, POINT_CONVERSION_COMPRESSED, pub, P256_PUB_LEN, bn) ==
                 P256_PUB_LEN;
    }
    BN_clear_free(d);
    EC_POINT_clear_free(P);
    BN_CTX_free(bn);
    if (!ok) {
        ERR_clear_error();
        return vg_fail(err, VG_E_INTERNAL, "p256: public key derivation failed");
    }
    memcpy(sec, secret, VG_SECRET_LEN);
    return 0;
}

static void p256_export_secret(const uint8_t *sec, uint8_t out[VG_SECRET_LEN]) { memcpy(out, sec, VG_SECRET_LEN); }

/* ---- verification (EVP) ---- */

static EVP_PKEY *public_key_from_octets(const uint8_t pk[P256_PUB_LEN])
{
    uint8_t point[P256_PUB_LEN];
    char group_name[] = "prime256v1";
    memcpy(point, pk, sizeof point);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group_name, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 ||
        EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(pctx);
    return pkey;
}

/* DER-encodes r||s; fails for values OpenSSL cannot represent (verification then rejects). */
static int signature_to_der(const uint8_t sig[64], uint8_t der[P256_SIG_DER_MAX])
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL);
    BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
    int len = -1;
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL; /* owned by es now */
        if (i2d_ECDSA_SIG(es, NULL) <= P256_SIG_DER_MAX) {
            uint8_t *p = der;
            len = i2d_ECDSA_SIG(es, &p);
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return len;
}

/* Accepts high-S: OpenSSL only requires r, s in [1, n-1]. */
static bool p256_verify(const uint8_t *pk, const uint8_t *msg, size_t len, const uint8_t *sig, int version)
{
    (void)version;
    uint8_t digest[32];
    uint8_t der[P256_SIG_DER_MAX];
    vg_blake2b_256(msg, len, digest);
    int der_len = signature_to_der(sig, der);
    EVP_PKEY *pkey = der_len > 0 ? public_key_from_octets(pk) : NULL;
    EVP_PKEY_CTX *vctx = pkey != NULL ? EVP_PKEY_CTX_new(pkey, NULL) : NULL;
    bool ok = vctx != NULL && EVP_PKEY_verify_init(vctx) > 0 &&
              EVP_PKEY_verify(vctx, der, (size_t)der_len, digest, sizeof digest) == 1;
    EVP_PKEY_CTX_free(vctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

const struct vg_key_ops vg_p256_ops = {
    .type = VG_KEY_P256,
    .name = "p256",
    .pub_len = P256_PUB_LEN,
    .sig_len = 64,
    .sec_len = VG_SECRET_LEN,
    .n = P256_N,
    .half_n = P256_HALF_N,
    .random_secret = p256_random_secret,
    .load = p256_load,
    .export_secret = p256_export_secret,
    .sign = p256_sign,
    .verify = p256_verify,
};
