#define _GNU_SOURCE /* nftw */
#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"

void vg_fuzz_init(void)
{
    static int done;
    if (done)
        return;
    if (vg_crypto_init() < 0)
        abort();
    vg_json_init();
    vg_log_set_level(VG_LOG_ERROR);
    done = 1;
}

static char scratch[512];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

void vg_fuzz_clear(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void)
{
    if (scratch[0] != '\0') {
        vg_fuzz_clear(scratch);
        rmdir(scratch);
    }
}

const char *vg_fuzz_dir(void)
{
    if (scratch[0] != '\0')
        return scratch;
    const char *base = getenv("VIGIL_FUZZ_TMP");
    struct stat st;
    if (base == NULL || base[0] == '\0')
        base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
    if (base == NULL)
        base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(scratch, sizeof scratch, "%s/vigil-fuzz-XXXXXX", base);
    if (mkdtemp(scratch) == NULL) {
        vg_fuzz_say("fuzz: mkdtemp %s: %s\n", scratch, strerror(errno));
        abort();
    }
    atexit(remove_scratch);
    return scratch;
}

void vg_fuzz_write(const char *path, const uint8_t *data, size_t size, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        vg_fuzz_say("fuzz: open %s: %s\n", path, strerror(errno));
        abort();
    }
    fchmod(fd, mode);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            vg_fuzz_say("fuzz: write %s: %s\n", path, strerror(errno));
            abort();
        }
        off += (size_t)w;
    }
    close(fd);
}

void vg_fuzz_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fflush(stdout);
}

int vg_fuzz_verbose(void)
{
    static int v = -1;
    if (v < 0)
        v = getenv("VIGIL_FUZZ_VERBOSE") != NULL;
    return v;
}
