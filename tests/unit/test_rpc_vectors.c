/* Byte-for-byte agreement with ../shared/vectors/enclave-rpc (spec §20 "Tests"):
 *  1. every .frame = length ‖ .cbor, and every vector decodes and re-encodes to the same bytes;
 *  2. the encoder, fed values from keys.json, produces each request and reply vector;
 *  3. decoded values equal keys.json;
 *  4. the legacy nitro-rpc files decode (or fail) as spec §5.4 says;
 *  5. mutants of every vector (truncations, bit flips) decode or fail cleanly;
 *  6. vigil-enclave with the mock sealer, fed the README's scenarios, replies with the expected
 *     bytes. Deterministic everywhere except Generate (random keys: shape + re-import checked) and
 *     P-256 signatures, which vigil normalises to low S (spec §19 W5): r must match, s = n - s. */
#include <dirent.h>
#include <jansson.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/key.h"
#include "enclave_child.h"
#include "rpc/rpc_msg.h"
#include "testlib.h"

static json_t *keys;

static uint8_t *load(const char *dir, const char *name, const char *ext, size_t *len)
{
    char rel[256], path[512];
    snprintf(rel, sizeof rel, "%s/%s%s", dir, name, ext);
    if (vt_vector_path(rel, path, sizeof path) == NULL)
        return NULL;
    uint8_t *p = (uint8_t *)vt_read_file(path, len);
    CHECK_MSG(p != NULL, "cannot read %s", path);
    return p;
}

static uint8_t *vec(const char *name, size_t *len) { return load("enclave-rpc", name, ".cbor", len); }

/* keys.json field as bytes (static buffer per call site is enough: copy out). */
static size_t key_bytes(const char *type, const char *field, uint8_t *out, size_t cap)
{
    json_t *v = json_object_get(json_object_get(keys, type), field);
    size_t n = 0;
    uint8_t *b = v != NULL ? vt_unhex(json_string_value(v), &n) : NULL;
    CHECK_MSG(b != NULL && n <= cap, "keys.json %s.%s", type, field);
    if (b == NULL || n > cap)
        return 0;
    memcpy(out, b, n);
    free(b);
    return n;
}

static const char *const kinds[] = {"ed25519", "secp256k1", "nistp256", "bls"};
static const char *const json_names[] = {"Ed25519", "Secp256k1", "NistP256", "Bls"};
static const vg_key_type types[] = {VG_KEY_ED25519, VG_KEY_SECP256K1, VG_KEY_P256, VG_KEY_BLS};

