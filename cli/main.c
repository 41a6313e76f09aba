/*  mctl - the command line: run jobs on minions, manage keys, see status.

    mctl [OPTIONS] TARGET FUNCTION [ARG ...] [KEY=VALUE ...]
    mctl key ...      mctl status

    Options come before the target, so arguments meant for the function
    (even ones starting with '-') pass through untouched. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "target.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: mctl [OPTIONS] TARGET FUNCTION [ARG ...] [KEY=VALUE ...]\n"
               "       mctl key list|accept|reject|delete|finger [ID ...|-A]\n"
               "       mctl jobs list [--limit N] [--fun GLOB] [--target GLOB] [--since TIME]\n"
               "       mctl jobs show|wait|kill JID\n"
               "       mctl status\n"
               "       mctl cp [OPTIONS] TARGET SOURCE... DEST   (mctl cp --help)\n"
               "       mctl deploy --roster FILE [HOST ...]   (mctl deploy --help)\n"
               "\n"
               "Run FUNCTION on every minion TARGET selects, print each minion's return as it\n"
               "arrives, then list the minions that did not return. On a terminal, a line on\n"
               "stderr counts the returns as they come, and ids are green (success), red\n"
               "(failed) or yellow (no return).\n"
               "\n"
               "Targets (a glob on the minion id unless told otherwise; Salt's syntax):\n"
               "  -L, --list             a comma-separated list of ids: web1,web2\n"
               "  -E, --pcre             a regular expression on the id: 'web\\d+$'\n"
               "  -G, --grain            a grain and a glob on its value: 'os:Debian'\n"
               "  -P, --grain-pcre       a grain and a regular expression on its value\n"
               "  -S, --ipcidr           a subnet or an address: 10.0.0.0/8\n"
               "  -N, --nodegroup        a nodegroup named in the master config\n"
               "  -C, --compound         an expression: 'G@os:Debian and web* or L@db1'\n"
               "      --delimiter C      between nested grain keys (default ':')\n"
               "      --list-targets     print the minions TARGET selects; run nothing\n"
               "\n"
               "Options:\n"
               "  -t, --timeout SECONDS  time limit for the job (default 30); minions stop the\n"
               "                         function when it passes\n"
               "      --gather-timeout S how long a minion has to acknowledge the job before it\n"
               "                         counts as not returned (default 5)\n"
               "      --async            publish, print the job id, and exit\n"
               "      --out FORMAT       txt (default, like Salt's nested output), json or yaml\n"
               "      --static           print every return at the end, at once (json and yaml\n"
               "                         are always one document, with the missing minions)\n"
               "      --summary          counts after the returns: targeted, returned, not\n"
               "                         returned, with errors (on stderr for json and yaml)\n"
               "      --hide-timeout     leave out minions that did not return (the exit\n"
               "                         status still says so)\n"
               "      --no-color         no color, even on a terminal (or set NO_COLOR)\n"
               "  -b, --batch N|N%%       run on at most N minions (or N%%) at once\n"
               "      --batch-wait S     seconds between one batch minion ending and the next\n"
               "                         starting\n"
               "  -c, --config-dir DIR   where the master config is (default $MCTL_CONFIG_DIR\n"
               "                         or /etc/mctl)\n"
               "  -v, --verbose          print the job id before the returns\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n"
               "\n"
               "Arguments of the form KEY=VALUE are passed as keyword arguments. Options may\n"
               "come anywhere; after '--' everything is an argument, even if it starts\n"
               "with '-'.\n"
               "\n"
               "Exit status: 0 every minion returned success; 1 some function failed; 2 some\n"
               "minion did not return, or none matched; 64 bad usage; 69 master unreachable;\n"
               "77 not permitted (publisher_acl).\n"
               "\n"
               "Examples:\n"
               "  mctl '*' test.ping\n"
               "  mctl 'web*' cmd.run 'systemctl restart nginx' timeout=60\n"
               "  mctl -L web1,web2 grains.get os\n"
               "  mctl -G 'roles:web' cmd.run 'systemctl restart nginx'\n"
               "  mctl -C 'G@os:Debian and web* and not E@web-dc2-.*' test.ping\n"
               "  mctl -b 10%% '*' cmd.run 'apt-get -y upgrade' -t 600\n"
               "  mctl '*' sys.doc cmd.run\n");
}

static int usage_error(const char *sub, const char *fmt, va_list ap)
{
    fprintf(stderr, "mctl: %s%s", sub ? sub : "", sub ? ": " : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'mctl%s%s --help' for more information.\n", sub ? " " : "",
            sub ? sub : "");
    return EXIT_USAGE;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    usage_error(NULL, fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

int cli_sub_usage_error(const char *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    usage_error(sub, fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

static int parse_seconds(const char *opt, const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 365L * 86400) {
        cli_usage_error("%s: expected a number of seconds, got '%s'", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_common_option(cli_opts_t *o, int c, const char *arg)
{
    if (c == 'c') {
        o->config_dir = arg;
        return 0;
    }
    if (c == 't')
        return parse_seconds("--timeout", arg, &o->timeout) == 0 ? 0 : -1;
    return 1;
}

int cli_try_help(const char *sub)
{
    fprintf(stderr, "Try 'mctl%s%s --help' for more information.\n", sub ? " " : "",
            sub ? sub : "");
    return EXIT_USAGE;
}

int cli_common_or_usage(cli_opts_t *o, int c, const char *arg, const char *sub)
{
    int common = cli_common_option(o, c, arg);
    if (common == 0)
        return 0;
    if (common > 0)
        cli_try_help(sub);
    return EXIT_USAGE;
}

static const struct option global_opts[] = {
    {"timeout", required_argument, NULL, 't'},
    {"gather-timeout", required_argument, NULL, 'g'},
    {"async", no_argument, NULL, 'a'},
    {"out", required_argument, NULL, 'o'},
    {"config-dir", required_argument, NULL, 'c'},
    {"list", no_argument, NULL, 'L'},
    {"pcre", no_argument, NULL, 'E'},
    {"grain", no_argument, NULL, 'G'},
    {"grain-pcre", no_argument, NULL, 'P'},
    {"ipcidr", no_argument, NULL, 'S'},
    {"nodegroup", no_argument, NULL, 'N'},
    {"compound", no_argument, NULL, 'C'},
    {"delimiter", required_argument, NULL, 'D'},
    {"list-targets", no_argument, NULL, 'T'},
    {"batch", required_argument, NULL, 'b'},
    {"batch-wait", required_argument, NULL, 'W'},
    {"verbose", no_argument, NULL, 'v'},
    {"static", no_argument, NULL, 1001},
    {"summary", no_argument, NULL, 1002},
    {"hide-timeout", no_argument, NULL, 1003},
    {"no-color", no_argument, NULL, 1004},
    {"recursive", no_argument, NULL, 'r'},
    {"mode", required_argument, NULL, 1005},
    {"owner", required_argument, NULL, 1006},
    {"progress", no_argument, NULL, 1007},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* Parse global options. With permute, options may stand anywhere (as Salt
   allows: mctl '*' test.ping --out json); "--" ends them, so arguments
   starting with '-' can still reach the function. Returns -1 to exit with
   *status. */
