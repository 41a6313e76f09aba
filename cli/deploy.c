/*  mctl-deploy - mctl deploy: install minions over SSH, in parallel.

    For each host: connect with libssh, check its host key against
    known_hosts, log in, run deploy/minion-remote.sh (compiled in) to see
    what is there, upload what differs (over SFTP, or over the exec
    channel with a checksum where the host offers no SFTP), install it,
    create the
    minion's keys on the host and bring the public key back over the same
    session, have the master accept exactly that key, start the minion, and
    wait until it answers test.ping. A host that is already up to date is
    left alone. --uninstall undoes all of it and deletes the key.

    It is its own program (mctl runs it for "mctl deploy") so that the
    everyday mctl does not load libssh and OpenSSL. This file holds its
    options, the pool of workers and main; the roster, the payload, SSH
    and the steps on one host have files of their own (deploy.h). */
#include "deploy.h"

volatile sig_atomic_t deploy_interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    deploy_interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: mctl deploy [OPTIONS] --roster FILE [HOST ...]\n"
               "       mctl deploy [OPTIONS] [USER@]HOST[:PORT] ...\n"
               "       mctl deploy --uninstall [OPTIONS] ...\n"
               "\n"
               "Install mctl-minion on hosts over SSH, in parallel: upload the binary (over\n"
               "SFTP, or where the host offers none over the command channel, checked by its\n"
               "SHA-256), write /etc/mctl/minion with the master's address and public key,\n"
               "create the minion's keys on the host and have the master accept exactly that\n"
               "key, start the minion (systemd, or as a daemon with a pidfile where there is\n"
               "no systemd), and wait until it answers test.ping. A host that is up to date\n"
               "is left alone; a changed binary or config is replaced and the minion\n"
               "restarted.\n"
               "\n"
               "With a roster, HOSTs are globs that pick roster entries (default: all).\n"
               "A roster is YAML, as salt-ssh reads it:\n"
               "\n"
               "  web1:                  # the minion id, unless 'id' says otherwise\n"
               "    host: 192.0.2.10\n"
               "    port: 22             # optional\n"
               "    user: root           # optional (--user, else root)\n"
               "    priv: ~/.ssh/id_ed25519   # or passwd: SECRET\n"
               "    sudo: true           # log in as user, run as root through sudo (with\n"
               "                         # passwd, or --ask-pass, as sudo's password)\n"
               "    grains: {roles: [web]}\n"
               "\n"
               "Options:\n"
               "  -r, --roster FILE      the hosts to deploy to\n"
               "  -u, --user USER        log in as USER where the roster does not say\n"
               "  -p, --port PORT        SSH port where the roster does not say (default 22)\n"
               "  -i, --identity FILE    private key to log in with (default: ssh-agent, then\n"
               "                         ~/.ssh/id_*)\n"
               "      --ask-pass         ask once for the password (no echo) for hosts the\n"
               "                         roster gives no key or password for\n"
               "      --sudo             run as root through sudo on every host\n"
               "      --accept-new       trust host keys that are not in known_hosts yet, and\n"
               "                         add them; a changed key is always refused\n"
               "      --known-hosts FILE default ~/.ssh/known_hosts\n"
               "      --master ADDR      the address minions reach the master at (default:\n"
               "                         the master's interface, when it is not a wildcard)\n"
               "      --minion-binary PATH  what to install (default: the mctl-minion beside\n"
               "                         this program)\n"
               "  -f, --forks N          hosts worked on at once (default 16)\n"
               "  -t, --timeout SECONDS  how long a started minion has to answer (default 60)\n"
               "      --check            show what would change (install, update, versions),\n"
               "                         change nothing\n"
               "      --rollback         put back the mctl-minion an update replaced (kept on\n"
               "                         each host) and restart it\n"
               "      --uninstall        stop and remove the minion and delete its key\n"
               "  -c, --config-dir DIR   where the master config is (default $MCTL_CONFIG_DIR\n"
               "                         or /etc/mctl)\n"
               "  -h, --help             show this help\n"
               "\n"
               "An update replaces the binary atomically and restarts the minion; its keys,\n"
               "job history and spooled returns stay (a running job finishes first, within\n"
               "shutdown_grace), and the replaced binary is kept for --rollback.\n"
               "\n"
               "Prints a table: host, result (installed, updated, unchanged, rolled-back,\n"
               "removed, failed; with --check would-install, would-update,\n"
               "would-roll-back), seconds, how the files went (sftp, exec, or - when none\n"
               "were sent), and the error, or the versions (\"0.1.0 -> 0.2.0\"). Exit status: 0 "
               "every host ended up answering\n"
               "(or removed); 1 some host failed; 64 bad usage; 69 master unreachable.\n"
               "\n"
               "Examples:\n"
               "  mctl deploy --roster fleet.yaml --accept-new\n"
               "  mctl deploy --roster fleet.yaml 'web*' -f 32\n"
               "  mctl deploy --ask-pass --master 10.0.0.1 admin@db1 db2:2222\n"
               "  mctl deploy --roster fleet.yaml --check --minion-binary ./mctl-minion\n"
               "  mctl deploy --roster fleet.yaml --rollback 'web*'\n"
               "  mctl deploy --roster fleet.yaml --uninstall\n");
}

