#include "common/reader.h"

#include <string.h>

static int need(vg_reader *r, size_t n)
{
    if (n > vg_rd_remaining(r))
        return vg_fail(r->err, VG_E_INVALID, "truncated input at offset %zu: need %zu bytes, %zu left", r->off,
                       n, vg_rd_remaining(r));
    return 0;
}

int vg_rd_u8(vg_reader *r, uint8_t *out)
{
    if (need(r, 1) < 0)
        return -1;
    *out = r->buf[r->off++];
    return 0;
}

int vg_rd_be16(vg_reader *r, uint16_t *out)
{
    if (need(r, 2) < 0)
        return -1;
    const uint8_t *p = r->buf + r->off;
    *out = (uint16_t)((p[0] << 8) | p[1]);
    r->off += 2;
    return 0;
}

int vg_rd_be32(vg_reader *r, uint32_t *out)
{
    if (need(r, 4) < 0)
        return -1;
    const uint8_t *p = r->buf + r->off;
    *out = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    r->off += 4;
    return 0;
}

int vg_rd_be64(vg_reader *r, uint64_t *out)
{
    uint32_t hi, lo;
    if (need(r, 8) < 0)
        return -1;
    vg_rd_be32(r, &hi);
    vg_rd_be32(r, &lo);
    *out = ((uint64_t)hi << 32) | lo;
    return 0;
}

int vg_rd_bytes(vg_reader *r, size_t n, const uint8_t **out)
{
    if (need(r, n) < 0)
        return -1;
    *out = r->buf + r->off;
    r->off += n;
    return 0;
}

int vg_rd_copy(vg_reader *r, void *dst, size_t n)
{
    const uint8_t *p;
    if (vg_rd_bytes(r, n, &p) < 0)
        return -1;
    memcpy(dst, p, n);
    return 0;
}

int vg_rd_skip(vg_reader *r, size_t n)
{
    const uint8_t *p;
    return vg_rd_bytes(r, n, &p);
}

int vg_rd_expect_end(vg_reader *r, const char *what)
{
    if (!vg_rd_eof(r))
        return vg_fail(r->err, VG_E_INVALID, "%s: %zu trailing bytes at offset %zu", what, vg_rd_remaining(r),
                       r->off);
    return 0;
}

int vg_rd_dyn(vg_reader *r, size_t max, const uint8_t **out, size_t *len)
{
    size_t start = r->off;
    uint32_t n;
    if (vg_rd_be32(r, &n) < 0)
        return -1;
    if (n > max) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "length %u at offset %zu exceeds limit %zu", n, start, max);
    }
    if (vg_rd_bytes(r, n, out) < 0) {
        r->off = start;
        return -1;
    }
    *len = n;
    return 0;
}
