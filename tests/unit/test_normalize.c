/* Low-S normalisation in one place (vg_ecdsa_normalize), as remote vaults need it. */
#include "testlib.h"

#include "crypto/key.h"
#include "crypto/key_impl.h"

static void check_type(vg_key_type t, const uint8_t n[32])
{
    vg_key *k;
    CHECK(vg_key_generate(t, &k, NULL) == 0);
    size_t pklen;
    const uint8_t *pk = vg_key_public(k, &pklen);
    const uint8_t msg[] = "normalise me";
    uint8_t sig[VG_SIG_MAX], high[64];
    size_t siglen;
    CHECK(vg_sign(k, msg, sizeof msg, 2, sig, &siglen, NULL) == 0 && siglen == 64);
    CHECK(vg_ecdsa_is_low_s(t, sig));
    memcpy(high, sig, 64);
    vg_ecdsa_scalar_negate(high + 32, n); /* the other valid signature: (r, n - s) */
    CHECK(!vg_ecdsa_is_low_s(t, high));
    CHECK(vg_verify(t, pk, pklen, msg, sizeof msg, high, 64, 2)); /* high-S still verifies */
    vg_ecdsa_normalize(t, high);
    CHECK(memcmp(high, sig, 64) == 0);
    vg_ecdsa_normalize(t, high); /* idempotent on low-S */
    CHECK(memcmp(high, sig, 64) == 0);
    vg_key_free(k);
}

int main(void)
{
    vt_init();
    static const uint8_t secp_n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                       0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    static const uint8_t p256_n[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                       0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    for (int i = 0; i < 20; i++) {
        check_type(VG_KEY_SECP256K1, secp_n);
        check_type(VG_KEY_P256, p256_n);
    }
    uint8_t ed[64] = {1};
    uint8_t copy[64];
    memcpy(copy, ed, 64);
    vg_ecdsa_normalize(VG_KEY_ED25519, ed); /* nothing to normalise */
    CHECK(memcmp(ed, copy, 64) == 0);
    return vt_done("normalize");
}
