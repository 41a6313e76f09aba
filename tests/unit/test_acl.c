/*  Unit tests for master/acl: publisher_acl rules as a Salt user writes
    them, what they allow and what they refuse (and why), and config
    errors that point at the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "mp.h"

static const char *config = "publisher_acl:\n"
                            "  alice:\n"
                            "    - test.*\n"
                            "    - 'web*':\n"
                            "      - cmd.run\n"
                            "      - pkg.install:\n"
                            "          args: ['nginx.*']\n"
                            "          kwargs:\n"
                            "            refresh: 'True|False'\n"
                            "  ops%:\n"
                            "    - 'G@roles:db and not db9':\n"
                            "      - service.*\n"
                            "  guest1:\n"
                            "    - test.ping\n"
                            "  carol:\n"
                            "    - state.apply\n"
                            "publisher_acl_blacklist:\n"
                            "  users: ['^guest']\n"
                            "  modules: ['state\\.']\n";

static acl_t *load(const char *text, mc_err_t *err)
{
    mc_yaml_t *doc = mc_yaml_parse("master", text, strlen(text), err);
    if (!doc)
        return NULL;
    acl_t *acl = acl_new(doc, err);
    mc_yaml_free(&doc);
    return acl;
}

/* Minions web1, web2 (no grains) and db1, db9 (roles: [db]). */
typedef struct {
    mc_mp_doc_t db;
    const msgpack_object *grains[4];
} fleet_t;

static const char *const fleet_ids[] = {"web1", "web2", "db1", "db9"};

static void fleet_init(fleet_t *f)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    mc_pk_str(&pk, "roles");
    msgpack_pack_array(&pk, 1);
    mc_pk_str(&pk, "db");
    mc_err_t err;
    assert_int_equal(mc_mp_parse(&f->db, sb.data, sb.size, &err), 0);
    msgpack_sbuffer_destroy(&sb);
    f->grains[0] = f->grains[1] = NULL;
    f->grains[2] = f->grains[3] = &f->db.root;
}

/* The minions of the fleet named by indexes in `which` ("01" = web1, web2). */
static acl_minions_t pick(const fleet_t *f, const char *which, const char **ids,
                          const msgpack_object **grains)
{
    size_t n = 0;
    for (const char *c = which; *c; c++, n++) {
        ids[n] = fleet_ids[*c - '0'];
        grains[n] = f->grains[*c - '0'];
    }
    return (acl_minions_t){ids, grains, n};
}

/* Pack and parse a list of strings as a job's arg: {"a": [...]}, the
   array at doc->root's only value. */
static void strings(mc_mp_doc_t *doc, int n, ...)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    mc_pk_str(&pk, "a");
    msgpack_pack_array(&pk, (size_t)n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        mc_pk_str(&pk, va_arg(ap, const char *));
    va_end(ap);
    mc_err_t err;
    assert_int_equal(mc_mp_parse(doc, sb.data, sb.size, &err), 0);
    msgpack_sbuffer_destroy(&sb);
}

static void kwargs(mc_mp_doc_t *doc, const char *key, const char *value)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    mc_pk_str(&pk, key);
    mc_pk_str(&pk, value);
    mc_err_t err;
    assert_int_equal(mc_mp_parse(doc, sb.data, sb.size, &err), 0);
    msgpack_sbuffer_destroy(&sb);
}

static const char *no_groups[] = {NULL};

static bool allows(const acl_t *acl, const char *user, const char *const *groups, const char *fun,
                   const msgpack_object *arg, const msgpack_object *kwarg,
                   const acl_minions_t *m, char *why)
{
    size_t ng = 0;
    while (groups[ng])
        ng++;
    acl_caller_t who = {user, groups, ng};
    why[0] = '\0';
    return acl_allows(acl, &who, fun, arg, kwarg, m, why, 256);
}

/* What both checking tests start from: the rules of `config` and the
   fleet. */
typedef struct {
    acl_t *acl;
    fleet_t fleet;
} fixture_t;

static int fixture_up(void **state)
{
    static fixture_t fx;
    mc_err_t err;
    fx.acl = load(config, &err);
    if (!fx.acl)
        return -1;
    fleet_init(&fx.fleet);
    *state = &fx;
    return 0;
}

