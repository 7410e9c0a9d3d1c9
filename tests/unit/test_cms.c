/* Opening KMS CiphertextForRecipient (CMS EnvelopedData): the real KMS vector in
 * ../shared/vectors/enclave-rpc/kms-cms/, every single-byte flip and truncation of it, and CMS messages made
 * here with OpenSSL's encoder using each parameter KMS must not be followed on (SHA-1 OAEP, MGF1-SHA-1,
 * PKCS#1 v1.5, AES-128, two recipients, a foreign key).
 *
 * External mode (used by tests/integration/kms.test.mjs to open the KMS stand-in's output with this code):
 *   VIGIL_CMS_INPUT=file.ber VIGIL_CMS_KEY=key.pem [VIGIL_CMS_EXPECT=hex] test_cms
 * decrypts, prints "plaintext <hex>" and exits 0 when it decrypts (and equals EXPECT if given), else 1. */
#define _GNU_SOURCE /* memmem */
#include "testlib.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "nitro/cms.h"

/* Offsets in the KMS vector (asn1parse.txt): the IV's 16 bytes and the first ciphertext block. CBC has no
 * integrity: flipping these changes the plaintext without an error, and nothing else may decrypt. */
#define VEC_IV_FROM 415
#define VEC_IV_TO 431
#define VEC_CT_FROM 435
#define VEC_FIRST_BLOCK_TO 451

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

static int external_mode(const char *input)
{
    const char *key_path = getenv("VIGIL_CMS_KEY"), *expect = getenv("VIGIL_CMS_EXPECT");
    size_t len;
    uint8_t *ber = (uint8_t *)vt_read_file(input, &len);
    EVP_PKEY *key = key_path != NULL ? read_key(key_path) : NULL;
    if (ber == NULL || key == NULL) {
        fprintf(stderr, "VIGIL_CMS_INPUT / VIGIL_CMS_KEY unreadable\n");
        return 1;
    }
    uint8_t *pt;
    size_t pt_len;
    vg_err err = {0};
    int rc = 1;
    if (vg_cms_decrypt(ber, len, key, &pt, &pt_len, &err) < 0) {
        printf("error %s\n", err.msg);
    } else {
        char *hex = malloc(2 * pt_len + 1);
        vg_hex_encode(pt, pt_len, hex);
        printf("plaintext %s\n", hex);
        rc = expect == NULL || strcmp(expect, hex) == 0 ? 0 : 1;
        free(hex);
        vg_secure_free(pt);
    }
    EVP_PKEY_free(key);
    free(ber);
    return rc;
}

