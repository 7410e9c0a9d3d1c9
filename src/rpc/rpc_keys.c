/* Names and key shapes shared by requests, replies and sealed plaintexts (spec §5.2, §9). */
#include <string.h>

#include "rpc/rpc_msg.h"

/* Indexed by vg_key_type (Tezos tag order); the wire names are tee-signer's KeyType variants. */
static const char *const key_names[] = {"Ed25519", "Secp256k1", "NistP256", "Bls"};
static const size_t public_key_lens[] = {32, 33, 33, 48};
static const size_t signature_lens[] = {64, 64, 64, 96};

/* Indexed by enum vg_rpc_call. */
static const char *const call_names[VG_RPC_CALL_COUNT] = {
    "Initialize", "Import", "ImportUnencrypted", "Generate", "GenerateAndImport",
    "Sign", "SignWith", "PublicKey", "PublicKeyFrom", "ProvePossession",
};

static bool key_type_ok(vg_key_type t) { return (unsigned)t < sizeof key_names / sizeof key_names[0]; }

const char *vg_rpc_call_name(enum vg_rpc_call call)
{
    return (unsigned)call < VG_RPC_CALL_COUNT ? call_names[call] : "?";
}

const char *vg_rpc_key_type_name(vg_key_type t) { return key_type_ok(t) ? key_names[t] : "?"; }

size_t vg_rpc_public_key_len(vg_key_type t) { return key_type_ok(t) ? public_key_lens[t] : 0; }

size_t vg_rpc_signature_len(vg_key_type t) { return key_type_ok(t) ? signature_lens[t] : 0; }

int vg_rpc_call_parse(const char *name, enum vg_rpc_call *out)
{
    for (size_t i = 0; i < VG_RPC_CALL_COUNT; i++) {
        if (strcmp(name, call_names[i]) == 0) {
            *out = (enum vg_rpc_call)i;
            return 0;
        }
    }
    return -1;
}

int vg_rpc_key_type_parse(const char *name, vg_key_type *out)
{
    for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++) {
        if (strcmp(name, key_names[i]) == 0) {
            *out = (vg_key_type)i;
            return 0;
        }
    }
    return -1;
}

const char *const *vg_rpc_key_type_names(size_t *n)
{
    *n = sizeof key_names / sizeof key_names[0];
    return key_names;
}

const char *const *vg_rpc_call_names(size_t *n)
{
    *n = VG_RPC_CALL_COUNT;
    return call_names;
}

void vg_rpc_private_key_encode(vg_key_type t, const uint8_t secret[VG_RPC_SECRET_LEN],
                               uint8_t out[VG_RPC_PRIVKEY_CBOR_MAX], size_t *out_len)
{
    /* Fixed layout, written in place so the plaintext never leaves the caller's secure buffer:
     * a1 <text name> 58 20 <32 bytes>. */
    const char *name = vg_rpc_key_type_name(t);
    size_t name_len = strlen(name); /* < 24: one-byte text head */
    size_t o = 0;
    out[o++] = 0xa1;
    out[o++] = (uint8_t)(0x60 | name_len);
    memcpy(out + o, name, name_len);
    o += name_len;
    out[o++] = 0x58;
    out[o++] = VG_RPC_SECRET_LEN;
    memcpy(out + o, secret, VG_RPC_SECRET_LEN);
    *out_len = o + VG_RPC_SECRET_LEN;
}

int vg_rpc_private_key_decode(const uint8_t *buf, size_t len, vg_key_type *type,
                              uint8_t secret[VG_RPC_SECRET_LEN], vg_err *err)
{
    vg_reader r = vg_reader_init(buf, len, err);
    vg_reader value;
    size_t idx, n;
    bool unit;
    const char *const *names = vg_rpc_key_type_names(&n);
    if (vg_cbor_read_enum(&r, "PrivateKey", names, n, &idx, &unit, &value) < 0)
        return -1;
    if (unit)
        return vg_fail(err, VG_E_INVALID, "Semantic(None, \"invalid type: unit variant, expected newtype variant\")");
    if (vg_cbor_read_bytes_fixed(&value, secret, VG_RPC_SECRET_LEN) < 0)
        return -1;
    *type = (vg_key_type)idx;
    return 0;
}
