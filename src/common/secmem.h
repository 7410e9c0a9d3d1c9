/* Secret buffers: libsodium's guarded allocations (mlocked, guard pages, zeroed on free).
 * All private key bytes live in these and nowhere else. */
#ifndef VIGIL_COMMON_SECMEM_H
#define VIGIL_COMMON_SECMEM_H

#include <stddef.h>

/* Must run once before any other vigil call (initialises libsodium). Returns -1 on failure. */
int vg_crypto_init(void);

void *vg_secure_alloc(size_t len);          /* NULL on failure */
void vg_secure_free(void *p);               /* zeroes, unlocks, frees; NULL is fine */
void vg_wipe(void *p, size_t len);          /* zeroing the compiler cannot elide */

#endif
