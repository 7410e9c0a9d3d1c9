/* vigil-enclave as a black box, through the host client library (src/rpc):
 *  - every call for every key type under the dev (AES-GCM) sealer, signatures verified with
 *    vg_verify and, when Node and @noble/curves are installed, independently with noble;
 *  - bad frames and bad CBOR: each gets an Err and the connection stays usable, or the connection
 *    closes cleanly where the spec says so (over-cap frame, EOF in a body, a stalled frame);
 *  - limits (frame cap, sessions, keys per session), 32 concurrent independent sessions;
 *  - the binary is static and runs chrooted into an empty directory. */
#include <elf.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/key.h"
#include "enclave_child.h"
#include "rpc/rpc_cbor.h"
#include "rpc/rpc_client.h"
#include "rpc/rpc_msg.h"
#include "testlib.h"

static struct ve_server dev;
static FILE *noble_lines;
static char noble_path[256];

static const vg_key_type all_types[] = {VG_KEY_ED25519, VG_KEY_SECP256K1, VG_KEY_P256, VG_KEY_BLS};
static const char *const noble_kind[] = {"ed25519", "secp256k1", "p256", "bls"};
/* Fixed secrets for ImportUnencrypted (RFC 8032 test 1 seed and the keys of keys.json). */
static const char *const fixed_secret[] = {
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "098858faca95f0124035672838846714c6a12f777228a6521a4683882781ed24",
    "ca260460143677552030bbf538f4ded72330fcaa57908c0e5769699fcab229e2",
    "263dbd792f5b1be47ed85f8938c0f29586af0d3ac7b977f21c278fe1462040e3",
};

static void record(const char *kind, const uint8_t *pk, size_t pk_len, const uint8_t *msg, size_t len,
                   const uint8_t *sig, size_t sig_len, int version)
{
    if (noble_lines == NULL)
        return;
    char *h = malloc(2 * (pk_len + len + sig_len) + 8);
    vg_hex_encode(pk, pk_len, h);
    fprintf(noble_lines, "%s %s ", kind, h);
    if (len > 0) {
        vg_hex_encode(msg, len, h);
        fprintf(noble_lines, "%s ", h);
    } else {
        fputs("- ", noble_lines);
    }
    vg_hex_encode(sig, sig_len, h);
    fprintf(noble_lines, "%s %d\n", h, version);
    free(h);
}

/* One call through the client; returns 0 on Ok, 1 on an Err reply, -1 on a transport failure. */
static int call(struct vg_rpc_client *c, const struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    vg_err err = {0};
    memset(rep, 0, sizeof *rep);
    if (vg_rpc_client_call(c, req, rep, &err) == 0)
        return 0;
    if (rep->err_depth > 0)
        return 1;
    fprintf(stderr, "  transport failure in %s: %s\n", vg_rpc_call_name(req->call), err.msg);
    return -1;
}

static bool same_pk(const struct vg_rpc_reply *a, const struct vg_rpc_reply *b)
{
    return a->key_type == b->key_type && a->public_key_len == b->public_key_len &&
           memcmp(a->public_key, b->public_key, a->public_key_len) == 0;
}

static bool err_is(const struct vg_rpc_reply *rep, const char *outer, const char *inner)
{
    return rep->kind == VG_RPC_REPLY_ERR && rep->err_depth >= 1 && strcmp(rep->err[0], outer) == 0 &&
           (inner == NULL ? rep->err_depth == 1 : rep->err_depth >= 2 && strstr(rep->err[1], inner) != NULL);
}

static struct vg_rpc_client *connect_init(const char *addr)
{
    struct vg_rpc_client *c = NULL;
    vg_err err = {0};
    if (vg_rpc_client_connect(addr, NULL, &c, &err) < 0) {
        CHECK_MSG(false, "connect %s: %s", addr, err.msg);
        return NULL;
    }
    struct vg_rpc_request init = {.call = VG_RPC_INITIALIZE};
    struct vg_rpc_reply rep;
    CHECK(call(c, &init, &rep) == 0 && rep.kind == VG_RPC_REPLY_UNIT);
    return c;
}

/* As connect_init, for a server whose session slots may still be held by closed connections. */
static struct vg_rpc_client *connect_init_retry(const char *addr)
{
    struct vg_rpc_request init = {.call = VG_RPC_INITIALIZE};
    for (int tries = 0; tries < 100; tries++) {
        struct vg_rpc_client *c = NULL;
        struct vg_rpc_reply rep;
        vg_err err = {0};
        if (vg_rpc_client_connect(addr, NULL, &c, &err) == 0 && vg_rpc_client_call(c, &init, &rep, &err) == 0)
            return c;
        vg_rpc_client_free(c);
        ve_sleep_ms(20);
    }
    CHECK_MSG(false, "no session slot on %s", addr);
    return NULL;
}

