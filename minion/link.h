/*  link - the minion's connection to the master: the client end of a
    ZeroMQ DEALER/ROUTER connection, ZMTP 3.1 with CURVE over TCP
    (rfc.zeromq.org/spec/23, /spec/26), run from the minion's own poll
    loop. See link.c for why the minion speaks the protocol itself. */
#ifndef MC_LINK_H
#define MC_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

typedef struct _link_t link_t;

/* The most frames a message may have; a longer one is dropped. */
#define LINK_MAX_PARTS 4

typedef struct {
    const uint8_t *data;
    size_t size;
} link_part_t;

typedef enum {
    LINK_UP,      /* the handshake is done: messages may go out */
    LINK_LOST,    /* a connection that was up is gone */
    LINK_FAILED,  /* a connection attempt or handshake failed */
    LINK_REFUSED, /* the master turned our key away (ZAP) */
} link_event_t;

typedef struct {
    const char *host; /* name or address of the master */
    int port;
    const unsigned char *server_pub, *pub, *sec; /* CURVE keys, MC_KEY_LEN bytes each */
    size_t max_frame;                            /* larger incoming frames drop the connection */
    int alive_ms; /* ping every half of it; a peer silent this long is given up (0: never) */
    void (*on_event)(void *arg, link_event_t event, const char *why);
    void (*on_message)(void *arg, const link_part_t *parts, int n);
    void *arg;
} link_config_t;

/* A link that connects (and reconnects, with backoff) by itself; cfg's
   strings and keys must outlive it. */
link_t *link_new(const link_config_t *cfg);
void link_destroy(link_t **pself);

bool link_is_up(const link_t *self);

/* Queue a message of n frames; -1 when the link is not up or too much is
   already waiting to be written. It is written by link_flush. */
int link_send(link_t *self, const link_part_t *parts, int n);

/* Write what is queued, as far as the socket takes it. */
void link_flush(link_t *self);

/* For poll: the socket (-1 while waiting to reconnect), the events to ask
   for, and the milliseconds until link_service has timed work (-1: none). */
int link_fd(const link_t *self);
short link_events(const link_t *self);
long link_timeout(const link_t *self, int64_t now);

/* Handle what poll reported for link_fd (0 if nothing) and the timers:
   connect, handshake, read and deliver messages, ping, reconnect. */
void link_service(link_t *self, short revents, int64_t now);

#endif
