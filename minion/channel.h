/*  channel - the minion's two sockets to the master, on libzmq with CURVE.

    SUB on publish_port, subscribed to this minion's topic only
    (m:<id>\0): jobs and "stored" notices come in as [topic][kind][payload].
    PUSH on ret_port: returns, acks, heartbeats, hellos and grains go out
    as [kind][payload]. libzmq connects and reconnects (200 ms, backing off
    to 5 s), and pings both connections every half alive_ms, giving up a
    master that stays silent for alive_ms. A monitor on each socket tells
    the channel when a connection comes up or goes, and when the master
    refuses this minion's key; the channel is "up" while both are.

    Sends never block: a message the PUSH cannot take now (no connection,
    or its queue full) is refused, and the caller keeps it (returns wait in
    the spool). */
#ifndef MC_CHANNEL_H
#define MC_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

#include "util.h"

typedef struct _channel_t channel_t;

typedef enum {
    CHANNEL_UP,      /* both connections are up (again) */
    CHANNEL_LOST,    /* a connection that was up is gone; libzmq reconnects */
    CHANNEL_REFUSED, /* the master turned this minion's key away (ZAP) */
} channel_event_t;

typedef struct {
    const char *master; /* name or address of the master */
    int publish_port, ret_port;
    const unsigned char *server_pub, *pub, *sec; /* CURVE keys, MC_KEY_LEN bytes each */
    const char *id;                              /* this minion: its topic */
    size_t max_msg;                              /* larger incoming messages drop the connection */
    int alive_ms;                                /* ping every half of it; silence this long: gone */
    void (*on_event)(void *arg, channel_event_t event, const char *what);
    /* A message on this minion's topic: its kind frame and its payload. */
    void (*on_message)(void *arg, const void *kind, size_t kind_len, const void *body,
                       size_t len);
    void *arg;
} channel_config_t;

/* The sockets, connecting; cfg's strings and keys must outlive it. */
channel_t *channel_new(const channel_config_t *cfg, mc_err_t *err);
void channel_destroy(channel_t **pself);

/* [kind][payload] to the master: 0, or -1 when it cannot be taken now. */
int channel_send(channel_t *self, const char *kind, const void *data, size_t len);

/* For zmq_poll: fills items (CHANNEL_POLL_ITEMS of them) and returns how
   many; channel_service handles what poll reported in them. */
#define CHANNEL_POLL_ITEMS 3
int channel_poll_items(channel_t *self, zmq_pollitem_t *items);
void channel_service(channel_t *self, const zmq_pollitem_t *items);

#endif
