#include "testlib.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "common/hex.h"
#include "common/secmem.h"

int vt_failures;
int vt_checks;

void vt_init(void)
{
    if (vg_crypto_init() < 0) {
        fprintf(stderr, "crypto init failed\n");
        exit(1);
    }
}

int vt_done(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, vt_checks, vt_failures);
    return vt_failures == 0 ? 0 : 1;
}

static const char *shared_dir(void)
{
    const char *d = getenv("VIGIL_SHARED");
    struct stat st;
    if (d == NULL || stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return d;
}

const char *vt_vector_path(const char *rel, char *buf, size_t cap)
{
    const char *d = shared_dir();
    if (d == NULL)
        return NULL;
    snprintf(buf, cap, "%s/vectors/%s", d, rel);
    return buf;
}

void vt_require_shared(void)
{
    if (shared_dir() == NULL) {
        printf("skipped: needs ../shared/vectors (set VIGIL_SHARED)\n");
        exit(77);
    }
}

char *vt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        if (len != NULL)
            *len = (size_t)n;
    }
    return buf;
}

uint8_t *vt_unhex(const char *hex, size_t *len)
{
    uint8_t *out = NULL;
    size_t n = 0;
    if (vg_hex_decode(hex, strlen(hex), &out, &n, NULL) < 0)
        return NULL;
    if (len != NULL)
        *len = n;
    return out;
}
