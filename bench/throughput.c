/*  mctl-bench-throughput - how many jobs a second the master sustains.

    Starts a real master and M minions (default 10) and runs C concurrent
    clients (default 1, 4, 16, 64), each its own connection to the master
    and its own thread, each keeping up to W jobs (test.ping to every
    minion) in flight for D seconds. A job counts when all M returns have
    come back. Prints, per C: jobs per second, returns per second (every
    return is stored in the job cache before the next turn of the master's
    loop) and the job latency, publish to last return (median, p90, max);
    then where the CPU went: microseconds of CPU per job in the master, in
    the minions (with their workers) and in the clients, and how many of
    the machine's cores were busy. Last, the cost of the cryptography each
    job needs, timed here, and the ceiling it alone puts on jobs per second.

    mctl-bench-throughput [--minions 10] [--clients 1,4,16,64] [--window 4]
                          [--seconds 10] [--workers 2] [--target all|one|both] */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "fleet.h"
#include "proto/proto.h"

typedef struct {
    const fleet_t *f;
    int window, minions;
    bool one; /* each job to one minion, in turn */
    int first;
    double until_ms;
    /* results */
    long jobs, returns, failed;
    double *lat;
    size_t nlat, cap;
} worker_arg_t;

typedef struct {
    char jid[32];
    int left;
    double t0;
} inflight_t;

static void *client_thread(void *p)
{
    worker_arg_t *a = p;
    client_t c;
    mc_err_t err;
    if (client_open(&c, a->f->etc, &err) != 0) {
        fprintf(stderr, "mctl-bench-throughput: %s\n", err.msg);
        a->failed++;
        return NULL;
    }
    inflight_t *fl = mc_calloc((size_t)a->window, sizeof *fl);
    int inflight = 0, asked = 0; /* asked: publishes whose reply is awaited */
    double asked_t0[1024];
    int asked_head = 0;
    int nsb = a->one ? a->minions : 1, next = a->first, expect = a->one ? 1 : a->minions;
    msgpack_sbuffer *sbs = mc_calloc((size_t)nsb, sizeof *sbs);
    for (int i = 0; i < nsb; i++) {
        char id[16];
        snprintf(id, sizeof id, "b%04d", i);
        client_target_t t = {a->one ? id : "*", "glob", 0};
        msgpack_sbuffer_init(&sbs[i]);
        client_pack_publish(&sbs[i], &t, "test.ping", 0, NULL, 30, "bench");
    }
    for (;;) {
        double now = bench_now_ms();
        bool open = now < a->until_ms;
        while (open && inflight + asked < a->window) {
            msgpack_sbuffer *sb = &sbs[next++ % nsb];
            if (client_send(&c, sb, &err) != 0) {
                fprintf(stderr, "bench: %s\n", err.msg);
                a->failed++;
                open = false;
                break;
            }
            asked_t0[(asked_head + asked) % 1024] = bench_now_ms();
            asked++;
        }
        if (!open && inflight + asked == 0)
            break;
        char kind[16];
        client_frame_t *body = NULL;
        int got = client_next(&c, kind, &body, 5000);
        if (got <= 0) {
            fprintf(stderr, "bench: %s\n",
                    got < 0 ? c.why.msg : "no answer from the master within 5 s");
            a->failed += inflight + asked;
            break;
        }
        if (strcmp(kind, "reply") == 0 && asked > 0) {
            mc_reply_targets_t r;
            double t0 = asked_t0[asked_head];
            asked_head = (asked_head + 1) % 1024;
            asked--;
            if (mc_reply_publish_decode(&r, body->data, body->size, &err) == 0) {
                int n = (int)r.minions.count;
                if (r.jid[0] && n == expect) {
                    inflight_t *x = &fl[inflight++];
                    snprintf(x->jid, sizeof x->jid, "%s", r.jid);
                    x->left = n;
                    x->t0 = t0;
                } else {
                    a->failed++;
                }
                mc_reply_targets_done(&r);
            } else {
                a->failed++;
            }
        } else if (strcmp(kind, "ret") == 0) {
            mc_ret_t ret;
            if (mc_ret_decode(&ret, body->data, body->size, &err) == 0) {
                a->returns++;
                for (int i = 0; i < inflight; i++)
                    if (strcmp(fl[i].jid, ret.jid) == 0 && --fl[i].left == 0) {
                        if (a->nlat == a->cap) {
                            a->cap = a->cap ? a->cap * 2 : 1024;
                            a->lat = mc_realloc(a->lat, a->cap * sizeof *a->lat);
                        }
                        a->lat[a->nlat++] = bench_now_ms() - fl[i].t0;
                        a->jobs++;
                        fl[i] = fl[--inflight];
                        break;
                    }
                mc_ret_done(&ret);
            }
        }
        client_frame_free(&body);
    }
    for (int i = 0; i < nsb; i++)
        msgpack_sbuffer_destroy(&sbs[i]);
    free(sbs);
    free(fl);
    client_close(&c);
    return NULL;
}

