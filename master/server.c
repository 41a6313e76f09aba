/*  server - the master's sockets and its one event loop.

    Design. The master is one thread around one zmq_poll. Everything it
    owns (registry, jobs in flight, sockets) is touched only from here, so
    there are no locks. The sockets:

      zap     REP     inproc ZAP handler: admits CURVE clients (see zap.h)
      reg     ROUTER  tcp auth_port: minions present their key, wait for
                      acceptance, and learn the master's signing key
      chan    ROUTER  tcp ret_port: one connection per minion. In: returns,
                      acks, heartbeats and grains; each message's ZMQ
                      User-Id names the minion whose key sent it, the master
                      refuses messages whose claimed id is another, and the
                      message's routing id is where that minion is reached
                      from then on. Out: jobs, each signed once and sealed
                      to its minion, and "stored" notices. A minion has at most
                      pub_hwm jobs sent and not yet acknowledged or
                      returned; past that, or when it is not connected or
                      its queue is full, a job is not sent to it and the
                      client is told so. Nothing is dropped unsaid
      client  ROUTER  ipc SOCK_DIR/master.ipc, mode 0600: the mctl command
                      line; requests are msgpack maps {v, cmd, ...}, answers
                      are [kind][msgpack] with kind "reply", "ack" or "ret"

    Handlers are named for what they handle: on_register, on_minion_message,
    on_client_request. A publish answers the client (jid, the minions to
    expect, and any it could not send to) in the same turn of the loop as it
    publishes, so a client always knows whom to wait for before the first
    return can reach it. */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jid.h"
#include "jobcache.h"
#include "jobs.h"
#include "log.h"
#include "registry.h"
#include "target.h"
#include "zap.h"

/* Returns that come after the job's time limit still reach waiting clients
   for this long. */
#define LATE_RETURN_GRACE_MS 30000

/* Room in a minion's queue above pub_hwm, for "stored" notices. */
#define PUB_HWM_MARGIN 1000

/* Why a minion did not get a job when it has no connection to the master. */
#define NOT_CONNECTED "not connected"

/* A minion hears that its returns are stored with its next job, or after
   this long (well inside the minion's resend interval), or once this many
   are waiting: a notice of its own wakes every minion once more per job. */
#define CONFIRM_DELAY_MS 1000
#define CONFIRM_BATCH    500

typedef struct server {
    mc_master_config_t *cfg;
    mc_curve_keys_t curve;
    mc_sign_keys_t sign;
    registry_t *registry;
    jobs_t *jobs;
    jobcache_t *cache;
    zhashx_t *to_confirm;    /* minion id -> zlistx of jids received this turn */
    zhashx_t *confirm_later; /* minion id -> confirm_t: stored, not yet told */
    int64_t next_prune_ms;
    zhashx_t *nodegroups; /* name -> compound expression */
    zsock_t *zap, *reg, *chan, *client;
    int sigfd;
    int64_t last_jid_us;
    char *ipc_path;
    bool stop;
} master_t;

/* ---- replies to clients ------------------------------------------------ */

