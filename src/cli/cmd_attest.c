/* `vigil attest`: Nitro attestation documents.
 *   vigil attest verify FILE [--root ROOT.pem|der] [--at UNIX_SECONDS|document] [--all-pcrs]
 *       Verifies a COSE_Sign1 document (raw or base64) against the AWS Nitro root G1 (embedded) or ROOT,
 *       with certificate validity checked now, at UNIX_SECONDS, or at the document's own timestamp; prints
 *       its fields. Exit 0 = signature and chain ok; 1 = anything else, with the reason.
 *   vigil attest soft-nsm --dir DIR [--public-key FILE] [--user-data HEX] [--nonce HEX] [--out FILE]
 *       Development only: asks the software NSM whose dev CA lives in DIR for a document (raw bytes to
 *       --out, else base64 on stdout). Verify it with --root DIR/root.pem. */
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "common/hex.h"
#include "nitro/attestation.h"
#include "nitro/nsm.h"


#define INPUT_MAX (1u << 20)

static int usage(FILE *f)
{
    fprintf(f, "usage: vigil attest verify FILE [--root ROOT.pem] [--at UNIX_SECONDS|document] [--all-pcrs]\n"
               "       vigil attest soft-nsm --dir DIR [--public-key SPKI.der] [--user-data HEX] [--nonce HEX]\n"
               "                             [--out FILE]   (development only)\n"
               "FILE is a raw COSE_Sign1 attestation document or its base64. Without --root the AWS Nitro\n"
               "Enclaves root G1 (compiled in) is the trust anchor; --at pins the time certificates must be\n"
               "valid at (\"document\" = the document's own timestamp).\n");
    return 2;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    uint8_t *buf = malloc(INPUT_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, INPUT_MAX + 1, f) : 0;
    bool bad = buf == NULL || ferror(f) || n > INPUT_MAX;
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Raw COSE starts with an array(4) head (0x84) or tag 18 (0xd2); anything else is taken as base64. */
static int decode_input(uint8_t *buf, size_t len, uint8_t **doc, size_t *doc_len)
{
    if (len > 0 && (buf[0] == 0x84 || buf[0] == 0xd2)) {
        *doc = buf;
        *doc_len = len;
        return 0;
    }
    uint8_t *out = malloc(len + 1);
    size_t n = 0;
    if (out == NULL || sodium_base642bin(out, len + 1, (const char *)buf, len, " \t\r\n", &n, NULL,
                                         sodium_base64_VARIANT_ORIGINAL) != 0 || n == 0) {
        free(out);
        return -1;
    }
    free(buf);
    *doc = out;
    *doc_len = n;
    return 0;
}

static void print_hex_line(const char *label, const uint8_t *p, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (hex == NULL)
        return;
    vg_hex_encode(p, n, hex);
    printf("%-13s%s\n", label, hex);
    free(hex);
}

static void format_ms(uint64_t ms, char *out, size_t cap)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    char base[32] = "?";
    if (gmtime_r(&s, &tm) != NULL)
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03uZ", base, (unsigned)(ms % 1000));
}

static void print_bytes_field(const char *label, const uint8_t *p, size_t n)
{
    if (p == NULL) {
        printf("%-13snone\n", label);
        return;
    }
    char lbl[64];
    snprintf(lbl, sizeof lbl, "%s", label);
    printf("%-13s%zu bytes\n", lbl, n);
    if (n > 0)
        print_hex_line("", p, n);
}

static void print_public_key(const uint8_t *p, size_t n)
{
    if (p == NULL) {
        printf("%-13snone\n", "public key:");
        return;
    }
    const unsigned char *q = p;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &q, (long)n);
    if (k != NULL && q == p + n) {
        const char *type = EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA  ? "RSA"
                           : EVP_PKEY_get_base_id(k) == EVP_PKEY_EC ? "EC"
                                                                    : "other";
        uint8_t md[32];
        char fp[65];
        SHA256(p, n, md);
        vg_hex_encode(md, sizeof md, fp);
        printf("%-13s%s-%d SubjectPublicKeyInfo, %zu bytes, sha256 %s\n", "public key:", type, EVP_PKEY_get_bits(k), n,
               fp);
    } else {
        printf("%-13s%zu bytes (not a DER SubjectPublicKeyInfo)\n", "public key:", n);
    }
    EVP_PKEY_free(k);
    print_hex_line("", p, n);
}

