#include "enclave/kms_buf.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"

void vg_kms_buf_init(struct vg_kms_buf *b, size_t max, bool secure)
{
    *b = (struct vg_kms_buf){.max = max, .secure = secure};
}

static void release(char *p, size_t cap, bool secure)
{
    if (p == NULL)
        return;
    if (secure) {
        vg_secure_free(p);
    } else {
        vg_wipe(p, cap); /* cheap, and nothing here should linger */
        free(p);
    }
}

void vg_kms_buf_free(struct vg_kms_buf *b)
{
    release(b->p, b->cap, b->secure);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Makes room for n more bytes plus the NUL. */
static bool reserve(struct vg_kms_buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n > b->max - b->len) {
        b->failed = true;
        return false;
    }
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = b->secure ? vg_secure_alloc(cap) : malloc(cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    if (b->p != NULL)
        memcpy(p, b->p, b->len + 1);
    else
        p[0] = '\0';
    release(b->p, b->cap, b->secure);
    b->p = p;
    b->cap = cap;
    return true;
}

void vg_kms_buf_add(struct vg_kms_buf *b, const void *data, size_t len)
{
    if (!reserve(b, len))
        return;
    if (len > 0)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void vg_kms_buf_str(struct vg_kms_buf *b, const char *s) { vg_kms_buf_add(b, s, strlen(s)); }

void vg_kms_buf_char(struct vg_kms_buf *b, char c) { vg_kms_buf_add(b, &c, 1); }

void vg_kms_buf_printf(struct vg_kms_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void vg_kms_buf_hex(struct vg_kms_buf *b, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    if (!reserve(b, 2 * len))
        return;
    for (size_t i = 0; i < len; i++) {
        b->p[b->len++] = digits[data[i] >> 4];
        b->p[b->len++] = digits[data[i] & 15];
    }
    b->p[b->len] = '\0';
}

void vg_kms_buf_base64(struct vg_kms_buf *b, const uint8_t *data, size_t len)
{
    size_t enc = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL); /* includes the NUL */
    if (!reserve(b, enc - 1))
        return;
    sodium_bin2base64(b->p + b->len, enc, data, len, sodium_base64_VARIANT_ORIGINAL);
    b->len += enc - 1;
}

void vg_kms_buf_json_string(struct vg_kms_buf *b, const char *s)
{
    vg_kms_buf_char(b, '"');
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if (*c == '"' || *c == '\\') {
            vg_kms_buf_char(b, '\\');
            vg_kms_buf_char(b, (char)*c);
        } else if (*c < 0x20 || *c == 0x7f) {
            vg_kms_buf_printf(b, "\\u%04x", *c);
        } else {
            vg_kms_buf_char(b, (char)*c);
        }
    }
    vg_kms_buf_char(b, '"');
}
