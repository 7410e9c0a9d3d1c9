/* Crypto floor for vigil on this machine: what one Tezos signature costs without HTTP, policy or
 * watermark. Tezos sign = vg_sign (BLAKE2b-256 + Ed25519/ECDSA for tz1..tz3, BLS min_pk POP-DST over
 * the raw message for tz4) + base58check of the signature (vg_signature_format), over the 150-byte
 * message 0x03 || forged reveal+transaction that the HTTP benchmark also sends.
 *
 * Method (../shared/specs/perf-limits.md "Method" 1): per operation, calibrate n so one repetition
 * takes about --target-ms, warm up n/10, run R repetitions of n iterations, report ns/op as
 * median/min/max. --threads 2 runs the same loop on 2 threads (own key each, barrier per repetition)
 * and reports aggregate ops/s.
 *
 * Output: a human table on stdout, plus one machine line per measurement:
 *   FLOOR op=<name> threads=<t> n=<n> reps=<R> ns_op_median=<x> ns_op_min=<x> ns_op_max=<x> ops_s=<x>
 * (for t=2, ns_op is wall time per aggregate op and ops_s the aggregate rate).
 *
 * Usage: crypto_floor [--reps R] [--target-ms MS] [--threads 1|2|both] [--only tz1,tz2,...] [--quick] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/secmem.h"
#include "crypto/key.h"
#include "tezos/encoding.h"

/* 0x03 || the 149-byte reveal+transaction of ../shared/vectors/tezos/signatures_taquito.json. */
static const char MSG_HEX[] =
    "03"
    "8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00b6b0085877854f30f1292169fa446c478960d3b8c81ee"
    "e90901e80700006eba03d276592e145e3224632fc5dd0bdd4b398650765c43a518c93a0a0c628e006c0085877854f30f1292169fa446c4"
    "78960d3b8c81eee80702f70b8102c0843d00015bb58f2b7d8713afd7f18dfbca5460dc8774dad300";

static uint8_t g_msg[256];
static size_t g_msglen;

typedef enum { OP_SIGN, OP_B58, OP_BLAKE2B } op_kind;

typedef struct {
    const char *name;
    op_kind op;
    vg_key_type type;
} bench_op;

static const bench_op OPS[] = {
    {"tz1_sign", OP_SIGN, VG_KEY_ED25519},
    {"tz2_sign", OP_SIGN, VG_KEY_SECP256K1},
    {"tz3_sign", OP_SIGN, VG_KEY_P256},
    {"tz4_sign", OP_SIGN, VG_KEY_BLS},
    {"edsig_b58", OP_B58, VG_KEY_ED25519},
    {"BLsig_b58", OP_B58, VG_KEY_BLS},
    {"blake2b_150B", OP_BLAKE2B, VG_KEY_ED25519},
};

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile uint64_t g_sink;

typedef struct {
    const bench_op *op;
    vg_key *key;
    uint8_t sig[VG_SIG_MAX];
    size_t siglen;
    uint8_t msg[256]; /* own copy: the blake2b loop mutates it */
} worker_state;

static int state_init(worker_state *st, const bench_op *op) {
    vg_err err = {0};
    memset(st, 0, sizeof *st);
    st->op = op;
    memcpy(st->msg, g_msg, g_msglen);
    if (vg_key_generate(op->type, &st->key, &err) != 0) {
        fprintf(stderr, "crypto_floor: vg_key_generate(%s): %s\n", vg_key_type_name(op->type), err.msg);
        return -1;
    }
    if (vg_sign(st->key, st->msg, g_msglen, VG_SIGN_V2, st->sig, &st->siglen, &err) != 0) {
        fprintf(stderr, "crypto_floor: vg_sign(%s): %s\n", vg_key_type_name(op->type), err.msg);
        return -1;
    }
    return 0;
}

/* Runs n iterations of the operation; returns -1 on the first failure. */
static int run_iters(worker_state *st, uint64_t n) {
    char out[VG_B58_MAX];
    uint8_t digest[32];
    vg_err err = {0};
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        switch (st->op->op) {
        case OP_SIGN: {
            size_t siglen = 0;
            if (vg_sign(st->key, st->msg, g_msglen, VG_SIGN_V2, st->sig, &siglen, &err) != 0) {
                fprintf(stderr, "crypto_floor: vg_sign: %s\n", err.msg);
                return -1;
            }
            acc += vg_signature_format(st->op->type, st->sig, siglen, out);
            break;
        }
        case OP_B58:
            st->sig[0] = (uint8_t)i; /* defeat any caching */
            acc += vg_signature_format(st->op->type, st->sig, st->siglen, out);
            break;
        case OP_BLAKE2B:
            st->msg[g_msglen - 1] = (uint8_t)i;
            vg_blake2b_256(st->msg, g_msglen, digest);
            acc += digest[0];
            break;
        }
    }
    g_sink += acc;
    return 0;
}

/* ---- multi-threaded repetitions ---- */

