/* AWS Nitro attestation documents (spec: shared/specs/enclave-rpc.md §14; AWS "attestation process" §3).
 *
 * A document is an untagged (or tag 18) COSE_Sign1: [protected bstr = {1: -35} (ES384), unprotected {},
 * payload bstr, signature bstr(96) = r‖s]. The payload is a map (definite or indefinite) with module_id,
 * digest "SHA384", timestamp (ms), pcrs {0..31 → bstr 32/48/64}, certificate (DER, P-384 leaf),
 * cabundle [DER…] (root first) and optional public_key / user_data / nonce (bstr, null or absent).
 *
 * Verification = strict parse (one bounded CBOR reader, every field type- and size-checked, no
 * duplicate or unknown keys) + ES384 over Sig_structure ["Signature1", protected, h'', payload] with
 * the leaf key + the chain leaf ← cabundle[n-1] ← … ← cabundle[1] ← cabundle[0] == the trusted root,
 * every certificate ECDSA P-384 / SHA-384 and valid at the given time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

#ifndef VG_NITRO_MUST_USE
#define VG_NITRO_MUST_USE __attribute__((warn_unused_result))
#endif

#define VG_ATTESTATION_DOC_MAX 262144 /* KMS's cap on Recipient.AttestationDocument */
#define VG_ATTESTATION_PCRS_MAX 32
#define VG_ATTESTATION_PCR_MAX_LEN 64
#define VG_ATTESTATION_MODULE_ID_MAX 256
#define VG_ATTESTATION_CERT_MAX 1024   /* each certificate / cabundle entry */
#define VG_ATTESTATION_CABUNDLE_MAX 16
#define VG_ATTESTATION_FIELD_MAX 1024  /* public_key, user_data, nonce */

/* SHA-256 of the DER of the AWS Nitro Enclaves root G1 (the embedded default root). */
#define VG_ATTESTATION_AWS_ROOT_SHA256 "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"

struct vg_attestation_pcr {
    uint32_t index;
    size_t len; /* 32, 48 or 64 */
    uint8_t value[VG_ATTESTATION_PCR_MAX_LEN];
};

/* A parsed document. Byte fields point into a private copy of the document owned by the struct
 * (released by vg_attestation_clear); absent/null optional fields have ptr NULL and len 0. */
struct vg_attestation {
    char module_id[VG_ATTESTATION_MODULE_ID_MAX + 1];
    char digest[8];         /* "SHA384" */
    uint64_t timestamp_ms;  /* ms since the epoch */
    size_t n_pcrs;          /* PCRs in ascending index order */
    struct vg_attestation_pcr pcrs[VG_ATTESTATION_PCRS_MAX];
    const uint8_t *certificate;
    size_t certificate_len;
    size_t n_cabundle;
    const uint8_t *cabundle[VG_ATTESTATION_CABUNDLE_MAX];
    size_t cabundle_len[VG_ATTESTATION_CABUNDLE_MAX];
    const uint8_t *public_key;
    size_t public_key_len;
    const uint8_t *user_data;
    size_t user_data_len;
    const uint8_t *nonce;
    size_t nonce_len;
    const uint8_t *payload; /* the signed payload bytes */
    size_t payload_len;
    const uint8_t *protected_hdr;
    size_t protected_len;
    const uint8_t *signature; /* 96 bytes r‖s */
    uint8_t *owned_;          /* private copy of the document */
};

/* The embedded AWS Nitro Enclaves root G1 (DER, static storage). */
const uint8_t *vg_attestation_aws_root(size_t *len);

/* Parses doc (≤ VG_ATTESTATION_DOC_MAX bytes) without checking the signature or the chain. On success
 * *out owns a copy of the document; release it with vg_attestation_clear. VG_E_INVALID on any
 * malformation. */
VG_NITRO_MUST_USE int vg_attestation_parse(const uint8_t *doc, size_t len, struct vg_attestation *out, vg_err *err);

/* Parses and verifies doc: signature with the leaf key and the chain to root_der (NULL → the embedded
 * AWS root G1), with certificate validity checked at `at` (≤ 0 → the current time). On success *out is
 * filled as by vg_attestation_parse (release with vg_attestation_clear); on failure *out is left
 * cleared. Errors: VG_E_INVALID (malformed document or root), VG_E_FORBIDDEN (signature, chain, root
 * mismatch, validity period), VG_E_INTERNAL (OpenSSL allocation failures). */
VG_NITRO_MUST_USE int vg_attestation_verify(const uint8_t *doc, size_t len, const uint8_t *root_der, size_t root_len,
                                            time_t at, struct vg_attestation *out, vg_err *err);

/* Releases what a parse/verify left in a (NULL-safe; idempotent) and zeroes it. */
void vg_attestation_clear(struct vg_attestation *a);

/* Looks up PCR `index`; NULL when the document has none. */
const struct vg_attestation_pcr *vg_attestation_pcr(const struct vg_attestation *a, uint32_t index);

/* Converts a PEM (first CERTIFICATE block) or DER certificate to malloc'ed DER. VG_E_INVALID if it is
 * neither. */
VG_NITRO_MUST_USE int vg_attestation_cert_to_der(const uint8_t *in, size_t len, uint8_t **der, size_t *der_len,
                                                 vg_err *err);
