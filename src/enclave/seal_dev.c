/* Development sealing: AES-256-GCM under a 32-byte key read from a local file (created 0600 with
 * random bytes when absent). INSECURE: the key file sits outside any enclave, so anyone who can read
 * it can unseal every blob. For `make run` and tests only.
 *
 * Blob = "VGD1" || nonce(12) || ciphertext || tag(16); the 4-byte magic is the AAD, so a dev blob
 * is never mistaken for a KMS CiphertextBlob (or the reverse). */
#include "enclave/seal.h"

#if VIGIL_ENCLAVE_INSECURE_SEALS

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secmem.h"

#define DEV_KEY_LEN 32
#define DEV_NONCE_LEN 12
#define DEV_TAG_LEN 16
static const uint8_t dev_magic[4] = {'V', 'G', 'D', '1'};
#define DEV_OVERHEAD (sizeof dev_magic + DEV_NONCE_LEN + DEV_TAG_LEN)

struct dev_ctx {
    uint8_t *key; /* DEV_KEY_LEN bytes, secure memory, read-only */
};

static int read_exact_fd(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static int create_key_file(const char *path, uint8_t *key, vg_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "create %s: %s", path, strerror(errno));
    randombytes_buf(key, DEV_KEY_LEN);
    size_t done = 0;
    while (done < DEV_KEY_LEN) {
        ssize_t k = write(fd, key + done, DEV_KEY_LEN - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        done += (size_t)k;
    }
    if (done != DEV_KEY_LEN || fsync(fd) < 0) {
        close(fd);
        unlink(path);
        return vg_fail(err, VG_E_UNAVAILABLE, "write %s failed", path);
    }
    close(fd);
    VG_WARN("INSECURE DEV MODE: created a new dev seal key file %s", path);
    return 0;
}

static int load_key_file(const char *path, uint8_t *key, vg_err *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return create_key_file(path, key, err);
    if (fd < 0)
        return vg_fail(err, VG_E_UNAVAILABLE, "open %s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = vg_fail(err, VG_E_INVALID, "%s: not a regular file", path);
    else if ((st.st_mode & 077) != 0) /* as OpenSSH refuses readable private keys */
        rc = vg_fail(err, VG_E_INVALID, "%s: permissions %04o are too open (want 0600)", path,
                     (unsigned)(st.st_mode & 07777));
    else if (st.st_size != DEV_KEY_LEN)
        rc = vg_fail(err, VG_E_INVALID, "%s: must hold exactly %d bytes", path, DEV_KEY_LEN);
    else if (read_exact_fd(fd, key, DEV_KEY_LEN) < 0)
        rc = vg_fail(err, VG_E_UNAVAILABLE, "%s: short read", path);
    close(fd);
    return rc;
}

static int dev_open(const struct vg_seal_config *cfg, void **ctx, vg_err *err)
{
    *ctx = NULL;
    if (cfg->dev_key_path == NULL)
        return vg_fail(err, VG_E_INVALID, "the dev seal needs --dev-seal-key FILE");
    struct dev_ctx *d = calloc(1, sizeof *d);
    if (d == NULL || (d->key = vg_secure_alloc(DEV_KEY_LEN)) == NULL) {
        free(d);
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    }
    if (load_key_file(cfg->dev_key_path, d->key, err) < 0) {
        vg_secure_free(d->key);
        free(d);
        return -1;
    }
    sodium_mprotect_readonly(d->key);
    VG_WARN("INSECURE DEV MODE: keys are sealed with AES-256-GCM under the local file %s; "
            "anyone who can read it can unseal them. Never use in production.",
            cfg->dev_key_path);
    *ctx = d;
    return 0;
}

static void dev_close(void *ctx)
{
    struct dev_ctx *d = ctx;
    if (d == NULL)
        return;
    vg_secure_free(d->key);
    free(d);
}

static int dev_session_begin(void *ctx, const struct vg_rpc_credentials *creds, void **sess, vg_err *err)
{
    return 0; /* any credentials map is accepted and nothing from it is kept */
}

static void dev_session_end(void *ctx, void *sess) {}

static int gcm(bool encrypt, const uint8_t *key, const uint8_t *nonce, const uint8_t *in, size_t len, uint8_t *out,
               uint8_t tag[DEV_TAG_LEN])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, ok = c != NULL && len <= INT32_MAX &&
                            EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, encrypt ? 1 : 0) == 1 &&
                            EVP_CipherUpdate(c, NULL, &n, dev_magic, (int)sizeof dev_magic) == 1 &&
                            EVP_CipherUpdate(c, out, &n, in, (int)len) == 1;
    if (ok && !encrypt)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, DEV_TAG_LEN, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(c, out + n, &fin) == 1;
    if (ok && encrypt)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, DEV_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        ERR_clear_error(); /* a failed tag check leaves entries; keep the thread's queue clean */
    return ok ? 0 : -1;
}

static int dev_seal(void *ctx, void *sess, const uint8_t *pt, size_t len, uint8_t **blob, size_t *blob_len,
                    vg_err *err)
{
    struct dev_ctx *d = ctx;
    uint8_t *b = malloc(len + DEV_OVERHEAD);
    if (b == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of memory");
    memcpy(b, dev_magic, sizeof dev_magic);
    uint8_t *nonce = b + sizeof dev_magic;
    randombytes_buf(nonce, DEV_NONCE_LEN); /* random 96-bit nonces: fine for a dev key's volume */
    uint8_t *ct = nonce + DEV_NONCE_LEN;
    if (gcm(true, d->key, nonce, pt, len, ct, ct + len) < 0) {
        vg_wipe(b, len + DEV_OVERHEAD);
        free(b);
        return vg_fail(err, VG_E_INTERNAL, "dev seal: AES-GCM encryption failed");
    }
    *blob = b;
    *blob_len = len + DEV_OVERHEAD;
    return 0;
}

static int dev_unseal(void *ctx, void *sess, const uint8_t *blob, size_t len, uint8_t **pt, size_t *pt_len,
                      vg_err *err)
{
    struct dev_ctx *d = ctx;
    if (len < DEV_OVERHEAD || memcmp(blob, dev_magic, sizeof dev_magic) != 0)
        return vg_fail(err, VG_E_INVALID, "dev seal: not a dev-sealed blob");
    size_t n = len - DEV_OVERHEAD;
    uint8_t *out = vg_secure_alloc(n ? n : 1);
    if (out == NULL)
        return vg_fail(err, VG_E_UNAVAILABLE, "out of secure memory");
    const uint8_t *nonce = blob + sizeof dev_magic;
    uint8_t tag[DEV_TAG_LEN];
    memcpy(tag, nonce + DEV_NONCE_LEN + n, DEV_TAG_LEN);
    if (gcm(false, d->key, nonce, nonce + DEV_NONCE_LEN, n, out, tag) < 0) {
        vg_secure_free(out);
        return vg_fail(err, VG_E_INVALID, "dev seal: authentication failed (other key or corrupted blob)");
    }
    *pt = out;
    *pt_len = n;
    return 0;
}

const struct vg_seal_driver vg_seal_dev_driver = {
    .name = "dev",
    .insecure = true,
    .open = dev_open,
    .close = dev_close,
    .session_begin = dev_session_begin,
    .session_end = dev_session_end,
    .seal = dev_seal,
    .unseal = dev_unseal,
};

#endif
