/* Sign-request classification: the magic byte picks the request kind, then the framing of that
 * kind is decoded with the wire decoders of operations.c (spec: shared/specs/signatory.md §2). */
#include <string.h>

#include "tezos/request.h"

#define MAGIC_GENERIC 0x03
#define MAGIC_PACK 0x05
#define MAGIC_BLOCK 0x11
#define MAGIC_PREATTESTATION 0x12
#define MAGIC_ATTESTATION 0x13

static const char *const req_kind_names[VG_REQ_KIND_COUNT] = {
    [VG_REQ_BLOCK] = "block",
    [VG_REQ_PREATTESTATION] = "preattestation",
    [VG_REQ_ATTESTATION] = "attestation",
    [VG_REQ_ATTESTATION_WITH_DAL] = "attestation_with_dal",
    [VG_REQ_GENERIC] = "generic",
    [VG_REQ_PACK] = "pack",
};

const char *vg_req_kind_name(vg_req_kind k)
{
    if ((int)k < 0 || k >= VG_REQ_KIND_COUNT)
        return "unknown";
    return req_kind_names[k];
}

int vg_req_kind_parse(const char *name, vg_req_kind *out)
{
    if (name == NULL)
        return -1;
    /* spec: §3.2 "Request-kind aliases: endorsement→attestation, preendorsement→preattestation". */
    if (strcmp(name, "endorsement") == 0)
        name = "attestation";
    else if (strcmp(name, "preendorsement") == 0)
        name = "preattestation";
    for (int k = 0; k < VG_REQ_KIND_COUNT; k++) {
        if (strcmp(req_kind_names[k], name) == 0) {
            *out = (vg_req_kind)k;
            return 0;
        }
    }
    return -1;
}

static int decode_block(vg_reader *r, vg_request *out)
{
    if (vg_rd_copy(r, out->chain_id, sizeof out->chain_id) < 0 ||
        vg_op_block_header_decode(r, &out->level, &out->round) < 0)
        return -1;
    out->kind = VG_REQ_BLOCK;
    /* spec: §13 item 8 "Reject trailing bytes (400, clear message)". */
    return vg_rd_expect_end(r, "block request");
}

/* Which consensus tags each magic accepts, and the request kind they report (-1: refused).
 * spec: §2.2 "A tag that is not allowed under the given magic (e.g. 0x12 + tag 21) is a decode error";
 * §2.4 version 1: no BLS-mode tags 40/41, tag 23 reports `attestation`. */
static int consensus_kind(uint8_t magic, uint8_t tag, bool v1)
{
    if (magic == MAGIC_PREATTESTATION) {
        if (tag == 20 || (tag == 40 && !v1))
            return VG_REQ_PREATTESTATION;
        return -1;
    }
    if (tag == 21 || (tag == 41 && !v1))
        return VG_REQ_ATTESTATION;
    if (tag == 23)
        return v1 ? VG_REQ_ATTESTATION : VG_REQ_ATTESTATION_WITH_DAL;
    return -1;
}

static int decode_consensus(vg_reader *r, uint8_t magic, bool v1, vg_request *out)
{
    uint8_t tag;
    if (vg_rd_copy(r, out->chain_id, sizeof out->chain_id) < 0 || vg_rd_skip(r, 32) < 0 /* branch */)
        return -1;
    size_t at = r->off;
    if (vg_rd_u8(r, &tag) < 0)
        return -1;
    const char *what = magic == MAGIC_PREATTESTATION ? "preattestation" : "attestation";
    int kind = consensus_kind(magic, tag, v1);
    if (kind < 0)
        return vg_fail(r->err, VG_E_INVALID, "%s request (magic 0x%02x): operation tag %u at offset %zu is not allowed",
                       what, magic, tag, at);
    if (vg_op_consensus_decode(r, tag, &out->level, &out->round) < 0)
        return -1;
    out->kind = (vg_req_kind)kind;
    return vg_rd_expect_end(r, magic == MAGIC_PREATTESTATION ? "preattestation request" : "attestation request");
}

/* spec: §2.2 "branch (32 bytes), then a sequence of operation contents until the end of the buffer". */
static int decode_generic(vg_reader *r, int version, vg_request *out)
{
    if (vg_rd_skip(r, 32) < 0) /* branch */
        return -1;
    if (vg_rd_eof(r))
        return vg_fail(r->err, VG_E_INVALID, "generic request has no operation at offset %zu", r->off);
    while (!vg_rd_eof(r)) {
        if (out->n_ops == VG_OPS_MAX)
            return vg_fail(r->err, VG_E_INVALID, "generic request has more than %d operations (offset %zu)", VG_OPS_MAX,
                           r->off);
        if (vg_op_contents_decode(r, version, &out->ops[out->n_ops]) < 0)
            return vg_wrap(r->err, "operation %zu", out->n_ops + 1);
        out->n_ops++;
    }
    out->kind = VG_REQ_GENERIC;
    return 0;
}

/* spec: §2.2 "Pack (0x05): the bytes after the magic are PACK data"; kept opaque, but never empty. */
static int decode_pack(vg_reader *r, bool v1, vg_request *out)
{
    if (v1)
        return vg_fail(r->err, VG_E_INVALID, "pack requests (magic 0x05) are not supported by signing version 1");
    if (vg_rd_eof(r))
        return vg_fail(r->err, VG_E_INVALID, "pack request has no data after the magic byte (offset %zu)", r->off);
    out->kind = VG_REQ_PACK;
    return vg_rd_skip(r, vg_rd_remaining(r));
}

static int decode_any(vg_reader *r, int version, vg_request *out)
{
    uint8_t magic;
    if (vg_rd_u8(r, &magic) < 0)
        return -1;
    bool v1 = version == 1;
    switch (magic) {
    case MAGIC_GENERIC:
        return decode_generic(r, version, out);
    case MAGIC_PACK:
        return decode_pack(r, v1, out);
    case MAGIC_BLOCK:
        return decode_block(r, out);
    case MAGIC_PREATTESTATION:
    case MAGIC_ATTESTATION:
        return decode_consensus(r, magic, v1, out);
    default:
        /* spec: §2.1 "Everything else (0x01 Emmy block, 0x02 Emmy endorsement, 0x04, 0x06…) fails to decode". */
        return vg_fail(r->err, VG_E_INVALID, "unsupported request magic 0x%02x", magic);
    }
}

int vg_request_decode(const uint8_t *msg, size_t len, int version, vg_request *out, vg_err *err)
{
    if (out == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_request_decode: no output");
    memset(out, 0, sizeof *out);
    if (msg == NULL || len == 0)
        return vg_fail(err, VG_E_INVALID, "empty sign request");
    vg_reader r = vg_reader_init(msg, len, err);
    if (decode_any(&r, version, out) < 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}
