/*  server - the master's sockets and its one event loop.

    Design. The master is one thread around one zmq_poll. Everything it
    owns (registry, jobs in flight, sockets) is touched only from here, so
    there are no locks. The sockets:

      zap     REP     inproc ZAP handler: admits CURVE clients (see zap.h)
      reg     ROUTER  tcp auth_port: minions present their key, wait for
                      acceptance, and learn the master's signing key
      pub     XPUB    tcp publish_port: jobs, each signed once and sealed
                      to its minion, and "stored" notices, each on the
                      topic of one minion (m:<id>\0). In: the minions'
                      subscriptions, each with the ZAP User-Id (the key)
                      of the connection that made it; a minion is present
                      while a subscription to its topic stands and its
                      current key has spoken since it was accepted (or the
                      master started). A job for a minion that is not
                      present is not sent and the client is told so at
                      once. A minion has at most pub_hwm jobs sent and not
                      yet acknowledged or returned, well below the socket's
                      high-water mark, so a PUB queue never drops one
                      unsaid: past pub_hwm the client is told instead
      pull    PULL    tcp ret_port: returns, acks, heartbeats, hellos and
                      grains. Each message is resolved by the key that
                      sent it (User-Id), never by the id it names: a key
                      that is not accepted now speaks for nobody, and a
                      message naming another id than its key's is refused
      client  ROUTER  ipc SOCK_DIR/master.ipc, mode 0600: the mctl command
                      line; requests are msgpack maps {v, cmd, ...}, answers
                      are [kind][msgpack] with kind "reply", "ack" or "ret"

    This file is the loop: it polls the sockets and the signalfd and hands
    each ready socket to its handler (a table: minions_on_message,
    minions_on_subscription, clients_on_request, minions_on_register),
    draining a bounded batch from each so that none starves the others.
    After each turn it hands what the turn received to the job cache's
    writer thread (or queues it behind the batch being written), and
    publish.c confirms to the minions what the writer has committed (its
    eventfd wakes the loop), and answers the clients' reads of the
    history that the job cache's reader thread has done (another eventfd);
    once a second it confirms what waited, expires jobs and asks for the
    reads of clients following jobs in the history (follow.c). The handlers live in clients.c,
   publish.c and minions.c, around the state in master.h; the TCP sockets are made in listen.c. */
#include "server.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "master.h"
#include "zap.h"

/* A key another master accepted or rejected: a registration waiting
   here for it gets its answer. */
static void on_key_change(void *arg, minion_t *m, key_state_t old)
{
    (void)old;
    master_t *self = arg;
    if (m->waiting && (m->state == KEY_ACCEPTED || m->state == KEY_REJECTED)) {
        minions_registration_reply(self, m->waiting, m->state);
        zframe_destroy(&m->waiting);
    }
}

/* What other masters did to the shared key list (PostgreSQL). It is
   read every second: a failure is said at once, then once a minute while
   it lasts, and its end too. */
static void sync_keys(master_t *self)
{
    mc_err_t err;
    int64_t now = mc_mono_ms();
    if (registry_sync(self->registry, on_key_change, self, &err) != 0) {
        if (!self->keys_failing_ms)
            self->keys_failing_ms = now;
        else if (now - self->keys_reported_ms < 60000)
            return;
        self->keys_reported_ms = now;
        mc_error("%s; keys changed on other masters are not seen until it is back (for %lld s "
                 "now)",
                 err.msg, (long long)((now - self->keys_failing_ms) / 1000));
        return;
    }
    if (self->keys_failing_ms)
        mc_info("keys: the shared key list is read again after %lld s",
                (long long)((now - self->keys_failing_ms) / 1000));
    self->keys_failing_ms = 0;
    if (self->keys && keystore_pg_index(self->keys) >= 0)
        self->jid_index = keystore_pg_index(self->keys);
}

static bool on_zap(master_t *self)
{
    return zap_handle(self->zap, self->registry, &self->zap_log);
}

