/*  mctl-bench-footprint - what mctl costs on every host and on the master.

      idle minion     PSS of one minion's main process and its workers,
                      summed, once it is connected and idle (after a ping,
                      so the workers have done some work)
      master          RSS and PSS of the master with M minions connected
                      (default 1000), fresh and again after R rounds of
                      test.ping to all (default 150): ZeroMQ keeps up to
                      two 16 KiB message queue chunks per direction of each
                      connection, and a queue touches them only as messages
                      pass, so a fresh fleet flatters the master; then the
                      CPU the idle fleet uses, and how long after a restart
                      of the master all M answer test.ping again
      floor           the peak RSS of ../shared/floor's master with the same
                      minions and rounds, run alone after the fleet stops,
                      and the master's RSS after the rounds divided by it;
                      then the same for the floor with a ZAP handler
                      (mctl-floor-zap, floor_zap.c), as mctl's master has
      binaries        the size of the stripped mctl, mctl-master and
                      mctl-minion

    mctl-bench-footprint [--minions 1000] [--workers 2] [--rounds 150] */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet.h"

static long stripped_size(const char *bin, const char *name)
{
    char *cmd = mc_sprintf("strip -o /tmp/mctl-strip.%d %s/%s", (int)getpid(), bin, name);
    int rc = system(cmd);
    free(cmd);
    char *tmp = mc_sprintf("/tmp/mctl-strip.%d", (int)getpid());
    struct stat st;
    long size = rc == 0 && stat(tmp, &st) == 0 ? (long)st.st_size : -1;
    unlink(tmp);
    free(tmp);
    return size;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"minions", required_argument, NULL, 'm'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"rounds", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int minions = 1000, workers = 2, rounds = 150, c;
    while ((c = getopt_long(argc, argv, "m:w:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            minions = atoi(optarg);
            break;
        case 'w':
            workers = atoi(optarg);
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'h':
            printf("Usage: mctl-bench-footprint [--minions 1000] [--workers 2] [--rounds 150]\n\n"
                   "Measure the memory of one idle minion (main process plus workers,\n"
                   "summed PSS), of the master with M minions connected (fresh, and after\n"
                   "R rounds of test.ping to all), the CPU the idle fleet uses, the time\n"
                   "a restarted master takes to hear from all, the peak RSS of the floor's\n"
                   "master (mctl-floor beside this program, or $MCTL_FLOOR) with the same\n"
                   "minions and rounds, and the size of the stripped binaries.\n");
            return 0;
        default:
            return 64;
        }
    }
    if (minions < 1 || workers < 1 || rounds < 0) {
        fprintf(stderr, "mctl-bench-footprint: --minions and --workers must be positive, "
                        "--rounds not negative\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_raise_fd_limit();
    long tick = sysconf(_SC_CLK_TCK);

    printf("mctl footprint, %d workers per minion\n\n", workers);
    printf("%-46s %12s\n", "measure", "value");
    fleet_t f;
    fleet_start(&f, "bench-footprint", 1, workers);
    if (!fleet_wait_ready(&f, 60000)) {
        fprintf(stderr, "mctl-bench-footprint: the minion did not answer; logs in %s\n", f.dir);
        return 1;
    }
    double ms;
    fleet_round_trip(&f, "*", "cmd.run", "true", 1, 10000, &ms);
    usleep(500000);
    long main_pss = bench_pss_kib(f.minions[0]);
    long tree_pss = bench_tree_pss_kib(f.minions[0]);
    printf("%-46s %9.2f MiB\n", "idle minion, main process PSS", main_pss / 1024.0);
    printf("%-46s %9.2f MiB\n", "idle minion, main + workers, summed PSS", tree_pss / 1024.0);
    printf("%-46s %9.2f MiB\n", "idle minion, main process RSS",
           bench_rss_kib(f.minions[0]) / 1024.0);

    double t0 = bench_now_ms();
    fleet_grow(&f, minions);
    if (!fleet_wait_ready(&f, 60000 + minions * 200)) {
        fprintf(stderr, "mctl-bench-footprint: not all %d minions answered; logs in %s\n", minions,
                f.dir);
        fleet_stop(&f);
        return 1;
    }
    printf("%-46s %9.1f s\n", "fleet connected and answering after", (bench_now_ms() - t0) / 1000);
    usleep(2000000);
    char label[80];
    snprintf(label, sizeof label, "master, %d minions connected, RSS", minions);
    printf("%-46s %9.2f MiB\n", label, bench_rss_kib(f.master) / 1024.0);
    snprintf(label, sizeof label, "master, %d minions connected, PSS", minions);
    printf("%-46s %9.2f MiB\n", label, bench_pss_kib(f.master) / 1024.0);
    long master_kib = -1;
    if (rounds > 0) {
        for (int r = 0; r < rounds; r++)
            if (fleet_round_trip(&f, "*", "test.ping", NULL, minions, 30000, &ms) != minions)
                fprintf(stderr, "mctl-bench-footprint: round %d: not all %d minions answered\n",
                        r + 1, minions);
        usleep(2000000);
        master_kib = bench_rss_kib(f.master);
        snprintf(label, sizeof label, "master, after %d rounds of test.ping, RSS", rounds);
        printf("%-46s %9.2f MiB\n", label, master_kib / 1024.0);
        snprintf(label, sizeof label, "master, after %d rounds of test.ping, PSS", rounds);
        printf("%-46s %9.2f MiB\n", label, bench_pss_kib(f.master) / 1024.0);
    }

    /* What the idle fleet costs: CPU over 10 s with nothing to do. */
    long long before = bench_cpu_ticks(f.master);
    for (int i = 0; i < f.count; i++)
        before += bench_cpu_ticks(f.minions[i]);
    usleep(10000000);
    long long after = bench_cpu_ticks(f.master);
    for (int i = 0; i < f.count; i++)
        after += bench_cpu_ticks(f.minions[i]);
    snprintf(label, sizeof label, "idle CPU, master + %d minions", minions);
    printf("%-46s %9.2f %% of one core\n", label,
           (double)(after - before) / (double)tick / 10 * 100);

    /* Restart the master under the connected fleet: how long until every
       minion answers again. */
    fleet_stop_master(&f);
    t0 = bench_now_ms();
    fleet_start_master(&f);
    bool back = fleet_wait_ready(&f, 120000);
    snprintf(label, sizeof label, "master restart, %d minions answering again", minions);
    if (back)
        printf("%-46s %9.1f s\n", label, (bench_now_ms() - t0) / 1000);
    else
        printf("%-46s %9s\n", label, "> 120 s");
    char floor_bin[600];
    bool have_floor = bench_floor_path(&f, floor_bin, sizeof floor_bin);
    int floor_port = f.base_port + 50;
    fleet_stop(&f);

    /* The floor's master, alone on the machine, with the same minions and
       rounds: the least a master of this shape holds (it has no ZAP
       handler: libzmq then keeps no ZAP pipe per connection). */
    if (rounds > 0 && have_floor) {
        long floor_kib = bench_floor_peak_rss_kib(floor_bin, minions, rounds, floor_port);
        snprintf(label, sizeof label, "floor's master, %d minions, %d rounds, peak RSS", minions,
                 rounds);
        if (floor_kib > 0)
            printf("%-46s %9.2f MiB   ratio: master %.2fx\n", label, floor_kib / 1024.0,
                   (double)master_kib / (double)floor_kib);
        else
            printf("%-46s %9s\n", label, "(the floor did not run)");
    }
    /* The same floor with a ZAP handler (floor_zap.c), as mctl's master
       has one: what ZAP's pipe per connection costs. */
    char zap_bin[700];
    snprintf(zap_bin, sizeof zap_bin, "%s/mctl-floor-zap", f.bin);
    if (rounds > 0 && access(zap_bin, X_OK) == 0) {
        long zap_kib = bench_floor_peak_rss_kib(zap_bin, minions, rounds, floor_port);
        snprintf(label, sizeof label, "the same with a ZAP handler, peak RSS");
        if (zap_kib > 0)
            printf("%-46s %9.2f MiB   ratio: master %.2fx\n", label, zap_kib / 1024.0,
                   (double)master_kib / (double)zap_kib);
        else
            printf("%-46s %9s\n", label, "(it did not run)");
    }

    static const char *const bins[] = {"mctl", "mctl-master", "mctl-minion"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(label, sizeof label, "%s, stripped", bins[i]);
        long size = stripped_size(f.bin, bins[i]);
        printf("%-46s %9.1f KiB\n", label, size / 1024.0);
    }
    return 0;
}
