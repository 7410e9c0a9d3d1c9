/* BLAKE2b digests used by Tezos: 32 bytes for signed messages, 20 bytes for public key hashes. */
#include <sodium.h>

#include "crypto/key.h"

void vg_blake2b_256(const uint8_t *msg, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, msg, len, NULL, 0);
}

void vg_blake2b_160(const uint8_t *msg, size_t len, uint8_t out[20])
{
    crypto_generichash(out, 20, msg, len, NULL, 0);
}
