/*  jobcache_read - the reads of the history that clients ask for (jobs
    list, show and wait, the followers of jobs published elsewhere, and
    whose job a jobs.kill names), answered off the loop by the reader
    thread (jobcache_reader.c); see jobcache.h.

    A read cannot see what is queued or being written. So when a read is
    asked for, the loop copies what the queue holds for it (the jobs that
    match, a job's queued returns); when the answer comes back, the copy
    fills in what the store did not have. A write committed before the read
    ran is in its answer; one not committed by then was queued when the read
    was asked for, so it is in the copy: a client misses nothing the master
    had received when it asked, and no read waits for the writer. */
#include <czmq.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "jobcache_store.h"
#include "log.h"
#include "proto/ret.h"

/* Bytes of queued returns the reads out may hold copies of, together: a
   return may be 16 MiB, and many reads of one job while writes are
   behind would each copy it. */
#define READS_COPY_MAX ((size_t)64 << 20)

typedef enum { READ_LIST, READ_SHOW, READ_OWNER } read_kind_t;

typedef struct {
    jobcache_read_t base; /* first: the reader thread's part */
    read_kind_t kind;
    bool ran; /* the thread ran it (else it was never started) */
    /* What was asked: a list's query (its strings owned), or a job. */
    jobcache_query_t q;
    char *fun, *target, *before, *user;
    char jid[MC_JID_LEN + 1];
    bool want_expires;
    /* The thread's answer. */
    int rc;
    mc_err_t err;
    mc_reply_jobs_list_t list;
    mc_reply_job_t job;
    mc_strs_t returns;
    int expires_rc;
    int64_t expires_us;
    char owner[MC_USER_MAX + 1];
    /* The queue when it was asked for. */
    mc_reply_jobs_list_t queued_jobs; /* the jobs that match q */
    bool has_queued_job;              /* jid, as queued */
    mc_reply_job_t queued_job;
    int64_t queued_expires_us;
    char queued_owner[MC_USER_MAX + 1];   /* jid's user, as queued */
    mc_strs_t queued_returns, queued_ids; /* jid's, and whose */
    size_t *held;                         /* the job cache's count of bytes copied by reads out */
    size_t copied;                        /* of which this read's */
    /* Whom to tell. */
    jobcache_listed_fn *listed;
    jobcache_shown_fn *shown;
    jobcache_owner_fn *owned;
    void *arg;
} read_t;

static void read_free(read_t *r)
{
    if (r->held)
        *r->held -= r->copied;
    free(r->fun);
    free(r->target);
    free(r->before);
    free(r->user);
    mc_reply_jobs_list_done(&r->list);
    mc_reply_job_done(&r->job);
    mc_strs_free(&r->returns);
    mc_reply_jobs_list_done(&r->queued_jobs);
    mc_reply_job_done(&r->queued_job);
    mc_strs_free(&r->queued_returns);
    mc_strs_free(&r->queued_ids);
    free(r);
}

/* ---- in the reader thread ------------------------------------------------ */

static void run_list(const jobcache_store_t *store, void *db, jobcache_read_t *base)
{
    read_t *r = (read_t *)base;
    r->rc = store->list(db, &r->q, &r->list, &r->err);
    r->ran = true;
}

static void run_show(const jobcache_store_t *store, void *db, jobcache_read_t *base)
{
    read_t *r = (read_t *)base;
    r->rc = store->show(db, r->jid, &r->job, &r->returns, &r->err);
    if (r->rc == 0 && r->want_expires)
        r->expires_rc = store->job_expires(db, r->jid, &r->expires_us) == 0 ? 0 : -1;
    r->ran = true;
}

static void run_owner(const jobcache_store_t *store, void *db, jobcache_read_t *base)
{
    read_t *r = (read_t *)base;
    r->rc = store->job_user(db, r->jid, r->owner, &r->err);
    r->ran = true;
}

/* ---- the queue's copy, taken on the loop when a read is asked for -------- */

/* Whether a queued job matches a jobs list query, as the stores' own
   queries would match it (globs as GLOB: glibc's fnmatch takes [^...]
   too). */
static bool queued_matches(const jobcache_item_t *it, const jobcache_query_t *q)
{
    return it->is_job && (!q->fun || fnmatch(q->fun, it->fun, 0) == 0) &&
           (!q->target || fnmatch(q->target, it->tgt, 0) == 0) && it->ts_us >= q->since_us &&
           (!q->user || strcmp(q->user, it->user) == 0) &&
           (!q->before || strcmp(it->jid, q->before) < 0);
}

