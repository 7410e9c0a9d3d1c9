/* Tezos operation contents inside sign requests: the op-kind table (Signatory's policy names) and
 * bounded decoders for every operation a generic (0x03) request may carry, plus the block header
 * and consensus bodies shared with request.c.
 *
 * Layouts follow gotez, Signatory's codec: protocols 023/024 for the latest signing version and
 * 022 for version 1 (spec: shared/specs/signatory.md §2.2, §2.4). Variable parts (Micheline,
 * proofs, rollup payloads) are bounded and skipped, never interpreted. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tezos/request.h"

/* Zarith numbers in operations (fees, counters, amounts, DAL bit sets) are far below this;
 * anything longer is refused rather than walked. */
#define ZARITH_MAX_BYTES 64
/* Nesting bound for the one inline (non length-prefixed) Micheline value: zk_rollup_publish tickets. */
#define MICHELINE_STACK_MAX 256

/* spec: §3.2 "Valid generic op names = the table in §2.2 plus the four pseudo-ops ... printed sorted". */
static const char *const op_kind_names[] = {
    "activate_account",
    "attestations_aggregate",
    "ballot",
    "dal_entrapment_evidence",
    "dal_publish_commitment",
    "delegation",
    "double_baking_evidence",
    "double_consensus_operation_evidence",
    "drain_delegate",
    "failing_noop",
    "finalize_unstake",
    "increase_paid_storage",
    "origination",
    "preattestations_aggregate",
    "proposals",
    "register_global_constant",
    "reveal",
    "seed_nonce_revelation",
    "set_delegate_parameters",
    "set_deposits_limit",
    "signature_prefix",
    "smart_rollup_add_messages",
    "smart_rollup_cement",
    "smart_rollup_execute_outbox_message",
    "smart_rollup_originate",
    "smart_rollup_publish",
    "smart_rollup_recover_bond",
    "smart_rollup_refute",
    "smart_rollup_timeout",
    "stake",
    "transaction",
    "transfer_ticket",
    "unstake",
    "update_companion_key",
    "update_consensus_key",
    "vdf_revelation",
    "zk_rollup_origination",
    "zk_rollup_publish",
    "zk_rollup_update",
};

#define OP_KIND_COUNT ((int)(sizeof op_kind_names / sizeof op_kind_names[0]))

int vg_op_kind_count(void)
{
    return OP_KIND_COUNT;
}

const char *vg_op_kind_name(int op)
{
    if (op < 0 || op >= OP_KIND_COUNT)
        return "unknown";
    return op_kind_names[op];
}

int vg_op_kind_lookup(const char *name)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < OP_KIND_COUNT; i++)
        if (strcmp(op_kind_names[i], name) == 0)
            return i;
    return -1;
}

/* ---- primitive fields ------------------------------------------------------------------ */

static int fail_at(vg_reader *r, size_t off, const char *what)
{
    return vg_fail(r->err, VG_E_INVALID, "%s at offset %zu", what, off);
}

/* A one-byte enum tag no larger than max. */
static int rd_tag(vg_reader *r, uint8_t max, const char *what, uint8_t *out)
{
    size_t start = r->off;
    uint8_t t = 0;
    *out = 0;
    if (vg_rd_u8(r, &t) < 0)
        return -1;
    if (t > max) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "invalid %s tag %u at offset %zu", what, t, start);
    }
    *out = t;
    return 0;
}

/* Octez writes optional fields as 0x00 (none) or 0xff + value; anything else is refused. */
static int rd_option(vg_reader *r, bool *some)
{
    size_t start = r->off;
    uint8_t t;
    if (vg_rd_u8(r, &t) < 0)
        return -1;
    if (t != 0x00 && t != 0xff) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "invalid option tag 0x%02x at offset %zu", t, start);
    }
    *some = t == 0xff;
    return 0;
}

static int rd_bool(vg_reader *r)
{
    bool b;
    return rd_option(r, &b); /* same two byte values */
}

/* Zarith N or Z: 7-bit groups, high bit = more. The last byte may not be 0 (octez refuses
 * non-canonical numbers with a trailing zero). */
static int rd_zarith_max(vg_reader *r, size_t max_bytes)
{
    size_t start = r->off;
    for (size_t i = 0;; i++) {
        uint8_t b;
        if (i == max_bytes) {
            r->off = start;
            return vg_fail(r->err, VG_E_INVALID, "number at offset %zu is longer than %zu bytes", start, max_bytes);
        }
        if (vg_rd_u8(r, &b) < 0) {
            r->off = start;
            return -1;
        }
        if ((b & 0x80) == 0) {
            if (b == 0 && i > 0) {
                r->off = start;
                return fail_at(r, start, "non-canonical number (trailing zero byte)");
            }
            return 0;
        }
    }
}

