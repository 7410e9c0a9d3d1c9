/* The parent-side KMS proxy (`vigil proxy`, and inside `vigil serve` with proxy_remote_address) for vigil-enclave (spec: shared/specs/nitro-deploy.md §7,
 * enclave-rpc.md §12.1, §19 W16). The enclave has no network: it opens a stream to this proxy (vsock
 * CID 3, port 8000 by default) and runs TLS to kms.<region>.amazonaws.com inside it, so the proxy
 * moves ciphertext only and cannot impersonate KMS.
 *
 *   vigil proxy --remote kms.us-east-1.amazonaws.com:443 [--listen vsock://ANY:8000]
 *               [--enclave-cid CID] [--max-conns 64] [--idle-timeout 60] [--connect-timeout 5000]
 *
 * Every accepted stream goes to the ONE configured remote (the allow-list is that host:port; nothing
 * in the stream can choose another destination). The name is resolved at start (a failure there is
 * fatal) and again at most once a minute when connections arrive, keeping the last good addresses
 * when DNS fails: KMS endpoint addresses change over time, and TLS inside the enclave checks the
 * name, so a fresh answer is safer than Signatory's resolve-once. Connections are capped (more are
 * closed at once), each idle one is closed after the idle timeout, and on vsock only --enclave-cid is
 * accepted when given. Logs carry addresses and byte counts, never content. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
/* after sys/socket.h */
#include <linux/vm_sockets.h>

#include "common/log.h"
#include "common/parse.h"
#include "nitro/vsock_proxy.h"
#include "rpc/rpc_addr.h"

#define ADDRS_MAX 16
#define RESOLVE_EVERY_SECONDS 60
#define PIPE_BUF_BYTES 16384


struct proxy {
    struct vg_rpc_addr listen;
    char host[256];
    char port[8];
    int idle_ms;
    int connect_ms;
    size_t max_conns;
    bool cid_filter;
    uint32_t enclave_cid;
    pthread_mutex_t lock; /* guards everything below */
    struct sockaddr_storage addrs[ADDRS_MAX];
    socklen_t addr_lens[ADDRS_MAX];
    size_t n_addrs;
    time_t resolved_at;
    bool resolving;
    size_t active;
    uint64_t next_id;
};

struct conn {
    struct proxy *p;
    int fd;
    uint64_t id;
    char peer[64];
};

/* "host:port" or "[v6]:port". */
static bool parse_remote(const char *text, struct proxy *p)
{
    const char *colon = strrchr(text, ':');
    unsigned long port;
    if (colon == NULL || !vg_parse_ulong(colon + 1, 1, 65535, &port))
        return false;
    const char *h = text;
    size_t len = (size_t)(colon - text);
    if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof p->host || memchr(h, '/', len) != NULL)
        return false;
    memcpy(p->host, h, len);
    p->host[len] = '\0';
    snprintf(p->port, sizeof p->port, "%lu", port);
    return true;
}

/* Resolves the remote; on success replaces the address list. Returns 0 or an EAI_* / -1. */
static int resolve(struct proxy *p)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(p->host, p->port, &hints, &res);
    if (rc != 0)
        return rc;
    struct sockaddr_storage addrs[ADDRS_MAX];
    socklen_t lens[ADDRS_MAX];
    size_t n = 0;
    for (struct addrinfo *a = res; a != NULL && n < ADDRS_MAX; a = a->ai_next) {
        if (a->ai_addrlen > sizeof addrs[0])
            continue;
        memcpy(&addrs[n], a->ai_addr, a->ai_addrlen);
        lens[n++] = a->ai_addrlen;
    }
    freeaddrinfo(res);
    if (n == 0)
        return EAI_NONAME;
    pthread_mutex_lock(&p->lock);
    memcpy(p->addrs, addrs, sizeof addrs[0] * n);
    memcpy(p->addr_lens, lens, sizeof lens[0] * n);
    p->n_addrs = n;
    p->resolved_at = time(NULL);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* The current addresses (refreshed when stale; one resolver at a time; old ones kept on failure). */
