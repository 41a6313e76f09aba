/*  proto/ack - a minion's receipt for a job, minion to master (and master
    to a waiting mctl).

    Pushed as ["ack"][{v, jid, id}] once the minion has verified a job and
    taken it (to run, or to refuse with an error return): from then on
    "no return" means the job ran out of time, not that it never arrived. */
#ifndef MC_PROTO_ACK_H
#define MC_PROTO_ACK_H

#include "common.h"

typedef struct {
    char jid[MC_JID_LEN + 1];
    char id[MC_ID_MAX + 1];
} mc_ack_t;

void mc_ack_pack(msgpack_sbuffer *sb, const char *jid, const char *id);
int mc_ack_decode(mc_ack_t *ack, const void *buf, size_t len, mc_err_t *err);

#endif
