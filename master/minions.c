/*  minions - what minions send the master: key registration (auth_port),
    subscriptions on the XPUB (presence), and returns, acks, heartbeats,
    hellos and grains on the PULL. Every message and subscription is
    resolved by the CURVE key it came with (ZMQ User-Id, set by zap.c),
    never by the id it names; what an accepted key says for another id,
    and anything from a key that is not accepted now, is refused and
    logged, rate-limited (a peer can cause these lines at will). */
#include "master.h"

#include <string.h>

#include "target.h"

static long subs_of(master_t *self, const char *id)
{
    return (long)(intptr_t)zhashx_lookup(self->subs, id);
}

/* Present: a subscription stands on its topic, and its current key has
   spoken since it was accepted or the master started (a connection made
   with a key since deleted or replaced keeps its subscription, but cannot
   open what is sealed to the new key). */
/* Subscribed, and heard from within minion_alive_interval. The
   subscription count alone could be held up by another accepted key
   subscribing to this minion's topic (libzmq reports each subscription
   but ends a connection's with one unsubscription, without saying whose):
   the heartbeats, which only this minion's key can send, bound that to
   one interval after the minion is gone. */
bool minions_present(master_t *self, const minion_t *m)
{
    return m->last_seen_ms != 0 &&
           mc_mono_ms() - m->last_seen_ms <= (int64_t)self->cfg->minion_alive_interval * 1000 &&
           subs_of(self, m->id) > 0;
}

void minions_registration_reply(master_t *self, zframe_t *route, key_state_t state)
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

/* Whether a new key (an id not known yet, or another key for a known id)
   may be written now: within max_minions and max_pending, and within the
   rate of new keys its address may present. A refusal is logged (rate-
   limited: anyone can knock) and left unanswered; the minion asks again
   later. */
static bool admit_new_key(master_t *self, const mc_register_t *reg, const char *addr)
{
    const mc_master_config_t *cfg = self->cfg;
    const char *why = NULL;
    minion_t *known = registry_find(self->registry, reg->id);
    size_t accepted = registry_count(self->registry, KEY_ACCEPTED),
           pending = registry_count(self->registry, KEY_PENDING);
    if (!admission_take(self->admission, addr, mc_mono_ms()))
        why = "new keys come too fast from that address (register_rate)";
    else if (!known && accepted + pending >= (size_t)cfg->max_minions)
        why = "max_minions keys are accepted or pending already";
    else if (!known && !cfg->auto_accept && pending >= (size_t)cfg->max_pending)
        why = "max_pending keys are pending already";
    if (why)
        mc_log_limited(&self->register_log, MC_LOG_WARNING,
                       "registration of %s from %s refused for now: %s", reg->id, addr, why);
    return why == NULL;
}

bool minions_on_register(master_t *self)
{
    zmsg_t *msg = zmsg_recv(self->reg);
    if (!msg)
        return false;
    zframe_t *route = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    mc_register_t reg;
    mc_err_t err;
    if (!route || !body || zmsg_size(msg) != 0) {
        mc_log_limited(&self->register_log, MC_LOG_WARNING, "registration: malformed message");
        goto out;
    }
    if (mc_register_decode(&reg, zframe_data(body), zframe_size(body), &err) != 0) {
        mc_log_limited(&self->register_log, MC_LOG_WARNING, "registration: refused: %s", err.msg);
        goto out;
    }
    const char *key_z85 = zframe_meta(body, "User-Id");
    const char *addr = zframe_meta(body, "Peer-Address");
    unsigned char conn_key[MC_KEY_LEN];
    if (!key_z85 || mc_z85_key_decode(key_z85, conn_key) != 0 ||
        memcmp(conn_key, reg.pub, MC_KEY_LEN) != 0) {
        mc_log_limited(&self->register_log, MC_LOG_WARNING,
                       "registration: %s presented a key other than the one it connected with; "
                       "refused",
                       reg.id);
        goto out;
    }
    minion_t *m = registry_find(self->registry, reg.id);
    bool known_key = m && memcmp(m->pub, reg.pub, MC_KEY_LEN) == 0;
    key_state_t state;
    if (!known_key && !admit_new_key(self, &reg, addr ? addr : "?"))
        goto out;
    if (registry_present(self->registry, reg.id, reg.pub, self->cfg->auto_accept, &state, &err)) {
        mc_log_limited(&self->register_log, MC_LOG_ERROR, "registration of %s: %s", reg.id,
                       err.msg);
        goto out;
    }
    minions_registration_reply(self, route, state);
    m = registry_find(self->registry, reg.id);
    if (state == KEY_PENDING && m) {
        zframe_destroy(&m->waiting);
        m->waiting = route;
        route = NULL;
    }
out:
    zframe_destroy(&route);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
    return true;
}

