/* Sign-request decoder: Signatory and Taquito vectors, hand-built rare operations, malformed input,
 * and every truncation / byte flip of each valid fixture (success or a clean VG_E_INVALID, never a crash). */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

#include "testlib.h"
#include "tezos/request.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static int decode_hex(const char *hex, int version, vg_request *req, vg_err *err)
{
    size_t n = 0;
    uint8_t *msg = vt_unhex(hex, &n);
    if (msg == NULL) {
        fprintf(stderr, "bad hex in fixture: %.40s...\n", hex);
        exit(1);
    }
    int rc = vg_request_decode(msg, n, version, req, err);
    free(msg);
    return rc;
}

/* "a,b,c" equals the decoded op kinds (ballots written "ballot:yay"). */
static bool ops_match(const vg_request *req, const char *list)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    size_t i = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save), i++) {
        if (i >= req->n_ops)
            return false;
        char want[64];
        static const char *const ballots[] = {"yay", "nay", "pass"};
        const vg_op *op = &req->ops[i];
        if (op->ballot >= 0)
            snprintf(want, sizeof want, "%s:%s", vg_op_kind_name(op->kind), ballots[op->ballot]);
        else
            snprintf(want, sizeof want, "%s", vg_op_kind_name(op->kind));
        if (strcmp(want, tok) != 0)
            return false;
    }
    return i == req->n_ops;
}

/* A byte builder for hand-made requests. */
struct buf {
    uint8_t b[8192];
    size_t n;
};

static void put_u8(struct buf *b, unsigned v)
{
    b->b[b->n++] = (uint8_t)v;
}
static void put_be16(struct buf *b, unsigned v)
{
    put_u8(b, v >> 8);
    put_u8(b, v & 0xff);
}
static void put_be32(struct buf *b, uint32_t v)
{
    put_be16(b, v >> 16);
    put_be16(b, v & 0xffff);
}
static void put_fill(struct buf *b, size_t n, unsigned v)
{
    for (size_t i = 0; i < n; i++)
        put_u8(b, v);
}
static void put_hex(struct buf *b, const char *hex)
{
    size_t n;
    uint8_t *p = vt_unhex(hex, &n);
    memcpy(b->b + b->n, p, n);
    b->n += n;
    free(p);
}
/* Starts a dyn field; close with end_dyn(b, mark). */
static size_t begin_dyn(struct buf *b)
{
    size_t mark = b->n;
    put_be32(b, 0);
    return mark;
}
static void end_dyn(struct buf *b, size_t mark)
{
    uint32_t len = (uint32_t)(b->n - mark - 4);
    b->b[mark] = (uint8_t)(len >> 24);
    b->b[mark + 1] = (uint8_t)(len >> 16);
    b->b[mark + 2] = (uint8_t)(len >> 8);
    b->b[mark + 3] = (uint8_t)len;
}
static void put_dyn_fill(struct buf *b, size_t n, unsigned v)
{
    put_be32(b, (uint32_t)n);
    put_fill(b, n, v);
}
static void put_pkh(struct buf *b, unsigned tag)
{
    put_u8(b, tag);
    put_fill(b, 20, 0x44);
}
/* source tz1, fee 1, counter 2 (two-byte zarith), gas 3, storage 0 */
static void put_manager(struct buf *b, unsigned tag)
{
    put_u8(b, tag);
    put_pkh(b, 0);
    put_hex(b, "01"
               "8201"
               "03"
               "00");
}
static void start_generic(struct buf *b)
{
    b->n = 0;
    put_u8(b, 0x03);
    put_fill(b, 32, 0x42); /* branch */
}
static int decode_buf(const struct buf *b, int version, vg_request *req, vg_err *err)
{
    return vg_request_decode(b->b, b->n, version, req, err);
}

#define CHECK_DECODES(b, version, kinds)                                                                               \
    do {                                                                                                               \
        vg_request req_;                                                                                               \
        vg_err err_ = {0};                                                                                             \
        int rc_ = decode_buf((b), (version), &req_, &err_);                                                            \
        CHECK_MSG(rc_ == 0, "%s: %s", (kinds), err_.msg);                                                              \
        if (rc_ == 0)                                                                                                  \
            CHECK_MSG(req_.kind == VG_REQ_GENERIC && ops_match(&req_, (kinds)), "expected %s", (kinds));               \
    } while (0)

#define CHECK_FAILS(b, version, needle)                                                                                \
    do {                                                                                                               \
        vg_request req_;                                                                                               \
        vg_err err_ = {0};                                                                                             \
        int rc_ = decode_buf((b), (version), &req_, &err_);                                                            \
        CHECK_MSG(rc_ == -1 && err_.kind == VG_E_INVALID && strstr(err_.msg, (needle)) != NULL,                        \
                  "expected failure with '%s', got rc=%d msg='%s'", (needle), rc_, err_.msg);                          \
    } while (0)

/* ---- kind tables ------------------------------------------------------------------------- */

static void test_kind_tables(void)
{
    CHECK(vg_op_kind_count() == 39);
    for (int i = 1; i < vg_op_kind_count(); i++)
        CHECK_MSG(strcmp(vg_op_kind_name(i - 1), vg_op_kind_name(i)) < 0, "table not sorted at %d", i);
    for (int i = 0; i < vg_op_kind_count(); i++)
        CHECK(vg_op_kind_lookup(vg_op_kind_name(i)) == i);
    CHECK(vg_op_kind_lookup("stake") >= 0 && vg_op_kind_lookup("set_delegate_parameters") >= 0);
    CHECK(vg_op_kind_lookup("attestation") == -1);
    CHECK(vg_op_kind_lookup("endorsement") == -1);
    CHECK(vg_op_kind_lookup("") == -1 && vg_op_kind_lookup(NULL) == -1);
    CHECK_STR(vg_op_kind_name(-1), "unknown");
    CHECK_STR(vg_op_kind_name(vg_op_kind_count()), "unknown");

    vg_req_kind k;
    for (int i = 0; i < VG_REQ_KIND_COUNT; i++)
        CHECK(vg_req_kind_parse(vg_req_kind_name((vg_req_kind)i), &k) == 0 && (int)k == i);
    CHECK(vg_req_kind_parse("endorsement", &k) == 0 && k == VG_REQ_ATTESTATION);
    CHECK(vg_req_kind_parse("preendorsement", &k) == 0 && k == VG_REQ_PREATTESTATION);
    CHECK(vg_req_kind_parse("attestation_with_dal", &k) == 0 && k == VG_REQ_ATTESTATION_WITH_DAL);
    CHECK(vg_req_kind_parse("Block", &k) == -1);
    CHECK(vg_req_kind_parse("emmy", &k) == -1);
    CHECK(vg_req_kind_is_consensus(VG_REQ_ATTESTATION_WITH_DAL) && !vg_req_kind_is_consensus(VG_REQ_GENERIC));
}

/* ---- Taquito-forged operations ---------------------------------------------------------- */

