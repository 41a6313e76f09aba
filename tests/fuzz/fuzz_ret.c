/*  Fuzz target: a return as the master reads it from a minion (and mctl
    from the master). A decoder either fills the return or says why not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mc_ret_t ret;
    mc_err_t err;
    err.msg[0] = '\0';
    if (mc_ret_decode(&ret, data, size, &err) != 0) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    /* What the decoder promises: bounded ids, bytes within the message. */
    if (strlen(ret.id) > MC_ID_MAX || strlen(ret.jid) != MC_JID_LEN || ret.out_len > size ||
        ret.err_len > size)
        abort();
    mc_ret_done(&ret);
    return 0;
}
