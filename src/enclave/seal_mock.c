/* Passthrough sealing, as tee-signer's mock apps (spec §16): blob = CBOR(PrivateKey) in the clear.
 * INSECURE; exists so the *_mock_* vectors replay byte for byte. */
#include "enclave/seal.h"

#if VIGIL_ENCLAVE_INSECURE_SEALS

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/secmem.h"

static int mock_open(const struct vg_seal_config *cfg, void **ctx, vg_err *err)
{
    VG_WARN("INSECURE MOCK SEAL: sealed keys are stored in the clear (tee-signer mock compatible); "
            "for tests only");
    *ctx = NULL;
    return 0;
}

static void mock_close(void *ctx) {}

static int mock_session_begin(void *ctx, const struct vg_rpc_credentials *creds, void **sess, vg_err *err)
{
    return 0; /* spec §16: "Credentials: an empty struct; {} (or any map) is accepted." */
}

static void mock_session_end(void *ctx, void *sess) {}

static int mock_seal(void *ctx, void *sess, const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len,
                     vg_err *err)
{
    *blob = malloc(len ? len : 1);
    if (*blob == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    memcpy(*blob, pt, len);
    *blob_len = len;
    return 0;
}

static int mock_unseal(void *ctx, void *sess, const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len,
                       vg_err *err)
{
    *pt = vg_secure_alloc(len ? len : 1);
    if (*pt == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
    memcpy(*pt, blob, len);
    *pt_len = len;
    return 0;
}

const struct vg_seal_driver vg_seal_mock_driver = {
    .name = "mock",
    .insecure = true,
    .open = mock_open,
    .close = mock_close,
    .session_begin = mock_session_begin,
    .session_end = mock_session_end,
    .seal = mock_seal,
    .unseal = mock_unseal,
};

#endif
