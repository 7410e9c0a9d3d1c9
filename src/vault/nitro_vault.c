/* The `nitro` vault: keys held by an enclave signer (vigil-enclave or tee-signer) over the enclave
 * RPC. The host only ever stores sealed blobs (`enclave_keys.json` or DynamoDB); at start it sends
 * Initialize and imports every blob, then signs by handle. A lost connection (restarted enclave) is
 * re-established with backoff, re-initialised and re-imported; meanwhile requests fail fast with
 * 503 (spec: signatory.md §7.11, §13 items 3 and 15).
 *
 * Config (`vaults.<name>.config`), each field falling back to its environment variable:
 *   enclave_cid (ENCLAVE_CID, default 16), enclave_port (ENCLAVE_PORT, 2000),
 *   address (vigil: "unix:/path" or "tcp://IP:PORT" for a dev-mode enclave; overrides cid/port),
 *   encryption_key_id (ENCRYPTION_KEY_ID; required unless dev), credentials {access_key_id,
 *   secret_access_key, session_token, region} (else the AWS chain: env, shared file, IMDSv2),
 *   storage {driver: file|aws|dynamodb, config: path | {table, ...}},
 *   proxy_remote_address (PROXY_REMOTE_ADDRESS: runs the KMS proxy), proxy_local_port (8000), proxy_listen. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/credentials.h"
#include "aws/key_storage_dynamodb.h"
#include "common/atomic_file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/secmem.h"
#include "nitro/vsock_proxy.h"
#include "rpc/rpc_client.h"
#include "vault/vault.h"

#define KEYS_FILE_MAX (16u << 20)
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000

typedef struct {
    uint64_t handle;
    uint8_t *blob; /* sealed key: ciphertext, ordinary memory */
    size_t blob_len;
} nitro_key;

typedef struct {
    char address[300];
    bool dev;                 /* unix:/tcp: transport, local sealing */
    uint32_t cid;             /* vsock enclave CID (0 when address is given) */
    char encryption_key_id[512];
    char region[64];
    vg_aws_credentials *creds;
    /* storage */
    char keys_file[1024];
    vg_key_storage_dynamodb *ddb;
    /* connection, guarded by lock: the RPC is one request at a time per connection */
    pthread_mutex_t lock;
    struct vg_rpc_client *client;
    int backoff_ms;
    struct timespec next_attempt;
    char last_error[VG_ERR_MSG_MAX];
} nitro_vault;

