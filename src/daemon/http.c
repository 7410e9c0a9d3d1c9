#include "daemon/http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "common/json.h"
#include "common/log.h"
#include "common/secmem.h"
#include "daemon/auth.h"
#include "daemon/metrics.h"

struct vg_http {
    vg_signer *signer;
    vg_auth *auth; /* server.authorized_keys / server.jwt (spec §5) */
    struct MHD_Daemon *main_daemon;
    struct MHD_Daemon *utility_daemon;
};

/* Per-request state while the body arrives. */
typedef struct {
    char *body;
    size_t len;
    bool too_large;
} request_ctx;

static const char json_content_type[] = "application/json; charset=utf-8";

static enum MHD_Result send_buffer(struct MHD_Connection *c, unsigned status, const char *type, char *buf,
                                   size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(buf);
        return MHD_NO;
    }
    if (type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *v)
{
    size_t len;
    char *text = vg_json_dump_line(v, &len);
    json_decref(v);
    if (text == NULL)
        return MHD_NO;
    return send_buffer(c, status, json_content_type, text, len);
}

/* Octez remote-signer error shape, as Signatory answers on the main server. */
static enum MHD_Result send_error(struct MHD_Connection *c, const vg_err *err)
{
    json_t *body = json_pack("[{s:s, s:s, s:s}]", "id", "failure", "kind", "temporary", "msg", err->msg);
    return send_json(c, (unsigned)vg_err_http_status(err->kind), body);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    char *copy = strdup(text);
    if (copy == NULL)
        return MHD_NO;
    return send_buffer(c, status, text[0] ? "text/plain; charset=utf-8" : NULL, copy, strlen(copy));
}

/* Routes are /keys/{pkh}, /bls_prove_possession/{pkh}, /authorized_keys, /login (JWT only); a path
 * variable is one non-empty segment. Returns the route id or -1, and points *arg at the variable. */
enum { ROUTE_KEYS, ROUTE_POP, ROUTE_AUTHORIZED_KEYS, ROUTE_LOGIN };

static int route(const char *url, const char **arg)
{
    static const struct {
        const char *prefix;
        int id;
    } with_arg[] = {{"/keys/", ROUTE_KEYS}, {"/bls_prove_possession/", ROUTE_POP}};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(with_arg[i].prefix);
        if (strncmp(url, with_arg[i].prefix, n) == 0 && url[n] != '\0' && strchr(url + n, '/') == NULL) {
            *arg = url + n;
            return with_arg[i].id;
        }
    }
    if (strcmp(url, "/authorized_keys") == 0)
        return ROUTE_AUTHORIZED_KEYS;
    if (strcmp(url, "/login") == 0)
        return ROUTE_LOGIN;
    return -1;
}

/* The peer's IP as Go's net.ParseIP(host).String() prints it (IPv4-mapped IPv6 as plain IPv4). */
static void client_ip(struct MHD_Connection *c, char out[INET6_ADDRSTRLEN])
{
    snprintf(out, INET6_ADDRSTRLEN, "<nil>");
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, &a6->s6_addr[12], out, INET6_ADDRSTRLEN);
        else
            inet_ntop(AF_INET6, a6, out, INET6_ADDRSTRLEN);
    }
}

/* spec §5.1: the ?authentication= check for sign (msg = request bytes) and PoP (msg empty). On
 * failure: authentication_failure_total{status,auth_method="authentication",client_ip} and a WARN. */
static int authenticate(vg_http *h, struct MHD_Connection *c, const vg_pkh *target, const char *pkh_text,
                        const uint8_t *msg, size_t len, vg_pkh *client, vg_err *err)
{
    const char *sig = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "authentication");
    if (vg_auth_verify_request(h->auth, target, msg, len, sig, client, err) == 0)
        return 0;
    char ip[INET6_ADDRSTRLEN], labels[160];
    client_ip(c, ip);
    snprintf(labels, sizeof labels, "status=\"%d\",auth_method=\"authentication\",client_ip=\"%s\"",
             vg_err_http_status(err->kind), ip);
    vg_metrics_inc("authentication_failure_total", labels, 1);
    VG_WARN("authentication failed for %s from %s: %s", pkh_text, ip, err->msg);
    return -1;
}

