/*  jobcache - see jobcache.h: the queue of writes and its commit, over
    one of the stores of jobcache_store.h. */
#include <czmq.h>
#include <string.h>
#include <unistd.h>

#include "jobcache_store.h"
#include "log.h"
#include "mp.h"

#define SPILL_EVERY_MS 1000

struct _jobcache_t {
    const jobcache_store_t *store;
    void *db;
    jobcache_item_t *head, *tail;
    size_t pending;
    /* "jid id" of each return queued: a minion sends a return again until
       it is confirmed, and while writes fail it is queued only once. */
    zhashx_t *queued;
    zhashx_t *unknown;        /* "jid id" of the last flush's returns for jobs the store lacks */
    int64_t failing_since_ms; /* 0 while writes succeed */
    char *spill;              /* where jobs not taken are kept across a stop, or NULL */
    bool spill_queued;        /* the file's jobs are queued: remove it once stored */
    size_t jobs_unspilled;    /* jobs queued since the file was last written */
    int64_t spilled_ms;       /* when it was last written while writes fail */
    mc_log_limit_t spill_log;
    int64_t last_report_ms;
};

/* A failing write (disk full, the database down) is retried every turn
   of the loop; say so at once, then every 10 s with how much waits, and
   when it recovers. */
static void report_failure(jobcache_t *self, const char *what)
{
    int64_t now = mc_mono_ms();
    if (!self->failing_since_ms)
        self->failing_since_ms = now;
    else if (now - self->last_report_ms < 10000)
        return;
    self->last_report_ms = now;
    mc_error("job cache (%s): %s: %s; %zu jobs and returns wait in memory and are retried (none "
             "is confirmed to its minion until stored)",
             self->store->name, what, self->store->errmsg(self->db), self->pending);
}

static jobcache_t *wrap(const jobcache_store_t *store, void *db)
{
    if (!db)
        return NULL;
    jobcache_t *self = mc_calloc(1, sizeof *self);
    self->store = store;
    self->db = db;
    self->queued = zhashx_new();
    self->unknown = zhashx_new();
    return self;
}

jobcache_t *jobcache_open(const char *path, mc_err_t *err)
{
    return wrap(&jobcache_sqlite, jobcache_sqlite_open(path, err));
}

jobcache_t *jobcache_open_pg(const char *dsn, mc_err_t *err)
{
    return wrap(&jobcache_pg, jobcache_pg_open(dsn, err));
}

bool jobcache_behind(jobcache_t *self)
{
    return self->failing_since_ms != 0;
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

void jobcache_close(jobcache_t **pself)
{
    jobcache_t *self = *pself;
    if (!self)
        return;
    size_t kept = 0;
    mc_err_t err;
    if (self->pending && self->spill &&
        jobcache_spill_write(self->spill, self->head, &kept, &err) != 0)
        mc_error("job cache: cannot keep the jobs not stored: %s", err.msg);
    else if (kept)
        mc_warn("job cache: %zu jobs the %s store has not taken are kept in %s until the next "
                "start",
                kept, self->store->name, self->spill);
    if (self->pending > kept)
        mc_error("job cache: closing with %zu writes not committed (returns: their minions "
                 "send them again)",
                 self->pending - kept);
    while (self->head) {
        jobcache_item_t *it = self->head;
        self->head = it->next;
        jobcache_item_free(it);
    }
    self->store->close(self->db);
    zhashx_destroy(&self->queued);
    zhashx_destroy(&self->unknown);
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
                      const char *tgt_type, const char *user, int64_t ts_us,
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

bool jobcache_unknown_return(jobcache_t *self, const char *jid, const char *id)
{
    char key[MC_JID_LEN + MC_ID_MAX + 2];
    snprintf(key, sizeof key, "%s %s", jid, id);
    return zhashx_lookup(self->unknown, key) != NULL;
}

size_t jobcache_pending(jobcache_t *self)
{
    return self->pending;
}

/* While writes fail, the queue's jobs are also kept in the spill file
   (rewritten at most once a second, when jobs were added), so that a
   master killed before the store is back loses none: the next start
   queues them again. Returns are not kept: the minions send them again. */
static void spill_while_failing(jobcache_t *self)
{
    int64_t now = mc_mono_ms();
    if (!self->spill || !self->jobs_unspilled || now - self->spilled_ms < SPILL_EVERY_MS)
        return;
    self->spilled_ms = now;
    size_t kept = 0;
    mc_err_t err;
    if (jobcache_spill_write(self->spill, self->head, &kept, &err) != 0) {
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

/* A failed flush: said (with the store's message, read before any
   rollback), rolled back when a transaction is open, kept. */
static int flush_failed(jobcache_t *self, const char *what, bool rollback)
{
    report_failure(self, what);
    if (rollback)
        self->store->rollback(self->db);
    spill_while_failing(self);
    return -1;
}

int jobcache_flush(jobcache_t *self)
{
    if (!self->head)
        return 0;
    if (self->store->begin(self->db) != 0)
        return flush_failed(self, "cannot begin a transaction", false);
    int written = 0;
    zhashx_purge(self->unknown);
    for (jobcache_item_t *it = self->head; it; it = it->next, written++) {
        int rc = self->store->write(self->db, it);
        if (rc == 1) {
            char key[MC_JID_LEN + MC_ID_MAX + 2];
            snprintf(key, sizeof key, "%s %s", it->jid, it->id);
            zhashx_update(self->unknown, key, (void *)1);
        } else if (rc != 0) {
            return flush_failed(self, "write failed", true);
        }
    }
    if (self->store->commit(self->db) != 0)
        return flush_failed(self, "commit failed", true);
    if (self->spill_queued) {
        unlink(self->spill);
        self->spill_queued = false;
    }
    if (self->failing_since_ms) {
        mc_info("job cache: writing again after %lld s; %d items stored",
                (long long)((mc_mono_ms() - self->failing_since_ms) / 1000), written);
        self->failing_since_ms = 0;
    }
    while (self->head) {
        jobcache_item_t *it = self->head;
        self->head = it->next;
        jobcache_item_free(it);
    }
    self->tail = NULL;
    self->pending = 0;
    self->jobs_unspilled = 0;
    zhashx_purge(self->queued);
    return written;
}

int jobcache_list(jobcache_t *self, const jobcache_query_t *q, mc_reply_jobs_list_t *out,
                  mc_err_t *err)
{
    memset(out, 0, sizeof *out);
    return self->store->list(self->db, q, out, err);
}

int jobcache_show(jobcache_t *self, const char *jid, mc_reply_job_t *out, mc_strs_t *returns,
                  mc_err_t *err)
{
    memset(out, 0, sizeof *out);
    return self->store->show(self->db, jid, out, returns, err);
}

int jobcache_job_user(jobcache_t *self, const char *jid, char user[MC_USER_MAX + 1])
{
    user[0] = '\0';
    return self->store->job_user(self->db, jid, user);
}

int jobcache_prune(jobcache_t *self, int64_t before_us)
{
    return self->store->prune(self->db, before_us);
}
