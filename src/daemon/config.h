/* vigil's configuration: a Signatory-compatible YAML file (libfyaml), with ${VAR}/$VAR expansion
 * in every scalar, defaults for absent or null sections, and errors that name file:line. */
#ifndef VIGIL_DAEMON_CONFIG_H
#define VIGIL_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "tezos/encoding.h"
#include "tezos/request.h"

#define VG_MAX_CHAINS 16

typedef struct {
    char name[64];
    char driver[32];
    /* file driver: path of the secret file (env-expanded); other drivers read their own keys later */
    char file[1024];
} vg_vault_config;

typedef struct {
    vg_pkh pkh;
    char pkh_text[40];
    bool allowed_requests[VG_REQ_KIND_COUNT];
    /* generic operation kinds allowed; index = vg_op_kind index */
    bool *allowed_ops;             /* vg_op_kind_count() entries */
    bool ballot_allowed[3];        /* ballot:yay/nay/pass (all true when plain "ballot" listed) */
    size_t n_chains;               /* 0 = any chain */
    uint8_t allowed_chains[VG_MAX_CHAINS][4];
    bool allow_proof_of_possession;
    bool log_payloads;
} vg_policy;

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
} vg_config;

/* Loads and validates path. On error the message names file:line and the offending key. */
int vg_config_load(const char *path, vg_config *cfg, vg_err *err);
/* Parses a YAML document held in memory (tests, fuzzing); name is used in error messages. */
int vg_config_parse(const char *yaml, size_t len, const char *name, vg_config *cfg, vg_err *err);
/* Defaults only (no file): base_dir ~/.vigil (or $VIGIL_BASE_DIR), 127.0.0.1 listeners. */
void vg_config_defaults(vg_config *cfg);
void vg_config_free(vg_config *cfg);

/* The policy for pkh, or NULL if the key is not listed under `tezos:`. */
const vg_policy *vg_config_policy(const vg_config *cfg, const vg_pkh *pkh);

/* Checks a decoded request against a policy. Refusals are VG_E_FORBIDDEN with Signatory's message:
 *   chain `NetX...' is not allowed | request kind `block' is not allowed | operation `ballot:yay' is not allowed */
int vg_policy_check(const vg_policy *p, const vg_request *req, vg_err *err);
/* Default policy (pkh listed with a null value): block, preattestation, attestation. */
void vg_policy_init_default(vg_policy *p);
void vg_policy_free(vg_policy *p);

#endif
