/* Attestation documents: the real AWS samples (../shared/vectors/attestation/) and software-NSM documents.
 * Verifies at pinned times, rejects tampering (byte flips, truncations), wrong roots, expired chains and
 * malformed payloads; exercises the NSM request/response codec through the software NSM. */
#define _GNU_SOURCE /* memmem */
#include "testlib.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "nitro/attestation.h"
#include "nitro/nitro_cbor.h"
#include "nitro/nsm.h"
#include "nitro/nsm_impl.h"

#define AWS_PINNED ((time_t)1725721200) /* 2024-09-07T15:00:00Z: inside every certificate's validity */
#define AWS_TIMESTAMP_MS 1725719859545ull
#define AWS_PCR0 "e72a46ca80a260fb044a125442f0c7e331813bcbaf9724d9f3857758992766f2d65710a27aa94ae3949dd54e7c9fe86a"

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static uint8_t *read_vec(const char *rel, size_t *len)
{
    char buf[1024];
    const char *path = vt_vector_path(rel, buf, sizeof buf);
    return path != NULL ? (uint8_t *)vt_read_file(path, len) : NULL;
}

/* Flips bytes of doc (XOR mask) at every `step`-th offset, and at every offset in [dense_from, dense_to);
 * every flipped document must be rejected. Returns the number of flips tried. */
static size_t flip_all(uint8_t *doc, size_t len, const uint8_t *root, size_t root_len, time_t at, size_t step,
                       size_t dense_from, size_t dense_to, uint8_t mask)
{
    size_t tried = 0, accepted = 0;
    for (size_t i = 0; i < len; i++) {
        if (!((i >= dense_from && i < dense_to) || i % step == 0))
            continue;
        struct vg_attestation a;
        vg_err err = {0};
        doc[i] ^= mask;
        int rc = vg_attestation_verify(doc, len, root, root_len, at, &a, &err);
        doc[i] ^= mask;
        tried++;
        if (rc == 0) {
            accepted++;
            vg_attestation_clear(&a);
            fprintf(stderr, "flip at offset %zu (mask %02x) accepted\n", i, mask);
        } else {
            CHECK_MSG(err.msg[0] != '\0', "no message for flip at %zu", i);
        }
    }
    CHECK_MSG(accepted == 0, "%zu of %zu flipped documents accepted", accepted, tried);
    return tried;
}

static void truncations(const uint8_t *doc, size_t len, const uint8_t *root, size_t root_len, time_t at)
{
    size_t accepted = 0;
    for (size_t n = 0; n < len; n += (n < 64 || len - n < 200) ? 1 : 7) {
        struct vg_attestation a;
        vg_err err = {0};
        if (vg_attestation_verify(doc, n, root, root_len, at, &a, &err) == 0) {
            accepted++;
            vg_attestation_clear(&a);
        }
    }
    CHECK_MSG(accepted == 0, "%zu truncated documents accepted", accepted);
}

static void test_embedded_root(void)
{
    size_t n;
    const uint8_t *der = vg_attestation_aws_root(&n);
    CHECK(der != NULL);
    if (der == NULL)
        return;
    uint8_t md[32];
    char hex[65];
    SHA256(der, n, md);
    vg_hex_encode(md, sizeof md, hex);
    CHECK_STR(hex, VG_ATTESTATION_AWS_ROOT_SHA256);
    size_t vlen;
    uint8_t *vec = read_vec("attestation/root.der", &vlen);
    if (vec != NULL) {
        CHECK(vlen == n && memcmp(vec, der, n) == 0);
        free(vec);
    }
    /* PEM and DER inputs both convert */
    size_t plen;
    uint8_t *pem = read_vec("attestation/root.pem", &plen), *out = NULL;
    size_t olen;
    vg_err err = {0};
    if (pem != NULL) {
        CHECK(vg_attestation_cert_to_der(pem, plen, &out, &olen, &err) == 0 && olen == n && memcmp(out, der, n) == 0);
        free(out);
        free(pem);
    }
    CHECK(vg_attestation_cert_to_der((const uint8_t *)"garbage", 7, &out, &olen, &err) == -1);
    CHECK(err.kind == VG_E_INVALID);
}