static int sign_and_verify(struct vg_rpc_client *c, vg_key_type t, uint64_t handle, const uint8_t *pk, size_t pk_len,
                           const uint8_t *msg, size_t len, uint8_t version, const char *label)
{
    struct vg_rpc_request req = {.call = VG_RPC_SIGN, .handle = handle, .message = (uint8_t *)msg,
                                 .message_len = len, .version = version};
    struct vg_rpc_reply rep;
    if (call(c, &req, &rep) != 0) {
        CHECK_MSG(false, "%s: Sign %s v%u failed: %s", label, vg_key_type_name(t), version, rep.err[0]);
        return -1;
    }
    int v = t == VG_KEY_BLS && version == 1 ? 1 : 2;
    bool ok = rep.key_type == t && rep.signature_len == vg_sig_len(t) &&
              vg_verify(t, pk, pk_len, msg, len, rep.signature, rep.signature_len, v);
    CHECK_MSG(ok, "%s: %s signature v%u does not verify", label, vg_key_type_name(t), version);
    if (t == VG_KEY_SECP256K1 || t == VG_KEY_P256)
        CHECK_MSG(vg_ecdsa_is_low_s(t, rep.signature), "%s: high S", label);
    record(noble_kind[t], pk, pk_len, msg, len, rep.signature, rep.signature_len, v);
    return ok ? 0 : -1;
}

/* ---- every call, every key type (dev sealer) ---- */

