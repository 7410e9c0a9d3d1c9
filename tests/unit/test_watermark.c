/* Watermark store: the rule, reserve/commit/abort, the attestation conflict class, the file
 * driver (persistence, torn writes, corruption, I/O failure, group commit) and Signatory import. */
#define _GNU_SOURCE
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "watermark/watermark.h"

static const uint8_t CHAIN0[4] = {0, 0, 0, 0};
static const uint8_t CHAIN_A[4] = {0xb3, 0xd7, 0x9f, 0x99}; /* NetXo5iVw1vBoxM */
static const uint8_t CHAIN_B[4] = {0xed, 0x9d, 0x21, 0x7c}; /* NetXxkAx4woPLyu */
static const char *const BAKER = "tz1WGcYos3hL7GXYXjKrMnSFdkT7FyXnFBvf";
static const char *const ALICE = "tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb";
static const char *const BOB = "tz1aSkwEot3L2kmUvcoxzjMomb9mvBNuzFK6";
static const char *const VH = "vh2THNfr1pU3TjJyJkw7BKq19suqMX1W9PXRVAgpueELhGTAuhSx";

static const char *const drivers[] = {"mem", "file"};

/* ---- helpers ------------------------------------------------------------------------------- */

static vg_pkh pkh_n(uint8_t first)
{
    vg_pkh p = {.type = VG_KEY_ED25519};
    memset(p.hash, 0, sizeof p.hash);
    p.hash[0] = first;
    return p;
}

static vg_wm_mark mk(int32_t level, int32_t round, int digest_first)
{
    vg_wm_mark m = {.level = level, .round = round, .has_digest = digest_first >= 0};
    memset(m.digest, 0, sizeof m.digest);
    if (digest_first >= 0)
        m.digest[0] = (uint8_t)digest_first;
    return m;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static char *tmpdir(char buf[64])
{
    snprintf(buf, 64, "/tmp/vigil-wm-XXXXXX");
    if (mkdtemp(buf) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return buf;
}

static void wm_path(const char *base, char *out, size_t cap) { snprintf(out, cap, "%s/watermarks/vigil.wm", base); }

static vg_watermark *open_or_die(const char *driver, const char *base)
{
    vg_watermark *wm = NULL;
    vg_err err = {0};
    if (vg_watermark_open(driver, base, &wm, &err) < 0) {
        fprintf(stderr, "open %s %s: %s\n", driver, base, err.msg);
        exit(1);
    }
    return wm;
}

/* reserve + commit; returns 0 or the error kind. No CHECK inside: safe from worker threads
 * (testlib's counters are not thread-safe). */
static int sign_raw(vg_watermark *wm, const uint8_t chain[4], const vg_pkh *pkh, vg_req_kind kind, vg_wm_mark m,
                    vg_err *err_out, bool *ticket_ok)
{
    vg_err err = {0};
    vg_wm_ticket *t = NULL;
    int rc = vg_wm_reserve(wm, chain, pkh, kind, &m, &t, &err);
    *ticket_ok = (rc == 0) == (t != NULL);
    if (rc == 0)
        rc = vg_wm_commit(wm, t, &err);
    if (err_out != NULL)
        *err_out = err;
    return rc == 0 ? 0 : (int)err.kind;
}

static int sign(vg_watermark *wm, const uint8_t chain[4], const vg_pkh *pkh, vg_req_kind kind, vg_wm_mark m,
                vg_err *err_out)
{
    bool ticket_ok = false;
    int rc = sign_raw(wm, chain, pkh, kind, m, err_out, &ticket_ok);
    CHECK(ticket_ok);
    return rc;
}

static bool mark_is(vg_watermark *wm, const uint8_t chain[4], const vg_pkh *pkh, vg_req_kind kind, int32_t level,
                    int32_t round)
{
    vg_wm_mark m;
    return vg_wm_get(wm, chain, pkh, kind, &m) && m.level == level && m.round == round;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b = 0;
    CHECK(fd >= 0 && pread(fd, &b, 1, off) == 1);
    b ^= 0x5a;
    CHECK(pwrite(fd, &b, 1, off) == 1);
    close(fd);
}

/* File layout offsets (docs/watermarks.md): header 256, records of 256, key part 64, copies of 96. */
static off_t copy_off(int rec, int copy) { return 256 + (off_t)rec * 256 + 64 + (off_t)copy * 96 + 10; }

/* ---- rule, both drivers -------------------------------------------------------------------- */

static void test_rule_basics(const char *driver)
{
    char d[64];
    tmpdir(d);
    vg_watermark *wm = open_or_die(driver, d);
    CHECK_STR(vg_watermark_driver(wm), driver);
    vg_pkh k = pkh_n(1), k2 = pkh_n(2);
    vg_err err;

    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(100, 2, 0xa1), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(99, 5, 0xa2), &err) == VG_E_CONFLICT); /* lower level */
    CHECK_STR(err.msg, "watermark validation failed: requested block level 99 round 5, stored block level 100 "
                       "round 2");
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(100, 1, 0xa3), NULL) == VG_E_CONFLICT); /* lower round */
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(100, 2, 0xa4), NULL) == VG_E_CONFLICT); /* other payload */
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(100, 2, 0xa1), NULL) == 0);             /* identical retry */
    vg_wm_mark nod = mk(100, 2, -1);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, nod, NULL) == VG_E_CONFLICT); /* no digest never equals */
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(100, 3, 0xa5), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(101, 0, 0xa6), NULL) == 0);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 101, 0));

    /* Independent: other kinds, other chains, other keys. */
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_PREATTESTATION, mk(50, 0, 1), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION, mk(50, 0, 2), NULL) == 0);
    CHECK(sign(wm, CHAIN_B, &k, VG_REQ_BLOCK, mk(50, 0, 3), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k2, VG_REQ_BLOCK, mk(50, 0, 4), NULL) == 0);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 101, 0));
    CHECK(!vg_wm_get(wm, CHAIN_B, &k, VG_REQ_PREATTESTATION, NULL));

    /* Non-consensus kinds are not watermarked: a pipeline bug, not a refusal. */
    vg_wm_ticket *t = (vg_wm_ticket *)&err; /* must be cleared */
    vg_wm_mark m = mk(1, 0, 0);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_GENERIC, &m, &t, &err) == -1 && err.kind == VG_E_INTERNAL);
    CHECK(t == NULL);

    vg_wm_stats st;
    vg_wm_get_stats(wm, &st);
    CHECK(st.conflicts == 4);
    if (strcmp(driver, "mem") == 0)
        CHECK(st.fsyncs == 0);
    else
        CHECK(st.fsyncs > 0);
    vg_watermark_close(wm);
    rm_rf(d);
}

