/* The `file` vault: Signatory's local secret file, an octez-style JSON array of
 *   {"name": "<alias>", "value": "unencrypted:<edsk|spsk|p2sk|BLsk...>"}.
 * Everything up to the first ':' in value is a storage tag and is stripped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"
#include "vault/vault.h"

#define SECRET_FILE_MAX (1u << 20)

typedef struct {
    char path[1024];
} file_vault;

static int load_entry(vg_vault *v, const json_t *entry, size_t index, vg_err *err)
{
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *value = json_string_value(json_object_get(entry, "value"));
    if (!json_is_object(entry) || name == NULL || value == NULL)
        return vg_fail(err, VG_E_INVALID, "entry %zu: expected {\"name\": string, \"value\": string}", index);
    const char *colon = strchr(value, ':');
    const char *secret = colon != NULL ? colon + 1 : value;
    vg_key *key;
    if (vg_secret_key_parse(secret, &key, err) < 0)
        return vg_wrap(err, "key `%s'", name);
    size_t pklen;
    const uint8_t *pk = vg_key_public(key, &pklen);
    if (vg_vault_add_key(v, vg_key_get_type(key), pk, pklen, name, key, err) == NULL) {
        vg_key_free(key);
        return -1;
    }
    return 0;
}

static int file_open(vg_vault *v, const vg_vault_config *cfg, const char *base_dir, vg_err *err)
{
    file_vault *fv = calloc(1, sizeof *fv);
    if (fv == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    v->state = fv;
    if (cfg->file[0] == '\0')
        return vg_fail(err, VG_E_INVALID, "missing secret file path (config: {file: <path>})");
    snprintf(fv->path, sizeof fv->path, "%s", cfg->file);
    json_t *root = vg_json_load_file(fv->path, SECRET_FILE_MAX, err);
    if (root == NULL)
        return -1;
    int rc = 0;
    if (!json_is_array(root)) {
        rc = vg_fail(err, VG_E_INVALID, "%s: expected a JSON array of {name, value}", fv->path);
    } else {
        size_t i;
        json_t *entry;
        json_array_foreach(root, i, entry)
        {
            if ((rc = load_entry(v, entry, i, err)) < 0) {
                vg_wrap(err, "%s", fv->path);
                break;
            }
        }
    }
    json_decref(root);
    return rc;
}

static int file_sign(vg_vault *v, const vg_vault_key *k, const uint8_t *msg, size_t len, int version, uint8_t *sig,
                     size_t *siglen, vg_err *err)
{
    return vg_sign(k->key, msg, len, version, sig, siglen, err);
}

static int file_pop(vg_vault *v, const vg_vault_key *k, uint8_t sig[96], vg_err *err)
{
    return vg_bls_prove_possession(k->key, sig, err);
}

/* Rewrites the whole key list atomically (a crash leaves the old or the new file). */
static int write_secret_file(const char *path, vg_vault_key *keys, size_t n, vg_err *err)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char *text = vg_secure_alloc(VG_B58_MAX + 16);
        if (text == NULL) {
            json_decref(arr);
            return vg_fail(err, VG_E_INTERNAL, "out of memory");
        }
        memcpy(text, "unencrypted:", 12);
        vg_secret_key_format(keys[i].key, text + 12);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", keys[i].name, "value", text));
        vg_secure_free(text);
    }
    char *dump = json_dumps(arr, JSON_INDENT(4));
    json_decref(arr);
    if (dump == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    int rc = vg_write_file_atomic(path, dump, strlen(dump), 0600, err);
    vg_json_free_string(dump); /* the allocator wipes it */
    return rc;
}

