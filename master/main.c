/*  mctl-master - the master daemon: command line, configuration, daemon
    set-up; the work happens in server.c. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <czmq.h>
#include <sodium.h>

#include "config.h"
#include "log.h"
#include "server.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: mctl-master [OPTIONS]\n"
               "\n"
               "Run the mctl master: publish signed jobs to minions, gather their returns,\n"
               "and keep their keys.\n"
               "\n"
               "Options:\n"
               "  -c, --config-dir DIR   read DIR/master (default $MCTL_CONFIG_DIR or /etc/mctl)\n"
               "  -d, --daemon           detach and run in the background\n"
               "  -l, --log-level LEVEL  error, warning, info or debug (overrides the config)\n"
               "      --pidfile FILE     write the process id here (overrides the config)\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n"
               "\n"
               "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads keys and reopens the log.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config-dir", required_argument, NULL, 'c'},
        {"daemon", no_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"pidfile", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* The main loop reads these through a signalfd. Block them first
       thing, so a signal during start-up is handled like any other, and
       every thread czmq starts later inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    const char *dir_arg = NULL, *level_arg = NULL, *pidfile_arg = NULL;
    bool daemon = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:dl:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            dir_arg = optarg;
            break;
        case 'd':
            daemon = true;
            break;
        case 'l':
            level_arg = optarg;
            break;
        case 'p':
            pidfile_arg = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("mctl-master %s\n", MCTL_VERSION);
            return 0;
        default:
            usage(stderr);
            return 64;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mctl-master: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 64;
    }

    mc_master_config_t cfg;
    mc_err_t err;
    mc_log_open("mctl-master", MC_LOG_INFO, NULL, NULL);
    if (mc_master_config_load(&cfg, mc_config_dir(dir_arg), &err) != 0) {
        fprintf(stderr, "mctl-master: %s\n", err.msg);
        return 78;
    }
    if (level_arg && mc_log_level_parse(level_arg, &cfg.log_level) != 0) {
        fprintf(stderr, "mctl-master: --log-level: expected error, warning, info or debug\n");
        return 64;
    }
    if (pidfile_arg) {
        free(cfg.pidfile);
        cfg.pidfile = strdup(pidfile_arg);
    }
    umask(077);
    if (mc_log_open("mctl-master", cfg.log_level, cfg.log_file, &err) != 0) {
        fprintf(stderr, "mctl-master: %s\n", err.msg);
        return 73;
    }
    if (daemon && mc_daemonize(&err) != 0) {
        fprintf(stderr, "mctl-master: %s\n", err.msg);
        return 71;
    }
    if (cfg.pidfile[0]) {
        char *slash = strrchr(cfg.pidfile, '/');
        if (slash && slash != cfg.pidfile) {
            *slash = '\0';
            mc_mkdir_p(cfg.pidfile, 0755, NULL);
            *slash = '/';
        }
        if (mc_pidfile_write(cfg.pidfile, &err) != 0) {
            mc_error("%s", err.msg);
            return 73;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    zsys_handler_set(NULL);
    zsys_set_logstream(NULL);
    if (sodium_init() < 0) {
        mc_error("libsodium failed to start");
        return 70;
    }

    int rc = server_run(&cfg);
    if (cfg.pidfile[0])
        unlink(cfg.pidfile);
    mc_master_config_free(&cfg);
    zsys_shutdown();
    mc_log_close();
    return rc;
}
