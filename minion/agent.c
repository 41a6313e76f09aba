/*  agent - the minion's main process.

    Design. Start-up happens in this order: load (or create) the minion's
    CURVE keys; fork the workers before any ZeroMQ thread exists; register
    on the master's auth port and wait, with backoff and a log line saying
    what we wait for, until the key is accepted, learning (and pinning) the
    master's Ed25519 signing key from the reply; then open the channel to
    the master (channel.c): a SUB to its XPUB, subscribed to this minion's
    topic only, brings jobs and "stored" notices in; a PUSH to its PULL
    takes returns, acks, heartbeats, hellos and grains out. The master
    reads every message by the key that sent it, and seals every job to
    this minion's key.

    A job passes four gates before it reaches a worker, each logging why it
    refused: the seal (only a job sealed to our key, by the master's key,
    opens), the signature inside it (over the job, by the master's pinned
    signing key), the replay check (a jid we already ran, or a timestamp
    outside job_max_age), and the target (the job's expression must match
    this minion). Then the master gets an ack at once and, later, the
    return. A copy (cp.recv, from mctl cp) passes the same gates and is
    then taken here, with the chunks that follow it on the same topic
    (receive.c): writing files is plumbing, like the spool.

    Messages go out without blocking. Returns wait in the spool until the
    master says it stored them; grains wait in an outbox while the master is
    away. Each time the connections come up, the minion says hello and
    sends its grains at once: that is how a restarted master learns that
    this minion is there, and what it is. */
#include "agent.h"

#include <czmq.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "grains.h"
#include "keys.h"
#include "channel.h"
#include "log.h"
#include "module.h"
#include "pool.h"
#include "receive.h"
#include "replay.h"
#include "resolve.h"
#include "spool.h"
#include "target.h"
#include "proto/proto.h"
#include "worker.h"

#define OUTBOX_MAX        100000
#define RESEND_MS         5000 /* a return the master has not confirmed by then goes again */
#define GRAINS_REFRESH_MS 60000
#define MAX_WORKERS_POLL  1024
/* A job that returns within this long needs no separate "ack": the
   return says the minion had it. mctl waits seconds for an ack. */
#define ACK_DELAY_MS 200
#define ORIGIN_MAX   100000
/* A master that refused this minion's key is tried again after this long,
   doubling up to the max. */
#define REFUSED_RETRY_MS     1000
#define REFUSED_RETRY_MAX_MS 30000

typedef struct {
    char jid[MC_JID_LEN + 1];
    int64_t due_ms;
} pending_ack_t;

typedef struct agent agent_t;

/* One master's connection: its name, resolved to addresses (tried in turn
   while it stays silent), and the channel to the address in use. */
typedef struct {
    agent_t *agent;
    int index;             /* in the config's list of masters */
    const char *name;      /* as configured */
    channel_t *chan;       /* NULL until accepted, or while the name has no address */
    char **addrs;          /* the name resolved */
    size_t naddrs, addr_i; /* how many, and the one in use */
    resolve_t *resolving;  /* resolving the name again, from the loop */
    int64_t down_since_ms; /* the channel has not been up since (0: it is up) */
    int64_t resolved_ms;   /* when the addresses were last resolved */
    int64_t retry_ms;      /* refused: when to open the channel again (0: not refused) */
    int64_t refused_backoff_ms;
    char last_failure[512]; /* why the last attempt to connect failed, said once */
} link_t;

struct agent {
    mc_minion_config_t *cfg;
    const char *config_dir;
    mc_curve_keys_t keys;
    unsigned char master_pub[MC_KEY_LEN];
    unsigned char sign_pub[MC_KEY_LEN];
    mc_seal_key_t seal;
    pool_t *pool;
    worker_ctx_t wctx; /* for the quick functions run here */
    replay_t *replay;
    spool_t *spool;
    receive_t *receive;           /* mctl cp: the copies coming in */
    link_t links[MC_MASTERS_MAX]; /* one per master (master: may be a list) */
    size_t nlinks;
    zhashx_t *origin; /* jid -> the index + 1 of the master that sent the job */
    int sigfd;
    msgpack_sbuffer grains;
    mc_mp_doc_t grains_doc;
    zlistx_t *outbox; /* zmsg_t: [kind][payload] waiting for the master */
    zlistx_t *acks;   /* pending_ack_t, in due order */
    int64_t started_ms;
    bool stop;           /* leave the loop */
    int64_t stopping_ms; /* SIGTERM came: when the grace period ends (0: running) */
    bool cancelled;      /* the jobs still running at its end were told to stop */
};

/* ---- sending to the master ---------------------------------------------- */

static void free_ack(void **item)
{
    free(*item);
    *item = NULL;
}

/* [kind][payload] to one master, or -1 when it cannot take it now. */
static int link_send(link_t *link, const char *kind, const void *data, size_t len)
{
    return link->chan ? channel_send(link->chan, kind, data, len) : -1;
}

/* To every master: 0 when one at least took it. */
static int send_all(agent_t *self, const char *kind, const void *data, size_t len)
{
    int rc = -1;
    for (size_t i = 0; i < self->nlinks; i++)
        if (link_send(&self->links[i], kind, data, len) == 0)
            rc = 0;
    return rc;
}

/* About a job: to the master that sent it, or when that one cannot take
   it (down), to another one (masters sharing a job history store a return
   once, whichever gets it). 0 when one took it. */
static int send_for_job(agent_t *self, const char *jid, const char *kind, const void *data,
                        size_t len)
{
    size_t first = (size_t)(uintptr_t)zhashx_lookup(self->origin, jid);
    if (first && first <= self->nlinks && link_send(&self->links[first - 1], kind, data, len) == 0)
        return 0;
    for (size_t i = 0; i < self->nlinks; i++)
        if (i + 1 != first && !self->links[i].down_since_ms &&
            link_send(&self->links[i], kind, data, len) == 0) {
            if (first)
                mc_debug("job %s: its master is away; sent to %s instead", jid,
                         self->links[i].name);
            return 0;
        }
    return -1;
}

