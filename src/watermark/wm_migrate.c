/* One-time import of Signatory's file-backend watermarks (spec: shared/specs/signatory.md#4.4):
 *   <base>/watermark_v2/<chain>.json  pkh → kind → {"level","round","hash": "vh…"|null}
 *   <base>/watermark_v1/<chain>.json  pkh → {"level","round"|null,"order": 0 block, 1 pre, ≥2 att,"hash"}
 *   <base>/watermark/<chain>.json     kind → pkh → {"level","round","hash"}
 * Only the first directory that exists is read, as Signatory itself does. Legacy kind names map to
 * the current ones and the higher mark wins (spec #13 item 18). Any malformed file stops the
 * import with an error naming the file: an existing mark is never dropped silently. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/json.h"
#include "common/log.h"
#include "watermark/wm_internal.h"

#define WM_MIGRATE_FILE_MAX (16u << 20)

enum { V0, V1, V2 };

struct import {
    vg_watermark *wm;
    const char *file;
    uint8_t chain_id[4];
    size_t count;
};

static int get_int32(const json_t *rec, const char *field, bool nullable, int32_t *out, const struct import *im,
                     const char *where, vg_err *err)
{
    const json_t *v = json_object_get(rec, field);
    if (nullable && (v == NULL || json_is_null(v))) {
        *out = 0; /* pre-Tenderbake (v1) records have no round */
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return vg_fail(err, VG_E_INVALID, "watermark import: %s: %s: \"%s\" must be an integer in [0, 2^31)",
                       im->file, where, field);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int parse_mark(const json_t *rec, bool round_nullable, const struct import *im, const char *where,
                      vg_wm_mark *out, vg_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(rec))
        return vg_fail(err, VG_E_INVALID, "watermark import: %s: %s: record is not an object", im->file, where);
    if (get_int32(rec, "level", false, &out->level, im, where, err) < 0 ||
        get_int32(rec, "round", round_nullable, &out->round, im, where, err) < 0)
        return -1;
    const json_t *h = json_object_get(rec, "hash");
    if (h == NULL || json_is_null(h))
        return 0;
    size_t len = 0;
    vg_err e = {0};
    if (!json_is_string(h) ||
        vg_b58check_decode(VG_B58_VALUE_HASH, json_string_value(h), out->digest, sizeof out->digest, &len, &e) < 0 ||
        len != 32)
        return vg_fail(err, VG_E_INVALID, "watermark import: %s: %s: \"hash\" is not a vh… value hash%s%s", im->file,
                       where, e.msg[0] != '\0' ? ": " : "", e.msg);
    out->has_digest = true;
    return 0;
}

