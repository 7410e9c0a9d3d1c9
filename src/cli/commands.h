#ifndef VIGIL_CLI_COMMANDS_H
#define VIGIL_CLI_COMMANDS_H

#include <stdbool.h>

#include "daemon/config.h"

/* Options shared by every command that reads the configuration. */
typedef struct {
    const char *config_path; /* -c/--config; NULL → $VIGIL_CONFIG, else the dev default */
    const char *base_dir;    /* --base-dir overrides the config */
    bool dev_default;        /* set when no config file was given */
} vg_cli_common;

/* Loads the configuration named by opts, or builds the dev default (a file vault with one key of
 * each type under base_dir, every request kind allowed, 127.0.0.1 listeners). */
int vg_cli_load_config(vg_cli_common *opts, vg_config *cfg);

int vg_cmd_serve(int argc, char **argv);
int vg_cmd_list(int argc, char **argv);
int vg_cmd_generate(int argc, char **argv);
int vg_cmd_list_ops(int argc, char **argv);
int vg_cmd_list_requests(int argc, char **argv);
int vg_cmd_rpc(int argc, char **argv);
int vg_cmd_attest(int argc, char **argv);

#endif
