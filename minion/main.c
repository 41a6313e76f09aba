/*  mctl-minion - the minion daemon: command line, configuration, daemon
    set-up; the work happens in agent.c (and agent_send.c, agent_start.c). */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent.h"
#include "config.h"
#include "daemon.h"
#include "spool.h"

int main(int argc, char **argv)
{
    mc_daemon_block_signals(true);
    mc_daemon_args_t args;
    int status;
    if (mc_daemon_parse_args(argc, argv, "mctl-minion",
                             "Run the mctl minion: register with the master, then run the jobs it\n"
                             "publishes in a pool of worker processes and send back the results.",
                             "Signals: SIGTERM/SIGINT stop; SIGHUP re-reads grains and reopens the "
                             "log.",
                             &args, &status) != 0)
        return status;
    mc_minion_config_t cfg;
    mc_err_t err;
    mc_log_open("mctl-minion", MC_LOG_INFO, NULL, NULL);
    if (mc_minion_config_load(&cfg, mc_config_dir(args.config_dir), &err) != 0) {
        fprintf(stderr, "mctl-minion: %s\n", err.msg);
        return 78;
    }
    if (args.gen_keys) {
        status = mc_daemon_gen_keys("mctl-minion", cfg.pki_dir, "minion");
        mc_minion_config_free(&cfg);
        return status;
    }
    if (args.spool) {
        char *dir = mc_sprintf("%s/spool", cfg.cachedir);
        long n = spool_list(dir, stdout, &err);
        free(dir);
        mc_minion_config_free(&cfg);
        if (n < 0)
            fprintf(stderr, "mctl-minion: %s\n", err.msg);
        return n < 0 ? 66 : 0;
    }
    const char *pidfile = args.pidfile ? args.pidfile : cfg.pidfile;
    status = mc_daemon_start("mctl-minion", cfg.log_level, cfg.log_file, &args, pidfile);
    if (status == 0) {
        zsys_handler_set(NULL);
        zsys_set_logstream(NULL);
        if (sodium_init() < 0) {
            mc_error("libsodium failed to start");
            status = 70;
        } else {
            status = agent_run(&cfg, mc_config_dir(args.config_dir));
        }
    }
    mc_minion_config_free(&cfg);
    status = mc_daemon_stop(status);
    zsys_shutdown();
    mc_log_close();
    return status;
}
