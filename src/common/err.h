/* Error values: every fallible function returns 0 / -1 and fills a vg_err whose kind
 * maps to one HTTP status in one table (vg_err_http_status). Messages never hold secrets. */
#ifndef VIGIL_COMMON_ERR_H
#define VIGIL_COMMON_ERR_H

#include <stddef.h>

typedef enum {
    VG_E_NONE = 0,
    VG_E_INVALID,      /* malformed input: 400 */
    VG_E_UNAUTHORIZED, /* 401 */
    VG_E_FORBIDDEN,    /* policy refusal: 403 */
    VG_E_NOTFOUND,     /* 404 */
    VG_E_METHOD,       /* 405 */
    VG_E_CONFLICT,     /* watermark refusal (double-sign guard): 409 */
    VG_E_INTERNAL,     /* 500 */
    VG_E_UNAVAILABLE,  /* storage/backend failure: 503 */
} vg_errkind;

#define VG_ERR_MSG_MAX 256

typedef struct {
    vg_errkind kind;
    char msg[VG_ERR_MSG_MAX];
} vg_err;

/* Sets *err (if not NULL) and returns -1, so callers can `return vg_fail(...)`. */
int vg_fail(vg_err *err, vg_errkind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message: "context: message". Keeps the kind. Returns -1. */
int vg_wrap(vg_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int vg_err_http_status(vg_errkind kind);

#endif