static int fixture_down(void **state)
{
    fixture_t *fx = *state;
    mc_mp_doc_done(&fx->fleet.db);
    acl_destroy(&fx->acl);
    return 0;
}

/* The argument array of a doc made by strings(). */
static const msgpack_object *args_of(const mc_mp_doc_t *doc)
{
    return mc_mp_get(&doc->root, "a");
}

static void functions_and_targets(void **state)
{
    fixture_t *fx = *state;
    const acl_t *acl = fx->acl;
    const fleet_t f = fx->fleet;
    const char *ids[4];
    const msgpack_object *grains[4];
    char why[256];

    /* test.* everywhere; a regex anchored at the start, as Salt's re.match */
    acl_minions_t all = pick(&f, "0123", ids, grains);
    assert_true(allows(acl, "alice", no_groups, "test.ping", NULL, NULL, &all, why));
    assert_false(allows(acl, "alice", no_groups, "grains.test", NULL, NULL, &all, why));
    assert_string_equal(why, "user alice may not run grains.test (publisher_acl)");

    /* cmd.run on web* only: a target that would also reach db1 is refused */
    acl_minions_t webs = pick(&f, "01", ids, grains);
    assert_true(allows(acl, "alice", no_groups, "cmd.run", NULL, NULL, &webs, why));
    acl_minions_t mixed = pick(&f, "02", ids, grains);
    assert_false(allows(acl, "alice", no_groups, "cmd.run", NULL, NULL, &mixed, why));
    assert_string_equal(why, "user alice may not run cmd.run on db1 (publisher_acl)");

    /* a group's rule, with a compound target on grains */
    const char *ops[] = {"users", "ops", NULL};
    acl_minions_t db1 = pick(&f, "2", ids, grains);
    assert_true(allows(acl, "dave", ops, "service.restart", NULL, NULL, &db1, why));
    acl_minions_t db9 = pick(&f, "3", ids, grains);
    assert_false(allows(acl, "dave", ops, "service.restart", NULL, NULL, &db9, why));
    assert_string_equal(why, "user dave may not run service.restart on db9 (publisher_acl)");
    const char *others[] = {"users", "operators", NULL};
    assert_false(allows(acl, "dave", others, "service.restart", NULL, NULL, &db1, why));
    assert_non_null(strstr(why, "no publisher_acl rule names the user"));

    /* nobody else */
    assert_false(allows(acl, "bob", no_groups, "test.ping", NULL, NULL, &all, why));
    assert_non_null(strstr(why, "no publisher_acl rule"));
    acl_caller_t alice = {"alice", no_groups, 0}, bob = {"bob", no_groups, 0};
    assert_true(acl_names(acl, &alice));
    assert_false(acl_names(acl, &bob));
}

static void arguments_and_blacklist(void **state)
{
    fixture_t *fx = *state;
    const acl_t *acl = fx->acl;
    const fleet_t f = fx->fleet;
    const char *ids[4];
    const msgpack_object *grains[4];
    char why[256];
    acl_minions_t webs = pick(&f, "01", ids, grains);
    mc_mp_doc_t a, k;

    strings(&a, 1, "nginx-full");
    assert_true(allows(acl, "alice", no_groups, "pkg.install", args_of(&a), NULL, &webs, why));
    mc_mp_doc_done(&a);
    strings(&a, 1, "apache2");
    assert_false(allows(acl, "alice", no_groups, "pkg.install", args_of(&a), NULL, &webs, why));
    assert_string_equal(why,
                        "user alice may not run pkg.install with these arguments (publisher_acl)");
    mc_mp_doc_done(&a);
    /* one positional argument more than the rule has a pattern for */
    strings(&a, 2, "nginx", "extra");
    assert_false(allows(acl, "alice", no_groups, "pkg.install", args_of(&a), NULL, &webs, why));
    mc_mp_doc_done(&a);
    kwargs(&k, "refresh", "True");
    assert_true(allows(acl, "alice", no_groups, "pkg.install", NULL, &k.root, &webs, why));
    mc_mp_doc_done(&k);
    kwargs(&k, "refresh", "maybe");
    assert_false(allows(acl, "alice", no_groups, "pkg.install", NULL, &k.root, &webs, why));
    mc_mp_doc_done(&k);
    kwargs(&k, "version", "1.0");
    assert_false(allows(acl, "alice", no_groups, "pkg.install", NULL, &k.root, &webs, why));
    mc_mp_doc_done(&k);

    /* the blacklist wins over a rule that allows */
    acl_minions_t all = pick(&f, "0123", ids, grains);
    assert_false(allows(acl, "guest1", no_groups, "test.ping", NULL, NULL, &all, why));
    assert_string_equal(why, "user guest1 may not publish (publisher_acl_blacklist)");
    assert_false(allows(acl, "carol", no_groups, "state.apply", NULL, NULL, &all, why));
    assert_string_equal(why, "state.apply may not be run by carol (publisher_acl_blacklist)");
}

