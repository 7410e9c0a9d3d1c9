#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/log.h"
#include "vault/vault.h"

/* Dev default: every request kind and every operation allowed, so `make run` can sign anything
 * a developer tries. Production configs list exactly what each key may sign. */
static int dev_policy(vg_policy *p, const vg_pkh *pkh)
{
    memset(p, 0, sizeof *p);
    p->pkh = *pkh;
    vg_pkh_format(pkh, p->pkh_text);
    for (int k = 0; k < VG_REQ_KIND_COUNT; k++)
        p->allowed_requests[k] = true;
    if (pkh->type == VG_KEY_BLS)
        p->allowed_requests[VG_REQ_ATTESTATION_WITH_DAL] = false; /* tz4 never sees tag 23 */
    p->allowed_ops = calloc((size_t)vg_op_kind_count(), sizeof *p->allowed_ops);
    if (p->allowed_ops == NULL)
        return -1;
    for (int i = 0; i < vg_op_kind_count(); i++)
        p->allowed_ops[i] = true;
    for (int b = 0; b < 3; b++)
        p->ballot_allowed[b] = true;
    p->allow_proof_of_possession = pkh->type == VG_KEY_BLS;
    return 0;
}

static int mkdir_private(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

static int build_dev_default(vg_cli_common *opts, vg_config *cfg)
{
    vg_err err = {0};
    if (mkdir_private(cfg->base_dir) < 0) {
        fprintf(stderr, "vigil: cannot create base_dir %s: %s\n", cfg->base_dir, strerror(errno));
        return -1;
    }
    cfg->vaults = calloc(1, sizeof *cfg->vaults);
    if (cfg->vaults == NULL)
        return -1;
    cfg->n_vaults = 1;
    snprintf(cfg->vaults[0].name, sizeof cfg->vaults[0].name, "local");
    snprintf(cfg->vaults[0].driver, sizeof cfg->vaults[0].driver, "file");
    snprintf(cfg->vaults[0].file, sizeof cfg->vaults[0].file, "%s/secret_keys.json", cfg->base_dir);
    if (access(cfg->vaults[0].file, F_OK) != 0) {
        VG_INFO("dev default: creating %s with one key of each type", cfg->vaults[0].file);
        if (vg_file_vault_create_default(cfg->vaults[0].file, &err) < 0) {
            fprintf(stderr, "vigil: %s\n", err.msg);
            return -1;
        }
    }
    vg_vault *v;
    if (vg_vault_open(&cfg->vaults[0], cfg->base_dir, &v, &err) < 0) {
        fprintf(stderr, "vigil: %s\n", err.msg);
        return -1;
    }
    cfg->policies = calloc(v->n_keys ? v->n_keys : 1, sizeof *cfg->policies);
    int rc = cfg->policies == NULL ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < v->n_keys; i++) {
        rc = dev_policy(&cfg->policies[i], &v->keys[i].pkh);
        if (rc == 0)
            cfg->n_policies++;
    }
    vg_vault_close(v);
    return rc;
}

int vg_cli_load_config(vg_cli_common *opts, vg_config *cfg)
{
    vg_err err = {0};
    const char *path = opts->config_path;
    if (path == NULL)
        path = getenv("VIGIL_CONFIG");
    if (path == NULL || path[0] == '\0') {
        opts->dev_default = true;
        vg_config_defaults(cfg);
        if (opts->base_dir != NULL)
            snprintf(cfg->base_dir, sizeof cfg->base_dir, "%s", opts->base_dir);
        return build_dev_default(opts, cfg);
    }
    if (vg_config_load(path, cfg, &err) < 0) {
        fprintf(stderr, "vigil: %s\n", err.msg);
        return -1;
    }
    if (opts->base_dir != NULL)
        snprintf(cfg->base_dir, sizeof cfg->base_dir, "%s", opts->base_dir);
    if (mkdir_private(cfg->base_dir) < 0) {
        fprintf(stderr, "vigil: cannot create base_dir %s: %s\n", cfg->base_dir, strerror(errno));
        return -1;
    }
    return 0;
}

int vg_cli_parse(int argc, char **argv, vg_cli_common *opts, const char *extra_short,
                        int (*extra)(int c, const char *arg, void *ud), void *ud)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"base-dir", required_argument, NULL, 'b'},
                                             {"log", required_argument, NULL, 'l'},
                                             {"vault", required_argument, NULL, 'v'},
                                             {"type", required_argument, NULL, 't'},
                                             {"num", required_argument, NULL, 'n'},
                                             {"file", required_argument, NULL, 'f'},
                                             {"name", required_argument, NULL, 'N'},
                                             {NULL, 0, NULL, 0}};
    char shortopts[32];
    snprintf(shortopts, sizeof shortopts, "c:%s", extra_short);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        vg_log_level level;
        if (c == 'c') {
            opts->config_path = optarg;
        } else if (c == 'b') {
            opts->base_dir = optarg;
        } else if (c == 'l') {
            if (vg_log_parse_level(optarg, &level) < 0)
                return -1;
            vg_log_set_level(level);
        } else if (c == '?' || extra == NULL || extra(c, optarg, ud) < 0) {
            return -1;
        }
    }
    return 0;
}

