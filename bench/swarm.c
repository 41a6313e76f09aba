/*  mctl-bench-swarm - how far one master scales, with thousands of minions
    on one host (as Salt's minionswarm).

    For each N given (default 1000 4000 8000), in a fresh folder under /tmp:
    a real mctl-master on loopback whose config is written here, with the
    N minions' keys pre-seeded as accepted (PKI_DIR/minions/<id>, written
    with the shared key helpers, as `mctl deploy` leaves them) so that no
    minion registers on auth_port; then the swarm: N minions s00000... in
    P forked processes (swarm_proc.c), each minion with its own CURVE key
    and id and the real minion's two connections, speaking the real
    protocol (shared/proto/). P is chosen so that every process stays
    under the open-files limit (eight descriptors a minion). Measured:

      connect         from telling the swarm to connect until every minion
                      has both connections up, and until a test.ping to
                      '*' comes back from all N; and how many connection
                      attempts the kernel dropped meanwhile because a
                      listening socket's accept queue was full. When not
                      all come within --connect-wait (300 s), or none more
                      for a minute, the stage goes on with those that did
                      and says so
      ping            R rounds (10) of test.ping to '*' through the client
                      library, spread over 30 s: publish request to last
                      return (median, max); and the real `mctl '*'
                      test.ping` process (K runs, 3)
      echo            one test.echo to '*', each value checked
      memory          the master's RSS with none connected, with all
                      connected, and after the rounds (libzmq's queues
                      grow as messages pass), per minion
      idle CPU        the master's, over S seconds (30: every minion's
                      heartbeats and ZMTP pings) with all connected and no job
      CPU per job     the master's CPU time over the ping rounds, less its
                      idle rate (each thread's), divided by rounds x N,
                      split into its loop thread and libzmq's io threads
      restart         SIGTERM the master, start it again on the same
                      folder: how long the old one took to go, how long
                      until every minion is connected and answers
                      test.ping, the spread of reconnects, and how many
                      gave up: refused by the master, or not back within
                      --restart-wait (120 s)

    then a table of everything, the targets each N met or missed, and a
    projection to 50,000 minions on one master on a 16-core host from the
    largest N, its assumptions printed. The swarm shares the host's cores
    with the master (its own CPU per job is in the table), and the load
    average when each stage began is printed: on a busy host the times
    stretch.

    mctl-bench-swarm [--rounds 10] [--idle 30] [--mctl-runs 3] [--procs P]
                     [--io-threads T] [--master-io-threads K] [--verify-each]
                     [--ack] [--keep] [N ...] */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fleet.h"
#include "keys.h"
#include "swarm_proc.h"
#include "proto/proto.h"

#define MAX_STAGES 16
#define MAX_PROCS  256
/* Descriptors a swarm process keeps for itself besides its minions. */
#define PROC_SLACK_FDS 64
/* The master's own need (server.c raise_fd_limit): two per minion and
   this many more. */
#define MASTER_SLACK_FDS 256
/* Minions per libzmq io thread in a swarm process, unless --io-threads
   says: libzmq cancels a timer by walking all of its io thread's timers
   (poller_base.cpp), and every connection with ZMTP heartbeats keeps one
   there and cancels another after each ping, so an io thread with
   thousands of connections spends its time walking that list. */
#define MINIONS_PER_IO_THREAD 250
/* Idle CPU is measured, and the ping rounds spread, over this period: it
   holds every periodic message (the minions' heartbeats every 10 s, their
   ZMTP pings every half master_alive_interval, 30 s). */
#define HEARTBEAT_PERIOD_S 30
/* Waiting for connections ends when none has come for this long. */
#define STALL_S         60
#define PROJECT_MINIONS 50000
#define PROJECT_CORES   16

typedef struct {
    int rounds, idle_s, mctl_runs, procs, io_threads, master_io_threads;
    int connect_wait_s, restart_wait_s;
    bool verify_each, ack, keep;
    const char *log_level;
} opts_t;

/* What one stage measured; times in seconds unless named _ms. */
typedef struct {
    int n, procs, per_proc, io_threads, rounds;
    int connected; /* minions up at the end of the connect phase (all n, or fewer) */
    bool done;
    double load; /* the machine's load average when the stage began */
    long max_fds, master_fds;
    double up_s, ready_s;
    double ping_med_ms, ping_max_ms, mctl_med_ms;
    int short_rounds, mctl_failed;
    int echo_right;
    long rss_none, rss_fresh, rss_after; /* KiB */
    double idle_pct;
    double idle_main_ns, idle_io_ns; /* a second, idle */
    double cpu_us, cpu_main_us, cpu_io_us, swarm_cpu_us;
    double stop_s, back_up_s, back_ready_s, reconnect_p50, reconnect_p90, reconnect_max;
    long not_back, refused, failed_handshakes;
    long overflows_connect, overflows_restart; /* listen queue overflows meanwhile */
    swarm_stats_t totals;
} stage_t;

/* What a signal or exit() (fleet.c exits on a master that will not
   start) must clean up: the one stage running. A signal handler can only
   reach it from here. */
static struct {
    fleet_t fleet;
    swarm_proc_t *procs[MAX_PROCS];
    int nprocs;
    bool active, keep;
} run;

/* ---- clean-up -------------------------------------------------------------- */

