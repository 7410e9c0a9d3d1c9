/* Enclave RPC cost: Sign round trips to a dev-mode vigil-enclave over a Unix socket, beside the raw
 * vg_sign call in this process (the floor), for Ed25519 and BLS. Prints a Markdown table.
 *
 *   rpc_bench PATH/TO/vigil-enclave [iterations]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/secmem.h"
#include "crypto/key.h"
#include "rpc/rpc_client.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double per_sec, p50, p99;
} result;

static result summarize(double *lat, int n, double total_us)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    result r = {n / (total_us / 1e6), lat[n / 2], lat[(n * 99) / 100]};
    return r;
}

/* A 150-byte attestation-like message, as the perf floor uses. */
static const uint8_t *message(size_t *len)
{
    static uint8_t m[150];
    m[0] = 0x13;
    for (size_t i = 1; i < sizeof m; i++)
        m[i] = (uint8_t)(i * 7);
    *len = sizeof m;
    return m;
}

static result bench_raw(vg_key_type t, int n)
{
    vg_key *k;
    vg_key_generate(t, &k, NULL);
    size_t len;
    const uint8_t *msg = message(&len);
    double *lat = calloc((size_t)n, sizeof *lat);
    uint8_t sig[VG_SIG_MAX];
    size_t siglen;
    double start = now_us();
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        vg_sign(k, msg, len, 2, sig, &siglen, NULL);
        lat[i] = now_us() - t0;
    }
    result r = summarize(lat, n, now_us() - start);
    free(lat);
    vg_key_free(k);
    return r;
}

static int bench_rpc(struct vg_rpc_client *c, vg_key_type t, int n, result *out)
{
    vg_err err = {0};
    struct vg_rpc_request gen = {.call = VG_RPC_GENERATE_AND_IMPORT, .key_type = t};
    struct vg_rpc_reply rep = {0};
    if (vg_rpc_client_call(c, &gen, &rep, &err) < 0) {
        fprintf(stderr, "rpc_bench: GenerateAndImport: %s\n", err.msg);
        return -1;
    }
    uint64_t handle = rep.handle;
    vg_rpc_reply_clear(&rep);
    size_t len;
    const uint8_t *msg = message(&len);
    struct vg_rpc_request req = {
        .call = VG_RPC_SIGN, .handle = handle, .message = (uint8_t *)msg, .message_len = len, .version = 2};
    double *lat = calloc((size_t)n, sizeof *lat);
    double start = now_us();
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        int rc = vg_rpc_client_call(c, &req, &rep, &err);
        vg_rpc_reply_clear(&rep);
        if (rc < 0) {
            fprintf(stderr, "rpc_bench: Sign: %s\n", err.msg);
            free(lat);
            return -1;
        }
        lat[i] = now_us() - t0;
    }
    *out = summarize(lat, n, now_us() - start);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rpc_bench PATH/TO/vigil-enclave [iterations]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 20000;
    if (n < 100)
        n = 100;
    vg_crypto_init();
    char dir[] = "/tmp/vigil-rpcbench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char sock[128], key[128], addr[160];
    snprintf(sock, sizeof sock, "%s/e.sock", dir);
    snprintf(key, sizeof key, "%s/seal.key", dir);
    snprintf(addr, sizeof addr, "unix:%s", sock);
    pid_t pid = fork();
    if (pid == 0) {
        execl(argv[1], argv[1], "--listen", addr, "--dev-seal-key", key, "--log", "error", (char *)NULL);
        _exit(127);
    }
    struct vg_rpc_client *c = NULL;
    vg_err err = {0};
    for (int i = 0; i < 100 && c == NULL; i++) {
        if (access(sock, F_OK) == 0 && vg_rpc_client_connect(addr, NULL, &c, &err) == 0)
            break;
        usleep(50000);
    }
    int rc = 1;
    if (c == NULL) {
        fprintf(stderr, "rpc_bench: cannot reach the enclave: %s\n", err.msg);
        goto out;
    }
    struct vg_rpc_request init = {.call = VG_RPC_INITIALIZE};
    static char dev[] = "bench";
    init.creds.access_key_id = init.creds.secret_access_key = init.creds.encryption_key_id = dev;
    init.creds.region = dev;
    struct vg_rpc_reply rep = {0};
    if (vg_rpc_client_call(c, &init, &rep, &err) < 0) {
        fprintf(stderr, "rpc_bench: Initialize: %s\n", err.msg);
        goto out;
    }
    vg_rpc_reply_clear(&rep);
    printf("| key | raw vg_sign: ops/s | p50 µs | RPC Sign over a Unix socket: ops/s | p50 µs | p99 µs | "
           "hop cost (p50) |\n|---|---|---|---|---|---|---|\n");
    const struct {
        vg_key_type t;
        const char *name;
        int n;
    } kinds[] = {{VG_KEY_ED25519, "tz1 Ed25519", n}, {VG_KEY_BLS, "tz4 BLS", n / 10}};
    for (size_t i = 0; i < 2; i++) {
        result raw = bench_raw(kinds[i].t, kinds[i].n), rpc;
        if (bench_rpc(c, kinds[i].t, kinds[i].n, &rpc) < 0)
            goto out;
        printf("| %s | %.0f | %.1f | %.0f | %.1f | %.1f | %.1f µs |\n", kinds[i].name, raw.per_sec, raw.p50,
               rpc.per_sec, rpc.p50, rpc.p99, rpc.p50 - raw.p50);
    }
    rc = 0;
out:
    vg_rpc_client_free(c);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink(sock);
    unlink(key);
    rmdir(dir);
    return rc;
}
