/* KMS sealing (spec §9, §10: Encrypt, attested Decrypt, CMS) arrives with the Nitro issue. Until
 * then this driver refuses everything, loudly: it must never look as if a key had been sealed. */
#include "enclave/seal.h"

#define KMS_MISSING "KMS sealing not available in this build"

static int kms_open(const struct vg_seal_config *cfg, void **ctx, vg_err *err)
{
    *ctx = NULL;
    return 0;
}

static void kms_close(void *ctx) {}

static int kms_session_begin(void *ctx, const struct vg_rpc_credentials *creds, void **sess, vg_err *err)
{
    return vg_fail(err, VG_E_UNAVAILABLE, KMS_MISSING);
}

static void kms_session_end(void *ctx, void *sess) {}

static int kms_seal(void *ctx, void *sess, const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len,
                    vg_err *err)
{
    return vg_fail(err, VG_E_UNAVAILABLE, KMS_MISSING);
}

static int kms_unseal(void *ctx, void *sess, const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len,
                      vg_err *err)
{
    return vg_fail(err, VG_E_UNAVAILABLE, KMS_MISSING);
}

const struct vg_seal_driver vg_seal_kms_driver = {
    .name = "kms",
    .insecure = false,
    .open = kms_open,
    .close = kms_close,
    .session_begin = kms_session_begin,
    .session_end = kms_session_end,
    .seal = kms_seal,
    .unseal = kms_unseal,
};
