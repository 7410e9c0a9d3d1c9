/* Configuration loader: defaults, null sections, env expansion, file:line errors, addresses,
 * vaults, watermark, authorized keys, size cap, and the upstream vectors
 * (../shared/vectors/signatory/config_cases.json, config_examples/). */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/config.h"
#include "testlib.h"

#define TZ1 "tz1Wz4ZabKRsz842Xuzy4a7CcWADfPVsPKus"
#define TZ3 "tz3MhmeqpudUqEX8PYTbNDF3CVcnnjNQoo8N"
#define TZ4 "tz4XXtsYav3fZz2FSDa7hcx4F8sh8SaDWNME"
#define ALICE_PK "edpkvGfYw3LyB1UcCahKQk4rF2tvbMUk8GFiTuMjL75uGXrpvKXhjn"
#define ALICE_PKH "tz1VSUr8wwNhLAzempoch5d6hLRiTh8Cjcjb"
#define BOB_PK "edpkurPsQ8eUApnLUJ9ZPDvu98E8VNj4KtJa1aZr16Cr5ow5VHKnz4"

/* ---------- helpers ---------- */

static int saved_stderr = -1;
static FILE *capture_file;

static void capture_start(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    saved_stderr = dup(2);
    dup2(fileno(capture_file), 2);
}

/* Returns what was written to stderr since capture_start (malloc'ed). */
static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    long n = ftell(capture_file);
    char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(capture_file);
    if (n > 0 && fread(buf, 1, (size_t)n, capture_file) != (size_t)n)
        buf[0] = '\0';
    fclose(capture_file);
    return buf;
}

static int parse(const char *yaml, vg_config *cfg, vg_err *err)
{
    memset(err, 0, sizeof *err);
    return vg_config_parse(yaml, strlen(yaml), "vigil.yaml", cfg, err);
}

#define EXPECT_OK(yaml, cfg)                                                                                           \
    do {                                                                                                               \
        vg_err e_;                                                                                                     \
        int rc_ = parse((yaml), (cfg), &e_);                                                                           \
        CHECK_MSG(rc_ == 0, "unexpected error: %s", e_.msg);                                                           \
    } while (0)

/* Parsing must fail and the message contain `want`. */
static void expect_err_at(const char *file, int line, const char *yaml, const char *want)
{
    vg_config cfg;
    vg_err err;
    int rc = parse(yaml, &cfg, &err);
    vt_checks++;
    if (rc == 0 || strstr(err.msg, want) == NULL || err.kind != VG_E_INVALID) {
        vt_failures++;
        fprintf(stderr, "%s:%d: expected error containing '%s', got rc=%d kind=%d '%s'\n", file, line, want, rc,
                err.kind, rc == 0 ? "" : err.msg);
    }
    if (rc == 0)
        vg_config_free(&cfg);
}
#define EXPECT_ERR(yaml, want) expect_err_at(__FILE__, __LINE__, (yaml), (want))

/* ---------- defaults and shape ---------- */

static void test_defaults(void)
{
    vg_config cfg;
    setenv("VIGIL_BASE_DIR", "/tmp/vigil-dev", 1);
    vg_config_defaults(&cfg);
    CHECK_STR(cfg.base_dir, "/tmp/vigil-dev");
    CHECK_STR(cfg.address, "127.0.0.1:6732");
    CHECK_STR(cfg.utility_address, "127.0.0.1:9583");
    CHECK_STR(cfg.watermark_driver, "file");
    CHECK(cfg.n_vaults == 0 && cfg.n_policies == 0 && cfg.n_authorized_keys == 0);
    vg_config_free(&cfg);
    unsetenv("VIGIL_BASE_DIR");
    setenv("HOME", "/home/tester", 1);
    vg_config_defaults(&cfg);
    CHECK_STR(cfg.base_dir, "/home/tester/.vigil");
    vg_config_free(&cfg);

    /* empty document, comment-only document: file defaults */
    const char *empties[] = {"", "# nothing here\n", "---\n", "~\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        EXPECT_OK(empties[i], &cfg);
        CHECK_STR(cfg.base_dir, "/var/lib/vigil");
        CHECK_STR(cfg.address, ":6732");
        CHECK_STR(cfg.utility_address, ":9583");
        CHECK_STR(cfg.watermark_driver, "file");
        CHECK_STR(cfg.path, "vigil.yaml");
        vg_config_free(&cfg);
    }
}

static void test_null_sections(void)
{
    vg_config cfg;
    /* spec: §13 item 24: a null section means the defaults */
    EXPECT_OK("server:\nwatermark:\nvaults:\ntezos:\npolicy_hook:\n", &cfg);
    CHECK_STR(cfg.address, ":6732");
    CHECK_STR(cfg.utility_address, ":9583");
    CHECK_STR(cfg.watermark_driver, "file");
    CHECK(cfg.n_vaults == 0 && cfg.n_policies == 0);
    vg_config_free(&cfg);
    EXPECT_OK("server: ~\nwatermark: null\n", &cfg);
    CHECK_STR(cfg.address, ":6732");
    vg_config_free(&cfg);
    EXPECT_OK("server:\n  jwt:\n  address: 127.0.0.1:1234\n", &cfg);
    CHECK_STR(cfg.address, "127.0.0.1:1234");
    CHECK_STR(cfg.utility_address, ":9583");
    vg_config_free(&cfg);

    /* an explicitly empty scalar where a value is required names the key */
    EXPECT_ERR("server:\n  address:\n", "vigil.yaml:2: server.address: empty value");
    EXPECT_ERR("server:\n  utility_address: \"\"\n", "vigil.yaml:2: server.utility_address: empty value");
    EXPECT_ERR("base_dir:\n", "vigil.yaml:1: base_dir: empty value");
    EXPECT_ERR("base_dir: ''\n", "vigil.yaml:1: base_dir: empty value");
    EXPECT_ERR("watermark:\n  driver:\n", "vigil.yaml:2: watermark.driver: empty value");
    EXPECT_ERR("base_dir: [a, b]\n", "base_dir: expected a single value, found a list");
    EXPECT_ERR("server: 12\n", "vigil.yaml:1: server: expected a mapping");
    EXPECT_ERR("- a\n- b\n", "top level must be a mapping");
}

