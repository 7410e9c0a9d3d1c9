/* Host-side enclave RPC client: one connection, one call at a time (request, then its reply).
 *
 * There are no request IDs on the wire, so a reply that arrives late would be taken as the answer
 * to the next request (spec §19 W3). The client therefore treats any timeout, short read or
 * undecodable reply as fatal for the connection: it closes it, and every later call fails at once
 * until the owner reconnects (and re-Initializes and re-Imports). An Err reply is not fatal.
 * Not thread-safe: the owner serialises calls. */
#ifndef VIGIL_RPC_RPC_CLIENT_H
#define VIGIL_RPC_RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "rpc/rpc_msg.h"

struct vg_rpc_client_opts {
    int connect_timeout_ms; /* default 5000 */
    int call_timeout_ms;    /* whole call, request written to reply read; default 30000 (KMS calls) */
    size_t frame_max;       /* largest reply accepted; default VG_RPC_FRAME_MAX_DEFAULT */
};

struct vg_rpc_client;

/* Connects to "unix:/path", "tcp://IP:PORT" or "vsock://CID:PORT". opts may be NULL (defaults). */
int vg_rpc_client_connect(const char *address, const struct vg_rpc_client_opts *opts, struct vg_rpc_client **out,
                          vg_err *err);
void vg_rpc_client_free(struct vg_rpc_client *c);
bool vg_rpc_client_is_broken(const struct vg_rpc_client *c);

/* Sends req and decodes the reply into *reply, which is overwritten without being freed (clear a
 * previous reply first); the caller clears the new one with vg_rpc_reply_clear.
 * Returns 0 on an Ok reply. Returns -1 when the enclave answered Err (reply->kind ==
 * VG_RPC_REPLY_ERR, err = VG_E_INTERNAL "enclave: <message chain>"), or on a transport/protocol
 * failure (reply->err_depth == 0, err = VG_E_UNAVAILABLE; the connection is closed). */
int vg_rpc_client_call(struct vg_rpc_client *c, const struct vg_rpc_request *req, struct vg_rpc_reply *reply,
                       vg_err *err);

/* Raw exchange for tools and tests: writes one frame with body, reads one reply body (malloc'ed;
 * free with vg_rpc_frame_free). Same failure rules as vg_rpc_client_call. */
int vg_rpc_client_roundtrip(struct vg_rpc_client *c, const uint8_t *body, size_t len, uint8_t **reply,
                            size_t *reply_len, vg_err *err);

#endif
