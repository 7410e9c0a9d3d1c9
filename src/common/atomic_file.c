#include "common/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int vg_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, vg_err *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp)
        return vg_fail(err, VG_E_INVALID, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return vg_fail(err, VG_E_INTERNAL, "%s: %s", tmp, strerror(errno));
    int rc = 0;
    if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0)
        rc = vg_fail(err, VG_E_INTERNAL, "%s: write failed: %s", tmp, strerror(errno));
    if (close(fd) < 0 && rc == 0)
        rc = vg_fail(err, VG_E_INTERNAL, "%s: close failed: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) < 0)
        rc = vg_fail(err, VG_E_INTERNAL, "%s: rename failed: %s", path, strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        rc = vg_fail(err, VG_E_INTERNAL, "%s: directory fsync failed: %s", path, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    return rc;
}