/* The first MC_JOBS_LIST_TGT_MAX characters of a target, as the stores
   give it (UTF-8 characters, not bytes). */
static char *cut_target(const char *tgt)
{
    size_t chars = 0, i = 0;
    for (; tgt[i]; i++)
        if (((unsigned char)tgt[i] & 0xC0) != 0x80 && chars++ == MC_JOBS_LIST_TGT_MAX)
            break;
    char *c = mc_malloc(i + 1);
    memcpy(c, tgt, i);
    c[i] = '\0';
    return c;
}

/* Each queued job that matches the query, with the count of its queued
   returns. */
static void copy_queued_jobs(jobcache_t *cache, read_t *r)
{
    const jobcache_item_t *lists[2];
    jobcache_queue_heads(cache, lists);
    for (size_t l = 0; l < 2; l++)
        for (const jobcache_item_t *it = lists[l]; it; it = it->next) {
            if (!queued_matches(it, &r->q))
                continue;
            mc_job_summary_t *j = mc_reply_jobs_list_add(&r->queued_jobs);
            snprintf(j->jid, sizeof j->jid, "%s", it->jid);
            snprintf(j->fun, sizeof j->fun, "%s", it->fun);
            j->tgt = cut_target(it->tgt);
            snprintf(j->tgt_type, sizeof j->tgt_type, "%s", it->tgt_type);
            snprintf(j->user, sizeof j->user, "%s", it->user);
            j->ts_us = it->ts_us;
            j->minions = (int64_t)it->n;
            /* Its returns, from the minions it went to (as the stores keep). */
            zhashx_t *sent_to = zhashx_new();
            for (size_t i = 0; i < it->n; i++)
                if (!it->unsent || !it->unsent[i])
                    zhashx_insert(sent_to, it->ids[i], (void *)1);
            for (size_t m = 0; m < 2; m++)
                for (const jobcache_item_t *x = lists[m]; x; x = x->next)
                    if (!x->is_job && strcmp(x->jid, it->jid) == 0 &&
                        zhashx_lookup(sent_to, x->id)) {
                        j->returned++;
                        j->failed += !x->success;
                    }
            zhashx_destroy(&sent_to);
        }
}

static char *copy_bytes(const char *data, size_t len)
{
    if (!data)
        return NULL;
    char *c = mc_malloc(len ? len : 1);
    memcpy(c, data, len);
    return c;
}

/* The job jid and its returns as queued (what a show reads from the
   store otherwise); -1 with err when the reads out hold too much. */
static int copy_queued_job(jobcache_t *cache, read_t *r, mc_err_t *err)
{
    const jobcache_item_t *lists[2];
    jobcache_queue_heads(cache, lists);
    size_t bytes = 0;
    for (size_t l = 0; l < 2; l++)
        for (const jobcache_item_t *it = lists[l]; it; it = it->next)
            if (!it->is_job && strcmp(it->jid, r->jid) == 0)
                bytes += it->raw_len;
    if (!jobcache_reads_take(cache, bytes)) {
        mc_err_set(err,
                   "the job history's reads hold %zu MiB of returns not stored yet; try again "
                   "when fewer are out",
                   *jobcache_reads_held(cache) >> 20);
        return -1;
    }
    r->held = jobcache_reads_held(cache);
    r->copied = bytes;
    for (size_t l = 0; l < 2; l++)
        for (const jobcache_item_t *it = lists[l]; it; it = it->next) {
            if (strcmp(it->jid, r->jid) != 0)
                continue;
            if (!it->is_job) {
                mc_strs_add(&r->queued_returns, it->raw, it->raw_len);
                mc_strs_add(&r->queued_ids, it->id, strlen(it->id));
                continue;
            }
            if (r->has_queued_job)
                continue;
            r->has_queued_job = true;
            mc_reply_job_t *out = &r->queued_job;
            snprintf(out->jid, sizeof out->jid, "%s", it->jid);
            snprintf(out->fun, sizeof out->fun, "%s", it->fun);
            out->tgt = mc_strdup(it->tgt);
            snprintf(out->tgt_type, sizeof out->tgt_type, "%s", it->tgt_type);
            snprintf(out->user, sizeof out->user, "%s", it->user);
            out->ts_us = it->ts_us;
            out->arg = copy_bytes(it->arg, it->arg_len);
            out->arg_len = it->arg ? it->arg_len : 0;
            out->kwarg = copy_bytes(it->kwarg, it->kwarg_len);
            out->kwarg_len = it->kwarg ? it->kwarg_len : 0;
            for (size_t i = 0; i < it->n; i++) {
                mc_strs_add(&out->minions, it->ids[i], strlen(it->ids[i]));
                if (it->unsent && it->unsent[i]) {
                    mc_strs_add(&out->unsent, it->ids[i], strlen(it->ids[i]));
                    mc_strs_add(&out->unsent_why, it->unsent[i], strlen(it->unsent[i]));
                }
            }
            r->queued_expires_us = it->expires_us;
        }
    return 0;
}

