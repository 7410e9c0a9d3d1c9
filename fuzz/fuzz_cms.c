/* Target: opening a KMS CiphertextForRecipient, src/nitro/cms.c vg_cms_decrypt -- BER CMS
 * EnvelopedData through OpenSSL plus vigil's own checks of every algorithm and parameter
 * (RSAES-OAEP SHA-256/MGF1-SHA-256, one recipient, AES-256-CBC) before anything is decrypted.
 * Key: the vectors' recipient key ($VIGIL_SHARED/vectors/enclave-rpc/kms-cms/recipient_rsa2048_pkcs1.pem,
 * so the vector ciphertext and the seeds made for it by fuzz/seed.sh decrypt and mutations reach the
 * content decryption); without it a fresh RSA-2048 key (parsing paths only).
 * Invariants: failure is VG_E_INVALID (or INTERNAL for allocation failures); success gives a
 * plaintext of at most VG_CMS_PLAINTEXT_MAX bytes in secure memory. */
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/secmem.h"
#include "fuzz_common.h"
#include "nitro/cms.h"

static EVP_PKEY *load_key(void)
{
    const char *shared = getenv("VIGIL_SHARED");
    if (shared != NULL) {
        char path[1024];
        snprintf(path, sizeof path, "%s/vectors/enclave-rpc/kms-cms/recipient_rsa2048_pkcs1.pem", shared);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
            fclose(f);
            if (k != NULL)
                return k;
        }
    }
    vg_fuzz_say("fuzz_cms: vector key not found (VIGIL_SHARED); using a fresh RSA-2048 key\n");
    return EVP_RSA_gen(2048);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EVP_PKEY *key;
    if (key == NULL) {
        vg_fuzz_init();
        if ((key = load_key()) == NULL)
            abort();
    }
    if (size > VG_CMS_INPUT_MAX + 1)
        return 0;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    vg_err err = {0};
    int rc = vg_cms_decrypt(data, size, key, &pt, &pt_len, &err);
    if (vg_fuzz_verbose())
        vg_fuzz_say("decrypt: %s (%zu bytes)\n", rc == 0 ? "ok" : err.msg, pt_len);
    if (rc < 0) {
        if (err.kind != VG_E_INVALID && err.kind != VG_E_INTERNAL)
            abort();
        return 0;
    }
    if (pt == NULL || pt_len > VG_CMS_PLAINTEXT_MAX)
        abort();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < pt_len; i++)
        sink ^= pt[i];
    (void)sink;
    vg_secure_free(pt);
    return 0;
}