/* Generated with @taquito/local-forging 24.2.0 (LocalForger, protocol PtTALLiNt) from synthetic
 * contents (keys/hashes = repeated bytes); "03" prepended. A leading '!' = must be refused. */
static const struct {
    const char *kinds;
    const char *hex;
} forged[] = {
    {"reveal", "0307070707070707070707070707070707070707070707070707070707070707076b0001010101010101010101010101"
               "01010101010101f20901e8070000080808080808080808080808080808080808080808080808080808080808080800"},
    {"reveal", "0307070707070707070707070707070707070707070707070707070707070707076b0304040404040404040404040404"
               "04040404040404f20901e807000309090909090909090909090909090909090909090909090909090909090909090909"
               "0909090909090909090909090909ff000000600b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
               "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
               "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"},
    {"transaction", "0307070707070707070707070707070707070707070707070707070707070707076c0102020202020202020202020202"
                    "02020202020202f20901e80700c0843d0002030303030303030303030303030303030303030300"},
    {"transaction", "0307070707070707070707070707070707070707070707070707070707070707076c0001010101010101010101010101"
                    "01010101010101f20901e807000001050505050505050505050505050505050505050500ffff046d696e740000001307"
                    "0700d2abf8b19de3d4d4d602010000000178"},
    {"transaction", "0307070707070707070707070707070707070707070707070707070707070707076c0001010101010101010101010101"
                    "01010101010101f20901e807000001050505050505050505050505050505050505050500ff0200000002030b"},
    {"stake", "0307070707070707070707070707070707070707070707070707070707070707076c0001010101010101010101010101"
              "01010101010101f20901e80700c096b10200000101010101010101010101010101010101010101ff0600000002030b"},
    {"unstake", "0307070707070707070707070707070707070707070707070707070707070707076c0001010101010101010101010101"
                "01010101010101f20901e80700c096b10200000101010101010101010101010101010101010101ff0700000002030b"},
    {"finalize_unstake",
     "0307070707070707070707070707070707070707070707070707070707070707076c0001010101010101010101010101"
     "01010101010101f20901e807000000000101010101010101010101010101010101010101ff0800000002030b"},
    {"set_delegate_parameters",
     "0307070707070707070707070707070707070707070707070707070707070707076c0001010101010101010101010101"
     "01010101010101f20901e807000000000101010101010101010101010101010101010101ff090000001007070080a4e8"
     "0307070080b48913030b"},
    {"origination", "0307070707070707070707070707070707070707070707070707070707070707076d0001010101010101010101010101"
                    "01010101010101f20901e8070000ff0102020202020202020202020202020202020202020000001c0200000017050003"
                    "6c0501036c050202000000080317053d036d034200000002030b"},
    {"delegation", "0307070707070707070707070707070707070707070707070707070707070707076e0203030303030303030303030303"
                   "03030303030303f20901e80700ff030404040404040404040404040404040404040404"},
    {"delegation", "0307070707070707070707070707070707070707070707070707070707070707076e0203030303030303030303030303"
                   "03030303030303f20901e8070000"},
    {"ballot:yay", "030707070707070707070707070707070707070707070707070707070707070707060001010101010101010101010101"
                   "01010101010101000000070c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c00"},
    {"ballot:nay", "030707070707070707070707070707070707070707070707070707070707070707060001010101010101010101010101"
                   "01010101010101000000070c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c01"},
    {"ballot:pass", "030707070707070707070707070707070707070707070707070707070707070707060001010101010101010101010101"
                    "01010101010101000000070c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c02"},
    {"proposals", "030707070707070707070707070707070707070707070707070707070707070707050001010101010101010101010101"
                  "0101010101010100000007000000400c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0e"
                  "0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e"},
    {"seed_nonce_revelation",
     "03070707070707070707070707070707070707070707070707070707070707070701000004d211111111111111111111"
     "11111111111111111111111111111111111111111111"},
    {"activate_account",
     "030707070707070707070707070707070707070707070707070707070707070707040101010101010101010101010101"
     "0101010101012222222222222222222222222222222222222222"},
    {"register_global_constant",
     "0307070707070707070707070707070707070707070707070707070707070707076f0001010101010101010101010101"
     "01010101010101f20901e8070000000002002a"},
    {"transfer_ticket",
     "0307070707070707070707070707070707070707070707070707070707070707079e0001010101010101010101010101"
     "01010101010101f20901e80700000000080100000003666f6f0000000203680105050505050505050505050505050505"
     "050505050002000102020202020202020202020202020202020202020000000764656661756c74"},
    {"set_deposits_limit",
     "030707070707070707070707070707070707070707070707070707070707070707700001010101010101010101010101"
     "01010101010101f20901e80700ffc0843d"},
    {"set_deposits_limit",
     "030707070707070707070707070707070707070707070707070707070707070707700001010101010101010101010101"
     "01010101010101f20901e8070000"},
    {"increase_paid_storage",
     "030707070707070707070707070707070707070707070707070707070707070707710001010101010101010101010101"
     "01010101010101f20901e807000a01050505050505050505050505050505050505050500"},
    {"update_consensus_key",
     "030707070707070707070707070707070707070707070707070707070707070707720001010101010101010101010101"
     "01010101010101f20901e8070001020a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a00"},
    {"update_consensus_key",
     "030707070707070707070707070707070707070707070707070707070707070707720001010101010101010101010101"
     "01010101010101f20901e807000309090909090909090909090909090909090909090909090909090909090909090909"
     "0909090909090909090909090909ff000000600b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
     "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
     "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"},
    {"update_companion_key",
     "030707070707070707070707070707070707070707070707070707070707070707730001010101010101010101010101"
     "01010101010101f20901e807000309090909090909090909090909090909090909090909090909090909090909090909"
     "0909090909090909090909090909ff000000600b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
     "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"
     "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"},
    {"drain_delegate",
     "030707070707070707070707070707070707070707070707070707070707070707090304040404040404040404040404"
     "040404040404040001010101010101010101010101010101010101010102020202020202020202020202020202020202"
     "02"},
    {"smart_rollup_originate",
     "030707070707070707070707070707070707070707070707070707070707070707c80001010101010101010101010101"
     "01010101010101f20901e807000100000004deadbeef000000020369ff0000002a000101010101010101010101010101"
     "010101010101030404040404040404040404040404040404040404"},
    {"smart_rollup_originate",
     "030707070707070707070707070707070707070707070707070707070707070707c80001010101010101010101010101"
     "01010101010101f20901e8070002000000010000000002036c00"},
    {"smart_rollup_add_messages",
     "030707070707070707070707070707070707070707070707070707070707070707c90001010101010101010101010101"
     "01010101010101f20901e807000000000b00000002010200000001ff"},
    {"smart_rollup_execute_outbox_message",
     "030707070707070707070707070707070707070707070707070707070707070707ce0001010101010101010101010101"
     "01010101010101f20901e8070006060606060606060606060606060606060606060f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
     "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f00000003abcdef"},
    {"dal_publish_commitment",
     "030707070707070707070707070707070707070707070707070707070707070707e60001010101010101010101010101"
     "01010101010101f20901e807000310101010101010101010101010101010101010101010101010101010101010101010"
     "101010101010101010101010101017171717171717171717171717171717171717171717171717171717171717171717"
     "171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717171717"
     "1717171717171717171717171717"},
    {"failing_noop", "030707070707070707070707070707070707070707070707070707070707070707110000000568656c6c6f"},
    {"reveal,transaction,delegation",
     "0307070707070707070707070707070707070707070707070707070707070707076b0001010101010101010101010101"
     "01010101010101f20901e80700000808080808080808080808080808080808080808080808080808080808080808006c"
     "000101010101010101010101010101010101010101f20902e80700010001020202020202020202020202020202020202"
     "0202006e000101010101010101010101010101010101010101f20903e80700ff00010101010101010101010101010101"
     "0101010101"},
    {"!attestation", "03070707070707070707070707070707070707070707070707070707070707070715000100000002000000030d0d0d0d"
                     "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d"},
    {"!attestation_with_dal",
     "03070707070707070707070707070707070707070707070707070707070707070717000100000002000000030d0d0d0d"
     "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d05"},
};

