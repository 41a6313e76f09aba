/*  Table-driven tests for target matching: every kind, with the cases
    Salt users trip over (web1 vs web10, globs and dots, nested and list
    grains, not/and/or precedence, parentheses, empty expressions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "mp.h"
#include "target.h"
#include "ydoc.h"

static const char *grains_yaml[] = {
    /* 0: web1 */
    ("os: Debian\nroles: [web, db]\ndc: {name: par1, rack: 7}\n"
     "ipv4: [10.0.1.5, 127.0.0.1]\nipv6: ['::1', 'fd00::5']\nvirtual: true\nnum_cpus: 4\n"
     "disks: [{name: sda, size: 100}, {name: sdb}]\n"),
    /* 1: web10 */
    "os: Debian\nroles: [web]\ndc: {name: ams2}\nipv4: [10.0.2.9]\nvirtual: false\n",
    /* 2: db1.example.com */
    ("os: CentOS\nos_family: RedHat\nroles: [db]\ndc: {name: par1, rack: 9}\n"
     "ipv4: [192.168.5.20]\nurl: 'http://x:8080/'\n"),
};

typedef struct {
    const char *id;
    int grains;
    const char *type;
    const char *expr;
    bool expect;
} match_case_t;

static const match_case_t cases[] = {
    /* glob */
    {"web1", 0, "glob", "web1", true},
    {"web10", 1, "glob", "web1", false},
    {"web1", 0, "glob", "web?", true},
    {"web10", 1, "glob", "web?", false},
    {"web10", 1, "glob", "web*", true},
    {"db1.example.com", 2, "glob", "*", true},
    {"db1.example.com", 2, "glob", "*.example.com", true},
    {"db1.example.com", 2, "glob", "db1", false},
    {"web1", 0, "glob", "web[0-9]", true},
    {"web10", 1, "glob", "web[!1]*", false},
    {"web1", 0, "glob", "WEB1", false},
    /* list */
    {"web1", 0, "list", "web1,db1.example.com", true},
    {"web10", 1, "list", "web1,db1.example.com", false},
    {"db1.example.com", 2, "list", "web1, db1.example.com", true},
    {"web1", 0, "list", "web", false},
    /* pcre on the id: anchored at the start only, like re.match */
    {"web10", 1, "pcre", "web\\d", true},
    {"web10", 1, "pcre", "web\\d$", false},
    {"web1", 0, "pcre", "web\\d$", true},
    {"db1.example.com", 2, "pcre", "example", false},
    {"db1.example.com", 2, "pcre", ".*example", true},
    {"web1", 0, "pcre", "(web|db)1", true},
    /* grains: glob on the value, case-insensitive, nested, lists */
    {"web1", 0, "grain", "os:Debian", true},
    {"web1", 0, "grain", "os:debian", true},
    {"db1.example.com", 2, "grain", "os:Debian", false},
    {"web1", 0, "grain", "os:Deb*", true},
    {"web1", 0, "grain", "roles:web", true},
    {"web1", 0, "grain", "roles:db", true},
    {"web10", 1, "grain", "roles:db", false},
    {"web1", 0, "grain", "roles:w*", true},
    {"web1", 0, "grain", "dc:name:par1", true},
    {"web10", 1, "grain", "dc:name:par1", false},
    {"web1", 0, "grain", "dc:rack:7", true},
    {"db1.example.com", 2, "grain", "dc:rack:7", false},
    {"web1", 0, "grain", "dc:name", true}, /* a map matches on its keys */
    {"web1", 0, "grain", "virtual:True", true},
    {"web10", 1, "grain", "virtual:true", false},
    {"web1", 0, "grain", "num_cpus:4", true},
    {"web1", 0, "grain", "nosuch:thing", false},
    {"db1.example.com", 2, "grain", "url:http://x:8080/", true}, /* ':' inside the value */
    {"web1", 0, "grain", "disks:name:sdb", true},                /* list of maps */
    {"web1", 0, "grain", "disks:0:name:sda", true},              /* list index */
    {"web1", 0, "grain", "ipv4:10.0.*", true},
    /* grain_pcre */
    {"web1", 0, "grain_pcre", "os:(Debian|Ubuntu)", true},
    {"db1.example.com", 2, "grain_pcre", "os:(Debian|Ubuntu)", false},
    {"web1", 0, "grain_pcre", "roles:d.", true},
    {"web1", 0, "grain_pcre", "os:bian", false}, /* anchored at the start */
    {"web1", 0, "grain_pcre", "dc:name:par\\d", true},
    /* ipcidr */
    {"web1", 0, "ipcidr", "10.0.1.0/24", true},
    {"web10", 1, "ipcidr", "10.0.1.0/24", false},
    {"web10", 1, "ipcidr", "10.0.0.0/16", true},
    {"db1.example.com", 2, "ipcidr", "192.168.5.20", true},
    {"web1", 0, "ipcidr", "fd00::/8", true},
    {"web10", 1, "ipcidr", "fd00::/8", false},
    /* compound */
    {"web1", 0, "compound", "web* and G@os:Debian", true},
    {"db1.example.com", 2, "compound", "web* and G@os:Debian", false},
    {"db1.example.com", 2, "compound", "web* or G@os:CentOS", true},
    {"web1", 0, "compound", "G@roles:web and not G@roles:db", false},
    {"web10", 1, "compound", "G@roles:web and not G@roles:db", true},
    {"web10", 1, "compound", "G@roles:web not G@roles:db", true}, /* not after a match */
    {"web1", 0, "compound", "not web1", false},
    {"web10", 1, "compound", "not web1", true},
    {"web1", 0, "compound", "not not web1", true},
    /* and binds tighter than or */
    {"web10", 1, "compound", "db* or web* and G@virtual:true", false},
    {"db1.example.com", 2, "compound", "db* or web* and G@virtual:true", true},
    {"web10", 1, "compound", "( db* or web* ) and G@virtual:true", false},
    {"web1", 0, "compound", "( db* or web* ) and G@virtual:true", true},
    /* not binds tighter than and */
    {"web1", 0, "compound", "not web10 and G@os:Debian", true},
    {"web10", 1, "compound", "not ( web10 and G@os:Debian )", false},
    {"db1.example.com", 2, "compound", "not ( web10 and G@os:Debian )", true},
    {"web1", 0, "compound", "E@web\\d$ and L@web1,web2", true},
    {"web10", 1, "compound", "E@web\\d$ or L@db1.example.com", false},
    {"db1.example.com", 2, "compound", "S@192.168.0.0/16 and P@os:Cent.*", true},
    {"web1", 0, "compound", "( ( web1 ) )", true},
    {"web1", 0, "compound", "  web1   and\tG@os:Debian  ", true},
    {"web10", 1, "compound", "E@web(1|2)$ or G@dc:name:ams*", true}, /* parens inside a regex */
};