static void outbox_flush(agent_t *self)
{
    zmsg_t *msg;
    while ((msg = zlistx_first(self->outbox))) {
        char *kind = zframe_strdup(zmsg_first(msg));
        zframe_t *body = zmsg_next(msg);
        int rc = send_all(self, kind, zframe_data(body), zframe_size(body));
        free(kind);
        if (rc != 0)
            return;
        zlistx_delete(self->outbox, zlistx_cursor(self->outbox));
    }
}

static void send_to_master(agent_t *self, const char *kind, const void *data, size_t len)
{
    if (zlistx_size(self->outbox) == 0 && send_all(self, kind, data, len) == 0)
        return;
    /* Heartbeats and acks are only worth something now; returns wait in
       the spool, not here. */
    if (strcmp(kind, MC_KIND_GRAINS) != 0)
        return;
    if (zlistx_size(self->outbox) >= OUTBOX_MAX) {
        zmsg_t *oldest = zlistx_first(self->outbox);
        mc_error("outbox full (%d messages waiting for the master): dropping the oldest",
                 OUTBOX_MAX);
        zlistx_delete(self->outbox, zlistx_cursor(self->outbox));
        (void)oldest;
    }
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, kind);
    zmsg_addmem(msg, data, len);
    zlistx_add_end(self->outbox, msg);
}

static int send_return(void *arg, const char *jid, const char *data, size_t len)
{
    return send_for_job(arg, jid, MC_KIND_RETURN, data, len);
}