/* spec §13 item 7: attestation and attestation_with_dal are one conflict class. */
static void test_dal_class(const char *driver)
{
    char d[64];
    tmpdir(d);
    vg_watermark *wm = open_or_die(driver, d);
    vg_pkh k = pkh_n(7);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION, mk(10, 0, 0x21), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION_WITH_DAL, mk(10, 0, 0x23), NULL) == VG_E_CONFLICT);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION_WITH_DAL, mk(9, 5, 0x23), NULL) == VG_E_CONFLICT);
    CHECK(!vg_wm_get(wm, CHAIN_A, &k, VG_REQ_ATTESTATION_WITH_DAL, NULL)); /* refusals write nothing */
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION_WITH_DAL, mk(10, 1, 0x24), NULL) == 0);
    /* The accepted request writes its own record; the sibling keeps its own. */
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_ATTESTATION_WITH_DAL, 10, 1));
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_ATTESTATION, 10, 0));
    /* Now attestation must pass the dal record too. */
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION, mk(10, 1, 0x25), NULL) == VG_E_CONFLICT);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION, mk(10, 0, 0x21), NULL) == VG_E_CONFLICT); /* below dal */
    /* Equal digest against a record counts as the identical retry, against either record. */
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION, mk(10, 1, 0x24), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION, mk(11, 0, 0x26), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_ATTESTATION_WITH_DAL, mk(11, 0, 0x27), NULL) == VG_E_CONFLICT);
    /* block and preattestation are not in the class. */
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(11, 0, 0x28), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_PREATTESTATION, mk(11, 0, 0x29), NULL) == 0);
    /* dal first, on another key: attestation is refused at the same level/round. */
    vg_pkh k2 = pkh_n(8);
    CHECK(sign(wm, CHAIN_A, &k2, VG_REQ_ATTESTATION_WITH_DAL, mk(20, 0, 1), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k2, VG_REQ_ATTESTATION, mk(20, 0, 2), NULL) == VG_E_CONFLICT);
    /* An in-flight reservation of one member blocks the other too. */
    vg_wm_ticket *t = NULL;
    vg_err err = {0};
    vg_wm_mark m = mk(21, 0, 3);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k2, VG_REQ_ATTESTATION, &m, &t, &err) == 0);
    CHECK(sign(wm, CHAIN_A, &k2, VG_REQ_ATTESTATION_WITH_DAL, mk(21, 0, 4), NULL) == VG_E_CONFLICT);
    vg_wm_abort(wm, t);
    CHECK(sign(wm, CHAIN_A, &k2, VG_REQ_ATTESTATION_WITH_DAL, mk(21, 0, 4), NULL) == 0);
    vg_watermark_close(wm);
    rm_rf(d);
}

