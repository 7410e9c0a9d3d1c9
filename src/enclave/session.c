#include "enclave/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secmem.h"
#include "crypto/key.h"

struct vg_session {
    struct vg_seal *seal;
    void *seal_session; /* the sealer's per-connection state, from Initialize */
    bool initialized;
    vg_key **keys; /* the keychain: handle = index */
    size_t n_keys;
    size_t cap_keys;
    struct vg_session_limits lim;
};

/* spec §3.2 message texts (kept exact: cheap, and it makes cross-testing with tee-signer easy). */
#define MSG_SIGNER "signer error"
#define MSG_ENCRYPTION "encryption error"
#define MSG_DESERIALIZATION "deserialization error"

struct vg_session *vg_session_new(struct vg_seal *seal, const struct vg_session_limits *lim)
{
    struct vg_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->seal = seal;
    s->lim = *lim;
    return s;
}

void vg_session_free(struct vg_session *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_keys; i++)
        vg_key_free(s->keys[i]); /* wipes the secret */
    free(s->keys);
    if (s->initialized)
        vg_seal_session_end(s->seal, s->seal_session);
    free(s);
}

/* ---- helpers: each fills an Err reply and returns -1 on failure ---- */

static const vg_key *key_at(struct vg_session *s, uint64_t handle, struct vg_rpc_reply *rep)
{
    if (handle >= s->n_keys) {
        vg_rpc_reply_set_err(rep, MSG_SIGNER, "invalid handle");
        return NULL;
    }
    return s->keys[handle];
}

static int keychain_has_room(struct vg_session *s, struct vg_rpc_reply *rep)
{
    if (s->n_keys < s->lim.max_keys)
        return 0;
    char msg[64];
    snprintf(msg, sizeof msg, "keychain full (%zu keys)", s->lim.max_keys);
    vg_rpc_reply_set_err(rep, MSG_SIGNER, msg);
    return -1;
}

/* Appends k (ownership moves to the session) and returns its handle. */
static int keychain_add(struct vg_session *s, vg_key *k, uint64_t *handle, struct vg_rpc_reply *rep)
{
    if (keychain_has_room(s, rep) < 0)
        return -1;
    if (s->n_keys == s->cap_keys) {
        size_t cap = s->cap_keys ? s->cap_keys * 2 : 8;
        vg_key **keys = realloc(s->keys, cap * sizeof *keys); /* pointers only: nothing secret moves */
        if (keys == NULL) {
            vg_rpc_reply_set_err(rep, MSG_SIGNER, "out of memory");
            return -1;
        }
        s->keys = keys;
        s->cap_keys = cap;
    }
    *handle = s->n_keys;
    s->keys[s->n_keys++] = k;
    return 0;
}

static void set_public_key(struct vg_rpc_reply *rep, const vg_key *k)
{
    size_t len;
    const uint8_t *pk = vg_key_public(k, &len);
    rep->key_type = vg_key_get_type(k);
    rep->public_key_len = len <= sizeof rep->public_key ? len : 0;
    memcpy(rep->public_key, pk, rep->public_key_len);
}

/* Unseals a blob into a key (spec §10 step 6: decode CBOR(PrivateKey), validate). */
static vg_key *unseal_key(struct vg_session *s, const uint8_t *blob, size_t len, struct vg_rpc_reply *rep)
{
    vg_err err = {0};
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    if (vg_seal_unseal(s->seal, s->seal_session, blob, len, &pt, &pt_len, &err) < 0) {
        vg_rpc_reply_set_err(rep, MSG_ENCRYPTION, err.msg);
        return NULL;
    }
    uint8_t *secret = vg_secure_alloc(VG_RPC_SECRET_LEN);
    vg_key_type type;
    vg_key *k = NULL;
    if (secret == NULL) {
        vg_rpc_reply_set_err(rep, MSG_SIGNER, "out of secure memory");
    } else if (vg_rpc_private_key_decode(pt, pt_len, &type, secret, &err) < 0 ||
               vg_key_from_secret(type, secret, VG_RPC_SECRET_LEN, &k, &err) < 0) {
        vg_rpc_reply_set_err(rep, MSG_DESERIALIZATION, err.msg);
        k = NULL;
    }
    vg_secure_free(secret);
    vg_secure_free(pt);
    return k;
}

