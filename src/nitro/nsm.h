/* The Nitro Secure Module (spec: shared/specs/enclave-rpc.md §8, §13).
 *
 * One client over two drivers that speak the same bytes:
 *   - the device: /dev/nsm, one ioctl (NSM_IOCTL_RAW = _IOWR(0x0A, 0, struct nsm_raw) = 0xC0200A00) with
 *     a CBOR request (≤ 4096 B) and a CBOR response (≤ 12288 B);
 *   - the software NSM (nsm_soft.c) for dev mode and tests: it decodes the same CBOR requests and answers
 *     with COSE_Sign1 ES384 attestation documents of the real format, signed by a leaf certificate under
 *     a dev CA kept in a directory (see vg_nsm_open_soft). Its documents verify with that CA as root and
 *     never with the AWS root.
 * Requests: "GetRandom" → {"GetRandom": {"random": bstr}};
 *           {"Attestation": {"user_data", "nonce", "public_key"}} → {"Attestation": {"document": bstr}};
 *           any → {"Error": "<code>"}.
 * All calls on one handle are serialised by a mutex (one request in flight per device). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#ifndef VG_NITRO_MUST_USE
#define VG_NITRO_MUST_USE __attribute__((warn_unused_result))
#endif

#define VG_NSM_DEVICE_PATH "/dev/nsm"
#define VG_NSM_REQUEST_MAX 4096
#define VG_NSM_RESPONSE_MAX 12288
#define VG_NSM_FIELD_MAX 1024    /* public_key, user_data, nonce */
#define VG_NSM_SEED_BYTES 1024   /* pushed into the kernel pool at start-up (§8) */
#define VG_NSM_SOFT_MODULE_ID "vigil-dev"

struct vg_nsm;

/* Opens the NSM device (path NULL → /dev/nsm). VG_E_UNAVAILABLE when it is absent (not an enclave). */
VG_NITRO_MUST_USE int vg_nsm_open_device(const char *path, struct vg_nsm **out, vg_err *err);

/* Opens a software NSM whose dev CA lives in `dir` (created 0700 if absent): root.pem (the certificate to
 * trust, e.g. `vigil attest verify --root DIR/root.pem`) and root.key, both 0600, made on first use
 * (P-384, 20 years) under an flock so concurrent first uses agree. The intermediate CA and the leaf
 * (3 hours, re-issued when < 30 min remain) live only in memory, like a real enclave's. */
VG_NITRO_MUST_USE int vg_nsm_open_soft(const char *dir, struct vg_nsm **out, vg_err *err);

/* Closes and frees (NULL-safe). */
void vg_nsm_close(struct vg_nsm *nsm);

/* "device" or "software". */
const char *vg_nsm_kind(const struct vg_nsm *nsm);

/* Asks for an attestation document. Each of public_key (1..1024 B), user_data, nonce (0..1024 B) may be
 * NULL (sent as null). *doc is malloc'ed (caller frees). VG_E_INVALID for bad arguments, VG_E_UNAVAILABLE
 * for NSM errors (the NSM's error code is in the message). */
VG_NITRO_MUST_USE int vg_nsm_attestation(struct vg_nsm *nsm, const uint8_t *public_key, size_t public_key_len,
                                         const uint8_t *user_data, size_t user_data_len, const uint8_t *nonce,
                                         size_t nonce_len, uint8_t **doc, size_t *doc_len, vg_err *err);

/* Fills out[0..len) from NSM GetRandom, calling it as often as needed. */
VG_NITRO_MUST_USE int vg_nsm_get_random(struct vg_nsm *nsm, uint8_t *out, size_t len, vg_err *err);

/* Fills out[0..len) with NSM randomness XOR the kernel's getrandom(): as good as the better source. */
VG_NITRO_MUST_USE int vg_nsm_random_mixed(struct vg_nsm *nsm, uint8_t *out, size_t len, vg_err *err);

/* Start-up seeding (§8): takes VG_NSM_SEED_BYTES from GetRandom and credits them to the kernel pool with
 * RNDADDENTROPY on /dev/random (needs CAP_SYS_ADMIN, i.e. root in the enclave). */
VG_NITRO_MUST_USE int vg_nsm_seed_kernel(struct vg_nsm *nsm, vg_err *err);

/* Sends one raw CBOR request and returns the raw CBOR response (≤ VG_NSM_RESPONSE_MAX B, malloc'ed). For
 * tests and diagnostics; the typed calls above are built on it. */
VG_NITRO_MUST_USE int vg_nsm_raw(struct vg_nsm *nsm, const uint8_t *req, size_t req_len, uint8_t **resp,
                                 size_t *resp_len, vg_err *err);
