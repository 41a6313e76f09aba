/*  api - mctl-api's state, shared by its files: main.c (command line,
    daemon, the HTTP server's set-up), http.c (requests, responses, who is
    logged in), access.c (who may), routes.c (the JSON endpoints),
    jsonin.c and jsonout.c (JSON in and out), events.c (server-sent
    events), console.c and html.c (the web console's pages), fetch.c
    (what the pages and endpoints read), link.c (asking the master),
    sessions.c (login tokens), pam.c (passwords).

    mctl-api serves HTTP (HTTPS unless api_disable_ssl) with libmicrohttpd,
    one thread per connection, and talks to the master over its client
    socket as mctl does. It runs as root: PAM checks any user's password
    only for root, and the master lets only root and its own user make
    requests on behalf of a user (the "as" request, proto/request.h). */
#ifndef MC_API_H
#define MC_API_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "sessions.h"

typedef struct {
    mc_master_config_t *cfg;
    char *ipc_path; /* the master's client socket */
    void *zctx;     /* one libzmq context for every connection to the master */
    sessions_t *sessions;
    bool tls;
    atomic_bool stop; /* set on SIGTERM: streams end */
} api_t;

#endif