static void test_yaml_errors(void)
{
    EXPECT_ERR("server:\n  address: :1\n  address: :2\n", "vigil.yaml:3: invalid YAML: duplicate key");
    EXPECT_ERR("tezos: [1\nbase_dir: x\n", "invalid YAML");
    EXPECT_ERR("a: 1\n---\nb: 2\n", "more than one YAML document");
    EXPECT_ERR("server:\n  <<: {address: ':1'}\n", "vigil.yaml:2: server: YAML merge keys (`<<`) are not supported");
    EXPECT_ERR("? [a, b]\n: 1\n", "mapping keys must be plain scalars");
    /* NUL byte in the input */
    vg_config cfg;
    vg_err err;
    CHECK(vg_config_parse("a: 1\0b", 6, "vigil.yaml", &cfg, &err) < 0);
    /* aliases are followed */
    EXPECT_OK("x: &addr 127.0.0.1:7000\nserver:\n  address: *addr\n", &cfg);
    CHECK_STR(cfg.address, "127.0.0.1:7000");
    vg_config_free(&cfg);
    /* alias fan-out is bounded */
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "vaults:\n  v:\n    driver: other\n    config: *f\n";
    EXPECT_ERR(bomb, "document too large");
}

static void test_unknown_keys_warn(void)
{
    vg_config cfg;
    capture_start();
    vg_err err;
    int rc = parse("foo: 1\nserver:\n  bar: 2\nwatermark:\n  baz: 3\ntezos:\n  " TZ1 ":\n    vault: x\n", &cfg, &err);
    char *out = capture_end();
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK(strstr(out, "vigil.yaml:1: unknown top-level key `foo` ignored") != NULL);
    CHECK(strstr(out, "vigil.yaml:3: server: unknown key `bar` ignored") != NULL);
    CHECK(strstr(out, "vigil.yaml:5: watermark: unknown key `baz` ignored") != NULL);
    CHECK(strstr(out, "vigil.yaml:8: tezos." TZ1 ": unknown key `vault` ignored") != NULL);
    /* a policy mapping with only unknown keys allows nothing */
    CHECK(rc == 0 && cfg.n_policies == 1);
    for (int k = 0; rc == 0 && k < VG_REQ_KIND_COUNT; k++)
        CHECK(!cfg.policies[0].allowed_requests[k]);
    free(out);
    if (rc == 0)
        vg_config_free(&cfg);
}

/* ---------- env expansion ---------- */

static void test_env(void)
{
    vg_config cfg;
    setenv("VG_T_DIR", "/srv/vigil", 1);
    setenv("VG_T_PORT", "7100", 1);
    setenv("VG_T_EMPTY", "", 1);
    setenv("VG_T_CID", "16", 1);
    unsetenv("VG_T_UNSET");

    EXPECT_OK("base_dir: ${VG_T_DIR}/data\nserver:\n  address: 127.0.0.1:$VG_T_PORT\n", &cfg);
    CHECK_STR(cfg.base_dir, "/srv/vigil/data");
    CHECK_STR(cfg.address, "127.0.0.1:7100");
    vg_config_free(&cfg);
    EXPECT_OK("base_dir: $VG_T_DIR$VG_T_EMPTY/x$$y$$\n", &cfg);
    CHECK_STR(cfg.base_dir, "/srv/vigil/x$y$");
    vg_config_free(&cfg);
    EXPECT_OK("base_dir: \"$${VG_T_DIR}\"\n", &cfg);
    CHECK_STR(cfg.base_dir, "${VG_T_DIR}");
    vg_config_free(&cfg);
    /* expansion in quoted scalars, vault file paths and raw driver configs; never in keys */
    EXPECT_OK("vaults:\n  $VG_T_DIR:\n    driver: file\n    config: '${VG_T_DIR}/keys.json'\n"
              "  enclave:\n    driver: nitro\n    config:\n      enclave_cid: ${VG_T_CID}\n      list: [$VG_T_PORT]\n",
              &cfg);
    CHECK(cfg.n_vaults == 2);
    if (cfg.n_vaults == 2) {
        CHECK_STR(cfg.vaults[0].name, "$VG_T_DIR");
        CHECK_STR(cfg.vaults[0].file, "/srv/vigil/keys.json");
        CHECK_STR(cfg.vaults[1].driver, "nitro");
        json_t *cid = json_object_get(cfg.vaults[1].raw, "enclave_cid");
        CHECK(json_is_string(cid) && strcmp(json_string_value(cid), "16") == 0);
        json_t *list = json_object_get(cfg.vaults[1].raw, "list");
        CHECK(json_is_array(list) && json_array_size(list) == 1 &&
              strcmp(json_string_value(json_array_get(list, 0)), "7100") == 0);
    }
    vg_config_free(&cfg);

    EXPECT_ERR("base_dir: $VG_T_UNSET/x\n", "vigil.yaml:1: base_dir: environment variable `VG_T_UNSET` is not set");
    EXPECT_ERR("\n\nserver:\n  address: ${VG_T_UNSET}\n",
               "vigil.yaml:4: server.address: environment variable `VG_T_UNSET` is not set");
    EXPECT_ERR("vaults:\n  k:\n    driver: x\n    config:\n      a:\n        b: $VG_T_UNSET\n",
               "vigil.yaml:6: vaults.k.config.a.b: environment variable `VG_T_UNSET` is not set");
    EXPECT_ERR("base_dir: ${VG_T_DIR\n", "base_dir: malformed `${...}`");
    EXPECT_ERR("base_dir: ${}\n", "base_dir: malformed `${...}`");
    EXPECT_ERR("base_dir: ${1X}\n", "base_dir: malformed `${...}`");
    EXPECT_ERR("base_dir: /a/$\n", "base_dir: lone `$`");
    EXPECT_ERR("base_dir: /a/$1\n", "base_dir: lone `$`");
    /* a variable set to "" leaves an empty required value */
    EXPECT_ERR("base_dir: $VG_T_EMPTY\n", "vigil.yaml:1: base_dir: empty value");
}

