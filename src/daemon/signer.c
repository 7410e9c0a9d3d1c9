#include "daemon/signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/hex.h"
#include "common/log.h"
#include "common/secmem.h"
#include "daemon/metrics.h"

struct vg_signer {
    const vg_config *cfg;
    size_t n_vaults;
    vg_vault **vaults;
    vg_watermark *wm;
    /* Key table built once at startup, sorted by (type, hash) for lookup without touching vaults. */
    size_t n_keys;
    const vg_vault_key **keys;
};

static int pkh_cmp(const vg_pkh *a, const vg_pkh *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    return memcmp(a->hash, b->hash, sizeof a->hash);
}

static int key_sort_cmp(const void *a, const void *b)
{
    const vg_vault_key *ka = *(const vg_vault_key *const *)a, *kb = *(const vg_vault_key *const *)b;
    return pkh_cmp(&ka->pkh, &kb->pkh);
}

static const vg_vault_key *find_key(const vg_signer *s, const vg_pkh *pkh)
{
    size_t lo = 0, hi = s->n_keys;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = pkh_cmp(&s->keys[mid]->pkh, pkh);
        if (c == 0)
            return s->keys[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int build_key_table(vg_signer *s, vg_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n_vaults; i++)
        total += s->vaults[i]->n_keys;
    s->keys = calloc(total ? total : 1, sizeof *s->keys);
    if (s->keys == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    for (size_t i = 0; i < s->n_vaults; i++)
        for (size_t k = 0; k < s->vaults[i]->n_keys; k++)
            s->keys[s->n_keys++] = &s->vaults[i]->keys[k];
    qsort(s->keys, s->n_keys, sizeof *s->keys, key_sort_cmp);
    for (size_t i = 1; i < s->n_keys; i++)
        if (pkh_cmp(&s->keys[i - 1]->pkh, &s->keys[i]->pkh) == 0)
            return vg_fail(err, VG_E_INVALID, "key %s is present in vaults %s and %s: keep it in one vault only",
                           s->keys[i]->pkh_text, s->keys[i - 1]->vault->name, s->keys[i]->vault->name);
    return 0;
}

int vg_signer_open_keys(const vg_config *cfg, vg_signer **out, vg_err *err)
{
    vg_signer *s = calloc(1, sizeof *s);
    if (s == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    s->cfg = cfg;
    s->vaults = calloc(cfg->n_vaults ? cfg->n_vaults : 1, sizeof *s->vaults);
    if (s->vaults == NULL) {
        free(s);
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < cfg->n_vaults; i++) {
        if (vg_vault_open(&cfg->vaults[i], cfg->base_dir, &s->vaults[i], err) < 0) {
            vg_signer_free(s);
            return -1;
        }
        s->n_vaults++;
    }
    if (build_key_table(s, err) < 0) {
        vg_signer_free(s);
        return -1;
    }
    vg_signer_ready(s, false);
    *out = s;
    return 0;
}

int vg_signer_new(const vg_config *cfg, vg_signer **out, vg_err *err)
{
    if (vg_signer_open_keys(cfg, out, err) < 0)
        return -1;
    vg_signer *s = *out;
    if (vg_watermark_open_config(cfg->watermark_driver, cfg->base_dir, cfg->watermark_config, &s->wm, err) < 0) {
        vg_signer_free(s);
        *out = NULL;
        return -1;
    }
    return 0;
}

bool vg_signer_ready(vg_signer *s, bool probe)
{
    bool all = true;
    for (size_t i = 0; i < s->n_vaults; i++) {
        bool ready = vg_vault_ready(s->vaults[i], probe);
        char labels[200];
        snprintf(labels, sizeof labels, "vault=\"%s\",name=\"%s\"", s->vaults[i]->drv->display_name,
                 s->vaults[i]->name);
        vg_metrics_set("vault_ready", labels, ready ? 1 : 0);
        all = all && ready;
    }
    return all;
}

void vg_signer_free(vg_signer *s)
{
    if (s == NULL)
        return;
    if (s->wm != NULL)
        vg_watermark_close(s->wm);
    for (size_t i = 0; i < s->n_vaults; i++)
        vg_vault_close(s->vaults[i]);
    free(s->vaults);
    free(s->keys);
    free(s);
}

int vg_signing_version_parse(const char *v)
{
    if (v != NULL && v[0] != '\0' && v[1] == '\0' && v[0] >= '0' && v[0] <= '2')
        return v[0] - '0';
    return VG_SIGN_V2;
}

size_t vg_signer_key_count(const vg_signer *s) { return s->n_keys; }
const vg_vault_key *vg_signer_key_at(const vg_signer *s, size_t i) { return i < s->n_keys ? s->keys[i] : NULL; }
vg_watermark *vg_signer_watermark(vg_signer *s) { return s->wm; }

vg_vault *vg_signer_vault(vg_signer *s, const char *name)
{
    for (size_t i = 0; i < s->n_vaults; i++)
        if (strcmp(s->vaults[i]->name, name) == 0)
            return s->vaults[i];
    return NULL;
}

/* Key lookup for requests that need a policy entry (sign, PoP) — and, unlike Signatory, for
 * GET /keys too: keys not enabled in `tezos:` are not disclosed (spec §13 item 11). */
static int lookup(vg_signer *s, const vg_signer_caller *who, const char *pkh_text, vg_pkh *pkh,
                  const vg_policy **policy, const vg_vault_key **key, bool policy_first, vg_err *err)
{
    if (vg_pkh_parse(pkh_text, pkh, err) < 0)
        return -1;
    *policy = vg_config_policy(s->cfg, pkh);
    if (policy_first && *policy == NULL)
        return vg_fail(err, VG_E_FORBIDDEN, "%s is not listed in config", pkh_text);
    if (*policy != NULL && vg_policy_check_jwt_user(*policy, who != NULL ? who->jwt_user : NULL, err) < 0)
        return -1;
    *key = find_key(s, pkh);
    if (*key == NULL || *policy == NULL)
        return vg_fail(err, VG_E_NOTFOUND, "this key not found in any vault");
    return 0;
}

const vg_config *vg_signer_config(const vg_signer *s) { return s->cfg; }

int vg_signer_public_key(vg_signer *s, const char *pkh_text, char out[VG_B58_MAX], vg_err *err)
{
    return vg_signer_public_key_as(s, NULL, pkh_text, out, err);
}

int vg_signer_public_key_as(vg_signer *s, const vg_signer_caller *who, const char *pkh_text, char out[VG_B58_MAX],
                            vg_err *err)
{
    vg_pkh pkh;
    const vg_policy *policy;
    const vg_vault_key *key;
    if (lookup(s, who, pkh_text, &pkh, &policy, &key, false, err) < 0)
        return -1;
    snprintf(out, VG_B58_MAX, "%s", key->pk_text);
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_signed_ops(const vg_vault_key *key, const vg_request *req, const char *chain)
{
    char labels[512];
    const char *op = vg_req_kind_name(req->kind);
    if (req->kind != VG_REQ_GENERIC) {
        snprintf(labels, sizeof labels, "address=\"%s\",vault=\"%s\",op=\"%s\",kind=\"%s\",chain_id=\"%s\"",
                 key->pkh_text, key->vault->drv->display_name, op, op, chain);
        vg_metrics_inc("signing_ops_total", labels, 1);
        return;
    }
    for (size_t i = 0; i < req->n_ops; i++) {
        snprintf(labels, sizeof labels, "address=\"%s\",vault=\"%s\",op=\"%s\",kind=\"%s\",chain_id=\"%s\"",
                 key->pkh_text, key->vault->drv->display_name, op, vg_op_kind_name(req->ops[i].kind), chain);
        vg_metrics_inc("signing_ops_total", labels, 1);
    }
}

static void count_failure(const vg_vault_key *key, const char *chain, const vg_err *err)
{
    char labels[256];
    snprintf(labels, sizeof labels, "vault=\"%s\",code=\"%d\",chain_id=\"%s\"", key->vault->drv->display_name,
             vg_err_http_status(err->kind), chain);
    vg_metrics_inc("vault_sign_request_error_total", labels, 1);
}

static void count_watermark(const vg_vault_key *key, const vg_request *req, const char *chain, const char *backend,
                            const vg_err *err, double seconds)
{
    char labels[512];
    const char *kind = vg_req_kind_name(req->kind);
    snprintf(labels, sizeof labels, "result=\"%s\",backend=\"%s\",request_type=\"%s\"",
             err == NULL ? "success" : "rejected", backend, kind);
    vg_metrics_inc("watermark_operations_total", labels, 1);
    snprintf(labels, sizeof labels, "backend=\"%s\"", backend);
    vg_metrics_observe("watermark_operation_duration_seconds", labels, seconds);
    if (err != NULL) {
        char reason[VG_ERR_MSG_MAX + 32];
        vg_metrics_escape(err->kind == VG_E_CONFLICT ? "watermark validation failed" : "storage failure", reason,
                          sizeof reason);
        snprintf(labels, sizeof labels, "address=\"%s\",operation_type=\"%s\",chain_id=\"%s\",reason=\"%s\"",
                 key->pkh_text, kind, chain, reason);
        vg_metrics_inc("watermark_rejection_total", labels, 1);
    }
}

static void count_policy_violation(const vg_vault_key *key, const vg_err *err)
{
    /* The refused kind is the text between the first backtick and the apostrophe. */
    const char *open = strchr(err->msg, '`');
    const char *close = open != NULL ? strchr(open + 1, '\'') : NULL;
    if (strcmp(err->msg, "authentication required") == 0) {
        open = "`authentication'";
        close = open + 15;
    }
    if (open == NULL || close == NULL || strncmp(err->msg, "chain", 5) == 0)
        return;
    char kind[64];
    snprintf(kind, sizeof kind, "%.*s", (int)(close - open - 1), open + 1);
    /* spec: §3.3 step 2: client refusals count as violation_type="authentication" */
    if (strncmp(err->msg, "client `", 8) == 0)
        snprintf(kind, sizeof kind, "authentication");
    char labels[256];
    snprintf(labels, sizeof labels, "violation_type=\"%s\",address=\"%s\",operation_type=\"request\"", kind,
             key->pkh_text);
    vg_metrics_inc("policy_violation_total", labels, 1);
}

int vg_signer_sign(vg_signer *s, const char *pkh_text, const uint8_t *msg, size_t len, int version,
                   char sig_out[VG_B58_MAX], vg_err *err)
{
    return vg_signer_sign_as(s, NULL, pkh_text, msg, len, version, sig_out, err);
}

int vg_signer_sign_as(vg_signer *s, const vg_signer_caller *who, const char *pkh_text, const uint8_t *msg,
                      size_t len, int version, char sig_out[VG_B58_MAX], vg_err *err)
{
    double start = now_seconds();
    vg_pkh pkh;
    if (vg_pkh_parse(pkh_text, &pkh, err) < 0)
        return -1;
    const vg_policy *policy = vg_config_policy(s->cfg, &pkh);
    if (policy == NULL)
        return vg_fail(err, VG_E_FORBIDDEN, "%s is not listed in config", pkh_text);
    /* spec: §1.3 step 9, before the request is decoded */
    if (vg_policy_check_jwt_user(policy, who != NULL ? who->jwt_user : NULL, err) < 0) {
        VG_ERROR("refused pkh=%s: %s", pkh_text, err->msg);
        return -1;
    }

    vg_request *req = malloc(sizeof *req);
    if (req == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    int rc = -1;
    vg_wm_ticket *ticket = NULL;
    char chain[VG_B58_MAX] = "";
    const vg_vault_key *key = NULL;

    if (vg_request_decode(msg, len, version, req, err) < 0) {
        VG_ERROR("decode failed pkh=%s: %s", pkh_text, err->msg);
        goto out;
    }
    if ((key = find_key(s, &pkh)) == NULL) {
        vg_fail(err, VG_E_NOTFOUND, "this key not found in any vault");
        goto out;
    }
    bool consensus = vg_req_kind_is_consensus(req->kind);
    if (consensus)
        vg_b58check_encode(VG_B58_CHAIN_ID, req->chain_id, 4, chain);
    if (vg_policy_check_client(policy, req, who != NULL ? who->client : NULL, err) < 0) {
        count_policy_violation(key, err);
        VG_ERROR("policy refused pkh=%s request=%s: %s", pkh_text, vg_req_kind_name(req->kind), err->msg);
        goto out;
    }
    if (policy->log_payloads || vg_log_get_level() >= VG_LOG_DEBUG) {
        char *hex = malloc(2 * len + 1);
        if (hex != NULL) {
            vg_hex_encode(msg, len, hex);
            vg_log(policy->log_payloads ? VG_LOG_INFO : VG_LOG_DEBUG, "about to sign raw bytes pkh=%s raw=%s",
                   pkh_text, hex);
            free(hex);
        }
    }

    double wm_start = now_seconds();
    if (consensus && s->wm == NULL) {
        vg_fail(err, VG_E_INTERNAL, "no watermark store: this signer cannot sign consensus requests");
        goto out;
    }
    if (consensus) {
        vg_wm_mark mark = {.level = req->level, .round = req->round, .has_digest = true};
        vg_blake2b_256(msg, len, mark.digest);
        if (vg_wm_reserve(s->wm, req->chain_id, &pkh, req->kind, &mark, &ticket, err) < 0) {
            count_watermark(key, req, chain, vg_watermark_driver(s->wm), err, now_seconds() - wm_start);
            count_failure(key, chain, err);
            VG_ERROR("watermark refused pkh=%s request=%s chain=%s lvl=%d round=%d: %s", pkh_text,
                     vg_req_kind_name(req->kind), chain, req->level, req->round, err->msg);
            goto out;
        }
    }

    uint8_t sig[VG_SIG_MAX];
    size_t siglen = 0;
    if (vg_vault_sign(key->vault, key, msg, len, version, sig, &siglen, err) < 0) {
        if (ticket != NULL)
            vg_wm_abort(s->wm, ticket);
        ticket = NULL;
        count_failure(key, chain, err);
        VG_ERROR("vault %s failed to sign for %s: %s", key->vault->name, pkh_text, err->msg);
        goto out;
    }
    if (ticket != NULL) {
        /* The signature exists only in this stack frame until the new mark is durable. */
        int committed = vg_wm_commit(s->wm, ticket, err);
        ticket = NULL;
        count_watermark(key, req, chain, vg_watermark_driver(s->wm), committed < 0 ? err : NULL,
                        now_seconds() - wm_start);
        if (committed < 0) {
            vg_wipe(sig, sizeof sig);
            count_failure(key, chain, err);
            VG_ERROR("watermark commit failed pkh=%s: %s", pkh_text, err->msg);
            goto out;
        }
    }
    vg_signature_format(key->type, sig, siglen, sig_out);
    rc = 0;

    count_signed_ops(key, req, chain);
    char labels[512];
    double ms = (now_seconds() - start) * 1000.0;
    snprintf(labels, sizeof labels, "vault=\"%s\",address=\"%s\",op=\"%s\",chain_id=\"%s\"",
             key->vault->drv->display_name, pkh_text, vg_req_kind_name(req->kind), chain);
    vg_metrics_observe("vault_sign_request_duration_milliseconds", labels, ms);
    /* spec: §3.4 optional client_pkh (authorized keys) and, for JWT, the user */
    char caller[VG_B58_MAX + 160] = "";
    if (who != NULL && who->client != NULL) {
        char text[VG_B58_MAX];
        vg_pkh_format(who->client, text);
        snprintf(caller, sizeof caller, " client_pkh=%s", text);
    } else if (who != NULL && who->jwt_user != NULL) {
        snprintf(caller, sizeof caller, " user=%.128s", who->jwt_user);
    }
    if (consensus) {
        snprintf(labels, sizeof labels, "address=\"%s\",operation_type=\"%s\",chain_id=\"%s\",round=\"%d\"",
                 pkh_text, vg_req_kind_name(req->kind), chain, req->round);
        vg_metrics_inc("consensus_round_total", labels, 1);
        VG_INFO("signed %s pkh=%s chain=%s lvl=%d round=%d vault=%s%s", vg_req_kind_name(req->kind), pkh_text,
                chain, req->level, req->round, key->vault->name, caller);
    } else {
        VG_INFO("signed %s pkh=%s ops=%zu vault=%s%s", vg_req_kind_name(req->kind), pkh_text, req->n_ops,
                key->vault->name, caller);
    }
out:
    free(req);
    return rc;
}

int vg_signer_prove_possession(vg_signer *s, const char *pkh_text, char out[VG_B58_MAX], vg_err *err)
{
    return vg_signer_prove_possession_as(s, NULL, pkh_text, out, err);
}

int vg_signer_prove_possession_as(vg_signer *s, const vg_signer_caller *who, const char *pkh_text,
                                  char out[VG_B58_MAX], vg_err *err)
{
    vg_pkh pkh;
    const vg_policy *policy;
    const vg_vault_key *key;
    if (lookup(s, who, pkh_text, &pkh, &policy, &key, true, err) < 0)
        return -1;
    if (key->type != VG_KEY_BLS || key->vault->drv->prove_possession == NULL)
        return vg_fail(err, VG_E_INVALID, "proof of possession is not supported");
    if (!policy->allow_proof_of_possession) {
        VG_WARN("proof of possession requested for %s but not allowed: set allow_proof_of_possession: true",
                pkh_text);
        return vg_fail(err, VG_E_INVALID, "proof of possession is not allowed");
    }
    uint8_t sig[96];
    if (key->vault->drv->prove_possession(key->vault, key, sig, err) < 0)
        return -1;
    vg_signature_format(VG_KEY_BLS, sig, sizeof sig, out);
    return 0;
}
