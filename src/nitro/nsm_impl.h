/* Internals shared by the NSM client (nsm.c) and the software NSM (nsm_soft.c). */
#pragma once

#include <pthread.h>

#include "nitro/nsm.h"

struct vg_nsm_ops {
    const char *kind;
    /* One request → one response (resp has VG_NSM_RESPONSE_MAX bytes; *resp_len is set). Called with the
     * handle's lock held. */
    int (*raw)(struct vg_nsm *nsm, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len,
               vg_err *err);
    void (*close)(struct vg_nsm *nsm);
};

struct vg_nsm {
    const struct vg_nsm_ops *ops;
    pthread_mutex_t lock;
    int fd;     /* device */
    void *soft; /* software NSM state */
};

/* Allocates a handle with ops and an initialised lock (fd = -1). */
struct vg_nsm *vg_nsm_alloc(const struct vg_nsm_ops *ops);