/* Seals CBOR(PrivateKey) of k into rep->blob (spec §9). */
static int seal_key(struct vg_session *s, const vg_key *k, struct vg_rpc_reply *rep)
{
    vg_err err = {0};
    uint8_t *secret = vg_secure_alloc(VG_RPC_SECRET_LEN);
    uint8_t *pt = vg_secure_alloc(VG_RPC_PRIVKEY_CBOR_MAX);
    size_t pt_len = 0;
    int rc = -1;
    if (secret == NULL || pt == NULL) {
        vg_rpc_reply_set_err(rep, MSG_SIGNER, "out of secure memory");
    } else {
        vg_key_secret(k, secret);
        vg_rpc_private_key_encode(vg_key_get_type(k), secret, pt, &pt_len);
        rc = vg_seal_seal(s->seal, s->seal_session, pt, pt_len, &rep->blob, &rep->blob_len, &err);
        if (rc < 0)
            vg_rpc_reply_set_err(rep, MSG_ENCRYPTION, err.msg);
    }
    vg_secure_free(pt);
    vg_secure_free(secret);
    return rc;
}

static void sign_with(const vg_key *k, const struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    vg_err err = {0};
    int version = VG_SIGN_V2; /* spec §5.3: "version matters only for BLS" */
    if (vg_key_get_type(k) == VG_KEY_BLS) {
        /* spec §3.3 / §19 W2: upstream panics on BLS version 0; vigil answers and keeps the connection. */
        if (req->version == 0) {
            vg_rpc_reply_set_err(rep, MSG_SIGNER, "Invalid signing version");
            return;
        }
        version = req->version == 1 ? VG_SIGN_V1 : VG_SIGN_V2; /* 255 = Latest = V2 */
    }
    size_t sig_len = 0;
    if (vg_sign(k, req->message, req->message_len, version, rep->signature, &sig_len, &err) < 0) {
        vg_rpc_reply_set_err(rep, MSG_SIGNER, err.msg);
        return;
    }
    rep->kind = VG_RPC_REPLY_SIGNATURE;
    rep->key_type = vg_key_get_type(k);
    rep->signature_len = sig_len;
}

/* ---- calls (spec §5.3) ---- */

static void do_initialize(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    vg_err err = {0};
    if (s->initialized) {
        /* spec §3.2: "second Initialize on the same connection" → `already initialized`. vigil's one
         * exception (§19 W4): a sealer that supports it (kms) takes fresh credentials for the same
         * encryption_key_id and region, so expiring instance-role credentials need no reconnect. The
         * mock and dev sealers keep upstream's answer byte for byte. */
        if (!vg_seal_can_refresh(s->seal)) {
            vg_rpc_reply_set_err(rep, "already initialized", NULL);
            return;
        }
        if (vg_seal_session_refresh(s->seal, s->seal_session, &req->creds, &err) < 0) {
            vg_rpc_reply_set_err(rep, "already initialized", err.msg);
            return;
        }
        rep->kind = VG_RPC_REPLY_UNIT;
        return;
    }
    if (vg_seal_session_begin(s->seal, &req->creds, &s->seal_session, &err) < 0) {
        vg_rpc_reply_set_err(rep, err.msg, NULL);
        return;
    }
    s->initialized = true;
    rep->kind = VG_RPC_REPLY_UNIT;
}

static void do_import(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    if (keychain_has_room(s, rep) < 0)
        return;
    vg_key *k = unseal_key(s, req->blob, req->blob_len, rep);
    if (k == NULL)
        return;
    set_public_key(rep, k);
    if (keychain_add(s, k, &rep->handle, rep) < 0) {
        vg_key_free(k);
        return;
    }
    rep->kind = VG_RPC_REPLY_IMPORT;
}

/* ImportUnencrypted (key already validated while decoding), Generate and GenerateAndImport. */
static void do_seal_new_key(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep, vg_key *k,
                            bool keep)
{
    if ((keep && keychain_has_room(s, rep) < 0) || seal_key(s, k, rep) < 0) {
        vg_key_free(k);
        return;
    }
    set_public_key(rep, k);
    if (!keep) {
        vg_key_free(k);
        rep->kind = VG_RPC_REPLY_GENERATE;
        return;
    }
    if (keychain_add(s, k, &rep->handle, rep) < 0) {
        vg_key_free(k);
        return;
    }
    rep->kind = VG_RPC_REPLY_GENERATE_AND_IMPORT;
}

