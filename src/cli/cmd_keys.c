/* `vigil import` and `vigil pop`: bringing an existing secret key into a vault, and printing a tz4
 * key's proof of possession. The secret is read from a file or stdin, never from the command line
 * (visible in /proc/<pid>/cmdline); a positional secret is accepted for Signatory compatibility with
 * a warning (spec: signatory.md §13 item 23). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/log.h"
#include "common/secmem.h"
#include "daemon/signer.h"

#define SECRET_INPUT_MAX 16384

typedef struct {
    const char *vault;
    const char *file;
    const char *name;
} import_opts;

static int import_flag(int c, const char *arg, void *ud)
{
    import_opts *o = ud;
    if (c == 'v')
        o->vault = arg;
    else if (c == 'f')
        o->file = arg;
    else if (c == 'N')
        o->name = arg;
    else
        return -1;
    return 0;
}

/* Reads at most cap-1 bytes into a secure buffer; "-" or NULL is stdin. */
static int read_secret_input(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = (path == NULL || strcmp(path, "-") == 0) ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "vigil: import: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fd == STDIN_FILENO && isatty(fd))
        fprintf(stderr, "Enter the secret key (base58 edsk/spsk/p2sk/BLsk, or PEM), then Ctrl-D: ");
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap - 1) {
            fprintf(stderr, "vigil: import: input larger than %zu bytes\n", cap - 1);
            if (fd != STDIN_FILENO)
                close(fd);
            return -1;
        }
    }
    if (fd != STDIN_FILENO)
        close(fd);
    buf[n] = '\0';
    *len = n;
    return 0;
}

/* Base58 (with an optional "unencrypted:" tag, as in secret files) or PKCS#8 PEM/DER. */
static int parse_secret_input(char *buf, size_t len, vg_key **key, vg_err *err)
{
    if (memchr(buf, '\0', len) == NULL && strstr(buf, "-----BEGIN") == NULL) {
        char *s = buf;
        while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
            s++;
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
            s[--n] = '\0';
        if (strncmp(s, "unencrypted:", 12) == 0)
            s += 12;
        return vg_secret_key_parse(s, key, err);
    }
    return vg_key_from_pkcs8((const uint8_t *)buf, len, key, err);
}

int vg_cmd_import(int argc, char **argv)
{
    vg_cli_common opts = {0};
    import_opts io = {0};
    if (vg_cli_parse(argc, argv, &opts, "v:f:", import_flag, &io) < 0)
        return 2;
    char *buf = vg_secure_alloc(SECRET_INPUT_MAX);
    if (buf == NULL)
        return 1;
    size_t len = 0;
    int rc = 1;
    if (optind < argc) {
        /* Signatory's form: the secret as an argument. It has already been visible to every local user. */
        fprintf(stderr, "vigil: WARNING: a secret key on the command line is visible in /proc/<pid>/cmdline and "
                        "shell history; prefer -f FILE or stdin\n");
        len = strlen(argv[optind]);
        if (len >= SECRET_INPUT_MAX) {
            vg_secure_free(buf);
            return 2;
        }
        memcpy(buf, argv[optind], len + 1);
    } else if (read_secret_input(io.file, buf, SECRET_INPUT_MAX, &len) < 0) {
        vg_secure_free(buf);
        return 1;
    }
    vg_err err = {0};
    vg_key *key = NULL;
    if (parse_secret_input(buf, len, &key, &err) < 0) {
        fprintf(stderr, "vigil: import: %s\n", err.msg);
        vg_secure_free(buf);
        return 1;
    }
    vg_secure_free(buf);

    vg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    vg_vault *v = NULL;
    const vg_vault_config *vc = NULL;
    if (vg_cli_load_config(&opts, &cfg) < 0)
        goto out;
    for (size_t i = 0; i < cfg.n_vaults; i++)
        if (io.vault == NULL ? cfg.n_vaults == 1 : strcmp(cfg.vaults[i].name, io.vault) == 0)
            vc = &cfg.vaults[i];
    if (vc == NULL) {
        fprintf(stderr, "vigil: import: vault %s is not found (use -v NAME)\n", io.vault ? io.vault : "");
    } else if (vg_vault_open(vc, cfg.base_dir, &v, &err) < 0) {
        fprintf(stderr, "vigil: %s\n", err.msg);
    } else if (v->drv->import == NULL) {
        fprintf(stderr, "vigil: import: vault %s doesn't support import operation\n", vc->name);
    } else if (v->drv->import(v, key, io.name != NULL ? io.name : "", &err) < 0) {
        fprintf(stderr, "vigil: import: %s\n", err.msg);
    } else {
        const vg_vault_key *k = &v->keys[v->n_keys - 1];
        vg_cli_print_key(k, vg_config_policy(&cfg, &k->pkh));
        fprintf(stderr, "Imported into vault %s. Now destroy the plaintext copy (e.g. shred -u FILE).\n", vc->name);
        rc = 0;
    }
out:
    vg_key_free(key);
    vg_vault_close(v);
    vg_config_free(&cfg);
    return rc;
}

int vg_cmd_pop(int argc, char **argv)
{
    vg_cli_common opts = {0};
    if (vg_cli_parse(argc, argv, &opts, "", NULL, NULL) < 0 || optind >= argc) {
        fprintf(stderr, "usage: vigil pop [-c FILE] tz4...\n");
        return 2;
    }
    const char *pkh_text = argv[optind];
    vg_log_set_level(vg_log_get_level() > VG_LOG_WARN ? VG_LOG_WARN : vg_log_get_level());
    vg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (vg_cli_load_config(&opts, &cfg) < 0)
        return 1;
    vg_err err = {0};
    vg_signer *s;
    int rc = 1;
    if (vg_signer_open_keys(&cfg, &s, &err) < 0) {
        fprintf(stderr, "vigil: %s\n", err.msg);
        vg_config_free(&cfg);
        return 1;
    }
    vg_pkh pkh;
    const vg_vault_key *k = NULL;
    if (vg_pkh_parse(pkh_text, &pkh, &err) < 0) {
        fprintf(stderr, "vigil: pop: %s\n", err.msg);
    } else {
        for (size_t i = 0; i < vg_signer_key_count(s); i++)
            if (memcmp(&vg_signer_key_at(s, i)->pkh, &pkh, sizeof pkh) == 0)
                k = vg_signer_key_at(s, i);
        uint8_t sig[96];
        char out[VG_B58_MAX];
        if (k == NULL) {
            fprintf(stderr, "vigil: pop: %s is not in any vault\n", pkh_text);
        } else if (k->type != VG_KEY_BLS || k->vault->drv->prove_possession == NULL) {
            fprintf(stderr, "vigil: pop: proof of possession is only for tz4 (BLS) keys\n");
        } else if (k->vault->drv->prove_possession(k->vault, k, sig, &err) < 0) {
            fprintf(stderr, "vigil: pop: %s\n", err.msg);
        } else {
            vg_signature_format(VG_KEY_BLS, sig, sizeof sig, out);
            printf("%s\n", out);
            rc = 0;
        }
    }
    vg_signer_free(s);
    vg_config_free(&cfg);
    return rc;
}
