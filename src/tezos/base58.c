/* Base58 in big limbs: the encoder takes 4 input bytes per step into base-58^5 limbs and the decoder
 * 5 characters per step into base-2^32 limbs, about 6x fewer multiply-adds than digit-at-a-time
 * (spec: shared/specs/perf-limits.md "Use a fast base58 encoder": 0.8 us instead of 4.7 us per edsig).
 * Limb counts follow from the input length only, and digit<->character maps are branch-free, so
 * secret keys are converted without data-dependent branches or table lookups. */
#include "tezos/base58.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#include "common/secmem.h"

#define B58_BASE 58u
#define B58_LIMB_BASE 656356768u /* 58^5 < 2^32 */
/* A base-58^5 limb carries log2(58^5) = 29.29 bits, so bits/29 + 1 limbs always suffice. */
#define ENC_LIMBS_MAX (VG_BASE58_BYTES_MAX * 8 / 29 + 1)
/* A character carries log2(58) = 5.86 < 6 bits, so chars*6/32 + 1 32-bit limbs suffice. */
#define DEC_LIMBS_MAX (VG_BASE58_CHARS_MAX * 6 / 32 + 1)
#define CHECKSUM_LEN 4

/* Digit (0..57) to its character in 123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz:
 * start at '1' + v and add the width of each gap in the alphabet that v lies beyond.
 * ((t - v) >> 8) is all ones exactly when v > t (v < 256). */
static char digit_char(uint32_t v)
{
    int x = (int)v;
    int c = '1' + x;
    c += ((8 - x) >> 8) & 7;  /* ':'..'@' */
    c += ((16 - x) >> 8) & 1; /* 'I' */
    c += ((21 - x) >> 8) & 1; /* 'O' */
    c += ((32 - x) >> 8) & 6; /* '['..'`' */
    c += ((43 - x) >> 8) & 1; /* 'l' */
    return (char)c;
}

/* Character to digit, or -1. Each range adds (offset + 1) to -1 when lo <= c <= hi; the mask
 * ((lo - 1 - c) & (c - hi - 1)) >> 8 is all ones exactly then. */
static int char_digit(unsigned char ch)
{
    int c = ch;
    int v = -1;
    v += ((('1' - 1 - c) & (c - '9' - 1)) >> 8) & (c - '1' + 1);
    v += ((('A' - 1 - c) & (c - 'H' - 1)) >> 8) & (c - 'A' + 10);
    v += ((('J' - 1 - c) & (c - 'N' - 1)) >> 8) & (c - 'J' + 18);
    v += ((('P' - 1 - c) & (c - 'Z' - 1)) >> 8) & (c - 'P' + 23);
    v += ((('a' - 1 - c) & (c - 'k' - 1)) >> 8) & (c - 'a' + 34);
    v += ((('m' - 1 - c) & (c - 'z' - 1)) >> 8) & (c - 'm' + 45);
    return v;
}

size_t vg_base58_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (out == NULL || cap == 0 || len > VG_BASE58_BYTES_MAX || (in == NULL && len != 0))
        return 0;
    out[0] = '\0';
    size_t zeros = 0;
    while (zeros < len && in[zeros] == 0)
        zeros++;

    /* Big-endian input in 32-bit words (the first one partial) into little-endian base-58^5 limbs. */
    uint32_t limbs[ENC_LIMBS_MAX] = {0};
    size_t used = 0;
    size_t bits = 0;
    size_t pos = zeros;
    size_t take = (len - zeros) % 4 != 0 ? (len - zeros) % 4 : 4;
    while (pos < len) {
        uint32_t word = 0;
        for (size_t j = 0; j < take; j++)
            word = (word << 8) | in[pos + j];
        pos += take;
        unsigned shift = (unsigned)(8 * take);
        bits += 8 * take;
        used = bits / 29 + 1;
        uint64_t carry = word;
        for (size_t i = 0; i < used; i++) {
            uint64_t t = ((uint64_t)limbs[i] << shift) + carry;
            limbs[i] = (uint32_t)(t % B58_LIMB_BASE);
            carry = t / B58_LIMB_BASE;
        }
        take = 4;
    }

    char digits[ENC_LIMBS_MAX * 5];
    size_t ndigits = used * 5;
    for (size_t i = 0; i < used; i++) {
        uint32_t v = limbs[i];
        for (size_t j = 0; j < 5; j++) {
            digits[i * 5 + j] = digit_char(v % B58_BASE);
            v /= B58_BASE;
        }
    }
    while (ndigits > 0 && digits[ndigits - 1] == '1')
        ndigits--;

    size_t n = zeros + ndigits;
    if (n + 1 <= cap) {
        memset(out, '1', zeros);
        for (size_t i = 0; i < ndigits; i++)
            out[zeros + i] = digits[ndigits - 1 - i];
        out[n] = '\0';
    } else {
        n = 0;
    }
    vg_wipe(limbs, used * sizeof limbs[0]);
    vg_wipe(digits, used * 5);
    return n;
}