static void count_sign_request(const char *pkh, unsigned status, double ms)
{
    char labels[160];
    vg_pkh parsed;
    snprintf(labels, sizeof labels, "address=\"%s\",status=\"%u\"",
             vg_pkh_parse(pkh, &parsed, NULL) == 0 ? pkh : "unknown", status);
    vg_metrics_inc("sign_handler_requests_total", labels, 1);
    vg_metrics_observe("sign_handler_request_duration_milliseconds", labels, ms);
}

static unsigned handle_sign(vg_http *h, struct MHD_Connection *c, const char *pkh, request_ctx *ctx,
                            const vg_signer_caller *caller, enum MHD_Result *ret)
{
    vg_err err = {0};
    vg_pkh target, client;
    vg_signer_caller who = *caller;
    /* spec: §1.3 step 1 (the key hash is needed for the authentication bytes) */
    if (vg_pkh_parse(pkh, &target, &err) < 0)
        goto fail;
    int version = vg_signing_version_parse(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "version"));
    if (ctx->too_large) {
        vg_fail(&err, VG_E_INVALID, "request body too large: limit is %d bytes", VG_HTTP_BODY_MAX);
        goto fail;
    }
    json_error_t jerr;
    json_t *body = json_loadb(ctx->body != NULL ? ctx->body : "", ctx->len, JSON_DECODE_ANY, &jerr);
    if (body == NULL || !json_is_string(body)) {
        vg_fail(&err, VG_E_INVALID, body == NULL ? "invalid JSON body: %s" : "body must be a JSON string of hex%s",
                body == NULL ? jerr.text : "");
        json_decref(body);
        goto fail;
    }
    uint8_t *msg = NULL;
    size_t msglen = 0;
    int rc = vg_hex_decode(json_string_value(body), json_string_length(body), &msg, &msglen, &err);
    json_decref(body);
    if (rc < 0)
        goto fail;
    /* spec: §1.3 step 7, after the body is decoded and before the policy lookup */
    if (vg_auth_has_keys(h->auth)) {
        if (authenticate(h, c, &target, pkh, msg, msglen, &client, &err) < 0) {
            free(msg);
            goto fail;
        }
        who.client = &client;
    }
    char sig[VG_B58_MAX];
    rc = vg_signer_sign_as(h->signer, &who, pkh, msg, msglen, version, sig, &err);
    free(msg);
    if (rc < 0)
        goto fail;
    *ret = send_json(c, 200, json_pack("{s:s}", "signature", sig));
    return 200;
fail:
    *ret = send_error(c, &err);
    return (unsigned)vg_err_http_status(err.kind);
}

/* spec §5.2: POST /login, headers `username` and `password`; 201 with the raw token. */
static enum MHD_Result handle_login(vg_http *h, struct MHD_Connection *c)
{
    vg_err err = {0};
    char *token = NULL;
    if (vg_auth_jwt_login(h->auth, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "username"),
                          MHD_lookup_connection_value(c, MHD_HEADER_KIND, "password"), &token, &err) < 0)
        return send_text(c, (unsigned)vg_err_http_status(err.kind), err.msg);
    return send_buffer(c, 201, "text/plain; charset=utf-8", token, strlen(token));
}

static enum MHD_Result handle_authorized_keys(vg_http *h, struct MHD_Connection *c)
{
    /* spec: §1.6 "{}" when none are configured, else the pkhs in config order */
    json_t *body = json_object();
    size_t n = vg_auth_key_count(h->auth);
    if (body != NULL && n > 0) {
        json_t *list = json_array();
        for (size_t i = 0; list != NULL && i < n; i++) {
            char text[VG_B58_MAX];
            vg_pkh_format(vg_auth_key_pkh(h->auth, i), text);
            json_array_append_new(list, json_string(text));
        }
        json_object_set_new(body, "authorized_keys", list);
    }
    return send_json(c, 200, body);
}

