#include "nitro/nitro_cbor.h"

#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"

#define SKIP_SEQ_MAX 4096 /* items per array / pairs per map inside skipped values */

struct head {
    enum vg_nitro_cbor_major major;
    uint64_t arg;
    bool indefinite; /* ai 31 on a string, array or map */
    bool is_break;   /* the 0xff stop code */
};

static int bad(vg_reader *r, const char *what, size_t at, const char *why)
{
    return vg_fail(r->err, VG_E_INVALID, "%s: %s at offset %zu", what, why, at);
}

/* Reads one initial byte and its argument. Well-formedness only; types are checked by callers. */
static int read_head(vg_reader *r, const char *what, struct head *h)
{
    size_t at = r->off;
    uint8_t ib;
    if (vg_rd_u8(r, &ib) < 0)
        return vg_wrap(r->err, "%s", what);
    memset(h, 0, sizeof *h);
    h->major = (enum vg_nitro_cbor_major)(ib >> 5);
    uint8_t ai = ib & 0x1f;
    if (ai < 24) {
        h->arg = ai;
    } else if (ai <= 27) {
        size_t n = (size_t)1 << (ai - 24);
        const uint8_t *p;
        if (vg_rd_bytes(r, n, &p) < 0) {
            r->off = at;
            return vg_wrap(r->err, "%s", what);
        }
        for (size_t i = 0; i < n; i++)
            h->arg = (h->arg << 8) | p[i];
        if (h->major == VG_NITRO_CBOR_SIMPLE && ai == 24 && h->arg < 32)
            return bad(r, what, at, "invalid simple value");
    } else if (ai == 31) {
        if (h->major == VG_NITRO_CBOR_SIMPLE)
            h->is_break = true;
        else if (h->major == VG_NITRO_CBOR_BYTES || h->major == VG_NITRO_CBOR_TEXT ||
                 h->major == VG_NITRO_CBOR_ARRAY || h->major == VG_NITRO_CBOR_MAP)
            h->indefinite = true;
        else
            return bad(r, what, at, "indefinite length on an integer or tag");
    } else {
        return bad(r, what, at, "reserved additional information");
    }
    return 0;
}

static const char *major_name(enum vg_nitro_cbor_major m)
{
    static const char *const names[] = {"unsigned integer", "negative integer", "byte string", "text string",
                                        "array", "map", "tag", "simple value"};
    return names[m & 7];
}

/* Reads a head that must be of `want` (and not a break); definite unless allow_indef. */
static int expect(vg_reader *r, const char *what, enum vg_nitro_cbor_major want, bool allow_indef, struct head *h)
{
    size_t at = r->off;
    if (read_head(r, what, h) < 0)
        return -1;
    if (h->is_break || h->major != want) {
        r->off = at;
        return vg_fail(r->err, VG_E_INVALID, "%s: expected %s, found %s at offset %zu", what, major_name(want),
                       h->is_break ? "break" : major_name(h->major), at);
    }
    if (h->indefinite && !allow_indef) {
        r->off = at;
        return bad(r, what, at, "indefinite length not allowed");
    }
    return 0;
}

int vg_nitro_cbor_peek(const vg_reader *r)
{
    if (vg_rd_eof(r))
        return -1;
    return r->buf[r->off] >> 5;
}

bool vg_nitro_cbor_take_null(vg_reader *r)
{
    if (!vg_rd_eof(r) && r->buf[r->off] == 0xf6) {
        r->off++;
        return true;
    }
    return false;
}

int vg_nitro_cbor_take_tag(vg_reader *r, uint64_t tag, bool *had)
{
    *had = false;
    if (vg_nitro_cbor_peek(r) != VG_NITRO_CBOR_TAG)
        return 0;
    size_t at = r->off;
    struct head h;
    if (read_head(r, "tag", &h) < 0)
        return -1;
    if (h.arg != tag) {
        r->off = at;
        return vg_fail(r->err, VG_E_INVALID, "unexpected tag %llu at offset %zu", (unsigned long long)h.arg, at);
    }
    *had = true;
    return 0;
}