/* ---------- addresses ---------- */

static void test_addresses(void)
{
    const char *good[] = {":6732",        "127.0.0.1:6732", "[::1]:6732", "localhost:1", "signer.example.com:65535",
                          "[fe80::1]:80", "0.0.0.0:9583"};
    const char *bad[] = {"xxxx",      "6732",   ":",           ":0",     ":65536", ":67a2",      "::1:6732", "[::1]",
                         "[::1]6732", "[zz]:1", "host name:1", "-bad:1", "a..b:1", "127.0.0.1:", ":123456"};
    char yaml[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        vg_config cfg;
        snprintf(yaml, sizeof yaml, "server:\n  address: '%s'\n  utility_address: '%s'\n", good[i], good[i]);
        EXPECT_OK(yaml, &cfg);
        CHECK_STR(cfg.address, good[i]);
        vg_config_free(&cfg);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf(yaml, sizeof yaml, "server:\n  utility_address: '%s'\n", bad[i]);
        snprintf(want, sizeof want, "vigil.yaml:2: server.utility_address: invalid address `%s`", bad[i]);
        EXPECT_ERR(yaml, want);
    }
}

/* ---------- vaults ---------- */

static void test_vaults(void)
{
    vg_config cfg;
    EXPECT_OK("vaults:\n"
              "  a:\n    driver: file\n    config: /etc/a.json\n"
              "  b:\n    driver: file\n    config:\n      file: /etc/b.json\n"
              "  c:\n    driver: ledger\n    config:\n      transport: tcp://speculos:9999\n      keys: [x, y]\n"
              "  d:\n    driver: mem\n",
              &cfg);
    CHECK(cfg.n_vaults == 4);
    if (cfg.n_vaults == 4) {
        CHECK_STR(cfg.vaults[0].name, "a");
        CHECK_STR(cfg.vaults[0].driver, "file");
        CHECK_STR(cfg.vaults[0].file, "/etc/a.json");
        CHECK(cfg.vaults[0].line == 2);
        CHECK_STR(cfg.vaults[1].file, "/etc/b.json");
        CHECK_STR(cfg.vaults[2].driver, "ledger");
        CHECK(cfg.vaults[2].file[0] == '\0');
        CHECK(json_is_object(cfg.vaults[2].raw));
        CHECK(json_array_size(json_object_get(cfg.vaults[2].raw, "keys")) == 2);
        CHECK(cfg.vaults[3].raw == NULL);
    }
    vg_config_free(&cfg);
    /* upstream EmptyVaultData: a null vault entry */
    EXPECT_ERR("vaults:\n  kms:\n", "vigil.yaml:2: vaults.kms: empty vault entry");
    EXPECT_ERR("vaults:\n  kms:\n    config: {a: b}\n", "vigil.yaml:2: vaults.kms: missing `driver`");
    EXPECT_ERR("vaults:\n  kms:\n    driver:\n", "vigil.yaml:3: vaults.kms.driver: empty value");
    /* spec: §13 item 5: driver options at vault level are an error naming them */
    EXPECT_ERR("vaults:\n  hsm:\n    driver: pkcs11\n    library_path: /usr/lib/x.so\n",
               "vigil.yaml:4: vaults.hsm: unexpected key `library_path` (driver options belong under `config:`)");
    EXPECT_ERR("vaults:\n  f:\n    driver: file\n", "vigil.yaml:2: vaults.f.config: the file driver needs a path");
    EXPECT_ERR("vaults:\n  f:\n    driver: file\n    config:\n      path: /x\n",
               "vigil.yaml:5: vaults.f.config: unknown key `path` (expected `file`)");
    EXPECT_ERR("vaults:\n  f:\n    driver: file\n    config:\n      file:\n", "vaults.f.config.file: empty value");
    EXPECT_ERR("vaults:\n  f:\n    driver: file\n    config: [a]\n", "vaults.f.config: expected a single value");
    EXPECT_ERR("vaults: [a]\n", "vaults: expected a mapping");
    EXPECT_ERR("vaults:\n  a-very-long-vault-name-that-does-not-fit-into-sixty-four-bytes-of-storage:\n    driver: x\n",
               "must be 1 to 63 bytes");
}

/* ---------- watermark, unsupported features ---------- */

static void test_watermark_and_unsupported(void)
{
    vg_config cfg;
    EXPECT_OK("watermark:\n  driver: mem\n", &cfg);
    CHECK_STR(cfg.watermark_driver, "mem");
    vg_config_free(&cfg);
    EXPECT_OK("watermark:\n  driver: file\n  config:\n    x: 1\n", &cfg);
    CHECK(json_is_object(cfg.watermark_config));
    vg_config_free(&cfg);
    EXPECT_OK("watermark:\n  driver: aws\n  config:\n    table: wm\n", &cfg);
    CHECK(json_is_object(cfg.watermark_config));
    vg_config_free(&cfg);
    EXPECT_ERR("watermark:\n  driver: gcp\n", "watermark.driver: `gcp` is not supported");
    EXPECT_ERR("\npolicy_hook:\n  address: http://127.0.0.1:6733\n",
               "vigil.yaml:2: policy_hook is not supported by this version");
    /* server.jwt is parsed (strength rules are checked at serve start: tests/unit/test_auth.c) */
    EXPECT_ERR("server:\n  jwt:\n    users:\n", "vigil.yaml:3: server.jwt.users: expected a mapping of user names");
}

