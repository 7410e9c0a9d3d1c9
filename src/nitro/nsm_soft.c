/* The software NSM: same CBOR requests and replies as /dev/nsm, attestation documents in the real format
 * (untagged COSE_Sign1, ES384, payload as the 2025 firmware sends it: an indefinite map with null for
 * unrequested fields), PCRs 0..15 all zero as in debug mode, signed by an in-memory leaf certificate
 * ← in-memory intermediate ← the dev root kept in a directory. For development and tests only: anyone
 * with the directory can mint documents, and all-zero PCRs prove nothing. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/secmem.h"
#include "nitro/nitro_cbor.h"
#include "nitro/nsm_impl.h"

#define SOFT_PCRS 16
#define SOFT_PCR_LEN 48
#define ROOT_LIFETIME (20L * 365 * 24 * 3600)
#define INTER_LIFETIME (30L * 24 * 3600)
#define LEAF_LIFETIME (3L * 3600)
#define LEAF_MIN_LEFT (30L * 60)
#define INTER_MIN_LEFT (24L * 3600)
#define BACKDATE 300 /* notBefore this many seconds in the past, for clock skew between processes */
#define RANDOM_REPLY_LEN 256

struct soft {
    EVP_PKEY *root_key, *inter_key, *leaf_key;
    X509 *root, *inter, *leaf;
    uint8_t *root_der, *inter_der, *leaf_der;
    size_t root_der_len, inter_der_len, leaf_der_len;
    time_t inter_until, leaf_until;
};

/* ---- certificates ---- */

static EVP_PKEY *p384_key(void) { return EVP_EC_gen("P-384"); }

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* issuer NULL: self-signed. pathlen < 0: end entity. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, time_t from, time_t until,
                       int pathlen)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    BIGNUM *sn = BN_new();
    uint8_t serial[16];
    char bc[48];
    bool ok = x != NULL && name != NULL && sn != NULL && RAND_bytes(serial, sizeof serial) == 1;
    if (ok) {
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        ok = BN_bin2bn(serial, sizeof serial, sn) != NULL && BN_to_ASN1_INTEGER(sn, X509_get_serialNumber(x)) != NULL &&
             X509_set_version(x, X509_VERSION_3) == 1 &&
             X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"vigil", -1, -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)"dev-nsm (not for production)",
                                        -1, -1, 0) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1 &&
             X509_set_subject_name(x, name) == 1 &&
             X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1 &&
             ASN1_TIME_set(X509_getm_notBefore(x), from) != NULL && ASN1_TIME_set(X509_getm_notAfter(x), until) != NULL &&
             X509_set_pubkey(x, key) == 1;
    }
    if (ok && pathlen >= 0) {
        snprintf(bc, sizeof bc, "critical,CA:TRUE,pathlen:%d", pathlen);
        ok = add_ext(x, issuer, NID_basic_constraints, bc) == 0 &&
             add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") == 0;
    } else if (ok) {
        ok = add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") == 0;
    }
    if (ok)
        ok = add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0 &&
             (issuer == NULL || add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0) &&
             X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha384()) > 0;
    BN_free(sn);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int to_der(X509 *x, uint8_t **der, size_t *len)
{
    unsigned char *p = NULL;
    int n = i2d_X509(x, &p);
    if (n <= 0)
        return -1;
    free(*der);
    *der = malloc((size_t)n);
    if (*der == NULL) {
        OPENSSL_free(p);
        return -1;
    }
    memcpy(*der, p, (size_t)n);
    OPENSSL_free(p);
    *len = (size_t)n;
    return 0;
}

