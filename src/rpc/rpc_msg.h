/* Enclave RPC messages (tee-signer compatible, spec: shared/specs/enclave-rpc.md §2, §3, §5):
 * one request struct and one reply struct covering every call, each with an encoder and the single
 * bounded decoder (rpc_cbor.h). Both sides (host client, vigil-enclave) use these.
 *
 * Ownership: structs filled by a _decode function own their buffers (free with _clear, which wipes).
 * Structs a caller fills for _encode may point at borrowed memory and must not be _clear'ed. */
#ifndef VIGIL_RPC_RPC_MSG_H
#define VIGIL_RPC_RPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/key.h"
#include "rpc/rpc_cbor.h"

enum vg_rpc_call {
    VG_RPC_INITIALIZE = 0,
    VG_RPC_IMPORT,
    VG_RPC_IMPORT_UNENCRYPTED,
    VG_RPC_GENERATE,
    VG_RPC_GENERATE_AND_IMPORT,
    VG_RPC_SIGN,
    VG_RPC_SIGN_WITH,
    VG_RPC_PUBLIC_KEY,
    VG_RPC_PUBLIC_KEY_FROM,
    VG_RPC_PROVE_POSSESSION,
};
#define VG_RPC_CALL_COUNT 10

#define VG_RPC_SECRET_LEN 32
/* CBOR(PrivateKey) is at most a1 69 "Secp256k1" 58 20 <32> = 45 bytes (spec §9). */
#define VG_RPC_PRIVKEY_CBOR_MAX 45
/* Sealed blobs: KMS CiphertextBlob is at most 6144 bytes; leave room for other sealers. */
#define VG_RPC_BLOB_MAX 8192
#define VG_RPC_TEXT_MAX 4096
#define VG_RPC_ERR_DEPTH_MAX 8

/* spec §2.2: "`version` is a u8 enum: only 0, 1, 2 and 255 are accepted". */
#define VG_RPC_VERSION_LATEST 255

/* "Variant" name of a call or key type as on the wire ("Sign", "NistP256"). */
const char *vg_rpc_call_name(enum vg_rpc_call call);
const char *vg_rpc_key_type_name(vg_key_type t);
int vg_rpc_call_parse(const char *name, enum vg_rpc_call *out);
int vg_rpc_key_type_parse(const char *name, vg_key_type *out);
/* Wire names indexed by vg_key_type / enum vg_rpc_call (for the enum decoder). */
const char *const *vg_rpc_key_type_names(size_t *n);
const char *const *vg_rpc_call_names(size_t *n);
/* Public key / signature sizes per key type (spec §5.2). */
size_t vg_rpc_public_key_len(vg_key_type t);
size_t vg_rpc_signature_len(vg_key_type t);

/* Initialize credentials. Which fields a backend needs is the backend's business (the mock and dev
 * sealers take any map, spec §16); the decoder only type-checks the fields it knows. */
struct vg_rpc_credentials {
    char *access_key_id;     /* NULL when absent */
    char *secret_access_key; /* secure memory when decoded */
    char *session_token;     /* secure memory when decoded; NULL when absent or null */
    char *encryption_key_id;
    char *region;
    bool session_token_null; /* encode `session_token: null` (Rust form) instead of omitting it (Go form) */
};

struct vg_rpc_request {
    enum vg_rpc_call call;
    struct vg_rpc_credentials creds; /* Initialize */
    vg_key_type key_type;            /* Generate, GenerateAndImport, ImportUnencrypted */
    uint8_t *secret;                 /* ImportUnencrypted: VG_RPC_SECRET_LEN bytes, secure memory */
    uint8_t *blob;                   /* Import, PublicKeyFrom, SignWith */
    size_t blob_len;
    uint8_t *message; /* Sign, SignWith */
    size_t message_len;
    uint64_t handle; /* Sign, PublicKey, ProvePossession */
    uint8_t version; /* Sign, SignWith: 0, 1, 2 or 255 */
};

/* Decodes one request from a frame body. Bytes after the first item are ignored (spec §1.2).
 * Errors (VG_E_INVALID) carry ciborium-shaped text meant for the one-level Err reply. */
int vg_rpc_request_decode(const uint8_t *body, size_t len, size_t message_max, struct vg_rpc_request *out,
                          vg_err *err);
int vg_rpc_request_encode(const struct vg_rpc_request *req, struct vg_cbor_out *out, vg_err *err);
void vg_rpc_request_clear(struct vg_rpc_request *req);

enum vg_rpc_reply_kind {
    VG_RPC_REPLY_ERR = 0,
    VG_RPC_REPLY_UNIT,                /* Initialize */
    VG_RPC_REPLY_IMPORT,              /* Import */
    VG_RPC_REPLY_GENERATE,            /* Generate */
    VG_RPC_REPLY_GENERATE_AND_IMPORT, /* GenerateAndImport, ImportUnencrypted */
    VG_RPC_REPLY_SIGNATURE,           /* Sign, SignWith */
    VG_RPC_REPLY_PUBLIC_KEY,          /* PublicKey, PublicKeyFrom */
    VG_RPC_REPLY_POP,                 /* ProvePossession */
};

struct vg_rpc_reply {
    enum vg_rpc_reply_kind kind;
    vg_key_type key_type; /* of public_key or signature */
    uint8_t public_key[VG_PUBKEY_MAX];
    size_t public_key_len;
    uint8_t signature[VG_SIG_MAX];
    size_t signature_len;
    uint8_t *blob; /* sealed key (malloc'ed, owned; may be plaintext with the mock sealer) */
    size_t blob_len;
    uint64_t handle;
    /* Err: message chain, outermost first (spec §3.1). */
    size_t err_depth;
    char err[VG_RPC_ERR_DEPTH_MAX][VG_ERR_MSG_MAX];
};

/* The Ok shape a call answers with. */
enum vg_rpc_reply_kind vg_rpc_reply_kind_for(enum vg_rpc_call call);
/* Makes rep (an initialised reply: zeroed or decoded) an Err reply: `outer`, then `inner` as its
 * source when not NULL. Frees what rep held. */
void vg_rpc_reply_set_err(struct vg_rpc_reply *rep, const char *outer, const char *inner);
/* "outer: inner: ..." into buf. */
void vg_rpc_reply_err_join(const struct vg_rpc_reply *rep, char *buf, size_t cap);
int vg_rpc_reply_encode(const struct vg_rpc_reply *rep, struct vg_cbor_out *out, vg_err *err);
/* Decodes the reply to `call`: either an Err or the Ok shape of that call (anything else fails). */
int vg_rpc_reply_decode(enum vg_rpc_call call, const uint8_t *body, size_t len, struct vg_rpc_reply *out,
                        vg_err *err);
/* Frees and wipes the blob; leaves an empty Err-less reply. Safe on a zeroed struct. */
void vg_rpc_reply_clear(struct vg_rpc_reply *rep);

/* CBOR(PrivateKey), the sealed plaintext (spec §9): into out (caller's secure buffer). */
void vg_rpc_private_key_encode(vg_key_type t, const uint8_t secret[VG_RPC_SECRET_LEN],
                               uint8_t out[VG_RPC_PRIVKEY_CBOR_MAX], size_t *out_len);
/* Decodes CBOR(PrivateKey) into secret (caller's secure buffer). Checks only the shape and length;
 * scalar ranges are checked by vg_key_from_secret. */
int vg_rpc_private_key_decode(const uint8_t *buf, size_t len, vg_key_type *type,
                              uint8_t secret[VG_RPC_SECRET_LEN], vg_err *err);

#endif
