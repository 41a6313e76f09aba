/*  proto/topic - a minion's topic on the master's XPUB.

    "m:<id>" and its NUL, so that one id is never a prefix of another's
    topic: a minion subscribes to exactly its own, and the master learns
    presence from the subscription (whose User-Id names the key that made
    it). */
#ifndef MC_PROTO_TOPIC_H
#define MC_PROTO_TOPIC_H

#include "common.h"

#define MC_TOPIC_MAX (MC_ID_MAX + 3)

/* Write id's topic into out; returns its length, the NUL included. */
size_t mc_topic(char out[MC_TOPIC_MAX], const char *id);
/* The id a topic names (into id), or -1 when it is not a minion topic. */
int mc_topic_id(const void *topic, size_t len, char id[MC_ID_MAX + 1]);

#endif
