/* Target: the one-time import of Signatory's file-backend watermarks, src/watermark/wm_migrate.c
 * (watermark_v2 / watermark_v1 / v0 JSON), run by the file driver when vigil.wm does not exist yet.
 *
 * Input: byte 0 picks the layout (0 -> watermark_v2, 1 -> watermark_v1, 2 -> watermark (v0), mod 3);
 * the rest is <dir>/NetXdQprcVkpaWU.json. The store is opened in a private tmpfs directory.
 * Invariants: failure is VG_E_INVALID / VG_E_UNAVAILABLE; on success the imported marks are written
 * to vigil.wm and a second open (which now reads vigil.wm, not the JSON) yields exactly the same
 * records (vg_wm_dump output compared byte for byte): the import never loses or alters a mark. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"
#include "watermark/watermark.h"

static char *dump(vg_watermark *wm, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        abort();
    if (vg_wm_dump(wm, f) < 0)
        abort();
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_fuzz_init();
    if (size < 1 || size > (1u << 20))
        return 0;
    static const char *const dirs[] = {"watermark_v2", "watermark_v1", "watermark"};
    const char *base = vg_fuzz_dir();
    vg_fuzz_clear(base);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", base, dirs[data[0] % 3]);
    if (mkdir(path, 0700) < 0)
        abort();
    snprintf(path, sizeof path, "%s/%s/NetXdQprcVkpaWU.json", base, dirs[data[0] % 3]);
    vg_fuzz_write(path, data + 1, size - 1, 0600);

    vg_watermark *wm = NULL;
    vg_err err = {0};
    if (vg_watermark_open("file", base, &wm, &err) < 0) {
        if (vg_fuzz_verbose())
            vg_fuzz_say("import refused: %s\n", err.msg);
        if (err.kind != VG_E_INVALID && err.kind != VG_E_UNAVAILABLE)
            abort();
        return 0;
    }
    size_t len1, len2;
    char *first = dump(wm, &len1);
    vg_watermark_close(wm);
    if (vg_watermark_open("file", base, &wm, &err) < 0) {
        vg_fuzz_say("fuzz_wm_import: imported store does not reopen: %s\n", err.msg);
        abort();
    }
    char *second = dump(wm, &len2);
    if (vg_fuzz_verbose())
        vg_fuzz_say("imported:\n%s", second);
    vg_watermark_close(wm);
    if (len1 != len2 || memcmp(first, second, len1) != 0) {
        vg_fuzz_say("fuzz_wm_import: marks differ after reopen:\n%s---\n%s", first, second);
        abort();
    }
    free(first);
    free(second);
    return 0;
}
