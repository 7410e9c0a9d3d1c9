/* Per-key signing policy: evaluation of a decoded request (spec: shared/specs/signatory.md §3.3)
 * and the default policy (§3.2). Parsing and validation of the YAML live in config.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"

static const char *const ballot_names[3] = {"yay", "nay", "pass"};

void vg_policy_init_default(vg_policy *p)
{
    /* spec: §3.2 "pkh listed with a null value → default policy = allowed requests block,
     * preattestation, attestation (no attestation_with_dal, no generic, no pack), no operations,
     * no chain filter, PoP off, no payload logging, no client/JWT restriction." (§13 item 1) */
    memset(p, 0, sizeof *p);
    p->allowed_requests[VG_REQ_BLOCK] = true;
    p->allowed_requests[VG_REQ_PREATTESTATION] = true;
    p->allowed_requests[VG_REQ_ATTESTATION] = true;
    int n = vg_op_kind_count();
    p->allowed_ops = calloc(n > 0 ? (size_t)n : 1, sizeof *p->allowed_ops);
}

void vg_policy_free(vg_policy *p)
{
    if (p == NULL)
        return;
    free(p->allowed_ops);
    free(p->authorized_keys);
    for (size_t i = 0; i < p->n_jwt_users; i++)
        free(p->jwt_users[i]);
    free(p->jwt_users);
    memset(p, 0, sizeof *p);
}

static bool op_allowed(const vg_policy *p, const vg_op *op)
{
    if (op->kind < 0 || op->kind >= vg_op_kind_count())
        return false;
    if (p->allowed_ops != NULL && p->allowed_ops[op->kind])
        return true;
    /* spec: §3.3 "Ballots: the operation matches if the list contains `ballot` or `ballot:<yay|nay|pass>`" */
    return op->ballot >= 0 && op->ballot < 3 && p->ballot_allowed[op->ballot];
}

static int check_chain(const vg_policy *p, const vg_request *req, vg_err *err)
{
    /* spec: §3.3 step 1 "`allowed_chains` set and request has a chain"; only the consensus kinds
     * carry a chain id, generic and pack requests are not filtered. */
    if (p->n_chains == 0 || !vg_req_kind_is_consensus(req->kind))
        return 0;
    for (size_t i = 0; i < p->n_chains && i < VG_MAX_CHAINS; i++)
        if (memcmp(p->allowed_chains[i], req->chain_id, 4) == 0)
            return 0;
    char chain[VG_B58_MAX];
    vg_b58check_encode(VG_B58_CHAIN_ID, req->chain_id, 4, chain);
    return vg_fail(err, VG_E_FORBIDDEN, "chain `%s' is not allowed", chain);
}

static int check_client(const vg_policy *p, const vg_pkh *client, vg_err *err)
{
    /* spec: §3.3 step 2 */
    if (p->n_authorized_keys == 0)
        return 0;
    if (client == NULL)
        return vg_fail(err, VG_E_FORBIDDEN, "authentication required");
    for (size_t i = 0; i < p->n_authorized_keys; i++) {
        const vg_pkh *k = &p->authorized_keys[i].pkh;
        if (k->type == client->type && memcmp(k->hash, client->hash, sizeof k->hash) == 0)
            return 0;
    }
    char text[VG_B58_MAX];
    vg_pkh_format(client, text);
    return vg_fail(err, VG_E_FORBIDDEN, "client `%s' is not allowed", text);
}

int vg_policy_check_client(const vg_policy *p, const vg_request *req, const vg_pkh *client, vg_err *err)
{
    if (p == NULL)
        return vg_fail(err, VG_E_FORBIDDEN, "key is not listed in config");
    if (req == NULL || (unsigned)req->kind >= VG_REQ_KIND_COUNT)
        return vg_fail(err, VG_E_INTERNAL, "policy check without a request");
    if (check_chain(p, req, err) < 0 || check_client(p, client, err) < 0)
        return -1;
    /* spec: §3.3 step 3 "request kind ∉ allowed → request kind `<kind>' is not allowed" */
    if (!p->allowed_requests[req->kind])
        return vg_fail(err, VG_E_FORBIDDEN, "request kind `%s' is not allowed", vg_req_kind_name(req->kind));
    if (req->kind != VG_REQ_GENERIC)
        return 0;
    /* spec: §3.3 step 4 "generic only: for each operation in order, kind ∉ allowed → operation
     * `<kind>' is not allowed ... the reported kind is `ballot:<value>`" */
    for (size_t i = 0; i < req->n_ops && i < VG_OPS_MAX; i++) {
        const vg_op *op = &req->ops[i];
        if (op_allowed(p, op))
            continue;
        if (op->kind < 0 || op->kind >= vg_op_kind_count())
            return vg_fail(err, VG_E_FORBIDDEN, "operation `unknown' is not allowed");
        if (op->ballot >= 0 && op->ballot < 3)
            return vg_fail(err, VG_E_FORBIDDEN, "operation `%s:%s' is not allowed", vg_op_kind_name(op->kind),
                           ballot_names[op->ballot]);
        return vg_fail(err, VG_E_FORBIDDEN, "operation `%s' is not allowed", vg_op_kind_name(op->kind));
    }
    return 0;
}

