/* Target: the file vault's secret file, src/vault/file_vault.c -- Signatory's / octez's JSON array
 * of {"name", "value": "unencrypted:<edsk|spsk|p2sk|BLsk…>"} read through vg_json_load_file and
 * vg_secret_key_parse, opened with vg_vault_open (driver "file") from a private tmpfs directory.
 * Invariants: failure is VG_E_INVALID / VG_E_NOTFOUND (never INTERNAL, never a crash); every key
 * of an opened vault has a public key and a pkh that round-trip through their text forms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "fuzz_common.h"
#include "tezos/encoding.h"
#include "vault/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_fuzz_init();
    if (size > (1u << 20))
        return 0;
    const char *dir = vg_fuzz_dir();
    vg_vault_config vc;
    memset(&vc, 0, sizeof vc);
    snprintf(vc.name, sizeof vc.name, "fuzz");
    snprintf(vc.driver, sizeof vc.driver, "file");
    snprintf(vc.file, sizeof vc.file, "%s/secret_keys.json", dir);
    vg_fuzz_write(vc.file, data, size, 0600);

    vg_vault *v = NULL;
    vg_err err = {0};
    if (vg_vault_open(&vc, dir, &v, &err) < 0) {
        if (vg_fuzz_verbose())
            vg_fuzz_say("vault refused: %s\n", err.msg);
        if (err.kind != VG_E_INVALID && err.kind != VG_E_NOTFOUND) {
            vg_fuzz_say("fuzz_file_vault: kind %d: %s\n", err.kind, err.msg);
            abort();
        }
        return 0;
    }
    if (vg_fuzz_verbose())
        vg_fuzz_say("vault opened: %zu key(s)\n", v->n_keys);
    for (size_t i = 0; i < v->n_keys; i++) {
        const vg_vault_key *k = &v->keys[i];
        vg_pkh pkh;
        vg_key_type t;
        uint8_t pk[VG_PUBKEY_MAX];
        size_t pklen;
        if (k->key == NULL || vg_pkh_parse(k->pkh_text, &pkh, NULL) < 0 || memcmp(&pkh.hash, k->pkh.hash, 20) != 0 ||
            vg_pubkey_parse(k->pk_text, &t, pk, &pklen, NULL) < 0 || pklen != k->pklen ||
            memcmp(pk, k->pk, pklen) != 0 || t != k->type)
            abort();
    }
    vg_vault_close(v);
    return 0;
}
