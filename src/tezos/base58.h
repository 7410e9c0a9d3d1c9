/* Base58 (Bitcoin alphabet) and base58check (payload || first 4 bytes of SHA-256(SHA-256(payload))).
 * Prefix-free building blocks under tezos/encoding.h; payloads here include the Tezos prefix. */
#ifndef VIGIL_TEZOS_BASE58_H
#define VIGIL_TEZOS_BASE58_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VG_BASE58_BYTES_MAX 128 /* longest binary input/output handled (Tezos needs 105) */
#define VG_BASE58_CHARS_MAX 176 /* longest string accepted by the decoders (encodes 128 bytes) */

/* Encodes len bytes into out (NUL-terminated). Returns the string length, or 0 when len exceeds
 * VG_BASE58_BYTES_MAX or the string and its NUL do not fit in cap. An empty input encodes to "". */
size_t vg_base58_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Decodes slen characters. Returns -1 on a character outside the alphabet, an over-long string,
 * or a result larger than cap. Temporaries are wiped (the input may be a secret key). */
int vg_base58_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen);

/* base58check: appends the 4-byte checksum and encodes. Same return convention as vg_base58_encode;
 * len is limited to VG_BASE58_BYTES_MAX - 4. */
size_t vg_base58_check_encode(const uint8_t *in, size_t len, char *out, size_t cap);
/* Decodes and verifies the checksum; *outlen excludes the checksum. VG_E_INVALID with
 * "base58check: ..." messages (bad character, too short/long, invalid checksum). */
int vg_base58_check_decode(const char *s, uint8_t *out, size_t cap, size_t *outlen, vg_err *err);

#endif