/* ---------- tezos keys and policies ---------- */

static void test_tezos(void)
{
    vg_config cfg;
    EXPECT_OK("tezos:\n  " TZ1 ":\n  " TZ3 ":\n    log_payloads: true\n    allow:\n      block:\n      generic:\n"
              "        - transaction\n        - ballot:yay\n      preendorsement: []\n  " TZ4 ":\n"
              "    allow_proof_of_possession: true\n    allowed_chains: [NetXxkAx4woPLyu, NetXo5iVw1vBoxM]\n"
              "    allow: {attestation: }\n",
              &cfg);
    CHECK(cfg.n_policies == 3);
    if (cfg.n_policies == 3) {
        const vg_policy *d = &cfg.policies[0];
        CHECK_STR(d->pkh_text, TZ1);
        CHECK(d->line == 2);
        CHECK(d->allowed_requests[VG_REQ_BLOCK] && d->allowed_requests[VG_REQ_PREATTESTATION] &&
              d->allowed_requests[VG_REQ_ATTESTATION]);
        CHECK(!d->allowed_requests[VG_REQ_ATTESTATION_WITH_DAL] && !d->allowed_requests[VG_REQ_GENERIC] &&
              !d->allowed_requests[VG_REQ_PACK]);
        CHECK(d->allowed_ops != NULL && !d->log_payloads && d->n_chains == 0);

        const vg_policy *p = &cfg.policies[1];
        CHECK(p->log_payloads);
        CHECK(p->allowed_requests[VG_REQ_BLOCK] && p->allowed_requests[VG_REQ_GENERIC] &&
              p->allowed_requests[VG_REQ_PREATTESTATION] && !p->allowed_requests[VG_REQ_ATTESTATION]);
        CHECK(p->allowed_ops[vg_op_kind_lookup("transaction")]);
        CHECK(!p->allowed_ops[vg_op_kind_lookup("ballot")]);
        CHECK(p->ballot_allowed[0] && !p->ballot_allowed[1] && !p->ballot_allowed[2]);

        const vg_policy *b = &cfg.policies[2];
        CHECK(b->pkh.type == VG_KEY_BLS);
        CHECK(b->allow_proof_of_possession);
        CHECK(b->n_chains == 2);
        static const uint8_t c0[4] = {0xed, 0x9d, 0x21, 0x7c}, c1[4] = {0xb3, 0xd7, 0x9f, 0x99};
        CHECK(memcmp(b->allowed_chains[0], c0, 4) == 0 && memcmp(b->allowed_chains[1], c1, 4) == 0);
        CHECK(b->allowed_requests[VG_REQ_ATTESTATION] && !b->allowed_requests[VG_REQ_BLOCK]);

        vg_pkh q;
        vg_err e;
        CHECK(vg_pkh_parse(TZ3, &q, &e) == 0 && vg_config_policy(&cfg, &q) == p);
        CHECK(vg_pkh_parse(ALICE_PKH, &q, &e) == 0 && vg_config_policy(&cfg, &q) == NULL);

        char desc[512];
        vg_policy_describe(d, desc, sizeof desc);
        CHECK_STR(desc, "allow block, preattestation, attestation");
        vg_policy_describe(p, desc, sizeof desc);
        CHECK_STR(desc, "allow block, preattestation, generic; generic: transaction, ballot:yay; log payloads");
        vg_policy_describe(b, desc, sizeof desc);
        CHECK_STR(desc, "allow attestation; chains: NetXxkAx4woPLyu, NetXo5iVw1vBoxM; proof of possession");
    }
    vg_config_free(&cfg);

    /* the error format of the brief, with the file:line of the offending entry */
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allow:\n      blok:\n",
               "vigil.yaml:4: tezos." TZ1 ": invalid request kind `blok` in `allow` list");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allow:\n      generic:\n        - transaction\n        - endorsement\n",
               "vigil.yaml:6: tezos." TZ1 ": invalid operation kind `attestation` in `allow.generic` list");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allow:\n      generic:\n        -\n",
               "invalid operation kind `` in `allow.generic` list");
    EXPECT_ERR("tezos:\n  tz1Wz4ZabKRsz842Xuzy4a7CcWADfPVsPKuX:\n", "vigil.yaml:2: tezos: invalid public key hash");
    EXPECT_ERR("\ntezos:\n  " TZ1 ":\n  " ALICE_PK ":\n", "vigil.yaml:4: tezos: invalid public key hash");
    EXPECT_ERR("tezos: [" TZ1 "]\n", "tezos: expected a mapping");
    EXPECT_ERR("tezos:\n  " TZ1 ": [block]\n", "vigil.yaml:2: tezos." TZ1 ": expected a policy mapping");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allow: [block]\n", "tezos." TZ1 ".allow: expected a mapping");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allow:\n      block: yes\n",
               "tezos." TZ1 ".allow.block: expected nothing or a list");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allow:\n      generic: transaction\n", "expected a list of operation kinds");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    log_payloads: yes\n",
               "vigil.yaml:3: tezos." TZ1 ".log_payloads: expected true or false, found `yes`");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    log_payloads:\n", "vigil.yaml:3: tezos." TZ1 ".log_payloads: empty value");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allow_proof_of_possession: ''\n", "allow_proof_of_possession: empty value");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allowed_chains: [NetXxkAx4woPLyX]\n",
               "vigil.yaml:3: tezos." TZ1 ".allowed_chains: invalid chain id `NetXxkAx4woPLyX`");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allowed_chains: [" TZ1 "]\n", "allowed_chains: invalid chain id");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allowed_chains: []\n", "allowed_chains: empty list");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allowed_chains: NetXxkAx4woPLyu\n", "allowed_chains: expected a list");
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    jwt_users: [alice]\n",
               "vigil.yaml:2: tezos." TZ1 ".jwt_users: users are identified only through JWT login");

    /* null allow / empty mapping → nothing allowed; jwt_users: null is fine */
    EXPECT_OK("tezos:\n  " TZ1 ":\n    allow:\n    log_payloads: true\n    jwt_users:\n", &cfg);
    CHECK(cfg.n_policies == 1);
    for (int k = 0; cfg.n_policies == 1 && k < VG_REQ_KIND_COUNT; k++)
        CHECK(!cfg.policies[0].allowed_requests[k]);
    vg_config_free(&cfg);

    /* allow_proof_of_possession is forced off (WARN) for non-tz4 keys */
    capture_start();
    vg_err err;
    int rc = parse("tezos:\n  " TZ1 ":\n    allow_proof_of_possession: true\n", &cfg, &err);
    char *out = capture_end();
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK(rc == 0 && cfg.n_policies == 1 && !cfg.policies[0].allow_proof_of_possession);
    CHECK(strstr(out, "proof of possession is not supported for " TZ1) != NULL);
    free(out);
    if (rc == 0)
        vg_config_free(&cfg);

    /* aliases warn */
    capture_start();
    rc = parse("tezos:\n  " TZ1 ":\n    allow:\n      endorsement:\n", &cfg, &err);
    out = capture_end();
    CHECK(rc == 0 && cfg.policies[0].allowed_requests[VG_REQ_ATTESTATION]);
    CHECK(strstr(out, "'endorsement' should be replaced with 'attestation'") != NULL);
    free(out);
    if (rc == 0)
        vg_config_free(&cfg);
}

