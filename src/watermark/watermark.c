/* The watermark rule, the in-memory table and the driver-independent reserve/commit/abort.
 * Storage (wm_file.c) only ever sees committed marks; reservations live here. */
#include "watermark/watermark.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "watermark/wm_internal.h"

/* ---- rule ---------------------------------------------------------------------------------- */

/* spec: shared/specs/signatory.md#13 item 6: "allow iff no record, or higher level, or same level
 * and higher round, or same level, same round and equal digest (idempotent retry of the identical
 * payload)". Digests are BLAKE2b-256 of public request bytes, so memcmp is fine here. */
bool vg_wm_rule_allows(const vg_wm_mark *stored, const vg_wm_mark *next)
{
    if (stored == NULL)
        return true;
    if (next->level != stored->level)
        return next->level > stored->level;
    if (next->round != stored->round)
        return next->round > stored->round;
    return stored->has_digest && next->has_digest && memcmp(stored->digest, next->digest, 32) == 0;
}

/* Order on (level, round) only: the digest never orders marks. */
static bool mark_higher(const vg_wm_mark *a, const vg_wm_mark *b)
{
    if (a->level != b->level)
        return a->level > b->level;
    return a->round > b->round;
}

/* ---- classes ------------------------------------------------------------------------------- */

int wm_kind_class(vg_req_kind kind)
{
    switch (kind) {
    case VG_REQ_BLOCK: return WM_CLASS_BLOCK;
    case VG_REQ_PREATTESTATION: return WM_CLASS_PREATTESTATION;
    /* spec: shared/specs/signatory.md#13 item 7: "Treat attestation and attestation_with_dal as one
     * conflict class: a request of either kind must pass the comparison of §4.2 against both
     * records ... and the accepted request writes its own record." */
    case VG_REQ_ATTESTATION:
    case VG_REQ_ATTESTATION_WITH_DAL: return WM_CLASS_ATTESTATION;
    case VG_REQ_GENERIC:
    case VG_REQ_PACK:
    case VG_REQ_KIND_COUNT: break;
    }
    return -1;
}

int wm_kind_member(vg_req_kind kind) { return kind == VG_REQ_ATTESTATION_WITH_DAL ? 1 : 0; }

/* ---- table --------------------------------------------------------------------------------- */

static uint32_t key_hash(const uint8_t chain_id[4], const vg_pkh *pkh, int cls)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 4; i++)
        h = (h ^ chain_id[i]) * 16777619u;
    h = (h ^ (uint8_t)pkh->type) * 16777619u;
    for (int i = 0; i < 20; i++)
        h = (h ^ pkh->hash[i]) * 16777619u;
    h = (h ^ (uint8_t)cls) * 16777619u;
    return h;
}

static bool key_eq(const struct wm_entry *e, const uint8_t chain_id[4], const vg_pkh *pkh, int cls)
{
    return e->cls == cls && e->pkh.type == pkh->type && memcmp(e->chain_id, chain_id, 4) == 0 &&
           memcmp(e->pkh.hash, pkh->hash, 20) == 0;
}

static struct wm_entry *bucket_find(struct wm_entry *e, const uint8_t chain_id[4], const vg_pkh *pkh, int cls)
{
    for (; e != NULL; e = e->next) {
        if (key_eq(e, chain_id, pkh, cls))
            return e;
    }
    return NULL;
}