static int rd_zarith(vg_reader *r)
{
    return rd_zarith_max(r, ZARITH_MAX_BYTES);
}

static int rd_i32(vg_reader *r, int32_t *out)
{
    uint32_t v;
    if (vg_rd_be32(r, &v) < 0)
        return -1;
    if (out != NULL)
        *out = (int32_t)v;
    return 0;
}

static int rd_u16(vg_reader *r)
{
    uint16_t v;
    return vg_rd_be16(r, &v);
}

/* A "dyn" field as a reader over the same buffer (absolute offsets in errors); r moves past it. */
static int rd_dyn_sub(vg_reader *r, vg_reader *sub)
{
    size_t start = r->off;
    uint32_t n;
    if (vg_rd_be32(r, &n) < 0)
        return -1;
    if (n > vg_rd_remaining(r)) {
        size_t left = vg_rd_remaining(r);
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "length %u at offset %zu exceeds the %zu bytes left", n, start, left);
    }
    *sub = *r;
    sub->len = r->off + n;
    return vg_rd_skip(r, n);
}

static int rd_dyn_skip(vg_reader *r)
{
    vg_reader sub;
    return rd_dyn_sub(r, &sub);
}

/* A dyn field holding fixed-size elements. */
static int rd_dyn_array(vg_reader *r, size_t elem, const char *what)
{
    size_t start = r->off;
    vg_reader sub;
    if (rd_dyn_sub(r, &sub) < 0)
        return -1;
    if (vg_rd_remaining(&sub) % elem != 0) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "%s at offset %zu: length %zu is not a multiple of %zu", what, start,
                       vg_rd_remaining(&sub), elem);
    }
    return 0;
}

/* spec: §2.2 "public_key_hash = 1 tag byte (0 ed25519, 1 secp256k1, 2 p256, 3 bls) + 20 bytes". */
static int rd_pkh(vg_reader *r)
{
    uint8_t t;
    if (rd_tag(r, 3, "public key hash", &t) < 0)
        return -1;
    return vg_rd_skip(r, 20);
}

/* spec: §2.2 "public_key = tag (same numbering) + 32 / 33 / 33 / 48 bytes". */
static int rd_public_key(vg_reader *r)
{
    static const size_t len[] = {32, 33, 33, 48};
    uint8_t t;
    if (rd_tag(r, 3, "public key", &t) < 0)
        return -1;
    return vg_rd_skip(r, len[t]);
}

/* contract_id: 0x00 + public_key_hash, or 0x01 + 20-byte KT1 hash + 1 padding byte. */
static int rd_contract(vg_reader *r)
{
    uint8_t t;
    if (rd_tag(r, 1, "contract id", &t) < 0)
        return -1;
    return t == 0 ? rd_pkh(r) : vg_rd_skip(r, 21);
}

static int rd_originated_contract(vg_reader *r)
{
    size_t start = r->off;
    uint8_t t;
    if (vg_rd_u8(r, &t) < 0)
        return -1;
    if (t != 1) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "expected an originated contract (tag 1), got tag %u at offset %zu", t,
                       start);
    }
    return vg_rd_skip(r, 21);
}

/* Walks one inline Micheline expression without recursion. Sequences and generic applications are
 * length-prefixed and skipped whole; only 1- and 2-argument primitives nest inline. */
static int rd_micheline(vg_reader *r)
{
    enum { EXPR, ANNOTS };
    uint8_t stack[MICHELINE_STACK_MAX];
    size_t depth = 0;
    stack[depth++] = EXPR;
    while (depth > 0) {
        uint8_t want = stack[--depth];
        if (want == ANNOTS) {
            if (rd_dyn_skip(r) < 0)
                return -1;
            continue;
        }
        size_t start = r->off;
        uint8_t tag, prim;
        if (vg_rd_u8(r, &tag) < 0)
            return -1;
        if (tag > 0x0a) {
            r->off = start;
            return vg_fail(r->err, VG_E_INVALID, "invalid Micheline tag %u at offset %zu", tag, start);
        }
        if (tag == 0x00) {                      /* int */
            if (rd_zarith_max(r, SIZE_MAX) < 0) /* Michelson ints are unbounded; the input bounds them */
                return -1;
            continue;
        }
        if (tag == 0x01 || tag == 0x02 || tag == 0x0a) { /* string, sequence, bytes */
            if (rd_dyn_skip(r) < 0)
                return -1;
            continue;
        }
        if (vg_rd_u8(r, &prim) < 0)
            return -1;
        if (tag == 0x09) { /* primitive with an argument list and annotations */
            if (rd_dyn_skip(r) < 0 || rd_dyn_skip(r) < 0)
                return -1;
            continue;
        }
        /* 0x03/0x04: no args, 0x05/0x06: one, 0x07/0x08: two; even tags carry annotations last. */
        size_t args = (size_t)(tag - 0x03) / 2;
        bool annots = tag % 2 == 0;
        if (depth + args + (annots ? 1 : 0) > MICHELINE_STACK_MAX)
            return fail_at(r, start, "Micheline value nested too deeply");
        if (annots)
            stack[depth++] = ANNOTS;
        for (size_t i = 0; i < args; i++)
            stack[depth++] = EXPR;
    }
    return 0;
}

