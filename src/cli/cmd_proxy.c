/* `vigil proxy`: runs the parent-side KMS proxy (src/nitro/vsock_proxy.h) in the foreground.
 *
 *   vigil proxy --remote kms.us-east-1.amazonaws.com:443 [--listen vsock://ANY:8000]
 *               [--enclave-cid CID] [--max-conns 64] [--idle-timeout 60] [--connect-timeout 5000] */
#include <getopt.h>
#include <stdio.h>

#include "cli/commands.h"
#include "common/log.h"
#include "common/parse.h"
#include "nitro/vsock_proxy.h"

static int usage(FILE *f)
{
    fprintf(f,
            "usage: vigil proxy --remote HOST:PORT [--listen ADDR] [--enclave-cid CID] [--max-conns N]\n"
            "                   [--idle-timeout SECONDS] [--connect-timeout MS] [--log LEVEL]\n"
            "Forwards each stream accepted on ADDR (default vsock://ANY:8000; tcp://IP:PORT for tests) to\n"
            "HOST:PORT and nowhere else, e.g. --remote kms.us-east-1.amazonaws.com:443 for vigil-enclave.\n"
            "  --enclave-cid CID      vsock: accept only this peer CID (default: any)\n"
            "  --max-conns N          concurrent streams (default 64; more are closed at once)\n"
            "  --idle-timeout S       close a stream with no traffic for S seconds (default 60)\n"
            "  --connect-timeout MS   per remote address (default 5000)\n");
    return 2;
}

int vg_cmd_proxy(int argc, char **argv)
{
    enum { O_LISTEN = 1, O_REMOTE, O_CID, O_MAX, O_IDLE, O_CONNECT, O_LOG };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"remote", required_argument, NULL, O_REMOTE},
        {"enclave-cid", required_argument, NULL, O_CID},
        {"max-conns", required_argument, NULL, O_MAX},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"connect-timeout", required_argument, NULL, O_CONNECT},
        {"log", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    vg_proxy_options p = {0};
    const char *listen_text = "vsock://ANY:8000", *remote = NULL;
    unsigned long v;
    vg_log_level level;
    p.idle_ms = 60000;
    p.connect_ms = 5000;
    p.max_conns = 64;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case O_LISTEN: listen_text = optarg; break;
        case O_REMOTE: remote = optarg; break;
        case O_CID:
            if (!vg_parse_ulong(optarg, 0, 0xfffffffeUL, &v))
                goto bad;
            p.cid_filter = true;
            p.enclave_cid = (uint32_t)v;
            break;
        case O_MAX:
            if (!vg_parse_ulong(optarg, 1, 65536, &v))
                goto bad;
            p.max_conns = v;
            break;
        case O_IDLE:
            if (!vg_parse_ulong(optarg, 1, 86400, &v))
                goto bad;
            p.idle_ms = (int)(v * 1000);
            break;
        case O_CONNECT:
            if (!vg_parse_ulong(optarg, 100, 600000, &v))
                goto bad;
            p.connect_ms = (int)v;
            break;
        case O_LOG:
            if (vg_log_parse_level(optarg, &level) < 0)
                goto bad;
            vg_log_set_level(level);
            break;
        case 'h': usage(stdout); return 0;
        default: return usage(stderr);
        }
    }
    if (optind != argc || remote == NULL)
        return usage(stderr);
    p.listen = listen_text;
    p.remote = remote;
    vg_err err = {0};
    vg_proxy *proxy;
    if (vg_proxy_start(&p, &proxy, &err) < 0) {
        VG_ERROR("%s", err.msg);
        return err.kind == VG_E_INVALID ? 2 : 1;
    }
    vg_proxy_wait(proxy); /* the accept loop runs until the process ends */
    return 1;
bad:
    fprintf(stderr, "vigil proxy: bad value `%s` for --%s\n", optarg, longopts[ch - 1].name);
    return 2;
}