static void remove_folder(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void print_log_tail(const char *dir)
{
    char *cmd = mc_sprintf("tail -n 15 %s/master.log >&2", dir);
    fprintf(stderr, "mctl-bench-swarm: the end of the master's log:\n");
    if (system(cmd) != 0)
        fprintf(stderr, "  (no log)\n");
    free(cmd);
}

static void stage_teardown(void)
{
    if (!run.active)
        return;
    run.active = false;
    for (int i = 0; i < run.nprocs; i++)
        swarm_proc_destroy(&run.procs[i]);
    run.nprocs = 0;
    client_close(&run.fleet.client);
    if (run.fleet.master) {
        kill(run.fleet.master, SIGTERM);
        waitpid(run.fleet.master, NULL, 0);
        run.fleet.master = 0;
    }
    if (run.keep)
        fprintf(stderr, "mctl-bench-swarm: kept %s\n", run.fleet.dir);
    else
        remove_folder(run.fleet.dir);
}

static void on_exit_cleanup(void)
{
    stage_teardown();
}

/* Only what is safe in a handler: kill, fork, exec, wait. */
static void on_signal(int sig)
{
    if (run.active) {
        for (int i = 0; i < run.nprocs; i++)
            if (run.procs[i])
                kill(swarm_proc_pid(run.procs[i]), SIGKILL);
        if (run.fleet.master) {
            kill(run.fleet.master, SIGKILL);
            waitpid(run.fleet.master, NULL, 0);
        }
        if (!run.keep)
            remove_folder(run.fleet.dir);
    }
    _exit(128 + sig);
}

/* ---- /proc ------------------------------------------------------------------- */

typedef struct {
    int64_t main_ns, io_ns, other_ns;
} cpu_t;

static int64_t cpu_total(const cpu_t *c)
{
    return c->main_ns + c->io_ns + c->other_ns;
}

/* CPU time of each thread of a process (schedstat: nanoseconds): the
   main thread, libzmq's io threads (ZMQbg/IO/n), the rest. */
static cpu_t proc_cpu(pid_t pid)
{
    cpu_t c = {0};
    char path[320];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        long long ns = 0;
        char comm[64] = "";
        snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp || fscanf(fp, "%lld", &ns) != 1)
            ns = 0;
        if (fp)
            fclose(fp);
        snprintf(path, sizeof path, "/proc/%d/task/%s/comm", (int)pid, e->d_name);
        if ((fp = fopen(path, "r"))) {
            if (!fgets(comm, sizeof comm, fp))
                comm[0] = '\0';
            fclose(fp);
        }
        if (atoi(e->d_name) == (int)pid)
            c.main_ns += ns;
        else if (strncmp(comm, "ZMQbg/IO", 8) == 0)
            c.io_ns += ns;
        else
            c.other_ns += ns;
    }
    if (d)
        closedir(d);
    return c;
}

static long count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    long n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* The kernel's count of connections dropped because a listening
   socket's accept queue was full (TcpExt ListenOverflows; machine-wide):
   a client whose SYN is dropped tries again only after 1, 3, 7 s... */
static long listen_overflows(void)
{
    FILE *fp = fopen("/proc/net/netstat", "r");
    char names[4096], values[4096];
    long found = -1;
    while (fp && fgets(names, sizeof names, fp) && fgets(values, sizeof values, fp)) {
        if (strncmp(names, "TcpExt:", 7) != 0)
            continue;
        char *ns = NULL, *vs = NULL;
        char *n = strtok_r(names, " \n", &ns), *v = strtok_r(values, " \n", &vs);
        while (n && v && strcmp(n, "ListenOverflows") != 0) {
            n = strtok_r(NULL, " \n", &ns);
            v = strtok_r(NULL, " \n", &vs);
        }
        if (n && v)
            found = atol(v);
    }
    if (fp)
        fclose(fp);
    return found;
}

static int64_t swarm_cpu_ns(void)
{
    int64_t sum = 0;
    for (int i = 0; i < run.nprocs; i++) {
        cpu_t c = proc_cpu(swarm_proc_pid(run.procs[i]));
        sum += cpu_total(&c);
    }
    return sum;
}

/* ---- the swarm, summed ---------------------------------------------------------- */

/* Every field of swarm_stats_t is an int64_t counter: they add up. */
_Static_assert(sizeof(swarm_stats_t) % sizeof(int64_t) == 0, "swarm_stats_t: counters only");

static int swarm_totals(swarm_stats_t *t, mc_err_t *err)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < run.nprocs; i++) {
        swarm_stats_t s;
        if (swarm_proc_stats(run.procs[i], &s, err) != 0)
            return -1;
        int64_t *dst = (int64_t *)t;
        const int64_t *src = (const int64_t *)&s;
        for (size_t k = 0; k < sizeof s / sizeof(int64_t); k++)
            dst[k] += src[k];
    }
    return 0;
}

/* Wait until `want` minions (of n) have both connections up, or wait_s
   has passed, or STALL_S without one more: how many are up then (-1 on
   an error). Fewer than wanted is a result to report, not a failure. */
static int wait_up(int want, int n, double since_ms, int wait_s, const char *what, mc_err_t *err)
{
    double now = bench_now_ms(), deadline = now + wait_s * 1000.0, next_note = now + 5000;
    double progress_ms = now;
    int64_t best = -1;
    swarm_stats_t t;
    for (;;) {
        if (swarm_totals(&t, err) != 0)
            return -1;
        now = bench_now_ms();
        if (t.up > best) {
            best = t.up;
            progress_ms = now;
        }
        if (t.up >= want)
            return (int)t.up;
        if (now >= deadline || now - progress_ms >= STALL_S * 1000.0) {
            fprintf(stderr,
                    "  %s: %lld of %d connected after %.0f s (%s; %lld refused); going on with "
                    "those\n",
                    what, (long long)t.up, n, (now - since_ms) / 1000,
                    now >= deadline ? "time is up" : "no progress for a while",
                    (long long)t.refused);
            return (int)t.up;
        }
        if (now >= next_note) {
            fprintf(stderr, "  %s: %lld of %d connected after %.0f s\n", what, (long long)t.up, n,
                    (now - since_ms) / 1000);
            next_note += 5000;
        }
        usleep(100000);
    }
}

