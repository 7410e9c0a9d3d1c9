/* Shared by the libFuzzer targets in fuzz/ (not by fuzz_request.c / fuzz_rpc_frame.c, which stand
 * alone): one-time library set-up and a private scratch directory for the targets whose parser reads
 * files (watermark store, Signatory import, file vault). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libsodium, jansson's wiping allocators, log level ERROR (parsers' INFO/WARN lines would drown
 * libFuzzer's output and slow every run). Idempotent; aborts if libsodium cannot start. */
void vg_fuzz_init(void);

/* A directory private to this process: $VIGIL_FUZZ_TMP, else /dev/shm (tmpfs: the stores fsync), else
 * $TMPDIR or /tmp; created 0700 on first use and removed at exit. */
const char *vg_fuzz_dir(void);

/* Removes everything inside dir (not dir itself). */
void vg_fuzz_clear(const char *dir);

/* Writes size bytes to path (created or truncated, mode). Aborts on an I/O error: the harness, not
 * the target, failed. */
void vg_fuzz_write(const char *path, const uint8_t *data, size_t size, mode_t mode);

/* printf to stdout + fflush: the runner closes the targets' stderr (-close_fd_mask=2, vigil logs
 * there), so a harness explains an abort() on stdout, which libFuzzer keeps. */
void vg_fuzz_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when $VIGIL_FUZZ_VERBOSE is set: harnesses then say why an input was refused (for checking
 * that seeds reach deep, e.g. `VIGIL_FUZZ_VERBOSE=1 build-fuzz/fuzz/fuzz_wm_file DIR/seed-file`). */
int vg_fuzz_verbose(void);