static void test_deprecated_lists(void)
{
    vg_config cfg;
    vg_err err;
    capture_start();
    int rc = parse("tezos:\n  " TZ1 ":\n    allowed_operations: [generic, block, endorsement]\n"
                   "    allowed_kinds: [transaction, ballot:nay, endorsement]\n",
                   &cfg, &err);
    char *out = capture_end();
    /* allowed_kinds goes through the same validation: `endorsement` → `attestation` is invalid */
    CHECK(rc < 0 && strstr(err.msg, "vigil.yaml:4: tezos." TZ1 ": invalid operation kind `attestation`") != NULL);
    free(out);

    capture_start();
    rc = parse("tezos:\n  " TZ1 ":\n    allowed_operations: [generic, block, endorsement]\n"
               "    allowed_kinds: [transaction, ballot:nay]\n",
               &cfg, &err);
    out = capture_end();
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc == 0) {
        const vg_policy *p = &cfg.policies[0];
        CHECK(p->allowed_requests[VG_REQ_GENERIC] && p->allowed_requests[VG_REQ_BLOCK] &&
              p->allowed_requests[VG_REQ_ATTESTATION] && !p->allowed_requests[VG_REQ_PREATTESTATION]);
        CHECK(p->allowed_ops[vg_op_kind_lookup("transaction")] && p->ballot_allowed[1] && !p->ballot_allowed[0]);
        vg_config_free(&cfg);
    }
    CHECK(strstr(out, "options are deprecated. Use `allow` instead: allow: {block: [], attestation: [], generic: "
                      "[transaction, ballot:nay]}") != NULL);
    free(out);

    /* deprecated lists are ignored when `allow` is set */
    capture_start();
    rc = parse("tezos:\n  " TZ1 ":\n    allow:\n      block:\n    allowed_operations: [generic]\n", &cfg, &err);
    out = capture_end();
    CHECK(rc == 0 && !cfg.policies[0].allowed_requests[VG_REQ_GENERIC] && cfg.policies[0].allowed_requests[0]);
    CHECK(strstr(out, "are ignored because `allow` is set") != NULL);
    free(out);
    if (rc == 0)
        vg_config_free(&cfg);

    EXPECT_ERR("tezos:\n  " TZ1 ":\n    allowed_operations: [blok]\n",
               "vigil.yaml:3: tezos." TZ1 ": invalid request kind `blok` in `allow` list");
}

/* ---------- authorized keys ---------- */

static void test_authorized_keys(void)
{
    vg_config cfg;
    EXPECT_OK("server:\n  authorized_keys: " ALICE_PK "\n", &cfg);
    CHECK(cfg.n_authorized_keys == 1);
    if (cfg.n_authorized_keys == 1) {
        char text[VG_B58_MAX];
        vg_pkh_format(&cfg.authorized_keys[0].pkh, text);
        CHECK_STR(text, ALICE_PKH);
        CHECK(cfg.authorized_keys[0].type == VG_KEY_ED25519 && cfg.authorized_keys[0].pk_len == 32);
    }
    vg_config_free(&cfg);
    EXPECT_OK("server:\n  authorized_keys:\n    - " ALICE_PK "\n    - [" BOB_PK "]\n"
              "tezos:\n  " TZ1 ":\n    authorized_keys: [" BOB_PK "]\n",
              &cfg);
    CHECK(cfg.n_authorized_keys == 2 && cfg.n_policies == 1 && cfg.policies[0].n_authorized_keys == 1);
    vg_config_free(&cfg);

    EXPECT_ERR("server:\n  authorized_keys: [edpkXXX]\n",
               "vigil.yaml:2: server.authorized_keys: invalid public key `edpkXXX`");
    EXPECT_ERR("server:\n  authorized_keys: []\n", "server.authorized_keys: empty list");
    EXPECT_ERR("server:\n  authorized_keys: {a: b}\n", "expected a public key or a list of public keys");
    /* spec: §13 item 10: per-key keys without server-level keys is a startup error saying what to add */
    EXPECT_ERR("tezos:\n  " TZ1 ":\n    authorized_keys: " ALICE_PK "\n",
               "vigil.yaml:2: tezos." TZ1 ".authorized_keys: clients are identified only through server-level "
               "authentication; add these keys to server.authorized_keys");
    EXPECT_ERR("server:\n  authorized_keys: [" ALICE_PK "]\ntezos:\n  " TZ1 ":\n    authorized_keys: " BOB_PK "\n",
               "vigil.yaml:4: tezos." TZ1 ".authorized_keys: `" BOB_PK "` is not in server.authorized_keys");
}

