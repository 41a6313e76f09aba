/*  proto/stored - the master's notice that returns are stored, master to
    minion.

    Published on the minion's topic as [m:<id>\0]["stored"][{v, jids}]
    once the job cache has committed the minion's returns for those jobs;
    the minion then drops them from its spool. CURVE on the XPUB proves it
    comes from the master. At most MC_STORED_MAX jids per notice. */
#ifndef MC_PROTO_STORED_H
#define MC_PROTO_STORED_H

#include "common.h"

#define MC_STORED_MAX 100000

typedef struct {
    size_t count;
    char (*jids)[MC_JID_LEN + 1];
} mc_stored_t;

void mc_stored_pack(msgpack_sbuffer *sb, const char *const *jids, size_t count);
int mc_stored_decode(mc_stored_t *s, const void *buf, size_t len, mc_err_t *err);
void mc_stored_done(mc_stored_t *s);

#endif
