/* Private to src/watermark: the in-memory table shared by watermark.c (rule, reserve/commit/abort),
 * wm_file.c (durable file driver + group committer) and wm_migrate.c (Signatory import).
 *
 * Locking (never hold two of these at once, except table rwlock → nothing else):
 *   wm->table_lock  rwlock over the bucket chains; entries are never removed before close, so an
 *                   entry pointer stays valid after the lock is dropped.
 *   entry->lock     one mutex per (chain, pkh, conflict class): the rule check and the advance of
 *                   `cur` are atomic under it; keys never share it.
 *   file qlock      (wm_file.c) the commit queue and the durability fields of every slot. */
#ifndef VIGIL_WATERMARK_WM_INTERNAL_H
#define VIGIL_WATERMARK_WM_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "watermark/watermark.h"

/* Conflict classes: attestation and attestation_with_dal share one entry (spec §13 item 7). */
enum { WM_CLASS_BLOCK = 0, WM_CLASS_PREATTESTATION, WM_CLASS_ATTESTATION, WM_CLASS_COUNT };
#define WM_CLASS_MEMBERS_MAX 2

struct vg_wm_ticket {
    struct wm_entry *entry;
    int member;
    vg_wm_mark mark;
    struct vg_wm_ticket *prev, *next; /* in the slot's in-flight list (entry lock) */
};

struct wm_slot {
    vg_req_kind kind;
    struct wm_entry *entry;
    /* entry->lock */
    bool has_committed; /* loaded from storage, or committed by a ticket (max of both) */
    vg_wm_mark committed;
    bool has_cur;       /* max(committed, every in-flight reservation) */
    vg_wm_mark cur;
    struct vg_wm_ticket *inflight;
    bool broken;        /* set at open only: both copies on disk failed their checksum */
    atomic_bool failed; /* a durable write failed: refuse until restart */
    /* file driver: queue state, under its qlock */
    bool queued;
    struct wm_slot *qnext;
    bool has_to_write;
    vg_wm_mark to_write;
    uint64_t want_gen, durable_gen;
    /* file driver: record location; written at open, then by the committer thread only */
    int64_t rec_index; /* -1: no record yet */
    uint64_t seq;      /* sequence number of the newest valid copy */
};

struct wm_entry {
    struct wm_entry *next; /* bucket chain */
    uint8_t chain_id[4];
    vg_pkh pkh;
    int cls;
    int nmembers;
    pthread_mutex_t lock;
    struct wm_slot slot[WM_CLASS_MEMBERS_MAX];
};

struct wm_driver {
    const char *name;
    const char *alias; /* second accepted name, or NULL */
    /* Loads state into the table; dir = base_dir. */
    int (*open)(vg_watermark *wm, const char *dir, vg_err *err);
    void (*close)(vg_watermark *wm);
    /* Makes `mark` of `slot` durable; blocks until done. NULL = nothing to do (mem). */
    int (*persist)(vg_watermark *wm, struct wm_slot *slot, const vg_wm_mark *mark, vg_err *err);
};

#define WM_BUCKETS 1024

struct vg_watermark {
    const struct wm_driver *drv;
    pthread_rwlock_t table_lock;
    struct wm_entry *buckets[WM_BUCKETS];
    size_t nentries;
    void *impl; /* driver state */
    const json_t *open_config; /* watermark.config, borrowed during drv->open only (may be NULL) */
    struct {
        atomic_uint_fast64_t reserves, conflicts, refused_unavailable, commits, aborts;
        atomic_uint_fast64_t fsyncs, records_written, max_batch, commit_waits, io_errors;
    } st;
};

/* Member index of a kind inside its class entry; class of a kind. kind must be consensus. */
int wm_kind_class(vg_req_kind kind);
int wm_kind_member(vg_req_kind kind);

/* Entry for (chain, pkh, class of kind), created if absent (NULL only when out of memory). */
struct wm_entry *wm_table_get(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
                              bool create);
struct wm_slot *wm_table_slot(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
                              bool create);

/* Merge a stored mark into a slot at load time (no locking: open is single-threaded).
 * Keeps the higher of the two; at equal level and round with different digests the digest is
 * dropped, so nothing at that level/round can be signed again (the conservative choice). */
void wm_slot_merge_loaded(struct wm_slot *slot, const vg_wm_mark *mark);

/* Calls fn for every slot that has a committed mark or is broken, in a stable order
 * (chain, pkh, kind). Single-threaded use (open/dump under the table read lock). */
int wm_table_foreach_sorted(vg_watermark *wm, int (*fn)(struct wm_slot *slot, void *ctx), void *ctx);

/* "tz1… on NetX…" for messages. */
void wm_describe(const uint8_t chain_id[4], const vg_pkh *pkh, char *out, size_t cap);

/* Signatory import: fills the table from <dir>/watermark_v2, else watermark_v1, else watermark.
 * *source receives the directory used ("" when none exists); *count the records merged. */
int wm_migrate_load(vg_watermark *wm, const char *dir, char *source, size_t source_cap, size_t *count,
                    vg_err *err);

extern const struct wm_driver wm_driver_file;
extern const struct wm_driver wm_driver_dynamodb; /* "aws" / "dynamodb": wm_dynamodb.c */

#endif
