/*  mctl-bench-compare - the same `uptime` fan-out through mctl, and over
    SSH through `pdsh -R ssh` and `clush`, side by side in one run.

    For each host count N it starts N minions, and one sshd on loopback
    that N host names (h1 .. hN) all lead to, logging in as a plain user
    whose shell is /bin/sh (no heavy start-up files to flatter mctl). Each
    round runs the three commands one after the other, so that they see the
    same machine; prints median, p90 and max of the whole command, and how
    many times faster mctl was (ratio of the medians).

    Needs root (it starts sshd and adds the user `mctlbench`) and Debian's
    openssh-server, pdsh and clustershell; a missing SSH tool is skipped.

    mctl-bench-compare [--hosts 1,10,50] [--rounds 10] [--workers 2] */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"

#define SSH_USER "mctlbench"

static bool have(const char *path)
{
    return access(path, X_OK) == 0;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    if (vasprintf(&cmd, fmt, ap) < 0)
        cmd = NULL;
    va_end(ap);
    int rc = cmd ? system(cmd) : -1;
    free(cmd);
    return rc;
}

/* An sshd on 127.0.0.1:port with its own host key, accepting key logins
   for SSH_USER, and an ssh_config naming hosts h* to it. */
static int start_sshd(const char *dir, int port)
{
    /* A new account is locked ("!"), which sshd refuses without PAM; "*"
       allows key logins and no password. */
    if (sh("{ id -u " SSH_USER " >/dev/null 2>&1 || useradd -m -s /bin/sh " SSH_USER
           "; } && usermod -p '*' " SSH_USER) != 0)
        return -1;
    if (sh("mkdir -p /run/sshd && ssh-keygen -q -t ed25519 -N '' -f %s/hostkey && "
           "ssh-keygen -q -t ed25519 -N '' -f %s/id && cp %s/id.pub %s/authorized_keys && "
           "chmod 644 %s/authorized_keys && chmod 755 %s",
           dir, dir, dir, dir, dir, dir) != 0)
        return -1;
    char *cfg = mc_sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s/hostkey\n"
                           "PidFile %s/sshd.pid\nAuthorizedKeysFile %s/authorized_keys\n"
                           "StrictModes no\nUsePAM no\nUseDNS no\nPasswordAuthentication no\n"
                           "KbdInteractiveAuthentication no\nMaxStartups 500\nMaxSessions 500\n"
                           "PrintMotd no\nAllowUsers " SSH_USER "\n",
                           port, dir, dir, dir);
    char *path = mc_sprintf("%s/sshd_config", dir);
    mc_err_t err;
    int rc = mc_write_file(path, cfg, strlen(cfg), 0644, &err);
    free(cfg);
    free(path);
    cfg = mc_sprintf("Host h*\n  HostName 127.0.0.1\n  Port %d\n  User " SSH_USER "\n"
                     "  IdentityFile %s/id\n  StrictHostKeyChecking no\n"
                     "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
                     port, dir);
    path = mc_sprintf("%s/ssh_config", dir);
    rc |= mc_write_file(path, cfg, strlen(cfg), 0644, &err);
    free(cfg);
    free(path);
    if (rc != 0)
        return -1;
    return sh("/usr/sbin/sshd -f %s/sshd_config -E %s/sshd.log", dir, dir);
}

static void stop_sshd(const char *dir)
{
    sh("[ -f %s/sshd.pid ] && kill $(cat %s/sshd.pid) 2>/dev/null; rm -rf %s", dir, dir, dir);
}