static void test_abort(const char *driver)
{
    char d[64];
    tmpdir(d);
    vg_watermark *wm = open_or_die(driver, d);
    vg_pkh k = pkh_n(3);
    vg_err err = {0};
    vg_wm_ticket *t1 = NULL, *t2 = NULL;
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(10, 0, 1), NULL) == 0);

    /* Failed signing: the mark returns, the identical retry and a different payload both work. */
    vg_wm_mark m = mk(11, 0, 2);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &m, &t1, &err) == 0);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 11, 0));
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(11, 0, 3), NULL) == VG_E_CONFLICT); /* held by t1 */
    vg_wm_abort(wm, t1);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 10, 0));
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &m, &t1, &err) == 0); /* identical retry */
    vg_wm_abort(wm, t1);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(11, 0, 3), NULL) == 0); /* other payload after abort */
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 11, 0));

    /* Abort of an older ticket does not lower a newer reservation. */
    vg_wm_mark a = mk(12, 0, 4), b = mk(13, 0, 5);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &a, &t1, &err) == 0);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &b, &t2, &err) == 0);
    vg_wm_abort(wm, t1);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 13, 0));
    vg_wm_abort(wm, t2);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 11, 0));

    /* Newer aborted first: the older still-pending reservation keeps holding its mark. */
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &a, &t1, &err) == 0);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &b, &t2, &err) == 0);
    vg_wm_abort(wm, t2);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 12, 0));
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(12, 0, 6), NULL) == VG_E_CONFLICT);
    CHECK(vg_wm_commit(wm, t1, &err) == 0);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 12, 0));

    /* Two identical retries in flight: aborting one must not release the mark the other holds. */
    vg_wm_mark c = mk(14, 0, 7);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &c, &t1, &err) == 0);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &c, &t2, &err) == 0);
    vg_wm_abort(wm, t1);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(14, 0, 8), NULL) == VG_E_CONFLICT);
    CHECK(vg_wm_commit(wm, t2, &err) == 0);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(14, 0, 8), NULL) == VG_E_CONFLICT);
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(14, 0, 7), NULL) == 0);

    /* A committed identical retry keeps the mark after its twin aborts. */
    vg_wm_mark e = mk(15, 0, 9);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &e, &t1, &err) == 0);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &e, &t2, &err) == 0);
    CHECK(vg_wm_commit(wm, t1, &err) == 0);
    vg_wm_abort(wm, t2);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 15, 0));
    CHECK(sign(wm, CHAIN_A, &k, VG_REQ_BLOCK, mk(15, 0, 10), NULL) == VG_E_CONFLICT);

    /* Lower commit after a higher one: the record never moves backwards (file: checked on reopen). */
    vg_wm_mark lo = mk(16, 0, 11), hi = mk(17, 0, 12);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &lo, &t1, &err) == 0);
    CHECK(vg_wm_reserve(wm, CHAIN_A, &k, VG_REQ_BLOCK, &hi, &t2, &err) == 0);
    CHECK(vg_wm_commit(wm, t2, &err) == 0);
    CHECK(vg_wm_commit(wm, t1, &err) == 0);
    CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 17, 0));
    vg_watermark_close(wm);
    if (strcmp(driver, "file") == 0) {
        wm = open_or_die(driver, d);
        CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 17, 0));
        vg_watermark_close(wm);
    }
    rm_rf(d);
}

/* 16 threads, same key/kind/level/round, different digests: exactly one reservation wins. */
struct race {
    vg_watermark *wm;
    pthread_barrier_t *bar;
    int id;
    int level;
    int wins, conflicts, other;
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    vg_pkh k = pkh_n(9);
    for (int lv = 0; lv < 50; lv++) {
        pthread_barrier_wait(r->bar);
        vg_wm_mark m = mk(1000 + lv, 0, r->id);
        vg_wm_ticket *t = NULL;
        vg_err err = {0};
        if (vg_wm_reserve(r->wm, CHAIN_A, &k, VG_REQ_ATTESTATION, &m, &t, &err) == 0) {
            r->wins++;
            if (vg_wm_commit(r->wm, t, &err) < 0)
                r->other++;
        } else if (err.kind == VG_E_CONFLICT) {
            r->conflicts++;
        } else {
            r->other++;
        }
        pthread_barrier_wait(r->bar);
    }
    return NULL;
}

static void test_race(const char *driver)
{
    enum { N = 16 };
    char d[64];
    tmpdir(d);
    vg_watermark *wm = open_or_die(driver, d);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    struct race r[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct race){.wm = wm, .bar = &bar, .id = i};
        pthread_create(&th[i], NULL, race_main, &r[i]);
    }
    int wins = 0, conflicts = 0, other = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        wins += r[i].wins;
        conflicts += r[i].conflicts;
        other += r[i].other;
    }
    CHECK_MSG(wins == 50, "wins %d", wins); /* one per level */
    CHECK(conflicts == 50 * (N - 1));
    CHECK(other == 0);
    pthread_barrier_destroy(&bar);
    vg_watermark_close(wm);
    rm_rf(d);
}

/* ---- file driver --------------------------------------------------------------------------- */

