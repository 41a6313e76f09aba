/*  jobcache_store - what the job cache's two stores share: the queued
    writes (jobcache.c keeps the queue; its writer thread commits it), the
    reads for clients (jobcache_read.c; its reader thread runs them) and
    the operations each store provides, SQLite (jobcache_sqlite.c, one master)
    and PostgreSQL (jobcache_pg.c, masters sharing one history). Private
    to those files. */
#ifndef MC_JOBCACHE_STORE_H
#define MC_JOBCACHE_STORE_H

#include <time.h>

#include "jobcache.h"

/* One queued write: a job, or a return. */
typedef struct jobcache_item {
    struct jobcache_item *next;
    bool is_job;
    char *jid, *id, *fun, *tgt, *tgt_type, *user;
    int64_t ts_us, retcode;
    int64_t expires_us; /* a job's: when its time is up (wall clock), 0 when not known */
    bool success;
    char *raw, *arg, *kwarg; /* msgpack */
    size_t raw_len, arg_len, kwarg_len;
    char **ids, **unsent; /* unsent[i]: why the job did not go to ids[i], or NULL */
    size_t n;
    bool unknown; /* a return the store left out: it has no such job for that minion */
} jobcache_item_t;

void jobcache_item_free(jobcache_item_t *it);

/* The queue's jobs kept on disk across a restart (jobcache_spill.c):
   write the jobs among the items queued and those with the writer (count
   says how many; with none, no file is written and one there is left to
   the caller), read them back (a missing file: none). */
int jobcache_spill_write(const char *path, const jobcache_item_t *queued,
                         const jobcache_item_t *in_flight, size_t *count, mc_err_t *err);
int jobcache_spill_read(const char *path, jobcache_item_t **items, mc_err_t *err);

/* A store. Every operation returns 0 or -1; errmsg says why the last one
   failed. write stores one item inside the transaction begin opened; a
   return that is a duplicate is not an error (it is left out), and one
   for a minion the job did not go to is left out with 1 (PostgreSQL,
   where another master may not have written the job yet) or 0 with a line
   in the log (SQLite). */
typedef struct {
    const char *name;
    void (*close)(void *db);
    const char *(*errmsg)(void *db);
    int (*begin)(void *db);
    int (*write)(void *db, const jobcache_item_t *it);
    int (*commit)(void *db);
    void (*rollback)(void *db);
    int (*list)(void *db, const jobcache_query_t *q, mc_reply_jobs_list_t *out, mc_err_t *err);
    int (*show)(void *db, const char *jid, mc_reply_job_t *out, mc_strs_t *returns, mc_err_t *err);
    /* The user who ran a job: 0; 1 when no such job; -1 with err. */
    int (*job_user)(void *db, const char *jid, char user[MC_USER_MAX + 1], mc_err_t *err);
    /* When a job's time is up (0: stored without); 1 when no such job. */
    int (*job_expires)(void *db, const char *jid, int64_t *expires_us);
    int (*prune)(void *db, int64_t before_us);
} jobcache_store_t;

extern const jobcache_store_t jobcache_sqlite;
extern const jobcache_store_t jobcache_pg;
/* Open a store: a handle for the reader thread or the writer thread (the
   writer's is opened first), or NULL with err. */
typedef enum { JOBCACHE_READER, JOBCACHE_WRITER } jobcache_handle_t;
void *jobcache_sqlite_open(const char *path, jobcache_handle_t which, mc_err_t *err);
void *jobcache_pg_open(const char *dsn, jobcache_handle_t which, mc_err_t *err);

/* The thread that commits the queue's batches (jobcache_writer.c), with a
   store handle of its own (closed when it stops). One batch at a time:
   submit when it is not busy; take gives the batch back once done (NULL
   before; waits up to timeout_ms), with rc 0 when it was committed (each
   return's `unknown` set) or -1 and what failed in err. While a batch is
   with it, the writer writes only its returns' `unknown`: the loop may
   read the rest (to keep its jobs in the spill file). stop waits up to
   timeout_ms for a batch in flight and gives back one not taken; when the
   store still holds the writer past that, stop sets *hung and leaves the
   thread, its handle and its batch to the process's exit. */
typedef struct jobcache_writer jobcache_writer_t;
/* timeout_ms from now on clock, for the threads' timed waits. */
struct timespec jobcache_deadline(clockid_t clock, int timeout_ms);
jobcache_writer_t *jobcache_writer_start(const jobcache_store_t *store, void *db, mc_err_t *err);
int jobcache_writer_fd(jobcache_writer_t *w);
bool jobcache_writer_busy(jobcache_writer_t *w);
void jobcache_writer_submit(jobcache_writer_t *w, jobcache_item_t *batch);
/* Prune jobs older than hours (0: none), from the writer's thread. */
void jobcache_writer_keep(jobcache_writer_t *w, int hours);
jobcache_item_t *jobcache_writer_take(jobcache_writer_t *w, int timeout_ms, int *rc, char *err,
                                      size_t cap);
jobcache_item_t *jobcache_writer_stop(jobcache_writer_t **w, int timeout_ms, bool *hung, int *rc,
                                      char *err, size_t cap);

/* A read for a client (jobcache_read.c), run by the reader thread
   (jobcache_reader.c) with its own store handle: run is called there, once,
   and must touch only the read itself. The reads carry more after these
   two fields. */
typedef struct jobcache_read jobcache_read_t;
struct jobcache_read {
    jobcache_read_t *next;
    void (*run)(const jobcache_store_t *store, void *db, jobcache_read_t *r);
};
/* The thread: submit refuses (-1) when READS_MAX reads wait; take gives
   back, in order, the reads done; stop waits up to timeout_ms for the read
   with the store and gives back those done or never started (one the store
   still holds stays with the thread, its handle with it, until the
   process exits). */
typedef struct jobcache_reader jobcache_reader_t;
jobcache_reader_t *jobcache_reader_start(const jobcache_store_t *store, void *db, mc_err_t *err);
int jobcache_reader_fd(jobcache_reader_t *rd);
int jobcache_reader_submit(jobcache_reader_t *rd, jobcache_read_t *r);
jobcache_read_t *jobcache_reader_take(jobcache_reader_t *rd);
jobcache_read_t *jobcache_reader_stop(jobcache_reader_t **rd, int timeout_ms);
/* What jobcache_read.c needs of the job cache (jobcache.c): its reader
   (NULL once stopped), the bytes its reads out hold, its store's name, and the heads of the batch
   with the writer and of the queue (for the copy a read takes of them). */
jobcache_reader_t **jobcache_reader_ref(jobcache_t *self);
size_t *jobcache_reads_held(jobcache_t *self); /* bytes the reads out copied */
const char *jobcache_store_name(jobcache_t *self);
void jobcache_queue_heads(jobcache_t *self, const jobcache_item_t *lists[2]);

#endif
