/*  mctl-master - the master daemon: command line, configuration, daemon
    set-up; the work happens in server.c. */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "server.h"

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
