/*  pool - the minion's pre-forked worker processes.

    The main process never runs a job: it hands each one to an idle worker
    over a socketpair, or queues it (up to queue_max) while all are busy;
    past that the job is refused with an error return, never silently. A
    worker that dies mid-job is reaped, its job gets an error return, and a
    new worker takes its place. A worker still busy well past its job's time
    limit is killed the same way. Every return, real or error, leaves
    through the on_return callback. */
#ifndef MC_POOL_H
#define MC_POOL_H

#include <msgpack.h>
#include <poll.h>

#include "worker.h"

typedef struct _pool_t pool_t;
typedef void(pool_return_fn)(void *arg, const char *jid, const char *ret, size_t len);

pool_t *pool_new(int workers, int queue_max, const worker_ctx_t *ctx, pool_return_fn *on_return,
                 void *arg);
void pool_destroy(pool_t **self);
/* Fork the workers. Call before starting threads where possible. */
int pool_start(pool_t *self, mc_err_t *err);
/* The grains sent along with each job. */
void pool_set_grains(pool_t *self, const char *data, size_t len);

/* Submit an opened job. Returns -1 when the queue is full (nothing done:
   the caller answers with an error return). */
int pool_submit(pool_t *self, const char *jid, const char *fun, int64_t timeout_s, const char *job,
                size_t len);

/* Poll entries for the worker pipes; returns how many were filled. */
int pool_pollfds(pool_t *self, struct pollfd *fds, int max);
/* A worker pipe is readable. */
void pool_on_readable(pool_t *self, int fd);
/* Reap dead workers (SIGCHLD) and kill overdue ones; call often. */
void pool_check(pool_t *self);
int pool_busy(pool_t *self);
/* Ask the worker running jid to stop it (its return says it was killed);
   false when no worker runs that job. */
bool pool_kill(pool_t *self, const char *jid);
/* Answer every queued job with an error return saying why. */
void pool_drop_queued(pool_t *self, const char *why);
/* Cancel every running job (their returns say they were killed). */
void pool_cancel_running(pool_t *self);
/* Pack a {jid, fun, pid, started} for each running job (pool_busy of
   them: the caller packs the array around them). */
void pool_pack_running(pool_t *self, msgpack_packer *pk);
int pool_queued(pool_t *self);

#endif
