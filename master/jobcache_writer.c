/*  jobcache_writer - the job cache's writes, off the master's loop: a
    thread with a store handle of its own commits one batch of queued
    items at a time (begin, write each, commit), so that a database that
    is slow, or down behind a connect timeout, never holds up the loop.
    The loop hands it a batch when it is idle and takes the batch back
    when it is done (an eventfd says so), committed or not. See
    jobcache_store.h.

    Pruning (keep_jobs) is the thread's too, between batches: at most a
    store's batch of old jobs at a time, once a minute (at once again
    while there are more), never while writes fail; so a prune that waits
    on a busy or hung database holds up the writes, never the loop. One
    failing for an hour says so each hour. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "jobcache_store.h"
#include "log.h"

#define PRUNE_EVERY_MS  60000
#define PRUNE_REPORT_MS 3600000

struct jobcache_writer {
    const jobcache_store_t *store;
    void *db; /* the thread's own handle */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* work came, or a batch is done, or stop */
    int done_fd;         /* eventfd: readable when a batch is done */
    /* Under lock. */
    jobcache_item_t *batch; /* handed over, not done yet */
    jobcache_item_t *done;  /* done, not taken back yet */
    int done_rc;            /* 0 committed, -1 not */
    char done_err[600];     /* what failed, when it did */
    bool stop;
    int keep_hours; /* keep_jobs: 0 prunes nothing */
    /* The thread's own. */
    bool writes_fail;          /* the last batch was not committed */
    int64_t next_prune_ms;     /* monotonic */
    int64_t prune_failing_ms;  /* pruning has failed since (0: it works) */
    int64_t prune_reported_ms; /* and that was last said then */
};

struct timespec jobcache_deadline(clockid_t clock, int timeout_ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += timeout_ms / 1000;
    t.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    return t;
}

/* One batch in one transaction; err says what failed. */
static int commit_batch(jobcache_writer_t *w, jobcache_item_t *batch, char *err, size_t cap)
{
    const char *what = "cannot begin a transaction";
    if (w->store->begin(w->db) != 0)
        goto fail;
    for (jobcache_item_t *it = batch; it; it = it->next) {
        int rc = w->store->write(w->db, it);
        if (!it->is_job)
            it->unknown = rc == 1; /* the only field of the batch it writes */
        if (rc != 0 && rc != 1) {
            what = "write failed";
            goto fail_rollback;
        }
    }
    if (w->store->commit(w->db) == 0)
        return 0;
    what = "commit failed";
fail_rollback:
    /* The message first: a rollback may replace it. */
    snprintf(err, cap, "%s: %s", what, w->store->errmsg(w->db));
    w->store->rollback(w->db);
    return -1;
fail:
    snprintf(err, cap, "%s: %s", what, w->store->errmsg(w->db));
    return -1;
}

/* One prune of jobs older than keep hours (called without the lock). */
static void prune(jobcache_writer_t *w, int keep)
{
    int64_t cutoff = mc_wall_us() - (int64_t)keep * 3600 * 1000000;
    int n = w->store->prune(w->db, cutoff);
    int64_t now = mc_mono_ms();
    if (n > 0)
        mc_info("job cache: pruned %d jobs older than %d hours", n, keep);
    else if (n == 0)
        mc_debug("job cache: no job older than %d hours to prune", keep);
    if (n >= 0) {
        w->prune_failing_ms = 0;
    } else if (!w->prune_failing_ms) {
        w->prune_failing_ms = w->prune_reported_ms = now;
        mc_debug("job cache: pruning put off for a minute (%s)", w->store->errmsg(w->db));
    } else if (now - w->prune_reported_ms >= PRUNE_REPORT_MS) {
        /* Once in a while is a busy table; an hour of it, the history
           outgrowing keep_jobs. */
        w->prune_reported_ms = now;
        mc_warn("job cache: pruning has failed for %lld minutes (%s); the history grows past "
                "keep_jobs until it works",
                (long long)((now - w->prune_failing_ms) / 60000), w->store->errmsg(w->db));
    }
    /* Some pruned: maybe more, after the batches waiting; else in a minute. */
    w->next_prune_ms = mc_mono_ms() + (n > 0 ? 0 : PRUNE_EVERY_MS);
}

static bool prune_due(const jobcache_writer_t *w)
{
    return w->keep_hours > 0 && !w->writes_fail && mc_mono_ms() >= w->next_prune_ms;
}

