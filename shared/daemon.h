/*  daemon - what mctl-master and mctl-minion do alike before their loop:
    the command line (-c, -d, -l, --pidfile), signals, logging, detaching
    and the pidfile. */
#ifndef MC_DAEMON_H
#define MC_DAEMON_H

#include "log.h"

typedef struct {
    const char *config_dir;
    const char *log_level; /* NULL: the config's */
    const char *pidfile;   /* NULL: the config's */
    bool daemonize;
    bool gen_keys; /* create the keys when missing, print the public one, exit */
    bool spool;    /* mctl-minion: list the returns in the spool, exit */
    const char *export_keys, *import_keys; /* mctl-master: the master's keys to/from a file */
} mc_daemon_args_t;

/* Block the signals the daemon's loop reads through a signalfd; call first
   thing, so every thread started later inherits the mask. */
void mc_daemon_block_signals(bool with_sigchld);
/* Parse the shared options. Returns 0 to go on, or -1 with *status the
   exit status (after --help, --version or a usage error). */
int mc_daemon_parse_args(int argc, char **argv, const char *name, const char *summary,
                         const char *signals, mc_daemon_args_t *args, int *status);
/* Open the log (its folder made 0750 when missing), detach when asked
   (-d), take the pidfile (its folder made 0755; locked with flock for the
   life of the process, so a second daemon with the same pidfile refuses
   to start). Errors are printed; returns the exit status to fail with,
   or 0.

   With -d the command's own process waits until the daemon calls
   mc_daemon_ready, then exits 0; if the daemon stops first it prints the
   daemon's error lines and exits with its status, so that "started" means
   working. */
int mc_daemon_start(const char *name, mc_log_level_t level, const char *log_file,
                    const mc_daemon_args_t *args, const char *pidfile);
/* Set up and working: let a waiting -d parent go (exit 0). */
void mc_daemon_ready(void);
/* Stopping with status: tell a -d parent still waiting, release and
   remove the pidfile (only when this process holds it). Returns status. */
int mc_daemon_stop(int status);

/* --gen-keys: create pki_dir/KEY.cert{,_secret} when missing and print the
   public key as Z85 on stdout. Returns the exit status. */
int mc_daemon_gen_keys(const char *name, const char *pki_dir, const char *key);

#endif