static void test_aws_document(const char *rel, bool debug)
{
    size_t len, root_len;
    uint8_t *doc = read_vec(rel, &len), *root = read_vec("attestation/root.der", &root_len);
    CHECK(doc != NULL && root != NULL);
    if (doc == NULL || root == NULL) {
        free(doc);
        free(root);
        return;
    }
    struct vg_attestation a;
    vg_err err = {0};
    int rc = vg_attestation_verify(doc, len, root, root_len, AWS_PINNED, &a, &err);
    CHECK_MSG(rc == 0, "%s: %s", rel, err.msg);
    if (rc == 0) {
        CHECK(strncmp(a.module_id, "i-0a22e5c5f24d22174-enc", 23) == 0); /* instance, then enclave id */
        if (!debug)
            CHECK_STR(a.module_id, "i-0a22e5c5f24d22174-enc0191cceb4289903f");
        CHECK_STR(a.digest, "SHA384");
        CHECK(a.n_pcrs == 16);
        CHECK(a.n_cabundle == 4);
        CHECK(a.public_key_len == 1024 && all_bytes(a.public_key, 1024, 0x01));
        CHECK(a.user_data_len == 1024 && all_bytes(a.user_data, 1024, 0x01));
        CHECK(a.nonce_len == 1024 && all_bytes(a.nonce, 1024, 0x01));
        const struct vg_attestation_pcr *p0 = vg_attestation_pcr(&a, 0);
        CHECK(p0 != NULL && p0->len == 48);
        if (p0 != NULL) {
            char hex[97];
            vg_hex_encode(p0->value, p0->len, hex);
            if (debug)
                CHECK(all_bytes(p0->value, 48, 0));
            else
                CHECK_STR(hex, AWS_PCR0);
        }
        for (uint32_t i = 1; i <= 2; i++) {
            const struct vg_attestation_pcr *p = vg_attestation_pcr(&a, i);
            CHECK(p != NULL && all_bytes(p->value, p->len, 0) == debug);
        }
        CHECK(vg_attestation_pcr(&a, 16) == NULL);
        for (size_t i = 0; i + 1 < a.n_pcrs; i++)
            CHECK(a.pcrs[i].index < a.pcrs[i + 1].index);
        if (!debug)
            CHECK(a.timestamp_ms == AWS_TIMESTAMP_MS);
        /* a wrong root (here: the first intermediate) is rejected */
        size_t wl = a.cabundle_len[1];
        uint8_t *wrong = malloc(wl);
        memcpy(wrong, a.cabundle[1], wl);
        vg_attestation_clear(&a);
        CHECK(vg_attestation_verify(doc, len, wrong, wl, AWS_PINNED, &a, &err) == -1);
        CHECK_MSG(err.kind == VG_E_FORBIDDEN && strstr(err.msg, "not the trusted root") != NULL, "%s", err.msg);
        CHECK(vg_attestation_verify(doc, len, wrong, wl - 1, AWS_PINNED, &a, &err) == -1);
        CHECK(err.kind == VG_E_INVALID);
        free(wrong);
        vg_attestation_clear(&a); /* idempotent */
    }
    /* the embedded root is the same anchor */
    rc = vg_attestation_verify(doc, len, NULL, 0, AWS_PINNED, &a, &err);
    CHECK_MSG(rc == 0, "embedded root: %s", err.msg);
    vg_attestation_clear(&a);

    /* time: now (expired), after the leaf's 3 hours, before its start */
    CHECK(vg_attestation_verify(doc, len, root, root_len, 0, &a, &err) == -1);
    CHECK_MSG(strstr(err.msg, "expired") != NULL && err.kind == VG_E_FORBIDDEN, "%s", err.msg);
    CHECK(a.owned_ == NULL && a.n_pcrs == 0);
    CHECK(vg_attestation_verify(doc, len, root, root_len, AWS_PINNED + 3 * 3600, &a, &err) == -1);
    CHECK_MSG(strstr(err.msg, "expired") != NULL, "%s", err.msg);
    CHECK(vg_attestation_verify(doc, len, root, root_len, 1725719800, &a, &err) == -1);
    CHECK_MSG(strstr(err.msg, "not yet valid") != NULL, "%s", err.msg);

    /* tag 18 in front is accepted */
    uint8_t *tagged = malloc(len + 1);
    tagged[0] = 0xd2;
    memcpy(tagged + 1, doc, len);
    rc = vg_attestation_verify(tagged, len + 1, root, root_len, AWS_PINNED, &a, &err);
    CHECK_MSG(rc == 0, "tag 18: %s", err.msg);
    vg_attestation_clear(&a);
    tagged[0] = 0xd1; /* another tag is not */
    CHECK(vg_attestation_verify(tagged, len + 1, root, root_len, AWS_PINNED, &a, &err) == -1);
    free(tagged);
    /* trailing garbage */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, doc, len);
    longer[len] = 0x00;
    CHECK(vg_attestation_verify(longer, len + 1, root, root_len, AWS_PINNED, &a, &err) == -1);
    CHECK_MSG(strstr(err.msg, "trailing") != NULL, "%s", err.msg);
    free(longer);

    /* tampering: the production sample flips every byte; the debug one, protected header + signature +
     * every 5th byte. Offsets: 0 array head, 1..5 protected bstr, 6 unprotected, 7..9 payload head. */
    size_t sig_from = len - 96;
    if (!debug) {
        size_t n = flip_all(doc, len, root, root_len, AWS_PINNED, 1, 0, len, 0x01);
        CHECK(n == len);
    } else {
        flip_all(doc, len, root, root_len, AWS_PINNED, 5, 0, 16, 0x80);
        flip_all(doc, len, root, root_len, AWS_PINNED, len, sig_from, len, 0xff);
    }
    truncations(doc, len, root, root_len, AWS_PINNED);
    free(doc);
    free(root);
}