static void test_taquito_forged(void)
{
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        vg_request req;
        vg_err err = {0};
        int rc = decode_hex(forged[i].hex, 2, &req, &err);
        if (forged[i].kinds[0] == '!') {
            CHECK_MSG(rc == -1 && strstr(err.msg, "cannot be signed in a generic request") != NULL &&
                          strstr(err.msg, forged[i].kinds + 1) != NULL && strstr(err.msg, "offset 33") != NULL,
                      "%s: %s", forged[i].kinds, err.msg);
            continue;
        }
        CHECK_MSG(rc == 0, "%s: %s", forged[i].kinds, err.msg);
        CHECK_MSG(rc == 0 && req.kind == VG_REQ_GENERIC && ops_match(&req, forged[i].kinds), "kinds %s",
                  forged[i].kinds);
    }
}

/* ---- hand-built operations Taquito cannot forge (layouts per gotez proto 023/024 and 022) ---- */

static void put_consensus_content(struct buf *b)
{
    put_be32(b, 1000); /* level */
    put_be32(b, 2);    /* round */
    put_fill(b, 32, 0x55);
}

/* branch, content, signature; tag 21, 30 or 31 (latest committee layout) */
static void put_inlined(struct buf *b, unsigned tag, size_t sig_len)
{
    size_t m = begin_dyn(b);
    put_fill(b, 32, 0x66);
    put_u8(b, tag);
    if (tag == 20 || tag == 21 || tag == 23) {
        put_be16(b, 9);
        put_consensus_content(b);
        if (tag == 23)
            put_hex(b, "8001"); /* dal_attestation Z */
    } else if (tag == 30) {
        put_consensus_content(b);
        put_hex(b, "00000006"
                   "0001"
                   "0002"
                   "0003");
    } else {
        put_consensus_content(b);
        size_t l = begin_dyn(b);
        put_hex(b, "0001"
                   "ff05"
                   "0002"
                   "00");
        end_dyn(b, l);
    }
    put_fill(b, sig_len, 0x77);
    end_dyn(b, m);
}

static void put_block_header(struct buf *b, bool seed_nonce, size_t sig_len)
{
    put_be32(b, 77);       /* level */
    put_u8(b, 2);          /* proto */
    put_fill(b, 32, 0x01); /* predecessor */
    put_fill(b, 8, 0x00);  /* timestamp */
    put_u8(b, 4);          /* validation pass */
    put_fill(b, 32, 0x02); /* operations hash */
    put_hex(b, "00000021"
               "0000000102"
               "000000040000004d"
               "00000000"
               "00000004ffffffff"
               "0000000400000003");
    put_fill(b, 32, 0x03); /* context */
    put_fill(b, 32, 0x04); /* payload hash */
    put_be32(b, 1);        /* payload round */
    put_fill(b, 8, 0x05);  /* pow nonce */
    if (seed_nonce) {
        put_u8(b, 0xff);
        put_fill(b, 32, 0x06);
    } else {
        put_u8(b, 0x00);
    }
    put_u8(b, 0); /* per_block_votes */
    put_fill(b, sig_len, 0x07);
}