typedef struct {
    const char *type;
    const char *expr;
    const char *error; /* substring of the message */
} error_case_t;

static const error_case_t errors[] = {
    {"compound", "", "empty"},
    {"compound", "   \t ", "empty"},
    {"glob", "", "empty"},
    {"compound", "( web1", "position 1: '(' is never closed"},
    {"compound", "web1 )", "position 6: unexpected ')'"},
    {"compound", "X@foo", "position 1: unknown prefix 'X@'"},
    {"compound", "web1 and J@foo:bar", "position 10: unknown prefix 'J@'"},
    {"compound", "and web1", "cannot start with 'and'"},
    {"compound", "or web1", "cannot start with 'or'"},
    {"compound", "web1 and", "ends where a match was expected"},
    {"compound", "web1 web2", "position 6: expected 'and' or 'or' before 'web2'"},
    {"compound", "E@web(", "bad regular expression"},
    {"pcre", "web[", "bad regular expression"},
    {"grain", "nodelimiter", "is not KEY:VALUE"},
    {"ipcidr", "10.0.0.0/33", "not an address or CIDR"},
    {"ipcidr", "nothing", "not an address or CIDR"},
    {"compound", "N@group", "nodegroup 'N@group' was not expanded"},
    {"nonsense", "web1", "unknown target type"},
};