/* ---- block header and consensus bodies ------------------------------------------------- */

/* spec: §2.2 "round = the last 4 bytes of the fitness, read as a big-endian integer". */
static int rd_fitness_round(vg_reader *r, int32_t *round)
{
    size_t start = r->off;
    vg_reader fit;
    if (rd_dyn_sub(r, &fit) < 0)
        return -1;
    size_t n = vg_rd_remaining(&fit);
    if (n < 4) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "fitness at offset %zu is %zu bytes, too short to hold a round", start, n);
    }
    if (vg_rd_skip(&fit, n - 4) < 0)
        return -1;
    return rd_i32(&fit, round);
}

int vg_op_block_header_decode(vg_reader *r, int32_t *level, int32_t *round)
{
    bool seed_nonce;
    uint8_t b;
    if (rd_i32(r, level) < 0 || vg_rd_u8(r, &b) < 0 /* proto */ || vg_rd_skip(r, 32) < 0 /* predecessor */ ||
        vg_rd_skip(r, 8) < 0 /* timestamp */ || vg_rd_u8(r, &b) < 0 /* validation_pass */ ||
        vg_rd_skip(r, 32) < 0 /* operations_hash */ || rd_fitness_round(r, round) < 0 ||
        vg_rd_skip(r, 32) < 0 /* context */)
        return -1;
    if (vg_rd_skip(r, 32) < 0 /* payload_hash */ || rd_i32(r, NULL) < 0 /* payload_round */ ||
        vg_rd_skip(r, 8) < 0 /* proof_of_work_nonce */ || rd_option(r, &seed_nonce) < 0)
        return -1;
    if (seed_nonce && vg_rd_skip(r, 32) < 0)
        return -1;
    return vg_rd_u8(r, &b); /* per_block_votes */
}

int vg_op_consensus_decode(vg_reader *r, uint8_t tag, int32_t *level, int32_t *round)
{
    switch (tag) {
    case 20:               /* preattestation */
    case 21:               /* attestation */
    case 23:               /* attestation_with_dal */
        if (rd_u16(r) < 0) /* slot */
            return -1;
        break;
    case 40: /* BLS-mode preattestation: no slot */
    case 41: /* BLS-mode attestation */
        break;
    default:
        return vg_fail(r->err, VG_E_INVALID, "operation tag %u is not a consensus operation", tag);
    }
    if (rd_i32(r, level) < 0 || rd_i32(r, round) < 0 || vg_rd_skip(r, 32) < 0 /* block_payload_hash */)
        return -1;
    return tag == 23 ? rd_zarith(r) /* dal_attestation */ : 0;
}

/* ---- operation bodies ------------------------------------------------------------------ */

struct op_out {
    const char *kind; /* set by a body that reclassifies (transaction pseudo-operations) */
    int ballot;
};

typedef int (*op_body_fn)(vg_reader *r, struct op_out *out);

/* spec: §2.2 "Manager prefix: source public_key_hash(21), fee N, counter N, gas_limit N, storage_limit N". */
static int rd_manager(vg_reader *r)
{
    if (rd_pkh(r) < 0)
        return -1;
    for (int i = 0; i < 4; i++)
        if (rd_zarith(r) < 0)
            return -1;
    return 0;
}

static int consensus_content(vg_reader *r)
{
    return rd_i32(r, NULL) < 0 || rd_i32(r, NULL) < 0 ? -1 : vg_rd_skip(r, 32);
}

