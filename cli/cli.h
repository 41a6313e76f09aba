/*  cli - what the mctl subcommands share: global options and exit codes. */
#ifndef MC_CLI_H
#define MC_CLI_H

#include "client.h"
#include "output.h"

/* Exit statuses, as the design sets them. */
#define EXIT_OK          0
#define EXIT_FAILED      1  /* some function failed */
#define EXIT_NO_RETURN   2  /* some minion did not return (or none matched) */
#define EXIT_USAGE       64 /* bad command line */
#define EXIT_UNAVAILABLE 69 /* the master cannot be reached */

typedef struct {
    const char *config_dir;
    int timeout;        /* seconds */
    int gather_timeout; /* seconds to wait for a minion to acknowledge */
    bool async;
    out_format_t out;
    bool verbose;
    bool static_out;      /* --static: everything at the end, in one go */
    bool summary;         /* --summary: counts after the returns */
    bool hide_timeout;    /* --hide-timeout: leave out minions that did not return */
    bool color;           /* ids in color (stdout a tty, no --no-color, no NO_COLOR) */
    bool progress;        /* a live "N/M returned" line (stderr a tty) */
    const char *batch;    /* -b N or N%, or NULL */
    int batch_wait;       /* seconds between batch starts */
    bool cp;              /* mctl cp: -h shows its help */
    bool recursive;       /* cp -r */
    int cp_mode;          /* cp --mode, or -1: each file's own */
    const char *cp_owner; /* cp --owner USER[:GROUP], or NULL */
} cli_opts_t;

/* The options every subcommand takes as well, wherever they stand:
   -c/--config-dir DIR, -t/--timeout SECONDS. For a subcommand's getopt
   table and short options; cli_common_option handles what getopt found:
   0 it was one of them, 1 it is not, -1 a usage error (said). */
#define CLI_COMMON_SHORT "c:t:"
#define CLI_COMMON_LONG                                                                            \
    {"config-dir", required_argument, NULL, 'c'},                                                  \
    {                                                                                              \
        "timeout", required_argument, NULL, 't'                                                    \
    }
int cli_common_option(cli_opts_t *o, int c, const char *arg);
/* For the default of a subcommand's option switch: 0 when getopt found
   a common option (taken), else EXIT_USAGE, with a pointer to `mctl SUB
   --help` when the option is none of them (getopt has said which). */
int cli_common_or_usage(cli_opts_t *o, int c, const char *arg, const char *sub);
/* After getopt's own message (an unknown option, a missing argument):
   "Try 'mctl[ SUB] --help' ..."; returns EXIT_USAGE. */
int cli_try_help(const char *sub);

/* A "Usage:" message for a wrong command line; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a subcommand: "mctl SUB: ..." and its own --help. */
int cli_sub_usage_error(const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int cmd_run(const cli_opts_t *o, const client_target_t *target, const char *fun, int argc,
            char **argv);
int cmd_list_targets(const cli_opts_t *o, const client_target_t *target);
int cmd_key(const cli_opts_t *o, int argc, char **argv);
int cmd_status(const cli_opts_t *o, int argc, char **argv);
int cmd_jobs(const cli_opts_t *o, int argc, char **argv);
/* mctl cp TARGET SOURCE... DEST (args: TARGET SOURCE... DEST). */
int cmd_cp(const cli_opts_t *o, client_target_t *target, int argc, char **argv);
/* mctl cp --help */
void cp_usage(FILE *f);
int cmd_jobs_wait(const cli_opts_t *o, const char *jid);

#endif
