/*  mctl-master - the master daemon: command line, configuration, daemon
    set-up; the work happens in server.c. */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "keyexport.h"
#include "server.h"

/* --export-keys / --import-keys: the exit status. */
static int key_files(const mc_daemon_args_t *args, const mc_master_config_t *cfg)
{
    mc_err_t err;
    if (args->export_keys && args->import_keys) {
        fprintf(stderr, "mctl-master: --export-keys and --import-keys do not go together\n");
        return 64;
    }
    umask(077);
    int status = 0;
    if (sodium_init() < 0) {
        fprintf(stderr, "mctl-master: libsodium failed to start\n");
        status = 70;
    } else if (args->export_keys) {
        if (keyexport_write(cfg->pki_dir, args->export_keys, &err) != 0) {
            fprintf(stderr, "mctl-master: %s\n", err.msg);
            status = 73;
        } else if (strcmp(args->export_keys, "-") != 0) {
            fprintf(stderr, "mctl-master: wrote the master's keys to %s (secret: keep it so)\n",
                    args->export_keys);
        }
    } else {
        bool same;
        if (keyexport_read(cfg->pki_dir, args->import_keys, &same, &err) != 0) {
            fprintf(stderr, "mctl-master: %s\n", err.msg);
            status = 65;
        } else {
            fprintf(stderr, "mctl-master: %s in %s\n",
                    same ? "these keys are the master's keys already"
                         : "installed the master's keys",
                    cfg->pki_dir);
        }
    }
    return status;
}

int main(int argc, char **argv)
{
    mc_daemon_block_signals(false);
    mc_daemon_args_t args;
    int status;
    if (mc_daemon_parse_args(
            argc, argv, "mctl-master",
            "Run the mctl master: publish signed jobs to minions, gather their\n"
            "returns, and keep their keys.",
            "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads keys and reopens "
            "the log.",
            &args, &status) != 0)
        return status;
    mc_master_config_t cfg;
    mc_err_t err;
    mc_log_open("mctl-master", MC_LOG_INFO, NULL, NULL);
    if (mc_master_config_load(&cfg, mc_config_dir(args.config_dir), &err) != 0) {
        fprintf(stderr, "mctl-master: %s\n", err.msg);
        return 78;
    }
    if (args.gen_keys) {
        status = mc_daemon_gen_keys("mctl-master", cfg.pki_dir, "master");
        mc_master_config_free(&cfg);
        return status;
    }
    if (args.export_keys || args.import_keys) {
        status = key_files(&args, &cfg);
        mc_master_config_free(&cfg);
        return status;
    }
    const char *pidfile = args.pidfile ? args.pidfile : cfg.pidfile;
    status = mc_daemon_start("mctl-master", cfg.log_level, cfg.log_file, &args, pidfile);
    if (status == 0) {
        zsys_handler_set(NULL);
        zsys_set_logstream(NULL);
        if (sodium_init() < 0) {
            mc_error("libsodium failed to start");
            status = 70;
        } else {
            status = server_run(&cfg);
        }
    }
    mc_master_config_free(&cfg);
    status = mc_daemon_stop(status);
    zsys_shutdown();
    mc_log_close();
    return status;
}