static enum MHD_Result handle_pop(vg_http *h, struct MHD_Connection *c, const char *pkh,
                                  const vg_signer_caller *caller)
{
    vg_err err = {0};
    vg_pkh target, client;
    vg_signer_caller who = *caller;
    char out[VG_B58_MAX];
    /* spec: §1.5 parse pkh → authenticate with an empty message → policy → JWT user → key → PoP */
    if (vg_pkh_parse(pkh, &target, &err) < 0)
        return send_error(c, &err);
    if (vg_auth_has_keys(h->auth)) {
        if (authenticate(h, c, &target, pkh, NULL, 0, &client, &err) < 0)
            return send_error(c, &err);
        who.client = &client;
    }
    if (vg_signer_prove_possession_as(h->signer, &who, pkh, out, &err) < 0)
        return send_error(c, &err);
    return send_json(c, 200, json_pack("{s:s}", "bls_prove_possession", out));
}

static enum MHD_Result handle_main(vg_http *h, struct MHD_Connection *c, const char *url, const char *method,
                                   request_ctx *ctx)
{
    const char *arg = NULL;
    int r = route(url, &arg);
    bool jwt = vg_auth_has_jwt(h->auth);
    if (r < 0 || (r == ROUTE_LOGIN && !jwt))
        return send_text(c, 404, "404 page not found\n");
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    /* Known path, wrong method: 405 before any middleware (gorilla/mux runs middlewares only for
     * matched routes). */
    bool method_ok = r == ROUTE_KEYS ? (get || post) : r == ROUTE_LOGIN ? post : get;
    if (!method_ok)
        return send_text(c, 405, "");
    if (r == ROUTE_LOGIN)
        return handle_login(h, c);
    vg_err err = {0};
    vg_signer_caller who = {NULL, NULL};
    if (jwt) {
        /* spec: §5.2 every other matched main route needs Authorization: Bearer + username */
        const char *user = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "username");
        if (vg_auth_jwt_check(h->auth, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"), user,
                              &err) < 0)
            return send_text(c, (unsigned)vg_err_http_status(err.kind), err.msg);
        who.jwt_user = user;
    }
    char out[VG_B58_MAX];
    switch (r) {
    case ROUTE_KEYS:
        if (post) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            enum MHD_Result ret;
            unsigned status = handle_sign(h, c, arg, ctx, &who, &ret);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            count_sign_request(arg, status,
                               (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
            return ret;
        }
        if (vg_signer_public_key_as(h->signer, &who, arg, out, &err) < 0)
            return send_error(c, &err);
        return send_json(c, 200, json_pack("{s:s}", "public_key", out));
    case ROUTE_POP:
        return handle_pop(h, c, arg, &who);
    case ROUTE_AUTHORIZED_KEYS:
        return handle_authorized_keys(h, c);
    }
    return send_text(c, 405, "");
}

