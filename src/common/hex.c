#include "common/hex.h"

#include <stdlib.h>

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vg_hex_decode(const char *hex, size_t hexlen, uint8_t **out, size_t *outlen, vg_err *err)
{
    if (hexlen % 2 != 0)
        return vg_fail(err, VG_E_INVALID, "invalid hex: odd length %zu", hexlen);
    uint8_t *buf = malloc(hexlen / 2 + 1);
    if (buf == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    for (size_t i = 0; i < hexlen; i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            size_t bad = hi < 0 ? i : i + 1;
            free(buf);
            unsigned char c = (unsigned char)hex[bad];
            if (c >= 0x20 && c < 0x7f)
                return vg_fail(err, VG_E_INVALID, "invalid hex: byte '%c' at offset %zu", c, bad);
            return vg_fail(err, VG_E_INVALID, "invalid hex: byte 0x%02x at offset %zu", c, bad);
        }
        buf[i / 2] = (uint8_t)((hi << 4) | lo);
    }
    *out = buf;
    *outlen = hexlen / 2;
    return 0;
}

void vg_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}
