/* Policy evaluation (spec §3.3) and startup validation (§3.2), against
 * ../shared/vectors/signatory/policy_cases.json plus vigil-specific cases. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/hex.h"
#include "daemon/config.h"
#include "testlib.h"

#define TZ1 "tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q"
#define ALICE_PK "edpkvGfYw3LyB1UcCahKQk4rF2tvbMUk8GFiTuMjL75uGXrpvKXhjn"
#define ALICE_PKH "tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb"
#define BOB_PKH "tz1aSkwEot3L2kmUvcoxzjMomb9mvBNuzFK6"

static json_t *cases_root;

static const char *message_by_title(const char *title)
{
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(cases_root, "sign_policy_cases"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "title")), title) == 0)
            return json_string_value(json_object_get(c, "message_hex"));
    }
    return NULL;
}

static bool decode(const char *hex, vg_request *req)
{
    size_t len = 0;
    uint8_t *msg = hex != NULL ? vt_unhex(hex, &len) : NULL;
    vg_err err = {0};
    bool ok = msg != NULL && vg_request_decode(msg, len, 2, req, &err) == 0;
    CHECK_MSG(ok, "decode failed: %s", err.msg);
    free(msg);
    return ok;
}

/* The runtime policy of a sign_policy_case: names taken literally, as upstream's runtime lists
 * (a legacy name such as `endorsement` simply never matches). */
static void runtime_policy(json_t *reqs, json_t *ops, vg_policy *p)
{
    memset(p, 0, sizeof *p);
    p->allowed_ops = calloc((size_t)vg_op_kind_count(), sizeof *p->allowed_ops);
    size_t i;
    json_t *v;
    json_array_foreach (reqs, i, v) {
        for (int k = 0; k < VG_REQ_KIND_COUNT; k++)
            if (strcmp(json_string_value(v), vg_req_kind_name((vg_req_kind)k)) == 0)
                p->allowed_requests[k] = true;
    }
    json_array_foreach (ops, i, v) {
        const char *name = json_string_value(v);
        static const char *const ballots[3] = {"ballot:yay", "ballot:nay", "ballot:pass"};
        for (int b = 0; b < 3; b++)
            if (strcmp(name, ballots[b]) == 0)
                p->ballot_allowed[b] = true;
        int idx = vg_op_kind_lookup(name);
        if (idx >= 0)
            p->allowed_ops[idx] = true;
        if (idx >= 0 && strcmp(name, "ballot") == 0)
            p->ballot_allowed[0] = p->ballot_allowed[1] = p->ballot_allowed[2] = true;
    }
}

static void test_sign_policy_cases(void)
{
    size_t i;
    json_t *c;
    int n = 0;
    json_array_foreach (json_object_get(cases_root, "sign_policy_cases"), i, c) {
        const char *title = json_string_value(json_object_get(c, "title"));
        vg_request req;
        if (!decode(json_string_value(json_object_get(c, "message_hex")), &req)) {
            fprintf(stderr, "  in case %s\n", title);
            continue;
        }
        vg_policy p;
        runtime_policy(json_object_get(c, "allowed_requests"), json_object_get(c, "allowed_ops"), &p);
        vg_err err = {0};
        int rc = vg_policy_check(&p, &req, &err);
        json_t *want = json_object_get(c, "expected_error");
        if (json_is_null(want)) {
            CHECK_MSG(rc == 0, "%s: %s", title, err.msg);
        } else {
            CHECK_MSG(rc < 0 && err.kind == VG_E_FORBIDDEN && strcmp(err.msg, json_string_value(want)) == 0,
                      "%s: want '%s' got rc=%d '%s'", title, json_string_value(want), rc, err.msg);
            CHECK(vg_err_http_status(err.kind) == 403);
        }
        vg_policy_free(&p);
        n++;
    }
    CHECK(n >= 29);
}

