/*  events - clients subscribed to what happens on the master (request
    "events", proto/event.h): each job published and each return stored
    goes to every subscriber that may see the job, for as long as its
    connection stays. mctl-api's live views are built on it.

    A subscriber sees its own jobs, or every job when it is root, the
    master's user or given @jobs, the same rule as the job history. The
    client socket queues without limit (SNDHWM 0), so an event is lost
    only when libzmq refuses it outright; the next event that goes
    through says how many were (lost), and the subscriber reads the
    history again. A subscriber that stops reading cannot make that queue
    grow without end: it is sent at most MC_EVENTS_WINDOW events more than
    it has said it took (request events_read); the others are lost for it
    in the same way until it says it has read on. (A client that says it
    took events it did not read only holds its own replies up, as one
    that never reads the answers to its requests does.) Every
    EVENTS_TICK_MS each subscriber gets ["tick"][] (which it ignores): one
    whose connection is gone is dropped then, or at its next event. A
    connection subscribes once (asking again changes nothing), a user
    holds at most EVENTS_PER_USER subscriptions and the master at most
    EVENTS_MAX. */
#include "master.h"

#include <errno.h>
#include <string.h>

#define EVENTS_TICK_MS  10000
#define EVENTS_PER_USER 64
#define EVENTS_MAX      1024

typedef struct {
    zframe_t *route;
    char user[MC_USER_MAX + 1];
    bool all_jobs; /* root, the master's user or @jobs */
    int64_t lost;
    int64_t sent, read; /* events sent, and taken as the subscriber says */
} subscriber_t;

static void subscriber_free(void **item)
{
    subscriber_t *s = *item;
    if (!s)
        return;
    zframe_destroy(&s->route);
    free(s);
    *item = NULL;
}

void events_subscribe(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    (void)req;
    if (!self->subscribers) {
        self->subscribers = zlistx_new();
        zlistx_set_destructor(self->subscribers, subscriber_free);
    }
    size_t mine = 0;
    bool already = false;
    for (subscriber_t *s = zlistx_first(self->subscribers); s; s = zlistx_next(self->subscribers)) {
        mine += strcmp(s->user, who->user) == 0;
        already |= zframe_eq(s->route, route);
    }
    if (!already && (mine >= EVENTS_PER_USER || zlistx_size(self->subscribers) >= EVENTS_MAX)) {
        clients_reply_error(self, route,
                            "too many event subscriptions (%zu of user %s, %zu in all; at most "
                            "%d and %d)",
                            mine, who->user, zlistx_size(self->subscribers), EVENTS_PER_USER,
                            EVENTS_MAX);
        return;
    }
    if (!already) {
        subscriber_t *s = mc_calloc(1, sizeof *s);
        s->route = zframe_dup(route);
        snprintf(s->user, sizeof s->user, "%s", who->user);
        s->all_jobs = who->all || (who->rights & ACL_RIGHT_JOBS);
        zlistx_add_end(self->subscribers, s);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, 0);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    mc_info("client: %s subscribed to events (%zu subscribers)", who->user,
            zlistx_size(self->subscribers));
}

void events_read(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    subscriber_t *s = self->subscribers ? zlistx_first(self->subscribers) : NULL;
    while (s && !(zframe_eq(s->route, route) && strcmp(s->user, who->user) == 0))
        s = zlistx_next(self->subscribers);
    if (!s) {
        clients_reply_error(self, route, "no event subscription of %s on this connection",
                            who->user);
        return;
    }
    /* Never back, never past what was sent. */
    int64_t read = req->events_read < s->sent ? req->events_read : s->sent;
    if (read > s->read)
        s->read = read;
}

/* The event to every subscriber that may see a job of user (NULL: the
   job's user is no longer known, only those who see every job). */
static void send_all(master_t *self, mc_event_t *ev, const char *user)
{
    if (!self->subscribers || zlistx_size(self->subscribers) == 0)
        return;
    subscriber_t *s = zlistx_first(self->subscribers);
    while (s) {
        if (!s->all_jobs && (!user || strcmp(user, s->user) != 0)) {
            s = zlistx_next(self->subscribers);
            continue;
        }
        if (s->sent - s->read >= MC_EVENTS_WINDOW) {
            if (s->lost++ == 0)
                mc_warn("client: %s's event subscription has not read the last %d events; "
                        "it loses events until it does",
                        s->user, MC_EVENTS_WINDOW);
            s = zlistx_next(self->subscribers);
            continue;
        }
        ev->lost = s->lost;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_event_pack(&sb, ev);
        int rc = clients_send(self, s->route, MC_KIND_EVENT, sb.data, sb.size);
        int e = errno;
        msgpack_sbuffer_destroy(&sb);
        if (rc == 0) {
            s->lost = 0;
            s->sent++;
        } else if (e == EHOSTUNREACH) {
            mc_info("client: %s's event subscription ended (connection closed)", s->user);
            zlistx_delete(self->subscribers, zlistx_cursor(self->subscribers));
            s = zlistx_next(self->subscribers);
            continue;
        } else {
            if (s->lost++ == 0)
                mc_warn("client: an event for %s could not be queued: %s", s->user,
                        zmq_strerror(e));
        }
        s = zlistx_next(self->subscribers);
    }
}

void events_job(master_t *self, const char *jid, const char *fun, const char *user, const char *tgt,
                const char *tgt_type, size_t minions)
{
    if (!self->subscribers)
        return;
    mc_event_t ev = {.type = MC_EVENT_JOB, .ts_us = mc_wall_us(), .minions = (int64_t)minions};
    snprintf(ev.jid, sizeof ev.jid, "%s", jid);
    snprintf(ev.fun, sizeof ev.fun, "%s", fun);
    snprintf(ev.tgt, sizeof ev.tgt, "%s", tgt);
    snprintf(ev.tgt_type, sizeof ev.tgt_type, "%s", tgt_type);
    snprintf(ev.user, sizeof ev.user, "%s", user);
    send_all(self, &ev, user);
}

void events_tick(master_t *self, int64_t now_ms)
{
    if (!self->subscribers || now_ms - self->events_tick_ms < EVENTS_TICK_MS)
        return;
    self->events_tick_ms = now_ms;
    subscriber_t *s = zlistx_first(self->subscribers);
    while (s) {
        if (clients_send(self, s->route, MC_KIND_TICK, "", 0) != 0 && errno == EHOSTUNREACH) {
            mc_info("client: %s's event subscription ended (connection closed)", s->user);
            zlistx_delete(self->subscribers, zlistx_cursor(self->subscribers));
        }
        s = zlistx_next(self->subscribers);
    }
}

void events_ret(master_t *self, const job_t *job, const mc_ret_t *ret)
{
    if (!self->subscribers)
        return;
    mc_event_t ev = {.type = MC_EVENT_RET, .retcode = ret->retcode, .success = ret->success};
    snprintf(ev.jid, sizeof ev.jid, "%s", ret->jid);
    /* The job's function when the job is known, not what the minion says. */
    snprintf(ev.fun, sizeof ev.fun, "%s", job ? job->fun : ret->fun);
    snprintf(ev.id, sizeof ev.id, "%s", ret->id);
    send_all(self, &ev, job ? job->user : NULL);
}
