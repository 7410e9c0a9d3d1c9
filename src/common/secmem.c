#include "common/secmem.h"

#include <sodium.h>

int vg_crypto_init(void) { return sodium_init() < 0 ? -1 : 0; }

void *vg_secure_alloc(size_t len) { return sodium_malloc(len); }

void vg_secure_free(void *p)
{
    if (p != NULL)
        sodium_free(p);
}

void vg_wipe(void *p, size_t len) { sodium_memzero(p, len); }