/* The user of the job jid as queued, when it is. */
static void copy_queued_owner(jobcache_t *cache, read_t *r)
{
    const jobcache_item_t *lists[2];
    jobcache_queue_heads(cache, lists);
    for (size_t l = 0; l < 2 && !r->has_queued_job; l++)
        for (const jobcache_item_t *it = lists[l]; it && !r->has_queued_job; it = it->next)
            if (it->is_job && strcmp(it->jid, r->jid) == 0) {
                snprintf(r->queued_owner, sizeof r->queued_owner, "%s", it->user);
                r->has_queued_job = true;
            }
}

/* ---- asking ---------------------------------------------------------------- */

bool jobcache_reads_take(jobcache_t *cache, size_t bytes)
{
    size_t *held = jobcache_reads_held(cache);
    if (bytes && *held && *held + bytes > READS_COPY_MAX)
        return false;
    *held += bytes;
    return true;
}

void jobcache_reads_release(jobcache_t *cache, size_t bytes)
{
    *jobcache_reads_held(cache) -= bytes;
}

static int submit(jobcache_t *cache, read_t *r, mc_err_t *err)
{
    jobcache_reader_t *rd = *jobcache_reader_ref(cache);
    if (!rd || jobcache_reader_submit(rd, &r->base) != 0) {
        mc_err_set(err,
                   "the job history has too many reads waiting (is the %s store slow?); "
                   "try again",
                   jobcache_store_name(cache));
        read_free(r);
        return -1;
    }
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? mc_strdup(s) : NULL;
}

/* A read of kind, run by run in the reader thread, for whom to tell. */
static read_t *read_new(read_kind_t kind,
                        void (*run)(const jobcache_store_t *, void *, jobcache_read_t *),
                        const char *jid, void *arg)
{
    read_t *r = mc_calloc(1, sizeof *r);
    r->base.run = run;
    r->kind = kind;
    snprintf(r->jid, sizeof r->jid, "%s", jid ? jid : "");
    r->arg = arg;
    return r;
}

int jobcache_list_read(jobcache_t *cache, const jobcache_query_t *q, jobcache_listed_fn *fn,
                       void *arg, mc_err_t *err)
{
    read_t *r = read_new(READ_LIST, run_list, NULL, arg);
    r->q = *q;
    r->q.fun = r->fun = dup_or_null(q->fun);
    r->q.target = r->target = dup_or_null(q->target);
    r->q.before = r->before = dup_or_null(q->before);
    r->q.user = r->user = dup_or_null(q->user);
    r->listed = fn;
    copy_queued_jobs(cache, r);
    return submit(cache, r, err);
}

int jobcache_show_read(jobcache_t *cache, const char *jid, bool want_expires, jobcache_shown_fn *fn,
                       void *arg, mc_err_t *err)
{
    read_t *r = read_new(READ_SHOW, run_show, jid, arg);
    r->want_expires = want_expires;
    r->shown = fn;
    if (copy_queued_job(cache, r, err) != 0) {
        read_free(r);
        return -1;
    }
    return submit(cache, r, err);
}

int jobcache_owner_read(jobcache_t *cache, const char *jid, jobcache_owner_fn *fn, void *arg,
                        mc_err_t *err)
{
    read_t *r = read_new(READ_OWNER, run_owner, jid, arg);
    r->owned = fn;
    copy_queued_owner(cache, r);
    return submit(cache, r, err);
}

/* ---- answers, on the loop ------------------------------------------------ */

static int newest_first(const void *a, const void *b)
{
    return strcmp(((const mc_job_summary_t *)b)->jid, ((const mc_job_summary_t *)a)->jid);
}

/* The queued jobs the store did not list join the list, newest first, cut
   to the query's limit. */