/* ---------- load(): file, size cap ---------- */

static void test_load(void)
{
    vg_config cfg;
    vg_err err;
    char path[] = "/tmp/vigil-cfg-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *y = "server:\n  address: ':7000'\ntezos:\n  " TZ1 ":\n";
    CHECK(write(fd, y, strlen(y)) == (ssize_t)strlen(y));
    CHECK(vg_config_load(path, &cfg, &err) == 0);
    CHECK_STR(cfg.path, path);
    CHECK_STR(cfg.address, ":7000");
    CHECK(cfg.n_policies == 1);
    vg_config_free(&cfg);

    /* errors name the file */
    CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
    const char *bad = "server:\n  address: nope\n";
    CHECK(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
    CHECK(vg_config_load(path, &cfg, &err) < 0);
    char want[256];
    snprintf(want, sizeof want, "%s:2: server.address: invalid address `nope`", path);
    CHECK_MSG(strstr(err.msg, want) != NULL, "%s", err.msg);

    /* size cap: one byte over 1 MiB is refused before parsing */
    CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
    char *big = malloc(VG_CONFIG_FILE_MAX + 1);
    memset(big, '#', VG_CONFIG_FILE_MAX + 1);
    CHECK(write(fd, big, VG_CONFIG_FILE_MAX + 1) == VG_CONFIG_FILE_MAX + 1);
    CHECK(vg_config_load(path, &cfg, &err) < 0 && strstr(err.msg, "larger than") != NULL);
    CHECK(vg_config_parse(big, VG_CONFIG_FILE_MAX + 1, "big.yaml", &cfg, &err) < 0 &&
          strstr(err.msg, "larger than") != NULL);
    /* exactly at the cap (a comment) is fine */
    CHECK(vg_config_parse(big, VG_CONFIG_FILE_MAX, "big.yaml", &cfg, &err) == 0);
    vg_config_free(&cfg);
    free(big);
    close(fd);
    unlink(path);

    CHECK(vg_config_load("/nonexistent/vigil.yaml", &cfg, &err) < 0 && err.kind == VG_E_NOTFOUND);
    CHECK(vg_config_load("/tmp", &cfg, &err) < 0 && strstr(err.msg, "not a regular file") != NULL);
}

/* ---------- upstream vectors ---------- */

static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    if (at == NULL)
        return strdup(s);
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    size_t pre = (size_t)(at - s);
    memcpy(out, s, pre);
    memcpy(out + pre, to, strlen(to));
    strcpy(out + pre + strlen(to), at + strlen(from));
    return out;
}

/* config_cases.json. vigil validates the policy while loading (upstream's PreparePolicy at `serve`),
 * so each case runs twice: as given, and with the `- endorsement` generic entry removed (upstream's
 * own startup rejects it: "invalid operation kind `attestation`"), which isolates what the case tests. */
