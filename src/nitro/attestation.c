#include "nitro/attestation.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nitro/nitro_cbor.h"

#define COSE_TAG_SIGN1 18
#define COSE_HDR_ALG 1
#define COSE_ALG_ES384 (-35)
#define SIG_LEN 96
#define CHAIN_DEPTH_MAX (VG_ATTESTATION_CABUNDLE_MAX + 1)

/* AWS Nitro Enclaves root G1: CN=aws.nitro-enclaves, O=Amazon, OU=AWS, C=US; P-384; 2019-10-28 to
 * 2049-10-28; DER SHA-256 641a0321…79bb5b. Public certificate from
 * https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip (test_attestation checks the
 * fingerprint). */
static const char aws_root_g1_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICETCCAZagAwIBAgIRAPkxdWgbkK/hHUbMtOTn+FYwCgYIKoZIzj0EAwMwSTEL\n"
    "MAkGA1UEBhMCVVMxDzANBgNVBAoMBkFtYXpvbjEMMAoGA1UECwwDQVdTMRswGQYD\n"
    "VQQDDBJhd3Mubml0cm8tZW5jbGF2ZXMwHhcNMTkxMDI4MTMyODA1WhcNNDkxMDI4\n"
    "MTQyODA1WjBJMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGQW1hem9uMQwwCgYDVQQL\n"
    "DANBV1MxGzAZBgNVBAMMEmF3cy5uaXRyby1lbmNsYXZlczB2MBAGByqGSM49AgEG\n"
    "BSuBBAAiA2IABPwCVOumCMHzaHDimtqQvkY4MpJzbolL//Zy2YlES1BR5TSksfbb\n"
    "48C8WBoyt7F2Bw7eEtaaP+ohG2bnUs990d0JX28TcPQXCEPZ3BABIeTPYwEoCWZE\n"
    "h8l5YoQwTcU/9KNCMEAwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQUkCW1DdkF\n"
    "R+eWw5b6cp3PmanfS5YwDgYDVR0PAQH/BAQDAgGGMAoGCCqGSM49BAMDA2kAMGYC\n"
    "MQCjfy+Rocm9Xue4YnwWmNJVA44fA0P5W2OpYow9OYCVRaEevL8uO1XYru5xtMPW\n"
    "rfMCMQCi85sWBbJwKKXdS6BptQFuZbT73o/gBh1qUxl/nNr12UO8Yfwr6wPLb+6N\n"
    "IwLz3/Y=\n"
    "-----END CERTIFICATE-----\n";

static uint8_t aws_root_der[1024];
static size_t aws_root_der_len;
static pthread_once_t aws_root_once = PTHREAD_ONCE_INIT;

static void decode_aws_root(void)
{
    uint8_t *p = NULL;
    size_t n = 0;
    if (vg_attestation_cert_to_der((const uint8_t *)aws_root_g1_pem, sizeof aws_root_g1_pem - 1, &p, &n, NULL) == 0 &&
        n <= sizeof aws_root_der) {
        memcpy(aws_root_der, p, n);
        aws_root_der_len = n;
    }
    free(p);
}

const uint8_t *vg_attestation_aws_root(size_t *len)
{
    pthread_once(&aws_root_once, decode_aws_root); /* the PEM above is the single source */
    if (aws_root_der_len == 0)
        return NULL;
    *len = aws_root_der_len;
    return aws_root_der;
}

static bool has_pem_marker(const uint8_t *in, size_t len)
{
    static const char marker[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof marker - 1 <= len; i++)
        if (memcmp(in + i, marker, sizeof marker - 1) == 0)
            return true;
    return false;
}