/* CPU seconds so far: the master, the minions with their workers, and this
   process (the clients). */
typedef struct {
    double master, minions, clients;
} cpu_t;

static cpu_t cpu_now(const fleet_t *f)
{
    double tick = (double)sysconf(_SC_CLK_TCK);
    cpu_t c = {.master = (double)bench_cpu_ticks(f->master) / tick};
    long long m = 0;
    for (int i = 0; i < f->count; i++)
        m += bench_cpu_ticks(f->minions[i]);
    c.minions = (double)m / tick;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    c.clients = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return c;
}

static void run_row(const fleet_t *f, bool one, int n, int window, int minions, int seconds)
{
    worker_arg_t *args = mc_calloc((size_t)n, sizeof *args);
    pthread_t *th = mc_calloc((size_t)n, sizeof *th);
    cpu_t c0 = cpu_now(f);
    double t0 = bench_now_ms();
    for (int i = 0; i < n; i++) {
        args[i] = (worker_arg_t){.f = f,
                                 .window = window,
                                 .minions = minions,
                                 .one = one,
                                 .first = i * 7,
                                 .until_ms = t0 + seconds * 1000.0};
        pthread_create(&th[i], NULL, client_thread, &args[i]);
    }
    long jobs = 0, returns = 0, failed = 0;
    size_t nlat = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        jobs += args[i].jobs;
        returns += args[i].returns;
        failed += args[i].failed;
        nlat += args[i].nlat;
    }
    double secs = (bench_now_ms() - t0) / 1000;
    cpu_t c1 = cpu_now(f);
    double *lat = mc_calloc(nlat + 1, sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(lat + k, args[i].lat, args[i].nlat * sizeof *lat);
        k += args[i].nlat;
        free(args[i].lat);
    }
    double med = 0, p90 = 0, max = 0;
    if (nlat)
        bench_stats(lat, (int)nlat, &med, &p90, &max);
    double per_job = jobs ? 1e6 / (double)jobs : 0; /* seconds to us per job */
    printf("%6s  %8d  %10.0f  %12.0f  %8.1f ms  %7.1f ms  %7.1f ms  %7ld  %7.0f  %7.0f  %7.0f  "
           "%5.2f\n",
           one ? "one" : "all", n, jobs / secs, returns / secs, med, p90, max, failed,
           (c1.master - c0.master) * per_job, (c1.minions - c0.minions) * per_job,
           (c1.clients - c0.clients) * per_job,
           (c1.master - c0.master + c1.minions - c0.minions + c1.clients - c0.clients) / secs);
    fflush(stdout);
    free(lat);
    free(args);
    free(th);
}

/* Microseconds per call of f, over enough calls to take 0.2 s. */
static double time_us(void (*f)(void))
{
    long calls = 0;
    double t0 = bench_now_ms(), t;
    do {
        for (int i = 0; i < 100; i++)
            f();
        calls += 100;
    } while ((t = bench_now_ms() - t0) < 200);
    return t * 1000 / (double)calls;
}

static unsigned char job[300], sig[crypto_sign_BYTES], sign_pk[crypto_sign_PUBLICKEYBYTES],
    sign_sk[crypto_sign_SECRETKEYBYTES], box_k[crypto_box_BEFORENMBYTES],
    nonce[crypto_box_NONCEBYTES], boxed[sizeof job + sizeof sig + crypto_box_MACBYTES];

static void do_sign(void)
{
    crypto_sign_detached(sig, NULL, job, sizeof job, sign_sk);
}

static void do_verify(void)
{
    if (crypto_sign_verify_detached(sig, job, sizeof job, sign_pk) != 0)
        abort();
}

static void do_box(void)
{
    crypto_box_easy_afternm(boxed, job, sizeof job + sizeof sig, nonce, box_k);
}

static void do_open(void)
{
    unsigned char plain[sizeof job + sizeof sig];
    if (crypto_box_open_easy_afternm(plain, boxed, sizeof boxed, nonce, box_k) != 0)
        abort();
}

/* What every job costs in cryptography, timed on this machine, and the
   ceiling that alone puts on jobs to all M minions. */