/* ---- parse-only field rules on hand-made documents ---- */

struct field_opts {
    const char *digest;
    bool drop_module_id;
    bool dup_digest;
    bool unknown_key;
    bool pcr_len_47;
    bool pcr_index_32;
    bool empty_cabundle;
    bool unprotected_nonempty;
    uint8_t alg_byte; /* protected {1: alg}; 0x38 0x22 = -35 normally */
};

static uint8_t *make_doc(const struct field_opts *o, size_t *len)
{
    static const uint8_t cert[3] = {0x30, 0x01, 0x00};
    uint8_t pcr[48] = {0};
    struct vg_nitro_cbor_out p, d;
    vg_nitro_cbor_out_init(&p, 1 << 16);
    vg_nitro_cbor_out_init(&d, 1 << 16);
    size_t pairs = 9 - (o->drop_module_id ? 1 : 0) + (o->dup_digest ? 1 : 0) + (o->unknown_key ? 1 : 0);
    vg_nitro_cbor_put_head(&p, VG_NITRO_CBOR_MAP, pairs);
    if (!o->drop_module_id) {
        vg_nitro_cbor_put_text(&p, "module_id");
        vg_nitro_cbor_put_text(&p, "i-test");
    }
    vg_nitro_cbor_put_text(&p, "digest");
    vg_nitro_cbor_put_text(&p, o->digest ? o->digest : "SHA384");
    if (o->dup_digest) {
        vg_nitro_cbor_put_text(&p, "digest");
        vg_nitro_cbor_put_text(&p, "SHA384");
    }
    if (o->unknown_key) {
        vg_nitro_cbor_put_text(&p, "extra");
        vg_nitro_cbor_put_uint(&p, 1);
    }
    vg_nitro_cbor_put_text(&p, "timestamp");
    vg_nitro_cbor_put_uint(&p, 1000);
    vg_nitro_cbor_put_text(&p, "pcrs");
    vg_nitro_cbor_put_head(&p, VG_NITRO_CBOR_MAP, 2);
    vg_nitro_cbor_put_uint(&p, o->pcr_index_32 ? 32 : 3);
    vg_nitro_cbor_put_bytes(&p, pcr, o->pcr_len_47 ? 47 : 48);
    vg_nitro_cbor_put_uint(&p, 1);
    vg_nitro_cbor_put_bytes(&p, pcr, 32);
    vg_nitro_cbor_put_text(&p, "certificate");
    vg_nitro_cbor_put_bytes(&p, cert, sizeof cert);
    vg_nitro_cbor_put_text(&p, "cabundle");
    vg_nitro_cbor_put_head(&p, VG_NITRO_CBOR_ARRAY, o->empty_cabundle ? 0 : 1);
    if (!o->empty_cabundle)
        vg_nitro_cbor_put_bytes(&p, cert, sizeof cert);
    vg_nitro_cbor_put_text(&p, "public_key");
    vg_nitro_cbor_put_null(&p);
    vg_nitro_cbor_put_text(&p, "user_data");
    vg_nitro_cbor_put_bytes(&p, NULL, 0);
    vg_nitro_cbor_put_text(&p, "nonce");
    vg_nitro_cbor_put_null(&p);

    uint8_t prot[4] = {0xa1, 0x01, 0x38, o->alg_byte ? o->alg_byte : 0x22};
    uint8_t sig[96] = {1};
    vg_nitro_cbor_put_head(&d, VG_NITRO_CBOR_ARRAY, 4);
    vg_nitro_cbor_put_bytes(&d, prot, sizeof prot);
    vg_nitro_cbor_put_head(&d, VG_NITRO_CBOR_MAP, o->unprotected_nonempty ? 1 : 0);
    if (o->unprotected_nonempty) {
        vg_nitro_cbor_put_uint(&d, 4);
        vg_nitro_cbor_put_bytes(&d, sig, 4);
    }
    vg_nitro_cbor_put_bytes(&d, p.buf, p.len);
    vg_nitro_cbor_put_bytes(&d, sig, sizeof sig);
    vg_nitro_cbor_out_free(&p);
    return vg_nitro_cbor_out_take(&d, len);
}

