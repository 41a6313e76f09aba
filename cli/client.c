/*  client - see client.h.

    One libzmq context per connection: mctl holds one connection, and the
    benchmarks' client threads each hold one as separate mctl processes
    would. A context costs two threads (its I/O thread and its reaper), so
    it is made as cheap to start and to stop as libzmq allows: one I/O
    thread, room for the three sockets used, ZMQ_BLOCKY off and linger 0, so
    that zmq_ctx_term never waits for messages the master will not read.
    Incoming messages are limited to a return's size (ZMQ_MAXMSGSIZE); a
    larger one ends the connection, as a malformed answer should.

    libzmq connects in the background and would retry for ever, so a
    monitor on the DEALER says what happened to the connection. client_open
    only starts the connection: the first request is queued at once and
    leaves when the ZeroMQ handshake is done, without a turn through this
    thread. Waiting for an answer reads the monitor too: a socket file with
    nobody behind it (a master that died) is "nothing listens" at once
    rather than a timeout, and a peer that is not a ROUTER fails the
    handshake. Later, a disconnect ends client_next instead of a silent
    reconnect to a master that no longer knows our jobs
    (ZMQ_RECONNECT_IVL -1). */
#include "client.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "config.h"
#include "proto/proto.h"

/* A peer that takes the connection but never completes the handshake (a
   stopped or wedged master) is given up on after this long. */
#define CLIENT_HANDSHAKE_MS 10000

#define CLIENT_MONITOR_ENDPOINT "inproc://client-monitor"

client_frame_t *client_frame_new(const void *data, size_t size)
{
    client_frame_t *f = mc_malloc(sizeof *f + size);
    f->size = size;
    if (size)
        memcpy(f->data, data, size);
    return f;
}

void client_frame_free(client_frame_t **f)
{
    if (f) {
        free(*f);
        *f = NULL;
    }
}

/* Set an option that cannot fail on a valid socket. */
static void set_int(void *sock, int option, int value)
{
    int rc = zmq_setsockopt(sock, option, &value, sizeof value);
    (void)rc;
}

/* Read one monitor event, if one is waiting: 1 with *event, 0 if none. A
   v1 event is two frames: 16-bit event, 32-bit value; the endpoint. */
static int next_event(client_t *c, uint16_t *event)
{
    zmq_msg_t part;
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, c->monitor, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&part);
        return 0;
    }
    bool ok = zmq_msg_size(&part) >= 6;
    if (ok)
        memcpy(event, zmq_msg_data(&part), sizeof *event);
    while (zmq_msg_more(&part)) {
        zmq_msg_close(&part);
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, c->monitor, ZMQ_DONTWAIT) < 0)
            break;
    }
    zmq_msg_close(&part);
    return ok ? 1 : 0;
}

/* Take the connection's events so far; a failure ends it (c->gone, with
   c->why). Before the handshake, what failed says what is at the path: a
   socket file with nobody behind it (a master that died), or a peer that
   is not the master's ROUTER. */
static void take_events(client_t *c)
{
    uint16_t event;
    while (!c->gone && next_event(c, &event) == 1) {
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            c->handshaken = true;
            continue;
        }
        bool failed = event == ZMQ_EVENT_CONNECT_RETRIED || event == ZMQ_EVENT_CLOSED ||
                      event == ZMQ_EVENT_DISCONNECTED ||
                      event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                      event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
                      event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
        if (!failed)
            continue; /* connected, delayed: the handshake is under way */
        c->gone = true;
        if (c->handshaken)
            mc_err_code(&c->why, MC_E_UNREACHABLE, "the master closed the connection on %s",
                        c->path);
        else if (event == ZMQ_EVENT_CONNECT_RETRIED || event == ZMQ_EVENT_CLOSED)
            mc_err_code(&c->why, MC_E_UNREACHABLE,
                        "cannot reach the master: nothing listens on %s (is mctl-master "
                        "running?)",
                        c->path);
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
            mc_err_code(&c->why, MC_E_UNREACHABLE,
                        "cannot reach the master: %s is not the master's client socket (the "
                        "ZeroMQ handshake failed)",
                        c->path);
        else
            mc_err_code(&c->why, MC_E_UNREACHABLE,
                        "cannot reach the master: the peer on %s hung up during the ZeroMQ "
                        "handshake (is it the master's client socket?)",
                        c->path);
    }
}

/* Make the context (unless the caller lends one), the DEALER and its
   monitor, and connect. */
