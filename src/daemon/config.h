/* vigil's configuration: a Signatory-compatible YAML file (libfyaml), with ${VAR}/$VAR expansion
 * in every scalar, defaults for absent or null sections, and errors that name file:line. */
#ifndef VIGIL_DAEMON_CONFIG_H
#define VIGIL_DAEMON_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "tezos/encoding.h"
#include "tezos/request.h"

#define VG_MAX_CHAINS 16
#define VG_CONFIG_FILE_MAX (1024 * 1024) /* config files above 1 MiB are refused before parsing */
#define VG_CONFIG_KEYS_MAX 1024           /* authorized_keys entries per list */

/* A client public key from an `authorized_keys` list, with its hash (what request
 * authentication yields and what the per-key check compares). */
typedef struct {
    vg_key_type type;
    uint8_t pk[VG_PUBKEY_MAX];
    size_t pk_len;
    vg_pkh pkh;
} vg_config_pubkey;

typedef struct {
    char name[64];
    char driver[32];
    /* file driver: path of the secret file (env-expanded); other drivers read their own keys later */
    char file[1024];
    /* The vault's `config:` node as JSON, every scalar env-expanded and kept as a JSON string
     * (YAML null -> JSON null). Owned by the config; NULL when absent. Drivers other than `file`
     * read their options from here. */
    json_t *raw;
    int line;                      /* line of the vault entry, for the driver's own error messages */
} vg_vault_config;

typedef struct {
    vg_pkh pkh;
    char pkh_text[VG_B58_MAX];     /* sized for vg_pkh_format */
    bool allowed_requests[VG_REQ_KIND_COUNT];
    /* generic operation kinds allowed; index = vg_op_kind index */
    bool *allowed_ops;             /* vg_op_kind_count() entries */
    bool ballot_allowed[3];        /* ballot:yay/nay/pass (all true when plain "ballot" listed) */
    size_t n_chains;               /* 0 = any chain */
    uint8_t allowed_chains[VG_MAX_CHAINS][4];
    bool allow_proof_of_possession;
    bool log_payloads;
    /* per-key `authorized_keys`: only these authenticated clients may use the key (0 = any) */
    size_t n_authorized_keys;
    vg_config_pubkey *authorized_keys;
    /* per-key `jwt_users`: only these logged-in users may use the key (0 = any); requires server.jwt */
    size_t n_jwt_users;
    char **jwt_users;
    int line;                      /* line of the `tezos:` entry (0 if not from a file) */
} vg_policy;

/* One set of JWT credentials (spec §5.2). password and secret are NUL-terminated strings in
 * vg_secure_alloc memory (never logged); an absent value is "" (rejected at serve start). */
typedef struct {
    char *password;
    char *secret;                  /* HMAC key */
    uint64_t exp_minutes;          /* jwt_exp; 0 = the default, 60 */
} vg_jwt_cred;

/* A `server.jwt.users` entry, with its optional rotation target. */
typedef struct {
    char *name;
    vg_jwt_cred cred;
    bool has_new;                  /* new_data present */
    vg_jwt_cred new_cred;
    bool has_old_cred_exp;         /* old_cred_exp present */
    int64_t old_cred_exp;          /* unix seconds (the YAML value is UTC "YYYY-MM-DD hh:mm:ss") */
    int line;
} vg_jwt_user;

typedef struct {
    char path[1024];               /* file the config was read from ("" for the dev default) */
    char base_dir[1024];
    char address[256];             /* server.address, default ":6732" */
    char utility_address[256];     /* server.utility_address, default ":9583" */
    size_t n_vaults;
    vg_vault_config *vaults;
    size_t n_policies;
    vg_policy *policies;
    char watermark_driver[32];     /* default "file" */
    json_t *watermark_config;      /* watermark.config as JSON (env-expanded), NULL if absent */
    /* server.authorized_keys: when n > 0 every sign / PoP request must be authenticated (§5.1) */
    size_t n_authorized_keys;
    vg_config_pubkey *authorized_keys;
    /* server.jwt.users: when n > 0, POST /login issues tokens and every other main route needs one
     * (§5.2). Mutually exclusive with server.authorized_keys. Strength rules are checked at serve
     * start (vg_auth_new), as Signatory does. */
    size_t n_jwt_users;
    vg_jwt_user *jwt_users;
    int jwt_line;                  /* line of server.jwt, for messages */
} vg_config;

/* Loads and validates path (a regular file of at most VG_CONFIG_FILE_MAX bytes). *cfg is
 * overwritten (it must not hold an unfreed config) and is filled only on success; the caller
 * frees it with vg_config_free. Errors: VG_E_NOTFOUND (no such file), VG_E_INVALID (everything
 * else) with "<path>:<line>: <key>: <what>". Logs each key's effective policy at INFO. */
int vg_config_load(const char *path, vg_config *cfg, vg_err *err);
/* Parses a YAML document held in memory (tests, fuzzing); name is used in error messages and
 * copied to cfg->path. Same contract as vg_config_load, without the INFO policy summary. */
int vg_config_parse(const char *yaml, size_t len, const char *name, vg_config *cfg, vg_err *err);
/* Defaults only (no file): base_dir ~/.vigil (or $VIGIL_BASE_DIR), 127.0.0.1 listeners. */
void vg_config_defaults(vg_config *cfg);
void vg_config_free(vg_config *cfg);

/* The policy for pkh, or NULL if the key is not listed under `tezos:`. */
const vg_policy *vg_config_policy(const vg_config *cfg, const vg_pkh *pkh);

/* Checks a decoded request against a policy. Refusals are VG_E_FORBIDDEN with Signatory's message:
 *   chain `NetX...' is not allowed | request kind `block' is not allowed | operation `ballot:yay' is not allowed
 * Same as vg_policy_check_client(p, req, NULL, err): a key with per-key authorized_keys is refused
 * ("authentication required"), so a server with client authentication must call _check_client. */
int vg_policy_check(const vg_policy *p, const vg_request *req, vg_err *err);
/* The full §3.3 order: chain, client (per-key authorized_keys; client = authenticated client's
 * pkh or NULL: "authentication required" / "client `tz1...' is not allowed"), request kind, operations. */
int vg_policy_check_client(const vg_policy *p, const vg_request *req, const vg_pkh *client, vg_err *err);
/* Per-key `jwt_users` (§3.3, before the filter): user = the logged-in JWT user or NULL. A key with
 * a list refuses other users with VG_E_FORBIDDEN "user `<u>' is not authorized to access <pkh>",
 * and an unauthenticated caller with "authentication required". */
int vg_policy_check_jwt_user(const vg_policy *p, const char *user, vg_err *err);
/* Default policy (pkh listed with a null value): block, preattestation, attestation. Overwrites *p
 * (which must not hold allocations); allowed_ops is allocated (NULL only if out of memory, which
 * every function here treats as "no operation allowed"). Free with vg_policy_free. */
void vg_policy_init_default(vg_policy *p);
/* Frees what *p owns and zeroes it. NULL-safe. */
void vg_policy_free(vg_policy *p);
/* One line for logs and `list`: "allow block, preattestation, attestation; generic: transaction,
 * ballot:yay; chains: NetXdQprcVkpaWU; proof of possession; log payloads; clients: 2" or
 * "allow nothing". Returns the length written (truncated to cap - 1). */
size_t vg_policy_describe(const vg_policy *p, char *out, size_t cap);

#endif
