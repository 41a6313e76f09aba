/*  mctl-bench-fanout - how long a job takes to reach M minions and come back.

    Starts a real master and M real minions on loopback (CURVE on, keys
    accepted), waits until all answer, then for test.ping and
    cmd.run uptime measures over R rounds after a warm-up:

      publish->last   from sending the publish request on the client socket
                      to the last minion's return arriving (what the master
                      and minions cost)
      mctl process    the whole `mctl '*' FUN` command, start to exit, with
                      every return printed (what a user waits)

    and prints median, p90 and max for each. Not part of the test suite.

    mctl-bench-fanout [--minions 1,10,100] [--rounds 20] [--workers 2] */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "wire.h"

typedef struct {
    char dir[64];
    char bin[512];
    int base_port;
    pid_t master;
    pid_t *minions;
    int count;
} fleet_t;

static pid_t spawn(char *const argv[], const char *log)
{
    fflush(stdout); /* or the child flushes our buffered table too */
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void write_text(const char *path, const char *text)
{
    mc_err_t err;
    if (mc_write_file(path, text, strlen(text), 0644, &err) != 0) {
        fprintf(stderr, "mctl-bench-fanout: %s\n", err.msg);
        exit(1);
    }
}

static void fleet_start(fleet_t *f, int count, int workers)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/mctl-bench.XXXXXX");
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    f->base_port = 30000 + (int)(getpid() % 2000) * 3;
    f->count = count;
    f->minions = mc_calloc((size_t)count, sizeof *f->minions);
    char *etc = mc_sprintf("%s/etc", f->dir);
    mc_mkdir_p(etc, 0755, NULL);
    char *cfg = mc_sprintf("interface: 127.0.0.1\npublish_port: %d\nret_port: %d\nauth_port: %d\n"
                           "pki_dir: %s/pki/master\ncachedir: %s/cache/master\n"
                           "sock_dir: %s/run\npidfile: %s/master.pid\nauto_accept: true\n"
                           "log_level: warning\n",
                           f->base_port, f->base_port + 1, f->base_port + 2, f->dir, f->dir, f->dir,
                           f->dir);
    char *path = mc_sprintf("%s/master", etc);
    write_text(path, cfg);
    free(cfg);
    free(path);
    char *exe = mc_sprintf("%s/mctl-master", f->bin);
    char *log = mc_sprintf("%s/master.log", f->dir);
    char *argv[] = {exe, "-c", etc, NULL};
    f->master = spawn(argv, log);
    free(log);
    char *sock = mc_sprintf("%s/run/master.ipc", f->dir);
    char *cert = mc_sprintf("%s/pki/master/master.cert", f->dir);
    for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
        usleep(50000);
    free(exe);
    exe = mc_sprintf("%s/mctl-minion", f->bin);
    for (int i = 0; i < count; i++) {
        char *mdir = mc_sprintf("%s/etc/b%04d", f->dir, i);
        mc_mkdir_p(mdir, 0755, NULL);
        char *mcfg =
            mc_sprintf("id: b%04d\nmaster: 127.0.0.1\nmaster_pubkey: %s\npublish_port: %d\n"
                       "ret_port: %d\nauth_port: %d\npki_dir: %s/pki/b%04d\n"
                       "cachedir: %s/cache/b%04d\npidfile: %s/b%04d.pid\nworkers: %d\n"
                       "log_level: warning\n",
                       i, cert, f->base_port, f->base_port + 1, f->base_port + 2, f->dir, i, f->dir,
                       i, f->dir, i, workers);
        char *mpath = mc_sprintf("%s/minion", mdir);
        write_text(mpath, mcfg);
        char *mlog = mc_sprintf("%s/b%04d.log", f->dir, i);
        char *margv[] = {exe, "-c", mdir, NULL};
        f->minions[i] = spawn(margv, mlog);
        free(mlog);
        free(mpath);
        free(mcfg);
        free(mdir);
    }
    free(exe);
    free(sock);
    free(cert);
    free(etc);
}