int deploy_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mctl deploy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'mctl deploy --help' for more information.\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

void deploy_host_fail(host_t *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->error, sizeof h->error, fmt, ap);
    va_end(ap);
    for (char *p = h->error; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    h->result = "failed";
}

/* ---- the pool of workers ------------------------------------------------- */

static void draw_progress(deploy_t *d, bool final)
{
    if (!d->progress)
        return;
    size_t running = d->next - d->done;
    fprintf(stderr, "\r\033[K%s: %zu/%zu done, %zu failed, %zu running, %.0f s",
            d->uninstall ? "uninstall" : "deploy", d->done, d->n, d->failed, running,
            (double)(mc_mono_ms() - d->started_ms) / 1000);
    if (final)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static void *worker(void *arg)
{
    deploy_t *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        if (d->next >= d->n || deploy_interrupted) {
            pthread_mutex_unlock(&d->lock);
            return NULL;
        }
        host_t *h = &d->hosts[d->next++];
        draw_progress(d, false);
        pthread_mutex_unlock(&d->lock);

        int64_t t0 = mc_mono_ms();
        if (!mc_id_valid(h->id, strlen(h->id)))
            deploy_host_fail(h, "'%s' is not a valid minion id", h->id);
        else if (d->uninstall)
            deploy_uninstall_host(d, h);
        else if (d->rollback)
            deploy_rollback_host(d, h);
        else
            deploy_host(d, h);
        if (!h->result)
            deploy_host_fail(h, "%s", deploy_interrupted ? "deploy_interrupted" : "failed");
        h->seconds = (double)(mc_mono_ms() - t0) / 1000;

        pthread_mutex_lock(&d->lock);
        d->done++;
        if (strcmp(h->result, "failed") == 0)
            d->failed++;
        draw_progress(d, false);
        pthread_mutex_unlock(&d->lock);
    }
}

static void deploy_free(deploy_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        host_t *h = &d->hosts[i];
        free(h->name);
        free(h->host);
        free(h->user);
        free(h->priv);
        free(h->priv_passwd);
        if (h->passwd)
            sodium_memzero(h->passwd, strlen(h->passwd));
        free(h->passwd);
        free(h->id);
    }
    free(d->hosts);
    mc_yaml_free(&d->roster_doc);
    free(d->binary);
    free(d->master_addr);
    if (d->pass)
        sodium_memzero(d->pass, strlen(d->pass));
    free(d->pass);
}

static void print_summary(const deploy_t *d)
{
    int w = 4;
    for (size_t i = 0; i < d->n; i++)
        if ((int)strlen(d->hosts[i].name) > w)
            w = (int)strlen(d->hosts[i].name);
    printf("%-*s  %-15s  %7s  %-4s  %s\n", w, "HOST", "RESULT", "SECONDS", "VIA",
           "ERROR OR VERSION");
    for (size_t i = 0; i < d->n; i++) {
        const host_t *h = &d->hosts[i];
        /* Results are one word in the table ("would-update"), so that
           scripts can split it on blanks. */
        char result[32];
        snprintf(result, sizeof result, "%s", h->result ? h->result : "not run");
        for (char *c = result; *c; c++)
            if (*c == ' ')
                *c = '-';
        printf("%-*s  %-15s  %7.1f  %-4s  %s\n", w, h->name, result, h->seconds,
               h->via ? h->via : "-", h->error[0] ? h->error : h->note);
    }
    size_t ok = d->n - d->failed;
    printf("%zu host%s: %zu %s, %zu failed\n", d->n, d->n == 1 ? "" : "s", ok,
           d->uninstall ? "removed" : "answering", d->failed);
}