static void exercise_type(struct vg_rpc_client *c, vg_key_type t, uint64_t *next_handle)
{
    const char *name = vg_key_type_name(t);
    static const uint8_t text[] = "text";
    uint8_t big[10000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    struct vg_rpc_reply gai, rep;

    /* GenerateAndImport */
    struct vg_rpc_request req = {.call = VG_RPC_GENERATE_AND_IMPORT, .key_type = t};
    if (call(c, &req, &gai) != 0) {
        CHECK_MSG(false, "%s: GenerateAndImport: %s", name, gai.err[0]);
        return;
    }
    CHECK_MSG(gai.key_type == t && gai.public_key_len == vg_pubkey_len(t) && gai.handle == *next_handle,
              "%s: GenerateAndImport shape (handle %llu, want %llu)", name, (unsigned long long)gai.handle,
              (unsigned long long)*next_handle);
    CHECK_MSG(gai.blob_len > 4 && memcmp(gai.blob, "VGD1", 4) == 0, "%s: not a dev-sealed blob", name);
    uint64_t h = gai.handle;
    (*next_handle)++;

    /* PublicKey */
    req = (struct vg_rpc_request){.call = VG_RPC_PUBLIC_KEY, .handle = h};
    CHECK(call(c, &req, &rep) == 0 && same_pk(&rep, &gai));
    vg_rpc_reply_clear(&rep);

    /* Sign: every version; only BLS cares, the others sign identically */
    if (t == VG_KEY_BLS) {
        sign_and_verify(c, t, h, gai.public_key, gai.public_key_len, text, 4, 1, "bls v1");
        sign_and_verify(c, t, h, gai.public_key, gai.public_key_len, text, 4, 2, "bls v2");
        sign_and_verify(c, t, h, gai.public_key, gai.public_key_len, text, 4, 255, "bls v255");
        req = (struct vg_rpc_request){.call = VG_RPC_SIGN, .handle = h, .message = (uint8_t *)text,
                                      .message_len = 4, .version = 0};
        CHECK(call(c, &req, &rep) == 1 && err_is(&rep, "signer error", "Invalid signing version"));
        vg_rpc_reply_clear(&rep);
    } else {
        uint8_t first[64];
        for (uint8_t v = 0; v <= 3; v++) {
            uint8_t version = v == 3 ? 255 : v;
            req = (struct vg_rpc_request){.call = VG_RPC_SIGN, .handle = h, .message = (uint8_t *)text,
                                          .message_len = 4, .version = version};
            CHECK(call(c, &req, &rep) == 0 && rep.signature_len == 64);
            if (v == 0)
                memcpy(first, rep.signature, 64);
            else
                CHECK_MSG(memcmp(first, rep.signature, 64) == 0, "%s: version %u changed the signature", name, version);
            vg_rpc_reply_clear(&rep);
        }
        sign_and_verify(c, t, h, gai.public_key, gai.public_key_len, text, 4, 2, "sign text");
    }
    sign_and_verify(c, t, h, gai.public_key, gai.public_key_len, text, 0, 2, "sign empty");
    sign_and_verify(c, t, h, gai.public_key, gai.public_key_len, big, sizeof big, 2, "sign 10 kB");

    /* Generate: sealed, returned, not kept */
    req = (struct vg_rpc_request){.call = VG_RPC_GENERATE, .key_type = t};
    struct vg_rpc_reply gen;
    CHECK(call(c, &req, &gen) == 0 && gen.kind == VG_RPC_REPLY_GENERATE && gen.key_type == t && gen.blob_len > 0);

    /* Import of the generated blob: next handle, same public key */
    req = (struct vg_rpc_request){.call = VG_RPC_IMPORT, .blob = gen.blob, .blob_len = gen.blob_len};
    CHECK(call(c, &req, &rep) == 0 && rep.kind == VG_RPC_REPLY_IMPORT && rep.handle == *next_handle &&
          same_pk(&rep, &gen));
    uint64_t imported = rep.handle;
    (*next_handle)++;
    vg_rpc_reply_clear(&rep);
    sign_and_verify(c, t, imported, gen.public_key, gen.public_key_len, text, 4, 2, "imported");

    /* PublicKeyFrom and SignWith: unseal, use, forget */
    req = (struct vg_rpc_request){.call = VG_RPC_PUBLIC_KEY_FROM, .blob = gen.blob, .blob_len = gen.blob_len};
    CHECK(call(c, &req, &rep) == 0 && rep.kind == VG_RPC_REPLY_PUBLIC_KEY && same_pk(&rep, &gen));
    vg_rpc_reply_clear(&rep);
    req = (struct vg_rpc_request){.call = VG_RPC_SIGN_WITH, .blob = gen.blob, .blob_len = gen.blob_len,
                                  .message = (uint8_t *)text, .message_len = 4, .version = 2};
    CHECK(call(c, &req, &rep) == 0 && rep.kind == VG_RPC_REPLY_SIGNATURE &&
          vg_verify(t, gen.public_key, gen.public_key_len, text, 4, rep.signature, rep.signature_len, 2));
    record(noble_kind[t], gen.public_key, gen.public_key_len, text, 4, rep.signature, rep.signature_len, 2);
    vg_rpc_reply_clear(&rep);

    /* A tampered blob is an `encryption error`, and the session carries on */
    gen.blob[gen.blob_len - 1] ^= 1;
    req = (struct vg_rpc_request){.call = VG_RPC_IMPORT, .blob = gen.blob, .blob_len = gen.blob_len};
    CHECK(call(c, &req, &rep) == 1 && err_is(&rep, "encryption error", "authentication failed"));
    vg_rpc_reply_clear(&rep);
    vg_rpc_reply_clear(&gen);

    /* ImportUnencrypted with a known key: the public key matches a local derivation, and the blob
     * does not carry the key in the clear */
    size_t n;
    uint8_t *secret_heap = vt_unhex(fixed_secret[t], &n);
    uint8_t *secret = vg_secure_alloc(32);
    memcpy(secret, secret_heap, 32);
    vg_wipe(secret_heap, n);
    free(secret_heap);
    vg_key *local = NULL;
    CHECK(vg_key_from_secret(t, secret, 32, &local, NULL) == 0);
    req = (struct vg_rpc_request){.call = VG_RPC_IMPORT_UNENCRYPTED, .key_type = t, .secret = secret};
    if (call(c, &req, &rep) == 0 && local != NULL) {
        size_t pk_len;
        const uint8_t *pk = vg_key_public(local, &pk_len);
        CHECK_MSG(rep.kind == VG_RPC_REPLY_GENERATE_AND_IMPORT && rep.handle == *next_handle &&
                      rep.public_key_len == pk_len && memcmp(rep.public_key, pk, pk_len) == 0,
                  "%s: ImportUnencrypted", name);
        bool leaked = false;
        for (size_t i = 0; i + 32 <= rep.blob_len; i++)
            leaked |= memcmp(rep.blob + i, secret, 32) == 0;
        CHECK_MSG(!leaked, "%s: the dev blob holds the key in the clear", name);
        (*next_handle)++;
    } else {
        CHECK_MSG(false, "%s: ImportUnencrypted: %s", name, rep.err[0]);
    }
    vg_rpc_reply_clear(&rep);
    vg_key_free(local);
    vg_secure_free(secret);

    /* ProvePossession */
    req = (struct vg_rpc_request){.call = VG_RPC_PROVE_POSSESSION, .handle = h};
    int rc = call(c, &req, &rep);
    if (t == VG_KEY_BLS) {
        CHECK(rc == 0 && rep.kind == VG_RPC_REPLY_POP && rep.signature_len == 96 &&
              vg_bls_verify_pop(gai.public_key, rep.signature));
        record("bls-pop", gai.public_key, 48, NULL, 0, rep.signature, 96, 0);
    } else {
        CHECK(rc == 1 && err_is(&rep, "signer error", "Proof of possession is not supported"));
    }
    vg_rpc_reply_clear(&rep);
    vg_rpc_reply_clear(&gai);
}

static void every_call(void)
{
    struct vg_rpc_client *c = connect_init(dev.addr);
    if (c == NULL)
        return;
    uint64_t next = 0;
    for (size_t i = 0; i < 4; i++)
        exercise_type(c, all_types[i], &next);
    /* handles are per connection: a second session starts empty */
    struct vg_rpc_client *other = connect_init(dev.addr);
    struct vg_rpc_request req = {.call = VG_RPC_PUBLIC_KEY, .handle = 0};
    struct vg_rpc_reply rep;
    CHECK(other != NULL && call(other, &req, &rep) == 1 && err_is(&rep, "signer error", "invalid handle"));
    CHECK(call(c, &req, &rep) == 0); /* while the first still has it */
    vg_rpc_client_free(other);
    vg_rpc_client_free(c);
}

/* ---- bad frames and bad CBOR ---- */

static int raw_connect_init(void)
{
    static const uint8_t init[] = {0xa1, 0x6a, 'I', 'n', 'i', 't', 'i', 'a', 'l', 'i', 'z', 'e', 0xa0};
    int fd = ve_connect(&dev);
    uint8_t *rep = NULL;
    size_t n;
    CHECK(fd >= 0 && ve_exchange(fd, init, sizeof init, &rep, &n) == 0 && n == 5);
    free(rep);
    return fd;
}

/* After a bad request the same connection must still answer a good one. */
static bool still_usable(int fd)
{
    static const uint8_t pk0[] = {0xa1, 0x69, 'P', 'u', 'b', 'l', 'i', 'c', 'K', 'e', 'y', 0x00};
    uint8_t *rep = NULL;
    size_t n;
    struct vg_rpc_reply r;
    bool ok = ve_exchange(fd, pk0, sizeof pk0, &rep, &n) == 0 &&
              vg_rpc_reply_decode(VG_RPC_PUBLIC_KEY, rep, n, &r, NULL) == 0;
    free(rep);
    return ok;
}

static void expect_err_body(int fd, const uint8_t *body, size_t len, const char *label, const char *want)
{
    uint8_t *rep = NULL;
    size_t n;
    struct vg_rpc_reply r = {0};
    int rc = ve_exchange(fd, body, len, &rep, &n);
    bool decoded = rc == 0 && vg_rpc_reply_decode(VG_RPC_SIGN, rep, n, &r, NULL) == 0;
    CHECK_MSG(decoded && r.kind == VG_RPC_REPLY_ERR, "%s: want an Err reply (rc %d)", label, rc);
    if (decoded && want != NULL) {
        char chain[512];
        vg_rpc_reply_err_join(&r, chain, sizeof chain);
        CHECK_MSG(strstr(chain, want) != NULL, "%s: Err `%s` lacks `%s`", label, chain, want);
    }
    CHECK_MSG(still_usable(fd), "%s: connection unusable afterwards", label);
    free(rep);
}

/* Builders for malformed requests. */
static struct vg_cbor_out ob;
#define B_BEGIN() vg_cbor_out_init(&ob, 1 << 20)
#define B_MAP(n) vg_cbor_put_head(&ob, VG_CBOR_MAP, (n))
#define B_TEXT(s) vg_cbor_put_text(&ob, (s))
#define B_UINT(v) vg_cbor_put_uint(&ob, (v))
#define B_BYTES(p, n) vg_cbor_put_bytes(&ob, (p), (n))
#define B_EXPECT(label, want)                                                                                      \
    do {                                                                                                           \
        expect_err_body(fd, ob.buf, ob.len, (label), (want));                                                      \
        vg_cbor_out_free(&ob);                                                                                     \
    } while (0)

static void import_unencrypted_bad(int fd, const char *type, const uint8_t *key, size_t len, const char *label)
{
    B_BEGIN();
    B_MAP(1);
    B_TEXT("ImportUnencrypted");
    B_MAP(1);
    B_TEXT(type);
    B_BYTES(key, len);
    B_EXPECT(label, "invalid");
}

static void bad_requests(void)
{
    int fd = raw_connect_init();
    if (fd < 0)
        return;
    static const struct {
        const char *label;
        const char *hex;
        const char *want;
    } raw[] = {
        {"empty frame (N = 0)", "", "Io(UnexpectedEof)"},
        {"uint instead of a map", "01", "invalid type"},
        {"array instead of a map", "80", "invalid type"},
        {"null", "f6", "invalid type"},
        {"stray break", "ff", "Syntax"},
        {"reserved additional info", "1c", "Syntax"},
        {"call as a unit variant", "6a496e697469616c697a65", "unit variant"},
        {"indefinite enum map", "bf695075626c69634b657900ff", "indefinite"},
        {"two calls in one map", "a2695075626c69634b6579006f50726f7665506f7373657373696f6e00", "invalid length 2"},
        {"unknown call", "a16a46726f626e696361746500", "unknown variant `Frobnicate`"},
        {"handle as text", "a1695075626c69634b65796178", "invalid type: string"},
        {"negative handle", "a1695075626c69634b657920", "invalid type: negative integer"},
        {"bad handle", "a1695075626c69634b65791863", "invalid handle"},
        {"unknown key type", "a16847656e657261746563466f6f", "unknown variant `Foo`"},
        {"key type as a map", "a16847656e6572617465a163426c7300", "expected unit variant"},
        {"bstr longer than the frame", "a166496d706f72745affffffff", "Io(UnexpectedEof)"},
        {"Sign without version", "a1645369676ea26668616e646c6500676d6573736167654474657874",
         "missing field `version`"},
        {"Sign version 3", "a1645369676ea36668616e646c6500676d657373616765406776657273696f6e03", "expected one of"},
        {"Sign handle as text", "a1645369676ea36668616e646c656130676d657373616765406776657273696f6e02",
         "invalid type: string"},
        {"duplicate field", "a1645369676ea46668616e646c65006668616e646c6500676d657373616765406776657273696f6e02",
         "duplicate field `handle`"},
        {"integer map key", "a1645369676ea10000", "expected str or bytes"},
        {"message as uint array with 256", "a1645369676ea36668616e646c6500676d657373616765811901006776657273696f6e02",
         "expected u8"},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        size_t n = 0;
        uint8_t *b = raw[i].hex[0] ? vt_unhex(raw[i].hex, &n) : calloc(1, 1);
        CHECK_MSG(b != NULL, "bad hex in case %s", raw[i].label);
        if (b != NULL)
            expect_err_body(fd, b, n, raw[i].label, raw[i].want);
        free(b);
    }

    /* deep nesting is refused without recursion */
    uint8_t deep[400];
    deep[0] = 0xa1;
    deep[1] = 0x66;
    memcpy(deep + 2, "Import", 6);
    memset(deep + 8, 0x81, sizeof deep - 9);
    deep[sizeof deep - 1] = 0x00;
    expect_err_body(fd, deep, sizeof deep, "nesting 391 deep", "RecursionLimitExceeded");

    /* version values: only 0, 1, 2, 255 */
    for (uint64_t v = 3; v < 300; v += 37) {
        B_BEGIN();
        B_MAP(1);
        B_TEXT("Sign");
        B_MAP(3);
        B_TEXT("handle");
        B_UINT(0);
        B_TEXT("message");
        B_BYTES((const uint8_t *)"x", 1);
        B_TEXT("version");
        B_UINT(v);
        B_EXPECT("bad version", "expected one of");
    }

    /* bad key bytes */
    uint8_t key[33];
    memset(key, 0x11, sizeof key);
    import_unencrypted_bad(fd, "Ed25519", key, 31, "31-byte seed");
    import_unencrypted_bad(fd, "Ed25519", key, 33, "33-byte seed");
    memset(key, 0, 32);
    import_unencrypted_bad(fd, "Secp256k1", key, 32, "secp256k1 zero scalar");
    import_unencrypted_bad(fd, "NistP256", key, 32, "p256 zero scalar");
    import_unencrypted_bad(fd, "Bls", key, 32, "bls zero scalar");
    memset(key, 0xff, 32);
    import_unencrypted_bad(fd, "Secp256k1", key, 32, "secp256k1 scalar >= n");
    import_unencrypted_bad(fd, "NistP256", key, 32, "p256 scalar >= n");
    import_unencrypted_bad(fd, "Bls", key, 32, "bls scalar >= r");

    /* blobs that are not dev-sealed */
    static const uint8_t mock_blob_req[] = {0xa1, 0x66, 'I', 'm', 'p', 'o', 'r', 't', 0x44, 'a', 'b', 'c', 'd'};
    expect_err_body(fd, mock_blob_req, sizeof mock_blob_req, "foreign blob", "encryption error: dev seal");

    /* spec §1.2: bytes after the first item are ignored */
    static const uint8_t trailing[] = {0xa1, 0x69, 'P', 'u', 'b', 'l', 'i', 'c', 'K', 'e', 'y', 0x00, 0xff, 0x1c};
    expect_err_body(fd, trailing, sizeof trailing, "trailing bytes", "invalid handle");
    close(fd);
}

/* The connection-level cases: each on its own connection. */
static void bad_frames(void)
{
    uint8_t *rep = NULL;
    size_t n;

    /* EOF inside the 4 length bytes: a clean close, the server lives on */
    int fd = ve_connect(&dev);
    CHECK(fd >= 0 && ve_send_raw(fd, "\x00\x00", 2) == 0);
    close(fd);

    /* a frame that stalls inside its header is dropped after --frame-timeout, without a reply */
    fd = ve_connect(&dev);
    CHECK(fd >= 0 && ve_send_raw(fd, "\x00\x00", 2) == 0);
    CHECK_MSG(ve_recv(fd, &rep, &n) == 1, "stalled header: want the server to close");
    close(fd);

    /* EOF inside the body: dropped without a reply */
    fd = ve_connect(&dev);
    CHECK(fd >= 0 && ve_send_raw(fd, "\x00\x00\x00\x0a\xa1\x69P", 7) == 0);
    shutdown(fd, SHUT_WR);
    CHECK_MSG(ve_recv(fd, &rep, &n) == 1, "EOF in body: want a close without reply");
    close(fd);

    /* N over the cap: `frame too large`, then the server closes (spec §19 W1) */
    fd = ve_connect(&dev);
    CHECK(fd >= 0 && ve_send_raw(fd, "\x00\x20\x00\x01", 4) == 0);
    struct vg_rpc_reply r;
    CHECK(ve_recv(fd, &rep, &n) == 0 && vg_rpc_reply_decode(VG_RPC_SIGN, rep, n, &r, NULL) == 0 &&
          err_is(&r, "frame too large", NULL));
    free(rep);
    rep = NULL;
    CHECK_MSG(ve_recv(fd, &rep, &n) == 1, "over-cap frame: want a close after the Err");
    close(fd);

    CHECK_MSG(ve_alive(&dev), "vigil-enclave died on bad frames");
    struct vg_rpc_client *c = connect_init(dev.addr);
    vg_rpc_client_free(c);
}

/* ---- the client library's failure rules ---- */

static void client_rules(void)
{
    struct vg_rpc_client *c = connect_init(dev.addr);
    if (c == NULL)
        return;
    struct vg_rpc_request req = {.call = VG_RPC_PUBLIC_KEY, .handle = 5};
    struct vg_rpc_reply rep;
    vg_err err = {0};
    CHECK(vg_rpc_client_call(c, &req, &rep, &err) < 0 && rep.err_depth == 2 && err.kind == VG_E_INTERNAL &&
          strstr(err.msg, "signer error: invalid handle") != NULL);
    CHECK(!vg_rpc_client_is_broken(c)); /* an Err reply does not end the connection */
    /* a request bigger than the server's cap: this client refuses to send it ... */
    size_t big_len = VG_RPC_FRAME_MAX_DEFAULT + 1;
    uint8_t *big = calloc(1, big_len);
    req = (struct vg_rpc_request){.call = VG_RPC_SIGN, .handle = 0, .message = big, .message_len = big_len, .version = 2};
    CHECK(vg_rpc_client_call(c, &req, &rep, &err) < 0 && rep.err_depth == 0 && !vg_rpc_client_is_broken(c));
    /* ... one configured for larger frames sends it; the server answers and closes, and the client
     * then refuses further calls instead of reading stale bytes */
    struct vg_rpc_client_opts opts = {.frame_max = 2 * VG_RPC_FRAME_MAX_DEFAULT};
    struct vg_rpc_client *wide = NULL;
    struct vg_rpc_request init = {.call = VG_RPC_INITIALIZE};
    CHECK(vg_rpc_client_connect(dev.addr, &opts, &wide, &err) == 0 && call(wide, &init, &rep) == 0);
    int rc = vg_rpc_client_call(wide, &req, &rep, &err);
    CHECK(rc < 0 && err_is(&rep, "frame too large", NULL));
    req = (struct vg_rpc_request){.call = VG_RPC_PUBLIC_KEY, .handle = 0};
    rc = vg_rpc_client_call(wide, &req, &rep, &err);
    CHECK_MSG(rc < 0 && rep.err_depth == 0 && vg_rpc_client_is_broken(wide),
              "after the server closed, calls must fail fast (%s)", err.msg);
    vg_rpc_client_free(wide);
    free(big);
    vg_rpc_client_free(c);
}

/* ---- limits: frame cap, sessions, keys per session ---- */

static void limits(void)
{
    struct ve_server lim;
    static const char *const args[] = {"--seal", "mock", "--frame-max", "65536", "--max-sessions", "2",
                                       "--max-keys", "2", "--log", "error", NULL};
    if (ve_start(&lim, args) < 0) {
        CHECK_MSG(false, "cannot start the limits server");
        ve_stop(&lim);
        return;
    }
    /* ve_start's readiness probe holds a slot until the server has seen it close: retry */
    struct vg_rpc_client *a = connect_init_retry(lim.addr);
    struct vg_rpc_client *b = connect_init_retry(lim.addr);
    /* a third session is refused: the server closes it at once */
    int fd = ve_connect(&lim);
    uint8_t *rep = NULL;
    size_t n;
    static const uint8_t init[] = {0xa1, 0x6a, 'I', 'n', 'i', 't', 'i', 'a', 'l', 'i', 'z', 'e', 0xa0};
    CHECK_MSG(fd >= 0 && ve_exchange(fd, init, sizeof init, &rep, &n) != 0, "third session was served");
    free(rep);
    close(fd);

    /* keys per session */
    struct vg_rpc_request req = {.call = VG_RPC_GENERATE_AND_IMPORT, .key_type = VG_KEY_ED25519};
    struct vg_rpc_reply r;
    CHECK(a != NULL && call(a, &req, &r) == 0);
    vg_rpc_reply_clear(&r);
    CHECK(a != NULL && call(a, &req, &r) == 0);
    vg_rpc_reply_clear(&r);
    CHECK(a != NULL && call(a, &req, &r) == 1 && err_is(&r, "signer error", "keychain full"));
    vg_rpc_reply_clear(&r);

    /* a 64 KiB cap: a frame of exactly the cap is read (and answered), one byte more is refused */
    uint8_t *msg = calloc(1, 65536);
    req = (struct vg_rpc_request){.call = VG_RPC_SIGN, .handle = 0, .message = msg, .message_len = 65000, .version = 2};
    CHECK(a != NULL && call(a, &req, &r) == 0);
    vg_rpc_reply_clear(&r);
    /* closing b frees its slot once the server has seen the EOF: retry until then */
    vg_rpc_client_free(b);
    int served = -1;
    for (int tries = 0; tries < 100 && served != 0; tries++) {
        fd = ve_connect(&lim);
        served = fd >= 0 ? ve_exchange(fd, init, sizeof init, &rep, &n) : -1;
        free(rep);
        rep = NULL;
        if (served != 0) {
            close(fd);
            ve_sleep_ms(20);
        }
    }
    CHECK_MSG(served == 0, "a slot did not free up after a session closed");
    uint8_t *frame = calloc(1, 65537);
    CHECK(ve_send(fd, frame, 65536) == 0 && ve_recv(fd, &rep, &n) == 0); /* garbage at the cap: an Err */
    free(rep);
    rep = NULL;
    CHECK(ve_send(fd, frame, 65537) == 0 && ve_recv(fd, &rep, &n) == 0 &&
          vg_rpc_reply_decode(VG_RPC_SIGN, rep, n, &r, NULL) == 0 && err_is(&r, "frame too large", NULL));
    free(rep);
    close(fd);
    free(frame);
    free(msg);
    vg_rpc_client_free(a);
    CHECK(ve_alive(&lim));
    ve_stop(&lim);
}

/* ---- 32 concurrent sessions ---- */

#define SESSIONS 32

static int session_failures;
static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;

static void *session_thread(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    vg_key_type t = all_types[i % 4];
    int failures = 0;
    struct vg_rpc_client *c = NULL;
    vg_err err = {0};
    struct vg_rpc_request req = {.call = VG_RPC_INITIALIZE};
    struct vg_rpc_reply rep;
    memset(&rep, 0, sizeof rep);
    if (vg_rpc_client_connect(dev.addr, NULL, &c, &err) < 0 || vg_rpc_client_call(c, &req, &rep, &err) < 0) {
        failures++;
        goto out;
    }
    req = (struct vg_rpc_request){.call = VG_RPC_GENERATE_AND_IMPORT, .key_type = t};
    if (vg_rpc_client_call(c, &req, &rep, &err) < 0 || rep.handle != 0) { /* every session starts at 0 */
        failures++;
        goto out;
    }
    uint8_t pk[48];
    size_t pk_len = rep.public_key_len;
    memcpy(pk, rep.public_key, pk_len);
    vg_rpc_reply_clear(&rep); /* a call overwrites its reply without freeing it */
    for (int k = 0; k < 12; k++) {
        uint8_t msg[40];
        snprintf((char *)msg, sizeof msg, "session %zu message %d", i, k);
        size_t len = strlen((char *)msg);
        req = (struct vg_rpc_request){.call = VG_RPC_SIGN, .handle = 0, .message = msg, .message_len = len,
                                      .version = 2};
        if (vg_rpc_client_call(c, &req, &rep, &err) < 0 ||
            !vg_verify(t, pk, pk_len, msg, len, rep.signature, rep.signature_len, 2))
            failures++;
    }
out:
    if (failures > 0)
        fprintf(stderr, "  session %zu: %d failures (%s)\n", i, failures, err.msg);
    vg_rpc_reply_clear(&rep);
    vg_rpc_client_free(c);
    pthread_mutex_lock(&session_lock);
    session_failures += failures;
    pthread_mutex_unlock(&session_lock);
    return NULL;
}

static void concurrent_sessions(void)
{
    pthread_t t[SESSIONS];
    for (size_t i = 0; i < SESSIONS; i++)
        CHECK(pthread_create(&t[i], NULL, session_thread, (void *)(uintptr_t)i) == 0);
    for (size_t i = 0; i < SESSIONS; i++)
        pthread_join(t[i], NULL);
    CHECK_MSG(session_failures == 0, "%d failures across %d concurrent sessions", session_failures, SESSIONS);
}

/* ---- static binary, empty root ---- */

/* True when the ELF file has neither an interpreter nor a dynamic section. */
static bool elf_is_static(const char *path)
{
    size_t len;
    char *f = vt_read_file(path, &len);
    bool ok = false;
    if (f != NULL && len > sizeof(Elf64_Ehdr) && memcmp(f, ELFMAG, SELFMAG) == 0) {
        const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
        ok = eh->e_phoff + (size_t)eh->e_phnum * sizeof(Elf64_Phdr) <= len;
        for (size_t i = 0; ok && i < eh->e_phnum; i++) {
            const Elf64_Phdr *ph = (const Elf64_Phdr *)(f + eh->e_phoff + i * sizeof(Elf64_Phdr));
            if (ph->p_type == PT_INTERP || ph->p_type == PT_DYNAMIC)
                ok = false;
        }
    }
    free(f);
    return ok;
}

static int copy_file(const char *from, const char *to)
{
    size_t len;
    char *data = vt_read_file(from, &len);
    int fd = data != NULL ? open(to, O_WRONLY | O_CREAT | O_TRUNC, 0700) : -1;
    int rc = fd >= 0 && write(fd, data, len) == (ssize_t)len ? 0 : -1;
    if (fd >= 0)
        close(fd);
    free(data);
    return rc;
}

static void empty_root(void)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("sanitizer build: vigil-enclave is linked dynamically; static and chroot checks skipped\n");
    return;
#endif
    const char *bin = ve_binary();
    CHECK_MSG(bin != NULL && elf_is_static(bin), "vigil-enclave is not a static executable");
    if (geteuid() != 0) {
        printf("not root: chroot check skipped\n");
        return;
    }
    struct ve_server jail;
    memset(&jail, 0, sizeof jail);
    snprintf(jail.dir, sizeof jail.dir, "/tmp/vigil-enclave-test-XXXXXX");
    if (mkdtemp(jail.dir) == NULL) {
        CHECK(false);
        return;
    }
    char inside[200], log[200];
    snprintf(inside, sizeof inside, "%s/vigil-enclave", jail.dir);
    snprintf(log, sizeof log, "%s.log", jail.dir);
    snprintf(jail.sock, sizeof jail.sock, "%s/rpc.sock", jail.dir);
    snprintf(jail.addr, sizeof jail.addr, "unix:%s", jail.sock);
    CHECK(copy_file(bin, inside) == 0);
    jail.pid = fork();
    if (jail.pid == 0) {
        ve_child_setup(log);
        if (chroot(jail.dir) != 0 || chdir("/") != 0)
            _exit(126);
        char *argv[] = {"/vigil-enclave", "--listen", "unix:/rpc.sock", "--seal", "mock", "--log", "warn", NULL};
        char *envp[] = {NULL};
        execve("/vigil-enclave", argv, envp);
        _exit(127);
    }
    if (jail.pid < 0 || ve_wait_ready(&jail) < 0) {
        CHECK_MSG(false, "vigil-enclave did not start in an empty chroot (log %s)", log);
        ve_stop(&jail);
        return;
    }
    /* a full round of calls, including key generation (randomness without /dev) */
    struct vg_rpc_client *c = connect_init(jail.addr);
    for (size_t i = 0; c != NULL && i < 4; i++) {
        struct vg_rpc_request req = {.call = VG_RPC_GENERATE_AND_IMPORT, .key_type = all_types[i]};
        struct vg_rpc_reply rep;
        if (call(c, &req, &rep) != 0) {
            CHECK_MSG(false, "chroot: GenerateAndImport %s", vg_key_type_name(all_types[i]));
            continue;
        }
        sign_and_verify(c, all_types[i], rep.handle, rep.public_key, rep.public_key_len, (const uint8_t *)"jail",
                        4, 2, "chroot");
        vg_rpc_reply_clear(&rep);
    }
    vg_rpc_client_free(c);
    CHECK_MSG(ve_alive(&jail), "vigil-enclave died in the chroot");
    ve_stop(&jail);
    unlink(log);
}