static void crypto_floor(int minions)
{
    if (sodium_init() < 0)
        return;
    randombytes_buf(job, sizeof job);
    crypto_sign_keypair(sign_pk, sign_sk);
    unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
    crypto_box_keypair(pk, sk);
    if (crypto_box_beforenm(box_k, pk, sk) != 0)
        return;
    do_sign();
    do_box();
    double sign = time_us(do_sign), verify = time_us(do_verify);
    double box = time_us(do_box), open = time_us(do_open);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    /* Master: one signature, then per minion a seal and the CURVE box of
       the connection; minion: the CURVE box and the seal opened, the
       signature checked; the return comes back in one CURVE box. */
    double master = sign + minions * 2 * box + minions * open;
    double minion = minions * (2 * open + verify + box);
    printf("\nCPU per job by column: master, minions (with workers) and clients in us; "
           "cores: how many\nof the %ld cores were busy.\n\n",
           cores);
    printf("Cryptography per job, timed here (us of CPU, %zu-byte job): Ed25519 sign %.1f "
           "(master, once),\nverify %.1f (each minion), box %.1f and open %.1f "
           "(each message, each way).\n",
           sizeof job, sign, verify, box, open);
    printf("A job to all %d minions needs %.0f us in the master and %.0f us in the minions "
           "(%.0f of\nthem verifying): at most %.0f such jobs/s on %ld cores if nothing "
           "else ran.\n",
           minions, master, minion, minions * verify, cores * 1e6 / (master + minion), cores);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"minions", required_argument, NULL, 'm'}, {"clients", required_argument, NULL, 'c'},
        {"window", required_argument, NULL, 'W'},  {"seconds", required_argument, NULL, 's'},
        {"workers", required_argument, NULL, 'w'}, {"target", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int minions = 10, window = 4, seconds = 10, workers = 2, c;
    char clients_arg[256] = "1,4,16,64";
    const char *target = "both";
    while ((c = getopt_long(argc, argv, "m:c:W:s:w:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            minions = atoi(optarg);
            break;
        case 'c':
            snprintf(clients_arg, sizeof clients_arg, "%s", optarg);
            break;
        case 'W':
            window = atoi(optarg);
            break;
        case 's':
            seconds = atoi(optarg);
            break;
        case 'w':
            workers = atoi(optarg);
            break;
        case 't':
            target = optarg;
            break;
        case 'h':
            printf("Usage: mctl-bench-throughput [--minions 10] [--clients 1,4,16,64] "
                   "[--window 4]\n"
                   "                             [--seconds 10] [--workers 2] "
                   "[--target all|one|both]\n\n"
                   "Run C concurrent clients, each keeping W test.ping jobs in flight for\n"
                   "D seconds, and print jobs and returns per second and the job latency\n"
                   "(publish to last return). Target all: every job goes to all M minions.\n"
                   "Target one: every job goes to one minion, the M taken in turn.\n");
            return 0;
        default:
            return 64;
        }
    }
    if (minions < 1 || minions > 9999 || window < 1 || window > 512 || seconds < 1 || workers < 1 ||
        (strcmp(target, "all") != 0 && strcmp(target, "one") != 0 && strcmp(target, "both") != 0)) {
        fprintf(stderr, "mctl-bench-throughput: bad arguments (see --help)\n");
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    bench_raise_fd_limit();
    fleet_t f;
    fleet_start(&f, "bench-throughput", minions, workers);
    if (!fleet_wait_ready(&f, 60000 + minions * 100)) {
        fprintf(stderr, "mctl-bench-throughput: not all minions answered; logs in %s\n", f.dir);
        fleet_stop(&f);
        return 1;
    }
    printf("mctl throughput: test.ping, %d minions, %d jobs in flight per client, %d s per "
           "row\n\n",
           minions, window, seconds);
    printf("%6s  %8s  %10s  %12s  %10s  %10s  %10s  %7s  %7s  %7s  %7s  %5s\n", "target", "clients",
           "jobs/s", "returns/s", "lat med", "lat p90", "lat max", "failed", "master", "minions",
           "clients", "cores");
    for (int pass = 0; pass < 2; pass++) {
        bool one = pass == 1;
        if (strcmp(target, "both") != 0 && strcmp(target, one ? "one" : "all") != 0)
            continue;
        char list[256];
        snprintf(list, sizeof list, "%s", clients_arg);
        char *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int n = atoi(tok);
            if (n < 1)
                continue;
            run_row(&f, one, n, window, minions, seconds);
        }
    }
    fleet_stop(&f);
    crypto_floor(minions);
    return 0;
}