static void report(const char *tool, int hosts, double *v, int n, double mctl_median)
{
    double med, p90, max;
    bench_stats(v, n, &med, &p90, &max);
    char ratio[32] = "";
    if (mctl_median > 0)
        snprintf(ratio, sizeof ratio, "%8.1fx", med / mctl_median);
    printf("%6d  %-14s  %9.1f  %9.1f  %9.1f  %9s\n", hosts, tool, med, p90, max, ratio);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"hosts", required_argument, NULL, 'n'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    char hosts_arg[256] = "1,10,50";
    int rounds = 10, workers = 2, c;
    while ((c = getopt_long(argc, argv, "n:r:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            snprintf(hosts_arg, sizeof hosts_arg, "%s", optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'w':
            workers = atoi(optarg);
            break;
        case 'h':
            printf("Usage: mctl-bench-compare [--hosts 1,10,50] [--rounds 10] [--workers 2]\n\n"
                   "Run uptime on N hosts through mctl, pdsh -R ssh and clush, side by\n"
                   "side, and print the times (ms) and how many times faster mctl was.\n"
                   "Needs root, openssh-server, pdsh and clustershell.\n");
            return 0;
        default:
            return 64;
        }
    }
    if (rounds < 1 || workers < 1) {
        fprintf(stderr, "mctl-bench-compare: --rounds and --workers must be positive\n");
        return 64;
    }
    if (geteuid() != 0 || !have("/usr/sbin/sshd")) {
        printf("mctl-bench-compare: skipped: needs root and openssh-server "
               "(apt-get install openssh-server pdsh clustershell)\n");
        return 0;
    }
    bool pdsh = have("/usr/bin/pdsh"), clush = have("/usr/bin/clush");
    if (!pdsh && !clush) {
        printf("mctl-bench-compare: skipped: neither pdsh nor clush is installed\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_raise_fd_limit();
    char ssh_dir[] = "/tmp/mctl-bench-ssh.XXXXXX";
    if (!mkdtemp(ssh_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int ssh_port = 40000 + (int)(getpid() % 5000);
    if (start_sshd(ssh_dir, ssh_port) != 0) {
        fprintf(stderr, "mctl-bench-compare: cannot start sshd; see %s\n", ssh_dir);
        return 1;
    }
    printf("uptime on N hosts, %d rounds after one warm-up, whole command in ms\n"
           "(SSH: one sshd on loopback, user " SSH_USER " with /bin/sh, ed25519 key)\n\n",
           rounds);
    printf("%6s  %-14s  %9s  %9s  %9s  %9s\n", "hosts", "tool", "median", "p90", "max", "vs mctl");
    for (char *tok = strtok(hosts_arg, ","); tok; tok = strtok(NULL, ",")) {
        int n = atoi(tok);
        if (n < 1)
            continue;
        fleet_t f;
        fleet_start(&f, "bench-compare", n, workers);
        if (!fleet_wait_ready(&f, 60000 + n * 100)) {
            fprintf(stderr, "mctl-bench-compare: not all minions answered; logs in %s\n", f.dir);
            fleet_stop(&f);
            stop_sshd(ssh_dir);
            return 1;
        }
        char *mctl = mc_sprintf("%s/mctl", f.bin);
        char *fanout = mc_sprintf("%d", n);
        char *hosts = mc_sprintf("h[1-%d]", n);
        char *ssh_opt = mc_sprintf("-F %s/ssh_config", ssh_dir);
        char *mctl_argv[] = {mctl, "-c", f.etc, "*", "cmd.run", "uptime", NULL};
        char *pdsh_argv[] = {"/usr/bin/pdsh", "-R",     "ssh", "-f", fanout, "-w",
                             hosts,           "uptime", NULL};
        char *clush_argv[] = {"/usr/bin/clush", "-f", fanout, "-o", ssh_opt, "-w", hosts,
                              "uptime",         NULL};
        setenv("PDSH_SSH_ARGS_APPEND", ssh_opt, 1);
        double *tm = mc_calloc((size_t)rounds, sizeof *tm);
        double *tp = mc_calloc((size_t)rounds, sizeof *tp);
        double *tc = mc_calloc((size_t)rounds, sizeof *tc);
        int bad = 0;
        for (int r = -1; r < rounds; r++) { /* round -1 warms up */
            double m = bench_run_ms(mctl_argv);
            double p = pdsh ? bench_run_ms(pdsh_argv) : 0;
            double k = clush ? bench_run_ms(clush_argv) : 0;
            bad += m < 0 || p < 0 || k < 0;
            if (r >= 0) {
                tm[r] = m;
                tp[r] = p;
                tc[r] = k;
            }
        }
        double med, p90, max;
        bench_stats(tm, rounds, &med, &p90, &max);
        report("mctl", n, tm, rounds, 0);
        if (pdsh)
            report("pdsh -R ssh", n, tp, rounds, med);
        if (clush)
            report("clush", n, tc, rounds, med);
        if (bad)
            printf("        (%d rounds had a command fail; see the logs)\n", bad);
        free(tm);
        free(tp);
        free(tc);
        free(mctl);
        free(fanout);
        free(hosts);
        free(ssh_opt);
        fleet_stop(&f);
    }
    stop_sshd(ssh_dir);
    return 0;
}
