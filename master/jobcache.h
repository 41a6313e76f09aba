/*  jobcache - the master's job history: in SQLite (WAL) at CACHEDIR/jobs.db
    for one master, or in PostgreSQL (master_job_cache: postgres) when
    several masters share one history.

    Every job (jid, function, arguments, target, user, time, the minions it
    was published to) and every return (the whole return message, plus its
    jid, minion, retcode and success for queries). A return is stored once
    per (jid, minion), and only for a minion the job was published to.

    Writes are queued in the master's loop and committed by a writer
    thread with a connection of its own (jobcache_writer.c), one
    transaction per batch: what the loop queued while the last batch was
    being written goes in the next, so a burst of returns costs one commit,
    a quiet master commits at once, and a slow or unreachable database
    does not hold up the loop's writes. A write held more than 10 s counts
    as failing, like one refused. A return is confirmed to its minion only
    once committed (jobcache_on_stored). Pruning (keep_jobs) is the
    writer's too. Clients' reads (jobs list, show, wait, the followers of
    jobs published elsewhere, and the user of the job a jobs.kill names) are run by a reader thread
   with its own connection (jobcache_reader.c), so a slow or hung database holds up those reads,
   never the loop. The schema carries a version (PRAGMA user_version, or mctl_schema in PostgreSQL)
   and is migrated on open. */
#ifndef MC_JOBCACHE_H
#define MC_JOBCACHE_H

#include <czmq.h>
#include <msgpack.h>

#include "proto/reply_jobs.h"
#include "util.h"

typedef struct _jobcache_t jobcache_t;

jobcache_t *jobcache_open(const char *path, mc_err_t *err);
/* The history in PostgreSQL; dsn is a libpq connection string. */
jobcache_t *jobcache_open_pg(const char *dsn, mc_err_t *err);
/* Whether writes are failing now (what is queued waits): the history is
   behind. */
bool jobcache_behind(jobcache_t *self);
void jobcache_close(jobcache_t **self);

/* Queue a job: the packed job message, when its time is up (wall clock;
   0 when it has no fixed end), the ids it was meant for and, for each,
   why it was not sent there (unsent[i], NULL when it was; unsent may be
   NULL when the job went to all). */
void jobcache_add_job(jobcache_t *self, const char *jid, const char *fun, const char *tgt,
                      const char *tgt_type, const char *user, int64_t ts_us, int64_t expires_us,
                      const msgpack_object *arg, const msgpack_object *kwarg,
                      const char *const *ids, const char *const *unsent, size_t n);
/* Queue a return (already decoded and checked by the caller). */
void jobcache_add_return(jobcache_t *self, const char *jid, const char *id, int64_t retcode,
                         bool success, const void *raw, size_t len);
/* Keep the queue's jobs in path while writes fail (the database down;
   rewritten at most once a second, so a master killed then loses none)
   and when closing with writes the store has not taken, and queue again
   now the jobs a last run kept there (the file goes once they are
   stored). -1 with err when the file is there and unreadable. */
int jobcache_keep(jobcache_t *self, const char *path, mc_err_t *err);
/* Called in jobcache_flush and jobcache_sync for each return a commit
   took: stored, or (unknown) left out because the store has no such job
   for that minion (PostgreSQL: its master may not have written it yet). */
typedef void(jobcache_stored_fn)(void *arg, const char *jid, const char *id, bool unknown);
void jobcache_on_stored(jobcache_t *self, jobcache_stored_fn *fn, void *arg);
/* Readable when the writer has finished a batch (then jobcache_flush). */
int jobcache_fd(jobcache_t *self);
/* Take back the batch the writer finished, if any (on_stored for its
   returns), and hand it what is queued when it is idle; never waits for
   the store. Returns how many items the batch taken back stored, 0, or
   -1 when it failed (logged; its items are queued again and retried).
   While writes fail, it also keeps the jobs not stored in the spill file
   (jobcache_keep). */
int jobcache_flush(jobcache_t *self);
/* Wait, at most timeout_ms, until all that was queued before the call is
   committed, for a stop. 0 when it
   is, -1 when a write failed, time ran out or a write is held by a store
   that hangs (then it does not wait). */