static void fleet_stop(fleet_t *f)
{
    for (int i = 0; i < f->count; i++)
        kill(f->minions[i], SIGTERM);
    kill(f->master, SIGTERM);
    for (int i = 0; i < f->count; i++)
        waitpid(f->minions[i], NULL, 0);
    waitpid(f->master, NULL, 0);
    char *cmd = mc_sprintf("rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "mctl-bench-fanout: could not remove %s\n", f->dir);
    free(cmd);
    free(f->minions);
}

/* Publish fun to '*' and wait for every return; returns how many came
   back, and the time from publish to the last one in *ms. */
static int round_trip(client_t *c, const char *fun, const char *arg, int expect, double *ms)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char *args[] = {(char *)arg};
    client_target_t all = {"*", "glob", 0};
    client_pack_publish(&sb, &all, fun, arg ? 1 : 0, args, 30, "bench");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mc_mp_doc_t reply;
    mc_err_t err;
    if (client_call(c, &sb, &reply, 10000, &err) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }
    msgpack_sbuffer_destroy(&sb);
    const msgpack_object *minions = mc_mp_get(&reply.root, "minions");
    int n = minions && minions->type == MSGPACK_OBJECT_ARRAY ? (int)minions->via.array.size : 0;
    mc_mp_doc_done(&reply);
    int got = 0;
    int64_t deadline = mc_mono_ms() + 35000;
    while (got < n && mc_mono_ms() < deadline) {
        char kind[16];
        zmtp_frame_t *body = NULL;
        if (client_next(c, kind, &body, (int)(deadline - mc_mono_ms())) <= 0)
            break;
        if (strcmp(kind, "ret") == 0)
            got++;
        zmtp_frame_free(&body);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    return n == expect ? got : -1;
}

static double run_mctl(const fleet_t *f, const char *fun, const char *arg)
{
    char *exe = mc_sprintf("%s/mctl", f->bin);
    char *etc = mc_sprintf("%s/etc", f->dir);
    char *argv[] = {exe, "-c", etc, "*", (char *)fun, (char *)arg, NULL};
    struct timespec t0, t1;
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execv(exe, argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(exe);
    free(etc);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(double *v, int n, double *median, double *p90, double *max)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    int i = (int)(0.9 * (n - 1) + 0.5);
    *p90 = v[i];
    *max = v[n - 1];
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"minions", required_argument, NULL, 'm'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    char counts_arg[256] = "1,10,100";
    int rounds = 20, workers = 2, c;
    while ((c = getopt_long(argc, argv, "m:r:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            snprintf(counts_arg, sizeof counts_arg, "%s", optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'w':
            workers = atoi(optarg);
            break;
        case 'h':
            printf("Usage: mctl-bench-fanout [--minions 1,10,100] [--rounds 20] [--workers 2]\n\n"
                   "Start a master and M minions on loopback and time test.ping and\n"
                   "cmd.run uptime to all of them: publish to last return, and the whole\n"
                   "mctl process. Prints median, p90 and max in milliseconds.\n");
            return 0;
        default:
            return 64;
        }
    }
    if (rounds < 1 || workers < 1) {
        fprintf(stderr, "mctl-bench-fanout: --rounds and --workers must be positive\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';

    printf("mctl fan-out, %d rounds after 3 warm-up rounds, %d workers per minion, times in ms\n\n",
           rounds, workers);
    printf("%8s  %-15s  %-15s  %8s  %8s  %8s\n", "minions", "function", "measure", "median", "p90",
           "max");
    for (char *tok = strtok(counts_arg, ","); tok; tok = strtok(NULL, ",")) {
        int m = atoi(tok);
        if (m < 1)
            continue;
        fleet_t f = {0};
        snprintf(f.bin, sizeof f.bin, "%s", self);
        fleet_start(&f, m, workers);
        char *etc = mc_sprintf("%s/etc", f.dir);
        client_t cl;
        mc_err_t err;
        if (client_open(&cl, etc, &err) != 0) {
            fprintf(stderr, "mctl-bench-fanout: %s\n", err.msg);
            fleet_stop(&f);
            return 1;
        }
        /* Wait until every minion answers. */
        double ms;
        int64_t ready_by = mc_mono_ms() + 120000;
        int got = 0;
        while ((got = round_trip(&cl, "test.ping", NULL, m, &ms)) != m && mc_mono_ms() < ready_by)
            usleep(200000);
        if (got != m) {
            fprintf(stderr, "mctl-bench-fanout: only %d of %d minions answered; logs in %s\n", got,
                    m, f.dir);
            client_close(&cl);
            return 1;
        }
        static const struct {
            const char *fun, *arg, *label;
        } funs[] = {{"test.ping", NULL, "test.ping"}, {"cmd.run", "uptime", "cmd.run uptime"}};
        for (size_t k = 0; k < 2; k++) {
            double *pub = mc_calloc((size_t)rounds, sizeof *pub);
            double *proc = mc_calloc((size_t)rounds, sizeof *proc);
            for (int r = 0; r < 3; r++)
                round_trip(&cl, funs[k].fun, funs[k].arg, m, &ms);
            int bad = 0;
            for (int r = 0; r < rounds; r++) {
                if (round_trip(&cl, funs[k].fun, funs[k].arg, m, &pub[r]) != m)
                    bad++;
                proc[r] = run_mctl(&f, funs[k].fun, funs[k].arg);
                if (proc[r] < 0)
                    bad++;
            }
            double med, p90, max;
            stats(pub, rounds, &med, &p90, &max);
            printf("%8d  %-15s  %-15s  %8.1f  %8.1f  %8.1f\n", m, funs[k].label, "publish->last",
                   med, p90, max);
            stats(proc, rounds, &med, &p90, &max);
            printf("%8d  %-15s  %-15s  %8.1f  %8.1f  %8.1f%s\n", m, funs[k].label, "mctl process",
                   med, p90, max, bad ? "  (some rounds incomplete)" : "");
            fflush(stdout);
            free(pub);
            free(proc);
        }
        client_close(&cl);
        free(etc);
        fleet_stop(&f);
    }
    return 0;
}
