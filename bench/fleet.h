/*  fleet - what the benchmarks share: a real master and M real minions on
    loopback under a temporary folder (CURVE on, keys auto-accepted), a
    client to drive them, timings and the table they print. */
#ifndef MC_BENCH_FLEET_H
#define MC_BENCH_FLEET_H

#include <stdbool.h>
#include <sys/types.h>

#include "client.h"

typedef struct {
    char dir[64];
    char bin[512]; /* folder of the mctl binaries: this program's own */
    char etc[128]; /* the master's config folder, for mctl -c */
    int base_port;
    pid_t master;
    pid_t *minions;
    int count;
    int workers;
    client_t client; /* connected once the master listens */
} fleet_t;

/* Start a master and count minions with workers each; exits on failure.
   Minions are named b0000, b0001, ... */
void fleet_start(fleet_t *f, const char *name, int count, int workers);
/* Start more minions, up to count in all. */
void fleet_grow(fleet_t *f, int count);
/* Wait until all minions answer test.ping; false after timeout_ms. */
bool fleet_wait_ready(fleet_t *f, int timeout_ms);
/* Stop the master only, and start it again on the same folder. */
void fleet_stop_master(fleet_t *f);
void fleet_start_master(fleet_t *f);
void fleet_stop(fleet_t *f);

/* Publish fun (with one argument, or none) to tgt and wait for every
   return for up to wait_ms; returns how many came back (-1 if the master
   did not expect `expect`) and the time from publish to the last in *ms. */
int fleet_round_trip(fleet_t *f, const char *tgt, const char *fun, const char *arg, int expect,
                     int wait_ms, double *ms);
/* Run a program to completion with stdout to /dev/null: its wall time
   in ms, or -1 if it failed. */
double bench_run_ms(char *const argv[]);

/* The floor (../shared/floor/floor.c, built as mctl-floor beside the
   benchmarks when that file is there, or $MCTL_FLOOR): a bare program of
   mctl's shape, timed in the same run so that mctl's figures can be given
   as a ratio. bench_floor_ms runs it for m minions (CURVE on, one topic
   each) and returns its median publish-to-last-reply time in ms, or -1. */
bool bench_floor_path(const fleet_t *f, char *out, size_t cap);
double bench_floor_ms(const char *floor_bin, int m, int rounds, bool uptime, int port);
/* The floor's master (its parent process) for m minions and the given
   rounds of the ping: its peak RSS in KiB, or -1. */
long bench_floor_peak_rss_kib(const char *floor_bin, int m, int rounds, int port);

/* Median, p90 and max of v (sorted in place). */
void bench_stats(double *v, int n, double *median, double *p90, double *max);
void bench_row(const char *label, const char *measure, int m, double *v, int n, const char *note);
void bench_header(void);

/* Proportional set size of a process, and of it plus its children, in KiB. */
long bench_pss_kib(pid_t pid);
long bench_tree_pss_kib(pid_t pid);
long bench_rss_kib(pid_t pid);
/* utime + stime of a process and of its children that are still running,
   in clock ticks. */
long long bench_cpu_ticks(pid_t pid);

double bench_now_ms(void);
/* Raise the open-files limit as far as allowed (children inherit it). */
void bench_raise_fd_limit(void);

#endif
