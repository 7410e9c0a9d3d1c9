/* Sealing of private keys, behind one interface with one driver per backend (chosen by name).
 *
 * seal(plaintext) -> blob and unseal(blob) -> plaintext, where the plaintext is CBOR(PrivateKey)
 * (spec: shared/specs/enclave-rpc.md §9) and the blob is whatever the host stores. Drivers:
 *   kms  - KMS Encrypt / attested Decrypt with CMS (spec §9, §10), NSM randomness (§8); TLS to KMS
 *          through the parent's proxy (kms_client.h, kms_tls.h).
 *   dev  - AES-256-GCM under a local 32-byte key file. INSECURE: for development and tests only.
 *   mock - passthrough, blob = plaintext, as tee-signer's mock apps (spec §16); needed to replay the
 *          *_mock_* vectors byte for byte. INSECURE.
 * The insecure drivers are compiled out with -DVIGIL_ENCLAVE_INSECURE_SEALS=0 and refuse to start
 * where /dev/nsm exists (spec §16: "never allow passthrough ... together with real NSM"). */
#ifndef VIGIL_ENCLAVE_SEAL_H
#define VIGIL_ENCLAVE_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "rpc/rpc_msg.h"

struct vg_seal_config {
    const char *dev_key_path; /* dev: key file, created 0600 if absent */
    /* kms */
    const char *soft_nsm_dir;      /* software NSM with its dev CA here (INSECURE); NULL = /dev/nsm */
    const char *kms_proxy;         /* stream to the parent's proxy; NULL = vsock://3:8000 */
    const char *kms_ca_file;       /* TLS roots for tests; NULL = the embedded Amazon roots */
    const char *kms_endpoint_host; /* SNI/Host/certificate name; NULL = kms.<region>.amazonaws.com */
    int kms_timeout_ms;            /* per KMS attempt; 0 = default */
};

struct vg_seal_driver {
    const char *name;
    bool insecure;
    int (*open)(const struct vg_seal_config *cfg, void **ctx, vg_err *err);
    void (*close)(void *ctx);
    /* Per connection, at Initialize: may keep what it needs from creds (never log them). */
    int (*session_begin)(void *ctx, const struct vg_rpc_credentials *creds, void **sess, vg_err *err);
    void (*session_end)(void *ctx, void *sess);
    /* Optional (NULL = a second Initialize is refused): a later Initialize on the same connection
     * with new credentials; the driver decides what may change (kms: credentials only). */
    int (*session_refresh)(void *ctx, void *sess, const struct vg_rpc_credentials *creds, vg_err *err);
    /* *blob is malloc'ed. */
    int (*seal)(void *ctx, void *sess, const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len,
                vg_err *err);
    /* *pt is vg_secure_alloc'ed; the caller releases it with vg_secure_free. */
    int (*unseal)(void *ctx, void *sess, const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len,
                  vg_err *err);
};

extern const struct vg_seal_driver vg_seal_kms_driver;
#if VIGIL_ENCLAVE_INSECURE_SEALS
extern const struct vg_seal_driver vg_seal_dev_driver;
extern const struct vg_seal_driver vg_seal_mock_driver;
#endif

struct vg_seal;

/* Opens the driver called name ("kms", "dev", "mock"). */
int vg_seal_open(const char *name, const struct vg_seal_config *cfg, struct vg_seal **out, vg_err *err);
void vg_seal_free(struct vg_seal *s);
const char *vg_seal_name(const struct vg_seal *s);
bool vg_seal_is_insecure(const struct vg_seal *s);
/* Comma-separated driver names of this build, for --help. */
const char *vg_seal_driver_names(void);

int vg_seal_session_begin(struct vg_seal *s, const struct vg_rpc_credentials *creds, void **sess, vg_err *err);
void vg_seal_session_end(struct vg_seal *s, void *sess);
/* Whether a second Initialize may refresh credentials (the driver has session_refresh). */
bool vg_seal_can_refresh(const struct vg_seal *s);
/* A second Initialize: VG_E_FORBIDDEN "not supported" when the driver has no refresh. */
int vg_seal_session_refresh(struct vg_seal *s, void *sess, const struct vg_rpc_credentials *creds, vg_err *err);
int vg_seal_seal(struct vg_seal *s, void *sess, const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len,
                 vg_err *err);
int vg_seal_unseal(struct vg_seal *s, void *sess, const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len,
                   vg_err *err);

#endif