static void test_config_cases(void)
{
    char p[512];
    json_error_t je;
    json_t *root = json_load_file(vt_vector_path("signatory/config_cases.json", p, sizeof p), 0, &je);
    CHECK(root != NULL);
    if (root == NULL)
        return;
    json_t *d = json_object_get(root, "defaults");
    vg_config cfg;
    EXPECT_OK("", &cfg);
    CHECK_STR(cfg.address, json_string_value(json_object_get(d, "server.address")));
    CHECK_STR(cfg.utility_address, json_string_value(json_object_get(d, "server.utility_address")));
    CHECK_STR(cfg.watermark_driver, json_string_value(json_object_get(d, "watermark.driver")));
    /* deviation: base_dir default is /var/lib/vigil, not /var/lib/signatory */
    CHECK_STR(cfg.base_dir, "/var/lib/vigil");
    vg_config_free(&cfg);

    setenv("HOME", "/home/tester", 1);
    static const struct {
        const char *title;
        const char *as_given; /* NULL = loads */
        const char *fixed;    /* with `- endorsement` removed; NULL = loads */
    } expect[] = {
        {"Valid", "invalid operation kind `attestation` in `allow.generic` list", NULL},
        {"InvalidBase58", "vigil.yaml:16: tezos: invalid public key hash `111111111111111111111111111111111111`",
         "invalid public key hash"},
        {"InvalidType",
         "vigil.yaml:16: tezos: invalid public key hash `edpkv45regue1bWtuHnCgLU8xWKLwa9qRqv4gimgJKro4LSc3C5VjV`",
         "invalid public key hash"},
        /* upstream's validator test runs without defaults; the real loader (and vigil) fills base_dir */
        {"NoBaseDir", "invalid operation kind `attestation` in `allow.generic` list", NULL},
        {"InvalidAddress", "vigil.yaml:4: server.address: invalid address `xxxx`", "server.address: invalid address"},
        {"EmptyVaultData", "vigil.yaml:8: vaults.kms: empty vault entry", "vaults.kms: empty vault entry"},
    };
    json_t *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) == sizeof expect / sizeof expect[0]);
    size_t i;
    json_t *cs;
    json_array_foreach (cases, i, cs) {
        const char *title = json_string_value(json_object_get(cs, "title"));
        const char *yaml = json_string_value(json_object_get(cs, "yaml"));
        bool upstream_ok = json_is_null(json_object_get(cs, "expect_parse_error")) &&
                           json_is_null(json_object_get(cs, "expect_validate_error"));
        size_t k;
        for (k = 0; k < sizeof expect / sizeof expect[0]; k++)
            if (strcmp(expect[k].title, title) == 0)
                break;
        CHECK_MSG(k < sizeof expect / sizeof expect[0], "unknown case %s", title);
        if (k == sizeof expect / sizeof expect[0])
            continue;
        char *fixed = replace(yaml, "        - endorsement\n", "");
        for (int pass = 0; pass < 2; pass++) {
            const char *y = pass == 0 ? yaml : fixed;
            const char *want = pass == 0 ? expect[k].as_given : expect[k].fixed;
            vg_err err;
            capture_start();
            int rc = parse(y, &cfg, &err);
            free(capture_end());
            if (want == NULL) {
                CHECK_MSG(rc == 0, "%s (pass %d): %s", title, pass, err.msg);
                if (rc == 0) {
                    CHECK_STR(cfg.base_dir,
                              strcmp(title, "NoBaseDir") == 0 ? "/var/lib/vigil" : "/home/tester/.signatory");
                    CHECK(cfg.n_vaults == 1 && strcmp(cfg.vaults[0].driver, "cloudkms") == 0);
                    CHECK(cfg.n_policies == 2);
                    if (cfg.n_policies == 2) {
                        const vg_policy *pol = &cfg.policies[1];
                        CHECK(pol->log_payloads && pol->allowed_requests[VG_REQ_BLOCK] &&
                              pol->allowed_requests[VG_REQ_ATTESTATION] && pol->allowed_requests[VG_REQ_GENERIC]);
                        CHECK(pol->allowed_ops[vg_op_kind_lookup("transaction")]);
                        CHECK(cfg.policies[0].allowed_requests[VG_REQ_PREATTESTATION]);
                    }
                    vg_config_free(&cfg);
                }
            } else {
                CHECK_MSG(rc < 0 && strstr(err.msg, want) != NULL, "%s (pass %d): want '%s', got '%s'", title, pass,
                          want, rc < 0 ? err.msg : "success");
                if (rc == 0)
                    vg_config_free(&cfg);
            }
        }
        /* every upstream failure is a vigil failure too, except NoBaseDir (defaults apply) */
        if (!upstream_ok && strcmp(title, "NoBaseDir") != 0)
            CHECK(expect[k].as_given != NULL && expect[k].fixed != NULL);
        free(fixed);
    }
    json_decref(root);
}

static char *read_example(const char *rel, size_t *len)
{
    char p[512];
    char *y = vt_read_file(vt_vector_path(rel, p, sizeof p), len);
    CHECK_MSG(y != NULL, "cannot read %s", rel);
    return y;
}

