/*  jobs - the jobs in flight on the master: whom each job went to, who has
    acknowledged and returned, and which clients are waiting to hear.

    A job stays here until every minion returned, or else until its time
    limit has passed (plus a grace period for late returns); the client API streams every ack and
   return for a jid to the clients registered as its waiters. */
#ifndef MC_JOBS_H
#define MC_JOBS_H

#include <czmq.h>

#include "proto/proto.h"

typedef enum { MINION_SENT, MINION_ACKED, MINION_RETURNED } minion_progress_t;

/* What the master keeps of a copy (mctl cp) while it runs: never its
   data. */
typedef struct {
    unsigned char key[32]; /* tags the chunks (proto/chunk.h) */
    zframe_t *owner;       /* the client connection that runs the copy */
    int64_t next_seq;      /* the seq the next chunk must have */
    int64_t timeout_ms;    /* the job lives this long past the last chunk */
    unsigned long uid;     /* the kernel's user of that connection */
    zhashx_t *dropped;     /* ids that take no further part (told to the owner) */
    zhashx_t *acked;       /* id -> the seq its last cpack passed on said (+1) */
} job_copy_t;

void job_copy_free(job_copy_t *copy);

typedef struct {
    char jid[MC_JID_LEN + 1];
    char fun[MC_FUN_MAX + 1];
    char user[MC_USER_MAX + 1]; /* who published it */
    zhashx_t *progress;         /* id -> minion_progress_t (as a pointer-sized int) */
    size_t returned;
    zlistx_t *waiters;  /* zframe_t routing ids of clients */
    int64_t expires_ms; /* monotonic */
    /* The job as signed ([signature][job]; owned), to seal again for a
       minion that reconnects before acknowledging it. */
    unsigned char *signed_job;
    size_t signed_len;
    job_copy_t *copy; /* a copy's state, or NULL */
} job_t;

typedef struct _jobs_t jobs_t;

jobs_t *jobs_new(void);
void jobs_destroy(jobs_t **self);
job_t *jobs_add(jobs_t *self, const char *jid, const char *fun, const char *const *ids, size_t n,
                int64_t expires_ms);
job_t *jobs_find(jobs_t *self, const char *jid);
size_t jobs_count(jobs_t *self);
/* Drop a job: every minion has returned, nothing more will stream. */
void jobs_remove(jobs_t *self, const char *jid);
/* Drop jobs whose time is up; unsettled(id, arg) is called for each
   minion that neither acknowledged nor returned the job (may be NULL). */
void jobs_expire(jobs_t *self, int64_t now_ms, void (*unsettled)(const char *id, void *arg),
                 void *arg);

/* fn(job, arg) for every job in flight. */
void jobs_each(jobs_t *self, void (*fn)(job_t *job, void *arg), void *arg);

void job_add_waiter(job_t *job, zframe_t *route);
void job_remove_waiter(job_t *job, zframe_t *route);
/* Record progress for a minion: returns false when the minion was not
   targeted or already got that far (a duplicate). On success *from (when
   not NULL) is where the minion was before. */
bool job_advance(job_t *job, const char *id, minion_progress_t to, minion_progress_t *from);
bool job_complete(const job_t *job);
/* Whether the job went to the minion and it has not acknowledged it. */
bool job_unacked(const job_t *job, const char *id);

#endif