static void on_return(master_t *self, const char *sender, zframe_t *body)
{
    mc_ret_t ret;
    mc_err_t err;
    if (mc_ret_decode(&ret, zframe_data(body), zframe_size(body), &err) != 0) {
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING, "return from %s refused: %s", sender,
                       err.msg);
        return;
    }
    minion_progress_t from;
    if (strcmp(ret.id, sender) != 0) {
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                       "return claiming to be from %s arrived with the key of %s; refused", ret.id,
                       sender);
    } else {
        /* Into history in any case (the cache keeps one per job and
           minion, and only from minions the job went to); to waiting
           clients when the job is still in flight. */
        jobcache_add_return(self->cache, ret.jid, sender, ret.retcode, ret.success,
                            zframe_data(body), zframe_size(body));
        job_t *job = jobs_find(self->jobs, ret.jid);
        if (!job)
            events_ret(self, NULL, &ret);
        if (!job)
            mc_info("return from %s for job %s, which is no longer in flight: stored in the job "
                    "cache",
                    sender, ret.jid);
        else if (job_advance(job, sender, MINION_RETURNED, &from)) {
            if (from == MINION_SENT)
                publish_settle(sender, self);
            clients_notify_waiters(self, job, "ret", body);
            history_arrived(self, ret.jid, sender, zframe_data(body), zframe_size(body));
            events_ret(self, job, &ret);
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
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING, "ack from %s refused: %s", sender,
                       err.msg);
        return;
    }
    if (strcmp(ack.id, sender) != 0) {
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                       "ack claiming to be from %s arrived with the key of %s; refused", ack.id,
                       sender);
        return;
    }
    job_t *job = jobs_find(self->jobs, ack.jid);
    if (job && job_advance(job, sender, MINION_ACKED, NULL)) {
        publish_settle(sender, self);
        clients_notify_waiters(self, job, "ack", body);
    }
}

static void on_heartbeat(master_t *self, minion_t *m, zframe_t *body)
{
    mc_heartbeat_t hb;
    mc_err_t err;
    if (mc_heartbeat_decode(&hb, zframe_data(body), zframe_size(body), &err) != 0)
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING, "heartbeat from %s refused: %s", m->id,
                       err.msg);
    else if (strcmp(hb.id, m->id) != 0)
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                       "heartbeat claiming to be from %s arrived with the key of %s; refused",
                       hb.id, m->id);
}

static void on_grains(master_t *self, minion_t *m, zframe_t *body)
{
    mc_grains_msg_t g;
    mc_err_t err;
    if (mc_grains_decode(&g, zframe_data(body), zframe_size(body), &err) != 0) {
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING, "grains from %s refused: %s", m->id,
                       err.msg);
        return;
    }
    if (strcmp(g.id, m->id) != 0) {
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                       "grains claiming to be from %s arrived with the key of %s; refused", g.id,
                       m->id);
        mc_grains_done(&g);
        return;
    }
    if (m->has_grains)
        mc_grains_done(&m->grains);
    m->grains = g;
    m->has_grains = true;
    mc_debug("grains of %s updated", m->id);
}

/* The accepted minion whose key sent a message or a subscription (its
   User-Id, set by the ZAP handler), or NULL. */
static minion_t *minion_of(master_t *self, const char *key_z85)
{
    unsigned char key[MC_KEY_LEN];
    if (!key_z85 || mc_z85_key_decode(key_z85, key) != 0)
        return NULL;
    return registry_find_accepted_key(self->registry, key);
}

