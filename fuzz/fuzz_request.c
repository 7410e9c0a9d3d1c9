/* Targets: vg_request_decode (src/tezos/request.c, src/tezos/operations.c) under the latest and the
 * version-1 (proto 022) rules. Any input must give success or VG_E_INVALID, never a crash. */
#include <stdint.h>
#include <stdlib.h>

#include "tezos/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vg_request req;
    static const int versions[] = {2, 1};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        vg_err err = {0};
        int rc = vg_request_decode(data, size, versions[i], &req, &err);
        if (rc < 0 && err.kind != VG_E_INVALID)
            abort();
        if (rc == 0 && (req.kind >= VG_REQ_KIND_COUNT || req.n_ops > VG_OPS_MAX))
            abort();
        for (size_t k = 0; rc == 0 && k < req.n_ops; k++)
            if (req.ops[k].kind < 0 || req.ops[k].kind >= vg_op_kind_count() || req.ops[k].ballot > 2)
                abort();
    }
    return 0;
}
