/*  swarm_proc - see swarm_proc.h.

    One thread drives a process's minions: epoll over the ZMQ_FD of every
    SUB and every monitor PAIR (level-triggered: libzmq signals that fd when
    a socket's state may have changed, and each socket is then read until
    ZMQ_EVENTS shows nothing more, which re-arms it), the control socket to
    the parent, and a tick every TICK_MS for heartbeats and resends. A
    PUSH is never polled: sends do not block (ZMQ_IMMEDIATE, DONTWAIT), and
    each send lets libzmq catch up with the socket's commands. libzmq adds
    its io threads, which do the CURVE work. zmq_poll would rebuild and
    scan an array of thousands of items on every wake-up; epoll touches
    only the sockets that are ready. */
#include "swarm_proc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <czmq.h>
#include <zmq.h>

#include "keys.h"
#include "mp.h"
#include "target.h"
#include "proto/proto.h"

#define TICK_MS 100
/* As minion/agent_send.c: a return the master has not confirmed by then goes
   again. */
#define RESEND_MS 5000
/* Returns kept per minion while unconfirmed (the real minion's spool is
   bounded by its disk); past it the oldest is dropped. */
#define RETURNS_KEPT 1000
/* Per minion, libzmq's first reconnect interval is drawn from
   [RECONNECT_IVL_MIN, RECONNECT_IVL_MIN + RECONNECT_IVL_SPREAD) ms and its
   backoff ceiling from [RECONNECT_MAX_MIN, + RECONNECT_MAX_SPREAD): with
   libzmq's own jitter (up to one interval per attempt) a restarted master
   sees its minions come back over several seconds, not in one burst.
   The real minion draws its own the same way (minion/channel.c). */
#define RECONNECT_IVL_MIN    200
#define RECONNECT_IVL_SPREAD 800
#define RECONNECT_MAX_MIN    5000
#define RECONNECT_MAX_SPREAD 5000
/* Signed jobs already verified, kept to compare the next copies with. */
#define VERIFIED_MEMO 8

enum { SUB, PUSH, SOCKS };

/* A return waiting for the master's "stored" notice. */
typedef struct pending_ret {
    struct pending_ret *next;
    char jid[MC_JID_LEN + 1];
    int64_t sent_ms; /* 0: not sent yet */
    size_t len;
    unsigned char data[];
} pending_ret_t;

typedef struct {
    const char *id;
    char topic[MC_TOPIC_MAX];
    size_t topic_len;
    mc_seal_key_t seal;
    void *sock[SOCKS], *monitor[SOCKS];
    bool conn_up[SOCKS];
    bool up;      /* both connections up */
    bool refused; /* the master refused its key at least once */
    bool grains_due;
    int reconnect_ivl, reconnect_max;
    int64_t down_ms, up_ms, next_heartbeat_ms;
    pending_ret_t *rets;
    int nrets;
} sminion_t;

typedef struct {
    unsigned char *data;
    size_t len;
} memo_t;

typedef struct {
    const swarm_proc_config_t *cfg;
    void *ctx;
    int epfd, ctl;
    sminion_t *m;
    int n;
    bool connected;
    int64_t started_ms, next_tick_ms, next_prune_ms;
    swarm_stats_t stats;
    memo_t memo[VERIFIED_MEMO];
    int memo_next;
    char *tgt; /* the target compiled last, and its kind */
    char tgt_type[16];
    char delimiter;
    mc_target_t *target; /* NULL when it did not compile */
    zhashx_t *seen;      /* jid -> seen_t: which minions have run it */
    mc_mp_doc_t grains;  /* the grains all minions here share, for targets */
    unsigned char *scratch;
    size_t scratch_len;
} proc_t;

typedef struct {
    int64_t ts; /* the job's, seconds */
    unsigned char bits[];
} seen_t;

/* ---- sending ------------------------------------------------------------- */