static bool same(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void hexdump_diff(const char *what, const uint8_t *got, size_t gn, const uint8_t *want, size_t wn)
{
    char g[600], w[600];
    vg_hex_encode(got, gn < 280 ? gn : 280, g);
    vg_hex_encode(want, wn < 280 ? wn : 280, w);
    fprintf(stderr, "  %s\n    got  %s\n    want %s\n", what, g, w);
}

static void check_bytes(const char *what, const uint8_t *got, size_t gn, const uint8_t *want, size_t wn)
{
    bool ok = same(got, gn, want, wn);
    CHECK_MSG(ok, "%s differs", what);
    if (!ok)
        hexdump_diff(what, got, gn, want, wn);
}

/* The call whose reply a response vector is (for the decoder). */
static enum vg_rpc_call reply_call(const char *name)
{
    if (strcmp(name, "resp_ok_unit") == 0)
        return VG_RPC_INITIALIZE;
    if (strncmp(name, "resp_import_unencrypted", 23) == 0)
        return VG_RPC_IMPORT_UNENCRYPTED;
    if (strncmp(name, "resp_import", 11) == 0)
        return VG_RPC_IMPORT;
    if (strncmp(name, "resp_prove", 10) == 0)
        return VG_RPC_PROVE_POSSESSION;
    if (strncmp(name, "resp_public_key", 15) == 0)
        return VG_RPC_PUBLIC_KEY;
    return VG_RPC_SIGN; /* resp_sign_*, resp_err_* */
}

/* ---- 1. frames and decode/encode round trips ---- */

static void roundtrip_one(const char *name)
{
    size_t n, fn;
    uint8_t *body = vec(name, &n);
    uint8_t *frame = load("enclave-rpc", name, ".frame", &fn);
    if (body == NULL || frame == NULL)
        goto out;
    CHECK_MSG(fn == n + 4 && frame[0] == (uint8_t)(n >> 24) && frame[1] == (uint8_t)(n >> 16) &&
                  frame[2] == (uint8_t)(n >> 8) && frame[3] == (uint8_t)n && memcmp(frame + 4, body, n) == 0,
              "%s.frame is not length || cbor", name);
    vg_err err = {0};
    struct vg_cbor_out o;
    vg_cbor_out_init(&o, VG_RPC_FRAME_MAX_DEFAULT);
    if (strncmp(name, "req_", 4) == 0) {
        struct vg_rpc_request req;
        int rc = vg_rpc_request_decode(body, n, VG_RPC_FRAME_MAX_DEFAULT, &req, &err);
        CHECK_MSG(rc == 0, "%s: decode: %s", name, err.msg);
        if (rc == 0 && vg_rpc_request_encode(&req, &o, &err) == 0)
            check_bytes(name, o.buf, o.len, body, n);
        vg_rpc_request_clear(&req);
    } else {
        struct vg_rpc_reply rep;
        int rc = vg_rpc_reply_decode(reply_call(name), body, n, &rep, &err);
        CHECK_MSG(rc == 0, "%s: decode: %s", name, err.msg);
        if (rc == 0 && vg_rpc_reply_encode(&rep, &o, &err) == 0)
            check_bytes(name, o.buf, o.len, body, n);
        vg_rpc_reply_clear(&rep);
    }
    vg_cbor_out_free(&o);
out:
    free(body);
    free(frame);
}

static int roundtrip_all(void)
{
    char path[512];
    DIR *d = opendir(vt_vector_path("enclave-rpc", path, sizeof path));
    int count = 0;
    struct dirent *e;
    CHECK(d != NULL);
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".cbor") != 0)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(l - 5), e->d_name);
        roundtrip_one(name);
        count++;
    }
    if (d != NULL)
        closedir(d);
    CHECK_MSG(count == 56, "found %d vectors, want 56", count);
    return count;
}

/* ---- 2 + 3. encoder from keys.json values, and decoded values ---- */

static void expect_request(const char *name, const struct vg_rpc_request *req)
{
    size_t n;
    uint8_t *want = vec(name, &n);
    struct vg_cbor_out o;
    vg_err err = {0};
    vg_cbor_out_init(&o, VG_RPC_FRAME_MAX_DEFAULT);
    CHECK_MSG(vg_rpc_request_encode(req, &o, &err) == 0, "%s: %s", name, err.msg);
    if (want != NULL)
        check_bytes(name, o.buf, o.len, want, n);
    /* and back: the decoded request carries the same values */
    struct vg_rpc_request back;
    if (want != NULL && vg_rpc_request_decode(want, n, 1 << 20, &back, &err) == 0) {
        CHECK_MSG(back.call == req->call && back.handle == req->handle && back.version == req->version &&
                      same(back.message, back.message_len, req->message, req->message_len) &&
                      same(back.blob, back.blob_len, req->blob, req->blob_len),
                  "%s: decoded values differ", name);
        if (req->call == VG_RPC_IMPORT_UNENCRYPTED || req->call == VG_RPC_GENERATE ||
            req->call == VG_RPC_GENERATE_AND_IMPORT)
            CHECK_MSG(back.key_type == req->key_type, "%s: key type", name);
        if (req->secret != NULL)
            CHECK_MSG(back.secret != NULL && memcmp(back.secret, req->secret, 32) == 0, "%s: secret", name);
        vg_rpc_request_clear(&back);
    } else {
        CHECK_MSG(want == NULL, "%s: decode: %s", name, err.msg);
    }
    vg_cbor_out_free(&o);
    free(want);
}

