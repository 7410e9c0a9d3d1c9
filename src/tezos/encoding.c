/* Tezos base58check kinds: prefix table, and the key/hash/signature forms built on it.
 * spec: shared/specs/signatory.md#10.6; bytes and payload lengths checked against Octez's Prefix module
 * (shared/vectors/tezos/base58_prefixes_octez.json) by tests/unit/test_encoding.c. */
#include "tezos/encoding.h"

#include <sodium.h>
#include <string.h>

#include "common/secmem.h"
#include "tezos/base58.h"

#define PREFIX_MAX 5
#define PAYLOAD_MAX 96
#define SECRET_PAYLOAD_MAX 64 /* edsk 64-byte form; encrypted forms are 56 */

struct b58_kind_info {
    const char *text; /* what encoded strings start with, for messages */
    uint8_t prefix[PREFIX_MAX];
    uint8_t prefix_len;
    uint8_t payload_len;
    bool secret; /* wipe encoder temporaries */
};

static const struct b58_kind_info KINDS[VG_B58_KIND_COUNT] = {
    [VG_B58_TZ1] = {"tz1", {0x06, 0xa1, 0x9f}, 3, 20, false},
    [VG_B58_TZ2] = {"tz2", {0x06, 0xa1, 0xa1}, 3, 20, false},
    [VG_B58_TZ3] = {"tz3", {0x06, 0xa1, 0xa4}, 3, 20, false},
    [VG_B58_TZ4] = {"tz4", {0x06, 0xa1, 0xa6}, 3, 20, false},
    [VG_B58_EDPK] = {"edpk", {0x0d, 0x0f, 0x25, 0xd9}, 4, 32, false},
    [VG_B58_SPPK] = {"sppk", {0x03, 0xfe, 0xe2, 0x56}, 4, 33, false},
    [VG_B58_P2PK] = {"p2pk", {0x03, 0xb2, 0x8b, 0x7f}, 4, 33, false},
    [VG_B58_BLPK] = {"BLpk", {0x06, 0x95, 0x87, 0xcc}, 4, 48, false},
    [VG_B58_EDSK] = {"edsk", {0x0d, 0x0f, 0x3a, 0x07}, 4, 32, true},
    [VG_B58_EDSK64] = {"edsk", {0x2b, 0xf6, 0x4e, 0x07}, 4, 64, true},
    [VG_B58_SPSK] = {"spsk", {0x11, 0xa2, 0xe0, 0xc9}, 4, 32, true},
    [VG_B58_P2SK] = {"p2sk", {0x10, 0x51, 0xee, 0xbd}, 4, 32, true},
    [VG_B58_BLSK] = {"BLsk", {0x03, 0x96, 0xc0, 0x28}, 4, 32, true},
    [VG_B58_EDESK] = {"edesk", {0x07, 0x5a, 0x3c, 0xb3, 0x29}, 5, 56, false},
    [VG_B58_SPESK] = {"spesk", {0x09, 0xed, 0xf1, 0xae, 0x96}, 5, 56, false},
    [VG_B58_P2ESK] = {"p2esk", {0x09, 0x30, 0x39, 0x73, 0xab}, 5, 56, false},
    [VG_B58_BLESK] = {"BLesk", {0x02, 0x05, 0x1e, 0x35, 0x19}, 5, 56, false},
    [VG_B58_EDSIG] = {"edsig", {0x09, 0xf5, 0xcd, 0x86, 0x12}, 5, 64, false},
    [VG_B58_SPSIG] = {"spsig1", {0x0d, 0x73, 0x65, 0x13, 0x3f}, 5, 64, false},
    [VG_B58_P2SIG] = {"p2sig", {0x36, 0xf0, 0x2c, 0x34}, 4, 64, false},
    [VG_B58_BLSIG] = {"BLsig", {0x28, 0xab, 0x40, 0xcf}, 4, 96, false},
    [VG_B58_SIG] = {"sig", {0x04, 0x82, 0x2b}, 3, 64, false},
    [VG_B58_CHAIN_ID] = {"Net", {0x57, 0x52, 0x00}, 3, 4, false},
    [VG_B58_BLOCK_HASH] = {"B", {0x01, 0x34}, 2, 32, false},
    [VG_B58_VALUE_HASH] = {"vh", {0x01, 0x6a, 0xf2}, 3, 32, false},
};

