#include "daemon/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { COUNTER, GAUGE, HISTOGRAM } family_type;

typedef struct {
    const char *name;
    const char *help;
    family_type type;
    const double *buckets;
    size_t n_buckets;
} family;

static const double ms_buckets[] = {10, 100, 1000, 10000, 100000};
static const double wm_seconds_buckets[] = {0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512};

#define FAM(n, h, t) {n, h, t, NULL, 0}
#define HIST(n, h, b) {n, h, HISTOGRAM, b, sizeof b / sizeof b[0]}

static const family families[] = {
    FAM("sign_handler_requests_total", "Sign requests by key and final HTTP status.", COUNTER),
    HIST("sign_handler_request_duration_milliseconds", "Sign request handling time.", ms_buckets),
    FAM("signing_ops_total", "Operations signed, by key, vault, request kind and operation kind.", COUNTER),
    HIST("vault_sign_request_duration_milliseconds", "Time to sign, including the watermark.", ms_buckets),
    FAM("vault_sign_request_error_total", "Failures after key lookup and policy, by status code.", COUNTER),
    FAM("consensus_round_total", "Consensus operations signed, by round.", COUNTER),
    FAM("policy_violation_total", "Requests refused by policy.", COUNTER),
    FAM("watermark_rejection_total", "Requests refused or failed at the watermark.", COUNTER),
    FAM("watermark_operations_total", "Watermark checks by result and backend.", COUNTER),
    HIST("watermark_operation_duration_seconds", "Watermark check and durable commit time.", wm_seconds_buckets),
    FAM("authentication_failure_total", "Client authentication failures (authorized-key signatures).", COUNTER),
    FAM("vault_ready", "1 when the vault loaded and can sign.", GAUGE),
    FAM("signatory_build_info", "Build information (Signatory-compatible name).", GAUGE),
};

const char *const vg_metrics_families[] = {
    "sign_handler_requests_total", "sign_handler_request_duration_milliseconds", "signing_ops_total",
    "vault_sign_request_duration_milliseconds", "vault_sign_request_error_total", "consensus_round_total",
    "policy_violation_total", "watermark_rejection_total", "watermark_operations_total",
    "watermark_operation_duration_seconds", "authentication_failure_total", "vault_ready", "signatory_build_info",
    NULL};

#define N_FAMILIES (sizeof families / sizeof families[0])
#define N_SLOTS 1024

typedef struct series {
    struct series *next;
    const family *fam;
    char *labels;
    double value;            /* counter / gauge; histogram sum */
    uint64_t count;          /* histogram */
    uint64_t *bucket_counts; /* histogram, cumulative at render */
} series;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static series *slots[N_SLOTS];

static const family *find_family(const char *name)
{
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (strcmp(families[i].name, name) == 0)
            return &families[i];
    return NULL;
}

static uint32_t hash(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (uint8_t)*a) * 16777619u;
    h = (h ^ '|') * 16777619u;
    for (; *b; b++)
        h = (h ^ (uint8_t)*b) * 16777619u;
    return h;
}

/* Caller holds lock. */
static series *get_series(const char *name, const char *labels)
{
    const family *fam = find_family(name);
    if (fam == NULL)
        return NULL;
    uint32_t slot = hash(name, labels) % N_SLOTS;
    for (series *s = slots[slot]; s != NULL; s = s->next)
        if (s->fam == fam && strcmp(s->labels, labels) == 0)
            return s;
    series *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->fam = fam;
    s->labels = strdup(labels);
    if (fam->type == HISTOGRAM)
        s->bucket_counts = calloc(fam->n_buckets, sizeof *s->bucket_counts);
    if (s->labels == NULL || (fam->type == HISTOGRAM && s->bucket_counts == NULL)) {
        free(s->labels);
        free(s->bucket_counts);
        free(s);
        return NULL;
    }
    s->next = slots[slot];
    slots[slot] = s;
    return s;
}

