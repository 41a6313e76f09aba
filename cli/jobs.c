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
               "                      [--out txt|json]\n"
               "       mctl jobs show JID [--out txt|json]\n"
               "       mctl jobs wait JID [--out txt|json]\n"
               "       mctl jobs kill JID\n"
               "\n"
               "Browse the master's job history, newest first.\n"
               "\n"
               "Options:\n"
               "  -n, --limit N       at most N jobs (default 50)\n"
               "      --fun GLOB      only jobs whose function matches, e.g. 'cmd.*'\n"
               "      --target GLOB   only jobs whose target expression matches\n"
               "      --since TIME    only jobs since TIME: 'YYYY-MM-DD[ HH:MM[:SS]]' (local),\n"
               "                      or an age such as 30m, 12h, 7d\n"
               "      --out FORMAT    txt (default) or json\n"
               "\n"
               "jobs wait prints what has returned, then waits for the rest until the\n"
               "job's time limit, as a live job does (mctl --async, then jobs wait).\n"
               "jobs kill stops the job on the minions still running it; its return\n"
               "then says it was killed. jobs show exits like the job did: 0 all succeeded, 1 some "
               "failed, 2 some\n"
               "minion never returned.\n");
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

static int jobs_list(const cli_opts_t *o, int limit, const char *fun, const char *target,
                     int64_t since)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    mc_pk_kv_int(&pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_str(&pk, "cmd", "jobs_list");
    mc_pk_kv_int(&pk, "limit", limit);
    mc_pk_kv_str(&pk, "fun", fun ? fun : "");
    mc_pk_kv_str(&pk, "target", target ? target : "");
    mc_pk_kv_int(&pk, "since", since);
    mc_mp_doc_t reply;
    int rc = client_request(o->config_dir, &sb, &reply, 30000);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    const msgpack_object *jobs = mc_mp_get(&reply.root, "jobs");
    if (!jobs || jobs->type != MSGPACK_OBJECT_ARRAY) {
        fprintf(stderr, "mctl: bad answer from the master\n");
        mc_mp_doc_done(&reply);
        return EXIT_UNAVAILABLE;
    }
    if (o->out == OUT_JSON) {
        output_json_value(stdout, jobs, 0);
        printf("\n");
    } else {
        printf("%-20s  %-19s  %-20s  %-24s  %-8s  %9s  %6s  %7s\n", "JID", "STARTED", "FUNCTION",
               "TARGET", "USER", "RETURNED", "FAILED", "MISSING");
        for (uint32_t i = 0; i < jobs->via.array.size; i++) {
            const msgpack_object *j = &jobs->via.array.ptr[i];
            char jid[32] = "", f[MC_FUN_MAX + 1] = "", tgt[25] = "", user[9] = "";
            int64_t ts = 0, minions = 0, returned = 0, failed = 0;
            mc_mp_str(j, "jid", jid, sizeof jid, NULL);
            mc_mp_str(j, "fun", f, sizeof f, NULL);
            const msgpack_object *t = mc_mp_get(j, "tgt");
            if (t && t->type == MSGPACK_OBJECT_STR)
                snprintf(tgt, sizeof tgt, "%.*s", (int)t->via.str.size, t->via.str.ptr);
            const msgpack_object *u = mc_mp_get(j, "user");
            if (u && u->type == MSGPACK_OBJECT_STR)
                snprintf(user, sizeof user, "%.*s", (int)u->via.str.size, u->via.str.ptr);
            mc_mp_int(j, "ts", 0, INT64_MAX, &ts, NULL);
            mc_mp_int(j, "minions", 0, INT64_MAX, &minions, NULL);
            mc_mp_int(j, "returned", 0, INT64_MAX, &returned, NULL);
            mc_mp_int(j, "failed", 0, INT64_MAX, &failed, NULL);
            printf("%-20s  ", jid);
            print_time(ts);
            char ret[32];
            snprintf(ret, sizeof ret, "%lld/%lld", (long long)returned, (long long)minions);
            printf("  %-20s  %-24s  %-8s  %9s  %6lld  %7lld\n", f, tgt, user, ret,
                   (long long)failed, (long long)(minions - returned));
        }
    }
    mc_mp_doc_done(&reply);
    return EXIT_OK;
}

/* A past job from the master's history: 0, or the exit status to fail
   with (after printing why). */
