/* The "file" watermark driver: <base_dir>/watermarks/vigil.wm, fixed-size records updated in
 * place, two checksummed copies per record, one group-committer thread (format and crash-safety
 * argument in docs/watermarks.md).
 *
 *   header  256 B at offset 0: "VIGILWM1", u32 version=1, u32 record size=256, u32 header size=256,
 *           zeros, BLAKE2b-128 of bytes [0,240) at 240.
 *   record  256 B at 256 + 256*i:
 *           [0,64)    key part, written once: "WMR1", chain id[4], pkh type u8, pkh hash[20], kind u8
 *                     (1 block, 2 preattestation, 3 attestation, 4 attestation_with_dal), zeros,
 *                     BLAKE2b-128 of [0,48) at 48.
 *           [64,160)  copy 0 and [160,256) copy 1, each: u64 seq, i32 level, i32 round, u32 flags
 *                     (bit 0 = has digest), digest[32], zeros, BLAKE2b-128(key[0,48) || copy[0,80)) at 80.
 *           A write of sequence n goes to copy n % 2; the newest valid copy wins on load.
 *   All integers little-endian. An all-zero record is unused. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "watermark/wm_internal.h"

#define WM_DIR_NAME "watermarks"
#define WM_FILE_NAME "vigil.wm"
#define WM_TMP_NAME "vigil.wm.tmp"

#define WM_HDR_LEN 256
#define WM_REC_LEN 256
#define WM_KEY_LEN 64
#define WM_KEY_CHECKED 48
#define WM_COPY_LEN 96
#define WM_COPY_CHECKED 80
#define WM_CHECK_LEN 16
#define WM_VERSION 1
#define WM_BATCH_MAX 512 /* slots per fdatasync; more stay queued for the next round */

static const uint8_t hdr_magic[8] = {'V', 'I', 'G', 'I', 'L', 'W', 'M', '1'};
static const uint8_t rec_magic[4] = {'W', 'M', 'R', '1'};

struct wm_batch_item {
    struct wm_slot *slot;
    vg_wm_mark mark;
    uint64_t gen;
    uint64_t seq;
    int64_t rec_index;
    bool ok;
};

struct wm_file {
    int dfd; /* <base_dir>/watermarks, flock'ed for the process lifetime */
    int fd;
    char path[PATH_MAX];
    int64_t nrec; /* committer: next record index at the end of the file */

    pthread_mutex_t qlock;
    pthread_cond_t work_cv, done_cv;
    struct wm_slot *qhead, *qtail;
    bool stop;
    bool thread_started;
    pthread_t thread;
    char io_error[160]; /* last storage failure (qlock) */
    struct wm_batch_item *batch;
};

/* ---- encoding ------------------------------------------------------------------------------ */

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p) { return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32; }

