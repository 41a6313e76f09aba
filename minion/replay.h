/*  replay - the jids this minion has run, so none runs twice.

    Kept in memory for the replay window (twice job_max_age; anything older
    is refused by its timestamp anyway) and appended to CACHEDIR/jids, so a
    restarted minion still knows what it ran. The file is rewritten with
    only the live window at start. */
#ifndef MC_REPLAY_H
#define MC_REPLAY_H

#include "util.h"

typedef struct _replay_t replay_t;

replay_t *replay_new(const char *path, int max_age_s, mc_err_t *err);
void replay_destroy(replay_t **self);
bool replay_seen(replay_t *self, const char *jid);
/* Remember a jid (memory and disk) before its job runs. */
int replay_add(replay_t *self, const char *jid, mc_err_t *err);
/* Forget jids older than the window. */
void replay_prune(replay_t *self);

#endif
