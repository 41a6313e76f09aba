/*  cmd - what the cmd module shares with its tests and other modules. */
#ifndef MC_CMD_H
#define MC_CMD_H

#include "module.h"

/* For other modules (service, pkg): run argv, never through a shell, in
   its own process group from /, with the minion's environment plus
   env_add (NAME=VALUE strings, NULL-terminated; may be NULL). Its stdout
   and stderr are appended to the call's out and err (bounded by
   output_max); the job's time limit and jobs.kill stop the whole group.
   Returns the exit code (124 timed out, 143 killed, 128+N for signal N),
   or -1 when it could not start (the call has failed with why). */
int cmd_exec(mc_call_t *call, char *const argv[], const char *const env_add[]);

/* The argv a plain command runs as without a shell, or NULL when it
   needs the shell (see cmd.c); free with cmd_free_words. */
char **cmd_plain_words(const char *cmd);
void cmd_free_words(char **argv);

#endif
