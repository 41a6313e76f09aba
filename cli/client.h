/*  client - mctl's connection to the master's client socket
    (ipc://SOCK_DIR/master.ipc, a ROUTER on the master), spoken through
    libzmq as a DEALER. Requests are one frame, a msgpack map; answers come
    as [kind][msgpack] with kind "reply", and for a running job "ack" and
    "ret" as minions answer.

    Errors carry a kind for the caller's exit status: MC_E_UNREACHABLE
    when the master cannot be reached, did not answer or went away,
    MC_E_DENIED when the socket is not ours to use, MC_E_REFUSED when the
    master answered with ok: false. */
#ifndef MC_CLIENT_H
#define MC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mp.h"

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
    void *sock;    /* DEALER connected to ipc://path */
    void *monitor; /* the DEALER's connection events (handshake, disconnect) */
    char *path;
    bool gone;    /* the master closed the connection */
    mc_err_t why; /* why client_next last returned -1 */
} client_t;

/* Find the socket from DIR/master and connect, waiting for the ZeroMQ
   handshake. Errors say what to do: the master is not running, or the
   socket is not ours to use. */
int client_open(client_t *c, const char *config_dir, mc_err_t *err);
void client_close(client_t *c);

/* Send a request and wait up to timeout_ms for its reply; a reply with
   ok: false becomes an MC_E_REFUSED error carrying the master's message,
   no reply in time an MC_E_UNREACHABLE one. */
int client_call(client_t *c, const msgpack_sbuffer *req, mc_mp_doc_t *reply, int timeout_ms,
                mc_err_t *err);
/* Connect, send one request, wait for its reply, disconnect. Errors are
   printed; returns 0, or the exit status to fail with (69 when the master
   cannot be reached, 1 when it refused the request). */
int client_request(const char *config_dir, const msgpack_sbuffer *req, mc_mp_doc_t *reply,
                   int timeout_ms);
/* Wait up to timeout_ms for the next message: 1 with kind and body (the
   caller frees it), 0 on timeout, -1 when interrupted or the master has
   closed the connection (c->why says which). */
int client_next(client_t *c, char kind[16], client_frame_t **body, int timeout_ms);
/* Send one request without waiting for its reply. */
int client_send(client_t *c, const msgpack_sbuffer *req, mc_err_t *err);

/* What a request targets: an expression, its kind, and the delimiter
   between nested grain keys (0 for the default ':'). */
typedef struct {
    const char *tgt, *tgt_type;
    char delimiter;
} client_target_t;

/* A publish request: ARGs of the form KEY=VALUE become keyword arguments,
   the rest positional ones, all as strings, as Salt's CLI passes them. */
void client_pack_publish(msgpack_sbuffer *sb, const client_target_t *target, const char *fun,
                         int argc, char *const *argv, int timeout, const char *user);
/* Ask which minions a target selects, without running anything. */
void client_pack_list_targets(msgpack_sbuffer *sb, const client_target_t *target);
/* A request about one job: {v, cmd, jid}. */
void client_pack_jid_request(msgpack_sbuffer *sb, const char *cmd, const char *jid);
/* A request with no fields but its name: {v, cmd}. */
void client_pack_simple(msgpack_sbuffer *sb, const char *cmd);

#endif
