/*  swarm_proc - one process of mctl-bench-swarm: many minions on one event
    loop, each with its own CURVE key and id, speaking the real protocol
    (shared/proto/) over libzmq the way minion/channel.c and
    minion/agent*.c do.

    Each minion has the real minion's two sockets, CURVE clients of the
    master's key: a SUB on publish_port subscribed to m:<id>\0 (jobs and
    "stored" notices) and a PUSH on ret_port (returns, acks, heartbeats,
    hellos, grains), each watched by a socket monitor (a PAIR over inproc)
    that says when its connection comes up, goes, or is refused. As the
    real minion it says hello and sends its grains each time both
    connections are up, sends a heartbeat every `heartbeat` seconds (the
    first at a random point of the first interval, so that minions started
    together do not beat in step), and leaves reconnecting to libzmq, with
    an interval and a backoff ceiling drawn per minion (see swarm_proc.c),
    so that a restarted master is not met by every minion at once.

    A job passes the real minion's four gates: the seal (crypto_box with
    the key precomputed from the master's public key and the minion's
    secret), the Ed25519 signature by the master's signing key, replay (a
    jid runs once per minion; a job older than job_max_age gets an error
    return) and the target (compiled once per expression, evaluated with
    the minion's id). test.ping returns True, test.echo its argument,
    anything else the real minion's answer for a function it does not
    have. A return is kept until a "stored" notice names it, and sent
    again after the spool's resend interval and when the connections come
    back. Acks follow agent_send.c: a return within its ack delay stands for
    the ack, and these all return at once; `ack` sends one on receipt
    anyway, to measure what acks cost the master.

    The parent forks one of these per slice of the swarm and drives it
    over a socketpair: connect, report counters, report each minion's
    last outage, quit. */
#ifndef MC_BENCH_SWARM_PROC_H
#define MC_BENCH_SWARM_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "keytext.h"
#include "util.h"

/* Descriptors one minion holds: two TCP connections, and an eventfd for
   each of its six libzmq sockets (SUB, PUSH, the two monitors' own PAIRs
   and the two PAIRs reading them). Checked against /proc by the parent. */
#define SWARM_FDS_PER_MINION 8
/* libzmq sockets per minion, for ZMQ_MAX_SOCKETS. */
#define SWARM_SOCKETS_PER_MINION 6

typedef struct {
    char id[32];
    unsigned char pub[MC_KEY_LEN], sec[MC_KEY_LEN];
} swarm_identity_t;

typedef struct {
    const char *master; /* address of the master */
    int publish_port, ret_port;
    unsigned char master_pub[MC_KEY_LEN]; /* its CURVE key */
    unsigned char sign_pub[MC_KEY_LEN];   /* its Ed25519 key, as registration pins it */
    const swarm_identity_t *minions;      /* this process's slice */
    int count;
    int io_threads;   /* libzmq io threads in this process */
    int heartbeat;    /* seconds, as the minion's `heartbeat` */
    int alive;        /* master_alive_interval, seconds */
    int job_max_age;  /* seconds */
    bool verify_each; /* check the signature of every copy of a job */
    bool ack;         /* ack every job on receipt */
    unsigned seed;
} swarm_proc_config_t;

/* What a process's minions have done since it connected them. */
typedef struct {
    int64_t minions, up;       /* up: both connections are up now */
    int64_t refused;           /* minions the master refused (ZAP) at least once */
    int64_t failed_handshakes; /* handshakes that failed for another reason */
    int64_t disconnects;       /* connections that were up and went */
    int64_t jobs;              /* jobs that passed every gate and ran */
    int64_t bad_jobs;          /* refused: seal, signature, decoding, replay, age, target */
    int64_t returns, resent, acks, hellos, heartbeats, grains;
    int64_t send_failed; /* messages the PUSH could not take */
    int64_t stored;      /* returns the master confirmed */
    int64_t unconfirmed; /* returns waiting for a "stored" notice now */
    int64_t verified;    /* Ed25519 verifications actually done */
} swarm_stats_t;

/* One minion's last outage: when its connections last went down (0: they
   have not, since connecting) and when both were last up (0: never), in
   mc_mono_ms() time. Up now when up_ms > down_ms. */
typedef struct {
    int64_t down_ms, up_ms;
} swarm_outage_t;

typedef struct _swarm_proc_t swarm_proc_t;

/* Fork a process for cfg's minions; it makes its sockets but connects
   nothing until swarm_proc_go. Call before this process has a libzmq
   context of its own (the child closes every inherited descriptor). */
swarm_proc_t *swarm_proc_start(const swarm_proc_config_t *cfg, mc_err_t *err);
pid_t swarm_proc_pid(const swarm_proc_t *self);
/* Connect every minion. */
int swarm_proc_go(swarm_proc_t *self, mc_err_t *err);
int swarm_proc_stats(swarm_proc_t *self, swarm_stats_t *out, mc_err_t *err);
/* Each minion's last outage, into out (count of them). */
int swarm_proc_outages(swarm_proc_t *self, swarm_outage_t *out, int count, mc_err_t *err);
/* Tell it to quit, wait a moment, then kill it. */
void swarm_proc_destroy(swarm_proc_t **self);

#endif
