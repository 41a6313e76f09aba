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
#include "agent_state.h"

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
    agent_deliver_return(self, job->jid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&value);
    msgpack_sbuffer_destroy(&sb);
}

static bool kind_is(const void *kind, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(kind, s, len) == 0;
}

/* A message from the master on this minion's topic: ["job"][sealed:
   signature, job] or ["stored"][{v, jids}]. */
void agent_on_message(void *arg, const void *kind, size_t kind_len, const void *sealed, size_t len)
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
            agent_send_error_return(self, &job, 1, why);
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
        agent_send_error_return(self, &job, 1, err.msg);
        goto out;
    }
    pending_ack_t *ack = mc_calloc(1, sizeof *ack);
    snprintf(ack->jid, sizeof ack->jid, "%s", job.jid);
    ack->due_ms = mc_mono_ms() + ACK_DELAY_MS;
    zlistx_add_end(self->acks, ack);
    mc_debug("job %s: %s", job.jid, job.fun);
    if (self->stopping_ms && !is_control(job.fun)) {
        agent_send_error_return(self, &job, 1, "not run: the minion is shutting down");
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
        agent_deliver_return(self, job.jid, ret.data, ret.len);
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
        agent_send_error_return(self, &job, 1, why);
    }
out:
    if (decoded)
        mc_job_done(&job);
    free(plain);
}

/* A failure to reach or register with the master is logged when its
   reason changes, not each time the minion tries again. */
void agent_note_failure(link_t *link, const char *why)
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
void agent_on_chan_event(void *arg, channel_event_t event, const char *which)
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
        agent_send_heartbeat(self, MC_KIND_HELLO, link);
        agent_send_grains(self, link);
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
        agent_note_failure(link, "the master refused this minion's key (deleted or rejected?)");
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

void agent_on_signal(agent_t *self)
{
    struct signalfd_siginfo si;
    while (read(self->sigfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            pool_check(self->pool);
        } else if (si.ssi_signo == SIGHUP) {
            mc_log_reopen();
            reload_config_grains(self);
            if (agent_refresh_grains(self))
                agent_send_grains(self, NULL);
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
    if (agent_load_master_key(self, err) != 0)
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
    self->receive =
        receive_new(cfg->id, cfg->cachedir, agent_send_cpack, agent_on_worker_return, self);

    self->wctx = (worker_ctx_t){.id = cfg->id, .output_max = cfg->output_max};
    self->pool = pool_new(cfg->workers, cfg->queue_max, &self->wctx, agent_on_worker_return, self);
    agent_refresh_grains(self);
    if (pool_start(self->pool, err) != 0)
        return -1;
    self->origin = zhashx_new();
    self->outbox = zlistx_new();
    zlistx_set_destructor(self->outbox, (zlistx_destructor_fn *)zmsg_destroy);
    self->acks = zlistx_new();
    zlistx_set_destructor(self->acks, agent_free_ack);
    if (open_signals(self, err) != 0)
        return -1;
    /* Keys, spool and workers are there: from here on the minion works
       (it waits for the master as long as it takes). */
    mc_daemon_ready();
    mc_info("minion %s starting: %d workers, master%s %s", cfg->id, cfg->workers,
            self->nlinks > 1 ? "s" : "", cfg->master);
    if (agent_resolve_masters_first(self, err) != 0 || agent_register_with_master(self, err) != 0)
        return -1;
    /* Every master whose name has addresses now; the others once it has. */
    for (size_t i = 0; i < self->nlinks; i++)
        if (self->links[i].naddrs && agent_connect_link(&self->links[i], err) != 0)
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
        agent_outbox_flush(self);
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
        long ack_in = agent_acks_due(&self, mc_mono_ms());
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
                    agent_on_resolved(link);
            }
            if (items[SIG].revents & ZMQ_POLLIN)
                agent_on_signal(&self);
        }

        agent_outbox_flush(&self);
        spool_send_due(self.spool, RESEND_MS, agent_send_return, &self);
        int64_t now = mc_mono_ms();
        if (self.stopping_ms)
            stop_when_done(&self, now);
        pool_check(self.pool);
        receive_check(self.receive, now);
        for (size_t i = 0; i < self.nlinks; i++)
            agent_check_master_address(&self.links[i], now);
        if (now >= next_sync) {
            /* The log learns what is stored once a second rather than
               with every notice: a crash costs at most a second's worth
               of returns sent twice, which the master takes once. */
            spool_sync(self.spool);
            next_sync = now + 1000;
        }
        if (now >= next_heartbeat) {
            agent_send_heartbeat(&self, MC_KIND_HEARTBEAT, NULL);
            replay_prune(self.replay);
            next_heartbeat = now + cfg->heartbeat * 1000;
        }
        if (now >= next_grains) {
            if (agent_refresh_grains(&self))
                agent_send_grains(&self, NULL);
            next_grains = now + GRAINS_REFRESH_MS;
        }
    }
    teardown(&self);
    mc_info("minion stopped");
    return 0;
}
