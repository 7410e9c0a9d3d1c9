/* jansson setup and bounded JSON reading. vg_json_init installs allocators that wipe every block
 * on free, because secret-key files and RPC replies pass through jansson's heap. */
#ifndef VIGIL_COMMON_JSON_H
#define VIGIL_COMMON_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "common/err.h"

void vg_json_init(void);
/* Reads and parses a JSON file no larger than max_bytes; errors name file:line. */
json_t *vg_json_load_file(const char *path, size_t max_bytes, vg_err *err);
/* Frees a string returned by json_dumps (it comes from the wiping allocator). */
void vg_json_free_string(char *s);
/* Compact encoding followed by one '\n' (as Go's json.Encoder writes). Caller frees. */
char *vg_json_dump_line(const json_t *v, size_t *len);

#endif