static void finish_list(read_t *r)
{
    size_t stored = r->list.count;
    for (size_t i = 0; i < r->queued_jobs.count; i++) {
        mc_job_summary_t *q = &r->queued_jobs.jobs[i];
        bool listed = false;
        for (size_t s = 0; s < stored && !listed; s++)
            listed = strcmp(r->list.jobs[s].jid, q->jid) == 0;
        if (listed)
            continue;
        mc_job_summary_t *j = mc_reply_jobs_list_add(&r->list);
        *j = *q;
        q->tgt = NULL; /* the list owns it now */
    }
    if (r->list.count == stored)
        return;
    qsort(r->list.jobs, r->list.count, sizeof *r->list.jobs, newest_first);
    size_t limit = r->q.limit > 0 ? (size_t)r->q.limit : 50;
    while (r->list.count > limit)
        free(r->list.jobs[--r->list.count].tgt);
}

/* The store's job, or else the queued one, with the queued returns the
   store did not have, of the minions the job went to (the stores leave
   out any other; so must this). */
static int finish_show(read_t *r, int64_t **expires)
{
    if (r->rc != 0) {
        if (!r->has_queued_job)
            return -1;
        mc_reply_job_done(&r->job);
        mc_strs_free(&r->returns);
        r->job = r->queued_job;
        memset(&r->queued_job, 0, sizeof r->queued_job);
        r->expires_us = r->queued_expires_us;
        r->expires_rc = 0;
        r->rc = 0;
    }
    if (r->queued_returns.count) {
        zhashx_t *have = jobcache_return_ids(&r->returns);
        zhashx_t *sent_to = jobcache_sent_to(&r->job);
        for (size_t i = 0; i < r->queued_returns.count; i++) {
            const char *id = r->queued_ids.items[i];
            if (zhashx_lookup(sent_to, id) && !zhashx_lookup(have, id)) {
                zhashx_insert(have, id, (void *)1);
                mc_strs_add(&r->returns, r->queued_returns.items[i], r->queued_returns.lens[i]);
            }
        }
        zhashx_destroy(&sent_to);
        zhashx_destroy(&have);
    }
    *expires = r->want_expires && r->expires_rc == 0 ? &r->expires_us : NULL;
    return 0;
}

zhashx_t *jobcache_return_ids(const mc_strs_t *returns)
{
    zhashx_t *ids = zhashx_new();
    for (size_t i = 0; i < returns->count; i++) {
        mc_ret_t ret;
        mc_err_t err;
        if (mc_ret_decode(&ret, returns->items[i], returns->lens[i], &err) != 0)
            continue;
        zhashx_insert(ids, ret.id, (void *)1);
        mc_ret_done(&ret);
    }
    return ids;
}

zhashx_t *jobcache_sent_to(const mc_reply_job_t *job)
{
    zhashx_t *ids = zhashx_new();
    for (size_t i = 0; i < job->minions.count; i++)
        zhashx_insert(ids, job->minions.items[i], (void *)1);
    for (size_t i = 0; i < job->unsent.count; i++)
        zhashx_delete(ids, job->unsent.items[i]);
    return ids;
}

static void answer(read_t *r)
{
    static const mc_err_t stopping = {.msg = "the master is stopping"};
    if (r->kind == READ_LIST) {
        if (r->ran && r->rc == 0)
            finish_list(r);
        r->listed(r->arg, r->ran && r->rc == 0 ? &r->list : NULL, r->ran ? &r->err : &stopping);
        return;
    }
    if (r->kind == READ_OWNER) {
        if (r->ran && r->rc == 0)
            r->owned(r->arg, r->owner, NULL);
        else if (r->has_queued_job)
            r->owned(r->arg, r->queued_owner, NULL);
        else if (r->ran && r->rc > 0)
            r->owned(r->arg, NULL, NULL);
        else
            r->owned(r->arg, NULL, r->ran ? &r->err : &stopping);
        return;
    }
    int64_t *expires = NULL;
    if (!r->ran)
        r->shown(r->arg, NULL, NULL, NULL, &stopping);
    else if (finish_show(r, &expires) != 0)
        r->shown(r->arg, NULL, NULL, NULL, &r->err);
    else
        r->shown(r->arg, &r->job, &r->returns, expires, NULL);
}

static void answer_all(jobcache_read_t *done)
{
    while (done) {
        read_t *r = (read_t *)done;
        done = done->next;
        answer(r);
        read_free(r);
    }
}

void jobcache_reads_done(jobcache_t *cache)
{
    jobcache_reader_t *rd = *jobcache_reader_ref(cache);
    if (rd)
        answer_all(jobcache_reader_take(rd));
}

void jobcache_reads_stop(jobcache_t *cache, int timeout_ms)
{
    answer_all(jobcache_reader_stop(jobcache_reader_ref(cache), timeout_ms));
}
