/*  mctl-bench-api - how fast mctl-api answers, with a big history and many
    live clients.

    Starts a real master and M minions (default 10), fills the master's job
    cache with N jobs (default 100,000, of 10 minions each, every one
    returned) and one job of B minions (default 1,000) with a return from
    each, then starts mctl-api on loopback (plain HTTP; logins through a
    PAM service of this run that lets root in, /etc/pam.d/mctl-bench-api-PID,
    removed at the end: run it as root) and measures with curl:

      GET /jobs          the 50 newest jobs (time to first byte, as the
                         server answers it; median, p90, max of 20)
      GET /jobs/JID      the B-minion job as JSON, and GET /job/JID its
                         console page
      events             C clients (default 200) on GET /events while jobs
                         flow at R a second (default 10) for S seconds
                         (default 10), each to all M minions: every client
                         must get every job and every return

    Targets (the issue's): /jobs <= 20 ms, the big job <= 100 ms, every
    event delivered.

    mctl-bench-api [--jobs 100000] [--big 1000] [--clients 200] [--rate 10]
                   [--seconds 10] [--minions 10] */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fleet.h"
#include "jid.h"
#include "jobcache.h"
#include "log.h"
#include "proto/proto.h"

static char pam_path[128];

static void remove_pam(void)
{
    if (pam_path[0])
        unlink(pam_path);
}

