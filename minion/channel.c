/*  channel - see channel.h. */
#include "channel.h"

#include <czmq.h>
#include <sodium.h>
#include <string.h>

#include "log.h"
#include "proto/proto.h"

enum { SOCK_SUB, SOCK_PUSH, SOCKS };

/* libzmq's first reconnect interval, and the ceiling of its backoff, in
   [base, base + spread) ms. */
#define RECONNECT_IVL_MS        200
#define RECONNECT_IVL_SPREAD_MS 800
#define RECONNECT_MAX_MS        5000
#define RECONNECT_MAX_SPREAD_MS 5000

struct _channel_t {
    channel_config_t cfg;
    zsock_t *sock[SOCKS];
    zsock_t *monitor[SOCKS]; /* PAIR: the socket's connection events */
    bool up[SOCKS];
    bool was_up; /* both were up, and no loss has been told since */
    char topic[MC_TOPIC_MAX];
    size_t topic_len;
};

static const char *sock_name[SOCKS] = {"jobs", "returns"};

static void curve_client(channel_t *self, zsock_t *s)
{
    zsock_set_curve_serverkey_bin(s, self->cfg.server_pub);
    zsock_set_curve_publickey_bin(s, self->cfg.pub);
    zsock_set_curve_secretkey_bin(s, self->cfg.sec);
    zsock_set_linger(s, 0);
    /* Drawn per connection: after a master restart, its minions come back
       spread over several seconds, not in one burst its accept queue
       drops (libzmq adds its own jitter of up to one interval). */
    zsock_set_reconnect_ivl(s,
                            RECONNECT_IVL_MS + (int)randombytes_uniform(RECONNECT_IVL_SPREAD_MS));
    zsock_set_reconnect_ivl_max(s, RECONNECT_MAX_MS +
                                       (int)randombytes_uniform(RECONNECT_MAX_SPREAD_MS));
    if (self->cfg.alive_ms > 0) {
        zsock_set_heartbeat_ivl(s, self->cfg.alive_ms / 2);
        zsock_set_heartbeat_timeout(s, self->cfg.alive_ms);
    }
    if (strchr(self->cfg.master, ':'))
        zsock_set_ipv6(s, 1);
}