/* ---- rounds ----------------------------------------------------------------------- */

typedef struct {
    int expected, unsent, returned, right;
    double ms; /* publish request to last return (or to giving up) */
} round_t;

/* fun (with arg, or none) to '*', through the client library as mctl
   does: every return for the jid counted, and checked (True for
   test.ping, the argument for test.echo). */
static int swarm_round(client_t *c, const char *fun, const char *arg, int wait_ms, round_t *r,
                       mc_err_t *err)
{
    memset(r, 0, sizeof *r);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char *args[] = {(char *)arg};
    client_target_t target = {"*", "glob", 0};
    client_pack_publish(&sb, &target, fun, arg ? 1 : 0, args, 30, "swarm");
    double t0 = bench_now_ms(), last = t0;
    client_frame_t *answer;
    int rc = client_ask(c, &sb, &answer, 30000, err);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return -1;
    mc_reply_targets_t reply;
    rc = mc_reply_publish_decode(&reply, answer->data, answer->size, err);
    client_frame_free(&answer);
    if (rc != 0)
        return -1;
    char jid[MC_JID_LEN + 1];
    snprintf(jid, sizeof jid, "%s", reply.jid);
    r->expected = (int)reply.minions.count;
    r->unsent = (int)reply.unsent.count;
    mc_reply_targets_done(&reply);
    double deadline = t0 + wait_ms;
    while (r->returned < r->expected - r->unsent && bench_now_ms() < deadline) {
        char kind[16];
        client_frame_t *body = NULL;
        int got = client_next(c, kind, &body, (int)(deadline - bench_now_ms()) + 1);
        if (got < 0) {
            *err = c->why;
            return -1;
        }
        if (got == 0)
            break;
        mc_ret_t ret;
        mc_err_t derr;
        if (strcmp(kind, MC_KIND_RETURN) == 0 &&
            mc_ret_decode(&ret, body->data, body->size, &derr) == 0) {
            if (strcmp(ret.jid, jid) == 0) {
                const msgpack_object *v = ret.ret;
                bool right = arg ? v->type == MSGPACK_OBJECT_STR &&
                                       v->via.str.size == strlen(arg) &&
                                       memcmp(v->via.str.ptr, arg, v->via.str.size) == 0
                                 : v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
                r->returned++;
                r->right += ret.success && right;
                last = bench_now_ms();
            }
            mc_ret_done(&ret);
        }
        client_frame_free(&body);
    }
    r->ms = (r->returned == r->expected ? last : bench_now_ms()) - t0;
    return 0;
}

/* test.ping to '*' until `want` minions answer: 0, or -1 after wait_s. */
static int wait_answers(int want, int wait_s, mc_err_t *err)
{
    double deadline = bench_now_ms() + wait_s * 1000.0;
    round_t r = {0};
    while (bench_now_ms() < deadline) {
        if (swarm_round(&run.fleet.client, "test.ping", NULL, 15000, &r, err) != 0)
            return -1;
        if (r.right >= want)
            return 0;
        usleep(200000);
    }
    mc_err_set(err, "test.ping to '*': %d of the %d connected answered (%d not sent) after %d s",
               r.right, want, r.unsent, wait_s);
    return -1;
}

/* ---- one stage --------------------------------------------------------------------- */

static int fd_limit(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    return (int)rl.rlim_cur;
}

static int write_master_config(const opts_t *o, int n, mc_err_t *err)
{
    fleet_t *f = &run.fleet;
    if (mc_mkdir_p(f->etc, 0755, err) != 0)
        return -1;
    /* max_minions covers the swarm (the default is 10000); the rest are
       the defaults, written out so that the log shows what was run. */
    char *cfg = mc_sprintf("interface: 127.0.0.1\npublish_port: %d\nret_port: %d\nauth_port: %d\n"
                           "pki_dir: %s/pki/master\ncachedir: %s/cache/master\n"
                           "sock_dir: %s/run\npidfile: %s/master.pid\naudit_log: %s/audit.log\n"
                           "log_level: %s\nauto_accept: false\nmax_minions: %d\n"
                           "pub_hwm: 10000\nminion_alive_interval: 60\n",
                           f->base_port, f->base_port + 1, f->base_port + 2, f->dir, f->dir, f->dir,
                           f->dir, f->dir, o->log_level, n > 10000 ? n + 1000 : 10000);
    char *path = mc_sprintf("%s/master", f->etc);
    int rc = mc_write_file(path, cfg, strlen(cfg), 0644, err);
    free(path);
    free(cfg);
    return rc;
}

/* The master's keys, made here so that the swarm knows them, and the
   swarm's, accepted: what registration would have written. */
static int seed_keys(int n, swarm_identity_t *ids, swarm_proc_config_t *pc, mc_err_t *err)
{
    char *pki = mc_sprintf("%s/pki/master", run.fleet.dir);
    char *minions = mc_sprintf("%s/minions", pki);
    mc_curve_keys_t curve;
    mc_sign_keys_t sign;
    bool created;
    int rc = mc_mkdir_p(pki, 0700, err) || mc_mkdir_p(minions, 0700, err) ||
             mc_curve_load_or_create(pki, "master", &curve, &created, err) ||
             mc_sign_load_or_create(pki, "master", &sign, &created, err);
    if (rc == 0) {
        memcpy(pc->master_pub, curve.pub, MC_KEY_LEN);
        memcpy(pc->sign_pub, sign.pub, MC_KEY_LEN);
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        snprintf(ids[i].id, sizeof ids[i].id, "s%05d", i);
        crypto_box_keypair(ids[i].pub, ids[i].sec);
        char *path = mc_sprintf("%s/%s", minions, ids[i].id);
        rc = mc_curve_save_public(path, ids[i].pub, ids[i].id, err);
        free(path);
    }
    sodium_memzero(&curve, sizeof curve);
    sodium_memzero(&sign, sizeof sign);
    free(minions);
    free(pki);
    return rc ? -1 : 0;
}