static void expect_reply(const char *name, enum vg_rpc_call call, const struct vg_rpc_reply *rep)
{
    size_t n;
    uint8_t *want = vec(name, &n);
    struct vg_cbor_out o;
    vg_err err = {0};
    vg_cbor_out_init(&o, VG_RPC_FRAME_MAX_DEFAULT);
    CHECK_MSG(vg_rpc_reply_encode(rep, &o, &err) == 0, "%s: %s", name, err.msg);
    if (want != NULL)
        check_bytes(name, o.buf, o.len, want, n);
    struct vg_rpc_reply back;
    if (want != NULL && vg_rpc_reply_decode(call, want, n, &back, &err) == 0) {
        bool ok = back.kind == rep->kind && back.err_depth == rep->err_depth &&
                  same(back.blob, back.blob_len, rep->blob, rep->blob_len) && back.handle == rep->handle;
        for (size_t i = 0; ok && i < rep->err_depth; i++)
            ok = strcmp(back.err[i], rep->err[i]) == 0;
        if (rep->public_key_len)
            ok = ok && back.key_type == rep->key_type &&
                 same(back.public_key, back.public_key_len, rep->public_key, rep->public_key_len);
        if (rep->signature_len)
            ok = ok && back.key_type == rep->key_type &&
                 same(back.signature, back.signature_len, rep->signature, rep->signature_len);
        CHECK_MSG(ok, "%s: decoded values differ", name);
        vg_rpc_reply_clear(&back);
    } else {
        CHECK_MSG(want == NULL, "%s: decode: %s", name, err.msg);
    }
    vg_cbor_out_free(&o);
    free(want);
}

static const uint8_t text[4] = {'t', 'e', 'x', 't'};
static const uint8_t zero32[32];