int vg_attestation_cert_to_der(const uint8_t *in, size_t len, uint8_t **der, size_t *der_len, vg_err *err)
{
    *der = NULL;
    *der_len = 0;
    if (len == 0 || len > 1 << 20)
        return vg_fail(err, VG_E_INVALID, "certificate: empty or too large");
    X509 *x = NULL;
    if (has_pem_marker(in, len)) {
        BIO *b = BIO_new_mem_buf(in, (int)len);
        if (b != NULL)
            x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const unsigned char *p = in;
        x = d2i_X509(NULL, &p, (long)len);
        if (x != NULL && p != in + len) {
            X509_free(x);
            x = NULL;
        }
    }
    ERR_clear_error();
    if (x == NULL)
        return vg_fail(err, VG_E_INVALID, "certificate: neither PEM nor DER X.509");
    unsigned char *out = NULL;
    int n = i2d_X509(x, &out);
    X509_free(x);
    if (n <= 0)
        return vg_fail(err, VG_E_INTERNAL, "certificate: cannot re-encode");
    *der = malloc((size_t)n);
    if (*der == NULL) {
        OPENSSL_free(out);
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    }
    memcpy(*der, out, (size_t)n);
    OPENSSL_free(out);
    *der_len = (size_t)n;
    return 0;
}

void vg_attestation_clear(struct vg_attestation *a)
{
    if (a == NULL)
        return;
    free(a->owned_);
    memset(a, 0, sizeof *a);
}

const struct vg_attestation_pcr *vg_attestation_pcr(const struct vg_attestation *a, uint32_t index)
{
    for (size_t i = 0; i < a->n_pcrs; i++)
        if (a->pcrs[i].index == index)
            return &a->pcrs[i];
    return NULL;
}

/* ---- parsing ---- */

static int parse_protected(const uint8_t *p, size_t n, vg_err *err)
{
    vg_reader r = vg_reader_init(p, n, err);
    struct vg_nitro_cbor_seq s;
    bool more, have_alg = false;
    if (vg_nitro_cbor_map(&r, "protected header", 4, &s) < 0)
        return -1;
    for (;;) {
        if (vg_nitro_cbor_next(&r, "protected header", &s, &more) < 0)
            return -1;
        if (!more)
            break;
        int64_t key, alg;
        if (vg_nitro_cbor_int(&r, "protected header label", &key) < 0)
            return -1;
        if (key != COSE_HDR_ALG || have_alg)
            return vg_fail(err, VG_E_INVALID, "protected header: unexpected or repeated label %lld", (long long)key);
        if (vg_nitro_cbor_int(&r, "protected header alg", &alg) < 0)
            return -1;
        if (alg != COSE_ALG_ES384)
            return vg_fail(err, VG_E_INVALID, "protected header: alg %lld is not ES384 (-35)", (long long)alg);
        have_alg = true;
    }
    if (!have_alg)
        return vg_fail(err, VG_E_INVALID, "protected header: no alg");
    return vg_rd_expect_end(&r, "protected header");
}

static int parse_pcrs(vg_reader *r, struct vg_attestation *a, vg_err *err)
{
    struct vg_nitro_cbor_seq s;
    bool more;
    uint32_t seen = 0;
    if (vg_nitro_cbor_map(r, "pcrs", VG_ATTESTATION_PCRS_MAX, &s) < 0)
        return -1;
    for (;;) {
        if (vg_nitro_cbor_next(r, "pcrs", &s, &more) < 0)
            return -1;
        if (!more)
            break;
        uint64_t idx;
        const uint8_t *v;
        size_t vlen;
        if (vg_nitro_cbor_uint(r, "pcr index", &idx) < 0)
            return -1;
        if (idx >= VG_ATTESTATION_PCRS_MAX)
            return vg_fail(err, VG_E_INVALID, "pcrs: index %llu out of range 0..31", (unsigned long long)idx);
        if (seen & (1u << idx))
            return vg_fail(err, VG_E_INVALID, "pcrs: index %llu repeated", (unsigned long long)idx);
        seen |= 1u << idx;
        if (vg_nitro_cbor_bytes(r, "pcr value", 32, VG_ATTESTATION_PCR_MAX_LEN, &v, &vlen) < 0)
            return -1;
        if (vlen != 32 && vlen != 48 && vlen != 64)
            return vg_fail(err, VG_E_INVALID, "pcrs: PCR%llu has %zu bytes (want 32, 48 or 64)",
                           (unsigned long long)idx, vlen);
        /* insertion in index order (≤ 32 entries) */
        size_t at = a->n_pcrs;
        while (at > 0 && a->pcrs[at - 1].index > idx) {
            a->pcrs[at] = a->pcrs[at - 1];
            at--;
        }
        a->pcrs[at].index = (uint32_t)idx;
        a->pcrs[at].len = vlen;
        memset(a->pcrs[at].value, 0, sizeof a->pcrs[at].value);
        memcpy(a->pcrs[at].value, v, vlen);
        a->n_pcrs++;
    }
    if (a->n_pcrs == 0)
        return vg_fail(err, VG_E_INVALID, "pcrs: empty");
    return 0;
}

