/* One RPC connection's state (spec: shared/specs/enclave-rpc.md §4): Initialize once, then a
 * keychain whose handles are indexes 0, 1, 2, ... in insertion order. Nothing is shared between
 * sessions; vg_session_free wipes every key. A session is used by one thread at a time. */
#ifndef VIGIL_ENCLAVE_SESSION_H
#define VIGIL_ENCLAVE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "enclave/seal.h"
#include "rpc/rpc_msg.h"

struct vg_session_limits {
    size_t max_keys;    /* keychain cap (spec §19 W6); an Import beyond it is an Err */
    size_t message_max; /* largest Sign/SignWith message */
};

struct vg_session;

struct vg_session *vg_session_new(struct vg_seal *seal, const struct vg_session_limits *lim);
void vg_session_free(struct vg_session *s);

/* Decodes and answers one request body. Always fills *reply (Ok or Err; the caller clears it).
 * *call is set to the decoded call, or -1 when the body did not decode (for logging). */
void vg_session_handle(struct vg_session *s, const uint8_t *body, size_t len, struct vg_rpc_reply *reply,
                       int *call);

#endif
