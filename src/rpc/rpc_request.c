/* Requests: `Request<C>`, one externally tagged enum (spec §5.1, §5.2). Decoder and encoder side by
 * side so the two cannot drift. */
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"
#include "rpc/rpc_msg.h"

static int semantic(vg_err *err, const char *text)
{
    return vg_fail(err, VG_E_INVALID, "Semantic(None, \"%s\")", text);
}

static void free_text(char **p, bool secure)
{
    if (*p == NULL)
        return;
    if (secure) {
        vg_secure_free(*p);
    } else {
        vg_wipe(*p, strlen(*p));
        free(*p);
    }
    *p = NULL;
}

static void free_bytes(uint8_t **p, size_t len)
{
    if (*p == NULL)
        return;
    vg_wipe(*p, len);
    free(*p);
    *p = NULL;
}

void vg_rpc_request_clear(struct vg_rpc_request *req)
{
    free_text(&req->creds.access_key_id, false);
    free_text(&req->creds.secret_access_key, true);
    free_text(&req->creds.session_token, true);
    free_text(&req->creds.encryption_key_id, false);
    free_text(&req->creds.region, false);
    vg_secure_free(req->secret);
    req->secret = NULL;
    free_bytes(&req->blob, req->blob_len);
    free_bytes(&req->message, req->message_len);
    memset(req, 0, sizeof *req);
}

/* ---- decoding ---- */

static int read_optional_text(struct vg_cbor_field *f, bool secure, char **out)
{
    if (!f->seen || vg_cbor_take_null(&f->value))
        return 0;
    return vg_cbor_read_text_alloc(&f->value, VG_RPC_TEXT_MAX, secure, out);
}

/* Nitro credentials (spec §5.2). Every field is optional here: the mock and dev sealers accept any
 * map (spec §16), and the KMS sealer checks for the fields it needs when the session begins. */
static int decode_credentials(vg_reader *r, struct vg_rpc_credentials *c)
{
    enum { ACCESS, SECRET, TOKEN, KEY_ID, REGION };
    struct vg_cbor_field f[] = {
        [ACCESS] = {.name = "access_key_id", .optional = true},
        [SECRET] = {.name = "secret_access_key", .optional = true},
        [TOKEN] = {.name = "session_token", .optional = true},
        [KEY_ID] = {.name = "encryption_key_id", .optional = true},
        [REGION] = {.name = "region", .optional = true},
    };
    if (vg_cbor_read_struct(r, f, sizeof f / sizeof f[0]) < 0)
        return -1;
    c->session_token_null = f[TOKEN].seen;
    if (read_optional_text(&f[ACCESS], false, &c->access_key_id) < 0 ||
        read_optional_text(&f[SECRET], true, &c->secret_access_key) < 0 ||
        read_optional_text(&f[TOKEN], true, &c->session_token) < 0 ||
        read_optional_text(&f[KEY_ID], false, &c->encryption_key_id) < 0 ||
        read_optional_text(&f[REGION], false, &c->region) < 0)
        return -1;
    return 0;
}

static int decode_key_type(vg_reader *r, vg_key_type *out, vg_err *err)
{
    size_t n, idx;
    bool unit;
    vg_reader value;
    const char *const *names = vg_rpc_key_type_names(&n);
    if (vg_cbor_read_enum(r, "KeyType", names, n, &idx, &unit, &value) < 0)
        return -1;
    /* A unit variant may also arrive as {"Name": null}, which serde accepts. */
    if (!unit && !vg_cbor_take_null(&value))
        return semantic(err, "invalid type: newtype variant, expected unit variant");
    *out = (vg_key_type)idx;
    return 0;
}

static int decode_version(vg_reader *r, uint8_t *out, vg_err *err)
{
    uint64_t v;
    if (vg_cbor_read_uint(r, &v) < 0)
        return -1;
    if (v != 0 && v != 1 && v != 2 && v != VG_RPC_VERSION_LATEST)
        return vg_fail(err, VG_E_INVALID,
                       "Semantic(None, \"invalid value: %llu, expected one of: `0`, `1`, `2`, `255`\")",
                       (unsigned long long)v);
    *out = (uint8_t)v;
    return 0;
}

