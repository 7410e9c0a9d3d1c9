#include "testlib.h"

#include <stdlib.h>

#include "common/hex.h"
#include "common/reader.h"

static void test_reads_and_bounds(void)
{
    const uint8_t buf[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00, 0x02, 0xaa, 0xbb};
    vg_err err = {0};
    vg_reader r = vg_reader_init(buf, sizeof buf, &err);
    uint8_t b;
    uint16_t h;
    uint32_t w;
    CHECK(vg_rd_u8(&r, &b) == 0 && b == 1);
    CHECK(vg_rd_be16(&r, &h) == 0 && h == 0x0203);
    CHECK(vg_rd_be16(&r, &h) == 0 && h == 0x0405);
    const uint8_t *p;
    size_t n;
    CHECK(vg_rd_dyn(&r, 16, &p, &n) == 0 && n == 2 && p[0] == 0xaa);
    CHECK(vg_rd_eof(&r));
    CHECK(vg_rd_be32(&r, &w) == -1);
    CHECK(err.kind == VG_E_INVALID);
    CHECK_MSG(strstr(err.msg, "offset 11") != NULL, "%s", err.msg);
}

static void test_dyn_limit_and_truncation(void)
{
    const uint8_t over[] = {0x00, 0x00, 0x01, 0x00, 0x01};
    vg_err err = {0};
    vg_reader r = vg_reader_init(over, sizeof over, &err);
    const uint8_t *p;
    size_t n;
    CHECK(vg_rd_dyn(&r, 16, &p, &n) == -1);
    CHECK_MSG(strstr(err.msg, "exceeds limit") != NULL, "%s", err.msg);
    CHECK(r.off == 0);
    CHECK(vg_rd_dyn(&r, 1024, &p, &n) == -1); /* declares 256, has 1 */
    CHECK(r.off == 0);
    CHECK(vg_rd_expect_end(&r, "request") == -1);
    CHECK_MSG(strstr(err.msg, "5 trailing bytes at offset 0") != NULL, "%s", err.msg);
}

static void test_hex(void)
{
    uint8_t *out;
    size_t n;
    vg_err err = {0};
    CHECK(vg_hex_decode("00aBfF", 6, &out, &n, &err) == 0 && n == 3 && out[1] == 0xab && out[2] == 0xff);
    char txt[7];
    vg_hex_encode(out, n, txt);
    CHECK_STR(txt, "00abff");
    free(out);
    CHECK(vg_hex_decode("abc", 3, &out, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "odd length") != NULL, "%s", err.msg);
    CHECK(vg_hex_decode("zz", 2, &out, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "'z' at offset 0") != NULL, "%s", err.msg);
}

int main(void)
{
    vt_init();
    test_reads_and_bounds();
    test_dyn_limit_and_truncation();
    test_hex();
    return vt_done("reader");
}