static int file_generate(vg_vault *v, vg_key_type t, size_t n, vg_err *err)
{
    file_vault *fv = v->state;
    size_t before = v->n_keys;
    for (size_t i = 0; i < n; i++) {
        vg_key *key;
        if (vg_key_generate(t, &key, err) < 0)
            return -1;
        size_t pklen;
        const uint8_t *pk = vg_key_public(key, &pklen);
        char name[64];
        vg_pkh pkh;
        vg_pkh_from_pubkey(t, pk, pklen, &pkh);
        char pkh_text[VG_B58_MAX];
        vg_pkh_format(&pkh, pkh_text);
        snprintf(name, sizeof name, "%s", pkh_text);
        if (vg_vault_add_key(v, t, pk, pklen, name, key, err) == NULL) {
            vg_key_free(key);
            return -1;
        }
    }
    if (write_secret_file(fv->path, v->keys, v->n_keys, err) < 0) {
        for (size_t i = before; i < v->n_keys; i++)
            vg_key_free(v->keys[i].key);
        v->n_keys = before;
        return -1;
    }
    return 0;
}

static int file_import(vg_vault *v, const vg_key *key, const char *name, vg_err *err)
{
    file_vault *fv = v->state;
    uint8_t *secret = vg_secure_alloc(VG_SECRET_LEN);
    if (secret == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    vg_key_secret(key, secret);
    vg_key *copy;
    int rc = vg_key_from_secret(vg_key_get_type(key), secret, VG_SECRET_LEN, &copy, err);
    vg_secure_free(secret);
    if (rc < 0)
        return -1;
    size_t pklen;
    const uint8_t *pk = vg_key_public(copy, &pklen);
    vg_pkh pkh;
    vg_pkh_from_pubkey(vg_key_get_type(copy), pk, pklen, &pkh);
    for (size_t i = 0; i < v->n_keys; i++)
        if (memcmp(&v->keys[i].pkh, &pkh, sizeof pkh) == 0) {
            vg_key_free(copy);
            return vg_fail(err, VG_E_INVALID, "%s is already in vault %s", v->keys[i].pkh_text, v->name);
        }
    vg_vault_key *k = vg_vault_add_key(v, vg_key_get_type(copy), pk, pklen, name, copy, err);
    if (k == NULL) {
        vg_key_free(copy);
        return -1;
    }
    if (name == NULL || name[0] == '\0')
        snprintf(k->name, sizeof k->name, "%s", k->pkh_text);
    if (write_secret_file(fv->path, v->keys, v->n_keys, err) < 0) {
        vg_key_free(v->keys[--v->n_keys].key);
        return -1;
    }
    return 0;
}

static void file_close(vg_vault *v) { free(v->state); }

const vg_vault_driver vg_file_vault_driver = {
    .driver = "file",
    .display_name = "File",
    .open = file_open,
    .sign = file_sign,
    .prove_possession = file_pop,
    .generate = file_generate,
    .import = file_import,
    .close = file_close,
    .verify_signatures = false, /* keys are in this process: nothing in between to go wrong */
};

int vg_file_vault_create_default(const char *path, vg_err *err)
{
    if (access(path, F_OK) == 0)
        return 0;
    vg_vault v = {.drv = &vg_file_vault_driver};
    file_vault fv;
    snprintf(fv.path, sizeof fv.path, "%s", path);
    v.state = &fv;
    snprintf(v.name, sizeof v.name, "dev");
    int rc = 0;
    for (int t = VG_KEY_ED25519; t <= VG_KEY_BLS && rc == 0; t++) {
        vg_key *key;
        if ((rc = vg_key_generate((vg_key_type)t, &key, err)) < 0)
            break;
        size_t pklen;
        const uint8_t *pk = vg_key_public(key, &pklen);
        static const char *const names[] = {"dev-tz1", "dev-tz2", "dev-tz3", "dev-tz4"};
        if (vg_vault_add_key(&v, (vg_key_type)t, pk, pklen, names[t], key, err) == NULL) {
            vg_key_free(key);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = write_secret_file(path, v.keys, v.n_keys, err);
    for (size_t i = 0; i < v.n_keys; i++)
        vg_key_free(v.keys[i].key);
    free(v.keys);
    return rc;
}
