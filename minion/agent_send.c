/*  agent_send - what the minion's main process sends to the master:
    returns (kept in the spool until stored, sent again while not), acks
    (held briefly: a quick return says it too), grains, heartbeats, and
    the outbox that holds them while the master is away. */
#include "agent_state.h"

/* ---- sending to the master ---------------------------------------------- */

void agent_free_ack(void **item)
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

void agent_outbox_flush(agent_t *self)
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

int agent_send_return(void *arg, const char *jid, const char *data, size_t len)
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
long agent_acks_due(agent_t *self, int64_t now)
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
void agent_deliver_return(agent_t *self, const char *jid, const char *ret, size_t len)
{
    mc_err_t err;
    ack_not_needed(self, jid);
    if (spool_put(self->spool, jid, ret, len, &err) != 0) {
        mc_error("job %s: cannot spool the return (%s); sending it without a safety net", jid,
                 err.msg);
        if (agent_send_return(self, jid, ret, len) != 0)
            mc_error("job %s: the master is not reachable either: this return is lost", jid);
        return;
    }
    /* With nothing older waiting to be sent, send it from memory rather
       than read it back. */
    if (spool_due(self->spool) == 1 && agent_send_return(self, jid, ret, len) == 0)
        spool_sent(self->spool, jid);
    spool_send_due(self->spool, RESEND_MS, agent_send_return, self);
}

void agent_on_worker_return(void *arg, const char *jid, const char *ret, size_t len)
{
    agent_deliver_return(arg, jid, ret, len);
}

void agent_send_cpack(void *arg, const char *jid, const void *data, size_t len)
{
    /* Lost when no master takes it: the copy asks again. */
    send_for_job(arg, jid, MC_KIND_CPACK, data, len);
}

void agent_send_error_return(agent_t *self, const mc_job_t *job, int retcode, const char *msg)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_ret_pack_error(&sb, job->jid, self->cfg->id, job->fun, retcode, msg);
    agent_deliver_return(self, job->jid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* The grains to every master, or to one (to) that has just come up. */
void agent_send_grains(agent_t *self, link_t *to)
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
void agent_send_heartbeat(agent_t *self, const char *kind, link_t *to)
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
bool agent_refresh_grains(agent_t *self)
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