/* [kind][payload] on the PUSH, as channel_send: -1 when it cannot go now. */
static int push(proc_t *p, sminion_t *m, const char *kind, const void *data, size_t len)
{
    if (zmq_send(m->sock[PUSH], kind, strlen(kind), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        p->stats.send_failed++;
        return -1;
    }
    zmq_send(m->sock[PUSH], data, len, 0);
    return 0;
}

static void send_heartbeat(proc_t *p, sminion_t *m, const char *kind)
{
    mc_heartbeat_t hb = {.uptime = (mc_mono_ms() - p->started_ms) / 1000, .load = 0.1};
    snprintf(hb.id, sizeof hb.id, "%s", m->id);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_heartbeat_pack(&sb, &hb);
    if (push(p, m, kind, sb.data, sb.size) == 0) {
        if (strcmp(kind, MC_KIND_HELLO) == 0)
            p->stats.hellos++;
        else
            p->stats.heartbeats++;
    }
    msgpack_sbuffer_destroy(&sb);
}

/* The grains of a minion of the swarm, as it sends them; with no id,
   those all minions of a process share for matching targets (a grain
   target on id is then matched by none: use a glob or a list). */
static void pack_grains(msgpack_sbuffer *sb, const char *id)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, id ? 10 : 8);
    if (id) {
        mc_pk_kv_str(&pk, "id", id);
        mc_pk_kv_str(&pk, "host", id);
    }
    mc_pk_kv_str(&pk, "os", "Debian");
    mc_pk_kv_str(&pk, "os_family", "Debian");
    mc_pk_kv_str(&pk, "kernel", "Linux");
    mc_pk_kv_int(&pk, "num_cpus", 2);
    mc_pk_kv_int(&pk, "mem_total", 2048);
    mc_pk_str(&pk, "ipv4");
    msgpack_pack_array(&pk, 1);
    mc_pk_str(&pk, "127.0.0.1");
    mc_pk_kv_str(&pk, "mctl_version", mc_version());
    mc_pk_str(&pk, "roles");
    msgpack_pack_array(&pk, 1);
    mc_pk_str(&pk, "swarm");
}

static void send_grains(proc_t *p, sminion_t *m)
{
    msgpack_sbuffer grains, sb;
    msgpack_sbuffer_init(&grains);
    msgpack_sbuffer_init(&sb);
    pack_grains(&grains, m->id);
    mc_grains_pack(&sb, m->id, grains.data, grains.size);
    /* As agent_send.c's outbox: grains wait until the master can take them. */
    m->grains_due = push(p, m, MC_KIND_GRAINS, sb.data, sb.size) != 0;
    if (!m->grains_due)
        p->stats.grains++;
    msgpack_sbuffer_destroy(&grains);
    msgpack_sbuffer_destroy(&sb);
}

/* Send the returns that are due, oldest first, as the spool does. */
static void send_due(proc_t *p, sminion_t *m, int64_t now)
{
    for (pending_ret_t *r = m->rets; r; r = r->next) {
        if (r->sent_ms && now - r->sent_ms < RESEND_MS)
            continue;
        if (push(p, m, MC_KIND_RETURN, r->data, r->len) != 0)
            return;
        if (r->sent_ms)
            p->stats.resent++;
        else
            p->stats.returns++;
        r->sent_ms = now;
    }
}

static void deliver_return(proc_t *p, sminion_t *m, const char *jid, const void *data, size_t len)
{
    pending_ret_t *r = mc_malloc(sizeof *r + len);
    r->next = NULL;
    snprintf(r->jid, sizeof r->jid, "%s", jid);
    r->sent_ms = 0;
    r->len = len;
    memcpy(r->data, data, len);
    pending_ret_t **tail = &m->rets;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    p->stats.unconfirmed++;
    if (++m->nrets > RETURNS_KEPT) {
        pending_ret_t *oldest = m->rets;
        m->rets = oldest->next;
        free(oldest);
        m->nrets--;
        p->stats.unconfirmed--;
    }
    send_due(p, m, mc_mono_ms());
}

/* ---- jobs ------------------------------------------------------------------ */

static void refuse(proc_t *p)
{
    p->stats.bad_jobs++;
}

/* The master signs a job once and seals the same bytes to every minion:
   a copy that opens to bytes already verified is as good as verified. */
