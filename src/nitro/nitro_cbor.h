/* The one bounded CBOR codec of the nitro module (attestation documents, NSM requests and replies).
 *
 * Strict where the RPC codec (rpc/rpc_cbor.h) is lenient on purpose: no tags except where the caller
 * asks for one, byte fields are definite bstr only, every read names the type it expects and fails
 * on anything else. It walks the input in place over a vg_reader (no allocation, values point into
 * the buffer), caps every count and nesting depth, and iterates instead of recursing.
 *
 * Why not libcbor: Debian ships no libcbor.a, and the NSM client must link into the static
 * vigil-enclave; libcbor's tree decoder also allocates per item. One small reader serves both. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/reader.h"

#define VG_NITRO_CBOR_DEPTH_MAX 8

#ifndef VG_NITRO_MUST_USE
#define VG_NITRO_MUST_USE __attribute__((warn_unused_result))
#endif

enum vg_nitro_cbor_major {
    VG_NITRO_CBOR_UINT = 0,
    VG_NITRO_CBOR_NEGINT = 1,
    VG_NITRO_CBOR_BYTES = 2,
    VG_NITRO_CBOR_TEXT = 3,
    VG_NITRO_CBOR_ARRAY = 4,
    VG_NITRO_CBOR_MAP = 5,
    VG_NITRO_CBOR_TAG = 6,
    VG_NITRO_CBOR_SIMPLE = 7,
};

/* An array or map being walked: definite (count known) or indefinite (ends at a break byte). */
struct vg_nitro_cbor_seq {
    uint64_t left; /* items (arrays) or pairs (maps) still to read when definite */
    uint64_t seen; /* items/pairs read so far */
    uint64_t max;  /* cap on items/pairs */
    bool indefinite;
};

/* ---- decoding: every failure goes to r->err (VG_E_INVALID) naming `what` and the offset ---- */

/* Major type of the next item without consuming it (-1 at end of input). */
int vg_nitro_cbor_peek(const vg_reader *r);
/* True (and consumed) if the next item is null (0xf6). */
bool vg_nitro_cbor_take_null(vg_reader *r);
/* Consumes tag `tag` if the next item carries it; *had says whether it did. */
int vg_nitro_cbor_take_tag(vg_reader *r, uint64_t tag, bool *had);
int vg_nitro_cbor_uint(vg_reader *r, const char *what, uint64_t *out);
/* An integer (major 0 or 1) in INT64 range. */
int vg_nitro_cbor_int(vg_reader *r, const char *what, int64_t *out);
/* A definite byte string of min..max bytes; *out points into the input. */
int vg_nitro_cbor_bytes(vg_reader *r, const char *what, size_t min, size_t max, const uint8_t **out,
                        size_t *len);
/* A definite text string of min..max bytes, valid UTF-8 without control characters; not NUL-terminated. */
int vg_nitro_cbor_text(vg_reader *r, const char *what, size_t min, size_t max, const char **out, size_t *len);
/* Starts an array / map of at most max items / pairs (definite or indefinite). */
int vg_nitro_cbor_array(vg_reader *r, const char *what, uint64_t max, struct vg_nitro_cbor_seq *s);
int vg_nitro_cbor_map(vg_reader *r, const char *what, uint64_t max, struct vg_nitro_cbor_seq *s);
/* Advances a sequence: *more = true when another item/pair follows (read it next); false at its end
 * (an indefinite sequence's break byte is consumed). Fails past the cap. */
int vg_nitro_cbor_next(vg_reader *r, const char *what, struct vg_nitro_cbor_seq *s, bool *more);
/* Skips one well-formed item (any type, nesting ≤ VG_NITRO_CBOR_DEPTH_MAX, sequences ≤ 4096 items). */
int vg_nitro_cbor_skip(vg_reader *r, const char *what);

/* ---- encoding: definite shortest heads; the output grows up to a hard cap ---- */

struct vg_nitro_cbor_out {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t max;
    bool failed; /* sticky: allocation failure or cap exceeded; reported once by _finish */
};

void vg_nitro_cbor_out_init(struct vg_nitro_cbor_out *o, size_t max);
/* Wipes and frees (encodings may carry key material). NULL-safe. */
void vg_nitro_cbor_out_free(struct vg_nitro_cbor_out *o);
VG_NITRO_MUST_USE int vg_nitro_cbor_out_finish(const struct vg_nitro_cbor_out *o, vg_err *err);
/* Hands the buffer to the caller (malloc'ed; free it) and resets o. */
uint8_t *vg_nitro_cbor_out_take(struct vg_nitro_cbor_out *o, size_t *len);

void vg_nitro_cbor_put_head(struct vg_nitro_cbor_out *o, enum vg_nitro_cbor_major major, uint64_t arg);
void vg_nitro_cbor_put_uint(struct vg_nitro_cbor_out *o, uint64_t v);
void vg_nitro_cbor_put_int(struct vg_nitro_cbor_out *o, int64_t v);
void vg_nitro_cbor_put_bytes(struct vg_nitro_cbor_out *o, const uint8_t *p, size_t n);
void vg_nitro_cbor_put_text(struct vg_nitro_cbor_out *o, const char *s);
void vg_nitro_cbor_put_null(struct vg_nitro_cbor_out *o);
/* bstr if p != NULL, else null. */
void vg_nitro_cbor_put_bytes_or_null(struct vg_nitro_cbor_out *o, const uint8_t *p, size_t n);
/* Raw bytes appended as they are (a pre-encoded item). */
void vg_nitro_cbor_put_raw(struct vg_nitro_cbor_out *o, const uint8_t *p, size_t n);