static char *ask_password(void)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) {
        fprintf(stderr, "mctl deploy: --ask-pass needs a terminal\n");
        return NULL;
    }
    struct termios old, quiet;
    bool restore = tcgetattr(fileno(tty), &old) == 0;
    fputs("SSH password: ", tty);
    fflush(tty);
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    char buf[1024];
    char *got = fgets(buf, sizeof buf, tty);
    if (restore)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
    if (!got)
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    char *pass = mc_strdup(buf);
    sodium_memzero(buf, sizeof buf);
    return pass;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"roster", required_argument, NULL, 'r'},
        {"user", required_argument, NULL, 'u'},
        {"port", required_argument, NULL, 'p'},
        {"identity", required_argument, NULL, 'i'},
        {"ask-pass", no_argument, NULL, 'P'},
        {"sudo", no_argument, NULL, 'S'},
        {"accept-new", no_argument, NULL, 'A'},
        {"known-hosts", required_argument, NULL, 'K'},
        {"master", required_argument, NULL, 'm'},
        {"minion-binary", required_argument, NULL, 'b'},
        {"package", required_argument, NULL, 'k'},
        {"forks", required_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        {"uninstall", no_argument, NULL, 'U'},
        {"check", no_argument, NULL, 'C'},
        {"rollback", no_argument, NULL, 'R'},
        {"config-dir", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    deploy_t d = {.port = 22, .forks = 16, .timeout = 60};
    int c;
    argv[0] = (char *)"mctl deploy"; /* getopt's messages begin with it */
    while ((c = getopt_long(argc, argv, "r:u:p:i:f:t:c:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'r':
            d.roster = optarg;
            break;
        case 'u':
            d.user = optarg;
            break;
        case 'p':
            if (deploy_parse_port(optarg, &d.port) != 0)
                return deploy_usage_error("--port: '%s' is not a port number", optarg);
            break;
        case 'i':
            d.identity = optarg;
            break;
        case 'P':
            d.ask_pass = true;
            break;
        case 'S':
            d.sudo = true;
            break;
        case 'A':
            d.accept_new = true;
            break;
        case 'K':
            d.known_hosts = optarg;
            break;
        case 'm':
            d.master = optarg;
            break;
        case 'b':
            d.binary_path = optarg;
            break;
        case 'k':
            d.package = optarg;
            break;
        case 'f':
            d.forks = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || d.forks < 1 || d.forks > 1024)
                return deploy_usage_error("--forks: expected 1 to 1024, got '%s'", optarg);
            break;
        case 't':
            d.timeout = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || d.timeout < 1 || d.timeout > 86400)
                return deploy_usage_error("--timeout: expected a number of seconds, got '%s'",
                                          optarg);
            break;
        case 'U':
            d.uninstall = true;
            break;
        case 'C':
            d.check = true;
            break;
        case 'R':
            d.rollback = true;
            break;
        case 'c':
            d.config_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default: /* getopt has said what was wrong */
            fputs("Try 'mctl deploy --help' for more information.\n", stderr);
            return EXIT_USAGE;
        }
    }
    argc -= optind;
    argv += optind;
    if (!d.roster && argc == 0)
        return deploy_usage_error("name a --roster or the hosts to deploy to");
    if (d.package && d.binary_path)
        return deploy_usage_error("--package and --minion-binary: choose one");
    if (d.uninstall + d.rollback > 1)
        return deploy_usage_error("--uninstall and --rollback: choose one");
    if (d.check && d.uninstall)
        return deploy_usage_error(
            "--check shows what a deploy or --rollback would change; not with "
            "--uninstall");
    d.config_dir = mc_config_dir(d.config_dir);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    if (sodium_init() < 0) {
        fprintf(stderr, "mctl deploy: libsodium failed to start\n");
        return 70;
    }
    int rc = d.roster ? deploy_load_roster(&d, argc, argv) : deploy_adhoc_hosts(&d, argc, argv);
    if (rc == 0 && !d.uninstall && !d.rollback)
        rc = deploy_load_binary(&d);
    if (rc == 0 && !d.uninstall)
        rc = deploy_master_info(&d);
    if (rc == 0 && d.ask_pass && !(d.pass = ask_password()))
        rc = EXIT_USAGE;
    if (rc != 0) {
        deploy_free(&d);
        return rc;
    }
    for (size_t i = 0; i < d.n; i++)
        deploy_host_defaults(&d, &d.hosts[i]);

    ssh_init();
    pthread_mutex_init(&d.lock, NULL);
    d.progress = isatty(STDERR_FILENO);
    d.started_ms = mc_mono_ms();
    size_t nthreads = d.n < (size_t)d.forks ? d.n : (size_t)d.forks;
    pthread_t *threads = mc_calloc(nthreads, sizeof *threads);
    for (size_t i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], NULL, worker, &d) != 0) {
            fprintf(stderr, "mctl deploy: cannot start a thread\n");
            deploy_interrupted = 1;
            nthreads = i;
        }
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    draw_progress(&d, true);
    for (size_t i = 0; i < d.n; i++)
        if (!d.hosts[i].result) {
            deploy_host_fail(&d.hosts[i], "deploy_interrupted before it started");
            d.failed++;
        }
    print_summary(&d);
    ssh_finalize();
    pthread_mutex_destroy(&d.lock);
    rc = d.failed ? EXIT_SOME_FAILED : EXIT_OK;
    deploy_free(&d);
    return rc;
}
