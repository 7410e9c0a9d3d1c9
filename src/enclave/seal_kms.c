/* KMS sealing (spec: shared/specs/enclave-rpc.md §8-§10, §19):
 *
 *   seal   = KMS Encrypt(KeyId = encryption_key_id from Initialize, Plaintext = CBOR(PrivateKey)); the
 *            CiphertextBlob is the blob, unwrapped and unversioned (tee-signer compatible, §9).
 *   unseal = a fresh NSM attestation document whose public_key is the session's RSA-2048 SPKI →
 *            KMS Decrypt(CiphertextBlob, Recipient{document, RSAES_OAEP_SHA_256}) → CiphertextForRecipient
 *            (BER CMS) → vg_cms_decrypt with the RSA key → CBOR(PrivateKey) in secure memory (§10).
 *
 * The RSA key never leaves the enclave: one per RPC session, made at its first unseal, replaced after
 * an hour (W8), freed (OpenSSL clears it) when the session ends. KMS must release a key only to a
 * document with the right PCR0, and the CMS reply is readable only with that RSA key, so a replayed
 * document is useless to anyone but this enclave (§14).
 *
 * NSM: /dev/nsm in an enclave; at start-up 1024 bytes of its randomness go into the kernel pool (§8),
 * and libsodium's randombytes (every signing key generated here) becomes NSM ⊕ getrandom. For
 * development and tests a software NSM (--soft-nsm-dir: a dev CA that can mint documents with zero
 * PCRs) stands in; it is refused where /dev/nsm exists and compiled out with
 * -DVIGIL_ENCLAVE_INSECURE_SEALS=OFF.
 *
 * Credentials come from Initialize and can be refreshed by a later Initialize carrying the same
 * encryption_key_id and region (W4: instance-role credentials expire after ~6 h; tee-signer refuses a
 * second Initialize, vigil-enclave accepts this one). */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secmem.h"
#include "enclave/kms_client.h"
#include "enclave/seal.h"
#include "nitro/cms.h"
#include "nitro/nsm.h"

#define RSA_BITS 2048
#define RSA_LIFETIME_SECONDS 3600
#define DEFAULT_PROXY "vsock://3:8000"
#define KMS_ATTEMPTS 3
#define PLAINTEXT_MAX 64 /* CBOR(PrivateKey) is at most 45 bytes */

struct kms_ctx {
    struct vg_nsm *nsm;
    struct vg_kms_tls *tls;
    struct vg_kms_endpoint ep;
};

struct kms_session {
    struct vg_kms_client *client;
    char *key_id;
    EVP_PKEY *rsa;
    uint8_t *spki;
    size_t spki_len;
    time_t rsa_born;
};

/* ---- randomness: libsodium's generator becomes NSM ⊕ getrandom (spec §8: "all key generation from
 * NSM randomness"). ---- */

static struct vg_nsm *rng_nsm;

static const char *rng_name(void) { return "vigil-nsm-mixed"; }

