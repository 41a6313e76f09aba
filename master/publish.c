/*  publish - jobs out to minions, and "stored" notices back to them.

    A job is signed once (Ed25519 over the job map), sealed to each target
    minion's current key with the signature inside, and published on that
    minion's topic of the XPUB. A minion that is not present, or that has
    pub_hwm jobs neither acknowledged nor returned, is not sent the job:
    the client hears why at once, in the reply that names the minions to
    expect, before any return can reach it. The master tells each minion
    which of its returns the job cache has committed, with its next job or
    within CONFIRM_DELAY_MS, so that it can drop them from its spool. */
#include "master.h"

#include <string.h>

#include "jid.h"
#include "target.h"

typedef struct {
    zlistx_t *jids;
    int64_t since_ms;
} confirm_t;

void publish_confirm_free(void **item)
{
    confirm_t *c = *item;
    if (c) {
        zlistx_destroy(&c->jids);
        free(c);
        *item = NULL;
    }
}

/* [topic][kind][payload] to a minion on the XPUB. Returns 0, or -1 with
   why it could not go in why. */
int publish_send_msg(master_t *self, minion_t *m, const char *kind, zmq_msg_t *payload, char *why,
                     size_t cap)
{
    if (!minions_present(self, m)) {
        snprintf(why, cap, NOT_CONNECTED);
        return -1;
    }
    char topic[MC_TOPIC_MAX];
    size_t topic_len = mc_topic(topic, m->id);
    void *s = zsock_resolve(self->pub);
    if (zmq_send(s, topic, topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        snprintf(why, cap, "send failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    /* Past the topic, the rest of the message always goes. */
    zmq_send(s, kind, strlen(kind), ZMQ_SNDMORE);
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, payload);
    if (zmq_msg_send(&copy, s, 0) < 0)
        zmq_msg_close(&copy);
    return 0;
}

static void free_data(void *data, void *hint)
{
    (void)hint;
    free(data);
}

int publish_send_to(master_t *self, minion_t *m, const char *kind, const void *data, size_t len,
                    char *why, size_t cap)
{
    zmq_msg_t msg;
    zmq_msg_init_size(&msg, len);
    memcpy(zmq_msg_data(&msg), data, len);
    int rc = publish_send_msg(self, m, kind, &msg, why, cap);
    zmq_msg_close(&msg);
    return rc;
}

void publish_msg_take(zmq_msg_t *msg, msgpack_sbuffer *sb)
{
    size_t len = sb->size;
    zmq_msg_init_data(msg, msgpack_sbuffer_release(sb), len, free_data, NULL);
}

/* Tell a minion which of its returns are stored, so it can drop them from
   its spool. */
static void send_stored(master_t *self, const char *id, zlistx_t *jids)
{
    minion_t *m = registry_find(self->registry, id);
    if (!m || zlistx_size(jids) == 0)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    size_t n = 0;
    const char **list = mc_calloc(zlistx_size(jids) + 1, sizeof *list);
    for (const char *jid = zlistx_first(jids); jid; jid = zlistx_next(jids))
        list[n++] = jid;
    mc_stored_pack(&sb, list, n);
    free(list);
    char why[128];
    /* Unconfirmed returns are sent again on the next connection, and
       confirmed then. */
    if (publish_send_to(self, m, MC_KIND_STORED, sb.data, sb.size, why, sizeof why) != 0)
        mc_log(strcmp(why, NOT_CONNECTED) == 0 ? MC_LOG_DEBUG : MC_LOG_WARNING,
               "cannot confirm stored returns to %s: %s (it will send them again)", id, why);
    msgpack_sbuffer_destroy(&sb);
}

/* Send the confirmations waiting since before `older` (all of them when
   older is INT64_MAX). */
void publish_confirm_due(master_t *self, int64_t older)
{
    zlistx_t *sent = zlistx_new();
    for (confirm_t *c = zhashx_first(self->confirm_later); c;
         c = zhashx_next(self->confirm_later)) {
        if (c->since_ms > older)
            continue;
        const char *id = zhashx_cursor(self->confirm_later);
        send_stored(self, id, c->jids);
        zlistx_add_end(sent, (void *)id);
    }
    for (const char *id = zlistx_first(sent); id; id = zlistx_next(sent))
        zhashx_delete(self->confirm_later, id);
    zlistx_destroy(&sent);
}

/* The confirmations for a minion about to get a job go just before it. */
static void confirm_now(master_t *self, const char *id)
{
    confirm_t *c = zhashx_lookup(self->confirm_later, id);
    if (c) {
        send_stored(self, id, c->jids);
        zhashx_delete(self->confirm_later, id);
    }
}

/* A return the job cache committed: confirmed to its minion with its next
   job, or within CONFIRM_DELAY_MS, or at once when CONFIRM_BATCH wait.
   Duplicates are confirmed too (they are stored, once). */
void publish_on_stored(void *arg, const char *jid, const char *id, bool unknown)
{
    master_t *self = arg;
    /* Left out because the job is not in the history (yet): not
       confirmed, so the minion sends it again, for as long as its job is
       young enough to be still on its way there. */
    if (unknown && mc_wall_us() - mc_jid_time_us(jid) < UNKNOWN_RETURN_RETRY_US) {
        mc_log_limited(&self->stale_log, MC_LOG_WARNING,
                       "return from %s for job %s: the job is not in the history yet; "
                       "not confirmed (the minion sends it again)",
                       id, jid);
        return;
    }
    confirm_t *c = zhashx_lookup(self->confirm_later, id);
    if (!c) {
        c = mc_calloc(1, sizeof *c);
        c->jids = zlistx_new();
        zlistx_set_destructor(c->jids, (zlistx_destructor_fn *)zstr_free);
        c->since_ms = mc_mono_ms();
        zhashx_insert(self->confirm_later, id, c);
    }
    zlistx_add_end(c->jids, mc_strdup(jid));
    if (zlistx_size(c->jids) >= CONFIRM_BATCH)
        confirm_now(self, id);
}

/* Send one signed job (see publish_request) to one minion, sealed to it in
   sealed (room for len + MC_SEAL_OVERHEAD bytes). Returns 0 when it is on
   its way, else -1 with why it was not sent in why. */
static int publish_to(master_t *self, minion_t *m, const unsigned char *signed_job, size_t len,
                      unsigned char *sealed, char *why, size_t cap)
{
    if (m->in_flight >= self->cfg->pub_hwm) {
        snprintf(why, cap, "%d earlier jobs are neither acknowledged nor returned (pub_hwm)",
                 m->in_flight);
        return -1;
    }
    confirm_now(self, m->id);
    mc_seal(m->seal, signed_job, len, sealed);
    int rc = publish_send_to(self, m, MC_KIND_JOB, sealed, len + MC_SEAL_OVERHEAD, why, cap);
    if (rc == 0)
        m->in_flight++;
    return rc;
}

/* A minion (re)subscribed: a job it was sent and has not acknowledged
   may have been lost with a connection that died silently (a host gone
   from the network, then back): send it again. A minion that did get it
   knows the jid and does not run it twice; one for which the job is now
   older than its job_max_age says so in an error return. */
typedef struct {
    master_t *self;
    minion_t *m;
    int sent;
} resend_t;

static void resend_one(job_t *job, void *arg)
{
    resend_t *rs = arg;
    if (!job->signed_job || !job_unacked(job, rs->m->id))
        return;
    unsigned char *sealed = mc_malloc(job->signed_len + MC_SEAL_OVERHEAD);
    mc_seal(rs->m->seal, job->signed_job, job->signed_len, sealed);
    char why[128];
    if (publish_send_to(rs->self, rs->m, MC_KIND_JOB, sealed, job->signed_len + MC_SEAL_OVERHEAD,
                        why, sizeof why) == 0) {
        mc_info("job %s: sent again to %s, which reconnected without acknowledging it", job->jid,
                rs->m->id);
        rs->sent++;
    } else {
        mc_warn("job %s: could not send it again to %s: %s", job->jid, rs->m->id, why);
    }
    free(sealed);
}

void publish_resend(master_t *self, minion_t *m)
{
    /* At most once a second: subscribing again and again does not make
       the master send a minion's jobs again and again. */
    int64_t now = mc_mono_ms();
    if (m->in_flight == 0 || (m->resent_ms && now - m->resent_ms < 1000))
        return;
    resend_t rs = {self, m, 0};
    jobs_each(self->jobs, resend_one, &rs);
    /* Limited only once something went: a try that found it not there
       (its hello still to come) does not hold back the next. */
    if (rs.sent)
        m->resent_ms = now;
}

/* A minion acknowledged or returned a job, or the job expired without
   either: it is no longer in flight to that minion. */
void publish_settle(const char *id, void *arg)
{
    master_t *self = arg;
    minion_t *m = registry_find(self->registry, id);
    if (m && m->in_flight > 0)
        m->in_flight--;
}

/* Whether the caller may run fun with these arguments on every minion r
   reaches; when not, the client has been told why (or will be: a jobs.kill
   that waits for its job's user from the history runs again then). */
bool publish_allowed(master_t *self, zframe_t *route, const caller_t *who, const resolved_t *r,
                     const char **ids, const char *fun, const msgpack_object *arg,
                     const msgpack_object *kwarg)
{
    if (who->all)
        return true;
    /* publisher_acl: the function and its arguments on every minion the
       target reaches (checked on the minions, not on the expression, as
       Salt does). */
    const msgpack_object **grains = mc_calloc(r->count + 1, sizeof *grains);
    for (size_t i = 0; i < r->count; i++)
        grains[i] = r->matched[i]->has_grains ? r->matched[i]->grains.grains : NULL;
    acl_caller_t caller = {who->user, (const char *const *)who->groups, who->ngroups};
    acl_minions_t minions = {ids, grains, r->count};
    char why[512];
    /* @deploy: test.ping, to see the minions it installs answer. */
    bool deploy_ping = (who->rights & ACL_RIGHT_DEPLOY) && strcmp(fun, "test.ping") == 0 &&
                       (!arg || arg->via.array.size == 0) && (!kwarg || kwarg->via.map.size == 0) &&
                       !acl_fun_blacklisted(self->acl, fun);
    bool allowed =
        deploy_ping || acl_allows(self->acl, &caller, fun, arg, kwarg, &minions, why, sizeof why);
    free(grains);
    /* jobs.kill: only one's own jobs (unless @jobs), whatever the rules
       allow. */
    if (allowed && strcmp(fun, "jobs.kill") == 0 && !(who->rights & ACL_RIGHT_JOBS)) {
        const msgpack_object *which = arg && arg->via.array.size ? arg->via.array.ptr : NULL;
        char owner[MC_USER_MAX + 1] = "", jid_arg[MC_JID_LEN + 1] = "";
        if (which && which->type == MSGPACK_OBJECT_STR && which->via.str.size == MC_JID_LEN)
            memcpy(jid_arg, which->via.str.ptr, MC_JID_LEN);
        /* Its user: from the job in flight here; else (a job of another
           master, or one done) from the history, read off the loop: the
           request waits for it and runs again with the answer. */
        const job_t *job = jobs_find(self->jobs, jid_arg);
        bool valid = mc_jid_valid(jid_arg, strlen(jid_arg));
        bool none = false;
        if (job) {
            snprintf(owner, sizeof owner, "%s", job->user);
        } else if (valid && self->kill_owner.jid && strcmp(self->kill_owner.jid, jid_arg) == 0) {
            if (!self->kill_owner.user && self->kill_owner.why) {
                clients_reply_error(self, route, "cannot tell whose job %s is: %s; not killed",
                                    jid_arg, self->kill_owner.why);
                return false;
            }
            snprintf(owner, sizeof owner, "%s", self->kill_owner.user ? self->kill_owner.user : "");
            none = !self->kill_owner.user;
        } else if (valid) {
            history_kill_owner(self, route, jid_arg);
            return false;
        }
        if (!valid || strcmp(owner, who->user)) {
            snprintf(why, sizeof why, "user %s may kill only its own jobs%s%s", who->user,
                     none ? ": there is no job " : "", none ? jid_arg : "");
            allowed = false;
        }
    }
    if (!allowed)
        clients_reply_denied(self, route, "%s", why);
    return allowed;
}

/* A publish request: sign the job once, seal and send it to each target
   minion that can take it now, record it, and answer with the jid, the
   minions to expect and why any of them was not sent the job. */
void publish_request(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    const mc_req_publish_t *p = &req->publish;
    if (!clients_fun_name_valid(p->fun)) {
        clients_reply_error(self, route, "'%s' is not a function name (expected module.function)",
                            p->fun);
        return;
    }
    /* A copy's job carries a manifest and a key the master makes: only
       cp_start publishes one (mctl cp). */
    if (strcmp(p->fun, "cp.recv") == 0) {
        clients_reply_error(self, route, "cp.recv is run by mctl cp, not published on its own");
        return;
    }
    resolved_t r;
    if (clients_resolve_target(self, route, &p->target, &r) != 0)
        return;
    const char **ids = clients_resolved_ids(&r);
    if (publish_allowed(self, route, who, &r, ids, p->fun, p->arg, p->kwarg)) {
        publish_job_t pj = {.fun = p->fun,
                            .arg = p->arg,
                            .kwarg = p->kwarg,
                            .rec_arg = p->arg,
                            .rec_kwarg = p->kwarg,
                            .timeout = p->timeout};
        publish_send(self, route, who, &r, ids, &pj);
    }
    free(ids);
    clients_resolved_done(&r);
}

job_t *publish_send(master_t *self, zframe_t *route, const caller_t *who, const resolved_t *r,
                    const char **ids, const publish_job_t *pj)
{
    const char *fun = pj->fun;
    int64_t timeout = pj->timeout;
    job_t *job = NULL;
    char jid[MC_JID_LEN + 1] = "";
    if (r->count == 0) {
        self->outcome.decision = "error";
        snprintf(self->outcome.reason, sizeof self->outcome.reason, "no minion matched the target");
    }
    char **unsent_why = mc_calloc(r->count + 1, sizeof *unsent_why); /* NULL: sent */
    size_t unsent = 0, down = 0;
    if (r->count > 0) {
        mc_jid_next(jid, mc_wall_us(), &self->last_jid_us, self->jid_index);
        memcpy(self->outcome.jid, jid, sizeof jid);
        job = jobs_add(self->jobs, jid, fun, ids, r->count,
                       mc_mono_ms() + timeout * 1000 + LATE_RETURN_GRACE_MS);
        job_add_waiter(job, route);
        job->copy = pj->copy;
        snprintf(job->user, sizeof job->user, "%s", who->user);

        msgpack_sbuffer job_sb;
        msgpack_sbuffer_init(&job_sb);
        mc_job_spec_t spec = {.jid = jid,
                              .tgt_type = r->tgt_type,
                              .tgt = r->tgt,
                              .fun = fun,
                              .user = who->user,
                              .ts = mc_wall_us() / 1000000,
                              .timeout = timeout,
                              .delimiter = r->delimiter,
                              .arg = pj->arg,
                              .kwarg = pj->kwarg};
        mc_job_pack(&job_sb, &spec);
        /* Signed once, sealed to each minion: [signature][job] inside the
           seal, so nobody but the target sees either. */
        size_t signed_len = crypto_sign_BYTES + job_sb.size;
        unsigned char *signed_job = mc_malloc(signed_len);
        unsigned char *sealed = mc_malloc(signed_len + MC_SEAL_OVERHEAD);
        crypto_sign_detached(signed_job, NULL, (const unsigned char *)job_sb.data, job_sb.size,
                             self->sign.sec);
        memcpy(signed_job + crypto_sign_BYTES, job_sb.data, job_sb.size);
        for (size_t i = 0; i < r->count; i++) {
            char why[128];
            if (publish_to(self, r->matched[i], signed_job, signed_len, sealed, why, sizeof why) ==
                0)
                continue;
            /* A minion that is down is an everyday thing in a fleet; the
               client lists it, and the log only counts it. */
            if (strcmp(why, NOT_CONNECTED) == 0)
                down++;
            else
                mc_error("job %s: not sent to %s: %s", jid, r->matched[i]->id, why);
            unsent_why[i] = mc_strdup(why);
            unsent++;
            /* Nothing will come from it for this job. */
            job_advance(job, r->matched[i]->id, MINION_RETURNED, NULL);
        }
        /* Kept while the job is in flight, for minions that reconnect
           before acknowledging it (publish_resend); not a copy's, whose
           chunks have gone by then. */
        if (!job->copy) {
            job->signed_job = signed_job;
            job->signed_len = signed_len;
        } else {
            sodium_memzero(signed_job, signed_len);
            free(signed_job);
        }
        sodium_memzero(sealed, signed_len + MC_SEAL_OVERHEAD);
        free(sealed);
        sodium_memzero(job_sb.data, job_sb.size);
        msgpack_sbuffer_destroy(&job_sb);
        /* Queued in this turn, before any return can come. */
        int64_t now_us = mc_wall_us();
        jobcache_add_job(self->cache, jid, fun, r->tgt, r->tgt_type, who->user, now_us,
                         job->copy ? 0 : now_us + timeout * 1000000, pj->rec_arg, pj->rec_kwarg,
                         ids, (const char *const *)unsent_why, r->count);
        events_job(self, jid, fun, who->user, r->tgt, r->tgt_type, r->count);
        char down_note[48] = "";
        if (down)
            snprintf(down_note, sizeof down_note, "; %zu not connected", down);
        mc_info("job %s: %s by %s to %zu minion%s (%s %s)%s", jid, fun, who->user,
                r->count - unsent, r->count - unsent == 1 ? "" : "s", r->tgt_type, r->tgt,
                down_note);
        if (job_complete(job)) {
            jobs_remove(self->jobs, jid);
            job = NULL;
        }
    } else {
        job_copy_free(pj->copy);
    }

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_publish_spec_t answer = {.jid = jid,
                                      .minions = ids,
                                      .count = r->count,
                                      .unsent_why =
                                          unsent ? (const char *const *)unsent_why : NULL};
    mc_reply_publish_pack(&sb, &answer);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    for (size_t i = 0; i < r->count; i++)
        free(unsent_why[i]);
    free(unsent_why);
    return job;
}
