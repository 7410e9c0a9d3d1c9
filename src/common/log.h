/* Line-oriented logging to stderr: "time level message key=value...". Never pass secrets. */
#ifndef VIGIL_COMMON_LOG_H
#define VIGIL_COMMON_LOG_H

typedef enum { VG_LOG_ERROR = 0, VG_LOG_WARN, VG_LOG_INFO, VG_LOG_DEBUG } vg_log_level;

void vg_log_set_level(vg_log_level level);
vg_log_level vg_log_get_level(void);
/* Parses "error|warn|info|debug"; returns -1 on anything else. */
int vg_log_parse_level(const char *s, vg_log_level *out);
void vg_log(vg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define VG_ERROR(...) vg_log(VG_LOG_ERROR, __VA_ARGS__)
#define VG_WARN(...) vg_log(VG_LOG_WARN, __VA_ARGS__)
#define VG_INFO(...) vg_log(VG_LOG_INFO, __VA_ARGS__)
#define VG_DEBUG(...) vg_log(VG_LOG_DEBUG, __VA_ARGS__)

#endif