static void test_persistence(void)
{
    char d[64], p[128], dir[128];
    tmpdir(d);
    vg_watermark *wm = open_or_die(NULL, d); /* default driver = file */
    CHECK_STR(vg_watermark_driver(wm), "file");
    vg_pkh k1 = pkh_n(1), k2 = pkh_n(2);
    k2.type = VG_KEY_BLS;
    CHECK(sign(wm, CHAIN_A, &k1, VG_REQ_BLOCK, mk(5, 1, 0x11), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k1, VG_REQ_BLOCK, mk(6, 0, 0x12), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &k1, VG_REQ_ATTESTATION_WITH_DAL, mk(6, 2, 0x13), NULL) == 0);
    CHECK(sign(wm, CHAIN_B, &k2, VG_REQ_PREATTESTATION, mk(700000, 7, 0x14), NULL) == 0);

    /* A second store on the same directory is refused while the first is open. */
    vg_watermark *wm2 = NULL;
    vg_err err = {0};
    CHECK(vg_watermark_open("file", d, &wm2, &err) == -1 && wm2 == NULL);
    CHECK_MSG(strstr(err.msg, "in use by another vigil process") != NULL, "%s", err.msg);
    vg_watermark_close(wm);

    wm_path(d, p, sizeof p);
    snprintf(dir, sizeof dir, "%s/watermarks", d);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK(stat(p, &st) == 0 && st.st_size == 256 + 3 * 256);

    wm = open_or_die("file", d);
    CHECK(mark_is(wm, CHAIN_A, &k1, VG_REQ_BLOCK, 6, 0));
    CHECK(mark_is(wm, CHAIN_A, &k1, VG_REQ_ATTESTATION_WITH_DAL, 6, 2));
    CHECK(mark_is(wm, CHAIN_B, &k2, VG_REQ_PREATTESTATION, 700000, 7));
    CHECK(!vg_wm_get(wm, CHAIN_A, &k1, VG_REQ_ATTESTATION, NULL));
    CHECK(sign(wm, CHAIN_A, &k1, VG_REQ_BLOCK, mk(6, 0, 0x99), NULL) == VG_E_CONFLICT);
    CHECK(sign(wm, CHAIN_A, &k1, VG_REQ_BLOCK, mk(6, 0, 0x12), NULL) == 0); /* digest survived */
    CHECK(sign(wm, CHAIN_A, &k1, VG_REQ_ATTESTATION, mk(6, 2, 0x15), NULL) == VG_E_CONFLICT);

    /* Dump: sorted JSON lines. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(vg_wm_dump(wm, f) == 0);
    fclose(f);
    CHECK_MSG(strstr(buf, "\"kind\":\"block\",\"level\":6,\"round\":0,\"digest\":\"vh") != NULL, "%s", buf);
    CHECK_MSG(strstr(buf, "{\"chain\":\"NetXo5iVw1vBoxM\",\"pkh\":\"tz1") == buf, "%s", buf);
    CHECK(strstr(buf, "\"kind\":\"attestation_with_dal\",\"level\":6,\"round\":2") != NULL);
    CHECK(strstr(buf, "{\"chain\":\"NetXxkAx4woPLyu\",\"pkh\":\"tz4") != NULL);
    int lines = 0;
    for (char *q = buf; *q != '\0'; q++)
        lines += *q == '\n';
    CHECK(lines == 3);
    free(buf);
    vg_watermark_close(wm);
    rm_rf(d);
}

static void test_torn_and_corrupt(void)
{
    char d[64], p[128];
    tmpdir(d);
    wm_path(d, p, sizeof p);
    vg_pkh a = pkh_n(0xa), b = pkh_n(0xb);
    vg_watermark *wm = open_or_die("file", d);
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(10, 0, 1), NULL) == 0); /* record 0, seq 1 → copy 1 */
    CHECK(sign(wm, CHAIN_A, &b, VG_REQ_BLOCK, mk(5, 0, 2), NULL) == 0);  /* record 1 */
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(11, 0, 3), NULL) == 0); /* record 0, seq 2 → copy 0 */
    vg_watermark_close(wm);

    /* Torn newest copy: the previous value survives. */
    flip_byte(p, copy_off(0, 0));
    wm = open_or_die("file", d);
    CHECK(mark_is(wm, CHAIN_A, &a, VG_REQ_BLOCK, 10, 0));
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(10, 0, 9), NULL) == VG_E_CONFLICT);
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(12, 0, 4), NULL) == 0); /* rewrites the torn copy */
    vg_watermark_close(wm);
    wm = open_or_die("file", d);
    CHECK(mark_is(wm, CHAIN_A, &a, VG_REQ_BLOCK, 12, 0));
    vg_watermark_close(wm);

    /* Both copies bad: that key refuses with 503, the others sign. */
    flip_byte(p, copy_off(0, 0));
    flip_byte(p, copy_off(0, 1));
    wm = open_or_die("file", d);
    vg_err err = {0};
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(100, 0, 5), &err) == VG_E_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "is corrupt; refusing to sign") != NULL && strstr(err.msg, "on NetXo5iVw1vBoxM"),
              "%s", err.msg);
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_PREATTESTATION, mk(100, 0, 6), NULL) == 0);
    CHECK(sign(wm, CHAIN_A, &b, VG_REQ_BLOCK, mk(6, 0, 7), NULL) == 0);
    vg_wm_stats st;
    vg_wm_get_stats(wm, &st);
    CHECK(st.refused_unavailable == 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(vg_wm_dump(wm, f) == 0);
    fclose(f);
    CHECK_MSG(strstr(buf, "\"kind\":\"block\",\"status\":\"corrupt\"") != NULL, "%s", buf);
    free(buf);
    vg_watermark_close(wm);
    /* Still refused after a restart: never reset silently. */
    wm = open_or_die("file", d);
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(200, 0, 5), NULL) == VG_E_UNAVAILABLE);
    vg_watermark_close(wm);
    rm_rf(d);
}

