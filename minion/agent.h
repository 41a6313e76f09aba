/*  agent - the minion's main process: keys, registration, the connection
    to the master, and the loop that verifies jobs and hands them to the
    worker pool. */
#ifndef MC_AGENT_H
#define MC_AGENT_H

#include "config.h"

/* Run until SIGTERM or SIGINT; returns the exit status. config_dir is
   where SIGHUP re-reads grains from. */
int agent_run(mc_minion_config_t *cfg, const char *config_dir);

#endif
