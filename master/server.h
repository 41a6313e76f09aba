/*  server - the master daemon's sockets and main loop. */
#ifndef MC_SERVER_H
#define MC_SERVER_H

#include "config.h"

/* Run until SIGTERM or SIGINT; returns the process exit status. The caller
   has blocked the signals the loop reads through a signalfd. */
int server_run(mc_master_config_t *cfg);

/* The client API without the loop, for the fuzz target: a master set up as
   server_run sets it up (keys, registry, job cache, sockets), fed one
   request body at a time as if a client had sent it; replies go to a
   client that is not there. Jobs it publishes are forgotten at once. */
typedef struct server server_t;
server_t *server_open(mc_master_config_t *cfg);
void server_feed_request(server_t *self, const void *body, size_t len);
void server_close(server_t **self);

#endif