/* Re-issues the intermediate and/or the leaf when they get close to expiry. */
static int refresh(struct soft *s, vg_err *err)
{
    time_t now = time(NULL);
    if (s->inter == NULL || now + INTER_MIN_LEFT > s->inter_until) {
        EVP_PKEY *k = p384_key();
        X509 *x = k != NULL ? make_cert(k, "vigil dev NSM intermediate", s->root, s->root_key, now - BACKDATE,
                                        now + INTER_LIFETIME, 0)
                            : NULL;
        if (x == NULL || to_der(x, &s->inter_der, &s->inter_der_len) < 0) {
            X509_free(x);
            EVP_PKEY_free(k);
            return vg_fail(err, VG_E_INTERNAL, "software NSM: cannot issue the intermediate certificate");
        }
        X509_free(s->inter);
        EVP_PKEY_free(s->inter_key);
        s->inter = x;
        s->inter_key = k;
        s->inter_until = now + INTER_LIFETIME;
        s->leaf_until = 0; /* force a new leaf under the new intermediate */
    }
    if (s->leaf == NULL || now + LEAF_MIN_LEFT > s->leaf_until) {
        EVP_PKEY *k = p384_key();
        X509 *x = k != NULL ? make_cert(k, VG_NSM_SOFT_MODULE_ID, s->inter, s->inter_key, now - BACKDATE,
                                        now + LEAF_LIFETIME, -1)
                            : NULL;
        if (x == NULL || to_der(x, &s->leaf_der, &s->leaf_der_len) < 0) {
            X509_free(x);
            EVP_PKEY_free(k);
            return vg_fail(err, VG_E_INTERNAL, "software NSM: cannot issue the leaf certificate");
        }
        X509_free(s->leaf);
        EVP_PKEY_free(s->leaf_key);
        s->leaf = x;
        s->leaf_key = k;
        s->leaf_until = now + LEAF_LIFETIME;
    }
    return 0;
}

/* ---- the dev root in its directory ---- */

static int write_pem_file(const char *dir, const char *name, EVP_PKEY *key, X509 *cert, vg_err *err)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "%s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return vg_fail(err, VG_E_UNAVAILABLE, "%s: %s", tmp, strerror(errno));
    }
    bool ok = key != NULL ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1 : PEM_write_X509(f, cert) == 1;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return vg_fail(err, VG_E_UNAVAILABLE, "%s: cannot write", path);
    }
    return 0;
}

static int load_root(struct soft *s, const char *dir, vg_err *err)
{
    char kpath[4096], cpath[4096];
    snprintf(kpath, sizeof kpath, "%s/root.key", dir);
    snprintf(cpath, sizeof cpath, "%s/root.pem", dir);
    bool have_k = access(kpath, F_OK) == 0, have_c = access(cpath, F_OK) == 0;
    if (!have_k && !have_c) {
        time_t now = time(NULL);
        s->root_key = p384_key();
        s->root = s->root_key != NULL ? make_cert(s->root_key, "vigil dev NSM root", NULL, NULL, now - BACKDATE,
                                                  now + ROOT_LIFETIME, 1)
                                      : NULL;
        if (s->root == NULL)
            return vg_fail(err, VG_E_INTERNAL, "software NSM: cannot create the dev root CA");
        if (write_pem_file(dir, "root.key", s->root_key, NULL, err) < 0 ||
            write_pem_file(dir, "root.pem", NULL, s->root, err) < 0)
            return -1;
        return 0;
    }
    if (!have_k || !have_c)
        return vg_fail(err, VG_E_INVALID, "software NSM: %s holds only one of root.key / root.pem", dir);
    FILE *f = fopen(kpath, "r");
    if (f != NULL) {
        s->root_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    f = fopen(cpath, "r");
    if (f != NULL) {
        s->root = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    char group[32] = "";
    if (s->root_key == NULL || s->root == NULL || X509_check_private_key(s->root, s->root_key) != 1 ||
        EVP_PKEY_get_group_name(s->root_key, group, sizeof group, NULL) != 1 || strcmp(group, "secp384r1") != 0)
        return vg_fail(err, VG_E_INVALID, "software NSM: %s/root.{key,pem} unreadable, mismatched or not P-384", dir);
    if (X509_cmp_time(X509_get0_notAfter(s->root), NULL) <= 0)
        return vg_fail(err, VG_E_INVALID, "software NSM: %s/root.pem has expired; remove root.* to make a new one",
                       dir);
    return 0;
}

/* ---- documents ---- */

static int sign_es384(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t out[96])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[160];
    size_t der_len = sizeof der;
    int rc = -1;
    if (md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) == 1 &&
        EVP_DigestSign(md, der, &der_len, msg, len) == 1) {
        const unsigned char *p = der;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
        if (sig != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 48) == 48 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 48, 48) == 48)
            rc = 0;
        ECDSA_SIG_free(sig);
    }
    EVP_MD_CTX_free(md);
    return rc;
}