static void encoder_from_values(void)
{
    char name[96];
    uint8_t secret[32], pk[48], sig[96], blob[VG_RPC_PRIVKEY_CBOR_MAX];
    size_t blob_len;

    struct vg_rpc_request init = {.call = VG_RPC_INITIALIZE};
    expect_request("req_initialize_mock", &init);
    char key_id[] = "AKIDEXAMPLE", secret_key[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
         kms_key[] = "1234abcd-12ab-34cd-56ef-1234567890ab", region[] = "us-east-1";
    init.creds = (struct vg_rpc_credentials){key_id, secret_key, NULL, kms_key, region, true};
    expect_request("req_initialize_aws", &init);
    init.creds.session_token_null = false;
    expect_request("req_initialize_aws_go", &init);

    struct vg_rpc_request r = {.call = VG_RPC_PUBLIC_KEY, .handle = 0};
    expect_request("req_public_key_0", &r);
    r.call = VG_RPC_PROVE_POSSESSION;
    expect_request("req_prove_possession_0", &r);

    for (size_t i = 0; i < 4; i++) {
        if (key_bytes(json_names[i], "private", secret, 32) != 32)
            continue;
        vg_rpc_private_key_encode(types[i], secret, blob, &blob_len);
        r = (struct vg_rpc_request){.call = VG_RPC_GENERATE, .key_type = types[i]};
        snprintf(name, sizeof name, "req_generate_%s", kinds[i]);
        expect_request(name, &r);
        r.call = VG_RPC_GENERATE_AND_IMPORT;
        snprintf(name, sizeof name, "req_generate_and_import_%s", kinds[i]);
        expect_request(name, &r);
        r = (struct vg_rpc_request){.call = VG_RPC_IMPORT_UNENCRYPTED, .key_type = types[i], .secret = secret};
        snprintf(name, sizeof name, "req_import_unencrypted_%s", kinds[i]);
        expect_request(name, &r);

        size_t pk_len = key_bytes(json_names[i], "public", pk, sizeof pk);
        struct vg_rpc_reply rep = {.kind = VG_RPC_REPLY_GENERATE_AND_IMPORT, .key_type = types[i],
                                   .public_key_len = pk_len, .blob = blob, .blob_len = blob_len};
        memcpy(rep.public_key, pk, pk_len);
        snprintf(name, sizeof name, "resp_import_unencrypted_mock_%s", kinds[i]);
        expect_reply(name, VG_RPC_IMPORT_UNENCRYPTED, &rep);
        if (types[i] == VG_KEY_BLS)
            continue; /* the README's mock Import/SignWith/PublicKeyFrom/Sign-v2 vectors cover tz1-tz3 */

        r = (struct vg_rpc_request){.call = VG_RPC_IMPORT, .blob = blob, .blob_len = blob_len};
        snprintf(name, sizeof name, "req_import_mock_%s", kinds[i]);
        expect_request(name, &r);
        r.call = VG_RPC_PUBLIC_KEY_FROM;
        snprintf(name, sizeof name, "req_public_key_from_mock_%s", kinds[i]);
        expect_request(name, &r);
        r = (struct vg_rpc_request){.call = VG_RPC_SIGN_WITH, .blob = blob, .blob_len = blob_len,
                                    .message = (uint8_t *)text, .message_len = 4, .version = 255};
        snprintf(name, sizeof name, "req_sign_with_mock_%s", kinds[i]);
        expect_request(name, &r);
        r = (struct vg_rpc_request){.call = VG_RPC_SIGN, .message = (uint8_t *)text, .message_len = 4, .version = 2};
        snprintf(name, sizeof name, "req_sign_%s_v2", kinds[i]);
        expect_request(name, &r);

        rep.blob = NULL;
        rep.blob_len = 0;
        rep.kind = VG_RPC_REPLY_IMPORT;
        snprintf(name, sizeof name, "resp_import_%s", kinds[i]);
        expect_reply(name, VG_RPC_IMPORT, &rep);
        rep.kind = VG_RPC_REPLY_PUBLIC_KEY;
        snprintf(name, sizeof name, "resp_public_key_%s", kinds[i]);
        expect_reply(name, VG_RPC_PUBLIC_KEY, &rep);
        struct vg_rpc_reply s = {.kind = VG_RPC_REPLY_SIGNATURE, .key_type = types[i]};
        s.signature_len = key_bytes(json_names[i], "signature", s.signature, sizeof s.signature);
        snprintf(name, sizeof name, "resp_sign_%s", kinds[i]);
        expect_reply(name, VG_RPC_SIGN, &s);
    }

    /* BLS signing requests and replies */
    r = (struct vg_rpc_request){.call = VG_RPC_SIGN, .message = (uint8_t *)zero32, .message_len = 32, .version = 2};
    expect_request("req_sign_bls_v2_zero32", &r);
    r = (struct vg_rpc_request){.call = VG_RPC_SIGN, .message = (uint8_t *)text, .message_len = 4, .version = 1};
    expect_request("req_sign_bls_v1_text", &r);
    r.version = 255;
    expect_request("req_sign_bls_v255_text", &r);
    static const struct {
        const char *vector, *field;
        enum vg_rpc_reply_kind kind;
    } bls[] = {
        {"resp_sign_bls_v1_text", "sig_v1_text", VG_RPC_REPLY_SIGNATURE},
        {"resp_sign_bls_v1_zero32", "sig_v1_zero32", VG_RPC_REPLY_SIGNATURE},
        {"resp_sign_bls_v2_text", "sig_v2_text", VG_RPC_REPLY_SIGNATURE},
        {"resp_sign_bls_v2_zero32", "sig_v2_zero32", VG_RPC_REPLY_SIGNATURE},
        {"resp_prove_possession_bls", "pop", VG_RPC_REPLY_POP},
    };
    for (size_t i = 0; i < sizeof bls / sizeof bls[0]; i++) {
        struct vg_rpc_reply s = {.kind = bls[i].kind, .key_type = VG_KEY_BLS};
        s.signature_len = key_bytes("Bls", bls[i].field, sig, sizeof sig);
        memcpy(s.signature, sig, s.signature_len);
        expect_reply(bls[i].vector, bls[i].kind == VG_RPC_REPLY_POP ? VG_RPC_PROVE_POSSESSION : VG_RPC_SIGN, &s);
    }

    struct vg_rpc_reply e = {0};
    e.kind = VG_RPC_REPLY_UNIT;
    expect_reply("resp_ok_unit", VG_RPC_INITIALIZE, &e);
    vg_rpc_reply_set_err(&e, "uninitialized", NULL);
    expect_reply("resp_err_uninitialized", VG_RPC_SIGN, &e);
    vg_rpc_reply_set_err(&e, "already initialized", NULL);
    expect_reply("resp_err_already_initialized", VG_RPC_INITIALIZE, &e);
    vg_rpc_reply_set_err(&e, "signer error", "invalid handle");
    expect_reply("resp_err_invalid_handle", VG_RPC_SIGN, &e);
    vg_rpc_reply_set_err(&e, "signer error", "Proof of possession is not supported");
    expect_reply("resp_err_pop_unsupported", VG_RPC_PROVE_POSSESSION, &e);
    /* Our decode error text for a missing field is ciborium's, so even this one matches. */
    vg_rpc_reply_set_err(&e, "Semantic(None, \"missing field `version`\")", NULL);
    expect_reply("resp_err_missing_version", VG_RPC_SIGN, &e);
}

/* ---- 4. the legacy dialect (spec §5.4) ---- */

static void legacy(void)
{
    static const struct {
        const char *name;
        enum vg_rpc_call call;
        bool decodes;
    } reqs[] = {
        {"request_import", VG_RPC_IMPORT, true},         {"request_public_key_from", VG_RPC_PUBLIC_KEY_FROM, true},
        {"request_generate", VG_RPC_GENERATE, true},     {"request_generate_and_import", VG_RPC_GENERATE_AND_IMPORT, true},
        {"request_public_key", VG_RPC_PUBLIC_KEY, true}, {"request_initialize", VG_RPC_INITIALIZE, true},
        {"request_sign", VG_RPC_SIGN, false},            {"request_sign_with", VG_RPC_SIGN_WITH, false},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        size_t n;
        uint8_t *b = load("nitro-rpc", reqs[i].name, ".bin", &n);
        struct vg_rpc_request req;
        vg_err err = {0};
        if (b == NULL)
            continue;
        int rc = vg_rpc_request_decode(b, n, 1 << 20, &req, &err);
        CHECK_MSG((rc == 0) == reqs[i].decodes, "legacy %s: rc %d (%s)", reqs[i].name, rc, err.msg);
        if (rc == 0) {
            CHECK_MSG(req.call == reqs[i].call, "legacy %s: call", reqs[i].name);
            if (req.blob != NULL) /* [9 uints = 000102030405060708] */
                CHECK_MSG(req.blob_len == 9 && req.blob[0] == 0 && req.blob[8] == 8, "legacy %s: bytes", reqs[i].name);
        } else {
            /* serde reports the first missing field in declaration order: `message` for Sign,
             * `encrypted_private_key` for SignWith (whose legacy form has neither). */
            CHECK_MSG(strstr(err.msg, "missing field `") != NULL, "legacy %s: %s", reqs[i].name, err.msg);
        }
        vg_rpc_request_clear(&req);
        free(b);
    }
    static const struct {
        const char *name;
        enum vg_rpc_call call;
        enum vg_rpc_reply_kind kind;
    } reps[] = {
        {"reply_ok", VG_RPC_INITIALIZE, VG_RPC_REPLY_UNIT},
        {"reply_import_err", VG_RPC_IMPORT, VG_RPC_REPLY_ERR},
        {"reply_try_sign_ed", VG_RPC_SIGN, VG_RPC_REPLY_SIGNATURE},
        {"reply_try_sign_nist", VG_RPC_SIGN, VG_RPC_REPLY_SIGNATURE}, /* uint-array signature bytes */
    };
    for (size_t i = 0; i < sizeof reps / sizeof reps[0]; i++) {
        size_t n;
        uint8_t *b = load("nitro-rpc", reps[i].name, ".bin", &n);
        struct vg_rpc_reply rep;
        vg_err err = {0};
        if (b == NULL)
            continue;
        int rc = vg_rpc_reply_decode(reps[i].call, b, n, &rep, &err);
        CHECK_MSG(rc == 0 && rep.kind == reps[i].kind, "legacy %s: %s", reps[i].name, err.msg);
        if (rc == 0 && rep.kind == VG_RPC_REPLY_ERR)
            CHECK(rep.err_depth == 2 && strcmp(rep.err[0], "message0") == 0 && strcmp(rep.err[1], "message1") == 0);
        vg_rpc_reply_clear(&rep);
        free(b);
    }
    /* Positional-array Ok shapes are not today's: they must fail, not be misread. */
    size_t n;
    uint8_t *b = load("nitro-rpc", "reply_import_ed_ok", ".bin", &n);
    struct vg_rpc_reply rep;
    if (b != NULL)
        CHECK(vg_rpc_reply_decode(VG_RPC_IMPORT, b, n, &rep, NULL) < 0);
    free(b);
}

/* ---- 5. mutants ---- */

static void mutate_one(const uint8_t *orig, size_t n, bool request, enum vg_rpc_call call, const char *name)
{
    uint8_t *m = malloc(n + 1);
    int bad = 0;
    for (size_t variant = 0; variant < n + 8 * n; variant++) {
        size_t len = n;
        memcpy(m, orig, n);
        if (variant < n) {
            len = variant; /* truncation */
        } else {
            size_t bit = variant - n;
            m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        vg_err err = {0};
        int rc;
        if (request) {
            struct vg_rpc_request req;
            rc = vg_rpc_request_decode(m, len, 1 << 20, &req, &err);
            vg_rpc_request_clear(&req);
        } else {
            struct vg_rpc_reply rep;
            rc = vg_rpc_reply_decode(call, m, len, &rep, &err);
            vg_rpc_reply_clear(&rep);
        }
        if (rc < 0 && err.kind != VG_E_INVALID)
            bad++;
    }
    CHECK_MSG(bad == 0, "%s: %d mutants failed with a non-INVALID error", name, bad);
    free(m);
}

static void mutants(void)
{
    char path[512];
    DIR *d = opendir(vt_vector_path("enclave-rpc", path, sizeof path));
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), n;
        if (l < 6 || strcmp(e->d_name + l - 5, ".cbor") != 0)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(l - 5), e->d_name);
        uint8_t *b = vec(name, &n);
        if (b != NULL)
            mutate_one(b, n, strncmp(name, "req_", 4) == 0, reply_call(name), name);
        free(b);
    }
    if (d != NULL)
        closedir(d);
}

