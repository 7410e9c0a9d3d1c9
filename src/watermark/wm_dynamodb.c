/* Watermark driver "aws" (alias "dynamodb"): the marks of several signers in one DynamoDB table,
 * in Signatory's layout, so that no two signers sharing the table ever sign conflicting consensus
 * operations (docs/watermarks.md, "DynamoDB driver").
 *
 * spec: shared/specs/signatory.md#4.6: "item: idx = "<b58 chain id>/<b58 pkh>" (S), request = kind
 * (S), lvl (N), round (N), digest (the vh… hash ... stored as a String S)".
 *
 * Mapping onto reserve → sign → commit: reserve is the in-memory check of watermark.c (a fast
 * local refusal, and it serialises this process's own requests per key); the authoritative check is
 * the conditional write done here by commit, before the signature may leave. A write whose
 * condition fails is a 409 (the caller discards the signature); any other failure is a 503. Unlike
 * the file driver a failed write does not poison the key: the table, not this process, holds the
 * truth, and the next request simply tries again. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "aws/credentials.h"
#include "aws/dynamodb.h"
#include "common/log.h"
#include "watermark/wm_internal.h"

#define DEFAULT_TABLE "watermark"
#define TABLE_ACTIVE_WAIT_MS (120 * 1000L)

struct ddb_wm {
    vg_aws_credentials *creds;
    vg_ddb *ddb;
    char table[256];
    bool create_table;
    json_t *table_spec;
    pthread_mutex_t create_lock;
};

/* ---- items --------------------------------------------------------------------------------- */

static void idx_of(const struct wm_entry *e, char *out, size_t cap)
{
    char chain[VG_B58_MAX], pkh[VG_B58_MAX];
    vg_b58check_encode(VG_B58_CHAIN_ID, e->chain_id, 4, chain);
    vg_pkh_format(&e->pkh, pkh);
    snprintf(out, cap, "%s/%s", chain, pkh);
}

static json_t *num(int32_t v)
{
    char b[16];
    snprintf(b, sizeof b, "%d", (int)v);
    return json_pack("{s:s}", "N", b);
}