void vg_metrics_inc(const char *family_name, const char *labels, double by)
{
    pthread_mutex_lock(&lock);
    series *s = get_series(family_name, labels);
    if (s != NULL)
        s->value += by;
    pthread_mutex_unlock(&lock);
}

void vg_metrics_set(const char *family_name, const char *labels, double value)
{
    pthread_mutex_lock(&lock);
    series *s = get_series(family_name, labels);
    if (s != NULL)
        s->value = value;
    pthread_mutex_unlock(&lock);
}

void vg_metrics_observe(const char *family_name, const char *labels, double value)
{
    pthread_mutex_lock(&lock);
    series *s = get_series(family_name, labels);
    if (s != NULL && s->fam->type == HISTOGRAM) {
        s->value += value;
        s->count++;
        for (size_t i = 0; i < s->fam->n_buckets; i++)
            if (value <= s->fam->buckets[i]) {
                s->bucket_counts[i]++;
                break;
            }
    }
    pthread_mutex_unlock(&lock);
}

char *vg_metrics_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 3 < cap; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
    return out;
}

typedef struct {
    char *buf;
    size_t len, cap;
} strbuf;

static void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *sb, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < sb->cap - sb->len) {
            sb->len += (size_t)n;
            return;
        }
        size_t ncap = sb->cap * 2 + (size_t)n;
        char *nb = realloc(sb->buf, ncap);
        if (nb == NULL)
            return;
        sb->buf = nb;
        sb->cap = ncap;
    }
}

static void render_labels(strbuf *sb, const char *labels, const char *extra)
{
    if (labels[0] == '\0' && extra == NULL)
        return;
    sb_printf(sb, "{%s%s%s}", labels, labels[0] && extra ? "," : "", extra ? extra : "");
}

char *vg_metrics_render(size_t *len)
{
    strbuf sb = {malloc(8192), 0, 8192};
    if (sb.buf == NULL)
        return NULL;
    sb.buf[0] = '\0';
    pthread_mutex_lock(&lock);
    for (size_t f = 0; f < N_FAMILIES; f++) {
        const family *fam = &families[f];
        static const char *const type_names[] = {"counter", "gauge", "histogram"};
        sb_printf(&sb, "# HELP %s %s\n# TYPE %s %s\n", fam->name, fam->help, fam->name, type_names[fam->type]);
        for (size_t i = 0; i < N_SLOTS; i++) {
            for (series *s = slots[i]; s != NULL; s = s->next) {
                if (s->fam != fam)
                    continue;
                if (fam->type != HISTOGRAM) {
                    sb_printf(&sb, "%s", fam->name);
                    render_labels(&sb, s->labels, NULL);
                    sb_printf(&sb, " %.17g\n", s->value);
                    continue;
                }
                uint64_t cumulative = 0;
                for (size_t b = 0; b < fam->n_buckets; b++) {
                    char le[48];
                    cumulative += s->bucket_counts[b];
                    snprintf(le, sizeof le, "le=\"%g\"", fam->buckets[b]);
                    sb_printf(&sb, "%s_bucket", fam->name);
                    render_labels(&sb, s->labels, le);
                    sb_printf(&sb, " %llu\n", (unsigned long long)cumulative);
                }
                sb_printf(&sb, "%s_bucket", fam->name);
                render_labels(&sb, s->labels, "le=\"+Inf\"");
                sb_printf(&sb, " %llu\n%s_sum", (unsigned long long)s->count, fam->name);
                render_labels(&sb, s->labels, NULL);
                sb_printf(&sb, " %.17g\n%s_count", s->value, fam->name);
                render_labels(&sb, s->labels, NULL);
                sb_printf(&sb, " %llu\n", (unsigned long long)s->count);
            }
        }
    }
    pthread_mutex_unlock(&lock);
    if (len != NULL)
        *len = sb.len;
    return sb.buf;
}