static int parse_cabundle(vg_reader *r, struct vg_attestation *a, vg_err *err)
{
    struct vg_nitro_cbor_seq s;
    bool more;
    if (vg_nitro_cbor_array(r, "cabundle", VG_ATTESTATION_CABUNDLE_MAX, &s) < 0)
        return -1;
    for (;;) {
        if (vg_nitro_cbor_next(r, "cabundle", &s, &more) < 0)
            return -1;
        if (!more)
            break;
        size_t i = a->n_cabundle;
        if (vg_nitro_cbor_bytes(r, "cabundle entry", 1, VG_ATTESTATION_CERT_MAX, &a->cabundle[i],
                                &a->cabundle_len[i]) < 0)
            return -1;
        a->n_cabundle++;
    }
    if (a->n_cabundle == 0)
        return vg_fail(err, VG_E_INVALID, "cabundle: empty");
    return 0;
}

static int optional_bytes(vg_reader *r, const char *what, size_t min, const uint8_t **p, size_t *n)
{
    if (vg_nitro_cbor_take_null(r)) {
        *p = NULL;
        *n = 0;
        return 0;
    }
    return vg_nitro_cbor_bytes(r, what, min, VG_ATTESTATION_FIELD_MAX, p, n);
}

enum field {
    F_MODULE_ID,
    F_DIGEST,
    F_TIMESTAMP,
    F_PCRS,
    F_CERTIFICATE,
    F_CABUNDLE,
    F_PUBLIC_KEY,
    F_USER_DATA,
    F_NONCE,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {"module_id",   "digest",   "timestamp",  "pcrs", "certificate",
                                                 "cabundle",    "public_key", "user_data", "nonce"};

static int parse_payload(const uint8_t *p, size_t n, struct vg_attestation *a, vg_err *err)
{
    vg_reader r = vg_reader_init(p, n, err);
    struct vg_nitro_cbor_seq s;
    bool more;
    unsigned seen = 0;
    if (vg_nitro_cbor_map(&r, "payload", 2 * F_COUNT, &s) < 0)
        return -1;
    for (;;) {
        if (vg_nitro_cbor_next(&r, "payload", &s, &more) < 0)
            return -1;
        if (!more)
            break;
        const char *key;
        size_t klen;
        size_t key_at = r.off;
        if (vg_nitro_cbor_text(&r, "payload key", 1, 32, &key, &klen) < 0)
            return -1;
        int f = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (strlen(field_names[i]) == klen && memcmp(field_names[i], key, klen) == 0)
                f = i;
        if (f < 0)
            return vg_fail(err, VG_E_INVALID, "payload: unknown key '%.*s' at offset %zu", (int)klen, key, key_at);
        if (seen & (1u << f))
            return vg_fail(err, VG_E_INVALID, "payload: repeated key '%s' at offset %zu", field_names[f], key_at);
        seen |= 1u << f;
        const char *t;
        size_t tlen;
        int rc = 0;
        switch ((enum field)f) {
        case F_MODULE_ID:
            rc = vg_nitro_cbor_text(&r, "module_id", 1, VG_ATTESTATION_MODULE_ID_MAX, &t, &tlen);
            if (rc == 0) {
                memcpy(a->module_id, t, tlen);
                a->module_id[tlen] = '\0';
            }
            break;
        case F_DIGEST:
            rc = vg_nitro_cbor_text(&r, "digest", 1, sizeof a->digest - 1, &t, &tlen);
            if (rc == 0 && !(tlen == 6 && memcmp(t, "SHA384", 6) == 0))
                return vg_fail(err, VG_E_INVALID, "digest: '%.*s' is not SHA384", (int)tlen, t);
            if (rc == 0) {
                memcpy(a->digest, t, tlen);
                a->digest[tlen] = '\0';
            }
            break;
        case F_TIMESTAMP:
            rc = vg_nitro_cbor_uint(&r, "timestamp", &a->timestamp_ms);
            if (rc == 0 && a->timestamp_ms == 0)
                return vg_fail(err, VG_E_INVALID, "timestamp: zero");
            break;
        case F_PCRS: rc = parse_pcrs(&r, a, err); break;
        case F_CERTIFICATE:
            rc = vg_nitro_cbor_bytes(&r, "certificate", 1, VG_ATTESTATION_CERT_MAX, &a->certificate,
                                     &a->certificate_len);
            break;
        case F_CABUNDLE: rc = parse_cabundle(&r, a, err); break;
        case F_PUBLIC_KEY: rc = optional_bytes(&r, "public_key", 1, &a->public_key, &a->public_key_len); break;
        case F_USER_DATA: rc = optional_bytes(&r, "user_data", 0, &a->user_data, &a->user_data_len); break;
        case F_NONCE: rc = optional_bytes(&r, "nonce", 0, &a->nonce, &a->nonce_len); break;
        case F_COUNT: break;
        }
        if (rc < 0)
            return -1;
    }
    for (int i = 0; i <= F_CABUNDLE; i++)
        if (!(seen & (1u << i)))
            return vg_fail(err, VG_E_INVALID, "payload: missing '%s'", field_names[i]);
    return vg_rd_expect_end(&r, "payload");
}

int vg_attestation_parse(const uint8_t *doc, size_t len, struct vg_attestation *out, vg_err *err)
{
    memset(out, 0, sizeof *out);
    if (doc == NULL || len == 0)
        return vg_fail(err, VG_E_INVALID, "attestation document: empty");
    if (len > VG_ATTESTATION_DOC_MAX)
        return vg_fail(err, VG_E_INVALID, "attestation document: %zu bytes, at most %d allowed", len,
                       VG_ATTESTATION_DOC_MAX);
    out->owned_ = malloc(len);
    if (out->owned_ == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    memcpy(out->owned_, doc, len);

    vg_reader r = vg_reader_init(out->owned_, len, err);
    struct vg_nitro_cbor_seq top, unprot;
    bool tagged, more;
    const uint8_t *sig;
    size_t sig_len;
    if (vg_nitro_cbor_take_tag(&r, COSE_TAG_SIGN1, &tagged) < 0 ||
        vg_nitro_cbor_array(&r, "COSE_Sign1", 4, &top) < 0)
        goto fail;
    if (top.indefinite || top.left != 4) {
        vg_fail(err, VG_E_INVALID, "COSE_Sign1: want a definite array of 4 items");
        goto fail;
    }
    if (vg_nitro_cbor_bytes(&r, "protected header", 1, 64, &out->protected_hdr, &out->protected_len) < 0 ||
        parse_protected(out->protected_hdr, out->protected_len, err) < 0)
        goto fail;
    /* unprotected header: must be an empty map */
    if (vg_nitro_cbor_map(&r, "unprotected header", 0, &unprot) < 0 ||
        vg_nitro_cbor_next(&r, "unprotected header", &unprot, &more) < 0)
        goto fail;
    if (more) {
        vg_fail(err, VG_E_INVALID, "unprotected header: not empty");
        goto fail;
    }
    if (vg_nitro_cbor_bytes(&r, "payload", 1, VG_ATTESTATION_DOC_MAX, &out->payload, &out->payload_len) < 0 ||
        vg_nitro_cbor_bytes(&r, "signature", SIG_LEN, SIG_LEN, &sig, &sig_len) < 0 ||
        vg_rd_expect_end(&r, "attestation document") < 0)
        goto fail;
    out->signature = sig;
    if (parse_payload(out->payload, out->payload_len, out, err) < 0) {
        vg_wrap(err, "attestation payload");
        goto fail;
    }
    return 0;
fail:
    vg_attestation_clear(out);
    return -1;
}

/* ---- verification ---- */

static X509 *der_to_x509(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL && p != der + len) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Every certificate of the chain: ECDSA with SHA-384, P-384 key. */
static int check_p384(X509 *x, const char *what, vg_err *err)
{
    if (X509_get_signature_nid(x) != NID_ecdsa_with_SHA384)
        return vg_fail(err, VG_E_FORBIDDEN, "%s: signature algorithm is not ecdsa-with-SHA384", what);
    EVP_PKEY *k = X509_get0_pubkey(x);
    char group[32] = "";
    if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
        EVP_PKEY_get_group_name(k, group, sizeof group, NULL) != 1 || strcmp(group, "secp384r1") != 0)
        return vg_fail(err, VG_E_FORBIDDEN, "%s: key is not EC P-384", what);
    return 0;
}

static int check_cose_signature(const struct vg_attestation *a, X509 *leaf, vg_err *err)
{
    struct vg_nitro_cbor_out sig_struct;
    vg_nitro_cbor_out_init(&sig_struct, VG_ATTESTATION_DOC_MAX + 64);
    vg_nitro_cbor_put_head(&sig_struct, VG_NITRO_CBOR_ARRAY, 4);
    vg_nitro_cbor_put_text(&sig_struct, "Signature1");
    vg_nitro_cbor_put_bytes(&sig_struct, a->protected_hdr, a->protected_len);
    vg_nitro_cbor_put_bytes(&sig_struct, NULL, 0);
    vg_nitro_cbor_put_bytes(&sig_struct, a->payload, a->payload_len);
    int rc = -1;
    ECDSA_SIG *es = NULL;
    unsigned char *der = NULL;
    EVP_MD_CTX *md = NULL;
    if (vg_nitro_cbor_out_finish(&sig_struct, err) < 0)
        goto out;
    es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(a->signature, SIG_LEN / 2, NULL);
    BIGNUM *s = BN_bin2bn(a->signature + SIG_LEN / 2, SIG_LEN / 2, NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        goto out;
    }
    int der_len = i2d_ECDSA_SIG(es, &der);
    md = EVP_MD_CTX_new();
    if (der_len <= 0 || md == NULL) {
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        goto out;
    }
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, X509_get0_pubkey(leaf)) != 1 ||
        EVP_DigestVerify(md, der, (size_t)der_len, sig_struct.buf, sig_struct.len) != 1) {
        vg_fail(err, VG_E_FORBIDDEN, "COSE signature does not verify with the leaf certificate's key");
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    vg_nitro_cbor_out_free(&sig_struct);
    return rc;
}