static int put(struct import *im, const vg_pkh *pkh, vg_req_kind kind, const vg_wm_mark *m, vg_err *err)
{
    struct wm_slot *s = wm_table_slot(im->wm, im->chain_id, pkh, kind, true);
    if (s == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark import: out of memory");
    wm_slot_merge_loaded(s, m);
    im->count++;
    return 0;
}

static int parse_pkh(const char *s, const struct import *im, vg_pkh *out, vg_err *err)
{
    vg_err e = {0};
    if (vg_pkh_parse(s, out, &e) < 0)
        return vg_fail(err, VG_E_INVALID, "watermark import: %s: key \"%.60s\": %s", im->file, s, e.msg);
    return 0;
}

static int parse_kind(const char *s, const struct import *im, vg_req_kind *out, vg_err *err)
{
    if (vg_req_kind_parse(s, out) < 0 || !vg_req_kind_is_consensus(*out))
        return vg_fail(err, VG_E_INVALID, "watermark import: %s: unknown watermarked request kind \"%.60s\"",
                       im->file, s);
    return 0;
}

static int import_v2(struct import *im, json_t *root, vg_err *err)
{
    const char *pkh_s, *kind_s;
    json_t *kinds, *rec;
    json_object_foreach(root, pkh_s, kinds) {
        vg_pkh pkh;
        if (parse_pkh(pkh_s, im, &pkh, err) < 0)
            return -1;
        if (!json_is_object(kinds))
            return vg_fail(err, VG_E_INVALID, "watermark import: %s: %s: not an object", im->file, pkh_s);
        json_object_foreach(kinds, kind_s, rec) {
            vg_req_kind kind;
            vg_wm_mark m;
            char where[128];
            snprintf(where, sizeof where, "%s.%s", pkh_s, kind_s);
            if (json_is_null(rec))
                continue;
            if (parse_kind(kind_s, im, &kind, err) < 0 || parse_mark(rec, true, im, where, &m, err) < 0 ||
                put(im, &pkh, kind, &m, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int import_v1(struct import *im, json_t *root, vg_err *err)
{
    const char *pkh_s;
    json_t *rec;
    json_object_foreach(root, pkh_s, rec) {
        vg_pkh pkh;
        vg_wm_mark m;
        if (json_is_null(rec))
            continue;
        if (parse_pkh(pkh_s, im, &pkh, err) < 0 || parse_mark(rec, true, im, pkh_s, &m, err) < 0)
            return -1;
        const json_t *o = json_object_get(rec, "order");
        if (!json_is_integer(o) || json_integer_value(o) < 0)
            return vg_fail(err, VG_E_INVALID, "watermark import: %s: %s: \"order\" must be a non-negative integer",
                           im->file, pkh_s);
        /* order 0 block, 1 preendorsement, >= 2 endorsement (spec: signatory.md#4.4). */
        json_int_t order = json_integer_value(o);
        vg_req_kind kind = order == 0 ? VG_REQ_BLOCK : order == 1 ? VG_REQ_PREATTESTATION : VG_REQ_ATTESTATION;
        if (put(im, &pkh, kind, &m, err) < 0)
            return -1;
    }
    return 0;
}

static int import_v0(struct import *im, json_t *root, vg_err *err)
{
    const char *kind_s, *pkh_s;
    json_t *keys, *rec;
    json_object_foreach(root, kind_s, keys) {
        vg_req_kind kind;
        if (parse_kind(kind_s, im, &kind, err) < 0)
            return -1;
        if (!json_is_object(keys))
            return vg_fail(err, VG_E_INVALID, "watermark import: %s: %s: not an object", im->file, kind_s);
        json_object_foreach(keys, pkh_s, rec) {
            vg_pkh pkh;
            vg_wm_mark m;
            char where[128];
            snprintf(where, sizeof where, "%s.%s", kind_s, pkh_s);
            if (json_is_null(rec))
                continue;
            if (parse_pkh(pkh_s, im, &pkh, err) < 0 || parse_mark(rec, true, im, where, &m, err) < 0 ||
                put(im, &pkh, kind, &m, err) < 0)
                return -1;
        }
    }
    return 0;
}

static int import_file(vg_watermark *wm, const char *dir, const char *name, int version, size_t *count, vg_err *err)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return vg_fail(err, VG_E_INVALID, "watermark import: path too long in %s", dir);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    struct import im = {.wm = wm, .file = path};
    /* spec: signatory.md#4.4: "A JSON file whose name is not a valid chain id aborts startup." */
    char chain[64];
    size_t nlen = strlen(name) - 5, clen = 0;
    vg_err e = {0};
    if (nlen >= sizeof chain)
        return vg_fail(err, VG_E_INVALID, "watermark import: %s: file name is not a chain id", path);
    memcpy(chain, name, nlen);
    chain[nlen] = '\0';
    if (vg_b58check_decode(VG_B58_CHAIN_ID, chain, im.chain_id, sizeof im.chain_id, &clen, &e) < 0 || clen != 4)
        return vg_fail(err, VG_E_INVALID, "watermark import: %s: file name is not a chain id: %s", path, e.msg);
    json_t *root = vg_json_load_file(path, WM_MIGRATE_FILE_MAX, err);
    if (root == NULL)
        return vg_wrap(err, "watermark import");
    int rc;
    if (!json_is_object(root))
        rc = vg_fail(err, VG_E_INVALID, "watermark import: %s: top level is not an object", path);
    else if (version == V2)
        rc = import_v2(&im, root, err);
    else if (version == V1)
        rc = import_v1(&im, root, err);
    else
        rc = import_v0(&im, root, err);
    json_decref(root);
    if (rc == 0)
        VG_INFO("watermark import: %s: %zu record(s)", path, im.count);
    *count += im.count;
    return rc;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int import_dir(vg_watermark *wm, const char *dir, int version, size_t *count, vg_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark import: cannot read %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    /* readdir on a private DIR is thread-safe in glibc; readdir_r is deprecated. */
    /* cppcheck-suppress readdirCalled */
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        /* Signatory's temporary files ("watermark*") and anything else not *.json are not data. */
        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **p = realloc(names, ncap * sizeof *names);
            if (p == NULL) {
                rc = vg_fail(err, VG_E_UNAVAILABLE, "watermark import: out of memory");
                break;
            }
            names = p;
            cap = ncap;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = vg_fail(err, VG_E_UNAVAILABLE, "watermark import: out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n > 0)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = import_file(wm, dir, names[i], version, count, err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int wm_migrate_load(vg_watermark *wm, const char *base, char *source, size_t source_cap, size_t *count, vg_err *err)
{
    static const struct {
        const char *name;
        int version;
    } dirs[] = {{"watermark_v2", V2}, {"watermark_v1", V1}, {"watermark", V0}};
    source[0] = '\0';
    *count = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char dir[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", base, dirs[i].name) >= sizeof dir)
            return vg_fail(err, VG_E_INVALID, "base directory path is too long");
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        snprintf(source, source_cap, "%s", dir);
        return import_dir(wm, dir, dirs[i].version, count, err);
    }
    return 0;
}