int vg_base58_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{
    if (outlen != NULL)
        *outlen = 0;
    if (s == NULL || slen > VG_BASE58_CHARS_MAX)
        return -1;
    size_t zeros = 0;
    while (zeros < slen && s[zeros] == '1')
        zeros++;

    /* Characters in groups of five (the first one partial) into little-endian base-2^32 limbs. */
    uint32_t limbs[DEC_LIMBS_MAX] = {0};
    size_t used = 0;
    size_t nchars = 0;
    int bad = 0;
    size_t pos = zeros;
    size_t take = (slen - zeros) % 5 != 0 ? (slen - zeros) % 5 : 5;
    while (pos < slen) {
        uint32_t group = 0;
        uint32_t mult = 1;
        for (size_t j = 0; j < take; j++) {
            int v = char_digit((unsigned char)s[pos + j]);
            bad |= v; /* negative once any character is invalid */
            group = group * B58_BASE + (uint32_t)(v & 63);
            mult *= B58_BASE;
        }
        pos += take;
        nchars += take;
        used = nchars * 6 / 32 + 1;
        uint64_t carry = group;
        for (size_t i = 0; i < used; i++) {
            uint64_t t = (uint64_t)limbs[i] * mult + carry;
            limbs[i] = (uint32_t)t;
            carry = t >> 32;
        }
        take = 5;
    }

    uint8_t bytes[DEC_LIMBS_MAX * 4];
    for (size_t i = 0; i < used; i++) {
        uint32_t v = limbs[used - 1 - i];
        bytes[4 * i] = (uint8_t)(v >> 24);
        bytes[4 * i + 1] = (uint8_t)(v >> 16);
        bytes[4 * i + 2] = (uint8_t)(v >> 8);
        bytes[4 * i + 3] = (uint8_t)v;
    }
    size_t skip = 0;
    while (skip < used * 4 && bytes[skip] == 0)
        skip++;
    size_t n = zeros + (used * 4 - skip);
    int rc = -1;
    if (bad >= 0 && n <= cap && out != NULL) {
        memset(out, 0, zeros);
        memcpy(out + zeros, bytes + skip, used * 4 - skip);
        if (outlen != NULL)
            *outlen = n;
        rc = 0;
    }
    vg_wipe(limbs, used * sizeof limbs[0]);
    vg_wipe(bytes, used * 4);
    return rc;
}

/* ---- checksum: SHA-256d through OpenSSL (SHA-NI where available); one reusable digest context per
 * thread saves an allocation per call. libsodium's portable SHA-256 is the fallback. ---- */

static EVP_MD *sha256_md;
static pthread_key_t sha256_ctx_key;
static bool sha256_ready;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void free_digest_ctx(void *ctx) { EVP_MD_CTX_free(ctx); }

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha256_ready = sha256_md != NULL && pthread_key_create(&sha256_ctx_key, free_digest_ctx) == 0;
}

static EVP_MD_CTX *thread_digest_ctx(void)
{
    pthread_once(&sha256_once, sha256_init);
    if (!sha256_ready)
        return NULL;
    EVP_MD_CTX *ctx = pthread_getspecific(sha256_ctx_key);
    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx != NULL && pthread_setspecific(sha256_ctx_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    }
    return ctx;
}

static void checksum(const uint8_t *in, size_t len, uint8_t out[CHECKSUM_LEN])
{
    uint8_t h[32];
    unsigned hlen = 0;
    EVP_MD_CTX *ctx = thread_digest_ctx();
    bool ok = ctx != NULL && EVP_DigestInit_ex2(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, in, len) &&
              EVP_DigestFinal_ex(ctx, h, &hlen) && EVP_DigestInit_ex2(ctx, sha256_md, NULL) &&
              EVP_DigestUpdate(ctx, h, sizeof h) && EVP_DigestFinal_ex(ctx, h, &hlen);
    if (!ok) {
        crypto_hash_sha256(h, in, len);
        crypto_hash_sha256(h, h, sizeof h);
    }
    memcpy(out, h, CHECKSUM_LEN);
}

size_t vg_base58_check_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (out == NULL || cap == 0 || len > VG_BASE58_BYTES_MAX - CHECKSUM_LEN || (in == NULL && len != 0))
        return 0;
    uint8_t buf[VG_BASE58_BYTES_MAX];
    if (len > 0)
        memcpy(buf, in, len);
    checksum(in, len, buf + len);
    size_t n = vg_base58_encode(buf, len + CHECKSUM_LEN, out, cap);
    vg_wipe(buf, len + CHECKSUM_LEN);
    return n;
}

int vg_base58_check_decode(const char *s, uint8_t *out, size_t cap, size_t *outlen, vg_err *err)
{
    if (outlen != NULL)
        *outlen = 0;
    if (s == NULL)
        return vg_fail(err, VG_E_INVALID, "base58check: empty string");
    size_t slen = strnlen(s, VG_BASE58_CHARS_MAX + 1);
    if (slen > VG_BASE58_CHARS_MAX)
        return vg_fail(err, VG_E_INVALID, "base58check: string too long");
    uint8_t buf[VG_BASE58_BYTES_MAX];
    size_t n = 0;
    int rc = -1;
    if (vg_base58_decode(s, slen, buf, sizeof buf, &n) < 0) {
        vg_fail(err, VG_E_INVALID, "base58check: invalid base58 string");
    } else if (n < CHECKSUM_LEN) {
        vg_fail(err, VG_E_INVALID, "base58check: string too short");
    } else {
        uint8_t sum[CHECKSUM_LEN];
        checksum(buf, n - CHECKSUM_LEN, sum);
        if (sodium_memcmp(sum, buf + n - CHECKSUM_LEN, CHECKSUM_LEN) != 0) {
            vg_fail(err, VG_E_INVALID, "base58check: invalid checksum");
        } else if (n - CHECKSUM_LEN > cap || (out == NULL && n > CHECKSUM_LEN)) {
            vg_fail(err, VG_E_INVALID, "base58check: decoded payload too long");
        } else {
            if (n > CHECKSUM_LEN)
                memcpy(out, buf, n - CHECKSUM_LEN);
            if (outlen != NULL)
                *outlen = n - CHECKSUM_LEN;
            rc = 0;
        }
    }
    vg_wipe(buf, sizeof buf);
    return rc;
}