static bool signature_ok(proc_t *p, const unsigned char *signed_job, size_t len)
{
    if (!p->cfg->verify_each)
        for (int i = 0; i < VERIFIED_MEMO; i++)
            if (p->memo[i].len == len && memcmp(p->memo[i].data, signed_job, len) == 0)
                return true;
    p->stats.verified++;
    if (crypto_sign_verify_detached(signed_job, signed_job + crypto_sign_BYTES,
                                    len - crypto_sign_BYTES, p->cfg->sign_pub) != 0)
        return false;
    if (!p->cfg->verify_each) {
        memo_t *slot = &p->memo[p->memo_next++ % VERIFIED_MEMO];
        free(slot->data);
        slot->data = mc_malloc(len);
        memcpy(slot->data, signed_job, len);
        slot->len = len;
    }
    return true;
}

static bool replay_seen(proc_t *p, const char *jid, int index)
{
    seen_t *s = zhashx_lookup(p->seen, jid);
    return s && (s->bits[index / 8] & (1u << (index % 8)));
}

static void replay_add(proc_t *p, const char *jid, int index, int64_t ts)
{
    seen_t *s = zhashx_lookup(p->seen, jid);
    if (!s) {
        s = mc_calloc(1, sizeof *s + (size_t)(p->n + 7) / 8);
        s->ts = ts;
        zhashx_insert(p->seen, jid, s);
    }
    s->bits[index / 8] |= (unsigned char)(1u << (index % 8));
}

/* Forget jids older than twice job_max_age: their timestamps refuse them. */
static void replay_prune(proc_t *p)
{
    int64_t oldest = mc_wall_us() / 1000000 - 2 * p->cfg->job_max_age;
    zlistx_t *old = zlistx_new();
    for (seen_t *s = zhashx_first(p->seen); s; s = zhashx_next(p->seen))
        if (s->ts < oldest)
            zlistx_add_end(old, (void *)zhashx_cursor(p->seen));
    for (const char *jid = zlistx_first(old); jid; jid = zlistx_next(old))
        zhashx_delete(p->seen, jid);
    zlistx_destroy(&old);
}

/* The target compiled once per expression for the whole process. */
static bool target_matches(proc_t *p, const mc_job_t *job, const sminion_t *m)
{
    if (!p->tgt || strcmp(p->tgt, job->tgt) != 0 || strcmp(p->tgt_type, job->tgt_type) != 0 ||
        p->delimiter != job->delimiter) {
        mc_target_destroy(&p->target);
        free(p->tgt);
        p->tgt = mc_strdup(job->tgt);
        snprintf(p->tgt_type, sizeof p->tgt_type, "%s", job->tgt_type);
        p->delimiter = job->delimiter;
        mc_err_t err;
        p->target = mc_target_compile(job->tgt, job->tgt_type, job->delimiter, &err);
    }
    return p->target && mc_target_eval(p->target, m->id, &p->grains.root);
}

/* test.echo's text: its first argument or its text= keyword. */
static const msgpack_object *echo_text(const mc_job_t *job)
{
    if (job->arg->via.array.size == 1 && job->arg->via.array.ptr[0].type == MSGPACK_OBJECT_STR)
        return &job->arg->via.array.ptr[0];
    const msgpack_object *kw = mc_mp_get(job->kwarg, "text");
    return job->arg->via.array.size == 0 && kw && kw->type == MSGPACK_OBJECT_STR ? kw : NULL;
}

/* What the real minion answers itself (minion/modules/test.c). */
static void run_job(proc_t *p, sminion_t *m, const mc_job_t *job)
{
    msgpack_sbuffer value, sb;
    msgpack_sbuffer_init(&value);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &value, msgpack_sbuffer_write);
    const msgpack_object *text = NULL;
    if (strcmp(job->fun, "test.ping") == 0) {
        msgpack_pack_true(&pk);
    } else if (strcmp(job->fun, "test.echo") == 0 && (text = echo_text(job))) {
        msgpack_pack_object(&pk, *text);
    } else if (strcmp(job->fun, "test.echo") == 0) {
        mc_ret_pack_error(&sb, job->jid, m->id, job->fun, 1, "test.echo: missing argument 'text'");
    } else {
        char why[MC_FUN_MAX + 32];
        snprintf(why, sizeof why, "'%s' is not available.", job->fun);
        mc_ret_pack_error(&sb, job->jid, m->id, job->fun, 254, why);
    }
    if (sb.size == 0) {
        mc_ret_spec_t spec = {.jid = job->jid,
                              .id = m->id,
                              .fun = job->fun,
                              .success = true,
                              .value = value.data,
                              .value_len = value.size,
                              .started = mc_wall_us()};
        mc_ret_pack(&sb, &spec);
    }
    deliver_return(p, m, job->jid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&value);
    msgpack_sbuffer_destroy(&sb);
}

