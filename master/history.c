/*  history - the client requests that read the job history: jobs list,
    show and wait. Each is a read the job cache's reader thread runs
    (jobcache_read.c), off the loop; its answer comes back on the loop,
    where the client is answered and the request's audit line written (a
    refusal depends on the job's user, which only the read says). A jobs
    wait on a job in flight here makes the client one of its waiters when
    the answer is back; the returns that came while the read was out are
    added to it first, so none falls between. One on a job held by no
    master here is followed in the history (follow.c).

    A jobs.kill by a user without @jobs, of a job not in flight here,
    needs its job's user from the history too: the request is kept as it
    came and runs again, with the answer, when it is back. */
#include "master.h"

#include <inttypes.h>
#include <string.h>

/* Reads of one user out at once: the reader runs them one at a time, and
   one user must not fill its queue (jobcache_read.c's 256) for all. */
#define READS_PER_USER 32

/* A client's read of the history, out with the job cache's reader thread
   (jobcache_read.c) until its answer comes back on the loop. Its audit
   line is written then, with what became of it (a refusal depends on the
   job's user, which only the read says). */
typedef struct {
    master_t *self;
    zframe_t *route;
    void *handle; /* in self->history_reads */
    mc_req_kind_t kind;
    char user[MC_USER_MAX + 1], via[MC_USER_MAX + 1];
    unsigned long uid;
    bool every; /* may see every user's jobs (ACL_RIGHT_JOBS) */
    char jid[MC_JID_LEN + 1];
    char *target, *fun, *filter_user; /* a jobs list's, for its audit line */
    int64_t asked_us;      /* when it was asked for (wall clock): its audit line's time */
    mc_strs_t arrived;     /* jobs wait: returns for jid that came meanwhile */
    zhashx_t *arrived_ids; /* whose (a minion sends a return again until stored) */
    size_t arrived_bytes;  /* held (jobcache_reads_take) */
    bool overflow;         /* more came than could be held */
    /* A jobs.kill that waits for its job's user: the request as it came. */
    char *raw;
    size_t raw_len; /* held (jobcache_reads_take) */
    bool nested;
    caller_t caller;
} history_read_t;

/* Whether who may ask for one more read (else the client is told). */
static bool history_room(master_t *self, zframe_t *route, const caller_t *who)
{
    size_t mine = 0;
    if (self->history_reads)
        for (history_read_t *h = zlistx_first(self->history_reads); h;
             h = zlistx_next(self->history_reads))
            mine += strcmp(h->user, who->user) == 0;
    if (mine < READS_PER_USER)
        return true;
    clients_reply_error(self, route,
                        "user %s has %d reads of the job history out (is the store slow?); try "
                        "again",
                        who->user, READS_PER_USER);
    return false;
}

static history_read_t *history_read_new(master_t *self, zframe_t *route, mc_req_kind_t kind,
                                        const caller_t *who)
{
    history_read_t *h = mc_calloc(1, sizeof *h);
    h->self = self;
    h->route = zframe_dup(route);
    h->kind = kind;
    snprintf(h->user, sizeof h->user, "%s", who->user);
    snprintf(h->via, sizeof h->via, "%s", who->via);
    h->uid = who->uid;
    h->every = who->rights & ACL_RIGHT_JOBS;
    h->asked_us = mc_wall_us();
    h->arrived_ids = zhashx_new();
    if (!self->history_reads)
        self->history_reads = zlistx_new();
    h->handle = zlistx_add_end(self->history_reads, h);
    self->outcome.deferred = true; /* history_read_end writes the line */
    return h;
}

static void history_read_free(history_read_t *h)
{
    master_t *self = h->self;
    zlistx_delete(self->history_reads, h->handle);
    zframe_destroy(&h->route);
    free(h->target);
    free(h->fun);
    free(h->filter_user);
    if (self->cache)
        jobcache_reads_release(self->cache, h->arrived_bytes + h->raw_len);
    mc_strs_free(&h->arrived);
    zhashx_destroy(&h->arrived_ids);
    if (h->raw) {
        clients_caller_done(&h->caller);
        free(h->raw);
    }
    free(h);
}

