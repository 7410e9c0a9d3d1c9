/* `vigil rpc`: send enclave RPC calls to a vigil-enclave or tee-signer and print the replies, like
 * Signatory's rpctool. Requests are JSON (bytes as hex), one per line on stdin, or one with --call:
 *   {"Initialize":{}}  {"GenerateAndImport":"Ed25519"}  {"Sign":{"handle":0,"message":"74657874","version":2}}
 * Replies are printed as one JSON line each, bytes as hex. Secrets (ImportUnencrypted keys, AWS
 * secret keys) are refused on the command line: pass them on stdin. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/secmem.h"
#include "rpc/rpc_client.h"
#include "rpc/rpc_frame.h"

#define LINE_MAX_BYTES (2 * VG_RPC_FRAME_MAX_DEFAULT + 4096) /* a 1 MiB message in hex, plus the rest */

static int usage(FILE *f)
{
    fprintf(f, "usage: vigil rpc --address unix:/path|tcp://IP:PORT|vsock://CID:PORT [--call JSON]\n"
               "                 [--timeout MS]\n"
               "Without --call, reads one JSON request per line from stdin. Bytes are hex. Examples:\n"
               "  {\"Initialize\":{}}\n"
               "  {\"GenerateAndImport\":\"Ed25519\"}\n"
               "  {\"Sign\":{\"handle\":0,\"message\":\"74657874\",\"version\":2}}\n"
               "  {\"ImportUnencrypted\":{\"Bls\":\"<64 hex>\"}}   (stdin only)\n");
    return 2;
}

/* ---- JSON request -> vg_rpc_request (owned buffers; released with vg_rpc_request_clear) ---- */

static int hex_field(json_t *v, const char *what, uint8_t **out, size_t *len, vg_err *err)
{
    if (!json_is_string(v))
        return vg_fail(err, VG_E_INVALID, "%s: want a hex string", what);
    if (vg_hex_decode(json_string_value(v), json_string_length(v), out, len, err) < 0)
        return vg_wrap(err, "%s", what);
    return 0;
}

