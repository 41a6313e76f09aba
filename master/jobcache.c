/*  jobcache - see jobcache.h: the queue of writes, the batches handed to
    the writer thread (jobcache_writer.c) and what becomes of them, over
    one of the stores of jobcache_store.h. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobcache_store.h"
#include "log.h"
#include "mp.h"

#define SPILL_EVERY_MS 1000
#define RETRY_MS       1000
/* A write the store has held this long counts as failing (a database
   that hangs rather than refuses): the history is behind, the queue's
   jobs go to the spill file, reads no longer wait for it. */
#define STALL_MS 10000
/* Items in one transaction: a backlog (the store back after an outage)
   goes in several, none near STALL_MS. */
#define BATCH_MAX 5000
/* How long a stop waits for a write in flight. */
#define CLOSE_WAIT_MS 5000

struct _jobcache_t {
    const jobcache_store_t *store;
    jobcache_writer_t *writer;
    jobcache_reader_t *reader;    /* clients' reads (jobcache_read.c); NULL once stopped */
    size_t reads_held;            /* bytes of queued returns the reads out copied */
    jobcache_item_t *head, *tail; /* queued, not handed to the writer yet */
    size_t pending;               /* queued */
    size_t in_flight;             /* handed to the writer */
    jobcache_item_t *flying;      /* the batch with the writer, or NULL */
    int64_t handed_ms;            /* when it was handed over */
    /* "jid id" of each return queued or in flight: a minion sends a
       return again until it is confirmed, and it is queued only once. */
    zhashx_t *queued;
    jobcache_stored_fn *on_stored;
    void *on_stored_arg;
    int64_t failing_since_ms; /* 0 while writes succeed */
    int64_t next_try_ms;      /* no batch to the writer before (after a failure) */
    char *spill;              /* where jobs not taken are kept across a stop, or NULL */
    bool spill_queued;        /* the file holds jobs: remove it once none waits */
    size_t jobs_unspilled;    /* jobs queued since the file was last written */
    int64_t spilled_ms;       /* when it was last written while writes fail */
    mc_log_limit_t spill_log;
    int64_t last_report_ms;
};

/* A failing write (disk full, the database down) is retried with the
   next batch; say so at once, then every 10 s with how much waits, and
   when it recovers. */
static void report_failure(jobcache_t *self, const char *what)
{
    int64_t now = mc_mono_ms();
    if (!self->failing_since_ms)
        self->failing_since_ms = now;
    else if (now - self->last_report_ms < 10000)
        return;
    self->last_report_ms = now;
    mc_error("job cache (%s): %s; %zu jobs and returns wait in memory and are retried (none "
             "is confirmed to its minion until stored)",
             self->store->name, what, self->pending + self->in_flight);
}

typedef void *(open_fn)(const char *where, jobcache_handle_t which, mc_err_t *err);

/* Two handles on the store, each a thread's: the writer's and the
   reader's. The loop has none: it never waits on the store. */
static jobcache_t *open_store(const jobcache_store_t *store, open_fn *open, const char *where,
                              mc_err_t *err)
{
    void *wdb = open(where, JOBCACHE_WRITER, err);
    if (!wdb)
        return NULL;
    jobcache_writer_t *writer = jobcache_writer_start(store, wdb, err);
    if (!writer) {
        store->close(wdb);
        return NULL;
    }
    void *rdb = open(where, JOBCACHE_READER, err);
    jobcache_reader_t *reader = rdb ? jobcache_reader_start(store, rdb, err) : NULL;
    if (!reader) {
        if (rdb)
            store->close(rdb);
        bool hung;
        int rc;
        char why[8];
        jobcache_writer_stop(&writer, CLOSE_WAIT_MS, &hung, &rc, why, sizeof why);
        return NULL;
    }
    jobcache_t *self = mc_calloc(1, sizeof *self);
    self->store = store;
    self->writer = writer;
    self->reader = reader;
    self->queued = zhashx_new();
    return self;
}

jobcache_t *jobcache_open(const char *path, mc_err_t *err)
{
    return open_store(&jobcache_sqlite, jobcache_sqlite_open, path, err);
}