/* 023+: committee = dyn list of { slot u16, dal_attestation option(Z) }. */
static int attestations_aggregate_body(vg_reader *r, struct op_out *out)
{
    vg_reader list;
    if (consensus_content(r) < 0 || rd_dyn_sub(r, &list) < 0)
        return -1;
    while (!vg_rd_eof(&list)) {
        bool dal;
        if (rd_u16(&list) < 0 || rd_option(&list, &dal) < 0 || (dal && rd_zarith(&list) < 0))
            return -1;
    }
    return 0;
}

/* Preattestations aggregate (023+) and the 022 attestations aggregate: a dyn list of u16 slots. */
static int slots_aggregate_body(vg_reader *r, struct op_out *out)
{
    return consensus_content(r) < 0 ? -1 : rd_dyn_array(r, 2, "committee");
}

/* An inlined, signed consensus operation: branch, one content, then the signature to the end. */
static int rd_inlined_consensus(vg_reader *r, bool latest)
{
    vg_reader op;
    uint8_t tag;
    if (rd_dyn_sub(r, &op) < 0 || vg_rd_skip(&op, 32) < 0)
        return -1;
    size_t at = op.off;
    if (vg_rd_u8(&op, &tag) < 0)
        return -1;
    int rc;
    if (tag == 20 || tag == 21 || tag == 23)
        rc = vg_op_consensus_decode(&op, tag, NULL, NULL);
    else if (tag == 30 && latest)
        rc = slots_aggregate_body(&op, NULL);
    else if (tag == 31)
        rc = latest ? attestations_aggregate_body(&op, NULL) : slots_aggregate_body(&op, NULL);
    else
        return vg_fail(r->err, VG_E_INVALID, "unexpected inlined operation tag %u at offset %zu", tag, at);
    return rc < 0 ? -1 : vg_rd_skip(&op, vg_rd_remaining(&op)); /* signature */
}

static int seed_nonce_revelation_body(vg_reader *r, struct op_out *out)
{
    return rd_i32(r, NULL) < 0 ? -1 : vg_rd_skip(r, 32);
}

/* 023+: slot u16 + two dyn inlined consensus operations. */
static int double_consensus_evidence_body(vg_reader *r, struct op_out *out)
{
    return rd_u16(r) < 0 || rd_inlined_consensus(r, true) < 0 ? -1 : rd_inlined_consensus(r, true);
}

/* Two dyn signed block headers: unsigned header, then the signature to the end of the dyn. */
static int double_baking_evidence_body(vg_reader *r, struct op_out *out)
{
    for (int i = 0; i < 2; i++) {
        vg_reader bh;
        int32_t level, round;
        if (rd_dyn_sub(r, &bh) < 0 || vg_op_block_header_decode(&bh, &level, &round) < 0 ||
            vg_rd_skip(&bh, vg_rd_remaining(&bh)) < 0)
            return -1;
    }
    return 0;
}

/* 20-byte ed25519 key hash + 20-byte activation secret. */
static int activate_account_body(vg_reader *r, struct op_out *out)
{
    return vg_rd_skip(r, 40);
}

static int proposals_body(vg_reader *r, struct op_out *out)
{
    return rd_pkh(r) < 0 || rd_i32(r, NULL) < 0 ? -1 : rd_dyn_array(r, 32, "proposals");
}

/* spec: §2.2 "ballot 6: source pkh(21), period int32, proposal protocol hash(32),
 * ballot int8 (0 yay, 1 nay, 2 pass)". */
static int ballot_body(vg_reader *r, struct op_out *out)
{
    uint8_t b;
    if (rd_pkh(r) < 0 || rd_i32(r, NULL) < 0 || vg_rd_skip(r, 32) < 0 || rd_tag(r, 2, "ballot", &b) < 0)
        return -1;
    out->ballot = b;
    return 0;
}

static int vdf_revelation_body(vg_reader *r, struct op_out *out)
{
    return vg_rd_skip(r, 200);
}

static int drain_delegate_body(vg_reader *r, struct op_out *out)
{
    return rd_pkh(r) < 0 || rd_pkh(r) < 0 ? -1 : rd_pkh(r);
}

static int failing_noop_body(vg_reader *r, struct op_out *out)
{
    return rd_dyn_skip(r);
}

/* shard_with_proof: shard { index int32, share dyn }, proof (48-byte DAL commitment). */
static int rd_shard_with_proof(vg_reader *r)
{
    return rd_i32(r, NULL) < 0 || rd_dyn_skip(r) < 0 ? -1 : vg_rd_skip(r, 48);
}

/* 023+: attestation dyn, consensus_slot u16, slot_index u8, shard_with_proof. */
static int dal_entrapment_evidence_body(vg_reader *r, struct op_out *out)
{
    uint8_t b;
    if (rd_inlined_consensus(r, true) < 0 || rd_u16(r) < 0 || vg_rd_u8(r, &b) < 0)
        return -1;
    return rd_shard_with_proof(r);
}