static void test_vector(void)
{
    char p1[1024], p2[1024], p3[1024];
    const char *ber_path = vt_vector_path("enclave-rpc/kms-cms/ciphertext_for_recipient.ber", p1, sizeof p1);
    const char *key_path = vt_vector_path("enclave-rpc/kms-cms/recipient_rsa2048_pkcs1.pem", p2, sizeof p2);
    const char *pt_path = vt_vector_path("enclave-rpc/kms-cms/expected_plaintext.hex", p3, sizeof p3);
    size_t len, hex_len, want_len;
    uint8_t *ber = (uint8_t *)vt_read_file(ber_path, &len);
    char *hex = vt_read_file(pt_path, &hex_len);
    EVP_PKEY *key = read_key(key_path);
    CHECK(ber != NULL && hex != NULL && key != NULL);
    if (ber == NULL || hex == NULL || key == NULL)
        return;
    while (hex_len > 0 && (hex[hex_len - 1] == '\n' || hex[hex_len - 1] == '\r' || hex[hex_len - 1] == ' '))
        hex[--hex_len] = '\0';
    uint8_t *want = vt_unhex(hex, &want_len);
    CHECK(len == 493 && want != NULL && want_len == 32);
    CHECK(ber[VEC_IV_FROM - 2] == 0x04 && ber[VEC_IV_FROM - 1] == 16 && ber[VEC_IV_FROM] == 0x43);

    uint8_t *pt = NULL;
    size_t pt_len = 0;
    vg_err err = {0};
    int rc = vg_cms_decrypt(ber, len, key, &pt, &pt_len, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK(rc == 0 && pt_len == want_len && memcmp(pt, want, want_len) == 0);
    vg_secure_free(pt);

    /* every single-byte flip, two masks */
    static const uint8_t masks[] = {0x01, 0x80};
    for (size_t m = 0; m < sizeof masks; m++) {
        size_t silent = 0, wrong_ok = 0;
        for (size_t i = 0; i < len; i++) {
            ber[i] ^= masks[m];
            rc = vg_cms_decrypt(ber, len, key, &pt, &pt_len, &err);
            ber[i] ^= masks[m];
            bool malleable = (i >= VEC_IV_FROM && i < VEC_IV_TO) || (i >= VEC_CT_FROM && i < VEC_FIRST_BLOCK_TO);
            if (rc == 0) {
                bool same = pt_len == want_len && memcmp(pt, want, want_len) == 0;
                vg_secure_free(pt);
                CHECK_MSG(!same, "flip at %zu decrypts to the original plaintext", i);
                if (!malleable) {
                    silent++;
                    fprintf(stderr, "flip at %zu (mask %02x) accepted\n", i, masks[m]);
                } else {
                    wrong_ok++;
                }
            } else {
                CHECK(pt == NULL && err.msg[0] != '\0');
                CHECK(err.kind == VG_E_INVALID);
            }
        }
        CHECK_MSG(silent == 0, "%zu flips outside the IV / first block decrypted", silent);
        CHECK(wrong_ok > 0); /* CBC malleability is real and documented */
    }
    for (size_t n = 0; n < len; n++) {
        rc = vg_cms_decrypt(ber, n, key, &pt, &pt_len, &err);
        CHECK_MSG(rc == -1, "truncation to %zu bytes decrypts", n);
        if (rc == 0)
            vg_secure_free(pt);
    }
    /* trailing bytes */
    uint8_t *longer = malloc(len + 2);
    memcpy(longer, ber, len);
    longer[len] = longer[len + 1] = 0;
    CHECK(vg_cms_decrypt(longer, len + 2, key, &pt, &pt_len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "trailing") != NULL, "%s", err.msg);
    free(longer);

    /* another RSA key: refused by the key identifier; a non-RSA key: refused up front */
    EVP_PKEY *other = EVP_RSA_gen(2048);
    CHECK(vg_cms_decrypt(ber, len, other, &pt, &pt_len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "recipient key identifier") != NULL, "%s", err.msg);
    EVP_PKEY_free(other);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    CHECK(vg_cms_decrypt(ber, len, ec, &pt, &pt_len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "must be RSA") != NULL, "%s", err.msg);
    EVP_PKEY_free(ec);

    free(want);
    free(hex);
    free(ber);
    EVP_PKEY_free(key);
}

/* ---- messages made with OpenSSL's CMS encoder ---- */

struct make_opts {
    const EVP_CIPHER *cipher;
    const EVP_MD *oaep_md, *mgf1_md; /* NULL oaep_md → PKCS#1 v1.5 */
    int recipients;
    EVP_PKEY *label_key; /* key whose SPKI hash labels the recipient (default: the recipient's) */
};

/* A throwaway certificate for `key` with SKI = SHA-256(SPKI of label_key), as KMS labels recipients. */
static X509 *recipient_cert(EVP_PKEY *key, EVP_PKEY *label_key)
{
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(label_key, &spki);
    uint8_t md[32];
    char ski[65];
    SHA256(spki, (size_t)n, md);
    OPENSSL_free(spki);
    vg_hex_encode(md, sizeof md, ski);
    X509 *x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"recipient", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, ski);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    X509_sign(x, key, EVP_sha256());
    return x;
}

static uint8_t *make_cms(EVP_PKEY *key, const struct make_opts *o, const uint8_t *msg, size_t msg_len, size_t *len)
{
    unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_USE_KEYID;
    X509 *cert = recipient_cert(key, o->label_key != NULL ? o->label_key : key);
    CMS_ContentInfo *cms = CMS_encrypt(NULL, NULL, o->cipher, flags);
    BIO *in = BIO_new_mem_buf(msg, (int)msg_len);
    uint8_t *out = NULL;
    for (int i = 0; i < (o->recipients ? o->recipients : 1); i++) {
        CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, cert, flags | CMS_KEY_PARAM);
        EVP_PKEY_CTX *pctx = ri != NULL ? CMS_RecipientInfo_get0_pkey_ctx(ri) : NULL;
        if (pctx == NULL)
            goto out;
        if (o->oaep_md != NULL &&
            (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
             EVP_PKEY_CTX_set_rsa_oaep_md(pctx, o->oaep_md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, o->mgf1_md) <= 0))
            goto out;
    }
    if (CMS_final(cms, in, NULL, flags) != 1)
        goto out;
    unsigned char *der = NULL;
    int n = i2d_CMS_ContentInfo(cms, &der);
    if (n > 0) {
        out = malloc((size_t)n);
        memcpy(out, der, (size_t)n);
        *len = (size_t)n;
    }
    OPENSSL_free(der);
out:
    ERR_print_errors_fp(stderr);
    BIO_free(in);
    CMS_ContentInfo_free(cms);
    X509_free(cert);
    return out;
}