struct att_request {
    const uint8_t *public_key, *user_data, *nonce;
    size_t public_key_len, user_data_len, nonce_len;
};

static int build_document(struct soft *s, const struct att_request *q, struct vg_nitro_cbor_out *doc, vg_err *err)
{
    static const uint8_t protected_hdr[] = {0xa1, 0x01, 0x38, 0x22}; /* {1: -35} */
    static const uint8_t zeros[SOFT_PCR_LEN];
    if (refresh(s, err) < 0)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;

    struct vg_nitro_cbor_out payload, tbs;
    vg_nitro_cbor_out_init(&payload, VG_NSM_RESPONSE_MAX);
    vg_nitro_cbor_out_init(&tbs, VG_NSM_RESPONSE_MAX + 64);
    const uint8_t map_indef = 0xbf, brk = 0xff;
    vg_nitro_cbor_put_raw(&payload, &map_indef, 1);
    vg_nitro_cbor_put_text(&payload, "module_id");
    vg_nitro_cbor_put_text(&payload, VG_NSM_SOFT_MODULE_ID);
    vg_nitro_cbor_put_text(&payload, "digest");
    vg_nitro_cbor_put_text(&payload, "SHA384");
    vg_nitro_cbor_put_text(&payload, "timestamp");
    vg_nitro_cbor_put_uint(&payload, ms);
    vg_nitro_cbor_put_text(&payload, "pcrs");
    vg_nitro_cbor_put_head(&payload, VG_NITRO_CBOR_MAP, SOFT_PCRS);
    for (unsigned i = 0; i < SOFT_PCRS; i++) {
        vg_nitro_cbor_put_uint(&payload, i);
        vg_nitro_cbor_put_bytes(&payload, zeros, sizeof zeros);
    }
    vg_nitro_cbor_put_text(&payload, "certificate");
    vg_nitro_cbor_put_bytes(&payload, s->leaf_der, s->leaf_der_len);
    vg_nitro_cbor_put_text(&payload, "cabundle");
    vg_nitro_cbor_put_head(&payload, VG_NITRO_CBOR_ARRAY, 2);
    vg_nitro_cbor_put_bytes(&payload, s->root_der, s->root_der_len);
    vg_nitro_cbor_put_bytes(&payload, s->inter_der, s->inter_der_len);
    vg_nitro_cbor_put_text(&payload, "public_key");
    vg_nitro_cbor_put_bytes_or_null(&payload, q->public_key, q->public_key_len);
    vg_nitro_cbor_put_text(&payload, "user_data");
    vg_nitro_cbor_put_bytes_or_null(&payload, q->user_data, q->user_data_len);
    vg_nitro_cbor_put_text(&payload, "nonce");
    vg_nitro_cbor_put_bytes_or_null(&payload, q->nonce, q->nonce_len);
    vg_nitro_cbor_put_raw(&payload, &brk, 1);

    /* Sig_structure = ["Signature1", protected, h'', payload] */
    vg_nitro_cbor_put_head(&tbs, VG_NITRO_CBOR_ARRAY, 4);
    vg_nitro_cbor_put_text(&tbs, "Signature1");
    vg_nitro_cbor_put_bytes(&tbs, protected_hdr, sizeof protected_hdr);
    vg_nitro_cbor_put_bytes(&tbs, NULL, 0);
    vg_nitro_cbor_put_bytes(&tbs, payload.buf, payload.len);

    int rc = -1;
    uint8_t sig[96];
    if (vg_nitro_cbor_out_finish(&payload, err) < 0 || vg_nitro_cbor_out_finish(&tbs, err) < 0)
        goto out;
    if (sign_es384(s->leaf_key, tbs.buf, tbs.len, sig) < 0) {
        vg_fail(err, VG_E_INTERNAL, "software NSM: signing failed");
        goto out;
    }
    vg_nitro_cbor_put_head(doc, VG_NITRO_CBOR_ARRAY, 4);
    vg_nitro_cbor_put_bytes(doc, protected_hdr, sizeof protected_hdr);
    vg_nitro_cbor_put_head(doc, VG_NITRO_CBOR_MAP, 0);
    vg_nitro_cbor_put_bytes(doc, payload.buf, payload.len);
    vg_nitro_cbor_put_bytes(doc, sig, sizeof sig);
    rc = vg_nitro_cbor_out_finish(doc, err);
out:
    vg_nitro_cbor_out_free(&payload);
    vg_nitro_cbor_out_free(&tbs);
    return rc;
}