/* ["job"][sealed: signature, job], through agent.c's four gates. */
static void on_job(proc_t *p, sminion_t *m, int index, const unsigned char *sealed, size_t len)
{
    if (len < MC_SEAL_OVERHEAD + crypto_sign_BYTES) {
        refuse(p);
        return;
    }
    size_t plain_len = len - MC_SEAL_OVERHEAD;
    if (plain_len + 1 > p->scratch_len) {
        free(p->scratch);
        p->scratch_len = plain_len + 1;
        p->scratch = mc_malloc(p->scratch_len);
    }
    unsigned char *plain = p->scratch;
    mc_job_t job;
    mc_err_t err;
    if (mc_unseal(m->seal, sealed, len, plain) != 0 || !signature_ok(p, plain, plain_len) ||
        mc_job_decode(&job, plain + crypto_sign_BYTES, plain_len - crypto_sign_BYTES, &err) != 0) {
        refuse(p);
        return;
    }
    int64_t age = mc_wall_us() / 1000000 - job.ts;
    if (replay_seen(p, job.jid, index)) {
        refuse(p);
    } else if (age > p->cfg->job_max_age || age < -p->cfg->job_max_age) {
        refuse(p);
        replay_add(p, job.jid, index, job.ts);
        char why[160];
        snprintf(why, sizeof why, "job %s refused: published %lld s from now (job_max_age is %d s)",
                 job.jid, (long long)age, p->cfg->job_max_age);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_ret_pack_error(&sb, job.jid, m->id, job.fun, 1, why);
        deliver_return(p, m, job.jid, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    } else if (!target_matches(p, &job, m)) {
        refuse(p);
    } else {
        replay_add(p, job.jid, index, job.ts);
        p->stats.jobs++;
        if (p->cfg->ack) {
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            mc_ack_pack(&sb, job.jid, m->id);
            if (push(p, m, MC_KIND_ACK, sb.data, sb.size) == 0)
                p->stats.acks++;
            msgpack_sbuffer_destroy(&sb);
        }
        run_job(p, m, &job);
    }
    mc_job_done(&job);
}

/* ["stored"][{v, jids}]: those returns may be forgotten. */
static void on_stored(proc_t *p, sminion_t *m, const void *body, size_t len)
{
    mc_stored_t st;
    mc_err_t err;
    if (mc_stored_decode(&st, body, len, &err) != 0) {
        refuse(p);
        return;
    }
    for (size_t i = 0; i < st.count; i++) {
        for (pending_ret_t **pp = &m->rets; *pp; pp = &(*pp)->next) {
            if (strcmp((*pp)->jid, st.jids[i]) != 0)
                continue;
            pending_ret_t *r = *pp;
            *pp = r->next;
            free(r);
            m->nrets--;
            p->stats.stored++;
            p->stats.unconfirmed--;
            break;
        }
    }
    mc_stored_done(&st);
}

/* One message on a minion's SUB: exactly [its topic][kind][payload]. */
static void on_sub_message(proc_t *p, sminion_t *m, int index)
{
    zmq_msg_t part[3];
    int frames = 0;
    bool more = true;
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, m->sock[SUB], ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f);
            break;
        }
        more = zmq_msg_more(&f);
        if (frames < 3)
            part[frames] = f;
        else
            zmq_msg_close(&f);
        frames++;
    }
    const void *kind = frames == 3 ? zmq_msg_data(&part[1]) : NULL;
    size_t kind_len = frames == 3 ? zmq_msg_size(&part[1]) : 0;
    if (frames != 3 || zmq_msg_size(&part[0]) != m->topic_len ||
        memcmp(zmq_msg_data(&part[0]), m->topic, m->topic_len) != 0)
        refuse(p);
    else if (kind_len == strlen(MC_KIND_JOB) && memcmp(kind, MC_KIND_JOB, kind_len) == 0)
        on_job(p, m, index, zmq_msg_data(&part[2]), zmq_msg_size(&part[2]));
    else if (kind_len == strlen(MC_KIND_STORED) && memcmp(kind, MC_KIND_STORED, kind_len) == 0)
        on_stored(p, m, zmq_msg_data(&part[2]), zmq_msg_size(&part[2]));
    else
        refuse(p); /* chunks of mctl cp: this swarm takes no copies */
    for (int i = 0; i < frames && i < 3; i++)
        zmq_msg_close(&part[i]);
}