static int open_socket(channel_t *self, int which, int type, int port, mc_err_t *err)
{
    zsock_t *s = zsock_new(type);
    if (!s) {
        mc_err_set(err, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    self->sock[which] = s;
    curve_client(self, s);
    if (type == ZMQ_SUB) {
        zsock_set_maxmsgsize(s, (int64_t)self->cfg.max_msg);
        zsock_set_rcvhwm(s, 10000);
        zsock_set_rcvtimeo(s, 0); /* drained by channel_service */
        zmq_setsockopt(zsock_resolve(s), ZMQ_SUBSCRIBE, self->topic, self->topic_len);
    } else {
        /* With no connection, a send fails at once rather than queueing
           for a master that may never come back: the spool keeps it. */
        zsock_set_immediate(s, 1);
        zsock_set_sndhwm(s, 10000);
    }
    /* A name never used before in this process: libzmq frees an inproc
       name only some time after its socket closes, and a new channel may
       get the old one's address. */
    static unsigned serial;
    char ep[128];
    snprintf(ep, sizeof ep, "inproc://mctl-channel-%u-%d", serial++, which);
    if (zmq_socket_monitor(zsock_resolve(s), ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_DISCONNECTED) != 0) {
        mc_err_set(err, "socket monitor: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    self->monitor[which] = zsock_new(ZMQ_PAIR);
    if (self->monitor[which])
        zsock_set_rcvtimeo(self->monitor[which], 0); /* drained by channel_service */
    if (!self->monitor[which] || zsock_connect(self->monitor[which], "%s", ep) != 0) {
        mc_err_set(err, "socket monitor: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    const char *m = self->cfg.master;
    int rc = strchr(m, ':') ? zsock_connect(s, "tcp://[%s]:%d", m, port)
                            : zsock_connect(s, "tcp://%s:%d", m, port);
    if (rc != 0) {
        mc_err_set(err, "cannot connect to %s port %d: %s", m, port, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

channel_t *channel_new(const channel_config_t *cfg, mc_err_t *err)
{
    channel_t *self = mc_calloc(1, sizeof *self);
    self->cfg = *cfg;
    self->topic_len = mc_topic(self->topic, cfg->id);
    if (open_socket(self, SOCK_SUB, ZMQ_SUB, cfg->publish_port, err) != 0 ||
        open_socket(self, SOCK_PUSH, ZMQ_PUSH, cfg->ret_port, err) != 0)
        channel_destroy(&self);
    return self;
}

void channel_destroy(channel_t **pself)
{
    channel_t *self = *pself;
    if (!self)
        return;
    for (int i = 0; i < SOCKS; i++) {
        if (self->sock[i])
            zmq_socket_monitor(zsock_resolve(self->sock[i]), NULL, 0);
        zsock_destroy(&self->monitor[i]);
        zsock_destroy(&self->sock[i]);
    }
    free(self);
    *pself = NULL;
}

int channel_send(channel_t *self, const char *kind, const void *data, size_t len)
{
    void *s = zsock_resolve(self->sock[SOCK_PUSH]);
    if (zmq_send(s, kind, strlen(kind), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    /* Past the first frame, the rest of the message always goes. */
    zmq_send(s, data, len, 0);
    return 0;
}

int channel_poll_items(channel_t *self, zmq_pollitem_t *items)
{
    items[0] = (zmq_pollitem_t){zsock_resolve(self->sock[SOCK_SUB]), 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){zsock_resolve(self->monitor[SOCK_SUB]), 0, ZMQ_POLLIN, 0};
    items[2] = (zmq_pollitem_t){zsock_resolve(self->monitor[SOCK_PUSH]), 0, ZMQ_POLLIN, 0};
    return CHANNEL_POLL_ITEMS;
}

/* One message from the SUB: exactly [our topic][kind][payload]. False
   when none was waiting (receives do not block). */
static bool on_sub_message(channel_t *self)
{
    zmsg_t *msg = zmsg_recv(self->sock[SOCK_SUB]);
    if (!msg)
        return false;
    zframe_t *topic = zmsg_first(msg), *kind = zmsg_next(msg), *body = zmsg_next(msg);
    if (zmsg_size(msg) != 3 || zframe_size(topic) != self->topic_len ||
        memcmp(zframe_data(topic), self->topic, self->topic_len) != 0)
        mc_warn("dropped a message from the master that is not for this minion (%zu frames)",
                zmsg_size(msg));
    else
        self->cfg.on_message(self->cfg.arg, zframe_data(kind), zframe_size(kind), zframe_data(body),
                             zframe_size(body));
    zmsg_destroy(&msg);
    return true;
}

/* One event of a socket's monitor; false when none was waiting. */
static bool on_monitor_event(channel_t *self, int which)
{
    zmsg_t *msg = zmsg_recv(self->monitor[which]);
    if (!msg)
        return false;
    zframe_t *f = zmsg_first(msg);
    uint16_t event = 0;
    if (f && zframe_size(f) >= 2)
        memcpy(&event, zframe_data(f), 2);
    zmsg_destroy(&msg);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->up[which] = true;
        if (self->up[SOCK_SUB] && self->up[SOCK_PUSH]) {
            self->was_up = true;
            self->cfg.on_event(self->cfg.arg, CHANNEL_UP, sock_name[which]);
        }
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        self->cfg.on_event(self->cfg.arg, CHANNEL_REFUSED, sock_name[which]);
    } else if (event == ZMQ_EVENT_DISCONNECTED && self->up[which]) {
        self->up[which] = false;
        if (self->was_up) {
            self->was_up = false;
            self->cfg.on_event(self->cfg.arg, CHANNEL_LOST, sock_name[which]);
        }
    }
    return true;
}

void channel_service(channel_t *self, const zmq_pollitem_t *items)
{
    /* A bounded batch, so that one busy master cannot starve the workers;
       zmq_poll reports the rest on the next turn. Receives do not block
       (a receive timeout of 0): each one says whether there was more,
       which asking ZMQ_EVENTS first would cost two system calls to learn. */
    if (items[0].revents & ZMQ_POLLIN)
        for (int n = 0; n < 256 && on_sub_message(self); n++)
            ;
    if (items[1].revents & ZMQ_POLLIN)
        while (on_monitor_event(self, SOCK_SUB))
            ;
    if (items[2].revents & ZMQ_POLLIN)
        while (on_monitor_event(self, SOCK_PUSH))
            ;
}