static int ping_rounds(const opts_t *o, stage_t *st, mc_err_t *err)
{
    int n = st->connected;
    double *ms = mc_calloc((size_t)o->rounds, sizeof *ms);
    round_t r;
    if (swarm_round(&run.fleet.client, "test.ping", NULL, 30000, &r, err) != 0) { /* warm-up */
        free(ms);
        return -1;
    }
    cpu_t m0 = proc_cpu(run.fleet.master);
    int64_t s0 = swarm_cpu_ns();
    double t0 = bench_now_ms();
    /* R rounds spread over a heartbeat period (one every period / R, or
       at once after the last when it took longer): idle, the master's CPU
       comes mostly from ZMTP pings, each connection's once a period
       (master/server.c sets them), so that the idle rate taken off below
       is an average over the same span; and every N gets as many jobs
       (libzmq's queues grow into more memory as messages pass). */
    int rounds = 0;
    for (; rounds < o->rounds; rounds++) {
        double due = t0 + rounds * HEARTBEAT_PERIOD_S * 1000.0 / o->rounds;
        if (bench_now_ms() < due)
            usleep((useconds_t)((due - bench_now_ms()) * 1000));
        if (swarm_round(&run.fleet.client, "test.ping", NULL, 30000, &r, err) != 0) {
            free(ms);
            return -1;
        }
        ms[rounds] = r.ms;
        st->short_rounds += r.right < n;
    }
    if (bench_now_ms() < t0 + HEARTBEAT_PERIOD_S * 1000.0)
        usleep((useconds_t)((t0 + HEARTBEAT_PERIOD_S * 1000.0 - bench_now_ms()) * 1000));
    st->rounds = rounds;
    /* The "stored" notices of the last round went within a second. Each
       thread's idle rate is taken off what the rounds cost. */
    double wall_s = (bench_now_ms() - t0) / 1000;
    cpu_t m1 = proc_cpu(run.fleet.master);
    int64_t s1 = swarm_cpu_ns();
    double jobs = (double)rounds * n, idle_ns = st->idle_pct / 100 * wall_s * 1e9;
    st->cpu_us = ((double)(cpu_total(&m1) - cpu_total(&m0)) - idle_ns) / 1000 / jobs;
    st->cpu_main_us = ((double)(m1.main_ns - m0.main_ns) - st->idle_main_ns * wall_s) / 1000 / jobs;
    st->cpu_io_us = ((double)(m1.io_ns - m0.io_ns) - st->idle_io_ns * wall_s) / 1000 / jobs;
    st->swarm_cpu_us = (double)(s1 - s0) / 1000 / jobs;
    double p90;
    bench_stats(ms, rounds, &st->ping_med_ms, &p90, &st->ping_max_ms);
    free(ms);

    if (swarm_round(&run.fleet.client, "test.echo", "swarm-echo", 30000, &r, err) != 0)
        return -1;
    st->echo_right = r.right;

    /* The real command line, as a user runs it. */
    double *mctl = mc_calloc((size_t)o->mctl_runs + 1, sizeof *mctl);
    int ok = 0;
    char *exe = mc_sprintf("%s/mctl", run.fleet.bin);
    char *argv[] = {exe, "-c", run.fleet.etc, "*", "test.ping", NULL};
    for (int i = 0; i < o->mctl_runs; i++) {
        double t = bench_run_ms(argv);
        if (t < 0)
            st->mctl_failed++;
        else
            mctl[ok++] = t;
    }
    double max;
    st->mctl_med_ms = -1;
    if (ok)
        bench_stats(mctl, ok, &st->mctl_med_ms, &p90, &max);
    free(exe);
    free(mctl);
    return 0;
}

static int restart_master(const opts_t *o, stage_t *st, mc_err_t *err)
{
    int n = st->n, before = st->connected;
    long overflows = listen_overflows();
    double t_kill = bench_now_ms();
    fleet_stop_master(&run.fleet);
    st->stop_s = (bench_now_ms() - t_kill) / 1000;
    double t_start = bench_now_ms();
    fleet_start_master(&run.fleet);
    /* Not all back in time is a result (they gave up), not a failure. */
    st->back_up_s = st->back_ready_s = -1;
    int back = wait_up(before, n, t_start, o->restart_wait_s, "after the restart", err);
    if (back < 0)
        return -1;
    st->not_back = back < before ? before - back : 0;
    if (back >= before) {
        st->back_up_s = (bench_now_ms() - t_start) / 1000;
        if (wait_answers(before, o->restart_wait_s, err) != 0)
            return -1;
        st->back_ready_s = (bench_now_ms() - t_start) / 1000;
    }
    st->overflows_restart = listen_overflows() - overflows;
    /* When each minion that came back did, from the new master's start. */
    double *when = mc_calloc((size_t)n, sizeof *when);
    int nb = 0;
    for (int i = 0; i < run.nprocs; i++) {
        int count = n / run.nprocs + (i < n % run.nprocs);
        swarm_outage_t *out = mc_calloc((size_t)count, sizeof *out);
        if (swarm_proc_outages(run.procs[i], out, count, err) != 0) {
            free(out);
            free(when);
            return -1;
        }
        for (int k = 0; k < count; k++)
            if (out[k].down_ms > 0 && out[k].up_ms > out[k].down_ms)
                when[nb++] = ((double)out[k].up_ms - t_start) / 1000;
        free(out);
    }
    double med = 0, p90 = 0, max = 0;
    if (nb)
        bench_stats(when, nb, &med, &p90, &max);
    st->reconnect_p50 = med;
    st->reconnect_p90 = p90;
    st->reconnect_max = max;
    free(when);
    swarm_stats_t t;
    if (swarm_totals(&t, err) != 0)
        return -1;
    st->refused = t.refused;
    st->failed_handshakes = t.failed_handshakes;
    st->totals = t;
    return 0;
}

