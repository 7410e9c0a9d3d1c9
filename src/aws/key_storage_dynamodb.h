/* Nitro key storage driver `aws` / `dynamodb`: the enclave's sealed key blobs in a DynamoDB table,
 * Signatory's layout (spec: shared/specs/signatory.md#7.11 "DynamoDB (table, default encrypted_keys):
 * item {pkh: S "<tz…>", value: B <blob>}; PutItem on import (same pkh overwrites)").
 *
 * Unlike Signatory, listing follows every Scan page (§13 item 14: "Paginate with LastEvaluatedKey
 * until the end; an error mid-scan fails the load loudly instead of starting with a partial key
 * set"): vg_key_storage_dynamodb_list returns all entries or nothing. The blobs are ciphertext
 * (KMS-sealed), so they live in ordinary memory. */
#ifndef VIGIL_AWS_KEY_STORAGE_DYNAMODB_H
#define VIGIL_AWS_KEY_STORAGE_DYNAMODB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VG_KEY_STORAGE_DEFAULT_TABLE "encrypted_keys"
#define VG_KEY_STORAGE_BLOB_MAX (64 * 1024)
#define VG_KEY_STORAGE_PKH_MAX 64

typedef struct vg_key_storage_dynamodb vg_key_storage_dynamodb;

typedef struct {
    char pkh[VG_KEY_STORAGE_PKH_MAX];
    uint8_t *blob; /* malloc'ed */
    size_t blob_len;
} vg_key_storage_entry;

/* config: the `storage.config` mapping (borrowed; NULL = defaults): access_key_id,
 * secret_access_key, session_token, region, profile, table (default encrypted_keys), endpoint,
 * create_table (default true: CreateTable with hash key pkh (S), on-demand capacity, wait for
 * ACTIVE), timeout_ms, retry_budget_ms. Values may be JSON strings (as config.c stores them).
 * Errors: VG_E_INVALID (config), VG_E_UNAVAILABLE (credentials, DynamoDB, missing table). */
int vg_key_storage_dynamodb_open(const json_t *config, vg_key_storage_dynamodb **out, vg_err *err);
void vg_key_storage_dynamodb_close(vg_key_storage_dynamodb *ks); /* NULL-safe */
const char *vg_key_storage_dynamodb_table(const vg_key_storage_dynamodb *ks);

/* Stores (or overwrites) the blob of pkh. Errors: VG_E_INVALID (empty/oversized blob, pkh not
 * printable or too long), VG_E_UNAVAILABLE (DynamoDB). */
int vg_key_storage_dynamodb_put(vg_key_storage_dynamodb *ks, const char *pkh, const uint8_t *blob, size_t len,
                                vg_err *err);

/* Every stored entry, in Scan order, all pages. *out and *n are set only on success (caller frees with
 * vg_key_storage_entries_free). page_limit > 0 sets Scan's Limit (tests; 0 = server pages of
 * 1 MB). Errors: VG_E_UNAVAILABLE (any page failed; nothing returned), VG_E_INVALID (an item
 * without a string pkh or a binary value, or a value that is not base64). */
int vg_key_storage_dynamodb_list(vg_key_storage_dynamodb *ks, int page_limit, vg_key_storage_entry **out, size_t *n,
                                 vg_err *err);
void vg_key_storage_entries_free(vg_key_storage_entry *e, size_t n);

#endif