int vg_policy_check_jwt_user(const vg_policy *p, const char *user, vg_err *err)
{
    /* spec: §1.3 step 9 / §3.3 "Before the filter: JWT user check (403 ``user `<u>' is not
     * authorized to access <pkh>``)". Upstream skips the check when no user is in context; vigil
     * refuses instead (a key restricted to users is never usable without a login). */
    if (p == NULL || p->n_jwt_users == 0)
        return 0;
    if (user == NULL)
        return vg_fail(err, VG_E_FORBIDDEN, "authentication required");
    for (size_t i = 0; i < p->n_jwt_users; i++)
        if (p->jwt_users[i] != NULL && strcmp(p->jwt_users[i], user) == 0)
            return 0;
    return vg_fail(err, VG_E_FORBIDDEN, "user `%.100s' is not authorized to access %s", user, p->pkh_text);
}

int vg_policy_check(const vg_policy *p, const vg_request *req, vg_err *err)
{
    return vg_policy_check_client(p, req, NULL, err);
}

/* Bounded appender: keeps *len < cap and the buffer NUL-terminated. */
static void put(char *out, size_t cap, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
    if (cap == 0 || *len >= cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *len += (size_t)n;
    if (*len > cap - 1)
        *len = cap - 1;
}

size_t vg_policy_describe(const vg_policy *p, char *out, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return 0;
    out[0] = '\0';
    if (p == NULL) {
        put(out, cap, &len, "not listed");
        return len;
    }
    bool any = false;
    for (int k = 0; k < VG_REQ_KIND_COUNT; k++) {
        if (!p->allowed_requests[k])
            continue;
        put(out, cap, &len, "%s%s", any ? ", " : "allow ", vg_req_kind_name((vg_req_kind)k));
        any = true;
    }
    if (!any)
        put(out, cap, &len, "allow nothing");
    if (p->allowed_requests[VG_REQ_GENERIC]) {
        bool ops = false;
        int n = vg_op_kind_count();
        for (int i = 0; i < n; i++) {
            if (p->allowed_ops == NULL || !p->allowed_ops[i])
                continue;
            put(out, cap, &len, "%s%s", ops ? ", " : "; generic: ", vg_op_kind_name(i));
            ops = true;
        }
        for (int b = 0; b < 3; b++) {
            int ballot = vg_op_kind_lookup("ballot");
            if (!p->ballot_allowed[b] || (ballot >= 0 && p->allowed_ops != NULL && p->allowed_ops[ballot]))
                continue;
            put(out, cap, &len, "%sballot:%s", ops ? ", " : "; generic: ", ballot_names[b]);
            ops = true;
        }
        if (!ops)
            put(out, cap, &len, "; generic: no operations");
    }
    for (size_t i = 0; i < p->n_chains && i < VG_MAX_CHAINS; i++) {
        char chain[VG_B58_MAX];
        vg_b58check_encode(VG_B58_CHAIN_ID, p->allowed_chains[i], 4, chain);
        put(out, cap, &len, "%s%s", i == 0 ? "; chains: " : ", ", chain);
    }
    if (p->allow_proof_of_possession)
        put(out, cap, &len, "; proof of possession");
    if (p->log_payloads)
        put(out, cap, &len, "; log payloads");
    if (p->n_authorized_keys > 0)
        put(out, cap, &len, "; clients: %zu", p->n_authorized_keys);
    if (p->n_jwt_users > 0)
        put(out, cap, &len, "; jwt users: %zu", p->n_jwt_users);
    return len;
}
