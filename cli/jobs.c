/*  jobs - mctl jobs list|show: the job history the master keeps.

    `jobs show JID` prints a past job exactly as a live one printed: every
    minion's return, then the minions that never returned, with the same
    exit status rules. */
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "results.h"

static void jobs_usage(FILE *f)
{
    fprintf(f, "Usage: mctl jobs list [--limit N] [--fun GLOB] [--target GLOB] [--since TIME]\n"
               "                      [--user NAME] [--before JID] [--out txt|json]\n"
               "       mctl jobs show JID [--out txt|json|yaml] [--static] [--summary]\n"
               "       mctl jobs wait JID [--out txt|json|yaml] [--static] [--summary]\n"
               "       mctl jobs kill JID\n"
               "\n"
               "Browse the master's job history, newest first.\n"
               "\n"
               "Options:\n"
               "  -n, --limit N       at most N jobs (default 50, at most 10000)\n"
               "      --fun GLOB      only jobs whose function matches, e.g. 'cmd.*'\n"
               "      --target GLOB   only jobs whose target expression matches\n"
               "      --user NAME     only the jobs NAME ran (users of publisher_acl see\n"
               "                      only their own)\n"
               "      --since TIME    only jobs since TIME: 'YYYY-MM-DD[ HH:MM[:SS]]' (local),\n"
               "                      or an age such as 30m, 12h, 7d\n"
               "      --before JID    only jobs older than JID (the next page of a list)\n"
               "      --out FORMAT    txt (default), json, or yaml (show and wait)\n"
               "      --static        show, wait: print every return at the end, at once\n"
               "      --summary       show, wait: the counts after the returns\n"
               "      --hide-timeout  show, wait: leave out minions that did not return\n"
               "      --no-color      no color, even on a terminal\n"
               "  -c, --config-dir DIR  where the master config is\n"
               "  -t, --timeout SECONDS  how long to wait for the master (default 30)\n"
               "\n"
               "jobs wait prints what has returned, then waits for the rest until the\n"
               "job's time limit, as a live job does (mctl --async, then jobs wait), on\n"
               "any master sharing the job's history.\n"
               "jobs kill stops the job on the minions still running it; its return\n"
               "then says it was killed.\n"
               "jobs show and jobs wait exit like the job did: 0 all succeeded, 1 some\n"
               "failed, 2 some minion never returned.\n");
}

/* TIME as microseconds since the epoch; -1 when unreadable. */
static int64_t parse_since(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && end[0] && !end[1] && v >= 0) {
        int64_t unit = end[0] == 's'   ? 1
                       : end[0] == 'm' ? 60
                       : end[0] == 'h' ? 3600
                       : end[0] == 'd' ? 86400
                                       : 0;
        if (unit)
            return mc_wall_us() - (int64_t)(v * (double)unit * 1e6);
    }
    static const char *formats[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < 3; i++) {
        struct tm tm = {0};
        const char *rest = strptime(s, formats[i], &tm);
        if (rest && !*rest) {
            tm.tm_isdst = -1;
            return (int64_t)mktime(&tm) * 1000000;
        }
    }
    return -1;
}

static void print_time(int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    printf("%s", buf);
}

static void json_text_field(const char *key, const char *value, bool last)
{
    printf("        \"%s\": ", key);
    mc_json_text(stdout, value, strlen(value), 8);
    printf(last ? "\n" : ",\n");
}

static void json_int_field(const char *key, int64_t value, bool last)
{
    printf("        \"%s\": %lld%s\n", key, (long long)value, last ? "" : ",");
}

/* The list as JSON, with the fields of each job in the order the master
   sends them. */
static void print_jobs_json(const mc_reply_jobs_list_t *l)
{
    if (l->count == 0) {
        printf("[]\n");
        return;
    }
    printf("[\n");
    for (size_t i = 0; i < l->count; i++) {
        const mc_job_summary_t *j = &l->jobs[i];
        printf("    {\n");
        json_text_field("jid", j->jid, false);
        json_text_field("fun", j->fun, false);
        json_text_field("tgt", j->tgt, false);
        json_text_field("tgt_type", j->tgt_type, false);
        json_text_field("user", j->user, false);
        json_int_field("ts", j->ts_us, false);
        json_int_field("minions", j->minions, false);
        json_int_field("returned", j->returned, false);
        json_int_field("failed", j->failed, true);
        printf("    }%s\n", i + 1 < l->count ? "," : "");
    }
    printf("]\n");
}

