#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vg_fail(vg_err *err, vg_errkind kind, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    err->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int vg_wrap(vg_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    char prefix[VG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[VG_ERR_MSG_MAX];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    memcpy(err->msg, joined, sizeof joined);
    return -1;
}

int vg_err_http_status(vg_errkind kind)
{
    switch (kind) {
    case VG_E_INVALID: return 400;
    case VG_E_UNAUTHORIZED: return 401;
    case VG_E_FORBIDDEN: return 403;
    case VG_E_NOTFOUND: return 404;
    case VG_E_METHOD: return 405;
    case VG_E_CONFLICT: return 409;
    case VG_E_UNAVAILABLE: return 503;
    case VG_E_NONE:
    case VG_E_INTERNAL: break;
    }
    return 500;
}