static bool parse_int32_attr(const json_t *item, const char *name, int32_t *out)
{
    const char *s = json_string_value(json_object_get(json_object_get(item, name), "N"));
    if (s == NULL)
        return false;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

/* A stored item as a mark; false if it has no usable lvl/round. */
static bool item_mark(const json_t *item, vg_wm_mark *m)
{
    memset(m, 0, sizeof *m);
    if (!json_is_object(item) || !parse_int32_attr(item, "lvl", &m->level) ||
        !parse_int32_attr(item, "round", &m->round))
        return false;
    const char *d = json_string_value(json_object_get(json_object_get(item, "digest"), "S"));
    size_t len = 0;
    vg_err ignored;
    if (d != NULL && vg_b58check_decode(VG_B58_VALUE_HASH, d, m->digest, sizeof m->digest, &len, &ignored) == 0 &&
        len == 32)
        m->has_digest = true;
    else
        memset(m->digest, 0, sizeof m->digest);
    return true;
}

/* spec: shared/specs/signatory.md#13 item 6: "In DynamoDB add OR (lvl = :new_lvl AND round =
 * :new_round AND digest = :new_digest) to the condition." */
static const char COND_DIGEST[] = "attribute_not_exists(#i) OR #l < :l OR (#l = :l AND #r < :r) OR "
                                  "(#l = :l AND #r = :r AND #d = :d)";
static const char COND_NO_DIGEST[] = "attribute_not_exists(#i) OR #l < :l OR (#l = :l AND #r < :r)";

struct write_req {
    json_t *item, *names, *values;
    const char *cond;
};

static void write_req_free(struct write_req *w)
{
    json_decref(w->item);
    json_decref(w->names);
    json_decref(w->values);
}

static int build_write(const struct wm_slot *slot, const vg_wm_mark *mark, struct write_req *w, vg_err *err)
{
    char idx[2 * VG_B58_MAX + 2], vh[VG_B58_MAX];
    idx_of(slot->entry, idx, sizeof idx);
    memset(w, 0, sizeof *w);
    w->item = json_pack("{s:{s:s}, s:{s:s}, s:o, s:o}", "idx", "S", idx, "request", "S",
                        vg_req_kind_name(slot->kind), "lvl", num(mark->level), "round", num(mark->round));
    w->names = json_pack("{s:s, s:s, s:s}", "#i", "idx", "#l", "lvl", "#r", "round");
    w->values = json_pack("{s:o, s:o}", ":l", num(mark->level), ":r", num(mark->round));
    w->cond = COND_NO_DIGEST;
    if (w->item != NULL && w->names != NULL && w->values != NULL && mark->has_digest) {
        vg_b58check_encode(VG_B58_VALUE_HASH, mark->digest, 32, vh);
        json_object_set_new(w->item, "digest", json_pack("{s:s}", "S", vh));
        json_object_set_new(w->names, "#d", json_string("digest"));
        json_object_set_new(w->values, ":d", json_pack("{s:s}", "S", vh));
        w->cond = COND_DIGEST;
    }
    if (w->item == NULL || w->names == NULL || w->values == NULL) {
        write_req_free(w);
        return vg_fail(err, VG_E_UNAVAILABLE, "watermark storage failure: out of memory");
    }
    return 0;
}

/* TransactItems for the attestation class: Put own record + ConditionCheck on the sibling.
 * spec: shared/specs/signatory.md#13 item 7: "in DynamoDB check the sibling item in the same
 * transaction, e.g. TransactWriteItems with a ConditionCheck". */
static json_t *build_transaction(const struct ddb_wm *s, const struct wm_slot *sibling, const struct write_req *w)
{
    json_t *key = json_pack("{s:O, s:{s:s}}", "idx", json_object_get(w->item, "idx"), "request", "S",
                            vg_req_kind_name(sibling->kind));
    if (key == NULL)
        return NULL;
    return json_pack("[{s:{s:s, s:O, s:s, s:O, s:O, s:s}}, {s:{s:s, s:o, s:s, s:O, s:O, s:s}}]", "Put", "TableName",
                     s->table, "Item", w->item, "ConditionExpression", w->cond, "ExpressionAttributeNames", w->names,
                     "ExpressionAttributeValues", w->values, "ReturnValuesOnConditionCheckFailure", "ALL_OLD",
                     "ConditionCheck", "TableName", s->table, "Key", key, "ConditionExpression", w->cond,
                     "ExpressionAttributeNames", w->names, "ExpressionAttributeValues", w->values,
                     "ReturnValuesOnConditionCheckFailure", "ALL_OLD");
}

/* ---- conflicts ----------------------------------------------------------------------------- */

static bool higher(const vg_wm_mark *a, const vg_wm_mark *b)
{
    if (a->level != b->level)
        return a->level > b->level;
    return a->round > b->round;
}

/* The table knows better than this process: adopt its mark when it is not lower than ours, so the
 * next request of this key is refused (or allowed, for the identical retry) locally. */
static void adopt(struct wm_slot *slot, const vg_wm_mark *stored)
{
    struct wm_entry *e = slot->entry;
    pthread_mutex_lock(&e->lock);
    if (!slot->has_committed || !higher(&slot->committed, stored)) {
        slot->committed = *stored;
        slot->has_committed = true;
    }
    vg_wm_mark best = slot->committed;
    for (const struct vg_wm_ticket *o = slot->inflight; o != NULL; o = o->next) {
        if (higher(&o->mark, &best))
            best = o->mark;
    }
    slot->cur = best;
    slot->has_cur = true;
    pthread_mutex_unlock(&e->lock);
}

/* Finds the stored marks of the class after a failed condition: from the error answer when the
 * server returned the old items, else by consistent reads. Fills the refusal message. */
static int conflict(struct ddb_wm *s, struct wm_slot *slot, struct wm_slot *sibling, const vg_wm_mark *mark,
                    const vg_ddb_error *de, vg_err *err)
{
    struct wm_slot *slots[2] = {slot, sibling};
    int n = sibling != NULL ? 2 : 1;
    bool have[2] = {false, false};
    vg_wm_mark stored[2];
    json_t *reasons = json_object_get(de->body, "CancellationReasons");
    for (int i = 0; i < n; i++) {
        const json_t *item = sibling != NULL ? json_object_get(json_array_get(reasons, (size_t)i), "Item")
                                             : json_object_get(de->body, "Item");
        have[i] = item_mark(item, &stored[i]);
    }
    if (!have[0] && (n == 1 || !have[1])) {
        char idx[2 * VG_B58_MAX + 2];
        idx_of(slot->entry, idx, sizeof idx);
        for (int i = 0; i < n; i++) {
            json_t *key = json_pack("{s:{s:s}, s:{s:s}}", "idx", "S", idx, "request", "S",
                                    vg_req_kind_name(slots[i]->kind));
            json_t *item = NULL;
            vg_err ignored;
            if (key != NULL && vg_ddb_get_item(s->ddb, s->table, key, true, &item, NULL, &ignored) == 0)
                have[i] = item_mark(item, &stored[i]);
            json_decref(key);
            json_decref(item);
        }
    }
    int culprit = -1;
    for (int i = 0; i < n; i++) {
        if (have[i]) {
            adopt(slots[i], &stored[i]);
            if (culprit < 0 && !vg_wm_rule_allows(&stored[i], mark))
                culprit = i;
        }
    }
    if (culprit < 0) /* stored item changed again since, or unreadable: still a refusal */
        return vg_fail(err, VG_E_CONFLICT,
                       "watermark validation failed: requested %s level %d round %d, refused by the shared "
                       "DynamoDB table",
                       vg_req_kind_name(slot->kind), (int)mark->level, (int)mark->round);
    const vg_wm_mark *st = &stored[culprit];
    return vg_fail(err, VG_E_CONFLICT,
                   "watermark validation failed: requested %s level %d round %d, stored %s level %d round %d%s "
                   "(shared DynamoDB table)",
                   vg_req_kind_name(slot->kind), (int)mark->level, (int)mark->round,
                   vg_req_kind_name(slots[culprit]->kind), (int)st->level, (int)st->round,
                   st->level == mark->level && st->round == mark->round ? " with another payload" : "");
}

/* ---- driver -------------------------------------------------------------------------------- */

static int ensure_table(struct ddb_wm *s, vg_err *err)
{
    pthread_mutex_lock(&s->create_lock);
    bool created = false;
    vg_ddb_error de = {0};
    int rc = vg_ddb_ensure_table(s->ddb, s->table_spec, s->create_table, TABLE_ACTIVE_WAIT_MS, &created, &de, err);
    vg_ddb_error_clear(&de);
    pthread_mutex_unlock(&s->create_lock);
    if (rc == 0)
        VG_INFO("DynamoDB watermark backend %s table '%s'", created ? "created" : "using existing", s->table);
    return rc;
}

static int write_once(struct ddb_wm *s, const struct wm_slot *sibling, const struct write_req *w, vg_ddb_error *de,
                      vg_err *err)
{
    if (sibling == NULL)
        return vg_ddb_put_item(s->ddb, s->table, w->item, w->cond, w->names, w->values, de, err);
    json_t *tx = build_transaction(s, sibling, w);
    if (tx == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    int rc = vg_ddb_transact_write(s->ddb, tx, de, err);
    json_decref(tx);
    return rc;
}

static int ddb_persist(vg_watermark *wm, struct wm_slot *slot, const vg_wm_mark *mark, vg_err *err)
{
    struct ddb_wm *s = wm->impl;
    struct wm_entry *e = slot->entry;
    struct wm_slot *sibling = e->nmembers == 2 ? &e->slot[1 - wm_kind_member(slot->kind)] : NULL;
    struct write_req w;
    if (build_write(slot, mark, &w, err) < 0)
        return -1;
    vg_ddb_error de = {0};
    int rc = write_once(s, sibling, &w, &de, err);
    if (rc < 0 && strcmp(de.type, "ResourceNotFoundException") == 0 && s->create_table) {
        /* the table vanished or was never created (DynamoDB unreachable at startup) */
        if (ensure_table(s, err) == 0)
            rc = write_once(s, sibling, &w, &de, err);
    }
    if (rc == 0) {
        atomic_fetch_add(&wm->st.records_written, 1);
    } else if (de.condition_failed) {
        rc = conflict(s, slot, sibling, mark, &de, err);
    } else {
        atomic_fetch_add(&wm->st.io_errors, 1);
        if (strcmp(de.type, "ResourceNotFoundException") == 0)
            vg_fail(err, VG_E_UNAVAILABLE, "watermark storage failure: DynamoDB table `%.64s` does not exist%s",
                    s->table, s->create_table ? "" : " (create_table is false)");
        else
            vg_wrap(err, "watermark storage failure");
        if (err != NULL)
            err->kind = VG_E_UNAVAILABLE;
    }
    vg_ddb_error_clear(&de);
    write_req_free(&w);
    return rc;
}

static void ddb_close(vg_watermark *wm)
{
    struct ddb_wm *s = wm->impl;
    if (s == NULL)
        return;
    vg_ddb_free(s->ddb);
    vg_aws_credentials_free(s->creds);
    json_decref(s->table_spec);
    pthread_mutex_destroy(&s->create_lock);
    free(s);
    wm->impl = NULL;
}

static int ddb_open(vg_watermark *wm, const char *dir, vg_err *err)
{
    (void)dir;
    struct ddb_wm *s = calloc(1, sizeof *s);
    if (s == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    pthread_mutex_init(&s->create_lock, NULL);
    wm->impl = s;
    vg_ddb_config cfg;
    if (vg_ddb_config_parse(wm->open_config, "watermark.config", DEFAULT_TABLE, &cfg, err) < 0 ||
        vg_aws_credentials_new(&cfg.creds, &s->creds, err) < 0 || vg_ddb_new(&cfg.ddb, s->creds, &s->ddb, err) < 0) {
        vg_wrap(err, "watermark driver aws");
        ddb_close(wm);
        return -1;
    }
    snprintf(s->table, sizeof s->table, "%s", cfg.table);
    s->create_table = cfg.create_table;
    /* spec: shared/specs/signatory.md#4.6: "CreateTable with attributes idx (S, HASH key) and request
     * (S, RANGE key)". On-demand capacity instead of Signatory's 5/5: a burst of a few signers
     * never hits provisioned-throughput throttling. */
    s->table_spec = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:[{s:s, s:s}, {s:s, s:s}], s:s}", "TableName",
                              s->table, "AttributeDefinitions", "AttributeName", "idx", "AttributeType", "S",
                              "AttributeName", "request", "AttributeType", "S", "KeySchema", "AttributeName", "idx",
                              "KeyType", "HASH", "AttributeName", "request", "KeyType", "RANGE", "BillingMode",
                              "PAY_PER_REQUEST");
    if (s->table_spec == NULL) {
        ddb_close(wm);
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    }
    VG_INFO("watermark: DynamoDB table '%s' at %s (region %s, credentials from %s, create_table %s)", s->table,
            vg_ddb_endpoint(s->ddb), vg_ddb_region(s->ddb), vg_aws_credentials_source(s->creds),
            s->create_table ? "true" : "false");
    /* The daemon starts even when DynamoDB is unreachable or the table is missing: consensus
     * requests then answer 503 until it is fixed, and other signers keep the table's marks. */
    vg_err e = {0};
    if (ensure_table(s, &e) < 0)
        VG_ERROR("watermark: %s; consensus requests will answer 503 until this is fixed", e.msg);
    return 0;
}

const struct wm_driver wm_driver_dynamodb = {
    .name = "aws", .alias = "dynamodb", .open = ddb_open, .close = ddb_close, .persist = ddb_persist};
