/*  agent_state - the minion's main process's state (agent_t, one link_t
    per master) and what its files share: agent.c (the design, the jobs
    that come in, the loop), agent_send.c (what goes to the master) and
    agent_start.c (keys, registration, connecting). Private to them. */
#ifndef MC_AGENT_STATE_H
#define MC_AGENT_STATE_H

#include "agent.h"

#include <czmq.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "grains.h"
#include "keys.h"
#include "channel.h"
#include "log.h"
#include "module.h"
#include "pool.h"
#include "receive.h"
#include "replay.h"
#include "resolve.h"
#include "spool.h"
#include "target.h"
#include "proto/proto.h"
#include "worker.h"

#define OUTBOX_MAX        100000
#define RESEND_MS         5000 /* a return the master has not confirmed by then goes again */
#define GRAINS_REFRESH_MS 60000
#define MAX_WORKERS_POLL  1024
/* A job that returns within this long needs no separate "ack": the
   return says the minion had it. mctl waits seconds for an ack. */
#define ACK_DELAY_MS 200
#define ORIGIN_MAX   100000
/* A master that refused this minion's key is tried again after this long,
   doubling up to the max. */
#define REFUSED_RETRY_MS     1000
#define REFUSED_RETRY_MAX_MS 30000

typedef struct {
    char jid[MC_JID_LEN + 1];
    int64_t due_ms;
} pending_ack_t;

typedef struct agent agent_t;

/* One master's connection: its name, resolved to addresses (tried in turn
   while it stays silent), and the channel to the address in use. */
typedef struct {
    agent_t *agent;
    int index;             /* in the config's list of masters */
    const char *name;      /* as configured */
    channel_t *chan;       /* NULL until accepted, or while the name has no address */
    char **addrs;          /* the name resolved */
    size_t naddrs, addr_i; /* how many, and the one in use */
    resolve_t *resolving;  /* resolving the name again, from the loop */
    int64_t down_since_ms; /* the channel has not been up since (0: it is up) */
    int64_t resolved_ms;   /* when the addresses were last resolved */
    int64_t retry_ms;      /* refused: when to open the channel again (0: not refused) */
    int64_t refused_backoff_ms;
    char last_failure[512]; /* why the last attempt to connect failed, said once */
} link_t;

struct agent {
    mc_minion_config_t *cfg;
    const char *config_dir;
    mc_curve_keys_t keys;
    unsigned char master_pub[MC_KEY_LEN];
    unsigned char sign_pub[MC_KEY_LEN];
    mc_seal_key_t seal;
    pool_t *pool;
    worker_ctx_t wctx; /* for the quick functions run here */
    replay_t *replay;
    spool_t *spool;
    receive_t *receive;           /* mctl cp: the copies coming in */
    link_t links[MC_MASTERS_MAX]; /* one per master (master: may be a list) */
    size_t nlinks;
    zhashx_t *origin; /* jid -> the index + 1 of the master that sent the job */
    int sigfd;
    msgpack_sbuffer grains;
    mc_mp_doc_t grains_doc;
    zlistx_t *outbox; /* zmsg_t: [kind][payload] waiting for the master */
    zlistx_t *acks;   /* pending_ack_t, in due order */
    int64_t started_ms;
    bool stop;           /* leave the loop */
    int64_t stopping_ms; /* SIGTERM came: when the grace period ends (0: running) */
    bool cancelled;      /* the jobs still running at its end were told to stop */
};

/* agent_send.c */
void agent_free_ack(void **item);
void agent_outbox_flush(agent_t *self);
int agent_send_return(void *arg, const char *jid, const char *data, size_t len);
long agent_acks_due(agent_t *self, int64_t now);
void agent_deliver_return(agent_t *self, const char *jid, const char *ret, size_t len);
void agent_on_worker_return(void *arg, const char *jid, const char *ret, size_t len);
void agent_send_cpack(void *arg, const char *jid, const void *data, size_t len);
void agent_send_error_return(agent_t *self, const mc_job_t *job, int retcode, const char *msg);
void agent_send_grains(agent_t *self, link_t *to);
void agent_send_heartbeat(agent_t *self, const char *kind, link_t *to);
bool agent_refresh_grains(agent_t *self);

/* agent.c */
void agent_on_message(void *arg, const void *kind, size_t kind_len, const void *sealed, size_t len);
void agent_note_failure(link_t *link, const char *why);
void agent_on_chan_event(void *arg, channel_event_t event, const char *which);
void agent_on_signal(agent_t *self);

/* agent_start.c */
int agent_load_master_key(agent_t *self, mc_err_t *err);
int agent_resolve_masters_first(agent_t *self, mc_err_t *err);
int agent_register_with_master(agent_t *self, mc_err_t *err);
int agent_connect_link(link_t *link, mc_err_t *err);
void agent_on_resolved(link_t *link);
void agent_check_master_address(link_t *link, int64_t now);

#endif
