/* Vaults hold keys and sign with them. Each driver is a small table of functions chosen by the
 * config's `driver` name; the daemon only sees vg_vault and vg_vault_key. */
#ifndef VIGIL_VAULT_VAULT_H
#define VIGIL_VAULT_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/key.h"
#include "daemon/config.h"
#include "tezos/encoding.h"

typedef struct vg_vault vg_vault;

typedef struct {
    vg_pkh pkh;
    char pkh_text[VG_B58_MAX];
    vg_key_type type;
    uint8_t pk[VG_PUBKEY_MAX];
    size_t pklen;
    char pk_text[VG_B58_MAX];
    char name[64];  /* alias in the vault (file vault: the entry's name) */
    vg_vault *vault;
    vg_key *key;    /* in-process key (file vault); NULL for remote vaults */
    void *ref;      /* driver-specific handle */
} vg_vault_key;

typedef struct {
    const char *driver;
    const char *display_name; /* Signatory's vault label: "File", ... */
    int (*open)(vg_vault *v, const vg_vault_config *cfg, const char *base_dir, vg_err *err);
    int (*sign)(vg_vault *v, const vg_vault_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig,
                size_t *siglen, vg_err *err);
    int (*prove_possession)(vg_vault *v, const vg_vault_key *k, uint8_t sig[96], vg_err *err);
    /* Optional: creates n keys of type t and persists them. */
    int (*generate)(vg_vault *v, vg_key_type t, size_t n, vg_err *err);
    /* Optional: stores an existing key (the caller keeps and frees `key`); name may be "". */
    int (*import)(vg_vault *v, const vg_key *key, const char *name, vg_err *err);
    void (*close)(vg_vault *v);
    /* Optional (NULL = always ready): can the vault sign now? With probe, a vault that lost its
     * backend may try to reconnect (health checks drive recovery even without traffic). */
    bool (*ready)(vg_vault *v, bool probe);
    /* Keys signing outside this process (enclave, HSM) have every signature verified before it leaves. */
    bool verify_signatures;
} vg_vault_driver;

struct vg_vault {
    char name[64];
    const vg_vault_driver *drv;
    void *state;
    size_t n_keys;
    vg_vault_key *keys;
};

/* Looks the driver up by name and opens it. Unknown driver → error naming it. */
int vg_vault_open(const vg_vault_config *cfg, const char *base_dir, vg_vault **out, vg_err *err);
void vg_vault_close(vg_vault *v);
bool vg_vault_ready(vg_vault *v, bool probe);
int vg_vault_sign(vg_vault *v, const vg_vault_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig,
                  size_t *siglen, vg_err *err);

/* For drivers: appends a key (takes ownership of key if not NULL) and fills its public fields. */
vg_vault_key *vg_vault_add_key(vg_vault *v, vg_key_type t, const uint8_t *pk, size_t pklen, const char *name,
                               vg_key *key, vg_err *err);

extern const vg_vault_driver vg_file_vault_driver;
extern const vg_vault_driver vg_nitro_vault_driver;

/* The file vault's secret file (Signatory/octez format). Creates it 0600 with one key of each
 * type if it does not exist; used by the dev default. */
int vg_file_vault_create_default(const char *path, vg_err *err);

#endif