static int parse_one(const char *yaml, vg_config *cfg, vg_err *err)
{
    /* warnings (aliases, deprecations) are expected here; keep the test output readable */
    fflush(stderr);
    int saved = dup(2);
    FILE *null = fopen("/dev/null", "w");
    dup2(fileno(null), 2);
    int rc = vg_config_parse(yaml, strlen(yaml), "vigil.yaml", cfg, err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(null);
    return rc;
}

/* A YAML policy for TZ1 from an `allow` JSON object ({kind: null | [ops]}) and optional chains. */
static char *policy_yaml(json_t *allow, json_t *chains)
{
    size_t cap = 4096, len = 0;
    char *y = malloc(cap);
    len += (size_t)snprintf(y + len, cap - len, "tezos:\n  " TZ1 ":\n    allow:\n");
    const char *k;
    json_t *v;
    json_object_foreach (allow, k, v) {
        len += (size_t)snprintf(y + len, cap - len, "      %s:\n", k);
        size_t i;
        json_t *op;
        json_array_foreach (v, i, op)
            len += (size_t)snprintf(y + len, cap - len, "        - '%s'\n", json_string_value(op));
    }
    if (chains != NULL) {
        len += (size_t)snprintf(y + len, cap - len, "    allowed_chains:\n");
        size_t i;
        json_t *ch;
        json_array_foreach (chains, i, ch)
            len += (size_t)snprintf(y + len, cap - len, "      - %s\n", json_string_value(ch));
    }
    return y;
}

static void test_prepare_policy_validation(void)
{
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(cases_root, "prepare_policy_validation_cases"), i, c) {
        char *y = policy_yaml(json_object_get(c, "allow"), NULL);
        vg_config cfg;
        vg_err err = {0};
        int rc = parse_one(y, &cfg, &err);
        json_t *want = json_object_get(c, "expected_error");
        if (want == NULL || json_is_null(want)) {
            CHECK_MSG(rc == 0, "case %zu: %s", i, err.msg);
        } else {
            /* exact upstream text after vigil's "<file>:<line>: tezos.<pkh>: " prefix */
            const char *msg = strstr(err.msg, ": tezos." TZ1 ": ");
            CHECK_MSG(rc < 0 && msg != NULL && strcmp(msg + strlen(": tezos." TZ1 ": "), json_string_value(want)) == 0,
                      "case %zu: want '%s' got '%s'", i, json_string_value(want), rc < 0 ? err.msg : "success");
        }
        json_t *then = json_object_get(c, "then_sign");
        if (rc == 0 && then != NULL) {
            static const struct {
                const char *ballot, *title;
            } msgs[] = {{"yay", "ballot yay not allowed"},
                        {"nay", "ballot nay allowed"},
                        {"pass", "ballot pass with ballot:nay,ballot:pass"}};
            size_t j;
            json_t *t;
            json_array_foreach (then, j, t) {
                const char *ballot = json_string_value(json_object_get(t, "ballot"));
                const char *hex = NULL;
                int bi = -1;
                for (int m = 0; m < 3; m++)
                    if (strcmp(msgs[m].ballot, ballot) == 0) {
                        hex = message_by_title(msgs[m].title);
                        bi = m;
                    }
                vg_request req;
                if (!decode(hex, &req))
                    continue;
                CHECK(req.kind == VG_REQ_GENERIC && req.n_ops == 1 && req.ops[0].ballot == bi);
                vg_err e2 = {0};
                int r2 = vg_policy_check(&cfg.policies[0], &req, &e2);
                json_t *w2 = json_object_get(t, "expected_error");
                if (json_is_null(w2))
                    CHECK_MSG(r2 == 0, "ballot %s: %s", ballot, e2.msg);
                else
                    CHECK_MSG(r2 < 0 && strcmp(e2.msg, json_string_value(w2)) == 0, "ballot %s: got '%s'", ballot,
                              e2.msg);
            }
        }
        if (rc == 0)
            vg_config_free(&cfg);
        free(y);
    }
}

