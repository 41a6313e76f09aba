/*  proto/reply_minions - the master's answer to a minions request, master
    to mctl (the reply frame and refusals are reply.h's).

      minions  minions: every accepted minion, sorted by id, each {id, up
               (connected now: subscribed to its topic), last_seen
               (microseconds since the epoch of the last message it sent
               since it connected, 0 when none), grains (the map it last
               sent, or nil when none, or when the caller may not see
               grains: users of publisher_acl without @jobs, @keys or
               @deploy)} */
#ifndef MC_PROTO_REPLY_MINIONS_H
#define MC_PROTO_REPLY_MINIONS_H

#include "reply.h"

typedef struct {
    char id[MC_ID_MAX + 1];
    bool up;
    int64_t last_seen_us;
    const msgpack_object *grains; /* a map, or NULL; owned by the list's doc */
} mc_minion_info_t;

/* Decoded, the list owns a document its grains point into. */
typedef struct {
    size_t count;
    mc_minion_info_t *minions;
    mc_mp_doc_t doc;
    bool has_doc;
} mc_reply_minions_t;

/* The master's side: one minion at a time, grains its packed map or NULL. */
typedef struct {
    const char *id;
    bool up;
    int64_t last_seen_us;
    const msgpack_object *grains;
} mc_minion_spec_t;

void mc_reply_minions_pack(msgpack_sbuffer *sb, const mc_minion_spec_t *minions, size_t count);
int mc_reply_minions_decode(mc_reply_minions_t *l, const void *buf, size_t len, mc_err_t *err);
void mc_reply_minions_done(mc_reply_minions_t *l);

#endif