/* ---- independent verification with @noble/curves ---- */

static void noble_verify(void)
{
    if (noble_lines == NULL)
        return;
    fclose(noble_lines);
    noble_lines = NULL;
    char script[512], cmd[1024];
    snprintf(script, sizeof script, "%s", __FILE__);
    char *slash = strrchr(script, '/');
    if (slash == NULL)
        return;
    snprintf(slash + 1, sizeof script - (size_t)(slash + 1 - script), "rpc_noble_verify.mjs");
    char noble[600];
    snprintf(noble, sizeof noble, "%.*s/../integration/node_modules/@noble/curves/package.json", (int)(slash - script),
             script);
    if (system("node --version >/dev/null 2>&1") != 0 || access(noble, R_OK) != 0) {
        printf("node or @noble/curves not installed: independent verification skipped\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "node '%s' '%s'", script, noble_path);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "@noble/curves rejected signatures (see above)");
}

int main(void)
{
    vt_init();
    signal(SIGPIPE, SIG_IGN);
    if (ve_binary() == NULL) {
        printf("skipped: vigil-enclave not built\n");
        return 77;
    }
    static const char *const args[] = {"--seal", "dev", "--dev-seal-key", "@DIR@/seal.key", "--frame-timeout", "400",
                                       "--log", "warn", NULL};
    if (ve_start(&dev, args) < 0) {
        CHECK_MSG(false, "cannot start vigil-enclave");
        ve_stop(&dev);
        return vt_done("test_enclave");
    }
    char keyfile[200];
    struct stat st;
    snprintf(keyfile, sizeof keyfile, "%s/seal.key", dev.dir);
    CHECK_MSG(stat(keyfile, &st) == 0 && st.st_size == 32 && (st.st_mode & 0777) == 0600,
              "dev seal key file not created 0600 with 32 bytes");
    snprintf(noble_path, sizeof noble_path, "%s/noble.txt", dev.dir);
    noble_lines = fopen(noble_path, "w");

    every_call();
    bad_requests();
    bad_frames();
    client_rules();
    concurrent_sessions();
    CHECK_MSG(ve_alive(&dev), "vigil-enclave died");
    noble_verify();
    ve_stop(&dev);
    limits();
    empty_root();
    return vt_done("test_enclave");
}
