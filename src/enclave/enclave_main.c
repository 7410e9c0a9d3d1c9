#define _GNU_SOURCE /* accept4 */
/* vigil-enclave: the tee-signer-compatible enclave signer (spec: shared/specs/enclave-rpc.md).
 * Listens on an address (default vsock://ANY:2000), one thread and one independent session per
 * connection. Needs no files at run time (unless --seal dev), so it runs from an empty root. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
/* after sys/socket.h */
#include <linux/vm_sockets.h>

#include "common/log.h"
#include "common/secmem.h"
#include "enclave/seal.h"
#include "enclave/session.h"
#include "rpc/rpc_addr.h"
#include "rpc/rpc_frame.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "dev"
#endif

struct options {
    const char *listen;
    const char *seal;
    struct vg_seal_config seal_cfg;
    size_t frame_max;
    int frame_ms;
    size_t max_sessions;
    size_t max_keys;
    bool allow_any_cid;
};

struct server {
    struct options opt;
    struct vg_seal *seal;
    pthread_mutex_t lock;
    size_t active; /* sessions running */
    uint64_t next_id;
};

struct conn {
    struct server *srv;
    int fd;
    uint64_t id;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vigil-enclave [flags]\n"
            "  --listen ADDR         vsock://CID:PORT | unix:/path | tcp://IP:PORT (default vsock://ANY:2000)\n"
            "  --seal NAME           key sealing: %s (default kms; dev if --dev-seal-key is given)\n"
            "  --dev-seal-key FILE   dev sealing key (32 bytes, created 0600 if absent). INSECURE\n"
            "  --kms-proxy ADDR      stream to the parent's KMS proxy: vsock://CID:PORT | tcp://IP:PORT\n"
            "                        (default vsock://3:8000)\n"
            "  --kms-endpoint-host H TLS name and Host for KMS (default kms.<region>.amazonaws.com)\n"
            "  --kms-ca-file FILE    trust only these PEM roots for KMS instead of the embedded Amazon\n"
            "                        roots (tests)\n"
            "  --kms-timeout MS      per KMS attempt: connect, TLS, request, reply (default 8000)\n"
            "  --soft-nsm-dir DIR    software NSM with its dev CA in DIR instead of /dev/nsm. INSECURE\n"
            "  --frame-max BYTES     largest request frame (default %u, at least %u)\n"
            "  --frame-timeout MS    deadline to finish a frame once it started (default 10000)\n"
            "  --max-sessions N      concurrent connections (default 128)\n"
            "  --max-keys N          keys per connection (default 4096)\n"
            "  --allow-any-cid       vsock: accept peers other than the parent (CID 3)\n"
            "  --log LEVEL           error|warn|info|debug (default info)\n"
            "  --version\n",
            vg_seal_driver_names(), VG_RPC_FRAME_MAX_DEFAULT, VG_RPC_FRAME_MAX_MIN);
}

