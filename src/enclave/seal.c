#include "enclave/seal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

struct vg_seal {
    const struct vg_seal_driver *drv;
    void *ctx;
};

static const struct vg_seal_driver *const drivers[] = {
    &vg_seal_kms_driver,
#if VIGIL_ENCLAVE_INSECURE_SEALS
    &vg_seal_dev_driver,
    &vg_seal_mock_driver,
#endif
};

const char *vg_seal_driver_names(void)
{
#if VIGIL_ENCLAVE_INSECURE_SEALS
    return "kms, dev, mock";
#else
    return "kms";
#endif
}

int vg_seal_open(const char *name, const struct vg_seal_config *cfg, struct vg_seal **out, vg_err *err)
{
    const struct vg_seal_driver *drv = NULL;
    *out = NULL;
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
        if (strcmp(drivers[i]->name, name) == 0)
            drv = drivers[i];
    if (drv == NULL)
        return vg_fail(err, VG_E_INVALID, "unknown seal driver `%.32s` (this build has: %s)", name,
                       vg_seal_driver_names());
    /* spec §16: never allow passthrough "in a production build or together with real NSM". */
    if (drv->insecure && access("/dev/nsm", F_OK) == 0)
        return vg_fail(err, VG_E_FORBIDDEN, "refusing insecure seal driver `%s`: /dev/nsm exists (Nitro enclave)",
                       drv->name);
    struct vg_seal *s = calloc(1, sizeof *s);
    if (s == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    s->drv = drv;
    if (drv->open(cfg, &s->ctx, err) < 0) {
        free(s);
        return vg_wrap(err, "seal %s", drv->name);
    }
    *out = s;
    return 0;
}

void vg_seal_free(struct vg_seal *s)
{
    if (s == NULL)
        return;
    s->drv->close(s->ctx);
    free(s);
}

const char *vg_seal_name(const struct vg_seal *s) { return s->drv->name; }

bool vg_seal_is_insecure(const struct vg_seal *s) { return s->drv->insecure; }

int vg_seal_session_begin(struct vg_seal *s, const struct vg_rpc_credentials *creds, void **sess, vg_err *err)
{
    *sess = NULL;
    return s->drv->session_begin(s->ctx, creds, sess, err);
}

void vg_seal_session_end(struct vg_seal *s, void *sess) { s->drv->session_end(s->ctx, sess); }

bool vg_seal_can_refresh(const struct vg_seal *s) { return s->drv->session_refresh != NULL; }

int vg_seal_session_refresh(struct vg_seal *s, void *sess, const struct vg_rpc_credentials *creds, vg_err *err)
{
    if (s->drv->session_refresh == NULL)
        return vg_fail(err, VG_E_FORBIDDEN, "seal %s: credentials cannot be refreshed", s->drv->name);
    return s->drv->session_refresh(s->ctx, sess, creds, err);
}

int vg_seal_seal(struct vg_seal *s, void *sess, const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len,
                 vg_err *err)
{
    *blob = NULL;
    *blob_len = 0;
    return s->drv->seal(s->ctx, sess, pt, len, blob, blob_len, err);
}

int vg_seal_unseal(struct vg_seal *s, void *sess, const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len,
                   vg_err *err)
{
    *pt = NULL;
    *pt_len = 0;
    return s->drv->unseal(s->ctx, sess, blob, len, pt, pt_len, err);
}
