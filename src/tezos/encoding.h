/* Tezos base58check encodings: every prefix the signer meets. */
#ifndef VIGIL_TEZOS_ENCODING_H
#define VIGIL_TEZOS_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "crypto/key.h"

typedef enum {
    VG_B58_TZ1, VG_B58_TZ2, VG_B58_TZ3, VG_B58_TZ4,            /* 20-byte public key hashes */
    VG_B58_EDPK, VG_B58_SPPK, VG_B58_P2PK, VG_B58_BLPK,        /* public keys */
    VG_B58_EDSK, VG_B58_EDSK64, VG_B58_SPSK, VG_B58_P2SK, VG_B58_BLSK, /* secret keys */
    VG_B58_EDESK, VG_B58_SPESK, VG_B58_P2ESK, VG_B58_BLESK,    /* encrypted secret keys */
    VG_B58_EDSIG, VG_B58_SPSIG, VG_B58_P2SIG, VG_B58_BLSIG, VG_B58_SIG, /* signatures */
    VG_B58_CHAIN_ID, VG_B58_BLOCK_HASH, VG_B58_VALUE_HASH,     /* Net, B, vh */
    VG_B58_KIND_COUNT
} vg_b58_kind;

/* Longest encoded string (BLsig/BLesk are the longest) plus NUL. */
#define VG_B58_MAX 160

/* Encodes prefix(kind) || payload; payload length must match the kind. Returns string length
 * (0, with out = "", on a length mismatch or unknown kind). Never writes past the string's NUL. */
size_t vg_b58check_encode(vg_b58_kind kind, const uint8_t *payload, size_t len, char out[VG_B58_MAX]);
/* Decodes a string of the given kind; fails with a clear message on bad checksum, prefix or length. */
int vg_b58check_decode(vg_b58_kind kind, const char *s, uint8_t *payload, size_t cap, size_t *len, vg_err *err);
/* Decodes any known kind (tries every prefix); *kind receives which one matched. */
int vg_b58check_decode_any(const char *s, vg_b58_kind *kind, uint8_t *payload, size_t cap, size_t *len,
                           vg_err *err);

/* A public key hash: type + 20 bytes. */
typedef struct {
    vg_key_type type;
    uint8_t hash[20];
} vg_pkh;

int vg_pkh_parse(const char *s, vg_pkh *out, vg_err *err);   /* "tz1..."; 400-class errors */
size_t vg_pkh_format(const vg_pkh *pkh, char out[VG_B58_MAX]);
void vg_pkh_from_pubkey(vg_key_type t, const uint8_t *pk, size_t pklen, vg_pkh *out);

size_t vg_pubkey_format(vg_key_type t, const uint8_t *pk, size_t pklen, char out[VG_B58_MAX]);
/* Parses edpk/sppk/p2pk/BLpk. */
int vg_pubkey_parse(const char *s, vg_key_type *t, uint8_t pk[VG_PUBKEY_MAX], size_t *pklen, vg_err *err);
size_t vg_signature_format(vg_key_type t, const uint8_t *sig, size_t len, char out[VG_B58_MAX]);

/* Secret keys as Tezos writes them (edsk seed or 64-byte form, spsk, p2sk, BLsk little-endian).
 * Encrypted forms (edesk...) are refused with a message saying so. The result is a vg_key. */
int vg_secret_key_parse(const char *s, vg_key **out, vg_err *err);
/* Writes the unencrypted b58 form of k's secret (edsk 32-byte seed, spsk, p2sk, BLsk LE). The output
 * is secret: callers keep it in secure memory and wipe it. */
size_t vg_secret_key_format(const vg_key *k, char out[VG_B58_MAX]);

#endif
