#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/log.h"
#include "daemon/signer.h"
#include "vault/vault.h"

static void print_names(FILE *f, const bool *allowed, int n, const char *(*name)(int))
{
    fputc('[', f);
    bool first = true;
    for (int i = 0; i < n; i++)
        if (allowed[i]) {
            fprintf(f, "%s%s", first ? "" : " ", name(i));
            first = false;
        }
    fputs("]\n", f);
}

static const char *req_name(int i) { return vg_req_kind_name((vg_req_kind)i); }

void vg_cli_print_key(const vg_vault_key *k, const vg_policy *p)
{
    printf("Public Key Hash:           %s\n", k->pkh_text);
    printf("Public Key:                %s\n", k->pk_text);
    printf("Reference:                 %s\n", k->name);
    printf("Vault:                     %s (%s)\n", k->vault->drv->display_name, k->vault->name);
    printf("Active:                    %s\n", p != NULL ? "true" : "false");
    if (p != NULL) {
        printf("Allowed Requests:          ");
        print_names(stdout, p->allowed_requests, VG_REQ_KIND_COUNT, req_name);
        printf("Allowed Operations:        ");
        print_names(stdout, p->allowed_ops, vg_op_kind_count(), vg_op_kind_name);
        printf("Allow Proof of Possession: %s\n", p->allow_proof_of_possession ? "true" : "false");
    }
    printf("\n");
}

int vg_cmd_list(int argc, char **argv)
{
    vg_cli_common opts = {0};
    if (vg_cli_parse(argc, argv, &opts, "", NULL, NULL) < 0)
        return 2;
    vg_log_set_level(vg_log_get_level() > VG_LOG_WARN ? VG_LOG_WARN : vg_log_get_level());
    vg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (vg_cli_load_config(&opts, &cfg) < 0)
        return 1;
    vg_err err = {0};
    vg_signer *s;
    if (vg_signer_open_keys(&cfg, &s, &err) < 0) {
        fprintf(stderr, "vigil: %s\n", err.msg);
        vg_config_free(&cfg);
        return 1;
    }
    for (size_t i = 0; i < vg_signer_key_count(s); i++) {
        const vg_vault_key *k = vg_signer_key_at(s, i);
        vg_cli_print_key(k, vg_config_policy(&cfg, &k->pkh));
    }
    vg_signer_free(s);
    vg_config_free(&cfg);
    return 0;
}

typedef struct {
    const char *vault;
    int type;
    long num;
} generate_opts;

static int generate_flag(int c, const char *arg, void *ud)
{
    generate_opts *g = ud;
    static const struct {
        const char *name;
        vg_key_type type;
    } types[] = {{"tz1", VG_KEY_ED25519}, {"ed25519", VG_KEY_ED25519}, {"tz2", VG_KEY_SECP256K1},
                 {"secp256k1", VG_KEY_SECP256K1}, {"tz3", VG_KEY_P256}, {"p256", VG_KEY_P256},
                 {"tz4", VG_KEY_BLS}, {"bls", VG_KEY_BLS}};
    switch (c) {
    case 'v': g->vault = arg; return 0;
    case 'n': {
        char *end;
        g->num = strtol(arg, &end, 10);
        if (*end != '\0' || g->num < 1 || g->num > 1000) {
            fprintf(stderr, "vigil: -n must be between 1 and 1000\n");
            return -1;
        }
        return 0;
    }
    case 't':
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(types[i].name, arg) == 0) {
                g->type = (int)types[i].type;
                return 0;
            }
        fprintf(stderr, "vigil: unknown key type `%s' (tz1|tz2|tz3|tz4)\n", arg);
        return -1;
    }
    return -1;
}

int vg_cmd_generate(int argc, char **argv)
{
    vg_cli_common opts = {0};
    generate_opts g = {NULL, VG_KEY_ED25519, 1};
    if (vg_cli_parse(argc, argv, &opts, "v:t:n:", generate_flag, &g) < 0)
        return 2;
    vg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (vg_cli_load_config(&opts, &cfg) < 0)
        return 1;
    const vg_vault_config *vc = NULL;
    for (size_t i = 0; i < cfg.n_vaults; i++)
        if (g.vault == NULL ? cfg.n_vaults == 1 : strcmp(cfg.vaults[i].name, g.vault) == 0)
            vc = &cfg.vaults[i];
    int rc = 1;
    vg_err err = {0};
    vg_vault *v = NULL;
    if (vc == NULL) {
        fprintf(stderr, "vigil: generate: vault %s is not found (use -v NAME)\n", g.vault ? g.vault : "");
    } else if (vg_vault_open(vc, cfg.base_dir, &v, &err) < 0) {
        fprintf(stderr, "vigil: %s\n", err.msg);
    } else if (v->drv->generate == NULL) {
        fprintf(stderr, "vigil: generate: vault %s doesn't support generate operation\n", vc->name);
    } else {
        size_t before = v->n_keys;
        if (v->drv->generate(v, (vg_key_type)g.type, (size_t)g.num, &err) < 0) {
            fprintf(stderr, "vigil: generate: %s\n", err.msg);
        } else {
            for (size_t i = before; i < v->n_keys; i++)
                vg_cli_print_key(&v->keys[i], vg_config_policy(&cfg, &v->keys[i].pkh));
            rc = 0;
        }
    }
    vg_vault_close(v);
    vg_config_free(&cfg);
    return rc;
}

int vg_cmd_list_ops(int argc, char **argv)
{
    printf("Possible operation types:\n");
    for (int i = 0; i < vg_op_kind_count(); i++)
        printf("    - %s\n", vg_op_kind_name(i));
    return 0;
}

int vg_cmd_list_requests(int argc, char **argv)
{
    printf("Possible request types:\n");
    for (int i = 0; i < VG_REQ_KIND_COUNT; i++)
        printf("    - %s\n", vg_req_kind_name((vg_req_kind)i));
    return 0;
}
