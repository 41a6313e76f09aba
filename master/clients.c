/*  clients - the client API: requests from mctl on SOCK_DIR/master.ipc
    (a ROUTER), one handler per request kind, found in a table; answers
    are [kind][msgpack] with kind "reply", and for a job in flight "ack"
    and "ret" as its minions answer. Who asks is what the kernel says of
    the connection (peer_user), never what the request says. Publishing
    itself is publish.c's. */
#include "master.h"

#include <errno.h>
#include <pwd.h>
#include <string.h>

#include "jid.h"
#include "target.h"

/* ---- replies to clients ------------------------------------------------ */

int clients_send(master_t *self, zframe_t *route, const char *kind, const void *data,
                          size_t len)
{
    void *s = zsock_resolve(self->client);
    if (zmq_send(s, zframe_data(route), zframe_size(route), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1; /* EHOSTUNREACH: the client has gone */
    zmq_send(s, kind, strlen(kind), ZMQ_SNDMORE);
    return zmq_send(s, data, len, 0) < 0 ? -1 : 0;
}

void clients_reply(master_t *self, zframe_t *route, msgpack_sbuffer *sb)
{
    clients_send(self, route, "reply", sb->data, sb->size);
}

void clients_reply_error(master_t *self, zframe_t *route, const char *fmt, ...)
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
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

void clients_reply_header(msgpack_packer *pk, size_t extra)
{
    msgpack_pack_map(pk, 2 + extra);
    mc_pk_kv_int(pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_bool(pk, "ok", true);
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

/* Read tgt, tgt_type and delimiter from a request, expand nodegroups,
   compile the target once and evaluate it against every accepted minion.
   On error the client has been answered and -1 is returned. */
int clients_resolve_target(master_t *self, zframe_t *route, const msgpack_object *req, resolved_t *r)
{
    mc_err_t err;
    char *tgt = NULL, delim[2] = ":";
    memset(r, 0, sizeof *r);
    if (mc_mp_strdup(req, "tgt", MC_TGT_MAX, &tgt, &err) ||
        mc_mp_str(req, "tgt_type", r->tgt_type, sizeof r->tgt_type, &err) ||
        mc_mp_str_opt(req, "delimiter", delim, sizeof delim, &err)) {
        clients_reply_error(self, route, "bad request: %s", err.msg);
        free(tgt);
        return -1;
    }
    r->delimiter = delim[0] ? delim[0] : ':';
    r->tgt = mc_target_expand(tgt, r->tgt_type, nodegroup_of, self, &err);
    free(tgt);
    if (!r->tgt) {
        clients_reply_error(self, route, "%s", err.msg);
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

void clients_pack_minion_ids(msgpack_packer *pk, const resolved_t *r)
{
    mc_pk_str(pk, "minions");
    msgpack_pack_array(pk, r->count);
    for (size_t i = 0; i < r->count; i++)
        mc_pk_str(pk, r->matched[i]->id);
}

static void handle_list_targets(master_t *self, zframe_t *route, const msgpack_object *req,
                                const char *user)
{
    resolved_t r;
    if (clients_resolve_target(self, route, req, &r) != 0)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    clients_reply_header(&pk, 1);
    clients_pack_minion_ids(&pk, &r);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    clients_resolved_done(&r);
}


/* ---- job history -------------------------------------------------------- */

static void handle_jobs_list(master_t *self, zframe_t *route, const msgpack_object *req,
                             const char *user)
{
    mc_err_t err;
    char fun[MC_FUN_MAX + 1], target[256];
    int64_t limit = 50, since = 0;
    if (mc_mp_str_opt(req, "fun", fun, sizeof fun, &err) ||
        mc_mp_str_opt(req, "target", target, sizeof target, &err) ||
        (mc_mp_get(req, "limit") && mc_mp_int(req, "limit", 1, 1000000, &limit, &err)) ||
        (mc_mp_get(req, "since") && mc_mp_int(req, "since", 0, INT64_MAX, &since, &err))) {
        clients_reply_error(self, route, "bad jobs request: %s", err.msg);
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
    clients_reply_header(&pk, 1);
    if (jobcache_pack_list(self->cache, &q, &pk, &err) != 0)
        clients_reply_error(self, route, "%s", err.msg);
    else
        clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* The request's jid, checked; and the cache brought up to date for it. */
static int read_jid(master_t *self, zframe_t *route, const msgpack_object *req,
                    char jid[MC_JID_LEN + 1])
{
    jid[0] = '\0';
    if (mc_mp_str(req, "jid", jid, MC_JID_LEN + 1, NULL) || !mc_jid_valid(jid, strlen(jid))) {
        clients_reply_error(self, route, "that is not a job id (20 digits)");
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
    clients_reply_header(&pk, wait ? 5 : 4);
    if (jobcache_pack_show(self->cache, jid, &pk, &err) != 0) {
        clients_reply_error(self, route, "%s", err.msg);
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
    clients_reply(self, route, &sb);
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

static void handle_key_list(master_t *self, zframe_t *route, const msgpack_object *req,
                            const char *user)
{
    size_t n, nd;
    minion_t **all = registry_list(self->registry, &n);
    const char **denied = registry_denied_list(self->registry, &nd);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    clients_reply_header(&pk, KEY_STATES);
    for (int s = 0; s < KEY_DENIED; s++) {
        mc_pk_str(&pk, key_state_dir((key_state_t)s));
        pack_id_list(&pk, all, n, (key_state_t)s);
    }
    mc_pk_str(&pk, key_state_dir(KEY_DENIED));
    msgpack_pack_array(&pk, nd);
    for (size_t i = 0; i < nd; i++)
        mc_pk_str(&pk, denied[i]);
    clients_reply(self, route, &sb);
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


static void handle_key_finger(master_t *self, zframe_t *route, const msgpack_object *req,
                              const char *user)
{
    size_t n, nd;
    minion_t **all = registry_list(self->registry, &n);
    const char **denied = registry_denied_list(self->registry, &nd);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    clients_reply_header(&pk, 1);
    mc_pk_str(&pk, "keys");
    msgpack_pack_array(&pk, 2 + n + nd);
    pack_finger(&pk, "master.cert", "local", self->curve.pub);
    pack_finger(&pk, "master.sign", "local", self->sign.pub);
    for (size_t i = 0; i < n; i++)
        pack_finger(&pk, all[i]->id, key_state_name(all[i]->state), all[i]->pub);
    for (size_t i = 0; i < nd; i++)
        pack_finger(&pk, denied[i], "denied", registry_denied_key(self->registry, denied[i]));
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    free(all);
    free(denied);
}

/* What deploy writes into a minion's config: the master's public key and
   ports. */
static void handle_master_key(master_t *self, zframe_t *route, const msgpack_object *req,
                              const char *user)
{
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(self->curve.pub, z85);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    clients_reply_header(&pk, 5);
    mc_pk_kv_str(&pk, "pub", z85);
    mc_pk_kv_str(&pk, "interface", self->cfg->interface);
    mc_pk_kv_int(&pk, "publish_port", self->cfg->publish_port);
    mc_pk_kv_int(&pk, "ret_port", self->cfg->ret_port);
    mc_pk_kv_int(&pk, "auth_port", self->cfg->auth_port);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* Deploy brings a minion's public key back over SSH: accept exactly it. */
static void handle_key_preseed(master_t *self, zframe_t *route, const msgpack_object *req,
                               const char *user)
{
    mc_err_t err;
    char id[MC_ID_MAX + 1], z85[MC_Z85_KEY_LEN + 1];
    unsigned char pub[MC_KEY_LEN];
    bool changed;
    if (mc_mp_str(req, "id", id, sizeof id, &err) != 0 ||
        mc_mp_str(req, "pub", z85, sizeof z85, &err) != 0) {
        clients_reply_error(self, route, "bad key request: %s", err.msg);
        return;
    }
    if (!mc_id_valid(id, strlen(id))) {
        clients_reply_error(self, route, "'%s' is not a valid minion id", id);
        return;
    }
    if (mc_z85_key_decode(z85, pub) != 0) {
        clients_reply_error(self, route, "bad key request: not a Z85 public key");
        return;
    }
    if (registry_preseed(self->registry, id, pub, &changed, &err) != 0) {
        clients_reply_error(self, route, "%s", err.msg);
        return;
    }
    minion_t *m = registry_find(self->registry, id);
    if (m && m->waiting) {
        minions_registration_reply(self, m->waiting, KEY_ACCEPTED);
        zframe_destroy(&m->waiting);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    clients_reply_header(&pk, 1);
    mc_pk_kv_bool(&pk, "changed", changed);
    clients_reply(self, route, &sb);
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
        clients_reply_error(self, route, "bad key request: %s", err.msg);
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
                    minions_registration_reply(self, m->waiting, to);
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
        clients_reply_error(self, route, "%s", failure);
    } else {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        clients_reply_header(&pk, 1);
        mc_pk_str(&pk, "changed");
        msgpack_pack_array(&pk, zlistx_size(changed));
        for (char *id = zlistx_first(changed); id; id = zlistx_next(changed))
            mc_pk_str(&pk, id);
        clients_reply(self, route, &sb);
        msgpack_sbuffer_destroy(&sb);
    }
    zlistx_destroy(&changed);
    free(all);
    free(denied);
}


/* ---- handlers ------------------------------------------------------------ */

static void handle_jobs_show(master_t *self, zframe_t *route, const msgpack_object *req,
                             const char *user)
{
    handle_job_history(self, route, req, false);
}

static void handle_jobs_wait(master_t *self, zframe_t *route, const msgpack_object *req,
                             const char *user)
{
    handle_job_history(self, route, req, true);
}

static void handle_key_accept(master_t *self, zframe_t *route, const msgpack_object *req,
                              const char *user)
{
    handle_key_change(self, route, req, "accept");
}

static void handle_key_reject(master_t *self, zframe_t *route, const msgpack_object *req,
                              const char *user)
{
    handle_key_change(self, route, req, "reject");
}

static void handle_key_delete(master_t *self, zframe_t *route, const msgpack_object *req,
                              const char *user)
{
    handle_key_change(self, route, req, "delete");
}

/* Every request kind and its handler. */
static const struct {
    const char *cmd;
    void (*handle)(master_t *self, zframe_t *route, const msgpack_object *req, const char *user);
} requests[] = {
    {"publish", publish_request},
    {"list_targets", handle_list_targets},
    {"jobs_list", handle_jobs_list},
    {"jobs_show", handle_jobs_show},
    {"jobs_wait", handle_jobs_wait},
    {"key_list", handle_key_list},
    {"key_finger", handle_key_finger},
    {"master_key", handle_master_key},
    {"key_preseed", handle_key_preseed},
    {"key_accept", handle_key_accept},
    {"key_reject", handle_key_reject},
    {"key_delete", handle_key_delete},
};

/* One request from a client: [route][msgpack body], from the local user
   named user (as the kernel says, never as the request says). */
void clients_request(master_t *self, zframe_t *route, zframe_t *body, const char *user)
{
    mc_mp_doc_t doc;
    mc_err_t err;
    char cmd[32];
    if (mc_mp_parse(&doc, zframe_data(body), zframe_size(body), &err) != 0) {
        clients_reply_error(self, route, "malformed request: %s", err.msg);
        return;
    }
    if (mc_mp_str(&doc.root, "cmd", cmd, sizeof cmd, &err) != 0) {
        clients_reply_error(self, route, "malformed request: %s", err.msg);
    } else {
        size_t i = 0, n = sizeof requests / sizeof requests[0];
        while (i < n && strcmp(requests[i].cmd, cmd) != 0)
            i++;
        if (i < n)
            requests[i].handle(self, route, &doc.root, user);
        else
            clients_reply_error(self, route, "unknown request '%s'", cmd);
    }
    mc_mp_doc_done(&doc);
}

/* The local user behind an ipc message, from the kernel: libzmq gives the
   peer's credentials (SO_PEERCRED) as Peer-Address "...:UID:GID:PID". The
   user's name when it has one, else "uid N". Returns -1 when the message
   carries no credentials. */
static int peer_user(zframe_t *frame, char *user, size_t cap)
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
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &found) == 0 && found &&
        strlen(found->pw_name) <= MC_USER_MAX)
        snprintf(user, cap, "%s", found->pw_name);
    else
        snprintf(user, cap, "uid %lu", uid);
    return 0;
}

void clients_on_request(master_t *self)
{
    zmsg_t *msg = zmsg_recv(self->client);
    if (!msg)
        return;
    zframe_t *route = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    char user[MC_USER_MAX + 1];
    if (!route || !body)
        mc_warn("client: malformed request (missing frames)");
    else if (peer_user(body, user, sizeof user) != 0)
        mc_warn("client: request without the peer's credentials; refused");
    else
        clients_request(self, route, body, user);
    zframe_destroy(&route);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
}

