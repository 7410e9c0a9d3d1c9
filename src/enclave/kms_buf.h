/* A bounded, growable text/byte buffer for building KMS requests (SigV4 canonical requests, JSON
 * bodies, HTTP heads). Errors are sticky: an append past `max` or a failed allocation sets `failed`
 * and later appends do nothing, so a builder runs straight through and checks once at the end (the
 * s2n stuffer habit). With `secure` the storage is vg_secure_alloc memory, wiped when it grows and
 * when freed: used for anything holding a private key (the Encrypt body carries one in base64). */
#ifndef VIGIL_ENCLAVE_KMS_BUF_H
#define VIGIL_ENCLAVE_KMS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_kms_buf {
    char *p;     /* NUL-terminated when not NULL */
    size_t len;  /* bytes used, without the NUL */
    size_t cap;  /* allocated bytes */
    size_t max;  /* hard cap on len */
    bool secure; /* storage from vg_secure_alloc */
    bool failed; /* an append went past max or could not allocate: content is incomplete */
};

/* An empty buffer (no allocation yet). */
void vg_kms_buf_init(struct vg_kms_buf *b, size_t max, bool secure);
/* Wipes and frees; the buffer is empty afterwards (NULL-safe content). */
void vg_kms_buf_free(struct vg_kms_buf *b);
void vg_kms_buf_add(struct vg_kms_buf *b, const void *data, size_t len);
void vg_kms_buf_str(struct vg_kms_buf *b, const char *s);
void vg_kms_buf_char(struct vg_kms_buf *b, char c);
void vg_kms_buf_printf(struct vg_kms_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Lower-case hex of data. */
void vg_kms_buf_hex(struct vg_kms_buf *b, const uint8_t *data, size_t len);
/* Standard base64 (with padding) of data. */
void vg_kms_buf_base64(struct vg_kms_buf *b, const uint8_t *data, size_t len);
/* A JSON string literal (quotes included): ", \ and control bytes escaped; other bytes as they are. */
void vg_kms_buf_json_string(struct vg_kms_buf *b, const char *s);
/* True when nothing was lost. */
static inline bool vg_kms_buf_ok(const struct vg_kms_buf *b) { return !b->failed && b->p != NULL; }

#endif