static void expect_open_fails(const char *d, const char *needle)
{
    vg_watermark *wm = NULL;
    vg_err err = {0};
    CHECK(vg_watermark_open("file", d, &wm, &err) == -1 && wm == NULL);
    CHECK(err.kind == VG_E_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
    if (wm != NULL)
        vg_watermark_close(wm);
}

static void test_bad_file(void)
{
    char d[64], p[128];
    tmpdir(d);
    wm_path(d, p, sizeof p);
    vg_pkh a = pkh_n(1);
    vg_watermark *wm = open_or_die("file", d);
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(10, 0, 1), NULL) == 0);
    vg_watermark_close(wm);

    flip_byte(p, 20); /* header reserved byte: checksum fails */
    expect_open_fails(d, "header is corrupt");
    flip_byte(p, 20);
    flip_byte(p, 0);
    expect_open_fails(d, "not a vigil watermark file");
    flip_byte(p, 0);
    flip_byte(p, 256 + 12); /* key part of record 0 */
    expect_open_fails(d, "its key cannot be identified");
    flip_byte(p, 256 + 12);
    int fd = open(p, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "xyz", 3) == 3);
    close(fd);
    expect_open_fails(d, "bad size");
    CHECK(truncate(p, 256 + 256) == 0);
    chmod(p, 0666);
    expect_open_fails(d, "writable by group or others");
    chmod(p, 0600);
    wm = open_or_die("file", d); /* intact again */
    CHECK(mark_is(wm, CHAIN_A, &a, VG_REQ_BLOCK, 10, 0));
    vg_watermark_close(wm);
    chmod(p, 0);
    if (geteuid() != 0)
        expect_open_fails(d, "cannot open watermark file");
    chmod(p, 0600);

    /* Unknown driver; missing directory. */
    vg_err err = {0};
    CHECK(vg_watermark_open("dynamo", d, &wm, &err) == -1 && err.kind == VG_E_INVALID);
    CHECK(strstr(err.msg, "unknown watermark driver") != NULL);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope", d);
    expect_open_fails(missing, "cannot create watermark directory");
    rm_rf(d);
}

/* Appends past RLIMIT_FSIZE fail with EFBIG: a new record cannot be written. */
static void test_io_failure(void)
{
    char d[64], p[128];
    tmpdir(d);
    wm_path(d, p, sizeof p);
    vg_pkh a = pkh_n(1), b = pkh_n(2);
    vg_watermark *wm = open_or_die("file", d);
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(10, 0, 1), NULL) == 0);
    struct stat st;
    CHECK(stat(p, &st) == 0);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)st.st_size;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    vg_err err = {0};
    CHECK(sign(wm, CHAIN_A, &b, VG_REQ_BLOCK, mk(10, 0, 2), &err) == VG_E_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "watermark storage failure") != NULL, "%s", err.msg);
    /* That key stops; the key whose record exists still updates in place. */
    CHECK(sign(wm, CHAIN_A, &b, VG_REQ_BLOCK, mk(11, 0, 3), &err) == VG_E_UNAVAILABLE);
    CHECK_MSG(strstr(err.msg, "until restart") != NULL, "%s", err.msg);
    CHECK(sign(wm, CHAIN_A, &a, VG_REQ_BLOCK, mk(11, 0, 4), NULL) == 0);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    vg_wm_stats s;
    vg_wm_get_stats(wm, &s);
    CHECK(s.io_errors == 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(vg_wm_dump(wm, f) == 0);
    fclose(f);
    CHECK_MSG(strstr(buf, "\"status\":\"failed\",\"level\":10") != NULL, "%s", buf);
    free(buf);
    vg_watermark_close(wm);
    wm = open_or_die("file", d); /* restart: b was never durable, a was */
    CHECK(mark_is(wm, CHAIN_A, &a, VG_REQ_BLOCK, 11, 0));
    CHECK(!vg_wm_get(wm, CHAIN_A, &b, VG_REQ_BLOCK, NULL));
    vg_watermark_close(wm);
    rm_rf(d);
}

struct burst {
    vg_watermark *wm;
    pthread_barrier_t *bar;
    int id;
    int failures;
};

