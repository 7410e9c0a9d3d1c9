/* The two HTTP listeners (libmicrohttpd): the Tezos remote-signer API and the utility server
 * (/healthz, /metrics). Transport only: requests go to the signer pipeline. */
#ifndef VIGIL_DAEMON_HTTP_H
#define VIGIL_DAEMON_HTTP_H

#include "common/err.h"
#include "daemon/signer.h"

#define VG_HTTP_BODY_MAX (64 * 1024)

typedef struct vg_http vg_http;

int vg_http_start(vg_signer *signer, const char *address, const char *utility_address, vg_http **out, vg_err *err);
void vg_http_stop(vg_http *h);
/* Ports actually bound (useful with port 0). */
unsigned vg_http_port(const vg_http *h);
unsigned vg_http_utility_port(const vg_http *h);

/* Splits "host:port" / ":port" / "[v6]:port"; host may come back empty. */
int vg_parse_listen_address(const char *addr, char *host, size_t hostcap, unsigned *port, vg_err *err);

#endif