static void do_generate(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    vg_err err = {0};
    vg_key *k = NULL;
    if (vg_key_generate(req->key_type, &k, &err) < 0) {
        vg_rpc_reply_set_err(rep, MSG_SIGNER, err.msg);
        return;
    }
    do_seal_new_key(s, req, rep, k, req->call == VG_RPC_GENERATE_AND_IMPORT);
}

static void do_sign(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    const vg_key *k = key_at(s, req->handle, rep);
    if (k != NULL)
        sign_with(k, req, rep);
}

static void do_sign_with(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    vg_key *k = unseal_key(s, req->blob, req->blob_len, rep);
    if (k == NULL)
        return;
    sign_with(k, req, rep);
    vg_key_free(k); /* SignWith forgets the key */
}

static void do_public_key(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    const vg_key *k = key_at(s, req->handle, rep);
    if (k == NULL)
        return;
    set_public_key(rep, k);
    rep->kind = VG_RPC_REPLY_PUBLIC_KEY;
}

static void do_public_key_from(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    vg_key *k = unseal_key(s, req->blob, req->blob_len, rep);
    if (k == NULL)
        return;
    set_public_key(rep, k);
    vg_key_free(k);
    rep->kind = VG_RPC_REPLY_PUBLIC_KEY;
}

static void do_prove_possession(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep)
{
    vg_err err = {0};
    const vg_key *k = key_at(s, req->handle, rep);
    if (k == NULL)
        return;
    if (vg_key_get_type(k) != VG_KEY_BLS) {
        vg_rpc_reply_set_err(rep, MSG_SIGNER, "Proof of possession is not supported");
        return;
    }
    if (vg_bls_prove_possession(k, rep->signature, &err) < 0) {
        vg_rpc_reply_set_err(rep, MSG_SIGNER, err.msg);
        return;
    }
    rep->kind = VG_RPC_REPLY_POP;
    rep->key_type = VG_KEY_BLS;
    rep->signature_len = 96;
}

typedef void (*call_handler)(struct vg_session *s, struct vg_rpc_request *req, struct vg_rpc_reply *rep);

/* Indexed by enum vg_rpc_call. ImportUnencrypted is handled in vg_session_handle (its key is built
 * during decoding). */
static const call_handler handlers[VG_RPC_CALL_COUNT] = {
    [VG_RPC_INITIALIZE] = do_initialize,
    [VG_RPC_IMPORT] = do_import,
    [VG_RPC_GENERATE] = do_generate,
    [VG_RPC_GENERATE_AND_IMPORT] = do_generate,
    [VG_RPC_SIGN] = do_sign,
    [VG_RPC_SIGN_WITH] = do_sign_with,
    [VG_RPC_PUBLIC_KEY] = do_public_key,
    [VG_RPC_PUBLIC_KEY_FROM] = do_public_key_from,
    [VG_RPC_PROVE_POSSESSION] = do_prove_possession,
};

void vg_session_handle(struct vg_session *s, const uint8_t *body, size_t len, struct vg_rpc_reply *rep, int *call)
{
    struct vg_rpc_request req;
    vg_err err = {0};
    vg_key *imported = NULL;
    vg_rpc_reply_clear(rep);
    *call = -1;
    /* spec §3.2: "decode first, then connection state"; decode errors are one level. */
    if (vg_rpc_request_decode(body, len, s->lim.message_max, &req, &err) < 0) {
        vg_rpc_reply_set_err(rep, err.msg, NULL);
        return;
    }
    *call = (int)req.call;
    /* spec §5.3: "The key is validated while the request is decoded (an invalid key is a request
     * decode error)". */
    if (req.call == VG_RPC_IMPORT_UNENCRYPTED &&
        vg_key_from_secret(req.key_type, req.secret, VG_RPC_SECRET_LEN, &imported, &err) < 0) {
        char msg[VG_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "Semantic(None, \"invalid private key: %.180s\")", err.msg);
        vg_rpc_reply_set_err(rep, msg, NULL);
    } else if (req.call != VG_RPC_INITIALIZE && !s->initialized) {
        vg_rpc_reply_set_err(rep, "uninitialized", NULL);
    } else if (req.call == VG_RPC_IMPORT_UNENCRYPTED) {
        do_seal_new_key(s, &req, rep, imported, true);
        imported = NULL;
    } else {
        handlers[req.call](s, &req, rep);
    }
    vg_key_free(imported);
    vg_rpc_request_clear(&req); /* wipes the key bytes of ImportUnencrypted */
}
