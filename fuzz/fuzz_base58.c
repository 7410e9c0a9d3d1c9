/* Target: the base58 / base58check decoders and every Tezos string parser built on them
 * (src/tezos/base58.c, src/tezos/encoding.c): vg_base58_decode, vg_base58_check_decode,
 * vg_b58check_decode_any, vg_pkh_parse (URL path of every request), vg_pubkey_parse
 * (authorized_keys, enclave replies), vg_secret_key_parse (secret file values).
 * Input: the string (NUL-terminated copy; embedded NULs end it, as for a C string from JSON/YAML).
 * Invariants: every accepted string re-encodes to exactly itself (no non-canonical spelling of one
 * value is accepted: leading '1's, checksum, prefix and length are all exact); pkh/public key parses
 * agree with decode_any; failures are VG_E_INVALID. */
#include <stdlib.h>
#include <string.h>

#include "crypto/key.h"
#include "fuzz_common.h"
#include "tezos/base58.h"
#include "tezos/encoding.h"

static void check_kind(const vg_err *err)
{
    if (err->kind != VG_E_INVALID)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vg_fuzz_init();
    if (size > 400)
        return 0;
    char s[401];
    memcpy(s, data, size);
    s[size] = '\0';
    size_t slen = strlen(s);

    uint8_t raw[VG_BASE58_BYTES_MAX];
    size_t rawlen = 0;
    if (vg_base58_decode(s, slen, raw, sizeof raw, &rawlen) == 0) {
        char again[VG_B58_MAX + 64];
        size_t n = vg_base58_encode(raw, rawlen, again, sizeof again);
        if (n != slen || memcmp(again, s, slen) != 0)
            abort();
    }

    vg_err err = {0};
    uint8_t payload[VG_BASE58_BYTES_MAX];
    size_t len = 0;
    if (vg_base58_check_decode(s, payload, sizeof payload, &len, &err) == 0) {
        char again[VG_B58_MAX + 64];
        size_t n = vg_base58_check_encode(payload, len, again, sizeof again);
        if (n != slen || strcmp(again, s) != 0)
            abort();
    } else {
        check_kind(&err);
    }

    vg_b58_kind kind;
    err = (vg_err){0};
    int any = vg_b58check_decode_any(s, &kind, payload, sizeof payload, &len, &err);
    if (any == 0) {
        char again[VG_B58_MAX];
        size_t n = vg_b58check_encode(kind, payload, len, again);
        if (n != slen || strcmp(again, s) != 0)
            abort();
    } else {
        check_kind(&err);
    }

    vg_pkh pkh;
    err = (vg_err){0};
    if (vg_pkh_parse(s, &pkh, &err) == 0) {
        char again[VG_B58_MAX];
        if (any < 0 || kind > VG_B58_TZ4 || vg_pkh_format(&pkh, again) != slen || strcmp(again, s) != 0)
            abort();
    } else {
        check_kind(&err);
    }

    vg_key_type t;
    uint8_t pk[VG_PUBKEY_MAX];
    size_t pklen = 0;
    err = (vg_err){0};
    if (vg_pubkey_parse(s, &t, pk, &pklen, &err) == 0) {
        char again[VG_B58_MAX];
        if (any < 0 || vg_pubkey_format(t, pk, pklen, again) != slen || strcmp(again, s) != 0)
            abort();
    } else {
        check_kind(&err);
    }

    vg_key *key = NULL;
    err = (vg_err){0};
    if (vg_secret_key_parse(s, &key, &err) == 0) {
        if (any < 0 || key == NULL)
            abort();
        vg_key_free(key);
    } else {
        check_kind(&err);
    }
    return 0;
}
