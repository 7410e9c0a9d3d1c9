/* HTTPS to KMS from inside the enclave (spec: shared/specs/enclave-rpc.md §12.1): TLS terminates
 * here, over a plain byte stream to the parent's proxy (vsock 3:8000, or loopback TCP in tests), so
 * the proxy only ever sees ciphertext and cannot impersonate KMS.
 *
 *   - Trust: only the roots compiled into the binary (Amazon Root CA 1-4, Starfield Services Root CA
 *     G2; measured into PCR0), or a PEM bundle given for tests (--kms-ca-file). The system store is
 *     never consulted (the enclave has none).
 *   - TLS 1.2 (ECDHE + AEAD suites only) or 1.3; SNI and the certificate name check are the endpoint
 *     host (kms.<region>.amazonaws.com); no session cache, tickets or renegotiation.
 *   - One connection per request (HTTP/1.1 with "Connection: close"), bounded by a deadline for the
 *     whole exchange and by caps on the response head and body; the response needs Content-Length or
 *     chunked encoding (a body "until close" is refused: it cannot be told from a truncation). */
#ifndef VIGIL_ENCLAVE_KMS_TLS_H
#define VIGIL_ENCLAVE_KMS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "rpc/rpc_addr.h"

/* The embedded roots (generated at build time: kms_roots.c). */
extern const char vg_kms_roots_pem[];
extern const unsigned vg_kms_roots_count;

struct vg_kms_tls;

/* A TLS client context trusting the embedded roots, or only the certificates of the PEM file
 * ca_file when not NULL. VG_E_INVALID when the file is unreadable or holds no certificate;
 * VG_E_INTERNAL for OpenSSL failures. Thread-safe to use once made. */
int vg_kms_tls_new(const char *ca_file, struct vg_kms_tls **out, vg_err *err);
void vg_kms_tls_free(struct vg_kms_tls *t);
/* Number of trusted certificates. */
size_t vg_kms_tls_root_count(const struct vg_kms_tls *t);

struct vg_kms_http_limits {
    int timeout_ms;  /* the whole exchange: connect, handshake, request, response */
    size_t head_max; /* status line + headers */
    size_t body_max;
};

struct vg_kms_http_reply {
    int status;
    char *body; /* malloc'ed, NUL-terminated (chunked bodies are de-chunked) */
    size_t body_len;
};

/* Connects to proxy, runs TLS for host over it, sends request[0..len) (a complete HTTP/1.1 request;
 * it may hold secrets: it is only passed to SSL_write) and reads one response. Errors:
 *   VG_E_UNAVAILABLE - connect, I/O, handshake or deadline failures (worth another attempt);
 *   VG_E_FORBIDDEN   - the server certificate is not trusted or not for host (never retried);
 *   VG_E_INVALID     - a malformed or oversized response. */
int vg_kms_tls_exchange(struct vg_kms_tls *t, const struct vg_rpc_addr *proxy, const char *host, const uint8_t *request,
                        size_t request_len, const struct vg_kms_http_limits *lim, struct vg_kms_http_reply *out,
                        vg_err *err);
void vg_kms_http_reply_clear(struct vg_kms_http_reply *r);

/* The response parser on its own (for tests and fuzzing): buf[0..len) is what arrived so far.
 * Returns 1 with *out filled when a whole response is there, 0 when more bytes are needed, -1
 * (VG_E_INVALID) when it can never become a valid response within the limits. */
int vg_kms_http_parse(const char *buf, size_t len, const struct vg_kms_http_limits *lim, struct vg_kms_http_reply *out,
                      vg_err *err);

#endif
