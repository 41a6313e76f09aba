/*  Fuzz target: target expressions (every kind, compound above all) and
    their evaluation against a minion with nested and list grains.

    Input: the first byte picks the kind, the second the grain delimiter,
    the rest is the expression. Whatever the bytes, compiling must either
    fail with a message or give a target that evaluates without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"
#include "target.h"
#include "ydoc.h"

static const char *kinds[] = {"glob",       "list",   "pcre",     "grain",
                              "grain_pcre", "ipcidr", "compound", "nodegroup"};

static const char *groups(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "web") == 0)
        return "G@roles:web and not N@db";
    if (strcmp(name, "db") == 0)
        return "L@db1,db2 or E@db\\d";
    if (strcmp(name, "self") == 0)
        return "N@self";
    return NULL;
}

static mc_mp_doc_t *grains(void)
{
    static mc_mp_doc_t doc;
    static bool ready;
    if (!ready) {
        const char *y = "os: Debian\nroles: [web, db]\ndc: {name: par1, rack: 7}\n"
                        "ipv4: [10.0.1.5, 127.0.0.1]\nipv6: ['::1']\nvirtual: true\n"
                        "disks: [{name: sda}, {name: sdb}]\n";
        mc_err_t err;
        mc_yaml_t *node = mc_yaml_parse("grains", y, strlen(y), &err);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        mc_yaml_pack(&pk, node);
        mc_yaml_free(&node);
        if (mc_mp_parse(&doc, sb.data, sb.size, &err) != 0)
            abort();
        msgpack_sbuffer_destroy(&sb);
        ready = true;
    }
    return &doc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 4096)
        return 0;
    const char *kind = kinds[data[0] % (sizeof kinds / sizeof kinds[0])];
    char delim = (char)(data[1] % 4 == 0   ? ':'
                        : data[1] % 4 == 1 ? '|'
                        : data[1] % 4 == 2 ? '.'
                                           : '/');
    char *expr = mc_strndup((const char *)data + 2, size - 2);
    mc_err_t err;
    char *expanded = mc_target_expand(expr, kind, groups, NULL, &err);
    if (expanded) {
        const char *type = strcmp(kind, "nodegroup") == 0 ? "compound" : kind;
        mc_target_t *t = mc_target_compile(expanded, type, delim, &err);
        if (t) {
            static const char *ids[] = {"web1", "web10", "db1.example.com", ""};
            for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
                mc_target_eval(t, ids[i], &grains()->root);
                mc_target_eval(t, ids[i], NULL);
            }
            mc_target_destroy(&t);
        } else if (!err.msg[0]) {
            abort(); /* every refusal must say why */
        }
        free(expanded);
    }
    free(expr);
    return 0;
}