/* ---- the request/response emulation ---- */

static int reply_error(struct vg_nitro_cbor_out *o, const char *code)
{
    vg_nitro_cbor_put_head(o, VG_NITRO_CBOR_MAP, 1);
    vg_nitro_cbor_put_text(o, "Error");
    vg_nitro_cbor_put_text(o, code);
    return 0;
}

/* Decodes {"Attestation": {...}}: returns an NSM error code, or NULL when q is filled. */
static const char *decode_attestation(vg_reader *r, struct att_request *q)
{
    struct vg_nitro_cbor_seq m;
    bool more;
    memset(q, 0, sizeof *q);
    if (vg_nitro_cbor_map(r, "Attestation", 3, &m) < 0)
        return "InvalidArgument";
    unsigned seen = 0;
    for (;;) {
        if (vg_nitro_cbor_next(r, "Attestation", &m, &more) < 0)
            return "InvalidArgument";
        if (!more)
            break;
        const char *key;
        size_t klen;
        if (vg_nitro_cbor_text(r, "Attestation key", 1, 16, &key, &klen) < 0)
            return "InvalidArgument";
        const uint8_t **val;
        size_t *len;
        unsigned bit;
        if (klen == 10 && memcmp(key, "public_key", 10) == 0) {
            val = &q->public_key, len = &q->public_key_len, bit = 1;
        } else if (klen == 9 && memcmp(key, "user_data", 9) == 0) {
            val = &q->user_data, len = &q->user_data_len, bit = 2;
        } else if (klen == 5 && memcmp(key, "nonce", 5) == 0) {
            val = &q->nonce, len = &q->nonce_len, bit = 4;
        } else {
            return "InvalidArgument";
        }
        if (seen & bit)
            return "InvalidArgument";
        seen |= bit;
        if (vg_nitro_cbor_take_null(r))
            continue;
        if (vg_nitro_cbor_bytes(r, "Attestation field", 0, VG_NSM_REQUEST_MAX, val, len) < 0)
            return "InvalidArgument";
        if (*len > VG_NSM_FIELD_MAX)
            return "InputTooLarge";
        if (bit == 1 && *len == 0)
            return "InvalidArgument";
    }
    return NULL;
}