static int connect_master(client_t *c, mc_err_t *err)
{
    if (!c->ctx) {
        c->ctx = zmq_ctx_new();
        if (!c->ctx) {
            mc_err_set(err, "cannot start ZeroMQ: %s", zmq_strerror(errno));
            return -1;
        }
        c->own_ctx = true;
        zmq_ctx_set(c->ctx, ZMQ_IO_THREADS, 1);
        zmq_ctx_set(c->ctx, ZMQ_MAX_SOCKETS, 4);
        zmq_ctx_set(c->ctx, ZMQ_BLOCKY, 0);
    }
    /* Each connection's monitor has a name of its own in the context. */
    static atomic_ulong monitors;
    char monitor_ep[64];
    snprintf(monitor_ep, sizeof monitor_ep, "%s-%lu", CLIENT_MONITOR_ENDPOINT,
             atomic_fetch_add(&monitors, 1));
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!c->sock) {
        mc_err_set(err, "cannot make a ZeroMQ socket: %s", zmq_strerror(errno));
        return -1;
    }
    set_int(c->sock, ZMQ_LINGER, 0);
    set_int(c->sock, ZMQ_RECONNECT_IVL, -1);
    /* Returns queue here until mctl reads them, however many minions
       answer at once: the master's side is where a queue may fill. */
    set_int(c->sock, ZMQ_RCVHWM, 0);
    set_int(c->sock, ZMQ_SNDHWM, 0);
    int64_t max = MC_MAX_RETURN_MSG + 1024;
    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
    if (zmq_socket_monitor(
            c->sock, monitor_ep,
            ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_DISCONNECTED |
                ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
        !(c->monitor = zmq_socket(c->ctx, ZMQ_PAIR)) || zmq_connect(c->monitor, monitor_ep) != 0) {
        mc_err_set(err, "cannot watch the connection to the master: %s", zmq_strerror(errno));
        return -1;
    }
    set_int(c->monitor, ZMQ_LINGER, 0);
    char *endpoint = mc_sprintf("ipc://%s", c->path);
    int rc = zmq_connect(c->sock, endpoint);
    free(endpoint);
    if (rc != 0) {
        mc_err_code(err, MC_E_UNREACHABLE, "cannot connect to %s: %s", c->path,
                    zmq_strerror(errno));
        return -1;
    }
    c->handshake_by_ms = mc_mono_ms() + CLIENT_HANDSHAKE_MS;
    return 0;
}

int client_open(client_t *c, const char *config_dir, mc_err_t *err)
{
    mc_master_config_t cfg;
    if (mc_master_config_load(&cfg, config_dir, err) != 0)
        return -1;
    char *path = mc_sprintf("%s/master.ipc", cfg.sock_dir);
    mc_master_config_free(&cfg);
    int rc = client_open_at(c, NULL, path, err);
    free(path);
    return rc;
}

int client_open_at(client_t *c, void *ctx, const char *path, mc_err_t *err)
{
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->path = mc_strdup(path);
    struct stat st;
    if (stat(c->path, &st) != 0) {
        if (errno == EACCES)
            mc_err_code(err, MC_E_UNREACHABLE,
                        "cannot reach the master: permission denied on %s (mctl is for root, "
                        "the master's user and the members of its client_group)",
                        c->path);
        else
            mc_err_code(err, MC_E_UNREACHABLE,
                        "cannot reach the master: %s does not exist (is mctl-master running? "
                        "is the config folder right?)",
                        c->path);
        client_close(c);
        return -1;
    }
    if (access(c->path, R_OK | W_OK) != 0) {
        mc_err_code(err, MC_E_UNREACHABLE,
                    "cannot reach the master: permission denied on %s (mctl is for root, the "
                    "master's user and the members of its client_group)",
                    c->path);
        client_close(c);
        return -1;
    }
    if (connect_master(c, err) != 0) {
        client_close(c);
        return -1;
    }
    return 0;
}

void client_close(client_t *c)
{
    if (c->sock && c->monitor)
        zmq_socket_monitor(c->sock, NULL, 0);
    if (c->monitor)
        zmq_close(c->monitor);
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx && c->own_ctx)
        zmq_ctx_term(c->ctx);
    c->monitor = c->sock = c->ctx = NULL;
    free(c->path);
    c->path = NULL;
}

/* Take the next whole message if one is waiting: 1 with kind and body, 0
   if none, -1 on error. A message that is not [kind][body] is dropped. */
static int take_message(client_t *c, char kind[16], client_frame_t **body)
{
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, c->sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            if (e == EAGAIN)
                return 0;
            mc_err_code(&c->why, e == EINTR ? MC_E_FAILED : MC_E_UNREACHABLE, "%s",
                        e == EINTR ? "interrupted" : zmq_strerror(e));
            return -1;
        }
        /* The parts of a message arrive together: the rest are there. */
        client_frame_t *f[2] = {NULL, NULL};
        int n = 0;
        for (;;) {
            if (n < 2)
                f[n] = client_frame_new(zmq_msg_data(&part), zmq_msg_size(&part));
            n++;
            bool more = zmq_msg_more(&part);
            zmq_msg_close(&part);
            if (!more)
                break;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, c->sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                break;
            }
        }
        if (n != 2) {
            client_frame_free(&f[0]);
            client_frame_free(&f[1]);
            continue;
        }
        size_t k = f[0]->size < 15 ? f[0]->size : 15;
        memcpy(kind, f[0]->data, k);
        kind[k] = '\0';
        client_frame_free(&f[0]);
        *body = f[1];
        return 1;
    }
}

