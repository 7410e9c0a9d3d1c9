#include "nitro/cms.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <string.h>

#include "common/reader.h"
#include "common/secmem.h"

/* ---- a strict walk of the BER skeleton (what OpenSSL's decoder tolerates but KMS never sends) ---- */

#define BER_DEPTH_MAX 12

struct ber_box {
    vg_reader in; /* the contents (indefinite: the rest of the parent, up to the end-of-contents) */
    vg_reader *parent;
    bool indefinite;
};

/* One identifier + length. Low tag numbers only; long lengths up to 4 bytes; indefinite only on
 * constructed encodings. */
static int ber_head(vg_reader *r, uint8_t *tag, bool *indefinite, size_t *len)
{
    uint8_t t, l;
    size_t at = r->off;
    if (vg_rd_u8(r, &t) < 0 || vg_rd_u8(r, &l) < 0)
        return -1;
    if ((t & 0x1f) == 0x1f)
        return vg_fail(r->err, VG_E_INVALID, "high tag number at offset %zu", at);
    *tag = t;
    *indefinite = false;
    *len = 0;
    if (l == 0x80) {
        if (!(t & 0x20))
            return vg_fail(r->err, VG_E_INVALID, "indefinite length on a primitive at offset %zu", at);
        *indefinite = true;
        return 0;
    }
    if (l < 0x80) {
        *len = l;
    } else {
        size_t n = l & 0x7f;
        if (n > 4)
            return vg_fail(r->err, VG_E_INVALID, "length too long at offset %zu", at);
        for (size_t i = 0; i < n; i++) {
            uint8_t b;
            if (vg_rd_u8(r, &b) < 0)
                return -1;
            *len = (*len << 8) | b;
        }
    }
    if (*len > vg_rd_remaining(r))
        return vg_fail(r->err, VG_E_INVALID, "length %zu past the end at offset %zu", *len, at);
    return 0;
}

static bool ber_at_eoc(const vg_reader *r)
{
    return vg_rd_remaining(r) >= 2 && r->buf[r->off] == 0 && r->buf[r->off + 1] == 0;
}

static int ber_skip(vg_reader *r, int depth)
{
    uint8_t tag;
    bool indef;
    size_t len;
    if (depth > BER_DEPTH_MAX)
        return vg_fail(r->err, VG_E_INVALID, "nesting too deep at offset %zu", r->off);
    if (ber_head(r, &tag, &indef, &len) < 0)
        return -1;
    if (!indef)
        return vg_rd_skip(r, len);
    while (!ber_at_eoc(r))
        if (ber_skip(r, depth + 1) < 0)
            return -1;
    return vg_rd_skip(r, 2);
}

static int ber_open(vg_reader *parent, uint8_t want, const char *what, struct ber_box *b)
{
    uint8_t tag;
    size_t len, at = parent->off;
    if (ber_head(parent, &tag, &b->indefinite, &len) < 0)
        return vg_wrap(parent->err, "%s", what);
    if (tag != want)
        return vg_fail(parent->err, VG_E_INVALID, "%s: tag 0x%02x, want 0x%02x at offset %zu", what, tag, want, at);
    b->parent = parent;
    size_t n = b->indefinite ? vg_rd_remaining(parent) : len;
    b->in = vg_reader_init(parent->buf + parent->off, n, parent->err);
    return 0;
}

static int ber_close(struct ber_box *b, const char *what)
{
    if (b->indefinite) {
        if (!ber_at_eoc(&b->in))
            return vg_fail(b->in.err, VG_E_INVALID, "%s: no end-of-contents where expected", what);
        b->in.off += 2;
    } else if (!vg_rd_eof(&b->in)) {
        return vg_fail(b->in.err, VG_E_INVALID, "%s: trailing bytes", what);
    }
    return vg_rd_skip(b->parent, b->in.off);
}

static int ber_next_is(const vg_reader *r, uint8_t tag) { return !vg_rd_eof(r) && r->buf[r->off] == tag; }

/* A primitive of `tag` with exactly `n` content bytes equal to `val` (val NULL: any, copied to out). */
static int ber_prim(vg_reader *r, uint8_t want, const char *what, const uint8_t *val, size_t n, const uint8_t **out,
                    size_t *out_len)
{
    uint8_t tag;
    bool indef;
    size_t len, at = r->off;
    const uint8_t *p;
    if (ber_head(r, &tag, &indef, &len) < 0 || vg_rd_bytes(r, len, &p) < 0)
        return vg_wrap(r->err, "%s", what);
    if (tag != want || (val != NULL && (len != n || memcmp(p, val, n) != 0)))
        return vg_fail(r->err, VG_E_INVALID, "%s: unexpected value at offset %zu", what, at);
    if (out != NULL) {
        *out = p;
        *out_len = len;
    }
    return 0;
}