struct wm_entry *wm_table_get(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
                              bool create)
{
    int cls = wm_kind_class(kind);
    if (cls < 0)
        return NULL;
    uint32_t b = key_hash(chain_id, pkh, cls) % WM_BUCKETS;
    pthread_rwlock_rdlock(&wm->table_lock);
    struct wm_entry *e = bucket_find(wm->buckets[b], chain_id, pkh, cls);
    pthread_rwlock_unlock(&wm->table_lock);
    if (e != NULL || !create)
        return e;

    pthread_rwlock_wrlock(&wm->table_lock);
    e = bucket_find(wm->buckets[b], chain_id, pkh, cls);
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        if (e != NULL) {
            memcpy(e->chain_id, chain_id, 4);
            e->pkh = *pkh;
            e->cls = cls;
            e->nmembers = cls == WM_CLASS_ATTESTATION ? 2 : 1;
            pthread_mutex_init(&e->lock, NULL);
            for (int i = 0; i < e->nmembers; i++) {
                struct wm_slot *s = &e->slot[i];
                s->kind = cls == WM_CLASS_ATTESTATION ? (i == 0 ? VG_REQ_ATTESTATION : VG_REQ_ATTESTATION_WITH_DAL)
                                                      : kind;
                s->entry = e;
                s->rec_index = -1;
                atomic_init(&s->failed, false);
            }
            e->next = wm->buckets[b];
            wm->buckets[b] = e;
            wm->nentries++;
        }
    }
    pthread_rwlock_unlock(&wm->table_lock);
    return e;
}

struct wm_slot *wm_table_slot(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
                              bool create)
{
    struct wm_entry *e = wm_table_get(wm, chain_id, pkh, kind, create);
    return e == NULL ? NULL : &e->slot[wm_kind_member(kind)];
}

void wm_slot_merge_loaded(struct wm_slot *s, const vg_wm_mark *m)
{
    if (!s->has_committed || mark_higher(m, &s->committed)) {
        s->committed = *m;
        s->has_committed = true;
    } else if (!mark_higher(&s->committed, m) &&
               !(m->has_digest && s->committed.has_digest && memcmp(m->digest, s->committed.digest, 32) == 0)) {
        s->committed.has_digest = false; /* same level/round, different or missing digest */
        memset(s->committed.digest, 0, sizeof s->committed.digest);
    }
    s->cur = s->committed;
    s->has_cur = true;
}

static int slot_cmp(const void *pa, const void *pb)
{
    const struct wm_slot *a = *(struct wm_slot *const *)pa;
    const struct wm_slot *b = *(struct wm_slot *const *)pb;
    int c = memcmp(a->entry->chain_id, b->entry->chain_id, 4);
    if (c != 0)
        return c;
    if (a->entry->pkh.type != b->entry->pkh.type)
        return (int)a->entry->pkh.type - (int)b->entry->pkh.type;
    c = memcmp(a->entry->pkh.hash, b->entry->pkh.hash, 20);
    if (c != 0)
        return c;
    return (int)a->kind - (int)b->kind;
}

int wm_table_foreach_sorted(vg_watermark *wm, int (*fn)(struct wm_slot *slot, void *ctx), void *ctx)
{
    pthread_rwlock_rdlock(&wm->table_lock);
    size_t cap = wm->nentries * WM_CLASS_MEMBERS_MAX, n = 0;
    struct wm_slot **all = calloc(cap > 0 ? cap : 1, sizeof(struct wm_slot *));
    if (all == NULL) {
        pthread_rwlock_unlock(&wm->table_lock);
        return -1;
    }
    for (size_t b = 0; b < WM_BUCKETS; b++) {
        for (struct wm_entry *e = wm->buckets[b]; e != NULL; e = e->next) {
            for (int i = 0; i < e->nmembers; i++)
                all[n++] = &e->slot[i];
        }
    }
    pthread_rwlock_unlock(&wm->table_lock); /* entries live until close */
    qsort(all, n, sizeof(struct wm_slot *), slot_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct wm_slot *s = all[i];
        pthread_mutex_lock(&s->entry->lock);
        bool wanted = s->has_committed || s->broken || atomic_load(&s->failed);
        pthread_mutex_unlock(&s->entry->lock);
        if (wanted)
            rc = fn(s, ctx);
    }
    free(all);
    return rc;
}

void wm_describe(const uint8_t chain_id[4], const vg_pkh *pkh, char *out, size_t cap)
{
    char p[VG_B58_MAX], c[VG_B58_MAX];
    vg_pkh_format(pkh, p);
    vg_b58check_encode(VG_B58_CHAIN_ID, chain_id, 4, c);
    snprintf(out, cap, "%s on %s", p, c);
}

