/* The enclave's KMS client (spec: shared/specs/enclave-rpc.md §9, §10, §12): AWS JSON 1.1
 * ("TrentService") requests signed with vigil's SigV4 (sigv4.h) and sent over TLS through the parent's
 * proxy (kms_tls.h). Only what sealing needs:
 *   Encrypt  {"KeyId", "Plaintext"}                                  -> CiphertextBlob (the sealed blob)
 *   Decrypt  {"CiphertextBlob", "Recipient": {"AttestationDocument",
 *             "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}        -> CiphertextForRecipient (BER CMS)
 * No EncryptionContext, no KeyId on Decrypt (spec §9, §10: tee-signer compatible).
 *
 * Credentials come from the RPC Initialize and live in secure memory; they can be replaced
 * (refresh). Request bodies that carry a private key (Encrypt) are built in secure memory and wiped.
 * Errors from KMS keep its exception name and message (escaped, truncated), e.g.
 * "KMS Decrypt: AccessDeniedException: User is not authorized ...". Throttling, KMS internal errors,
 * HTTP 5xx and transport failures are retried (3 attempts, 200 ms then 800 ms apart); nothing else is.
 * A client is used by one thread at a time (one per RPC session). */
#ifndef VIGIL_ENCLAVE_KMS_CLIENT_H
#define VIGIL_ENCLAVE_KMS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "enclave/kms_tls.h"
#include "rpc/rpc_addr.h"
#include "rpc/rpc_msg.h"

#define VG_KMS_HOST_MAX 256
#define VG_KMS_KEY_ID_MAX 2048       /* KMS: KeyId up to 2048 characters */
#define VG_KMS_BLOB_MAX 6144         /* KMS: CiphertextBlob up to 6144 bytes */
#define VG_KMS_PLAINTEXT_MAX 4096    /* KMS: Plaintext up to 4096 bytes */
#define VG_KMS_ATTESTATION_MAX 262144 /* KMS: Recipient.AttestationDocument up to 256 KiB */
#define VG_KMS_REPLY_MAX 262144      /* response body cap (KMS replies are a few KiB) */
#define VG_KMS_TIMEOUT_MS_DEFAULT 8000 /* 3 attempts stay under the host RPC client's 30 s call timeout */

/* Process-wide transport settings, shared by every client. */
struct vg_kms_endpoint {
    struct vg_kms_tls *tls; /* borrowed */
    struct vg_rpc_addr proxy;
    char host_override[VG_KMS_HOST_MAX]; /* "" = kms.<region>.amazonaws.com */
    int timeout_ms;                      /* per attempt */
    int attempts;                        /* ≥ 1 */
};

struct vg_kms_client;

/* Checks the Initialize credentials the KMS sealer needs: access_key_id, secret_access_key and
 * region present and well-formed (no byte that could break out of an HTTP header), session_token
 * optional, encryption_key_id present, printable, ≤ VG_KMS_KEY_ID_MAX. VG_E_INVALID with a
 * ciborium-shaped text for a missing field (`Semantic(None, "missing field `region`")`, as upstream's
 * decoder reports it), a plain text otherwise. Never quotes a secret. */
int vg_kms_credentials_check(const struct vg_rpc_credentials *creds, vg_err *err);

/* A client for creds (checked with vg_kms_credentials_check). ep is copied except ep->tls. */
int vg_kms_client_new(const struct vg_kms_endpoint *ep, const struct vg_rpc_credentials *creds,
                      struct vg_kms_client **out, vg_err *err);
/* Replaces the credentials (refresh). The region must stay the same (VG_E_INVALID otherwise). */
int vg_kms_client_set_credentials(struct vg_kms_client *c, const struct vg_rpc_credentials *creds, vg_err *err);
/* Wipes the credentials and frees (NULL-safe). */
void vg_kms_client_free(struct vg_kms_client *c);
/* The endpoint host requests go to (SNI, certificate name, Host header). */
const char *vg_kms_client_host(const struct vg_kms_client *c);

/* KMS Encrypt(KeyId = key_id, Plaintext = pt). *blob (malloc'ed) = the CiphertextBlob. */
int vg_kms_encrypt(struct vg_kms_client *c, const char *key_id, const uint8_t *pt, size_t pt_len, uint8_t **blob,
                   size_t *blob_len, vg_err *err);

/* KMS Decrypt(CiphertextBlob = blob, Recipient = {doc, RSAES_OAEP_SHA_256}). *cms (malloc'ed) = the
 * decoded CiphertextForRecipient; "zero output" (spec §3.4) when KMS answers without one. */
int vg_kms_decrypt_for_recipient(struct vg_kms_client *c, const uint8_t *blob, size_t blob_len, const uint8_t *doc,
                                 size_t doc_len, uint8_t **cms, size_t *cms_len, vg_err *err);

/* Interprets a KMS reply to operation op (for tests and fuzzing): HTTP 200 + a JSON object whose
 * member `field` is a base64 string → *out (malloc'ed, decoded); an error reply → its __type and
 * message in err (VG_E_FORBIDDEN for authorisation/credential errors, VG_E_UNAVAILABLE for
 * throttling/KMS-side failures, VG_E_INVALID otherwise). A reply carrying a Plaintext member is refused
 * (and wiped): vigil never asks for one. */
int vg_kms_reply_parse(const char *op, int status, const char *body, size_t len, const char *field, uint8_t **out,
                       size_t *out_len, vg_err *err);

#endif