static size_t current_addrs(struct proxy *p, struct sockaddr_storage *out, socklen_t *lens)
{
    pthread_mutex_lock(&p->lock);
    bool stale = !p->resolving && time(NULL) - p->resolved_at >= RESOLVE_EVERY_SECONDS;
    if (stale)
        p->resolving = true;
    pthread_mutex_unlock(&p->lock);
    if (stale) {
        int rc = resolve(p);
        if (rc != 0)
            VG_WARN("proxy: resolving %s failed (%s): keeping the previous addresses", p->host,
                    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        pthread_mutex_lock(&p->lock);
        p->resolving = false;
        if (rc != 0)
            p->resolved_at = time(NULL); /* retry in a minute, not on every connection */
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_lock(&p->lock);
    size_t n = p->n_addrs;
    memcpy(out, p->addrs, sizeof out[0] * n);
    memcpy(lens, p->addr_lens, sizeof lens[0] * n);
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void format_sockaddr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(buf, cap, "%s:%u", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(buf, cap, "[%s]:%u", ip, port);
    } else if (ss->ss_family == AF_VSOCK) {
        const struct sockaddr_vm *vm = (const struct sockaddr_vm *)ss;
        snprintf(buf, cap, "vsock CID %u", vm->svm_cid);
    } else if (ss->ss_family == AF_UNIX) {
        snprintf(buf, cap, "unix peer");
    } else {
        snprintf(buf, cap, "?");
    }
}

/* Connects with a timeout; returns a non-blocking fd or -1 (the reason in why). */
static int connect_one(const struct sockaddr_storage *ss, socklen_t len, int timeout_ms, char *why, size_t cap)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(why, cap, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
        snprintf(why, cap, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int n;
    do {
        n = poll(&pfd, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
        snprintf(why, cap, "%s", n == 0 ? "timed out" : strerror(soerr != 0 ? soerr : errno));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

struct half {
    int from, to;
    char buf[PIPE_BUF_BYTES];
    size_t len, off;
    bool eof;   /* `from` said EOF */
    bool done;  /* eof seen and everything forwarded; `to` was shut for writing */
    unsigned long long bytes;
};

/* One read into h when it is empty. Returns -1 on a read error. */
static int pump_read(struct half *h)
{
    ssize_t n = read(h->from, h->buf, sizeof h->buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (n == 0) {
        h->eof = true;
        h->done = true;
        shutdown(h->to, SHUT_WR);
        return 0;
    }
    h->len = (size_t)n;
    h->off = 0;
    return 0;
}

static int pump_write(struct half *h)
{
    ssize_t n = send(h->to, h->buf + h->off, h->len - h->off, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    h->off += (size_t)n;
    h->bytes += (unsigned long long)n;
    if (h->off == h->len)
        h->len = h->off = 0;
    return 0;
}

/* Moves bytes both ways until both directions ended, an error, or idle_ms without traffic. Returns a
 * short reason. */
static const char *pump(int a, int b, int idle_ms, struct half *up, struct half *down)
{
    *up = (struct half){.from = a, .to = b};
    *down = (struct half){.from = b, .to = a};
    while (!(up->done && down->done)) {
        short ea = (short)((!up->eof && up->len == 0 ? POLLIN : 0) | (down->len > 0 ? POLLOUT : 0));
        short eb = (short)((!down->eof && down->len == 0 ? POLLIN : 0) | (up->len > 0 ? POLLOUT : 0));
        /* an fd with nothing asked of it is left out, so a hang-up on it cannot make poll spin */
        struct pollfd pfd[2] = {{ea ? a : -1, ea, 0}, {eb ? b : -1, eb, 0}};
        int n = poll(pfd, 2, idle_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return "poll failed";
        if (n == 0)
            return "idle timeout";
        for (int i = 0; i < 2; i++) {
            struct half *rd = i == 0 ? up : down, *wr = i == 0 ? down : up;
            short re = pfd[i].revents;
            if (re & POLLNVAL)
                return "invalid descriptor";
            if ((re & POLLOUT) && pump_write(wr) < 0)
                return "write failed";
            if ((re & (POLLIN | POLLHUP | POLLERR)) && (pfd[i].events & POLLIN) && pump_read(rd) < 0)
                return "read failed";
            if ((re & POLLERR) && !(pfd[i].events & POLLIN))
                return "socket error";
        }
    }
    return "closed";
}

static void *conn_thread(void *arg)
{
    struct conn *c = arg;
    struct proxy *p = c->p;
    struct sockaddr_storage addrs[ADDRS_MAX];
    socklen_t lens[ADDRS_MAX];
    size_t n = current_addrs(p, addrs, lens);
    int rfd = -1;
    char target[80] = "", why[128] = "no address";
    for (size_t i = 0; i < n && rfd < 0; i++) {
        format_sockaddr(&addrs[i], target, sizeof target);
        rfd = connect_one(&addrs[i], lens[i], p->connect_ms, why, sizeof why);
        if (rfd < 0)
            VG_WARN("proxy: stream %llu: connect %s (%s): %s", (unsigned long long)c->id, p->host, target, why);
    }
    if (rfd >= 0) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        VG_INFO("proxy: stream %llu: %s -> %s (%s)", (unsigned long long)c->id, c->peer, p->host, target);
        struct half *h = malloc(2 * sizeof *h); /* 32 KiB: off the thread stack */
        const char *end = h != NULL ? pump(c->fd, rfd, p->idle_ms, &h[0], &h[1]) : "out of memory";
        unsigned long long up = h != NULL ? h[0].bytes : 0, down = h != NULL ? h[1].bytes : 0;
        free(h);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L;
        VG_INFO("proxy: stream %llu: %s after %ld ms, %llu bytes up, %llu bytes down", (unsigned long long)c->id, end,
                ms, up, down);
        close(rfd);
    } else {
        VG_ERROR("proxy: stream %llu from %s: cannot reach %s:%s", (unsigned long long)c->id, c->peer, p->host,
                 p->port);
    }
    close(c->fd);
    pthread_mutex_lock(&p->lock);
    p->active--;
    pthread_mutex_unlock(&p->lock);
    free(c);
    return NULL;
}

static bool peer_allowed(const struct proxy *p, int fd, char *peer, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        snprintf(peer, cap, "?");
        return false;
    }
    format_sockaddr(&ss, peer, cap);
    if (p->cid_filter && ss.ss_family == AF_VSOCK && ((struct sockaddr_vm *)&ss)->svm_cid != p->enclave_cid) {
        VG_WARN("proxy: refused %s (only CID %u may connect)", peer, p->enclave_cid);
        return false;
    }
    return true;
}

static void accept_loop(struct proxy *p, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            VG_WARN("proxy: accept: %s; pausing", strerror(errno));
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
            continue;
        }
        char peer[64];
        if (!peer_allowed(p, fd, peer, sizeof peer)) {
            close(fd);
            continue;
        }
        pthread_mutex_lock(&p->lock);
        bool full = p->active >= p->max_conns;
        if (!full)
            p->active++;
        uint64_t id = ++p->next_id;
        pthread_mutex_unlock(&p->lock);
        if (full) {
            VG_WARN("proxy: refused %s: %zu streams already open (--max-conns)", peer, p->max_conns);
            close(fd);
            continue;
        }
        struct conn *c = malloc(sizeof *c);
        pthread_attr_t attr;
        pthread_t t;
        bool started = false;
        if (c != NULL && pthread_attr_init(&attr) == 0) {
            *c = (struct conn){.p = p, .fd = fd, .id = id};
            snprintf(c->peer, sizeof c->peer, "%s", peer);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            pthread_attr_setstacksize(&attr, 256 * 1024);
            started = pthread_create(&t, &attr, conn_thread, c) == 0;
            pthread_attr_destroy(&attr);
        }
        if (!started) {
            VG_ERROR("proxy: cannot start a stream thread");
            free(c);
            close(fd);
            pthread_mutex_lock(&p->lock);
            p->active--;
            pthread_mutex_unlock(&p->lock);
        }
    }
}

struct vg_proxy {
    struct proxy p;
    int lfd;
    pthread_t thread;
};

static void *accept_main(void *arg)
{
    vg_proxy *vp = arg;
    accept_loop(&vp->p, vp->lfd);
    return NULL;
}

int vg_proxy_start(const vg_proxy_options *o, vg_proxy **out, vg_err *err)
{
    vg_proxy *vp = calloc(1, sizeof *vp);
    if (vp == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    struct proxy *p = &vp->p;
    pthread_mutex_init(&p->lock, NULL);
    p->idle_ms = o->idle_ms > 0 ? o->idle_ms : 60000;
    p->connect_ms = o->connect_ms > 0 ? o->connect_ms : 5000;
    p->max_conns = o->max_conns > 0 ? o->max_conns : 64;
    p->cid_filter = o->cid_filter;
    p->enclave_cid = o->enclave_cid;
    const char *listen_text = o->listen != NULL ? o->listen : "vsock://ANY:8000";
    if (o->remote == NULL || !parse_remote(o->remote, p)) {
        free(vp);
        return vg_fail(err, VG_E_INVALID, "proxy: remote `%s' is not HOST:PORT", o->remote ? o->remote : "");
    }
    if (vg_rpc_addr_parse(listen_text, &p->listen, err) < 0) {
        free(vp);
        return vg_wrap(err, "proxy: listen %s", listen_text);
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = resolve(p);
    if (rc != 0) {
        free(vp);
        return vg_fail(err, VG_E_UNAVAILABLE, "proxy: cannot resolve %s: %s", p->host,
                       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    }
    if (vg_rpc_addr_listen(&p->listen, &vp->lfd, err) < 0) {
        free(vp);
        return vg_wrap(err, "proxy");
    }
    char name[160], first[80];
    vg_rpc_addr_format(&p->listen, name, sizeof name);
    format_sockaddr(&p->addrs[0], first, sizeof first);
    if (p->listen.transport == VG_RPC_TCP && (ntohl(p->listen.ipv4) >> 24) != 127)
        VG_WARN("proxy: listening on a non-loopback TCP address: anyone who reaches it can use the forwarding");
    VG_INFO("proxy: listening on %s, forwarding to %s:%s only (%zu address(es), first %s), max %zu streams, idle "
            "timeout %d s%s",
            name, p->host, p->port, p->n_addrs, first, p->max_conns, p->idle_ms / 1000,
            p->cid_filter ? ", one enclave CID" : "");
    if (pthread_create(&vp->thread, NULL, accept_main, vp) != 0) {
        close(vp->lfd);
        free(vp);
        return vg_fail(err, VG_E_INTERNAL, "proxy: cannot start its thread");
    }
    *out = vp;
    return 0;
}

void vg_proxy_wait(vg_proxy *vp) { pthread_join(vp->thread, NULL); }
