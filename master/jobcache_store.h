/*  jobcache_store - what the job cache's two stores share: the queued
    writes (jobcache.c keeps the queue and commits it once a turn) and the
    operations each store provides, SQLite (jobcache_sqlite.c, one master)
    and PostgreSQL (jobcache_pg.c, masters sharing one history). Private
    to those files. */
#ifndef MC_JOBCACHE_STORE_H
#define MC_JOBCACHE_STORE_H

#include "jobcache.h"

/* One queued write: a job, or a return. */
typedef struct jobcache_item {
    struct jobcache_item *next;
    bool is_job;
    char *jid, *id, *fun, *tgt, *tgt_type, *user;
    int64_t ts_us, retcode;
    bool success;
    char *raw, *arg, *kwarg; /* msgpack */
    size_t raw_len, arg_len, kwarg_len;
    char **ids, **unsent; /* unsent[i]: why the job did not go to ids[i], or NULL */
    size_t n;
} jobcache_item_t;

void jobcache_item_free(jobcache_item_t *it);

/* The queue's jobs kept on disk across a restart (jobcache_spill.c):
   write the jobs among the items (count says how many; none: no file),
   read them back (a missing file: none). */
int jobcache_spill_write(const char *path, const jobcache_item_t *head, size_t *count,
                         mc_err_t *err);
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
    int (*job_user)(void *db, const char *jid, char user[MC_USER_MAX + 1]);
    int (*prune)(void *db, int64_t before_us);
} jobcache_store_t;

extern const jobcache_store_t jobcache_sqlite;
extern const jobcache_store_t jobcache_pg;
/* Open a store: its handle, or NULL with err. */
void *jobcache_sqlite_open(const char *path, mc_err_t *err);
void *jobcache_pg_open(const char *dsn, mc_err_t *err);

#endif
