/* Target: the body of POST /keys/{pkh} as src/daemon/http.c handle_sign reads it -- json_loadb
 * (JSON_DECODE_ANY) -> must be a JSON string -> vg_hex_decode -> vg_signer_sign, i.e. the request
 * decoder (vg_request_decode), the policy check, the mem watermark and a real signature, on a signer
 * whose four keys (tz1, tz2, tz3, tz4) allow every request kind and every operation.
 *
 * Input: byte 0 picks the key (bits 0-1) and the signing version (bits 2-3: "0", "1", "2", none);
 * the rest is the HTTP body (at most VG_HTTP_BODY_MAX bytes, as the server caps it).
 * Invariants beyond "no crash": a body that is not a JSON string of even-length hex fails with
 * VG_E_INVALID (400); a signature is only returned for a request that decodes; any failure of the
 * pipeline is one of 400/403/409 (never 500 or 503 on this healthy in-memory signer). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "daemon/config.h"
#include "daemon/http.h"
#include "daemon/signer.h"
#include "fuzz_common.h"
#include "tezos/request.h"
#include "vault/vault.h"

static vg_config cfg;
static vg_signer *signer;
static char pkhs[4][VG_B58_MAX];

static void setup(void)
{
    vg_fuzz_init();
    const char *dir = vg_fuzz_dir();
    vg_err err = {0};
    vg_config_defaults(&cfg);
    snprintf(cfg.base_dir, sizeof cfg.base_dir, "%s", dir);
    snprintf(cfg.watermark_driver, sizeof cfg.watermark_driver, "mem");
    cfg.vaults = calloc(1, sizeof *cfg.vaults);
    cfg.n_vaults = 1;
    snprintf(cfg.vaults[0].name, sizeof cfg.vaults[0].name, "local");
    snprintf(cfg.vaults[0].driver, sizeof cfg.vaults[0].driver, "file");
    snprintf(cfg.vaults[0].file, sizeof cfg.vaults[0].file, "%s/secret_keys.json", dir);
    vg_vault *v;
    if (vg_file_vault_create_default(cfg.vaults[0].file, &err) < 0 || vg_vault_open(&cfg.vaults[0], dir, &v, &err) < 0 ||
        v->n_keys != 4) {
        vg_fuzz_say("fuzz_http_body: setup: %s\n", err.msg);
        abort();
    }
    cfg.policies = calloc(4, sizeof *cfg.policies);
    cfg.n_policies = 4;
    for (size_t i = 0; i < 4; i++) {
        vg_policy *p = &cfg.policies[i];
        vg_policy_init_default(p);
        p->pkh = v->keys[i].pkh;
        snprintf(p->pkh_text, sizeof p->pkh_text, "%s", v->keys[i].pkh_text);
        snprintf(pkhs[i], sizeof pkhs[i], "%s", v->keys[i].pkh_text);
        for (int k = 0; k < VG_REQ_KIND_COUNT; k++)
            p->allowed_requests[k] = true;
        for (int k = 0; k < vg_op_kind_count(); k++)
            p->allowed_ops[k] = true;
        for (int k = 0; k < 3; k++)
            p->ballot_allowed[k] = true;
        p->allow_proof_of_possession = true;
    }
    vg_vault_close(v);
    if (vg_signer_new(&cfg, &signer, &err) < 0) {
        vg_fuzz_say("fuzz_http_body: signer: %s\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (signer == NULL)
        setup();
    if (size < 1 || size - 1 > VG_HTTP_BODY_MAX)
        return 0;
    static const char *const versions[] = {"0", "1", "2", NULL};
    const char *pkh = pkhs[data[0] & 3];
    int version = vg_signing_version_parse(versions[(data[0] >> 2) & 3]);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    vg_err err = {0};
    json_error_t jerr;
    json_t *j = json_loadb(len > 0 ? body : "", len, JSON_DECODE_ANY, &jerr);
    if (j == NULL || !json_is_string(j)) {
        json_decref(j);
        return 0; /* handle_sign: 400 "invalid JSON body" / "body must be a JSON string of hex" */
    }
    uint8_t *msg = NULL;
    size_t msglen = 0;
    size_t hexlen = json_string_length(j);
    int rc = vg_hex_decode(json_string_value(j), hexlen, &msg, &msglen, &err);
    json_decref(j);
    if (rc < 0) {
        if (err.kind != VG_E_INVALID)
            abort();
        return 0;
    }
    if (msglen * 2 != hexlen)
        abort();
    char sig[VG_B58_MAX];
    rc = vg_signer_sign(signer, pkh, msg, msglen, version, sig, &err);
    if (vg_fuzz_verbose())
        vg_fuzz_say("%s v%d: %s\n", pkh, version, rc == 0 ? sig : err.msg);
    if (rc == 0) {
        /* Signed: the request must decode under the same rules. */
        static vg_request req;
        vg_err e2 = {0};
        if (vg_request_decode(msg, msglen, version, &req, &e2) < 0 || sig[0] == '\0')
            abort();
    } else {
        int status = vg_err_http_status(err.kind);
        if (status != 400 && status != 403 && status != 409) {
            vg_fuzz_say("fuzz_http_body: unexpected %d: %s\n", status, err.msg);
            abort();
        }
    }
    free(msg);
    return 0;
}
