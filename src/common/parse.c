#include "common/parse.h"

#include <errno.h>
#include <stdlib.h>

bool vg_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || s[0] == '+' || v < min || v > max)
        return false;
    *out = v;
    return true;
}