/* Sign {handle, message, version} and SignWith {encrypted_private_key, message, version}. */
static int decode_sign(vg_reader *r, bool with_blob, size_t message_max, struct vg_rpc_request *out, vg_err *err)
{
    enum { KEY, MESSAGE, VERSION };
    struct vg_cbor_field f[] = {
        [KEY] = {.name = with_blob ? "encrypted_private_key" : "handle"},
        [MESSAGE] = {.name = "message"},
        [VERSION] = {.name = "version"},
    };
    if (vg_cbor_read_struct(r, f, sizeof f / sizeof f[0]) < 0)
        return -1;
    if (with_blob) {
        if (vg_cbor_read_bytes_alloc(&f[KEY].value, VG_RPC_BLOB_MAX, false, &out->blob, &out->blob_len) < 0)
            return -1;
    } else if (vg_cbor_read_uint(&f[KEY].value, &out->handle) < 0) {
        return -1;
    }
    if (vg_cbor_read_bytes_alloc(&f[MESSAGE].value, message_max, false, &out->message, &out->message_len) < 0)
        return -1;
    return decode_version(&f[VERSION].value, &out->version, err);
}

static int decode_call(vg_reader *v, size_t message_max, struct vg_rpc_request *out, vg_err *err)
{
    switch (out->call) {
    case VG_RPC_INITIALIZE:
        return decode_credentials(v, &out->creds);
    case VG_RPC_IMPORT:
    case VG_RPC_PUBLIC_KEY_FROM:
        return vg_cbor_read_bytes_alloc(v, VG_RPC_BLOB_MAX, false, &out->blob, &out->blob_len);
    case VG_RPC_IMPORT_UNENCRYPTED: {
        /* The key goes straight from the frame into secure memory. */
        size_t n, idx;
        bool unit;
        vg_reader value;
        const char *const *names = vg_rpc_key_type_names(&n);
        if (vg_cbor_read_enum(v, "PrivateKey", names, n, &idx, &unit, &value) < 0)
            return -1;
        if (unit)
            return semantic(err, "invalid type: unit variant, expected newtype variant");
        out->key_type = (vg_key_type)idx;
        out->secret = vg_secure_alloc(VG_RPC_SECRET_LEN);
        if (out->secret == NULL)
            return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
        return vg_cbor_read_bytes_fixed(&value, out->secret, VG_RPC_SECRET_LEN);
    }
    case VG_RPC_GENERATE:
    case VG_RPC_GENERATE_AND_IMPORT:
        return decode_key_type(v, &out->key_type, err);
    case VG_RPC_SIGN:
        return decode_sign(v, false, message_max, out, err);
    case VG_RPC_SIGN_WITH:
        return decode_sign(v, true, message_max, out, err);
    case VG_RPC_PUBLIC_KEY:
    case VG_RPC_PROVE_POSSESSION:
        return vg_cbor_read_uint(v, &out->handle);
    default:
        break;
    }
    return vg_fail(err, VG_E_INTERNAL, "unhandled call");
}

int vg_rpc_request_decode(const uint8_t *body, size_t len, size_t message_max, struct vg_rpc_request *out,
                          vg_err *err)
{
    memset(out, 0, sizeof *out);
    vg_reader r = vg_reader_init(body, len, err);
    vg_reader value;
    size_t n, idx;
    bool unit;
    const char *const *names = vg_rpc_call_names(&n);
    /* spec §1.2: "Bytes after the first CBOR item inside a frame are ignored" -- so no expect_end. */
    if (vg_cbor_read_enum(&r, "Request", names, n, &idx, &unit, &value) < 0)
        return -1;
    out->call = (enum vg_rpc_call)idx;
    int rc = unit ? semantic(err, "invalid type: unit variant, expected newtype variant")
                  : decode_call(&value, message_max, out, err);
    if (rc < 0)
        vg_rpc_request_clear(out);
    return rc;
}