/* 022: no consensus_slot. */
static int dal_entrapment_evidence_v1_body(vg_reader *r, struct op_out *out)
{
    uint8_t b;
    if (rd_inlined_consensus(r, false) < 0 || vg_rd_u8(r, &b) < 0)
        return -1;
    return rd_shard_with_proof(r);
}

/* spec: §2.2 "the proof is the tz4 reveal PoP"; an option starting exactly at the end of the request
 * decodes as none, as gotez does, so payloads from clients that omit it still decode. */
static int rd_proof_option(vg_reader *r, bool bls_only)
{
    bool some;
    if (vg_rd_eof(r))
        return 0;
    size_t start = r->off;
    if (rd_option(r, &some) < 0)
        return -1;
    if (!some)
        return 0;
    vg_reader sig;
    if (rd_dyn_sub(r, &sig) < 0)
        return -1;
    if (bls_only && vg_rd_remaining(&sig) != 96)
        return fail_at(r, start, "proof is not a 96-byte BLS signature");
    return 0;
}

static int reveal_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 || rd_public_key(r) < 0 ? -1 : rd_proof_option(r, true);
}

/* 022 reveal: no proof field. */
static int reveal_v1_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 ? -1 : rd_public_key(r);
}

/* spec: §2.2 "entrypoint tag 6 stake, 7 unstake, 8 finalize_unstake, 9 set_delegate_parameters";
 * 0-5 are other reserved names, 255 = named: 1-byte length + name (octez caps it at 31). */
static int rd_entrypoint(vg_reader *r, const char **pseudo)
{
    static const char *const pseudo_kinds[] = {"stake", "unstake", "finalize_unstake", "set_delegate_parameters"};
    size_t start = r->off;
    uint8_t t, n;
    if (vg_rd_u8(r, &t) < 0)
        return -1;
    if (t <= 9) {
        if (t >= 6)
            *pseudo = pseudo_kinds[t - 6];
        return 0;
    }
    if (t != 255) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "invalid entrypoint tag %u at offset %zu", t, start);
    }
    if (vg_rd_u8(r, &n) < 0)
        return -1;
    if (n == 0 || n > 31) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "entrypoint name length %u at offset %zu is not 1..31", n, start);
    }
    return vg_rd_skip(r, n);
}

static int transaction_body(vg_reader *r, struct op_out *out)
{
    bool params;
    if (rd_manager(r) < 0 || rd_zarith(r) < 0 /* amount */ || rd_contract(r) < 0 || rd_option(r, &params) < 0)
        return -1;
    if (!params)
        return 0;
    return rd_entrypoint(r, &out->kind) < 0 ? -1 : rd_dyn_skip(r); /* Micheline value */
}

static int rd_delegate_option(vg_reader *r)
{
    bool some;
    if (rd_option(r, &some) < 0)
        return -1;
    return some ? rd_pkh(r) : 0;
}

static int origination_body(vg_reader *r, struct op_out *out)
{
    if (rd_manager(r) < 0 || rd_zarith(r) < 0 /* balance */ || rd_delegate_option(r) < 0)
        return -1;
    return rd_dyn_skip(r) < 0 ? -1 : rd_dyn_skip(r); /* code, storage */
}

static int delegation_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 ? -1 : rd_delegate_option(r);
}

static int register_global_constant_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 ? -1 : rd_dyn_skip(r);
}

static int set_deposits_limit_body(vg_reader *r, struct op_out *out)
{
    bool some;
    if (rd_manager(r) < 0 || rd_option(r, &some) < 0)
        return -1;
    return some ? rd_zarith(r) : 0;
}

static int increase_paid_storage_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 || rd_zarith(r) < 0 ? -1 : rd_originated_contract(r);
}

/* update_consensus_key / update_companion_key: public key + BLS proof option. */
static int update_key_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 || rd_public_key(r) < 0 ? -1 : rd_proof_option(r, true);
}

/* 022: the proof is any signature. */
static int update_key_v1_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 || rd_public_key(r) < 0 ? -1 : rd_proof_option(r, false);
}

/* contents dyn, type dyn, ticketer, amount N, destination, entrypoint dyn. */
static int transfer_ticket_body(vg_reader *r, struct op_out *out)
{
    if (rd_manager(r) < 0 || rd_dyn_skip(r) < 0 || rd_dyn_skip(r) < 0 || rd_contract(r) < 0)
        return -1;
    return rd_zarith(r) < 0 || rd_contract(r) < 0 ? -1 : rd_dyn_skip(r);
}

