/*  link - mctl-api's connections to the master: the client socket, as
    mctl uses it (cli/client.h), with every request wrapped in an "as"
    request naming the logged-in user, so that the master applies that
    user's publisher_acl and records the user in its audit log. One
    connection per HTTP request (or event stream), in the api's one libzmq
    context. */
#ifndef MC_API_LINK_H
#define MC_API_LINK_H

#include "api.h"
#include "client.h"

/* How long the master gets to answer a request. */
#define LINK_REPLY_MS 10000

typedef struct {
    client_t c;
    char user[MC_USER_MAX + 1];
} link_t;

/* Connect to the master to act as user. */
int link_open(api_t *api, link_t *l, const char *user, mc_err_t *err);
void link_close(link_t *l);
/* Send the request packed in inner as the user and wait up to timeout_ms
   for the reply (client_ask). */
int link_ask(link_t *l, const msgpack_sbuffer *inner, client_frame_t **reply, int timeout_ms,
             mc_err_t *err);

/* Send the request packed in inner as the user, expecting no reply
   (client_send). */
int link_tell(link_t *l, const msgpack_sbuffer *inner, mc_err_t *err);

/* Connect, send one request as user, wait for its reply, disconnect:
   0 with the reply's bytes in *reply (the caller frees them). */
int link_request(api_t *api, const char *user, const msgpack_sbuffer *inner, client_frame_t **reply,
                 mc_err_t *err);

/* The HTTP status for a failed request: 403 when the master said the user
   may not, 503 when it could not be reached, 400 when it refused the
   request otherwise. */
int link_http_status(const mc_err_t *err);

#endif
