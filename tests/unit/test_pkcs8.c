/* PKCS#8 import (vg_key_from_pkcs8) against the Signatory PEM vectors and their Tezos forms, plus
 * DER input and refusals. Needs ../shared/vectors/signatory/keys.json. */
#include "testlib.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>

#include "crypto/key.h"
#include "tezos/encoding.h"

/* PEM → DER with OpenSSL, to check the DER path too. */
static unsigned char *pem_to_der(const char *pem, size_t *len)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    unsigned char *der = NULL;
    int n = k != NULL ? i2d_PrivateKey(k, &der) : -1;
    EVP_PKEY_free(k);
    *len = n > 0 ? (size_t)n : 0;
    return n > 0 ? der : NULL;
}

static void check_key(const vg_key *k, const char *want_pkh, const char *want_pk)
{
    size_t pklen;
    const uint8_t *pk = vg_key_public(k, &pklen);
    vg_pkh pkh;
    vg_pkh_from_pubkey(vg_key_get_type(k), pk, pklen, &pkh);
    char text[VG_B58_MAX];
    vg_pkh_format(&pkh, text);
    CHECK_STR(text, want_pkh);
    vg_pubkey_format(vg_key_get_type(k), pk, pklen, text);
    CHECK_STR(text, want_pk);
}

int main(void)
{
    vt_init();
    vt_require_shared();
    char path[512];
    json_t *root = json_load_file(vt_vector_path("signatory/keys.json", path, sizeof path), 0, NULL);
    CHECK(root != NULL);
    json_t *list = json_object_get(root, "pkcs8_pem");
    CHECK(json_array_size(list) == 3);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *pem = json_string_value(json_object_get(e, "private_pem"));
        const char *pkh = json_string_value(json_object_get(e, "tezos_pkh"));
        const char *pk = json_string_value(json_object_get(e, "tezos_public_key"));
        const char *sk = json_string_value(json_object_get(e, "tezos_secret_key"));
        vg_err err = {0};
        vg_key *k = NULL, *ref = NULL;
        CHECK_MSG(vg_key_from_pkcs8((const uint8_t *)pem, strlen(pem), &k, &err) == 0, "%s", err.msg);
        if (k != NULL)
            check_key(k, pkh, pk);
        /* The same secret as the Tezos base58 form. */
        CHECK(vg_secret_key_parse(sk, &ref, &err) == 0);
        if (k != NULL && ref != NULL) {
            char a[VG_B58_MAX], b[VG_B58_MAX];
            vg_secret_key_format(k, a);
            vg_secret_key_format(ref, b);
            CHECK_STR(a, b);
        }
        vg_key_free(k);
        vg_key_free(ref);
        size_t derlen;
        unsigned char *der = pem_to_der(pem, &derlen);
        CHECK(der != NULL);
        k = NULL;
        CHECK(der != NULL && vg_key_from_pkcs8(der, derlen, &k, &err) == 0);
        if (k != NULL)
            check_key(k, pkh, pk);
        vg_key_free(k);
        /* A truncated DER is refused cleanly. */
        k = NULL;
        CHECK(der != NULL && vg_key_from_pkcs8(der, derlen / 2, &k, &err) == -1 && k == NULL);
        OPENSSL_free(der);
    }
    json_decref(root);

    /* Refusals: garbage, an RSA key, a curve we do not sign with. */
    vg_err err = {0};
    vg_key *k = NULL;
    CHECK(vg_key_from_pkcs8((const uint8_t *)"hello", 5, &k, &err) == -1);
    CHECK(strstr(err.msg, "PKCS#8") != NULL);
    EVP_PKEY *rsa = EVP_RSA_gen(1024);
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    EVP_PKEY *others[] = {rsa, p384};
    const char *want[] = {"unsupported key algorithm", "unsupported curve"};
    for (int j = 0; j < 2; j++) {
        unsigned char *der = NULL;
        int n = i2d_PrivateKey(others[j], &der);
        CHECK(n > 0 && vg_key_from_pkcs8(der, (size_t)n, &k, &err) == -1);
        CHECK_MSG(strstr(err.msg, want[j]) != NULL, "%s", err.msg);
        OPENSSL_free(der);
        EVP_PKEY_free(others[j]);
    }
    return vt_done("pkcs8");
}
