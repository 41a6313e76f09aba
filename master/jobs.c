/*  jobs - see jobs.h. */
#include "jobs.h"

#include <sodium.h>
#include <string.h>

struct _jobs_t {
    zhashx_t *by_jid; /* jid -> job_t (owned) */
};

void job_copy_free(job_copy_t *copy)
{
    if (!copy)
        return;
    sodium_memzero(copy->key, sizeof copy->key);
    zframe_destroy(&copy->owner);
    zhashx_destroy(&copy->dropped);
    zhashx_destroy(&copy->acked);
    free(copy);
}

static void job_free(void **item)
{
    job_t *job = *item;
    if (!job)
        return;
    job_copy_free(job->copy);
    zhashx_destroy(&job->progress);
    zlistx_destroy(&job->waiters);
    free(job->signed_job);
    free(job);
    *item = NULL;
}

static void frame_free(void **item)
{
    zframe_destroy((zframe_t **)item);
}

static int frame_cmp(const void *a, const void *b)
{
    return zframe_eq((zframe_t *)a, (zframe_t *)b) ? 0 : 1;
}

jobs_t *jobs_new(void)
{
    jobs_t *self = mc_calloc(1, sizeof *self);
    self->by_jid = zhashx_new();
    zhashx_set_destructor(self->by_jid, job_free);
    return self;
}

void jobs_destroy(jobs_t **pself)
{
    if (!*pself)
        return;
    zhashx_destroy(&(*pself)->by_jid);
    free(*pself);
    *pself = NULL;
}

job_t *jobs_add(jobs_t *self, const char *jid, const char *fun, const char *const *ids, size_t n,
                int64_t expires_ms)
{
    job_t *job = mc_calloc(1, sizeof *job);
    snprintf(job->jid, sizeof job->jid, "%s", jid);
    snprintf(job->fun, sizeof job->fun, "%s", fun);
    job->progress = zhashx_new();
    for (size_t i = 0; i < n; i++)
        zhashx_insert(job->progress, ids[i], (void *)(intptr_t)(MINION_SENT + 1));
    job->waiters = zlistx_new();
    zlistx_set_destructor(job->waiters, frame_free);
    zlistx_set_comparator(job->waiters, frame_cmp);
    job->expires_ms = expires_ms;
    zhashx_insert(self->by_jid, jid, job);
    return job;
}

job_t *jobs_find(jobs_t *self, const char *jid)
{
    return zhashx_lookup(self->by_jid, jid);
}

size_t jobs_count(jobs_t *self)
{
    return zhashx_size(self->by_jid);
}

void jobs_remove(jobs_t *self, const char *jid)
{
    zhashx_delete(self->by_jid, jid);
}

void jobs_expire(jobs_t *self, int64_t now_ms, void (*unsettled)(const char *id, void *arg),
                 void *arg)
{
    zlistx_t *dead = zlistx_new();
    for (job_t *job = zhashx_first(self->by_jid); job; job = zhashx_next(self->by_jid)) {
        if (job->expires_ms > now_ms)
            continue;
        zlistx_add_end(dead, job->jid);
        for (void *p = zhashx_first(job->progress); p && unsettled; p = zhashx_next(job->progress))
            if ((intptr_t)p - 1 == MINION_SENT)
                unsettled(zhashx_cursor(job->progress), arg);
    }
    for (char *jid = zlistx_first(dead); jid; jid = zlistx_next(dead))
        zhashx_delete(self->by_jid, jid);
    zlistx_destroy(&dead);
}

void jobs_each(jobs_t *self, void (*fn)(job_t *job, void *arg), void *arg)
{
    for (job_t *job = zhashx_first(self->by_jid); job; job = zhashx_next(self->by_jid))
        fn(job, arg);
}

bool job_unacked(const job_t *job, const char *id)
{
    intptr_t v = (intptr_t)zhashx_lookup(job->progress, id);
    return v == MINION_SENT + 1;
}

void job_add_waiter(job_t *job, zframe_t *route)
{
    if (!zlistx_find(job->waiters, route))
        zlistx_add_end(job->waiters, zframe_dup(route));
}

void job_remove_waiter(job_t *job, zframe_t *route)
{
    void *handle = zlistx_find(job->waiters, route);
    if (handle)
        zlistx_delete(job->waiters, handle);
}

/* Progress is stored +1 so that a present key is never a NULL item. */
bool job_advance(job_t *job, const char *id, minion_progress_t to, minion_progress_t *from)
{
    intptr_t cur = (intptr_t)zhashx_lookup(job->progress, id);
    if (cur == 0 || cur - 1 >= (intptr_t)to)
        return false;
    if (from)
        *from = (minion_progress_t)(cur - 1);
    zhashx_update(job->progress, id, (void *)(intptr_t)(to + 1));
    if (to == MINION_RETURNED)
        job->returned++;
    return true;
}

bool job_complete(const job_t *job)
{
    return job->returned == zhashx_size(job->progress);
}