static void test_allowed_chains_cases(void)
{
    /* the cases describe their messages; these are the same bytes in sign_policy_cases */
    static const struct {
        const char *prefix, *title;
    } msgs[] = {{"block", "block ok"},
                {"same block", "block ok"},
                {"generic transaction", "transaction ok"},
                {"attestation", "endorsement ok"}};
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(cases_root, "allowed_chains_cases"), i, c) {
        const char *what = json_string_value(json_object_get(c, "message"));
        const char *hex = NULL;
        for (size_t m = 0; m < sizeof msgs / sizeof msgs[0] && hex == NULL; m++)
            if (strncmp(what, msgs[m].prefix, strlen(msgs[m].prefix)) == 0)
                hex = message_by_title(msgs[m].title);
        vg_request req;
        if (!decode(hex, &req))
            continue;
        /* build {kind: [ops]} from allowed_requests / allowed_ops through the YAML loader */
        json_t *allow = json_object();
        size_t j;
        json_t *r;
        json_array_foreach (json_object_get(c, "allowed_requests"), j, r) {
            const char *name = json_string_value(r);
            json_t *ops = json_object_get(c, "allowed_ops");
            json_object_set_new(allow, name,
                                strcmp(name, "generic") == 0 && ops != NULL ? json_deep_copy(ops) : json_array());
        }
        char *y = policy_yaml(allow, json_object_get(c, "allowed_chains"));
        vg_config cfg;
        vg_err err = {0};
        int rc = parse_one(y, &cfg, &err);
        CHECK_MSG(rc == 0, "chains case %zu: %s", i, err.msg);
        if (rc == 0) {
            vg_err e2 = {0};
            int r2 = vg_policy_check(&cfg.policies[0], &req, &e2);
            json_t *want = json_object_get(c, "expected_error");
            if (json_is_null(want))
                CHECK_MSG(r2 == 0, "chains case %zu: %s", i, e2.msg);
            else
                CHECK_MSG(r2 < 0 && e2.kind == VG_E_FORBIDDEN && strcmp(e2.msg, json_string_value(want)) == 0,
                          "chains case %zu: want '%s' got '%s'", i, json_string_value(want), e2.msg);
            vg_config_free(&cfg);
        }
        json_decref(allow);
        free(y);
    }
}

/* vigil-specific: default policy, empty policy, evaluation order, client checks, NULL policy. */
static void test_local(void)
{
    const char *block = message_by_title("block ok");
    const char *attest = message_by_title("endorsement ok");
    const char *tx = message_by_title("transaction ok");
    const char *pack = message_by_title("PACK data is allowed");
    vg_request rb, ra, rt, rp;
    if (!decode(block, &rb) || !decode(attest, &ra) || !decode(tx, &rt) || !decode(pack, &rp))
        return;
    vg_err err;

    /* default policy: block, preattestation, attestation */
    vg_policy d;
    vg_policy_init_default(&d);
    CHECK(d.allowed_ops != NULL);
    CHECK(vg_policy_check(&d, &rb, &err) == 0);
    CHECK(vg_policy_check(&d, &ra, &err) == 0);
    CHECK(vg_policy_check(&d, &rt, &err) < 0 && strcmp(err.msg, "request kind `generic' is not allowed") == 0);
    CHECK(vg_policy_check(&d, &rp, &err) < 0 && strcmp(err.msg, "request kind `pack' is not allowed") == 0);
    vg_policy_free(&d);
    CHECK(d.allowed_ops == NULL);
    vg_policy_free(NULL);

    /* NULL policy (key not listed) is refused */
    CHECK(vg_policy_check(NULL, &rb, &err) < 0 && err.kind == VG_E_FORBIDDEN);

    /* order: the chain filter comes before the request kind */
    vg_config cfg;
    const char *y = "server:\n  authorized_keys: [" ALICE_PK "]\n"
                    "tezos:\n  " TZ1 ":\n    allow:\n      generic: [reveal]\n"
                    "    allowed_chains: [NetXo5iVw1vBoxM]\n    authorized_keys: " ALICE_PK "\n";
    CHECK(parse_one(y, &cfg, &err) == 0);
    if (cfg.n_policies == 1) {
        const vg_policy *p = &cfg.policies[0];
        vg_pkh alice, bob;
        CHECK(vg_pkh_parse(ALICE_PKH, &alice, &err) == 0 && vg_pkh_parse(BOB_PKH, &bob, &err) == 0);
        CHECK(vg_policy_check_client(p, &rb, &alice, &err) < 0 &&
              strcmp(err.msg, "chain `NetXxkAx4woPLyu' is not allowed") == 0);
        /* then the client: unauthenticated, wrong client */
        CHECK(vg_policy_check(p, &rt, &err) < 0 && strcmp(err.msg, "authentication required") == 0);
        CHECK(vg_policy_check_client(p, &rt, &bob, &err) < 0 &&
              strcmp(err.msg, "client `" BOB_PKH "' is not allowed") == 0);
        /* then the request kind, then the operations */
        CHECK(vg_policy_check_client(p, &rp, &alice, &err) < 0 &&
              strcmp(err.msg, "request kind `pack' is not allowed") == 0);
        CHECK(vg_policy_check_client(p, &rt, &alice, &err) < 0 &&
              strcmp(err.msg, "operation `transaction' is not allowed") == 0 && err.kind == VG_E_FORBIDDEN);
        const char *reveal = message_by_title("reveal ok"); /* reveal + transaction batch? check decode */
        vg_request rr;
        if (reveal != NULL && decode(reveal, &rr)) {
            bool only_reveal = rr.n_ops > 0;
            for (size_t i = 0; i < rr.n_ops; i++)
                only_reveal = only_reveal && strcmp(vg_op_kind_name(rr.ops[i].kind), "reveal") == 0;
            if (only_reveal)
                CHECK(vg_policy_check_client(p, &rr, &alice, &err) == 0);
        }
        vg_config_free(&cfg);
    }

    /* a policy with no allow lists allows nothing */
    CHECK(parse_one("tezos:\n  " TZ1 ":\n    log_payloads: true\n", &cfg, &err) == 0);
    if (cfg.n_policies == 1) {
        CHECK(vg_policy_check(&cfg.policies[0], &rb, &err) < 0 &&
              strcmp(err.msg, "request kind `block' is not allowed") == 0);
        char desc[128];
        vg_policy_describe(&cfg.policies[0], desc, sizeof desc);
        CHECK_STR(desc, "allow nothing; log payloads");
        vg_config_free(&cfg);
    }

    /* plain `ballot` allows every ballot; a ballot refusal names the vote */
    const char *yay = message_by_title("ballot yay not allowed");
    vg_request rv;
    if (yay != NULL && decode(yay, &rv)) {
        CHECK(parse_one("tezos:\n  " TZ1 ":\n    allow:\n      generic: [ballot]\n", &cfg, &err) == 0);
        CHECK(cfg.n_policies == 1 && vg_policy_check(&cfg.policies[0], &rv, &err) == 0);
        vg_config_free(&cfg);
        CHECK(parse_one("tezos:\n  " TZ1 ":\n    allow:\n      generic: [transaction]\n", &cfg, &err) == 0);
        CHECK(cfg.n_policies == 1 && vg_policy_check(&cfg.policies[0], &rv, &err) < 0 &&
              strcmp(err.msg, "operation `ballot:yay' is not allowed") == 0);
        vg_config_free(&cfg);
    }

    /* describe() never overflows */
    char tiny[8];
    vg_policy_init_default(&d);
    CHECK(vg_policy_describe(&d, tiny, sizeof tiny) == sizeof tiny - 1 && strlen(tiny) == sizeof tiny - 1);
    vg_policy_free(&d);
}

