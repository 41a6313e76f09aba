/*  config - the master's and the minion's YAML configuration.

    Files are DIR/master and DIR/minion (DIR is /etc/mctl unless -c or
    MCTL_CONFIG_DIR says otherwise). Keys carry Salt's names where Salt has
    one. A missing file means all defaults; a bad value is an error that
    names the file, line and key: "master: line 4: ret_port: expected a
    port number, got "abc"". Unknown keys are reported as warnings so a typo
    does not pass silently. */
#ifndef MC_CONFIG_H
#define MC_CONFIG_H

#include "log.h"
#include "ydoc.h"

#define MC_DEFAULT_CONFIG_DIR "/etc/mctl"

typedef struct {
    char *interface;
    int publish_port;        /* XPUB: jobs and "stored" notices, one topic per minion */
    int ret_port, auth_port; /* PULL: returns and the rest; ROUTER: key registration */
    char *pki_dir, *cachedir, *sock_dir, *log_file, *pidfile;
    char *client_group; /* may use the client socket ("": the master's primary group) */
    char *audit_log;    /* one JSON line per client request ("": LOGDIR/audit.log) */
    mc_log_level_t log_level;
    bool auto_accept;
    int keep_jobs;             /* hours */
    int max_minions;           /* accepted + pending keys at most; fds are raised for this many */
    int max_pending;           /* pending keys at most */
    int register_rate;         /* new keys a second from one address (bursts of ten times it) */
    int pub_hwm;               /* jobs per minion published and not yet acked or returned */
    int minion_alive_interval; /* seconds of silence before a minion's connection is given up */
    char *master_job_cache;    /* "sqlite" (CACHEDIR/jobs.db) or "postgres" (postgres_dsn) */
    char *postgres_dsn;        /* libpq connection string */
    int master_index;          /* 0-9, the last digit of this master's job ids; -1: 0 alone,
                                  the first free one among masters on one database */
    /* mctl-api, which reads the master's file as salt-api does */
    char *api_host;    /* address to listen on */
    int api_port;      /* 8000, as salt-api */
    char *api_ssl_crt; /* PEM certificate (chain) and key: HTTPS */
    char *api_ssl_key;
    bool api_disable_ssl;  /* plain HTTP, allowed on a loopback api_host only */
    int api_token_expire;  /* seconds a login token lasts */
    char *api_pam_service; /* the PAM service passwords are checked with */
    char *api_log_file, *api_pidfile;
    int api_max_clients; /* connections at once (each holds a thread) */
    mc_yaml_t *doc;      /* the parsed file, for nested settings */
} mc_master_config_t;

#define MC_MASTERS_MAX 10 /* masters one minion connects to at most */

typedef struct {
    char *master;                  /* the master's name, or the masters' names joined by ", " */
    char *masters[MC_MASTERS_MAX]; /* each of them (master: may be a list) */
    size_t nmasters;
    char *master_pubkey, *id;
    int publish_port;        /* SUB: jobs and "stored" notices for this minion */
    int ret_port, auth_port; /* PUSH: returns and the rest; DEALER: key registration */
    char *pki_dir, *cachedir, *log_file, *pidfile;
    mc_log_level_t log_level;
    int workers, queue_max, job_max_age, heartbeat;
    int master_alive_interval; /* seconds of silence before the master's connection is given up */
    int shutdown_grace;        /* seconds running jobs get to finish on SIGTERM */
    long output_max;
    const mc_yaml_t *grains; /* the grains: map, or NULL */
    mc_yaml_t *doc;
} mc_minion_config_t;

/* The config folder: the -c argument, else $MCTL_CONFIG_DIR, else /etc/mctl. */
const char *mc_config_dir(const char *arg);

/* Load DIR/master; warnings (unknown keys) go to the log. */
int mc_master_config_load(mc_master_config_t *cfg, const char *dir, mc_err_t *err);
void mc_master_config_free(mc_master_config_t *cfg);
int mc_minion_config_load(mc_minion_config_t *cfg, const char *dir, mc_err_t *err);
void mc_minion_config_free(mc_minion_config_t *cfg);
/* Parse from text, for tests and fuzzing. */
int mc_master_config_parse(mc_master_config_t *cfg, const char *text, size_t len, mc_err_t *err);
int mc_minion_config_parse(mc_minion_config_t *cfg, const char *text, size_t len, mc_err_t *err);

#endif
