/* Classification and decoding of Tezos sign requests (the bytes POSTed to /keys/{pkh}).
 * A bounded decoder over untrusted bytes: truncated, trailing or over-long input is refused
 * with a message naming the offset. */
#ifndef VIGIL_TEZOS_REQUEST_H
#define VIGIL_TEZOS_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/reader.h"

typedef enum {
    VG_REQ_BLOCK = 0,
    VG_REQ_PREATTESTATION,
    VG_REQ_ATTESTATION,
    VG_REQ_ATTESTATION_WITH_DAL,
    VG_REQ_GENERIC,
    VG_REQ_PACK,
    VG_REQ_KIND_COUNT
} vg_req_kind;

/* Signatory's names: "block", "preattestation", "attestation", "attestation_with_dal", "generic", "pack". */
const char *vg_req_kind_name(vg_req_kind k);
/* Accepts the names above plus legacy aliases endorsement/preendorsement. -1 if unknown. */
int vg_req_kind_parse(const char *name, vg_req_kind *out);
static inline bool vg_req_kind_is_consensus(vg_req_kind k) { return k <= VG_REQ_ATTESTATION_WITH_DAL; }

/* Generic operation kinds, named as Signatory's policy names them (incl. pseudo-kinds stake, unstake,
 * finalize_unstake, set_delegate_parameters). Index into a static table. */
#define VG_OPS_MAX 256          /* operations kept per request; more → 400 */
int vg_op_kind_count(void);
const char *vg_op_kind_name(int op);      /* sorted table, as `list-ops` prints */
int vg_op_kind_lookup(const char *name);  /* -1 if unknown */

typedef struct {
    int kind;        /* vg_op_kind index */
    int ballot;      /* for ballot: 0 yay, 1 nay, 2 pass; else -1 */
} vg_op;

typedef struct {
    vg_req_kind kind;
    /* consensus kinds only */
    uint8_t chain_id[4];
    int32_t level;
    int32_t round;
    /* generic only */
    size_t n_ops;
    vg_op ops[VG_OPS_MAX];
} vg_request;

/* version: Signatory's signing version (0, 1, 2); 1 selects the proto-022 rules (no pack, no BLS
 * tags 40/41, tag 23 reported as attestation), any other value the latest (proto 023/024) rules.
 * Block and consensus requests must end exactly where their content ends (trailing bytes are refused);
 * a generic request needs 1..VG_OPS_MAX operations. Every failure is VG_E_INVALID with a message naming
 * the offset; *out is zeroed on entry and left zeroed on failure. */
int vg_request_decode(const uint8_t *msg, size_t len, int version, vg_request *out, vg_err *err);

/* Wire decoders shared by request.c and operations.c (exposed for tests and fuzzing). Each reads
 * from r, fails with VG_E_INVALID and a message naming the offset, and takes NULL for unwanted outputs. */

/* Unsigned Tenderbake block header (shell + protocol data). round = last 4 bytes of the fitness. */
int vg_op_block_header_decode(vg_reader *r, int32_t *level, int32_t *round);
/* Body of consensus operation tag 20, 21, 23 (slot first) or 40, 41 (BLS mode, no slot). */
int vg_op_consensus_decode(vg_reader *r, uint8_t tag, int32_t *level, int32_t *round);
/* One operation of a generic request (tag + body) under the given signing version; out->kind is
 * always a listed kind (< vg_op_kind_count()). Consensus operations are refused. */
int vg_op_contents_decode(vg_reader *r, int version, vg_op *out);

#endif
