/* vigil: a Tezos remote signer. `vigil <command> [flags]`; no command = serve. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} commands[] = {
    {"serve", vg_cmd_serve, "run the signer (HTTP API + utility server)"},
    {"list", vg_cmd_list, "list keys, their vaults and policies"},
    {"generate", vg_cmd_generate, "generate keys in a vault: -v VAULT -t tz1|tz2|tz3|tz4 [-n N]"},
    {"import", vg_cmd_import, "import a secret key into a vault: -v VAULT [-f FILE|-] (base58, PEM or DER)"},
    {"pop", vg_cmd_pop, "print the BLS proof of possession of a tz4 key: pop [-c FILE] tz4..."},
    {"list-ops", vg_cmd_list_ops, "print every generic operation kind a policy can name"},
    {"list-requests", vg_cmd_list_requests, "print every request kind a policy can name"},
    {"rpc", vg_cmd_rpc, "send enclave RPC calls (JSON lines) to a vigil-enclave / tee-signer"},
    {"proxy", vg_cmd_proxy, "forward streams to one remote: --remote kms.REGION.amazonaws.com:443 [--listen vsock://ANY:8000]"},
    {"attest", vg_cmd_attest, "attest verify FILE [--root PEM] [--at SECONDS|document]; attest soft-nsm --dir DIR (dev)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: vigil <command> [flags]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "  %-14s %s\n\ncommon flags: -c/--config FILE, --base-dir DIR, --log error|warn|info|debug\n",
            "version", "print the version");
}

int main(int argc, char **argv)
{
    if (vg_crypto_init() < 0) {
        fprintf(stderr, "vigil: cannot initialise libsodium\n");
        return 1;
    }
    vg_json_init();
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (argc > 1 && argv[1][0] == '-') {
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        cmd = "serve"; /* `vigil -c file` = `vigil serve -c file`, as with signatory */
        return vg_cmd_serve(argc, argv);
    }
    if (strcmp(cmd, "version") == 0) {
        printf("vigil %s\n", VIGIL_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vigil: unknown command `%s'\n", cmd);
    usage(stderr);
    return 2;
}