/* One message on the PULL socket: [kind][payload]. */
bool minions_on_message(master_t *self)
{
    zmsg_t *msg = zmsg_recv(self->pull);
    if (!msg)
        return false;
    zframe_t *kind = zmsg_first(msg);
    zframe_t *body = zmsg_next(msg);
    const char *key = kind ? zframe_meta(kind, "User-Id") : NULL;
    minion_t *m = minion_of(self, key);
    if (!m) {
        /* Its key was rejected, deleted or replaced after it connected. */
        mc_log_limited(&self->stale_log, MC_LOG_WARNING,
                       "message from key %s dropped: that key is not accepted now",
                       key ? key : "?");
    } else if (!body || zmsg_size(msg) != 2) {
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                       "message from %s refused: expected 2 frames, got %zu", m->id,
                       zmsg_size(msg));
    } else if (!zframe_streq(kind, MC_KIND_RETURN) && zframe_size(body) > MC_MAX_SMALL_MSG) {
        /* Only a return may be large (the socket allows one); the rest
           are refused before decoding, which can take many times the
           bytes. */
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                       "message from %s refused: %zu bytes, more than any but a return may "
                       "have",
                       m->id, zframe_size(body));
    } else {
        m->last_seen_ms = mc_mono_ms();
        if (zframe_streq(kind, MC_KIND_RETURN))
            on_return(self, m->id, body);
        else if (zframe_streq(kind, MC_KIND_ACK))
            on_ack(self, m->id, body);
        else if (zframe_streq(kind, MC_KIND_HEARTBEAT))
            on_heartbeat(self, m, body);
        else if (zframe_streq(kind, MC_KIND_HELLO)) {
            on_heartbeat(self, m, body);
            /* Its connections are up (again): anything it has not
               acknowledged may have been lost on the way. */
            publish_resend(self, m);
        } else if (zframe_streq(kind, MC_KIND_GRAINS))
            on_grains(self, m, body);
        else if (zframe_streq(kind, MC_KIND_CPACK))
            copy_on_cpack(self, m->id, body);
        else
            mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                           "message from %s refused: unknown kind", m->id);
    }
    zmsg_destroy(&msg);
    return true;
}

/* A subscription or its end on the XPUB: [1|0][topic]. A subscription
   carries the key of the connection that made it; the end of one, which
   libzmq makes itself when a connection goes, carries nothing but the
   topic. Every subscription to a minion's topic is counted, whoever made
   it, so that the ends balance them; one whose key is not the topic's
   minion's is logged as hostile (it gets only bytes sealed to another
   key). */
bool minions_on_subscription(master_t *self)
{
    zframe_t *f = zframe_recv(self->pub);
    if (!f)
        return false;
    const unsigned char *d = zframe_data(f);
    size_t n = zframe_size(f);
    char id[MC_ID_MAX + 1];
    bool subscribe = n > 0 && d[0] == 1;
    bool topic_ok = n > 0 && (d[0] == 0 || d[0] == 1) && mc_topic_id(d + 1, n - 1, id) == 0;
    if (subscribe) {
        const char *key = zframe_meta(f, "User-Id");
        minion_t *m = minion_of(self, key);
        if (!topic_ok || !m || strcmp(m->id, id) != 0)
            mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                           "subscription to %s%s from the key of %s: not its own topic",
                           topic_ok ? "the topic of " : "a topic that names no minion",
                           topic_ok ? id : "",
                           m     ? m->id
                           : key ? key
                                 : "?");
        else
            mc_debug("%s subscribed", id);
    }
    if (topic_ok) {
        long count = subs_of(self, id) + (subscribe ? 1 : -1);
        if (count > 0)
            zhashx_update(self->subs, id, (void *)(intptr_t)count);
        else
            zhashx_delete(self->subs, id);
        if (!subscribe && count <= 0)
            mc_debug("%s disconnected", id);
    }
    /* Counted as there now (the subscription came over a connection its
       key made: it has spoken): what it may have lost goes out again. */
    minion_t *m = subscribe && topic_ok ? minion_of(self, zframe_meta(f, "User-Id")) : NULL;
    if (m && strcmp(m->id, id) == 0) {
        m->last_seen_ms = mc_mono_ms();
        publish_resend(self, m);
    }
    zframe_destroy(&f);
    return true;
}