static int parse_size(const char *s, size_t min, size_t max, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        O_LISTEN = 1,
        O_SEAL,
        O_DEVKEY,
        O_FRAME_MAX,
        O_FRAME_MS,
        O_SESSIONS,
        O_KEYS,
        O_ANYCID,
        O_LOG,
        O_VERSION,
        O_KMS_PROXY,
        O_KMS_HOST,
        O_KMS_CA,
        O_KMS_TIMEOUT,
        O_SOFT_NSM,
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"seal", required_argument, NULL, O_SEAL},
        {"dev-seal-key", required_argument, NULL, O_DEVKEY},
        {"frame-max", required_argument, NULL, O_FRAME_MAX},
        {"frame-timeout", required_argument, NULL, O_FRAME_MS},
        {"max-sessions", required_argument, NULL, O_SESSIONS},
        {"max-keys", required_argument, NULL, O_KEYS},
        {"allow-any-cid", no_argument, NULL, O_ANYCID},
        {"log", required_argument, NULL, O_LOG},
        {"version", no_argument, NULL, O_VERSION},
        {"kms-proxy", required_argument, NULL, O_KMS_PROXY},
        {"kms-endpoint-host", required_argument, NULL, O_KMS_HOST},
        {"kms-ca-file", required_argument, NULL, O_KMS_CA},
        {"kms-timeout", required_argument, NULL, O_KMS_TIMEOUT},
        {"soft-nsm-dir", required_argument, NULL, O_SOFT_NSM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){.listen = "vsock://ANY:2000", .frame_max = VG_RPC_FRAME_MAX_DEFAULT, .frame_ms = 10000,
                          .max_sessions = 128, .max_keys = 4096};
    size_t ms;
    vg_log_level level;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN: o->listen = optarg; break;
        case O_SEAL: o->seal = optarg; break;
        case O_DEVKEY: o->seal_cfg.dev_key_path = optarg; break;
        case O_FRAME_MAX:
            if (parse_size(optarg, VG_RPC_FRAME_MAX_MIN, 64u << 20, &o->frame_max) < 0)
                goto bad;
            break;
        case O_FRAME_MS:
            if (parse_size(optarg, 1, 3600000, &ms) < 0)
                goto bad;
            o->frame_ms = (int)ms;
            break;
        case O_SESSIONS:
            if (parse_size(optarg, 1, 65536, &o->max_sessions) < 0)
                goto bad;
            break;
        case O_KEYS:
            if (parse_size(optarg, 1, 1u << 20, &o->max_keys) < 0)
                goto bad;
            break;
        case O_ANYCID: o->allow_any_cid = true; break;
        case O_LOG:
            if (vg_log_parse_level(optarg, &level) < 0)
                goto bad;
            vg_log_set_level(level);
            break;
        case O_VERSION: printf("vigil-enclave %s\n", VIGIL_VERSION); exit(0);
        case O_KMS_PROXY: o->seal_cfg.kms_proxy = optarg; break;
        case O_KMS_HOST: o->seal_cfg.kms_endpoint_host = optarg; break;
        case O_KMS_CA: o->seal_cfg.kms_ca_file = optarg; break;
        case O_KMS_TIMEOUT:
            if (parse_size(optarg, 100, 600000, &ms) < 0)
                goto bad;
            o->seal_cfg.kms_timeout_ms = (int)ms;
            break;
        case O_SOFT_NSM: o->seal_cfg.soft_nsm_dir = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return -1;
    }
    if (o->seal == NULL)
        o->seal = o->seal_cfg.dev_key_path != NULL ? "dev" : "kms";
    const struct vg_seal_config *k = &o->seal_cfg;
    if (strcmp(o->seal, "kms") != 0 && (k->kms_proxy || k->kms_endpoint_host || k->kms_ca_file || k->kms_timeout_ms ||
                                        k->soft_nsm_dir)) {
        fprintf(stderr, "vigil-enclave: --kms-* and --soft-nsm-dir apply to --seal kms only\n");
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "vigil-enclave: bad value `%s` for --%s\n", optarg, longopts[c - 1].name);
    return -1;
}

/* As ssh-agent: no core dumps, not ptrace-able by the same uid, private files (STYLE §7). */
static void harden(void)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    umask(077);
    signal(SIGPIPE, SIG_IGN);
    /* libsodium ignores a failed mlock silently: say once whether key pages can be locked. */
    // cppcheck-suppress invalidFunctionArg ; MAP_ANONYMOUS takes fd -1
    void *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe != MAP_FAILED) {
        if (mlock(probe, 4096) == 0)
            VG_INFO("memory locking works: key pages stay out of swap");
        else
            VG_WARN("mlock failed (%s): key pages may be swapped; raise RLIMIT_MEMLOCK", strerror(errno));
        munlock(probe, 4096);
        munmap(probe, 4096);
    }
}

static void serve_connection(struct server *srv, int fd, uint64_t id)
{
    struct vg_session_limits lim = {srv->opt.max_keys, srv->opt.frame_max};
    /* spec §19 W3: no idle timeout (Signatory never reconnects), but a frame must finish in time. */
    struct vg_rpc_io_limits io = {srv->opt.frame_max, -1, srv->opt.frame_ms};
    struct vg_session *s = vg_session_new(srv->seal, &lim);
    struct vg_rpc_reply rep;
    memset(&rep, 0, sizeof rep);
    if (s == NULL) {
        VG_ERROR("session %llu: out of memory", (unsigned long long)id);
        return;
    }
    for (;;) {
        vg_err err = {0};
        uint8_t *body = NULL;
        size_t len = 0;
        enum vg_rpc_frame_status st = vg_rpc_frame_read(fd, &io, &body, &len, &err);
        if (st == VG_RPC_FRAME_EOF)
            break;
        if (st == VG_RPC_FRAME_ERROR) {
            VG_INFO("session %llu: dropped: %s", (unsigned long long)id, err.msg);
            break;
        }
        int call = -1;
        if (st == VG_RPC_FRAME_TOO_LARGE) {
            /* spec §19 W1: answer, then close: the body cannot be skipped safely. */
            VG_WARN("session %llu: %s", (unsigned long long)id, err.msg);
            vg_rpc_reply_set_err(&rep, "frame too large", NULL);
        } else {
            vg_session_handle(s, body, len, &rep, &call);
            vg_rpc_frame_free(body, len);
        }
        VG_DEBUG("session %llu: call=%s reply=%s", (unsigned long long)id,
                 call >= 0 ? vg_rpc_call_name((enum vg_rpc_call)call) : "(undecodable)",
                 rep.kind == VG_RPC_REPLY_ERR ? rep.err[0] : "Ok");
        struct vg_cbor_out out;
        vg_cbor_out_init(&out, srv->opt.frame_max);
        int rc = vg_rpc_reply_encode(&rep, &out, &err);
        if (rc < 0) {
            vg_cbor_out_free(&out);
            vg_rpc_reply_set_err(&rep, "serialization error", err.msg);
            rc = vg_rpc_reply_encode(&rep, &out, &err);
        }
        if (rc == 0)
            rc = vg_rpc_frame_write(fd, out.buf, out.len, srv->opt.frame_ms, &err);
        vg_cbor_out_free(&out); /* wipes: mock blobs are plaintext keys */
        vg_rpc_reply_clear(&rep);
        if (rc < 0) {
            VG_INFO("session %llu: dropped: %s", (unsigned long long)id, err.msg);
            break;
        }
        if (st == VG_RPC_FRAME_TOO_LARGE)
            break;
    }
    vg_session_free(s); /* wipes every key of the session */
}

