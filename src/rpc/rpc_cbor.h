/* The CBOR subset of the enclave RPC: a bounded decoder over vg_reader and a capped encoder.
 *
 * Why not a general CBOR tree library: the enclave links statically (Debian ships no libcbor.a) and a
 * tree decoder allocates per item, so a 1 MiB frame of tiny items could cost tens of MiB per
 * session. This decoder walks the frame in place: no allocation except the byte/text values the
 * caller asks for, nesting capped at VG_CBOR_DEPTH_MAX, iteration instead of recursion.
 *
 * Decoding follows tee-signer's ciborium/serde rules (spec: shared/specs/enclave-rpc.md §2.2): tags in
 * front of a value are skipped; byte fields accept a definite or chunked bstr or an array of uints
 * 0..255; struct maps take keys in any order, ignore unknown keys, reject duplicate and missing ones;
 * an enum value is a one-pair definite map or, for a unit variant, a text string.
 * Error texts imitate ciborium's Debug form (`Semantic(None, "missing field `version`")`,
 * `Syntax(12)`) because they travel to tee-signer clients as the one-level decode error. */
#ifndef VIGIL_RPC_RPC_CBOR_H
#define VIGIL_RPC_RPC_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/reader.h"

#define VG_CBOR_DEPTH_MAX 16

enum vg_cbor_major {
    VG_CBOR_UINT = 0,
    VG_CBOR_NEGINT = 1,
    VG_CBOR_BYTES = 2,
    VG_CBOR_TEXT = 3,
    VG_CBOR_ARRAY = 4,
    VG_CBOR_MAP = 5,
    VG_CBOR_TAG = 6,
    VG_CBOR_SIMPLE = 7,
};

/* ---- decoding (every function reports through r->err; on failure the offset is unspecified) ---- */

/* Skips one complete, well-formed item (with its tags). */
int vg_cbor_skip(vg_reader *r);
/* True if the next value (after tags) is null; consumes it only when it is. */
bool vg_cbor_take_null(vg_reader *r);
int vg_cbor_read_uint(vg_reader *r, uint64_t *out);
/* Byte field of exactly n bytes into dst (dst may be secure memory). */
int vg_cbor_read_bytes_fixed(vg_reader *r, uint8_t *dst, size_t n);
/* Byte field of at most max bytes into a malloc'ed buffer (*out never NULL on success, even for 0
 * bytes). With secure, the buffer comes from vg_secure_alloc instead. Caller frees/wipes. */
int vg_cbor_read_bytes_alloc(vg_reader *r, size_t max, bool secure, uint8_t **out, size_t *len);
/* UTF-8 text of at most max bytes, NUL-terminated, malloc'ed (secure: vg_secure_alloc). */
int vg_cbor_read_text_alloc(vg_reader *r, size_t max, bool secure, char **out);
/* UTF-8 text into a fixed buffer, silently truncated to cap-1 bytes (for display only). */
int vg_cbor_read_text_trunc(vg_reader *r, char *dst, size_t cap);

/* A struct field: the decoder fills `value` with a sub-reader spanning exactly the field's item. */
struct vg_cbor_field {
    const char *name;
    bool optional;
    bool seen;
    vg_reader value;
};
/* Reads a map as a struct. Unknown keys are skipped; a duplicated known key and a missing
 * non-optional key are errors. */
int vg_cbor_read_struct(vg_reader *r, struct vg_cbor_field *fields, size_t n);

/* Reads an externally tagged enum value. *idx = index of the variant in names; *is_unit = it was a
 * bare text string (then *value is empty); otherwise *value spans the variant's content. */
int vg_cbor_read_enum(vg_reader *r, const char *what, const char *const *names, size_t n, size_t *idx,
                      bool *is_unit, vg_reader *value);

/* ---- encoding: definite lengths, shortest heads (spec §2.3) ---- */

struct vg_cbor_out {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t max;  /* hard limit: exceeding it fails the encoding */
    bool failed; /* sticky: set on allocation failure or overflow; checked once by _finish */
};

void vg_cbor_out_init(struct vg_cbor_out *o, size_t max);
/* Wipes (encodings may carry keys or sealed blobs) and frees. */
void vg_cbor_out_free(struct vg_cbor_out *o);
/* Returns -1 with an error if any put failed. */
int vg_cbor_out_finish(const struct vg_cbor_out *o, vg_err *err);

void vg_cbor_put_head(struct vg_cbor_out *o, enum vg_cbor_major major, uint64_t arg);
void vg_cbor_put_uint(struct vg_cbor_out *o, uint64_t v);
void vg_cbor_put_bytes(struct vg_cbor_out *o, const uint8_t *p, size_t n);
void vg_cbor_put_text(struct vg_cbor_out *o, const char *s);
void vg_cbor_put_null(struct vg_cbor_out *o);
/* Ed25519 signatures: array(n) of uints (spec §2.1). */
void vg_cbor_put_byte_array(struct vg_cbor_out *o, const uint8_t *p, size_t n);

#endif
