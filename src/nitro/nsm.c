#include "nitro/nsm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/secmem.h"
#include "nitro/nitro_cbor.h"
#include "nitro/nsm_impl.h"

/* Linux uapi linux/nsm.h (not shipped by Debian 12's headers). */
struct nsm_iovec {
    uint64_t addr;
    uint64_t len;
};
struct nsm_raw {
    struct nsm_iovec request;
    struct nsm_iovec response;
};
#define NSM_MAGIC 0x0A
#define NSM_IOCTL_RAW _IOWR(NSM_MAGIC, 0x0, struct nsm_raw)
_Static_assert(sizeof(struct nsm_raw) == 32, "struct nsm_raw is 32 bytes");
#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(NSM_IOCTL_RAW == 0xC0200A00u, "NSM_IOCTL_RAW is 0xC0200A00");
#endif

#define RANDOM_EMPTY_REPLIES_MAX 8

struct vg_nsm *vg_nsm_alloc(const struct vg_nsm_ops *ops)
{
    struct vg_nsm *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    if (pthread_mutex_init(&n->lock, NULL) != 0) {
        free(n);
        return NULL;
    }
    n->ops = ops;
    n->fd = -1;
    return n;
}

void vg_nsm_close(struct vg_nsm *nsm)
{
    if (nsm == NULL)
        return;
    if (nsm->ops->close != NULL)
        nsm->ops->close(nsm);
    pthread_mutex_destroy(&nsm->lock);
    free(nsm);
}

const char *vg_nsm_kind(const struct vg_nsm *nsm) { return nsm->ops->kind; }

/* ---- the device ---- */

static int device_raw(struct vg_nsm *nsm, const uint8_t *req, size_t req_len, uint8_t *resp, size_t *resp_len,
                      vg_err *err)
{
    struct nsm_raw msg = {
        .request = {(uint64_t)(uintptr_t)req, req_len},
        .response = {(uint64_t)(uintptr_t)resp, VG_NSM_RESPONSE_MAX},
    };
    int rc;
    do
        rc = ioctl(nsm->fd, NSM_IOCTL_RAW, &msg);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        if (errno == EMSGSIZE)
            return vg_fail(err, VG_E_INVALID, "NSM: request too large");
        return vg_fail(err, VG_E_UNAVAILABLE, "NSM ioctl: %s", strerror(errno));
    }
    if (msg.response.len > VG_NSM_RESPONSE_MAX)
        return vg_fail(err, VG_E_UNAVAILABLE, "NSM: response length %llu exceeds the buffer",
                       (unsigned long long)msg.response.len);
    *resp_len = (size_t)msg.response.len;
    return 0;
}

static void device_close(struct vg_nsm *nsm)
{
    if (nsm->fd >= 0)
        close(nsm->fd);
    nsm->fd = -1;
}

static const struct vg_nsm_ops device_ops = {"device", device_raw, device_close};

int vg_nsm_open_device(const char *path, struct vg_nsm **out, vg_err *err)
{
    *out = NULL;
    if (path == NULL)
        path = VG_NSM_DEVICE_PATH;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return vg_fail(err, errno == ENOENT ? VG_E_UNAVAILABLE : VG_E_INTERNAL, "%s: %s%s", path, strerror(errno),
                       errno == ENOENT ? " (not inside a Nitro Enclave?)" : "");
    struct vg_nsm *n = vg_nsm_alloc(&device_ops);
    if (n == NULL) {
        close(fd);
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    }
    n->fd = fd;
    *out = n;
    return 0;
}

/* ---- requests and replies ---- */

