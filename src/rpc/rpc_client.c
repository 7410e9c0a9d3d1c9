#include "rpc/rpc_client.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rpc/rpc_addr.h"
#include "rpc/rpc_frame.h"

struct vg_rpc_client {
    int fd; /* -1 once broken */
    struct vg_rpc_client_opts opts;
    char address[160];
};

int vg_rpc_client_connect(const char *address, const struct vg_rpc_client_opts *opts, struct vg_rpc_client **out,
                          vg_err *err)
{
    struct vg_rpc_addr addr;
    *out = NULL;
    if (vg_rpc_addr_parse(address, &addr, err) < 0)
        return -1;
    struct vg_rpc_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    c->opts = (struct vg_rpc_client_opts){5000, 30000, VG_RPC_FRAME_MAX_DEFAULT};
    if (opts != NULL) {
        if (opts->connect_timeout_ms != 0)
            c->opts.connect_timeout_ms = opts->connect_timeout_ms;
        if (opts->call_timeout_ms != 0)
            c->opts.call_timeout_ms = opts->call_timeout_ms;
        if (opts->frame_max != 0)
            c->opts.frame_max = opts->frame_max;
    }
    vg_rpc_addr_format(&addr, c->address, sizeof c->address);
    if (vg_rpc_addr_connect(&addr, c->opts.connect_timeout_ms, &c->fd, err) < 0) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void vg_rpc_client_free(struct vg_rpc_client *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

bool vg_rpc_client_is_broken(const struct vg_rpc_client *c) { return c->fd < 0; }

static int broken(struct vg_rpc_client *c, vg_err *err)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    return vg_wrap(err, "enclave %s (connection closed)", c->address);
}

int vg_rpc_client_roundtrip(struct vg_rpc_client *c, const uint8_t *body, size_t len, uint8_t **reply,
                            size_t *reply_len, vg_err *err)
{
    *reply = NULL;
    *reply_len = 0;
    if (c->fd < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "enclave %s: connection unusable after an earlier failure; reconnect",
                       c->address);
    bool write_failed = vg_rpc_frame_write(c->fd, body, len, c->opts.call_timeout_ms, err) < 0;
    /* A server that refuses a frame (e.g. over its cap) answers and closes before reading it all,
     * so our write fails; its reply may still be waiting and says why. Look briefly, then give up
     * the connection either way. */
    int wait_ms = write_failed ? 200 : c->opts.call_timeout_ms;
    struct vg_rpc_io_limits lim = {c->opts.frame_max, wait_ms, wait_ms};
    vg_err write_err = err != NULL ? *err : (vg_err){0};
    switch (vg_rpc_frame_read(c->fd, &lim, reply, reply_len, err)) {
    case VG_RPC_FRAME_OK:
        if (write_failed) {
            close(c->fd);
            c->fd = -1;
        }
        return 0;
    case VG_RPC_FRAME_EOF:
        vg_fail(err, VG_E_UNAVAILABLE, "rpc: enclave closed the connection");
        break;
    case VG_RPC_FRAME_TOO_LARGE:
        if (err != NULL)
            err->kind = VG_E_UNAVAILABLE;
        break;
    case VG_RPC_FRAME_ERROR:
    default:
        break;
    }
    if (write_failed && err != NULL)
        *err = write_err;
    return broken(c, err);
}

int vg_rpc_client_call(struct vg_rpc_client *c, const struct vg_rpc_request *req, struct vg_rpc_reply *reply,
                       vg_err *err)
{
    struct vg_cbor_out o;
    uint8_t *body = NULL;
    size_t body_len = 0;
    memset(reply, 0, sizeof *reply); /* overwritten, not freed: the header says so */
    reply->kind = VG_RPC_REPLY_ERR;
    vg_cbor_out_init(&o, c->opts.frame_max);
    if (vg_rpc_request_encode(req, &o, err) < 0) {
        vg_cbor_out_free(&o);
        return -1;
    }
    int rc = vg_rpc_client_roundtrip(c, o.buf, o.len, &body, &body_len, err);
    vg_cbor_out_free(&o); /* wipes: ImportUnencrypted carries a key */
    if (rc < 0)
        return -1;
    rc = vg_rpc_reply_decode(req->call, body, body_len, reply, err);
    vg_rpc_frame_free(body, body_len);
    if (rc < 0) {
        /* An answer we cannot parse means we no longer know where the stream stands. */
        vg_rpc_reply_clear(reply);
        reply->kind = VG_RPC_REPLY_ERR;
        if (err != NULL)
            err->kind = VG_E_UNAVAILABLE;
        vg_wrap(err, "rpc: bad reply to %s", vg_rpc_call_name(req->call));
        return broken(c, err);
    }
    if (reply->kind == VG_RPC_REPLY_ERR) {
        char chain[VG_ERR_MSG_MAX];
        vg_rpc_reply_err_join(reply, chain, sizeof chain);
        return vg_fail(err, VG_E_INTERNAL, "enclave: %s", chain);
    }
    return 0;
}