/* pvm_kind (arith, wasm_2_0_0, riscv), kernel dyn, parameters_ty dyn, whitelist option(dyn list of pkh). */
static int sr_originate_body(vg_reader *r, struct op_out *out)
{
    uint8_t pvm;
    bool some;
    if (rd_manager(r) < 0 || rd_tag(r, 2, "PVM kind", &pvm) < 0 || rd_dyn_skip(r) < 0 || rd_dyn_skip(r) < 0 ||
        rd_option(r, &some) < 0)
        return -1;
    if (!some)
        return 0;
    vg_reader list;
    if (rd_dyn_sub(r, &list) < 0)
        return -1;
    while (!vg_rd_eof(&list))
        if (rd_pkh(&list) < 0)
            return -1;
    return 0;
}

/* message: dyn list of dyn byte strings. */
static int sr_add_messages_body(vg_reader *r, struct op_out *out)
{
    vg_reader list;
    if (rd_manager(r) < 0 || rd_dyn_sub(r, &list) < 0)
        return -1;
    while (!vg_rd_eof(&list))
        if (rd_dyn_skip(&list) < 0)
            return -1;
    return 0;
}

static int sr_cement_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 ? -1 : vg_rd_skip(r, 20); /* rollup */
}

/* rollup, commitment { compressed_state 32, inbox_level int32, predecessor 32, number_of_ticks int64 }. */
static int sr_publish_body(vg_reader *r, struct op_out *out)
{
    if (rd_manager(r) < 0 || vg_rd_skip(r, 20) < 0 || vg_rd_skip(r, 32) < 0 || rd_i32(r, NULL) < 0)
        return -1;
    return vg_rd_skip(r, 32) < 0 ? -1 : vg_rd_skip(r, 8);
}

/* Refutation step proof's input proof: inbox {level, message_counter N, proof dyn}, reveal {raw data dyn |
 * metadata | DAL page {level int32, slot u8, page int16, proof dyn} | DAL parameters}, or first input. */
static int rd_refutation_input_proof(vg_reader *r)
{
    uint8_t kind, reveal;
    if (rd_tag(r, 2, "refutation input proof", &kind) < 0)
        return -1;
    if (kind == 0)
        return rd_i32(r, NULL) < 0 || rd_zarith(r) < 0 ? -1 : rd_dyn_skip(r);
    if (kind == 2)
        return 0;
    if (rd_tag(r, 3, "reveal proof", &reveal) < 0)
        return -1;
    if (reveal == 0)
        return rd_dyn_skip(r);
    if (reveal == 2)
        return rd_i32(r, NULL) < 0 || vg_rd_skip(r, 1) < 0 || rd_u16(r) < 0 ? -1 : rd_dyn_skip(r);
    return 0;
}

/* rollup, opponent pkh, refutation: start {2 x 32} | move {choice N, step: dissection dyn list of
 * {option(32), tick N} | proof {pvm_step dyn, option(input proof)}}. */
static int sr_refute_body(vg_reader *r, struct op_out *out)
{
    uint8_t refutation, step;
    if (rd_manager(r) < 0 || vg_rd_skip(r, 20) < 0 || rd_pkh(r) < 0 || rd_tag(r, 1, "refutation", &refutation) < 0)
        return -1;
    if (refutation == 0)
        return vg_rd_skip(r, 64);
    if (rd_zarith(r) < 0 || rd_tag(r, 1, "refutation step", &step) < 0)
        return -1;
    if (step == 0) {
        vg_reader list;
        if (rd_dyn_sub(r, &list) < 0)
            return -1;
        while (!vg_rd_eof(&list)) {
            bool state;
            if (rd_option(&list, &state) < 0 || (state && vg_rd_skip(&list, 32) < 0) || rd_zarith(&list) < 0)
                return -1;
        }
        return 0;
    }
    bool input;
    if (rd_dyn_skip(r) < 0 || rd_option(r, &input) < 0)
        return -1;
    return input ? rd_refutation_input_proof(r) : 0;
}

/* rollup, stakers { alice pkh, bob pkh }. */
static int sr_timeout_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 || vg_rd_skip(r, 20) < 0 || rd_pkh(r) < 0 ? -1 : rd_pkh(r);
}

/* rollup, cemented_commitment 32, output_proof dyn. */
static int sr_execute_outbox_message_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 || vg_rd_skip(r, 52) < 0 ? -1 : rd_dyn_skip(r);
}

