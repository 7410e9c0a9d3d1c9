/* Base58 / base58check and the Tezos encodings: known answers, agreement with a naive reference
 * encoder, every prefix, the Octez key vectors in both directions, and rejection of bad input. */
#include "testlib.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>

#include "common/hex.h"
#include "common/secmem.h"
#include "crypto/key.h"
#include "crypto/key_impl.h"
#include "tezos/base58.h"
#include "tezos/encoding.h"

static const char ALPHABET[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* The textbook byte-at-a-time encoder, as an independent reference for the limb-based one. */
static void naive_encode(const uint8_t *in, size_t len, char *out)
{
    uint8_t digits[256] = {0};
    size_t ndigits = 0, zeros = 0;
    while (zeros < len && in[zeros] == 0)
        zeros++;
    for (size_t i = zeros; i < len; i++) {
        unsigned carry = in[i];
        for (size_t j = 0; j < ndigits; j++) {
            carry += (unsigned)digits[j] << 8;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry > 0) {
            digits[ndigits++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < zeros; i++)
        out[n++] = '1';
    for (size_t i = 0; i < ndigits; i++)
        out[n++] = ALPHABET[digits[ndigits - 1 - i]];
    out[n] = '\0';
}

static bool hex_eq(const uint8_t *b, size_t len, const char *hex)
{
    char buf[2 * 128 + 1];
    if (len > 128)
        return false;
    vg_hex_encode(b, len, buf);
    return strcmp(buf, hex) == 0;
}

/* ---------------- raw base58 ---------------- */

static void test_base58_known_answers(void)
{
    /* Bitcoin Core's base58_encode_decode.json. */
    static const struct {
        const char *hex, *b58;
    } cases[] = {
        {"", ""},
        {"61", "2g"},
        {"626262", "a3gV"},
        {"636363", "aPEr"},
        {"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
        {"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
        {"516b6fcd0f", "ABnLTmg"},
        {"bf4f89001e670274dd", "3SEo3LWLoPntC"},
        {"572e4794", "3EFU7m"},
        {"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
        {"10c8511e", "Rt5zm"},
        {"00000000000000000000", "1111111111"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 0;
        uint8_t *bin = strlen(cases[i].hex) > 0 ? vt_unhex(cases[i].hex, &len) : NULL;
        char out[VG_BASE58_CHARS_MAX + 1];
        size_t n = vg_base58_encode(bin, len, out, sizeof out);
        CHECK(n == strlen(cases[i].b58));
        CHECK_STR(out, cases[i].b58);
        uint8_t back[VG_BASE58_BYTES_MAX];
        size_t blen = 99;
        CHECK(vg_base58_decode(cases[i].b58, strlen(cases[i].b58), back, sizeof back, &blen) == 0);
        CHECK(blen == len && (len == 0 || memcmp(back, bin, len) == 0));
        free(bin);
    }
}

static void test_base58_matches_reference(void)
{
    uint8_t in[VG_BASE58_BYTES_MAX];
    char ours[VG_BASE58_CHARS_MAX + 1], ref[VG_BASE58_CHARS_MAX + 1];
    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)randombytes_uniform(VG_BASE58_BYTES_MAX + 1);
        randombytes_buf(in, len);
        size_t zeros = len > 0 ? (size_t)randombytes_uniform(4) : 0;
        for (size_t i = 0; i < zeros && i < len; i++)
            in[i] = 0;
        if (round % 7 == 0) /* long runs of 0xff and 0x00 stress the carries */
            memset(in + len / 2, round % 2 ? 0xff : 0x00, len - len / 2);
        naive_encode(in, len, ref);
        size_t n = vg_base58_encode(in, len, ours, sizeof ours);
        CHECK_MSG(n == strlen(ref) && strcmp(ours, ref) == 0, "len %zu: %s vs %s", len, ours, ref);
        uint8_t back[VG_BASE58_BYTES_MAX];
        size_t blen = 0;
        CHECK(vg_base58_decode(ours, n, back, sizeof back, &blen) == 0);
        CHECK(blen == len && memcmp(back, in, len) == 0);
    }
    /* Limits: the largest input fits exactly; output buffers that are too small are refused. */
    memset(in, 0xff, sizeof in);
    size_t n = vg_base58_encode(in, VG_BASE58_BYTES_MAX, ours, sizeof ours);
    CHECK(n > 0 && n <= VG_BASE58_CHARS_MAX);
    CHECK(vg_base58_encode(in, VG_BASE58_BYTES_MAX + 1, ours, sizeof ours) == 0);
    CHECK(vg_base58_encode(in, 10, ours, 5) == 0);
    uint8_t small[4];
    size_t blen;
    CHECK(vg_base58_decode("2cFupjhnEsSn59qHXstmK2ffpLv2", 28, small, sizeof small, &blen) == -1);
}

static void test_base58_rejects_bad_characters(void)
{
    static const char *bad[] = {"0", "O", "I", "l", "abc def", "abc+", "2g\n", "\x80\x81", "tz1-"};
    uint8_t out[64];
    size_t n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(vg_base58_decode(bad[i], strlen(bad[i]), out, sizeof out, &n) == -1, "accepted %s", bad[i]);
    /* Every character outside the alphabet is refused, every one inside accepted. */
    for (int c = 1; c < 256; c++) {
        char s[2] = {(char)c, 0};
        bool in_alphabet = strchr(ALPHABET, c) != NULL;
        CHECK_MSG((vg_base58_decode(s, 1, out, sizeof out, &n) == 0) == in_alphabet, "char %d", c);
    }
    char longs[VG_BASE58_CHARS_MAX + 2];
    memset(longs, '2', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    vg_err err = {0};
    CHECK(vg_base58_check_decode(longs, out, sizeof out, &n, &err) == -1 && err.kind == VG_E_INVALID);
}

/* ---------------- Tezos kinds ---------------- */

static const struct {
    vg_b58_kind kind;
    const char *text;
    size_t payload_len, b58_len;
} KIND_SHAPES[] = {
    {VG_B58_TZ1, "tz1", 20, 36},        {VG_B58_TZ2, "tz2", 20, 36},         {VG_B58_TZ3, "tz3", 20, 36},
    {VG_B58_TZ4, "tz4", 20, 36},        {VG_B58_EDPK, "edpk", 32, 54},       {VG_B58_SPPK, "sppk", 33, 55},
    {VG_B58_P2PK, "p2pk", 33, 55},      {VG_B58_BLPK, "BLpk", 48, 76},       {VG_B58_EDSK, "edsk", 32, 54},
    {VG_B58_EDSK64, "edsk", 64, 98},    {VG_B58_SPSK, "spsk", 32, 54},       {VG_B58_P2SK, "p2sk", 32, 54},
    {VG_B58_BLSK, "BLsk", 32, 54},      {VG_B58_EDESK, "edesk", 56, 88},     {VG_B58_SPESK, "spesk", 56, 88},
    {VG_B58_P2ESK, "p2esk", 56, 88},    {VG_B58_BLESK, "BLesk", 56, 88},     {VG_B58_EDSIG, "edsig", 64, 99},
    {VG_B58_SPSIG, "spsig1", 64, 99},   {VG_B58_P2SIG, "p2sig", 64, 98},     {VG_B58_BLSIG, "BLsig", 96, 142},
    {VG_B58_SIG, "sig", 64, 96},        {VG_B58_CHAIN_ID, "Net", 4, 15},     {VG_B58_BLOCK_HASH, "B", 32, 51},
    {VG_B58_VALUE_HASH, "vh", 32, 52},
};
#define KIND_SHAPES_COUNT (sizeof KIND_SHAPES / sizeof KIND_SHAPES[0])

static void test_every_kind(void)
{
    CHECK(KIND_SHAPES_COUNT == VG_B58_KIND_COUNT);
    uint8_t payload[96], back[96];
    char s[VG_B58_MAX];
    for (size_t i = 0; i < KIND_SHAPES_COUNT; i++) {
        size_t plen = KIND_SHAPES[i].payload_len;
        for (int fill = 0; fill < 3; fill++) {
            if (fill == 2)
                randombytes_buf(payload, plen);
            else
                memset(payload, fill ? 0xff : 0x00, plen);
            size_t n = vg_b58check_encode(KIND_SHAPES[i].kind, payload, plen, s);
            CHECK_MSG(n == KIND_SHAPES[i].b58_len && strlen(s) == n, "%s: %zu chars", KIND_SHAPES[i].text, n);
            CHECK_MSG(strncmp(s, KIND_SHAPES[i].text, strlen(KIND_SHAPES[i].text)) == 0, "%s vs %s", s,
                      KIND_SHAPES[i].text);
            /* Prefix and length identify the kind uniquely. */
            vg_b58_kind kind = VG_B58_KIND_COUNT;
            size_t len = 0;
            vg_err err = {0};
            CHECK_MSG(vg_b58check_decode_any(s, &kind, back, sizeof back, &len, &err) == 0, "%s", err.msg);
            CHECK(kind == KIND_SHAPES[i].kind && len == plen && memcmp(back, payload, plen) == 0);
            CHECK(vg_b58check_decode(KIND_SHAPES[i].kind, s, back, sizeof back, &len, &err) == 0 && len == plen);
        }
        /* Wrong payload lengths are not encoded. */
        CHECK(vg_b58check_encode(KIND_SHAPES[i].kind, payload, plen - 1, s) == 0 && s[0] == '\0');
    }
    CHECK(vg_b58check_encode(VG_B58_KIND_COUNT, payload, 20, s) == 0);
}

static void test_known_tezos_strings(void)
{
    /* spec: shared/specs/signatory.md#11 "Unit tests use edsk4FTF78Qf1m... -> edpkv45regue... -> tz1LggX2..." */
    vg_key *k = NULL;
    vg_err err = {0};
    char s[VG_B58_MAX];
    CHECK_MSG(vg_secret_key_parse("edsk4FTF78Qf1m2rykGpHqostAiq5gYW4YZEoGUSWBTJr2njsDHSnd", &k, &err) == 0, "%s",
              err.msg);
    if (k != NULL) {
        size_t pklen;
        const uint8_t *pk = vg_key_public(k, &pklen);
        vg_pubkey_format(VG_KEY_ED25519, pk, pklen, s);
        CHECK_STR(s, "edpkv45regue1bWtuHnCgLU8xWKLwa9qRqv4gimgJKro4LSc3C5VjV");
        vg_pkh pkh;
        vg_pkh_from_pubkey(VG_KEY_ED25519, pk, pklen, &pkh);
        CHECK(vg_pkh_format(&pkh, s) == 36);
        CHECK_STR(s, "tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q");
        CHECK(vg_secret_key_format(k, s) == 54);
        CHECK_STR(s, "edsk4FTF78Qf1m2rykGpHqostAiq5gYW4YZEoGUSWBTJr2njsDHSnd");
        vg_key_free(k);
    }
    uint8_t chain[4];
    size_t len;
    CHECK(vg_b58check_decode(VG_B58_CHAIN_ID, "NetXdQprcVkpaWU", chain, sizeof chain, &len, &err) == 0);
    CHECK(len == 4 && hex_eq(chain, 4, "7a06a770"));
    CHECK(vg_b58check_encode(VG_B58_CHAIN_ID, chain, 4, s) == 15);
    CHECK_STR(s, "NetXdQprcVkpaWU");

    vg_key_type t;
    uint8_t pk[VG_PUBKEY_MAX];
    CHECK(vg_pubkey_parse("edpkv45regue1bWtuHnCgLU8xWKLwa9qRqv4gimgJKro4LSc3C5VjV", &t, pk, &len, &err) == 0);
    CHECK(t == VG_KEY_ED25519 && len == 32);
    vg_pkh pkh;
    CHECK(vg_pkh_parse("tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q", &pkh, &err) == 0 && pkh.type == VG_KEY_ED25519);
    vg_pkh derived;
    vg_pkh_from_pubkey(t, pk, len, &derived);
    CHECK(memcmp(derived.hash, pkh.hash, 20) == 0);
}

static void expect_error(int rc, const vg_err *err, const char *needle)
{
    CHECK(rc == -1);
    CHECK_MSG(err->kind == VG_E_INVALID, "kind %d: %s", (int)err->kind, err->msg);
    CHECK_MSG(strstr(err->msg, needle) != NULL, "'%s' lacks '%s'", err->msg, needle);
}

static void test_decode_errors(void)
{
    vg_pkh pkh;
    vg_err err = {0};
    const char *good = "tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q";
    char s[64];

    strcpy(s, good);
    s[20] = s[20] == 'a' ? 'b' : 'a';
    expect_error(vg_pkh_parse(s, &pkh, &err), &err, "base58check: invalid checksum");
    strcpy(s, good);
    s[35] = s[35] == 'P' ? 'R' : 'P';
    expect_error(vg_pkh_parse(s, &pkh, &err), &err, "base58check: invalid checksum");
    expect_error(vg_pkh_parse("tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2", &pkh, &err), &err, "base58check");
    expect_error(vg_pkh_parse("tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2O", &pkh, &err), &err, "base58check");
    expect_error(vg_pkh_parse("", &pkh, &err), &err, "base58check");
    expect_error(vg_pkh_parse("1", &pkh, &err), &err, "base58check");
    expect_error(vg_pkh_parse(NULL, &pkh, &err), &err, "base58check");
    expect_error(vg_pkh_parse("edpkv45regue1bWtuHnCgLU8xWKLwa9qRqv4gimgJKro4LSc3C5VjV", &pkh, &err), &err,
                 "unexpected prefix: want tz1/tz2/tz3/tz4");
    expect_error(vg_pkh_parse("NetXdQprcVkpaWU", &pkh, &err), &err, "unexpected prefix: want tz1/tz2/tz3/tz4");

    /* A tz1 prefix followed by 21 bytes. */
    uint8_t raw[3 + 21] = {0x06, 0xa1, 0x9f};
    char enc[VG_B58_MAX];
    CHECK(vg_base58_check_encode(raw, sizeof raw, enc, sizeof enc) > 0);
    expect_error(vg_pkh_parse(enc, &pkh, &err), &err, "wrong payload length");
    uint8_t out[64];
    size_t len;
    expect_error(vg_b58check_decode(VG_B58_TZ1, enc, out, sizeof out, &len, &err), &err, "wrong payload length");
    expect_error(vg_b58check_decode(VG_B58_EDPK, good, out, sizeof out, &len, &err), &err,
                 "unexpected prefix: want edpk");

    vg_key_type t;
    uint8_t pk[VG_PUBKEY_MAX];
    expect_error(vg_pubkey_parse(good, &t, pk, &len, &err), &err, "unexpected prefix: want edpk/sppk/p2pk/BLpk");
    vg_key *k = NULL;
    expect_error(vg_secret_key_parse(good, &k, &err), &err, "unexpected prefix: want edsk/spsk/p2sk/BLsk");
    CHECK(k == NULL);
    const uint8_t unknown[] = {0x01, 0x02, 0x03};
    CHECK(vg_base58_check_encode(unknown, sizeof unknown, enc, sizeof enc) > 0);
    expect_error(vg_b58check_decode_any(enc, NULL, out, sizeof out, &len, &err), &err, "unexpected prefix");
}

/* Every single-character change, truncation and extension of valid strings fails cleanly. */
static void test_mutations(void)
{
    static const char *valid[] = {
        "tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q",
        "edsk4FTF78Qf1m2rykGpHqostAiq5gYW4YZEoGUSWBTJr2njsDHSnd",
        "edpkv45regue1bWtuHnCgLU8xWKLwa9qRqv4gimgJKro4LSc3C5VjV",
        "NetXdQprcVkpaWU",
    };
    static const char subst[] = "1zZ0l+";
    size_t accepted = 0;
    for (size_t v = 0; v < sizeof valid / sizeof valid[0]; v++) {
        size_t n = strlen(valid[v]);
        char s[VG_B58_MAX + 2];
        for (size_t i = 0; i <= n; i++) {
            for (size_t c = 0; c < sizeof subst - 1; c++) {
                strcpy(s, valid[v]);
                s[i] = subst[c];
                if (i == n)
                    s[i + 1] = '\0';
                uint8_t out[96];
                size_t len;
                vg_b58_kind kind;
                vg_err err = {VG_E_NONE, ""};
                int rc = vg_b58check_decode_any(s, &kind, out, sizeof out, &len, &err);
                if (rc == 0)
                    accepted += strcmp(s, valid[v]) != 0;
                else
                    CHECK_MSG(err.kind == VG_E_INVALID, "%s: %s", s, err.msg);
                vg_key *k = NULL;
                if (vg_secret_key_parse(s, &k, &err) == 0)
                    accepted += strcmp(s, valid[v]) != 0;
                vg_key_free(k);
            }
            strcpy(s, valid[v]);
            s[i] = '\0';
            vg_err err = {VG_E_NONE, ""};
            vg_pkh pkh;
            if (i < n)
                CHECK(vg_pkh_parse(s, &pkh, &err) == -1 && err.kind == VG_E_INVALID);
        }
    }
    CHECK_MSG(accepted == 0, "%zu mutants accepted", accepted);
}

static void test_secret_keys(void)
{
    vg_err err = {0};
    char s[VG_B58_MAX];
    /* Encrypted forms are refused, with a message that says what to do. */
    static const vg_b58_kind encrypted[] = {VG_B58_EDESK, VG_B58_SPESK, VG_B58_P2ESK, VG_B58_BLESK};
    for (size_t i = 0; i < 4; i++) {
        uint8_t payload[56];
        randombytes_buf(payload, sizeof payload);
        CHECK(vg_b58check_encode(encrypted[i], payload, sizeof payload, s) == 88);
        vg_key *k = (vg_key *)&k;
        expect_error(vg_secret_key_parse(s, &k, &err), &err,
                     "encrypted secret keys are not supported: decrypt it first (");
        CHECK(k == NULL);
    }

    /* The 64-byte edsk form: seed || public key; a mismatched public half is refused. */
    vg_key *ed = NULL, *back = NULL;
    CHECK(vg_key_generate(VG_KEY_ED25519, &ed, &err) == 0);
    if (ed != NULL) {
        uint8_t *payload = vg_secure_alloc(64);
        vg_key_secret(ed, payload);
        memcpy(payload + 32, vg_key_public(ed, NULL), 32);
        CHECK(vg_b58check_encode(VG_B58_EDSK64, payload, 64, s) == 98);
        CHECK(vg_secret_key_parse(s, &back, &err) == 0);
        CHECK(back != NULL && memcmp(vg_key_public(back, NULL), vg_key_public(ed, NULL), 32) == 0);
        vg_key_free(back);
        back = NULL;
        payload[40] ^= 1;
        vg_b58check_encode(VG_B58_EDSK64, payload, 64, s);
        expect_error(vg_secret_key_parse(s, &back, &err), &err, "does not match");
        vg_secure_free(payload);
        vg_key_free(ed);
    }

    /* Round trips for every type; BLsk holds the scalar little-endian. */
    static const vg_key_type types[] = {VG_KEY_ED25519, VG_KEY_SECP256K1, VG_KEY_P256, VG_KEY_BLS};
    static const char *texts[] = {"edsk", "spsk", "p2sk", "BLsk"};
    for (size_t i = 0; i < 4; i++) {
        vg_key *k = NULL;
        back = NULL;
        CHECK(vg_key_generate(types[i], &k, &err) == 0);
        if (k == NULL)
            continue;
        CHECK(vg_secret_key_format(k, s) == 54 && strncmp(s, texts[i], 4) == 0);
        CHECK_MSG(vg_secret_key_parse(s, &back, &err) == 0, "%s", err.msg);
        CHECK(back != NULL && vg_key_get_type(back) == types[i] &&
              memcmp(vg_key_public(back, NULL), vg_key_public(k, NULL), vg_pubkey_len(types[i])) == 0);
        if (types[i] == VG_KEY_BLS) {
            uint8_t be[32], le[32];
            size_t len;
            vg_key_secret(k, be);
            CHECK(vg_b58check_decode(VG_B58_BLSK, s, le, sizeof le, &len, &err) == 0);
            for (size_t j = 0; j < 32; j++)
                CHECK(le[j] == be[31 - j]);
            vg_wipe(be, sizeof be);
            vg_wipe(le, sizeof le);
        }
        vg_key_free(back);
        vg_key_free(k);
    }

    /* Out-of-range scalars in valid base58check are refused by the key layer. */
    uint8_t zero[32] = {0};
    vg_b58check_encode(VG_B58_P2SK, zero, 32, s);
    vg_key *k = NULL;
    expect_error(vg_secret_key_parse(s, &k, &err), &err, "p256 secret key");
    vg_b58check_encode(VG_B58_BLSK, zero, 32, s);
    expect_error(vg_secret_key_parse(s, &k, &err), &err, "bls secret key");
}

/* ---------------- shared vectors ---------------- */

static json_t *load_json(const char *rel)
{
    char path[512];
    json_error_t jerr;
    if (vt_vector_path(rel, path, sizeof path) == NULL)
        return NULL;
    json_t *j = json_load_file(path, 0, &jerr);
    CHECK_MSG(j != NULL, "%s: %s", rel, jerr.text);
    return j;
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    CHECK_MSG(s != NULL, "missing string %s", key);
    return s != NULL ? s : "";
}

static void test_octez_prefix_table(void)
{
    static const struct {
        const char *name;
        vg_b58_kind kind;
    } names[] = {
        {"ed25519_public_key_hash", VG_B58_TZ1},
        {"secp256k1_public_key_hash", VG_B58_TZ2},
        {"p256_public_key_hash", VG_B58_TZ3},
        {"bls12_381_public_key_hash", VG_B58_TZ4},
        {"ed25519_public_key", VG_B58_EDPK},
        {"secp256k1_public_key", VG_B58_SPPK},
        {"p256_public_key", VG_B58_P2PK},
        {"bls12_381_public_key", VG_B58_BLPK},
        {"ed25519_seed", VG_B58_EDSK},
        {"ed25519_secret_key", VG_B58_EDSK64},
        {"secp256k1_secret_key", VG_B58_SPSK},
        {"p256_secret_key", VG_B58_P2SK},
        {"bls12_381_secret_key", VG_B58_BLSK},
        {"ed25519_encrypted_seed", VG_B58_EDESK},
        {"secp256k1_encrypted_secret_key", VG_B58_SPESK},
        {"p256_encrypted_secret_key", VG_B58_P2ESK},
        {"bls12_381_encrypted_secret_key", VG_B58_BLESK},
        {"ed25519_signature", VG_B58_EDSIG},
        {"secp256k1_signature", VG_B58_SPSIG},
        {"p256_signature", VG_B58_P2SIG},
        {"bls12_381_signature", VG_B58_BLSIG},
        {"generic_signature", VG_B58_SIG},
        {"chain_id", VG_B58_CHAIN_ID},
        {"block_hash", VG_B58_BLOCK_HASH},
    };
    json_t *doc = load_json("tezos/base58_prefixes_octez.json");
    if (doc == NULL)
        return;
    size_t matched = 0;
    for (size_t i = 0; i < json_array_size(doc); i++) {
        json_t *e = json_array_get(doc, i);
        for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
            if (strcmp(jstr(e, "name"), names[j].name) != 0)
                continue;
            matched++;
            size_t plen = (size_t)json_integer_value(json_object_get(e, "payload_len"));
            uint8_t payload[96] = {0};
            char s[VG_B58_MAX];
            size_t n = vg_b58check_encode(names[j].kind, payload, plen, s);
            CHECK_MSG(n == (size_t)json_integer_value(json_object_get(e, "b58_len")), "%s", names[j].name);
            const char *text = jstr(e, "b58_prefix");
            CHECK_MSG(strncmp(s, text, strlen(text)) == 0, "%s: %s", names[j].name, s);
            /* Exact prefix bytes: decode the raw base58check. */
            uint8_t raw[VG_BASE58_BYTES_MAX];
            size_t rawlen;
            vg_err err;
            CHECK(vg_base58_check_decode(s, raw, sizeof raw, &rawlen, &err) == 0);
            const char *phex = jstr(e, "prefix_hex");
            size_t prefix_len = strlen(phex) / 2;
            CHECK_MSG(rawlen == prefix_len + plen && hex_eq(raw, prefix_len, phex), "%s prefix", names[j].name);
        }
    }
    CHECK(matched == sizeof names / sizeof names[0]);
    json_decref(doc);
}

static const struct {
    const char *pkhs, *encodings;
    vg_key_type type;
} ALGOS[] = {
    {"ed25519_pkhs", "ed25519_key_encodings", VG_KEY_ED25519},
    {"secp256k1_pkhs", "secp256k1_key_encodings", VG_KEY_SECP256K1},
    {"p256_pkhs", "p256_key_encodings", VG_KEY_P256},
    {"bls12_381_pkhs", "bls12_381_key_encodings", VG_KEY_BLS},
};

/* seed_hex is the raw secret for Ed25519/ECDSA and the KeyGen IKM for BLS. */
static vg_key *key_from_seed(vg_key_type t, const char *seed_hex)
{
    size_t len = 0;
    uint8_t *seed = vt_unhex(seed_hex, &len);
    vg_key *k = NULL;
    vg_err err = {0};
    if (seed != NULL) {
        int rc = t == VG_KEY_BLS ? vg_bls_key_from_ikm(seed, len, &k, &err)
                                 : vg_key_from_secret(t, seed, len, &k, &err);
        CHECK_MSG(rc == 0, "%s: %s", vg_key_type_name(t), err.msg);
        vg_wipe(seed, len);
    }
    free(seed);
    return k;
}

static void check_encoding_vector(vg_key_type t, json_t *v)
{
    const char *sk = jstr(v, "sk"), *pk_s = jstr(v, "pk"), *pkh_s = jstr(v, "pkh");
    char s[VG_B58_MAX];
    vg_err err = {0};
    vg_key *k = NULL;
    CHECK_MSG(vg_secret_key_parse(sk, &k, &err) == 0, "%s", err.msg);
    vg_key *seeded = key_from_seed(t, jstr(v, "seed_hex"));
    if (k == NULL || seeded == NULL)
        goto out;
    CHECK(vg_key_get_type(k) == t);
    size_t pklen;
    const uint8_t *pk = vg_key_public(k, &pklen);
    CHECK(memcmp(pk, vg_key_public(seeded, NULL), pklen) == 0);
    /* secret -> pk, pkh, and back to the same secret string */
    vg_pubkey_format(t, pk, pklen, s);
    CHECK_STR(s, pk_s);
    vg_pkh pkh;
    vg_pkh_from_pubkey(t, pk, pklen, &pkh);
    vg_pkh_format(&pkh, s);
    CHECK_STR(s, pkh_s);
    vg_secret_key_format(seeded, s);
    CHECK_STR(s, sk);
    vg_wipe(s, sizeof s);
    /* pk string -> pkh; pkh string round trip */
    vg_key_type pt;
    uint8_t pkb[VG_PUBKEY_MAX];
    size_t pkb_len;
    CHECK(vg_pubkey_parse(pk_s, &pt, pkb, &pkb_len, &err) == 0 && pt == t && pkb_len == pklen);
    vg_pkh parsed;
    CHECK(vg_pkh_parse(pkh_s, &parsed, &err) == 0 && parsed.type == t);
    CHECK(memcmp(parsed.hash, pkh.hash, 20) == 0);
out:
    vg_key_free(k);
    vg_key_free(seeded);
}

static void test_octez_key_vectors(void)
{
    json_t *doc = load_json("tezos/key_encoding_vectors.json");
    if (doc == NULL)
        return;
    for (size_t a = 0; a < sizeof ALGOS / sizeof ALGOS[0]; a++) {
        json_t *pkhs = json_object_get(doc, ALGOS[a].pkhs);
        json_t *encs = json_object_get(doc, ALGOS[a].encodings);
        CHECK(json_array_size(pkhs) == 100 && json_array_size(encs) == 100);
        for (size_t i = 0; i < json_array_size(pkhs); i++) {
            json_t *v = json_array_get(pkhs, i);
            vg_pkh pkh;
            vg_err err = {0};
            char s[VG_B58_MAX];
            CHECK_MSG(vg_pkh_parse(jstr(v, "pkh"), &pkh, &err) == 0, "%s", err.msg);
            CHECK(pkh.type == ALGOS[a].type && hex_eq(pkh.hash, 20, jstr(v, "pkh_hex")));
            vg_pkh_format(&pkh, s);
            CHECK_STR(s, jstr(v, "pkh"));
        }
        for (size_t i = 0; i < json_array_size(encs); i++)
            check_encoding_vector(ALGOS[a].type, json_array_get(encs, i));
    }
    json_decref(doc);
}

int main(void)
{
    vt_init();
    test_base58_known_answers();
    test_base58_matches_reference();
    test_base58_rejects_bad_characters();
    test_every_kind();
    test_known_tezos_strings();
    test_decode_errors();
    test_mutations();
    test_secret_keys();

    char probe[512];
    if (vt_vector_path("tezos", probe, sizeof probe) == NULL) {
        if (vt_failures == 0)
            vt_require_shared(); /* exits 77: the offline part passed, the vectors are missing */
        return vt_done("test_encoding");
    }
    test_octez_prefix_table();
    test_octez_key_vectors();
    return vt_done("test_encoding");
}