static int jobs_list(const cli_opts_t *o, int limit, const char *fun, const char *target,
                     const char *user, int64_t since, const char *before)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_jobs_list_pack(&sb, fun, target, user, limit, since, before);
    client_frame_t *body;
    int rc = client_request(o->config_dir, &sb, &body, o->timeout * 1000);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    mc_reply_jobs_list_t list;
    mc_err_t err;
    rc = mc_reply_jobs_list_decode(&list, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0)
        return client_reply_failed(&err);
    if (list.behind)
        fprintf(stderr, "mctl: the job history is behind: the master cannot write its job cache "
                        "now (its log says why); the newest jobs and returns wait in its queue: "
                        "they are listed, and stored once it can write again\n");
    if (o->out == OUT_JSON) {
        print_jobs_json(&list);
    } else {
        printf("%-20s  %-19s  %-20s  %-24s  %-8s  %9s  %6s  %7s\n", "JID", "STARTED", "FUNCTION",
               "TARGET", "USER", "RETURNED", "FAILED", "MISSING");
        for (size_t i = 0; i < list.count; i++) {
            const mc_job_summary_t *j = &list.jobs[i];
            printf("%-20s  ", j->jid);
            print_time(j->ts_us);
            char ret[48];
            snprintf(ret, sizeof ret, "%lld/%lld", (long long)j->returned, (long long)j->minions);
            /* Long targets and users are cut to their column. */
            printf("  %-20s  %-24.24s  %-8.8s  %9s  %6lld  %7lld\n", j->fun, j->tgt, j->user, ret,
                   (long long)j->failed, (long long)(j->minions - j->returned));
        }
    }
    mc_reply_jobs_list_done(&list);
    return EXIT_OK;
}

/* A past job from the master's history: 0, or the exit status to fail
   with (after printing why). With conn, the connection stays open there
   (the caller closes it) for the stored returns that follow the reply;
   without, they are not read. */
static int fetch_job(const cli_opts_t *o, const char *verb, const char *jid, mc_reply_job_t *job,
                     client_t *conn)
{
    if (!mc_jid_valid(jid, strlen(jid))) {
        char sub[32];
        snprintf(sub, sizeof sub, "jobs %s", verb);
        return cli_sub_usage_error(sub, "'%s' is not a job id (20 digits)", jid);
    }
    client_t c;
    mc_err_t err;
    if (client_open(&c, o->config_dir, &err) != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return EXIT_UNAVAILABLE;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_job_pack(&sb, MC_REQ_JOBS_SHOW, jid);
    client_frame_t *body;
    int rc = client_ask(&c, &sb, &body, CLIENT_HISTORY_ASK_MS, &err);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0) {
        client_close(&c);
        fprintf(stderr, "mctl: %s\n", err.msg);
        return err.code == MC_E_UNREACHABLE ? EXIT_UNAVAILABLE : EXIT_FAILED;
    }
    rc = mc_reply_jobs_show_decode(job, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0 || !conn) {
        client_close(&c);
        return rc != 0 ? client_reply_failed(&err) : 0;
    }
    *conn = c;
    return 0;
}

static int jobs_show(const cli_opts_t *o, const char *jid)
{
    mc_reply_job_t job;
    client_t c;
    int rc = fetch_job(o, "show", jid, &job, &c);
    if (rc != 0)
        return rc;
    size_t n = job.minions.count;
    result_t *r = mc_calloc(n + 1, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i].id = mc_strdup(job.minions.items[i]);
        r[i].state = MISSING;
    }
    /* The stored returns, one message each after the reply. */
    for (int64_t k = 0; k < job.stored && rc == 0; k++) {
        char kind[16];
        client_frame_t *raw = NULL;
        if (client_next(&c, kind, &raw, 30000) <= 0) {
            fprintf(stderr,
                    "mctl: the master stopped sending the returns of job %s (%lld of "
                    "%lld came)\n",
                    jid, (long long)k, (long long)job.stored);
            rc = EXIT_UNAVAILABLE;
            break;
        }
        mc_ret_t ret;
        mc_err_t err;
        if (strcmp(kind, MC_KIND_RETURN) != 0 || mc_ret_decode(&ret, raw->data, raw->size, &err)) {
            client_frame_free(&raw);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(r[i].id, ret.id) != 0 || r[i].state == RETURNED)
                continue;
            r[i].state = RETURNED;
            r[i].success = ret.success;
            if (o->out == OUT_TXT && !o->static_out)
                results_print_txt(o, ret.id, ret.success, ret.ret);
            else
                r[i].ret = client_frame_new(raw->data, raw->size);
        }
        mc_ret_done(&ret);
        client_frame_free(&raw);
    }
    client_close(&c);
    /* The ones it never went to, with the master's reason. */
    for (size_t k = 0; k < job.unsent.count; k++)
        for (size_t i = 0; i < n; i++)
            if (r[i].state == MISSING && strcmp(r[i].id, job.unsent.items[k]) == 0) {
                r[i].state = NOT_SENT;
                r[i].why = mc_strdup(job.unsent_why.items[k]);
            }
    mc_reply_job_done(&job);
    int reported = results_report(o, r, n, jid);
    if (rc == 0)
        rc = reported;
    for (size_t i = 0; i < n; i++) {
        free(r[i].id);
        free(r[i].why);
        client_frame_free(&r[i].ret);
    }
    free(r);
    return rc;
}