static void *burst_main(void *arg)
{
    struct burst *b = arg;
    vg_pkh k = pkh_n((uint8_t)(0x40 + b->id));
    for (int i = 0; i < 100; i++) {
        pthread_barrier_wait(b->bar);
        bool ticket_ok = false;
        if (sign_raw(b->wm, CHAIN_A, &k, (vg_req_kind)(i % 3), mk(i + 1, 0, i & 0xff), NULL, &ticket_ok) != 0 ||
            !ticket_ok)
            b->failures++;
    }
    return NULL;
}

static void test_group_commit(void)
{
    enum { N = 16 };
    char d[64];
    tmpdir(d);
    vg_watermark *wm = open_or_die("file", d);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    struct burst b[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        b[i] = (struct burst){.wm = wm, .bar = &bar, .id = i};
        pthread_create(&th[i], NULL, burst_main, &b[i]);
    }
    int failures = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        failures += b[i].failures;
    }
    CHECK(failures == 0);
    vg_wm_stats st;
    vg_wm_get_stats(wm, &st);
    printf("group commit: %llu commits, %llu records in %llu fdatasyncs, max batch %llu\n",
           (unsigned long long)st.commits, (unsigned long long)st.records_written, (unsigned long long)st.fsyncs,
           (unsigned long long)st.max_batch);
    CHECK(st.commits == N * 100);
    CHECK(st.records_written == N * 100);
    CHECK_MSG(st.max_batch > 1, "max batch %llu", (unsigned long long)st.max_batch);
    CHECK(st.fsyncs < st.commits);
    pthread_barrier_destroy(&bar);
    vg_watermark_close(wm);
    wm = open_or_die("file", d);
    for (int i = 0; i < N; i++) {
        vg_pkh k = pkh_n((uint8_t)(0x40 + i));
        /* last iterations: i = 97 preattestation, 98 attestation, 99 block (level = i + 1) */
        CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_PREATTESTATION, 98, 0));
        CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_ATTESTATION, 99, 0));
        CHECK(mark_is(wm, CHAIN_A, &k, VG_REQ_BLOCK, 100, 0));
    }
    vg_watermark_close(wm);
    rm_rf(d);
}

/* ---- Signatory import ---------------------------------------------------------------------- */

static void make_legacy(const char *base, const char *sub, const char *file, const char *json)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", base, sub);
    mkdir(p, 0750);
    snprintf(p, sizeof p, "%s/%s/%s", base, sub, file);
    write_text(p, json);
}

static vg_pkh pkh_of(const char *s)
{
    vg_pkh p;
    vg_err err = {0};
    if (vg_pkh_parse(s, &p, &err) < 0) {
        fprintf(stderr, "pkh %s: %s\n", s, err.msg);
        exit(1);
    }
    return p;
}

static void test_migrate_v2(void)
{
    char d[64], json[1024];
    tmpdir(d);
    snprintf(json, sizeof json,
             "{\n"
             "    \"%s\": {\n"
             "        \"attestation\": {\"level\": 29, \"round\": 1, \"hash\": null},\n"
             "        \"block\": {\"level\": 34, \"round\": 4, \"hash\": \"%s\"},\n"
             "        \"endorsement\": {\"level\": 30, \"round\": 0, \"hash\": null},\n"
             "        \"preattestation\": {\"level\": 40, \"round\": 0, \"hash\": null},\n"
             "        \"preendorsement\": {\"level\": 39, \"round\": 9, \"hash\": null}\n"
             "    },\n"
             "    \"%s\": {\"attestation_with_dal\": {\"level\": 7, \"round\": 0, \"hash\": null}}\n"
             "}\n",
             BAKER, VH, ALICE);
    make_legacy(d, "watermark_v2", "NetXo5iVw1vBoxM.json", json);
    make_legacy(d, "watermark_v2", "watermark123456", "not json, Signatory temp file");
    make_legacy(d, "watermark_v1", "NetXo5iVw1vBoxM.json", "{}"); /* ignored: v2 wins */

    vg_watermark *wm = open_or_die("file", d);
    vg_pkh baker = pkh_of(BAKER), alice = pkh_of(ALICE);
    vg_wm_mark m;
    CHECK(vg_wm_get(wm, CHAIN_A, &baker, VG_REQ_BLOCK, &m) && m.level == 34 && m.round == 4 && m.has_digest);
    uint8_t digest[32];
    size_t dl = 0;
    vg_err err = {0};
    CHECK(vg_b58check_decode(VG_B58_VALUE_HASH, VH, digest, sizeof digest, &dl, &err) == 0 && dl == 32);
    CHECK(memcmp(m.digest, digest, 32) == 0);
    /* Legacy names are mapped and the higher record kept (spec §13 item 18). */
    CHECK(mark_is(wm, CHAIN_A, &baker, VG_REQ_ATTESTATION, 30, 0));
    CHECK(mark_is(wm, CHAIN_A, &baker, VG_REQ_PREATTESTATION, 40, 0));
    CHECK(mark_is(wm, CHAIN_A, &alice, VG_REQ_ATTESTATION_WITH_DAL, 7, 0));
    vg_wm_mark same = m;
    CHECK(sign(wm, CHAIN_A, &baker, VG_REQ_BLOCK, same, NULL) == 0); /* identical retry of the migrated one */
    same.digest[5] ^= 1;
    CHECK(sign(wm, CHAIN_A, &baker, VG_REQ_BLOCK, same, NULL) == VG_E_CONFLICT);
    CHECK(sign(wm, CHAIN_A, &baker, VG_REQ_ATTESTATION, mk(30, 0, 1), NULL) == VG_E_CONFLICT);
    CHECK(sign(wm, CHAIN_A, &alice, VG_REQ_ATTESTATION, mk(7, 0, 1), NULL) == VG_E_CONFLICT); /* dal class */
    vg_watermark_close(wm);

    /* Imported once: later edits to Signatory's files are not read. */
    make_legacy(d, "watermark_v2", "NetXo5iVw1vBoxM.json", "{\"garbage\": 1}");
    wm = open_or_die("file", d);
    CHECK(mark_is(wm, CHAIN_A, &baker, VG_REQ_ATTESTATION, 30, 0));
    CHECK(mark_is(wm, CHAIN_A, &baker, VG_REQ_BLOCK, 34, 4));
    vg_watermark_close(wm);
    rm_rf(d);
}

