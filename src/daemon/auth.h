/* Client authentication on the main server (spec: shared/specs/signatory.md §5):
 *
 *  - authorized keys (§5.1): the client signs 0x04 0x01 || target pkh (tag + 20 bytes) || request
 *    bytes with its own Tezos key and sends the b58 signature as `?authentication=`;
 *  - JWT (§5.2): POST /login trades `username`/`password` headers for an HS256 token; every other
 *    main route sends `Authorization: Bearer <token>` and `username: <user>`. Credentials rotate
 *    (new_data, old_cred_exp).
 *
 * Transport-free: http.c reads headers and query strings, this file decides. Passwords and HMAC
 * secrets live in vg_secure_alloc memory and never reach a log line or an error message. */
#ifndef VIGIL_DAEMON_AUTH_H
#define VIGIL_DAEMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "daemon/config.h"
#include "tezos/encoding.h"

typedef struct vg_auth vg_auth;

/* Builds the authentication state from cfg (copied: cfg may be freed afterwards). This is where
 * the JWT credential rules are enforced, at serve start as upstream does: VG_E_INVALID with
 * Signatory's text ("JWT: config validation failed for user <u>: password should be at least 16
 * characters", "JWT: new credentials are same as old for user <u>", ...). Rotations that are due
 * (no old_cred_exp, or one in the past) are applied here and logged. With neither scheme
 * configured the result accepts everything. */
int vg_auth_new(const vg_config *cfg, vg_auth **out, vg_err *err);
void vg_auth_free(vg_auth *a);

bool vg_auth_has_keys(const vg_auth *a); /* server.authorized_keys configured */
bool vg_auth_has_jwt(const vg_auth *a);  /* server.jwt configured */

/* ---- authorized keys (§5.1) ---- */

/* The bytes a client signs: 0x04 0x01 || tag || 20-byte hash of target || msg. *out is malloc'ed. */
int vg_auth_signed_bytes(const vg_pkh *target, const uint8_t *msg, size_t len, uint8_t **out, size_t *out_len,
                         vg_err *err);

/* Verifies `signature` (the ?authentication= value, NULL when absent) over the signed bytes for
 * target/msg (msg empty for proof of possession) against every configured key in order; the first
 * that verifies is written to *client. Generic `sig...` signatures verify against Ed25519 and ECDSA
 * keys, never BLS. Errors: VG_E_UNAUTHORIZED "missing authentication signature field",
 * VG_E_INVALID (unparsable signature), VG_E_FORBIDDEN "invalid authentication signature". */
int vg_auth_verify_request(const vg_auth *a, const vg_pkh *target, const uint8_t *msg, size_t len,
                           const char *signature, vg_pkh *client, vg_err *err);

/* Configured client keys, in config order (GET /authorized_keys). */
size_t vg_auth_key_count(const vg_auth *a);
const vg_pkh *vg_auth_key_pkh(const vg_auth *a, size_t i);

/* ---- JWT (§5.2) ---- */

/* POST /login. On success *token is the HS256 token (caller frees with free()), claims `exp` and
 * `user`, signed with the secret of the credential set the password matched (current, then new).
 * Errors (VG_E_UNAUTHORIZED): "username and password required", "Access denied". */
int vg_auth_jwt_login(vg_auth *a, const char *user, const char *password, char **token, vg_err *err);

/* The middleware check for every other route: authorization = the Authorization header (NULL if
 * absent), user = the username header. On success the caller may treat `user` as authenticated.
 * Errors (VG_E_UNAUTHORIZED) carry golang-jwt's / Signatory's text: "token required",
 * "JWT: user not found", "token has invalid claims: token is expired", "token is unverifiable:
 * 'none' signature type is not allowed", "token signature is invalid: signature is invalid",
 * "token is malformed: ...", "JWT: invalid token". Accepts HS256/384/512 only. */
int vg_auth_jwt_check(vg_auth *a, const char *authorization, const char *user, vg_err *err);

/* Tests: replaces the wall clock (milliseconds since the epoch). NULL restores it. */
void vg_auth_set_clock(vg_auth *a, int64_t (*now_ms)(void));

/* Signatory's strength rule for one credential set: NULL if acceptable, else the reason
 * ("password should be at least 16 characters", "secret should contain at least one digit", ...). */
const char *vg_auth_jwt_weakness(const char *password, const char *secret);

#endif