static void on_signal(int sig)
{
    remove_pam();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Jobs of `minions` minions each, every one returned (with some output). */
static void fill(jobcache_t *c, const char *prefix, int jobs, int minions, int64_t *last,
                 char *jid_out)
{
    char **ids = mc_calloc((size_t)minions, sizeof *ids);
    for (int i = 0; i < minions; i++)
        ids[i] = mc_sprintf("%s%04d", prefix, i);
    msgpack_sbuffer ret;
    msgpack_sbuffer_init(&ret);
    static const char out[] = " 12:00:00 up 42 days,  3:14,  2 users,  load average: 0.08, 0.03";
    for (int j = 0; j < jobs; j++) {
        char jid[MC_JID_LEN + 1];
        mc_jid_next(jid, mc_wall_us(), last, 0);
        jobcache_add_job(c, jid, "cmd.run", "*", "glob", "root", mc_wall_us(), 0, NULL, NULL,
                         (const char *const *)ids, NULL, (size_t)minions);
        for (int i = 0; i < minions; i++) {
            msgpack_sbuffer_clear(&ret);
            mc_ret_spec_t spec = {.jid = jid,
                                  .id = ids[i],
                                  .fun = "cmd.run",
                                  .success = true,
                                  .value = "\xa0",
                                  .value_len = 1,
                                  .out = out,
                                  .out_len = sizeof out - 1,
                                  .started = mc_wall_us(),
                                  .duration_ms = 3};
            mc_ret_pack(&ret, &spec);
            jobcache_add_return(c, jid, ids[i], 0, true, ret.data, ret.size);
            if (jobcache_pending(c) >= 5000)
                jobcache_sync(c, 600000);
        }
        if (jid_out)
            memcpy(jid_out, jid, sizeof jid);
    }
    jobcache_sync(c, 600000);
    msgpack_sbuffer_destroy(&ret);
    for (int i = 0; i < minions; i++)
        free(ids[i]);
    free(ids);
}

static pid_t spawn(char *const argv[], const char *out)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out ? out : "/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* The output of a command, up to cap bytes. */
static int capture(char *const argv[], char *buf, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        if (!freopen("/dev/null", "w", stderr))
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fds[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Time to first byte of GET url, 20 times: median, p90, max in ms. */
static void time_get(const char *label, const char *url, const char *token)
{
    char header[128];
    snprintf(header, sizeof header, "X-Auth-Token: %s", token);
    double t[20];
    long bytes = 0;
    for (int i = 0; i < 20; i++) {
        char *argv[] = {"curl",      "-s",   "-o",
                        "/dev/null", "-w",   "%{http_code} %{time_starttransfer} %{size_download}",
                        "-H",        header, (char *)url,
                        NULL};
        char out[128];
        int code = 0;
        double secs = -1;
        if (capture(argv, out, sizeof out) != 0 ||
            sscanf(out, "%d %lf %ld", &code, &secs, &bytes) != 3 || code != 200) {
            fprintf(stderr, "mctl-bench-api: GET %s failed (%s)\n", url, out);
            exit(1);
        }
        t[i] = secs * 1000;
    }
    double med, p90, max;
    bench_stats(t, 20, &med, &p90, &max);
    printf("%-34s %8.1f %8.1f %8.1f %10ld\n", label, med, p90, max, bytes);
}

static long count_lines(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    long n = 0;
    size_t len = strlen(prefix);
    while (fgets(line, sizeof line, f))
        n += strncmp(line, prefix, len) == 0;
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"jobs", required_argument, NULL, 'j'},    {"big", required_argument, NULL, 'b'},
        {"clients", required_argument, NULL, 'c'}, {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'}, {"minions", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int jobs = 100000, big = 1000, clients = 200, rate = 10, seconds = 10, minions = 10, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            jobs = atoi(optarg);
            break;
        case 'b':
            big = atoi(optarg);
            break;
        case 'c':
            clients = atoi(optarg);
            break;
        case 'r':
            rate = atoi(optarg);
            break;
        case 's':
            seconds = atoi(optarg);
            break;
        case 'm':
            minions = atoi(optarg);
            break;
        case 'h':
            printf("Usage: mctl-bench-api [--jobs 100000] [--big 1000] [--clients 200] "
                   "[--rate 10]\n                      [--seconds 10] [--minions 10]\n\n"
                   "mctl-api's answer times with a big history, and event delivery to many\n"
                   "clients. Run as root (a PAM service of its own lets root log in).\n");
            return 0;
        default:
            return 64;
        }
    }
    if (jobs < 1 || big < 1 || clients < 1 || rate < 1 || seconds < 1 || minions < 1) {
        fprintf(stderr, "mctl-bench-api: every number must be at least 1\n");
        return 64;
    }
    if (getuid() != 0) {
        fprintf(stderr, "mctl-bench-api: run as root (it logs in as root through PAM)\n");
        return 77;
    }
    mc_log_open("mctl-bench-api", MC_LOG_ERROR, NULL, NULL);
    bench_raise_fd_limit();
    snprintf(pam_path, sizeof pam_path, "/etc/pam.d/mctl-bench-api-%d", (int)getpid());
    atexit(remove_pam);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    mc_err_t err;
    static const char pam[] = "# mctl-bench-api: lets anyone in, for one benchmark run\n"
                              "auth sufficient pam_permit.so\naccount sufficient pam_permit.so\n";
    if (mc_write_file(pam_path, pam, sizeof pam - 1, 0644, &err) != 0) {
        fprintf(stderr, "mctl-bench-api: %s\n", err.msg);
        return 1;
    }

    fleet_t f;
    fleet_start(&f, "api", minions, 2);
    if (!fleet_wait_ready(&f, 60000)) {
        fprintf(stderr, "mctl-bench-api: the minions did not all answer\n");
        fleet_stop(&f);
        return 1;
    }
    fleet_stop_master(&f);
    char *db = mc_sprintf("%s/cache/master/jobs.db", f.dir);
    jobcache_t *cache = jobcache_open(db, &err);
    if (!cache) {
        fprintf(stderr, "mctl-bench-api: %s\n", err.msg);
        fleet_stop(&f);
        return 1;
    }
    int64_t last = 0;
    double t0 = bench_now_ms();
    char big_jid[MC_JID_LEN + 1];
    fill(cache, "h", jobs, 10, &last, NULL);
    fill(cache, "big", 1, big, &last, big_jid);
    jobcache_close(&cache);
    printf("history: %d jobs of 10 minions and one of %d (%s), filled in %.1f s\n", jobs, big,
           big_jid, (bench_now_ms() - t0) / 1e3);

    int port = f.base_port + 10;
    char *api_cfg = mc_sprintf("api_host: 127.0.0.1\napi_port: %d\napi_disable_ssl: true\n"
                               "api_pam_service: %s\napi_log_file: %s/api.log\n"
                               "api_max_clients: 1000\n",
                               port, strrchr(pam_path, '/') + 1, f.dir);
    char *cfg_path = mc_sprintf("%s/master", f.etc);
    FILE *cf = fopen(cfg_path, "a");
    fputs(api_cfg, cf);
    fclose(cf);
    fleet_start_master(&f);
    if (!fleet_wait_ready(&f, 60000)) {
        fprintf(stderr, "mctl-bench-api: the minions did not come back\n");
        fleet_stop(&f);
        return 1;
    }
    char *api_bin = mc_sprintf("%s/mctl-api", f.bin), *pidfile = mc_sprintf("%s/api.pid", f.dir);
    char *api_argv[] = {api_bin, "-c", f.etc, "--pidfile", pidfile, NULL};
    pid_t api = spawn(api_argv, NULL);
    char *url = mc_sprintf("http://127.0.0.1:%d", port);
    char *login_url = mc_sprintf("%s/login", url);
    char out[4096], token[65] = "";
    for (int i = 0; i < 100 && !token[0]; i++) {
        char *largv[] = {"curl",    "-s",
                         "-H",      "Content-Type: application/json",
                         "-d",      "{\"username\":\"root\",\"password\":\"-\"}",
                         login_url, NULL};
        char *p;
        if (capture(largv, out, sizeof out) == 0 && (p = strstr(out, "\"token\":\"")))
            snprintf(token, sizeof token, "%.64s", p + 9);
        else
            usleep(100000);
    }
    if (strlen(token) != 64) {
        fprintf(stderr, "mctl-bench-api: could not log in to mctl-api: %s\n", out);
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
        fleet_stop(&f);
        return 1;
    }

    printf("\n%-34s %8s %8s %8s %10s   (ms to first byte; target)\n", "request", "median", "p90",
           "max", "bytes");
    char *u1 = mc_sprintf("%s/jobs", url), *u2 = mc_sprintf("%s/jobs/%s", url, big_jid),
         *u3 = mc_sprintf("%s/job/%s", url, big_jid);
    time_get("GET /jobs (50 newest)  <= 20", u1, token);
    char *l2 = mc_sprintf("GET /jobs/JID (%d)  <= 100", big);
    char *l3 = mc_sprintf("GET /job/JID page (%d)  <= 100", big);
    time_get(l2, u2, token);
    time_get(l3, u3, token);

    /* Event streams. */
    char header[128];
    snprintf(header, sizeof header, "X-Auth-Token: %s", token);
    char *ev_url = mc_sprintf("%s/events", url);
    pid_t *readers = mc_calloc((size_t)clients, sizeof *readers);
    char **files = mc_calloc((size_t)clients, sizeof *files);
    for (int i = 0; i < clients; i++) {
        files[i] = mc_sprintf("%s/events-%d.txt", f.dir, i);
        char *eargv[] = {"curl", "-sN", "-H", header, ev_url, NULL};
        readers[i] = spawn(eargv, files[i]);
    }
    int connected = 0;
    for (int w = 0; w < 300 && connected < clients; w++) {
        connected = 0;
        for (int i = 0; i < clients; i++)
            connected += count_lines(files[i], ": connected") > 0;
        if (connected < clients)
            usleep(100000);
    }
    long long cpu0 = bench_cpu_ticks(api);
    int sent = 0, returned = 0;
    double start = bench_now_ms();
    for (int k = 0; k < rate * seconds; k++) {
        double due = start + k * 1000.0 / rate;
        while (bench_now_ms() < due)
            usleep(1000);
        double ms;
        int got = fleet_round_trip(&f, "*", "test.ping", NULL, minions, 5000, &ms);
        sent++;
        returned += got > 0 ? got : 0;
    }
    double flow_s = (bench_now_ms() - start) / 1e3;
    long want_jobs = sent, want_rets = returned, complete = 0, min_events = -1;
    double deadline = bench_now_ms() + 30000;
    do {
        complete = 0;
        min_events = -1;
        for (int i = 0; i < clients; i++) {
            long j = count_lines(files[i], "event: job"), r = count_lines(files[i], "event: ret");
            complete += j >= want_jobs && r >= want_rets;
            if (min_events < 0 || j + r < min_events)
                min_events = j + r;
        }
        if (complete < clients)
            usleep(200000);
    } while (complete < clients && bench_now_ms() < deadline);
    long long cpu = bench_cpu_ticks(api) - cpu0;
    long resync = 0;
    for (int i = 0; i < clients; i++)
        resync += count_lines(files[i], "event: resync");
    printf("\nevents: %d clients connected of %d; %d jobs in %.1f s (%d returns), each client "
           "to get %ld events\n",
           connected, clients, sent, flow_s, returned, want_jobs + want_rets);
    printf("        clients that got every event: %ld of %d (fewest events: %ld; resyncs: %ld)"
           "%s\n",
           complete, clients, min_events, resync, complete == clients ? "" : "  <- LOST EVENTS");
    printf("        mctl-api: %.0f%% of a core while the events flowed, RSS %ld KiB\n",
           100.0 * (double)cpu / (double)sysconf(_SC_CLK_TCK) / flow_s, bench_rss_kib(api));

    for (int i = 0; i < clients; i++) {
        kill(readers[i], SIGTERM);
        waitpid(readers[i], NULL, 0);
        free(files[i]);
    }
    kill(api, SIGTERM);
    int status;
    waitpid(api, &status, 0);
    fleet_stop(&f);
    free(readers);
    free(files);
    free(db);
    free(api_cfg);
    free(cfg_path);
    free(api_bin);
    free(pidfile);
    free(url);
    free(login_url);
    free(u1);
    free(u2);
    free(u3);
    free(l2);
    free(l3);
    free(ev_url);
    return complete == clients ? 0 : 1;
}