static const uint8_t OID_ENVELOPED[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03};
static const uint8_t OID_DATA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const uint8_t INT_2[] = {0x02};

/* ContentInfo { envelopedData, [0] EnvelopedData { version 2, [0] originatorInfo OPTIONAL,
 * SET { KeyTransRecipientInfo { version 2, [0] subjectKeyIdentifier, AlgorithmIdentifier, OCTET STRING } },
 * EncryptedContentInfo { data, AlgorithmIdentifier, [0] primitive | constructed OCTET STRING chunks } } }
 * Algorithm parameters are checked on OpenSSL's decoding. Returns the rid (key identifier). */
static int walk_skeleton(const uint8_t *ber, size_t len, const uint8_t **rid, size_t *rid_len, vg_err *err)
{
    vg_reader top = vg_reader_init(ber, len, err);
    struct ber_box ci, explicit0, env, ris, ktri, eci;
    if (ber_open(&top, 0x30, "ContentInfo", &ci) < 0 ||
        ber_prim(&ci.in, 0x06, "contentType", OID_ENVELOPED, sizeof OID_ENVELOPED, NULL, NULL) < 0 ||
        ber_open(&ci.in, 0xa0, "content", &explicit0) < 0 || ber_open(&explicit0.in, 0x30, "EnvelopedData", &env) < 0 ||
        ber_prim(&env.in, 0x02, "EnvelopedData version", INT_2, 1, NULL, NULL) < 0)
        return -1;
    if (ber_next_is(&env.in, 0xa0) && ber_skip(&env.in, 0) < 0)
        return -1;
    if (ber_open(&env.in, 0x31, "recipientInfos", &ris) < 0 || ber_open(&ris.in, 0x30, "KeyTransRecipientInfo", &ktri) < 0 ||
        ber_prim(&ktri.in, 0x02, "KeyTransRecipientInfo version", INT_2, 1, NULL, NULL) < 0 ||
        ber_prim(&ktri.in, 0x80, "subjectKeyIdentifier", NULL, 0, rid, rid_len) < 0 || ber_skip(&ktri.in, 0) < 0 ||
        ber_prim(&ktri.in, 0x04, "encryptedKey", NULL, 0, NULL, NULL) < 0 || ber_close(&ktri, "KeyTransRecipientInfo") < 0 ||
        ber_close(&ris, "recipientInfos (one recipient)") < 0)
        return -1;
    if (ber_open(&env.in, 0x30, "EncryptedContentInfo", &eci) < 0 ||
        ber_prim(&eci.in, 0x06, "encrypted content type", OID_DATA, sizeof OID_DATA, NULL, NULL) < 0 ||
        ber_skip(&eci.in, 0) < 0)
        return -1;
    if (ber_next_is(&eci.in, 0xa0)) {
        struct ber_box chunks;
        if (ber_open(&eci.in, 0xa0, "encryptedContent", &chunks) < 0)
            return -1;
        while (chunks.indefinite ? !ber_at_eoc(&chunks.in) : !vg_rd_eof(&chunks.in))
            if (ber_prim(&chunks.in, 0x04, "encryptedContent chunk", NULL, 0, NULL, NULL) < 0)
                return -1;
        if (ber_close(&chunks, "encryptedContent") < 0)
            return -1;
    } else if (ber_prim(&eci.in, 0x80, "encryptedContent", NULL, 0, NULL, NULL) < 0) {
        return -1;
    }
    if (ber_close(&eci, "EncryptedContentInfo") < 0 || ber_close(&env, "EnvelopedData") < 0 ||
        ber_close(&explicit0, "content") < 0 || ber_close(&ci, "ContentInfo") < 0)
        return -1;
    return vg_rd_expect_end(&top, "CMS");
}

/* rid must be SHA-256 of the DER SubjectPublicKeyInfo of our key (what KMS puts there). */
static int check_rid(EVP_PKEY *key, const uint8_t *rid, size_t rid_len, vg_err *err)
{
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(key, &spki);
    uint8_t md[32];
    if (n <= 0)
        return vg_fail(err, VG_E_INTERNAL, "cannot encode the recipient public key");
    SHA256(spki, (size_t)n, md);
    OPENSSL_free(spki);
    if (rid_len != sizeof md || memcmp(rid, md, sizeof md) != 0)
        return vg_fail(err, VG_E_INVALID, "CMS: recipient key identifier is not SHA-256 of our public key");
    return 0;
}