static void check16(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[WM_CHECK_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, WM_CHECK_LEN);
    crypto_generichash_update(&st, a, alen);
    if (b != NULL)
        crypto_generichash_update(&st, b, blen);
    crypto_generichash_final(&st, out, WM_CHECK_LEN);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static int kind_code(vg_req_kind k)
{
    switch (k) {
    case VG_REQ_BLOCK: return 1;
    case VG_REQ_PREATTESTATION: return 2;
    case VG_REQ_ATTESTATION: return 3;
    case VG_REQ_ATTESTATION_WITH_DAL: return 4;
    case VG_REQ_GENERIC:
    case VG_REQ_PACK:
    case VG_REQ_KIND_COUNT: break;
    }
    return 0;
}

static int kind_from_code(int c, vg_req_kind *out)
{
    static const vg_req_kind kinds[] = {VG_REQ_BLOCK, VG_REQ_PREATTESTATION, VG_REQ_ATTESTATION,
                                        VG_REQ_ATTESTATION_WITH_DAL};
    if (c < 1 || c > 4)
        return -1;
    *out = kinds[c - 1];
    return 0;
}

static void encode_header(uint8_t h[WM_HDR_LEN])
{
    memset(h, 0, WM_HDR_LEN);
    memcpy(h, hdr_magic, 8);
    put_le32(h + 8, WM_VERSION);
    put_le32(h + 12, WM_REC_LEN);
    put_le32(h + 16, WM_HDR_LEN);
    check16(h, WM_HDR_LEN - WM_CHECK_LEN, NULL, 0, h + WM_HDR_LEN - WM_CHECK_LEN);
}

static void encode_key(const struct wm_slot *s, uint8_t key[WM_KEY_LEN])
{
    memset(key, 0, WM_KEY_LEN);
    memcpy(key, rec_magic, 4);
    memcpy(key + 4, s->entry->chain_id, 4);
    key[8] = (uint8_t)s->entry->pkh.type;
    memcpy(key + 9, s->entry->pkh.hash, 20);
    key[29] = (uint8_t)kind_code(s->kind);
    check16(key, WM_KEY_CHECKED, NULL, 0, key + WM_KEY_CHECKED);
}

static void encode_copy(const uint8_t key[WM_KEY_LEN], uint64_t seq, const vg_wm_mark *m, uint8_t c[WM_COPY_LEN])
{
    memset(c, 0, WM_COPY_LEN);
    put_le64(c, seq);
    put_le32(c + 8, (uint32_t)m->level);
    put_le32(c + 12, (uint32_t)m->round);
    put_le32(c + 16, m->has_digest ? 1u : 0u);
    if (m->has_digest)
        memcpy(c + 20, m->digest, 32);
    check16(key, WM_KEY_CHECKED, c, WM_COPY_CHECKED, c + WM_COPY_CHECKED);
}

static bool decode_copy(const uint8_t key[WM_KEY_LEN], const uint8_t c[WM_COPY_LEN], uint64_t *seq, vg_wm_mark *m)
{
    uint8_t want[WM_CHECK_LEN];
    check16(key, WM_KEY_CHECKED, c, WM_COPY_CHECKED, want);
    if (memcmp(want, c + WM_COPY_CHECKED, WM_CHECK_LEN) != 0)
        return false;
    uint32_t flags = get_le32(c + 16);
    if ((flags & ~1u) != 0)
        return false;
    *seq = get_le64(c);
    memset(m, 0, sizeof *m);
    m->level = (int32_t)get_le32(c + 8);
    m->round = (int32_t)get_le32(c + 12);
    m->has_digest = (flags & 1u) != 0;
    if (m->has_digest)
        memcpy(m->digest, c + 20, 32);
    return true;
}

static off_t rec_offset(int64_t idx) { return (off_t)WM_HDR_LEN + (off_t)idx * WM_REC_LEN; }

/* ---- plain I/O ----------------------------------------------------------------------------- */

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static int pread_all(int fd, uint8_t *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            errno = EIO; /* the file shrank under us */
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Sequence numbers stay far from wrapping: 2^63 writes never happen, so a larger one is damage. */
#define WM_SEQ_LIMIT (UINT64_C(1) << 63)

/* ---- group committer ----------------------------------------------------------------------- */

/* Writes one queued record: a new record whole (key part, this copy, the other copy zero), an
 * existing one by replacing only the copy this sequence number selects. */
static int write_item(struct wm_file *f, struct wm_batch_item *it)
{
    uint8_t rec[WM_REC_LEN];
    const struct wm_slot *s = it->slot;
    uint8_t key[WM_KEY_LEN];
    encode_key(s, key);
    if (s->seq + 1 >= WM_SEQ_LIMIT) { /* unreachable after load's check; never wrap */
        errno = EOVERFLOW;
        return -1;
    }
    it->seq = s->seq + 1;
    size_t copy_at = WM_KEY_LEN + (size_t)(it->seq % 2) * WM_COPY_LEN;
    if (s->rec_index < 0) {
        it->rec_index = f->nrec++;
        memset(rec, 0, sizeof rec);
        memcpy(rec, key, WM_KEY_LEN);
        encode_copy(key, it->seq, &it->mark, rec + copy_at);
        return pwrite_all(f->fd, rec, WM_REC_LEN, rec_offset(it->rec_index));
    }
    it->rec_index = s->rec_index;
    encode_copy(key, it->seq, &it->mark, rec);
    return pwrite_all(f->fd, rec, WM_COPY_LEN, rec_offset(it->rec_index) + (off_t)copy_at);
}

static void run_batch(vg_watermark *wm, struct wm_file *f, size_t n)
{
    size_t written = 0;
    int werr = 0;
    for (size_t i = 0; i < n; i++) {
        struct wm_batch_item *it = &f->batch[i];
        it->ok = write_item(f, it) == 0;
        if (it->ok)
            written++;
        else if (werr == 0)
            werr = errno;
    }
    int serr = 0;
    if (written > 0) {
        while (fdatasync(f->fd) < 0) {
            if (errno != EINTR) {
                serr = errno;
                break;
            }
        }
        atomic_fetch_add(&wm->st.fsyncs, 1);
    }

    pthread_mutex_lock(&f->qlock);
    size_t durable = 0;
    for (size_t i = 0; i < n; i++) {
        struct wm_batch_item *it = &f->batch[i];
        struct wm_slot *s = it->slot;
        if (it->ok && serr == 0) {
            s->rec_index = it->rec_index;
            s->seq = it->seq;
            s->durable_gen = it->gen;
            durable++;
        } else {
            /* Not durable, and after a failed fdatasync the page cache may lie about it:
             * refuse this key until an operator restarts (spec: signatory.md#13 item 9). */
            atomic_store(&s->failed, true);
        }
    }
    if (werr != 0 || serr != 0) {
        snprintf(f->io_error, sizeof f->io_error, "%s: %s failed: %s", f->path, serr != 0 ? "fdatasync" : "pwrite",
                 strerror(serr != 0 ? serr : werr));
        atomic_fetch_add(&wm->st.io_errors, 1);
        VG_ERROR("watermark storage failure: %s; %zu record(s) not durable, their keys refuse to sign until restart",
                 f->io_error, n - durable);
    }
    /* Counters before the wake-up, so a caller that returns from commit sees its own batch. */
    atomic_fetch_add(&wm->st.records_written, durable);
    uint64_t prev = atomic_load(&wm->st.max_batch);
    while (durable > prev && !atomic_compare_exchange_weak(&wm->st.max_batch, &prev, durable)) {
    }
    pthread_cond_broadcast(&f->done_cv);
    pthread_mutex_unlock(&f->qlock);
}

static void *committer_main(void *arg)
{
    vg_watermark *wm = arg;
    struct wm_file *f = wm->impl;
    pthread_mutex_lock(&f->qlock);
    for (;;) {
        while (f->qhead == NULL && !f->stop)
            pthread_cond_wait(&f->work_cv, &f->qlock);
        if (f->qhead == NULL)
            break; /* stop requested and the queue is drained */
        size_t n = 0;
        while (f->qhead != NULL && n < WM_BATCH_MAX) {
            struct wm_slot *s = f->qhead;
            f->qhead = s->qnext;
            s->qnext = NULL;
            s->queued = false;
            if (atomic_load(&s->failed))
                continue; /* stopped until restart; its waiters are already answered */
            f->batch[n].slot = s;
            f->batch[n].mark = s->to_write;
            f->batch[n].gen = s->want_gen;
            n++;
        }
        if (f->qhead == NULL)
            f->qtail = NULL;
        pthread_mutex_unlock(&f->qlock);
        run_batch(wm, f, n);
        pthread_mutex_lock(&f->qlock);
    }
    pthread_mutex_unlock(&f->qlock);
    return NULL;
}

static bool mark_above(const vg_wm_mark *a, const vg_wm_mark *b)
{
    return a->level != b->level ? a->level > b->level : a->round > b->round;
}

static int file_persist(vg_watermark *wm, struct wm_slot *s, const vg_wm_mark *mark, vg_err *err)
{
    struct wm_file *f = wm->impl;
    pthread_mutex_lock(&f->qlock);
    if (!atomic_load(&s->failed)) {
        /* Only a higher mark is written: a lower one is already covered by what is queued or
         * durable, and writing it would move the record backwards. */
        if (!s->has_to_write || mark_above(mark, &s->to_write)) {
            s->to_write = *mark;
            s->has_to_write = true;
            s->want_gen++;
            if (!s->queued) {
                s->queued = true;
                s->qnext = NULL;
                if (f->qtail != NULL)
                    f->qtail->qnext = s;
                else
                    f->qhead = s;
                f->qtail = s;
                pthread_cond_signal(&f->work_cv);
            }
        }
        uint64_t gen = s->want_gen;
        if (s->durable_gen < gen) {
            atomic_fetch_add(&wm->st.commit_waits, 1);
            while (s->durable_gen < gen && !atomic_load(&s->failed))
                pthread_cond_wait(&f->done_cv, &f->qlock);
        }
    }
    if (atomic_load(&s->failed)) {
        char msg[sizeof f->io_error];
        memcpy(msg, f->io_error, sizeof msg);
        pthread_mutex_unlock(&f->qlock);
        char who[2 * VG_B58_MAX + 8];
        wm_describe(s->entry->chain_id, &s->entry->pkh, who, sizeof who);
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark storage failure: %s (%s): %s", who,
                       vg_req_kind_name(s->kind), msg[0] != '\0' ? msg : "earlier write failed");
    }
    pthread_mutex_unlock(&f->qlock);
    return 0;
}

/* ---- open: load, create, migrate ----------------------------------------------------------- */

/* A copy counts only if its checksum holds, its sequence number is below the limit and selects the
 * slot it sits in (write n goes to copy n % 2): the file cannot make the next write land on the
 * newest copy, nor roll a committed mark back through a wrap. */
static bool valid_copy(const uint8_t rec[WM_REC_LEN], size_t c, uint64_t *seq, vg_wm_mark *m)
{
    return decode_copy(rec, rec + WM_KEY_LEN + c * WM_COPY_LEN, seq, m) && *seq < WM_SEQ_LIMIT && *seq % 2 == c;
}

/* The valid copy with the higher sequence number; -1 if none. */
static int pick_copy(const uint8_t rec[WM_REC_LEN], uint64_t *seq_out, vg_wm_mark *out)
{
    uint64_t seq[2] = {0, 0};
    vg_wm_mark m[2];
    bool ok[2];
    for (size_t c = 0; c < 2; c++)
        ok[c] = valid_copy(rec, c, &seq[c], &m[c]);
    int pick;
    if (ok[0] && ok[1])
        pick = seq[1] > seq[0] ? 1 : 0; /* different parities: never equal */
    else if (ok[0] || ok[1])
        pick = ok[0] ? 0 : 1;
    else
        return -1;
    *seq_out = seq[pick];
    *out = m[pick];
    return pick;
}

static int load_record(vg_watermark *wm, struct wm_file *f, int64_t idx, const uint8_t rec[WM_REC_LEN], vg_err *err)
{
    if (all_zero(rec, WM_REC_LEN))
        return 0; /* never written (a hole left by a failed append) */
    off_t off = rec_offset(idx);
    uint8_t want[WM_CHECK_LEN];
    check16(rec, WM_KEY_CHECKED, NULL, 0, want);
    vg_req_kind kind;
    if (memcmp(rec, rec_magic, 4) != 0 || memcmp(want, rec + WM_KEY_CHECKED, WM_CHECK_LEN) != 0 ||
        !all_zero(rec + 30, WM_KEY_CHECKED - 30))
        return vg_fail(err, VG_E_UNAVAILABLE,
                       "%s: record at offset %lld is corrupt and its key cannot be identified; refusing to "
                       "start (restore the file from a backup, see docs/watermarks.md)",
                       f->path, (long long)off);
    if (kind_from_code(rec[29], &kind) < 0 || rec[8] > VG_KEY_BLS)
        return vg_fail(err, VG_E_UNAVAILABLE, "%s: record at offset %lld has an unknown kind %u or key type %u",
                       f->path, (long long)off, rec[29], rec[8]);
    vg_pkh pkh = {.type = (vg_key_type)rec[8]};
    memcpy(pkh.hash, rec + 9, 20);
    struct wm_slot *s = wm_table_slot(wm, rec + 4, &pkh, kind, true);
    if (s == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark: out of memory");
    char who[2 * VG_B58_MAX + 8];
    if (s->rec_index >= 0) {
        wm_describe(rec + 4, &pkh, who, sizeof who);
        VG_ERROR("watermark file %s: duplicate record for %s (%s) at offset %lld; refusing to sign for it", f->path,
                 who, vg_req_kind_name(kind), (long long)off);
        s->broken = true;
        return 0;
    }
    s->rec_index = idx;

    uint64_t seq = 0;
    vg_wm_mark m;
    int pick = pick_copy(rec, &seq, &m);
    if (pick < 0) {
        /* spec: never silently reset a mark: the key refuses to sign until an operator acts. */
        wm_describe(rec + 4, &pkh, who, sizeof who);
        VG_ERROR("watermark record for %s (%s) at %s offset %lld is corrupt (both copies fail their checksum); "
                 "refusing to sign for it",
                 who, vg_req_kind_name(kind), f->path, (long long)off);
        s->broken = true;
        return 0;
    }
    int other = 1 - pick;
    uint64_t oseq;
    vg_wm_mark om;
    if (!valid_copy(rec, (size_t)other, &oseq, &om) &&
        !all_zero(rec + WM_KEY_LEN + (size_t)other * WM_COPY_LEN, WM_COPY_LEN)) {
        wm_describe(rec + 4, &pkh, who, sizeof who);
        VG_WARN("watermark record for %s (%s): one copy is damaged (interrupted write); using the other, level %d "
                "round %d",
                who, vg_req_kind_name(kind), (int)m.level, (int)m.round);
    }
    wm_slot_merge_loaded(s, &m);
    s->seq = seq;
    s->to_write = s->committed;
    s->has_to_write = true;
    return 0;
}

static int load_file(vg_watermark *wm, struct wm_file *f, vg_err *err)
{
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "%s: %s", f->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return vg_fail(err, VG_E_UNAVAILABLE, "%s: not a regular file", f->path);
    if ((st.st_mode & 022) != 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "%s: writable by group or others (mode %03o); chmod 600 it",
                       f->path, (unsigned)(st.st_mode & 0777));
    if (st.st_size < WM_HDR_LEN || (st.st_size - WM_HDR_LEN) % WM_REC_LEN != 0)
        return vg_fail(err, VG_E_UNAVAILABLE,
                       "%s: bad size %lld (must be %d + a multiple of %d); refusing to start (restore the file "
                       "from a backup, see docs/watermarks.md)",
                       f->path, (long long)st.st_size, WM_HDR_LEN, WM_REC_LEN);
    uint8_t hdr[WM_HDR_LEN], want[WM_HDR_LEN];
    if (pread_all(f->fd, hdr, sizeof hdr, 0) < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "%s: read: %s", f->path, strerror(errno));
    encode_header(want);
    if (memcmp(hdr, want, sizeof hdr) != 0) {
        if (memcmp(hdr, hdr_magic, 8) != 0)
            return vg_fail(err, VG_E_UNAVAILABLE, "%s: not a vigil watermark file (bad magic)", f->path);
        return vg_fail(err, VG_E_UNAVAILABLE,
                       "%s: header is corrupt or of an unsupported version %u; refusing to start", f->path,
                       (unsigned)get_le32(hdr + 8));
    }
    int64_t nrec = (int64_t)(st.st_size - WM_HDR_LEN) / WM_REC_LEN;
    enum { CHUNK = 64 };
    uint8_t *buf = calloc(CHUNK, WM_REC_LEN);
    if (buf == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark: out of memory");
    for (int64_t i = 0; i < nrec; i += CHUNK) {
        int64_t k = nrec - i < CHUNK ? nrec - i : CHUNK;
        if (pread_all(f->fd, buf, (size_t)k * WM_REC_LEN, rec_offset(i)) < 0) {
            free(buf);
            return vg_fail(err, VG_E_UNAVAILABLE, "%s: read: %s", f->path, strerror(errno));
        }
        for (int64_t j = 0; j < k; j++) {
            if (load_record(wm, f, i + j, buf + (size_t)j * WM_REC_LEN, err) < 0) {
                free(buf);
                return -1;
            }
        }
    }
    free(buf);
    f->nrec = nrec;
    return 0;
}

struct create_ctx {
    struct wm_file *f;
    int fd;
    int64_t n;
    int err_no;
};

static int create_one(struct wm_slot *s, void *arg)
{
    struct create_ctx *c = arg;
    if (!s->has_committed)
        return 0;
    uint8_t rec[WM_REC_LEN];
    memset(rec, 0, sizeof rec);
    encode_key(s, rec);
    s->seq = 1;
    encode_copy(rec, s->seq, &s->committed, rec + WM_KEY_LEN + WM_COPY_LEN * (s->seq % 2));
    if (pwrite_all(c->fd, rec, sizeof rec, rec_offset(c->n)) < 0) {
        c->err_no = errno;
        return -1;
    }
    s->rec_index = c->n++;
    s->to_write = s->committed;
    s->has_to_write = true;
    return 0;
}

/* Writes header + every loaded mark to vigil.wm.tmp, syncs it, renames it into place and syncs
 * the directory: a crash leaves either no vigil.wm (the import runs again) or a complete one. */
static int create_file(vg_watermark *wm, struct wm_file *f, vg_err *err)
{
    if (unlinkat(f->dfd, WM_TMP_NAME, 0) < 0 && errno != ENOENT)
        return vg_fail(err, VG_E_UNAVAILABLE, "cannot remove stale %s: %s", WM_TMP_NAME, strerror(errno));
    int fd = openat(f->dfd, WM_TMP_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "cannot create %s.tmp: %s", f->path, strerror(errno));
    uint8_t hdr[WM_HDR_LEN];
    encode_header(hdr);
    struct create_ctx c = {.f = f, .fd = fd, .n = 0, .err_no = 0};
    const char *what = "write";
    int rc = pwrite_all(fd, hdr, sizeof hdr, 0);
    if (rc == 0) {
        rc = wm_table_foreach_sorted(wm, create_one, &c);
        if (rc < 0 && c.err_no == 0)
            c.err_no = ENOMEM;
        errno = c.err_no;
    }
    if (rc == 0) {
        what = "fsync";
        rc = fsync(fd);
    }
    int saved = errno;
    close(fd);
    if (rc == 0) {
        what = "rename";
        rc = renameat(f->dfd, WM_TMP_NAME, f->dfd, WM_FILE_NAME);
        saved = errno;
    }
    if (rc == 0) {
        what = "fsync of the directory";
        rc = fsync(f->dfd);
        saved = errno;
    }
    if (rc < 0) {
        unlinkat(f->dfd, WM_TMP_NAME, 0);
        return vg_fail(err, VG_E_UNAVAILABLE, "cannot create %s: %s: %s", f->path, what, strerror(saved));
    }
    f->nrec = c.n;
    return 0;
}

static bool is_dir_at(const char *base, const char *name)
{
    char p[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/%s", base, name) >= sizeof p)
        return false;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void file_free(struct wm_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->dfd >= 0)
        close(f->dfd); /* releases the flock */
    pthread_mutex_destroy(&f->qlock);
    pthread_cond_destroy(&f->work_cv);
    pthread_cond_destroy(&f->done_cv);
    free(f->batch);
    free(f);
}

static int open_dir(struct wm_file *f, const char *base_dir, char *dir, size_t cap, vg_err *err)
{
    if ((size_t)snprintf(dir, cap, "%s/%s", base_dir, WM_DIR_NAME) >= cap ||
        (size_t)snprintf(f->path, sizeof f->path, "%s/%s", dir, WM_FILE_NAME) >= sizeof f->path)
        return vg_fail(err, VG_E_INVALID, "base directory path is too long");
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return vg_fail(err, VG_E_UNAVAILABLE, "cannot create watermark directory %s: %s", dir, strerror(errno));
    f->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->dfd < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "cannot open watermark directory %s: %s", dir, strerror(errno));
    struct stat st;
    if (fstat(f->dfd, &st) == 0 && (st.st_mode & 022) != 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark directory %s is writable by group or others (mode %03o)",
                       dir, (unsigned)(st.st_mode & 0777));
    /* One process per store: two signers with separate in-memory marks could both sign. */
    if (flock(f->dfd, LOCK_EX | LOCK_NB) < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark directory %s is %s", dir,
                       errno == EWOULDBLOCK ? "in use by another vigil process" : strerror(errno));
    return 0;
}

static int file_open(vg_watermark *wm, const char *base_dir, vg_err *err)
{
    struct wm_file *f = calloc(1, sizeof *f);
    if (f == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark: out of memory");
    f->fd = f->dfd = -1;
    pthread_mutex_init(&f->qlock, NULL);
    pthread_cond_init(&f->work_cv, NULL);
    pthread_cond_init(&f->done_cv, NULL);
    f->batch = calloc(WM_BATCH_MAX, sizeof *f->batch);
    char dir[PATH_MAX];
    if (f->batch == NULL) {
        file_free(f);
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark: out of memory");
    }
    if (open_dir(f, base_dir, dir, sizeof dir, err) < 0) {
        file_free(f);
        return -1;
    }

    f->fd = openat(f->dfd, WM_FILE_NAME, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (f->fd < 0 && errno != ENOENT) {
        int e = errno;
        file_free(f);
        return vg_fail(err, VG_E_UNAVAILABLE, "cannot open watermark file %s/%s: %s", dir, WM_FILE_NAME,
                       strerror(e));
    }
    if (f->fd < 0) {
        /* First start: import Signatory's marks (spec: signatory.md#4.4 and #13 item 18). */
        char source[PATH_MAX];
        size_t count = 0;
        if (wm_migrate_load(wm, base_dir, source, sizeof source, &count, err) < 0 || create_file(wm, f, err) < 0) {
            file_free(f);
            return -1;
        }
        if (source[0] != '\0')
            VG_INFO("watermark: imported %zu record(s) from Signatory's %s into %s; vigil no longer reads %s and it "
                    "can be removed",
                    count, source, f->path, source);
        else
            VG_INFO("watermark: created %s", f->path);
        f->fd = openat(f->dfd, WM_FILE_NAME, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (f->fd < 0) {
            int e = errno;
            file_free(f);
            return vg_fail(err, VG_E_UNAVAILABLE, "cannot open watermark file %s: %s", f->path, strerror(e));
        }
    } else {
        if (load_file(wm, f, err) < 0) {
            file_free(f);
            return -1;
        }
        static const char *const legacy[] = {"watermark_v2", "watermark_v1", "watermark"};
        for (size_t i = 0; i < 3; i++) {
            if (is_dir_at(base_dir, legacy[i]))
                VG_WARN("watermark: Signatory's %s/%s exists and is ignored (vigil's marks are in %s)", base_dir,
                        legacy[i], f->path);
        }
    }

    wm->impl = f;
    if (pthread_create(&f->thread, NULL, committer_main, wm) != 0) {
        wm->impl = NULL;
        file_free(f);
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark: cannot start the committer thread");
    }
    f->thread_started = true;
    return 0;
}

static void file_close(vg_watermark *wm)
{
    struct wm_file *f = wm->impl;
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->qlock);
    f->stop = true;
    pthread_cond_signal(&f->work_cv);
    pthread_mutex_unlock(&f->qlock);
    if (f->thread_started)
        pthread_join(f->thread, NULL);
    file_free(f);
    wm->impl = NULL;
}

const struct wm_driver wm_driver_file = {
    .name = "file", .open = file_open, .close = file_close, .persist = file_persist};