/* Per key type (index = vg_key_type). */
static const vg_b58_kind PKH_KINDS[] = {VG_B58_TZ1, VG_B58_TZ2, VG_B58_TZ3, VG_B58_TZ4};
static const vg_b58_kind PUBKEY_KINDS[] = {VG_B58_EDPK, VG_B58_SPPK, VG_B58_P2PK, VG_B58_BLPK};
static const vg_b58_kind SIG_KINDS[] = {VG_B58_EDSIG, VG_B58_SPSIG, VG_B58_P2SIG, VG_B58_BLSIG};
static const vg_b58_kind SECRET_KINDS[] = {VG_B58_EDSK, VG_B58_SPSK, VG_B58_P2SK, VG_B58_BLSK};

static const vg_b58_kind ALL_KINDS[] = {
    VG_B58_TZ1,      VG_B58_TZ2,        VG_B58_TZ3,        VG_B58_TZ4,   VG_B58_EDPK,  VG_B58_SPPK,  VG_B58_P2PK,
    VG_B58_BLPK,     VG_B58_EDSK,       VG_B58_EDSK64,     VG_B58_SPSK,  VG_B58_P2SK,  VG_B58_BLSK,  VG_B58_EDESK,
    VG_B58_SPESK,    VG_B58_P2ESK,      VG_B58_BLESK,      VG_B58_EDSIG, VG_B58_SPSIG, VG_B58_P2SIG, VG_B58_BLSIG,
    VG_B58_SIG,      VG_B58_CHAIN_ID,   VG_B58_BLOCK_HASH, VG_B58_VALUE_HASH,
};
_Static_assert(sizeof ALL_KINDS / sizeof ALL_KINDS[0] == VG_B58_KIND_COUNT, "ALL_KINDS lists every kind");
#define KEY_TYPE_COUNT (sizeof PKH_KINDS / sizeof PKH_KINDS[0])

static bool key_type_valid(vg_key_type t) { return (unsigned)t < KEY_TYPE_COUNT; }

size_t vg_b58check_encode(vg_b58_kind kind, const uint8_t *payload, size_t len, char out[VG_B58_MAX])
{
    if (out == NULL)
        return 0;
    out[0] = '\0';
    if ((unsigned)kind >= VG_B58_KIND_COUNT || payload == NULL)
        return 0;
    const struct b58_kind_info *k = &KINDS[kind];
    if (len != k->payload_len)
        return 0;
    uint8_t raw[PREFIX_MAX + PAYLOAD_MAX];
    memcpy(raw, k->prefix, k->prefix_len);
    memcpy(raw + k->prefix_len, payload, len);
    size_t n = vg_base58_check_encode(raw, k->prefix_len + len, out, VG_B58_MAX);
    if (k->secret)
        vg_wipe(raw, sizeof raw);
    return n;
}

static bool has_prefix(const uint8_t *raw, size_t len, const struct b58_kind_info *k)
{
    if (len < k->prefix_len)
        return false;
    for (size_t i = 0; i < k->prefix_len; i++)
        if (raw[i] != k->prefix[i])
            return false;
    return true;
}

/* Decodes s as one of `kinds`: checksum first, then prefix ("unexpected prefix: want <want>"),
 * then payload length. Decoded bytes are wiped (s may be a secret key). */
static int decode_one_of(const char *s, const vg_b58_kind *kinds, size_t nkinds, const char *want,
                         vg_b58_kind *kind_out, uint8_t *payload, size_t cap, size_t *len, vg_err *err)
{
    if (len != NULL)
        *len = 0;
    uint8_t raw[VG_BASE58_BYTES_MAX];
    size_t rawlen = 0;
    if (vg_base58_check_decode(s, raw, sizeof raw, &rawlen, err) < 0)
        return -1;
    const struct b58_kind_info *prefix_only = NULL;
    int found = -1;
    for (size_t i = 0; i < nkinds && found < 0; i++) {
        const struct b58_kind_info *k = &KINDS[kinds[i]];
        if (!has_prefix(raw, rawlen, k))
            continue;
        if (rawlen - k->prefix_len == k->payload_len)
            found = (int)i;
        else
            prefix_only = k;
    }
    int rc = -1;
    if (found >= 0) {
        const struct b58_kind_info *k = &KINDS[kinds[found]];
        if (payload == NULL || k->payload_len > cap) {
            vg_fail(err, VG_E_INTERNAL, "%s: output buffer too small", k->text);
        } else {
            memcpy(payload, raw + k->prefix_len, k->payload_len);
            if (len != NULL)
                *len = k->payload_len;
            if (kind_out != NULL)
                *kind_out = kinds[found];
            rc = 0;
        }
    } else if (prefix_only != NULL) {
        vg_fail(err, VG_E_INVALID, "wrong payload length for %s: got %zu bytes, want %u", prefix_only->text,
                rawlen - prefix_only->prefix_len, prefix_only->payload_len);
    } else {
        vg_fail(err, VG_E_INVALID, "unexpected prefix: want %s", want);
    }
    vg_wipe(raw, sizeof raw);
    return rc;
}