static void expect_cms(EVP_PKEY *key, const struct make_opts *o, const uint8_t *msg, size_t msg_len, const char *want)
{
    size_t len = 0;
    uint8_t *ber = make_cms(key, o, msg, msg_len, &len);
    CHECK(ber != NULL);
    if (ber == NULL)
        return;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    vg_err err = {0};
    int rc = vg_cms_decrypt(ber, len, key, &pt, &pt_len, &err);
    if (want == NULL) {
        CHECK_MSG(rc == 0, "%s", err.msg);
        CHECK(rc == 0 && pt_len == msg_len && (msg_len == 0 || memcmp(pt, msg, msg_len) == 0));
        if (rc == 0)
            vg_secure_free(pt);
    } else {
        CHECK_MSG(rc == -1 && strstr(err.msg, want) != NULL, "want '%s', got '%s'", want,
                  rc == 0 ? "success" : err.msg);
        if (rc == 0)
            vg_secure_free(pt);
    }
    free(ber);
}

static void test_made_here(void)
{
    EVP_PKEY *key = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
    CHECK(key != NULL && other != NULL);
    uint8_t msg[100];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7 + 1);
    const EVP_CIPHER *aes256 = EVP_aes_256_cbc();
    /* definite-length DER, several blocks, and an empty message */
    expect_cms(key, &(struct make_opts){aes256, EVP_sha256(), EVP_sha256(), 1, NULL}, msg, sizeof msg, NULL);
    expect_cms(key, &(struct make_opts){aes256, EVP_sha256(), EVP_sha256(), 1, NULL}, msg, 0, NULL);
    expect_cms(key, &(struct make_opts){aes256, EVP_sha256(), EVP_sha256(), 1, NULL}, msg, 16, NULL);
    /* parameters KMS never uses are refused, not followed */
    expect_cms(key, &(struct make_opts){aes256, EVP_sha1(), EVP_sha1(), 1, NULL}, msg, 32, "hash is not SHA-256");
    expect_cms(key, &(struct make_opts){aes256, EVP_sha256(), EVP_sha1(), 1, NULL}, msg, 32, "MGF1-SHA-256");
    expect_cms(key, &(struct make_opts){aes256, EVP_sha384(), EVP_sha384(), 1, NULL}, msg, 32, "hash is not SHA-256");
    expect_cms(key, &(struct make_opts){aes256, NULL, NULL, 1, NULL}, msg, 32, "not RSAES-OAEP");
    expect_cms(key, &(struct make_opts){EVP_aes_128_cbc(), EVP_sha256(), EVP_sha256(), 1, NULL}, msg, 32,
               "not AES-256-CBC");
    expect_cms(key, &(struct make_opts){aes256, EVP_sha256(), EVP_sha256(), 2, NULL}, msg, 32, "one recipient");
    /* a 16-byte content key presented as AES-256-CBC (the OID patched from aes128-CBC): refused outright,
     * not decrypted with OpenSSL's random-key countermeasure */
    {
        static const uint8_t aes128_oid[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02};
        size_t n = 0;
        uint8_t *der = make_cms(key, &(struct make_opts){EVP_aes_128_cbc(), EVP_sha256(), EVP_sha256(), 1, NULL}, msg,
                                32, &n);
        uint8_t *at = der != NULL ? memmem(der, n, aes128_oid, sizeof aes128_oid) : NULL;
        CHECK(at != NULL);
        if (at != NULL) {
            at[sizeof aes128_oid - 1] = 0x2a;
            for (int i = 0; i < 20; i++) { /* deterministic: never a lucky padding */
                uint8_t *out = NULL;
                size_t out_len;
                vg_err e = {0};
                int rc = vg_cms_decrypt(der, n, key, &out, &out_len, &e);
                CHECK_MSG(rc == -1 && strstr(e.msg, "content key or IV size") != NULL, "%s", rc == 0 ? "ok" : e.msg);
                if (rc == 0)
                    vg_secure_free(out);
            }
        }
        free(der);
    }
    /* encrypted to `key` but labelled for `other`: decrypting with `other` fails at key transport */
    size_t len = 0;
    uint8_t *ber = make_cms(key, &(struct make_opts){aes256, EVP_sha256(), EVP_sha256(), 1, other}, msg, 32, &len);
    uint8_t *pt = NULL;
    size_t pt_len;
    vg_err err = {0};
    CHECK(ber != NULL && vg_cms_decrypt(ber, len, other, &pt, &pt_len, &err) == -1);
    CHECK_MSG(strstr(err.msg, "key transport") != NULL, "%s", err.msg);
    free(ber);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

int main(void)
{
    vt_init();
    const char *input = getenv("VIGIL_CMS_INPUT");
    if (input != NULL && input[0] != '\0')
        return external_mode(input);
    test_made_here();
    char buf[1024];
    if (vt_vector_path("enclave-rpc/kms-cms/ciphertext_for_recipient.ber", buf, sizeof buf) != NULL)
        test_vector();
    else
        printf("note: ../shared absent, the KMS vector was not tested\n");
    return vt_done("test_cms");
}
