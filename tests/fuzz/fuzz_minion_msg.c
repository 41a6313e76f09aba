/*  Fuzz target: the small messages between minion and master, heartbeat,
    ack and grains (as the master decodes them) and the master's stored
    notice (as the minion does); the first byte picks which. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    mc_err_t err;
    err.msg[0] = '\0';
    int rc;
    switch (data[0] % 4) {
    case 0: {
        mc_heartbeat_t hb;
        rc = mc_heartbeat_decode(&hb, data + 1, size - 1, &err);
        if (rc == 0 && strlen(hb.id) > MC_ID_MAX)
            abort();
        break;
    }
    case 1: {
        mc_ack_t ack;
        rc = mc_ack_decode(&ack, data + 1, size - 1, &err);
        if (rc == 0 && !mc_jid_valid(ack.jid, strlen(ack.jid)))
            abort();
        break;
    }
    case 3: {
        mc_stored_t st;
        rc = mc_stored_decode(&st, data + 1, size - 1, &err);
        if (rc == 0) {
            for (size_t i = 0; i < st.count; i++)
                if (!mc_jid_valid(st.jids[i], strlen(st.jids[i])))
                    abort();
            mc_stored_done(&st);
        }
        break;
    }
    default: {
        mc_grains_msg_t g;
        rc = mc_grains_decode(&g, data + 1, size - 1, &err);
        if (rc == 0) {
            if (!g.grains || g.grains->type != MSGPACK_OBJECT_MAP)
                abort();
            mc_grains_done(&g);
        }
        break;
    }
    }
    if (rc != 0 && !err.msg[0])
        abort();
    return 0;
}