static void test_rare_operations(void)
{
    struct buf b;

    start_generic(&b); /* double_consensus_operation_evidence: slot + two inlined operations */
    put_u8(&b, 2);
    put_be16(&b, 4);
    put_inlined(&b, 21, 64);
    put_inlined(&b, 21, 96);
    put_u8(&b, 2);
    put_be16(&b, 4);
    put_inlined(&b, 30, 96);
    put_inlined(&b, 31, 96);
    CHECK_DECODES(&b, 2, "double_consensus_operation_evidence,double_consensus_operation_evidence");
    CHECK_FAILS(&b, 1, "double_attestation_evidence"); /* tag 2 under proto 022 */
    b.b[33 + 3 + 4 + 32] = 22; /* first inlined operation: tag 22 is no consensus content */
    CHECK_FAILS(&b, 2, "unexpected inlined operation tag 22 at offset 72");

    start_generic(&b); /* double_baking_evidence: two dyn signed headers */
    put_u8(&b, 3);
    size_t m = begin_dyn(&b);
    put_block_header(&b, false, 64);
    end_dyn(&b, m);
    m = begin_dyn(&b);
    put_block_header(&b, true, 96);
    end_dyn(&b, m);
    CHECK_DECODES(&b, 2, "double_baking_evidence");
    CHECK_DECODES(&b, 1, "double_baking_evidence");

    start_generic(&b); /* vdf_revelation */
    put_u8(&b, 8);
    put_fill(&b, 200, 0x12);
    CHECK_DECODES(&b, 2, "vdf_revelation");
    b.n--;
    CHECK_FAILS(&b, 2, "vdf_revelation (tag 8) at offset 33: truncated input at offset 34: need 200 bytes, 199 left");

    start_generic(&b); /* dal_entrapment_evidence (023+): inlined, consensus slot, slot index, shard, proof */
    put_u8(&b, 24);
    put_inlined(&b, 23, 96);
    put_be16(&b, 17);
    put_u8(&b, 3);
    put_be32(&b, 5);
    put_dyn_fill(&b, 64, 0x13);
    put_fill(&b, 48, 0x14);
    CHECK_DECODES(&b, 2, "dal_entrapment_evidence");
    CHECK_FAILS(&b, 1, "dal_entrapment_evidence"); /* 022 has no consensus_slot: misaligned */

    start_generic(&b); /* dal_entrapment_evidence (022) */
    put_u8(&b, 24);
    put_inlined(&b, 21, 64);
    put_u8(&b, 3);
    put_be32(&b, 5);
    put_dyn_fill(&b, 0, 0);
    put_fill(&b, 48, 0x14);
    CHECK_DECODES(&b, 1, "dal_entrapment_evidence");

    start_generic(&b); /* aggregates */
    put_u8(&b, 30);
    put_consensus_content(&b);
    put_hex(&b, "00000004"
                "0001"
                "0009");
    put_u8(&b, 31);
    put_consensus_content(&b);
    put_hex(&b, "00000008"
                "0001"
                "ff8101"
                "000200");
    CHECK_DECODES(&b, 2, "preattestations_aggregate,attestations_aggregate");
    CHECK_FAILS(&b, 1, "unsupported operation tag 30 at offset 33");

    start_generic(&b); /* attestations_aggregate (022): committee of u16 */
    put_u8(&b, 31);
    put_consensus_content(&b);
    put_hex(&b, "00000004"
                "0001"
                "0009");
    CHECK_DECODES(&b, 1, "attestations_aggregate");
    b.n -= 1;
    b.b[b.n - 4] = 0x03; /* committee length 3: not a multiple of 2 */
    CHECK_FAILS(&b, 1, "not a multiple of 2");

    start_generic(&b); /* smart rollup cement, publish, timeout, recover bond */
    put_manager(&b, 202);
    put_fill(&b, 20, 0x21);
    put_manager(&b, 203);
    put_fill(&b, 20, 0x21);
    put_fill(&b, 32, 0x22);
    put_be32(&b, 100);
    put_fill(&b, 32, 0x23);
    put_fill(&b, 8, 0x24);
    put_manager(&b, 205);
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 1);
    put_pkh(&b, 3);
    put_manager(&b, 207);
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 2);
    CHECK_DECODES(&b, 2, "smart_rollup_cement,smart_rollup_publish,smart_rollup_timeout,smart_rollup_recover_bond");

    start_generic(&b);    /* smart_rollup_refute: every refutation / step / proof variant */
    put_manager(&b, 204); /* start */
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 0);
    put_u8(&b, 0);
    put_fill(&b, 64, 0x25);
    put_manager(&b, 204); /* move, dissection */
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 0);
    put_hex(&b, "01"
                "05"
                "00");
    m = begin_dyn(&b);
    put_u8(&b, 0xff);
    put_fill(&b, 32, 0x26);
    put_hex(&b, "00"
                "00"
                "ff01");
    end_dyn(&b, m);
    put_manager(&b, 204); /* move, proof, inbox input proof */
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 0);
    put_hex(&b, "01"
                "05"
                "01");
    put_dyn_fill(&b, 10, 0x27);
    put_hex(&b, "ff"
                "00"
                "00000007"
                "02");
    put_dyn_fill(&b, 3, 0x28);
    put_manager(&b, 204); /* move, proof, reveal DAL page */
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 0);
    put_hex(&b, "01"
                "05"
                "01");
    put_dyn_fill(&b, 1, 0x27);
    put_hex(&b, "ff"
                "01"
                "02"
                "00000007"
                "01"
                "0002");
    put_dyn_fill(&b, 2, 0x29);
    put_manager(&b, 204); /* move, proof, reveal raw data / metadata / first input / none */
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 0);
    put_hex(&b, "01"
                "05"
                "01");
    put_dyn_fill(&b, 1, 0x27);
    put_hex(&b, "ff"
                "01"
                "00");
    put_dyn_fill(&b, 4, 0x2a);
    put_manager(&b, 204);
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 0);
    put_hex(&b, "01"
                "05"
                "01"
                "00000000"
                "ff"
                "01"
                "01");
    put_manager(&b, 204);
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 0);
    put_hex(&b, "01"
                "05"
                "01"
                "00000000"
                "ff"
                "02");
    put_manager(&b, 204);
    put_fill(&b, 20, 0x21);
    put_pkh(&b, 0);
    put_hex(&b, "01"
                "05"
                "01"
                "00000000"
                "00");
    CHECK_DECODES(&b, 2,
                  "smart_rollup_refute,smart_rollup_refute,smart_rollup_refute,smart_rollup_refute,"
                  "smart_rollup_refute,smart_rollup_refute,smart_rollup_refute,smart_rollup_refute");
    b.b[b.n - 1] = 0x03; /* input proof option tag 0x03 */
    CHECK_FAILS(&b, 2, "invalid option tag 0x03");

    start_generic(&b); /* zk_rollup_origination */
    put_manager(&b, 250);
    put_dyn_fill(&b, 8, 0x31);
    m = begin_dyn(&b);
    put_dyn_fill(&b, 1, 'a');
    put_u8(&b, 0);
    put_dyn_fill(&b, 1, 'b');
    put_u8(&b, 2);
    end_dyn(&b, m);
    put_dyn_fill(&b, 32, 0x32);
    put_be32(&b, 4);
    CHECK_DECODES(&b, 2, "zk_rollup_origination");
    b.b[b.n - 4 - 36 - 1] = 3; /* circuit tag 3 */
    CHECK_FAILS(&b, 2, "invalid circuit tag 3");

    start_generic(&b); /* zk_rollup_publish, without and with a ticket (inline Micheline) */
    put_manager(&b, 251);
    put_fill(&b, 20, 0x33);
    m = begin_dyn(&b);
    put_be32(&b, 0);        /* op_code */
    put_fill(&b, 32, 0x34); /* price id */
    put_hex(&b, "45");      /* price amount Z (negative) */
    put_pkh(&b, 3);
    put_fill(&b, 20, 0x33);
    put_dyn_fill(&b, 32, 0x35);
    put_u8(&b, 0); /* no ticket */
    put_be32(&b, 1);
    put_fill(&b, 32, 0x34);
    put_hex(&b, "00");
    put_pkh(&b, 0);
    put_fill(&b, 20, 0x33);
    put_dyn_fill(&b, 0, 0);
    put_u8(&b, 1); /* ticket: contents Pair %a 7 (Some 0xab), ty string, ticketer KT1 */
    size_t ticket_at = b.n;
    put_hex(&b, "0807"
                "0007"
                "0509"
                "0a00000001ab"
                "000000022561");
    put_hex(&b, "0368");
    put_u8(&b, 1);
    put_fill(&b, 20, 0x36);
    put_u8(&b, 0);
    end_dyn(&b, m);
    CHECK_DECODES(&b, 2, "zk_rollup_publish");
    CHECK(b.b[ticket_at] == 0x08);
    b.b[ticket_at] = 0x0b;
    CHECK_FAILS(&b, 2, "invalid Micheline tag 11");

    start_generic(&b); /* a ticket whose contents is a generic application (0x09: prim, dyn args, dyn annots) */
    put_manager(&b, 251);
    put_fill(&b, 20, 0x33);
    m = begin_dyn(&b);
    put_be32(&b, 1);
    put_fill(&b, 32, 0x34);
    put_hex(&b, "00");
    put_pkh(&b, 0);
    put_fill(&b, 20, 0x33);
    put_dyn_fill(&b, 0, 0);
    put_u8(&b, 1);
    put_hex(&b, "0907" "00000004" "00010002" "00000000");
    put_hex(&b, "0368");
    put_u8(&b, 0);
    put_pkh(&b, 2);
    end_dyn(&b, m);
    CHECK_DECODES(&b, 2, "zk_rollup_publish");

    start_generic(&b); /* zk_rollup_update */
    put_manager(&b, 252);
    put_fill(&b, 20, 0x33);
    m = begin_dyn(&b);
    put_dyn_fill(&b, 3, 'k');
    put_dyn_fill(&b, 32, 0x37);
    put_fill(&b, 32, 0x38);
    put_u8(&b, 0xff);
    end_dyn(&b, m);
    m = begin_dyn(&b);
    put_dyn_fill(&b, 3, 'p');
    put_dyn_fill(&b, 32, 0x37);
    put_fill(&b, 32, 0x38);
    end_dyn(&b, m);
    put_dyn_fill(&b, 32, 0x39);
    put_dyn_fill(&b, 100, 0x3a);
    CHECK_DECODES(&b, 2, "zk_rollup_update");

    start_generic(&b); /* signature_prefix */
    put_u8(&b, 255);
    put_u8(&b, 3);
    put_fill(&b, 32, 0x3b);
    CHECK_DECODES(&b, 2, "signature_prefix");
    b.b[34] = 0;
    CHECK_FAILS(&b, 2, "invalid signature prefix tag 0 at offset 34");

    start_generic(&b); /* 022 reveal has no proof field; 022 update_consensus_key takes any signature */
    put_manager(&b, 107);
    put_u8(&b, 0);
    put_fill(&b, 32, 0x3c);
    put_manager(&b, 114);
    put_u8(&b, 1);
    put_fill(&b, 33, 0x3d);
    put_u8(&b, 0xff);
    put_dyn_fill(&b, 64, 0x3e);
    CHECK_DECODES(&b, 1, "reveal,update_consensus_key");
    CHECK_FAILS(&b, 2, "offset"); /* latest reveal reads a proof option where 022 has the next tag */

    start_generic(&b); /* latest: the proof must be a 96-byte BLS signature */
    put_manager(&b, 114);
    put_u8(&b, 1);
    put_fill(&b, 33, 0x3d);
    put_u8(&b, 0xff);
    put_dyn_fill(&b, 64, 0x3e);
    CHECK_FAILS(&b, 2, "proof is not a 96-byte BLS signature");
    CHECK_DECODES(&b, 1, "update_consensus_key");

    start_generic(&b); /* update_companion_key does not exist in 022 */
    put_manager(&b, 115);
    put_u8(&b, 3);
    put_fill(&b, 48, 0x3d);
    CHECK_DECODES(&b, 2, "update_companion_key"); /* proof option absent at end of input: none */
    CHECK_FAILS(&b, 1, "unsupported operation tag 115 at offset 33");
}

