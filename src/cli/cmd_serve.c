#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/log.h"
#include "daemon/http.h"
#include "daemon/metrics.h"
#include "daemon/signer.h"

/* A core dump of the signer would hold secret keys: forbid it before anything is loaded. */
static void harden_process(void)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Started as root to bind a privileged port or read root-owned files: become `user` once the
 * listeners, vaults and watermark store are open (their descriptors stay usable). Group first,
 * then supplementary groups, then user; and check that root cannot be regained. */
static int drop_privileges(const char *user)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        VG_ERROR("--user %s: no such user%s%s", user, errno ? ": " : "", errno ? strerror(errno) : "");
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        VG_ERROR("--user %s: cannot switch user: %s", user, strerror(errno));
        return -1;
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        VG_ERROR("--user %s: root could be regained; refusing to run", user);
        return -1;
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* setuid resets it */
    VG_INFO("running as %s (uid %u, gid %u)", pw->pw_name, (unsigned)pw->pw_uid, (unsigned)pw->pw_gid);
    return 0;
}

static void print_dev_banner(vg_signer *s, unsigned port)
{
    fprintf(stdout, "\nvigil dev signer on 127.0.0.1:%u (keys in a local file vault: for development only)\n",
            port);
    for (size_t i = 0; i < vg_signer_key_count(s); i++) {
        const vg_vault_key *k = vg_signer_key_at(s, i);
        fprintf(stdout, "  %-5s %s  %s\n", k->pkh_text[2] == '1' ? "tz1" : k->pkh_text[2] == '2' ? "tz2"
                                           : k->pkh_text[2] == '3' ? "tz3" : "tz4",
                k->pkh_text, k->pk_text);
    }
    if (vg_signer_key_count(s) > 0) {
        const char *pkh = vg_signer_key_at(s, 0)->pkh_text;
        fprintf(stdout,
                "\ntry:\n  curl -s http://127.0.0.1:%u/keys/%s\n"
                "  curl -s -X POST -d '\"03%064d110000000568656c6c6f\"' http://127.0.0.1:%u/keys/%s\n"
                "  (a failing_noop saying \"hello\": a message, never valid on chain)\n\n",
                port, pkh, 0, port, pkh);
    }
    fflush(stdout);
}

int vg_cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                              {"base-dir", required_argument, NULL, 'b'},
                                              {"log", required_argument, NULL, 'l'},
                                              {"no-list", no_argument, NULL, 'n'},
                                              {"user", required_argument, NULL, 'u'},
                                              {NULL, 0, NULL, 0}};
    vg_cli_common opts = {0};
    bool list = true;
    const char *user = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        vg_log_level level;
        switch (c) {
        case 'c': opts.config_path = optarg; break;
        case 'b': opts.base_dir = optarg; break;
        case 'n': list = false; break;
        case 'u': user = optarg; break;
        case 'l':
            if (vg_log_parse_level(optarg, &level) < 0) {
                fprintf(stderr, "vigil: --log must be error, warn, info or debug\n");
                return 2;
            }
            vg_log_set_level(level);
            break;
        default: return 2;
        }
    }
    harden_process();

    /* Signals are taken by sigwait in this thread only: block them before any thread starts. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    vg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (vg_cli_load_config(&opts, &cfg) < 0)
        return 1;
    vg_err err = {0};
    vg_signer *signer;
    if (vg_signer_new(&cfg, &signer, &err) < 0) {
        VG_ERROR("startup failed: %s", err.msg);
        vg_config_free(&cfg);
        return 1;
    }
    char labels[256];
    snprintf(labels, sizeof labels, "path=\"vigil\",version=\"%s\",checksum=\"\",revision=\"\",branch=\"\"",
             VIGIL_VERSION);
    vg_metrics_set("signatory_build_info", labels, 1);

    if (list)
        for (size_t i = 0; i < vg_signer_key_count(signer); i++) {
            const vg_vault_key *k = vg_signer_key_at(signer, i);
            const vg_policy *p = vg_config_policy(&cfg, &k->pkh);
            VG_INFO("key %s type=%s vault=%s active=%s", k->pkh_text, vg_key_type_name(k->type), k->vault->name,
                    p != NULL ? "true" : "false");
        }

    vg_http *http;
    if (vg_http_start(signer, cfg.address, cfg.utility_address, &http, &err) < 0) {
        VG_ERROR("startup failed: %s", err.msg);
        vg_signer_free(signer);
        vg_config_free(&cfg);
        return 1;
    }
    VG_INFO("listening on %s (port %u), utility on %s (port %u), base_dir %s, watermark %s", cfg.address,
            vg_http_port(http), cfg.utility_address, vg_http_utility_port(http), cfg.base_dir,
            vg_watermark_driver(vg_signer_watermark(signer)));
    if (user != NULL && drop_privileges(user) < 0) {
        vg_http_stop(http);
        vg_signer_free(signer);
        vg_config_free(&cfg);
        return 1;
    }
    if (opts.dev_default)
        print_dev_banner(signer, vg_http_port(http));

    int sig;
    sigwait(&stop_signals, &sig);
    VG_INFO("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    vg_http_stop(http);
    vg_signer_free(signer);
    vg_config_free(&cfg);
    return 0;
}
