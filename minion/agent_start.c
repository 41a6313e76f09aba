/*  agent_start - the minion's start-up and its links to the masters: its
    keys and the master's, registration on the auth port (with backoff)
    and the pinning of the master's signing key, and each master's name
    resolved, tried address by address, connected and checked again. */
#include "agent_state.h"

/* ---- start-up ------------------------------------------------------------- */

/* The master's CURVE key: master_pubkey is its Z85 text or the path of its
   master.cert file. '/' is a Z85 digit, so text that starts with one is a
   path only when it is not a key, or names a file that exists. */
int agent_load_master_key(agent_t *self, mc_err_t *err)
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
        agent_note_failure(link, err.msg);
        return -1;
    }
    zmq_pollitem_t items[] = {{NULL, resolve_fd(r), ZMQ_POLLIN, 0},
                              {NULL, self->sigfd, ZMQ_POLLIN, 0}};
    int64_t start = mc_mono_ms();
    bool done = false;
    while (!self->stop && !done && mc_mono_ms() - start < ROTATE_MS) {
        if (zmq_poll(items, 2, 1000) > 0 && (items[1].revents & ZMQ_POLLIN))
            agent_on_signal(self);
        done = items[0].revents & ZMQ_POLLIN;
    }
    int rc = done ? resolve_result(r, &link->addrs, &link->naddrs, &err) : -1;
    resolve_free(&r);
    link->resolved_ms = mc_mono_ms();
    if (rc != 0) {
        agent_note_failure(link,
                           done ? err.msg : "resolving the master's name is slow; still trying");
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
int agent_resolve_masters_first(agent_t *self, mc_err_t *err)
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
                agent_on_signal(self);
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
int agent_register_with_master(agent_t *self, mc_err_t *err)
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
                agent_on_signal(self);
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

int agent_connect_link(link_t *link, mc_err_t *err)
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
                           .on_event = agent_on_chan_event,
                           .on_message = agent_on_message,
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
    if (agent_connect_link(link, &err) != 0) {
        agent_note_failure(link, err.msg);
        link->chan = old;
        link->down_since_ms = mc_mono_ms();
        return;
    }
    channel_destroy(&old);
}

/* The name resolved again (from the loop): new addresses replace the old
   ones, and the first of them is tried. */
void agent_on_resolved(link_t *link)
{
    char **addrs = NULL;
    size_t n = 0;
    mc_err_t err;
    int rc = resolve_result(link->resolving, &addrs, &n, &err);
    resolve_free(&link->resolving);
    link->resolved_ms = mc_mono_ms();
    if (rc != 0) {
        agent_note_failure(link, err.msg);
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
void agent_check_master_address(link_t *link, int64_t now)
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
        agent_note_failure(link, err.msg);
        link->resolved_ms = now;
    }
}