/* ---- malformed fields ------------------------------------------------------------------- */

static void put_transfer(struct buf *b, const char *amount_hex)
{
    put_manager(b, 108);
    put_hex(b, amount_hex);
    put_u8(b, 0);
    put_pkh(b, 1);
    put_u8(b, 0);
}

static void test_malformed_fields(void)
{
    struct buf b;

    start_generic(&b);
    put_transfer(&b, "01");
    CHECK_DECODES(&b, 2, "transaction");

    start_generic(&b);
    put_transfer(&b, "8000"); /* trailing zero byte */
    CHECK_FAILS(&b, 2, "non-canonical number");

    start_generic(&b);
    put_fill(&b, 0, 0);
    put_manager(&b, 108);
    put_fill(&b, 64, 0x80); /* amount: 64 continuation bytes */
    put_u8(&b, 0x01);
    put_u8(&b, 0);
    put_pkh(&b, 1);
    put_u8(&b, 0);
    CHECK_FAILS(&b, 2, "longer than 64 bytes");

    start_generic(&b);
    put_transfer(&b, "01");
    b.b[b.n - 1] = 0x01; /* parameters option tag 0x01 */
    CHECK_FAILS(&b, 2, "invalid option tag 0x01");

    start_generic(&b);
    put_transfer(&b, "01");
    b.b[b.n - 22] = 4; /* destination pkh tag 4 */
    CHECK_FAILS(&b, 2, "invalid public key hash tag 4");

    start_generic(&b);
    put_transfer(&b, "01");
    b.b[b.n - 23] = 2; /* destination contract tag 2 */
    CHECK_FAILS(&b, 2, "invalid contract id tag 2");

    start_generic(&b); /* named entrypoint of 32 characters */
    put_transfer(&b, "01");
    b.b[b.n - 1] = 0xff;
    put_hex(&b, "ff20");
    put_fill(&b, 32, 'e');
    put_dyn_fill(&b, 2, 0x03);
    CHECK_FAILS(&b, 2, "entrypoint name length 32");

    start_generic(&b); /* reserved entrypoint tag 10 */
    put_transfer(&b, "01");
    b.b[b.n - 1] = 0xff;
    put_u8(&b, 10);
    put_dyn_fill(&b, 2, 0x03);
    CHECK_FAILS(&b, 2, "invalid entrypoint tag 10");

    start_generic(&b); /* ballot value 3 */
    put_u8(&b, 6);
    put_pkh(&b, 0);
    put_be32(&b, 1);
    put_fill(&b, 32, 0x50);
    put_u8(&b, 3);
    CHECK_FAILS(&b, 2, "invalid ballot tag 3");

    start_generic(&b); /* failing_noop length beyond the input */
    put_u8(&b, 17);
    put_be32(&b, 6);
    put_fill(&b, 5, 0x61);
    CHECK_FAILS(&b, 2, "length 6 at offset 34 exceeds the 5 bytes left");
    start_generic(&b);
    put_u8(&b, 17);
    put_be32(&b, 0xffffffffu);
    CHECK_FAILS(&b, 2, "length 4294967295 at offset 34");

    start_generic(&b); /* proposals not a multiple of 32 */
    put_u8(&b, 5);
    put_pkh(&b, 0);
    put_be32(&b, 1);
    put_dyn_fill(&b, 33, 0x51);
    CHECK_FAILS(&b, 2, "not a multiple of 32");

    start_generic(&b); /* unknown and removed tags */
    put_u8(&b, 99);
    CHECK_FAILS(&b, 2, "unsupported operation tag 99 at offset 33");
    b.b[33] = 7; /* double_preattestation_evidence: 022 only, never signable */
    CHECK_FAILS(&b, 2, "unsupported operation tag 7 at offset 33");
    CHECK_FAILS(&b, 1, "double_preattestation_evidence");
    b.b[33] = 40;
    CHECK_FAILS(&b, 2, "`preattestation' (tag 40) at offset 33 cannot be signed");
    CHECK_FAILS(&b, 1, "unsupported operation tag 40");

    start_generic(&b); /* a failure in the second operation names it and both offsets */
    put_transfer(&b, "01");
    put_u8(&b, 6);
    put_pkh(&b, 0);
    CHECK_FAILS(&b, 2, "operation 2: ballot (tag 6) at offset 84: truncated input at offset 106: need 4 bytes, 0 left");

    start_generic(&b); /* micheline nesting bound (zk ticket) */
    put_manager(&b, 251);
    put_fill(&b, 20, 0x33);
    size_t m = begin_dyn(&b);
    put_be32(&b, 0);
    put_fill(&b, 32, 0x34);
    put_hex(&b, "00");
    put_pkh(&b, 0);
    put_fill(&b, 20, 0x33);
    put_dyn_fill(&b, 0, 0);
    put_u8(&b, 1);
    for (int i = 0; i < 300; i++)
        put_hex(&b, "0700"); /* Pair with two args, nested in the first argument */
    end_dyn(&b, m);
    CHECK_FAILS(&b, 2, "nested too deeply");
}

