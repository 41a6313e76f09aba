/*  key - mctl key list|accept|reject|delete|finger, like salt-key.

    IDs are globs, as salt-key takes them; -A (accept/reject/finger all)
    and -D (delete all) stand for '*'. Changing keys asks for confirmation
    on a terminal unless -y is given. */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "yamlout.h"
#include "client.h"
#include "keys.h"
#include "target.h"
#include "proto/proto.h"

static void key_usage(FILE *f)
{
    fprintf(f, "Usage: mctl key list [--out txt|json|yaml]\n"
               "       mctl key accept ID... | -A [--include-rejected] [-y]\n"
               "       mctl key reject ID... | -A [--include-accepted] [-y]\n"
               "       mctl key delete ID... | -D [-y]\n"
               "       mctl key finger [ID... | -A]\n"
               "\n"
               "Manage minion keys on the master, as salt-key does. IDs are globs.\n"
               "A minion's key is pending until accepted; only accepted minions get jobs.\n"
               "\n"
               "Options:\n"
               "  -A, --all               every key (accept/reject: every pending key)\n"
               "  -D                      with delete: every key\n"
               "      --include-rejected  accept: rejected keys too\n"
               "      --include-accepted  reject: accepted keys too\n"
               "  -y, --yes               do not ask for confirmation\n"
               "      --out FORMAT        txt (default), json, or yaml (list)\n"
               "  -c, --config-dir DIR    where the master config is\n"
               "  -t, --timeout SECONDS   how long to wait for the master (default 30)\n"
               "  -h, --help              show this help\n");
}

static void print_list(const mc_reply_key_list_t *l, out_format_t out)
{
    const struct {
        const char *field, *title;
        const mc_strs_t *ids;
    } sections[] = {{"minions", "Accepted Keys:", &l->accepted},
                    {"minions_denied", "Denied Keys:", &l->denied},
                    {"minions_pre", "Unaccepted Keys:", &l->pending},
                    {"minions_rejected", "Rejected Keys:", &l->rejected}};
    if (out == OUT_YAML) {
        yamlout_t *y = yamlout_open(stdout);
        for (size_t s = 0; y && s < 4; s++) {
            yamlout_key(y, sections[s].field);
            yamlout_strings(y, sections[s].ids->items, sections[s].ids->count);
        }
        yamlout_close(&y);
        return;
    }
    if (out == OUT_JSON) {
        printf("{\n");
        for (size_t s = 0; s < 4; s++) {
            printf("    \"%s\": ", sections[s].field);
            mc_json_strings(stdout, sections[s].ids->items, sections[s].ids->count, 4);
            printf(s < 3 ? ",\n" : "\n");
        }
        printf("}\n");
        return;
    }
    for (size_t s = 0; s < 4; s++) {
        printf("%s\n", sections[s].title);
        for (size_t i = 0; i < sections[s].ids->count; i++)
            printf("%s\n", sections[s].ids->items[i]);
    }
}

/* Ask the master one plain question: 0 with the reply's bytes, or the exit
   status to fail with. */
static int ask(const cli_opts_t *o, mc_req_kind_t kind, client_frame_t **body)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_plain_pack(&sb, kind);
    int rc = client_request(o->config_dir, &sb, body, o->timeout * 1000);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int key_list(const cli_opts_t *o)
{
    client_frame_t *body;
    int rc = ask(o, MC_REQ_KEY_LIST, &body);
    if (rc != 0)
        return rc;
    mc_reply_key_list_t list;
    mc_err_t err;
    rc = mc_reply_key_list_decode(&list, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0)
        return client_reply_failed(&err);
    print_list(&list, o->out);
    mc_reply_key_list_done(&list);
    return EXIT_OK;
}

static const char *state_title(const char *state)
{
    static const struct {
        const char *state, *title;
    } titles[] = {{"local", "Local Keys:"},
                  {"accepted", "Accepted Keys:"},
                  {"pending", "Unaccepted Keys:"},
                  {"rejected", "Rejected Keys:"},
                  {"denied", "Denied Keys:"}};
    for (size_t i = 0; i < sizeof titles / sizeof titles[0]; i++)
        if (strcmp(titles[i].state, state) == 0)
            return titles[i].title;
    return "Keys:";
}

static int key_finger(const cli_opts_t *o, int n, char **ids)
{
    client_frame_t *body;
    int rc = ask(o, MC_REQ_KEY_FINGER, &body);
    if (rc != 0)
        return rc;
    mc_reply_key_finger_t keys;
    mc_err_t err;
    rc = mc_reply_key_finger_decode(&keys, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0)
        return client_reply_failed(&err);
    const char *last_state = "";
    bool first = true;
    if (o->out == OUT_JSON)
        printf("{\n");
    for (size_t i = 0; i < keys.count; i++) {
        const mc_key_finger_t *k = &keys.keys[i];
        bool local = strcmp(k->state, "local") == 0;
        bool wanted = n == 0 && local;
        for (int j = 0; j < n && !wanted; j++)
            wanted = !local && mc_target_match(ids[j], "glob", k->id, NULL);
        if (!wanted)
            continue;
        if (o->out == OUT_JSON) {
            printf("%s    \"%s\": \"%s\"", first ? "" : ",\n", k->id, k->finger);
        } else {
            if (strcmp(k->state, last_state) != 0)
                printf("%s\n", state_title(k->state));
            printf("%s:  %s\n", k->id, k->finger);
        }
        last_state = k->state;
        first = false;
    }
    if (o->out == OUT_JSON)
        printf("%s}\n", first ? "" : "\n");
    mc_reply_key_finger_done(&keys);
    return EXIT_OK;
}