/* ---- connections ----------------------------------------------------------- */

/* Both connections up (again): hello, grains, and every unconfirmed
   return, as agent.c's agent_on_chan_event. */
static void minion_up(proc_t *p, sminion_t *m)
{
    m->up = true;
    m->up_ms = mc_mono_ms();
    send_heartbeat(p, m, MC_KIND_HELLO);
    send_grains(p, m);
    for (pending_ret_t *r = m->rets; r; r = r->next)
        if (r->sent_ms)
            r->sent_ms = 1;
    send_due(p, m, m->up_ms);
}

static void on_monitor_event(proc_t *p, sminion_t *m, int which)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, m->monitor[which], ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return;
    }
    uint16_t event = 0;
    if (zmq_msg_size(&msg) >= 2)
        memcpy(&event, zmq_msg_data(&msg), 2);
    while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, m->monitor[which], 0) >= 0)
        ; /* the endpoint frame */
    zmq_msg_close(&msg);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        m->conn_up[which] = true;
        if (m->conn_up[SUB] && m->conn_up[PUSH])
            minion_up(p, m);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        if (!m->refused)
            p->stats.refused++;
        m->refused = true;
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
               event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        p->stats.failed_handshakes++;
    } else if (event == ZMQ_EVENT_DISCONNECTED && m->conn_up[which]) {
        m->conn_up[which] = false;
        p->stats.disconnects++;
        if (m->up) {
            m->up = false;
            m->down_ms = mc_mono_ms();
        }
    }
}

static bool readable(void *s)
{
    int events = 0;
    size_t size = sizeof events;
    return zmq_getsockopt(s, ZMQ_EVENTS, &events, &size) == 0 && (events & ZMQ_POLLIN);
}

/* A socket's ZMQ_FD fired: read it until it has nothing more. The tag is
   the minion's index times 4 plus 0 (SUB), 1 or 2 (the monitors). */
static void on_ready(proc_t *p, uint64_t tag)
{
    int index = (int)(tag >> 2), what = (int)(tag & 3);
    sminion_t *m = &p->m[index];
    void *s = what == 0 ? m->sock[SUB] : m->monitor[what - 1];
    while (readable(s)) {
        if (what == 0)
            on_sub_message(p, m, index);
        else
            on_monitor_event(p, m, what - 1);
    }
}

