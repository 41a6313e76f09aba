/*  Fuzz target: key registration, the one message the master takes from
    any CURVE client (the first byte picks the request, as the master reads
    it, or the reply, as the minion reads it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    mc_err_t err;
    err.msg[0] = '\0';
    int rc;
    if (data[0] & 1) {
        mc_register_t reg;
        rc = mc_register_decode(&reg, data + 1, size - 1, &err);
        if (rc == 0 && !mc_id_valid(reg.id, strlen(reg.id)))
            abort(); /* an id that could name a path outside pki_dir */
    } else {
        mc_register_reply_t r;
        rc = mc_register_reply_decode(&r, data + 1, size - 1, &err);
    }
    if (rc != 0 && !err.msg[0])
        abort();
    return 0;
}
