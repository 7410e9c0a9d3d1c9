/* High watermarks against double signing, per (chain id, key, request kind).
 *
 * Protocol for one consensus request (the signer pipeline):
 *   vg_wm_reserve()  checks (level, round, digest) against the in-memory high mark and, if allowed,
 *                    advances it (409 VG_E_CONFLICT on refusal, 503 VG_E_UNAVAILABLE if the store is
 *                    broken for that key). attestation and attestation_with_dal are one conflict class.
 *   sign
 *   vg_wm_commit()   makes the new mark durable (fsync) — only then may the signature leave.
 *   or vg_wm_abort() when signing failed: the mark returns to its previous value if nothing newer
 *                    was reserved meanwhile, so an identical retry still succeeds. (Precisely: it
 *                    falls back to the highest of the committed mark and the reservations still in
 *                    flight, so a concurrent identical retry keeps holding it.)
 * Rule: allow iff no record, or level higher, or same level and round higher, or same level and
 * round with an equal digest (idempotent retry). */
#ifndef VIGIL_WATERMARK_WATERMARK_H
#define VIGIL_WATERMARK_WATERMARK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "tezos/encoding.h"
#include "tezos/request.h"

typedef struct {
    int32_t level;
    int32_t round;
    uint8_t digest[32];
    bool has_digest;
} vg_wm_mark;

typedef struct vg_watermark vg_watermark;
typedef struct vg_wm_ticket vg_wm_ticket; /* one reservation in flight */

/* driver "file" (also when driver is NULL): dir = <base_dir>, state in <base_dir>/watermarks/vigil.wm
 * (format and crash-safety argument: docs/watermarks.md); the directory is flock'ed, so a second
 * process on it fails. On first start (no vigil.wm) a Signatory watermark_v2/v1/v0 directory under
 * dir is imported and written durably before this returns. "mem": dir ignored, nothing persists.
 * Errors: VG_E_INVALID (unknown driver, malformed Signatory file), VG_E_UNAVAILABLE (I/O, corrupt
 * header/size/unidentifiable record, permissions, store in use). Corrupt records of a known key do
 * not fail the open: that key then refuses with 503. */
int vg_watermark_open(const char *driver, const char *base_dir, vg_watermark **out, vg_err *err);
/* Same, with the driver's options (`watermark.config` as JSON, borrowed; NULL = none). driver "aws"
 * (alias "dynamodb") keeps the marks in a DynamoDB table shared by several signers: options and
 * semantics in docs/watermarks.md ("DynamoDB driver"); its commit is the conditional write, so a
 * commit can also fail with 409 VG_E_CONFLICT (another signer got there first), and a storage
 * failure there (503) does not poison the key. */
int vg_watermark_open_config(const char *driver, const char *base_dir, const json_t *config, vg_watermark **out,
                             vg_err *err);
void vg_watermark_close(vg_watermark *wm);
const char *vg_watermark_driver(const vg_watermark *wm);

/* Consensus kinds only (others: VG_E_INTERNAL). 409 VG_E_CONFLICT "watermark validation failed";
 * 503 VG_E_UNAVAILABLE for a corrupt record or a key whose earlier write failed. *ticket is NULL on
 * failure. Tickets must be committed or aborted before vg_watermark_close. */
int vg_wm_reserve(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
                  const vg_wm_mark *mark, vg_wm_ticket **ticket, vg_err *err);
/* Blocks until the mark (or a higher one of the same record) is durable; 503 "watermark storage
 * failure: ..." when the write failed (the key then refuses until restart). Frees ticket. */
int vg_wm_commit(vg_watermark *wm, vg_wm_ticket *ticket, vg_err *err);
void vg_wm_abort(vg_watermark *wm, vg_wm_ticket *ticket);              /* frees ticket */

/* Current in-memory mark (committed or reserved) for inspection/tests; returns false if none. */
bool vg_wm_get(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
               vg_wm_mark *out);

/* The comparison rule alone (shared by every driver): stored == NULL means no record. */
bool vg_wm_rule_allows(const vg_wm_mark *stored, const vg_wm_mark *next);

/* Counters for metrics (monotonic since open). fsyncs / records_written / max_batch / commit_waits
 * are 0 for the mem driver. */
typedef struct {
    uint64_t reserves;            /* successful reservations */
    uint64_t conflicts;           /* 409 refusals */
    uint64_t refused_unavailable; /* 503 refusals (corrupt record, failed storage) */
    uint64_t commits, aborts;
    uint64_t fsyncs;              /* fdatasync calls by the group committer (one per batch) */
    uint64_t records_written;     /* record copies written; records_written / fsyncs = mean batch */
    uint64_t max_batch;           /* most records made durable by one fdatasync */
    uint64_t commit_waits;        /* commits that waited for the committer */
    uint64_t io_errors;
} vg_wm_stats;
void vg_wm_get_stats(vg_watermark *wm, vg_wm_stats *out);

/* Writes every committed record as one JSON object per line, sorted by chain, pkh, kind:
 *   {"chain":"NetX…","pkh":"tz1…","kind":"block","level":n,"round":n,"digest":"vh…"|null}
 * A record refused at open carries "status":"corrupt" instead of the mark; one whose write failed
 * carries "status":"failed" plus the last mark. Returns 0, or -1 on a write error. */
int vg_wm_dump(vg_watermark *wm, FILE *out);

#endif