typedef struct {
    worker_state st;
    pthread_barrier_t *start, *done;
    uint64_t n;
    int reps;
    double *elapsed; /* per rep */
    int failed;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    (void)run_iters(&a->st, a->n / 10 + 1); /* warm-up */
    for (int r = 0; r < a->reps; r++) {
        pthread_barrier_wait(a->start);
        double t0 = now_ns();
        if (run_iters(&a->st, a->n) != 0) a->failed = 1;
        a->elapsed[r] = now_ns() - t0;
        pthread_barrier_wait(a->done);
    }
    return NULL;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* Picks n so that one repetition on one thread takes about target_ns. */
static uint64_t calibrate(const bench_op *op, double target_ns) {
    worker_state st;
    if (state_init(&st, op) != 0) return 0;
    uint64_t n = 1;
    double el = 0;
    for (;;) {
        double t0 = now_ns();
        if (run_iters(&st, n) != 0) {
            vg_key_free(st.key);
            return 0;
        }
        el = now_ns() - t0;
        if (el >= target_ns / 8 || n >= (1ull << 32)) break;
        n *= 2;
    }
    vg_key_free(st.key);
    double per = el / (double)n;
    uint64_t m = (uint64_t)(target_ns / (per > 0 ? per : 1));
    return m < 10 ? 10 : m;
}

static int bench(const bench_op *op, int threads, int reps, double target_ns) {
    uint64_t n = calibrate(op, target_ns);
    if (n == 0) return -1;
    pthread_barrier_t start, done;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&done, NULL, (unsigned)threads + 1);
    thread_arg *args = calloc((size_t)threads, sizeof *args);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    double *nsop = calloc((size_t)reps, sizeof *nsop);
    double *rate = calloc((size_t)reps, sizeof *rate);
    if (!args || !tids || !nsop || !rate) {
        fprintf(stderr, "crypto_floor: out of memory\n");
        exit(1);
    }
    int rc = 0;
    int started = 0;
    for (int t = 0; t < threads; t++) {
        args[t].start = &start;
        args[t].done = &done;
        args[t].n = n;
        args[t].reps = reps;
        args[t].elapsed = calloc((size_t)reps, sizeof(double));
        if (!args[t].elapsed || state_init(&args[t].st, op) != 0) {
            rc = -1;
            break;
        }
        if (pthread_create(&tids[t], NULL, thread_main, &args[t]) != 0) {
            fprintf(stderr, "crypto_floor: pthread_create: %s\n", strerror(errno));
            rc = -1;
            break;
        }
        started++;
    }
    if (rc != 0) {
        /* Threads already started would wait forever on the barrier: give up on the whole process. */
        fprintf(stderr, "crypto_floor: setup failed for %s\n", op->name);
        exit(1);
    }
    for (int r = 0; r < reps; r++) {
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
        double agg = 0;
        for (int t = 0; t < threads; t++) agg += (double)n / (args[t].elapsed[r] / 1e9);
        rate[r] = agg;
        nsop[r] = 1e9 / agg; /* wall ns per aggregate op (= per-op cost for 1 thread) */
    }
    for (int t = 0; t < started; t++) pthread_join(tids[t], NULL);
    for (int t = 0; t < threads; t++) {
        if (args[t].failed) rc = -1;
        vg_key_free(args[t].st.key);
        free(args[t].elapsed);
    }
    if (rc == 0) {
        double mn = nsop[0], mx = nsop[0];
        for (int r = 1; r < reps; r++) {
            if (nsop[r] < mn) mn = nsop[r];
            if (nsop[r] > mx) mx = nsop[r];
        }
        double med = median(nsop, reps);
        double medrate = median(rate, reps);
        printf("%-14s threads=%d  %10.0f ns/op  [%.0f..%.0f]  %12.0f ops/s\n", op->name, threads, med, mn, mx,
               medrate);
        printf("FLOOR op=%s threads=%d n=%llu reps=%d ns_op_median=%.1f ns_op_min=%.1f ns_op_max=%.1f ops_s=%.0f\n",
               op->name, threads, (unsigned long long)n, reps, med, mn, mx, medrate);
        fflush(stdout);
    }
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&done);
    free(args);
    free(tids);
    free(nsop);
    free(rate);
    return rc;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static void usage(void) {
    fprintf(stderr, "usage: crypto_floor [--reps R] [--target-ms MS] [--threads 1|2|both] [--only a,b] [--quick]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int reps = 7;
    double target_ms = 300;
    bool t1 = true, t2 = true;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--target-ms") && i + 1 < argc) {
            target_ms = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            const char *t = argv[++i];
            t1 = !strcmp(t, "1") || !strcmp(t, "both");
            t2 = !strcmp(t, "2") || !strcmp(t, "both");
            if (!t1 && !t2) usage();
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--quick")) {
            reps = 3;
            target_ms = 60;
        } else {
            usage();
        }
    }
    if (reps < 1 || target_ms <= 0) usage();

    if (vg_crypto_init() != 0) {
        fprintf(stderr, "crypto_floor: vg_crypto_init failed\n");
        return 1;
    }
    g_msglen = (sizeof MSG_HEX - 1) / 2;
    for (size_t i = 0; i < g_msglen; i++) {
        g_msg[i] = (uint8_t)(hexval(MSG_HEX[2 * i]) << 4 | hexval(MSG_HEX[2 * i + 1]));
    }

    printf("# crypto_floor: message %zu bytes, %d repetitions of ~%.0f ms each\n", g_msglen, reps, target_ms);
    int rc = 0;
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        if (only) {
            /* match a comma-separated list of names (or name prefixes such as "tz1") */
            bool hit = false;
            const char *p = only;
            while (*p) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                if (l && !strncmp(OPS[i].name, p, l)) hit = true;
                p += l + (e ? 1 : 0);
            }
            if (!hit) continue;
        }
        if (t1 && bench(&OPS[i], 1, reps, target_ms * 1e6) != 0) rc = 1;
        if (t2 && bench(&OPS[i], 2, reps, target_ms * 1e6) != 0) rc = 1;
    }
    return rc;
}