static void test_valid_lists(void)
{
    /* every listed request kind and generic operation is accepted by the loader */
    json_t *kinds = json_object_get(cases_root, "valid_request_kinds");
    json_t *ops = json_object_get(cases_root, "valid_generic_operation_kinds");
    json_t *subs = json_object_get(cases_root, "valid_generic_operation_sub_kinds");
    json_t *allow = json_object();
    size_t i;
    json_t *v;
    json_array_foreach (kinds, i, v) {
        json_t *list = json_array();
        if (strcmp(json_string_value(v), "generic") == 0) {
            json_array_extend(list, ops);
            json_array_extend(list, subs);
        }
        json_object_set_new(allow, json_string_value(v), list);
    }
    char *y = policy_yaml(allow, NULL);
    vg_config cfg;
    vg_err err = {0};
    int rc = parse_one(y, &cfg, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc == 0) {
        const vg_policy *p = &cfg.policies[0];
        for (int k = 0; k < VG_REQ_KIND_COUNT; k++)
            CHECK(p->allowed_requests[k]);
        CHECK((int)json_array_size(ops) == vg_op_kind_count());
        for (int k = 0; k < vg_op_kind_count(); k++)
            CHECK_MSG(p->allowed_ops[k], "%s", vg_op_kind_name(k));
        vg_config_free(&cfg);
    }
    json_decref(allow);
    free(y);
}

int main(void)
{
    vt_init();
    vt_require_shared();
    char path[512];
    json_error_t je;
    cases_root = json_load_file(vt_vector_path("signatory/policy_cases.json", path, sizeof path), 0, &je);
    CHECK_MSG(cases_root != NULL, "policy_cases.json: %s", je.text);
    if (cases_root == NULL)
        return vt_done("test_policy");
    test_sign_policy_cases();
    test_prepare_policy_validation();
    test_allowed_chains_cases();
    test_local();
    test_valid_lists();
    json_decref(cases_root);
    return vt_done("test_policy");
}
