/*  fleet - see fleet.h. */
#include "fleet.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void bench_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static pid_t spawn(char *const argv[], const char *log)
{
    fflush(stdout); /* or the child flushes our buffered table too */
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "a", stderr) || !freopen("/dev/null", "w", stdout))
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
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
}

void fleet_start_master(fleet_t *f)
{
    char *exe = mc_sprintf("%s/mctl-master", f->bin);
    char *log = mc_sprintf("%s/master.log", f->dir);
    char *argv[] = {exe, "-c", f->etc, NULL};
    f->master = spawn(argv, log);
    free(log);
    free(exe);
    char *sock = mc_sprintf("%s/run/master.ipc", f->dir);
    mc_err_t err;
    int rc = -1;
    for (int i = 0; i < 400 && rc != 0; i++) {
        if (access(sock, F_OK) == 0 && (rc = client_open(&f->client, f->etc, &err)) == 0)
            break;
        usleep(25000);
    }
    free(sock);
    if (rc == 0) {
        /* The socket is there: the master must also answer. */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        client_target_t all = {"*", "glob", 0};
        mc_request_list_targets_pack(&sb, &all);
        client_frame_t *answer = NULL;
        rc = client_ask(&f->client, &sb, &answer, 10000, &err);
        msgpack_sbuffer_destroy(&sb);
        client_frame_free(&answer);
        if (rc != 0)
            fprintf(stderr, "bench: %s\n", err.msg);
    }
    if (rc != 0) {
        fprintf(stderr, "bench: the master did not start; its log is %s/master.log\n", f->dir);
        exit(1);
    }
}

void fleet_stop_master(fleet_t *f)
{
    client_close(&f->client);
    kill(f->master, SIGTERM);
    waitpid(f->master, NULL, 0);
    f->master = 0;
}

void fleet_start(fleet_t *f, const char *name, int count, int workers)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mctl-%s.XXXXXX", name);
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(f->bin, sizeof f->bin, "%s", self);
    snprintf(f->etc, sizeof f->etc, "%s/etc", f->dir);
    f->base_port = 20000 + (int)(getpid() % 3000) * 3;
    f->workers = workers;
    mc_mkdir_p(f->etc, 0755, NULL);
    char *cfg = mc_sprintf("interface: 127.0.0.1\npublish_port: %d\nret_port: %d\nauth_port: %d\n"
                           "pki_dir: %s/pki/master\ncachedir: %s/cache/master\n"
                           "sock_dir: %s/run\npidfile: %s/master.pid\nauto_accept: true\n"
                           "audit_log: %s/audit.log\nlog_level: warning\n",
                           f->base_port, f->base_port + 1, f->base_port + 2, f->dir, f->dir, f->dir,
                           f->dir, f->dir);
    char *path = mc_sprintf("%s/master", f->etc);
    write_text(path, cfg);
    free(cfg);
    free(path);
    fleet_start_master(f);
    fleet_grow(f, count);
}