/* rollup, staker pkh. */
static int sr_recover_bond_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 || vg_rd_skip(r, 20) < 0 ? -1 : rd_pkh(r);
}

/* spec: §2.2 "dal_publish_commitment 230: + slot_index u8 + commitment(48) + commitment_proof(96)". */
static int dal_publish_commitment_body(vg_reader *r, struct op_out *out)
{
    return rd_manager(r) < 0 ? -1 : vg_rd_skip(r, 1 + 48 + 96);
}

/* public_parameters dyn, circuits_info dyn list of {name dyn, tag u8 (public, private, fee)},
 * init_state dyn, nb_ops int32. */
static int zk_origination_body(vg_reader *r, struct op_out *out)
{
    vg_reader list;
    if (rd_manager(r) < 0 || rd_dyn_skip(r) < 0 || rd_dyn_sub(r, &list) < 0)
        return -1;
    while (!vg_rd_eof(&list)) {
        uint8_t t;
        if (rd_dyn_skip(&list) < 0 || rd_tag(&list, 2, "circuit", &t) < 0)
            return -1;
    }
    return rd_dyn_skip(r) < 0 ? -1 : rd_i32(r, NULL);
}

/* zk_rollup 20, op: dyn list of { op { op_code int32, price { id 32, amount Z }, l1_dst pkh,
 * rollup_id 20, payload dyn }, ticket 0x00 | 0x01 + { contents, ty (inline Micheline), ticketer } }. */
static int zk_publish_body(vg_reader *r, struct op_out *out)
{
    vg_reader list;
    if (rd_manager(r) < 0 || vg_rd_skip(r, 20) < 0 || rd_dyn_sub(r, &list) < 0)
        return -1;
    while (!vg_rd_eof(&list)) {
        uint8_t ticket;
        if (rd_i32(&list, NULL) < 0 || vg_rd_skip(&list, 32) < 0 || rd_zarith(&list) < 0 || rd_pkh(&list) < 0 ||
            vg_rd_skip(&list, 20) < 0 || rd_dyn_skip(&list) < 0 || rd_tag(&list, 1, "ticket option", &ticket) < 0)
            return -1;
        if (ticket == 1 && (rd_micheline(&list) < 0 || rd_micheline(&list) < 0 || rd_contract(&list) < 0))
            return -1;
    }
    return 0;
}

/* zk_rollup 20, update { pending_pis dyn list of {key dyn, new_state dyn, fee 32, exit_validity bool},
 * private_pis dyn list of {key dyn, new_state dyn, fee 32}, fee_pi { new_state dyn }, proof dyn }. */
static int zk_update_body(vg_reader *r, struct op_out *out)
{
    vg_reader list;
    if (rd_manager(r) < 0 || vg_rd_skip(r, 20) < 0 || rd_dyn_sub(r, &list) < 0)
        return -1;
    while (!vg_rd_eof(&list))
        if (rd_dyn_skip(&list) < 0 || rd_dyn_skip(&list) < 0 || vg_rd_skip(&list, 32) < 0 || rd_bool(&list) < 0)
            return -1;
    if (rd_dyn_sub(r, &list) < 0)
        return -1;
    while (!vg_rd_eof(&list))
        if (rd_dyn_skip(&list) < 0 || rd_dyn_skip(&list) < 0 || vg_rd_skip(&list, 32) < 0)
            return -1;
    return rd_dyn_skip(r) < 0 ? -1 : rd_dyn_skip(r);
}

/* signature_prefix: a BLS (tag 3) 32-byte prefix, the only variant. */
static int signature_prefix_body(vg_reader *r, struct op_out *out)
{
    size_t start = r->off;
    uint8_t t;
    if (vg_rd_u8(r, &t) < 0)
        return -1;
    if (t != 3) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "invalid signature prefix tag %u at offset %zu", t, start);
    }
    return vg_rd_skip(r, 32);
}

/* ---- the tag table ---------------------------------------------------------------------- */

#define V1 1u     /* signing version 1: proto 022 */
#define LATEST 2u /* every other version: proto 023/024 */
#define ALL (V1 | LATEST)

/* A NULL body marks an operation that exists in the protocol but can never be signed inside a
 * generic request (consensus operations, and 022 evidence kinds no policy can name). */
