/*  status - mctl status: which accepted minions answer (up) and which do
    not (down), like Salt's manage.status. It pings every accepted minion
    through the ordinary job path, so "up" means "runs jobs". */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "yamlout.h"
#include "proto/proto.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_status(const cli_opts_t *opts, int argc, char **argv)
{
    cli_opts_t o = *opts;
    static const struct option long_opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        CLI_COMMON_LONG,
        {NULL, 0, NULL, 0},
    };
    optind = 0;
    argv[0] = (char *)"mctl status"; /* getopt's messages begin with it */
    int opt;
    while ((opt = getopt_long(argc, argv, "h" CLI_COMMON_SHORT, long_opts, NULL)) != -1) {
        int common;
        switch (opt) {
        case 'h':
            printf("Usage: mctl status [--out txt|json|yaml] [-t SECONDS] [-c DIR]\n\n"
                   "Ping every accepted minion and list those that answer (up) and those\n"
                   "that do not (down). Exit status 0 when all are up, 2 when some are down.\n");
            return EXIT_OK;
        case 'o':
            if (output_parse(optarg, &o.out) != 0)
                return cli_sub_usage_error("status", "--out: expected txt, json or yaml, got '%s'",
                                           optarg);
            break;
        default:
            common = cli_common_option(&o, opt, optarg);
            if (common != 0)
                return common < 0 ? EXIT_USAGE : cli_try_help("status");
        }
    }
    if (optind < argc)
        return cli_sub_usage_error("status", "unexpected argument '%s'", argv[optind]);
    client_t c;
    mc_err_t err;
    if (client_open(&c, o.config_dir, &err) != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return EXIT_UNAVAILABLE;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    client_target_t all = {"*", "glob", 0};
    client_pack_publish(&sb, &all, "test.ping", 0, NULL, o.timeout, "status");
    client_frame_t *answer;
    int rc = client_ask(&c, &sb, &answer, 10000, &err);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        client_close(&c);
        return EXIT_UNAVAILABLE;
    }
    mc_reply_targets_t reply;
    rc = mc_reply_publish_decode(&reply, answer->data, answer->size, &err);
    client_frame_free(&answer);
    if (rc != 0) {
        client_reply_failed(&err);
        client_close(&c);
        return EXIT_UNAVAILABLE;
    }
    char jid[MC_JID_LEN + 1];
    snprintf(jid, sizeof jid, "%s", reply.jid);
    size_t n = reply.minions.count;
    char **ids = mc_calloc(n + 1, sizeof *ids);
    bool *up = mc_calloc(n + 1, sizeof *up);
    for (size_t i = 0; i < n; i++)
        ids[i] = mc_strdup(reply.minions.items[i]);
    mc_reply_targets_done(&reply);
    qsort(ids, n, sizeof *ids, cmp_str);

    size_t answered = 0;
    int64_t deadline = mc_mono_ms() + (int64_t)o.timeout * 1000;
    while (answered < n && mc_mono_ms() < deadline) {
        char kind[16];
        client_frame_t *body = NULL;
        int got = client_next(&c, kind, &body, (int)(deadline - mc_mono_ms()));
        if (got < 0)
            break;
        mc_ret_t ret;
        if (got > 0 && strcmp(kind, MC_KIND_RETURN) == 0 &&
            mc_ret_decode(&ret, body->data, body->size, &err) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (!up[i] && strcmp(ids[i], ret.id) == 0 && strcmp(ret.jid, jid) == 0) {
                    up[i] = ret.success;
                    answered++;
                }
            }
            mc_ret_done(&ret);
        }
        client_frame_free(&body);
    }
    client_close(&c);

    size_t down = 0;
    if (o.out == OUT_YAML) {
        /* {up: [...], down: [...]}, as json prints it. */
        char **lists[2] = {mc_calloc(n + 1, sizeof(char *)), mc_calloc(n + 1, sizeof(char *))};
        size_t counts[2] = {0, 0};
        for (size_t i = 0; i < n; i++)
            lists[up[i] ? 0 : 1][counts[up[i] ? 0 : 1]++] = ids[i];
        down = counts[1];
        yamlout_t *y = yamlout_open(stdout);
        if (y) {
            yamlout_key(y, "up");
            yamlout_strings(y, lists[0], counts[0]);
            yamlout_key(y, "down");
            yamlout_strings(y, lists[1], counts[1]);
            yamlout_close(&y);
        }
        free(lists[0]);
        free(lists[1]);
    }
    for (int pass = 0; o.out != OUT_YAML && pass < 2; pass++) {
        bool want_up = pass == 0;
        if (o.out == OUT_JSON)
            printf("%s    \"%s\": [", pass == 0 ? "{\n" : ",\n", want_up ? "up" : "down");
        else
            printf("%s:\n", want_up ? "up" : "down");
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (up[i] != want_up)
                continue;
            if (o.out == OUT_JSON)
                printf("%s\"%s\"", first ? "" : ", ", ids[i]);
            else
                printf("    - %s\n", ids[i]);
            first = false;
            down += !want_up;
        }
        if (o.out == OUT_JSON)
            printf("]%s", pass == 1 ? "\n}\n" : "");
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(up);
    return down ? EXIT_NO_RETURN : EXIT_OK;
}
