#ifndef VIGIL_CLI_COMMANDS_H
#define VIGIL_CLI_COMMANDS_H

#include <stdbool.h>

#include "daemon/config.h"
#include "vault/vault.h"

/* Options shared by every command that reads the configuration. */
typedef struct {
    const char *config_path; /* -c/--config; NULL → $VIGIL_CONFIG, else the dev default */
    const char *base_dir;    /* --base-dir overrides the config */
    bool dev_default;        /* set when no config file was given */
} vg_cli_common;

/* Loads the configuration named by opts, or builds the dev default (a file vault with one key of
 * each type under base_dir, every request kind allowed, 127.0.0.1 listeners). */
int vg_cli_load_config(vg_cli_common *opts, vg_config *cfg);
/* getopt_long over the common flags (-c/--config, --base-dir, --log) plus the command's own short
 * options (extra_short, e.g. "v:t:n:"), each handed to extra(). Long forms: --vault, --type,
 * --num, --file, --name. Returns -1 on a bad flag. */
int vg_cli_parse(int argc, char **argv, vg_cli_common *opts, const char *extra_short,
                 int (*extra)(int c, const char *arg, void *ud), void *ud);
void vg_cli_print_key(const vg_vault_key *k, const vg_policy *p);

int vg_cmd_serve(int argc, char **argv);
int vg_cmd_list(int argc, char **argv);
int vg_cmd_generate(int argc, char **argv);
int vg_cmd_list_ops(int argc, char **argv);
int vg_cmd_list_requests(int argc, char **argv);
int vg_cmd_rpc(int argc, char **argv);
int vg_cmd_attest(int argc, char **argv);
int vg_cmd_import(int argc, char **argv);
int vg_cmd_pop(int argc, char **argv);
int vg_cmd_proxy(int argc, char **argv);

#endif
