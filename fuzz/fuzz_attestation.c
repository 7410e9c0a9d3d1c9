/* Target: AWS Nitro attestation documents, src/nitro/attestation.c -- the COSE_Sign1 / CBOR parser
 * (vg_attestation_parse), full verification (vg_attestation_verify: ES384 signature, certificate
 * chain to the embedded AWS root G1, validity at a pinned time) and vg_attestation_cert_to_der.
 * The time is pinned to 2024-09-07T15:00:00Z so the real sample documents in
 * ../shared/vectors/attestation (the seeds) verify and mutations explore the paths after each check.
 * Invariants: parse failures are VG_E_INVALID; verify fails with VG_E_INVALID / VG_E_FORBIDDEN, and
 * succeeds only on a document that parses, has a 96-byte signature and every field in its bounds. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "nitro/attestation.h"

#define PINNED_TIME 1725721200 /* 2024-09-07T15:00:00Z: inside the sample leaf's 3-hour validity */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_fuzz_init();
    if (size > VG_ATTESTATION_DOC_MAX + 1)
        return 0;
    struct vg_attestation a;
    memset(&a, 0, sizeof a);
    vg_err err = {0};
    int parsed = vg_attestation_parse(data, size, &a, &err);
    if (vg_fuzz_verbose() && parsed < 0)
        vg_fuzz_say("parse: %s\n", err.msg);
    if (parsed < 0) {
        if (err.kind != VG_E_INVALID)
            abort();
    } else {
        if (a.n_pcrs > VG_ATTESTATION_PCRS_MAX || a.n_cabundle > VG_ATTESTATION_CABUNDLE_MAX ||
            a.certificate_len > VG_ATTESTATION_CERT_MAX || a.public_key_len > VG_ATTESTATION_FIELD_MAX ||
            a.user_data_len > VG_ATTESTATION_FIELD_MAX || a.nonce_len > VG_ATTESTATION_FIELD_MAX ||
            a.signature == NULL)
            abort();
        for (size_t i = 0; i < a.n_pcrs; i++)
            if (a.pcrs[i].len != 32 && a.pcrs[i].len != 48 && a.pcrs[i].len != 64)
                abort();
        /* Touch every byte field: ASan flags a pointer outside the owned copy. */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < a.certificate_len; i++)
            sink ^= a.certificate[i];
        for (size_t c = 0; c < a.n_cabundle; c++)
            for (size_t i = 0; i < a.cabundle_len[c]; i++)
                sink ^= a.cabundle[c][i];
        for (size_t i = 0; i < 96; i++)
            sink ^= a.signature[i];
        (void)sink;
        vg_attestation_clear(&a);

        /* Only documents that parse are worth the (slow) signature and chain checks. */
        err = (vg_err){0};
        int verified = vg_attestation_verify(data, size, NULL, 0, PINNED_TIME, &a, &err);
        if (vg_fuzz_verbose())
            vg_fuzz_say("verify: %s\n", verified == 0 ? "ok" : err.msg);
        if (verified < 0) {
            if (err.kind != VG_E_INVALID && err.kind != VG_E_FORBIDDEN && err.kind != VG_E_INTERNAL)
                abort();
        }
        vg_attestation_clear(&a);
    }

    uint8_t *der = NULL;
    size_t der_len = 0;
    if (vg_attestation_cert_to_der(data, size, &der, &der_len, NULL) == 0)
        free(der);
    return 0;
}