static int run_stage(const opts_t *o, int index, stage_t *st, mc_err_t *err)
{
    int n = st->n;
    fleet_t *f = &run.fleet;
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mctl-swarm.XXXXXX");
    if (!mkdtemp(f->dir)) {
        mc_err_set(err, "cannot make a folder in /tmp: %s", strerror(errno));
        return -1;
    }
    run.active = true;
    char self[512];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    self[len > 0 ? len : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(f->bin, sizeof f->bin, "%s", self);
    snprintf(f->etc, sizeof f->etc, "%s/etc", f->dir);
    /* Below the ephemeral ports (32768), one set of three per stage. */
    f->base_port = 20000 + (int)(getpid() % 200) * 3 * MAX_STAGES + index * 3;

    swarm_identity_t *ids = mc_calloc((size_t)n, sizeof *ids);
    swarm_proc_config_t pc = {.master = "127.0.0.1",
                              .publish_port = f->base_port,
                              .ret_port = f->base_port + 1,
                              .io_threads = st->io_threads,
                              .heartbeat = 10,
                              .alive = 60,
                              .job_max_age = 300,
                              .verify_each = o->verify_each,
                              .ack = o->ack};
    if (write_master_config(o, n, err) != 0 || seed_keys(n, ids, &pc, err) != 0)
        return -1;

    /* The swarm first: its processes must not inherit a libzmq context. */
    int first = 0;
    for (int i = 0; i < st->procs; i++) {
        pc.count = n / st->procs + (i < n % st->procs);
        pc.minions = ids + first;
        pc.seed = (unsigned)(getpid() * 7919 + i);
        run.procs[i] = swarm_proc_start(&pc, err);
        if (!run.procs[i])
            return -1;
        run.nprocs++;
        first += pc.count;
    }
    sodium_memzero(ids, (size_t)n * sizeof *ids);
    free(ids);
    fleet_start_master(f);
    usleep(500000);
    st->rss_none = bench_rss_kib(f->master);

    double load[1] = {0};
    getloadavg(load, 1);
    st->load = load[0];
    fprintf(stderr, "N=%d: %d swarm processes, master pid %d, folder %s, load average %.2f\n", n,
            st->procs, (int)f->master, f->dir, load[0]);
    long overflows = listen_overflows();
    double t0 = bench_now_ms();
    for (int i = 0; i < run.nprocs; i++)
        if (swarm_proc_go(run.procs[i], err) != 0)
            return -1;
    st->connected = wait_up(n, n, t0, o->connect_wait_s, "connecting", err);
    if (st->connected < 0)
        return -1;
    st->up_s = (bench_now_ms() - t0) / 1000;
    st->overflows_connect = listen_overflows() - overflows;
    if (st->connected == 0) {
        mc_err_set(err, "no minion connected in %.0f s", st->up_s);
        return -1;
    }
    /* With only some connected, the rest of the stage measures those. */
    if (wait_answers(st->connected, o->connect_wait_s, err) != 0)
        return -1;
    st->ready_s = (bench_now_ms() - t0) / 1000;
    for (int i = 0; i < run.nprocs; i++) {
        long fds = count_fds(swarm_proc_pid(run.procs[i]));
        st->max_fds = fds > st->max_fds ? fds : st->max_fds;
    }
    st->master_fds = count_fds(f->master);
    usleep(3000000);
    st->rss_fresh = bench_rss_kib(f->master);

    fprintf(stderr, "  %d connected, all answering after %.1f s; idle for %d s\n", st->connected,
            st->ready_s, o->idle_s);
    cpu_t c0 = proc_cpu(f->master);
    double t_idle = bench_now_ms();
    usleep((useconds_t)o->idle_s * 1000000);
    cpu_t c1 = proc_cpu(f->master);
    double idle_ms = bench_now_ms() - t_idle;
    st->idle_pct = (double)(cpu_total(&c1) - cpu_total(&c0)) / 1e6 / idle_ms * 100;
    st->idle_main_ns = (double)(c1.main_ns - c0.main_ns) / idle_ms * 1000;
    st->idle_io_ns = (double)(c1.io_ns - c0.io_ns) / idle_ms * 1000;

    fprintf(stderr, "  %d rounds of test.ping to '*' over %d s\n", o->rounds, HEARTBEAT_PERIOD_S);
    if (ping_rounds(o, st, err) != 0)
        return -1;
    usleep(2000000);
    st->rss_after = bench_rss_kib(f->master);
    fprintf(stderr, "  test.ping median %.0f ms; restarting the master\n", st->ping_med_ms);
    if (restart_master(o, st, err) != 0)
        return -1;
    st->done = true;
    stage_teardown();
    return 0;
}

/* ---- the table ---------------------------------------------------------------------- */

/* One row: the label, then a cell per stage made by the format. */
#define ROW(label, ...)                                                                            \
    do {                                                                                           \
        printf("%-52s", label);                                                                    \
        for (int i_ = 0; i_ < ns; i_++) {                                                          \
            const stage_t *s = &st[i_];                                                            \
            char cell_[48] = "-";                                                                  \
            if (s->done)                                                                           \
                snprintf(cell_, sizeof cell_, __VA_ARGS__);                                        \
            printf(" %15s", cell_);                                                                \
        }                                                                                          \
        printf("\n");                                                                              \
    } while (0)

static double per_minion_kib(const stage_t *s)
{
    return (double)s->rss_after / s->connected;
}

static void print_table(const opts_t *o, const stage_t *st, int ns)
{
    printf("\n");
    ROW("minions", "%d", s->n);
    ROW("load average when the stage began", "%.2f", s->load);
    ROW("swarm processes x minions (io threads)", "%dx%d (%d)", s->procs, s->per_proc,
        s->io_threads);
    ROW("descriptors: most in one swarm process", "%ld", s->max_fds);
    ROW("descriptors per minion, swarm side", "%.2f", (double)s->max_fds / s->per_proc);
    ROW("descriptors: master", "%ld", s->master_fds);
    ROW("connect: minions connected", "%d", s->connected);
    ROW("connect: all up (s)", s->connected < s->n ? "never" : "%.1f", s->up_s);
    ROW("connect: test.ping '*' answered by all (s)", "%.1f", s->ready_s);
    ROW("connect: SYNs dropped, accept queue full", "%ld", s->overflows_connect);
    char label[96];
    ROW("test.ping '*' rounds (spread over 30 s)", "%d", s->rounds);
    ROW("test.ping '*', publish->last, median (ms)", "%.0f", s->ping_med_ms);
    ROW("test.ping '*', publish->last, max (ms)", "%.0f", s->ping_max_ms);
    ROW("  rounds where not all answered", "%d", s->short_rounds);
    snprintf(label, sizeof label, "mctl '*' test.ping, whole process, median of %d (ms)",
             o->mctl_runs);
    ROW(label,
        s->mctl_med_ms < 0   ? "all failed"
        : s->mctl_failed > 0 ? "%.0f (%d failed)"
                             : "%.0f",
        s->mctl_med_ms, s->mctl_failed);
    ROW("test.echo '*': right answers", "%d", s->echo_right);
    ROW("master RSS, none connected (MiB)", "%.1f", s->rss_none / 1024.0);
    ROW("master RSS, all connected (MiB)", "%.1f", s->rss_fresh / 1024.0);
    ROW("master RSS, after the rounds (MiB)", "%.1f", s->rss_after / 1024.0);
    ROW("master RSS per minion, after the rounds (KiB)", "%.1f", per_minion_kib(s));
    ROW("  less the RSS with none connected (KiB)", "%.1f",
        (double)(s->rss_after - s->rss_none) / s->connected);
    snprintf(label, sizeof label, "idle master CPU over %d s (%% of a core)", o->idle_s);
    ROW(label, "%.2f", s->idle_pct);
    ROW("  of which its loop thread / io thread (%)", "%.2f/%.2f", s->idle_main_ns / 1e7,
        s->idle_io_ns / 1e7);
    ROW("master CPU per job per minion (us)", "%.1f", s->cpu_us);
    ROW("  of which its loop thread (us)", "%.1f", s->cpu_main_us);
    ROW("  of which libzmq's io thread (us)", "%.1f", s->cpu_io_us);
    ROW("swarm CPU per job per minion (us)", "%.1f", s->swarm_cpu_us);
    ROW("restart: old master gone after SIGTERM (s)", "%.1f", s->stop_s);
    ROW("restart: all reconnected, after start (s)", s->back_up_s < 0 ? "never" : "%.1f",
        s->back_up_s);
    ROW("restart: reconnects p50/p90/max (s)", "%.1f/%.1f/%.1f", s->reconnect_p50, s->reconnect_p90,
        s->reconnect_max);
    ROW("restart: test.ping '*' answered by all (s)", s->back_ready_s < 0 ? "never" : "%.1f",
        s->back_ready_s);
    ROW("restart: SYNs dropped, accept queue full", "%ld", s->overflows_restart);
    ROW("restart: minions that gave up (not back, refused)", "%ld (%ld, %ld)",
        s->not_back + s->refused, s->not_back, s->refused);
    ROW("handshakes failed (other than refused)", "%ld", s->failed_handshakes);
    ROW("swarm: jobs run / refused at a gate", "%lld/%lld", (long long)s->totals.jobs,
        (long long)s->totals.bad_jobs);
    ROW("swarm: returns / sent again / acks", "%lld/%lld/%lld", (long long)s->totals.returns,
        (long long)s->totals.resent, (long long)s->totals.acks);
    ROW("swarm: returns confirmed stored / waiting", "%lld/%lld", (long long)s->totals.stored,
        (long long)s->totals.unconfirmed);
    ROW("swarm: hellos / grains / heartbeats", "%lld/%lld/%lld", (long long)s->totals.hellos,
        (long long)s->totals.grains, (long long)s->totals.heartbeats);
    ROW("swarm: Ed25519 verifications done", "%lld", (long long)s->totals.verified);
    printf("\n");
    ROW("target: all N connected and answering", "%s", s->connected == s->n ? "met" : "MISSED");
    ROW("target: ping-all median <= 2 s", "%s", s->ping_med_ms <= 2000 ? "met" : "MISSED");
    ROW("target: master RSS <= 100 KiB per minion", "%s",
        per_minion_kib(s) <= 100 ? "met" : "MISSED");
    ROW("target: idle master CPU <= 10 %", "%s", s->idle_pct <= 10 ? "met" : "MISSED");
    ROW("target: restart, all answer <= 60 s, none gave up", "%s",
        s->connected == s->n && s->back_ready_s >= 0 && s->back_ready_s <= 60 &&
                s->not_back + s->refused == 0
            ? "met"
            : "MISSED");
}

/* The master's libzmq io threads at n accepted minions (server.c). */
static int master_io_threads(const opts_t *o, int n)
{
    if (o->master_io_threads)
        return o->master_io_threads;
    int k = 1 + n / 1000;
    return k > 8 ? 8 : k;
}

static void print_projection(const opts_t *o, const stage_t *s)
{
    double m = PROJECT_MINIONS, scale = m / s->connected;
    int k = master_io_threads(o, PROJECT_MINIONS);
    double main_s = s->cpu_main_us * m / 1e6, io_s = s->cpu_io_us * m / 1e6;
    double all_s = s->cpu_us * m / 1e6, busiest = main_s > io_s / k ? main_s : io_s / k;
    double idle_main = s->idle_main_ns / 1e7 * scale, idle_io = s->idle_io_ns / 1e7 * scale;
    printf("\nProjection: %d minions on one master, a %d-core host, from the %d-minion figures\n",
           PROJECT_MINIONS, PROJECT_CORES, s->connected);
    printf("  assumptions: a core as fast as one here; the minions on other hosts (none of "
           "their CPU\n"
           "  is the master's); the master as shipped: one loop thread (master/server.c) and "
           "%d libzmq\n"
           "  io threads, so a job's work is serial in the loop and spread over the io "
           "threads at best;\n"
           "  costs per minion and per job grow linearly (the master keeps no timer per "
           "connection: TCP\n"
           "  keepalive finds dead peers); the minions' heartbeats (10 s) and ZMTP pings "
           "(30 s) as here;\n"
           "  the job cache in SQLite.\n",
           k);
    printf("  %-52s %9.1f GiB (%.1f KiB x %d)\n", "master RSS",
           (s->rss_none + per_minion_kib(s) * m) / 1048576.0, per_minion_kib(s), PROJECT_MINIONS);
    printf("  %-52s %9d (LimitNOFILE; the hard limit here is 20000)\n", "master descriptors",
           2 * PROJECT_MINIONS + MASTER_SLACK_FDS);
    printf("  %-52s %9.2f s (loop %.2f s, io %.2f s)\n", "master CPU per job to all", all_s, main_s,
           io_s);
    printf("  %-52s %9.2f s %s\n", "test.ping to all, at least (the busiest thread)", busiest,
           busiest <= 2 ? "(within 2 s)" : "(over 2 s)");
    printf("  %-52s %9.2f\n", "jobs to all minions a second, at most", 1 / busiest);
    printf("  %-52s %9.1f %% of a core\n", "idle master CPU: loop thread", idle_main);
    printf("  %-52s %9.1f %% of a core, %.1f %% of the host\n", "  io threads", idle_io,
           (idle_main + idle_io) / PROJECT_CORES);
}

/* ---- main ------------------------------------------------------------------------------ */

static void usage(FILE *to)
{
    fprintf(
        to,
        "Usage: mctl-bench-swarm [--rounds 10] [--idle 30] [--mctl-runs 3] [--procs P]\n"
        "                        [--io-threads T] [--master-io-threads K] [--verify-each]\n"
        "                        [--ack] [--keep]\n"
        "                        [--connect-wait 300] [--restart-wait 120]\n"
        "                        [--log-level info] [N ...]\n\n"
        "Run N minions (default 1000 4000 8000, one after the other) in a few processes\n"
        "against one real master on loopback, each minion with its own key and id and\n"
        "the real protocol, and measure: time to connect all, test.ping to all (median\n"
        "and max of the rounds, and the real mctl), the master's memory, idle CPU and\n"
        "CPU per job per minion, and a restart of the master under all of them. Prints\n"
        "a table and a projection to %d minions on a %d-core host. Needs root; the\n"
        "minions' keys are pre-seeded as accepted, so none registers.\n\n"
        "  --procs P        swarm processes (default: as few as the open-files limit "
        "allows)\n"
        "  --io-threads T   libzmq io threads in each swarm process (default: one per %d "
        "minions)\n"
        "  --master-io-threads K  start the master with ZSYS_IO_THREADS=K (czmq's io "
        "threads;\n"
        "                   by default the master takes one per 1000 accepted minions, up to 8)\n"
        "  --verify-each    verify the signature of every copy of a job, not once per "
        "process\n"
        "  --ack            ack every job on receipt (the real minion lets a quick return "
        "stand\n"
        "                   for the ack)\n"
        "  --keep           keep each stage's folder (logs, job cache)\n",
        PROJECT_MINIONS, PROJECT_CORES, MINIONS_PER_IO_THREAD);
}

static int positive(const char *what, const char *text, int min, int max)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "mctl-bench-swarm: %s: expected a number from %d to %d, got '%s'\n", what,
                min, max, text);
        exit(64);
    }
    return (int)v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"rounds", required_argument, NULL, 'r'},
                                             {"idle", required_argument, NULL, 'i'},
                                             {"mctl-runs", required_argument, NULL, 'm'},
                                             {"procs", required_argument, NULL, 'p'},
                                             {"io-threads", required_argument, NULL, 't'},
                                             {"master-io-threads", required_argument, NULL, 'T'},
                                             {"connect-wait", required_argument, NULL, 'c'},
                                             {"restart-wait", required_argument, NULL, 'w'},
                                             {"log-level", required_argument, NULL, 'l'},
                                             {"verify-each", no_argument, NULL, 'V'},
                                             {"ack", no_argument, NULL, 'A'},
                                             {"keep", no_argument, NULL, 'k'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    opts_t o = {.rounds = 10,
                .idle_s = HEARTBEAT_PERIOD_S,
                .mctl_runs = 3,
                .io_threads = 0,
                .connect_wait_s = 300,
                .restart_wait_s = 120,
                .log_level = "info"};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o.rounds = positive("--rounds", optarg, 1, 1000);
            break;
        case 'i':
            o.idle_s = positive("--idle", optarg, 1, 3600);
            break;
        case 'm':
            o.mctl_runs = positive("--mctl-runs", optarg, 0, 100);
            break;
        case 'p':
            o.procs = positive("--procs", optarg, 1, MAX_PROCS);
            break;
        case 't':
            o.io_threads = positive("--io-threads", optarg, 1, 64);
            break;
        case 'T':
            o.master_io_threads = positive("--master-io-threads", optarg, 1, 256);
            break;
        case 'c':
            o.connect_wait_s = positive("--connect-wait", optarg, 1, 86400);
            break;
        case 'w':
            o.restart_wait_s = positive("--restart-wait", optarg, 1, 86400);
            break;
        case 'l':
            o.log_level = optarg;
            break;
        case 'V':
            o.verify_each = true;
            break;
        case 'A':
            o.ack = true;
            break;
        case 'k':
            o.keep = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 64;
        }
    }
    stage_t st[MAX_STAGES] = {0};
    int ns = 0;
    static const int defaults[] = {1000, 4000, 8000};
    for (int i = optind; i < argc; i++) {
        if (ns == MAX_STAGES) {
            fprintf(stderr, "mctl-bench-swarm: at most %d sizes\n", MAX_STAGES);
            return 64;
        }
        st[ns++].n = positive("N", argv[i], 1, 1000000);
    }
    for (int i = 0; ns == 0 && i < 3; i++)
        st[i].n = defaults[i];
    ns = ns ? ns : 3;

    if (geteuid() != 0) {
        fprintf(stderr, "mctl-bench-swarm: run it as root (it raises the open-files limit and "
                        "runs a master whose client socket is given to root's group)\n");
        return 77;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    bench_raise_fd_limit();
    int limit = fd_limit();
    int per_max = (limit - PROC_SLACK_FDS) / SWARM_FDS_PER_MINION;
    for (int i = 0; i < ns; i++) {
        stage_t *s = &st[i];
        if (2 * (rlim_t)s->n + MASTER_SLACK_FDS > rl.rlim_max) {
            fprintf(stderr,
                    "mctl-bench-swarm: %d minions need %d descriptors in the master, and the "
                    "hard open-files limit is %llu: raise it (ulimit -Hn) or give a smaller N\n",
                    s->n, 2 * s->n + MASTER_SLACK_FDS, (unsigned long long)rl.rlim_max);
            return 1;
        }
        s->procs = o.procs ? o.procs : (s->n + per_max - 1) / per_max;
        s->procs = s->procs > s->n ? s->n : s->procs;
        s->per_proc = (s->n + s->procs - 1) / s->procs;
        s->io_threads = o.io_threads
                            ? o.io_threads
                            : (s->per_proc + MINIONS_PER_IO_THREAD - 1) / MINIONS_PER_IO_THREAD;
        if (s->per_proc * SWARM_FDS_PER_MINION + PROC_SLACK_FDS > limit || s->procs > MAX_PROCS) {
            fprintf(stderr,
                    "mctl-bench-swarm: %d minions in %d processes is %d a process, %d "
                    "descriptors each, over the open-files limit of %d: give --procs %d or more\n",
                    s->n, s->procs, s->per_proc,
                    s->per_proc * SWARM_FDS_PER_MINION + PROC_SLACK_FDS, limit,
                    (s->n + per_max - 1) / per_max);
            return 1;
        }
    }
    run.keep = o.keep;
    atexit(on_exit_cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);
    /* czmq reads it when the master makes its first socket (zsys_init):
       a knob of the library the master is built on, its code untouched. */
    char master_io[96] = "the master's own choice of libzmq io threads (1 per 1000 minions, <= 8)";
    if (o.master_io_threads) {
        char value[16];
        snprintf(value, sizeof value, "%d", o.master_io_threads);
        setenv("ZSYS_IO_THREADS", value, 1);
        snprintf(master_io, sizeof master_io,
                 "%d libzmq io threads in the master (ZSYS_IO_THREADS)", o.master_io_threads);
    } else {
        unsetenv("ZSYS_IO_THREADS");
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "mctl-bench-swarm: libsodium failed to start\n");
        return 1;
    }

    char io[64];
    snprintf(io, sizeof io, "a libzmq io thread per %d minions", MINIONS_PER_IO_THREAD);
    if (o.io_threads)
        snprintf(io, sizeof io, "%d libzmq io threads", o.io_threads);
    printf("mctl swarm: one master, N minions in a few processes on this host (%ld cores), "
           "loopback, CURVE\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("keys pre-seeded as accepted (PKI_DIR/minions/<id>), so no minion registers\n");
    printf("master config written here: max_minions (10000, or N + 1000 past it), pub_hwm "
           "10000,\n  minion_alive_interval 60; %s\n",
           master_io);
    printf("minions: heartbeat 10 s; libzmq reconnect from 200-1000 ms backing off to 5-10 s "
           "(drawn\n  per minion); signatures verified %s;\n  acks %s;\n  %s per swarm "
           "process; open files limit %d\n",
           o.verify_each ? "for every copy" : "once per process for identical signed bytes",
           o.ack ? "on receipt" : "as the real minion's (a return at once stands for the ack)", io,
           limit);
    fflush(stdout);
    int failed = 0, last_done = -1;
    for (int i = 0; i < ns && !failed; i++) {
        mc_err_t err;
        if (run_stage(&o, i, &st[i], &err) != 0) {
            fprintf(stderr, "mctl-bench-swarm: N=%d: %s\n", st[i].n, err.msg);
            print_log_tail(run.fleet.dir);
            stage_teardown();
            failed = 1;
        } else {
            last_done = i;
        }
    }
    print_table(&o, st, ns);
    if (last_done >= 0)
        print_projection(&o, &st[last_done]);
    return failed;
}