/* An ack is only worth something now: not kept when no master takes it. */
static void send_ack(agent_t *self, const char *jid)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_ack_pack(&sb, jid, self->cfg->id);
    send_for_job(self, jid, MC_KIND_ACK, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Send the acks whose jobs have not returned in time; returns the time
   until the next one is due (-1: none waiting). */
static long acks_due(agent_t *self, int64_t now)
{
    pending_ack_t *a;
    while ((a = zlistx_first(self->acks)) && a->due_ms <= now) {
        send_ack(self, a->jid);
        zlistx_delete(self->acks, zlistx_cursor(self->acks));
    }
    return a ? (long)(a->due_ms - now) : -1;
}

static void ack_not_needed(agent_t *self, const char *jid)
{
    for (pending_ack_t *a = zlistx_first(self->acks); a; a = zlistx_next(self->acks))
        if (strcmp(a->jid, jid) == 0) {
            zlistx_delete(self->acks, zlistx_cursor(self->acks));
            return;
        }
}

/* Every return goes to the spool first and stays there until the master
   says it has stored it. */
static void deliver_return(agent_t *self, const char *jid, const char *ret, size_t len)
{
    mc_err_t err;
    ack_not_needed(self, jid);
    if (spool_put(self->spool, jid, ret, len, &err) != 0) {
        mc_error("job %s: cannot spool the return (%s); sending it without a safety net", jid,
                 err.msg);
        if (send_return(self, jid, ret, len) != 0)
            mc_error("job %s: the master is not reachable either: this return is lost", jid);
        return;
    }
    /* With nothing older waiting to be sent, send it from memory rather
       than read it back. */
    if (spool_due(self->spool) == 1 && send_return(self, jid, ret, len) == 0)
        spool_sent(self->spool, jid);
    spool_send_due(self->spool, RESEND_MS, send_return, self);
}

static void on_worker_return(void *arg, const char *jid, const char *ret, size_t len)
{
    deliver_return(arg, jid, ret, len);
}

static void send_cpack(void *arg, const char *jid, const void *data, size_t len)
{
    /* Lost when no master takes it: the copy asks again. */
    send_for_job(arg, jid, MC_KIND_CPACK, data, len);
}

static void send_error_return(agent_t *self, const mc_job_t *job, int retcode, const char *msg)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_ret_pack_error(&sb, job->jid, self->cfg->id, job->fun, retcode, msg);
    deliver_return(self, job->jid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* The grains to every master, or to one (to) that has just come up. */
static void send_grains(agent_t *self, link_t *to)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_grains_pack(&sb, self->cfg->id, self->grains.data, self->grains.size);
    if (to)
        link_send(to, MC_KIND_GRAINS, sb.data, sb.size);
    else
        send_to_master(self, MC_KIND_GRAINS, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* A heartbeat to every master, or with kind MC_KIND_HELLO the same to one
   (to), when its connections come up. */
static void send_heartbeat(agent_t *self, const char *kind, link_t *to)
{
    double load[1] = {0};
    getloadavg(load, 1);
    mc_heartbeat_t hb = {.uptime = (mc_mono_ms() - self->started_ms) / 1000,
                         .load = load[0],
                         .jobs_running = pool_busy(self->pool)};
    snprintf(hb.id, sizeof hb.id, "%s", self->cfg->id);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_heartbeat_pack(&sb, &hb);
    if (to)
        link_send(to, kind, sb.data, sb.size);
    else
        send_to_master(self, kind, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Collect grains; returns true when they differ from what we had. */
static bool refresh_grains(agent_t *self)
{
    msgpack_sbuffer fresh;
    msgpack_sbuffer_init(&fresh);
    grains_collect(self->cfg, &fresh);
    bool changed =
        fresh.size != self->grains.size || memcmp(fresh.data, self->grains.data, fresh.size) != 0;
    if (changed) {
        mc_err_t err;
        mc_mp_doc_t doc;
        if (mc_mp_parse(&doc, fresh.data, fresh.size, &err) != 0) {
            mc_error("grains: %s", err.msg);
            msgpack_sbuffer_destroy(&fresh);
            return false;
        }
        if (self->grains_doc.root.type == MSGPACK_OBJECT_MAP)
            mc_mp_doc_done(&self->grains_doc);
        self->grains_doc = doc;
        msgpack_sbuffer_destroy(&self->grains);
        self->grains = fresh;
        pool_set_grains(self->pool, self->grains.data, self->grains.size);
    } else {
        msgpack_sbuffer_destroy(&fresh);
    }
    return changed;
}

/* ---- jobs ---------------------------------------------------------------- */

/* The master's notice that it stored returns: ["stored"][{v, jids}].
   CURVE proves it comes from the master. */
static void on_stored(agent_t *self, const void *body, size_t len)
{
    mc_stored_t stored;
    mc_err_t err;
    if (mc_stored_decode(&stored, body, len, &err) != 0) {
        mc_warn("dropped a malformed stored notice: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < stored.count; i++) {
        spool_stored(self->spool, stored.jids[i]);
        zhashx_delete(self->origin, stored.jids[i]);
    }
    mc_stored_done(&stored);
}

/* jobs.running and jobs.kill are about the pool, which only the main
   process knows: it answers them itself (they run no user code). */
static bool is_control(const char *fun)
{
    return strcmp(fun, "jobs.running") == 0 || strcmp(fun, "jobs.kill") == 0;
}

static void run_control(agent_t *self, const mc_job_t *job)
{
    msgpack_sbuffer value, sb;
    msgpack_sbuffer_init(&value);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &value, msgpack_sbuffer_write);
    int retcode = 0;
    if (strcmp(job->fun, "jobs.running") == 0) {
        msgpack_pack_array(&pk, (size_t)(pool_busy(self->pool) + receive_active(self->receive)));
        pool_pack_running(self->pool, &pk);
        receive_pack_running(self->receive, &pk);
    } else {
        const msgpack_object *a = job->arg->via.array.size ? &job->arg->via.array.ptr[0] : NULL;
        char target[MC_JID_LEN + 1] = "";
        if (a && a->type == MSGPACK_OBJECT_STR && mc_jid_valid(a->via.str.ptr, a->via.str.size))
            memcpy(target, a->via.str.ptr, MC_JID_LEN);
        if (!target[0]) {
            mc_pk_str(&pk, "jobs.kill: give the job id to kill");
            retcode = 1;
        } else if (pool_kill(self->pool, target) || receive_kill(self->receive, target)) {
            mc_info("job %s: killing job %s on request", job->jid, target);
            char msg[80];
            snprintf(msg, sizeof msg, "Signal sent to job %s", target);
            mc_pk_str(&pk, msg);
        } else {
            char msg[80];
            snprintf(msg, sizeof msg, "Job %s is not running here", target);
            mc_pk_str(&pk, msg);
            retcode = 1;
        }
    }
    mc_ret_spec_t spec = {.jid = job->jid,
                          .id = self->cfg->id,
                          .fun = job->fun,
                          .retcode = retcode,
                          .success = retcode == 0,
                          .value = value.data,
                          .value_len = value.size,
                          .started = mc_wall_us()};
    mc_ret_pack(&sb, &spec);
    deliver_return(self, job->jid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&value);
    msgpack_sbuffer_destroy(&sb);
}

static bool kind_is(const void *kind, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(kind, s, len) == 0;
}

/* A message from the master on this minion's topic: ["job"][sealed:
   signature, job] or ["stored"][{v, jids}]. */
static void on_message(void *arg, const void *kind, size_t kind_len, const void *sealed, size_t len)
{
    link_t *from = arg;
    agent_t *self = from->agent;
    unsigned char *plain = NULL;
    mc_job_t job;
    mc_err_t err;
    bool decoded = false;

    if (kind_is(kind, kind_len, MC_KIND_STORED)) {
        on_stored(self, sealed, len);
        return;
    }
    if (kind_is(kind, kind_len, MC_KIND_CHUNK)) {
        receive_chunk(self->receive, sealed, len);
        return;
    }
    if (!kind_is(kind, kind_len, MC_KIND_JOB)) {
        mc_warn("dropped a message from the master that is neither a job nor a stored notice");
        return;
    }
    if (len < MC_SEAL_OVERHEAD + crypto_sign_BYTES) {
        mc_warn("refused a job too short to be sealed and signed");
        goto out;
    }
    plain = mc_malloc(len - MC_SEAL_OVERHEAD + 1);
    if (mc_unseal(self->seal, sealed, len, plain) != 0) {
        mc_warn("refused a job not sealed to this minion's key");
        goto out;
    }
    const unsigned char *body = plain + crypto_sign_BYTES;
    size_t body_len = len - MC_SEAL_OVERHEAD - crypto_sign_BYTES;
    if (crypto_sign_verify_detached(plain, body, body_len, self->sign_pub) != 0) {
        mc_warn("refused a job with a bad signature");
        goto out;
    }
    if (mc_job_decode(&job, body, body_len, &err) != 0) {
        mc_warn("refused a malformed job: %s", err.msg);
        goto out;
    }
    decoded = true;
    if (replay_seen(self->replay, job.jid)) {
        mc_warn("job %s: refused, this jid has already run here (replay)", job.jid);
        goto out;
    }
    int64_t age = mc_wall_us() / 1000000 - job.ts;
    if (age > self->cfg->job_max_age || age < -self->cfg->job_max_age) {
        char why[160];
        snprintf(why, sizeof why,
                 "job %s refused: published %lld s %s (job_max_age is %d s; "
                 "check the clocks)",
                 job.jid, (long long)(age < 0 ? -age : age), age < 0 ? "in the future" : "ago",
                 self->cfg->job_max_age);
        mc_warn("%s", why);
        if (replay_add(self->replay, job.jid, &err) == 0)
            send_error_return(self, &job, 1, why);
        goto out;
    }
    mc_target_t *target = mc_target_compile(job.tgt, job.tgt_type, job.delimiter, &err);
    bool mine = target && mc_target_eval(target, self->cfg->id, &self->grains_doc.root);
    mc_target_destroy(&target);
    if (!mine) {
        mc_warn("job %s: target '%s' (%s) does not match this minion; not run", job.jid, job.tgt,
                job.tgt_type);
        goto out;
    }
    /* Its ack and return go back to the master that sent it. The map
       forgets what the masters stored; past its bound (returns nobody
       stores), it starts again and those go to any master. */
    if (zhashx_size(self->origin) >= ORIGIN_MAX) {
        mc_warn("%d jobs await their masters' notice that their returns are stored: forgetting "
                "which master sent which",
                ORIGIN_MAX);
        zhashx_purge(self->origin);
    }
    zhashx_update(self->origin, job.jid, (void *)(uintptr_t)(from->index + 1));
    if (replay_add(self->replay, job.jid, &err) != 0) {
        mc_error("%s", err.msg);
        send_error_return(self, &job, 1, err.msg);
        goto out;
    }
    pending_ack_t *ack = mc_calloc(1, sizeof *ack);
    snprintf(ack->jid, sizeof ack->jid, "%s", job.jid);
    ack->due_ms = mc_mono_ms() + ACK_DELAY_MS;
    zlistx_add_end(self->acks, ack);
    mc_debug("job %s: %s", job.jid, job.fun);
    if (self->stopping_ms && !is_control(job.fun)) {
        send_error_return(self, &job, 1, "not run: the minion is shutting down");
        goto out;
    }
    if (is_control(job.fun)) {
        run_control(self, &job);
        goto out;
    }
    if (strcmp(job.fun, "cp.recv") == 0) {
        receive_start(self->receive, &job);
        goto out;
    }
    const mc_function_t *f = mc_function_find(job.fun);
    if (f && (f->flags & MC_FN_QUICK)) {
        mc_buf_t ret = {0};
        worker_run_job(&self->wctx, (const char *)body, body_len, self->grains.data,
                       self->grains.size, &ret);
        deliver_return(self, job.jid, ret.data, ret.len);
        mc_buf_free(&ret);
        goto out;
    }
    if (pool_submit(self->pool, job.jid, job.fun, job.timeout, (const char *)body, body_len)) {
        char why[160];
        snprintf(why, sizeof why,
                 "minion busy: %d jobs running and %d queued (queue_max); job "
                 "refused",
                 pool_busy(self->pool), pool_queued(self->pool));
        mc_warn("job %s: %s", job.jid, why);
        send_error_return(self, &job, 1, why);
    }
out:
    if (decoded)
        mc_job_done(&job);
    free(plain);
}

/* A failure to reach or register with the master is logged when its
   reason changes, not each time the minion tries again. */
static void note_failure(link_t *link, const char *why)
{
    if (strcmp(why, link->last_failure) == 0)
        return;
    snprintf(link->last_failure, sizeof link->last_failure, "%s", why);
    if (link->agent->nlinks > 1)
        mc_error("master %s: %s", link->name, why);
    else
        mc_error("%s", why);
}

/* " NAME" when there are several masters: which one a line is about. */
static const char *which_master(const link_t *link)
{
    static __thread char buf[300];
    if (link->agent->nlinks < 2)
        return "";
    snprintf(buf, sizeof buf, " %s", link->name);
    return buf;
}

/* The connections to the master came up or went down. */
static void on_chan_event(void *arg, channel_event_t event, const char *which)
{
    link_t *link = arg;
    agent_t *self = link->agent;
    if (event == CHANNEL_UP) {
        link->down_since_ms = 0;
        link->retry_ms = 0;
        link->refused_backoff_ms = 0;
        link->last_failure[0] = '\0';
        mc_info("connected to the master%s%s", which_master(link),
                spool_count(self->spool) ? "; sending the returns not stored yet" : "");
        send_heartbeat(self, MC_KIND_HELLO, link);
        send_grains(self, link);
        spool_all_due(self->spool);
    } else if (event == CHANNEL_LOST) {
        if (!link->down_since_ms)
            link->down_since_ms = mc_mono_ms();
        mc_warn("lost the connection to the master%s (%s); reconnecting", which_master(link),
                which);
    } else if (!link->retry_ms) {
        /* libzmq gives a refused connection up for good. A master that
           shares its key list may not have seen the acceptance yet, and a
           key may be accepted again: open the channel again, backing off
           from 1 s to 30 s. */
        note_failure(link, "the master refused this minion's key (deleted or rejected?)");
        link->refused_backoff_ms =
            link->refused_backoff_ms ? link->refused_backoff_ms * 2 : REFUSED_RETRY_MS;
        if (link->refused_backoff_ms > REFUSED_RETRY_MAX_MS)
            link->refused_backoff_ms = REFUSED_RETRY_MAX_MS;
        link->retry_ms = mc_mono_ms() + link->refused_backoff_ms;
    }
}

/* SIGHUP: take the grains: map from the config file as it is now (the
   rest of the config needs a restart). */
static void reload_config_grains(agent_t *self)
{
    mc_minion_config_t fresh;
    mc_err_t err;
    if (mc_minion_config_load(&fresh, self->config_dir, &err) != 0) {
        mc_error("SIGHUP: config not re-read: %s", err.msg);
        return;
    }
    mc_yaml_t *old = self->cfg->doc;
    self->cfg->doc = fresh.doc;
    self->cfg->grains = fresh.grains;
    fresh.doc = old;
    mc_minion_config_free(&fresh);
    mc_info("SIGHUP: grains re-read from the config");
}

static void on_signal(agent_t *self)
{
    struct signalfd_siginfo si;
    while (read(self->sigfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            pool_check(self->pool);
        } else if (si.ssi_signo == SIGHUP) {
            mc_log_reopen();
            reload_config_grains(self);
            if (refresh_grains(self))
                send_grains(self, NULL);
        } else if (!self->stopping_ms && self->pool && pool_busy(self->pool)) {
            /* Running jobs may finish within the grace period; queued
               ones will not start. */
            self->stopping_ms = mc_mono_ms() + (int64_t)self->cfg->shutdown_grace * 1000;
            mc_info("%s: stopping; %d running jobs have %d s to finish",
                    strsignal((int)si.ssi_signo), pool_busy(self->pool), self->cfg->shutdown_grace);
            pool_drop_queued(self->pool, "not run: the minion is shutting down");
        } else {
            mc_info("%s: stopping", strsignal((int)si.ssi_signo));
            self->stop = true;
        }
    }
}

/* ---- start-up ------------------------------------------------------------- */

/* The master's CURVE key: master_pubkey is its Z85 text or the path of its
   master.cert file. '/' is a Z85 digit, so text that starts with one is a
   path only when it is not a key, or names a file that exists. */
static int load_master_key(agent_t *self, mc_err_t *err)
{
    const char *k = self->cfg->master_pubkey;
    if (!k[0]) {
        mc_err_set(err, "master_pubkey is not set in the minion config: set it to the master's "
                        "public key (the 'public-key' line of the master's pki_dir/master.cert, "
                        "or that file's path)");
        return -1;
    }
    bool is_key = mc_z85_key_decode(k, self->master_pub) == 0;
    if (k[0] == '/' && (!is_key || access(k, F_OK) == 0))
        return mc_curve_load_public(k, self->master_pub, err);
    if (!is_key) {
        mc_err_set(err, "master_pubkey: \"%s\" is not a 40-character Z85 key or a file path", k);
        return -1;
    }
    return 0;
}

/* Pin the master's signing key on first acceptance; refuse a change. */
static int pin_sign_key(agent_t *self, const unsigned char key[MC_KEY_LEN], mc_err_t *err)
{
    char *path = mc_sprintf("%s/master_sign.pub", self->cfg->pki_dir);
    char *text = NULL;
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(key, z85);
    int rc = 0;
    if (mc_read_file(path, 1024, &text, NULL, NULL) == 0) {
        text[strcspn(text, "\r\n")] = '\0';
        if (strcmp(text, z85) != 0) {
            mc_err_set(err,
                       "the master's signing key changed (pinned %s, offered %s); refusing. "
                       "If the master's keys were replaced on purpose, delete %s",
                       text, z85, path);
            rc = -1;
        }
    } else {
        char line[MC_Z85_KEY_LEN + 2];
        snprintf(line, sizeof line, "%s\n", z85);
        rc = mc_write_file(path, line, strlen(line), 0600, err);
        if (rc == 0) {
            char finger[MC_FINGERPRINT_LEN];
            mc_fingerprint(key, finger);
            mc_info("pinned the master's signing key, fingerprint %s", finger);
        }
    }
    memcpy(self->sign_pub, key, MC_KEY_LEN);
    free(text);
    free(path);
    return rc;
}

/* What the master answered on the auth port: 1 when accepted (and the
   signing key pinned), 0 to keep asking, -1 on a fatal error. */
static int on_reg_reply(agent_t *self, zframe_t *frame, char *last_status, size_t cap,
                        mc_err_t *err)
{
    mc_register_reply_t reply;
    mc_err_t derr;
    if (mc_register_reply_decode(&reply, zframe_data(frame), zframe_size(frame), &derr) != 0) {
        mc_warn("registration: bad answer from the master: %s", derr.msg);
        return 0;
    }
    if (strcmp(reply.status, "accepted") == 0 && reply.has_sign_pub)
        return pin_sign_key(self, reply.sign_pub, err) == 0 ? 1 : -1;
    if (strcmp(reply.status, last_status) != 0) {
        char finger[MC_FINGERPRINT_LEN];
        mc_fingerprint(self->keys.pub, finger);
        if (strcmp(reply.status, "pending") == 0)
            mc_info("waiting for the master to accept this minion's key (fingerprint "
                    "%s): run 'mctl key accept %s' on the master",
                    finger, self->cfg->id);
        else
            mc_error("the master has this minion's key as %s: ask its operator to accept "
                     "it (mctl key accept --include-rejected %s) or delete it",
                     reply.status, self->cfg->id);
        snprintf(last_status, cap, "%s", reply.status);
    }
    return 0;
}

/* How long an address of the master may stay silent before the next one
   is tried (when its name has several). */
#define ROTATE_MS 10000
/* How often the name is resolved again while no address answers. */
#define RERESOLVE_MS 60000

/* tcp://ADDRESS:PORT, with brackets for IPv6. */
static void endpoint(char *out, size_t cap, const char *addr, int port)
{
    snprintf(out, cap, strchr(addr, ':') ? "tcp://[%s]:%d" : "tcp://%s:%d", addr, port);
}

/* Resolve one master's name, waiting up to ROTATE_MS (a signal is still
   heard). 0 when it has addresses. */
static int resolve_link_now(link_t *link)
{
    agent_t *self = link->agent;
    mc_err_t err;
    resolve_t *r = resolve_start(link->name, &err);
    if (!r) {
        note_failure(link, err.msg);
        return -1;
    }
    zmq_pollitem_t items[] = {{NULL, resolve_fd(r), ZMQ_POLLIN, 0},
                              {NULL, self->sigfd, ZMQ_POLLIN, 0}};
    int64_t start = mc_mono_ms();
    bool done = false;
    while (!self->stop && !done && mc_mono_ms() - start < ROTATE_MS) {
        if (zmq_poll(items, 2, 1000) > 0 && (items[1].revents & ZMQ_POLLIN))
            on_signal(self);
        done = items[0].revents & ZMQ_POLLIN;
    }
    int rc = done ? resolve_result(r, &link->addrs, &link->naddrs, &err) : -1;
    resolve_free(&r);
    link->resolved_ms = mc_mono_ms();
    if (rc != 0) {
        note_failure(link, done ? err.msg : "resolving the master's name is slow; still trying");
        return -1;
    }
    if (link->naddrs > 1)
        mc_info("master %s has %zu addresses; trying %s first", link->name, link->naddrs,
                link->addrs[0]);
    return 0;
}

/* Resolve the masters' names before the first connection, waiting as long
   as it takes for one of them at least (a signal stops the wait); the
   others are resolved again from the loop. */
static int resolve_masters_first(agent_t *self, mc_err_t *err)
{
    while (!self->stop) {
        size_t resolved = 0;
        for (size_t i = 0; i < self->nlinks && !self->stop; i++)
            if (self->links[i].naddrs || resolve_link_now(&self->links[i]) == 0)
                resolved++;
        if (resolved)
            return 0;
        /* Ask again in a few seconds; signals still heard. */
        zmq_pollitem_t sig = {NULL, self->sigfd, ZMQ_POLLIN, 0};
        int64_t until = mc_mono_ms() + 5000;
        while (!self->stop && mc_mono_ms() < until)
            if (zmq_poll(&sig, 1, (long)(until - mc_mono_ms())) > 0)
                on_signal(self);
    }
    mc_err_set(err, "stopped before the master's name was resolved");
    return -1;
}

/* The next address to register at: the next one of this master's, then
   the next master's first. */
static link_t *next_reg_address(agent_t *self, link_t *link)
{
    if (link->addr_i + 1 < link->naddrs) {
        link->addr_i++;
        return link;
    }
    link->addr_i = 0;
    for (size_t k = 1; k <= self->nlinks; k++) {
        link_t *next = &self->links[(size_t)(link->index + k) % self->nlinks];
        if (next->naddrs) {
            next->addr_i = 0;
            return next;
        }
    }
    return link;
}

/* Present our key on the auth port (a DEALER to the master's ROUTER)
   until a master accepts it (masters sharing one key list accept it for
   all of them). Silence from an address for ROTATE_MS: the next address,
   or the next master. Returns -1 on a stop signal or a fatal error. */
static int register_with_master(agent_t *self, mc_err_t *err)
{
    link_t *link = NULL;
    for (size_t i = 0; i < self->nlinks && !link; i++)
        if (self->links[i].naddrs)
            link = &self->links[i];
    const char *m = link->addrs[link->addr_i];
    int port = self->cfg->auth_port;
    zsock_t *reg = zsock_new(ZMQ_DEALER);
    if (!reg) {
        mc_err_set(err, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    zsock_set_curve_serverkey_bin(reg, self->master_pub);
    zsock_set_curve_publickey_bin(reg, self->keys.pub);
    zsock_set_curve_secretkey_bin(reg, self->keys.sec);
    zsock_set_linger(reg, 0);
    zsock_set_reconnect_ivl(reg, 200);
    zsock_set_reconnect_ivl_max(reg, 5000);
    zsock_set_immediate(reg, 1);
    zsock_set_maxmsgsize(reg, MC_MAX_SMALL_MSG);
    zsock_set_ipv6(reg, 1); /* IPv4 addresses work on it too */
    char ep[128];
    endpoint(ep, sizeof ep, m, port);
    int rc = zsock_connect(reg, "%s", ep);
    if (rc != 0) {
        mc_err_set(err, "cannot connect to %s port %d: %s", m, port, zmq_strerror(zmq_errno()));
        zsock_destroy(&reg);
        return -1;
    }
    msgpack_sbuffer req;
    msgpack_sbuffer_init(&req);
    mc_register_pack(&req, self->cfg->id, self->keys.pub);

    int wait_ms = 250;
    int64_t start = mc_mono_ms(), last_note = start, next_send = 0, since = start;
    int64_t last_reply = 0;
    bool answered = false;
    char last_status[16] = "";
    zmq_pollitem_t items[] = {{zsock_resolve(reg), 0, ZMQ_POLLIN, 0},
                              {NULL, self->sigfd, ZMQ_POLLIN, 0}};
    rc = -1;
    while (!self->stop) {
        int64_t now = mc_mono_ms();
        /* Pending keys are answered the moment they are accepted, so a
           slow re-send costs nothing; with no connection yet the send
           fails at once and is tried again soon. */
        if (now >= next_send) {
            bool sent = zmq_send(zsock_resolve(reg), req.data, req.size, ZMQ_DONTWAIT) >= 0;
            next_send = now + (sent ? wait_ms : 200);
            if (sent)
                wait_ms = wait_ms * 2 > 10000 ? 10000 : wait_ms * 2;
        }
        if (zmq_poll(items, 2, (long)(next_send - mc_mono_ms())) > 0) {
            if (items[1].revents & ZMQ_POLLIN)
                on_signal(self);
            while (zsock_events(reg) & ZMQ_POLLIN) {
                zframe_t *f = zframe_recv(reg);
                if (!f)
                    break;
                answered = true;
                last_reply = mc_mono_ms();
                int got = on_reg_reply(self, f, last_status, sizeof last_status, err);
                zframe_destroy(&f);
                if (got != 0) {
                    rc = got > 0 ? 0 : -1;
                    goto done;
                }
            }
        }
        /* Silence from this address (never an answer for ROTATE_MS, or
           none for three times that since it last answered, as a
           master that said "pending" and went away): the next one (of
           this master's name, or the next master). */
        link_t *next = link;
        bool silent = answered ? mc_mono_ms() - last_reply >= 3 * ROTATE_MS
                               : mc_mono_ms() - since >= ROTATE_MS;
        if (silent && ((next = next_reg_address(self, link)) != link || link->naddrs > 1)) {
            answered = false;
            zsock_disconnect(reg, "%s", ep);
            bool same_master = next == link;
            link = next;
            m = link->addrs[link->addr_i];
            endpoint(ep, sizeof ep, m, port);
            if (same_master)
                mc_info("no answer from the master there; trying its next address, %s", m);
            else
                mc_info("no answer from the master there; trying the next master, %s (%s)",
                        link->name, m);
            zsock_connect(reg, "%s", ep);
            since = mc_mono_ms();
            next_send = 0;
            wait_ms = 250;
        }
        if (!answered && mc_mono_ms() - last_note >= 30000) {
            mc_info("no answer from the master at %s port %d yet (%lld s); still trying (is it "
                    "running there, and is master_pubkey its key?)",
                    m, port, (long long)((mc_mono_ms() - start) / 1000));
            last_note = mc_mono_ms();
        }
    }
    mc_err_set(err, "stopped before the master accepted this minion");
done:
    msgpack_sbuffer_destroy(&req);
    zsock_destroy(&reg);
    return rc;
}

static int connect_link(link_t *link, mc_err_t *err)
{
    agent_t *self = link->agent;
    link->last_failure[0] = '\0';
    link->down_since_ms = mc_mono_ms();
    channel_config_t cc = {.master = link->addrs[link->addr_i],
                           .publish_port = self->cfg->publish_port,
                           .ret_port = self->cfg->ret_port,
                           .server_pub = self->master_pub,
                           .pub = self->keys.pub,
                           .sec = self->keys.sec,
                           .id = self->cfg->id,
                           .max_msg = MC_MAX_JOB_MSG + 1024,
                           .alive_ms = self->cfg->master_alive_interval * 1000,
                           .on_event = on_chan_event,
                           .on_message = on_message,
                           .arg = link};
    link->chan = channel_new(&cc, err);
    return link->chan ? 0 : -1;
}

/* The channel again, to the address in use now. The new one is made
   before the old one goes: when it cannot be made, the old one stays
   (libzmq keeps reconnecting it) and the next rotation tries again. */
static void reconnect_to_current(link_t *link)
{
    channel_t *old = link->chan;
    link->chan = NULL;
    mc_err_t err;
    if (connect_link(link, &err) != 0) {
        note_failure(link, err.msg);
        link->chan = old;
        link->down_since_ms = mc_mono_ms();
        return;
    }
    channel_destroy(&old);
}

/* The name resolved again (from the loop): new addresses replace the old
   ones, and the first of them is tried. */
static void on_resolved(link_t *link)
{
    char **addrs = NULL;
    size_t n = 0;
    mc_err_t err;
    int rc = resolve_result(link->resolving, &addrs, &n, &err);
    resolve_free(&link->resolving);
    link->resolved_ms = mc_mono_ms();
    if (rc != 0) {
        note_failure(link, err.msg);
        return;
    }
    bool same = link->chan && n == link->naddrs;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(addrs[i], link->addrs[i]) == 0;
    if (same) {
        resolve_addrs_free(addrs, n);
        return;
    }
    mc_info("master %s resolves to %s%s now; connecting there", link->name, addrs[0],
            n > 1 ? " (and others)" : "");
    resolve_addrs_free(link->addrs, link->naddrs);
    link->addrs = addrs;
    link->naddrs = n;
    link->addr_i = 0;
    reconnect_to_current(link);
}

/* While a master does not answer: after ROTATE_MS, the next address of
   its name; every RERESOLVE_MS (every ROTATE_MS for a name that had no
   address yet), the name resolved again (in its own thread: the loop
   goes on handling jobs meanwhile). */
static void check_master_address(link_t *link, int64_t now)
{
    if (link->retry_ms && now >= link->retry_ms && link->chan) {
        link->retry_ms = 0;
        reconnect_to_current(link);
        return;
    }
    if (link->resolving)
        return;
    if (!link->chan) {
        if (now - link->resolved_ms < ROTATE_MS)
            return;
    } else {
        if (!link->down_since_ms)
            return;
        if (link->naddrs > 1 && now - link->down_since_ms >= ROTATE_MS) {
            const char *was = link->addrs[link->addr_i];
            link->addr_i = (link->addr_i + 1) % link->naddrs;
            mc_info("no answer from the master at %s; trying its next address, %s", was,
                    link->addrs[link->addr_i]);
            reconnect_to_current(link);
        }
        if (now - link->resolved_ms < RERESOLVE_MS || now - link->down_since_ms < ROTATE_MS / 2)
            return;
    }
    mc_err_t err;
    link->resolving = resolve_start(link->name, &err);
    if (!link->resolving) {
        note_failure(link, err.msg);
        link->resolved_ms = now;
    }
}

static int open_signals(agent_t *self, mc_err_t *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    self->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (self->sigfd < 0) {
        mc_err_set(err, "signalfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int setup(agent_t *self, mc_err_t *err)
{
    mc_minion_config_t *cfg = self->cfg;
    bool created;
    if (mc_mkdir_p(cfg->pki_dir, 0700, err) || mc_check_private_dir(cfg->pki_dir, err) ||
        mc_mkdir_p(cfg->cachedir, 0700, err))
        return -1;
    if (mc_curve_load_or_create(cfg->pki_dir, "minion", &self->keys, &created, err) != 0)
        return -1;
    if (created)
        mc_info("created this minion's key in %s", cfg->pki_dir);
    if (load_master_key(self, err) != 0)
        return -1;
    mc_seal_key(self->seal, self->master_pub, self->keys.sec);
    char *spool_dir = mc_sprintf("%s/spool", cfg->cachedir);
    self->spool = spool_new(spool_dir, err);
    free(spool_dir);
    if (!self->spool)
        return -1;
    char *jids = mc_sprintf("%s/jids", cfg->cachedir);
    self->replay = replay_new(jids, cfg->job_max_age, err);
    free(jids);
    if (!self->replay)
        return -1;
    self->receive = receive_new(cfg->id, cfg->cachedir, send_cpack, on_worker_return, self);

    self->wctx = (worker_ctx_t){.id = cfg->id, .output_max = cfg->output_max};
    self->pool = pool_new(cfg->workers, cfg->queue_max, &self->wctx, on_worker_return, self);
    refresh_grains(self);
    if (pool_start(self->pool, err) != 0)
        return -1;
    self->origin = zhashx_new();
    self->outbox = zlistx_new();
    zlistx_set_destructor(self->outbox, (zlistx_destructor_fn *)zmsg_destroy);
    self->acks = zlistx_new();
    zlistx_set_destructor(self->acks, free_ack);
    if (open_signals(self, err) != 0)
        return -1;
    /* Keys, spool and workers are there: from here on the minion works
       (it waits for the master as long as it takes). */
    mc_daemon_ready();
    mc_info("minion %s starting: %d workers, master%s %s", cfg->id, cfg->workers,
            self->nlinks > 1 ? "s" : "", cfg->master);
    if (resolve_masters_first(self, err) != 0 || register_with_master(self, err) != 0)
        return -1;
    /* Every master whose name has addresses now; the others once it has. */
    for (size_t i = 0; i < self->nlinks; i++)
        if (self->links[i].naddrs && connect_link(&self->links[i], err) != 0)
            return -1;
    return 0;
}

/* During the grace period: leave once nothing runs; at its end, cancel what
   still runs and give it a few seconds to report that it was killed. */
static void stop_when_done(agent_t *self, int64_t now)
{
    static const int64_t report_ms = 5000;
    if (pool_busy(self->pool) == 0) {
        mc_info("running jobs are done: stopping");
        self->stop = true;
    } else if (now >= self->stopping_ms + report_ms) {
        mc_warn("%d jobs did not report after being killed: stopping anyway",
                pool_busy(self->pool));
        self->stop = true;
    } else if (now >= self->stopping_ms && !self->cancelled) {
        mc_warn("grace period over: killing %d running jobs", pool_busy(self->pool));
        pool_cancel_running(self->pool);
        self->cancelled = true;
    }
}

static void teardown(agent_t *self)
{
    if (self->outbox && zlistx_size(self->outbox) > 0)
        mc_warn("stopping with %zu messages the master has not received",
                zlistx_size(self->outbox));
    pool_destroy(&self->pool);
    if (self->receive && receive_active(self->receive)) {
        receive_abandon(self->receive, "the minion stopped during the copy");
        outbox_flush(self);
    }
    receive_destroy(&self->receive);
    for (size_t i = 0; i < self->nlinks; i++) {
        link_t *link = &self->links[i];
        channel_destroy(&link->chan);
        resolve_free(&link->resolving);
        resolve_addrs_free(link->addrs, link->naddrs);
        link->addrs = NULL;
        link->naddrs = 0;
    }
    zhashx_destroy(&self->origin);
    zlistx_destroy(&self->outbox);
    zlistx_destroy(&self->acks);
    replay_destroy(&self->replay);
    if (self->spool && spool_count(self->spool))
        mc_info("%zu returns stay in the spool until the master stores them",
                spool_count(self->spool));
    if (self->spool)
        spool_sync(self->spool);
    spool_destroy(&self->spool);
    if (self->grains_doc.root.type == MSGPACK_OBJECT_MAP)
        mc_mp_doc_done(&self->grains_doc);
    msgpack_sbuffer_destroy(&self->grains);
    if (self->sigfd >= 0)
        close(self->sigfd);
    sodium_memzero(&self->keys, sizeof self->keys);
}

int agent_run(mc_minion_config_t *cfg, const char *config_dir)
{
    agent_t self = {.cfg = cfg, .config_dir = config_dir, .sigfd = -1, .started_ms = mc_mono_ms()};
    msgpack_sbuffer_init(&self.grains);
    self.nlinks = cfg->nmasters;
    for (size_t i = 0; i < self.nlinks; i++)
        self.links[i] = (link_t){.agent = &self, .index = (int)i, .name = cfg->masters[i]};
    mc_err_t err;
    if (setup(&self, &err) != 0) {
        int rc = self.stop ? 0 : 1;
        if (!self.stop)
            mc_error("%s", err.msg);
        teardown(&self);
        return rc;
    }
    /* One poll for everything: the sockets to the master, signals and the
       workers' pipes. */
    enum { CHAN_ITEMS = CHANNEL_POLL_ITEMS * MC_MASTERS_MAX };
    enum { SIG = CHAN_ITEMS, RESOLVE, FIXED = RESOLVE + MC_MASTERS_MAX };
    zmq_pollitem_t items[FIXED + MAX_WORKERS_POLL];
    struct pollfd worker_fds[MAX_WORKERS_POLL];
    int64_t next_heartbeat = mc_mono_ms() + cfg->heartbeat * 1000;
    int64_t next_grains = mc_mono_ms() + GRAINS_REFRESH_MS, next_sync = 0;
    while (!self.stop) {
        /* The channel may have been replaced (another address of the
           master): its sockets are taken afresh each turn. */
        for (size_t i = 0; i < MC_MASTERS_MAX; i++) {
            link_t *link = &self.links[i];
            zmq_pollitem_t *ci = &items[i * CHANNEL_POLL_ITEMS];
            if (i < self.nlinks && link->chan)
                channel_poll_items(link->chan, ci);
            else
                for (int k = 0; k < CHANNEL_POLL_ITEMS; k++)
                    ci[k] = (zmq_pollitem_t){NULL, -1, 0, 0};
            items[RESOLVE + i] = (zmq_pollitem_t){
                NULL, i < self.nlinks && link->resolving ? resolve_fd(link->resolving) : -1,
                ZMQ_POLLIN, 0};
        }
        items[SIG] = (zmq_pollitem_t){NULL, self.sigfd, ZMQ_POLLIN, 0};
        int workers = pool_pollfds(self.pool, worker_fds, MAX_WORKERS_POLL);
        for (int i = 0; i < workers; i++)
            items[FIXED + i] = (zmq_pollitem_t){NULL, worker_fds[i].fd, ZMQ_POLLIN, 0};
        /* Idle, the next thing to do is the heartbeat; a running job or a
           spooled return is looked at every second. */
        int64_t until = next_heartbeat < next_grains ? next_heartbeat : next_grains;
        long timeout = (long)(until - mc_mono_ms());
        if (timeout > 1000 &&
            (pool_busy(self.pool) || pool_queued(self.pool) || spool_count(self.spool) ||
             self.stopping_ms || receive_active(self.receive)))
            timeout = 1000;
        if (zlistx_size(self.outbox) && timeout > 100)
            timeout = 100;
        long ack_in = acks_due(&self, mc_mono_ms());
        if (ack_in >= 0 && ack_in < timeout)
            timeout = ack_in;
        long cpack_in = receive_due(self.receive, mc_mono_ms());
        if (cpack_in >= 0 && cpack_in < timeout)
            timeout = cpack_in;
        if (timeout < 0)
            timeout = 0;
        int rc = zmq_poll(items, FIXED + workers, timeout);
        if (rc < 0 && zmq_errno() != EINTR) {
            mc_error("poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        for (int i = FIXED; rc > 0 && i < FIXED + workers; i++)
            if (items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
                pool_on_readable(self.pool, items[i].fd);
        if (rc > 0) {
            for (size_t i = 0; i < self.nlinks; i++) {
                link_t *link = &self.links[i];
                if (link->chan)
                    channel_service(link->chan, &items[i * CHANNEL_POLL_ITEMS]);
                if (link->resolving && (items[RESOLVE + i].revents & ZMQ_POLLIN))
                    on_resolved(link);
            }
            if (items[SIG].revents & ZMQ_POLLIN)
                on_signal(&self);
        }

        outbox_flush(&self);
        spool_send_due(self.spool, RESEND_MS, send_return, &self);
        int64_t now = mc_mono_ms();
        if (self.stopping_ms)
            stop_when_done(&self, now);
        pool_check(self.pool);
        receive_check(self.receive, now);
        for (size_t i = 0; i < self.nlinks; i++)
            check_master_address(&self.links[i], now);
        if (now >= next_sync) {
            /* The log learns what is stored once a second rather than
               with every notice: a crash costs at most a second's worth
               of returns sent twice, which the master takes once. */
            spool_sync(self.spool);
            next_sync = now + 1000;
        }
        if (now >= next_heartbeat) {
            send_heartbeat(&self, MC_KIND_HEARTBEAT, NULL);
            replay_prune(self.replay);
            next_heartbeat = now + cfg->heartbeat * 1000;
        }
        if (now >= next_grains) {
            if (refresh_grains(&self))
                send_grains(&self, NULL);
            next_grains = now + GRAINS_REFRESH_MS;
        }
    }
    teardown(&self);
    mc_info("minion stopped");
    return 0;
}
