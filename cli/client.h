/*  client - mctl's connection to the master's client socket
    (ipc://SOCK_DIR/master.ipc, a ROUTER on the master), spoken through
    libzmq as a DEALER. Requests are one frame, a msgpack map packed by
    proto/request.h; answers come as [kind][msgpack] with kind "reply"
    (read by the decoders of proto/reply*.h), and for a running job "ack"
    and "ret" as minions answer (proto/ack.h, proto/ret.h). This file
    moves the bytes and packs or reads none of them.

    Errors carry a kind for the caller's exit status: MC_E_UNREACHABLE
    when the master cannot be reached (the socket missing or not ours to
    use), did not answer or went away; from a reply's decoder,
    MC_E_DENIED when the master refused because the caller may not
    (publisher_acl, exit 77) and MC_E_REFUSED when it answered ok: false
    otherwise. */
#ifndef MC_CLIENT_H
#define MC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp.h"
#include "proto/request.h"

/* One message frame, owned by whoever holds it. */
typedef struct {
    size_t size;
    uint8_t data[];
} client_frame_t;

client_frame_t *client_frame_new(const void *data, size_t size);
/* Free the frame and set the caller's pointer to NULL. */
void client_frame_free(client_frame_t **f);

/* One connection, with a libzmq context of its own. The fields belong to
   client.c; they are here so that a connection can live in a struct. */
typedef struct {
    void *ctx;     /* libzmq context */
    bool own_ctx;  /* made (and ended) by this connection */
    void *sock;    /* DEALER connected to ipc://path */
    void *monitor; /* the DEALER's connection events (handshake, disconnect) */
    char *path;
    bool handshaken;         /* the ZeroMQ handshake with the master is done */
    int64_t handshake_by_ms; /* monotonic: given up on if not done by then */
    bool gone;               /* the connection failed or was closed (why says which) */
    mc_err_t why;            /* why client_next last returned -1 */
} client_t;

/* Find the socket from DIR/master and start connecting (the handshake
   goes on while the first request waits to leave). Errors say what to do:
   the master is not running, or the socket is not ours to use; one found
   during the handshake comes from the first client_send or client_next. */
int client_open(client_t *c, const char *config_dir, mc_err_t *err);
/* The same on the socket at path, in ctx (a libzmq context the caller
   lends and ends after client_close, for a program with many connections
   at once) or, when ctx is NULL, in a context of the connection's own. */
int client_open_at(client_t *c, void *ctx, const char *path, mc_err_t *err);
void client_close(client_t *c);

/* How long a request the master may answer only after a read of the job
   history waits for its reply (jobs list, show and wait; a publish, which
   for a jobs.kill may need its job's user from the history): the master
   gives up on a store that does not answer after 11 s. */
#define CLIENT_HISTORY_ASK_MS 30000

/* Send a request and wait up to timeout_ms for its reply, whose bytes
   land in *reply (the caller frees them) for a typed decoder of
   proto/reply*.h, which turns a refusal (ok: false) into an MC_E_REFUSED
   error carrying the master's message. No reply in time is an
   MC_E_UNREACHABLE error. */
int client_ask(client_t *c, const msgpack_sbuffer *req, client_frame_t **reply, int timeout_ms,
               mc_err_t *err);
/* Connect, send one request, wait for its reply, disconnect. Errors are
   printed; returns 0 with the reply's bytes in *reply, or the exit status
   to fail with (69 when the master cannot be reached). */
int client_request(const char *config_dir, const msgpack_sbuffer *req, client_frame_t **reply,
                   int timeout_ms);
/* After a typed decoder refused a reply: print why and return the exit
   status to fail with, 77 when the caller may not, 1 when the master
   refused the request otherwise, 69 when its answer made no sense. */
int client_reply_failed(const mc_err_t *err);
/* Wait up to timeout_ms for the next message: 1 with kind and body (the
   caller frees it), 0 on timeout, -1 when interrupted or the master has
   closed the connection (c->why says which). */
int client_next(client_t *c, char kind[16], client_frame_t **body, int timeout_ms);
/* Send one request without waiting for its reply. */
int client_send(client_t *c, const msgpack_sbuffer *req, mc_err_t *err);

/* What a request targets: an expression, its kind, and the delimiter
   between nested grain keys (0 for the default ':'). */
typedef mc_req_target_spec_t client_target_t;

/* A publish request (mc_request_publish_pack): ARGs of the form
   KEY=VALUE become keyword arguments, the rest positional ones, all as
   strings, as Salt's CLI passes them. */
void client_pack_publish(msgpack_sbuffer *sb, const client_target_t *target, const char *fun,
                         int argc, char *const *argv, int timeout, const char *user);

#endif
