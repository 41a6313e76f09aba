/*  daemon - see daemon.h. */
#include "daemon.h"

#include <sodium.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"

/* The process's one daemon: its pidfile (held locked while it runs) and,
   with -d until it is ready, the pipe to the parent waiting for it. */
static struct {
    const char *name;
    char *pidfile;
    int pidfile_fd;
    int ready_fd;
} daemon_state = {"mctl", NULL, -1, -1};

void mc_daemon_block_signals(bool with_sigchld)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (with_sigchld)
        sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void usage(FILE *f, const char *name, const char *summary, const char *signals)
{
    /* mctl-api reads the master's file, as salt-api does, and has no keys. */
    bool api = strcmp(name, "mctl-api") == 0;
    const char *file = api ? "master" : strchr(name, '-') ? strchr(name, '-') + 1 : name;
    fprintf(f,
            "Usage: %s [OPTIONS]\n"
            "\n"
            "%s\n"
            "\n"
            "Options:\n"
            "  -c, --config-dir DIR   read DIR/%s (default $MCTL_CONFIG_DIR or /etc/mctl)\n"
            "  -d, --daemon           detach and run in the background\n"
            "  -l, --log-level LEVEL  error, warning, info or debug (overrides the config)\n"
            "      --pidfile FILE     write the process id here (overrides the config)\n"
            "%s"
            "%s"
            "%s"
            "  -h, --help             show this help\n"
            "      --version          show the version\n"
            "\n"
            "%s\n",
            name, summary, file,
            api ? ""
                : "      --gen-keys         create the CURVE keys in pki_dir when missing, print "
                  "the\n"
                  "                         public key (Z85) and exit\n",
            strcmp(name, "mctl-minion") == 0
                ? "      --spool            list the returns waiting in the spool for the master\n"
                  "                         (jid and size in bytes, oldest first) and exit\n"
                : "",
            strcmp(name, "mctl-master") == 0
                ? "      --export-keys FILE write the master's CURVE and signing keys (secret)\n"
                  "                         to FILE (- for standard output) and exit\n"
                  "      --import-keys FILE install keys written by --export-keys in pki_dir\n"
                  "                         (masters sharing minions share keys) and exit\n"
                : "",
            signals);
}

