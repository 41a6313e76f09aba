/*  mctl-bench-fanout - how long a job takes to reach M minions and come back.

    Starts a real master and M real minions on loopback (CURVE on, keys
    accepted), waits until all answer, then for test.ping and
    cmd.run uptime measures over R rounds after a warm-up:

      publish->last   from sending the publish request on the client socket
                      to the last minion's return arriving (what the master
                      and minions cost)
      mctl process    the whole `mctl '*' FUN` command, start to exit, with
                      every return printed (what a user waits)
      floor           ../shared/floor's publish-to-last-reply for the same
                      M and function, run right after, and mctl's figures
                      divided by it (speed is judged by that ratio)

    and prints median, p90 and max for each. Not part of the test suite.

    mctl-bench-fanout [--minions 1,10,100,500,1000] [--rounds 20] [--workers 2] */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"minions", required_argument, NULL, 'm'}, {"rounds", required_argument, NULL, 'r'},
        {"workers", required_argument, NULL, 'w'}, {"ping-only", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    char counts_arg[256] = "1,10,100,500,1000";
    int rounds = 20, workers = 2, c;
    bool ping_only = false;
    while ((c = getopt_long(argc, argv, "m:r:w:ph", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            snprintf(counts_arg, sizeof counts_arg, "%s", optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'p':
            ping_only = true;
            break;
        case 'w':
            workers = atoi(optarg);
            break;
        case 'h':
            printf("Usage: mctl-bench-fanout [--minions 1,10,100,500,1000] [--rounds 20] "
                   "[--workers 2]\n"
                   "                         [--ping-only]\n\n"
                   "Start a master and M minions on loopback and time test.ping and\n"
                   "cmd.run uptime (not with --ping-only) to all of them: publish to last\n"
                   "return, and the whole mctl process. Prints median, p90 and max in\n"
                   "milliseconds, and beside them the floor (a bare program of mctl's\n"
                   "shape: mctl-floor next to this program, or $MCTL_FLOOR) timed in the\n"
                   "same run, with mctl's figures divided by it.\n");
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
    bench_raise_fd_limit();
    printf("mctl fan-out, %d rounds after 3 warm-up rounds, %d workers per minion, times in ms\n\n",
           rounds, workers);
    bench_header();
    for (char *tok = strtok(counts_arg, ","); tok; tok = strtok(NULL, ",")) {
        int m = atoi(tok);
        if (m < 1)
            continue;
        fleet_t f;
        double t0 = bench_now_ms();
        fleet_start(&f, "bench-fanout", m, workers);
        if (!fleet_wait_ready(&f, 60000 + m * 100)) {
            fprintf(stderr, "mctl-bench-fanout: not all %d minions answered; logs in %s\n", m,
                    f.dir);
            return 1;
        }
        printf("%8d  (all connected and answering %.1f s after start)\n", m,
               (bench_now_ms() - t0) / 1000);
        char floor_bin[600];
        bool have_floor = bench_floor_path(&f, floor_bin, sizeof floor_bin);
        /* One minion is named, as a user would (mctl m1 test.ping). */
        const char *tgt = m == 1 ? "b0000" : "*";
        static const struct {
            const char *fun, *arg, *label;
        } funs[] = {{"test.ping", NULL, "test.ping"}, {"cmd.run", "uptime", "cmd.run uptime"}};
        for (size_t k = 0; k < 2; k++) {
            if (ping_only && k > 0)
                break;
            double *pub = mc_calloc((size_t)rounds, sizeof *pub);
            double *proc = mc_calloc((size_t)rounds, sizeof *proc);
            double ms;
            for (int r = 0; r < 3; r++)
                fleet_round_trip(&f, tgt, funs[k].fun, funs[k].arg, m, 60000, &ms);
            char *exe = mc_sprintf("%s/mctl", f.bin);
            char *mctl[] = {exe, "-c", f.etc, (char *)tgt, (char *)funs[k].fun, (char *)funs[k].arg,
                            NULL};
            int bad = 0;
            for (int r = 0; r < rounds; r++) {
                if (fleet_round_trip(&f, tgt, funs[k].fun, funs[k].arg, m, 60000, &pub[r]) != m)
                    bad++;
                proc[r] = bench_run_ms(mctl);
                if (proc[r] < 0)
                    bad++;
            }
            const char *note = bad ? "(some rounds incomplete)" : "";
            double pub_med, proc_med, p90, max;
            bench_row(funs[k].label, "publish->last", m, pub, rounds, note);
            bench_stats(pub, rounds, &pub_med, &p90, &max);
            bench_row(funs[k].label, "mctl process", m, proc, rounds, note);
            bench_stats(proc, rounds, &proc_med, &p90, &max);
            if (have_floor) {
                double floor_ms = bench_floor_ms(floor_bin, m, rounds, k == 1, f.base_port + 50);
                if (floor_ms > 0)
                    printf("%8d  %-15s  %-15s  %9.1f   ratio: mctl process %.2fx, "
                           "publish->last %.2fx\n",
                           m, funs[k].label, "floor", floor_ms, proc_med / floor_ms,
                           pub_med / floor_ms);
                else
                    printf("%8d  %-15s  %-15s  (the floor did not run)\n", m, funs[k].label,
                           "floor");
                fflush(stdout);
            }
            free(exe);
            free(pub);
            free(proc);
        }
        fleet_stop(&f);
    }
    return 0;
}