static void test_migrate_v1_v0(void)
{
    char d[64], json[1024];
    tmpdir(d);
    snprintf(json, sizeof json,
             "{\"%s\": {\"level\": 40, \"round\": null, \"order\": 2, \"hash\": null},"
             " \"%s\": {\"level\": 41, \"round\": 3, \"order\": 0, \"hash\": \"%s\"},"
             " \"%s\": {\"level\": 42, \"round\": 1, \"order\": 1, \"hash\": null}}",
             BAKER, ALICE, VH, BOB);
    make_legacy(d, "watermark_v1", "NetXo5iVw1vBoxM.json", json);
    make_legacy(d, "watermark_v1", "NetXxkAx4woPLyu.json", "{}");
    vg_watermark *wm = open_or_die("file", d);
    vg_pkh baker = pkh_of(BAKER), alice = pkh_of(ALICE), bob = pkh_of(BOB);
    CHECK(mark_is(wm, CHAIN_A, &baker, VG_REQ_ATTESTATION, 40, 0));
    CHECK(mark_is(wm, CHAIN_A, &alice, VG_REQ_BLOCK, 41, 3));
    CHECK(mark_is(wm, CHAIN_A, &bob, VG_REQ_PREATTESTATION, 42, 1));
    CHECK(sign(wm, CHAIN_A, &baker, VG_REQ_ATTESTATION, mk(40, 0, 1), NULL) == VG_E_CONFLICT);
    CHECK(sign(wm, CHAIN_A, &baker, VG_REQ_ATTESTATION_WITH_DAL, mk(39, 9, 1), NULL) == VG_E_CONFLICT);
    vg_watermark_close(wm);
    rm_rf(d);

    tmpdir(d);
    snprintf(json, sizeof json,
             "{\"endorsement\": {\"%s\": {\"level\": 50, \"round\": 2, \"hash\": null}},"
             " \"attestation\": {\"%s\": {\"level\": 49, \"round\": 0, \"hash\": null}},"
             " \"block\": {\"%s\": {\"level\": 51, \"round\": 0, \"hash\": null}}}",
             BAKER, BAKER, ALICE);
    make_legacy(d, "watermark", "NetXo5iVw1vBoxM.json", json);
    wm = open_or_die("file", d);
    CHECK(mark_is(wm, CHAIN_A, &baker, VG_REQ_ATTESTATION, 50, 2));
    CHECK(mark_is(wm, CHAIN_A, &alice, VG_REQ_BLOCK, 51, 0));
    vg_watermark_close(wm);
    rm_rf(d);
}

static void expect_migration_fails(const char *sub, const char *file, const char *json, const char *needle)
{
    char d[64], p[128];
    tmpdir(d);
    make_legacy(d, sub, file, json);
    vg_watermark *wm = NULL;
    vg_err err = {0};
    CHECK(vg_watermark_open("file", d, &wm, &err) == -1 && wm == NULL);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
    wm_path(d, p, sizeof p);
    CHECK(access(p, F_OK) != 0); /* nothing half-imported */
    rm_rf(d);
}