int mc_daemon_parse_args(int argc, char **argv, const char *name, const char *summary,
                         const char *signals, mc_daemon_args_t *args, int *status)
{
    static const struct option opts[] = {
        {"config-dir", required_argument, NULL, 'c'},
        {"daemon", no_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"pidfile", required_argument, NULL, 'p'},
        {"gen-keys", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"spool", no_argument, NULL, 's'},
        {"export-keys", required_argument, NULL, 'E'},
        {"import-keys", required_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    memset(args, 0, sizeof *args);
    int c;
    while ((c = getopt_long(argc, argv, "c:dl:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            args->config_dir = optarg;
            break;
        case 'd':
            args->daemonize = true;
            break;
        case 'l':
            args->log_level = optarg;
            break;
        case 'p':
            args->pidfile = optarg;
            break;
        case 'k':
            if (strcmp(name, "mctl-api") == 0) {
                fprintf(stderr, "%s: unrecognized option '--gen-keys'\n", name);
                usage(stderr, name, summary, signals);
                *status = 64;
                return -1;
            }
            args->gen_keys = true;
            break;
        case 's':
            if (strcmp(name, "mctl-minion") != 0) {
                fprintf(stderr, "%s: unrecognized option '--spool'\n", name);
                usage(stderr, name, summary, signals);
                *status = 64;
                return -1;
            }
            args->spool = true;
            break;
        case 'E':
        case 'I':
            if (strcmp(name, "mctl-master") != 0) {
                fprintf(stderr, "%s: unrecognized option '--%s-keys'\n", name,
                        c == 'E' ? "export" : "import");
                usage(stderr, name, summary, signals);
                *status = 64;
                return -1;
            }
            if (c == 'E')
                args->export_keys = optarg;
            else
                args->import_keys = optarg;
            break;
        case 'h':
            usage(stdout, name, summary, signals);
            *status = 0;
            return -1;
        case 'V':
            printf("%s %s\n", name, mc_version());
            *status = 0;
            return -1;
        default:
            usage(stderr, name, summary, signals);
            *status = 64;
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", name, argv[optind]);
        *status = 64;
        return -1;
    }
    mc_log_level_t level;
    if (args->log_level && mc_log_level_parse(args->log_level, &level) != 0) {
        fprintf(stderr, "%s: --log-level: expected error, warning, info or debug\n", name);
        *status = 64;
        return -1;
    }
    return 0;
}

/* The folder of a file, made when missing. */
static int make_parent(const char *path, mode_t mode, mc_err_t *err)
{
    char *dir = mc_strdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = mc_mkdir_p(dir, mode, err);
    }
    free(dir);
    return rc;
}

static int pidfile_lock(const char *path, mc_err_t *err);

/* The pidfile, locked (flock) for as long as this process lives: a second
   daemon with the same pidfile cannot take it, whatever the timing. */
static int pidfile_take(const char *path, mc_err_t *err)
{
    mode_t mask = umask(022); /* the folder is 0755 whatever the daemon's umask */
    int made = make_parent(path, 0755, err);
    umask(mask);
    if (made != 0)
        return -1;
    int fd = -1;
    /* A daemon stopping unlinks the file it held: a lock taken on that
       old file would be worth nothing, so the lock must be on the file
       the path names now. */
    for (int attempt = 0; attempt < 10; attempt++) {
        fd = pidfile_lock(path, err);
        if (fd < 0)
            return -1;
        struct stat held, named;
        if (fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_ino == named.st_ino &&
            held.st_dev == named.st_dev)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        mc_err_set(err, "pidfile %s: it keeps being replaced; cannot hold it", path);
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
        mc_err_set(err, "pidfile %s: cannot write it: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    daemon_state.pidfile = mc_strdup(path);
    daemon_state.pidfile_fd = fd;
    return 0;
}

/* Open and lock the pidfile: the descriptor, or -1 with err (another
   daemon holds it: "already running as pid N"). */
static int pidfile_lock(const char *path, mc_err_t *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        mc_err_set(err, "pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
        if (e == EWOULDBLOCK && pid > 0)
            mc_err_set(err, "already running as pid %ld (pidfile %s)", pid, path);
        else if (e == EWOULDBLOCK)
            mc_err_set(err, "already running (pidfile %s is locked)", path);
        else
            mc_err_set(err, "pidfile %s: cannot lock it: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    return fd;
}

/* The parent of -d: wait until the daemon says it is ready ("R"), or
   why it is not ("E message" lines, then "X status", or the pipe closing
   when it died); print that and exit with the daemon's status. */
static int wait_ready(const char *name, int fd)
{
    FILE *f = fdopen(fd, "r");
    char line[2048];
    int status = -1;
    bool said = false;
    while (f && fgets(line, sizeof line, f)) {
        if (strcmp(line, "R\n") == 0)
            return 0;
        if (line[0] == 'X' && line[1] == ' ') {
            status = atoi(line + 2);
            break;
        }
        if (line[0] == 'E' && line[1] == ' ') {
            fprintf(stderr, "%s: %s", name, line + 2);
            said = true;
        }
    }
    if (status <= 0 || !said)
        fprintf(stderr, "%s: stopped before it was ready%s\n", name,
                said ? "" : " (its log may say why)");
    return status > 0 ? status : 1;
}

/* Detach: fork (the parent waits for readiness), setsid, fork again,
   stdio to /dev/null. Returns in the daemon only. */
static int daemonize(const char *name, mc_err_t *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        mc_err_set(err, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        mc_err_set(err, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        _exit(wait_ready(name, p[0]));
    }
    close(p[0]);
    setsid();
    pid = fork();
    if (pid < 0) {
        mc_err_set(err, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0)
        _exit(0);
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    if (chdir("/") != 0) {
        mc_err_set(err, "chdir /: %s", strerror(errno));
        return -1;
    }
    daemon_state.ready_fd = p[1];
    mc_log_tee_errors(p[1]);
    return 0;
}

int mc_daemon_start(const char *name, mc_log_level_t level, const char *log_file,
                    const mc_daemon_args_t *args, const char *pidfile)
{
    mc_err_t err;
    daemon_state.name = name;
    if (args->log_level)
        mc_log_level_parse(args->log_level, &level);
    if (log_file && log_file[0] && make_parent(log_file, 0750, &err) != 0) {
        fprintf(stderr, "%s: log_file %s: %s\n", name, log_file, err.msg);
        return 73;
    }
    umask(077);
    if (mc_log_open(name, level, log_file, &err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return 73;
    }
    if (args->daemonize && daemonize(name, &err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return 71;
    }
    if (pidfile && pidfile[0] && pidfile_take(pidfile, &err) != 0) {
        mc_error("%s", err.msg);
        return 73;
    }
    return 0;
}

void mc_daemon_ready(void)
{
    if (daemon_state.ready_fd < 0)
        return;
    mc_log_tee_errors(-1);
    ssize_t w = write(daemon_state.ready_fd, "R\n", 2);
    (void)w;
    close(daemon_state.ready_fd);
    daemon_state.ready_fd = -1;
}

int mc_daemon_stop(int status)
{
    /* The pidfile goes first: the parent waiting with -d returns as soon
       as it has the status, and what it leaves must be as it will stay. */
    if (daemon_state.pidfile_fd >= 0) {
        unlink(daemon_state.pidfile);
        close(daemon_state.pidfile_fd);
        daemon_state.pidfile_fd = -1;
    }
    if (daemon_state.ready_fd >= 0) {
        mc_log_tee_errors(-1);
        char buf[32];
        int n = snprintf(buf, sizeof buf, "X %d\n", status);
        ssize_t w = write(daemon_state.ready_fd, buf, (size_t)n);
        (void)w;
        close(daemon_state.ready_fd);
        daemon_state.ready_fd = -1;
    }
    free(daemon_state.pidfile);
    daemon_state.pidfile = NULL;
    return status;
}

int mc_daemon_gen_keys(const char *name, const char *pki_dir, const char *key)
{
    mc_err_t err;
    mc_curve_keys_t keys;
    bool created;
    umask(077);
    if (sodium_init() < 0) {
        fprintf(stderr, "%s: libsodium failed to start\n", name);
        return 70;
    }
    if (mc_mkdir_p(pki_dir, 0700, &err) != 0 || mc_check_private_dir(pki_dir, &err) != 0 ||
        mc_curve_load_or_create(pki_dir, key, &keys, &created, &err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return 73;
    }
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(keys.pub, z85);
    printf("%s\n", z85);
    sodium_memzero(&keys, sizeof keys);
    return 0;
}