static void *connection_thread(void *arg)
{
    struct conn *c = arg;
    struct server *srv = c->srv;
    VG_INFO("session %llu: open", (unsigned long long)c->id);
    serve_connection(srv, c->fd, c->id);
    close(c->fd);
    VG_INFO("session %llu: closed", (unsigned long long)c->id);
    pthread_mutex_lock(&srv->lock);
    srv->active--;
    pthread_mutex_unlock(&srv->lock);
    free(c);
    return NULL;
}

/* spec §19 W7: on Nitro only the parent instance (CID 3) may connect. */
static bool peer_allowed(const struct server *srv, const struct vg_rpc_addr *addr, int fd)
{
    if (addr->transport != VG_RPC_VSOCK || srv->opt.allow_any_cid)
        return true;
    struct sockaddr_vm peer;
    socklen_t len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0 || peer.svm_family != AF_VSOCK)
        return false;
    if (peer.svm_cid == VG_RPC_VSOCK_CID_PARENT)
        return true;
    VG_WARN("refused vsock peer CID %u (only the parent, CID %u, may connect)", peer.svm_cid,
            VG_RPC_VSOCK_CID_PARENT);
    return false;
}

static void start_session(struct server *srv, int fd)
{
    pthread_mutex_lock(&srv->lock);
    bool full = srv->active >= srv->opt.max_sessions;
    if (!full)
        srv->active++;
    uint64_t id = ++srv->next_id;
    pthread_mutex_unlock(&srv->lock);
    if (full) {
        VG_WARN("refused a connection: %zu sessions already open", srv->opt.max_sessions);
        close(fd);
        return;
    }
    struct conn *c = malloc(sizeof *c);
    pthread_attr_t attr;
    pthread_t t;
    bool started = false;
    if (c != NULL && pthread_attr_init(&attr) == 0) {
        *c = (struct conn){srv, fd, id};
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 512 * 1024);
        started = pthread_create(&t, &attr, connection_thread, c) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) {
        VG_ERROR("cannot start a session thread");
        free(c);
        close(fd);
        pthread_mutex_lock(&srv->lock);
        srv->active--;
        pthread_mutex_unlock(&srv->lock);
    }
}

int main(int argc, char **argv)
{
    struct server srv = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct vg_rpc_addr addr;
    vg_err err = {0};
    if (parse_options(argc, argv, &srv.opt) < 0)
        return 2;
    harden();
    if (vg_crypto_init() < 0) {
        VG_ERROR("cannot initialise libsodium");
        return 1;
    }
    if (vg_rpc_addr_parse(srv.opt.listen, &addr, &err) < 0) {
        VG_ERROR("--listen %s: %s", srv.opt.listen, err.msg);
        return 2;
    }
    if (vg_seal_open(srv.opt.seal, &srv.opt.seal_cfg, &srv.seal, &err) < 0) {
        VG_ERROR("%s", err.msg);
        return 1;
    }
    int lfd;
    if (vg_rpc_addr_listen(&addr, &lfd, &err) < 0) {
        VG_ERROR("%s", err.msg);
        vg_seal_free(srv.seal);
        return 1;
    }
    char name[160];
    vg_rpc_addr_format(&addr, name, sizeof name);
    VG_INFO("vigil-enclave %s listening on %s, seal=%s%s, frame-max=%zu, max-sessions=%zu", VIGIL_VERSION, name,
            vg_seal_name(srv.seal), vg_seal_is_insecure(srv.seal) ? " (INSECURE DEV MODE)" : "", srv.opt.frame_max,
            srv.opt.max_sessions);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                VG_WARN("accept: %s; pausing", strerror(errno));
                nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
                continue;
            }
            VG_ERROR("accept: %s", strerror(errno));
            return 1;
        }
        if (!peer_allowed(&srv, &addr, fd)) {
            close(fd);
            continue;
        }
        start_session(&srv, fd);
    }
}