/* Send jobs.kill JID to the minions the job went to. */
static int jobs_kill(const cli_opts_t *o, const char *jid)
{
    mc_reply_job_t job;
    int rc = fetch_job(o, "kill", jid, &job, NULL);
    if (rc != 0)
        return rc;
    mc_buf_t list = {0};
    for (size_t i = 0; i < job.minions.count; i++) {
        if (list.len)
            mc_buf_append(&list, ",", 1);
        mc_buf_append(&list, job.minions.items[i], job.minions.lens[i]);
    }
    mc_reply_job_done(&job);
    if (!list.len) {
        fprintf(stderr, "mctl: job %s went to no minion\n", jid);
        return EXIT_FAILED;
    }
    client_target_t target = {list.data, "list", 0};
    char *args[] = {(char *)jid};
    rc = cmd_run(o, &target, "jobs.kill", 1, args);
    mc_buf_free(&list);
    return rc;
}

int cmd_jobs(const cli_opts_t *opts, int argc, char **argv)
{
    cli_opts_t o = *opts;
    static const struct option long_opts[] = {
        {"limit", required_argument, NULL, 'n'},
        {"fun", required_argument, NULL, 'f'},
        {"target", required_argument, NULL, 'T'},
        {"since", required_argument, NULL, 's'},
        {"user", required_argument, NULL, 'u'},
        {"before", required_argument, NULL, 'B'},
        {"out", required_argument, NULL, 'o'},
        {"static", no_argument, NULL, 1001},
        {"summary", no_argument, NULL, 1002},
        {"hide-timeout", no_argument, NULL, 1003},
        {"no-color", no_argument, NULL, 1004},
        {"help", no_argument, NULL, 'h'},
        CLI_COMMON_LONG,
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        jobs_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *action = argv[1], *fun = NULL, *target = NULL, *user = NULL, *before = NULL;
    int limit = 50;
    int64_t since = 0;
    /* The action stands where getopt expects the program's name, and
       optind 0 makes GNU getopt start afresh (permuting, so options may
       come after the job id too). */
    argc--;
    argv++;
    char prog[48];
    snprintf(prog, sizeof prog, "mctl jobs %s", action);
    argv[0] = prog; /* getopt's messages begin with it */
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "n:h" CLI_COMMON_SHORT, long_opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'n':
            limit = (int)strtol(optarg, &end, 10);
            if (*end || limit < 1 || limit > MC_JOBS_LIMIT_MAX)
                return cli_sub_usage_error("jobs",
                                           "--limit: expected a number from 1 to %d, got '%s'",
                                           MC_JOBS_LIMIT_MAX, optarg);
            break;
        case 'f':
            fun = optarg;
            break;
        case 'T':
            target = optarg;
            break;
        case 'u':
            if (strlen(optarg) > MC_USER_MAX)
                return cli_sub_usage_error("jobs", "--user: a user name has at most %d characters",
                                           MC_USER_MAX);
            user = optarg;
            break;
        case 'B':
            if (!mc_jid_valid(optarg, strlen(optarg)))
                return cli_sub_usage_error(
                    "jobs", "--before: expected a job id (20 digits), got '%s'", optarg);
            before = optarg;
            break;
        case 's':
            since = parse_since(optarg);
            if (since < 0)
                return cli_sub_usage_error("jobs",
                                           "--since: expected 'YYYY-MM-DD[ HH:MM[:SS]]' or an age "
                                           "like 12h, got '%s'",
                                           optarg);
            break;
        case 'o':
            if (output_parse(optarg, &o.out) != 0)
                return cli_sub_usage_error("jobs", "--out: expected txt, json or yaml, got '%s'",
                                           optarg);
            break;
        case 1001:
            o.static_out = true;
            break;
        case 1002:
            o.summary = true;
            break;
        case 1003:
            o.hide_timeout = true;
            break;
        case 1004:
            o.color = false;
            break;
        case 'h':
            jobs_usage(stdout);
            return EXIT_OK;
        default:
            if (cli_common_or_usage(&o, c, optarg, "jobs") != 0)
                return EXIT_USAGE;
            break;
        }
    }
    int rest = argc - optind;
    if (strcmp(action, "list") == 0) {
        if (o.out == OUT_YAML)
            return cli_sub_usage_error("jobs list",
                                       "--out yaml is for show and wait (txt or json here)");
        if (rest)
            return cli_sub_usage_error("jobs list", "unexpected argument '%s'", argv[optind]);
        return jobs_list(&o, limit, fun, target, user, since, before);
    }
    if (strcmp(action, "show") == 0) {
        if (rest != 1)
            return cli_sub_usage_error("jobs show", "name one job id");
        return jobs_show(&o, argv[optind]);
    }
    if (strcmp(action, "wait") == 0) {
        if (rest != 1)
            return cli_sub_usage_error("jobs wait", "name one job id");
        return cmd_jobs_wait(&o, argv[optind]);
    }
    if (strcmp(action, "kill") == 0) {
        if (rest != 1)
            return cli_sub_usage_error("jobs kill", "name one job id");
        return jobs_kill(&o, argv[optind]);
    }
    return cli_sub_usage_error("jobs", "unknown command '%s' (list, show, wait, kill)", action);
}
