/* The one bounded reader for untrusted bytes. Every read checks the remaining length first;
 * a failed read leaves the offset unchanged and reports the offset it failed at. */
#ifndef VIGIL_COMMON_READER_H
#define VIGIL_COMMON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t off;
    vg_err *err; /* where failures are reported (may be NULL) */
} vg_reader;

static inline vg_reader vg_reader_init(const uint8_t *buf, size_t len, vg_err *err)
{
    vg_reader r = {buf, len, 0, err};
    return r;
}

static inline size_t vg_rd_remaining(const vg_reader *r) { return r->len - r->off; }
static inline bool vg_rd_eof(const vg_reader *r) { return r->off == r->len; }

int vg_rd_u8(vg_reader *r, uint8_t *out);
int vg_rd_be16(vg_reader *r, uint16_t *out);
int vg_rd_be32(vg_reader *r, uint32_t *out);
int vg_rd_be64(vg_reader *r, uint64_t *out);
/* Points *out into the buffer (no copy). */
int vg_rd_bytes(vg_reader *r, size_t n, const uint8_t **out);
int vg_rd_copy(vg_reader *r, void *dst, size_t n);
int vg_rd_skip(vg_reader *r, size_t n);
/* Fails with "trailing N bytes at offset X" unless the input is fully consumed. */
int vg_rd_expect_end(vg_reader *r, const char *what);
/* A 4-byte big-endian length followed by that many bytes (Tezos "dyn"), capped at max. */
int vg_rd_dyn(vg_reader *r, size_t max, const uint8_t **out, size_t *len);

#endif