int vg_nitro_cbor_uint(vg_reader *r, const char *what, uint64_t *out)
{
    struct head h;
    if (expect(r, what, VG_NITRO_CBOR_UINT, false, &h) < 0)
        return -1;
    *out = h.arg;
    return 0;
}

int vg_nitro_cbor_int(vg_reader *r, const char *what, int64_t *out)
{
    size_t at = r->off;
    struct head h;
    if (read_head(r, what, &h) < 0)
        return -1;
    if (h.is_break || (h.major != VG_NITRO_CBOR_UINT && h.major != VG_NITRO_CBOR_NEGINT)) {
        r->off = at;
        return bad(r, what, at, "expected an integer");
    }
    if (h.arg > (uint64_t)INT64_MAX) {
        r->off = at;
        return bad(r, what, at, "integer out of range");
    }
    *out = h.major == VG_NITRO_CBOR_UINT ? (int64_t)h.arg : -1 - (int64_t)h.arg;
    return 0;
}

static int string_body(vg_reader *r, const char *what, const struct head *h, size_t at, size_t min, size_t max,
                       const uint8_t **out, size_t *len)
{
    if (h->arg < min || h->arg > max) {
        r->off = at;
        return vg_fail(r->err, VG_E_INVALID, "%s: length %llu outside %zu..%zu at offset %zu", what,
                       (unsigned long long)h->arg, min, max, at);
    }
    if (vg_rd_bytes(r, (size_t)h->arg, out) < 0) {
        r->off = at;
        return vg_wrap(r->err, "%s", what);
    }
    *len = (size_t)h->arg;
    return 0;
}

int vg_nitro_cbor_bytes(vg_reader *r, const char *what, size_t min, size_t max, const uint8_t **out, size_t *len)
{
    size_t at = r->off;
    struct head h;
    if (expect(r, what, VG_NITRO_CBOR_BYTES, false, &h) < 0)
        return -1;
    return string_body(r, what, &h, at, min, max, out, len);
}

/* Well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF) and no C0/C1 controls or DEL. */
static bool printable_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        i += k + 1;
    }
    return true;
}

int vg_nitro_cbor_text(vg_reader *r, const char *what, size_t min, size_t max, const char **out, size_t *len)
{
    size_t at = r->off;
    struct head h;
    const uint8_t *p;
    if (expect(r, what, VG_NITRO_CBOR_TEXT, false, &h) < 0 || string_body(r, what, &h, at, min, max, &p, len) < 0)
        return -1;
    if (!printable_utf8(p, *len)) {
        r->off = at;
        return bad(r, what, at, "text is not printable UTF-8");
    }
    *out = (const char *)p;
    return 0;
}

static int seq_start(vg_reader *r, const char *what, enum vg_nitro_cbor_major major, uint64_t max,
                     struct vg_nitro_cbor_seq *s)
{
    size_t at = r->off;
    struct head h;
    if (expect(r, what, major, true, &h) < 0)
        return -1;
    if (!h.indefinite && h.arg > max) {
        r->off = at;
        return vg_fail(r->err, VG_E_INVALID, "%s: %llu entries, at most %llu allowed at offset %zu", what,
                       (unsigned long long)h.arg, (unsigned long long)max, at);
    }
    s->indefinite = h.indefinite;
    s->left = h.indefinite ? 0 : h.arg;
    s->seen = 0;
    s->max = max;
    return 0;
}

int vg_nitro_cbor_array(vg_reader *r, const char *what, uint64_t max, struct vg_nitro_cbor_seq *s)
{
    return seq_start(r, what, VG_NITRO_CBOR_ARRAY, max, s);
}

int vg_nitro_cbor_map(vg_reader *r, const char *what, uint64_t max, struct vg_nitro_cbor_seq *s)
{
    return seq_start(r, what, VG_NITRO_CBOR_MAP, max, s);
}