static void expect_parse(const struct field_opts *o, const char *want)
{
    size_t len;
    uint8_t *doc = make_doc(o, &len);
    struct vg_attestation a;
    vg_err err = {0};
    int rc = vg_attestation_parse(doc, len, &a, &err);
    if (want == NULL) {
        CHECK_MSG(rc == 0, "%s", err.msg);
        if (rc == 0) {
            CHECK_STR(a.module_id, "i-test");
            CHECK(a.n_pcrs == 2 && a.pcrs[0].index == 1 && a.pcrs[0].len == 32 && a.pcrs[1].index == 3);
            CHECK(a.public_key == NULL && a.nonce == NULL && a.user_data != NULL && a.user_data_len == 0);
        }
    } else {
        CHECK_MSG(rc == -1 && strstr(err.msg, want) != NULL && err.kind == VG_E_INVALID, "want '%s', got '%s'",
                  want, rc == 0 ? "success" : err.msg);
    }
    vg_attestation_clear(&a);
    free(doc);
}

static void test_field_rules(void)
{
    expect_parse(&(struct field_opts){0}, NULL);
    expect_parse(&(struct field_opts){.digest = "SHA256"}, "is not SHA384");
    expect_parse(&(struct field_opts){.drop_module_id = true}, "missing 'module_id'");
    expect_parse(&(struct field_opts){.dup_digest = true}, "repeated key 'digest'");
    expect_parse(&(struct field_opts){.unknown_key = true}, "unknown key 'extra'");
    expect_parse(&(struct field_opts){.pcr_len_47 = true}, "want 32, 48 or 64");
    expect_parse(&(struct field_opts){.pcr_index_32 = true}, "out of range");
    expect_parse(&(struct field_opts){.empty_cabundle = true}, "cabundle: empty");
    expect_parse(&(struct field_opts){.unprotected_nonempty = true}, "unprotected header");
    expect_parse(&(struct field_opts){.alg_byte = 0x26}, "not ES384"); /* -39 = PS512 */

    /* the COSE envelope is type-checked: payload as text, signature 95 bytes, 3 items, deep nesting */
    static const uint8_t three[] = {0x83, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x40};
    static const uint8_t text_payload[] = {0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x60, 0x40};
    struct vg_attestation a;
    vg_err err = {0};
    CHECK(vg_attestation_parse(three, sizeof three, &a, &err) == -1);
    CHECK(vg_attestation_parse(text_payload, sizeof text_payload, &a, &err) == -1);
    CHECK_MSG(strstr(err.msg, "expected byte string") != NULL, "%s", err.msg);
    CHECK(vg_attestation_parse(NULL, 0, &a, &err) == -1);
    uint8_t *huge = calloc(1, VG_ATTESTATION_DOC_MAX + 1);
    CHECK(vg_attestation_parse(huge, VG_ATTESTATION_DOC_MAX + 1, &a, &err) == -1);
    free(huge);
}