static bool confirm(const char *action, int n, char **ids)
{
    if (!isatty(0))
        return true;
    printf("The following keys are going to be %s:\n", action);
    for (int i = 0; i < n; i++)
        printf("%s\n", ids[i]);
    printf("Proceed? [n/Y] ");
    fflush(stdout);
    char line[16] = "";
    if (!fgets(line, sizeof line, stdin))
        return false;
    return line[0] == '\n' || line[0] == 'y' || line[0] == 'Y';
}

static int key_change(const cli_opts_t *o, const char *action, int n, char **ids,
                      bool include_rejected, bool include_accepted, bool yes)
{
    static const char *done_words[] = {"accepted", "rejected", "deleted"};
    const char *done = strcmp(action, "accept") == 0   ? done_words[0]
                       : strcmp(action, "reject") == 0 ? done_words[1]
                                                       : done_words[2];
    if (!yes && !confirm(done, n, ids)) {
        fprintf(stderr, "mctl: nothing changed\n");
        return EXIT_FAILED;
    }
    mc_req_kind_t kind = strcmp(action, "accept") == 0   ? MC_REQ_KEY_ACCEPT
                         : strcmp(action, "reject") == 0 ? MC_REQ_KEY_REJECT
                                                         : MC_REQ_KEY_DELETE;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_keys_pack(&sb, kind, ids, (size_t)n, include_rejected, include_accepted);
    client_frame_t *body;
    int rc = client_request(o->config_dir, &sb, &body, o->timeout * 1000);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    mc_strs_t changed;
    mc_err_t err;
    rc = mc_reply_keys_changed_decode(&changed, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0)
        return client_reply_failed(&err);
    for (size_t i = 0; i < changed.count; i++)
        printf("Key for minion %s %s.\n", changed.items[i], done);
    size_t count = changed.count;
    mc_strs_free(&changed);
    if (count == 0) {
        fprintf(stderr, "mctl: no key matched %s", ids[0]);
        for (int i = 1; i < n; i++)
            fprintf(stderr, ", %s", ids[i]);
        fprintf(stderr, " (see mctl key list)\n");
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

int cmd_key(const cli_opts_t *opts, int argc, char **argv)
{
    cli_opts_t o = *opts;
    static const struct option long_opts[] = {
        {"all", no_argument, NULL, 'A'},
        {"include-rejected", no_argument, NULL, 'r'},
        {"include-accepted", no_argument, NULL, 'a'},
        {"yes", no_argument, NULL, 'y'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        CLI_COMMON_LONG,
        {NULL, 0, NULL, 0},
    };
    if (argc < 2) {
        key_usage(stderr);
        return EXIT_USAGE;
    }
    const char *action = argv[1];
    if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
        key_usage(stdout);
        return EXIT_OK;
    }
    bool all = false, all_delete = false, inc_rej = false, inc_acc = false, yes = false;
    /* The action stands where getopt expects the program's name, and
       optind 0 makes GNU getopt start afresh (permuting, so options may
       come after the ids too). */
    argc--;
    argv++;
    char prog[48];
    snprintf(prog, sizeof prog, "mctl key %s", argv[0]);
    argv[0] = prog; /* getopt's messages begin with it */
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "ADyh" CLI_COMMON_SHORT, long_opts, NULL)) != -1) {
        switch (c) {
        case 'A':
            all = true;
            break;
        case 'D':
            all_delete = true;
            break;
        case 'r':
            inc_rej = true;
            break;
        case 'a':
            inc_acc = true;
            break;
        case 'y':
            yes = true;
            break;
        case 'o':
            if (output_parse(optarg, &o.out) != 0)
                return cli_sub_usage_error("key", "--out: expected txt, json or yaml, got '%s'",
                                           optarg);
            break;
        case 'h':
            key_usage(stdout);
            return EXIT_OK;
        default:
            if (cli_common_or_usage(&o, c, optarg, "key") != 0)
                return EXIT_USAGE;
            break;
        }
    }
    int n = argc - optind;
    char **ids = argv + optind;
    static char *star[] = {"*"};
    char sub[32];
    snprintf(sub, sizeof sub, "key %s", action);
    if (o.out == OUT_YAML && strcmp(action, "list") != 0)
        return cli_sub_usage_error(sub, "--out yaml is for key list (txt or json here)");
    for (int i = 0; i < n; i++)
        if (!ids[i][0])
            return cli_sub_usage_error(sub, "empty minion id");
    if (strcmp(action, "list") == 0) {
        if (n)
            return cli_sub_usage_error(sub, "takes no minion ids");
        return key_list(&o);
    }
    if (strcmp(action, "finger") == 0)
        return all ? key_finger(&o, 1, star) : key_finger(&o, n, ids);
    bool is_delete = strcmp(action, "delete") == 0;
    if (strcmp(action, "accept") != 0 && strcmp(action, "reject") != 0 && !is_delete)
        return cli_sub_usage_error(
            "key", "unknown command '%s' (list, accept, reject, delete, finger)", action);
    if ((all || (is_delete && all_delete)) && n == 0) {
        n = 1;
        ids = star;
    }
    if (n == 0)
        return cli_sub_usage_error(sub, "name the minion id(s), or %s for all",
                                   is_delete ? "-D" : "-A");
    return key_change(&o, action, n, ids, inc_rej, inc_acc, yes);
}
