/*  mctl-bench-acl - what the publisher_acl check costs the master per
    publish: the rules are compiled from a real config, the minions carry
    grains, and acl_allows runs exactly as publish.c calls it.

      shapes    R rules (default 1,000) for R users and groups, each a
                compound target and a function with argument patterns;
                M minions (default 1,000) with roles grains. Timed, per
                publish (median and p99 over many runs):
                  last rule   the caller's one allowing rule is the last
                              of R, the job reaches all M minions
                  all rules   R rules name the caller (by group), each
                              fails on a minion outside its target; the
                              last allows
                  refused     as "all rules" without the allowing rule:
                              every rule is tried and the job refused

    mctl-bench-acl [--rules 1000] [--minions 1000] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "mp.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static acl_t *compile(const char *text)
{
    mc_err_t err;
    mc_yaml_t *doc = mc_yaml_parse("master", text, strlen(text), &err);
    acl_t *acl = doc ? acl_new(doc, &err) : NULL;
    mc_yaml_free(&doc);
    if (!acl) {
        fprintf(stderr, "mctl-bench-acl: %s\n", err.msg);
        exit(1);
    }
    return acl;
}

/* R - 1 rules for other users, then what `last` gives the caller. */
static char *config(int rules, const char *who, const char *last, bool others_are_callers)
{
    mc_buf_t b = {0};
    mc_buf_append(&b, "publisher_acl:\n", 15);
    for (int i = 0; i < rules - 1; i++) {
        char *r = mc_sprintf("  %s%d%s:\n"
                             "    - 'G@roles:r%d or web%04d':\n"
                             "      - cmd.run:\n"
                             "          args: ['echo .*']\n",
                             others_are_callers ? "grp" : "user", i, others_are_callers ? "%" : "",
                             i % 50, i);
        mc_buf_append(&b, r, strlen(r));
        free(r);
    }
    if (last) {
        char *r = mc_sprintf("  %s:\n%s", who, last);
        mc_buf_append(&b, r, strlen(r));
        free(r);
    }
    return b.data;
}

static void run(const char *name, acl_t *acl, const acl_caller_t *who, const acl_minions_t *m,
                const msgpack_object *arg, bool want)
{
    enum { RUNS = 200 };
    double t[RUNS];
    char why[512];
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_us();
        bool ok = acl_allows(acl, who, "cmd.run", arg, NULL, m, why, sizeof why);
        t[i] = now_us() - t0;
        if (ok != want) {
            fprintf(stderr, "mctl-bench-acl: %s: expected %s, got %s (%s)\n", name,
                    want ? "allowed" : "refused", ok ? "allowed" : "refused", why);
            exit(1);
        }
    }
    qsort(t, RUNS, sizeof t[0], cmp_double);
    printf("  %-10s %10.1f %10.1f\n", name, t[RUNS / 2], t[RUNS * 99 / 100]);
}

int main(int argc, char **argv)
{
    int rules = 1000, minions = 1000;
    static const struct option opts[] = {{"rules", required_argument, NULL, 'r'},
                                         {"minions", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        if (c == 'r')
            rules = atoi(optarg);
        else if (c == 'm')
            minions = atoi(optarg);
        else {
            printf("Usage: mctl-bench-acl [--rules N] [--minions M]\n\n"
                   "Time the publisher_acl check of one publish (acl_allows) with N rules\n"
                   "and a job reaching M minions with grains.\n");
            return c == 'h' ? 0 : 64;
        }
    }
    if (rules < 2 || minions < 1) {
        fprintf(stderr, "mctl-bench-acl: --rules must be at least 2, --minions at least 1\n");
        return 64;
    }

    /* The minions: web0000..., half with roles [rN]. */
    char **ids = mc_calloc((size_t)minions, sizeof *ids);
    const msgpack_object **grains = mc_calloc((size_t)minions, sizeof *grains);
    mc_mp_doc_t *docs = mc_calloc((size_t)minions, sizeof *docs);
    for (int i = 0; i < minions; i++) {
        ids[i] = mc_sprintf("web%04d", i);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        mc_pk_str(&pk, "roles");
        msgpack_pack_array(&pk, 1);
        char role[16];
        snprintf(role, sizeof role, "r%d", i % 97);
        mc_pk_str(&pk, role);
        mc_pk_str(&pk, "os");
        mc_pk_str(&pk, "Debian");
        mc_err_t err;
        if (mc_mp_parse(&docs[i], sb.data, sb.size, &err) != 0)
            abort();
        grains[i] = &docs[i].root;
        msgpack_sbuffer_destroy(&sb);
    }
    acl_minions_t all = {(const char *const *)ids, grains, (size_t)minions};

    /* The argument: cmd.run 'echo hello', as {"arg": [...]} (a document
       is a map). */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    mc_pk_str(&pk, "arg");
    msgpack_pack_array(&pk, 1);
    mc_pk_str(&pk, "echo hello");
    mc_mp_doc_t argdoc;
    mc_err_t err;
    if (mc_mp_parse(&argdoc, sb.data, sb.size, &err) != 0)
        abort();
    const msgpack_object *arg = &argdoc.root.via.map.ptr[0].val;

    printf("publisher_acl check of one publish: %d rules, a job to %d minions (µs)\n", rules,
           minions);
    printf("  %-10s %10s %10s\n", "shape", "median", "p99");

    const char *allow = "    - 'G@os:Debian':\n      - cmd.run:\n          args: ['echo .*']\n";
    char *text = config(rules, "alice", allow, false);
    acl_t *acl = compile(text);
    free(text);
    acl_caller_t alice = {"alice", NULL, 0};
    run("last rule", acl, &alice, &all, arg, true);
    acl_destroy(&acl);

    /* The caller is in every group grp0..grpR-2 and ops. */
    char **groups = mc_calloc((size_t)rules, sizeof *groups);
    for (int i = 0; i < rules - 1; i++)
        groups[i] = mc_sprintf("grp%d", i);
    groups[rules - 1] = mc_strdup("ops");
    acl_caller_t member = {"bob", (const char *const *)groups, (size_t)rules};
    text = config(rules, "ops%", allow, true);
    acl = compile(text);
    free(text);
    run("all rules", acl, &member, &all, arg, true);
    acl_destroy(&acl);

    text = config(rules, "ops%", NULL, true);
    acl = compile(text);
    free(text);
    run("refused", acl, &member, &all, arg, false);
    acl_destroy(&acl);

    for (int i = 0; i < rules; i++)
        free(groups[i]);
    free(groups);
    for (int i = 0; i < minions; i++) {
        free(ids[i]);
        mc_mp_doc_done(&docs[i]);
    }
    free(ids);
    free(grains);
    free(docs);
    mc_mp_doc_done(&argdoc);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}