static int fetch_job(const cli_opts_t *o, const char *verb, const char *jid, mc_mp_doc_t *reply)
{
    if (!mc_jid_valid(jid, strlen(jid)))
        return cli_usage_error("jobs %s: '%s' is not a job id (20 digits)", verb, jid);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    client_pack_jid_request(&sb, "jobs_show", jid);
    int rc = client_request(o->config_dir, &sb, reply, 30000);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int jobs_show(const cli_opts_t *o, const char *jid)
{
    mc_mp_doc_t reply;
    int rc = fetch_job(o, "show", jid, &reply);
    if (rc != 0)
        return rc;
    const msgpack_object *minions = mc_mp_get(&reply.root, "minions");
    const msgpack_object *returns = mc_mp_get(&reply.root, "returns");
    if (!minions || minions->type != MSGPACK_OBJECT_ARRAY || !returns ||
        returns->type != MSGPACK_OBJECT_ARRAY) {
        fprintf(stderr, "mctl: bad answer from the master\n");
        mc_mp_doc_done(&reply);
        return EXIT_UNAVAILABLE;
    }
    size_t n = minions->via.array.size;
    result_t *r = mc_calloc(n + 1, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i].id = mc_mp_cstr(&minions->via.array.ptr[i]);
        r[i].state = MISSING;
    }
    for (uint32_t k = 0; k < returns->via.array.size; k++) {
        const msgpack_object *raw = &returns->via.array.ptr[k];
        mc_ret_t ret;
        mc_err_t err;
        if (raw->type != MSGPACK_OBJECT_BIN ||
            mc_ret_decode(&ret, raw->via.bin.ptr, raw->via.bin.size, &err) != 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(r[i].id, ret.id) != 0 || r[i].state == RETURNED)
                continue;
            r[i].state = RETURNED;
            r[i].success = ret.success;
            if (o->out == OUT_TXT)
                output_txt_minion(stdout, ret.id, ret.ret);
            else
                r[i].ret = client_frame_new(raw->via.bin.ptr, raw->via.bin.size);
        }
        mc_ret_done(&ret);
    }
    /* The ones it never went to, with the master's reason. */
    const msgpack_object *unsent = mc_mp_get(&reply.root, "unsent");
    for (uint32_t k = 0; unsent && unsent->type == MSGPACK_OBJECT_MAP && k < unsent->via.map.size;
         k++) {
        const msgpack_object *id = &unsent->via.map.ptr[k].key, *why = &unsent->via.map.ptr[k].val;
        for (size_t i = 0;
             i < n && id->type == MSGPACK_OBJECT_STR && why->type == MSGPACK_OBJECT_STR; i++)
            if (r[i].state == MISSING && strlen(r[i].id) == id->via.str.size &&
                memcmp(r[i].id, id->via.str.ptr, id->via.str.size) == 0) {
                r[i].state = NOT_SENT;
                r[i].why = mc_mp_cstr(why);
            }
    }
    mc_mp_doc_done(&reply);
    rc = results_report(o, r, n, jid);
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
    mc_mp_doc_t reply;
    int rc = fetch_job(o, "kill", jid, &reply);
    if (rc != 0)
        return rc;
    const msgpack_object *minions = mc_mp_get(&reply.root, "minions");
    mc_buf_t list = {0};
    for (uint32_t i = 0;
         minions && minions->type == MSGPACK_OBJECT_ARRAY && i < minions->via.array.size; i++) {
        const msgpack_object *id = &minions->via.array.ptr[i];
        if (id->type != MSGPACK_OBJECT_STR)
            continue;
        if (list.len)
            mc_buf_append(&list, ",", 1);
        mc_buf_append(&list, id->via.str.ptr, id->via.str.size);
    }
    mc_mp_doc_done(&reply);
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
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        jobs_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *action = argv[1], *fun = NULL, *target = NULL;
    int limit = 50;
    int64_t since = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "n:h", long_opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'n':
            limit = (int)strtol(optarg, &end, 10);
            if (*end || limit < 1)
                return cli_usage_error("--limit: expected a positive number, got '%s'", optarg);
            break;
        case 'f':
            fun = optarg;
            break;
        case 'T':
            target = optarg;
            break;
        case 's':
            since = parse_since(optarg);
            if (since < 0)
                return cli_usage_error("--since: expected 'YYYY-MM-DD[ HH:MM[:SS]]' or an age "
                                       "like 12h, got '%s'",
                                       optarg);
            break;
        case 'o':
            if (output_parse(optarg, &o.out) != 0)
                return cli_usage_error("--out: expected txt or json, got '%s'", optarg);
            break;
        case 'h':
            jobs_usage(stdout);
            return EXIT_OK;
        default:
            jobs_usage(stderr);
            return EXIT_USAGE;
        }
    }
    int rest = argc - optind;
    if (strcmp(action, "list") == 0) {
        if (rest)
            return cli_usage_error("jobs list: unexpected argument '%s'", argv[optind]);
        return jobs_list(&o, limit, fun, target, since);
    }
    if (strcmp(action, "show") == 0) {
        if (rest != 1)
            return cli_usage_error("jobs show: name one job id");
        return jobs_show(&o, argv[optind]);
    }
    if (strcmp(action, "wait") == 0) {
        if (rest != 1)
            return cli_usage_error("jobs wait: name one job id");
        return cmd_jobs_wait(&o, argv[optind]);
    }
    if (strcmp(action, "kill") == 0) {
        if (rest != 1)
            return cli_usage_error("jobs kill: name one job id");
        return jobs_kill(&o, argv[optind]);
    }
    return cli_usage_error("unknown jobs command '%s' (list, show, wait, kill)", action);
}