static int check_chain(const struct vg_attestation *a, X509 *leaf, X509 *root, time_t at, vg_err *err)
{
    int rc = -1;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509 *expect[CHAIN_DEPTH_MAX] = {0}; /* leaf, cabundle[n-1], …, cabundle[0] */
    size_t n_expect = 0;
    if (store == NULL || ctx == NULL || untrusted == NULL || X509_STORE_add_cert(store, root) != 1) {
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        goto out;
    }
    expect[n_expect++] = leaf;
    for (size_t i = a->n_cabundle; i-- > 1;) {
        X509 *x = der_to_x509(a->cabundle[i], a->cabundle_len[i]);
        char what[32];
        snprintf(what, sizeof what, "cabundle[%zu]", i);
        if (x == NULL) {
            vg_fail(err, VG_E_INVALID, "%s: not a DER certificate", what);
            goto out;
        }
        if (sk_X509_push(untrusted, x) <= 0) {
            X509_free(x);
            vg_fail(err, VG_E_INTERNAL, "out of memory");
            goto out;
        }
        if (check_p384(x, what, err) < 0)
            goto out;
        expect[n_expect++] = x;
    }
    expect[n_expect++] = root;
    if (X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
        vg_fail(err, VG_E_INTERNAL, "X509_STORE_CTX_init failed");
        goto out;
    }
    X509_STORE_CTX_set_time(ctx, 0, at);
    /* No X509_V_FLAG_X509_STRICT: AWS's leaf certificates lack an Authority Key Identifier. */
    X509_STORE_CTX_set_depth(ctx, (int)n_expect);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        vg_fail(err, VG_E_FORBIDDEN, "certificate chain: %s (depth %d)", X509_verify_cert_error_string(e),
                X509_STORE_CTX_get_error_depth(ctx));
        goto out;
    }
    /* The chain OpenSSL built must be exactly leaf ← cabundle[n-1] ← … ← cabundle[0] (the root). */
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    if (chain == NULL || (size_t)sk_X509_num(chain) != n_expect) {
        vg_fail(err, VG_E_FORBIDDEN, "certificate chain: does not use every cabundle entry in order");
        goto out;
    }
    for (size_t i = 0; i < n_expect; i++)
        if (X509_cmp(sk_X509_value(chain, (int)i), expect[i]) != 0) {
            vg_fail(err, VG_E_FORBIDDEN, "certificate chain: cabundle out of order at position %zu", i);
            goto out;
        }
    rc = 0;