static int send_to_client(master_t *self, zframe_t *route, const char *kind, const void *data,
                          size_t len)
{
    void *s = zsock_resolve(self->client);
    if (zmq_send(s, zframe_data(route), zframe_size(route), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1; /* EHOSTUNREACH: the client has gone */
    zmq_send(s, kind, strlen(kind), ZMQ_SNDMORE);
    return zmq_send(s, data, len, 0) < 0 ? -1 : 0;
}

static void reply_sbuf(master_t *self, zframe_t *route, msgpack_sbuffer *sb)
{
    send_to_client(self, route, "reply", sb->data, sb->size);
}

static void reply_error(master_t *self, zframe_t *route, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_error(master_t *self, zframe_t *route, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    mc_pk_kv_int(&pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_bool(&pk, "ok", false);
    mc_pk_kv_str(&pk, "error", msg);
    reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static void pack_reply_header(msgpack_packer *pk, size_t extra)
{
    msgpack_pack_map(pk, 2 + extra);
    mc_pk_kv_int(pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_bool(pk, "ok", true);
}

/* Stream one minion message to every client waiting on the job. */
static void notify_waiters(master_t *self, job_t *job, const char *kind, zframe_t *payload)
{
    zlistx_t *gone = NULL;
    for (zframe_t *route = zlistx_first(job->waiters); route; route = zlistx_next(job->waiters)) {
        if (send_to_client(self, route, kind, zframe_data(payload), zframe_size(payload)) != 0) {
            if (!gone)
                gone = zlistx_new();
            zlistx_add_end(gone, route);
        }
    }
    for (zframe_t *route = gone ? zlistx_first(gone) : NULL; route; route = zlistx_next(gone))
        job_remove_waiter(job, route);
    zlistx_destroy(&gone);
}

/* ---- publishing --------------------------------------------------------- */

typedef struct {
    zlistx_t *jids;
    int64_t since_ms;
} confirm_t;

static void confirm_destroy(confirm_t **pself)
{
    if (*pself) {
        zlistx_destroy(&(*pself)->jids);
        free(*pself);
        *pself = NULL;
    }
}

/* [kind][payload] to a minion over its connection. Returns 0, or -1 with
   why it could not go in why. */
static int send_to_minion(master_t *self, minion_t *m, const char *kind, const void *data,
                          size_t len, char *why, size_t cap)
{
    if (!m->chan) {
        snprintf(why, cap, NOT_CONNECTED);
        return -1;
    }
    void *s = zsock_resolve(self->chan);
    if (zmq_send(s, zframe_data(m->chan), zframe_size(m->chan), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() == EHOSTUNREACH) {
            snprintf(why, cap, NOT_CONNECTED);
            zframe_destroy(&m->chan);
        } else if (zmq_errno() == EAGAIN) {
            snprintf(why, cap, "its queue is full");
        } else {
            snprintf(why, cap, "send failed: %s", zmq_strerror(zmq_errno()));
        }
        return -1;
    }
    /* Past the routing id, the rest of the message always fits. */
    zmq_send(s, kind, strlen(kind), ZMQ_SNDMORE);
    zmq_send(s, data, len, 0);
    return 0;
}

/* Tell a minion which of its returns are stored, so it can drop them from
   its spool. */
static void send_stored(master_t *self, const char *id, zlistx_t *jids)
{
    minion_t *m = registry_find(self->registry, id);
    if (!m)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mc_pk_kv_int(&pk, "v", MC_PROTO_VERSION);
    mc_pk_str(&pk, "jids");
    msgpack_pack_array(&pk, zlistx_size(jids));
    for (const char *jid = zlistx_first(jids); jid; jid = zlistx_next(jids))
        mc_pk_str(&pk, jid);
    char why[128];
    /* Unconfirmed returns are sent again on the next connection, and
       confirmed then. */
    if (send_to_minion(self, m, MC_KIND_STORED, sb.data, sb.size, why, sizeof why) != 0)
        mc_log(strcmp(why, NOT_CONNECTED) == 0 ? MC_LOG_DEBUG : MC_LOG_WARNING,
               "cannot confirm stored returns to %s: %s (it will send them again)", id, why);
    msgpack_sbuffer_destroy(&sb);
}

/* Send the confirmations waiting since before `older` (all of them when
   older is INT64_MAX). */
static void confirm_due(master_t *self, int64_t older)
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

/* After a commit: the returns received this turn are stored and may be
   confirmed. Nothing is confirmed before the commit; duplicates are
   confirmed too (they are stored, once). */
static void stage_stored(master_t *self)
{
    int64_t now = mc_mono_ms();
    for (zlistx_t *jids = zhashx_first(self->to_confirm); jids;
         jids = zhashx_next(self->to_confirm)) {
        const char *id = zhashx_cursor(self->to_confirm);
        confirm_t *c = zhashx_lookup(self->confirm_later, id);
        if (!c) {
            c = mc_calloc(1, sizeof *c);
            c->jids = zlistx_new();
            zlistx_set_destructor(c->jids, (zlistx_destructor_fn *)zstr_free);
            c->since_ms = now;
            zhashx_insert(self->confirm_later, id, c);
        }
        for (char *jid = zlistx_first(jids); jid; jid = zlistx_next(jids))
            zlistx_add_end(c->jids, mc_strdup(jid));
        if (zlistx_size(c->jids) >= CONFIRM_BATCH)
            confirm_now(self, id);
    }
    zhashx_purge(self->to_confirm);
}

/* Send one signed job (see handle_publish) to one minion, sealed to it in
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
    int rc = send_to_minion(self, m, MC_KIND_JOB, sealed, len + MC_SEAL_OVERHEAD, why, cap);
    if (rc == 0)
        m->in_flight++;
    return rc;
}

/* A minion acknowledged or returned a job, or the job expired without
   either: it is no longer in flight to that minion. */
static void settle(const char *id, void *arg)
{
    master_t *self = arg;
    minion_t *m = registry_find(self->registry, id);
    if (m && m->in_flight > 0)
        m->in_flight--;
}

static bool fun_name_valid(const char *fun)
{
    const char *dot = strchr(fun, '.');
    if (!dot || dot == fun || !dot[1] || strchr(dot + 1, '.'))
        return false;
    for (const char *p = fun; *p; p++)
        if (!(*p == '.' || *p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* A nodegroup's expression, for mc_target_expand. */
static const char *nodegroup_of(void *arg, const char *name)
{
    return zhashx_lookup(((master_t *)arg)->nodegroups, name);
}

typedef struct {
    char *tgt; /* after nodegroup expansion */
    char tgt_type[16];
    char delimiter;
    minion_t **matched;
    size_t count;
} resolved_t;

static void resolved_done(resolved_t *r)
{
    free(r->tgt);
    free(r->matched);
}

/* Read tgt, tgt_type and delimiter from a request, expand nodegroups,
   compile the target once and evaluate it against every accepted minion.
   On error the client has been answered and -1 is returned. */
static int resolve_target(master_t *self, zframe_t *route, const msgpack_object *req, resolved_t *r)
{
    mc_err_t err;
    char *tgt = NULL, delim[2] = ":";
    memset(r, 0, sizeof *r);
    if (mc_mp_strdup(req, "tgt", MC_TGT_MAX, &tgt, &err) ||
        mc_mp_str(req, "tgt_type", r->tgt_type, sizeof r->tgt_type, &err) ||
        mc_mp_str_opt(req, "delimiter", delim, sizeof delim, &err)) {
        reply_error(self, route, "bad request: %s", err.msg);
        free(tgt);
        return -1;
    }
    r->delimiter = delim[0] ? delim[0] : ':';
    r->tgt = mc_target_expand(tgt, r->tgt_type, nodegroup_of, self, &err);
    free(tgt);
    if (!r->tgt) {
        reply_error(self, route, "%s", err.msg);
        return -1;
    }
    if (strcmp(r->tgt_type, "nodegroup") == 0)
        snprintf(r->tgt_type, sizeof r->tgt_type, "compound");
    mc_target_t *target = mc_target_compile(r->tgt, r->tgt_type, r->delimiter, &err);
    if (!target) {
        reply_error(self, route, "%s", err.msg);
        resolved_done(r);
        return -1;
    }
    size_t n;
    minion_t **all = registry_list(self->registry, &n);
    r->matched = mc_calloc(n + 1, sizeof *r->matched);
    for (size_t i = 0; i < n; i++) {
        minion_t *m = all[i];
        if (m->state == KEY_ACCEPTED &&
            mc_target_eval(target, m->id, m->has_grains ? m->grains.grains : NULL))
            r->matched[r->count++] = m;
    }
    free(all);
    mc_target_destroy(&target);
    return 0;
}

static void pack_minion_ids(msgpack_packer *pk, const resolved_t *r)
{
    mc_pk_str(pk, "minions");
    msgpack_pack_array(pk, r->count);
    for (size_t i = 0; i < r->count; i++)
        mc_pk_str(pk, r->matched[i]->id);
}

static void handle_list_targets(master_t *self, zframe_t *route, const msgpack_object *req)
{
    resolved_t r;
    if (resolve_target(self, route, req, &r) != 0)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_reply_header(&pk, 1);
    pack_minion_ids(&pk, &r);
    reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    resolved_done(&r);
}

static void handle_publish(master_t *self, zframe_t *route, const msgpack_object *req)
{
    mc_err_t err;
    char fun[MC_FUN_MAX + 1], user[MC_USER_MAX + 1];
    const msgpack_object *arg, *kwarg;
    int64_t timeout;
    if (mc_mp_str(req, "fun", fun, sizeof fun, &err) ||
        mc_mp_array(req, "arg", false, MC_ARGS_MAX, &arg, &err) ||
        mc_mp_map(req, "kwarg", false, MC_ARGS_MAX, &kwarg, &err) ||
        mc_mp_int(req, "timeout", 1, 365LL * 86400, &timeout, &err) ||
        mc_mp_str(req, "user", user, sizeof user, &err)) {
        reply_error(self, route, "bad publish request: %s", err.msg);
        return;
    }
    for (uint32_t i = 0; i < kwarg->via.map.size; i++) {
        if (kwarg->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
            reply_error(self, route, "bad publish request: keyword argument names must be strings");
            return;
        }
    }
    if (!fun_name_valid(fun)) {
        reply_error(self, route, "'%s' is not a function name (expected module.function)", fun);
        return;
    }
    resolved_t r;
    if (resolve_target(self, route, req, &r) != 0)
        return;

    char jid[MC_JID_LEN + 1] = "";
    const char **ids = mc_calloc(r.count + 1, sizeof *ids);
    char **unsent_why = mc_calloc(r.count + 1, sizeof *unsent_why); /* NULL: sent */
    size_t unsent = 0, down = 0;
    if (r.count > 0) {
        mc_jid_next(jid, mc_wall_us(), &self->last_jid_us);
        for (size_t i = 0; i < r.count; i++)
            ids[i] = r.matched[i]->id;
        job_t *job = jobs_add(self->jobs, jid, fun, ids, r.count,
                              mc_mono_ms() + timeout * 1000 + LATE_RETURN_GRACE_MS);
        job_add_waiter(job, route);

        msgpack_sbuffer job_sb;
        msgpack_sbuffer_init(&job_sb);
        mc_job_spec_t spec = {.jid = jid,
                              .tgt_type = r.tgt_type,
                              .tgt = r.tgt,
                              .fun = fun,
                              .user = user,
                              .ts = mc_wall_us() / 1000000,
                              .timeout = timeout,
                              .delimiter = r.delimiter,
                              .arg = arg,
                              .kwarg = kwarg};
        mc_job_pack(&job_sb, &spec);
        /* Signed once, sealed to each minion: [signature][job] inside the
           seal, so nobody but the target sees either. */
        size_t signed_len = crypto_sign_BYTES + job_sb.size;
        unsigned char *signed_job = mc_malloc(signed_len);
        unsigned char *sealed = mc_malloc(signed_len + MC_SEAL_OVERHEAD);
        crypto_sign_detached(signed_job, NULL, (const unsigned char *)job_sb.data, job_sb.size,
                             self->sign.sec);
        memcpy(signed_job + crypto_sign_BYTES, job_sb.data, job_sb.size);
        for (size_t i = 0; i < r.count; i++) {
            char why[128];
            if (publish_to(self, r.matched[i], signed_job, signed_len, sealed, why, sizeof why) ==
                0)
                continue;
            /* A minion that is down is an everyday thing in a fleet; the
               client lists it, and the log only counts it. */
            if (strcmp(why, NOT_CONNECTED) == 0)
                down++;
            else
                mc_error("job %s: not sent to %s: %s", jid, r.matched[i]->id, why);
            unsent_why[i] = mc_strdup(why);
            unsent++;
            /* Nothing will come from it for this job. */
            job_advance(job, r.matched[i]->id, MINION_RETURNED, NULL);
        }
        free(signed_job);
        free(sealed);
        msgpack_sbuffer_destroy(&job_sb);
        /* Queued in this turn, before any return can come. */
        jobcache_add_job(self->cache, jid, fun, r.tgt, r.tgt_type, user, mc_wall_us(), arg, kwarg,
                         ids, (const char *const *)unsent_why, r.count);
        char down_note[48] = "";
        if (down)
            snprintf(down_note, sizeof down_note, "; %zu not connected", down);
        mc_info("job %s: %s by %s to %zu minion%s (%s %s)%s", jid, fun, user, r.count - unsent,
                r.count - unsent == 1 ? "" : "s", r.tgt_type, r.tgt, down_note);
        if (job_complete(job))
            jobs_remove(self->jobs, jid);
    }

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_reply_header(&pk, unsent ? 3 : 2);
    mc_pk_kv_str(&pk, "jid", jid);
    pack_minion_ids(&pk, &r);
    if (unsent) {
        mc_pk_str(&pk, "unsent");
        msgpack_pack_map(&pk, unsent);
        for (size_t i = 0; i < r.count; i++)
            if (unsent_why[i]) {
                mc_pk_str(&pk, ids[i]);
                mc_pk_str(&pk, unsent_why[i]);
            }
    }
    reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    for (size_t i = 0; i < r.count; i++)
        free(unsent_why[i]);
    free(ids);
    free(unsent_why);
    resolved_done(&r);
}

/* ---- job history -------------------------------------------------------- */

static void handle_jobs_list(master_t *self, zframe_t *route, const msgpack_object *req)
{
    mc_err_t err;
    char fun[MC_FUN_MAX + 1], target[256];
    int64_t limit = 50, since = 0;
    if (mc_mp_str_opt(req, "fun", fun, sizeof fun, &err) ||
        mc_mp_str_opt(req, "target", target, sizeof target, &err) ||
        (mc_mp_get(req, "limit") && mc_mp_int(req, "limit", 1, 1000000, &limit, &err)) ||
        (mc_mp_get(req, "since") && mc_mp_int(req, "since", 0, INT64_MAX, &since, &err))) {
        reply_error(self, route, "bad jobs request: %s", err.msg);
        return;
    }
    jobcache_flush(self->cache);
    jobcache_query_t q = {.limit = (int)limit,
                          .fun = fun[0] ? fun : NULL,
                          .target = target[0] ? target : NULL,
                          .since_us = since};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_reply_header(&pk, 1);
    if (jobcache_pack_list(self->cache, &q, &pk, &err) != 0)
        reply_error(self, route, "%s", err.msg);
    else
        reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* The request's jid, checked; and the cache brought up to date for it. */
static int read_jid(master_t *self, zframe_t *route, const msgpack_object *req,
                    char jid[MC_JID_LEN + 1])
{
    jid[0] = '\0';
    if (mc_mp_str(req, "jid", jid, MC_JID_LEN + 1, NULL) || !mc_jid_valid(jid, strlen(jid))) {
        reply_error(self, route, "that is not a job id (20 digits)");
        return -1;
    }
    jobcache_flush(self->cache);
    return 0;
}

/* jobs show, and jobs wait: what is stored so far and, for wait, the rest
   as it comes while the job is in flight (the client becomes one of its
   waiters). Both in one turn of the loop, so no return falls between. */
static void handle_job_history(master_t *self, zframe_t *route, const msgpack_object *req,
                               bool wait)
{
    mc_err_t err;
    char jid[MC_JID_LEN + 1];
    if (read_jid(self, route, req, jid) != 0)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_reply_header(&pk, wait ? 5 : 4);
    if (jobcache_pack_show(self->cache, jid, &pk, &err) != 0) {
        reply_error(self, route, "%s", err.msg);
        msgpack_sbuffer_destroy(&sb);
        return;
    }
    if (wait) {
        job_t *job = jobs_find(self->jobs, jid);
        int64_t remaining = job ? job->expires_ms - LATE_RETURN_GRACE_MS - mc_mono_ms() : 0;
        if (job)
            job_add_waiter(job, route);
        mc_pk_kv_int(&pk, "remaining_ms", remaining > 0 ? remaining : 0);
    }
    reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- keys --------------------------------------------------------------- */

static void pack_id_list(msgpack_packer *pk, minion_t **all, size_t n, key_state_t state)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += all[i]->state == state;
    msgpack_pack_array(pk, count);
    for (size_t i = 0; i < n; i++)
        if (all[i]->state == state)
            mc_pk_str(pk, all[i]->id);
}

static void handle_key_list(master_t *self, zframe_t *route)
{
    size_t n, nd;
    minion_t **all = registry_list(self->registry, &n);
    const char **denied = registry_denied_list(self->registry, &nd);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_reply_header(&pk, KEY_STATES);
    for (int s = 0; s < KEY_DENIED; s++) {
        mc_pk_str(&pk, key_state_dir((key_state_t)s));
        pack_id_list(&pk, all, n, (key_state_t)s);
    }
    mc_pk_str(&pk, key_state_dir(KEY_DENIED));
    msgpack_pack_array(&pk, nd);
    for (size_t i = 0; i < nd; i++)
        mc_pk_str(&pk, denied[i]);
    reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    free(all);
    free(denied);
}

static void pack_finger(msgpack_packer *pk, const char *id, const char *state,
                        const unsigned char *key)
{
    char finger[MC_FINGERPRINT_LEN];
    mc_fingerprint(key, finger);
    msgpack_pack_map(pk, 3);
    mc_pk_kv_str(pk, "id", id);
    mc_pk_kv_str(pk, "state", state);
    mc_pk_kv_str(pk, "finger", finger);
}

/* Tell a minion waiting on the registration socket that it was accepted. */
static void send_registration_reply(master_t *self, zframe_t *route, key_state_t state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_register_reply_pack(&sb, key_state_name(state),
                           state == KEY_ACCEPTED ? self->sign.pub : NULL);
    void *s = zsock_resolve(self->reg);
    if (zmq_send(s, zframe_data(route), zframe_size(route), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(s, sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
}

static void handle_key_finger(master_t *self, zframe_t *route)
{
    size_t n, nd;
    minion_t **all = registry_list(self->registry, &n);
    const char **denied = registry_denied_list(self->registry, &nd);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_reply_header(&pk, 1);
    mc_pk_str(&pk, "keys");
    msgpack_pack_array(&pk, 2 + n + nd);
    pack_finger(&pk, "master.cert", "local", self->curve.pub);
    pack_finger(&pk, "master.sign", "local", self->sign.pub);
    for (size_t i = 0; i < n; i++)
        pack_finger(&pk, all[i]->id, key_state_name(all[i]->state), all[i]->pub);
    for (size_t i = 0; i < nd; i++)
        pack_finger(&pk, denied[i], "denied", registry_denied_key(self->registry, denied[i]));
    reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    free(all);
    free(denied);
}

/* What deploy writes into a minion's config: the master's public key and
   ports. */
static void handle_master_key(master_t *self, zframe_t *route)
{
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(self->curve.pub, z85);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_reply_header(&pk, 4);
    mc_pk_kv_str(&pk, "pub", z85);
    mc_pk_kv_str(&pk, "interface", self->cfg->interface);
    mc_pk_kv_int(&pk, "ret_port", self->cfg->ret_port);
    mc_pk_kv_int(&pk, "auth_port", self->cfg->auth_port);
    reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* Deploy brings a minion's public key back over SSH: accept exactly it. */
static void handle_key_preseed(master_t *self, zframe_t *route, const msgpack_object *req)
{
    mc_err_t err;
    char id[MC_ID_MAX + 1], z85[MC_Z85_KEY_LEN + 1];
    unsigned char pub[MC_KEY_LEN];
    bool changed;
    if (mc_mp_str(req, "id", id, sizeof id, &err) != 0 ||
        mc_mp_str(req, "pub", z85, sizeof z85, &err) != 0) {
        reply_error(self, route, "bad key request: %s", err.msg);
        return;
    }
    if (!mc_id_valid(id, strlen(id))) {
        reply_error(self, route, "'%s' is not a valid minion id", id);
        return;
    }
    if (mc_z85_key_decode(z85, pub) != 0) {
        reply_error(self, route, "bad key request: not a Z85 public key");
        return;
    }
    if (registry_preseed(self->registry, id, pub, &changed, &err) != 0) {
        reply_error(self, route, "%s", err.msg);
        return;
    }
    minion_t *m = registry_find(self->registry, id);
    if (m && m->waiting) {
        send_registration_reply(self, m->waiting, KEY_ACCEPTED);
        zframe_destroy(&m->waiting);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_reply_header(&pk, 1);
    mc_pk_kv_bool(&pk, "changed", changed);
    reply_sbuf(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* accept / reject / delete: ids are globs, as salt-key takes them. */
static void handle_key_change(master_t *self, zframe_t *route, const msgpack_object *req,
                              const char *action)
{
    mc_err_t err;
    const msgpack_object *pats;
    bool include_rejected = false, include_accepted = false;
    if (mc_mp_array(req, "ids", false, 10000, &pats, &err)) {
        reply_error(self, route, "bad key request: %s", err.msg);
        return;
    }
    if (mc_mp_get(req, "include_rejected"))
        mc_mp_bool(req, "include_rejected", &include_rejected, NULL);
    if (mc_mp_get(req, "include_accepted"))
        mc_mp_bool(req, "include_accepted", &include_accepted, NULL);

    size_t n, nd;
    minion_t **all = registry_list(self->registry, &n);
    const char **denied = registry_denied_list(self->registry, &nd);
    zlistx_t *changed = zlistx_new();
    zlistx_set_destructor(changed, (zlistx_destructor_fn *)zstr_free);
    zlistx_set_duplicator(changed, (zlistx_duplicator_fn *)strdup);
    char failure[512] = "";
    bool is_delete = strcmp(action, "delete") == 0;

    for (uint32_t p = 0; p < pats->via.array.size; p++) {
        const msgpack_object *po = &pats->via.array.ptr[p];
        if (po->type != MSGPACK_OBJECT_STR)
            continue;
        char *pat = mc_mp_cstr(po);
        for (size_t i = 0; i < n; i++) {
            minion_t *m = all[i];
            if (!m || !mc_target_match(pat, "glob", m->id, NULL))
                continue;
            key_state_t to = KEY_ACCEPTED;
            bool eligible;
            if (is_delete) {
                eligible = true;
            } else if (strcmp(action, "accept") == 0) {
                eligible =
                    m->state == KEY_PENDING || (include_rejected && m->state == KEY_REJECTED);
            } else {
                to = KEY_REJECTED;
                eligible =
                    m->state == KEY_PENDING || (include_accepted && m->state == KEY_ACCEPTED);
            }
            if (!eligible)
                continue;
            char id[MC_ID_MAX + 1];
            snprintf(id, sizeof id, "%s", m->id);
            int rc;
            if (is_delete) {
                rc = registry_delete(self->registry, id, &err);
                all[i] = NULL; /* freed */
            } else {
                rc = registry_set_state(self->registry, m, to, &err);
                if (rc == 0 && m->waiting) {
                    send_registration_reply(self, m->waiting, to);
                    zframe_destroy(&m->waiting);
                }
            }
            if (rc == 0)
                zlistx_add_end(changed, id);
            else
                snprintf(failure, sizeof failure, "%s", err.msg);
        }
        if (is_delete) {
            for (size_t i = 0; i < nd; i++) {
                if (denied[i] && mc_target_match(pat, "glob", denied[i], NULL) &&
                    !registry_find(self->registry, denied[i])) {
                    char id[MC_ID_MAX + 1];
                    snprintf(id, sizeof id, "%s", denied[i]);
                    denied[i] = NULL;
                    if (registry_delete(self->registry, id, &err) == 0)
                        zlistx_add_end(changed, id);
                }
            }
        }
        free(pat);
    }
    if (failure[0]) {
        reply_error(self, route, "%s", failure);
    } else {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_reply_header(&pk, 1);
        mc_pk_str(&pk, "changed");
        msgpack_pack_array(&pk, zlistx_size(changed));
        for (char *id = zlistx_first(changed); id; id = zlistx_next(changed))
            mc_pk_str(&pk, id);
        reply_sbuf(self, route, &sb);
        msgpack_sbuffer_destroy(&sb);
    }
    zlistx_destroy(&changed);
    free(all);
    free(denied);
}

/* ---- handlers ------------------------------------------------------------ */

/* One request from a client: [route][msgpack body]. */
static void client_request(master_t *self, zframe_t *route, zframe_t *body)
{
    mc_mp_doc_t doc;
    mc_err_t err;
    char cmd[32];
    if (mc_mp_parse(&doc, zframe_data(body), zframe_size(body), &err) != 0) {
        reply_error(self, route, "malformed request: %s", err.msg);
        return;
    }
    if (mc_mp_str(&doc.root, "cmd", cmd, sizeof cmd, &err) != 0)
        reply_error(self, route, "malformed request: %s", err.msg);
    else if (strcmp(cmd, "publish") == 0)
        handle_publish(self, route, &doc.root);
    else if (strcmp(cmd, "list_targets") == 0)
        handle_list_targets(self, route, &doc.root);
    else if (strcmp(cmd, "jobs_list") == 0)
        handle_jobs_list(self, route, &doc.root);
    else if (strcmp(cmd, "jobs_show") == 0)
        handle_job_history(self, route, &doc.root, false);
    else if (strcmp(cmd, "jobs_wait") == 0)
        handle_job_history(self, route, &doc.root, true);
    else if (strcmp(cmd, "key_list") == 0)
        handle_key_list(self, route);
    else if (strcmp(cmd, "key_finger") == 0)
        handle_key_finger(self, route);
    else if (strcmp(cmd, "master_key") == 0)
        handle_master_key(self, route);
    else if (strcmp(cmd, "key_preseed") == 0)
        handle_key_preseed(self, route, &doc.root);
    else if (strcmp(cmd, "key_accept") == 0 || strcmp(cmd, "key_reject") == 0 ||
             strcmp(cmd, "key_delete") == 0)
        handle_key_change(self, route, &doc.root, cmd + 4);
    else
        reply_error(self, route, "unknown request '%s'", cmd);
    mc_mp_doc_done(&doc);
}

static void on_client_request(master_t *self)
{
    zmsg_t *msg = zmsg_recv(self->client);
    if (!msg)
        return;
    zframe_t *route = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    if (!route || !body)
        mc_warn("client: malformed request (missing frames)");
    else
        client_request(self, route, body);
    zframe_destroy(&route);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
}

static void on_register(master_t *self)
{
    zmsg_t *msg = zmsg_recv(self->reg);
    if (!msg)
        return;
    zframe_t *route = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    mc_register_t reg;
    mc_err_t err;
    if (!route || !body || zmsg_size(msg) != 0) {
        mc_warn("registration: malformed message");
        goto out;
    }
    if (mc_register_decode(&reg, zframe_data(body), zframe_size(body), &err) != 0) {
        mc_warn("registration: refused: %s", err.msg);
        goto out;
    }
    const char *key_z85 = zframe_meta(body, "User-Id");
    unsigned char conn_key[MC_KEY_LEN];
    if (!key_z85 || mc_z85_key_decode(key_z85, conn_key) != 0 ||
        memcmp(conn_key, reg.pub, MC_KEY_LEN) != 0) {
        mc_warn("registration: %s presented a key other than the one it connected with; refused",
                reg.id);
        goto out;
    }
    key_state_t state;
    if (registry_present(self->registry, reg.id, reg.pub, self->cfg->auto_accept, &state, &err)) {
        mc_error("registration of %s: %s", reg.id, err.msg);
        goto out;
    }
    send_registration_reply(self, route, state);
    minion_t *m = registry_find(self->registry, reg.id);
    if (state == KEY_PENDING && m) {
        zframe_destroy(&m->waiting);
        m->waiting = route;
        route = NULL;
    }
out:
    zframe_destroy(&route);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
}

static void on_return(master_t *self, const char *sender, zframe_t *body)
{
    mc_ret_t ret;
    mc_err_t err;
    if (mc_ret_decode(&ret, zframe_data(body), zframe_size(body), &err) != 0) {
        mc_warn("return from %s refused: %s", sender, err.msg);
        return;
    }
    minion_progress_t from;
    if (strcmp(ret.id, sender) != 0) {
        mc_warn("return claiming to be from %s arrived with the key of %s; refused", ret.id,
                sender);
    } else {
        /* Into history in any case (the cache keeps one per job and
           minion, and only from minions the job went to); to waiting
           clients when the job is still in flight. */
        jobcache_add_return(self->cache, ret.jid, sender, ret.retcode, ret.success,
                            zframe_data(body), zframe_size(body));
        zlistx_t *jids = zhashx_lookup(self->to_confirm, sender);
        if (!jids) {
            jids = zlistx_new();
            zlistx_set_destructor(jids, (zlistx_destructor_fn *)zstr_free);
            zlistx_set_duplicator(jids, (zlistx_duplicator_fn *)strdup);
            zhashx_insert(self->to_confirm, sender, jids);
        }
        zlistx_add_end(jids, ret.jid);
        job_t *job = jobs_find(self->jobs, ret.jid);
        if (!job)
            mc_info("return from %s for job %s, which is no longer in flight: stored in the job "
                    "cache",
                    sender, ret.jid);
        else if (job_advance(job, sender, MINION_RETURNED, &from)) {
            if (from == MINION_SENT)
                settle(sender, self);
            notify_waiters(self, job, "ret", body);
            /* Complete: its clients have everything, history has the rest. */
            if (job_complete(job))
                jobs_remove(self->jobs, ret.jid);
        }
    }
    mc_ret_done(&ret);
}

static void on_ack(master_t *self, const char *sender, zframe_t *body)
{
    mc_ack_t ack;
    mc_err_t err;
    if (mc_ack_decode(&ack, zframe_data(body), zframe_size(body), &err) != 0) {
        mc_warn("ack from %s refused: %s", sender, err.msg);
        return;
    }
    if (strcmp(ack.id, sender) != 0) {
        mc_warn("ack claiming to be from %s arrived with the key of %s; refused", ack.id, sender);
        return;
    }
    job_t *job = jobs_find(self->jobs, ack.jid);
    if (job && job_advance(job, sender, MINION_ACKED, NULL)) {
        settle(sender, self);
        notify_waiters(self, job, "ack", body);
    }
}

static void on_heartbeat(master_t *self, minion_t *m, zframe_t *body)
{
    mc_heartbeat_t hb;
    mc_err_t err;
    if (mc_heartbeat_decode(&hb, zframe_data(body), zframe_size(body), &err) != 0)
        mc_warn("heartbeat from %s refused: %s", m->id, err.msg);
    else if (strcmp(hb.id, m->id) != 0)
        mc_warn("heartbeat claiming to be from %s arrived with the key of %s; refused", hb.id,
                m->id);
}

static void on_grains(master_t *self, minion_t *m, zframe_t *body)
{
    mc_grains_msg_t g;
    mc_err_t err;
    if (mc_grains_decode(&g, zframe_data(body), zframe_size(body), &err) != 0) {
        mc_warn("grains from %s refused: %s", m->id, err.msg);
        return;
    }
    if (strcmp(g.id, m->id) != 0) {
        mc_warn("grains claiming to be from %s arrived with the key of %s; refused", g.id, m->id);
        mc_grains_done(&g);
        return;
    }
    if (m->has_grains)
        mc_grains_done(&m->grains);
    m->grains = g;
    m->has_grains = true;
    mc_debug("grains of %s updated", m->id);
}

static void on_minion_message(master_t *self)
{
    zmsg_t *msg = zmsg_recv(self->chan);
    if (!msg)
        return;
    zframe_t *route = zmsg_pop(msg);
    zframe_t *kind = zmsg_first(msg);
    zframe_t *body = zmsg_next(msg);
    const char *sender = body ? zframe_meta(body, "User-Id") : NULL;
    minion_t *m = sender ? registry_find(self->registry, sender) : NULL;
    if (!kind || !body || zmsg_size(msg) != 2) {
        mc_warn("message from %s refused: expected 2 frames, got %zu", sender ? sender : "?",
                zmsg_size(msg));
    } else if (!m || m->state != KEY_ACCEPTED) {
        /* Its key was rejected or deleted after it connected. */
        mc_warn("message from %s dropped: its key is no longer accepted", sender ? sender : "?");
    } else {
        m->last_seen_ms = mc_mono_ms();
        /* The key proved who it is: this connection is where it is now. */
        if (!m->chan || !zframe_eq(m->chan, route)) {
            zframe_destroy(&m->chan);
            m->chan = route;
            route = NULL;
        }
        if (zframe_streq(kind, MC_KIND_RETURN))
            on_return(self, sender, body);
        else if (zframe_streq(kind, MC_KIND_ACK))
            on_ack(self, sender, body);
        else if (zframe_streq(kind, MC_KIND_HEARTBEAT))
            on_heartbeat(self, m, body);
        else if (zframe_streq(kind, MC_KIND_GRAINS))
            on_grains(self, m, body);
        else
            mc_warn("message from %s refused: unknown kind", sender);
    }
    zframe_destroy(&route);
    zmsg_destroy(&msg);
}

/* keep_jobs (hours; 0 keeps everything): a thousand old jobs at a time,
   so pruning never stalls the loop for long. */
static void prune_history(master_t *self)
{
    if (self->cfg->keep_jobs == 0 || mc_mono_ms() < self->next_prune_ms)
        return;
    int64_t cutoff = mc_wall_us() - (int64_t)self->cfg->keep_jobs * 3600 * 1000000;
    int n = jobcache_prune(self->cache, cutoff);
    if (n > 0)
        mc_info("job cache: pruned %d jobs older than %d hours", n, self->cfg->keep_jobs);
    /* More to do: come back on the next tick; else in a minute. */
    self->next_prune_ms = mc_mono_ms() + (n >= 1000 ? 0 : 60000);
}

static void on_zap(master_t *self)
{
    zap_handle(self->zap, self->registry);
}

static void on_signal(master_t *self)
{
    struct signalfd_siginfo si;
    if (read(self->sigfd, &si, sizeof si) != sizeof si)
        return;
    if (si.ssi_signo == SIGHUP) {
        mc_log_reopen();
        mc_err_t err;
        if (registry_reload(self->registry, &err) != 0)
            mc_error("reloading keys: %s", err.msg);
        else
            mc_info("SIGHUP: keys reloaded (%zu accepted)",
                    registry_accepted_count(self->registry));
    } else {
        mc_info("%s: stopping", strsignal((int)si.ssi_signo));
        self->stop = true;
    }
}

/* ---- set-up ------------------------------------------------------------- */

/* A CURVE server socket, not yet listening: a connection takes the
   socket's options as they are at bind time. */
static zsock_t *curve_socket(master_t *self, int type, const char *domain, int maxmsgsize)
{
    zsock_t *s = zsock_new(type);
    if (!s)
        return NULL;
    zsock_set_zap_domain(s, domain);
    zsock_set_curve_server(s, 1);
    zsock_set_curve_secretkey_bin(s, self->curve.sec);
    zsock_set_curve_publickey_bin(s, self->curve.pub);
    zsock_set_maxmsgsize(s, maxmsgsize);
    zsock_set_linger(s, 1000);
    zsock_set_sndhwm(s, 100000);
    zsock_set_rcvhwm(s, 100000);
    if (type == ZMQ_ROUTER)
        zsock_set_router_mandatory(s, 1);
    return s;
}

static int listen_tcp(master_t *self, zsock_t *s, int port, mc_err_t *err)
{
    const char *iface = self->cfg->interface;
    bool v6 = strchr(iface, ':') != NULL;
    if (!s) {
        mc_err_set(err, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (v6)
        zsock_set_ipv6(s, 1);
    if (zsock_bind(s, v6 ? "tcp://[%s]:%d" : "tcp://%s:%d", iface, port) < 0) {
        mc_err_set(err, "cannot listen on %s port %d: %s", iface, port, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static int open_client_socket(master_t *self, mc_err_t *err)
{
    if (mc_mkdir_p(self->cfg->sock_dir, 0700, err) != 0)
        return -1;
    self->ipc_path = mc_sprintf("%s/master.ipc", self->cfg->sock_dir);
    if (strlen(self->ipc_path) >= 100) {
        mc_err_set(err, "%s: socket path too long (sock_dir must be shorter)", self->ipc_path);
        return -1;
    }
    unlink(self->ipc_path);
    self->client = zsock_new(ZMQ_ROUTER);
    zsock_set_router_mandatory(self->client, 1);
    zsock_set_maxmsgsize(self->client, MC_MAX_JOB_MSG);
    zsock_set_sndhwm(self->client, 0);
    zsock_set_linger(self->client, 0);
    mode_t old = umask(077);
    int rc = zsock_bind(self->client, "ipc://%s", self->ipc_path);
    umask(old);
    if (rc < 0 || chmod(self->ipc_path, 0600) != 0) {
        mc_err_set(err, "cannot listen on %s: %s", self->ipc_path, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* Each minion holds one TCP connection, plus slack for clients and
   files. Take the whole hard limit at once, so that a growing fleet does
   not need a restart; say so when even that is short of the minions
   accepted now. */
static void raise_fd_limit(int minions)
{
    rlim_t want = (rlim_t)minions + 256;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t old = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            mc_warn("cannot raise the open files limit from %llu to %llu: %s",
                    (unsigned long long)old, (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = old;
        }
    }
    if (rl.rlim_cur < want)
        mc_warn("open files limited to %llu: enough for about %llu minions, and %d are "
                "accepted; raise the hard limit (LimitNOFILE= in the unit, or ulimit -Hn)",
                (unsigned long long)rl.rlim_cur,
                (unsigned long long)(rl.rlim_cur > 256 ? rl.rlim_cur - 256 : 0), minions);
    else if (rl.rlim_cur != old)
        mc_debug("open files limit raised from %llu to %llu", (unsigned long long)old,
                 (unsigned long long)rl.rlim_cur);
}

/* nodegroups: in the master config, each a compound expression or a list
   of ids, as in Salt. */
static int load_nodegroups(master_t *self, mc_err_t *err)
{
    self->nodegroups = zhashx_new();
    zhashx_set_destructor(self->nodegroups, (zhashx_destructor_fn *)zstr_free);
    const mc_yaml_t *groups = mc_yaml_get(self->cfg->doc, "nodegroups");
    for (size_t i = 0; groups && i < groups->count; i++) {
        const mc_yaml_t *g = groups->items[i];
        mc_buf_t expr = {0};
        if (g->kind == MC_YAML_SCALAR) {
            mc_buf_append(&expr, g->value, strlen(g->value));
        } else if (g->kind == MC_YAML_LIST) {
            mc_buf_append(&expr, "L@", 2);
            for (size_t k = 0; k < g->count; k++) {
                if (g->items[k]->kind != MC_YAML_SCALAR)
                    continue;
                if (k)
                    mc_buf_append(&expr, ",", 1);
                mc_buf_append(&expr, g->items[k]->value, strlen(g->items[k]->value));
            }
        } else {
            mc_err_set(err,
                       "master: line %d: nodegroups: %s: expected a compound expression or "
                       "a list of ids",
                       g->line, g->key);
            return -1;
        }
        zhashx_update(self->nodegroups, g->key, expr.data ? expr.data : mc_strdup(""));
    }
    return 0;
}

static int setup(master_t *self, mc_err_t *err)
{
    mc_master_config_t *cfg = self->cfg;
    bool created;
    if (mc_mkdir_p(cfg->pki_dir, 0700, err) != 0 || mc_check_private_dir(cfg->pki_dir, err) != 0)
        return -1;
    if (mc_curve_load_or_create(cfg->pki_dir, "master", &self->curve, &created, err) != 0)
        return -1;
    if (created)
        mc_info("created the master's CURVE key in %s", cfg->pki_dir);
    if (mc_sign_load_or_create(cfg->pki_dir, "master", &self->sign, &created, err) != 0)
        return -1;
    char finger[MC_FINGERPRINT_LEN];
    mc_fingerprint(self->curve.pub, finger);
    mc_info("master key fingerprint %s", finger);

    self->registry = registry_new(cfg->pki_dir, self->curve.sec, err);
    if (!self->registry)
        return -1;
    self->jobs = jobs_new();
    self->to_confirm = zhashx_new();
    zhashx_set_destructor(self->to_confirm, (zhashx_destructor_fn *)zlistx_destroy);
    self->confirm_later = zhashx_new();
    zhashx_set_destructor(self->confirm_later, (zhashx_destructor_fn *)confirm_destroy);
    if (mc_mkdir_p(cfg->cachedir, 0700, err) != 0)
        return -1;
    char *db = mc_sprintf("%s/jobs.db", cfg->cachedir);
    self->cache = jobcache_open(db, err);
    free(db);
    if (!self->cache)
        return -1;
    if (load_nodegroups(self, err) != 0)
        return -1;
    size_t known;
    minion_t **all = registry_list(self->registry, &known);
    int accepted = 0;
    for (size_t i = 0; i < known; i++)
        accepted += all[i]->state == KEY_ACCEPTED;
    free(all);
    raise_fd_limit(accepted);

    self->zap = zap_new(err);
    if (!self->zap)
        return -1;
    self->reg = curve_socket(self, ZMQ_ROUTER, ZAP_DOMAIN_REGISTER, MC_MAX_SMALL_MSG);
    if (listen_tcp(self, self->reg, cfg->auth_port, err) != 0)
        return -1;
    self->chan = curve_socket(self, ZMQ_ROUTER, ZAP_DOMAIN_MINION, MC_MAX_RETURN_MSG);
    if (self->chan) {
        zsock_set_sndhwm(self->chan, cfg->pub_hwm + PUB_HWM_MARGIN);
        /* A minion that stopped answering (its host gone, or the process
           hung) is given up, so that it is reported as not connected
           rather than sent jobs that wait in a queue nobody reads. */
        zsock_set_heartbeat_ivl(self->chan, cfg->minion_alive_interval * 1000 / 2);
        zsock_set_heartbeat_timeout(self->chan, cfg->minion_alive_interval * 1000);
    }
    if (listen_tcp(self, self->chan, cfg->ret_port, err) != 0)
        return -1;
    if (open_client_socket(self, err) != 0)
        return -1;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    self->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (self->sigfd < 0) {
        mc_err_set(err, "signalfd: %s", strerror(errno));
        return -1;
    }
    mc_info("master up: minions %s:%d, registration %s:%d, client %s, %zu accepted minions",
            cfg->interface, cfg->ret_port, cfg->interface, cfg->auth_port, self->ipc_path,
            registry_accepted_count(self->registry));
    return 0;
}

static void teardown(master_t *self)
{
    if (self->chan && self->confirm_later && self->cache && jobcache_flush(self->cache) >= 0) {
        if (zhashx_size(self->to_confirm))
            stage_stored(self);
        confirm_due(self, INT64_MAX);
    }
    zsock_destroy(&self->client);
    zsock_destroy(&self->chan);
    zsock_destroy(&self->reg);
    zsock_destroy(&self->zap);
    if (self->ipc_path)
        unlink(self->ipc_path);
    free(self->ipc_path);
    jobs_destroy(&self->jobs);
    if (self->cache && jobcache_flush(self->cache) < 0)
        mc_error("job cache: some returns could not be written before stopping");
    jobcache_close(&self->cache);
    zhashx_destroy(&self->to_confirm);
    zhashx_destroy(&self->confirm_later);
    zhashx_destroy(&self->nodegroups);
    registry_destroy(&self->registry);
    if (self->sigfd > 0)
        close(self->sigfd);
    sodium_memzero(&self->curve, sizeof self->curve);
    sodium_memzero(&self->sign, sizeof self->sign);
}

int server_run(mc_master_config_t *cfg)
{
    master_t self = {.cfg = cfg, .sigfd = -1};
    mc_err_t err;
    if (setup(&self, &err) != 0) {
        mc_error("%s", err.msg);
        teardown(&self);
        return 1;
    }
    /* Socket handlers in poll order; the signalfd comes last. */
    struct {
        zsock_t *sock;
        void (*handle)(master_t *);
    } handlers[] = {
        {self.zap, on_zap},
        {self.chan, on_minion_message},
        {self.client, on_client_request},
        {self.reg, on_register},
    };
    enum { NSOCK = sizeof handlers / sizeof handlers[0] };
    zmq_pollitem_t items[NSOCK + 1];
    for (int i = 0; i < NSOCK; i++)
        items[i] = (zmq_pollitem_t){zsock_resolve(handlers[i].sock), 0, ZMQ_POLLIN, 0};
    items[NSOCK] = (zmq_pollitem_t){NULL, self.sigfd, ZMQ_POLLIN, 0};

    int64_t next_tick = mc_mono_ms() + 1000;
    while (!self.stop) {
        int64_t wait = next_tick - mc_mono_ms();
        int rc = zmq_poll(items, NSOCK + 1, wait < 0 ? 0 : (long)wait);
        if (rc < 0 && zmq_errno() != EINTR) {
            mc_error("poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        /* Drain a bounded batch per socket so one busy socket cannot
           starve the others. */
        for (int i = 0; rc > 0 && i < NSOCK; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            for (int n = 0; n < 256 && (zsock_events(handlers[i].sock) & ZMQ_POLLIN); n++)
                handlers[i].handle(&self);
        }
        if (rc > 0 && (items[NSOCK].revents & ZMQ_POLLIN))
            on_signal(&self);
        /* One transaction for everything this turn received; then the
           minions may forget what is now stored. */
        if (jobcache_flush(self.cache) >= 0 && zhashx_size(self.to_confirm))
            stage_stored(&self);
        if (mc_mono_ms() >= next_tick) {
            confirm_due(&self, mc_mono_ms() - CONFIRM_DELAY_MS);
            jobs_expire(self.jobs, mc_mono_ms(), settle, &self);
            prune_history(&self);
            next_tick = mc_mono_ms() + 1000;
        }
    }
    teardown(&self);
    mc_info("master stopped");
    return 0;
}

/* ---- the client API without the loop (fuzzing) -------------------------- */

server_t *server_open(mc_master_config_t *cfg)
{
    master_t *self = mc_calloc(1, sizeof *self);
    self->cfg = cfg;
    self->sigfd = -1;
    mc_err_t err;
    if (setup(self, &err) != 0) {
        mc_error("%s", err.msg);
        server_close(&self);
    }
    return self;
}

void server_feed_request(server_t *self, const void *body, size_t len)
{
    zframe_t *route = zframe_new("client", 6);
    zframe_t *frame = zframe_new(body, len);
    client_request(self, route, frame);
    zframe_destroy(&route);
    zframe_destroy(&frame);
    jobcache_flush(self->cache);
    zhashx_purge(self->to_confirm);
    jobs_expire(self->jobs, INT64_MAX, settle, self);
}

void server_close(server_t **pself)
{
    if (*pself) {
        teardown(*pself);
        free(*pself);
        *pself = NULL;
    }
}