int jobcache_sync(jobcache_t *self, int timeout_ms);
/* Writes queued or being written. */
size_t jobcache_pending(jobcache_t *self);
typedef struct {
    int limit;
    const char *fun;    /* glob, or NULL */
    const char *target; /* glob on the target expression, or NULL */
    int64_t since_us;   /* 0: any */
    const char *before; /* a jid: only older jobs (the next page); NULL: any */
    const char *user;   /* only this user's jobs, or NULL */
} jobcache_query_t;

/* ---- reads for clients, off the loop (jobcache_read.c) -------------------

   A reader thread with a handle of its own runs the reads, one at a time;
   the loop polls jobcache_reads_fd and calls jobcache_reads_done, which
   calls each finished read's function once, on the loop. What is queued or
   being written when a read is asked for is part of its answer, so a read
   never misses what the master had received then, and never waits for the
   writer. Asking fails (-1 with err, the function not called) when too many
   reads wait, or their copies of queued returns would pass 64 MiB. The answer's structs are the
   read's: the function may use them, and take what they own (leaving them empty), only during the
   call. */

/* The jobs that match, newest first, each with how many minions it was
   meant for, returned and failed: the jobs_list reply's content; NULL
   with err when the store failed. */
typedef void(jobcache_listed_fn)(void *arg, mc_reply_jobs_list_t *list, const mc_err_t *err);
int jobcache_list_read(jobcache_t *self, const jobcache_query_t *q, jobcache_listed_fn *fn,
                       void *arg, mc_err_t *err);
/* One job (arguments as stored), the minions it was meant for and why it
   was not sent to some (the jobs_show reply's content), and its returns;
   with want_expires, when its time is up (wall clock, µs; NULL when not
   known, 0 when stored without). job NULL with err when the jid is unknown
   or the store failed. */
typedef void(jobcache_shown_fn)(void *arg, mc_reply_job_t *job, mc_strs_t *returns,
                                const int64_t *expires_us, const mc_err_t *err);
int jobcache_show_read(jobcache_t *self, const char *jid, bool want_expires, jobcache_shown_fn *fn,
                       void *arg, mc_err_t *err);
/* The user who ran a job (a jobs.kill by a user who may kill only their
   own jobs, of a job not in flight here): user; NULL and err NULL when
   there is no such job; NULL with err when the store failed. */
typedef void(jobcache_owner_fn)(void *arg, const char *user, const mc_err_t *err);
int jobcache_owner_read(jobcache_t *self, const char *jid, jobcache_owner_fn *fn, void *arg,
                        mc_err_t *err);
/* The ids a job went to (its minions but those it was not sent to), as a
   set (id -> 1), the caller's to destroy: returns from any other are not
   the job's. */
zhashx_t *jobcache_sent_to(const mc_reply_job_t *job);
/* The ids of the minions whose return is among returns (return messages),
   as a set like jobcache_sent_to's. */
zhashx_t *jobcache_return_ids(const mc_strs_t *returns);
/* The bytes of returns that reads out and their clients hold copies of:
   take says whether `bytes` more may be held (not past 64 MiB, unless
   none is held); what was taken is given back with release. */
bool jobcache_reads_take(jobcache_t *self, size_t bytes);
void jobcache_reads_release(jobcache_t *self, size_t bytes);
/* Readable when reads are done (then jobcache_reads_done). */
int jobcache_reads_fd(jobcache_t *self);
void jobcache_reads_done(jobcache_t *self);
/* Stop the reader: the reads done are answered, those never run get an
   error; one the store still holds after timeout_ms is left to it (its
   function never called). No read may be asked for after. */
void jobcache_reads_stop(jobcache_t *self, int timeout_ms);

/* Forget jobs older than hours (keep_jobs; 0 keeps them all): the
   writer's thread prunes at once, then once a minute (see
   jobcache_writer.c), never holding the loop up. */
void jobcache_keep_jobs(jobcache_t *self, int hours);

#endif
