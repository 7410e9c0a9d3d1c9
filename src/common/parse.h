#ifndef VIGIL_COMMON_PARSE_H
#define VIGIL_COMMON_PARSE_H

#include <stdbool.h>

/* A whole decimal string in [min, max] (no sign, no trailing text). */
bool vg_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out);

#endif
