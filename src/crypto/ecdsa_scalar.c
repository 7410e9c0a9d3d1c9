/* Big-endian 256-bit scalar checks shared by the two ECDSA curves. */
#include "crypto/key_impl.h"

/* 1 iff a < b as 32-byte big-endian integers, without branching on the bytes: the borrow out of
 * a - b. Used on secret scalars, so it must not leak where they differ from the order. */
static unsigned less_than(const uint8_t a[32], const uint8_t b[32])
{
    unsigned borrow = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned d = (unsigned)a[i] - (unsigned)b[i] - borrow;
        borrow = (d >> 8) & 1u;
    }
    return borrow;
}

bool vg_ecdsa_scalar_in_range(const uint8_t x[32], const uint8_t n[32])
{
    unsigned any = 0;
    for (int i = 0; i < 32; i++)
        any |= x[i];
    unsigned nonzero = (any + 0xffu) >> 8; /* 1 iff any != 0 */
    return (nonzero & less_than(x, n)) != 0;
}

void vg_ecdsa_scalar_negate(uint8_t s[32], const uint8_t n[32])
{
    unsigned borrow = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned v = (unsigned)n[i] - (unsigned)s[i] - borrow;
        s[i] = (uint8_t)v;
        borrow = (v >> 8) & 1u;
    }
}

bool vg_ecdsa_scalar_is_low_s(const uint8_t s[32], const uint8_t half_n[32])
{
    return less_than(half_n, s) == 0;
}