static void test_examples(void)
{
    vg_config cfg;
    vg_err err;
    size_t len;

    /* root/signatory.yaml configures JWT: it loads (its weak passwords are refused by `serve`) */
    char *y = read_example("signatory/config_examples/root/signatory.yaml", &len);
    if (y != NULL) {
        int rc = vg_config_parse(y, len, "signatory.yaml", &cfg, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        if (rc == 0) {
            CHECK(cfg.n_jwt_users == 2 && strcmp(cfg.jwt_users[0].name, "user_name1") == 0 &&
                  cfg.jwt_users[0].cred.exp_minutes == 35);
            vg_config_free(&cfg);
        }
        /* without the jwt block the rest loads: four kept drivers, a default and an explicit policy */
        char *start = strstr(y, "  jwt:\n"), *end = strstr(y, "\nvaults:");
        CHECK(start != NULL && end != NULL);
        if (start != NULL && end != NULL) {
            memmove(start, end + 1, strlen(end + 1) + 1);
            CHECK_MSG(vg_config_parse(y, strlen(y), "signatory.yaml", &cfg, &err) == 0, "%s", err.msg);
            CHECK(cfg.n_vaults == 4 && cfg.n_policies == 2);
            if (cfg.n_vaults == 4) {
                CHECK_STR(cfg.vaults[0].driver, "cloudkms");
                CHECK_STR(cfg.vaults[1].driver, "azure");
                CHECK_STR(cfg.vaults[2].driver, "yubihsm");
                CHECK_STR(cfg.vaults[3].driver, "hashicorpvault");
                CHECK_STR(json_string_value(json_object_get(cfg.vaults[2].raw, "auth_key_id")), "1");
                CHECK_STR(json_string_value(
                              json_object_get(json_object_get(cfg.vaults[3].raw, "transitConfig"), "mountPoint")),
                          "transit/");
            }
            if (cfg.n_policies == 2) {
                const vg_policy *p = &cfg.policies[1];
                CHECK(p->log_payloads);
                for (int k = 0; k < VG_REQ_KIND_COUNT; k++)
                    CHECK(p->allowed_requests[k] == (k != VG_REQ_PACK));
                const char *ops[] = {"transaction",         "reveal", "delegation", "stake", "update_consensus_key",
                                     "update_companion_key"};
                int n_allowed = 0;
                for (int i = 0; i < vg_op_kind_count(); i++)
                    n_allowed += p->allowed_ops[i];
                CHECK(n_allowed == 6);
                for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
                    CHECK_MSG(vg_op_kind_lookup(ops[i]) >= 0 && p->allowed_ops[vg_op_kind_lookup(ops[i])], "%s",
                              ops[i]);
            }
            vg_config_free(&cfg);
        }
        free(y);
    }

    y = read_example("signatory/config_examples/integration_test/signatory.yaml", &len);
    if (y != NULL) {
        CHECK_MSG(vg_config_parse(y, len, "signatory.yaml", &cfg, &err) == 0, "%s", err.msg);
        CHECK(cfg.n_vaults == 2);
        if (cfg.n_vaults == 2) {
            CHECK_STR(cfg.vaults[0].name, "local_secret");
            CHECK_STR(cfg.vaults[0].file, "/etc/secret.json");
            CHECK_STR(cfg.vaults[1].driver, "ledger"); /* kept; the vault layer decides */
            CHECK_STR(json_string_value(json_object_get(cfg.vaults[1].raw, "close_after")), "3600s");
        }
        CHECK(cfg.n_policies == 13);
        vg_pkh q;
        vg_err e;
        const vg_policy *p;
        CHECK(vg_pkh_parse("tz1RKGhRF4TZNCXEfwyqZshGsVfrZeVU446B", &q, &e) == 0);
        p = vg_config_policy(&cfg, &q);
        CHECK(p != NULL && p->log_payloads);
        for (int k = 0; p != NULL && k < VG_REQ_KIND_COUNT; k++)
            CHECK(!p->allowed_requests[k]); /* `allow:` null: nothing */
        CHECK(vg_pkh_parse(TZ4, &q, &e) == 0);
        p = vg_config_policy(&cfg, &q);
        CHECK(p != NULL && p->allow_proof_of_possession && p->allowed_requests[VG_REQ_GENERIC]);
        CHECK(vg_pkh_parse("tz1WGcYos3hL7GXYXjKrMnSFdkT7FyXnFBvf", &q, &e) == 0);
        p = vg_config_policy(&cfg, &q);
        CHECK(p != NULL && p->allowed_requests[VG_REQ_BLOCK] && p->allowed_requests[VG_REQ_ATTESTATION] &&
              p->allowed_requests[VG_REQ_PREATTESTATION] && !p->allowed_requests[VG_REQ_GENERIC]);
        if (cfg.n_vaults > 0)
            vg_config_free(&cfg);
        free(y);
    }

    /* the policy-hook service's own config is not a vigil config: it loads with warnings only, and
     * the warnings name keys, never values (its private_key must not reach the log) */
    y = read_example("signatory/config_examples/approve-list-svc/config_example.yaml", &len);
    if (y != NULL) {
        capture_start();
        int rc = vg_config_parse(y, len, "config_example.yaml", &cfg, &err);
        char *out = capture_end();
        CHECK(rc == 0);
        CHECK(strstr(out, "unknown top-level key `private_key` ignored") != NULL);
        CHECK(strstr(out, "edsk3YfMTdSzkFqLtmiZoFtEN6sR9jp64zin7f4jUTJiKbTLCqkkcJ") == NULL);
        free(out);
        if (rc == 0)
            vg_config_free(&cfg);
        free(y);
    }
}

/* Parsing arbitrary truncations of a valid config never crashes and fails only with VG_E_INVALID. */
static void test_truncations(void)
{
    const char *y = "base_dir: /x\nserver:\n  address: ':1'\n  authorized_keys: [" ALICE_PK "]\n"
                    "vaults:\n  a:\n    driver: file\n    config: {file: /f}\ntezos:\n  " TZ1 ":\n    allow:\n"
                    "      generic: [transaction, 'ballot:yay']\n    allowed_chains: [NetXxkAx4woPLyu]\n";
    size_t n = strlen(y);
    capture_start();
    for (size_t i = 0; i <= n; i++) {
        vg_config cfg;
        vg_err err = {0};
        int rc = vg_config_parse(y, i, "t.yaml", &cfg, &err);
        if (rc == 0)
            vg_config_free(&cfg);
        else
            CHECK(err.kind == VG_E_INVALID);
    }
    free(capture_end());
}

/* libfyaml 0.7.12 never returns on `%\xff` (docs/testing.md, finding 2): invalid UTF-8 is refused
 * before it reaches the parser; valid multi-byte text still loads. */
static void test_utf8(void)
{
    EXPECT_ERR("%\xff", "vigil.yaml: invalid UTF-8 at byte offset 1");
    EXPECT_ERR("base_dir: /tmp/\xc3\n", "invalid UTF-8 at byte offset 15");
    EXPECT_ERR("base_dir: /tmp/\xc0\xaf\n", "invalid UTF-8 at byte offset 15"); /* overlong '/' */
    EXPECT_ERR("base_dir: /tmp/\xed\xa0\x80\n", "invalid UTF-8 at byte offset 15"); /* surrogate */
    vg_config cfg;
    EXPECT_OK("base_dir: /tmp/\xc3\xbc-\xe2\x82\xac-\xf0\x9f\x94\x91\n", &cfg);
    CHECK_STR(cfg.base_dir, "/tmp/\xc3\xbc-\xe2\x82\xac-\xf0\x9f\x94\x91");
    vg_config_free(&cfg);
}

int main(void)
{
    vt_init();
    test_utf8();
    test_defaults();
    test_null_sections();
    test_yaml_errors();
    test_unknown_keys_warn();
    test_env();
    test_addresses();
    test_vaults();
    test_watermark_and_unsupported();
    test_tezos();
    test_deprecated_lists();
    test_authorized_keys();
    test_load();
    test_truncations();
    if (vt_failures > 0)
        return vt_done("test_config");
    vt_require_shared();
    test_config_cases();
    test_examples();
    return vt_done("test_config");
}
