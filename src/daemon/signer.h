/* The signing pipeline, in Signatory's order: key hash → policy entry → decode → key lookup →
 * policy filter → watermark reserve → vault sign → durable watermark commit → signature.
 * The HTTP layer only parses transport; every decision is made here. */
#ifndef VIGIL_DAEMON_SIGNER_H
#define VIGIL_DAEMON_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "daemon/config.h"
#include "tezos/encoding.h"
#include "vault/vault.h"
#include "watermark/watermark.h"

typedef struct vg_signer vg_signer;

/* Opens every vault and the watermark store named by cfg (which must outlive the signer).
 * A vault that fails to open is fatal: a baker prefers a loud start failure to silent 404s. */
int vg_signer_new(const vg_config *cfg, vg_signer **out, vg_err *err);
void vg_signer_free(vg_signer *s);

/* Signatory's `?version=` rule: "0", "1", "2"; anything else is 2. */
int vg_signing_version_parse(const char *s);

int vg_signer_public_key(vg_signer *s, const char *pkh_text, char out[VG_B58_MAX], vg_err *err);
int vg_signer_sign(vg_signer *s, const char *pkh_text, const uint8_t *msg, size_t len, int version,
                   char sig_out[VG_B58_MAX], vg_err *err);
int vg_signer_prove_possession(vg_signer *s, const char *pkh_text, char out[VG_B58_MAX], vg_err *err);

/* Every key of every vault, in vault order. */
size_t vg_signer_key_count(const vg_signer *s);
const vg_vault_key *vg_signer_key_at(const vg_signer *s, size_t i);
vg_watermark *vg_signer_watermark(vg_signer *s);
vg_vault *vg_signer_vault(vg_signer *s, const char *name);

#endif
