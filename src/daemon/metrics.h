/* Prometheus metrics with Signatory's names. Families are declared once in metrics.c; series are
 * created on first use. Label text is passed preformatted: `address="tz1..",status="200"`. */
#ifndef VIGIL_DAEMON_METRICS_H
#define VIGIL_DAEMON_METRICS_H

#include <stddef.h>

void vg_metrics_inc(const char *family, const char *labels, double by);
void vg_metrics_set(const char *family, const char *labels, double value);
void vg_metrics_observe(const char *family, const char *labels, double value);
/* Text exposition format; caller frees. */
char *vg_metrics_render(size_t *len);
/* Escapes a label value ("\\", "\"", "\n"); returns out. */
char *vg_metrics_escape(const char *in, char *out, size_t cap);
/* Names of every family vigil exports (for the dashboard check). NULL-terminated. */
extern const char *const vg_metrics_families[];

#endif