static bool batch_valid(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return *s && v >= 1 && (*end == '\0' || (end[0] == '%' && end[1] == '\0' && v <= 100));
}

static int parse_options(int argc, char **argv, bool permute, cli_opts_t *o,
                         client_target_t *target, bool *list_targets, bool *no_color, int *status)
{
    int c;
    optind = 0; /* 0, not 1: GNU getopt then starts afresh, permutation included */
    while ((c = getopt_long(argc, argv, permute ? "t:c:LEGPSNCb:vhr" : "+t:c:LEGPSNCb:vhr",
                            global_opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (parse_seconds("--timeout", optarg, &o->timeout) != 0)
                goto usage;
            break;
        case 'g':
            if (parse_seconds("--gather-timeout", optarg, &o->gather_timeout) != 0)
                goto usage;
            break;
        case 'a':
            o->async = true;
            break;
        case 'o':
            if (output_parse(optarg, &o->out) != 0) {
                cli_usage_error("--out: expected txt, json or yaml, got '%s'", optarg);
                goto usage;
            }
            break;
        case 'c':
            o->config_dir = optarg;
            break;
        case 'L':
            target->tgt_type = "list";
            break;
        case 'E':
            target->tgt_type = "pcre";
            break;
        case 'G':
            target->tgt_type = "grain";
            break;
        case 'P':
            target->tgt_type = "grain_pcre";
            break;
        case 'S':
            target->tgt_type = "ipcidr";
            break;
        case 'N':
            target->tgt_type = "nodegroup";
            break;
        case 'C':
            target->tgt_type = "compound";
            break;
        case 'D':
            if (strlen(optarg) != 1) {
                cli_usage_error("--delimiter: expected one character, got '%s'", optarg);
                goto usage;
            }
            target->delimiter = optarg[0];
            break;
        case 'T':
            *list_targets = true;
            break;
        case 'b':
            if (!batch_valid(optarg)) {
                cli_usage_error("--batch: expected a number of minions or a percentage, got '%s'",
                                optarg);
                goto usage;
            }
            o->batch = optarg;
            break;
        case 'W': {
            int secs;
            if (parse_seconds("--batch-wait", optarg, &secs) != 0)
                goto usage;
            o->batch_wait = secs;
            break;
        }
        case 'v':
            o->verbose = true;
            break;
        case 1001:
            o->static_out = true;
            break;
        case 1002:
            o->summary = true;
            break;
        case 1003:
            o->hide_timeout = true;
            break;
        case 1004:
            *no_color = true;
            break;
        case 'r':
            o->recursive = true;
            break;
        case 1005: {
            char *end;
            long mode = strtol(optarg, &end, 8);
            if (!*optarg || *end || mode < 0 || mode > 07777) {
                cli_usage_error("--mode: expected an octal mode such as 0644, got '%s'", optarg);
                goto usage;
            }
            o->cp_mode = (int)mode;
            break;
        }
        case 1006:
            if (!*optarg || strlen(optarg) > MC_CP_OWNER_MAX || optarg[0] == ':') {
                cli_usage_error("--owner: expected USER or USER:GROUP, got '%s'", optarg);
                goto usage;
            }
            o->cp_owner = optarg;
            break;
        case 1007:
            o->progress = true;
            break;
        case 'h':
            if (o->cp) {
                cp_usage(stdout);
                *status = EXIT_OK;
                return -1;
            }
            usage(stdout);
            *status = EXIT_OK;
            return -1;
        case 'V':
            printf("mctl %s\n", mc_version());
            *status = EXIT_OK;
            return -1;
        default: /* getopt has said what was wrong */
            cli_try_help(o->cp ? "cp" : NULL);
            goto usage;
        }
    }
    return 0;
usage:
    *status = EXIT_USAGE;
    return -1;
}

/* mctl deploy is a program of its own (it alone needs libssh): run the
   mctl-deploy beside this mctl, or else the one on PATH. */
static int run_deploy(const cli_opts_t *o, char **args)
{
    if (o->config_dir)
        setenv("MCTL_CONFIG_DIR", o->config_dir, 1);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    args[0] = "mctl-deploy";
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash && (size_t)(slash - self) + sizeof "/mctl-deploy" <= sizeof self) {
            strcpy(slash, "/mctl-deploy");
            execv(self, args);
        }
    }
    execvp("mctl-deploy", args);
    fprintf(stderr, "mctl: cannot run mctl-deploy: %s\n", strerror(errno));
    return 69;
}

