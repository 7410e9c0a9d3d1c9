/* Opening a KMS CiphertextForRecipient (spec: shared/specs/enclave-rpc.md §10 steps 4–5).
 *
 * Input: BER (indefinite lengths allowed) CMS ContentInfo → EnvelopedData with one KeyTransRecipientInfo
 * (RSAES-OAEP, SHA-256, MGF1-SHA-256, empty label) and AES-256-CBC content (PKCS#7 padding), as KMS
 * Decrypt / GenerateDataKey / GenerateRandom with a Recipient return it. Parsing is OpenSSL's CMS
 * code; vigil checks every algorithm and parameter itself before anything is decrypted, so a
 * message asking for SHA-1 OAEP, another cipher or several recipients is refused rather than
 * followed. The CEK and the plaintext never leave OpenSSL's cleansed buffers or vigil's secure memory.
 *
 * Note: CMS EnvelopedData has no integrity protection (CBC, no MAC): a modified IV or first
 * ciphertext block can still decrypt to a (different) plaintext. Integrity comes from TLS to KMS and,
 * for sealed keys, from validating the decrypted PrivateKey. */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifndef VG_NITRO_MUST_USE
#define VG_NITRO_MUST_USE __attribute__((warn_unused_result))
#endif

#define VG_CMS_INPUT_MAX 65536      /* far above KMS's outputs (≤ 4096 B plaintext) */
#define VG_CMS_PLAINTEXT_MAX 32768

/* Decrypts `ber` with the RSA private key `rsa_key` (RSA-2048 or larger). On success *plaintext is a
 * vg_secure_alloc buffer (release with vg_secure_free) of *plaintext_len bytes (≥ 1 byte is
 * allocated even for an empty plaintext). Errors: VG_E_INVALID for malformed input, unsupported
 * algorithms or parameters, a key-transport or padding failure; VG_E_INTERNAL for allocation
 * failures. Messages never contain key or plaintext bytes. */
VG_NITRO_MUST_USE int vg_cms_decrypt(const uint8_t *ber, size_t ber_len, EVP_PKEY *rsa_key, uint8_t **plaintext,
                                     size_t *plaintext_len, vg_err *err);