static void match_table(void **state)
{
    msgpack_sbuffer sb[3];
    mc_mp_doc_t docs[3];
    mc_err_t err;
    for (int i = 0; i < 3; i++) {
        mc_yaml_t *y = mc_yaml_parse("grains", grains_yaml[i], strlen(grains_yaml[i]), &err);
        assert_non_null(y);
        msgpack_sbuffer_init(&sb[i]);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb[i], msgpack_sbuffer_write);
        mc_yaml_pack(&pk, y);
        mc_yaml_free(&y);
        assert_int_equal(mc_mp_parse(&docs[i], sb[i].data, sb[i].size, &err), 0);
    }
    size_t n = sizeof cases / sizeof cases[0];
    assert_true(n >= 60);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const match_case_t *c = &cases[i];
        mc_target_t *t = mc_target_compile(c->expr, c->type, ':', &err);
        if (!t) {
            print_error("case %zu: %s '%s' did not compile: %s\n", i, c->type, c->expr, err.msg);
            failures++;
            continue;
        }
        bool got = mc_target_eval(t, c->id, &docs[c->grains].root);
        if (got != c->expect) {
            print_error("case %zu: %s '%s' on %s: expected %s\n", i, c->type, c->expr, c->id,
                        c->expect ? "a match" : "no match");
            failures++;
        }
        mc_target_destroy(&t);
    }
    for (int i = 0; i < 3; i++) {
        mc_mp_doc_done(&docs[i]);
        msgpack_sbuffer_destroy(&sb[i]);
    }
    assert_int_equal(failures, 0);
}

static void error_table(void **state)
{
    int failures = 0;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        mc_err_t err = {.msg = ""};
        mc_target_t *t = mc_target_compile(errors[i].expr, errors[i].type, ':', &err);
        if (t || !strstr(err.msg, errors[i].error)) {
            print_error("error case %zu: %s '%s': expected an error with \"%s\", got \"%s\"\n", i,
                        errors[i].type, errors[i].expr, errors[i].error,
                        t ? "(compiled)" : err.msg);
            failures++;
        }
        mc_target_destroy(&t);
    }
    assert_int_equal(failures, 0);
}

static const char *groups(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "web") == 0)
        return "G@roles:web and not G@roles:db";
    if (strcmp(name, "all") == 0)
        return "N@web or db*";
    if (strcmp(name, "loop") == 0)
        return "N@loop";
    return NULL;
}

static void nodegroups_expand(void **state)
{
    mc_err_t err;
    char *e = mc_target_expand("all", "nodegroup", groups, NULL, &err);
    assert_non_null(e);
    assert_string_equal(e, "( ( G@roles:web and not G@roles:db ) or db* )");
    assert_int_equal(mc_target_validate(e, "compound", &err), 0);
    free(e);
    e = mc_target_expand("N@web and web1*", "compound", groups, NULL, &err);
    assert_string_equal(e, "( G@roles:web and not G@roles:db ) and web1*");
    free(e);
    assert_null(mc_target_expand("loop", "nodegroup", groups, NULL, &err));
    assert_non_null(strstr(err.msg, "nest"));
    assert_null(mc_target_expand("nosuch", "nodegroup", groups, NULL, &err));
    assert_non_null(strstr(err.msg, "no nodegroup named 'nosuch'"));
    e = mc_target_expand("web*", "glob", groups, NULL, &err);
    assert_string_equal(e, "web*");
    free(e);
}

static void delimiter(void **state)
{
    const char *yaml = "dc: {name: par1}\n";
    mc_err_t err;
    mc_yaml_t *y = mc_yaml_parse("g", yaml, strlen(yaml), &err);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    mc_yaml_pack(&pk, y);
    mc_yaml_free(&y);
    mc_mp_doc_t doc;
    assert_int_equal(mc_mp_parse(&doc, sb.data, sb.size, &err), 0);
    mc_target_t *t = mc_target_compile("dc|name|par1", "grain", '|', &err);
    assert_non_null(t);
    assert_true(mc_target_eval(t, "x", &doc.root));
    mc_target_destroy(&t);
    /* Without grains (not known yet), grain targets do not match. */
    t = mc_target_compile("dc:name:par1", "grain", ':', &err);
    assert_false(mc_target_eval(t, "x", NULL));
    mc_target_destroy(&t);
    mc_mp_doc_done(&doc);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(match_table),
        cmocka_unit_test(error_table),
        cmocka_unit_test(nodegroups_expand),
        cmocka_unit_test(delimiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