static void on_signal(master_t *self)
{
    struct signalfd_siginfo si;
    if (read(self->sigfd, &si, sizeof si) != sizeof si)
        return;
    if (si.ssi_signo == SIGHUP) {
        mc_log_reopen();
        mc_err_t err;
        if (self->audit && audit_reopen(self->audit, &err) != 0)
            mc_error("SIGHUP: %s; still writing to the file open before", err.msg);
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

#define MASTER_IO_THREADS_MAX 8

/* client_group, by name, or the master's primary group. */
static int resolve_client_group(master_t *self, mc_err_t *err)
{
    struct group gr, *found = NULL;
    char buf[4096];
    const char *name = self->cfg->client_group;
    int rc = name[0] ? getgrnam_r(name, &gr, buf, sizeof buf, &found)
                     : getgrgid_r(getegid(), &gr, buf, sizeof buf, &found);
    if (name[0] && (rc != 0 || !found)) {
        mc_err_set(err, "master: client_group: there is no group '%s'", name);
        return -1;
    }
    self->client_gid = found ? (unsigned long)found->gr_gid : (unsigned long)getegid();
    if (found)
        snprintf(self->client_group_name, sizeof self->client_group_name, "%s", found->gr_name);
    else
        snprintf(self->client_group_name, sizeof self->client_group_name, "%lu", self->client_gid);
    return 0;
}

static int open_client_socket(master_t *self, mc_err_t *err)
{
    /* Whoever can write to the folder could put another socket in the
       master's place: it is checked as pki_dir is. */
    if (mc_mkdir_p(self->cfg->sock_dir, 0700, err) != 0 ||
        mc_check_private_dir(self->cfg->sock_dir, err) != 0)
        return -1;
    self->ipc_path = mc_sprintf("%s/master.ipc", self->cfg->sock_dir);
    if (strlen(self->ipc_path) >= 100) {
        mc_err_set(err, "%s: socket path too long (sock_dir must be shorter)", self->ipc_path);
        return -1;
    }
    unlink(self->ipc_path);
    /* The folder and the socket are the master's user's and client_group's:
       the group may connect (each request is then checked against
       publisher_acl), nobody else may. */
    if (chown(self->cfg->sock_dir, (uid_t)-1, (gid_t)self->client_gid) != 0 ||
        chmod(self->cfg->sock_dir, 0750) != 0) {
        mc_err_set(err, "%s: cannot give it to group %s: %s", self->cfg->sock_dir,
                   self->client_group_name, strerror(errno));
        return -1;
    }
    self->client = zsock_new(ZMQ_ROUTER);
    zsock_set_router_mandatory(self->client, 1);
    zsock_set_maxmsgsize(self->client, MC_MAX_JOB_MSG);
    zsock_set_sndhwm(self->client, 0);
    zsock_set_linger(self->client, 0);
    zsock_set_rcvtimeo(self->client, 0); /* the loop drains it (server_run) */
    mode_t old = umask(077);
    int rc = zsock_bind(self->client, "ipc://%s", self->ipc_path);
    umask(old);
    if (rc < 0 || chown(self->ipc_path, (uid_t)-1, (gid_t)self->client_gid) != 0 ||
        chmod(self->ipc_path, 0660) != 0) {
        mc_err_set(err, "cannot listen on %s: %s", self->ipc_path, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* Each minion holds two TCP connections (jobs and returns), plus slack
   for clients and files. Take the whole hard limit at once, so that a growing fleet does
   not need a restart; say so when even that is short of the minions
   accepted now. */
static void raise_fd_limit(int minions)
{
    rlim_t want = 2 * (rlim_t)minions + 256;
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
                (unsigned long long)(rl.rlim_cur > 256 ? (rl.rlim_cur - 256) / 2 : 0), minions);
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

/* audit_log, its folder made when missing (0750). */
static int open_audit_log(master_t *self, mc_err_t *err)
{
    char *path = self->cfg->audit_log[0] ? mc_strdup(self->cfg->audit_log)
                                         : audit_default_path(self->cfg->log_file);
    char *slash = strrchr(path, '/');
    int rc = 0;
    if (slash && slash != path) {
        *slash = '\0';
        rc = mc_mkdir_p(path, 0750, err);
        *slash = '/';
    }
    if (rc == 0)
        self->audit = audit_open(path, err);
    free(path);
    return self->audit ? 0 : -1;
}

static int setup(master_t *self, mc_err_t *err)
{
    mc_master_config_t *cfg = self->cfg;
    bool created;
    self->callers = callers_new();
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

    keystore_pg_t *keys = NULL;
    if (strcmp(cfg->master_job_cache, "postgres") == 0) {
        keys = keystore_pg_open(cfg->postgres_dsn, cfg->master_index, err);
        if (!keys)
            return -1;
        self->jid_index = keystore_pg_index(keys);
    } else {
        self->jid_index = cfg->master_index < 0 ? 0 : cfg->master_index;
    }
    self->registry = registry_new(cfg->pki_dir, self->curve.sec, keys, err);
    if (!self->registry)
        return -1;
    self->keys = keys;
    self->jobs = jobs_new();
    self->subs = zhashx_new();
    self->admission = admission_new(cfg->register_rate, 10.0 * cfg->register_rate);
    self->confirm_later = zhashx_new();
    zhashx_set_destructor(self->confirm_later, publish_confirm_free);
    if (mc_mkdir_p(cfg->cachedir, 0700, err) != 0)
        return -1;
    if (strcmp(cfg->master_job_cache, "postgres") == 0) {
        self->cache = jobcache_open_pg(cfg->postgres_dsn, err);
    } else {
        char *db = mc_sprintf("%s/jobs.db", cfg->cachedir);
        self->cache = jobcache_open(db, err);
        free(db);
    }
    if (!self->cache)
        return -1;
    jobcache_on_stored(self->cache, publish_on_stored, self);
    char *kept = mc_sprintf("%s/jobcache.pending", cfg->cachedir);
    int krc = jobcache_keep(self->cache, kept, err);
    free(kept);
    if (krc != 0)
        return -1;
    jobcache_keep_jobs(self->cache, cfg->keep_jobs);
    if (open_audit_log(self, err) != 0)
        return -1;
    /* The rest of the config's meaning: an error is the config's (78). */
    if (resolve_client_group(self, err) != 0) {
        err->code = MC_E_CONFIG;
        return -1;
    }
    self->acl = acl_new(cfg->doc, err);
    if (!self->acl) {
        err->code = MC_E_CONFIG;
        return -1;
    }
    if (acl_rule_count(self->acl))
        mc_info("publisher_acl: %zu rules for users of group %s", acl_rule_count(self->acl),
                self->client_group_name);
    if (load_nodegroups(self, err) != 0) {
        err->code = MC_E_CONFIG;
        return -1;
    }
    size_t known;
    minion_t **all = registry_list(self->registry, &known);
    int accepted = 0;
    for (size_t i = 0; i < known; i++)
        accepted += all[i]->state == KEY_ACCEPTED;
    free(all);
    raise_fd_limit(accepted);
    /* libzmq's io threads carry every connection (CURVE, heartbeats): one
       per thousand minions, up to eight, unless $ZSYS_IO_THREADS says.
       Before the first socket. */
    int io_threads = 1 + accepted / 1000;
    if (io_threads > MASTER_IO_THREADS_MAX)
        io_threads = MASTER_IO_THREADS_MAX;
    const char *chosen = getenv("ZSYS_IO_THREADS");
    if (chosen) {
        io_threads = atoi(chosen) > 0 ? atoi(chosen) : 1;
    } else {
        zsys_set_io_threads((size_t)io_threads);
        if (io_threads > 1)
            mc_info("%d accepted minions: %d libzmq io threads", accepted, io_threads);
    }
    /* As many listeners on each port as io threads (listen_tcp). */
    self->listeners = io_threads < MASTER_IO_THREADS_MAX ? io_threads : MASTER_IO_THREADS_MAX;

    self->zap = zap_new(err);
    if (!self->zap)
        return -1;
    self->reg = listen_curve_socket(self, ZMQ_ROUTER, ZAP_DOMAIN_REGISTER, MC_MAX_SMALL_MSG);
    if (listen_tcp(self, self->reg, cfg->auth_port, err) != 0)
        return -1;
    /* Subscriptions are small; every one is passed up (VERBOSER), so that
       each connection's subscription and its end can be counted. */
    self->pub = listen_curve_socket(self, ZMQ_XPUB, ZAP_DOMAIN_MINION, MC_MAX_SMALL_MSG);
    if (self->pub) {
        zsock_set_sndhwm(self->pub, cfg->pub_hwm + PUB_HWM_MARGIN);
        zsock_set_xpub_verboser(self->pub, 1);
        listen_dead_peer_guard(self->pub, cfg->minion_alive_interval);
    }
    if (listen_tcp(self, self->pub, cfg->publish_port, err) != 0)
        return -1;
    self->pull = listen_curve_socket(self, ZMQ_PULL, ZAP_DOMAIN_MINION, MC_MAX_RETURN_MSG);
    if (self->pull)
        listen_dead_peer_guard(self->pull, cfg->minion_alive_interval);
    if (listen_tcp(self, self->pull, cfg->ret_port, err) != 0)
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
    mc_info("master up on %s: jobs %d, returns %d, registration %d, client %s, %zu accepted "
            "minions",
            cfg->interface, cfg->publish_port, cfg->ret_port, cfg->auth_port, self->ipc_path,
            registry_accepted_count(self->registry));
    return 0;
}

static void teardown(master_t *self)
{
    /* Reads of the history still out are answered while clients can hear. */
    history_stop(self);
    /* What is stored by now is confirmed before the sockets go. */
    if (self->pub && self->confirm_later && self->cache) {
        jobcache_sync(self->cache, JOBCACHE_SYNC_MS);
        publish_confirm_due(self, INT64_MAX);
    }
    /* The answers just given (history_stop) go out, a second at most. */
    if (self->client)
        zsock_set_linger(self->client, 1000);
    zsock_destroy(&self->client);
    zsock_destroy(&self->pull);
    zsock_destroy(&self->pub);
    zsock_destroy(&self->reg);
    zsock_destroy(&self->zap);
    if (self->ipc_path)
        unlink(self->ipc_path);
    free(self->ipc_path);
    jobs_destroy(&self->jobs);
    follow_stop_all(self);
    if (self->cache)
        jobcache_on_stored(self->cache, NULL, NULL);
    if (self->cache && jobcache_sync(self->cache, JOBCACHE_SYNC_MS) < 0)
        mc_error("job cache: some returns could not be written before stopping");
    jobcache_close(&self->cache);
    zhashx_destroy(&self->confirm_later);
    zhashx_destroy(&self->nodegroups);
    acl_destroy(&self->acl);
    audit_close(&self->audit);
    zhashx_destroy(&self->subs);
    zlistx_destroy(&self->subscribers);
    admission_destroy(&self->admission);
    callers_destroy(&self->callers);
    registry_destroy(&self->registry);
    if (self->sigfd > 0)
        close(self->sigfd);
    sodium_memzero(&self->curve, sizeof self->curve);
    sodium_memzero(&self->sign, sizeof self->sign);
}

int server_run(mc_master_config_t *cfg)
{
    master_t self = {.cfg = cfg, .sigfd = -1};
    mc_err_t err = {0};
    if (setup(&self, &err) != 0) {
        mc_error("%s", err.msg);
        teardown(&self);
        return err.code == MC_E_CONFIG ? 78 : 1;
    }
    mc_daemon_ready();
    /* Socket handlers in poll order; then the signalfd, and the job
    cache's writer saying a batch is done (which only wakes the loop). */
    struct {
        zsock_t *sock;
        bool (*handle)(master_t *); /* false: nothing was waiting */
    } handlers[] = {
        {self.zap, on_zap},
        {self.pull, minions_on_message},
        {self.pub, minions_on_subscription},
        {self.client, clients_on_request},
        {self.reg, minions_on_register},
    };
    enum { NSOCK = sizeof handlers / sizeof handlers[0] };
    zmq_pollitem_t items[NSOCK + 3];
    for (int i = 0; i < NSOCK; i++)
        items[i] = (zmq_pollitem_t){zsock_resolve(handlers[i].sock), 0, ZMQ_POLLIN, 0};
    items[NSOCK] = (zmq_pollitem_t){NULL, self.sigfd, ZMQ_POLLIN, 0};
    items[NSOCK + 1] = (zmq_pollitem_t){NULL, jobcache_fd(self.cache), ZMQ_POLLIN, 0};
    items[NSOCK + 2] = (zmq_pollitem_t){NULL, jobcache_reads_fd(self.cache), ZMQ_POLLIN, 0};

    int64_t next_tick = mc_mono_ms() + 1000;
    while (!self.stop) {
        int64_t wait = next_tick - mc_mono_ms();
        int rc = zmq_poll(items, NSOCK + 3, wait < 0 ? 0 : (long)wait);
        if (rc < 0 && zmq_errno() != EINTR) {
            mc_error("poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        /* Drain a bounded batch per socket so one busy socket cannot
           starve the others. The loop's sockets have a receive timeout of
           0, so a handler's receive never blocks and says when its socket
           is empty; asking ZMQ_EVENTS before each message instead would
           cost two system calls per message. */
        for (int i = 0; rc > 0 && i < NSOCK; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            for (int n = 0; n < 256 && handlers[i].handle(&self); n++)
                ;
        }
        if (rc > 0 && (items[NSOCK].revents & ZMQ_POLLIN))
            on_signal(&self);
        /* Clients' reads of the history the reader thread has done. */
        if (rc > 0 && (items[NSOCK + 2].revents & ZMQ_POLLIN))
            jobcache_reads_done(self.cache);
        /* What this turn received to the job cache's writer (when it is
           idle; else with the next batch), and what it has stored is
           confirmed to the minions (publish_on_stored). */
        jobcache_flush(self.cache);
        if (mc_mono_ms() >= next_tick) {
            publish_confirm_due(&self, mc_mono_ms() - CONFIRM_DELAY_MS);
            jobs_expire(self.jobs, mc_mono_ms(), publish_settle, &self);
            admission_prune(self.admission, mc_mono_ms());
            events_tick(&self, mc_mono_ms());
            follow_tick(&self, mc_mono_ms());
            sync_keys(&self);
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
    caller_t who;
    clients_caller(self, &who, getuid(), getgid());
    clients_request(self, route, frame, &who);
    clients_caller_done(&who);
    zframe_destroy(&route);
    zframe_destroy(&frame);
    /* A read of the history it asked for, answered (10 s at most). */
    for (int i = 0; i < 100 && self->history_reads && zlistx_size(self->history_reads); i++) {
        struct pollfd p = {jobcache_reads_fd(self->cache), POLLIN, 0};
        poll(&p, 1, 100);
        jobcache_reads_done(self->cache);
    }
    jobcache_sync(self->cache, JOBCACHE_SYNC_MS);
    jobs_expire(self->jobs, INT64_MAX, publish_settle, self);
}

void server_close(server_t **pself)
{
    if (*pself) {
        teardown(*pself);
        free(*pself);
        *pself = NULL;
    }
}