static int watch(proc_t *p, void *s, uint64_t tag, mc_err_t *err)
{
    int fd;
    size_t size = sizeof fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    if (zmq_getsockopt(s, ZMQ_FD, &fd, &size) != 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev)) {
        mc_err_set(err, "cannot watch a socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int setopt(void *s, int option, int value)
{
    return zmq_setsockopt(s, option, &value, sizeof value);
}

/* One of a minion's sockets as channel.c makes it, with its monitor. */
static int open_socket(proc_t *p, int index, int which, mc_err_t *err)
{
    sminion_t *m = &p->m[index];
    const swarm_identity_t *who = &p->cfg->minions[index];
    void *s = zmq_socket(p->ctx, which == SUB ? ZMQ_SUB : ZMQ_PUSH);
    m->sock[which] = s;
    int alive_ms = p->cfg->alive * 1000;
    int64_t max_msg = MC_MAX_JOB_MSG + 1024;
    if (!s || zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, p->cfg->master_pub, MC_KEY_LEN) ||
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, who->pub, MC_KEY_LEN) ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, who->sec, MC_KEY_LEN) || setopt(s, ZMQ_LINGER, 0) ||
        setopt(s, ZMQ_RECONNECT_IVL, m->reconnect_ivl) ||
        setopt(s, ZMQ_RECONNECT_IVL_MAX, m->reconnect_max) ||
        setopt(s, ZMQ_HEARTBEAT_IVL, alive_ms / 2) || setopt(s, ZMQ_HEARTBEAT_TIMEOUT, alive_ms) ||
        (which == SUB && (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg) ||
                          setopt(s, ZMQ_RCVHWM, 10000) ||
                          zmq_setsockopt(s, ZMQ_SUBSCRIBE, m->topic, m->topic_len))) ||
        (which == PUSH && (setopt(s, ZMQ_IMMEDIATE, 1) || setopt(s, ZMQ_SNDHWM, 10000)))) {
        mc_err_set(err, "minion %s: cannot make its socket: %s", m->id, zmq_strerror(zmq_errno()));
        return -1;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://swarm-%d-%d", index, which);
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                 ZMQ_EVENT_DISCONNECTED;
    if (zmq_socket_monitor(s, ep, events) != 0 ||
        !(m->monitor[which] = zmq_socket(p->ctx, ZMQ_PAIR)) ||
        zmq_connect(m->monitor[which], ep) != 0) {
        mc_err_set(err, "minion %s: socket monitor: %s", m->id, zmq_strerror(zmq_errno()));
        return -1;
    }
    if (watch(p, m->monitor[which], (uint64_t)index << 2 | (uint64_t)(which + 1), err) != 0 ||
        (which == SUB && watch(p, s, (uint64_t)index << 2, err) != 0))
        return -1;
    return 0;
}