/* A config scalar (config.c stores every scalar as a JSON string), else the environment. */
static const char *setting(const json_t *cfg, const char *key, const char *env)
{
    const char *v = json_string_value(json_object_get(cfg, key));
    if (v != NULL && v[0] != '\0')
        return v;
    v = env != NULL ? getenv(env) : NULL;
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static int parse_uint(const char *text, const char *key, unsigned long max, unsigned long *out, vg_err *err)
{
    if (!vg_parse_ulong(text, 0, max, out))
        return vg_fail(err, VG_E_INVALID, "%s: `%s' is not a number up to %lu", key, text, max);
    return 0;
}

static int resolve_address(nitro_vault *nv, const json_t *cfg, vg_err *err)
{
    const char *addr = setting(cfg, "address", "VIGIL_ENCLAVE_ADDRESS");
    if (addr != NULL) {
        snprintf(nv->address, sizeof nv->address, "%s", addr);
        nv->dev = strncmp(addr, "unix:", 5) == 0 || strncmp(addr, "tcp://", 6) == 0;
        return 0;
    }
    unsigned long cid = 16, port = 2000;
    const char *cid_text = setting(cfg, "enclave_cid", "ENCLAVE_CID");
    const char *port_text = setting(cfg, "enclave_port", "ENCLAVE_PORT");
    if (cid_text != NULL && parse_uint(cid_text, "enclave_cid", 0xfffffffeUL, &cid, err) < 0)
        return -1;
    if (cid < 4) /* 0-2 are reserved, 3 is this parent instance */
        return vg_fail(err, VG_E_INVALID, "enclave_cid: %lu is not an enclave CID (4 or more)", cid);
    nv->cid = (uint32_t)cid;
    if (port_text != NULL && parse_uint(port_text, "enclave_port", 0xffffffffUL, &port, err) < 0)
        return -1;
    if (cid_text == NULL)
        VG_WARN("nitro: enclave_cid not set (config or ENCLAVE_CID): using the default 16");
    snprintf(nv->address, sizeof nv->address, "vsock://%lu:%lu", cid, port);
    return 0;
}

static int resolve_credentials(nitro_vault *nv, const json_t *cfg, vg_err *err)
{
    const json_t *c = json_object_get(cfg, "credentials");
    vg_aws_credentials_options opt = {
        .access_key_id = setting(c, "access_key_id", NULL),
        .secret_access_key = setting(c, "secret_access_key", NULL),
        .session_token = setting(c, "session_token", NULL),
        .region = setting(c, "region", NULL),
    };
    vg_err cerr = {0};
    if (nv->dev && opt.access_key_id == NULL && getenv("AWS_ACCESS_KEY_ID") == NULL) {
        /* A dev-mode enclave seals locally: do not go looking for instance credentials. */
        snprintf(nv->region, sizeof nv->region, "%s", opt.region != NULL ? opt.region : "us-east-1");
        return 0;
    }
    if (vg_aws_credentials_new(&opt, &nv->creds, &cerr) < 0) {
        if (!nv->dev) {
            *err = cerr;
            return vg_wrap(err, "nitro: missing credentials");
        }
        /* A dev-mode enclave seals locally and never calls KMS: placeholders are enough. */
        VG_WARN("nitro: no AWS credentials (%s); dev-mode enclave at %s gets placeholders", cerr.msg, nv->address);
        nv->creds = NULL;
    }
    const char *region = nv->creds != NULL ? vg_aws_credentials_region(nv->creds) : "";
    if ((region == NULL || region[0] == '\0') && !nv->dev)
        return vg_fail(err, VG_E_INVALID, "nitro: no AWS region (credentials.region, AWS_REGION or the profile): "
                                          "the enclave must know which KMS endpoint to trust");
    snprintf(nv->region, sizeof nv->region, "%s", region != NULL && region[0] ? region : "us-east-1");
    return 0;
}

/* ---------- key storage: enclave_keys.json (Signatory's format) or DynamoDB ---------- */

typedef struct {
    char pkh[64];
    uint8_t *blob;
    size_t blob_len;
} stored_key;

static void stored_free(stored_key *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].blob);
    free(s);
}

static int file_list(const char *path, stored_key **out, size_t *n, vg_err *err)
{
    *out = NULL;
    *n = 0;
    vg_err lerr = {0};
    json_t *root = vg_json_load_file(path, KEYS_FILE_MAX, &lerr);
    if (root == NULL) {
        if (lerr.kind == VG_E_NOTFOUND)
            return 0; /* a missing file = no keys yet */
        *err = lerr;
        return -1;
    }
    int rc = 0;
    if (!json_is_array(root)) {
        rc = vg_fail(err, VG_E_INVALID, "%s: expected a JSON array", path);
        goto out;
    }
    *out = calloc(json_array_size(root) + 1, sizeof **out);
    if (*out == NULL) {
        rc = vg_fail(err, VG_E_INTERNAL, "out of memory");
        goto out;
    }
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e)
    {
        const char *pkh = json_string_value(json_object_get(e, "public_key_hash"));
        const char *b64 = json_string_value(json_object_get(e, "encrypted_private_key"));
        stored_key *s = &(*out)[*n];
        size_t b64len = b64 != NULL ? strlen(b64) : 0;
        if (pkh == NULL || b64 == NULL || strlen(pkh) >= sizeof s->pkh) {
            rc = vg_fail(err, VG_E_INVALID, "%s: entry %zu: expected {public_key_hash, encrypted_private_key}", path,
                         i);
            goto out;
        }
        snprintf(s->pkh, sizeof s->pkh, "%s", pkh);
        s->blob = malloc(b64len / 4 * 3 + 3);
        if (s->blob == NULL || sodium_base642bin(s->blob, b64len / 4 * 3 + 3, b64, b64len, NULL, &s->blob_len, NULL,
                                                 sodium_base64_VARIANT_ORIGINAL) != 0) {
            free(s->blob);
            rc = vg_fail(err, VG_E_INVALID, "%s: entry %zu (%s): encrypted_private_key is not base64", path, i, pkh);
            goto out;
        }
        (*n)++;
    }
