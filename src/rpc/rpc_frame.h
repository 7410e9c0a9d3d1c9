/* Enclave RPC framing and transports (spec: shared/specs/enclave-rpc.md §1).
 *
 * A frame is a 4-byte big-endian length N and N bytes of CBOR. N is checked against a cap before
 * anything is allocated (spec §19 W1: upstream has no cap and can be made to allocate 4 GiB).
 * Reads are bounded in time: an optional wait for the first byte (no idle timeout by default on the
 * server, since Signatory keeps one connection forever) and a deadline for the rest of the frame. */
#ifndef VIGIL_RPC_RPC_FRAME_H
#define VIGIL_RPC_RPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VG_RPC_FRAME_MAX_DEFAULT (1024u * 1024u)
#define VG_RPC_FRAME_MAX_MIN (64u * 1024u)
#define VG_RPC_FRAME_HEADER_LEN 4

struct vg_rpc_io_limits {
    size_t frame_max;      /* largest accepted N */
    int first_byte_ms;     /* wait for the frame's first byte; -1 = forever */
    int frame_ms;          /* deadline for the rest of the frame once it started; -1 = forever */
};

enum vg_rpc_frame_status {
    VG_RPC_FRAME_OK = 0,
    VG_RPC_FRAME_EOF,       /* peer closed before or inside the 4 length bytes: a clean close */
    VG_RPC_FRAME_TOO_LARGE, /* N > frame_max: the stream cannot be resynchronised */
    VG_RPC_FRAME_ERROR,     /* I/O error, timeout, or EOF inside the body */
};

/* Reads one frame. On OK, *body is malloc'ed (N + 1 bytes, never NULL) and *len = N; the caller
 * wipes and frees it. On TOO_LARGE, *len holds the announced N. */
enum vg_rpc_frame_status vg_rpc_frame_read(int fd, const struct vg_rpc_io_limits *lim, uint8_t **body,
                                           size_t *len, vg_err *err);
/* Wipes (frames may carry keys) and frees a body from vg_rpc_frame_read. NULL is fine. */
void vg_rpc_frame_free(uint8_t *body, size_t len);
/* Writes length + body with one writev (retried on short writes), within timeout_ms (-1 = forever). */
int vg_rpc_frame_write(int fd, const uint8_t *body, size_t len, int timeout_ms, vg_err *err);
/* Writes raw bytes (tests send malformed frames with this). */
int vg_rpc_write_all(int fd, const uint8_t *buf, size_t len, int timeout_ms, vg_err *err);

#endif