/* ---- encoding (field order = declaration order, spec §5.2) ---- */

static void encode_credentials(struct vg_cbor_out *o, const struct vg_rpc_credentials *c)
{
    bool token = c->session_token != NULL || c->session_token_null;
    size_t n = (c->access_key_id != NULL) + (c->secret_access_key != NULL) + token +
               (c->encryption_key_id != NULL) + (c->region != NULL);
    vg_cbor_put_head(o, VG_CBOR_MAP, n);
    if (c->access_key_id != NULL) {
        vg_cbor_put_text(o, "access_key_id");
        vg_cbor_put_text(o, c->access_key_id);
    }
    if (c->secret_access_key != NULL) {
        vg_cbor_put_text(o, "secret_access_key");
        vg_cbor_put_text(o, c->secret_access_key);
    }
    if (token) {
        vg_cbor_put_text(o, "session_token");
        if (c->session_token != NULL)
            vg_cbor_put_text(o, c->session_token);
        else
            vg_cbor_put_null(o);
    }
    if (c->encryption_key_id != NULL) {
        vg_cbor_put_text(o, "encryption_key_id");
        vg_cbor_put_text(o, c->encryption_key_id);
    }
    if (c->region != NULL) {
        vg_cbor_put_text(o, "region");
        vg_cbor_put_text(o, c->region);
    }
}

static void encode_sign(struct vg_cbor_out *o, const struct vg_rpc_request *req)
{
    vg_cbor_put_head(o, VG_CBOR_MAP, 3);
    if (req->call == VG_RPC_SIGN_WITH) {
        vg_cbor_put_text(o, "encrypted_private_key");
        vg_cbor_put_bytes(o, req->blob, req->blob_len);
    } else {
        vg_cbor_put_text(o, "handle");
        vg_cbor_put_uint(o, req->handle);
    }
    vg_cbor_put_text(o, "message");
    vg_cbor_put_bytes(o, req->message, req->message_len);
    vg_cbor_put_text(o, "version");
    vg_cbor_put_uint(o, req->version);
}

int vg_rpc_request_encode(const struct vg_rpc_request *req, struct vg_cbor_out *o, vg_err *err)
{
    if ((unsigned)req->call >= VG_RPC_CALL_COUNT)
        return vg_fail(err, VG_E_INVALID, "unknown call %d", (int)req->call);
    vg_cbor_put_head(o, VG_CBOR_MAP, 1);
    vg_cbor_put_text(o, vg_rpc_call_name(req->call));
    switch (req->call) {
    case VG_RPC_INITIALIZE:
        encode_credentials(o, &req->creds);
        break;
    case VG_RPC_IMPORT:
    case VG_RPC_PUBLIC_KEY_FROM:
        vg_cbor_put_bytes(o, req->blob, req->blob_len);
        break;
    case VG_RPC_IMPORT_UNENCRYPTED:
        if (req->secret == NULL)
            return vg_fail(err, VG_E_INVALID, "ImportUnencrypted without a key");
        vg_cbor_put_head(o, VG_CBOR_MAP, 1);
        vg_cbor_put_text(o, vg_rpc_key_type_name(req->key_type));
        vg_cbor_put_bytes(o, req->secret, VG_RPC_SECRET_LEN);
        break;
    case VG_RPC_GENERATE:
    case VG_RPC_GENERATE_AND_IMPORT:
        vg_cbor_put_text(o, vg_rpc_key_type_name(req->key_type));
        break;
    case VG_RPC_SIGN:
    case VG_RPC_SIGN_WITH:
        encode_sign(o, req);
        break;
    case VG_RPC_PUBLIC_KEY:
    case VG_RPC_PROVE_POSSESSION:
        vg_cbor_put_uint(o, req->handle);
        break;
    default:
        return vg_fail(err, VG_E_INTERNAL, "unhandled call");
    }
    return vg_cbor_out_finish(o, err);
}