static void rng_buf(void *buf, size_t size)
{
    vg_err err = {0};
    if (vg_nsm_random_mixed(rng_nsm, buf, size, &err) == 0)
        return;
    /* The kernel pool alone (already seeded from the NSM) is still a CSPRNG: degrade, loudly. */
    static volatile int warned;
    if (!warned) {
        warned = 1;
        VG_ERROR("NSM randomness failed (%s): using the kernel's alone", err.msg);
    }
    uint8_t *p = buf;
    for (size_t off = 0; off < size;) {
        ssize_t n = getrandom(p + off, size - off, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            abort(); /* no randomness at all: nothing safe to do */
        off += (size_t)n;
    }
}

static uint32_t rng_random(void)
{
    uint32_t v;
    rng_buf(&v, sizeof v);
    return v;
}

static randombytes_implementation nsm_rng = {
    .implementation_name = rng_name,
    .random = rng_random,
    .buf = rng_buf,
};

/* ---- driver ---- */

static int open_nsm(const struct vg_seal_config *cfg, struct kms_ctx *k, vg_err *err)
{
    if (cfg->soft_nsm_dir != NULL) {
#if VIGIL_ENCLAVE_INSECURE_SEALS
        /* spec §16: never a stand-in "together with real NSM". */
        if (access(VG_NSM_DEVICE_PATH, F_OK) == 0)
            return vg_fail(err, VG_E_FORBIDDEN, "refusing --soft-nsm-dir: %s exists (Nitro enclave)",
                           VG_NSM_DEVICE_PATH);
        if (vg_nsm_open_soft(cfg->soft_nsm_dir, &k->nsm, err) < 0)
            return vg_wrap(err, "software NSM");
        VG_WARN("INSECURE: software NSM with its dev CA in %s: attestation documents prove nothing (PCRs are "
                "zero, anyone with that directory can mint them). Development and tests only.",
                cfg->soft_nsm_dir);
        return 0;
#else
        return vg_fail(err, VG_E_INVALID, "--soft-nsm-dir: this build has no software NSM");
#endif
    }
    if (vg_nsm_open_device(NULL, &k->nsm, err) < 0) {
        return vg_fail(err, VG_E_UNAVAILABLE,
                       "no %s: not running in a Nitro enclave (for development: --soft-nsm-dir DIR, or --seal dev)",
                       VG_NSM_DEVICE_PATH);
    }
    /* spec §8: "take 1024 bytes from NSM GetRandom ... push them into the kernel pool". */
    if (vg_nsm_seed_kernel(k->nsm, err) < 0)
        return vg_wrap(err, "seeding the kernel pool from the NSM");
    return 0;
}

static void kms_close(void *ctx)
{
    struct kms_ctx *k = ctx;
    if (k == NULL)
        return;
    vg_kms_tls_free(k->tls);
    /* the NSM stays open: libsodium's generator may still point at it */
    free(k);
}

static int kms_open(const struct vg_seal_config *cfg, void **ctx, vg_err *err)
{
    *ctx = NULL;
    struct kms_ctx *k = calloc(1, sizeof *k);
    if (k == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    const char *proxy = cfg->kms_proxy != NULL ? cfg->kms_proxy : DEFAULT_PROXY;
    if (vg_rpc_addr_parse(proxy, &k->ep.proxy, err) < 0) {
        free(k);
        return vg_wrap(err, "--kms-proxy %s", proxy);
    }
    if (cfg->kms_endpoint_host != NULL) {
        size_t n = strlen(cfg->kms_endpoint_host);
        if (n == 0 || n >= sizeof k->ep.host_override ||
            strspn(cfg->kms_endpoint_host, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n) {
            free(k);
            return vg_fail(err, VG_E_INVALID, "--kms-endpoint-host: want a lower-case DNS name");
        }
        memcpy(k->ep.host_override, cfg->kms_endpoint_host, n + 1);
    }
    k->ep.timeout_ms = cfg->kms_timeout_ms > 0 ? cfg->kms_timeout_ms : VG_KMS_TIMEOUT_MS_DEFAULT;
    k->ep.attempts = KMS_ATTEMPTS;
    if (vg_kms_tls_new(cfg->kms_ca_file, &k->tls, err) < 0) {
        free(k);
        return -1;
    }
    k->ep.tls = k->tls;
    if (open_nsm(cfg, k, err) < 0) {
        vg_nsm_close(k->nsm);
        kms_close(k);
        return -1;
    }
    rng_nsm = k->nsm;
    randombytes_set_implementation(&nsm_rng);
    if (cfg->kms_ca_file != NULL)
        VG_WARN("KMS TLS trusts only %s (%zu certificates), not the embedded Amazon roots: tests only",
                cfg->kms_ca_file, vg_kms_tls_root_count(k->tls));
    char name[160];
    vg_rpc_addr_format(&k->ep.proxy, name, sizeof name);
    VG_INFO("kms sealer: NSM %s, KMS via %s, TLS name %s, %zu trusted roots", vg_nsm_kind(k->nsm), name,
            k->ep.host_override[0] ? k->ep.host_override : "kms.<region>.amazonaws.com",
            vg_kms_tls_root_count(k->tls));
    *ctx = k;
    return 0;
}

static void kms_session_end(void *ctx, void *sess)
{
    struct kms_session *s = sess;
    if (s == NULL)
        return;
    vg_kms_client_free(s->client);
    free(s->key_id);
    EVP_PKEY_free(s->rsa); /* clears the private key */
    OPENSSL_free(s->spki);
    free(s);
}

static int kms_session_begin(void *ctx, const struct vg_rpc_credentials *creds, void **sess, vg_err *err)
{
    struct kms_ctx *k = ctx;
    *sess = NULL;
    struct kms_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    /* spec §5.3 Initialize: builds the client only, no network traffic. */
    if (vg_kms_client_new(&k->ep, creds, &s->client, err) < 0 ||
        (s->key_id = strdup(creds->encryption_key_id)) == NULL) {
        if (s->client != NULL)
            vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
        kms_session_end(ctx, s);
        return -1;
    }
    *sess = s;
    return 0;
}

static int kms_session_refresh(void *ctx, void *sess, const struct vg_rpc_credentials *creds, vg_err *err)
{
    struct kms_session *s = sess;
    if (vg_kms_credentials_check(creds, err) < 0)
        return -1;
    if (strcmp(creds->encryption_key_id, s->key_id) != 0)
        return vg_fail(err, VG_E_FORBIDDEN, "a refresh must keep encryption_key_id");
    if (vg_kms_client_set_credentials(s->client, creds, err) < 0)
        return -1;
    VG_INFO("kms sealer: session credentials refreshed");
    return 0;
}

static int kms_seal(void *ctx, void *sess, const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len,
                    vg_err *err)
{
    struct kms_session *s = sess;
    /* spec §9: "The blob is exactly the KMS CiphertextBlob". */
    if (vg_kms_encrypt(s->client, s->key_id, pt, len, blob, blob_len, err) < 0)
        return vg_wrap(err, "SDK error");
    return 0;
}

/* The session's recipient key: made at first use from OpenSSL's DRBG topped up with NSM randomness,
 * replaced when older than RSA_LIFETIME_SECONDS. */
static int recipient_key(struct kms_ctx *k, struct kms_session *s, vg_err *err)
{
    time_t now = time(NULL);
    if (s->rsa != NULL && now - s->rsa_born < RSA_LIFETIME_SECONDS && now >= s->rsa_born)
        return 0;
    uint8_t seed[48];
    if (vg_nsm_random_mixed(k->nsm, seed, sizeof seed, err) < 0)
        return vg_wrap(err, "attestation error: NSM error");
    RAND_add(seed, sizeof seed, (double)sizeof seed);
    vg_wipe(seed, sizeof seed);
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    unsigned char *der = NULL;
    int der_len = -1;
    if (pctx != NULL && EVP_PKEY_keygen_init(pctx) == 1 && EVP_PKEY_CTX_set_rsa_keygen_bits(pctx, RSA_BITS) == 1 &&
        EVP_PKEY_generate(pctx, &key) == 1)
        der_len = i2d_PUBKEY(key, &der); /* DER SubjectPublicKeyInfo (294 bytes) */
    EVP_PKEY_CTX_free(pctx);
    if (der_len <= 0) {
        EVP_PKEY_free(key);
        return vg_fail(err, VG_E_INTERNAL, "RSA error: cannot generate the recipient key");
    }
    EVP_PKEY_free(s->rsa);
    OPENSSL_free(s->spki);
    s->rsa = key;
    s->spki = der;
    s->spki_len = (size_t)der_len;
    s->rsa_born = now;
    return 0;
}

static int kms_unseal(void *ctx, void *sess, const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len,
                      vg_err *err)
{
    struct kms_ctx *k = ctx;
    struct kms_session *s = sess;
    uint8_t *doc = NULL, *cms = NULL;
    size_t doc_len = 0, cms_len = 0;
    int rc = -1;
    if (recipient_key(k, s, err) < 0)
        return -1;
    /* spec §10 step 1: "a fresh attestation document ... public_key = DER SubjectPublicKeyInfo of the RSA
     * public key, user_data = null, nonce = null". */
    if (vg_nsm_attestation(k->nsm, s->spki, s->spki_len, NULL, 0, NULL, 0, &doc, &doc_len, err) < 0) {
        vg_wrap(err, "attestation error: NSM error");
        goto out;
    }
    if (vg_kms_decrypt_for_recipient(s->client, blob, len, doc, doc_len, &cms, &cms_len, err) < 0) {
        if (strcmp(err->msg, "zero output") != 0)
            vg_wrap(err, "SDK error");
        goto out;
    }
    if (vg_cms_decrypt(cms, cms_len, s->rsa, pt, pt_len, err) < 0)
        goto out;
    if (*pt_len > PLAINTEXT_MAX) {
        vg_fail(err, VG_E_INVALID, "plaintext of %zu bytes is not a private key", *pt_len);
        vg_secure_free(*pt);
        *pt = NULL;
        *pt_len = 0;
        goto out;
    }
    rc = 0;
out:
    free(doc);
    free(cms);
    return rc;
}

const struct vg_seal_driver vg_seal_kms_driver = {
    .name = "kms",
    .insecure = false,
    .open = kms_open,
    .close = kms_close,
    .session_begin = kms_session_begin,
    .session_end = kms_session_end,
    .session_refresh = kms_session_refresh,
    .seal = kms_seal,
    .unseal = kms_unseal,
};