static int soft_raw(struct vg_nsm *nsm, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len,
                    vg_err *err)
{
    struct soft *s = nsm->soft;
    vg_err ignored = {0};
    vg_reader r = vg_reader_init(req, req_len, &ignored);
    struct vg_nitro_cbor_out out, doc;
    vg_nitro_cbor_out_init(&out, VG_NSM_RESPONSE_MAX);
    vg_nitro_cbor_out_init(&doc, VG_NSM_RESPONSE_MAX);
    int rc = 0;
    const char *name;
    size_t nlen;
    if (vg_nitro_cbor_peek(&r) == VG_NITRO_CBOR_TEXT) {
        if (vg_nitro_cbor_text(&r, "request", 1, 32, &name, &nlen) < 0 || !vg_rd_eof(&r)) {
            reply_error(&out, "InvalidArgument");
        } else if (nlen == 9 && memcmp(name, "GetRandom", 9) == 0) {
            uint8_t rnd[RANDOM_REPLY_LEN];
            if (RAND_bytes(rnd, sizeof rnd) != 1) {
                reply_error(&out, "InternalError");
            } else {
                vg_nitro_cbor_put_head(&out, VG_NITRO_CBOR_MAP, 1);
                vg_nitro_cbor_put_text(&out, "GetRandom");
                vg_nitro_cbor_put_head(&out, VG_NITRO_CBOR_MAP, 1);
                vg_nitro_cbor_put_text(&out, "random");
                vg_nitro_cbor_put_bytes(&out, rnd, sizeof rnd);
            }
            vg_wipe(rnd, sizeof rnd);
        } else {
            reply_error(&out, "InvalidOperation");
        }
    } else {
        struct vg_nitro_cbor_seq m;
        bool more;
        struct att_request q;
        const char *code = NULL;
        if (vg_nitro_cbor_map(&r, "request", 1, &m) < 0 || vg_nitro_cbor_next(&r, "request", &m, &more) < 0 ||
            !more || vg_nitro_cbor_text(&r, "request", 1, 32, &name, &nlen) < 0) {
            code = "InvalidArgument";
        } else if (!(nlen == 11 && memcmp(name, "Attestation", 11) == 0)) {
            code = "InvalidOperation";
        } else if ((code = decode_attestation(&r, &q)) == NULL &&
                   (vg_nitro_cbor_next(&r, "request", &m, &more) < 0 || more || !vg_rd_eof(&r))) {
            code = "InvalidArgument";
        }
        if (code != NULL) {
            reply_error(&out, code);
        } else if (build_document(s, &q, &doc, err) < 0) {
            rc = -1;
        } else {
            vg_nitro_cbor_put_head(&out, VG_NITRO_CBOR_MAP, 1);
            vg_nitro_cbor_put_text(&out, "Attestation");
            vg_nitro_cbor_put_head(&out, VG_NITRO_CBOR_MAP, 1);
            vg_nitro_cbor_put_text(&out, "document");
            vg_nitro_cbor_put_bytes(&out, doc.buf, doc.len);
        }
    }
    if (rc == 0 && out.failed) {
        vg_nitro_cbor_out_free(&out);
        vg_nitro_cbor_out_init(&out, VG_NSM_RESPONSE_MAX);
        reply_error(&out, "BufferTooSmall");
    }
    if (rc == 0 && (rc = vg_nitro_cbor_out_finish(&out, err)) == 0) {
        memcpy(resp, out.buf, out.len);
        *resp_len = out.len;
    }
    vg_nitro_cbor_out_free(&out);
    vg_nitro_cbor_out_free(&doc);
    ERR_clear_error();
    return rc;
}

static void soft_close(struct vg_nsm *nsm)
{
    struct soft *s = nsm->soft;
    if (s == NULL)
        return;
    EVP_PKEY_free(s->root_key);
    EVP_PKEY_free(s->inter_key);
    EVP_PKEY_free(s->leaf_key);
    X509_free(s->root);
    X509_free(s->inter);
    X509_free(s->leaf);
    free(s->root_der);
    free(s->inter_der);
    free(s->leaf_der);
    free(s);
    nsm->soft = NULL;
}

static const struct vg_nsm_ops soft_ops = {"software", soft_raw, soft_close};

int vg_nsm_open_soft(const char *dir, struct vg_nsm **out, vg_err *err)
{
    *out = NULL;
    if (dir == NULL || dir[0] == '\0' || strlen(dir) > 3000)
        return vg_fail(err, VG_E_INVALID, "software NSM: no directory");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return vg_fail(err, VG_E_UNAVAILABLE, "software NSM: mkdir %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return vg_fail(err, VG_E_INVALID, "software NSM: %s is not a directory", dir);
    struct vg_nsm *n = vg_nsm_alloc(&soft_ops);
    struct soft *s = calloc(1, sizeof *s);
    if (n == NULL || s == NULL) {
        free(n);
        free(s);
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    }
    n->soft = s;
    char lpath[4096];
    snprintf(lpath, sizeof lpath, "%s/.lock", dir);
    int lock = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        vg_fail(err, VG_E_UNAVAILABLE, "software NSM: lock %s: %s", lpath, strerror(errno));
        goto fail;
    }
    int rc = load_root(s, dir, err);
    close(lock);
    lock = -1;
    if (rc < 0)
        goto fail;
    if (to_der(s->root, &s->root_der, &s->root_der_len) < 0) {
        vg_fail(err, VG_E_INTERNAL, "software NSM: cannot encode the root certificate");
        goto fail;
    }
    if (refresh(s, err) < 0)
        goto fail;
    ERR_clear_error();
    *out = n;
    return 0;
fail:
    if (lock >= 0)
        close(lock);
    ERR_clear_error();
    vg_nsm_close(n);
    return -1;
}
