/*  proto/grains - a minion's grains, minion to master.

    Pushed as ["grains"][{v, id, grains}] when the minion starts, when its
    connections come up and after grains are refreshed. grains is a map
    with string keys; the master keeps the decoded map for targeting and
    hands the same bytes out again. */
#ifndef MC_PROTO_GRAINS_H
#define MC_PROTO_GRAINS_H

#include "common.h"

#define MC_GRAINS_MAX_KEYS 4096

typedef struct {
    char id[MC_ID_MAX + 1];
    const msgpack_object *grains;
    mc_mp_doc_t doc;
} mc_grains_msg_t;

/* grains is the grains map, already packed. */
void mc_grains_pack(msgpack_sbuffer *sb, const char *id, const void *grains, size_t len);
int mc_grains_decode(mc_grains_msg_t *g, const void *buf, size_t len, mc_err_t *err);
void mc_grains_done(mc_grains_msg_t *g);

#endif