int vg_nitro_cbor_next(vg_reader *r, const char *what, struct vg_nitro_cbor_seq *s, bool *more)
{
    if (!s->indefinite) {
        *more = s->left > 0;
        if (*more) {
            s->left--;
            s->seen++;
        }
        return 0;
    }
    if (vg_rd_eof(r))
        return vg_fail(r->err, VG_E_INVALID, "%s: truncated indefinite-length item at offset %zu", what, r->off);
    if (r->buf[r->off] == 0xff) {
        r->off++;
        *more = false;
        return 0;
    }
    if (s->seen >= s->max)
        return vg_fail(r->err, VG_E_INVALID, "%s: more than %llu entries at offset %zu", what,
                       (unsigned long long)s->max, r->off);
    s->seen++;
    *more = true;
    return 0;
}

int vg_nitro_cbor_skip(vg_reader *r, const char *what)
{
    struct frame {
        uint64_t left; /* items still expected (definite) */
        uint64_t seen; /* items seen (indefinite) */
        bool indefinite;
        bool is_map;
        int chunk_major; /* indefinite string: the major its chunks must have; else -1 */
    } st[VG_NITRO_CBOR_DEPTH_MAX];
    size_t depth = 0;
    bool tag_pending = false;
    for (;;) {
        size_t at = r->off;
        struct head h;
        if (read_head(r, what, &h) < 0)
            return -1;
        bool done = false;
        struct frame *top = depth > 0 ? &st[depth - 1] : NULL;
        if (h.is_break) {
            if (top == NULL || !top->indefinite || tag_pending)
                return bad(r, what, at, "unexpected break");
            if (top->is_map && top->seen % 2 != 0)
                return bad(r, what, at, "map with a key but no value");
            depth--;
            done = true;
        } else if (top != NULL && top->chunk_major >= 0 &&
                   ((int)h.major != top->chunk_major || h.indefinite || tag_pending)) {
            return bad(r, what, at, "bad chunk in an indefinite-length string");
        } else {
            switch (h.major) {
            case VG_NITRO_CBOR_UINT:
            case VG_NITRO_CBOR_NEGINT:
            case VG_NITRO_CBOR_SIMPLE:
                done = true;
                break;
            case VG_NITRO_CBOR_TAG:
                tag_pending = true;
                continue;
            case VG_NITRO_CBOR_BYTES:
            case VG_NITRO_CBOR_TEXT:
                if (!h.indefinite) {
                    if (h.arg > vg_rd_remaining(r))
                        return bad(r, what, at, "truncated string");
                    r->off += (size_t)h.arg;
                    done = true;
                    break;
                }
                /* an indefinite string is a sequence of definite chunks */
                __attribute__((fallthrough));
            case VG_NITRO_CBOR_ARRAY:
            case VG_NITRO_CBOR_MAP: {
                if (!h.indefinite && h.arg > SKIP_SEQ_MAX)
                    return bad(r, what, at, "too many entries");
                uint64_t n = h.major == VG_NITRO_CBOR_MAP ? h.arg * 2 : h.arg;
                if (!h.indefinite && n == 0) {
                    done = true;
                    break;
                }
                if (depth == VG_NITRO_CBOR_DEPTH_MAX)
                    return bad(r, what, at, "nesting too deep");
                st[depth++] = (struct frame){
                    .left = n,
                    .seen = 0,
                    .indefinite = h.indefinite,
                    .is_map = h.major == VG_NITRO_CBOR_MAP,
                    .chunk_major = (h.major == VG_NITRO_CBOR_BYTES || h.major == VG_NITRO_CBOR_TEXT) ? (int)h.major
                                                                                                     : -1,
                };
                break;
            }
            }
        }
        tag_pending = false;
        while (done) {
            if (depth == 0)
                return 0;
            top = &st[depth - 1];
            if (top->indefinite) {
                if (++top->seen > 2 * SKIP_SEQ_MAX)
                    return bad(r, what, r->off, "too many entries");
                break;
            }
            if (--top->left > 0)
                break;
            depth--;
        }
    }
}

/* ---- encoding ---- */

void vg_nitro_cbor_out_init(struct vg_nitro_cbor_out *o, size_t max)
{
    memset(o, 0, sizeof *o);
    o->max = max;
}