/* The read's audit line, with the outcome of its answer, and its end. */
static void history_read_end(history_read_t *h)
{
    master_t *self = h->self;
    if (self->audit) {
        char *filter_user[1] = {h->filter_user};
        audit_rec_t rec = {.time_us = h->asked_us,
                           .uid = h->uid,
                           .user = h->user,
                           .via = h->via[0] ? h->via : NULL,
                           .request = mc_request_name(h->kind),
                           .decision = self->outcome.decision,
                           .reason = self->outcome.reason,
                           .jid = h->jid[0] ? h->jid : NULL,
                           .target = h->target,
                           .function = h->fun,
                           .arg_strs = h->filter_user ? filter_user : NULL,
                           .narg_strs = h->filter_user ? 1 : 0};
        audit_write(self->audit, &rec);
    }
    /* Written: not request_body's to write (when the read could not even
       be asked for, in the same turn). */
    self->outcome.deferred = true;
    history_read_free(h);
}

/* A jobs.kill that waited for its job's user runs again with the answer
   (publish_allowed reads it: user; or NULL, and why it could not say, or
   no why when there is no such job), and writes its own audit line. An
   answer that came too late (KILL_OWNER_WAIT_MS) is taken as none. */
static void kill_again(history_read_t *h, const char *user, const char *why)
{
    master_t *self = h->self;
    char late[160];
    int64_t waited_ms = (mc_wall_us() - h->asked_us) / 1000;
    if (waited_ms > KILL_OWNER_WAIT_MS) {
        snprintf(late, sizeof late,
                 "the job history took %" PRId64
                 " ms to answer, more than the %d s a kill may wait",
                 waited_ms, KILL_OWNER_WAIT_MS / 1000);
        user = NULL;
        why = late;
    }
    self->kill_owner.jid = h->jid;
    self->kill_owner.user = user;
    self->kill_owner.why = why;
    clients_request_again(self, h->route, h->raw, h->raw_len, &h->caller, h->nested, h->asked_us);
    memset(&self->kill_owner, 0, sizeof self->kill_owner);
    history_read_free(h);
}

static void owned(void *arg, const char *user, const mc_err_t *err)
{
    history_read_t *h = arg;
    kill_again(h, user, user || !err ? NULL : err->msg);
}

void history_kill_owner(master_t *self, zframe_t *route, const char *jid)
{
    const caller_t *who = self->request.who;
    if (!history_room(self, route, who))
        return;
    /* The kept request counts with the copies the reads out hold. */
    if (!jobcache_reads_take(self->cache, self->request.len)) {
        clients_reply_error(self, route,
                            "the job history's reads hold too much now (is the store slow?); "
                            "try again");
        return;
    }
    history_read_t *h = history_read_new(self, route, MC_REQ_PUBLISH, who);
    snprintf(h->jid, sizeof h->jid, "%s", jid);
    h->raw = mc_malloc(self->request.len ? self->request.len : 1);
    memcpy(h->raw, self->request.data, self->request.len);
    h->raw_len = self->request.len;
    h->nested = self->request.nested;
    clients_caller_copy(&h->caller, who);
    mc_err_t err;
    if (jobcache_owner_read(self->cache, jid, owned, h, &err) != 0) {
        /* Told at once: the request's line is written as any other's. */
        self->outcome.deferred = false;
        clients_reply_error(self, route, "%s", err.msg);
        history_read_free(h);
    }
}

/* The outcome of an answer starts as for a request of its own. */
static void history_outcome_reset(master_t *self)
{
    memset(&self->outcome, 0, sizeof self->outcome);
    self->outcome.decision = "allowed";
}

void history_arrived(master_t *self, const char *jid, const char *id, const void *raw, size_t len)
{
    if (!self->history_reads)
        return;
    for (history_read_t *h = zlistx_first(self->history_reads); h;
         h = zlistx_next(self->history_reads))
        if (h->kind == MC_REQ_JOBS_WAIT && strcmp(h->jid, jid) == 0 &&
            !zhashx_lookup(h->arrived_ids, id)) {
            if (!jobcache_reads_take(self->cache, len)) {
                h->overflow = true;
                continue;
            }
            h->arrived_bytes += len;
            zhashx_insert(h->arrived_ids, id, (void *)1);
            mc_strs_add(&h->arrived, raw, len);
        }
}