static const struct op_schema {
    uint8_t tag;
    uint8_t versions;
    const char *kind;
    op_body_fn body;
} op_schemas[] = {
    {1, ALL, "seed_nonce_revelation", seed_nonce_revelation_body},
    {2, LATEST, "double_consensus_operation_evidence", double_consensus_evidence_body},
    {2, V1, "double_attestation_evidence", NULL},
    {3, ALL, "double_baking_evidence", double_baking_evidence_body},
    {4, ALL, "activate_account", activate_account_body},
    {5, ALL, "proposals", proposals_body},
    {6, ALL, "ballot", ballot_body},
    {7, V1, "double_preattestation_evidence", NULL},
    {8, ALL, "vdf_revelation", vdf_revelation_body},
    {9, ALL, "drain_delegate", drain_delegate_body},
    {17, ALL, "failing_noop", failing_noop_body},
    {20, ALL, "preattestation", NULL},
    {21, ALL, "attestation", NULL},
    {23, ALL, "attestation_with_dal", NULL},
    {24, LATEST, "dal_entrapment_evidence", dal_entrapment_evidence_body},
    {24, V1, "dal_entrapment_evidence", dal_entrapment_evidence_v1_body},
    {30, LATEST, "preattestations_aggregate", slots_aggregate_body},
    {31, LATEST, "attestations_aggregate", attestations_aggregate_body},
    {31, V1, "attestations_aggregate", slots_aggregate_body},
    {40, LATEST, "preattestation", NULL},
    {41, LATEST, "attestation", NULL},
    {107, LATEST, "reveal", reveal_body},
    {107, V1, "reveal", reveal_v1_body},
    {108, ALL, "transaction", transaction_body},
    {109, ALL, "origination", origination_body},
    {110, ALL, "delegation", delegation_body},
    {111, ALL, "register_global_constant", register_global_constant_body},
    {112, ALL, "set_deposits_limit", set_deposits_limit_body},
    {113, ALL, "increase_paid_storage", increase_paid_storage_body},
    {114, LATEST, "update_consensus_key", update_key_body},
    {114, V1, "update_consensus_key", update_key_v1_body},
    {115, LATEST, "update_companion_key", update_key_body},
    {158, ALL, "transfer_ticket", transfer_ticket_body},
    {200, ALL, "smart_rollup_originate", sr_originate_body},
    {201, ALL, "smart_rollup_add_messages", sr_add_messages_body},
    {202, ALL, "smart_rollup_cement", sr_cement_body},
    {203, ALL, "smart_rollup_publish", sr_publish_body},
    {204, ALL, "smart_rollup_refute", sr_refute_body},
    {205, ALL, "smart_rollup_timeout", sr_timeout_body},
    {206, ALL, "smart_rollup_execute_outbox_message", sr_execute_outbox_message_body},
    {207, ALL, "smart_rollup_recover_bond", sr_recover_bond_body},
    {230, ALL, "dal_publish_commitment", dal_publish_commitment_body},
    {250, ALL, "zk_rollup_origination", zk_origination_body},
    {251, ALL, "zk_rollup_publish", zk_publish_body},
    {252, ALL, "zk_rollup_update", zk_update_body},
    {255, ALL, "signature_prefix", signature_prefix_body},
};

static const struct op_schema *find_schema(uint8_t tag, unsigned version_bit)
{
    for (size_t i = 0; i < sizeof op_schemas / sizeof op_schemas[0]; i++)
        if (op_schemas[i].tag == tag && (op_schemas[i].versions & version_bit) != 0)
            return &op_schemas[i];
    return NULL;
}

int vg_op_contents_decode(vg_reader *r, int version, vg_op *out)
{
    size_t start = r->off;
    uint8_t tag;
    if (vg_rd_u8(r, &tag) < 0)
        return -1;
    const struct op_schema *s = find_schema(tag, version == 1 ? V1 : LATEST);
    if (s == NULL) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID, "unsupported operation tag %u at offset %zu", tag, start);
    }
    if (s->body == NULL) {
        r->off = start;
        return vg_fail(r->err, VG_E_INVALID,
                       "operation `%s' (tag %u) at offset %zu cannot be signed in a generic request", s->kind, tag,
                       start);
    }
    struct op_out res = {s->kind, -1};
    if (s->body(r, &res) < 0) {
        vg_wrap(r->err, "%s (tag %u) at offset %zu", s->kind, tag, start);
        r->off = start;
        return -1;
    }
    int kind = vg_op_kind_lookup(res.kind);
    if (kind < 0) { /* a table entry naming no listed kind: a bug, refuse rather than mislabel */
        r->off = start;
        return vg_fail(r->err, VG_E_INTERNAL, "operation tag %u maps to unlisted kind %s", tag, res.kind);
    }
    out->kind = kind;
    out->ballot = res.ballot;
    return 0;
}