/* hashFunc / MGF1 hash must be SHA-256 (absent means SHA-1 in RFC 4055: refused). */
static bool is_sha256(const X509_ALGOR *a)
{
    if (a == NULL)
        return false;
    const ASN1_OBJECT *obj;
    int ptype;
    const void *pval;
    X509_ALGOR_get0(&obj, &ptype, &pval, a);
    return OBJ_obj2nid(obj) == NID_sha256 && (ptype == V_ASN1_UNDEF || ptype == V_ASN1_NULL);
}

/* RSAES-OAEP-params: [0] sha256, [1] MGF1(sha256), [2] absent or pSpecified(empty). */
static int check_oaep(const X509_ALGOR *alg, vg_err *err)
{
    const ASN1_OBJECT *obj;
    int ptype;
    const void *pval;
    X509_ALGOR_get0(&obj, &ptype, &pval, alg);
    if (OBJ_obj2nid(obj) != NID_rsaesOaep)
        return vg_fail(err, VG_E_INVALID, "CMS: key encryption algorithm is not RSAES-OAEP");
    if (ptype != V_ASN1_SEQUENCE)
        return vg_fail(err, VG_E_INVALID, "CMS: RSAES-OAEP without parameters (SHA-1 default refused)");
    RSA_OAEP_PARAMS *p = ASN1_item_unpack((const ASN1_STRING *)pval, ASN1_ITEM_rptr(RSA_OAEP_PARAMS));
    X509_ALGOR *mgf_hash = NULL;
    int rc = -1;
    if (p == NULL) {
        vg_fail(err, VG_E_INVALID, "CMS: malformed RSAES-OAEP parameters");
        goto out;
    }
    if (!is_sha256(p->hashFunc)) {
        vg_fail(err, VG_E_INVALID, "CMS: RSAES-OAEP hash is not SHA-256");
        goto out;
    }
    if (p->maskGenFunc == NULL) {
        vg_fail(err, VG_E_INVALID, "CMS: RSAES-OAEP mask generation is not MGF1-SHA-256");
        goto out;
    }
    X509_ALGOR_get0(&obj, &ptype, &pval, p->maskGenFunc);
    if (OBJ_obj2nid(obj) == NID_mgf1 && ptype == V_ASN1_SEQUENCE)
        mgf_hash = ASN1_item_unpack((const ASN1_STRING *)pval, ASN1_ITEM_rptr(X509_ALGOR));
    if (!is_sha256(mgf_hash)) {
        vg_fail(err, VG_E_INVALID, "CMS: RSAES-OAEP mask generation is not MGF1-SHA-256");
        goto out;
    }
    if (p->pSourceFunc != NULL) {
        X509_ALGOR_get0(&obj, &ptype, &pval, p->pSourceFunc);
        if (OBJ_obj2nid(obj) != NID_pSpecified || ptype != V_ASN1_OCTET_STRING ||
            ASN1_STRING_length((const ASN1_STRING *)pval) != 0) {
            vg_fail(err, VG_E_INVALID, "CMS: RSAES-OAEP with a non-empty label");
            goto out;
        }
    }
    rc = 0;
out:
    X509_ALGOR_free(mgf_hash);
    RSA_OAEP_PARAMS_free(p);
    return rc;
}

