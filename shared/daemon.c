/*  daemon - see daemon.h. */
#include "daemon.h"

#include <sodium.h>

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keys.h"

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
    const char *file = strchr(name, '-') ? strchr(name, '-') + 1 : name;
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
            "      --gen-keys         create the CURVE keys in pki_dir when missing, print the\n"
            "                         public key (Z85) and exit\n"
            "%s"
            "  -h, --help             show this help\n"
            "      --version          show the version\n"
            "\n"
            "%s\n",
            name, summary, file,
            strcmp(name, "mctl-minion") == 0
                ? "      --spool            list the returns waiting in the spool for the master\n"
                  "                         (jid and size in bytes, oldest first) and exit\n"
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
        case 'h':
            usage(stdout, name, summary, signals);
            *status = 0;
            return -1;
        case 'V':
            printf("%s %s\n", name, MCTL_VERSION);
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

int mc_daemon_start(const char *name, mc_log_level_t level, const char *log_file,
                    const mc_daemon_args_t *args, const char *pidfile)
{
    mc_err_t err;
    if (args->log_level)
        mc_log_level_parse(args->log_level, &level);
    umask(077);
    if (mc_log_open(name, level, log_file, &err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return 73;
    }
    if (args->daemonize && mc_daemonize(&err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        return 71;
    }
    if (pidfile && pidfile[0]) {
        char *dir = mc_strdup(pidfile);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            mc_mkdir_p(dir, 0755, NULL);
        }
        free(dir);
        if (mc_pidfile_write(pidfile, &err) != 0) {
            mc_error("%s", err.msg);
            return 73;
        }
    }
    return 0;
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
