#include "rpc/rpc_cbor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"

struct head {
    uint8_t major;
    uint8_t info;
    uint64_t arg;
    bool indef;    /* indefinite-length string, array or map */
    bool is_break; /* the 0xff stop code */
};

/* ---- errors in ciborium's Debug shape ---- */

static int syntax_error(vg_reader *r, size_t off) { return vg_fail(r->err, VG_E_INVALID, "Syntax(%zu)", off); }

static int eof_error(vg_reader *r) { return vg_fail(r->err, VG_E_INVALID, "Io(UnexpectedEof)"); }

__attribute__((format(printf, 2, 3))) static int semantic_error(vg_reader *r, const char *fmt, ...)
{
    char text[VG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return vg_fail(r->err, VG_E_INVALID, "Semantic(None, \"%s\")", text);
}

static const char *describe(const struct head *h)
{
    switch (h->major) {
    case VG_CBOR_UINT: return "integer";
    case VG_CBOR_NEGINT: return "negative integer";
    case VG_CBOR_BYTES: return "bytes";
    case VG_CBOR_TEXT: return "string";
    case VG_CBOR_ARRAY: return "sequence";
    case VG_CBOR_MAP: return "map";
    case VG_CBOR_TAG: return "tag";
    default: break;
    }
    if (h->is_break)
        return "break";
    switch (h->info) {
    case 20:
    case 21: return "boolean";
    case 22: return "null";
    case 23: return "undefined";
    case 25:
    case 26:
    case 27: return "float";
    default: return "simple value";
    }
}

/* Untrusted names echoed in errors: printable ASCII only, short. */
static void sanitize(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++)
        out[o++] = (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') ? (char)p[i] : '?';
    if (n > 0 && o + 4 >= cap) {
        out[o++] = '.';
        out[o++] = '.';
    }
    out[o] = '\0';
}

/* ---- heads ---- */

static int read_head(vg_reader *r, struct head *h)
{
    size_t start = r->off;
    if (vg_rd_remaining(r) < 1)
        return eof_error(r);
    uint8_t ib = r->buf[r->off++];
    h->major = (uint8_t)(ib >> 5);
    h->info = ib & 0x1f;
    h->arg = 0;
    h->indef = false;
    h->is_break = false;
    if (h->info < 24) {
        h->arg = h->info;
        return 0;
    }
    if (h->info <= 27) {
        size_t n = (size_t)1 << (h->info - 24);
        if (vg_rd_remaining(r) < n)
            return eof_error(r);
        for (size_t i = 0; i < n; i++)
            h->arg = (h->arg << 8) | r->buf[r->off++];
        return 0;
    }
    if (h->info == 31) {
        if (h->major >= VG_CBOR_BYTES && h->major <= VG_CBOR_MAP) {
            h->indef = true;
            return 0;
        }
        if (h->major == VG_CBOR_SIMPLE) {
            h->is_break = true;
            return 0;
        }
    }
    return syntax_error(r, start); /* reserved additional info 28..30, or 31 on an int/tag */
}

static int peek_head(const vg_reader *r, struct head *h)
{
    vg_reader copy = *r;
    return read_head(&copy, h);
}

static int skip_tags(vg_reader *r)
{
    struct head h;
    for (;;) {
        if (peek_head(r, &h) < 0)
            return -1;
        if (h.major != VG_CBOR_TAG)
            return 0;
        if (read_head(r, &h) < 0)
            return -1;
    }
}

/* The head of a value: tags skipped, and a break (which only closes an indefinite container) is
 * malformed here. With peek, nothing is consumed but the tags. */
static int value_head(vg_reader *r, struct head *h, bool peek)
{
    if (skip_tags(r) < 0 || peek_head(r, h) < 0)
        return -1;
    if (h->is_break)
        return syntax_error(r, r->off);
    return peek ? 0 : read_head(r, h);
}

static int skip_payload(vg_reader *r, uint64_t n)
{
    if (n > vg_rd_remaining(r))
        return eof_error(r);
    r->off += (size_t)n;
    return 0;
}

/* Chunks of an indefinite string: definite strings of the same major type, then a break. */
static int skip_chunks(vg_reader *r, uint8_t major)
{
    for (;;) {
        size_t start = r->off;
        struct head h;
        if (read_head(r, &h) < 0)
            return -1;
        if (h.is_break)
            return 0;
        if (h.major != major || h.indef)
            return syntax_error(r, start);
        if (skip_payload(r, h.arg) < 0)
            return -1;
    }
}

struct level {
    uint64_t left; /* items still expected (definite containers) */
    uint64_t seen; /* items seen (indefinite containers, to check map pairs) */
    bool indef;
    bool map;
};

int vg_cbor_skip(vg_reader *r)
{
    struct level stack[VG_CBOR_DEPTH_MAX];
    size_t depth = 0;
    bool after_tag = false;
    for (;;) {
        size_t start = r->off;
        struct head h;
        if (read_head(r, &h) < 0)
            return -1;
        if (h.is_break) {
            struct level *top = depth > 0 ? &stack[depth - 1] : NULL;
            if (top == NULL || !top->indef || after_tag || (top->map && top->seen % 2 != 0))
                return syntax_error(r, start);
            depth--;
        } else if (h.major == VG_CBOR_TAG) {
            after_tag = true;
            continue;
        } else if (h.major == VG_CBOR_BYTES || h.major == VG_CBOR_TEXT) {
            if ((h.indef ? skip_chunks(r, h.major) : skip_payload(r, h.arg)) < 0)
                return -1;
        } else if (h.major == VG_CBOR_ARRAY || h.major == VG_CBOR_MAP) {
            bool map = h.major == VG_CBOR_MAP;
            if (depth == VG_CBOR_DEPTH_MAX)
                return vg_fail(r->err, VG_E_INVALID, "RecursionLimitExceeded");
            /* Every item takes at least one byte: reject impossible counts before looping. */
            if (!h.indef && (h.arg > vg_rd_remaining(r) || (map && h.arg > vg_rd_remaining(r) / 2)))
                return eof_error(r);
            uint64_t items = map ? h.arg * 2 : h.arg;
            after_tag = false;
            if (h.indef || items > 0) {
                stack[depth++] = (struct level){items, 0, h.indef, map};
                continue;
            }
        }
        /* An item is complete: account for it in the enclosing containers. */
        after_tag = false;
        for (;;) {
            if (depth == 0)
                return 0;
            struct level *top = &stack[depth - 1];
            if (top->indef) {
                top->seen++;
                break;
            }
            if (--top->left > 0)
                break;
            depth--;
        }
    }
}

bool vg_cbor_take_null(vg_reader *r)
{
    vg_reader copy = *r;
    struct head h;
    if (skip_tags(&copy) < 0 || read_head(&copy, &h) < 0)
        return false;
    if (h.major != VG_CBOR_SIMPLE || h.info != 22)
        return false;
    *r = copy;
    return true;
}

int vg_cbor_read_uint(vg_reader *r, uint64_t *out)
{
    struct head h;
    if (value_head(r, &h, false) < 0)
        return -1;
    if (h.major != VG_CBOR_UINT)
        return semantic_error(r, "invalid type: %s, expected unsigned integer", describe(&h));
    *out = h.arg;
    return 0;
}

/* ---- byte and text values ---- */

/* Walks one byte field (bstr, chunked bstr, or array of uints 0..255). With dst == NULL it only
 * measures; otherwise it copies at most cap bytes. */
static int walk_bytes(vg_reader *r, uint8_t *dst, size_t cap, size_t *total)
{
    struct head h;
    *total = 0;
    if (value_head(r, &h, false) < 0)
        return -1;
    if (h.major == VG_CBOR_BYTES) {
        for (bool chunked = h.indef;;) {
            if (chunked) {
                size_t start = r->off;
                if (read_head(r, &h) < 0)
                    return -1;
                if (h.is_break)
                    return 0;
                if (h.major != VG_CBOR_BYTES || h.indef)
                    return syntax_error(r, start);
            }
            if (h.arg > vg_rd_remaining(r))
                return eof_error(r);
            size_t n = (size_t)h.arg;
            if (dst != NULL) {
                if (n > cap - *total)
                    return vg_fail(r->err, VG_E_INTERNAL, "byte field changed size");
                memcpy(dst + *total, r->buf + r->off, n);
            }
            r->off += n;
            *total += n;
            if (!chunked)
                return 0;
        }
    }
    if (h.major != VG_CBOR_ARRAY)
        return semantic_error(r, "invalid type: %s, expected bytes", describe(&h));
    if (!h.indef && h.arg > vg_rd_remaining(r))
        return eof_error(r);
    for (uint64_t i = 0; h.indef || i < h.arg; i++) {
        struct head e;
        if (h.indef) {
            if (peek_head(r, &e) < 0)
                return -1;
            if (e.is_break) {
                r->off++;
                return 0;
            }
        }
        if (value_head(r, &e, false) < 0)
            return -1;
        if (e.major != VG_CBOR_UINT)
            return semantic_error(r, "invalid type: %s, expected u8", describe(&e));
        if (e.arg > 255)
            return semantic_error(r, "invalid value: integer `%llu`, expected u8", (unsigned long long)e.arg);
        if (dst != NULL) {
            if (*total >= cap)
                return vg_fail(r->err, VG_E_INTERNAL, "byte field changed size");
            dst[*total] = (uint8_t)e.arg;
        }
        (*total)++;
    }
    return 0;
}

int vg_cbor_read_bytes_fixed(vg_reader *r, uint8_t *dst, size_t n)
{
    vg_reader probe = *r;
    size_t len;
    if (walk_bytes(&probe, NULL, 0, &len) < 0)
        return -1;
    if (len != n)
        return semantic_error(r, "invalid length %zu, expected %zu bytes", len, n);
    return walk_bytes(r, dst, n, &len);
}

int vg_cbor_read_bytes_alloc(vg_reader *r, size_t max, bool secure, uint8_t **out, size_t *len)
{
    vg_reader probe = *r;
    size_t n;
    *out = NULL;
    *len = 0;
    if (walk_bytes(&probe, NULL, 0, &n) < 0)
        return -1;
    if (n > max)
        return semantic_error(r, "invalid length %zu, expected at most %zu bytes", n, max);
    uint8_t *buf = secure ? vg_secure_alloc(n + 1) : malloc(n + 1);
    if (buf == NULL)
        return vg_fail(r->err, VG_E_UNAVAILABLE, "out of memory");
    size_t got;
    if (walk_bytes(r, buf, n, &got) < 0) {
        if (secure) {
            vg_secure_free(buf);
        } else {
            vg_wipe(buf, n + 1);
            free(buf);
        }
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Walks a definite or chunked text string, copying up to cap bytes when dst is set. */
static int walk_text(vg_reader *r, char *dst, size_t cap, size_t *total)
{
    struct head h;
    *total = 0;
    if (value_head(r, &h, false) < 0)
        return -1;
    if (h.major != VG_CBOR_TEXT)
        return semantic_error(r, "invalid type: %s, expected a string", describe(&h));
    for (bool chunked = h.indef;;) {
        if (chunked) {
            size_t start = r->off;
            if (read_head(r, &h) < 0)
                return -1;
            if (h.is_break)
                return 0;
            if (h.major != VG_CBOR_TEXT || h.indef)
                return syntax_error(r, start);
        }
        if (h.arg > vg_rd_remaining(r))
            return eof_error(r);
        size_t n = (size_t)h.arg;
        if (dst != NULL && *total < cap)
            memcpy(dst + *total, r->buf + r->off, n < cap - *total ? n : cap - *total);
        r->off += n;
        *total += n;
        if (!chunked)
            return 0;
    }
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}

int vg_cbor_read_text_alloc(vg_reader *r, size_t max, bool secure, char **out)
{
    vg_reader probe = *r;
    size_t n;
    *out = NULL;
    if (walk_text(&probe, NULL, 0, &n) < 0)
        return -1;
    if (n > max)
        return semantic_error(r, "invalid length %zu, expected a string of at most %zu bytes", n, max);
    char *buf = secure ? vg_secure_alloc(n + 1) : malloc(n + 1);
    if (buf == NULL)
        return vg_fail(r->err, VG_E_UNAVAILABLE, "out of memory");
    size_t got;
    int rc = walk_text(r, buf, n, &got);
    if (rc == 0 && !utf8_valid((const uint8_t *)buf, n))
        rc = semantic_error(r, "invalid utf-8 in string");
    if (rc < 0) {
        if (secure) {
            vg_secure_free(buf);
        } else {
            vg_wipe(buf, n + 1);
            free(buf);
        }
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

int vg_cbor_read_text_trunc(vg_reader *r, char *dst, size_t cap)
{
    size_t n;
    if (cap == 0)
        return vg_fail(r->err, VG_E_INTERNAL, "empty text buffer");
    if (walk_text(r, dst, cap - 1, &n) < 0)
        return -1;
    size_t kept = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < kept; i++) {
        unsigned char c = (unsigned char)dst[i];
        if (c < 0x20 || c == 0x7f)
            dst[i] = '?'; /* display only: no control bytes reach logs or terminals */
    }
    dst[kept] = '\0';
    return 0;
}

/* ---- structs and enums ---- */

#define KEY_MAX 64

/* A map key: text (or bytes, as serde identifiers allow). Sets *len > KEY_MAX-1 when too long to
 * match any name (the key is still consumed). */
static int read_key(vg_reader *r, char key[KEY_MAX], size_t *len)
{
    struct head h;
    if (value_head(r, &h, true) < 0)
        return -1;
    size_t start = r->off;
    if (read_head(r, &h) < 0)
        return -1;
    if ((h.major != VG_CBOR_TEXT && h.major != VG_CBOR_BYTES) || h.indef) {
        r->off = start;
        return semantic_error(r, "invalid type: %s, expected str or bytes", describe(&h));
    }
    if (h.arg > vg_rd_remaining(r))
        return eof_error(r);
    *len = (size_t)h.arg;
    if (*len < KEY_MAX) {
        memcpy(key, r->buf + r->off, *len);
        key[*len] = '\0';
    } else {
        key[0] = '\0';
    }
    r->off += (size_t)h.arg;
    return 0;
}

static bool key_is(const char *key, size_t len, const char *name)
{
    return len < KEY_MAX && strlen(name) == len && memcmp(key, name, len) == 0;
}

int vg_cbor_read_struct(vg_reader *r, struct vg_cbor_field *fields, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        fields[j].seen = false;
        fields[j].value = vg_reader_init(r->buf, 0, r->err);
    }
    struct head h;
    if (value_head(r, &h, false) < 0)
        return -1;
    if (h.major != VG_CBOR_MAP)
        return semantic_error(r, "invalid type: %s, expected struct", describe(&h));
    if (!h.indef && h.arg > vg_rd_remaining(r) / 2)
        return eof_error(r);
    for (uint64_t i = 0; h.indef || i < h.arg; i++) {
        if (h.indef) {
            struct head b;
            if (peek_head(r, &b) < 0)
                return -1;
            if (b.is_break) {
                r->off++;
                break;
            }
        }
        char key[KEY_MAX];
        size_t key_len;
        if (read_key(r, key, &key_len) < 0)
            return -1;
        size_t start = r->off;
        if (vg_cbor_skip(r) < 0)
            return -1;
        for (size_t j = 0; j < n; j++) {
            if (!key_is(key, key_len, fields[j].name))
                continue;
            if (fields[j].seen)
                return semantic_error(r, "duplicate field `%s`", fields[j].name);
            fields[j].seen = true;
            fields[j].value = vg_reader_init(r->buf + start, r->off - start, r->err);
        }
    }
    for (size_t j = 0; j < n; j++) {
        if (!fields[j].seen && !fields[j].optional)
            return semantic_error(r, "missing field `%s`", fields[j].name);
    }
    return 0;
}

static int unknown_variant(vg_reader *r, const char *key, size_t key_len, const char *const *names, size_t n)
{
    char shown[40];
    char expected[160] = "";
    size_t used = 0;
    sanitize((const uint8_t *)key, key_len < KEY_MAX ? key_len : 0, shown, sizeof shown);
    for (size_t j = 0; j < n && used < sizeof expected; j++) {
        int w = snprintf(expected + used, sizeof expected - used, "%s`%s`", j ? ", " : "", names[j]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return semantic_error(r, "unknown variant `%s`, expected one of %s", shown, expected);
}

int vg_cbor_read_enum(vg_reader *r, const char *what, const char *const *names, size_t n, size_t *idx,
                      bool *is_unit, vg_reader *value)
{
    struct head h;
    char key[KEY_MAX];
    size_t key_len;
    *value = vg_reader_init(r->buf, 0, r->err);
    if (value_head(r, &h, true) < 0)
        return -1;
    if (h.major == VG_CBOR_TEXT && !h.indef) {
        *is_unit = true;
        if (read_key(r, key, &key_len) < 0)
            return -1;
    } else if (h.major == VG_CBOR_MAP) {
        /* spec §2.2: "Indefinite-length maps are rejected for enums." */
        if (h.indef)
            return semantic_error(r, "invalid type: indefinite map, expected enum %s", what);
        if (h.arg != 1)
            return semantic_error(r, "invalid length %llu, expected enum %s as a map with one entry",
                                  (unsigned long long)h.arg, what);
        *is_unit = false;
        if (read_head(r, &h) < 0 || read_key(r, key, &key_len) < 0)
            return -1;
        size_t start = r->off;
        if (vg_cbor_skip(r) < 0)
            return -1;
        *value = vg_reader_init(r->buf + start, r->off - start, r->err);
    } else {
        return semantic_error(r, "invalid type: %s, expected enum %s", describe(&h), what);
    }
    for (size_t j = 0; j < n; j++) {
        if (key_is(key, key_len, names[j])) {
            *idx = j;
            return 0;
        }
    }
    return unknown_variant(r, key, key_len, names, n);
}

/* ---- encoding ---- */

void vg_cbor_out_init(struct vg_cbor_out *o, size_t max)
{
    o->buf = NULL;
    o->len = 0;
    o->cap = 0;
    o->max = max;
    o->failed = false;
}

void vg_cbor_out_free(struct vg_cbor_out *o)
{
    if (o->buf != NULL) {
        vg_wipe(o->buf, o->cap);
        free(o->buf);
    }
    vg_cbor_out_init(o, o->max);
}

int vg_cbor_out_finish(const struct vg_cbor_out *o, vg_err *err)
{
    if (o->failed)
        return vg_fail(err, VG_E_INTERNAL, "CBOR encoding exceeds %zu bytes or out of memory", o->max);
    return 0;
}

/* Grows by copy-and-wipe rather than realloc, so no stale copy of a key survives in the heap. */
static bool reserve(struct vg_cbor_out *o, size_t n)
{
    if (o->failed)
        return false;
    if (n > o->max - o->len) {
        o->failed = true;
        return false;
    }
    if (o->len + n <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + n)
        cap *= 2;
    if (cap > o->max)
        cap = o->max;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        o->failed = true;
        return false;
    }
    if (o->buf != NULL) {
        memcpy(buf, o->buf, o->len);
        vg_wipe(o->buf, o->cap);
        free(o->buf);
    }
    o->buf = buf;
    o->cap = cap;
    return true;
}

static void put_raw(struct vg_cbor_out *o, const uint8_t *p, size_t n)
{
    if (!reserve(o, n))
        return;
    if (n > 0)
        memcpy(o->buf + o->len, p, n);
    o->len += n;
}

void vg_cbor_put_head(struct vg_cbor_out *o, enum vg_cbor_major major, uint64_t arg)
{
    uint8_t b[9];
    size_t n;
    uint8_t ib = (uint8_t)(major << 5);
    if (arg < 24) {
        b[0] = (uint8_t)(ib | arg);
        n = 1;
    } else {
        size_t width = arg <= 0xff ? 1 : arg <= 0xffff ? 2 : arg <= 0xffffffffu ? 4 : 8;
        b[0] = (uint8_t)(ib | (width == 1 ? 24 : width == 2 ? 25 : width == 4 ? 26 : 27));
        for (size_t i = 0; i < width; i++)
            b[1 + i] = (uint8_t)(arg >> (8 * (width - 1 - i)));
        n = 1 + width;
    }
    put_raw(o, b, n);
}

void vg_cbor_put_uint(struct vg_cbor_out *o, uint64_t v) { vg_cbor_put_head(o, VG_CBOR_UINT, v); }

void vg_cbor_put_bytes(struct vg_cbor_out *o, const uint8_t *p, size_t n)
{
    vg_cbor_put_head(o, VG_CBOR_BYTES, n);
    put_raw(o, p, n);
}

void vg_cbor_put_text(struct vg_cbor_out *o, const char *s)
{
    size_t n = strlen(s);
    vg_cbor_put_head(o, VG_CBOR_TEXT, n);
    put_raw(o, (const uint8_t *)s, n);
}

void vg_cbor_put_null(struct vg_cbor_out *o)
{
    static const uint8_t null_byte = 0xf6;
    put_raw(o, &null_byte, 1);
}

void vg_cbor_put_byte_array(struct vg_cbor_out *o, const uint8_t *p, size_t n)
{
    vg_cbor_put_head(o, VG_CBOR_ARRAY, n);
    for (size_t i = 0; i < n; i++)
        vg_cbor_put_uint(o, p[i]);
}
