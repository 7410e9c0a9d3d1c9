/* Nitro key storage in DynamoDB (see key_storage_dynamodb.h). */
#include "aws/key_storage_dynamodb.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "aws/credentials.h"
#include "aws/dynamodb.h"
#include "common/log.h"

#define TABLE_ACTIVE_WAIT_MS (120 * 1000L)

struct vg_key_storage_dynamodb {
    vg_aws_credentials *creds;
    vg_ddb *ddb;
    char table[256];
};

const char *vg_key_storage_dynamodb_table(const vg_key_storage_dynamodb *ks) { return ks->table; }

void vg_key_storage_dynamodb_close(vg_key_storage_dynamodb *ks)
{
    if (ks == NULL)
        return;
    vg_ddb_free(ks->ddb);
    vg_aws_credentials_free(ks->creds);
    free(ks);
}

int vg_key_storage_dynamodb_open(const json_t *config, vg_key_storage_dynamodb **out, vg_err *err)
{
    if (out == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_key_storage_dynamodb_open: no output");
    *out = NULL;
    vg_ddb_config cfg;
    if (vg_ddb_config_parse(config, "storage.config", VG_KEY_STORAGE_DEFAULT_TABLE, &cfg, err) < 0)
        return -1;
    vg_key_storage_dynamodb *ks = calloc(1, sizeof *ks);
    if (ks == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    snprintf(ks->table, sizeof ks->table, "%s", cfg.table);
    if (vg_aws_credentials_new(&cfg.creds, &ks->creds, err) < 0 || vg_ddb_new(&cfg.ddb, ks->creds, &ks->ddb, err) < 0) {
        vg_key_storage_dynamodb_close(ks);
        return vg_wrap(err, "key storage dynamodb");
    }
    /* spec: shared/specs/signatory.md#7.11: "DynamoDB table created if missing, hash key pkh (S)". */
    json_t *spec = json_pack("{s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:s}", "TableName", ks->table,
                             "AttributeDefinitions", "AttributeName", "pkh", "AttributeType", "S", "KeySchema",
                             "AttributeName", "pkh", "KeyType", "HASH", "BillingMode", "PAY_PER_REQUEST");
    bool created = false;
    int rc = spec != NULL ? vg_ddb_ensure_table(ks->ddb, spec, cfg.create_table, TABLE_ACTIVE_WAIT_MS, &created,
                                                NULL, err)
                          : vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    json_decref(spec);
    if (rc < 0) {
        vg_key_storage_dynamodb_close(ks);
        return vg_wrap(err, "key storage dynamodb");
    }
    VG_INFO("key storage: DynamoDB %s table '%s' at %s", created ? "created" : "using existing", ks->table,
            vg_ddb_endpoint(ks->ddb));
    *out = ks;
    return 0;
}

static bool pkh_ok(const char *pkh, size_t n)
{
    if (n == 0 || n >= VG_KEY_STORAGE_PKH_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (pkh[i] <= ' ' || pkh[i] > '~')
            return false;
    }
    return true;
}

int vg_key_storage_dynamodb_put(vg_key_storage_dynamodb *ks, const char *pkh, const uint8_t *blob, size_t len,
                                vg_err *err)
{
    if (ks == NULL || pkh == NULL || blob == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_key_storage_dynamodb_put: missing argument");
    if (!pkh_ok(pkh, strlen(pkh)))
        return vg_fail(err, VG_E_INVALID, "key storage: unusable key hash");
    if (len == 0 || len > VG_KEY_STORAGE_BLOB_MAX)
        return vg_fail(err, VG_E_INVALID, "key storage: blob of %zu bytes (1..%d allowed)", len,
                       VG_KEY_STORAGE_BLOB_MAX);
    size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    if (b64 == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    sodium_bin2base64(b64, b64len, blob, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *item = json_pack("{s:{s:s}, s:{s:s}}", "pkh", "S", pkh, "value", "B", b64);
    free(b64);
    if (item == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    int rc = vg_ddb_put_item(ks->ddb, ks->table, item, NULL, NULL, NULL, NULL, err);
    json_decref(item);
    return rc < 0 ? vg_wrap(err, "key storage: storing %s", pkh) : 0;
}

struct list_ctx {
    vg_key_storage_entry *v;
    size_t n, cap;
};

static int collect(const json_t *item, void *ctx, vg_err *err)
{
    struct list_ctx *l = ctx;
    const json_t *p = json_object_get(json_object_get(item, "pkh"), "S");
    const json_t *b = json_object_get(json_object_get(item, "value"), "B");
    if (!json_is_string(p) || !json_is_string(b) || !pkh_ok(json_string_value(p), json_string_length(p)))
        return vg_fail(err, VG_E_INVALID, "key storage: item %zu has no usable pkh (S) and value (B)", l->n + 1);
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        vg_key_storage_entry *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    vg_key_storage_entry *e = &l->v[l->n];
    memset(e, 0, sizeof *e);
    snprintf(e->pkh, sizeof e->pkh, "%s", json_string_value(p));
    size_t blen = json_string_length(b);
    e->blob = malloc(blen / 4 * 3 + 3);
    if (e->blob == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    if (sodium_base642bin(e->blob, blen / 4 * 3 + 3, json_string_value(b), blen, NULL, &e->blob_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        e->blob_len == 0) {
        free(e->blob);
        return vg_fail(err, VG_E_INVALID, "key storage: value of %s is not base64", e->pkh);
    }
    l->n++;
    return 0;
}

int vg_key_storage_dynamodb_list(vg_key_storage_dynamodb *ks, int page_limit, vg_key_storage_entry **out, size_t *n,
                                 vg_err *err)
{
    if (out != NULL)
        *out = NULL;
    if (n != NULL)
        *n = 0;
    if (ks == NULL || out == NULL || n == NULL)
        return vg_fail(err, VG_E_INTERNAL, "vg_key_storage_dynamodb_list: missing argument");
    json_t *req = json_pack("{s:s, s:b}", "TableName", ks->table, "ConsistentRead", 1);
    if (req == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    if (page_limit > 0)
        json_object_set_new(req, "Limit", json_integer(page_limit));
    struct list_ctx l = {0};
    size_t pages = 0;
    int rc = vg_ddb_paginate(ks->ddb, "Scan", req, collect, &l, &pages, NULL, err);
    json_decref(req);
    if (rc != 0) {
        vg_key_storage_entries_free(l.v, l.n);
        VG_ERROR("key storage: listing table '%s' failed after %zu page(s): %s", ks->table, pages,
                 err != NULL ? err->msg : "");
        return vg_wrap(err, "key storage: listing table `%s`", ks->table);
    }
    VG_INFO("key storage: %zu key(s) in table '%s' (%zu page%s)", l.n, ks->table, pages, pages == 1 ? "" : "s");
    *out = l.v;
    *n = l.n;
    return 0;
}

void vg_key_storage_entries_free(vg_key_storage_entry *e, size_t n)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(e[i].blob);
    free(e);
}
