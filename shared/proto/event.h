/*  proto/event - what happens on the master, master to a client that
    asked for events (request "events": mctl-api's live views).

    Sent as ["event"][{v, type, jid, ...}] on the client socket, one per
    job published and per return stored, to every subscriber that may see
    that job (its own jobs, or all with @jobs or as root):

      job   jid, fun, tgt (its first MC_JOBS_LIST_TGT_MAX characters),
            tgt_type, user, ts (microseconds since the epoch), minions
            (how many the job was meant for)
      ret   jid, id, fun, retcode, success

    Every ten seconds the master also sends ["tick"][] (no body) to each
    subscriber, to find those that are gone; a subscriber ignores it.

    Every event carries lost: how many events the master could not hand
    to this subscriber since the last one it did (0 as a rule): the
    subscriber then knows its view is behind and reads the history again.
    Those include the events held back while the subscriber is
    MC_EVENTS_WINDOW behind what it says it has taken (request
    events_read): a subscriber says so at least every
    MC_EVENTS_WINDOW / 10 events it takes. */
#ifndef MC_PROTO_EVENT_H
#define MC_PROTO_EVENT_H

#include "request.h"

typedef enum { MC_EVENT_JOB, MC_EVENT_RET } mc_event_type_t;

/* Decoded, and what the packer takes (tgt then need not be cut). */
typedef struct {
    mc_event_type_t type;
    char jid[MC_JID_LEN + 1];
    char fun[MC_FUN_MAX + 1];
    int64_t lost;
    /* job */
    char tgt[MC_JOBS_LIST_TGT_MAX + 1];
    char tgt_type[16];
    char user[MC_USER_MAX + 1];
    int64_t ts_us;
    int64_t minions;
    /* ret */
    char id[MC_ID_MAX + 1];
    int64_t retcode;
    bool success;
} mc_event_t;

void mc_event_pack(msgpack_sbuffer *sb, const mc_event_t *ev);
int mc_event_decode(mc_event_t *ev, const void *buf, size_t len, mc_err_t *err);
/* "job" or "ret". */
const char *mc_event_type_name(mc_event_type_t type);

#endif