out:
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

int vg_attestation_verify(const uint8_t *doc, size_t len, const uint8_t *root_der, size_t root_len, time_t at,
                          struct vg_attestation *out, vg_err *err)
{
    if (vg_attestation_parse(doc, len, out, err) < 0)
        return -1;
    int rc = -1;
    X509 *root = NULL, *leaf = NULL;
    if (root_der == NULL && (root_der = vg_attestation_aws_root(&root_len)) == NULL) {
        vg_fail(err, VG_E_INTERNAL, "embedded AWS root does not decode");
        goto out;
    }
    if ((root = der_to_x509(root_der, root_len)) == NULL) {
        vg_fail(err, VG_E_INVALID, "trusted root: not a DER certificate");
        goto out;
    }
    if (check_p384(root, "trusted root", err) < 0)
        goto out;
    if (out->cabundle_len[0] != root_len || memcmp(out->cabundle[0], root_der, root_len) != 0) {
        vg_fail(err, VG_E_FORBIDDEN, "cabundle[0] is not the trusted root");
        goto out;
    }
    if ((leaf = der_to_x509(out->certificate, out->certificate_len)) == NULL) {
        vg_fail(err, VG_E_INVALID, "certificate: not a DER certificate");
        goto out;
    }
    if (check_p384(leaf, "certificate", err) < 0)
        goto out;
    uint32_t xflags = X509_get_extension_flags(leaf);
    if ((xflags & EXFLAG_CA) || ((xflags & EXFLAG_KUSAGE) && !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE))) {
        vg_fail(err, VG_E_FORBIDDEN, "certificate: not an end-entity signing certificate");
        goto out;
    }
    /* Signature first (one verification), then the chain (one per certificate). */
    if (check_cose_signature(out, leaf, err) < 0)
        goto out;
    if (check_chain(out, leaf, root, at > 0 ? at : time(NULL), err) < 0)
        goto out;
    rc = 0;
out:
    X509_free(leaf);
    X509_free(root);
    ERR_clear_error();
    if (rc < 0)
        vg_attestation_clear(out);
    return rc;
}