/* ---- 6. the server with the mock sealer ---- */

static struct ve_server srv;

/* Sends the request vector (or raw body) and compares the reply with the response vector. */
static void expect_raw(int fd, const char *label, const uint8_t *req, size_t req_len, const char *resp)
{
    size_t wn, gn;
    uint8_t *want = vec(resp, &wn), *got = NULL;
    int rc = ve_exchange(fd, req, req_len, &got, &gn);
    CHECK_MSG(rc == 0, "%s: no reply", label);
    if (rc == 0 && want != NULL) {
        char what[160];
        snprintf(what, sizeof what, "%s -> %s", label, resp);
        check_bytes(what, got, gn, want, wn);
    }
    free(got);
    free(want);
}

static void expect(int fd, const char *req, const char *resp)
{
    size_t n;
    uint8_t *b = vec(req, &n);
    if (b != NULL)
        expect_raw(fd, req, b, n, resp);
    free(b);
}

static int fresh(void)
{
    int fd = ve_connect(&srv);
    CHECK(fd >= 0);
    if (fd >= 0)
        expect(fd, "req_initialize_mock", "resp_ok_unit");
    return fd;
}

/* n - s for the P-256 group order, big-endian 32 bytes. */
static void p256_negate_s(const uint8_t s[32], uint8_t out[32])
{
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                  0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - s[i] - borrow;
        borrow = d < 0;
        out[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

/* spec §19 W5: vigil's P-256 signature = the vector's with s replaced by n - s. */
static void expect_p256_sign(int fd, const char *req)
{
    size_t n, gn;
    uint8_t *b = vec(req, &n), *got = NULL;
    struct vg_rpc_reply rep;
    uint8_t want[64], pk[33];
    if (b == NULL || key_bytes("NistP256", "signature", want, 64) != 64 || key_bytes("NistP256", "public", pk, 33) != 33)
        goto out;
    CHECK(ve_exchange(fd, b, n, &got, &gn) == 0);
    if (got != NULL && vg_rpc_reply_decode(VG_RPC_SIGN, got, gn, &rep, NULL) == 0) {
        uint8_t s_neg[32];
        p256_negate_s(want + 32, s_neg);
        CHECK_MSG(rep.kind == VG_RPC_REPLY_SIGNATURE && rep.key_type == VG_KEY_P256, "%s: shape", req);
        CHECK_MSG(memcmp(rep.signature, want, 32) == 0, "%s: r differs from resp_sign_nistp256", req);
        CHECK_MSG(memcmp(rep.signature + 32, s_neg, 32) == 0, "%s: s is not n - s(vector)", req);
        CHECK(vg_ecdsa_is_low_s(VG_KEY_P256, rep.signature));
        CHECK(vg_verify(VG_KEY_P256, pk, 33, text, 4, rep.signature, 64, 2));
        vg_rpc_reply_clear(&rep);
    } else {
        CHECK_MSG(false, "%s: bad reply", req);
    }
out:
    free(got);
    free(b);
}

static void sign_vector_or_p256(int fd, size_t i)
{
    char req[64], resp[64];
    snprintf(req, sizeof req, "req_sign_%s_v2", kinds[i]);
    snprintf(resp, sizeof resp, "resp_sign_%s", kinds[i]);
    if (types[i] == VG_KEY_P256)
        expect_p256_sign(fd, req);
    else
        expect(fd, req, resp);
}

static void encode_req(const struct vg_rpc_request *r, struct vg_cbor_out *o)
{
    vg_cbor_out_init(o, 1 << 20);
    CHECK(vg_rpc_request_encode(r, o, NULL) == 0);
}

static void server_scenarios(void)
{
    char req[96], resp[96];
    for (size_t i = 0; i < 4; i++) {
        /* ImportUnencrypted, then Sign / PublicKey / ProvePossession on handle 0 */
        int fd = fresh();
        if (fd < 0)
            return;
        snprintf(req, sizeof req, "req_import_unencrypted_%s", kinds[i]);
        snprintf(resp, sizeof resp, "resp_import_unencrypted_mock_%s", kinds[i]);
        expect(fd, req, resp);
        if (types[i] != VG_KEY_BLS) {
            sign_vector_or_p256(fd, i);
            snprintf(resp, sizeof resp, "resp_public_key_%s", kinds[i]);
            expect(fd, "req_public_key_0", resp);
            expect(fd, "req_prove_possession_0", "resp_err_pop_unsupported");
        } else {
            expect(fd, "req_sign_bls_v2_zero32", "resp_sign_bls_v2_zero32");
            expect(fd, "req_sign_bls_v1_text", "resp_sign_bls_v1_text");
            expect(fd, "req_sign_bls_v255_text", "resp_sign_bls_v2_text");
            struct vg_rpc_request r = {.call = VG_RPC_SIGN, .message = (uint8_t *)zero32, .message_len = 32,
                                       .version = 1};
            struct vg_cbor_out o;
            encode_req(&r, &o);
            expect_raw(fd, "Sign v1 zero32", o.buf, o.len, "resp_sign_bls_v1_zero32");
            vg_cbor_out_free(&o);
            expect(fd, "req_prove_possession_0", "resp_prove_possession_bls");
            /* spec §3.3: upstream panics here; vigil answers and the connection lives on. */
            r.version = 0;
            encode_req(&r, &o);
            uint8_t *got = NULL;
            size_t gn;
            struct vg_rpc_reply rep;
            CHECK(ve_exchange(fd, o.buf, o.len, &got, &gn) == 0);
            CHECK(got != NULL && vg_rpc_reply_decode(VG_RPC_SIGN, got, gn, &rep, NULL) == 0 &&
                  rep.kind == VG_RPC_REPLY_ERR && rep.err_depth == 2 && strcmp(rep.err[0], "signer error") == 0 &&
                  strcmp(rep.err[1], "Invalid signing version") == 0);
            free(got);
            vg_cbor_out_free(&o);
            expect(fd, "req_prove_possession_0", "resp_prove_possession_bls");
        }
        close(fd);
        if (types[i] == VG_KEY_BLS)
            continue;
        /* Import of a mock blob; SignWith and PublicKeyFrom */
        fd = fresh();
        snprintf(req, sizeof req, "req_import_mock_%s", kinds[i]);
        snprintf(resp, sizeof resp, "resp_import_%s", kinds[i]);
        expect(fd, req, resp);
        sign_vector_or_p256(fd, i);
        close(fd);
        fd = fresh();
        snprintf(req, sizeof req, "req_sign_with_mock_%s", kinds[i]);
        if (types[i] == VG_KEY_P256) {
            expect_p256_sign(fd, req);
        } else {
            snprintf(resp, sizeof resp, "resp_sign_%s", kinds[i]);
            expect(fd, req, resp);
        }
        snprintf(req, sizeof req, "req_public_key_from_mock_%s", kinds[i]);
        snprintf(resp, sizeof resp, "resp_public_key_%s", kinds[i]);
        expect(fd, req, resp);
        close(fd);
    }

    /* state errors */
    int fd = ve_connect(&srv);
    static const char *const before_init[] = {"req_sign_ed25519_v2", "req_public_key_0", "req_prove_possession_0",
                                              "req_generate_bls", "req_import_mock_ed25519",
                                              "req_import_unencrypted_bls", "req_sign_with_mock_secp256k1",
                                              "req_public_key_from_mock_nistp256", "req_generate_and_import_bls"};
    for (size_t i = 0; i < sizeof before_init / sizeof before_init[0]; i++)
        expect(fd, before_init[i], "resp_err_uninitialized");
    expect(fd, "req_initialize_mock", "resp_ok_unit");
    expect(fd, "req_initialize_mock", "resp_err_already_initialized");
    expect(fd, "req_sign_ed25519_v2", "resp_err_invalid_handle");
    expect(fd, "req_public_key_0", "resp_err_invalid_handle");
    expect(fd, "req_prove_possession_0", "resp_err_invalid_handle");
    /* a Sign without `version`: ciborium's text, reproduced exactly */
    static const uint8_t no_version[] = {0xa1, 0x64, 'S', 'i', 'g', 'n', 0xa2, 0x66, 'h', 'a', 'n', 'd', 'l', 'e',
                                         0x00, 0x67, 'm', 'e', 's', 's', 'a', 'g', 'e', 0x44, 't', 'e', 'x', 't'};
    expect_raw(fd, "Sign without version", no_version, sizeof no_version, "resp_err_missing_version");
    close(fd);

    /* both Initialize forms are accepted by the mock backend */
    fd = ve_connect(&srv);
    expect(fd, "req_initialize_aws", "resp_ok_unit");
    close(fd);
    fd = ve_connect(&srv);
    expect(fd, "req_initialize_aws_go", "resp_ok_unit");
    close(fd);

    /* Generate / GenerateAndImport: random keys; check shape and that the blob re-imports */
    for (size_t i = 0; i < 4; i++) {
        fd = fresh();
        for (int keep = 0; keep < 2; keep++) {
            snprintf(req, sizeof req, keep ? "req_generate_and_import_%s" : "req_generate_%s", kinds[i]);
            size_t n, gn;
            uint8_t *b = vec(req, &n), *got = NULL;
            struct vg_rpc_reply gen, pk;
            enum vg_rpc_call call = keep ? VG_RPC_GENERATE_AND_IMPORT : VG_RPC_GENERATE;
            CHECK(b != NULL && ve_exchange(fd, b, n, &got, &gn) == 0);
            free(b);
            if (got == NULL || vg_rpc_reply_decode(call, got, gn, &gen, NULL) < 0) {
                CHECK_MSG(false, "%s: bad reply", req);
                free(got);
                continue;
            }
            free(got);
            CHECK_MSG(gen.key_type == types[i] && gen.public_key_len == vg_rpc_public_key_len(types[i]) &&
                          gen.handle == 0 && gen.blob_len > 0,
                      "%s: shape", req);
            struct vg_rpc_request from = {.call = VG_RPC_PUBLIC_KEY_FROM, .blob = gen.blob, .blob_len = gen.blob_len};
            struct vg_cbor_out o;
            encode_req(&from, &o);
            got = NULL;
            CHECK(ve_exchange(fd, o.buf, o.len, &got, &gn) == 0);
            CHECK_MSG(got != NULL && vg_rpc_reply_decode(VG_RPC_PUBLIC_KEY_FROM, got, gn, &pk, NULL) == 0 &&
                          same(pk.public_key, pk.public_key_len, gen.public_key, gen.public_key_len),
                      "%s: blob does not re-import to the same public key", req);
            free(got);
            vg_cbor_out_free(&o);
            vg_rpc_reply_clear(&gen);
        }
        close(fd);
    }
}

int main(void)
{
    vt_init();
    vt_require_shared();
    char path[512];
    json_error_t jerr;
    keys = json_load_file(vt_vector_path("enclave-rpc/keys.json", path, sizeof path), 0, &jerr);
    CHECK(keys != NULL);
    if (keys == NULL)
        return vt_done("test_rpc_vectors");
    roundtrip_all();
    encoder_from_values();
    legacy();
    mutants();
    static const char *const args[] = {"--seal", "mock", "--log", "warn", NULL};
    if (ve_start(&srv, args) == 0) {
        server_scenarios();
        CHECK_MSG(ve_alive(&srv), "vigil-enclave died during the scenarios");
        ve_stop(&srv);
    } else {
        CHECK_MSG(false, "cannot start vigil-enclave");
        ve_stop(&srv);
    }
    json_decref(keys);
    return vt_done("test_rpc_vectors");
}