int main(int argc, char **argv)
{
    cli_opts_t o = {.timeout = 30, .gather_timeout = 5, .out = OUT_TXT, .cp_mode = -1};
    client_target_t target = {NULL, "glob", 0};
    bool list_targets = false, no_color = false;
    int status;
    opterr = 1;
    argv[0] = (char *)"mctl"; /* getopt's messages begin with it */
    /* Options before a subcommand (key, status) are global; the
       subcommand parses the rest. A job's options may stand anywhere. */
    if (parse_options(argc, argv, false, &o, &target, &list_targets, &no_color, &status) != 0)
        return status;
    if (optind < argc && strcmp(argv[optind], "deploy") == 0)
        return run_deploy(&o, argv + optind);
    bool subcommand =
        optind < argc && (strcmp(argv[optind], "key") == 0 || strcmp(argv[optind], "status") == 0 ||
                          strcmp(argv[optind], "jobs") == 0);
    o.cp = optind < argc && strcmp(argv[optind], "cp") == 0;
    if (o.cp)
        argv[0] = (char *)"mctl cp";
    if (!subcommand &&
        parse_options(argc, argv, true, &o, &target, &list_targets, &no_color, &status) != 0)
        return status;
    o.config_dir = mc_config_dir(o.config_dir);
    const char *nc = getenv("NO_COLOR");
    o.color = isatty(STDOUT_FILENO) && !no_color && !(nc && *nc);
    o.progress = (o.progress || isatty(STDERR_FILENO)) && !o.async;
    mc_log_open("mctl", MC_LOG_WARNING, NULL, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) {
        fprintf(stderr, "mctl: libsodium failed to start\n");
        return 70;
    }
    int rest = argc - optind;
    char **args = argv + optind;
    if (rest < 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    int rc;
    if (!o.cp && (o.recursive || o.cp_mode >= 0 || o.cp_owner))
        return cli_usage_error("-r, --mode and --owner are options of mctl cp");
    if (o.cp) {
        rc = list_targets ? cli_usage_error("--list-targets is not an option of mctl cp")
                          : cmd_cp(&o, &target, rest - 1, args + 1);
    } else if (strcmp(args[0], "key") == 0) {
        rc = cmd_key(&o, rest, args);
    } else if (strcmp(args[0], "jobs") == 0) {
        rc = cmd_jobs(&o, rest, args);
    } else if (strcmp(args[0], "status") == 0) {
        rc = cmd_status(&o, rest, args);
    } else if (list_targets) {
        target.tgt = args[0];
        rc = rest > 1 ? cli_usage_error("--list-targets takes only a target")
                      : cmd_list_targets(&o, &target);
    } else if (rest < 2) {
        rc = cli_usage_error("missing FUNCTION after the target '%s'", args[0]);
    } else {
        mc_err_t err;
        target.tgt = args[0];
        /* Catch a malformed expression before anything leaves this host;
           nodegroups are known only to the master, which checks them. */
        mc_target_t *check = NULL;
        bool groups = strcmp(target.tgt_type, "nodegroup") == 0 ||
                      (strcmp(target.tgt_type, "compound") == 0 && strstr(target.tgt, "N@"));
        if (!groups &&
            !(check = mc_target_compile(target.tgt, target.tgt_type, target.delimiter, &err)))
            rc = cli_usage_error("%s", err.msg);
        else
            rc = cmd_run(&o, &target, args[1], rest - 2, args + 2);
        mc_target_destroy(&check);
    }
    return rc;
}
