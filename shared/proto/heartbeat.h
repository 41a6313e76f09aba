/*  proto/heartbeat - a minion's heartbeat, and its hello.

    Pushed as ["hb"][{v, id, uptime, load, jobs_running}] every
    heartbeat interval; the master keeps the minion present while they
    come. A hello is the same map under the kind "hello", sent when the
    minion's connections come up, so that the master learns at once that
    it is back (and sends its stored notices). uptime is in seconds,
    load the one-minute load average, jobs_running the busy workers. */
#ifndef MC_PROTO_HEARTBEAT_H
#define MC_PROTO_HEARTBEAT_H

#include "common.h"

typedef struct {
    char id[MC_ID_MAX + 1];
    int64_t uptime;
    double load;
    int64_t jobs_running;
} mc_heartbeat_t;

void mc_heartbeat_pack(msgpack_sbuffer *sb, const mc_heartbeat_t *hb);
int mc_heartbeat_decode(mc_heartbeat_t *hb, const void *buf, size_t len, mc_err_t *err);

#endif
