/*  clients - the client API: requests from mctl on SOCK_DIR/master.ipc
    (a ROUTER), one handler per request kind, found in a table; answers
    are [kind][msgpack] with kind "reply", and for a job in flight "ack"
    and "ret" as its minions answer. Who asks is what the kernel says of
    the connection (peer_user), never what the request says. Publishing
    itself is publish.c's, reading the job history history.c's, the key
    requests keyreq.c's. */
#include "master.h"

#include <errno.h>
#include <unistd.h>
#include <string.h>

#include "target.h"

/* ---- replies to clients ------------------------------------------------ */

int clients_send(master_t *self, zframe_t *route, const char *kind, const void *data, size_t len)
{
    void *s = zsock_resolve(self->client);
    if (zmq_send(s, zframe_data(route), zframe_size(route), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1; /* EHOSTUNREACH: the client has gone */
    zmq_send(s, kind, strlen(kind), ZMQ_SNDMORE);
    return zmq_send(s, data, len, 0) < 0 ? -1 : 0;
}

void clients_reply(master_t *self, zframe_t *route, msgpack_sbuffer *sb)
{
    clients_send(self, route, MC_KIND_REPLY, sb->data, sb->size);
}

void clients_reply_error(master_t *self, zframe_t *route, const char *fmt, ...)
{
    char msg[MC_REPLY_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    self->outcome.decision = "error";
    snprintf(self->outcome.reason, sizeof self->outcome.reason, "%s", msg);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_error_pack(&sb, false, msg);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

void clients_reply_denied(master_t *self, zframe_t *route, const char *fmt, ...)
{
    char msg[MC_REPLY_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mc_warn("client: refused: %s", msg);
    self->outcome.decision = "refused";
    snprintf(self->outcome.reason, sizeof self->outcome.reason, "%s", msg);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_error_pack(&sb, true, msg);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* Stream one minion message to every client waiting on the job. */
void clients_notify_waiters(master_t *self, job_t *job, const char *kind, zframe_t *payload)
{
    zlistx_t *gone = NULL;
    for (zframe_t *route = zlistx_first(job->waiters); route; route = zlistx_next(job->waiters)) {
        if (clients_send(self, route, kind, zframe_data(payload), zframe_size(payload)) != 0) {
            if (!gone)
                gone = zlistx_new();
            zlistx_add_end(gone, route);
        }
    }
    for (zframe_t *route = gone ? zlistx_first(gone) : NULL; route; route = zlistx_next(gone))
        job_remove_waiter(job, route);
    zlistx_destroy(&gone);
}

/* ---- targets -------------------------------------------------------------- */

bool clients_fun_name_valid(const char *fun)
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

void clients_resolved_done(resolved_t *r)
{
    free(r->tgt);
    free(r->matched);
}

const char **clients_resolved_ids(const resolved_t *r)
{
    const char **ids = mc_calloc(r->count + 1, sizeof *ids);
    for (size_t i = 0; i < r->count; i++)
        ids[i] = r->matched[i]->id;
    return ids;
}

/* Expand nodegroups in a request's target, compile it once and evaluate
   it against every accepted minion. On error the client has been
   answered and -1 is returned. */
int clients_resolve_target(master_t *self, zframe_t *route, const mc_req_target_t *t, resolved_t *r)
{
    mc_err_t err;
    memset(r, 0, sizeof *r);
    snprintf(r->tgt_type, sizeof r->tgt_type, "%s", t->tgt_type);
    r->delimiter = t->delimiter;
    r->tgt = mc_target_expand(t->tgt, r->tgt_type, nodegroup_of, self, &err);
    if (!r->tgt) {
        clients_reply_error(self, route, "%s", err.msg);
        return -1;
    }
    /* Nodegroups can make a target longer than any minion would accept
       in a job, or the history could show. */
    if (strlen(r->tgt) > MC_TGT_MAX) {
        clients_reply_error(self, route,
                            "the target is longer than %d bytes once nodegroups are "
                            "expanded",
                            MC_TGT_MAX);
        clients_resolved_done(r);
        return -1;
    }
    if (strcmp(r->tgt_type, "nodegroup") == 0)
        snprintf(r->tgt_type, sizeof r->tgt_type, "compound");
    mc_target_t *target = mc_target_compile(r->tgt, r->tgt_type, r->delimiter, &err);
    if (!target) {
        clients_reply_error(self, route, "%s", err.msg);
        clients_resolved_done(r);
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

static void handle_list_targets(master_t *self, zframe_t *route, const mc_request_t *req,
                                const caller_t *who)
{
    resolved_t r;
    if (clients_resolve_target(self, route, &req->target, &r) != 0)
        return;
    const char **ids = clients_resolved_ids(&r);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_list_targets_pack(&sb, ids, r.count);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    free(ids);
    clients_resolved_done(&r);
}

/* ---- minions -------------------------------------------------------------- */

/* Every accepted minion, up or down, and its grains: to root, the
   master's user and users with @jobs, @keys or @deploy; the other users
   of the ACL get ids and states only (list_targets gives them the ids
   already). Grains that would make the answer larger than a client takes
   are left out, with a line in the log. */
static void handle_minions(master_t *self, zframe_t *route, const mc_request_t *req,
                           const caller_t *who)
{
    (void)req;
    bool grains = who->all || (who->rights & (ACL_RIGHT_JOBS | ACL_RIGHT_KEYS | ACL_RIGHT_DEPLOY));
    size_t n = 0;
    minion_t **all = registry_list(self->registry, &n);
    mc_minion_spec_t *specs = mc_calloc(n + 1, sizeof *specs);
    size_t count = 0;
    int64_t now_ms = mc_mono_ms(), wall_us = mc_wall_us();
    for (size_t i = 0; i < n; i++) {
        minion_t *m = all[i];
        if (m->state != KEY_ACCEPTED)
            continue;
        specs[count++] = (mc_minion_spec_t){
            .id = m->id,
            .up = minions_present(self, m),
            .last_seen_us = m->last_seen_ms ? wall_us - (now_ms - m->last_seen_ms) * 1000 : 0,
            .grains = grains && m->has_grains ? m->grains.grains : NULL};
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_minions_pack(&sb, specs, count);
    if (sb.size > MC_MAX_RETURN_MSG) {
        mc_warn("client: the grains of %zu minions take %zu bytes, more than a client takes: "
                "sent without grains",
                count, sb.size);
        for (size_t i = 0; i < count; i++)
            specs[i].grains = NULL;
        msgpack_sbuffer_clear(&sb);
        mc_reply_minions_pack(&sb, specs, count);
    }
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    free(specs);
    free(all);
}

/* ---- requests ------------------------------------------------------------ */

static void request_body(master_t *self, zframe_t *route, const void *data, size_t len,
                         const caller_t *who, bool nested, int64_t asked_us);

/* A request made on behalf of a local user (mctl-api, once it has checked
   the user's password): only root and the master's own user, who may do
   everything anyway, may ask it; the request inside is then handled as
   that user's in every respect, ACL and audit included. */
static void handle_as(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    if (!who->all) {
        clients_reply_denied(self, route,
                             "user %s may not act for another user: only root and the "
                             "master's user may",
                             who->user);
        return;
    }
    unsigned long uid, gid;
    if (!callers_ids(self->callers, req->as.user, &uid, &gid, mc_mono_ms())) {
        clients_reply_denied(self, route, "there is no local user %s", req->as.user);
        return;
    }
    caller_t as;
    clients_caller(self, &as, uid, gid);
    /* Two names for one uid (toor and root): the ACL and the audit log
       go by the uid's own name, which must be the one asked for. */
    if (strcmp(as.user, req->as.user) != 0) {
        clients_reply_denied(self, route, "user %s has uid %lu, which is %s's: refused",
                             req->as.user, as.uid, as.user);
        clients_caller_done(&as);
        return;
    }
    snprintf(as.via, sizeof as.via, "%s", who->user);
    request_body(self, route, req->as.req, req->as.req_len, &as, true, 0);
    self->outcome.delegated = true; /* the request inside has its line */
    clients_caller_done(&as);
}

typedef void handler_fn(master_t *self, zframe_t *route, const mc_request_t *req,
                        const caller_t *who);

/* Every request kind and its handler. */
static handler_fn *const handlers[MC_REQ_KINDS] = {
    [MC_REQ_PUBLISH] = publish_request,    [MC_REQ_LIST_TARGETS] = handle_list_targets,
    [MC_REQ_JOBS_LIST] = history_list,     [MC_REQ_JOBS_SHOW] = history_show,
    [MC_REQ_JOBS_WAIT] = history_wait,     [MC_REQ_KEY_LIST] = keyreq_list,
    [MC_REQ_KEY_FINGER] = keyreq_finger,   [MC_REQ_MASTER_KEY] = keyreq_master_key,
    [MC_REQ_KEY_PRESEED] = keyreq_preseed, [MC_REQ_KEY_ACCEPT] = keyreq_change,
    [MC_REQ_KEY_REJECT] = keyreq_change,   [MC_REQ_KEY_DELETE] = keyreq_change,
    [MC_REQ_CP_START] = copy_start,        [MC_REQ_CP_CHUNK] = copy_chunk,
    [MC_REQ_MINIONS] = handle_minions,     [MC_REQ_EVENTS] = events_subscribe,
    [MC_REQ_EVENTS_READ] = events_read,    [MC_REQ_AS] = handle_as,
};

/* What a user of the ACL (not root, not the master's user) may ask at
   all: publishing and the targets it reaches when a rule names the user
   (each job is then checked in publish_request), the history of its own
   jobs (or everyone's, with @jobs: checked in the handlers). Keys are for
   root and the master's user, and for users given @keys; deploy (the
   master's key, preseeding a minion's key and deleting it again when the
   install fails) also for users given @deploy. */
static bool acl_user_may(master_t *self, mc_req_kind_t kind, const caller_t *who, char *why,
                         size_t cap)
{
    acl_caller_t caller = {who->user, (const char *const *)who->groups, who->ngroups};
    unsigned need = ACL_RIGHT_KEYS;
    switch (kind) {
    case MC_REQ_PUBLISH:
    case MC_REQ_LIST_TARGETS:
    case MC_REQ_CP_START:
    case MC_REQ_MINIONS:
        if (acl_names(self->acl, &caller))
            return true;
        snprintf(why, cap,
                 "user %s may not publish: no publisher_acl rule names the user or a group of "
                 "the user",
                 who->user);
        return false;
    case MC_REQ_JOBS_LIST:
    case MC_REQ_JOBS_SHOW:
    case MC_REQ_JOBS_WAIT:
    case MC_REQ_EVENTS: /* of its own jobs, or all with @jobs */
    case MC_REQ_EVENTS_READ:
    case MC_REQ_CP_CHUNK: /* only into a copy this connection started */
    case MC_REQ_AS:       /* refused in handle_as */
        return true;
    case MC_REQ_KEY_LIST:
    case MC_REQ_KEY_FINGER:
    case MC_REQ_MASTER_KEY:
    case MC_REQ_KEY_PRESEED:
    case MC_REQ_KEY_DELETE:
        need |= ACL_RIGHT_DEPLOY;
        break;
    default:
        break;
    }
    if (who->rights & need)
        return true;
    snprintf(why, cap,
             "user %s may not %s: keys and deploy are for root, the master's user and users "
             "given %s in publisher_acl",
             who->user, mc_request_name(kind),
             need & ACL_RIGHT_DEPLOY ? "@keys or @deploy" : "@keys");
    return false;
}

/* The audit line of one request (req NULL: it did not decode). */
static void audit_request(master_t *self, const caller_t *who, const mc_request_t *req)
{
    if (!self->audit)
        return;
    audit_rec_t rec = {.time_us = self->outcome.asked_us ? self->outcome.asked_us : mc_wall_us(),
                       .uid = who->uid,
                       .user = who->user,
                       .via = who->via[0] ? who->via : NULL,
                       .request = req ? mc_request_name(req->kind) : "invalid",
                       .decision = self->outcome.decision,
                       .reason = self->outcome.reason,
                       .jid = self->outcome.jid};
    char *filter_user[1];
    switch (req ? (int)req->kind : -1) {
    case MC_REQ_PUBLISH:
        rec.target = req->publish.target.tgt;
        rec.tgt_type = req->publish.target.tgt_type;
        rec.function = req->publish.fun;
        rec.args = req->publish.arg;
        rec.kwargs = req->publish.kwarg;
        break;
    case MC_REQ_LIST_TARGETS:
        rec.target = req->target.tgt;
        rec.tgt_type = req->target.tgt_type;
        break;
    case MC_REQ_JOBS_LIST:
        rec.target = req->jobs_list.target;
        rec.function = req->jobs_list.fun;
        if (req->jobs_list.user[0]) {
            filter_user[0] = (char *)req->jobs_list.user;
            rec.arg_strs = filter_user;
            rec.narg_strs = 1;
        }
        break;
    case MC_REQ_JOBS_SHOW:
    case MC_REQ_JOBS_WAIT:
        rec.jid = req->job.jid;
        break;
    case MC_REQ_KEY_ACCEPT:
    case MC_REQ_KEY_REJECT:
    case MC_REQ_KEY_DELETE:
        rec.arg_strs = req->keys.ids.items;
        rec.narg_strs = req->keys.ids.count;
        break;
    case MC_REQ_KEY_PRESEED:
        rec.target = req->preseed.id;
        break;
    case MC_REQ_CP_START:
        rec.target = req->cp_start.target.tgt;
        rec.tgt_type = req->cp_start.target.tgt_type;
        rec.function = "cp.recv";
        filter_user[0] = req->cp_start.copy.dest;
        rec.arg_strs = filter_user;
        rec.narg_strs = 1;
        break;
    case MC_REQ_CP_CHUNK:
        rec.jid = req->cp_chunk.jid;
        break;
    case MC_REQ_AS:
        filter_user[0] = (char *)req->as.user;
        rec.arg_strs = filter_user;
        rec.narg_strs = 1;
        break;
    default:
        break;
    }
    audit_write(self->audit, &rec);
}

/* One request from a client: [route][msgpack body], from the local user
   who (as the kernel says, never as the request says; or, nested in an
   as request, the user root or the master's user named). A request that
   does not decode is answered with why. Every request, whatever became of
   it, leaves one line in the audit log; but the chunks of a copy that go
   through have none (the copy's cp_start has it), and an as request that
   goes through has its inner request's line. */
static void request_body(master_t *self, zframe_t *route, const void *data, size_t len,
                         const caller_t *who, bool nested, int64_t asked_us)
{
    memset(&self->outcome, 0, sizeof self->outcome);
    self->outcome.decision = "allowed";
    self->outcome.asked_us = asked_us;
    mc_request_t req;
    mc_err_t err;
    if (mc_request_decode(&req, data, len, &err) != 0) {
        clients_reply_error(self, route, "%s", err.msg);
        audit_request(self, who, NULL);
        return;
    }
    request_raw_t outer = self->request;
    self->request = (request_raw_t){data, len, who, nested};
    /* The rights the ACL gives, worked out once for this request. */
    caller_t me = *who;
    if (!me.all) {
        acl_caller_t caller = {me.user, (const char *const *)me.groups, me.ngroups};
        me.rights = acl_rights(self->acl, &caller);
    }
    char why[MC_REPLY_TEXT_MAX + 1];
    if (nested && req.kind == MC_REQ_AS)
        clients_reply_error(self, route, "an as request cannot carry another");
    else if (!me.all && !acl_user_may(self, req.kind, &me, why, sizeof why))
        clients_reply_denied(self, route, "%s", why);
    else
        handlers[req.kind](self, route, &req, &me);
    /* A copy's chunks are its cp_start's line, an event subscriber's
       reports of what it has read its subscription's, an as request's
       the line of the request inside; only one that fails has its own. */
    bool quiet = req.kind == MC_REQ_CP_CHUNK || req.kind == MC_REQ_EVENTS_READ;
    bool own_line = req.kind == MC_REQ_AS
                        ? !self->outcome.delegated
                        : !quiet || strcmp(self->outcome.decision, "allowed") != 0;
    if (own_line && !self->outcome.deferred)
        audit_request(self, &me, &req);
    mc_request_done(&req);
    self->request = outer;
}

void clients_request(master_t *self, zframe_t *route, zframe_t *body, const caller_t *who)
{
    request_body(self, route, zframe_data(body), zframe_size(body), who, false, 0);
}

void clients_request_again(master_t *self, zframe_t *route, const void *data, size_t len,
                           const caller_t *who, bool nested, int64_t asked_us)
{
    request_body(self, route, data, len, who, nested, asked_us);
}

void clients_caller_copy(caller_t *to, const caller_t *from)
{
    *to = *from;
    to->groups = from->ngroups ? mc_calloc(from->ngroups, sizeof *to->groups) : NULL;
    for (size_t i = 0; i < from->ngroups; i++)
        to->groups[i] = mc_strdup(from->groups[i]);
}

void clients_caller_done(caller_t *who)
{
    for (size_t i = 0; i < who->ngroups; i++)
        free(who->groups[i]);
    free(who->groups);
    memset(who, 0, sizeof *who);
}

int clients_caller(master_t *self, caller_t *who, unsigned long uid, unsigned long gid)
{
    memset(who, 0, sizeof *who);
    who->uid = uid;
    who->gid = gid;
    who->all = uid == 0 || uid == (unsigned long)geteuid();
    who->rights = who->all ? ~0u : 0;
    callers_name(self->callers, who, mc_mono_ms());
    return 0;
}

/* Who sent an ipc message, from the kernel: libzmq gives the peer's
   credentials (SO_PEERCRED) as Peer-Address "...:UID:GID:PID". Returns
   -1 when the message carries none. */
static int peer_caller(master_t *self, zframe_t *frame, caller_t *who)
{
    const char *addr = zframe_meta(frame, "Peer-Address");
    if (!addr)
        return -1;
    /* The last three fields, from the end: the address part may itself
       hold colons. */
    const char *p = addr + strlen(addr);
    int colons = 0;
    while (p > addr && colons < 3)
        if (*--p == ':')
            colons++;
    char *end;
    errno = 0;
    unsigned long uid = strtoul(p + 1, &end, 10);
    if (colons != 3 || end == p + 1 || *end != ':' || errno || uid > UINT32_MAX)
        return -1;
    const char *g = end + 1;
    errno = 0;
    unsigned long gid = strtoul(g, &end, 10);
    if (end == g || *end != ':' || errno || gid > UINT32_MAX)
        return -1;
    return clients_caller(self, who, uid, gid);
}

bool clients_on_request(master_t *self)
{
    zmsg_t *msg = zmsg_recv(self->client);
    if (!msg)
        return false;
    zframe_t *route = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    caller_t who;
    if (!route || !body) {
        mc_warn("client: malformed request (missing frames)");
    } else if (peer_caller(self, body, &who) != 0) {
        mc_warn("client: request without the peer's credentials; refused");
        if (self->audit) {
            audit_rec_t rec = {.time_us = mc_wall_us(),
                               .no_uid = true,
                               .request = "unknown",
                               .decision = "refused",
                               .reason = "no peer credentials"};
            audit_write(self->audit, &rec);
        }
    } else {
        clients_request(self, route, body, &who);
        clients_caller_done(&who);
    }
    zframe_destroy(&route);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
    return true;
}