/* ---- drivers ------------------------------------------------------------------------------- */

static const struct wm_driver wm_driver_mem = {.name = "mem", .open = NULL, .close = NULL, .persist = NULL};

static const struct wm_driver *const drivers[] = {&wm_driver_file, &wm_driver_mem, &wm_driver_dynamodb};

static void free_table(vg_watermark *wm)
{
    for (size_t b = 0; b < WM_BUCKETS; b++) {
        struct wm_entry *e = wm->buckets[b];
        while (e != NULL) {
            struct wm_entry *next = e->next;
            pthread_mutex_destroy(&e->lock);
            free(e);
            e = next;
        }
        wm->buckets[b] = NULL;
    }
}

int vg_watermark_open(const char *driver, const char *base_dir, vg_watermark **out, vg_err *err)
{
    return vg_watermark_open_config(driver, base_dir, NULL, out, err);
}

int vg_watermark_open_config(const char *driver, const char *base_dir, const json_t *config, vg_watermark **out,
                             vg_err *err)
{
    if (out == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_watermark_open: no output");
    *out = NULL;
    const char *name = driver != NULL ? driver : "file";
    const struct wm_driver *drv = NULL;
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        const char *alias = drivers[i]->alias;
        if (strcmp(drivers[i]->name, name) == 0 || (alias != NULL && strcmp(alias, name) == 0))
            drv = drivers[i];
    }
    if (drv == NULL)
        return vg_fail(err, VG_E_INVALID, "unknown watermark driver '%.64s' (known: file, mem, aws/dynamodb)", name);
    if (drv->open != NULL && (base_dir == NULL || base_dir[0] == '\0'))
        return vg_fail(err, VG_E_INVALID, "watermark driver '%s' needs a base directory", name);

    vg_watermark *wm = calloc(1, sizeof *wm);
    if (wm == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    wm->drv = drv;
    pthread_rwlock_init(&wm->table_lock, NULL);
    wm->open_config = config;
    int opened = drv->open != NULL ? drv->open(wm, base_dir, err) : 0;
    wm->open_config = NULL;
    if (opened < 0) {
        free_table(wm);
        pthread_rwlock_destroy(&wm->table_lock);
        free(wm);
        return -1;
    }
    *out = wm;
    return 0;
}

void vg_watermark_close(vg_watermark *wm)
{
    if (wm == NULL)
        return;
    if (wm->drv->close != NULL)
        wm->drv->close(wm);
    free_table(wm);
    pthread_rwlock_destroy(&wm->table_lock);
    free(wm);
}

const char *vg_watermark_driver(const vg_watermark *wm) { return wm->drv->name; }

/* ---- reserve / commit / abort -------------------------------------------------------------- */

static void ticket_link(struct wm_slot *s, struct vg_wm_ticket *t)
{
    t->prev = NULL;
    t->next = s->inflight;
    if (s->inflight != NULL)
        s->inflight->prev = t;
    s->inflight = t;
}

static void ticket_unlink(struct wm_slot *s, struct vg_wm_ticket *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        s->inflight = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

int vg_wm_reserve(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
                  const vg_wm_mark *mark, vg_wm_ticket **ticket, vg_err *err)
{
    if (ticket != NULL)
        *ticket = NULL;
    if (wm == NULL || chain_id == NULL || pkh == NULL || mark == NULL || ticket == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_wm_reserve: missing argument");
    if (wm_kind_class(kind) < 0)
        return vg_fail(err, VG_E_INTERNAL, "request kind %d is not watermarked", (int)kind);

    struct vg_wm_ticket *t = calloc(1, sizeof *t);
    struct wm_entry *e = t != NULL ? wm_table_get(wm, chain_id, pkh, kind, true) : NULL;
    if (e == NULL) {
        free(t);
        atomic_fetch_add(&wm->st.refused_unavailable, 1);
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark: out of memory");
    }
    int member = wm_kind_member(kind);
    char who[2 * VG_B58_MAX + 8];

    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < e->nmembers; i++) {
        const struct wm_slot *s = &e->slot[i];
        if (s->broken || atomic_load(&s->failed)) {
            bool broken = s->broken;
            vg_req_kind k = s->kind;
            pthread_mutex_unlock(&e->lock);
            free(t);
            atomic_fetch_add(&wm->st.refused_unavailable, 1);
            wm_describe(chain_id, pkh, who, sizeof who);
            if (broken)
                return vg_fail(err, VG_E_UNAVAILABLE,
                               "watermark record for %s (%s) is corrupt; refusing to sign (restore or remove "
                               "the record, see docs/watermarks.md)",
                               who, vg_req_kind_name(k));
            return vg_fail(err, VG_E_UNAVAILABLE,
                           "watermark storage failure: an earlier write for %s (%s) failed; refusing to sign "
                           "until restart",
                           who, vg_req_kind_name(k));
        }
    }
    for (int i = 0; i < e->nmembers; i++) {
        const struct wm_slot *s = &e->slot[i];
        if (s->has_cur && !vg_wm_rule_allows(&s->cur, mark)) {
            vg_wm_mark stored = s->cur;
            vg_req_kind k = s->kind;
            pthread_mutex_unlock(&e->lock);
            free(t);
            atomic_fetch_add(&wm->st.conflicts, 1);
            if (vg_log_get_level() >= VG_LOG_DEBUG) {
                wm_describe(chain_id, pkh, who, sizeof who);
                VG_DEBUG("watermark refusal key=\"%s\" kind=%s level=%d round=%d stored_kind=%s stored_level=%d "
                         "stored_round=%d",
                         who, vg_req_kind_name(kind), (int)mark->level, (int)mark->round, vg_req_kind_name(k),
                         (int)stored.level, (int)stored.round);
            }
            /* Signatory's 409 text first (signatory.md#4.3), then what an operator needs at 3 a.m. */
            return vg_fail(err, VG_E_CONFLICT,
                           "watermark validation failed: requested %s level %d round %d, stored %s level %d "
                           "round %d%s",
                           vg_req_kind_name(kind), (int)mark->level, (int)mark->round, vg_req_kind_name(k),
                           (int)stored.level, (int)stored.round,
                           stored.level == mark->level && stored.round == mark->round ? " with another payload"
                                                                                       : "");
        }
    }
    struct wm_slot *s = &e->slot[member];
    t->entry = e;
    t->member = member;
    t->mark = *mark;
    ticket_link(s, t);
    if (!s->has_cur || mark_higher(mark, &s->cur)) {
        s->cur = *mark;
        s->has_cur = true;
    }
    pthread_mutex_unlock(&e->lock);
    atomic_fetch_add(&wm->st.reserves, 1);
    *ticket = t;
    return 0;
}

int vg_wm_commit(vg_watermark *wm, vg_wm_ticket *t, vg_err *err)
{
    if (wm == NULL || t == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_wm_commit: no ticket");
    struct wm_entry *e = t->entry;
    struct wm_slot *s = &e->slot[t->member];
    pthread_mutex_lock(&e->lock);
    ticket_unlink(s, t);
    /* Committed before the write: `cur` never drops below a mark whose signature may leave. */
    if (!s->has_committed || mark_higher(&t->mark, &s->committed)) {
        s->committed = t->mark;
        s->has_committed = true;
    }
    pthread_mutex_unlock(&e->lock);
    int rc = 0;
    if (wm->drv->persist != NULL)
        rc = wm->drv->persist(wm, s, &t->mark, err);
    free(t);
    atomic_fetch_add(&wm->st.commits, 1);
    return rc;
}

void vg_wm_abort(vg_watermark *wm, vg_wm_ticket *t)
{
    if (wm == NULL || t == NULL)
        return;
    struct wm_entry *e = t->entry;
    struct wm_slot *s = &e->slot[t->member];
    pthread_mutex_lock(&e->lock);
    ticket_unlink(s, t);
    /* The mark falls back to the highest of what is committed and what is still reserved: the
     * ticket's own mark disappears unless an identical retry still holds it. */
    bool has = s->has_committed;
    vg_wm_mark best = s->committed;
    for (const struct vg_wm_ticket *o = s->inflight; o != NULL; o = o->next) {
        if (!has || mark_higher(&o->mark, &best)) {
            best = o->mark;
            has = true;
        }
    }
    s->cur = best;
    s->has_cur = has;
    pthread_mutex_unlock(&e->lock);
    free(t);
    atomic_fetch_add(&wm->st.aborts, 1);
}

bool vg_wm_get(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind, vg_wm_mark *out)
{
    struct wm_entry *e = wm_table_get(wm, chain_id, pkh, kind, false);
    if (e == NULL)
        return false;
    const struct wm_slot *s = &e->slot[wm_kind_member(kind)];
    pthread_mutex_lock(&e->lock);
    bool has = s->has_cur;
    if (has && out != NULL)
        *out = s->cur;
    pthread_mutex_unlock(&e->lock);
    return has;
}

void vg_wm_get_stats(vg_watermark *wm, vg_wm_stats *out)
{
    out->reserves = atomic_load(&wm->st.reserves);
    out->conflicts = atomic_load(&wm->st.conflicts);
    out->refused_unavailable = atomic_load(&wm->st.refused_unavailable);
    out->commits = atomic_load(&wm->st.commits);
    out->aborts = atomic_load(&wm->st.aborts);
    out->fsyncs = atomic_load(&wm->st.fsyncs);
    out->records_written = atomic_load(&wm->st.records_written);
    out->max_batch = atomic_load(&wm->st.max_batch);
    out->commit_waits = atomic_load(&wm->st.commit_waits);
    out->io_errors = atomic_load(&wm->st.io_errors);
}

/* ---- dump ---------------------------------------------------------------------------------- */

static int dump_one(struct wm_slot *s, void *ctx)
{
    FILE *out = ctx;
    pthread_mutex_lock(&s->entry->lock);
    bool has = s->has_committed, broken = s->broken, failed = atomic_load(&s->failed);
    vg_wm_mark m = s->committed;
    pthread_mutex_unlock(&s->entry->lock);

    char chain[VG_B58_MAX], pkh[VG_B58_MAX], vh[VG_B58_MAX];
    vg_b58check_encode(VG_B58_CHAIN_ID, s->entry->chain_id, 4, chain);
    vg_pkh_format(&s->entry->pkh, pkh);
    json_t *o = json_object();
    if (o == NULL)
        return -1;
    json_object_set_new(o, "chain", json_string(chain));
    json_object_set_new(o, "pkh", json_string(pkh));
    json_object_set_new(o, "kind", json_string(vg_req_kind_name(s->kind)));
    if (broken) {
        json_object_set_new(o, "status", json_string("corrupt"));
    } else {
        if (failed)
            json_object_set_new(o, "status", json_string("failed"));
        if (has) {
            json_object_set_new(o, "level", json_integer(m.level));
            json_object_set_new(o, "round", json_integer(m.round));
            if (m.has_digest) {
                vg_b58check_encode(VG_B58_VALUE_HASH, m.digest, 32, vh);
                json_object_set_new(o, "digest", json_string(vh));
            } else {
                json_object_set_new(o, "digest", json_null());
            }
        }
    }
    size_t len = 0;
    char *line = vg_json_dump_line(o, &len);
    json_decref(o);
    if (line == NULL)
        return -1;
    int rc = fwrite(line, 1, len, out) == len ? 0 : -1;
    free(line);
    return rc;
}

int vg_wm_dump(vg_watermark *wm, FILE *out)
{
    if (wm == NULL || out == NULL)
        return -1;
    if (wm_table_foreach_sorted(wm, dump_one, out) < 0)
        return -1;
    return fflush(out) == 0 ? 0 : -1;
}
