/* Enclave RPC transports, chosen by address (spec: shared/specs/enclave-rpc.md §1.1): VSock on Nitro,
 * Unix and loopback TCP for development and tests. */
#ifndef VIGIL_RPC_RPC_ADDR_H
#define VIGIL_RPC_RPC_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Addresses: "unix:/path", "tcp://A.B.C.D:PORT", "vsock://CID:PORT" (CID may be "ANY" to listen).
 * Numeric only: no name resolution, so vigil-enclave never touches NSS. */
enum vg_rpc_transport { VG_RPC_UNIX, VG_RPC_TCP, VG_RPC_VSOCK };

struct vg_rpc_addr {
    enum vg_rpc_transport transport;
    char path[108];   /* unix */
    uint32_t ipv4;    /* tcp, network byte order */
    uint32_t cid;     /* vsock */
    uint32_t port;    /* tcp, vsock */
};

#define VG_RPC_VSOCK_CID_ANY 0xffffffffu
#define VG_RPC_VSOCK_CID_PARENT 3u /* the parent instance as seen from a Nitro enclave */

int vg_rpc_addr_parse(const char *text, struct vg_rpc_addr *out, vg_err *err);
/* "unix:/p", "tcp://1.2.3.4:5", "vsock://16:2000" into buf. */
void vg_rpc_addr_format(const struct vg_rpc_addr *a, char *buf, size_t cap);
/* Connects with a timeout; *fd is close-on-exec and blocking. */
int vg_rpc_addr_connect(const struct vg_rpc_addr *a, int timeout_ms, int *fd, vg_err *err);
/* Binds and listens (a stale Unix socket file is replaced). */
int vg_rpc_addr_listen(const struct vg_rpc_addr *a, int *fd, vg_err *err);

#endif
