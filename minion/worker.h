/*  worker - the loop of one pre-forked worker process.

    A worker reads a job (the opened msgpack job) and the minion's grains
    from its pipe, runs the function, and writes back a complete return
    message. It never touches ZeroMQ: the minion's main process owns the
    sockets and forwards what workers write. */
#ifndef MC_WORKER_H
#define MC_WORKER_H

#include "util.h"

typedef struct {
    const char *id;
    long output_max;
} worker_ctx_t;

/* Run one job: job bytes and grains bytes in, a packed return out. */
void worker_run_job(const worker_ctx_t *ctx, const char *job, size_t job_len, const char *grains,
                    size_t grains_len, mc_buf_t *ret);
/* The worker process: serve jobs on fd until it closes. Never returns. */
void worker_main(int fd, const worker_ctx_t *ctx) __attribute__((noreturn));

#endif
