/* Target: vg_key_from_pkcs8 (src/crypto/), what `vigil import` reads: a PKCS#8 private key as PEM or
 * DER (Ed25519, secp256k1, P-256 through OpenSSL's decoders plus vigil's own checks).
 * Invariants: failure is VG_E_INVALID; an accepted key has a public key of its type's length and
 * signs a message that then verifies. */
#include <stdlib.h>

#include "crypto/key.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_fuzz_init();
    if (size > 65536)
        return 0;
    vg_key *key = NULL;
    vg_err err = {0};
    if (vg_key_from_pkcs8(data, size, &key, &err) < 0) {
        if (vg_fuzz_verbose())
            vg_fuzz_say("pkcs8: %s\n", err.msg);
        if (err.kind != VG_E_INVALID) {
            vg_fuzz_say("fuzz_pkcs8: refusal of kind %d: %s\n", err.kind, err.msg);
            abort();
        }
        return 0;
    }
    vg_key_type t = vg_key_get_type(key);
    size_t pklen;
    const uint8_t *pk = vg_key_public(key, &pklen);
    static const uint8_t msg[] = "\x03vigil fuzz";
    uint8_t sig[VG_SIG_MAX];
    size_t sig_len = 0;
    if (pklen != vg_pubkey_len(t) || vg_sign(key, msg, sizeof msg - 1, 2, sig, &sig_len, &err) < 0 ||
        !vg_verify(t, pk, pklen, msg, sizeof msg - 1, sig, sig_len, 2)) {
        vg_fuzz_say("fuzz_pkcs8: accepted key of type %d does not sign/verify: %s\n", (int)t, err.msg);
        abort();
    }
    if (vg_fuzz_verbose())
        vg_fuzz_say("pkcs8: %s key\n", vg_key_type_name(t));
    vg_key_free(key);
    return 0;
}