/* ---- request framing ------------------------------------------------------------------- */

static void start_block(struct buf *b, const char *fitness_hex, uint32_t payload_round)
{
    b->n = 0;
    put_u8(b, 0x11);
    put_hex(b, "b3d79f99");
    put_be32(b, 34);
    put_u8(b, 24);
    put_fill(b, 32, 0x01);
    put_fill(b, 8, 0x00);
    put_u8(b, 4);
    put_fill(b, 32, 0x02);
    size_t m = begin_dyn(b);
    if (fitness_hex[0] != '\0')
        put_hex(b, fitness_hex);
    end_dyn(b, m);
    put_fill(b, 32, 0x03);
    put_fill(b, 32, 0x04);
    put_be32(b, payload_round);
    put_fill(b, 8, 0x05);
    put_u8(b, 0x00);
    put_u8(b, 0x00);
}

static void test_block_round(void)
{
    struct buf b;
    vg_request req;
    vg_err err = {0};
    /* spec: §2.2 round = last 4 bytes of the fitness, NOT payload_round (re-proposal: payload round 1 < round 5) */
    start_block(&b,
                "00000001020000000400000022000000000000000400000004"
                "0000000400000005",
                1);
    CHECK_MSG(decode_buf(&b, 2, &req, &err) == 0, "%s", err.msg);
    CHECK(req.kind == VG_REQ_BLOCK && req.level == 34 && req.round == 5 && req.n_ops == 0);
    CHECK(memcmp(req.chain_id, "\xb3\xd7\x9f\x99", 4) == 0);
    CHECK(decode_buf(&b, 1, &req, &err) == 0 && req.round == 5);

    start_block(&b, "ffffffff", 0);
    CHECK(decode_buf(&b, 2, &req, &err) == 0 && req.round == -1);
    start_block(&b, "000000", 0);
    CHECK_FAILS(&b, 2, "fitness at offset 83 is 3 bytes, too short");
    start_block(&b, "", 0);
    CHECK_FAILS(&b, 2, "fitness at offset 83 is 0 bytes");

    start_block(&b, "0000000400000005", 0);
    size_t full = b.n;
    put_u8(&b, 0x00);
    CHECK_FAILS(&b, 2, "block request: 1 trailing bytes at offset 173");
    b.n = full;
    b.b[b.n - 2] = 0x01; /* seed_nonce_hash option tag 0x01 */
    CHECK_FAILS(&b, 2, "invalid option tag 0x01 at offset 171");
    b.b[b.n - 2] = 0xff; /* some: needs 32 more bytes */
    CHECK_FAILS(&b, 2, "truncated input");
}

static void start_consensus(struct buf *b, unsigned magic, unsigned tag)
{
    b->n = 0;
    put_u8(b, magic);
    put_hex(b, "7a06a770");
    put_fill(b, 32, 0x08); /* branch */
    put_u8(b, tag);
    if (tag < 40)
        put_be16(b, 3); /* slot */
    put_be32(b, 123456);
    put_be32(b, 2);
    put_fill(b, 32, 0x09);
    if (tag == 23)
        put_hex(b, "ff7f");
}

static void test_consensus_tags(void)
{
    static const struct {
        unsigned magic, tag;
        int latest, v1; /* expected kind, -1 = refused */
    } cases[] = {
        {0x12, 20, VG_REQ_PREATTESTATION, VG_REQ_PREATTESTATION},
        {0x12, 40, VG_REQ_PREATTESTATION, -1},
        {0x12, 21, -1, -1},
        {0x12, 23, -1, -1},
        {0x12, 41, -1, -1},
        {0x13, 21, VG_REQ_ATTESTATION, VG_REQ_ATTESTATION},
        {0x13, 23, VG_REQ_ATTESTATION_WITH_DAL, VG_REQ_ATTESTATION},
        {0x13, 41, VG_REQ_ATTESTATION, -1},
        {0x13, 20, -1, -1},
        {0x13, 40, -1, -1},
        {0x13, 1, -1, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int version = 0; version <= 2; version++) {
            struct buf b;
            vg_request req;
            vg_err err = {0};
            start_consensus(&b, cases[i].magic, cases[i].tag);
            int want = version == 1 ? cases[i].v1 : cases[i].latest;
            int rc = decode_buf(&b, version, &req, &err);
            if (want < 0) {
                CHECK_MSG(rc == -1 && strstr(err.msg, "is not allowed") != NULL && strstr(err.msg, "offset 37"),
                          "magic 0x%02x tag %u v%d: %s", cases[i].magic, cases[i].tag, version, err.msg);
                continue;
            }
            CHECK_MSG(rc == 0 && (int)req.kind == want && req.level == 123456 && req.round == 2 &&
                          memcmp(req.chain_id, "\x7a\x06\xa7\x70", 4) == 0,
                      "magic 0x%02x tag %u v%d: rc=%d %s", cases[i].magic, cases[i].tag, version, rc, err.msg);
            size_t full = b.n;
            put_u8(&b, 0xaa);
            char want_msg[64];
            snprintf(want_msg, sizeof want_msg, "1 trailing bytes at offset %zu", full);
            CHECK_FAILS(&b, version, want_msg);
        }
    }
}