void history_stop(master_t *self)
{
    if (self->cache)
        jobcache_reads_stop(self->cache, JOBCACHE_SYNC_MS);
    /* A read the store still holds: its client is told, its line written. */
    for (history_read_t *h = self->history_reads ? zlistx_first(self->history_reads) : NULL; h;
         h = self->history_reads ? zlistx_first(self->history_reads) : NULL) {
        if (h->raw) {
            kill_again(h, NULL, "the master stopped before the job history answered");
            continue;
        }
        history_outcome_reset(self);
        clients_reply_error(self, h->route, "the master stopped before the job history answered");
        history_read_end(h);
    }
    zlistx_destroy(&self->history_reads);
}

static void listed(void *arg, mc_reply_jobs_list_t *list, const mc_err_t *err)
{
    history_read_t *h = arg;
    master_t *self = h->self;
    history_outcome_reset(self);
    if (!list) {
        clients_reply_error(self, h->route, "%s", err->msg);
    } else {
        list->behind = jobcache_behind(self->cache);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_reply_jobs_list_pack(&sb, list);
        clients_reply(self, h->route, &sb);
        msgpack_sbuffer_destroy(&sb);
    }
    history_read_end(h);
}

void history_list(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    const mc_req_jobs_list_t *q = &req->jobs_list;
    mc_err_t err;
    bool every = who->rights & ACL_RIGHT_JOBS;
    if (!every && q->user[0] && strcmp(q->user, who->user) != 0) {
        clients_reply_denied(self, route, "user %s may not list the jobs of %s", who->user,
                             q->user);
        return;
    }
    jobcache_query_t query = {.limit = (int)q->limit,
                              .fun = q->fun[0] ? q->fun : NULL,
                              .target = q->target[0] ? q->target : NULL,
                              .since_us = q->since_us,
                              .before = q->before[0] ? q->before : NULL,
                              /* Users of the ACL see their own jobs. */
                              .user = !every       ? who->user
                                      : q->user[0] ? q->user
                                                   : NULL};
    if (!history_room(self, route, who))
        return;
    history_read_t *h = history_read_new(self, route, MC_REQ_JOBS_LIST, who);
    h->target = q->target[0] ? mc_strdup(q->target) : NULL;
    h->fun = q->fun[0] ? mc_strdup(q->fun) : NULL;
    h->filter_user = q->user[0] ? mc_strdup(q->user) : NULL;
    if (jobcache_list_read(self->cache, &query, listed, h, &err) != 0) {
        history_outcome_reset(self);
        clients_reply_error(self, route, "%s", err.msg);
        history_read_end(h);
    }
}

/* The returns that came while the read was out, from minions the job
   went to, and that it did not have join them. */
static void add_arrived(const mc_reply_job_t *job, mc_strs_t *returns, const mc_strs_t *arrived)
{
    if (!arrived->count)
        return;
    zhashx_t *have = jobcache_return_ids(returns);
    zhashx_t *sent_to = jobcache_sent_to(job);
    for (size_t i = 0; i < arrived->count; i++) {
        mc_ret_t ret;
        mc_err_t err;
        if (mc_ret_decode(&ret, arrived->items[i], arrived->lens[i], &err) != 0)
            continue;
        if (zhashx_lookup(sent_to, ret.id) && !zhashx_lookup(have, ret.id)) {
            zhashx_insert(have, ret.id, (void *)1);
            mc_strs_add(returns, arrived->items[i], arrived->lens[i]);
        }
        mc_ret_done(&ret);
    }
    zhashx_destroy(&sent_to);
    zhashx_destroy(&have);
}

/* jobs show, and jobs wait: the job as stored (or queued) and its returns
   so far; for wait, the rest as it comes while the job is in flight here
   (the client becomes one of its waiters), or from the history when it is
   not (a follower). No return falls between: those that came while the
   read was out are added to it, and the client is a waiter from this turn
   of the loop on. */