static void config_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"publisher_acl:\n  alice:\n    - 'test.(('\n", "line 3: publisher_acl: 'test.((' is "
                                                       "not a regular expression"},
        {"publisher_acl:\n  alice: test.*\n", "line 2: publisher_acl: alice: expected a list"},
        {"publisher_acl: [alice]\n", "line 1: publisher_acl: expected a map"},
        {"publisher_acl:\n  alice:\n    - 'X@web':\n      - test.*\n",
         "line 3: publisher_acl: target 'X@web'"},
        {"publisher_acl:\n  alice:\n    - pkg.install:\n        flags: [x]\n",
         "line 4: publisher_acl: flags: expected args (a list) or kwargs (a map)"},
        {"publisher_acl_blacklist:\n  hosts: [a]\n",
         "line 2: publisher_acl_blacklist: hosts: expected users or modules"},
        {"publisher_acl:\n  alice:\n    - '@wheel'\n",
         "line 3: publisher_acl: alice: '@wheel' is not a right (expected @jobs, @keys or "
         "@deploy)"},
        {"publisher_acl_blacklist:\n  users: ['(']\n",
         "line 2: publisher_acl_blacklist: users: '(' is not a regular expression"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mc_err_t err;
        err.msg[0] = '\0';
        acl_t *acl = load(cases[i].text, &err);
        if (acl || !strstr(err.msg, cases[i].want))
            fail_msg("case %zu: got '%s', want '%s'", i, err.msg, cases[i].want);
    }
    /* no publisher_acl at all: no rule */
    mc_err_t err;
    acl_t *acl = load("interface: 127.0.0.1\n", &err);
    assert_non_null(acl);
    assert_int_equal(acl_rule_count(acl), 0);
    acl_destroy(&acl);
}

/* '@' entries give rights beyond publishing, to users and groups, and
   nothing to publish with; a blacklisted user gets none. */
static void rights(void **state)
{
    (void)state;
    mc_err_t err;
    acl_t *acl = load("publisher_acl:\n"
                      "  carol:\n"
                      "    - '@jobs'\n"
                      "    - '@deploy'\n"
                      "  ops%:\n"
                      "    - '@keys'\n"
                      "    - test.ping\n"
                      "  guest2:\n"
                      "    - '@keys'\n"
                      "publisher_acl_blacklist:\n"
                      "  users: ['^guest']\n",
                      &err);
    assert_non_null(acl);
    const char *ops[] = {"ops"};
    acl_caller_t carol = {"carol", NULL, 0}, dan = {"dan", ops, 1}, eve = {"eve", NULL, 0},
                 guest = {"guest2", NULL, 0};
    assert_int_equal(acl_rights(acl, &carol), ACL_RIGHT_JOBS | ACL_RIGHT_DEPLOY);
    assert_int_equal(acl_rights(acl, &dan), ACL_RIGHT_KEYS);
    assert_int_equal(acl_rights(acl, &eve), 0);
    assert_int_equal(acl_rights(acl, &guest), 0);
    /* carol is a user of the ACL, but no rule lets her run anything */
    assert_true(acl_names(acl, &carol));
    const char *const ids[] = {"web1"};
    const msgpack_object *grains[] = {NULL};
    acl_minions_t one = {ids, grains, 1};
    char why[256];
    assert_false(acl_allows(acl, &carol, "test.ping", NULL, NULL, &one, why, sizeof why));
    assert_true(acl_allows(acl, &dan, "test.ping", NULL, NULL, &one, why, sizeof why));
    acl_destroy(&acl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(functions_and_targets, fixture_up, fixture_down),
        cmocka_unit_test_setup_teardown(arguments_and_blacklist, fixture_up, fixture_down),
        cmocka_unit_test(config_errors),
        cmocka_unit_test(rights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
