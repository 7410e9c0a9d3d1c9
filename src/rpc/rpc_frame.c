#include "rpc/rpc_frame.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/reader.h"
#include "common/secmem.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1 = none) as a poll timeout. */
static int left_ms(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - now_ms();
    return left <= 0 ? 0 : left > 60 * 60 * 1000 ? 60 * 60 * 1000 : (int)left;
}

static int64_t deadline_in(int ms) { return ms < 0 ? -1 : now_ms() + ms; }

static int wait_fd(int fd, short events, int64_t deadline, vg_err *err)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left_ms(deadline));
        if (n > 0)
            return 0;
        if (n == 0)
            return vg_fail(err, VG_E_UNAVAILABLE, "rpc: timed out");
        if (errno != EINTR)
            return vg_fail(err, VG_E_UNAVAILABLE, "rpc: poll: %s", strerror(errno));
    }
}

/* Reads exactly n bytes. Returns 0 when done, 1 on EOF (*got = bytes read before it), -1 on error. */
static int read_exact(int fd, uint8_t *buf, size_t n, int64_t deadline, size_t *got, vg_err *err)
{
    *got = 0;
    while (*got < n) {
        if (wait_fd(fd, POLLIN, deadline, err) < 0)
            return -1;
        ssize_t k = read(fd, buf + *got, n - *got);
        if (k == 0)
            return 1;
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return vg_fail(err, VG_E_UNAVAILABLE, "rpc: read: %s", strerror(errno));
        }
        *got += (size_t)k;
    }
    return 0;
}

enum vg_rpc_frame_status vg_rpc_frame_read(int fd, const struct vg_rpc_io_limits *lim, uint8_t **body,
                                           size_t *len, vg_err *err)
{
    uint8_t hdr[VG_RPC_FRAME_HEADER_LEN];
    size_t got;
    *body = NULL;
    *len = 0;
    /* The first byte may be long in coming (an idle connection); after it the frame has a deadline,
     * so a peer stalling inside a frame cannot pin the session (spec §19 W3). */
    int rc = read_exact(fd, hdr, 1, deadline_in(lim->first_byte_ms), &got, err);
    int64_t deadline = deadline_in(lim->frame_ms);
    if (rc == 0)
        rc = read_exact(fd, hdr + 1, sizeof hdr - 1, deadline, &got, err);
    /* spec §1.2: "EOF while reading the 4 length bytes (including after 1-3 bytes) = clean close". */
    if (rc == 1)
        return VG_RPC_FRAME_EOF;
    if (rc < 0)
        return VG_RPC_FRAME_ERROR;

    vg_reader r = vg_reader_init(hdr, sizeof hdr, err);
    uint32_t n;
    if (vg_rd_be32(&r, &n) < 0)
        return VG_RPC_FRAME_ERROR;
    *len = n;
    if (n > lim->frame_max) {
        vg_fail(err, VG_E_INVALID, "frame too large: %u bytes, limit %zu", n, lim->frame_max);
        return VG_RPC_FRAME_TOO_LARGE;
    }
    uint8_t *buf = malloc((size_t)n + 1); /* + 1: a zero-length frame still gets a buffer */
    if (buf == NULL) {
        vg_fail(err, VG_E_UNAVAILABLE, "rpc: out of memory for a %u-byte frame", n);
        return VG_RPC_FRAME_ERROR;
    }
    rc = read_exact(fd, buf, n, deadline, &got, err);
    if (rc != 0) {
        /* spec §1.2: "EOF inside the body = I/O error; the connection is dropped without a reply". */
        if (rc == 1)
            vg_fail(err, VG_E_UNAVAILABLE, "rpc: connection closed inside a %u-byte frame", n);
        vg_rpc_frame_free(buf, got);
        return VG_RPC_FRAME_ERROR;
    }
    *body = buf;
    return VG_RPC_FRAME_OK;
}

void vg_rpc_frame_free(uint8_t *body, size_t len)
{
    if (body == NULL)
        return;
    vg_wipe(body, len);
    free(body);
}

static ssize_t send_some(int fd, struct iovec *iov, int iovcnt)
{
    /* sendmsg with MSG_NOSIGNAL: a vanished peer is an error, not SIGPIPE. Pipes (fuzz, tests) fall
     * back to writev. */
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (k < 0 && errno == ENOTSOCK)
        k = writev(fd, iov, iovcnt);
    return k;
}

static int write_iov(int fd, struct iovec *iov, int iovcnt, int timeout_ms, vg_err *err)
{
    int64_t deadline = deadline_in(timeout_ms);
    while (iovcnt > 0) {
        if (wait_fd(fd, POLLOUT, deadline, err) < 0)
            return -1;
        ssize_t k = send_some(fd, iov, iovcnt);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return vg_fail(err, VG_E_UNAVAILABLE, "rpc: write: %s", strerror(errno));
        }
        size_t done = (size_t)k;
        while (iovcnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

int vg_rpc_frame_write(int fd, const uint8_t *body, size_t len, int timeout_ms, vg_err *err)
{
    if (len > UINT32_MAX)
        return vg_fail(err, VG_E_INTERNAL, "rpc: frame of %zu bytes does not fit the length prefix", len);
    uint8_t hdr[VG_RPC_FRAME_HEADER_LEN] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                                            (uint8_t)len};
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)(uintptr_t)body, len}};
    return write_iov(fd, iov, len > 0 ? 2 : 1, timeout_ms, err);
}

int vg_rpc_write_all(int fd, const uint8_t *buf, size_t len, int timeout_ms, vg_err *err)
{
    struct iovec iov = {(void *)(uintptr_t)buf, len};
    return len == 0 ? 0 : write_iov(fd, &iov, 1, timeout_ms, err);
}
