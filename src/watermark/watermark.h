/* High watermarks against double signing, per (chain id, key, request kind).
 *
 * Protocol for one consensus request (the signer pipeline):
 *   vg_wm_reserve()  checks (level, round, digest) against the in-memory high mark and, if allowed,
 *                    advances it (409 VG_E_CONFLICT on refusal, 503 VG_E_UNAVAILABLE if the store is
 *                    broken for that key). attestation and attestation_with_dal are one conflict class.
 *   sign
 *   vg_wm_commit()   makes the new mark durable (fsync) — only then may the signature leave.
 *   or vg_wm_abort() when signing failed: the mark returns to its previous value if nothing newer
 *                    was reserved meanwhile, so an identical retry still succeeds.
 * Rule: allow iff no record, or level higher, or same level and round higher, or same level and
 * round with an equal digest (idempotent retry). */
#ifndef VIGIL_WATERMARK_WATERMARK_H
#define VIGIL_WATERMARK_WATERMARK_H

#include <stdbool.h>
#include <stdint.h>

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

/* driver "file": dir = <base_dir>; "mem": dir ignored. Loads state (and migrates a Signatory
 * watermark_v2/v1/v0 directory found under dir on first start). */
int vg_watermark_open(const char *driver, const char *base_dir, vg_watermark **out, vg_err *err);
void vg_watermark_close(vg_watermark *wm);
const char *vg_watermark_driver(const vg_watermark *wm);

int vg_wm_reserve(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
                  const vg_wm_mark *mark, vg_wm_ticket **ticket, vg_err *err);
int vg_wm_commit(vg_watermark *wm, vg_wm_ticket *ticket, vg_err *err); /* frees ticket */
void vg_wm_abort(vg_watermark *wm, vg_wm_ticket *ticket);              /* frees ticket */

/* Current mark for inspection/tests; returns false if none. */
bool vg_wm_get(vg_watermark *wm, const uint8_t chain_id[4], const vg_pkh *pkh, vg_req_kind kind,
               vg_wm_mark *out);

#endif
