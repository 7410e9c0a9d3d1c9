/* Durability floor: latency of making a 200-byte watermark record durable in DIR, the way a
 * watermark store updates a pre-allocated record in place (../shared/specs/perf-limits.md §3).
 *
 * Modes (each: 20 warm-up + N iterations, default N = 1000):
 *   fdatasync  pwrite 200 B at offset 0 of an existing 4 KiB file, then fdatasync
 *   fsync      same with fsync
 *   odsync     pwrite on an O_DSYNC descriptor
 *   nosync     pwrite only (the syscall cost)
 * Output: a human line and one machine line per mode:
 *   FSYNC mode=<m> n=<N> p50_us=<x> p99_us=<x> min_us=<x> max_us=<x> mean_us=<x>
 *
 * Usage: fsync_floor DIR [N] [mode,...] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD 200
#define WARMUP 20

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static int run_mode(const char *dir, const char *mode, int n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/.fsync_floor.%ld.tmp", dir, (long)getpid());
    int flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;
    int fd = open(path, flags, 0600);
    if (fd < 0) {
        fprintf(stderr, "fsync_floor: open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char page[4096];
    memset(page, 0, sizeof page);
    if (pwrite(fd, page, sizeof page, 0) != (ssize_t)sizeof page || fsync(fd) != 0) {
        fprintf(stderr, "fsync_floor: preparing %s: %s\n", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (!strcmp(mode, "odsync")) {
        close(fd);
        fd = open(path, O_RDWR | O_DSYNC | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "fsync_floor: open O_DSYNC %s: %s\n", path, strerror(errno));
            unlink(path);
            return -1;
        }
    }
    double *lat = calloc((size_t)n, sizeof *lat);
    if (!lat) {
        close(fd);
        unlink(path);
        return -1;
    }
    char rec[RECORD];
    int rc = 0;
    for (int i = -WARMUP; i < n && rc == 0; i++) {
        memset(rec, 'a' + (i & 15), sizeof rec);
        double t0 = now_us();
        if (pwrite(fd, rec, sizeof rec, 0) != (ssize_t)sizeof rec) rc = -1;
        if (rc == 0 && !strcmp(mode, "fdatasync") && fdatasync(fd) != 0) rc = -1;
        if (rc == 0 && !strcmp(mode, "fsync") && fsync(fd) != 0) rc = -1;
        double el = now_us() - t0;
        if (i >= 0) lat[i] = el;
    }
    if (rc != 0) fprintf(stderr, "fsync_floor: %s: %s\n", mode, strerror(errno));
    close(fd);
    unlink(path);
    if (rc == 0) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += lat[i];
        qsort(lat, (size_t)n, sizeof *lat, cmp_double);
        int i99 = (int)((double)n * 0.99);
        if (i99 >= n) i99 = n - 1;
        double p50 = lat[n / 2], p99 = lat[i99];
        printf("%-10s n=%d  p50 %8.1f us  p99 %8.1f us  min %8.1f  max %8.1f  mean %8.1f\n", mode, n, p50, p99, lat[0],
               lat[n - 1], sum / n);
        printf("FSYNC mode=%s n=%d p50_us=%.1f p99_us=%.1f min_us=%.1f max_us=%.1f mean_us=%.1f\n", mode, n, p50, p99,
               lat[0], lat[n - 1], sum / n);
        fflush(stdout);
    }
    free(lat);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fsync_floor DIR [N] [fdatasync,fsync,odsync,nosync]\n");
        return 2;
    }
    const char *dir = argv[1];
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    if (n < 1) n = 1000;
    char modes[256] = "fdatasync,fsync,odsync,nosync";
    if (argc > 3) snprintf(modes, sizeof modes, "%s", argv[3]);
    printf("# fsync_floor: %d x %d-byte in-place record updates in %s\n", n, RECORD, dir);
    int rc = 0;
    char *save = NULL;
    for (char *m = strtok_r(modes, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
        if (strcmp(m, "fdatasync") && strcmp(m, "fsync") && strcmp(m, "odsync") && strcmp(m, "nosync")) {
            fprintf(stderr, "fsync_floor: unknown mode %s\n", m);
            rc = 2;
            continue;
        }
        if (run_mode(dir, m, n) != 0) rc = 1;
    }
    return rc;
}
