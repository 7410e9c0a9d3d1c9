/* AWS credentials chain, one object per component (DynamoDB watermark, DynamoDB key storage, KMS):
 *
 *   1. explicit values (the component's config: access_key_id + secret_access_key [+ session_token])
 *   2. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
 *   3. shared credentials file: $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, section
 *      [<profile>] with profile = option, else $AWS_PROFILE, else "default"
 *   4. EC2 instance metadata, IMDSv2 only: PUT <ep>/latest/api/token, then GET
 *      <ep>/latest/meta-data/iam/security-credentials/[<role>] with the token header;
 *      ep = option, else $AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254;
 *      skipped when $AWS_EC2_METADATA_DISABLED is "true". These credentials expire: they are
 *      refreshed VG_AWS_CREDS_REFRESH_SECONDS before their Expiration (a failed refresh keeps the
 *      old ones while they are still valid, and is retried at most every 10 s).
 *
 * Region: option, else $AWS_REGION, else $AWS_DEFAULT_REGION, else `region` of the profile in
 * $AWS_CONFIG_FILE or ~/.aws/config, else (IMDS source) the instance's placement/region; "" if none.
 *
 * spec: shared/specs/signatory.md#13 item 16: "Never write credentials to the environment. Each
 * component gets its own credentials object, held in locked, wiped memory, from config, env, shared
 * files or IMDS." Key id, secret and token live only in vg_secure_alloc memory here; nothing in
 * this module logs or formats them. */
#ifndef VIGIL_AWS_CREDENTIALS_H
#define VIGIL_AWS_CREDENTIALS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define VG_AWS_CREDS_REFRESH_SECONDS 300

typedef struct vg_aws_credentials vg_aws_credentials;

typedef struct {
    /* Explicit values; both or neither of key id and secret. Copied. */
    const char *access_key_id, *secret_access_key, *session_token;
    const char *region;        /* NULL: see above */
    const char *profile;       /* NULL: $AWS_PROFILE, else "default" */
    const char *imds_endpoint; /* NULL: $AWS_EC2_METADATA_SERVICE_ENDPOINT, else 169.254.169.254 */
} vg_aws_credentials_options;

/* Resolves the chain once (IMDS is contacted now when it is the source). Errors: VG_E_INVALID
 * (key id without secret or the reverse, in config, environment or file), VG_E_UNAVAILABLE (no
 * source found; IMDS unreachable or answering garbage). The message never holds a secret. */
int vg_aws_credentials_new(const vg_aws_credentials_options *opt, vg_aws_credentials **out, vg_err *err);
void vg_aws_credentials_free(vg_aws_credentials *c); /* NULL-safe; wipes */

const char *vg_aws_credentials_region(const vg_aws_credentials *c);
/* "config", "environment", "shared file", "imds" (for logs). */
const char *vg_aws_credentials_source(const vg_aws_credentials *c);

/* A copy of the credentials, owned by the caller, in vg_secure_alloc memory. */
typedef struct {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;  /* NULL when there is none */
    uint64_t generation;  /* 0 = empty; changes whenever the credentials change */
    int64_t expiration;   /* unix seconds, 0 = does not expire */
} vg_aws_creds;

/* Brings *inout up to date: refreshes expiring credentials first (IMDS), then copies them into
 * *inout unless inout->generation already equals the current generation (so a caller can keep
 * one copy per connection and pay for the copy only after a refresh). *inout must be zeroed or a
 * previous result. Errors: VG_E_UNAVAILABLE (expired and the refresh failed, out of memory);
 * *inout is left unchanged on failure. Thread-safe. */
int vg_aws_credentials_get(vg_aws_credentials *c, vg_aws_creds *inout, vg_err *err);
/* Forces a refresh (after the service answered ExpiredToken); no-op for static sources. */
int vg_aws_credentials_refresh(vg_aws_credentials *c, vg_err *err);
/* Wipes and frees what *v holds; leaves it zeroed. */
void vg_aws_creds_clear(vg_aws_creds *v);

#endif
