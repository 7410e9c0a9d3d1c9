/* Replies: serde's `Result<T, Error>` = {"Ok": T} | {"Err": {"message", "source"}} (spec §3.1, §5.2).
 * Decoder and encoder side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"
#include "rpc/rpc_msg.h"

enum vg_rpc_reply_kind vg_rpc_reply_kind_for(enum vg_rpc_call call)
{
    switch (call) {
    case VG_RPC_INITIALIZE: return VG_RPC_REPLY_UNIT;
    case VG_RPC_IMPORT: return VG_RPC_REPLY_IMPORT;
    case VG_RPC_GENERATE: return VG_RPC_REPLY_GENERATE;
    case VG_RPC_IMPORT_UNENCRYPTED:
    case VG_RPC_GENERATE_AND_IMPORT: return VG_RPC_REPLY_GENERATE_AND_IMPORT;
    case VG_RPC_SIGN:
    case VG_RPC_SIGN_WITH: return VG_RPC_REPLY_SIGNATURE;
    case VG_RPC_PUBLIC_KEY:
    case VG_RPC_PUBLIC_KEY_FROM: return VG_RPC_REPLY_PUBLIC_KEY;
    case VG_RPC_PROVE_POSSESSION: return VG_RPC_REPLY_POP;
    default: break;
    }
    return VG_RPC_REPLY_ERR;
}

void vg_rpc_reply_clear(struct vg_rpc_reply *rep)
{
    if (rep->blob != NULL) {
        vg_wipe(rep->blob, rep->blob_len);
        free(rep->blob);
    }
    memset(rep, 0, sizeof *rep);
}

void vg_rpc_reply_set_err(struct vg_rpc_reply *rep, const char *outer, const char *inner)
{
    vg_rpc_reply_clear(rep);
    rep->kind = VG_RPC_REPLY_ERR;
    snprintf(rep->err[rep->err_depth++], VG_ERR_MSG_MAX, "%s", outer);
    if (inner != NULL)
        snprintf(rep->err[rep->err_depth++], VG_ERR_MSG_MAX, "%s", inner);
}

void vg_rpc_reply_err_join(const struct vg_rpc_reply *rep, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < rep->err_depth && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? ": " : "", rep->err[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* ---- encoding ---- */

static void encode_key_value(struct vg_cbor_out *o, vg_key_type t, const uint8_t *p, size_t n, bool ed25519_array)
{
    vg_cbor_put_head(o, VG_CBOR_MAP, 1);
    vg_cbor_put_text(o, vg_rpc_key_type_name(t));
    /* spec §2.1: "the Ed25519 signature is a CBOR array of 64 unsigned integers". */
    if (ed25519_array && t == VG_KEY_ED25519)
        vg_cbor_put_byte_array(o, p, n);
    else
        vg_cbor_put_bytes(o, p, n);
}

static void encode_err(struct vg_cbor_out *o, const struct vg_rpc_reply *rep)
{
    /* Nested {"message", "source"}; `source` always written, null at the end (spec §2.3). */
    size_t depth = rep->err_depth ? rep->err_depth : 1;
    for (size_t i = 0; i < depth; i++) {
        vg_cbor_put_head(o, VG_CBOR_MAP, 2);
        vg_cbor_put_text(o, "message");
        vg_cbor_put_text(o, rep->err_depth ? rep->err[i] : "unknown error");
        vg_cbor_put_text(o, "source");
    }
    vg_cbor_put_null(o);
}

int vg_rpc_reply_encode(const struct vg_rpc_reply *rep, struct vg_cbor_out *o, vg_err *err)
{
    vg_cbor_put_head(o, VG_CBOR_MAP, 1);
    vg_cbor_put_text(o, rep->kind == VG_RPC_REPLY_ERR ? "Err" : "Ok");
    switch (rep->kind) {
    case VG_RPC_REPLY_ERR:
        encode_err(o, rep);
        break;
    case VG_RPC_REPLY_UNIT:
        vg_cbor_put_null(o);
        break;
    case VG_RPC_REPLY_IMPORT:
        vg_cbor_put_head(o, VG_CBOR_MAP, 2);
        vg_cbor_put_text(o, "public_key");
        encode_key_value(o, rep->key_type, rep->public_key, rep->public_key_len, false);
        vg_cbor_put_text(o, "handle");
        vg_cbor_put_uint(o, rep->handle);
        break;
    case VG_RPC_REPLY_GENERATE:
    case VG_RPC_REPLY_GENERATE_AND_IMPORT: {
        bool with_handle = rep->kind == VG_RPC_REPLY_GENERATE_AND_IMPORT;
        vg_cbor_put_head(o, VG_CBOR_MAP, with_handle ? 3 : 2);
        vg_cbor_put_text(o, "encrypted_private_key");
        vg_cbor_put_bytes(o, rep->blob, rep->blob_len);
        vg_cbor_put_text(o, "public_key");
        encode_key_value(o, rep->key_type, rep->public_key, rep->public_key_len, false);
        if (with_handle) {
            vg_cbor_put_text(o, "handle");
            vg_cbor_put_uint(o, rep->handle);
        }
        break;
    }
    case VG_RPC_REPLY_SIGNATURE:
        encode_key_value(o, rep->key_type, rep->signature, rep->signature_len, true);
        break;
    case VG_RPC_REPLY_PUBLIC_KEY:
        encode_key_value(o, rep->key_type, rep->public_key, rep->public_key_len, false);
        break;
    case VG_RPC_REPLY_POP:
        encode_key_value(o, VG_KEY_BLS, rep->signature, rep->signature_len, false);
        break;
    default:
        return vg_fail(err, VG_E_INTERNAL, "unhandled reply kind");
    }
    return vg_cbor_out_finish(o, err);
}

