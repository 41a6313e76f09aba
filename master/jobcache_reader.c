/*  jobcache_reader - the job cache's reads for clients (jobs list, show,
    wait, the followers of jobs published elsewhere, and the user of the
    job a jobs.kill names), off the master's
    loop: a thread with a store handle of its own runs them one at a time,
    in the order asked, and the loop takes back those done when an eventfd
    says so. A database that hangs holds up these reads (each up to the
    store's read deadline), never the loop: jobs, returns and every other
    request go on meanwhile. At most READS_MAX wait; past that a read is
    refused at once. See jobcache_store.h. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "jobcache_store.h"
#include "log.h"

#define READS_MAX 256

struct jobcache_reader {
    const jobcache_store_t *store;
    void *db; /* the thread's own handle */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a read came, or stop */
    int done_fd;         /* eventfd: readable when a read is done */
    /* Under lock. */
    jobcache_read_t *todo, *todo_tail; /* asked for, not started */
    size_t waiting;                    /* asked for and not taken back */
    jobcache_read_t *running;          /* with the store now */
    jobcache_read_t *done, *done_tail; /* done, not taken back */
    bool stop;
};

static void append(jobcache_read_t **head, jobcache_read_t **tail, jobcache_read_t *r)
{
    r->next = NULL;
    if (*tail)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

static void *run(void *arg)
{
    jobcache_reader_t *rd = arg;
    pthread_mutex_lock(&rd->lock);
    for (;;) {
        while (!rd->todo && !rd->stop)
            pthread_cond_wait(&rd->cond, &rd->lock);
        if (rd->stop)
            break;
        jobcache_read_t *r = rd->todo;
        rd->todo = r->next;
        if (!rd->todo)
            rd->todo_tail = NULL;
        rd->running = r;
        pthread_mutex_unlock(&rd->lock);
        r->run(rd->store, rd->db, r);
        pthread_mutex_lock(&rd->lock);
        rd->running = NULL;
        append(&rd->done, &rd->done_tail, r);
        uint64_t one = 1;
        ssize_t n = write(rd->done_fd, &one, sizeof one);
        (void)n; /* an eventfd write fails only when the counter is full */
    }
    pthread_mutex_unlock(&rd->lock);
    return NULL;
}

jobcache_reader_t *jobcache_reader_start(const jobcache_store_t *store, void *db, mc_err_t *err)
{
    jobcache_reader_t *rd = mc_calloc(1, sizeof *rd);
    rd->store = store;
    rd->db = db;
    rd->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rd->done_fd < 0) {
        mc_err_set(err, "job cache: eventfd: %s", strerror(errno));
        free(rd);
        return NULL;
    }
    pthread_mutex_init(&rd->lock, NULL);
    pthread_cond_init(&rd->cond, NULL);
    int rc = pthread_create(&rd->thread, NULL, run, rd);
    if (rc != 0) {
        mc_err_set(err, "job cache: cannot start its reader thread: %s", strerror(rc));
        pthread_cond_destroy(&rd->cond);
        pthread_mutex_destroy(&rd->lock);
        close(rd->done_fd);
        free(rd);
        return NULL;
    }
    return rd;
}

int jobcache_reader_fd(jobcache_reader_t *rd)
{
    return rd->done_fd;
}

int jobcache_reader_submit(jobcache_reader_t *rd, jobcache_read_t *r)
{
    pthread_mutex_lock(&rd->lock);
    bool full = rd->waiting >= READS_MAX;
    if (!full) {
        rd->waiting++;
        append(&rd->todo, &rd->todo_tail, r);
        pthread_cond_broadcast(&rd->cond);
    }
    pthread_mutex_unlock(&rd->lock);
    return full ? -1 : 0;
}

jobcache_read_t *jobcache_reader_take(jobcache_reader_t *rd)
{
    pthread_mutex_lock(&rd->lock);
    jobcache_read_t *done = rd->done;
    for (jobcache_read_t *r = done; r; r = r->next)
        rd->waiting--;
    rd->done = rd->done_tail = NULL;
    uint64_t n;
    ssize_t got = read(rd->done_fd, &n, sizeof n);
    (void)got; /* nothing to read is fine: the count is only a wake-up */
    pthread_mutex_unlock(&rd->lock);
    return done;
}

jobcache_read_t *jobcache_reader_stop(jobcache_reader_t **prd, int timeout_ms)
{
    jobcache_reader_t *rd = *prd;
    if (!rd)
        return NULL;
    pthread_mutex_lock(&rd->lock);
    rd->stop = true;
    pthread_cond_broadcast(&rd->cond);
    pthread_mutex_unlock(&rd->lock);
    /* pthread_timedjoin_np counts on the realtime clock. */
    struct timespec until = jobcache_deadline(CLOCK_REALTIME, timeout_ms);
    bool hung = pthread_timedjoin_np(rd->thread, NULL, &until) != 0;
    /* What is done, then what was never started; the read the store
       holds, if it hangs, stays with the thread. */
    pthread_mutex_lock(&rd->lock);
    jobcache_read_t *left = rd->done, *tail = rd->done_tail;
    if (rd->todo) {
        if (tail)
            tail->next = rd->todo;
        else
            left = rd->todo;
    }
    rd->done = rd->done_tail = rd->todo = rd->todo_tail = NULL;
    pthread_mutex_unlock(&rd->lock);
    if (hung) {
        /* The thread, its handle and its read stay as they are until the
           process exits. */
        mc_error("job cache: a read has not finished after %d s; stopping without it",
                 timeout_ms / 1000);
        pthread_detach(rd->thread);
        *prd = NULL;
        return left;
    }
    rd->store->close(rd->db);
    pthread_cond_destroy(&rd->cond);
    pthread_mutex_destroy(&rd->lock);
    close(rd->done_fd);
    free(rd);
    *prd = NULL;
    return left;
}