void fleet_grow(fleet_t *f, int count)
{
    if (count <= f->count)
        return;
    f->minions = mc_realloc(f->minions, (size_t)count * sizeof *f->minions);
    char *exe = mc_sprintf("%s/mctl-minion", f->bin);
    char *cert = mc_sprintf("%s/pki/master/master.cert", f->dir);
    for (int i = f->count; i < count; i++) {
        char *mdir = mc_sprintf("%s/b%04d", f->etc, i);
        mc_mkdir_p(mdir, 0755, NULL);
        char *mcfg = mc_sprintf("id: b%04d\nmaster: 127.0.0.1\nmaster_pubkey: %s\n"
                                "publish_port: %d\nret_port: %d\nauth_port: %d\n"
                                "pki_dir: %s/pki/b%04d\ncachedir: %s/cache/b%04d\n"
                                "pidfile: %s/b%04d.pid\nworkers: %d\nlog_level: warning\n",
                                i, cert, f->base_port, f->base_port + 1, f->base_port + 2, f->dir,
                                i, f->dir, i, f->dir, i, f->workers);
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
    f->count = count;
    free(exe);
    free(cert);
}

bool fleet_wait_ready(fleet_t *f, int timeout_ms)
{
    double deadline = bench_now_ms() + timeout_ms;
    double ms;
    while (bench_now_ms() < deadline) {
        if (fleet_round_trip(f, "*", "test.ping", NULL, f->count, 2000, &ms) == f->count)
            return true;
        usleep(200000);
    }
    return false;
}

void fleet_stop(fleet_t *f)
{
    client_close(&f->client);
    for (int i = 0; i < f->count; i++)
        kill(f->minions[i], SIGTERM);
    if (f->master)
        kill(f->master, SIGTERM);
    for (int i = 0; i < f->count; i++)
        waitpid(f->minions[i], NULL, 0);
    if (f->master)
        waitpid(f->master, NULL, 0);
    char *cmd = mc_sprintf("rm -rf %s", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", f->dir);
    free(cmd);
    free(f->minions);
    f->minions = NULL;
}

int fleet_round_trip(fleet_t *f, const char *tgt, const char *fun, const char *arg, int expect,
                     int wait_ms, double *ms)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char *args[] = {(char *)arg};
    client_target_t target = {tgt, "glob", 0};
    client_pack_publish(&sb, &target, fun, arg ? 1 : 0, args, 30, "bench");
    double t0 = bench_now_ms();
    client_frame_t *answer;
    mc_reply_targets_t reply;
    mc_err_t err;
    int rc = client_ask(&f->client, &sb, &answer, 10000, &err);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return -1;
    rc = mc_reply_publish_decode(&reply, answer->data, answer->size, &err);
    client_frame_free(&answer);
    if (rc != 0)
        return -1;
    int n = (int)reply.minions.count;
    mc_reply_targets_done(&reply);
    int got = 0;
    double deadline = bench_now_ms() + wait_ms;
    while (got < n && bench_now_ms() < deadline) {
        char kind[16];
        client_frame_t *body = NULL;
        if (client_next(&f->client, kind, &body, (int)(deadline - bench_now_ms())) <= 0)
            break;
        if (strcmp(kind, "ret") == 0)
            got++;
        client_frame_free(&body);
    }
    *ms = bench_now_ms() - t0;
    return n == expect ? got : -1;
}

/* posix_spawn, as a shell would start it: a fork() of this process, with
   its fleet and its libzmq threads, would add the cost of copying this
   process's page tables to every figure. */
double bench_run_ms(char *const argv[])
{
    fflush(stdout);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    double t0 = bench_now_ms();
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status;
    waitpid(pid, &status, 0);
    double ms = bench_now_ms() - t0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void bench_stats(double *v, int n, double *median, double *p90, double *max)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *p90 = v[(int)(0.9 * (n - 1) + 0.5)];
    *max = v[n - 1];
}

void bench_header(void)
{
    printf("%8s  %-15s  %-15s  %9s  %9s  %9s\n", "minions", "function", "measure", "median", "p90",
           "max");
}

void bench_row(const char *label, const char *measure, int m, double *v, int n, const char *note)
{
    double med, p90, max;
    bench_stats(v, n, &med, &p90, &max);
    printf("%8d  %-15s  %-15s  %9.1f  %9.1f  %9.1f%s%s\n", m, label, measure, med, p90, max,
           note && *note ? "  " : "", note ? note : "");
    fflush(stdout);
}

static long status_field_kib(pid_t pid, const char *file, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    char line[256];
    long kib = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            kib = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(fp);
    return kib;
}

long bench_pss_kib(pid_t pid)
{
    return status_field_kib(pid, "smaps_rollup", "Pss");
}

long bench_rss_kib(pid_t pid)
{
    return status_field_kib(pid, "status", "VmRSS");
}

long bench_tree_pss_kib(pid_t pid)
{
    long sum = bench_pss_kib(pid);
    if (sum < 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return sum;
    int child;
    while (fscanf(fp, "%d", &child) == 1) {
        long k = bench_tree_pss_kib(child);
        if (k > 0)
            sum += k;
    }
    fclose(fp);
    return sum;
}

long long bench_cpu_ticks(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut, &st) != 2)
        return 0;
    long long sum = ut + st;
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    if ((fp = fopen(path, "r"))) {
        int child;
        while (fscanf(fp, "%d", &child) == 1)
            sum += bench_cpu_ticks(child);
        fclose(fp);
    }
    return sum;
}

bool bench_floor_path(const fleet_t *f, char *out, size_t cap)
{
    const char *env = getenv("MCTL_FLOOR");
    if (env && *env)
        snprintf(out, cap, "%s", env);
    else
        snprintf(out, cap, "%s/mctl-floor", f->bin);
    return access(out, X_OK) == 0;
}

double bench_floor_ms(const char *floor_bin, int m, int rounds, bool uptime, int port)
{
    char *cmd = mc_sprintf("FLOOR_PORT=%d '%s' %d 1 %d %d 1 2>&1", port, floor_bin, m, rounds,
                           uptime ? 1 : 0);
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p)
        return -1;
    char line[512];
    double median = -1;
    while (fgets(line, sizeof line, p)) {
        const char *at = strstr(line, "median=");
        if (at)
            median = strtod(at + 7, NULL);
    }
    return pclose(p) == 0 ? median : -1;
}

long bench_floor_peak_rss_kib(const char *floor_bin, int m, int rounds, int port)
{
    char ms[16], rs[16], env_port[32];
    snprintf(ms, sizeof ms, "%d", m);
    snprintf(rs, sizeof rs, "%d", rounds);
    snprintf(env_port, sizeof env_port, "FLOOR_PORT=%d", port);
    char *argv[] = {(char *)floor_bin, ms, "1", rs, "0", "1", NULL};
    char *envp[] = {env_port, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, floor_bin, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    /* VmHWM only grows: its last reading before the exit is the peak. */
    long peak = -1;
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        long hwm = status_field_kib(pid, "status", "VmHWM");
        if (hwm > peak)
            peak = hwm;
        usleep(100000);
    }
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? peak : -1;
}
