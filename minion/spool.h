/*  spool - returns on disk until the master says it has stored them.

    Every return is appended to a log in CACHEDIR/spool before it is sent,
    and forgotten when the master's "stored" notice names its jid. The log
    is a series of segment files, NNNNNNNNNN.log, each a run of records:

        magic (4 bytes: "MRt1" a return, "MSt1" returns stored)
        body length (u32, little-endian)
        body: a return is its jid (20 bytes) then the message; a stored
              record is a run of jids (20 bytes each)
        check (8 bytes: BLAKE2b of magic, length and body)

    A segment whose returns are all stored is deleted; the newest grows to
    about a megabyte, then the next one starts. Writing a return is one
    append to an open file, so a busy minion pays no file creation, rename
    or removal per return.

    Returns not acknowledged within a while (the master was away, or a
    connection broke with messages in flight) are sent again, oldest
    first; the master stores each (jid, minion) once, so sending twice is
    harmless. A minion that restarts replays the log (a record cut short
    or damaged by a crash or a power cut is reported and skipped) and
    sends what was not stored. */
#ifndef MC_SPOOL_H
#define MC_SPOOL_H

#include <stdio.h>

#include "util.h"

typedef struct _spool_t spool_t;

spool_t *spool_new(const char *dir, mc_err_t *err);
void spool_destroy(spool_t **self);
/* Keep a return, due to be sent; -1 (logged by the caller) when the
   disk refuses. */
int spool_put(spool_t *self, const char *jid, const void *data, size_t len, mc_err_t *err);
/* The caller sent it itself: due again only after the resend interval. */
void spool_sent(spool_t *self, const char *jid);
/* The master stored it: forget it. The log learns of it at the next
   spool_sync. */
void spool_stored(spool_t *self, const char *jid);
/* Write down the jids spool_stored has forgotten since the last call, so
   that a restart does not send them again. */
void spool_sync(spool_t *self);
/* Call send(arg, jid, data, len) for each return not sent within
   resend_ms, oldest first, until send returns -1 (the channel is full). */
void spool_send_due(spool_t *self, int64_t resend_ms,
                    int (*send)(void *arg, const char *jid, const char *data, size_t len),
                    void *arg);
/* Mark everything due again (after a reconnect). */
void spool_all_due(spool_t *self);
/* Returns kept, and of those, returns not sent since they were kept or
   made due again. */
size_t spool_count(spool_t *self);
size_t spool_due(spool_t *self);

/* mctl-minion --spool: print the returns waiting in DIR (jid and size,
   oldest first) without changing anything; the number of them, or -1. */
long spool_list(const char *dir, FILE *out, mc_err_t *err);

#endif