static int uint_field(json_t *v, const char *what, uint64_t max, uint64_t *out, vg_err *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return vg_fail(err, VG_E_INVALID, "%s: want an integer in 0..%llu", what, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int text_field(json_t *v, const char *what, bool secret, char **out, vg_err *err)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return vg_fail(err, VG_E_INVALID, "%s: want a string", what);
    size_t n = json_string_length(v);
    *out = secret ? vg_secure_alloc(n + 1) : malloc(n + 1);
    if (*out == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    memcpy(*out, json_string_value(v), n + 1);
    return 0;
}

static int key_type_field(json_t *v, vg_key_type *out, vg_err *err)
{
    if (!json_is_string(v) || vg_rpc_key_type_parse(json_string_value(v), out) < 0)
        return vg_fail(err, VG_E_INVALID, "key type: want Ed25519, Secp256k1, NistP256 or Bls");
    return 0;
}

static int parse_credentials(json_t *v, struct vg_rpc_credentials *c, vg_err *err)
{
    const char *key;
    json_t *val;
    if (!json_is_object(v))
        return vg_fail(err, VG_E_INVALID, "Initialize: want an object ({} for dev/mock enclaves)");
    json_object_foreach(v, key, val)
    {
        int rc;
        if (strcmp(key, "access_key_id") == 0)
            rc = text_field(val, key, false, &c->access_key_id, err);
        else if (strcmp(key, "secret_access_key") == 0)
            rc = text_field(val, key, true, &c->secret_access_key, err);
        else if (strcmp(key, "session_token") == 0) {
            c->session_token_null = json_is_null(val);
            rc = text_field(val, key, true, &c->session_token, err);
        } else if (strcmp(key, "encryption_key_id") == 0)
            rc = text_field(val, key, false, &c->encryption_key_id, err);
        else if (strcmp(key, "region") == 0)
            rc = text_field(val, key, false, &c->region, err);
        else
            rc = vg_fail(err, VG_E_INVALID, "Initialize: unknown field `%.40s`", key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int parse_secret_key(json_t *v, struct vg_rpc_request *req, vg_err *err)
{
    const char *name;
    json_t *hex;
    if (!json_is_object(v) || json_object_size(v) != 1)
        return vg_fail(err, VG_E_INVALID, "ImportUnencrypted: want {\"<KeyType>\": \"<64 hex>\"}");
    json_object_foreach(v, name, hex)
    {
        if (vg_rpc_key_type_parse(name, &req->key_type) < 0 || !json_is_string(hex))
            return vg_fail(err, VG_E_INVALID, "ImportUnencrypted: want {\"<KeyType>\": \"<64 hex>\"}");
        size_t len = 0;
        req->secret = vg_secure_alloc(VG_RPC_SECRET_LEN);
        if (req->secret == NULL)
            return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
        /* sodium_hex2bin is constant-time and writes straight into secure memory. */
        if (sodium_hex2bin(req->secret, VG_RPC_SECRET_LEN, json_string_value(hex), json_string_length(hex), NULL,
                           &len, NULL) != 0 ||
            len != VG_RPC_SECRET_LEN || json_string_length(hex) != 2 * VG_RPC_SECRET_LEN)
            return vg_fail(err, VG_E_INVALID, "ImportUnencrypted: the key must be 64 hex digits");
    }
    return 0;
}

static int parse_sign(json_t *v, struct vg_rpc_request *req, vg_err *err)
{
    bool with = req->call == VG_RPC_SIGN_WITH;
    const char *key;
    json_t *val;
    uint64_t version = 256;
    bool have_key = false, have_msg = false;
    if (!json_is_object(v))
        return vg_fail(err, VG_E_INVALID, "%s: want an object", vg_rpc_call_name(req->call));
    json_object_foreach(v, key, val)
    {
        int rc;
        if (!with && strcmp(key, "handle") == 0) {
            rc = uint_field(val, key, UINT64_MAX >> 1, &req->handle, err);
            have_key = true;
        } else if (with && strcmp(key, "encrypted_private_key") == 0) {
            rc = hex_field(val, key, &req->blob, &req->blob_len, err);
            have_key = true;
        } else if (strcmp(key, "message") == 0) {
            rc = hex_field(val, key, &req->message, &req->message_len, err);
            have_msg = true;
        } else if (strcmp(key, "version") == 0)
            rc = uint_field(val, key, 255, &version, err);
        else
            rc = vg_fail(err, VG_E_INVALID, "%s: unknown field `%.40s`", vg_rpc_call_name(req->call), key);
        if (rc < 0)
            return -1;
    }
    if (!have_key || !have_msg || version > 255)
        return vg_fail(err, VG_E_INVALID, "%s: needs %s, message and version", vg_rpc_call_name(req->call),
                       with ? "encrypted_private_key" : "handle");
    req->version = (uint8_t)version; /* sent as given: the enclave decides what it accepts */
    return 0;
}

static int parse_request(const char *line, size_t len, bool from_argv, struct vg_rpc_request *req, vg_err *err)
{
    json_error_t jerr;
    memset(req, 0, sizeof *req);
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return vg_fail(err, VG_E_INVALID, "bad JSON at column %d: %s", jerr.column, jerr.text);
    const char *name = NULL;
    json_t *v = NULL;
    int rc = 0;
    if (!json_is_object(root) || json_object_size(root) != 1) {
        rc = vg_fail(err, VG_E_INVALID, "want an object with exactly one call, e.g. {\"PublicKey\":0}");
    } else {
        name = json_object_iter_key(json_object_iter(root));
        v = json_object_iter_value(json_object_iter(root));
        if (vg_rpc_call_parse(name, &req->call) < 0)
            rc = vg_fail(err, VG_E_INVALID, "unknown call `%.40s`", name);
    }
    if (rc == 0) {
        switch (req->call) {
        case VG_RPC_INITIALIZE:
            rc = parse_credentials(v, &req->creds, err);
            if (rc == 0 && from_argv && (req->creds.secret_access_key || req->creds.session_token))
                rc = vg_fail(err, VG_E_INVALID, "AWS secrets are refused on the command line: use stdin");
            break;
        case VG_RPC_IMPORT:
        case VG_RPC_PUBLIC_KEY_FROM: rc = hex_field(v, "blob", &req->blob, &req->blob_len, err); break;
        case VG_RPC_IMPORT_UNENCRYPTED:
            rc = from_argv ? vg_fail(err, VG_E_INVALID, "private keys are refused on the command line: use stdin")
                           : parse_secret_key(v, req, err);
            break;
        case VG_RPC_GENERATE:
        case VG_RPC_GENERATE_AND_IMPORT: rc = key_type_field(v, &req->key_type, err); break;
        case VG_RPC_SIGN:
        case VG_RPC_SIGN_WITH: rc = parse_sign(v, req, err); break;
        case VG_RPC_PUBLIC_KEY:
        case VG_RPC_PROVE_POSSESSION: rc = uint_field(v, "handle", UINT64_MAX >> 1, &req->handle, err); break;
        default: rc = vg_fail(err, VG_E_INVALID, "unhandled call"); break;
        }
    }
    json_decref(root);
    if (rc < 0)
        vg_rpc_request_clear(req);
    return rc;
}

/* ---- reply -> JSON ---- */

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (hex == NULL)
        return NULL;
    vg_hex_encode(p, n, hex);
    json_t *s = json_string(hex);
    vg_wipe(hex, 2 * n + 1); /* a mock blob is a plaintext key */
    free(hex);
    return s;
}

static json_t *typed_json(vg_key_type t, const uint8_t *p, size_t n)
{
    json_t *o = json_object();
    json_object_set_new(o, vg_rpc_key_type_name(t), hex_json(p, n));
    return o;
}

static json_t *reply_json(const struct vg_rpc_reply *rep)
{
    json_t *ok = NULL;
    switch (rep->kind) {
    case VG_RPC_REPLY_ERR: {
        json_t *err = json_null();
        for (size_t i = rep->err_depth; i-- > 0;)
            err = json_pack("{s:s, s:o}", "message", rep->err[i], "source", err);
        return json_pack("{s:o}", "Err", err);
    }
    case VG_RPC_REPLY_UNIT: ok = json_null(); break;
    case VG_RPC_REPLY_IMPORT:
    case VG_RPC_REPLY_GENERATE:
    case VG_RPC_REPLY_GENERATE_AND_IMPORT:
        ok = json_object();
        if (rep->kind != VG_RPC_REPLY_IMPORT)
            json_object_set_new(ok, "encrypted_private_key", hex_json(rep->blob, rep->blob_len));
        json_object_set_new(ok, "public_key", typed_json(rep->key_type, rep->public_key, rep->public_key_len));
        if (rep->kind != VG_RPC_REPLY_GENERATE)
            json_object_set_new(ok, "handle", json_integer((json_int_t)rep->handle));
        break;
    case VG_RPC_REPLY_SIGNATURE:
    case VG_RPC_REPLY_POP: ok = typed_json(rep->key_type, rep->signature, rep->signature_len); break;
    case VG_RPC_REPLY_PUBLIC_KEY: ok = typed_json(rep->key_type, rep->public_key, rep->public_key_len); break;
    default: ok = json_null(); break;
    }
    return json_pack("{s:o}", "Ok", ok);
}

/* Returns 0 on Ok, 1 on an Err reply, 2 on a transport failure (the connection is then gone). */
static int run_one(struct vg_rpc_client *c, const char *line, size_t len, bool from_argv)
{
    struct vg_rpc_request req;
    struct vg_rpc_reply rep;
    vg_err err = {0};
    memset(&rep, 0, sizeof rep);
    if (parse_request(line, len, from_argv, &req, &err) < 0) {
        fprintf(stderr, "vigil rpc: %s\n", err.msg);
        return 1;
    }
    int rc = vg_rpc_client_call(c, &req, &rep, &err);
    vg_rpc_request_clear(&req);
    if (rc < 0 && rep.err_depth == 0) {
        fprintf(stderr, "vigil rpc: %s\n", err.msg);
        vg_rpc_reply_clear(&rep);
        return 2;
    }
    json_t *out = reply_json(&rep);
    if (out != NULL && json_dumpf(out, stdout, JSON_COMPACT | JSON_ENCODE_ANY) == 0)
        fputc('\n', stdout);
    fflush(stdout);
    json_decref(out);
    vg_rpc_reply_clear(&rep);
    return rc < 0 ? 1 : 0;
}

int vg_cmd_rpc(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"address", required_argument, NULL, 'a'},
        {"call", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *address = NULL, *call = NULL;
    struct vg_rpc_client_opts opts = {0};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "a:c:t:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'a': address = optarg; break;
        case 'c': call = optarg; break;
        case 't': opts.call_timeout_ms = atoi(optarg) > 0 ? atoi(optarg) : 30000; break;
        case 'h': usage(stdout); return 0;
        default: return usage(stderr);
        }
    }
    if (address == NULL || optind != argc)
        return usage(stderr);
    struct vg_rpc_client *c;
    vg_err err = {0};
    if (vg_rpc_client_connect(address, &opts, &c, &err) < 0) {
        fprintf(stderr, "vigil rpc: %s\n", err.msg);
        return 2;
    }
    int rc = 0;
    if (call != NULL) {
        rc = run_one(c, call, strlen(call), true);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = '\0';
            if (n == 0)
                continue;
            if ((size_t)n > LINE_MAX_BYTES) {
                fprintf(stderr, "vigil rpc: line over %u bytes\n", LINE_MAX_BYTES);
                rc = 1;
                continue;
            }
            int r = run_one(c, line, (size_t)n, false);
            vg_wipe(line, (size_t)n); /* may have held a private key */
            if (r > rc)
                rc = r;
            if (r == 2)
                break;
        }
        if (line != NULL) {
            vg_wipe(line, cap);
            free(line);
        }
    }
    vg_rpc_client_free(c);
    return rc;
}