static void *run(void *arg)
{
    jobcache_writer_t *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->batch && !w->stop && !prune_due(w)) {
            if (w->keep_hours > 0) {
                int64_t wait = w->next_prune_ms - mc_mono_ms();
                struct timespec until =
                    jobcache_deadline(CLOCK_MONOTONIC, wait < 1000 ? 1000 : (int)wait);
                pthread_cond_timedwait(&w->cond, &w->lock, &until);
            } else {
                pthread_cond_wait(&w->cond, &w->lock);
            }
        }
        if (w->stop && !w->batch)
            break;
        if (!w->batch) {
            int keep = w->keep_hours;
            pthread_mutex_unlock(&w->lock);
            prune(w, keep);
            pthread_mutex_lock(&w->lock);
            continue;
        }
        jobcache_item_t *batch = w->batch;
        pthread_mutex_unlock(&w->lock);
        char err[sizeof w->done_err] = "";
        int rc = commit_batch(w, batch, err, sizeof err);
        w->writes_fail = rc != 0;
        if (rc != 0)
            w->next_prune_ms = mc_mono_ms() + PRUNE_EVERY_MS;
        pthread_mutex_lock(&w->lock);
        w->batch = NULL;
        w->done = batch;
        w->done_rc = rc;
        memcpy(w->done_err, err, sizeof err);
        pthread_cond_broadcast(&w->cond);
        uint64_t one = 1;
        ssize_t n = write(w->done_fd, &one, sizeof one);
        (void)n; /* an eventfd write fails only when the counter is full */
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

jobcache_writer_t *jobcache_writer_start(const jobcache_store_t *store, void *db, mc_err_t *err)
{
    jobcache_writer_t *w = mc_calloc(1, sizeof *w);
    w->store = store;
    w->db = db;
    w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->done_fd < 0) {
        mc_err_set(err, "job cache: eventfd: %s", strerror(errno));
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&w->thread, NULL, run, w);
    if (rc != 0) {
        mc_err_set(err, "job cache: cannot start its writer thread: %s", strerror(rc));
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        close(w->done_fd);
        free(w);
        return NULL;
    }
    return w;
}

int jobcache_writer_fd(jobcache_writer_t *w)
{
    return w->done_fd;
}

bool jobcache_writer_busy(jobcache_writer_t *w)
{
    pthread_mutex_lock(&w->lock);
    bool busy = w->batch || w->done;
    pthread_mutex_unlock(&w->lock);
    return busy;
}

void jobcache_writer_keep(jobcache_writer_t *w, int hours)
{
    pthread_mutex_lock(&w->lock);
    w->keep_hours = hours;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void jobcache_writer_submit(jobcache_writer_t *w, jobcache_item_t *batch)
{
    pthread_mutex_lock(&w->lock);
    w->batch = batch;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

jobcache_item_t *jobcache_writer_take(jobcache_writer_t *w, int timeout_ms, int *rc, char *err,
                                      size_t cap)
{
    struct timespec until = jobcache_deadline(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&w->lock);
    while (!w->done && w->batch && timeout_ms > 0 &&
           pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
        ;
    jobcache_item_t *batch = w->done;
    if (batch) {
        *rc = w->done_rc;
        snprintf(err, cap, "%s", w->done_err);
        w->done = NULL;
        uint64_t n;
        ssize_t r = read(w->done_fd, &n, sizeof n);
        (void)r; /* nothing to read is fine: the count is only a wake-up */
    }
    pthread_mutex_unlock(&w->lock);
    return batch;
}

jobcache_item_t *jobcache_writer_stop(jobcache_writer_t **pw, int timeout_ms, bool *hung, int *rc,
                                      char *err, size_t cap)
{
    jobcache_writer_t *w = *pw;
    *hung = false;
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    /* pthread_timedjoin_np counts on the realtime clock. */
    struct timespec until = jobcache_deadline(CLOCK_REALTIME, timeout_ms);
    if (pthread_timedjoin_np(w->thread, NULL, &until) != 0) {
        /* A write the store has held that long: the thread, its handle
           and its batch stay as they are until the process exits. */
        pthread_detach(w->thread);
        *hung = true;
        *pw = NULL;
        return NULL;
    }
    jobcache_item_t *batch = w->done;
    if (batch) {
        *rc = w->done_rc;
        snprintf(err, cap, "%s", w->done_err);
    }
    w->store->close(w->db);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    close(w->done_fd);
    free(w);
    *pw = NULL;
    return batch;
}