out:
    json_decref(root);
    if (rc < 0) {
        stored_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* Rewrites the whole file atomically. */
static int file_write(const char *path, const vg_vault *v, vg_err *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < v->n_keys; i++) {
        const nitro_key *nk = v->keys[i].ref;
        size_t b64len = sodium_base64_ENCODED_LEN(nk->blob_len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64len);
        if (b64 == NULL) {
            json_decref(arr);
            return vg_fail(err, VG_E_INTERNAL, "out of memory");
        }
        sodium_bin2base64(b64, b64len, nk->blob, nk->blob_len, sodium_base64_VARIANT_ORIGINAL);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "public_key_hash", v->keys[i].pkh_text,
                                             "encrypted_private_key", b64));
        free(b64);
    }
    char *text = json_dumps(arr, JSON_INDENT(4));
    json_decref(arr);
    if (text == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    int rc = vg_write_file_atomic(path, text, strlen(text), 0600, err);
    vg_json_free_string(text);
    return rc;
}

static int open_storage(nitro_vault *nv, const json_t *cfg, const char *base_dir, vg_err *err)
{
    const json_t *st = json_object_get(cfg, "storage");
    const char *driver = setting(st, "driver", NULL);
    const json_t *scfg = json_object_get(st, "config");
    if (driver == NULL || strcmp(driver, "file") == 0) {
        const char *path = json_string_value(scfg);
        if (path == NULL)
            path = setting(scfg, "file", NULL);
        if (path != NULL)
            snprintf(nv->keys_file, sizeof nv->keys_file, "%s", path);
        else
            snprintf(nv->keys_file, sizeof nv->keys_file, "%s/enclave_keys.json", base_dir);
        return 0;
    }
    if (strcmp(driver, "aws") == 0 || strcmp(driver, "dynamodb") == 0)
        return vg_key_storage_dynamodb_open(json_is_object(scfg) ? scfg : NULL, &nv->ddb, err);
    return vg_fail(err, VG_E_INVALID, "storage.driver `%s' is not file, aws or dynamodb", driver);
}

static int storage_list(nitro_vault *nv, stored_key **out, size_t *n, vg_err *err)
{
    if (nv->ddb == NULL)
        return file_list(nv->keys_file, out, n, err);
    vg_key_storage_entry *e;
    size_t count;
    if (vg_key_storage_dynamodb_list(nv->ddb, 0, &e, &count, err) < 0)
        return -1;
    *out = calloc(count + 1, sizeof **out);
    if (*out == NULL) {
        vg_key_storage_entries_free(e, count);
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        snprintf((*out)[i].pkh, sizeof (*out)[i].pkh, "%s", e[i].pkh);
        (*out)[i].blob = e[i].blob;
        (*out)[i].blob_len = e[i].blob_len;
        e[i].blob = NULL;
    }
    *n = count;
    vg_key_storage_entries_free(e, count);
    return 0;
}

/* ---------- the connection ---------- */

static int call(nitro_vault *nv, const struct vg_rpc_request *req, struct vg_rpc_reply *rep, vg_err *err)
{
    memset(rep, 0, sizeof *rep);
    return vg_rpc_client_call(nv->client, req, rep, err);
}

