/*  server - the master daemon's sockets and main loop. */
#ifndef MC_SERVER_H
#define MC_SERVER_H

#include "config.h"

/* Run until SIGTERM or SIGINT; returns the process exit status. The caller
   has blocked the signals the loop reads through a signalfd. */
int server_run(mc_master_config_t *cfg);

#endif