static void history_shown(history_read_t *h, mc_reply_job_t *stored, mc_strs_t *returns,
                          const int64_t *expires_us)
{
    master_t *self = h->self;
    const char *jid = h->jid;
    bool wait = h->kind == MC_REQ_JOBS_WAIT;
    if (!h->every && strcmp(stored->user, h->user) != 0) {
        clients_reply_denied(self, h->route, "user %s may not see job %s: it is another user's",
                             h->user, jid);
        return;
    }
    if (wait)
        add_arrived(stored, returns, &h->arrived);
    stored->stored = (int64_t)returns->count;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    bool follow = false;
    size_t expected = stored->minions.count - stored->unsent.count;
    if (wait) {
        job_t *job = jobs_find(self->jobs, jid);
        if (job) {
            stored->remaining_ms = job->expires_ms - LATE_RETURN_GRACE_MS - mc_mono_ms();
            job_add_waiter(job, h->route);
        } else if (returns->count < expected && expires_us && *expires_us > mc_wall_us()) {
            /* Published by another master, or before a restart: the
               rest comes from the history. */
            if (follow_full(self, h->user)) {
                clients_reply_error(self, h->route,
                                    "too many clients (or too many of user %s) wait on jobs "
                                    "of other masters; try again",
                                    h->user);
                msgpack_sbuffer_destroy(&sb);
                return;
            }
            stored->remaining_ms = (*expires_us - mc_wall_us()) / 1000;
            follow = true;
        }
        mc_reply_jobs_wait_pack(&sb, stored);
    } else {
        mc_reply_jobs_show_pack(&sb, stored);
    }
    clients_reply(self, h->route, &sb);
    msgpack_sbuffer_destroy(&sb);
    /* Then each return on its own, before any still to come. */
    bool gone = false;
    for (size_t i = 0; i < returns->count && !gone; i++)
        gone =
            clients_send(self, h->route, MC_KIND_RETURN, returns->items[i], returns->lens[i]) != 0;
    if (follow && !gone) {
        zhashx_t *had = jobcache_return_ids(returns);
        follow_start(self, h->route, h->user, jid, mc_mono_ms() + stored->remaining_ms, expected,
                     &had);
        zhashx_destroy(&had);
    }
}

static void shown(void *arg, mc_reply_job_t *job, mc_strs_t *returns, const int64_t *expires_us,
                  const mc_err_t *err)
{
    history_read_t *h = arg;
    history_outcome_reset(h->self);
    if (!job)
        clients_reply_error(h->self, h->route, "%s", err->msg);
    else if (h->overflow)
        clients_reply_error(h->self, h->route,
                            "job %s: more returns came while the history was read than the "
                            "master holds for its readers (64 MiB); run jobs wait again",
                            h->jid);
    else
        history_shown(h, job, returns, expires_us);
    history_read_end(h);
}

static void handle_job_history(master_t *self, zframe_t *route, const mc_request_t *req,
                               const caller_t *who, bool wait)
{
    mc_err_t err;
    /* Another user's job in flight here is refused at once, before any
       read (or copy of its queued returns) is made for it. */
    job_t *job = jobs_find(self->jobs, req->job.jid);
    if (job && !(who->rights & ACL_RIGHT_JOBS) && strcmp(job->user, who->user) != 0) {
        clients_reply_denied(self, route, "user %s may not see job %s: it is another user's",
                             who->user, req->job.jid);
        return;
    }
    if (!history_room(self, route, who))
        return;
    history_read_t *h =
        history_read_new(self, route, wait ? MC_REQ_JOBS_WAIT : MC_REQ_JOBS_SHOW, who);
    snprintf(h->jid, sizeof h->jid, "%s", req->job.jid);
    if (jobcache_show_read(self->cache, h->jid, wait, shown, h, &err) != 0) {
        history_outcome_reset(self);
        clients_reply_error(self, route, "%s", err.msg);
        history_read_end(h);
    }
}

void history_show(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    handle_job_history(self, route, req, who, false);
}

void history_wait(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    handle_job_history(self, route, req, who, true);
}