static void test_cbor_skip(void)
{
    /* nested arrays beyond the depth cap are refused; an indefinite map skips cleanly */
    uint8_t deep[64];
    memset(deep, 0x81, sizeof deep);
    deep[sizeof deep - 1] = 0x00;
    vg_err err = {0};
    vg_reader r = vg_reader_init(deep, sizeof deep, &err);
    CHECK(vg_nitro_cbor_skip(&r, "deep") == -1);
    CHECK_MSG(strstr(err.msg, "nesting too deep") != NULL, "%s", err.msg);
    static const uint8_t ok[] = {0xbf, 0x61, 'a', 0x5f, 0x41, 0x00, 0x41, 0x01, 0xff, 0xc1, 0x00, 0x02, 0xff, 0x01};
    r = vg_reader_init(ok, sizeof ok, &err);
    CHECK_MSG(vg_nitro_cbor_skip(&r, "ok") == 0 && r.off == sizeof ok - 1, "%s", err.msg);
    static const uint8_t odd_map[] = {0xbf, 0x01, 0xff};
    r = vg_reader_init(odd_map, sizeof odd_map, &err);
    CHECK(vg_nitro_cbor_skip(&r, "odd") == -1);
    static const uint8_t bad_chunk[] = {0x5f, 0x61, 'a', 0xff};
    r = vg_reader_init(bad_chunk, sizeof bad_chunk, &err);
    CHECK(vg_nitro_cbor_skip(&r, "chunk") == -1);
    static const uint8_t reserved[] = {0x1c};
    r = vg_reader_init(reserved, sizeof reserved, &err);
    CHECK(vg_nitro_cbor_skip(&r, "reserved") == -1);
}

/* ---- the software NSM ---- */

static uint8_t *rsa_spki(size_t *len)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    unsigned char *der = NULL;
    int n = k != NULL ? i2d_PUBKEY(k, &der) : -1;
    EVP_PKEY_free(k);
    if (n <= 0)
        return NULL;
    uint8_t *out = malloc((size_t)n);
    memcpy(out, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return out;
}