int vg_cms_decrypt(const uint8_t *ber, size_t ber_len, EVP_PKEY *rsa_key, uint8_t **plaintext, size_t *plaintext_len,
                   vg_err *err)
{
    *plaintext = NULL;
    *plaintext_len = 0;
    if (ber == NULL || ber_len == 0 || ber_len > VG_CMS_INPUT_MAX)
        return vg_fail(err, VG_E_INVALID, "CMS: input empty or larger than %d bytes", VG_CMS_INPUT_MAX);
    if (rsa_key == NULL || EVP_PKEY_get_base_id(rsa_key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(rsa_key) < 2048)
        return vg_fail(err, VG_E_INVALID, "CMS: recipient key must be RSA of at least 2048 bits");

    const uint8_t *rid;
    size_t rid_len;
    if (walk_skeleton(ber, ber_len, &rid, &rid_len, err) < 0)
        return vg_wrap(err, "CMS");
    if (check_rid(rsa_key, rid, rid_len, err) < 0)
        return -1;

    int rc = -1;
    uint8_t *buf = NULL;
    size_t cap = 0, got = 0;
    BIO *cont = NULL;
    const unsigned char *p = ber;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)ber_len);
    if (cms == NULL) {
        vg_fail(err, VG_E_INVALID, "CMS: not a BER ContentInfo");
        goto out;
    }
    if (p != ber + ber_len) {
        vg_fail(err, VG_E_INVALID, "CMS: %zu trailing bytes", (size_t)(ber + ber_len - p));
        goto out;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
        vg_fail(err, VG_E_INVALID, "CMS: content type is not envelopedData");
        goto out;
    }
    if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
        vg_fail(err, VG_E_INVALID, "CMS: encrypted content type is not data");
        goto out;
    }
    ASN1_OCTET_STRING **content = CMS_get0_content(cms);
    if (content == NULL || *content == NULL) {
        vg_fail(err, VG_E_INVALID, "CMS: no encrypted content");
        goto out;
    }
    int ct_len = ASN1_STRING_length(*content);
    if (ct_len < 16 || ct_len > VG_CMS_PLAINTEXT_MAX || ct_len % 16 != 0) {
        vg_fail(err, VG_E_INVALID, "CMS: encrypted content of %d bytes is not whole AES blocks", ct_len);
        goto out;
    }
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
    if (ris == NULL || sk_CMS_RecipientInfo_num(ris) != 1) {
        vg_fail(err, VG_E_INVALID, "CMS: want exactly one recipient, found %d",
                ris == NULL ? 0 : sk_CMS_RecipientInfo_num(ris));
        goto out;
    }
    CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, 0);
    X509_ALGOR *kalg = NULL;
    if (CMS_RecipientInfo_type(ri) != CMS_RECIPINFO_TRANS ||
        CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &kalg) != 1 || kalg == NULL) {
        vg_fail(err, VG_E_INVALID, "CMS: recipient is not a KeyTransRecipientInfo");
        goto out;
    }
    if (check_oaep(kalg, err) < 0)
        goto out;

    /* Report a failed key transport and a wrong CEK size as errors instead of OpenSSL's
     * "random key" countermeasure (meant for PKCS#1 v1.5; OAEP failures are not an oracle). With
     * all-NULL arguments CMS_decrypt only records the flags. */
    if (CMS_decrypt(cms, NULL, NULL, NULL, NULL, CMS_DEBUG_DECRYPT) != 1) {
        vg_fail(err, VG_E_INVALID, "CMS: not decryptable envelopedData");
        goto out;
    }
    /* set0 owns what it is given (and frees it on the next set0): hand it a reference of its own. */
    if (EVP_PKEY_up_ref(rsa_key) != 1)
        goto oom;
    if (CMS_RecipientInfo_set0_pkey(ri, rsa_key) != 1) {
        EVP_PKEY_free(rsa_key);
        vg_fail(err, VG_E_INTERNAL, "CMS: cannot set the recipient key");
        goto out;
    }
    int ok = CMS_RecipientInfo_decrypt(cms, ri);
    CMS_RecipientInfo_set0_pkey(ri, NULL);
    if (ok != 1) {
        vg_fail(err, VG_E_INVALID, "CMS: key transport (RSAES-OAEP-SHA256) decryption failed");
        goto out;
    }
    cont = CMS_dataInit(cms, NULL);
    BIO *cb = cont != NULL ? BIO_find_type(cont, BIO_TYPE_CIPHER) : NULL;
    EVP_CIPHER_CTX *cctx = NULL;
    if (cb == NULL || BIO_get_cipher_ctx(cb, &cctx) != 1 || cctx == NULL) {
        vg_fail(err, VG_E_INVALID, "CMS: cannot set up content decryption (content key or IV size)");
        goto out;
    }
    if (EVP_CIPHER_CTX_get_nid(cctx) != NID_aes_256_cbc) {
        vg_fail(err, VG_E_INVALID, "CMS: content encryption is not AES-256-CBC");
        goto out;
    }
    cap = (size_t)ct_len;
    buf = vg_secure_alloc(cap);
    if (buf == NULL)
        goto oom;
    for (;;) {
        if (got == cap) {
            uint8_t extra;
            if (BIO_read(cont, &extra, 1) > 0) {
                vg_wipe(&extra, 1);
                vg_fail(err, VG_E_INVALID, "CMS: plaintext longer than the ciphertext");
                goto out;
            }
            break;
        }
        int n = BIO_read(cont, buf + got, (int)(cap - got));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (!BIO_get_cipher_status(cb)) {
        vg_fail(err, VG_E_INVALID, "CMS: content decryption failed (padding)");
        goto out;
    }
    *plaintext = buf;
    *plaintext_len = got;
    buf = NULL;
    rc = 0;
    goto out;
oom:
    vg_fail(err, VG_E_INTERNAL, "out of memory");
out:
    if (buf != NULL)
        vg_secure_free(buf);
    BIO_free_all(cont);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    return rc;
}
