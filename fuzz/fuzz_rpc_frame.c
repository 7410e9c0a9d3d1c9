/* Targets: vg_rpc_frame_read (over a socketpair), vg_rpc_request_decode, vg_rpc_reply_decode for
 * every call, vg_rpc_private_key_decode -- the enclave RPC input path, both directions.
 * Invariant checked beyond "no crash": a request that decodes re-encodes, and the re-encoding
 * decodes again (the decoder accepts everything the encoder emits).
 *
 * libFuzzer:  clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/fuzz_rpc_frame.c \
 *               src/rpc/rpc_*.c src/common/{err,reader,secmem,hex,log}.c -lsodium -o fuzz_rpc_frame
 *             ./fuzz_rpc_frame ../shared/vectors/enclave-rpc      (the .frame vectors are the seeds)
 * Replay without libFuzzer: add -DVG_FUZZ_REPLAY and pass files as arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/secmem.h"
#include "rpc/rpc_frame.h"
#include "rpc/rpc_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_body(const uint8_t *body, size_t len)
{
    struct vg_rpc_request req;
    vg_err err = {0};
    if (vg_rpc_request_decode(body, len, 1 << 20, &req, &err) == 0) {
        struct vg_cbor_out o;
        struct vg_rpc_request again;
        vg_cbor_out_init(&o, 2u << 20);
        if (vg_rpc_request_encode(&req, &o, &err) != 0 ||
            vg_rpc_request_decode(o.buf, o.len, 1 << 20, &again, &err) != 0 || again.call != req.call)
            abort();
        vg_rpc_request_clear(&again);
        vg_cbor_out_free(&o);
    } else if (err.kind != VG_E_INVALID) {
        abort(); /* malformed input must be an INVALID error, never INTERNAL */
    }
    vg_rpc_request_clear(&req);
    for (int call = 0; call < VG_RPC_CALL_COUNT; call++) {
        struct vg_rpc_reply rep;
        vg_rpc_reply_decode((enum vg_rpc_call)call, body, len, &rep, NULL);
        vg_rpc_reply_clear(&rep);
    }
    uint8_t secret[VG_RPC_SECRET_LEN];
    vg_key_type t;
    vg_rpc_private_key_decode(body, len, &t, secret, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (vg_crypto_init() < 0)
            abort();
        ready = 1;
    }
    /* The whole input is a byte stream of frames, read as the server reads a connection. */
    int sv[2];
    if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    if (vg_rpc_write_all(sv[0], data, size, 0, NULL) < 0) {
        close(sv[0]);
        close(sv[1]);
        return 0;
    }
    shutdown(sv[0], SHUT_WR);
    struct vg_rpc_io_limits lim = {.frame_max = VG_RPC_FRAME_MAX_MIN, .first_byte_ms = 0, .frame_ms = 0};
    for (;;) {
        uint8_t *body = NULL;
        size_t len = 0;
        if (vg_rpc_frame_read(sv[1], &lim, &body, &len, NULL) != VG_RPC_FRAME_OK)
            break;
        decode_body(body, len);
        vg_rpc_frame_free(body, len);
    }
    /* ... and as one frame body, so inputs without a valid length prefix still reach the decoder. */
    decode_body(data, size);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

#ifdef VG_FUZZ_REPLAY
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL)
            continue;
        static uint8_t buf[60000];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("replayed %d inputs\n", argc - 1);
    return 0;
}
#endif