static int initialize(nitro_vault *nv, vg_err *err)
{
    struct vg_rpc_request req = {.call = VG_RPC_INITIALIZE};
    vg_aws_creds c = {0};
    if (nv->creds != NULL && vg_aws_credentials_get(nv->creds, &c, err) < 0)
        return vg_wrap(err, "nitro: credentials");
    static char placeholder[] = "dev-mode";
    req.creds.access_key_id = c.access_key_id != NULL ? c.access_key_id : placeholder;
    req.creds.secret_access_key = c.secret_access_key != NULL ? c.secret_access_key : placeholder;
    req.creds.session_token = c.session_token;
    req.creds.encryption_key_id = nv->encryption_key_id[0] ? nv->encryption_key_id : placeholder;
    req.creds.region = nv->region;
    struct vg_rpc_reply rep;
    int rc = call(nv, &req, &rep, err);
    vg_rpc_reply_clear(&rep);
    vg_aws_creds_clear(&c);
    return rc < 0 ? vg_wrap(err, "nitro: Initialize") : 0;
}

/* Imports one blob; fills the public key and handle. */
static int import_blob(nitro_vault *nv, const uint8_t *blob, size_t len, struct vg_rpc_reply *rep, vg_err *err)
{
    struct vg_rpc_request req = {.call = VG_RPC_IMPORT, .blob = (uint8_t *)blob, .blob_len = len};
    return call(nv, &req, rep, err);
}

/* Connects, initialises and re-imports every known key (after a restart of the enclave its
 * handles are new). Caller holds the lock. */
static int reconnect(vg_vault *v, vg_err *err)
{
    nitro_vault *nv = v->state;
    vg_rpc_client_free(nv->client);
    nv->client = NULL;
    if (vg_rpc_client_connect(nv->address, NULL, &nv->client, err) < 0)
        return -1;
    if (initialize(nv, err) < 0)
        return -1;
    for (size_t i = 0; i < v->n_keys; i++) {
        nitro_key *nk = v->keys[i].ref;
        struct vg_rpc_reply rep;
        int rc = import_blob(nv, nk->blob, nk->blob_len, &rep, err);
        bool same = rc == 0 && rep.public_key_len == v->keys[i].pklen &&
                    memcmp(rep.public_key, v->keys[i].pk, rep.public_key_len) == 0;
        nk->handle = rep.handle;
        vg_rpc_reply_clear(&rep);
        if (rc < 0)
            return vg_wrap(err, "nitro: re-import of %s", v->keys[i].pkh_text);
        if (!same)
            return vg_fail(err, VG_E_INTERNAL, "nitro: re-import of %s gave another public key", v->keys[i].pkh_text);
    }
    return 0;
}