int vg_b58check_decode(vg_b58_kind kind, const char *s, uint8_t *payload, size_t cap, size_t *len, vg_err *err)
{
    if ((unsigned)kind >= VG_B58_KIND_COUNT)
        return vg_fail(err, VG_E_INTERNAL, "unknown base58 kind %d", (int)kind);
    return decode_one_of(s, &kind, 1, KINDS[kind].text, NULL, payload, cap, len, err);
}

int vg_b58check_decode_any(const char *s, vg_b58_kind *kind, uint8_t *payload, size_t cap, size_t *len, vg_err *err)
{
    return decode_one_of(s, ALL_KINDS, sizeof ALL_KINDS / sizeof ALL_KINDS[0], "a known Tezos base58 prefix", kind,
                         payload, cap, len, err);
}

int vg_pkh_parse(const char *s, vg_pkh *out, vg_err *err)
{
    if (out == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_pkh_parse: no output");
    vg_b58_kind kind;
    size_t len;
    if (decode_one_of(s, PKH_KINDS, KEY_TYPE_COUNT, "tz1/tz2/tz3/tz4", &kind, out->hash, sizeof out->hash, &len,
                      err) < 0)
        return -1;
    for (size_t t = 0; t < KEY_TYPE_COUNT; t++)
        if (PKH_KINDS[t] == kind)
            out->type = (vg_key_type)t;
    return 0;
}

size_t vg_pkh_format(const vg_pkh *pkh, char out[VG_B58_MAX])
{
    if (pkh == NULL || !key_type_valid(pkh->type)) {
        if (out != NULL)
            out[0] = '\0';
        return 0;
    }
    return vg_b58check_encode(PKH_KINDS[pkh->type], pkh->hash, sizeof pkh->hash, out);
}

void vg_pkh_from_pubkey(vg_key_type t, const uint8_t *pk, size_t pklen, vg_pkh *out)
{
    out->type = t;
    vg_blake2b_160(pk, pklen, out->hash);
}

size_t vg_pubkey_format(vg_key_type t, const uint8_t *pk, size_t pklen, char out[VG_B58_MAX])
{
    if (!key_type_valid(t)) {
        if (out != NULL)
            out[0] = '\0';
        return 0;
    }
    return vg_b58check_encode(PUBKEY_KINDS[t], pk, pklen, out);
}

int vg_pubkey_parse(const char *s, vg_key_type *t, uint8_t pk[VG_PUBKEY_MAX], size_t *pklen, vg_err *err)
{
    vg_b58_kind kind;
    size_t len = 0;
    if (decode_one_of(s, PUBKEY_KINDS, KEY_TYPE_COUNT, "edpk/sppk/p2pk/BLpk", &kind, pk, VG_PUBKEY_MAX, &len, err) <
        0)
        return -1;
    for (size_t i = 0; i < KEY_TYPE_COUNT; i++)
        if (PUBKEY_KINDS[i] == kind && t != NULL)
            *t = (vg_key_type)i;
    if (pklen != NULL)
        *pklen = len;
    return 0;
}

size_t vg_signature_format(vg_key_type t, const uint8_t *sig, size_t len, char out[VG_B58_MAX])
{
    if (!key_type_valid(t)) {
        if (out != NULL)
            out[0] = '\0';
        return 0;
    }
    return vg_b58check_encode(SIG_KINDS[t], sig, len, out);
}

/* Tezos writes BLS scalars little-endian; vg_key takes them big-endian. */
static void reverse32(uint8_t b[32])
{
    for (size_t i = 0; i < 16; i++) {
        uint8_t t = b[i];
        b[i] = b[31 - i];
        b[31 - i] = t;
    }
}

/* Secret key forms vg_secret_key_parse recognises. Encrypted ones name their unencrypted form
 * (`plain`) so the refusal can say what to configure instead. */
static const struct secret_form {
    vg_b58_kind kind;
    vg_key_type type;
    vg_b58_kind plain;
} SECRET_FORMS[] = {
    {VG_B58_EDSK, VG_KEY_ED25519, VG_B58_EDSK},    {VG_B58_EDSK64, VG_KEY_ED25519, VG_B58_EDSK64},
    {VG_B58_SPSK, VG_KEY_SECP256K1, VG_B58_SPSK},  {VG_B58_P2SK, VG_KEY_P256, VG_B58_P2SK},
    {VG_B58_BLSK, VG_KEY_BLS, VG_B58_BLSK},        {VG_B58_EDESK, VG_KEY_ED25519, VG_B58_EDSK},
    {VG_B58_SPESK, VG_KEY_SECP256K1, VG_B58_SPSK}, {VG_B58_P2ESK, VG_KEY_P256, VG_B58_P2SK},
    {VG_B58_BLESK, VG_KEY_BLS, VG_B58_BLSK},
};
#define SECRET_FORM_COUNT (sizeof SECRET_FORMS / sizeof SECRET_FORMS[0])

static int key_from_payload(const struct secret_form *f, uint8_t *payload, vg_key **out, vg_err *err)
{
    if (f->plain != f->kind)
        return vg_fail(err, VG_E_INVALID,
                       "encrypted secret keys are not supported: decrypt it first (this %s key is "
                       "password-protected; configure its unencrypted %s form instead)",
                       KINDS[f->kind].text, KINDS[f->plain].text);
    if (f->type == VG_KEY_BLS)
        reverse32(payload);
    if (vg_key_from_secret(f->type, payload, VG_SECRET_LEN, out, err) < 0)
        return -1;
    /* The 64-byte edsk form is seed || public key: the seed is the key, and the stored half must agree. */
    if (KINDS[f->kind].payload_len == 2 * VG_SECRET_LEN &&
        sodium_memcmp(vg_key_public(*out, NULL), payload + VG_SECRET_LEN, VG_SECRET_LEN) != 0) {
        vg_key_free(*out);
        *out = NULL;
        return vg_fail(err, VG_E_INVALID, "edsk: the public half of the 64-byte secret key does not match its seed");
    }
    return 0;
}

int vg_secret_key_parse(const char *s, vg_key **out, vg_err *err)
{
    if (out == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_secret_key_parse: no output");
    *out = NULL;
    uint8_t *payload = vg_secure_alloc(SECRET_PAYLOAD_MAX);
    if (payload == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
    vg_b58_kind kinds[SECRET_FORM_COUNT];
    for (size_t i = 0; i < SECRET_FORM_COUNT; i++)
        kinds[i] = SECRET_FORMS[i].kind;
    vg_b58_kind kind;
    size_t len = 0;
    int rc = decode_one_of(s, kinds, SECRET_FORM_COUNT, "edsk/spsk/p2sk/BLsk", &kind, payload, SECRET_PAYLOAD_MAX,
                           &len, err);
    const struct secret_form *form = NULL;
    for (size_t i = 0; i < SECRET_FORM_COUNT && rc == 0; i++)
        if (SECRET_FORMS[i].kind == kind)
            form = &SECRET_FORMS[i];
    if (form != NULL)
        rc = key_from_payload(form, payload, out, err);
    vg_secure_free(payload);
    return rc;
}

size_t vg_secret_key_format(const vg_key *k, char out[VG_B58_MAX])
{
    if (out == NULL)
        return 0;
    out[0] = '\0';
    if (k == NULL)
        return 0;
    vg_key_type t = vg_key_get_type(k);
    uint8_t *secret = vg_secure_alloc(VG_SECRET_LEN);
    if (secret == NULL || !key_type_valid(t)) {
        vg_secure_free(secret);
        return 0;
    }
    vg_key_secret(k, secret);
    if (t == VG_KEY_BLS)
        reverse32(secret);
    size_t n = vg_b58check_encode(SECRET_KINDS[t], secret, VG_SECRET_LEN, out);
    vg_secure_free(secret);
    return n;
}