jobcache_t *jobcache_open_pg(const char *dsn, mc_err_t *err)
{
    return open_store(&jobcache_pg, jobcache_pg_open, dsn, err);
}

void jobcache_on_stored(jobcache_t *self, jobcache_stored_fn *fn, void *arg)
{
    self->on_stored = fn;
    self->on_stored_arg = arg;
}

int jobcache_fd(jobcache_t *self)
{
    return jobcache_writer_fd(self->writer);
}

int jobcache_reads_fd(jobcache_t *self)
{
    return jobcache_reader_fd(self->reader);
}

jobcache_reader_t **jobcache_reader_ref(jobcache_t *self)
{
    return &self->reader;
}

size_t *jobcache_reads_held(jobcache_t *self)
{
    return &self->reads_held;
}

const char *jobcache_store_name(jobcache_t *self)
{
    return self->store->name;
}

void jobcache_queue_heads(jobcache_t *self, const jobcache_item_t *lists[2])
{
    /* The batch with the writer too: it writes none of the fields a read
       copies. */
    lists[0] = self->flying;
    lists[1] = self->head;
}

/* A batch the writer has held past STALL_MS. */
static bool overdue(const jobcache_t *self)
{
    return self->flying && mc_mono_ms() - self->handed_ms > STALL_MS;
}

bool jobcache_behind(jobcache_t *self)
{
    return self->failing_since_ms != 0 || overdue(self);
}

void jobcache_item_free(jobcache_item_t *it)
{
    free(it->jid);
    free(it->id);
    free(it->fun);
    free(it->tgt);
    free(it->tgt_type);
    free(it->user);
    free(it->raw);
    free(it->arg);
    free(it->kwarg);
    for (size_t i = 0; i < it->n; i++) {
        free(it->ids[i]);
        free(it->unsent[i]);
    }
    free(it->ids);
    free(it->unsent);
    free(it);
}

static void free_items(jobcache_item_t *it)
{
    while (it) {
        jobcache_item_t *next = it->next;
        jobcache_item_free(it);
        it = next;
    }
}

/* A batch that was not committed goes back to the front of the queue. */
static void requeue(jobcache_t *self, jobcache_item_t *batch)
{
    if (!batch)
        return;
    jobcache_item_t *last = batch;
    size_t n = 1;
    for (; last->next; last = last->next)
        n++;
    last->next = self->head;
    self->head = batch;
    if (!self->tail)
        self->tail = last;
    self->pending += n;
    self->in_flight -= n < self->in_flight ? n : self->in_flight;
}

void jobcache_close(jobcache_t **pself)
{
    jobcache_t *self = *pself;
    if (!self)
        return;
    /* Reads still asked for are answered (with an error when not run). */
    jobcache_reads_stop(self, CLOSE_WAIT_MS);
    /* A batch still with the writer is waited for (a while); one it could
       not commit is kept with the rest. */
    int rc = 0;
    bool hung = false;
    char why[600];
    jobcache_item_t *batch =
        jobcache_writer_stop(&self->writer, CLOSE_WAIT_MS, &hung, &rc, why, sizeof why);
    const jobcache_item_t *flying = NULL;
    if (hung) {
        flying = self->flying;
        mc_error("job cache (%s): a write has not finished after %d s; stopping without it",
                 self->store->name, CLOSE_WAIT_MS / 1000);
    } else if (batch && rc == 0) {
        free_items(batch);
        self->in_flight = 0;
    } else if (batch) {
        mc_error("job cache (%s): the last write failed: %s", self->store->name, why);
        requeue(self, batch);
    }
    size_t kept = 0;
    mc_err_t err;
    if (self->spill) {
        if (jobcache_spill_write(self->spill, self->head, flying, &kept, &err) != 0)
            mc_error("job cache: cannot keep the jobs not stored: %s", err.msg);
        else if (kept)
            mc_warn("job cache: %zu jobs the %s store has not taken are kept in %s until the "
                    "next start",
                    kept, self->store->name, self->spill);
        else if (self->spill_queued)
            unlink(self->spill); /* what it held is stored */
    }
    size_t open = self->pending + self->in_flight;
    if (open > kept)
        mc_error("job cache: closing with %zu writes not committed (returns: their minions "
                 "send them again)",
                 open - kept);
    free_items(self->head);
    zhashx_destroy(&self->queued);
    free(self->spill);
    free(self);
    *pself = NULL;
}

