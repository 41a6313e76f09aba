/*  key - mctl key list|accept|reject|delete|finger, like salt-key.

    IDs are globs, as salt-key takes them; -A (accept/reject/finger all)
    and -D (delete all) stand for '*'. Changing keys asks for confirmation
    on a terminal unless -y is given. */
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "keys.h"
#include "target.h"
#include "proto/proto.h"

static void key_usage(FILE *f)
{
    fprintf(f, "Usage: mctl key list [--out txt|json]\n"
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
               "      --out FORMAT        txt (default) or json\n"
               "  -h, --help              show this help\n");
}

static void print_list(const msgpack_object *root, out_format_t out)
{
    static const struct {
        const char *field, *title;
    } sections[] = {{"minions", "Accepted Keys:"},
                    {"minions_denied", "Denied Keys:"},
                    {"minions_pre", "Unaccepted Keys:"},
                    {"minions_rejected", "Rejected Keys:"}};
    if (out == OUT_JSON) {
        printf("{\n");
        for (size_t s = 0; s < 4; s++) {
            printf("    \"%s\": ", sections[s].field);
            const msgpack_object *ids = mc_mp_get(root, sections[s].field);
            if (ids)
                output_json_value(stdout, ids, 4);
            else
                printf("[]");
            printf(s < 3 ? ",\n" : "\n");
        }
        printf("}\n");
        return;
    }
    for (size_t s = 0; s < 4; s++) {
        printf("%s\n", sections[s].title);
        const msgpack_object *ids = mc_mp_get(root, sections[s].field);
        for (uint32_t i = 0; ids && ids->type == MSGPACK_OBJECT_ARRAY && i < ids->via.array.size;
             i++) {
            const msgpack_object *id = &ids->via.array.ptr[i];
            if (id->type == MSGPACK_OBJECT_STR)
                printf("%.*s\n", (int)id->via.str.size, id->via.str.ptr);
        }
    }
}

static int key_list(const cli_opts_t *o)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    client_pack_simple(&sb, "key_list");
    mc_mp_doc_t reply;
    int rc = client_request(o->config_dir, &sb, &reply, 10000);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    print_list(&reply.root, o->out);
    mc_mp_doc_done(&reply);
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
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    client_pack_simple(&sb, "key_finger");
    mc_mp_doc_t reply;
    int rc = client_request(o->config_dir, &sb, &reply, 10000);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    const msgpack_object *keys = mc_mp_get(&reply.root, "keys");
    char last_state[16] = "";
    bool first = true;
    if (o->out == OUT_JSON)
        printf("{\n");
    for (uint32_t i = 0; keys && keys->type == MSGPACK_OBJECT_ARRAY && i < keys->via.array.size;
         i++) {
        char id[MC_ID_MAX + 16], state[16], finger[MC_FINGERPRINT_LEN];
        const msgpack_object *k = &keys->via.array.ptr[i];
        if (mc_mp_str(k, "id", id, sizeof id, NULL) ||
            mc_mp_str(k, "state", state, sizeof state, NULL) ||
            mc_mp_str(k, "finger", finger, sizeof finger, NULL))
            continue;
        bool wanted = n == 0 && strcmp(state, "local") == 0;
        for (int j = 0; j < n && !wanted; j++)
            wanted = strcmp(state, "local") != 0 && mc_target_match(ids[j], "glob", id, NULL);
        if (!wanted)
            continue;
        if (o->out == OUT_JSON) {
            printf("%s    \"%s\": \"%s\"", first ? "" : ",\n", id, finger);
        } else {
            if (strcmp(state, last_state) != 0)
                printf("%s\n", state_title(state));
            printf("%s:  %s\n", id, finger);
        }
        snprintf(last_state, sizeof last_state, "%s", state);
        first = false;
    }
    if (o->out == OUT_JSON)
        printf("%s}\n", first ? "" : "\n");
    mc_mp_doc_done(&reply);
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
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char cmd[32];
    snprintf(cmd, sizeof cmd, "key_%s", action);
    msgpack_pack_map(&pk, 5);
    mc_pk_kv_int(&pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_str(&pk, "cmd", cmd);
    mc_pk_str(&pk, "ids");
    msgpack_pack_array(&pk, (size_t)n);
    for (int i = 0; i < n; i++)
        mc_pk_str(&pk, ids[i]);
    mc_pk_kv_bool(&pk, "include_rejected", include_rejected);
    mc_pk_kv_bool(&pk, "include_accepted", include_accepted);
    mc_mp_doc_t reply;
    int rc = client_request(o->config_dir, &sb, &reply, 10000);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    const msgpack_object *changed = mc_mp_get(&reply.root, "changed");
    uint32_t count = changed && changed->type == MSGPACK_OBJECT_ARRAY ? changed->via.array.size : 0;
    for (uint32_t i = 0; i < count; i++) {
        const msgpack_object *id = &changed->via.array.ptr[i];
        if (id->type == MSGPACK_OBJECT_STR)
            printf("Key for minion %.*s %s.\n", (int)id->via.str.size, id->via.str.ptr, done);
    }
    mc_mp_doc_done(&reply);
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
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "ADyh", long_opts, NULL)) != -1) {
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
                return cli_usage_error("--out: expected txt or json, got '%s'", optarg);
            break;
        case 'h':
            key_usage(stdout);
            return EXIT_OK;
        default:
            key_usage(stderr);
            return EXIT_USAGE;
        }
    }
    int n = argc - optind;
    char **ids = argv + optind;
    static char *star[] = {"*"};
    for (int i = 0; i < n; i++)
        if (!ids[i][0])
            return cli_usage_error("key %s: empty minion id", action);
    if (strcmp(action, "list") == 0) {
        if (n)
            return cli_usage_error("key list takes no ids");
        return key_list(&o);
    }
    if (strcmp(action, "finger") == 0)
        return all ? key_finger(&o, 1, star) : key_finger(&o, n, ids);
    bool is_delete = strcmp(action, "delete") == 0;
    if (strcmp(action, "accept") != 0 && strcmp(action, "reject") != 0 && !is_delete)
        return cli_usage_error("unknown key command '%s' (list, accept, reject, delete, finger)",
                               action);
    if ((all || (is_delete && all_delete)) && n == 0) {
        n = 1;
        ids = star;
    }
    if (n == 0)
        return cli_usage_error("key %s: name the minion id(s), or %s for all", action,
                               is_delete ? "-D" : "-A");
    return key_change(&o, action, n, ids, inc_rej, inc_acc, yes);
}
