/* Target: opening the file watermark store, src/watermark/wm_file.c (load_file and everything it
 * trusts) on a <base_dir>/watermarks/vigil.wm built from the input, in a private tmpfs directory.
 *
 * Input: byte 0 = flags, the rest = the file.
 *   bit 0  recompute every checksum first (header, each record's key part, both copies), so the
 *          fuzzer reaches the record logic behind the BLAKE2b-128 gates instead of only the gates;
 *   bit 1  after a successful open, reserve + commit the next mark for the first records' keys,
 *          then close, reopen and require the committed marks (the write path on a fuzzed layout).
 * Invariants: a failed open is VG_E_UNAVAILABLE or VG_E_INVALID, never a crash; a reservation on an
 * opened store is granted, 409 or 503; a store vigil opened and wrote to opens again and holds the
 * committed marks (a write never turns an accepted file into a refused one or loses a mark). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "watermark/watermark.h"

#define HDR 256
#define REC 256
#define MAX_FILE (HDR + 64 * REC)

static void b2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[16])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, a, alen);
    if (b != NULL)
        crypto_generichash_update(&st, b, blen);
    crypto_generichash_final(&st, out, 16);
}

static void fix_checksums(uint8_t *f, size_t len)
{
    if (len >= HDR)
        b2(f, 240, NULL, 0, f + 240);
    for (size_t off = HDR; off + REC <= len; off += REC) {
        uint8_t *r = f + off;
        b2(r, 48, NULL, 0, r + 48);
        b2(r, 48, r + 64, 80, r + 64 + 80);
        b2(r, 48, r + 160, 80, r + 160 + 80);
    }
}

struct key_ref {
    uint8_t chain[4];
    vg_pkh pkh;
    vg_req_kind kind;
    vg_wm_mark mark;
};

static void open_fail_ok(const vg_err *err)
{
    if (err->kind != VG_E_UNAVAILABLE && err->kind != VG_E_INVALID) {
        vg_fuzz_say("fuzz_wm_file: open failed with kind %d: %s\n", err->kind, err->msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_fuzz_init();
    if (size < 1 || size - 1 > MAX_FILE)
        return 0;
    static uint8_t file[MAX_FILE];
    size_t len = size - 1;
    memcpy(file, data + 1, len);
    if (data[0] & 1)
        fix_checksums(file, len);

    const char *base = vg_fuzz_dir();
    vg_fuzz_clear(base);
    char path[1024];
    snprintf(path, sizeof path, "%s/watermarks", base);
    if (mkdir(path, 0700) < 0)
        abort();
    snprintf(path, sizeof path, "%s/watermarks/vigil.wm", base);
    vg_fuzz_write(path, file, len, 0600);

    vg_watermark *wm = NULL;
    vg_err err = {0};
    if (vg_watermark_open("file", base, &wm, &err) < 0) {
        if (vg_fuzz_verbose())
            vg_fuzz_say("open refused: %s\n", err.msg);
        open_fail_ok(&err);
        return 0;
    }
    FILE *null = fopen("/dev/null", "w");
    if (null != NULL) {
        vg_wm_dump(wm, null);
        fclose(null);
    }
    if (!(data[0] & 2)) {
        vg_watermark_close(wm);
        return 0;
    }

    /* Write path: next mark for the keys of the first (up to) four records. */
    struct key_ref done[4];
    size_t ndone = 0;
    for (size_t off = HDR; off + REC <= len && ndone < 4; off += REC) {
        const uint8_t *r = file + off;
        struct key_ref k = {0};
        memcpy(k.chain, r + 4, 4);
        k.pkh.type = (vg_key_type)(r[8] & 3);
        memcpy(k.pkh.hash, r + 9, 20);
        k.kind = (vg_req_kind)((r[29] - 1) & 3);
        vg_wm_mark cur;
        k.mark.level = vg_wm_get(wm, k.chain, &k.pkh, k.kind, &cur) && cur.level < INT32_MAX ? cur.level + 1 : 1;
        k.mark.round = 0;
        memset(k.mark.digest, (int)ndone + 1, sizeof k.mark.digest);
        k.mark.has_digest = true;
        vg_wm_ticket *t = NULL;
        err = (vg_err){0};
        if (vg_wm_reserve(wm, k.chain, &k.pkh, k.kind, &k.mark, &t, &err) < 0) {
            if (vg_fuzz_verbose())
                vg_fuzz_say("reserve refused: %s\n", err.msg);
            if (err.kind != VG_E_CONFLICT && err.kind != VG_E_UNAVAILABLE)
                abort();
            continue;
        }
        if (vg_wm_commit(wm, t, &err) < 0) {
            if (err.kind != VG_E_UNAVAILABLE)
                abort();
            continue;
        }
        done[ndone++] = k;
    }
    vg_watermark_close(wm);
    if (vg_fuzz_verbose())
        vg_fuzz_say("opened; %zu mark(s) committed\n", ndone);

    err = (vg_err){0};
    if (vg_watermark_open("file", base, &wm, &err) < 0) {
        vg_fuzz_say("fuzz_wm_file: store accepted and written by vigil no longer opens: %s\n", err.msg);
        abort();
    }
    for (size_t i = 0; i < ndone; i++) {
        vg_wm_mark m;
        if (!vg_wm_get(wm, done[i].chain, &done[i].pkh, done[i].kind, &m) || m.level < done[i].mark.level) {
            vg_fuzz_say("fuzz_wm_file: committed mark %d lost after reopen\n", done[i].mark.level);
            abort();
        }
    }
    vg_watermark_close(wm);
    return 0;
}