static void enqueue(jobcache_t *self, jobcache_item_t *it)
{
    if (self->tail)
        self->tail->next = it;
    else
        self->head = it;
    self->tail = it;
    self->pending++;
}

static char *pack_object(const msgpack_object *o, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (o)
        msgpack_pack_object(&pk, *o);
    else
        msgpack_pack_nil(&pk);
    *len = sb.size;
    return sb.data; /* sbuffer data is malloc'd */
}

void jobcache_add_job(jobcache_t *self, const char *jid, const char *fun, const char *tgt,
                      const char *tgt_type, const char *user, int64_t ts_us, int64_t expires_us,
                      const msgpack_object *arg, const msgpack_object *kwarg,
                      const char *const *ids, const char *const *unsent, size_t n)
{
    jobcache_item_t *it = mc_calloc(1, sizeof *it);
    it->is_job = true;
    it->jid = mc_strdup(jid);
    it->fun = mc_strdup(fun);
    it->tgt = mc_strdup(tgt);
    it->tgt_type = mc_strdup(tgt_type);
    it->user = mc_strdup(user);
    it->ts_us = ts_us;
    it->expires_us = expires_us;
    it->arg = pack_object(arg, &it->arg_len);
    it->kwarg = pack_object(kwarg, &it->kwarg_len);
    it->ids = mc_calloc(n + 1, sizeof *it->ids);
    it->unsent = mc_calloc(n + 1, sizeof *it->unsent);
    for (size_t i = 0; i < n; i++) {
        it->ids[i] = mc_strdup(ids[i]);
        it->unsent[i] = unsent && unsent[i] ? mc_strdup(unsent[i]) : NULL;
    }
    it->n = n;
    enqueue(self, it);
    self->jobs_unspilled++;
}

void jobcache_add_return(jobcache_t *self, const char *jid, const char *id, int64_t retcode,
                         bool success, const void *raw, size_t len)
{
    char key[MC_JID_LEN + MC_ID_MAX + 2];
    snprintf(key, sizeof key, "%s %s", jid, id);
    if (zhashx_lookup(self->queued, key))
        return; /* sent again while the first one waits */
    zhashx_insert(self->queued, key, (void *)1);
    jobcache_item_t *it = mc_calloc(1, sizeof *it);
    it->jid = mc_strdup(jid);
    it->id = mc_strdup(id);
    it->retcode = retcode;
    it->success = success;
    it->raw = mc_malloc(len);
    memcpy(it->raw, raw, len);
    it->raw_len = len;
    enqueue(self, it);
}

int jobcache_keep(jobcache_t *self, const char *path, mc_err_t *err)
{
    jobcache_item_t *items;
    if (jobcache_spill_read(path, &items, err) != 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        mc_err_set(err, "%s: %s (move it away to start without those jobs)", path, msg);
        return -1;
    }
    free(self->spill);
    self->spill = mc_strdup(path);
    size_t n = 0;
    while (items) {
        jobcache_item_t *it = items;
        items = it->next;
        it->next = NULL;
        enqueue(self, it);
        n++;
    }
    if (n) {
        self->spill_queued = true;
        mc_info("job cache: %zu jobs kept at the last stop are queued again", n);
    }
    return 0;
}

size_t jobcache_pending(jobcache_t *self)
{
    return self->pending + self->in_flight;
}

/* While writes fail, the jobs queued or with the writer are also kept in
   the spill file (rewritten at most once a second, when jobs were added),
   so that a master killed before the store is back loses none: the next
   start queues them again. Returns are not kept: the minions send them
   again. */
static void spill_while_failing(jobcache_t *self)
{
    int64_t now = mc_mono_ms();
    if (!self->spill || !self->jobs_unspilled || now - self->spilled_ms < SPILL_EVERY_MS)
        return;
    self->spilled_ms = now;
    size_t kept = 0;
    mc_err_t err;
    if (jobcache_spill_write(self->spill, self->head, self->flying, &kept, &err) != 0) {
        mc_log_limited(&self->spill_log, MC_LOG_ERROR,
                       "job cache: cannot keep the jobs not stored in %s: %s", self->spill,
                       err.msg);
        return;
    }
    self->jobs_unspilled = 0;
    if (kept) {
        if (!self->spill_queued)
            mc_warn("job cache: the %zu jobs not stored yet are kept in %s until they are", kept,
                    self->spill);
        self->spill_queued = true;
    }
}