static void cert_summary(const uint8_t *der, size_t len, char *out, size_t cap)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    snprintf(out, cap, "?");
    if (x == NULL)
        return;
    char name[256] = "";
    X509_NAME_oneline(X509_get_subject_name(x), name, sizeof name);
    uint8_t md[32];
    char fp[65];
    SHA256(der, len, md);
    vg_hex_encode(md, sizeof md, fp);
    snprintf(out, cap, "%s, sha256 %s", name, fp);
    X509_free(x);
}

static int cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {{"root", required_argument, NULL, 'r'},
                                             {"at", required_argument, NULL, 't'},
                                             {"all-pcrs", no_argument, NULL, 'a'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *root_path = NULL, *at_arg = NULL;
    bool all_pcrs = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "r:t:ah", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r': root_path = optarg; break;
        case 't': at_arg = optarg; break;
        case 'a': all_pcrs = true; break;
        case 'h': usage(stdout); return 0;
        default: return usage(stderr);
        }
    }
    if (optind != argc - 1)
        return usage(stderr);
    const char *path = argv[optind];

    size_t len = 0, root_len = 0;
    uint8_t *raw = read_all(path, &len), *doc = NULL, *root = NULL;
    if (raw == NULL) {
        fprintf(stderr, "vigil attest verify: %s: cannot read (missing, unreadable or over %u bytes)\n", path,
                INPUT_MAX);
        return 1;
    }
    if (decode_input(raw, len, &doc, &len) < 0) {
        free(raw);
        fprintf(stderr, "vigil attest verify: %s: neither a COSE_Sign1 document nor base64\n", path);
        return 1;
    }
    int rc = 1;
    vg_err err = {0};
    struct vg_attestation a;
    memset(&a, 0, sizeof a);
    if (root_path != NULL) {
        size_t n;
        uint8_t *r = read_all(root_path, &n);
        if (r == NULL || vg_attestation_cert_to_der(r, n, &root, &root_len, &err) < 0) {
            fprintf(stderr, "vigil attest verify: --root %s: %s\n", root_path, r == NULL ? "cannot read" : err.msg);
            free(r);
            goto out;
        }
        free(r);
    }
    time_t at = 0;
    if (at_arg != NULL && strcmp(at_arg, "document") == 0) {
        if (vg_attestation_parse(doc, len, &a, &err) < 0) {
            fprintf(stderr, "vigil attest verify: %s: %s\n", path, err.msg);
            goto out;
        }
        at = (time_t)(a.timestamp_ms / 1000);
        vg_attestation_clear(&a);
    } else if (at_arg != NULL) {
        char *end;
        long long v = strtoll(at_arg, &end, 10);
        if (*at_arg == '\0' || *end != '\0' || v <= 0) {
            fprintf(stderr, "vigil attest verify: --at wants UNIX seconds > 0 or \"document\"\n");
            goto out;
        }
        at = (time_t)v;
    }
    if (vg_attestation_verify(doc, len, root, root_len, at, &a, &err) < 0) {
        fprintf(stderr, "vigil attest verify: %s: %s\n", path, err.msg);
        struct vg_attestation p;
        vg_err perr = {0};
        if (strstr(err.msg, "expired") != NULL || strstr(err.msg, "not yet valid") != NULL) {
            if (vg_attestation_parse(doc, len, &p, &perr) == 0) {
                char when[40];
                format_ms(p.timestamp_ms, when, sizeof when);
                fprintf(stderr, "  the document was made at %s (%llu); --at document verifies at that time\n",
                        when, (unsigned long long)(p.timestamp_ms / 1000));
                vg_attestation_clear(&p);
            }
        }
        goto out;
    }
    char when[40], summary[512];
    format_ms(a.timestamp_ms, when, sizeof when);
    printf("%-13s%s\n", "module id:", a.module_id);
    printf("%-13s%s\n", "digest:", a.digest);
    printf("%-13s%llu (%s)\n", "timestamp:", (unsigned long long)a.timestamp_ms, when);
    char zero_list[200] = "";
    size_t zl = 0;
    for (size_t i = 0; i < a.n_pcrs; i++) {
        const struct vg_attestation_pcr *pcr = &a.pcrs[i];
        bool zero = true;
        for (size_t j = 0; j < pcr->len; j++)
            zero = zero && pcr->value[j] == 0;
        if (zero && !all_pcrs) {
            zl += (size_t)snprintf(zero_list + zl, sizeof zero_list - zl, "%s%u", zl ? " " : "", pcr->index);
            if (zl >= sizeof zero_list)
                zl = sizeof zero_list - 1;
            continue;
        }
        char label[16];
        snprintf(label, sizeof label, "PCR%u:", pcr->index);
        print_hex_line(label, pcr->value, pcr->len);
    }
    if (zl > 0)
        printf("%-13s%s\n", "zero PCRs:", zero_list);
    const struct vg_attestation_pcr *p0 = vg_attestation_pcr(&a, 0);
    if (p0 != NULL) {
        bool zero = true;
        for (size_t j = 0; j < p0->len; j++)
            zero = zero && p0->value[j] == 0;
        if (zero)
            printf("%-13sPCR0 is all zeros: a debug-mode enclave (or a software NSM); it proves nothing\n", "warning:");
    }
    print_public_key(a.public_key, a.public_key_len);
    print_bytes_field("user data:", a.user_data, a.user_data_len);
    print_bytes_field("nonce:", a.nonce, a.nonce_len);
    cert_summary(a.certificate, a.certificate_len, summary, sizeof summary);
    printf("%-13s%s\n", "certificate:", summary);
    printf("%-13s%zu certificates (root first)\n", "cabundle:", a.n_cabundle);
    cert_summary(a.cabundle[0], a.cabundle_len[0], summary, sizeof summary);
    char at_text[40];
    if (at > 0)
        format_ms((uint64_t)at * 1000, at_text, sizeof at_text);
    printf("signature: ok, chain: ok (root %s%s; valid at %s)\n", summary, root == NULL ? ", AWS Nitro root G1" : "",
           at > 0 ? at_text : "now");
    rc = 0;
