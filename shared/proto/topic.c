/*  proto/topic - see topic.h. */
#include "topic.h"

#include <stdio.h>
#include <string.h>

size_t mc_topic(char out[MC_TOPIC_MAX], const char *id)
{
    return (size_t)snprintf(out, MC_TOPIC_MAX, "m:%s", id) + 1;
}

int mc_topic_id(const void *topic, size_t len, char id[MC_ID_MAX + 1])
{
    const char *t = topic;
    if (len < 4 || len > MC_TOPIC_MAX || memcmp(t, "m:", 2) != 0 || t[len - 1] != '\0' ||
        !mc_id_valid(t + 2, len - 3))
        return -1;
    memcpy(id, t + 2, len - 3);
    id[len - 3] = '\0';
    return 0;
}
