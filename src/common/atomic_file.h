#ifndef VIGIL_COMMON_ATOMIC_FILE_H
#define VIGIL_COMMON_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* Replaces path with data so that a crash leaves either the old or the new file, never a torn one:
 * write a temp file in the same directory, fsync it, rename it over path, fsync the directory. */
int vg_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, vg_err *err);

#endif