int vg_nsm_raw(struct vg_nsm *nsm, const uint8_t *req, size_t req_len, uint8_t **resp, size_t *resp_len, vg_err *err)
{
    *resp = NULL;
    *resp_len = 0;
    if (req_len == 0 || req_len > VG_NSM_REQUEST_MAX)
        return vg_fail(err, VG_E_INVALID, "NSM: request of %zu bytes (1..%d allowed)", req_len, VG_NSM_REQUEST_MAX);
    uint8_t *buf = malloc(VG_NSM_RESPONSE_MAX);
    if (buf == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    size_t n = 0;
    pthread_mutex_lock(&nsm->lock);
    int rc = nsm->ops->raw(nsm, req, req_len, buf, &n, err);
    pthread_mutex_unlock(&nsm->lock);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    *resp = buf;
    *resp_len = n;
    return 0;
}

/* {"<variant>": {"<field>": bstr, …}} → the bstr (pointing into resp); {"Error": "<code>"} → error. */
static int decode_reply(const uint8_t *resp, size_t len, const char *variant, const char *field, size_t max,
                        const uint8_t **val, size_t *val_len, vg_err *err)
{
    vg_reader r = vg_reader_init(resp, len, err);
    struct vg_nitro_cbor_seq outer, inner;
    bool more, found = false;
    const char *key;
    size_t klen;
    if (vg_nitro_cbor_map(&r, "NSM reply", 1, &outer) < 0 || vg_nitro_cbor_next(&r, "NSM reply", &outer, &more) < 0)
        return -1;
    if (!more)
        return vg_fail(err, VG_E_UNAVAILABLE, "NSM reply: empty map");
    if (vg_nitro_cbor_text(&r, "NSM reply variant", 1, 64, &key, &klen) < 0)
        return -1;
    if (klen == 5 && memcmp(key, "Error", 5) == 0) {
        const char *code;
        size_t clen;
        if (vg_nitro_cbor_text(&r, "NSM error code", 1, 64, &code, &clen) < 0)
            return -1;
        return vg_fail(err, VG_E_UNAVAILABLE, "NSM error: %.*s", (int)clen, code);
    }
    if (strlen(variant) != klen || memcmp(key, variant, klen) != 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "NSM reply: unexpected variant '%.*s' (want %s)", (int)klen, key,
                       variant);
    if (vg_nitro_cbor_map(&r, variant, 8, &inner) < 0)
        return -1;
    for (;;) {
        if (vg_nitro_cbor_next(&r, variant, &inner, &more) < 0)
            return -1;
        if (!more)
            break;
        if (vg_nitro_cbor_text(&r, "NSM reply field", 1, 64, &key, &klen) < 0)
            return -1;
        if (strlen(field) == klen && memcmp(key, field, klen) == 0 && !found) {
            if (vg_nitro_cbor_bytes(&r, field, 0, max, val, val_len) < 0)
                return -1;
            found = true;
        } else if (vg_nitro_cbor_skip(&r, "NSM reply field") < 0) {
            return -1;
        }
    }
    if (vg_nitro_cbor_next(&r, "NSM reply", &outer, &more) < 0 || vg_rd_expect_end(&r, "NSM reply") < 0)
        return -1;
    if (more)
        return vg_fail(err, VG_E_UNAVAILABLE, "NSM reply: more than one variant");
    if (!found)
        return vg_fail(err, VG_E_UNAVAILABLE, "NSM reply: no '%s'", field);
    return 0;
}

int vg_nsm_attestation(struct vg_nsm *nsm, const uint8_t *public_key, size_t public_key_len, const uint8_t *user_data,
                       size_t user_data_len, const uint8_t *nonce, size_t nonce_len, uint8_t **doc, size_t *doc_len,
                       vg_err *err)
{
    *doc = NULL;
    *doc_len = 0;
    if ((public_key != NULL && (public_key_len == 0 || public_key_len > VG_NSM_FIELD_MAX)) ||
        (user_data != NULL && user_data_len > VG_NSM_FIELD_MAX) || (nonce != NULL && nonce_len > VG_NSM_FIELD_MAX))
        return vg_fail(err, VG_E_INVALID, "NSM attestation: public_key 1..%d, user_data and nonce ≤ %d bytes",
                       VG_NSM_FIELD_MAX, VG_NSM_FIELD_MAX);
    struct vg_nitro_cbor_out req;
    vg_nitro_cbor_out_init(&req, VG_NSM_REQUEST_MAX);
    vg_nitro_cbor_put_head(&req, VG_NITRO_CBOR_MAP, 1);
    vg_nitro_cbor_put_text(&req, "Attestation");
    vg_nitro_cbor_put_head(&req, VG_NITRO_CBOR_MAP, 3);
    vg_nitro_cbor_put_text(&req, "user_data");
    vg_nitro_cbor_put_bytes_or_null(&req, user_data, user_data_len);
    vg_nitro_cbor_put_text(&req, "nonce");
    vg_nitro_cbor_put_bytes_or_null(&req, nonce, nonce_len);
    vg_nitro_cbor_put_text(&req, "public_key");
    vg_nitro_cbor_put_bytes_or_null(&req, public_key, public_key_len);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    int rc = -1;
    const uint8_t *d;
    size_t dlen;
    if (vg_nitro_cbor_out_finish(&req, err) < 0 || vg_nsm_raw(nsm, req.buf, req.len, &resp, &resp_len, err) < 0 ||
        decode_reply(resp, resp_len, "Attestation", "document", VG_NSM_RESPONSE_MAX, &d, &dlen, err) < 0)
        goto out;
    if (dlen == 0) {
        vg_fail(err, VG_E_UNAVAILABLE, "NSM: empty attestation document");
        goto out;
    }
    if ((*doc = malloc(dlen)) == NULL) {
        vg_fail(err, VG_E_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(*doc, d, dlen);
    *doc_len = dlen;
    rc = 0;
out:
    free(resp);
    vg_nitro_cbor_out_free(&req);
    return rc;
}

int vg_nsm_get_random(struct vg_nsm *nsm, uint8_t *out, size_t len, vg_err *err)
{
    static const uint8_t req[] = {0x69, 'G', 'e', 't', 'R', 'a', 'n', 'd', 'o', 'm'};
    size_t got = 0;
    int empty = 0;
    while (got < len) {
        uint8_t *resp = NULL;
        size_t resp_len = 0;
        const uint8_t *rnd;
        size_t rlen;
        if (vg_nsm_raw(nsm, req, sizeof req, &resp, &resp_len, err) < 0)
            return vg_wrap(err, "GetRandom");
        if (decode_reply(resp, resp_len, "GetRandom", "random", VG_NSM_RESPONSE_MAX, &rnd, &rlen, err) < 0) {
            vg_wipe(resp, resp_len);
            free(resp);
            return vg_wrap(err, "GetRandom");
        }
        size_t take = rlen < len - got ? rlen : len - got;
        memcpy(out + got, rnd, take);
        got += take;
        vg_wipe(resp, resp_len);
        free(resp);
        if (rlen == 0 && ++empty > RANDOM_EMPTY_REPLIES_MAX)
            return vg_fail(err, VG_E_UNAVAILABLE, "GetRandom: NSM keeps returning no bytes");
    }
    return 0;
}

int vg_nsm_random_mixed(struct vg_nsm *nsm, uint8_t *out, size_t len, vg_err *err)
{
    if (vg_nsm_get_random(nsm, out, len, err) < 0)
        return -1;
    uint8_t chunk[256];
    for (size_t off = 0; off < len;) {
        size_t want = len - off < sizeof chunk ? len - off : sizeof chunk;
        ssize_t n = getrandom(chunk, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            vg_wipe(chunk, sizeof chunk);
            vg_wipe(out, len);
            return vg_fail(err, VG_E_UNAVAILABLE, "getrandom: %s", strerror(errno));
        }
        for (ssize_t i = 0; i < n; i++)
            out[off + (size_t)i] ^= chunk[i];
        off += (size_t)n;
    }
    vg_wipe(chunk, sizeof chunk);
    return 0;
}

int vg_nsm_seed_kernel(struct vg_nsm *nsm, vg_err *err)
{
    size_t size = sizeof(struct rand_pool_info) + VG_NSM_SEED_BYTES;
    struct rand_pool_info *info = vg_secure_alloc(size);
    if (info == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    int rc = -1;
    int fd = -1;
    if (vg_nsm_get_random(nsm, (uint8_t *)info->buf, VG_NSM_SEED_BYTES, err) < 0)
        goto out;
    info->entropy_count = VG_NSM_SEED_BYTES * 8;
    info->buf_size = VG_NSM_SEED_BYTES;
    fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ioctl(fd, RNDADDENTROPY, info) < 0) {
        vg_fail(err, VG_E_UNAVAILABLE, "RNDADDENTROPY on /dev/random: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    vg_secure_free(info);
    return rc;
}
