#include "vault/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static const vg_vault_driver *const drivers[] = {&vg_file_vault_driver, &vg_nitro_vault_driver};

int vg_vault_open(const vg_vault_config *cfg, const char *base_dir, vg_vault **out, vg_err *err)
{
    const vg_vault_driver *drv = NULL;
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
        if (strcmp(drivers[i]->driver, cfg->driver) == 0)
            drv = drivers[i];
    if (drv == NULL)
        return vg_fail(err, VG_E_INVALID, "vault %s: driver `%s' is not supported by this build", cfg->name,
                       cfg->driver);
    vg_vault *v = calloc(1, sizeof *v);
    if (v == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    snprintf(v->name, sizeof v->name, "%s", cfg->name);
    v->drv = drv;
    if (drv->open(v, cfg, base_dir, err) < 0) {
        vg_wrap(err, "vault %s", cfg->name);
        vg_vault_close(v);
        return -1;
    }
    if (v->n_keys == 0)
        VG_WARN("vault %s: no valid keys found", v->name);
    *out = v;
    return 0;
}

void vg_vault_close(vg_vault *v)
{
    if (v == NULL)
        return;
    if (v->drv->close != NULL)
        v->drv->close(v);
    for (size_t i = 0; i < v->n_keys; i++)
        vg_key_free(v->keys[i].key);
    free(v->keys);
    free(v);
}

bool vg_vault_ready(vg_vault *v, bool probe) { return v->drv->ready == NULL || v->drv->ready(v, probe); }

int vg_vault_sign(vg_vault *v, const vg_vault_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig,
                  size_t *siglen, vg_err *err)
{
    if (v->drv->sign(v, k, msg, len, version, sig, siglen, err) < 0)
        return -1;
    if (!v->drv->verify_signatures)
        return 0;
    /* A signer outside this process answers: normalise ECDSA to low-S (Octez accepts only that for
     * secp256k1) and check the signature before it can leave (signatory.md §13 item 12). */
    if (*siglen == 64)
        vg_ecdsa_normalize(k->type, sig);
    if (!vg_verify(k->type, k->pk, k->pklen, msg, len, sig, *siglen, version))
        return vg_fail(err, VG_E_INTERNAL, "(%s): signature returned by the vault does not verify", v->name);
    return 0;
}

vg_vault_key *vg_vault_add_key(vg_vault *v, vg_key_type t, const uint8_t *pk, size_t pklen, const char *name,
                               vg_key *key, vg_err *err)
{
    vg_vault_key *grown = realloc(v->keys, (v->n_keys + 1) * sizeof *grown);
    if (grown == NULL) {
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        return NULL;
    }
    v->keys = grown;
    vg_vault_key *k = &v->keys[v->n_keys++];
    memset(k, 0, sizeof *k);
    k->type = t;
    memcpy(k->pk, pk, pklen);
    k->pklen = pklen;
    vg_pkh_from_pubkey(t, pk, pklen, &k->pkh);
    vg_pkh_format(&k->pkh, k->pkh_text);
    vg_pubkey_format(t, pk, pklen, k->pk_text);
    snprintf(k->name, sizeof k->name, "%s", name != NULL ? name : "");
    k->vault = v;
    k->key = key;
    return k;
}