static void test_magic_and_limits(void)
{
    vg_request req;
    vg_err err = {0};
    CHECK(vg_request_decode(NULL, 0, 2, &req, &err) == -1 && strstr(err.msg, "empty sign request") != NULL);
    CHECK(vg_request_decode((const uint8_t *)"", 0, 2, &req, &err) == -1 && err.kind == VG_E_INVALID);
    static const uint8_t magics[] = {0x00, 0x01, 0x02, 0x04, 0x06, 0x10, 0x14, 0xff};
    for (size_t i = 0; i < sizeof magics; i++) {
        uint8_t msg[40] = {magics[i]};
        char want[64];
        snprintf(want, sizeof want, "unsupported request magic 0x%02x", magics[i]);
        CHECK_MSG(vg_request_decode(msg, sizeof msg, 2, &req, &err) == -1 && strcmp(err.msg, want) == 0, "%s", err.msg);
    }
    const uint8_t pack_only[] = {0x05}, pack[] = {0x05, 0x00};
    CHECK(vg_request_decode(pack_only, 1, 2, &req, &err) == -1 && strstr(err.msg, "no data") != NULL);
    CHECK(vg_request_decode(pack, 2, 2, &req, &err) == 0 && req.kind == VG_REQ_PACK);
    CHECK(vg_request_decode(pack, 2, 1, &req, &err) == -1 && strstr(err.msg, "signing version 1") != NULL);
    CHECK(req.kind == VG_REQ_BLOCK && req.n_ops == 0); /* zeroed on failure */

    struct buf b;
    start_generic(&b);
    CHECK_FAILS(&b, 2, "no operation at offset 33");
    b.n = 20;
    CHECK_FAILS(&b, 2, "truncated input at offset 1");

    start_generic(&b); /* VG_OPS_MAX operations pass, one more fails */
    for (int i = 0; i < VG_OPS_MAX; i++) {
        put_u8(&b, 17);
        put_dyn_fill(&b, 1, 0x61);
    }
    CHECK(decode_buf(&b, 2, &req, &err) == 0 && req.n_ops == VG_OPS_MAX);
    put_u8(&b, 17);
    put_dyn_fill(&b, 1, 0x61);
    CHECK_FAILS(&b, 2, "more than 256 operations");
    CHECK(vg_request_decode(b.b, b.n, 2, NULL, &err) == -1);
}

/* ---- truncation and byte flips over valid fixtures -------------------------------------- */

static int mutation_fixtures;

static void check_mutants(const uint8_t *msg, size_t len, int version)
{
    static vg_request req;
    static uint8_t copy[16384];
    vg_err err = {0};
    if (len > sizeof copy || vg_request_decode(msg, len, version, &req, &err) < 0) {
        CHECK_MSG(0, "fixture does not decode: %s", err.msg);
        return;
    }
    mutation_fixtures++;
    bool framed = req.kind != VG_REQ_GENERIC && req.kind != VG_REQ_PACK;
    size_t full_ops = req.n_ops;
    for (size_t n = 0; n < len; n++) {
        memset(&err, 0, sizeof err);
        int rc = vg_request_decode(msg, n, version, &req, &err);
        if (rc == 0) { /* only generic prefixes ending on an operation boundary, or pack data */
            CHECK_MSG(!framed && (req.kind == VG_REQ_PACK || req.n_ops <= full_ops), "prefix %zu/%zu decoded", n, len);
            continue;
        }
        CHECK_MSG(err.kind == VG_E_INVALID && (n == 0 || strstr(err.msg, "offset") != NULL), "prefix %zu: %s", n,
                  err.msg);
    }
    if (framed) { /* appended byte: refused, naming the end offset */
        memcpy(copy, msg, len);
        copy[len] = 0x00;
        char want[64];
        snprintf(want, sizeof want, "trailing bytes at offset %zu", len);
        CHECK_MSG(vg_request_decode(copy, len + 1, version, &req, &err) == -1 && strstr(err.msg, want) != NULL, "%s",
                  err.msg);
    }
    memcpy(copy, msg, len);
    for (size_t i = 0; i < len; i++) {
        static const uint8_t flips[] = {0xff, 0x80, 0x01};
        for (size_t f = 0; f < sizeof flips; f++) {
            copy[i] ^= flips[f];
            memset(&err, 0, sizeof err);
            if (vg_request_decode(copy, len, version, &req, &err) < 0)
                CHECK_MSG(err.kind == VG_E_INVALID && err.msg[0] != '\0', "flip at %zu: kind %d", i, err.kind);
            else
                CHECK(req.n_ops <= VG_OPS_MAX && req.kind < VG_REQ_KIND_COUNT);
            copy[i] ^= flips[f];
        }
    }
}

static void check_mutants_hex(const char *hex, int version)
{
    size_t n;
    uint8_t *msg = vt_unhex(hex, &n);
    check_mutants(msg, n, version);
    free(msg);
}

static void test_mutants_builtin(void)
{
    struct buf b;
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++)
        if (forged[i].kinds[0] != '!')
            check_mutants_hex(forged[i].hex, 2);
    start_block(&b,
                "00000001020000000400000022000000000000000400000004"
                "0000000400000005",
                1);
    check_mutants(b.b, b.n, 2);
    start_consensus(&b, 0x13, 23);
    check_mutants(b.b, b.n, 2);
    check_mutants(b.b, b.n, 1);
    start_consensus(&b, 0x12, 40);
    check_mutants(b.b, b.n, 2);
}

/* ---- shared vectors --------------------------------------------------------------------- */

static json_t *load_vector(const char *rel)
{
    char path[512];
    json_error_t jerr;
    if (vt_vector_path(rel, path, sizeof path) == NULL)
        return NULL;
    json_t *j = json_load_file(path, 0, &jerr);
    CHECK_MSG(j != NULL, "%s: %s", path, jerr.text);
    return j;
}

static const char *chain_hex(const char *b58)
{
    /* spec vectors README: NetXo5iVw1vBoxM = b3d79f99, NetXxkAx4woPLyu = ed9d217c */
    if (strcmp(b58, "NetXo5iVw1vBoxM") == 0)
        return "b3d79f99";
    if (strcmp(b58, "NetXxkAx4woPLyu") == 0)
        return "ed9d217c";
    return NULL;
}

static bool chain_is(const vg_request *req, const char *hex)
{
    size_t n;
    uint8_t *want = vt_unhex(hex, &n);
    bool ok = want != NULL && n == 4 && memcmp(req->chain_id, want, 4) == 0;
    free(want);
    return ok;
}

static void test_sign_requests(void)
{
    json_t *root = load_vector("signatory/sign_requests.json");
    json_t *item;
    size_t idx;
    int rejected = 0, decoded = 0;
    json_array_foreach(json_object_get(root, "requests"), idx, item)
    {
        const char *title = json_string_value(json_object_get(item, "title"));
        const char *hex = json_string_value(json_object_get(item, "hex"));
        json_t *p = json_object_get(item, "parsed_independently");
        const char *kind = json_string_value(json_object_get(p, "kind"));
        vg_request req;
        vg_err err = {0};
        int rc = decode_hex(hex, 2, &req, &err);
        if (kind == NULL) { /* legacy Emmy 0x02 */
            CHECK_MSG(rc == -1 && strcmp(err.msg, "unsupported request magic 0x02") == 0, "%s: %s", title, err.msg);
            rejected++;
            continue;
        }
        CHECK_MSG(rc == 0, "%s: %s", title, err.msg);
        if (rc != 0)
            continue;
        decoded++;
        CHECK_MSG(strcmp(vg_req_kind_name(req.kind), kind) == 0, "%s: kind %s", title, vg_req_kind_name(req.kind));
        if (vg_req_kind_is_consensus(req.kind)) {
            json_t *round = json_object_get(p, req.kind == VG_REQ_BLOCK ? "fitness_round" : "round");
            CHECK_MSG(req.level == json_integer_value(json_object_get(p, "level")), "%s: level %d", title, req.level);
            CHECK_MSG(req.round == json_integer_value(round), "%s: round %d", title, req.round);
            if (req.kind == VG_REQ_BLOCK)
                CHECK(req.round == json_integer_value(json_object_get(p, "round_used_for_watermark")));
            const char *chain = chain_hex(json_string_value(json_object_get(p, "chain_id")));
            CHECK_MSG(chain != NULL && chain_is(&req, chain), "%s: chain", title);
        } else if (req.kind == VG_REQ_GENERIC) {
            json_t *first = json_object_get(p, "first_op_tag");
            if (json_integer_value(first) == 108)
                CHECK_STR(vg_op_kind_name(req.ops[0].kind), "transaction");
        }
        if (strstr(title, "multiple operations") != NULL)
            CHECK(ops_match(&req, "transaction,delegation"));
        check_mutants_hex(hex, 2);
    }
    CHECK(rejected == 1 && decoded == 16);
    json_decref(root);
}

