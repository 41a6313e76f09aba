/*  spool - returns on disk until the master says it has stored them.

    Every return is written to CACHEDIR/spool/<jid>.ret before it is sent,
    and deleted when the master's "stored" notice names its jid. Returns
    not acknowledged within a while (the master was away, or a connection
    broke with messages in flight) are sent again, oldest first; the master
    stores each (jid, minion) once, so sending twice is harmless. A minion
    that restarts finds its spool and sends what is in it. */
#ifndef MC_SPOOL_H
#define MC_SPOOL_H

#include "util.h"

typedef struct _spool_t spool_t;

spool_t *spool_new(const char *dir, mc_err_t *err);
void spool_destroy(spool_t **self);
/* Keep a return, due to be sent; -1 (logged by the caller) when the
   disk refuses. */
int spool_put(spool_t *self, const char *jid, const void *data, size_t len, mc_err_t *err);
/* The caller sent it itself: due again only after the resend interval. */
void spool_sent(spool_t *self, const char *jid);
/* The master stored it: forget it. */
void spool_stored(spool_t *self, const char *jid);
/* Call send(arg, data, len) for each return not sent within resend_ms,
   oldest first, until send returns -1 (the channel is full). */
void spool_send_due(spool_t *self, int64_t resend_ms,
                    int (*send)(void *arg, const char *data, size_t len), void *arg);
/* Mark everything due again (after a reconnect). */
void spool_all_due(spool_t *self);
size_t spool_count(spool_t *self);

#endif