static void test_soft_nsm(void)
{
    char dir[] = "/tmp/vigil-test-nsm-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char nsm_dir[256], root_path[300];
    snprintf(nsm_dir, sizeof nsm_dir, "%s/dev-nsm", dir);
    snprintf(root_path, sizeof root_path, "%s/root.pem", nsm_dir);

    struct vg_nsm *nsm = NULL;
    vg_err err = {0};
    CHECK_MSG(vg_nsm_open_soft(nsm_dir, &nsm, &err) == 0, "%s", err.msg);
    if (nsm == NULL)
        return;
    CHECK_STR(vg_nsm_kind(nsm), "software");
    struct stat st;
    char key_path[300];
    snprintf(key_path, sizeof key_path, "%s/root.key", nsm_dir);
    CHECK(stat(nsm_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK(stat(key_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(root_path, &st) == 0 && (st.st_mode & 0777) == 0600);

    size_t root_pem_len, root_len;
    uint8_t *root_pem = (uint8_t *)vt_read_file(root_path, &root_pem_len), *root = NULL;
    CHECK(root_pem != NULL && vg_attestation_cert_to_der(root_pem, root_pem_len, &root, &root_len, &err) == 0);
    free(root_pem);

    size_t spki_len = 0;
    uint8_t *spki = rsa_spki(&spki_len);
    CHECK(spki != NULL && spki_len == 294);
    static const uint8_t nonce[] = {0xde, 0xad, 0xbe, 0xef};
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    CHECK_MSG(vg_nsm_attestation(nsm, spki, spki_len, NULL, 0, nonce, sizeof nonce, &doc, &doc_len, &err) == 0, "%s",
              err.msg);

    struct vg_attestation a;
    time_t before = time(NULL);
    int rc = vg_attestation_verify(doc, doc_len, root, root_len, 0, &a, &err);
    CHECK_MSG(rc == 0, "soft document with the dev root: %s", err.msg);
    if (rc == 0) {
        CHECK_STR(a.module_id, VG_NSM_SOFT_MODULE_ID);
        CHECK_STR(a.digest, "SHA384");
        CHECK(a.n_pcrs == 16);
        for (size_t i = 0; i < a.n_pcrs; i++)
            CHECK(a.pcrs[i].index == i && a.pcrs[i].len == 48 && all_bytes(a.pcrs[i].value, 48, 0));
        CHECK(a.public_key_len == spki_len && memcmp(a.public_key, spki, spki_len) == 0);
        CHECK(a.user_data == NULL);
        CHECK(a.nonce_len == sizeof nonce && memcmp(a.nonce, nonce, sizeof nonce) == 0);
        CHECK(a.timestamp_ms / 1000 >= (uint64_t)before - 5 && a.timestamp_ms / 1000 <= (uint64_t)before + 60);
        CHECK(a.n_cabundle == 2 && a.cabundle_len[0] == root_len && memcmp(a.cabundle[0], root, root_len) == 0);
        vg_attestation_clear(&a);
    }
    /* the payload is an indefinite map (2025 firmware) */
    CHECK(doc_len > 10 && doc[0] == 0x84);

    /* never with the AWS root; not 4 hours from now (the leaf lives 3) */
    CHECK(vg_attestation_verify(doc, doc_len, NULL, 0, 0, &a, &err) == -1);
    CHECK_MSG(err.kind == VG_E_FORBIDDEN && strstr(err.msg, "not the trusted root") != NULL, "%s", err.msg);
    size_t aws_len;
    uint8_t *aws = read_vec("attestation/root.der", &aws_len);
    if (aws != NULL) {
        CHECK(vg_attestation_verify(doc, doc_len, aws, aws_len, 0, &a, &err) == -1);
        free(aws);
    }
    CHECK(vg_attestation_verify(doc, doc_len, root, root_len, time(NULL) + 4 * 3600, &a, &err) == -1);
    CHECK_MSG(strstr(err.msg, "expired") != NULL, "%s", err.msg);

    /* tampering: every byte of the header and signature, every 3rd elsewhere, two masks */
    flip_all(doc, doc_len, root, root_len, 0, 3, 0, 12, 0x01);
    flip_all(doc, doc_len, root, root_len, 0, 11, doc_len - 96, doc_len, 0x80);
    truncations(doc, doc_len, root, root_len, 0);

    /* a second handle on the same directory reuses the root; its documents verify with it too */
    struct vg_nsm *again = NULL;
    uint8_t *doc2 = NULL;
    size_t doc2_len = 0;
    CHECK_MSG(vg_nsm_open_soft(nsm_dir, &again, &err) == 0, "%s", err.msg);
    CHECK(again != NULL && vg_nsm_attestation(again, NULL, 0, NULL, 0, NULL, 0, &doc2, &doc2_len, &err) == 0);
    rc = vg_attestation_verify(doc2, doc2_len, root, root_len, 0, &a, &err);
    CHECK_MSG(rc == 0, "second handle: %s", err.msg);
    if (rc == 0)
        CHECK(a.public_key == NULL && a.user_data == NULL && a.nonce == NULL);
    vg_attestation_clear(&a);
    vg_nsm_close(again);
    free(doc2);

    /* argument limits (client side) and the NSM's own error replies (device side) */
    uint8_t big[VG_NSM_FIELD_MAX + 1] = {0};
    CHECK(vg_nsm_attestation(nsm, big, sizeof big, NULL, 0, NULL, 0, &doc2, &doc2_len, &err) == -1);
    CHECK(err.kind == VG_E_INVALID);
    CHECK(vg_nsm_attestation(nsm, big, 0, NULL, 0, NULL, 0, &doc2, &doc2_len, &err) == -1);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    static const uint8_t describe[] = {0x6b, 'D', 'e', 's', 'c', 'r', 'i', 'b', 'e', 'N', 'S', 'M'};
    CHECK(vg_nsm_raw(nsm, describe, sizeof describe, &resp, &resp_len, &err) == 0);
    static const uint8_t invalid_op[] = {0xa1, 0x65, 'E', 'r', 'r', 'o', 'r', 0x70, 'I', 'n', 'v', 'a', 'l',
                                         'i',  'd',  'O', 'p', 'e', 'r', 'a', 't', 'i',  'o', 'n'};
    CHECK(resp_len == sizeof invalid_op && memcmp(resp, invalid_op, sizeof invalid_op) == 0);
    free(resp);
    /* {"Attestation": {"nonce": 1025 bytes}} → InputTooLarge */
    struct vg_nitro_cbor_out q;
    vg_nitro_cbor_out_init(&q, VG_NSM_REQUEST_MAX);
    vg_nitro_cbor_put_head(&q, VG_NITRO_CBOR_MAP, 1);
    vg_nitro_cbor_put_text(&q, "Attestation");
    vg_nitro_cbor_put_head(&q, VG_NITRO_CBOR_MAP, 1);
    vg_nitro_cbor_put_text(&q, "nonce");
    vg_nitro_cbor_put_bytes(&q, big, sizeof big);
    CHECK(vg_nsm_raw(nsm, q.buf, q.len, &resp, &resp_len, &err) == 0);
    CHECK(resp != NULL && resp_len > 14 && memmem(resp, resp_len, "InputTooLarge", 13) != NULL);
    free(resp);
    vg_nitro_cbor_out_free(&q);
    static const uint8_t garbage[] = {0xff, 0x00};
    CHECK(vg_nsm_raw(nsm, garbage, sizeof garbage, &resp, &resp_len, &err) == 0);
    CHECK(resp != NULL && memmem(resp, resp_len, "InvalidArgument", 15) != NULL);
    free(resp);
    CHECK(vg_nsm_raw(nsm, garbage, 0, &resp, &resp_len, &err) == -1);

    /* GetRandom: more than one reply's worth, not constant, two fills differ */
    uint8_t r1[1000], r2[1000];
    CHECK(vg_nsm_get_random(nsm, r1, sizeof r1, &err) == 0);
    CHECK(vg_nsm_random_mixed(nsm, r2, sizeof r2, &err) == 0);
    CHECK(!all_bytes(r1, sizeof r1, r1[0]) && memcmp(r1, r2, sizeof r1) != 0);
    /* seeding the kernel pool needs CAP_SYS_ADMIN: either works or fails with a message, never crashes */
    rc = vg_nsm_seed_kernel(nsm, &err);
    CHECK(rc == 0 || strstr(err.msg, "RNDADDENTROPY") != NULL);

    /* a directory holding only one of the two files is refused */
    CHECK(unlink(key_path) == 0);
    struct vg_nsm *broken = NULL;
    CHECK(vg_nsm_open_soft(nsm_dir, &broken, &err) == -1 && broken == NULL);
    CHECK_MSG(strstr(err.msg, "only one of") != NULL, "%s", err.msg);

    vg_nsm_close(nsm);
    free(doc);
    free(spki);
    free(root);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ---- the client's wire bytes, through a capturing driver ---- */

static uint8_t cap_req[VG_NSM_REQUEST_MAX];
static size_t cap_req_len;
static const uint8_t *canned;
static size_t canned_len;

static int capture_raw(struct vg_nsm *nsm, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len,
                       vg_err *err)
{
    memcpy(cap_req, req, req_len);
    cap_req_len = req_len;
    memcpy(resp, canned, canned_len);
    *resp_len = canned_len;
    return 0;
}

static const struct vg_nsm_ops capture_ops = {"capture", capture_raw, NULL};

static void test_wire_bytes(void)
{
    struct vg_nsm *n = vg_nsm_alloc(&capture_ops);
    vg_err err = {0};
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    uint8_t pk[294];
    memset(pk, 0x30, sizeof pk);
    /* reply {"Attestation": {"document": h'84…'}} */
    static const uint8_t reply[] = {0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o', 'n', 0xa1, 0x68,
                                    'd',  'o',  'c', 'u', 'm', 'e', 'n', 't', 0x43, 0x84, 0x01, 0x02};
    canned = reply;
    canned_len = sizeof reply;
    CHECK_MSG(vg_nsm_attestation(n, pk, sizeof pk, NULL, 0, NULL, 0, &doc, &doc_len, &err) == 0, "%s", err.msg);
    CHECK(doc_len == 3 && doc[0] == 0x84);
    free(doc);
    /* upstream's request: {"Attestation": {"user_data": null, "nonce": null, "public_key": h'…'}} */
    static const uint8_t want_head[] = {0xa1, 0x6b, 'A', 't', 't', 'e', 's', 't', 'a', 't', 'i', 'o', 'n', 0xa3,
                                        0x69, 'u',  's', 'e', 'r', '_', 'd', 'a', 't', 'a', 0xf6, 0x65, 'n', 'o',
                                        'n',  'c',  'e', 0xf6, 0x6a, 'p', 'u', 'b', 'l', 'i', 'c', '_', 'k', 'e',
                                        'y',  0x59, 0x01, 0x26};
    CHECK(cap_req_len == sizeof want_head + sizeof pk && memcmp(cap_req, want_head, sizeof want_head) == 0 &&
          memcmp(cap_req + sizeof want_head, pk, sizeof pk) == 0);

    /* GetRandom: the bare text request; an error reply; a reply of the wrong variant */
    static const uint8_t rnd_reply[] = {0xa1, 0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm', 0xa1, 0x66,
                                        'r',  'a',  'n', 'd', 'o', 'm', 0x44, 1, 2, 3, 4};
    canned = rnd_reply;
    canned_len = sizeof rnd_reply;
    uint8_t out[10];
    CHECK(vg_nsm_get_random(n, out, sizeof out, &err) == 0);
    CHECK(cap_req_len == 10 && memcmp(cap_req, "\x69GetRandom", 10) == 0);
    CHECK(out[0] == 1 && out[3] == 4 && out[4] == 1 && out[9] == 2);
    static const uint8_t err_reply[] = {0xa1, 0x65, 'E', 'r', 'r', 'o', 'r', 0x6f, 'I', 'n', 'v', 'a', 'l',
                                        'i',  'd',  'A', 'r', 'g', 'u', 'm', 'e', 'n', 't'};
    canned = err_reply;
    canned_len = sizeof err_reply;
    CHECK(vg_nsm_get_random(n, out, sizeof out, &err) == -1);
    CHECK_MSG(strstr(err.msg, "NSM error: InvalidArgument") != NULL && err.kind == VG_E_UNAVAILABLE, "%s", err.msg);
    canned = reply;
    canned_len = sizeof reply;
    CHECK(vg_nsm_get_random(n, out, sizeof out, &err) == -1);
    CHECK_MSG(strstr(err.msg, "unexpected variant 'Attestation'") != NULL, "%s", err.msg);
    static const uint8_t empty_rnd[] = {0xa1, 0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm', 0xa1, 0x66,
                                        'r',  'a',  'n', 'd', 'o', 'm', 0x40};
    canned = empty_rnd;
    canned_len = sizeof empty_rnd;
    CHECK(vg_nsm_get_random(n, out, sizeof out, &err) == -1);
    CHECK_MSG(strstr(err.msg, "no bytes") != NULL, "%s", err.msg);
    /* truncated / trailing replies */
    canned = reply;
    canned_len = sizeof reply - 1;
    CHECK(vg_nsm_attestation(n, pk, sizeof pk, NULL, 0, NULL, 0, &doc, &doc_len, &err) == -1);
    vg_nsm_close(n);
}

static void test_device_absent(void)
{
    struct vg_nsm *n = NULL;
    vg_err err = {0};
    CHECK(vg_nsm_open_device("/nonexistent/nsm", &n, &err) == -1 && n == NULL);
    CHECK_MSG(err.kind == VG_E_UNAVAILABLE && strstr(err.msg, "Nitro Enclave") != NULL, "%s", err.msg);
    /* a file that is not the device: the ioctl fails cleanly */
    char path[] = "/tmp/vigil-test-fake-nsm-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_MSG(vg_nsm_open_device(path, &n, &err) == 0, "%s", err.msg);
    if (n != NULL) {
        CHECK_STR(vg_nsm_kind(n), "device");
        uint8_t b[8];
        CHECK(vg_nsm_get_random(n, b, sizeof b, &err) == -1);
        CHECK_MSG(strstr(err.msg, "NSM ioctl") != NULL && err.kind == VG_E_UNAVAILABLE, "%s", err.msg);
        vg_nsm_close(n);
    }
    unlink(path);
}

int main(void)
{
    vt_init();
    test_field_rules();
    test_cbor_skip();
    test_device_absent();
    test_wire_bytes();
    test_soft_nsm();
    test_embedded_root();
    char buf[1024];
    if (vt_vector_path("attestation/nitro_attestation.cose", buf, sizeof buf) != NULL) {
        test_aws_document("attestation/nitro_attestation.cose", false);
        test_aws_document("attestation/nitro_attestation_debug.cose", true);
    } else {
        printf("note: ../shared absent, AWS sample documents not tested\n");
    }
    return vt_done("test_attestation");
}