static bool queue_has_jobs(const jobcache_t *self)
{
    for (const jobcache_item_t *it = self->head; it; it = it->next)
        if (it->is_job)
            return true;
    return false;
}

/* What became of a batch the writer gave back. */
static int settle(jobcache_t *self, jobcache_item_t *batch, int rc, const char *why)
{
    self->flying = NULL;
    if (rc != 0) {
        /* Tried again in a second (the loop's tick), not at once: the
           writer would fail as fast as the loop hands it the batch. */
        self->next_try_ms = mc_mono_ms() + RETRY_MS;
        requeue(self, batch);
        report_failure(self, why);
        return -1;
    }
    int written = 0;
    for (jobcache_item_t *it = batch; it; it = it->next, written++) {
        if (it->is_job)
            continue;
        char key[MC_JID_LEN + MC_ID_MAX + 2];
        snprintf(key, sizeof key, "%s %s", it->jid, it->id);
        zhashx_delete(self->queued, key);
        if (self->on_stored)
            self->on_stored(self->on_stored_arg, it->jid, it->id, it->unknown);
    }
    self->in_flight = 0;
    free_items(batch);
    if (self->spill_queued && !queue_has_jobs(self)) {
        unlink(self->spill);
        self->spill_queued = false;
    }
    if (self->failing_since_ms) {
        mc_info("job cache: writing again after %lld s; %d items stored",
                (long long)((mc_mono_ms() - self->failing_since_ms) / 1000), written);
        self->failing_since_ms = 0;
    }
    return written;
}

/* Take back a finished batch (waiting up to timeout_ms for it). */
static int take(jobcache_t *self, int timeout_ms)
{
    int rc = 0;
    char why[600];
    jobcache_item_t *batch = jobcache_writer_take(self->writer, timeout_ms, &rc, why, sizeof why);
    return batch ? settle(self, batch, rc, why) : 0;
}

/* The queue to the writer, when it is idle: up to BATCH_MAX items. */
static void hand_over(jobcache_t *self)
{
    if (!self->head || mc_mono_ms() < self->next_try_ms || jobcache_writer_busy(self->writer))
        return;
    jobcache_item_t *batch = self->head, *last = batch;
    size_t n = 1;
    for (; last->next && n < BATCH_MAX; last = last->next)
        n++;
    self->head = last->next;
    last->next = NULL;
    if (!self->head)
        self->tail = NULL;
    self->in_flight = n;
    self->pending -= n;
    self->flying = batch;
    self->handed_ms = mc_mono_ms();
    jobcache_writer_submit(self->writer, batch);
}

int jobcache_flush(jobcache_t *self)
{
    int rc = take(self, 0);
    if (overdue(self))
        report_failure(self, "a write has not finished in 10 s (the store hangs)");
    if (self->failing_since_ms)
        spill_while_failing(self);
    hand_over(self);
    return rc;
}

int jobcache_sync(jobcache_t *self, int timeout_ms)
{
    int64_t until = mc_mono_ms() + timeout_ms;
    /* What is with the writer now, then what is queued, a batch at a
       time (nothing is queued meanwhile: the loop is here). */
    for (;;) {
        if (take(self, 0) < 0)
            return -1;
        hand_over(self);
        if (!self->in_flight)
            return self->pending ? -1 : 0; /* held back after a failure */
        while (self->in_flight) {
            /* Not past the time a write counts as hung. */
            int64_t stop = self->flying && self->handed_ms + STALL_MS < until
                               ? self->handed_ms + STALL_MS
                               : until;
            int64_t left = stop - mc_mono_ms();
            if (left <= 0)
                return -1;
            if (take(self, (int)left) < 0)
                return -1;
        }
    }
}

void jobcache_keep_jobs(jobcache_t *self, int hours)
{
    jobcache_writer_keep(self->writer, hours);
}