static bool due(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Makes sure the connection is usable; fails fast while backing off. Caller holds the lock. */
static int ensure_connected(vg_vault *v, vg_err *err)
{
    nitro_vault *nv = v->state;
    if (nv->client != NULL && !vg_rpc_client_is_broken(nv->client))
        return 0;
    if (!due(&nv->next_attempt))
        return vg_fail(err, VG_E_UNAVAILABLE, "(%s): enclave signer unavailable (reconnecting): %s", v->name,
                       nv->last_error);
    vg_err cerr = {0};
    if (reconnect(v, &cerr) == 0) {
        VG_INFO("nitro: vault %s connected to the enclave signer on %s, %zu key(s) imported", v->name, nv->address,
                v->n_keys);
        nv->backoff_ms = BACKOFF_MIN_MS;
        nv->last_error[0] = '\0';
        return 0;
    }
    snprintf(nv->last_error, sizeof nv->last_error, "%s", cerr.msg);
    clock_gettime(CLOCK_MONOTONIC, &nv->next_attempt);
    nv->next_attempt.tv_sec += nv->backoff_ms / 1000;
    nv->next_attempt.tv_nsec += (long)(nv->backoff_ms % 1000) * 1000000L;
    if (nv->next_attempt.tv_nsec >= 1000000000L) {
        nv->next_attempt.tv_sec++;
        nv->next_attempt.tv_nsec -= 1000000000L;
    }
    VG_ERROR("nitro: vault %s: cannot reach the enclave signer on %s (retry in %d ms): %s", v->name, nv->address,
             nv->backoff_ms, cerr.msg);
    nv->backoff_ms = nv->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : nv->backoff_ms * 2;
    return vg_fail(err, VG_E_UNAVAILABLE, "(%s): enclave signer unavailable: %s", v->name, cerr.msg);
}

/* One RPC with the reconnect rule: a transport failure marks the connection broken, and the next
 * request (not this one: a signature request is not silently retried) reconnects. */
static int locked_call(vg_vault *v, const struct vg_rpc_request *req, struct vg_rpc_reply *rep, vg_err *err)
{
    nitro_vault *nv = v->state;
    memset(rep, 0, sizeof *rep); /* callers clear it whatever happens */
    pthread_mutex_lock(&nv->lock);
    int rc = ensure_connected(v, err);
    if (rc == 0) {
        rc = call(nv, req, rep, err);
        if (rc < 0 && rep->err_depth == 0) {
            err->kind = VG_E_UNAVAILABLE;
            vg_wrap(err, "(%s): enclave connection lost", v->name);
            clock_gettime(CLOCK_MONOTONIC, &nv->next_attempt); /* reconnect on the next request */
        } else if (rc < 0) {
            vg_wrap(err, "(%s): RPC error", v->name);
        }
    }
    pthread_mutex_unlock(&nv->lock);
    return rc;
}

/* ---------- driver ---------- */

static vg_vault_key *add_nitro_key(vg_vault *v, const struct vg_rpc_reply *rep, const uint8_t *blob, size_t len,
                                   vg_err *err)
{
    nitro_key *nk = calloc(1, sizeof *nk);
    if (nk == NULL || (nk->blob = malloc(len ? len : 1)) == NULL) {
        free(nk);
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(nk->blob, blob, len);
    nk->blob_len = len;
    nk->handle = rep->handle;
    vg_vault_key *k = vg_vault_add_key(v, rep->key_type, rep->public_key, rep->public_key_len, "", NULL, err);
    if (k == NULL) {
        free(nk->blob);
        free(nk);
        return NULL;
    }
    k->ref = nk;
    snprintf(k->name, sizeof k->name, "handle %llu", (unsigned long long)nk->handle);
    return k;
}

/* proxy_remote_address enables the built-in KMS proxy: vsock port proxy_local_port (8000) → that
 * host:port, for as long as the daemon runs. proxy_listen (vigil) overrides the listen address
 * (e.g. tcp://127.0.0.1:PORT with a dev enclave). */
static int start_proxy(const nitro_vault *nv, const json_t *cfg, vg_err *err)
{
    const char *remote = setting(cfg, "proxy_remote_address", "PROXY_REMOTE_ADDRESS");
    if (remote == NULL)
        return 0;
    char listen[64];
    const char *listen_addr = setting(cfg, "proxy_listen", NULL);
    if (listen_addr == NULL) {
        unsigned long port = 8000;
        const char *port_text = setting(cfg, "proxy_local_port", "PROXY_LOCAL_PORT");
        if (port_text != NULL && parse_uint(port_text, "proxy_local_port", 65535, &port, err) < 0)
            return -1;
        snprintf(listen, sizeof listen, "vsock://ANY:%lu", port);
        listen_addr = listen;
    }
    /* Only our enclave may use the proxy to reach KMS (nitro-deploy.md §7). */
    vg_proxy_options opt = {.listen = listen_addr, .remote = remote, .cid_filter = nv->cid != 0, .enclave_cid = nv->cid};
    vg_proxy *proxy;
    vg_err perr = {0};
    if (vg_proxy_start(&opt, &proxy, &perr) == 0)
        return 0; /* lives until the process exits */
    if (perr.kind == VG_E_INVALID) {
        *err = perr;
        return -1;
    }
    /* `vigil generate` next to a running `vigil serve` finds the port taken by the daemon's proxy,
     * which serves it just as well; anything else shows up as a clear KMS error on first use. */
    VG_WARN("nitro: KMS proxy not started (%s); using the one already listening on %s", perr.msg, listen_addr);
    return 0;
}

static int nitro_open(vg_vault *v, const vg_vault_config *vc, const char *base_dir, vg_err *err)
{
    nitro_vault *nv = calloc(1, sizeof *nv);
    if (nv == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    pthread_mutex_init(&nv->lock, NULL);
    nv->backoff_ms = BACKOFF_MIN_MS;
    v->state = nv;
    const json_t *cfg = vc->raw;
    if (resolve_address(nv, cfg, err) < 0 || start_proxy(nv, cfg, err) < 0 || resolve_credentials(nv, cfg, err) < 0 ||
        open_storage(nv, cfg, base_dir, err) < 0)
        return -1;
    const char *kid = setting(cfg, "encryption_key_id", "ENCRYPTION_KEY_ID");
    if (kid == NULL && !nv->dev)
        return vg_fail(err, VG_E_INVALID, "missing encryption_key_id (config or ENCRYPTION_KEY_ID)");
    snprintf(nv->encryption_key_id, sizeof nv->encryption_key_id, "%s", kid != NULL ? kid : "");

    VG_INFO("nitro: vault %s connecting to the enclave signer on %s...", v->name, nv->address);
    if (vg_rpc_client_connect(nv->address, NULL, &nv->client, err) < 0 || initialize(nv, err) < 0)
        return -1;
    stored_key *stored = NULL;
    size_t n = 0;
    if (storage_list(nv, &stored, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct vg_rpc_reply rep;
        if ((rc = import_blob(nv, stored[i].blob, stored[i].blob_len, &rep, err)) < 0) {
            vg_wrap(err, "nitro: import of %s", stored[i].pkh);
        } else {
            vg_vault_key *k = add_nitro_key(v, &rep, stored[i].blob, stored[i].blob_len, err);
            if (k == NULL)
                rc = -1;
            else if (strcmp(k->pkh_text, stored[i].pkh) != 0)
                rc = vg_fail(err, VG_E_INVALID, "nitro: stored key %s unseals to %s: storage is inconsistent",
                             stored[i].pkh, k->pkh_text);
        }
        vg_rpc_reply_clear(&rep);
    }
    stored_free(stored, n);
    return rc;
}

static int nitro_sign(vg_vault *v, const vg_vault_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig,
                      size_t *siglen, vg_err *err)
{
    const nitro_key *nk = k->ref;
    struct vg_rpc_request req = {.call = VG_RPC_SIGN,
                                 .handle = nk->handle,
                                 .message = (uint8_t *)msg,
                                 .message_len = len,
                                 .version = (uint8_t)version};
    struct vg_rpc_reply rep;
    int rc = locked_call(v, &req, &rep, err);
    if (rc == 0) {
        if (rep.key_type != k->type || rep.signature_len != vg_sig_len(k->type)) {
            rc = vg_fail(err, VG_E_INTERNAL, "(%s): enclave returned a %s signature for a %s key", v->name,
                         vg_key_type_name(rep.key_type), vg_key_type_name(k->type));
        } else {
            memcpy(sig, rep.signature, rep.signature_len);
            *siglen = rep.signature_len;
        }
    }
    vg_rpc_reply_clear(&rep);
    return rc;
}

static int nitro_pop(vg_vault *v, const vg_vault_key *k, uint8_t sig[96], vg_err *err)
{
    const nitro_key *nk = k->ref;
    struct vg_rpc_request req = {.call = VG_RPC_PROVE_POSSESSION, .handle = nk->handle};
    struct vg_rpc_reply rep;
    int rc = locked_call(v, &req, &rep, err);
    if (rc == 0 && rep.signature_len == 96 && vg_bls_verify_pop(k->pk, rep.signature))
        memcpy(sig, rep.signature, 96);
    else if (rc == 0)
        rc = vg_fail(err, VG_E_INTERNAL, "(%s): enclave returned an invalid proof of possession", v->name);
    vg_rpc_reply_clear(&rep);
    return rc;
}

static int persist(nitro_vault *nv, const vg_vault *v, const vg_vault_key *k, vg_err *err)
{
    const nitro_key *nk = k->ref;
    int rc = nv->ddb != NULL ? vg_key_storage_dynamodb_put(nv->ddb, k->pkh_text, nk->blob, nk->blob_len, err)
                             : file_write(nv->keys_file, v, err);
    return rc < 0 ? vg_wrap(err, "nitro: storing %s", k->pkh_text) : 0;
}

static int nitro_generate(vg_vault *v, vg_key_type t, size_t n, vg_err *err)
{
    nitro_vault *nv = v->state;
    for (size_t i = 0; i < n; i++) {
        struct vg_rpc_request req = {.call = VG_RPC_GENERATE_AND_IMPORT, .key_type = t};
        struct vg_rpc_reply rep;
        if (locked_call(v, &req, &rep, err) < 0) {
            vg_rpc_reply_clear(&rep);
            return -1;
        }
        vg_vault_key *k = add_nitro_key(v, &rep, rep.blob, rep.blob_len, err);
        vg_rpc_reply_clear(&rep);
        /* Persist after each key: a generated key that is not stored would be lost for good. */
        if (k == NULL || persist(nv, v, k, err) < 0)
            return -1;
    }
    return 0;
}

static int nitro_import(vg_vault *v, const vg_key *key, const char *name, vg_err *err)
{
    nitro_vault *nv = v->state;
    struct vg_rpc_request req = {.call = VG_RPC_IMPORT_UNENCRYPTED, .key_type = vg_key_get_type(key)};
    req.secret = vg_secure_alloc(VG_SECRET_LEN);
    if (req.secret == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    vg_key_secret(key, req.secret);
    struct vg_rpc_reply rep;
    int rc = locked_call(v, &req, &rep, err);
    vg_secure_free(req.secret);
    size_t pklen;
    const uint8_t *pk = vg_key_public(key, &pklen);
    vg_vault_key *k = NULL;
    if (rc == 0 && (rep.public_key_len != pklen || memcmp(rep.public_key, pk, pklen) != 0))
        rc = vg_fail(err, VG_E_INTERNAL, "(%s): the enclave derived another public key for the imported key",
                     v->name);
    if (rc == 0 && (k = add_nitro_key(v, &rep, rep.blob, rep.blob_len, err)) == NULL)
        rc = -1;
    vg_rpc_reply_clear(&rep);
    if (rc == 0 && name != NULL && name[0] != '\0')
        snprintf(k->name, sizeof k->name, "%s", name);
    return rc == 0 ? persist(nv, v, k, err) : -1;
}

static bool nitro_ready(vg_vault *v, bool probe)
{
    nitro_vault *nv = v->state;
    pthread_mutex_lock(&nv->lock);
    bool ok = nv->client != NULL && !vg_rpc_client_is_broken(nv->client);
    if (!ok && probe) {
        vg_err err = {0};
        ok = ensure_connected(v, &err) == 0;
    }
    pthread_mutex_unlock(&nv->lock);
    return ok;
}

static void nitro_close(vg_vault *v)
{
    nitro_vault *nv = v->state;
    for (size_t i = 0; i < v->n_keys; i++) {
        nitro_key *nk = v->keys[i].ref;
        if (nk != NULL)
            free(nk->blob);
        free(nk);
    }
    if (nv == NULL)
        return;
    vg_rpc_client_free(nv->client);
    vg_aws_credentials_free(nv->creds);
    vg_key_storage_dynamodb_close(nv->ddb);
    pthread_mutex_destroy(&nv->lock);
    free(nv);
}

const vg_vault_driver vg_nitro_vault_driver = {
    .driver = "nitro",
    .display_name = "NitroEnclave",
    .open = nitro_open,
    .sign = nitro_sign,
    .prove_possession = nitro_pop,
    .generate = nitro_generate,
    .import = nitro_import,
    .ready = nitro_ready,
    .close = nitro_close,
    .verify_signatures = true, /* the signer is another process: check what it returns */
};