/* Is op allowed by a runtime allowed_ops list (ballot:x sub-kinds, as Signatory's policy)? */
static bool op_allowed(const vg_op *op, json_t *allowed, char *name, size_t cap)
{
    static const char *const ballots[] = {"yay", "nay", "pass"};
    snprintf(name, cap, "%s", vg_op_kind_name(op->kind));
    json_t *v;
    size_t i;
    bool plain = false, sub = false, any_sub = false;
    char full[64] = "";
    if (op->ballot >= 0)
        snprintf(full, sizeof full, "ballot:%s", ballots[op->ballot]);
    json_array_foreach(allowed, i, v)
    {
        const char *s = json_string_value(v);
        plain |= strcmp(s, name) == 0;
        any_sub |= strncmp(s, "ballot:", 7) == 0;
        sub |= full[0] != '\0' && strcmp(s, full) == 0;
    }
    if (op->ballot >= 0 && any_sub && !plain) {
        snprintf(name, cap, "%s", full);
        return sub;
    }
    return plain;
}

static void test_policy_cases(void)
{
    json_t *root = load_vector("signatory/policy_cases.json");
    json_t *item;
    size_t idx;

    json_t *kinds = json_object_get(root, "valid_generic_operation_kinds");
    CHECK((int)json_array_size(kinds) == vg_op_kind_count());
    json_array_foreach(kinds, idx, item) CHECK_STR(vg_op_kind_name((int)idx), json_string_value(item));
    json_array_foreach(json_object_get(root, "valid_request_kinds"), idx, item)
    {
        vg_req_kind k;
        CHECK(vg_req_kind_parse(json_string_value(item), &k) == 0);
    }

    json_array_foreach(json_object_get(root, "sign_policy_cases"), idx, item)
    {
        const char *title = json_string_value(json_object_get(item, "title"));
        const char *expected = json_string_value(json_object_get(item, "expected_error"));
        vg_request req;
        vg_err err = {0};
        int rc = decode_hex(json_string_value(json_object_get(item, "message_hex")), 2, &req, &err);
        CHECK_MSG(rc == 0, "%s: %s", title, err.msg);
        if (rc != 0)
            continue;
        /* the request kind: allowed unless the expected error names it */
        bool kind_ok = false;
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(item, "allowed_requests"), i, v)
        {
            vg_req_kind k;
            kind_ok |= vg_req_kind_parse(json_string_value(v), &k) == 0 && k == req.kind;
        }
        char msg[160];
        snprintf(msg, sizeof msg, "request kind `%s' is not allowed", vg_req_kind_name(req.kind));
        if (!kind_ok) {
            CHECK_MSG(expected != NULL && strcmp(expected, msg) == 0, "%s: %s", title, msg);
            continue;
        }
        /* the first generic operation the policy refuses is the one the expected error names */
        const char *refused = NULL;
        char name[64];
        for (size_t k = 0; k < req.n_ops && refused == NULL; k++)
            if (!op_allowed(&req.ops[k], json_object_get(item, "allowed_ops"), name, sizeof name))
                refused = name;
        if (refused != NULL)
            snprintf(msg, sizeof msg, "operation `%s' is not allowed", refused);
        CHECK_MSG(refused == NULL ? expected == NULL : (expected != NULL && strcmp(expected, msg) == 0),
                  "%s: decoded verdict %s", title, refused == NULL ? "allowed" : msg);
        json_t *op_kinds = json_object_get(item, "op_kinds");
        if (json_array_size(op_kinds) > 0)
            CHECK_MSG(strncmp(json_string_value(json_array_get(op_kinds, 0)), vg_op_kind_name(req.ops[0].kind),
                              strlen(vg_op_kind_name(req.ops[0].kind))) == 0,
                      "%s: op kind %s", title, vg_op_kind_name(req.ops[0].kind));
        if (strstr(title, "very long batch") != NULL)
            CHECK_MSG(req.n_ops > 50, "batch of %zu", req.n_ops);
        if (idx % 2 == 0 || strstr(title, "very long") != NULL)
            check_mutants_hex(json_string_value(json_object_get(item, "message_hex")), 2);
    }
    json_decref(root);
}

static void test_taquito_signatures(void)
{
    json_t *root = load_vector("tezos/signatures_taquito.json");
    const char *chain = json_string_value(json_object_get(root, "chain_id_hex"));
    json_t *item;
    size_t idx;
    int n = 0;
    json_array_foreach(json_object_get(root, "vectors"), idx, item)
    {
        const char *label = json_string_value(json_object_get(item, "label"));
        char hex[4096];
        snprintf(hex, sizeof hex, "%s%s", json_string_value(json_object_get(item, "watermark_hex")),
                 json_string_value(json_object_get(item, "bytes_hex")));
        vg_request req;
        vg_err err = {0};
        CHECK_MSG(decode_hex(hex, 2, &req, &err) == 0, "%s: %s", label, err.msg);
        if (strstr(label, "attestation") != NULL)
            CHECK(req.kind == VG_REQ_ATTESTATION && req.level == 123456 && req.round == 0 && chain_is(&req, chain));
        else if (strstr(label, "reveal+transaction") != NULL)
            CHECK(ops_match(&req, "reveal,transaction"));
        else if (strstr(label, "delegation") != NULL)
            CHECK(ops_match(&req, "delegation"));
        else
            CHECK(ops_match(&req, "failing_noop"));
        if (idx < 16 && idx % 4 == 0)
            check_mutants_hex(hex, 2);
        n++;
    }
    CHECK(n == 16);
    json_decref(root);
}

int main(void)
{
    vt_init();
    test_kind_tables();
    test_taquito_forged();
    test_rare_operations();
    test_malformed_fields();
    test_block_round();
    test_consensus_tags();
    test_magic_and_limits();
    test_mutants_builtin();
    char probe[512];
    if (vt_vector_path("signatory", probe, sizeof probe) == NULL && vt_failures > 0)
        return vt_done("test_request");
    vt_require_shared();
    test_sign_requests();
    test_policy_cases();
    test_taquito_signatures();
    printf("mutation fixtures: %d\n", mutation_fixtures);
    return vt_done("test_request");
}
