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
/* Vaults and the key table only, no watermark: for `list` and `pop`, which must work beside a
 * running daemon that holds the watermark store. Such a signer cannot sign consensus requests. */
int vg_signer_open_keys(const vg_config *cfg, vg_signer **out, vg_err *err);
/* True when every vault can sign now; updates the vault_ready gauge. probe: let vaults that lost
 * their backend try to reconnect (health checks). */
bool vg_signer_ready(vg_signer *s, bool probe);

/* Signatory's `?version=` rule: "0", "1", "2"; anything else is 2. */
int vg_signing_version_parse(const char *s);

/* Who sent a request, as the HTTP layer authenticated it (daemon/auth.h). The per-key checks use it:
 * `authorized_keys` needs client, `jwt_users` needs jwt_user. NULL (or NULL fields) = unauthenticated. */
typedef struct {
    const vg_pkh *client;  /* the client key that signed ?authentication= (server.authorized_keys) */
    const char *jwt_user;  /* the logged-in user (server.jwt) */
} vg_signer_caller;

int vg_signer_public_key(vg_signer *s, const char *pkh_text, char out[VG_B58_MAX], vg_err *err);
int vg_signer_sign(vg_signer *s, const char *pkh_text, const uint8_t *msg, size_t len, int version,
                   char sig_out[VG_B58_MAX], vg_err *err);
int vg_signer_prove_possession(vg_signer *s, const char *pkh_text, char out[VG_B58_MAX], vg_err *err);
/* The same on behalf of an authenticated caller (who may be NULL). Order (spec §1.3, §1.5): policy
 * lookup, per-key jwt_users (403 "user `u' is not authorized to access <pkh>"), then as above with the
 * client going through vg_policy_check_client. GET /keys applies jwt_users too (§13 item 11). */
int vg_signer_public_key_as(vg_signer *s, const vg_signer_caller *who, const char *pkh_text, char out[VG_B58_MAX],
                            vg_err *err);
int vg_signer_sign_as(vg_signer *s, const vg_signer_caller *who, const char *pkh_text, const uint8_t *msg,
                      size_t len, int version, char sig_out[VG_B58_MAX], vg_err *err);
int vg_signer_prove_possession_as(vg_signer *s, const vg_signer_caller *who, const char *pkh_text,
                                  char out[VG_B58_MAX], vg_err *err);

/* The configuration the signer was built from. */
const vg_config *vg_signer_config(const vg_signer *s);

/* Every key of every vault, in vault order. */
size_t vg_signer_key_count(const vg_signer *s);
const vg_vault_key *vg_signer_key_at(const vg_signer *s, size_t i);
vg_watermark *vg_signer_watermark(vg_signer *s);
vg_vault *vg_signer_vault(vg_signer *s, const char *name);

#endif