/* ---- decoding ---- */

static int decode_err(vg_reader *v, struct vg_rpc_reply *out)
{
    /* Iterative walk down the `source` chain; levels beyond VG_RPC_ERR_DEPTH_MAX are not kept. */
    for (;;) {
        struct vg_cbor_field f[] = {{.name = "message"}, {.name = "source", .optional = true}};
        if (vg_cbor_read_struct(v, f, 2) < 0)
            return -1;
        if (vg_cbor_read_text_trunc(&f[0].value, out->err[out->err_depth], VG_ERR_MSG_MAX) < 0)
            return -1;
        out->err_depth++;
        if (!f[1].seen || vg_cbor_take_null(&f[1].value) || out->err_depth == VG_RPC_ERR_DEPTH_MAX)
            return 0;
        *v = f[1].value;
    }
}

/* {"<KeyType>": bytes} with the exact length of that type's public key or signature. */
static int decode_key_value(vg_reader *v, bool signature, vg_key_type *type, uint8_t *dst, size_t *len)
{
    size_t n, idx;
    bool unit;
    vg_reader value;
    const char *const *names = vg_rpc_key_type_names(&n);
    if (vg_cbor_read_enum(v, signature ? "Signature" : "PublicKey", names, n, &idx, &unit, &value) < 0)
        return -1;
    if (unit)
        return vg_fail(v->err, VG_E_INVALID, "Semantic(None, \"invalid type: unit variant, expected newtype variant\")");
    *type = (vg_key_type)idx;
    *len = signature ? vg_rpc_signature_len(*type) : vg_rpc_public_key_len(*type);
    return vg_cbor_read_bytes_fixed(&value, dst, *len);
}

static int decode_ok_struct(vg_reader *v, struct vg_rpc_reply *out)
{
    enum { BLOB, PK, HANDLE };
    bool blob = out->kind != VG_RPC_REPLY_IMPORT;
    bool handle = out->kind != VG_RPC_REPLY_GENERATE;
    struct vg_cbor_field f[] = {
        [BLOB] = {.name = "encrypted_private_key", .optional = !blob},
        [PK] = {.name = "public_key"},
        [HANDLE] = {.name = "handle", .optional = !handle},
    };
    if (vg_cbor_read_struct(v, f, 3) < 0)
        return -1;
    if (blob && vg_cbor_read_bytes_alloc(&f[BLOB].value, VG_RPC_BLOB_MAX, false, &out->blob, &out->blob_len) < 0)
        return -1;
    if (handle && vg_cbor_read_uint(&f[HANDLE].value, &out->handle) < 0)
        return -1;
    return decode_key_value(&f[PK].value, false, &out->key_type, out->public_key, &out->public_key_len);
}

static int decode_ok(vg_reader *v, struct vg_rpc_reply *out, vg_err *err)
{
    switch (out->kind) {
    case VG_RPC_REPLY_UNIT:
        if (!vg_cbor_take_null(v))
            return vg_fail(err, VG_E_INVALID, "Semantic(None, \"invalid type: expected unit\")");
        return 0;
    case VG_RPC_REPLY_IMPORT:
    case VG_RPC_REPLY_GENERATE:
    case VG_RPC_REPLY_GENERATE_AND_IMPORT:
        return decode_ok_struct(v, out);
    case VG_RPC_REPLY_SIGNATURE:
        return decode_key_value(v, true, &out->key_type, out->signature, &out->signature_len);
    case VG_RPC_REPLY_PUBLIC_KEY:
        return decode_key_value(v, false, &out->key_type, out->public_key, &out->public_key_len);
    case VG_RPC_REPLY_POP:
        if (decode_key_value(v, true, &out->key_type, out->signature, &out->signature_len) < 0)
            return -1;
        if (out->key_type != VG_KEY_BLS)
            return vg_fail(err, VG_E_INVALID, "proof of possession for a non-BLS key type");
        return 0;
    case VG_RPC_REPLY_ERR:
    default:
        break;
    }
    return vg_fail(err, VG_E_INTERNAL, "unhandled reply kind");
}

int vg_rpc_reply_decode(enum vg_rpc_call call, const uint8_t *body, size_t len, struct vg_rpc_reply *out,
                        vg_err *err)
{
    static const char *const result_names[] = {"Ok", "Err"};
    memset(out, 0, sizeof *out);
    vg_reader r = vg_reader_init(body, len, err);
    vg_reader value;
    size_t idx;
    bool unit;
    if (vg_cbor_read_enum(&r, "Result", result_names, 2, &idx, &unit, &value) < 0)
        return -1;
    int rc;
    if (unit) {
        rc = vg_fail(err, VG_E_INVALID, "Semantic(None, \"invalid type: unit variant, expected newtype variant\")");
    } else if (idx == 1) {
        out->kind = VG_RPC_REPLY_ERR;
        rc = decode_err(&value, out);
    } else {
        out->kind = vg_rpc_reply_kind_for(call);
        rc = decode_ok(&value, out, err);
    }
    if (rc < 0)
        vg_rpc_reply_clear(out);
    return rc;
}
