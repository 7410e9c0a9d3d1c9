#include "rpc/rpc_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
/* after sys/socket.h */
#include <linux/vm_sockets.h>

/* Decimal u32 that must span the whole string. */
static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* Splits "HOST:PORT" at the last colon into host (copied into buf) and a port in 1..65535 (vsock
 * ports are 32-bit). */
static int split_host_port(const char *s, char *host, size_t cap, uint32_t *port, uint32_t port_max)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= cap || colon == s)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (parse_u32(colon + 1, port) < 0 || *port == 0 || *port > port_max)
        return -1;
    return 0;
}

int vg_rpc_addr_parse(const char *text, struct vg_rpc_addr *out, vg_err *err)
{
    char host[64];
    memset(out, 0, sizeof *out);
    if (strncmp(text, "unix:", 5) == 0) {
        const char *path = text + 5;
        if (*path == '\0' || strlen(path) >= sizeof out->path)
            return vg_fail(err, VG_E_INVALID, "bad unix socket path (empty or over %zu bytes)", sizeof out->path - 1);
        out->transport = VG_RPC_UNIX;
        memcpy(out->path, path, strlen(path) + 1);
        return 0;
    }
    if (strncmp(text, "tcp://", 6) == 0) {
        out->transport = VG_RPC_TCP;
        struct in_addr a;
        if (split_host_port(text + 6, host, sizeof host, &out->port, 65535) < 0 || inet_pton(AF_INET, host, &a) != 1)
            return vg_fail(err, VG_E_INVALID, "bad tcp address (want tcp://A.B.C.D:PORT, numeric)");
        out->ipv4 = a.s_addr;
        return 0;
    }
    if (strncmp(text, "vsock://", 8) == 0) {
        out->transport = VG_RPC_VSOCK;
        if (split_host_port(text + 8, host, sizeof host, &out->port, UINT32_MAX - 1) < 0)
            return vg_fail(err, VG_E_INVALID, "bad vsock address (want vsock://CID:PORT)");
        if (strcmp(host, "ANY") == 0 || strcmp(host, "any") == 0)
            out->cid = VG_RPC_VSOCK_CID_ANY;
        else if (parse_u32(host, &out->cid) < 0)
            return vg_fail(err, VG_E_INVALID, "bad vsock CID (want a number or ANY)");
        return 0;
    }
    return vg_fail(err, VG_E_INVALID, "unknown address scheme (want unix:/path, tcp://IP:PORT or vsock://CID:PORT)");
}

void vg_rpc_addr_format(const struct vg_rpc_addr *a, char *buf, size_t cap)
{
    switch (a->transport) {
    case VG_RPC_UNIX:
        snprintf(buf, cap, "unix:%s", a->path);
        return;
    case VG_RPC_TCP: {
        char ip[INET_ADDRSTRLEN];
        struct in_addr in = {.s_addr = a->ipv4};
        inet_ntop(AF_INET, &in, ip, sizeof ip);
        snprintf(buf, cap, "tcp://%s:%u", ip, a->port);
        return;
    }
    case VG_RPC_VSOCK:
        if (a->cid == VG_RPC_VSOCK_CID_ANY)
            snprintf(buf, cap, "vsock://ANY:%u", a->port);
        else
            snprintf(buf, cap, "vsock://%u:%u", a->cid, a->port);
        return;
    default:
        break;
    }
    snprintf(buf, cap, "?");
}

union any_addr {
    struct sockaddr sa;
    struct sockaddr_un un;
    struct sockaddr_in in;
    struct sockaddr_vm vm;
};

static socklen_t to_sockaddr(const struct vg_rpc_addr *a, union any_addr *u, int *family)
{
    memset(u, 0, sizeof *u);
    switch (a->transport) {
    case VG_RPC_UNIX:
        *family = AF_UNIX;
        u->un.sun_family = AF_UNIX;
        memcpy(u->un.sun_path, a->path, strlen(a->path) + 1);
        return (socklen_t)sizeof u->un;
    case VG_RPC_TCP:
        *family = AF_INET;
        u->in.sin_family = AF_INET;
        u->in.sin_addr.s_addr = a->ipv4;
        u->in.sin_port = htons((uint16_t)a->port);
        return (socklen_t)sizeof u->in;
    case VG_RPC_VSOCK:
        *family = AF_VSOCK;
        u->vm.svm_family = AF_VSOCK;
        u->vm.svm_cid = a->cid;
        u->vm.svm_port = a->port;
        return (socklen_t)sizeof u->vm;
    default:
        break;
    }
    *family = AF_UNSPEC;
    return 0;
}

int vg_rpc_addr_connect(const struct vg_rpc_addr *a, int timeout_ms, int *fd_out, vg_err *err)
{
    union any_addr u;
    int family;
    char name[160];
    socklen_t sl = to_sockaddr(a, &u, &family);
    vg_rpc_addr_format(a, name, sizeof name);
    *fd_out = -1;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "rpc: socket for %s: %s", name, strerror(errno));
    if (connect(fd, &u.sa, sl) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            int e = errno;
            close(fd);
            return vg_fail(err, VG_E_UNAVAILABLE, "rpc: connect %s: %s", name, strerror(e));
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n;
        do {
            n = poll(&p, 1, timeout_ms);
        } while (n < 0 && errno == EINTR);
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0) {
            close(fd);
            return vg_fail(err, VG_E_UNAVAILABLE, "rpc: connect %s: %s", name,
                           n == 0 ? "timed out" : strerror(soerr ? soerr : errno));
        }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        close(fd);
        return vg_fail(err, VG_E_UNAVAILABLE, "rpc: fcntl: %s", strerror(errno));
    }
    if (family == AF_INET) {
        int one = 1; /* one request, one reply: do not wait for Nagle */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    *fd_out = fd;
    return 0;
}

int vg_rpc_addr_listen(const struct vg_rpc_addr *a, int *fd_out, vg_err *err)
{
    union any_addr u;
    int family;
    char name[160];
    socklen_t sl = to_sockaddr(a, &u, &family);
    vg_rpc_addr_format(a, name, sizeof name);
    *fd_out = -1;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "listen %s: socket: %s", name, strerror(errno));
    if (family == AF_INET) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (family == AF_UNIX) {
        /* Replace a stale socket left by a previous run, but never another kind of file. */
        struct stat st;
        if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(a->path);
    }
    if (bind(fd, &u.sa, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = errno;
        close(fd);
        return vg_fail(err, VG_E_UNAVAILABLE, "listen %s: %s", name, strerror(e));
    }
    *fd_out = fd;
    return 0;
}
