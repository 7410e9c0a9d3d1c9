#ifndef VIGIL_COMMON_HEX_H
#define VIGIL_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Strict hex decode (either case, no prefix, no whitespace). *out is malloc'ed. */
int vg_hex_decode(const char *hex, size_t hexlen, uint8_t **out, size_t *outlen, vg_err *err);
/* Lower-case hex; out must hold 2*len+1 bytes. */
void vg_hex_encode(const uint8_t *in, size_t len, char *out);

#endif