void vg_nitro_cbor_out_free(struct vg_nitro_cbor_out *o)
{
    if (o == NULL)
        return;
    if (o->buf != NULL) {
        vg_wipe(o->buf, o->cap);
        free(o->buf);
    }
    memset(o, 0, sizeof *o);
}

int vg_nitro_cbor_out_finish(const struct vg_nitro_cbor_out *o, vg_err *err)
{
    if (o->failed)
        return vg_fail(err, VG_E_INTERNAL, "CBOR encoding exceeds %zu bytes or out of memory", o->max);
    return 0;
}

uint8_t *vg_nitro_cbor_out_take(struct vg_nitro_cbor_out *o, size_t *len)
{
    uint8_t *p = o->buf;
    *len = o->len;
    size_t max = o->max;
    memset(o, 0, sizeof *o);
    o->max = max;
    return p;
}

void vg_nitro_cbor_put_raw(struct vg_nitro_cbor_out *o, const uint8_t *p, size_t n)
{
    if (o->failed)
        return;
    if (n > o->max - o->len) {
        o->failed = true;
        return;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n)
            cap *= 2;
        if (cap > o->max)
            cap = o->max;
        uint8_t *nb = malloc(cap);
        if (nb == NULL) {
            o->failed = true;
            return;
        }
        if (o->buf != NULL) {
            memcpy(nb, o->buf, o->len);
            vg_wipe(o->buf, o->cap);
            free(o->buf);
        }
        o->buf = nb;
        o->cap = cap;
    }
    if (n > 0)
        memcpy(o->buf + o->len, p, n);
    o->len += n;
}

void vg_nitro_cbor_put_head(struct vg_nitro_cbor_out *o, enum vg_nitro_cbor_major major, uint64_t arg)
{
    uint8_t b[9];
    size_t n;
    uint8_t mt = (uint8_t)(major << 5);
    if (arg < 24) {
        b[0] = mt | (uint8_t)arg;
        n = 1;
    } else if (arg <= 0xff) {
        b[0] = mt | 24;
        n = 2;
    } else if (arg <= 0xffff) {
        b[0] = mt | 25;
        n = 3;
    } else if (arg <= 0xffffffffu) {
        b[0] = mt | 26;
        n = 5;
    } else {
        b[0] = mt | 27;
        n = 9;
    }
    for (size_t i = 1; i < n; i++)
        b[i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
    vg_nitro_cbor_put_raw(o, b, n);
}

void vg_nitro_cbor_put_uint(struct vg_nitro_cbor_out *o, uint64_t v) { vg_nitro_cbor_put_head(o, VG_NITRO_CBOR_UINT, v); }

void vg_nitro_cbor_put_int(struct vg_nitro_cbor_out *o, int64_t v)
{
    if (v >= 0)
        vg_nitro_cbor_put_head(o, VG_NITRO_CBOR_UINT, (uint64_t)v);
    else
        vg_nitro_cbor_put_head(o, VG_NITRO_CBOR_NEGINT, (uint64_t)(-1 - v));
}

void vg_nitro_cbor_put_bytes(struct vg_nitro_cbor_out *o, const uint8_t *p, size_t n)
{
    vg_nitro_cbor_put_head(o, VG_NITRO_CBOR_BYTES, n);
    vg_nitro_cbor_put_raw(o, p, n);
}

void vg_nitro_cbor_put_text(struct vg_nitro_cbor_out *o, const char *s)
{
    size_t n = strlen(s);
    vg_nitro_cbor_put_head(o, VG_NITRO_CBOR_TEXT, n);
    vg_nitro_cbor_put_raw(o, (const uint8_t *)s, n);
}

void vg_nitro_cbor_put_null(struct vg_nitro_cbor_out *o)
{
    const uint8_t b = 0xf6;
    vg_nitro_cbor_put_raw(o, &b, 1);
}

void vg_nitro_cbor_put_bytes_or_null(struct vg_nitro_cbor_out *o, const uint8_t *p, size_t n)
{
    if (p == NULL)
        vg_nitro_cbor_put_null(o);
    else
        vg_nitro_cbor_put_bytes(o, p, n);
}