static int proc_setup(proc_t *p, mc_err_t *err)
{
    const swarm_proc_config_t *cfg = p->cfg;
    p->n = cfg->count;
    p->m = mc_calloc((size_t)p->n, sizeof *p->m);
    p->started_ms = mc_mono_ms();
    p->seen = zhashx_new();
    zhashx_set_destructor(p->seen, (zhashx_destructor_fn *)zstr_free);
    msgpack_sbuffer grains;
    msgpack_sbuffer_init(&grains);
    pack_grains(&grains, NULL);
    int rc = mc_mp_parse(&p->grains, grains.data, grains.size, err);
    msgpack_sbuffer_destroy(&grains);
    if (rc != 0)
        return -1;
    p->ctx = zmq_ctx_new();
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!p->ctx || p->epfd < 0 || zmq_ctx_set(p->ctx, ZMQ_IO_THREADS, cfg->io_threads) != 0 ||
        zmq_ctx_set(p->ctx, ZMQ_MAX_SOCKETS, p->n * SWARM_SOCKETS_PER_MINION + 16) != 0) {
        mc_err_set(err, "cannot make a libzmq context for %d minions: %s", p->n,
                   zmq_strerror(zmq_errno()));
        return -1;
    }
    srandom(cfg->seed);
    for (int i = 0; i < p->n; i++) {
        sminion_t *m = &p->m[i];
        m->id = cfg->minions[i].id;
        m->topic_len = mc_topic(m->topic, m->id);
        mc_seal_key(m->seal, cfg->master_pub, cfg->minions[i].sec);
        m->reconnect_ivl = RECONNECT_IVL_MIN + (int)(random() % RECONNECT_IVL_SPREAD);
        m->reconnect_max = RECONNECT_MAX_MIN + (int)(random() % RECONNECT_MAX_SPREAD);
        if (open_socket(p, i, SUB, err) != 0 || open_socket(p, i, PUSH, err) != 0)
            return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->ctl, &ev) != 0) {
        mc_err_set(err, "epoll: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int proc_connect(proc_t *p, mc_err_t *err)
{
    char pub_ep[160], ret_ep[160];
    snprintf(pub_ep, sizeof pub_ep, "tcp://%s:%d", p->cfg->master, p->cfg->publish_port);
    snprintf(ret_ep, sizeof ret_ep, "tcp://%s:%d", p->cfg->master, p->cfg->ret_port);
    int64_t now = mc_mono_ms();
    for (int i = 0; i < p->n; i++) {
        sminion_t *m = &p->m[i];
        if (zmq_connect(m->sock[SUB], pub_ep) != 0 || zmq_connect(m->sock[PUSH], ret_ep) != 0) {
            mc_err_set(err, "minion %s: cannot connect: %s", m->id, zmq_strerror(zmq_errno()));
            return -1;
        }
        m->next_heartbeat_ms = now + random() % (p->cfg->heartbeat * 1000);
    }
    /* libzmq signals a socket's ZMQ_FD when a pipe that was found empty
       gets a message: a pipe nobody has read yet never says so. One read
       of each socket now puts them all in that state. */
    for (int i = 0; i < p->n; i++)
        for (uint64_t what = 0; what < 3; what++)
            on_ready(p, (uint64_t)i << 2 | what);
    p->connected = true;
    return 0;
}

/* Every TICK_MS: heartbeats, grains that could not go, returns to send
   again; once a minute, the replay memory pruned. */
static void on_tick(proc_t *p, int64_t now)
{
    for (int i = 0; p->connected && i < p->n; i++) {
        sminion_t *m = &p->m[i];
        if (now >= m->next_heartbeat_ms) {
            send_heartbeat(p, m, MC_KIND_HEARTBEAT);
            m->next_heartbeat_ms += p->cfg->heartbeat * 1000;
            if (m->next_heartbeat_ms <= now)
                m->next_heartbeat_ms = now + p->cfg->heartbeat * 1000;
        }
        if (m->up && m->grains_due)
            send_grains(p, m);
        if (m->up && m->rets)
            send_due(p, m, now);
    }
    if (now >= p->next_prune_ms) {
        replay_prune(p);
        p->next_prune_ms = now + 60000;
    }
}

/* ---- the child: its loop and the parent's commands --------------------------- */

static int write_all(int fd, const void *buf, size_t len)
{
    const char *b = buf;
    while (len) {
        ssize_t w = write(fd, b, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Read exactly len bytes within timeout_ms: 0, or -1. */
static int read_all(int fd, void *buf, size_t len, int timeout_ms)
{
    char *b = buf;
    int64_t deadline = mc_mono_ms() + timeout_ms;
    while (len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - mc_mono_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        ssize_t r = read(fd, b, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        len -= (size_t)r;
    }
    return 0;
}

static void on_command(proc_t *p)
{
    char cmd;
    ssize_t r = read(p->ctl, &cmd, 1);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
        _exit(0); /* the parent is gone */
    if (r < 0)
        return;
    if (cmd == 'g') {
        mc_err_t err;
        if (proc_connect(p, &err) != 0) {
            write_all(p->ctl, "e", 1);
            write_all(p->ctl, err.msg, sizeof err.msg);
            _exit(1);
        }
        write_all(p->ctl, "k", 1);
    } else if (cmd == 's') {
        swarm_stats_t st = p->stats;
        st.minions = p->n;
        for (int i = 0; i < p->n; i++)
            st.up += p->m[i].up;
        write_all(p->ctl, &st, sizeof st);
    } else if (cmd == 'o') {
        swarm_outage_t *o = mc_calloc((size_t)p->n, sizeof *o);
        for (int i = 0; i < p->n; i++)
            o[i] = (swarm_outage_t){p->m[i].down_ms, p->m[i].up_ms};
        write_all(p->ctl, o, (size_t)p->n * sizeof *o);
        free(o);
    } else {
        /* Quit: the kernel closes the connections (linger is 0 anyway);
           tearing down thousands of sockets one by one would only take
           time. */
        _exit(0);
    }
}

static void child_main(const swarm_proc_config_t *cfg, int ctl)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* a ^C is the parent's to handle: it stops us */
    /* Nothing of the parent's: its log, its sockets, its pipes. */
    if (ctl > 3)
        close_range(3, (unsigned)ctl - 1, 0);
    close_range((unsigned)ctl + 1, ~0U, 0);
    proc_t p = {.cfg = cfg, .ctl = ctl, .epfd = -1};
    mc_err_t err;
    if (proc_setup(&p, &err) != 0) {
        write_all(ctl, "e", 1);
        write_all(ctl, err.msg, sizeof err.msg);
        _exit(1);
    }
    write_all(ctl, "r", 1);
    p.next_tick_ms = mc_mono_ms() + TICK_MS;
    struct epoll_event ev[256];
    for (;;) {
        int64_t wait = p.next_tick_ms - mc_mono_ms();
        int n = epoll_wait(p.epfd, ev, 256, wait < 0 ? 0 : (int)wait);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u64 == UINT64_MAX)
                on_command(&p);
            else
                on_ready(&p, ev[i].data.u64);
        }
        int64_t now = mc_mono_ms();
        if (now >= p.next_tick_ms) {
            on_tick(&p, now);
            p.next_tick_ms = now + TICK_MS;
        }
    }
}

/* ---- the parent's side --------------------------------------------------------- */

struct _swarm_proc_t {
    pid_t pid;
    int ctl;
    int count;
};

/* The child's answer to a command: ok_byte, or "e" and its error. */
static int expect(swarm_proc_t *self, char ok_byte, int timeout_ms, mc_err_t *err)
{
    char b;
    if (read_all(self->ctl, &b, 1, timeout_ms) != 0) {
        mc_err_set(err, "swarm process %d did not answer", (int)self->pid);
        return -1;
    }
    if (b == ok_byte)
        return 0;
    mc_err_t child;
    if (b == 'e' && read_all(self->ctl, child.msg, sizeof child.msg, 1000) == 0) {
        child.msg[sizeof child.msg - 1] = '\0';
        mc_err_set(err, "swarm process %d: %s", (int)self->pid, child.msg);
    } else {
        mc_err_set(err, "swarm process %d answered nonsense", (int)self->pid);
    }
    return -1;
}

swarm_proc_t *swarm_proc_start(const swarm_proc_config_t *cfg, mc_err_t *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        mc_err_set(err, "socketpair: %s", strerror(errno));
        return NULL;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        mc_err_set(err, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(cfg, sv[1]);
        _exit(0);
    }
    close(sv[1]);
    swarm_proc_t *self = mc_calloc(1, sizeof *self);
    self->pid = pid;
    self->ctl = sv[0];
    self->count = cfg->count;
    /* Making thousands of sockets takes a moment. */
    if (expect(self, 'r', 120000, err) != 0) {
        swarm_proc_destroy(&self);
        return NULL;
    }
    return self;
}

pid_t swarm_proc_pid(const swarm_proc_t *self)
{
    return self->pid;
}

static int command(swarm_proc_t *self, char cmd, mc_err_t *err)
{
    if (write_all(self->ctl, &cmd, 1) != 0) {
        mc_err_set(err, "swarm process %d is gone", (int)self->pid);
        return -1;
    }
    return 0;
}

int swarm_proc_go(swarm_proc_t *self, mc_err_t *err)
{
    return command(self, 'g', err) != 0 ? -1 : expect(self, 'k', 60000, err);
}

int swarm_proc_stats(swarm_proc_t *self, swarm_stats_t *out, mc_err_t *err)
{
    if (command(self, 's', err) != 0)
        return -1;
    if (read_all(self->ctl, out, sizeof *out, 30000) != 0) {
        mc_err_set(err, "swarm process %d did not report", (int)self->pid);
        return -1;
    }
    return 0;
}

int swarm_proc_outages(swarm_proc_t *self, swarm_outage_t *out, int count, mc_err_t *err)
{
    if (count != self->count) {
        mc_err_set(err, "swarm process %d has %d minions, not %d", (int)self->pid, self->count,
                   count);
        return -1;
    }
    if (command(self, 'o', err) != 0)
        return -1;
    if (read_all(self->ctl, out, (size_t)count * sizeof *out, 30000) != 0) {
        mc_err_set(err, "swarm process %d did not report", (int)self->pid);
        return -1;
    }
    return 0;
}

void swarm_proc_destroy(swarm_proc_t **pself)
{
    swarm_proc_t *self = *pself;
    if (!self)
        return;
    char q = 'q';
    if (write(self->ctl, &q, 1) != 1)
        kill(self->pid, SIGKILL);
    bool reaped = false;
    for (int i = 0; i < 100 && !reaped; i++) {
        reaped = waitpid(self->pid, NULL, WNOHANG) != 0;
        if (!reaped)
            usleep(20000);
    }
    if (!reaped) {
        kill(self->pid, SIGKILL);
        waitpid(self->pid, NULL, 0);
    }
    close(self->ctl);
    free(self);
    *pself = NULL;
}
