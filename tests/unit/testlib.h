/* A minimal test harness: CHECK records a failure and continues; tests end with vt_done(). */
#ifndef VIGIL_TESTLIB_H
#define VIGIL_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern int vt_failures;
extern int vt_checks;

#define CHECK(cond)                                                                                      \
    do {                                                                                                 \
        vt_checks++;                                                                                     \
        if (!(cond)) {                                                                                   \
            vt_failures++;                                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                    \
        }                                                                                                \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                             \
    do {                                                                                                 \
        vt_checks++;                                                                                     \
        if (!(cond)) {                                                                                   \
            vt_failures++;                                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                    \
            fprintf(stderr, __VA_ARGS__);                                                                \
            fputc('\n', stderr);                                                                         \
        }                                                                                                \
    } while (0)

#define CHECK_STR(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "'%s' != '%s'", (a), (b))

/* Initialises crypto; call first. */
void vt_init(void);
/* Prints "<name>: N checks, N failed" and returns the process exit code. */
int vt_done(const char *name);
/* Path of a file under ../shared/vectors, or NULL when the shared directory is absent. */
const char *vt_vector_path(const char *rel, char *buf, size_t cap);
/* Exits 77 (ctest "skipped") with a message when ../shared is absent. */
void vt_require_shared(void);
/* Reads a whole file (NUL-terminated); NULL on failure. */
char *vt_read_file(const char *path, size_t *len);
/* Hex helpers for tests: returns malloc'ed bytes. */
uint8_t *vt_unhex(const char *hex, size_t *len);

#endif
