/* Test-only helpers shared by test_enclave.c and test_rpc_vectors.c: run vigil-enclave as a child
 * process on a Unix socket in a fresh temporary directory, and talk raw frames to it. Header-only
 * (static functions) because each tests/unit/test_*.c is its own executable. */
#ifndef VIGIL_TESTS_ENCLAVE_CHILD_H
#define VIGIL_TESTS_ENCLAVE_CHILD_H

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc_frame.h"

#define VE_IO_MS 5000
#define VE_FN static __attribute__((unused))

struct ve_server {
    pid_t pid;
    char dir[128];  /* private temporary directory */
    char sock[200]; /* socket path as seen from the test */
    char addr[210]; /* "unix:<sock>" */
};

/* vigil-enclave's path: $VIGIL_ENCLAVE_BIN, else next to $VIGIL_BIN (the build puts both in the
 * build directory), else src/enclave/ below it. NULL when not found. */
VE_FN const char *ve_binary(void)
{
    static char path[512];
    const char *env = getenv("VIGIL_ENCLAVE_BIN");
    if (env != NULL && access(env, X_OK) == 0)
        return env;
    const char *bin = getenv("VIGIL_BIN");
    if (bin == NULL)
        return NULL;
    char copy[400];
    snprintf(copy, sizeof copy, "%s", bin);
    const char *dir = dirname(copy);
    snprintf(path, sizeof path, "%s/vigil-enclave", dir);
    if (access(path, X_OK) == 0)
        return path;
    snprintf(path, sizeof path, "%s/src/enclave/vigil-enclave", dir);
    return access(path, X_OK) == 0 ? path : NULL;
}

VE_FN void ve_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

VE_FN int ve_connect_path(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* In the child before exec: output to the log only (a child holding ctest's stdout pipe would make
 * ctest wait for it), and die with the test process, so a failed test leaves nothing behind. */
VE_FN void ve_child_setup(const char *log)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0);
    dup2(fd >= 0 ? fd : null, 1);
    dup2(fd >= 0 ? fd : null, 2);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Waits until the child accepts connections (or died). */
VE_FN int ve_wait_ready(struct ve_server *s)
{
    for (int i = 0; i < 500; i++) {
        int fd = ve_connect_path(s->sock);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = -1;
            return -1;
        }
        ve_sleep_ms(10);
    }
    return -1;
}

/* Starts vigil-enclave with `--listen unix:<dir>/rpc.sock` and the extra args (NULL-terminated;
 * the string "@DIR@" inside an argument is replaced by the temporary directory). The child's
 * stderr goes to <dir>/enclave.log. */
VE_FN int ve_start(struct ve_server *s, const char *const *extra)
{
    const char *bin = ve_binary();
    memset(s, 0, sizeof *s);
    s->pid = -1;
    if (bin == NULL) {
        fprintf(stderr, "vigil-enclave not found (set VIGIL_ENCLAVE_BIN)\n");
        return -1;
    }
    snprintf(s->dir, sizeof s->dir, "/tmp/vigil-enclave-test-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(s->sock, sizeof s->sock, "%s/rpc.sock", s->dir);
    snprintf(s->addr, sizeof s->addr, "unix:%s", s->sock);
    char *argv[32];
    static char args[24][300];
    size_t n = 0;
    argv[n++] = (char *)bin;
    argv[n++] = (char *)"--listen";
    argv[n++] = s->addr;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && i < 24; i++) {
        const char *at = strstr(extra[i], "@DIR@");
        if (at != NULL)
            snprintf(args[i], sizeof args[i], "%.*s%s%s", (int)(at - extra[i]), extra[i], s->dir, at + 5);
        else
            snprintf(args[i], sizeof args[i], "%s", extra[i]);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char log[200];
    snprintf(log, sizeof log, "%s/enclave.log", s->dir);
    s->pid = fork();
    if (s->pid == 0) {
        ve_child_setup(log);
        execv(bin, argv);
        _exit(127);
    }
    if (s->pid < 0 || ve_wait_ready(s) < 0) {
        fprintf(stderr, "vigil-enclave did not start; log %s:\n", log);
        FILE *f = fopen(log, "r");
        if (f != NULL) {
            char line[512];
            while (fgets(line, sizeof line, f) != NULL)
                fputs(line, stderr);
            fclose(f);
        }
        return -1;
    }
    return 0;
}

VE_FN void ve_rm_tree(const char *dir)
{
    char cmd[300];
    if (strncmp(dir, "/tmp/vigil-enclave-test-", 24) != 0)
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Stops the child; returns its exit status as waitpid reports it (-1 if it was not running). */
VE_FN int ve_stop(struct ve_server *s)
{
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, &status, 0);
        s->pid = -1;
    }
    if (s->dir[0] != '\0')
        ve_rm_tree(s->dir);
    s->dir[0] = '\0';
    return status;
}

VE_FN bool ve_alive(struct ve_server *s)
{
    int status;
    return s->pid > 0 && waitpid(s->pid, &status, WNOHANG) == 0;
}

VE_FN int ve_connect(const struct ve_server *s) { return ve_connect_path(s->sock); }

VE_FN int ve_send_raw(int fd, const void *p, size_t n)
{
    return vg_rpc_write_all(fd, (const uint8_t *)p, n, VE_IO_MS, NULL);
}

VE_FN int ve_send(int fd, const uint8_t *body, size_t n) { return vg_rpc_frame_write(fd, body, n, VE_IO_MS, NULL); }

/* 0 = a reply frame, 1 = the server closed the connection, -1 = error/timeout. */
VE_FN int ve_recv(int fd, uint8_t **body, size_t *len)
{
    struct vg_rpc_io_limits lim = {VG_RPC_FRAME_MAX_DEFAULT, VE_IO_MS, VE_IO_MS};
    switch (vg_rpc_frame_read(fd, &lim, body, len, NULL)) {
    case VG_RPC_FRAME_OK: return 0;
    case VG_RPC_FRAME_EOF: return 1;
    default: return -1;
    }
}

/* One request body out, one reply body in (malloc'ed). */
VE_FN int ve_exchange(int fd, const uint8_t *req, size_t n, uint8_t **rep, size_t *rep_len)
{
    if (ve_send(fd, req, n) < 0)
        return -1;
    return ve_recv(fd, rep, rep_len);
}

#endif