static enum MHD_Result on_main_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                       const char *version, const char *upload_data, size_t *upload_size,
                                       void **con_cls)
{
    request_ctx *ctx = *con_cls;
    if (ctx == NULL) {
        ctx = calloc(1, sizeof *ctx);
        if (ctx == NULL)
            return MHD_NO;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* Bounded body: past the limit, keep draining but remember to answer 400. */
        if (ctx->too_large || ctx->len + *upload_size > VG_HTTP_BODY_MAX) {
            ctx->too_large = true;
        } else {
            char *grown = realloc(ctx->body, ctx->len + *upload_size + 1);
            if (grown == NULL)
                return MHD_NO;
            ctx->body = grown;
            memcpy(ctx->body + ctx->len, upload_data, *upload_size);
            ctx->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return handle_main(cls, c, url, method, ctx);
}

static void on_request_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    request_ctx *ctx = *con_cls;
    if (ctx == NULL)
        return;
    free(ctx->body);
    free(ctx);
    *con_cls = NULL;
}

static enum MHD_Result on_utility_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                          const char *version, const char *upload_data, size_t *upload_size,
                                          void **con_cls)
{
    if (*upload_size > 0) {
        *upload_size = 0; /* no utility route takes a body */
        return MHD_YES;
    }
    bool known = strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0;
    if (!known)
        return send_text(c, 404, "404 page not found\n");
    if (strcmp(method, "GET") != 0)
        return send_text(c, 405, "");
    vg_http *h = cls;
    if (strcmp(url, "/healthz") == 0) {
        bool ready = vg_signer_ready(h->signer, true);
        return send_json(c, ready ? 200 : 503, json_pack("{s:b}", "ready", ready));
    }
    vg_signer_ready(h->signer, false); /* fresh vault_ready gauges in the scrape */
    size_t len;
    char *text = vg_metrics_render(&len);
    if (text == NULL)
        return MHD_NO;
    return send_buffer(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

int vg_parse_listen_address(const char *addr, char *host, size_t hostcap, unsigned *port, vg_err *err)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0')
        return vg_fail(err, VG_E_INVALID, "address `%s': expected host:port", addr);
    const char *h = addr;
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= hostcap)
        return vg_fail(err, VG_E_INVALID, "address `%s': host too long", addr);
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || p > 65535)
        return vg_fail(err, VG_E_INVALID, "address `%s': bad port", addr);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)p;
    return 0;
}

static struct MHD_Daemon *listen_on(const char *address, MHD_AccessHandlerCallback handler, void *cls,
                                    vg_err *err)
{
    char host[256];
    unsigned port;
    if (vg_parse_listen_address(address, host, sizeof host, &port, err) < 0)
        return NULL;
    /* One thread per connection: a request blocked on the durable watermark commit does not hold
     * up other connections, and concurrent commits share one fdatasync (group commit). */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (host[0] == '\0') {
        flags |= MHD_USE_DUAL_STACK;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_any;
        a6->sin6_port = htons((uint16_t)port);
    } else {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
        int gai = getaddrinfo(host, NULL, &hints, &res);
        if (gai != 0) {
            vg_fail(err, VG_E_INVALID, "address `%s': %s", address, gai_strerror(gai));
            return NULL;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        if (res->ai_family == AF_INET6) {
            flags |= MHD_USE_IPv6;
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        } else {
            ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        }
        freeaddrinfo(res);
    }
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, cls, MHD_OPTION_SOCK_ADDR,
                                            (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_request_done,
                                            NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
    if (d == NULL)
        vg_fail(err, VG_E_INTERNAL, "cannot listen on %s (address in use or not permitted)", address);
    return d;
}

int vg_http_start(vg_signer *signer, const char *address, const char *utility_address, vg_http **out, vg_err *err)
{
    vg_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return vg_fail(err, VG_E_INTERNAL, "out of memory");
    h->signer = signer;
    /* The JWT credential rules are checked here, at serve start (spec §5.2). */
    if (vg_auth_new(vg_signer_config(signer), &h->auth, err) < 0) {
        free(h);
        return -1;
    }
    h->main_daemon = listen_on(address, on_main_request, h, err);
    if (h->main_daemon != NULL)
        h->utility_daemon = listen_on(utility_address, on_utility_request, h, err);
    if (h->utility_daemon == NULL) {
        vg_http_stop(h);
        return -1;
    }
    *out = h;
    return 0;
}

void vg_http_stop(vg_http *h)
{
    if (h == NULL)
        return;
    if (h->utility_daemon != NULL)
        MHD_stop_daemon(h->utility_daemon);
    if (h->main_daemon != NULL)
        MHD_stop_daemon(h->main_daemon);
    vg_auth_free(h->auth);
    free(h);
}

static unsigned bound_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return info != NULL ? info->port : 0;
}

unsigned vg_http_port(const vg_http *h) { return bound_port(h->main_daemon); }
unsigned vg_http_utility_port(const vg_http *h) { return bound_port(h->utility_daemon); }