out:
    vg_attestation_clear(&a);
    free(doc);
    free(root);
    return rc;
}

static int cmd_soft_nsm(int argc, char **argv)
{
    static const struct option longopts[] = {{"dir", required_argument, NULL, 'd'},
                                             {"public-key", required_argument, NULL, 'p'},
                                             {"user-data", required_argument, NULL, 'u'},
                                             {"nonce", required_argument, NULL, 'n'},
                                             {"out", required_argument, NULL, 'o'},
                                             {NULL, 0, NULL, 0}};
    const char *dir = NULL, *pk_path = NULL, *ud_hex = NULL, *nonce_hex = NULL, *out_path = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "d:p:u:n:o:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': dir = optarg; break;
        case 'p': pk_path = optarg; break;
        case 'u': ud_hex = optarg; break;
        case 'n': nonce_hex = optarg; break;
        case 'o': out_path = optarg; break;
        default: return usage(stderr);
        }
    }
    if (dir == NULL || optind != argc)
        return usage(stderr);
    int rc = 1;
    vg_err err = {0};
    uint8_t *pk = NULL, *ud = NULL, *nonce = NULL, *doc = NULL;
    size_t pk_len = 0, ud_len = 0, nonce_len = 0, doc_len = 0;
    struct vg_nsm *nsm = NULL;
    if (pk_path != NULL && (pk = read_all(pk_path, &pk_len)) == NULL) {
        fprintf(stderr, "vigil attest soft-nsm: %s: cannot read\n", pk_path);
        goto out;
    }
    if ((ud_hex != NULL && vg_hex_decode(ud_hex, strlen(ud_hex), &ud, &ud_len, &err) < 0) ||
        (nonce_hex != NULL && vg_hex_decode(nonce_hex, strlen(nonce_hex), &nonce, &nonce_len, &err) < 0)) {
        fprintf(stderr, "vigil attest soft-nsm: %s\n", err.msg);
        goto out;
    }
    if (vg_nsm_open_soft(dir, &nsm, &err) < 0 ||
        vg_nsm_attestation(nsm, pk, pk_len, ud, ud_len, nonce, nonce_len, &doc, &doc_len, &err) < 0) {
        fprintf(stderr, "vigil attest soft-nsm: %s\n", err.msg);
        goto out;
    }
    if (out_path != NULL) {
        FILE *f = fopen(out_path, "wb");
        bool ok = f != NULL && fwrite(doc, 1, doc_len, f) == doc_len;
        ok = (f != NULL && fclose(f) == 0) && ok;
        if (!ok) {
            fprintf(stderr, "vigil attest soft-nsm: %s: cannot write\n", out_path);
            goto out;
        }
    } else {
        size_t cap = sodium_base64_ENCODED_LEN(doc_len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(cap);
        if (b64 == NULL)
            goto out;
        sodium_bin2base64(b64, cap, doc, doc_len, sodium_base64_VARIANT_ORIGINAL);
        printf("%s\n", b64);
        free(b64);
    }
    rc = 0;
out:
    vg_nsm_close(nsm);
    free(pk);
    free(ud);
    free(nonce);
    free(doc);
    return rc;
}

int vg_cmd_attest(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "soft-nsm") == 0)
        return cmd_soft_nsm(argc - 1, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "vigil attest: unknown subcommand `%s'\n", argv[1]);
    return usage(stderr);
}
