/*  mctl-bench-jobcache - how fast the master's job cache stores returns,
    and how long `mctl jobs list` takes on a big history.

      store     100 minions' worth of returns (real return messages, as a
                minion packs them) go through jobcache_add_return and are
                committed the way the master's loop does it, one
                transaction per batch; prints returns stored per second
                for several batch sizes
      list      fills a cache with N jobs (default 100,000) of 100 minions,
                starts a real master on it, and times the whole
                `mctl jobs list` process over 20 runs (median, p90, max)

    mctl-bench-jobcache [--jobs 100000] [--returns 100000] */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fleet.h"
#include "jid.h"
#include "jobcache.h"
#include "log.h"
#include "proto/proto.h"

/* Fill with jobs of `minions` minions each, every one returned. */
static void fill(jobcache_t *c, int jobs, int minions, int batch, int64_t *last)
{
    char **ids = mc_calloc((size_t)minions, sizeof *ids);
    for (int i = 0; i < minions; i++)
        ids[i] = mc_sprintf("minion%03d", i);
    msgpack_sbuffer ret;
    msgpack_sbuffer_init(&ret);
    for (int j = 0; j < jobs; j++) {
        char jid[21];
        mc_jid_next(jid, mc_wall_us(), last, 0);
        jobcache_add_job(c, jid, "test.ping", "*", "glob", "bench", mc_wall_us(), 0, NULL, NULL,
                         (const char *const *)ids, NULL, (size_t)minions);
        for (int i = 0; i < minions; i++) {
            msgpack_sbuffer_clear(&ret);
            mc_ret_pack_error(&ret, jid, ids[i], "test.ping", 0, "True");
            jobcache_add_return(c, jid, ids[i], 0, true, ret.data, ret.size);
            if ((int)jobcache_pending(c) >= batch)
                jobcache_sync(c, 600000);
        }
    }
    jobcache_sync(c, 600000);
    msgpack_sbuffer_destroy(&ret);
    for (int i = 0; i < minions; i++)
        free(ids[i]);
    free(ids);
}

static void bench_store(const char *dir, int returns)
{
    printf("store: %d returns from 100 minions (%d jobs), committed per batch\n\n", returns,
           returns / 100);
    printf("%10s  %12s  %14s\n", "batch", "seconds", "returns/s");
    static const int batches[] = {1, 10, 100, 1000};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        int n = batches[b] == 1 ? returns / 20 : returns; /* one commit each is slow */
        char *path = mc_sprintf("%s/store-%d.db", dir, batches[b]);
        mc_err_t err;
        jobcache_t *c = jobcache_open(path, &err);
        if (!c) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        int64_t last = 0;
        double t0 = bench_now_ms();
        fill(c, n / 100, 100, batches[b], &last);
        double secs = (bench_now_ms() - t0) / 1e3;
        printf("%10d  %12.2f  %14.0f\n", batches[b], secs, n / secs);
        fflush(stdout);
        jobcache_close(&c);
        free(path);
    }
    printf("\n");
}

static pid_t spawn(char *const argv[], bool quiet)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (quiet && (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)))
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void bench_list(const char *dir, const char *bin, int jobs)
{
    char *cache = mc_sprintf("%s/cache", dir);
    mc_mkdir_p(cache, 0700, NULL);
    char *path = mc_sprintf("%s/jobs.db", cache);
    mc_err_t err;
    jobcache_t *c = jobcache_open(path, &err);
    if (!c) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    int64_t last = 0;
    double t0 = bench_now_ms();
    fill(c, jobs, 100, 5000, &last);
    jobcache_close(&c);
    printf("list: %d jobs of 100 minions each in the cache (filled in %.1f s)\n\n", jobs,
           (bench_now_ms() - t0) / 1e3);

    char *cfg = mc_sprintf("interface: 127.0.0.1\npublish_port: 39505\nret_port: 39506\n"
                           "auth_port: 39507\npki_dir: %s/pki\ncachedir: %s\nsock_dir: %s/run\n"
                           "pidfile: %s/master.pid\naudit_log: %s/audit.log\nlog_level: warning\n"
                           "keep_jobs: 0\n",
                           dir, cache, dir, dir, dir);
    char *etc = mc_sprintf("%s/etc", dir);
    mc_mkdir_p(etc, 0755, NULL);
    char *cfgpath = mc_sprintf("%s/master", etc);
    mc_write_file(cfgpath, cfg, strlen(cfg), 0644, &err);
    char *master = mc_sprintf("%s/mctl-master", bin), *mctl = mc_sprintf("%s/mctl", bin);
    char *margv[] = {master, "-c", etc, NULL};
    pid_t mpid = spawn(margv, true);
    char *sock = mc_sprintf("%s/run/master.ipc", dir);
    for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
        usleep(50000);

    static const struct {
        const char *label;
        char *args[8];
    } runs[] = {{"jobs list (50 newest)", {"jobs", "list", NULL}},
                {"jobs list --limit 1000", {"jobs", "list", "--limit", "1000", NULL}},
                {"jobs list --fun cmd.*", {"jobs", "list", "--fun", "cmd.*", NULL}}};
    printf("%-26s  %8s  %8s  %8s   (whole mctl process, ms)\n", "command", "median", "p90", "max");
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        double t[20];
        for (int i = 0; i < 20; i++) {
            char *argv[12] = {mctl, "-c", etc};
            int k = 3;
            for (int a = 0; runs[r].args[a]; a++)
                argv[k++] = runs[r].args[a];
            argv[k] = NULL;
            double s = bench_now_ms();
            pid_t p = spawn(argv, true);
            int status;
            waitpid(p, &status, 0);
            t[i] = bench_now_ms() - s;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fprintf(stderr, "mctl jobs list failed (status %d)\n", status);
        }
        double med, p90, max;
        bench_stats(t, 20, &med, &p90, &max);
        printf("%-26s  %8.1f  %8.1f  %8.1f\n", runs[r].label, med, p90, max);
    }
    kill(mpid, SIGTERM);
    waitpid(mpid, NULL, 0);
    free(cache);
    free(path);
    free(cfg);
    free(etc);
    free(cfgpath);
    free(master);
    free(mctl);
    free(sock);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"jobs", required_argument, NULL, 'j'},
                                         {"returns", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int jobs = 100000, returns = 100000, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            jobs = atoi(optarg);
            break;
        case 'r':
            returns = atoi(optarg);
            break;
        case 'h':
            printf("Usage: mctl-bench-jobcache [--jobs 100000] [--returns 100000]\n\n"
                   "Returns stored per second in the master's job cache, and the time of\n"
                   "mctl jobs list with that many jobs cached.\n");
            return 0;
        default:
            return 64;
        }
    }
    if (jobs < 1 || returns < 100) {
        fprintf(stderr, "mctl-bench-jobcache: --jobs >= 1 and --returns >= 100\n");
        return 64;
    }
    mc_log_open("mctl-bench-jobcache", MC_LOG_ERROR, NULL, NULL);
    char dir[] = "/tmp/mctl-bench-cache.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    bench_store(dir, returns);
    bench_list(dir, self, jobs);
    char *cmd = mc_sprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(cmd);
    return 0;
}
