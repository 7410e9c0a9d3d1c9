/* The HTTP API end to end in one process: a file vault in a temp dir, the mem watermark, the
 * server on ephemeral ports, libcurl as the client. Covers every bad-input class of issue 3. */
#include "testlib.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/json.h"
#include "daemon/http.h"
#include "daemon/signer.h"
#include "vault/vault.h"

static unsigned port, uport;

typedef struct {
    char *data;
    size_t len;
} buffer;

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    buffer *b = ud;
    b->data = realloc(b->data, b->len + sz * n + 1);
    memcpy(b->data + b->len, p, sz * n);
    b->len += sz * n;
    b->data[b->len] = '\0';
    return sz * n;
}

/* Returns the status; *body receives the response (caller frees). */
static long http(const char *method, unsigned p, const char *path, const char *body, size_t body_len, char **out)
{
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", p, path);
    buffer b = {calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (out != NULL)
        *out = b.data;
    else
        free(b.data);
    return status;
}

static long post_hex(const char *pkh, const char *hex, const char *query, char **out)
{
    char path[256];
    snprintf(path, sizeof path, "/keys/%s%s", pkh, query ? query : "");
    size_t n = strlen(hex) + 3;
    char *body = malloc(n);
    snprintf(body, n, "\"%s\"", hex);
    long st = http("POST", port, path, body, strlen(body), out);
    free(body);
    return st;
}

static bool error_mentions(const char *body, const char *needle)
{
    return body != NULL && strstr(body, "\"id\":\"failure\"") != NULL && strstr(body, needle) != NULL;
}

/* A 0x13 attestation (tag 21) at the given level/round with a chosen payload byte. */
static void attestation_hex(int level, int round, int payload, char *out)
{
    uint8_t m[1 + 4 + 32 + 1 + 2 + 4 + 4 + 32] = {0x13, 0x7a, 0x06, 0xa7, 0x70};
    size_t o = 37;
    m[o++] = 21;
    m[o++] = 0;
    m[o++] = 1;
    for (int i = 3; i >= 0; i--)
        m[o++] = (uint8_t)(level >> (8 * i));
    for (int i = 3; i >= 0; i--)
        m[o++] = (uint8_t)(round >> (8 * i));
    memset(m + o, payload, 32);
    vg_hex_encode(m, sizeof m, out);
}

int main(void)
{
    vt_init();
    vg_json_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char dir[] = "/tmp/vigil-http-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);

    vg_config cfg;
    vg_config_defaults(&cfg);
    snprintf(cfg.base_dir, sizeof cfg.base_dir, "%s", dir);
    snprintf(cfg.address, sizeof cfg.address, "127.0.0.1:0");
    snprintf(cfg.utility_address, sizeof cfg.utility_address, "127.0.0.1:0");
    snprintf(cfg.watermark_driver, sizeof cfg.watermark_driver, "mem");
    cfg.vaults = calloc(1, sizeof *cfg.vaults);
    cfg.n_vaults = 1;
    snprintf(cfg.vaults[0].name, sizeof cfg.vaults[0].name, "local");
    snprintf(cfg.vaults[0].driver, sizeof cfg.vaults[0].driver, "file");
    snprintf(cfg.vaults[0].file, sizeof cfg.vaults[0].file, "%s/secret_keys.json", dir);
    vg_err err = {0};
    CHECK(vg_file_vault_create_default(cfg.vaults[0].file, &err) == 0);

    vg_vault *v;
    CHECK(vg_vault_open(&cfg.vaults[0], dir, &v, &err) == 0);
    CHECK(v->n_keys == 4);
    /* Policy: tz1 default (block/preattestation/attestation); tz4 default + PoP; tz2, tz3 unlisted. */
    char tz1[VG_B58_MAX], tz2[VG_B58_MAX], tz4[VG_B58_MAX];
    snprintf(tz1, sizeof tz1, "%s", v->keys[0].pkh_text);
    snprintf(tz2, sizeof tz2, "%s", v->keys[1].pkh_text);
    snprintf(tz4, sizeof tz4, "%s", v->keys[3].pkh_text);
    cfg.policies = calloc(2, sizeof *cfg.policies);
    cfg.n_policies = 2;
    vg_policy_init_default(&cfg.policies[0]);
    cfg.policies[0].pkh = v->keys[0].pkh;
    snprintf(cfg.policies[0].pkh_text, sizeof cfg.policies[0].pkh_text, "%s", tz1);
    vg_policy_init_default(&cfg.policies[1]);
    cfg.policies[1].pkh = v->keys[3].pkh;
    snprintf(cfg.policies[1].pkh_text, sizeof cfg.policies[1].pkh_text, "%s", tz4);
    cfg.policies[1].allow_proof_of_possession = true;
    uint8_t tz1_pk[32];
    memcpy(tz1_pk, v->keys[0].pk, 32);
    vg_vault_close(v);

    vg_signer *signer;
    CHECK_MSG(vg_signer_new(&cfg, &signer, &err) == 0, "%s", err.msg);
    vg_http *h;
    CHECK_MSG(vg_http_start(signer, cfg.address, cfg.utility_address, &h, &err) == 0, "%s", err.msg);
    port = vg_http_port(h);
    uport = vg_http_utility_port(h);

    char *body;
    char path[256];
    char att[300];

    /* Success and the signature verifies. */
    attestation_hex(100, 0, 0xaa, att);
    CHECK(post_hex(tz1, att, NULL, &body) == 200);
    CHECK_MSG(strstr(body, "{\"signature\":\"edsig") == body, "%s", body);
    {
        json_t *j = json_loads(body, 0, NULL);
        uint8_t sig[64];
        size_t siglen;
        vg_b58_kind kind;
        CHECK(vg_b58check_decode_any(json_string_value(json_object_get(j, "signature")), &kind, sig, sizeof sig,
                                     &siglen, &err) == 0);
        size_t mlen;
        uint8_t *m = vt_unhex(att, &mlen);
        CHECK(vg_verify(VG_KEY_ED25519, tz1_pk, 32, m, mlen, sig, siglen, 2));
        free(m);
        json_decref(j);
    }
    free(body);
    /* Identical retry: same answer. Conflicting payload at the same level: 409. Lower level: 409. */
    CHECK(post_hex(tz1, att, NULL, NULL) == 200);
    attestation_hex(100, 0, 0xbb, att);
    CHECK(post_hex(tz1, att, NULL, &body) == 409);
    CHECK_MSG(error_mentions(body, "watermark"), "%s", body);
    free(body);
    attestation_hex(99, 5, 0xaa, att);
    CHECK(post_hex(tz1, att, NULL, NULL) == 409);
    attestation_hex(101, 0, 0xcc, att);
    CHECK(post_hex(tz1, att, NULL, NULL) == 200);

    /* GET /keys: listed key → pk; unlisted but present → 404; unknown → 404; bad pkh → 400. */
    snprintf(path, sizeof path, "/keys/%s", tz1);
    CHECK(http("GET", port, path, NULL, 0, &body) == 200);
    CHECK_MSG(strstr(body, "{\"public_key\":\"edpk") == body, "%s", body);
    free(body);
    snprintf(path, sizeof path, "/keys/%s", tz2);
    CHECK(http("GET", port, path, NULL, 0, NULL) == 404);
    CHECK(http("GET", port, "/keys/tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q", NULL, 0, &body) == 404);
    CHECK_MSG(error_mentions(body, "this key not found in any vault"), "%s", body);
    free(body);
    CHECK(http("GET", port, "/keys/tz1notakey", NULL, 0, NULL) == 400);

    /* POST bad inputs. */
    CHECK(post_hex("tz1LggX2HUdvJ1tF4Fvv8fjsrzLeW4Jr9t2Q", att, NULL, &body) == 403); /* not in config */
    CHECK_MSG(error_mentions(body, "is not listed in config"), "%s", body);
    free(body);
    CHECK(post_hex(tz1, "0zz", NULL, &body) == 400);
    CHECK_MSG(error_mentions(body, "hex"), "%s", body);
    free(body);
    snprintf(path, sizeof path, "/keys/%s", tz1);
    CHECK(http("POST", port, path, "{\"data\":1}", 10, &body) == 400);
    CHECK_MSG(error_mentions(body, "JSON string"), "%s", body);
    free(body);
    CHECK(http("POST", port, path, "\"13", 3, &body) == 400);
    CHECK_MSG(error_mentions(body, "invalid JSON"), "%s", body);
    free(body);
    size_t big = 70 * 1024;
    char *huge = malloc(big + 1);
    huge[0] = '"';
    memset(huge + 1, 'a', big - 2);
    huge[big - 1] = '"';
    CHECK(http("POST", port, path, huge, big, &body) == 400);
    CHECK_MSG(error_mentions(body, "too large"), "%s", body);
    free(body);
    free(huge);
    CHECK(post_hex(tz1, "02aabb", NULL, &body) == 400); /* legacy magic */
    free(body);
    CHECK(post_hex(tz1, "0300000000000000000000000000000000000000000000000000000000000000006c", NULL, &body) ==
          400); /* truncated transaction */
    free(body);
    /* Generic is not in the default policy: 403 naming the kind. */
    {
        char generic[200] = "03";
        for (int i = 0; i < 32; i++)
            strcat(generic, "00");
        strcat(generic, "11000000020102"); /* failing_noop with 2 bytes */
        CHECK(post_hex(tz1, generic, NULL, &body) == 403);
        CHECK_MSG(error_mentions(body, "request kind `generic' is not allowed"), "%s", body);
        free(body);
    }
    /* Methods and paths. */
    CHECK(http("PUT", port, path, "x", 1, NULL) == 405);
    CHECK(http("DELETE", port, "/authorized_keys", NULL, 0, NULL) == 405);
    CHECK(http("GET", port, "/nope", NULL, 0, &body) == 404);
    CHECK_STR(body, "404 page not found\n");
    free(body);
    CHECK(http("GET", port, "/authorized_keys", NULL, 0, &body) == 200);
    CHECK_STR(body, "{}\n");
    free(body);

    /* BLS: PoP for tz4, version 0 refused, version 1 and 2 differ. */
    snprintf(path, sizeof path, "/bls_prove_possession/%s", tz4);
    CHECK(http("GET", port, path, NULL, 0, &body) == 200);
    CHECK_MSG(strstr(body, "{\"bls_prove_possession\":\"BLsig") == body, "%s", body);
    free(body);
    snprintf(path, sizeof path, "/bls_prove_possession/%s", tz1);
    CHECK(http("GET", port, path, NULL, 0, &body) == 400);
    free(body);
    attestation_hex(7, 0, 0x11, att);
    CHECK(post_hex(tz4, att, "?version=0", &body) != 200);
    free(body);
    char *s1, *s2;
    CHECK(post_hex(tz4, att, "?version=1", &s1) == 200);
    CHECK(post_hex(tz4, att, "?version=2", &s2) == 200);
    CHECK(strcmp(s1, s2) != 0);
    free(s1);
    free(s2);

    /* Utility server. */
    CHECK(http("GET", uport, "/healthz", NULL, 0, &body) == 200);
    CHECK_STR(body, "{\"ready\":true}\n");
    free(body);
    CHECK(http("GET", uport, "/metrics", NULL, 0, &body) == 200);
    CHECK(strstr(body, "signing_ops_total{") != NULL);
    CHECK(strstr(body, "sign_handler_requests_total{") != NULL);
    CHECK(strstr(body, "status=\"409\"") != NULL);
    free(body);

    vg_http_stop(h);
    vg_signer_free(signer);
    vg_config_free(&cfg);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    curl_global_cleanup();
    return vt_done("http");
}
