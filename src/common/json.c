#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/secmem.h"

/* Plain malloc blocks, wiped with their usable size on free. No header: libraries that hand
 * jansson output to libc free() (libjwt does) must keep working. */
static void *wiping_malloc(size_t n) { return malloc(n); }

static void wiping_free(void *p)
{
    if (p == NULL)
        return;
    vg_wipe(p, malloc_usable_size(p));
    free(p);
}

void vg_json_init(void) { json_set_alloc_funcs(wiping_malloc, wiping_free); }

void vg_json_free_string(char *s)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    f(s);
}

json_t *vg_json_load_file(const char *path, size_t max_bytes, vg_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vg_fail(err, errno == ENOENT ? VG_E_NOTFOUND : VG_E_INTERNAL, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        vg_fail(err, VG_E_INVALID, "%s: not a regular file", path);
        return NULL;
    }
    if ((size_t)st.st_size > max_bytes) {
        close(fd);
        vg_fail(err, VG_E_INVALID, "%s: file is %lld bytes, limit is %zu", path, (long long)st.st_size, max_bytes);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    char *buf = vg_secure_alloc(len + 1);
    if (buf == NULL) {
        close(fd);
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        return NULL;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    json_t *root = NULL;
    if (got != len) {
        vg_fail(err, VG_E_INTERNAL, "%s: short read", path);
    } else {
        json_error_t jerr;
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (root == NULL)
            vg_fail(err, VG_E_INVALID, "%s:%d: %s", path, jerr.line, jerr.text);
    }
    vg_secure_free(buf);
    return root;
}

char *vg_json_dump_line(const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(n + 2);
    if (out != NULL) {
        memcpy(out, s, n);
        out[n] = '\n';
        out[n + 1] = '\0';
        if (len != NULL)
            *len = n + 1;
    }
    vg_json_free_string(s);
    return out;
}
