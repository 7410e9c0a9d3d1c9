/* The parent-side KMS proxy: the enclave has no network, so it opens a stream (vsock CID 3, port
 * 8000 by default) that this proxy pipes to ONE remote host:port (kms.REGION.amazonaws.com:443).
 * TLS runs inside the enclave, so the proxy only ever moves ciphertext. */
#ifndef VIGIL_NITRO_VSOCK_PROXY_H
#define VIGIL_NITRO_VSOCK_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct {
    const char *listen;   /* vsock://ANY:PORT | tcp://127.0.0.1:PORT (NULL: vsock://ANY:8000) */
    const char *remote;   /* HOST:PORT, the only destination */
    int idle_ms;          /* 0: 60 s */
    int connect_ms;       /* 0: 5 s */
    size_t max_conns;     /* 0: 64 */
    bool cid_filter;      /* vsock: accept only enclave_cid */
    uint32_t enclave_cid;
} vg_proxy_options;

typedef struct vg_proxy vg_proxy;

/* Resolves the remote, listens, and serves on a thread of its own until the process exits. */
int vg_proxy_start(const vg_proxy_options *opt, vg_proxy **out, vg_err *err);
/* Blocks for the life of the proxy (the foreground `vigil proxy`). */
void vg_proxy_wait(vg_proxy *p);

#endif