static void test_migrate_errors(void)
{
    expect_migration_fails("watermark_v2", "NetXo5iVw1vBoxM.json", "{\n  \"tz1\": {\n  oops\n}",
                           "NetXo5iVw1vBoxM.json:3:");
    expect_migration_fails("watermark_v2", "NotAChain.json", "{}", "file name is not a chain id");
    char json[256];
    snprintf(json, sizeof json, "{\"%s\": {\"blok\": {\"level\": 1, \"round\": 0, \"hash\": null}}}", BAKER);
    expect_migration_fails("watermark_v2", "NetXo5iVw1vBoxM.json", json, "unknown watermarked request kind");
    snprintf(json, sizeof json, "{\"%s\": {\"block\": {\"level\": -1, \"round\": 0, \"hash\": null}}}", BAKER);
    expect_migration_fails("watermark_v2", "NetXo5iVw1vBoxM.json", json, "\"level\" must be an integer");
    snprintf(json, sizeof json, "{\"%s\": {\"block\": {\"level\": 1, \"round\": 0, \"hash\": \"vhnope\"}}}", BAKER);
    expect_migration_fails("watermark_v2", "NetXo5iVw1vBoxM.json", json, "\"hash\" is not a vh");
    snprintf(json, sizeof json, "{\"%s\": {\"level\": 1, \"round\": 0, \"hash\": null}}", BAKER);
    expect_migration_fails("watermark_v1", "NetXo5iVw1vBoxM.json", json, "\"order\"");
    expect_migration_fails("watermark_v2", "NetXo5iVw1vBoxM.json", "{\"tz1nope\": {}}", "tz1nope");
}

/* ---- shared vectors ------------------------------------------------------------------------ */

static json_t *load_cases(void)
{
    char p[512];
    if (vt_vector_path("signatory/watermark_cases.json", p, sizeof p) == NULL)
        return NULL;
    json_error_t je;
    json_t *root = json_load_file(p, 0, &je);
    if (root == NULL)
        fprintf(stderr, "%s:%d: %s\n", p, je.line, je.text);
    return root;
}

static vg_wm_mark vec_mark(const json_t *o, const char *hash_field)
{
    vg_wm_mark m = mk((int32_t)json_integer_value(json_object_get(o, "level")),
                      (int32_t)json_integer_value(json_object_get(o, "round")), -1);
    const json_t *h = json_object_get(o, hash_field);
    if (json_is_integer(h)) {
        m.has_digest = true;
        m.digest[0] = (uint8_t)json_integer_value(h);
    }
    return m;
}

static void test_vectors(const char *driver, const json_t *root)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(root, "validate_rule"), i, c) {
        const json_t *so = json_object_get(c, "stored"), *no = json_object_get(c, "new");
        vg_wm_mark stored = vec_mark(so, "hash_first_byte"), next = vec_mark(no, "digest_first_byte");
        bool want = json_is_true(json_object_get(c, "allowed"));
        const char *why = json_string_value(json_object_get(c, "why"));
        CHECK_MSG(vg_wm_rule_allows(&stored, &next) == want, "rule case %zu (%s)", i, why);
        /* Through a store: commit the stored mark, then try the new one. */
        char d[64];
        tmpdir(d);
        vg_watermark *wm = open_or_die(driver, d);
        vg_pkh k = pkh_n(0);
        CHECK(sign(wm, CHAIN0, &k, VG_REQ_BLOCK, stored, NULL) == 0);
        int rc = sign(wm, CHAIN0, &k, VG_REQ_BLOCK, next, NULL);
        CHECK_MSG(rc == (want ? 0 : VG_E_CONFLICT), "%s case %zu (%s): %d", driver, i, why, rc);
        vg_watermark_close(wm);
        rm_rf(d);
    }
    CHECK(i == 11);

    char d[64];
    tmpdir(d);
    vg_watermark *wm = open_or_die(driver, d);
    json_array_foreach(json_object_get(root, "backend_sequence"), i, c) {
        const char *pk = json_string_value(json_object_get(c, "pkh_raw"));
        vg_pkh k = pkh_n(strstr(pk, "hash 01") != NULL ? 1 : 0);
        const char *kind_s = json_string_value(json_object_get(c, "kind"));
        vg_req_kind kind = strcmp(kind_s, "kind0") == 0 ? VG_REQ_BLOCK : VG_REQ_PREATTESTATION;
        vg_wm_mark m = vec_mark(c, "digest_first_byte");
        bool expect_error = json_is_true(json_object_get(c, "expect_error"));
        int rc = sign(wm, CHAIN0, &k, kind, m, NULL);
        CHECK_MSG(rc == (expect_error ? VG_E_CONFLICT : 0), "%s sequence step %zu: %d", driver, i, rc);
    }
    CHECK(i == 7);
    vg_watermark_close(wm);
    rm_rf(d);
}

int main(void)
{
    vt_init();
    for (size_t i = 0; i < 2; i++) {
        test_rule_basics(drivers[i]);
        test_dal_class(drivers[i]);
        test_abort(drivers[i]);
        test_race(drivers[i]);
    }
    test_persistence();
    test_torn_and_corrupt();
    test_bad_file();
    test_io_failure();
    test_group_commit();
    test_migrate_v2();
    test_migrate_v1_v0();
    test_migrate_errors();

    json_t *cases = load_cases();
    if (cases == NULL && vt_failures == 0)
        vt_require_shared(); /* exits 77: everything else passed, the vector part needs ../shared */
    CHECK(cases != NULL);
    if (cases != NULL) {
        for (size_t i = 0; i < 2; i++)
            test_vectors(drivers[i], cases);
        json_decref(cases);
    }
    return vt_done("test_watermark");
}