int client_next(client_t *c, char kind[16], client_frame_t **body, int timeout_ms)
{
    int64_t deadline = mc_mono_ms() + timeout_ms;
    for (;;) {
        /* What the master sent before it went away is still read. */
        int rc = take_message(c, kind, body);
        if (rc != 0)
            return rc;
        take_events(c);
        int64_t now = mc_mono_ms();
        if (!c->gone && !c->handshaken && now >= c->handshake_by_ms) {
            c->gone = true;
            mc_err_code(&c->why, MC_E_UNREACHABLE,
                        "the master at %s did not answer the ZeroMQ handshake within %d s (is "
                        "it running?)",
                        c->path, CLIENT_HANDSHAKE_MS / 1000);
        }
        if (c->gone)
            return -1;
        int64_t left = deadline - now;
        if (left <= 0)
            return 0;
        if (!c->handshaken && c->handshake_by_ms - now < left)
            left = c->handshake_by_ms - now;
        zmq_pollitem_t items[2] = {{c->sock, 0, ZMQ_POLLIN, 0}, {c->monitor, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, (long)left) < 0) {
            mc_err_set(&c->why, "interrupted");
            return -1;
        }
    }
}

int client_send(client_t *c, const msgpack_sbuffer *req, mc_err_t *err)
{
    take_events(c);
    if (c->gone) {
        *err = c->why;
        return -1;
    }
    /* Never blocks: the queue has no limit and the pipe exists from the
       connect on, so a request made before the handshake is done leaves
       as soon as it is. */
    if (zmq_send(c->sock, req->data, req->size, ZMQ_DONTWAIT) < 0) {
        if (errno == EINTR)
            mc_err_set(err, "interrupted");
        else
            mc_err_code(err, MC_E_UNREACHABLE, "cannot send to the master: %s",
                        zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int client_ask(client_t *c, const msgpack_sbuffer *req, client_frame_t **reply, int timeout_ms,
               mc_err_t *err)
{
    *reply = NULL;
    if (client_send(c, req, err) != 0)
        return -1;
    int64_t deadline = mc_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - mc_mono_ms();
        char kind[16];
        client_frame_t *body = NULL;
        int rc = left > 0 ? client_next(c, kind, &body, (int)left) : 0;
        if (rc < 0) {
            *err = c->why;
            return -1;
        }
        if (rc == 0) {
            mc_err_code(err, MC_E_UNREACHABLE,
                        c->handshaken
                            ? "the master at %s did not answer within %d s (is it running?)"
                            : "the master at %s did not answer the handshake within %d s (is "
                              "it running?)",
                        c->path, timeout_ms / 1000);
            return -1;
        }
        /* Acks and returns of an earlier job are not the answer. */
        if (strcmp(kind, MC_KIND_REPLY) != 0) {
            client_frame_free(&body);
            continue;
        }
        *reply = body;
        return 0;
    }
}

void client_pack_publish(msgpack_sbuffer *sb, const client_target_t *target, const char *fun,
                         int argc, char *const *argv, int timeout, const char *user)
{
    mc_req_publish_spec_t spec = {.target = *target,
                                  .fun = fun,
                                  .argc = argc,
                                  .argv = argv,
                                  .timeout = timeout,
                                  .user = user};
    mc_request_publish_pack(sb, &spec);
}

int client_request(const char *config_dir, const msgpack_sbuffer *req, client_frame_t **reply,
                   int timeout_ms)
{
    client_t c;
    mc_err_t err;
    *reply = NULL;
    if (client_open(&c, config_dir, &err) != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return 69;
    }
    int rc = client_ask(&c, req, reply, timeout_ms, &err);
    client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return err.code == MC_E_UNREACHABLE ? 69 : 1;
    }
    return 0;
}

int client_reply_failed(const mc_err_t *err)
{
    if (err->code == MC_E_DENIED) {
        fprintf(stderr, "mctl: not permitted: %s\n", err->msg);
        return 77;
    }
    if (err->code == MC_E_REFUSED) {
        fprintf(stderr, "mctl: %s\n", err->msg);
        return 1;
    }
    fprintf(stderr, "mctl: bad answer from the master: %s\n", err->msg);
    return 69;
}
