/*  Unit tests for config loading, job ids, targets, keys and sealing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "json.h"
#include "jid.h"
#include "keys.h"
#include "target.h"
#include "proto/proto.h"

static void master_config_values(void **state)
{
    const char *text = "interface: 127.0.0.1\nret_port: 14506\nauto_accept: true\n"
                       "keep_jobs: 48\nlog_level: debug\n";
    mc_master_config_t cfg;
    mc_err_t err;
    assert_int_equal(mc_master_config_parse(&cfg, text, strlen(text), &err), 0);
    assert_string_equal(cfg.interface, "127.0.0.1");
    assert_int_equal(cfg.ret_port, 14506);
    assert_int_equal(cfg.auth_port, 4507); /* default kept */
    assert_true(cfg.auto_accept);
    assert_int_equal(cfg.keep_jobs, 48);
    assert_int_equal(cfg.log_level, MC_LOG_DEBUG);
    mc_master_config_free(&cfg);
}

static void config_errors_point_at_the_line(void **state)
{
    mc_master_config_t cfg;
    mc_err_t err;
    const char *bad_port = "# comment\ninterface: 0.0.0.0\n\nret_port: abc\n";
    assert_int_equal(mc_master_config_parse(&cfg, bad_port, strlen(bad_port), &err), -1);
    assert_string_equal(err.msg, "master: line 4: ret_port: expected a port number, got \"abc\"");
    const char *big_port = "ret_port: 70000\n";
    assert_int_equal(mc_master_config_parse(&cfg, big_port, strlen(big_port), &err), -1);
    const char *bad_bool = "auto_accept: maybe\n";
    assert_int_equal(mc_master_config_parse(&cfg, bad_bool, strlen(bad_bool), &err), -1);
    assert_non_null(strstr(err.msg, "line 1: auto_accept"));
    const char *bad_yaml = "interface: [unclosed\n";
    assert_int_equal(mc_master_config_parse(&cfg, bad_yaml, strlen(bad_yaml), &err), -1);
    assert_non_null(strstr(err.msg, "master: line"));
    const char *twice = "ret_port: 1\nret_port: 2\n";
    assert_int_equal(mc_master_config_parse(&cfg, twice, strlen(twice), &err), -1);
    assert_non_null(strstr(err.msg, "twice"));
    const char *alias = "a: &x 1\nb: *x\n";
    assert_int_equal(mc_master_config_parse(&cfg, alias, strlen(alias), &err), -1);
    const char *list = "interface: [a, b]\n";
    assert_int_equal(mc_master_config_parse(&cfg, list, strlen(list), &err), -1);
    assert_non_null(strstr(err.msg, "single value"));
}

/* master: one name, a list, or names joined by commas; each trimmed,
   none empty or twice, at most ten. */
static void minion_masters(void **state)
{
    (void)state;
    mc_minion_config_t cfg;
    mc_err_t err;
    const char *one = "id: a\nmaster: m1\n";
    assert_int_equal(mc_minion_config_parse(&cfg, one, strlen(one), &err), 0);
    assert_int_equal(cfg.nmasters, 1);
    assert_string_equal(cfg.masters[0], "m1");
    mc_minion_config_free(&cfg);
    const char *list = "id: a\nmaster: [m1, m2.example.com]\n";
    assert_int_equal(mc_minion_config_parse(&cfg, list, strlen(list), &err), 0);
    assert_int_equal(cfg.nmasters, 2);
    assert_string_equal(cfg.masters[1], "m2.example.com");
    assert_string_equal(cfg.master, "m1, m2.example.com");
    mc_minion_config_free(&cfg);
    const char *joined = "id: a\nmaster: \" m1 ,m2 \"\n";
    assert_int_equal(mc_minion_config_parse(&cfg, joined, strlen(joined), &err), 0);
    assert_int_equal(cfg.nmasters, 2);
    assert_string_equal(cfg.masters[0], "m1");
    assert_string_equal(cfg.masters[1], "m2");
    mc_minion_config_free(&cfg);
    const char *bad[] = {"id: a\nmaster: [m1, m1]\n",
                         "id: a\nmaster: \"m1, m1\"\n",
                         "id: a\nmaster: \"m1, \"\n",
                         "id: a\nmaster: \" , \"\n",
                         "id: a\nmaster: [m1, [m2]]\n",
                         "id: a\nmaster: [a, b, c, d, e, f, g, h, i, j, k]\n",
                         "id: a\nmaster: \"a,b,c,d,e,f,g,h,i,j,k\"\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mc_minion_config_parse(&cfg, bad[i], strlen(bad[i]), &err), -1);
        assert_non_null(strstr(err.msg, "master"));
    }
}

static void minion_config_and_grains(void **state)
{
    const char *text = "id: web1\nmaster: 10.0.0.1\nworkers: 4\n"
                       "grains:\n  roles: [web, db]\n  dc: {name: par1, rack: 7}\n";
    mc_minion_config_t cfg;
    mc_err_t err;
    assert_int_equal(mc_minion_config_parse(&cfg, text, strlen(text), &err), 0);
    assert_string_equal(cfg.id, "web1");
    assert_int_equal(cfg.workers, 4);
    assert_non_null(cfg.grains);
    const mc_yaml_t *roles = mc_yaml_get(cfg.grains, "roles");
    assert_non_null(roles);
    assert_int_equal(roles->kind, MC_YAML_LIST);
    assert_int_equal(roles->count, 2);
    mc_minion_config_free(&cfg);

    const char *bad_id = "id: ../../etc\n";
    assert_int_equal(mc_minion_config_parse(&cfg, bad_id, strlen(bad_id), &err), -1);
    assert_non_null(strstr(err.msg, "not a valid minion id"));
    const char *zero_workers = "id: a\nworkers: 0\n";
    assert_int_equal(mc_minion_config_parse(&cfg, zero_workers, strlen(zero_workers), &err), -1);
    /* Heartbeats rarer than the interval the master counts a minion
       present for would make it come and go. */
    const char *slow = "id: a\nheartbeat: 60\nmaster_alive_interval: 60\n";
    assert_int_equal(mc_minion_config_parse(&cfg, slow, strlen(slow), &err), -1);
    assert_non_null(strstr(err.msg, "heartbeat"));
}

static void jids_are_unique_and_ordered(void **state)
{
    int64_t last = 0;
    char a[21], b[21], c[21];
    int64_t t = 1795000000123456LL;
    mc_jid_next(a, t, &last, 6);
    mc_jid_next(b, t, &last, 6);      /* same clock reading */
    mc_jid_next(c, t - 10, &last, 6); /* clock went back */
    assert_int_equal(strlen(a), 20);
    assert_true(strcmp(a, b) < 0);
    assert_true(strcmp(b, c) < 0);
    assert_true(mc_jid_valid(a, strlen(a)));
    assert_int_equal(mc_jid_time_us(a), t); /* t ends in 6 already */
    /* Each master ends its jids in its own digit: two masters reading
       the same clock never make the same jid. */
    assert_int_equal(a[19], '6');
    assert_int_equal(b[19], '6');
    assert_int_equal(c[19], '6');
    int64_t other = 0;
    char d[21];
    mc_jid_next(d, t, &other, 7);
    assert_int_equal(d[19], '7');
    assert_true(strcmp(a, d) != 0);
    assert_int_equal(mc_jid_time_us("2026112215301212345"), -1);
    assert_int_equal(mc_jid_time_us("20261399153012123456"), -1);
}

static void glob_and_list_targets(void **state)
{
    assert_true(mc_target_match("*", "glob", "web1.example.com", NULL));
    assert_true(mc_target_match("web?", "glob", "web1", NULL));
    assert_false(mc_target_match("web?", "glob", "web10", NULL));
    assert_false(mc_target_match("web1", "glob", "web10", NULL));
    assert_true(mc_target_match("web[0-9]*", "glob", "web10", NULL));
    assert_true(mc_target_match("web1,db2", "list", "db2", NULL));
    assert_false(mc_target_match("web1,db2", "list", "db", NULL));
    assert_false(mc_target_match("web1,db2", "list", "web10", NULL));
    mc_err_t err;
    assert_int_equal(mc_target_validate("  ", "glob", &err), -1);
    assert_int_equal(mc_target_validate("x", "nodegroupz", &err), -1);
}

static void ids(void **state)
{
    assert_true(mc_id_valid("web-1.example_com@dc", strlen("web-1.example_com@dc")));
    assert_false(mc_id_valid("", 0));
    assert_false(mc_id_valid("..", 2));
    assert_false(mc_id_valid("a/b", 3));
    assert_false(mc_id_valid("a b", 3));
    assert_false(mc_id_valid("-rf", 3));
    char long_id[200];
    memset(long_id, 'a', sizeof long_id);
    assert_false(mc_id_valid(long_id, sizeof long_id));
}

static void keys_seal_and_sign(void **state)
{
    char dir[] = "/tmp/mctl-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    mc_curve_keys_t master, minion, again;
    mc_sign_keys_t sign, sign_again;
    bool created;
    mc_err_t err;
    assert_int_equal(mc_curve_load_or_create(dir, "master", &master, &created, &err), 0);
    assert_true(created);
    assert_int_equal(mc_curve_load_or_create(dir, "master", &again, &created, &err), 0);
    assert_false(created);
    assert_memory_equal(master.pub, again.pub, 32);
    assert_int_equal(mc_curve_load_or_create(dir, "minion", &minion, &created, &err), 0);
    assert_int_equal(mc_sign_load_or_create(dir, "master", &sign, &created, &err), 0);
    assert_int_equal(mc_sign_load_or_create(dir, "master", &sign_again, &created, &err), 0);
    assert_memory_equal(sign.pub, sign_again.pub, 32);

    char *secret = mc_sprintf("%s/master.cert_secret", dir);
    struct stat st;
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A secret others can read is refused. */
    chmod(secret, 0644);
    assert_int_equal(mc_curve_load_or_create(dir, "master", &again, &created, &err), -1);
    assert_non_null(strstr(err.msg, "readable by others"));
    chmod(secret, 0600);

    mc_seal_key_t k_master, k_minion, k_other;
    mc_seal_key(k_master, minion.pub, master.sec);
    mc_seal_key(k_minion, master.pub, minion.sec);
    mc_seal_key(k_other, master.pub, again.sec); /* again == master: not the minion */
    const char msg[] = "job payload";
    unsigned char sealed[sizeof msg + MC_SEAL_OVERHEAD], opened[sizeof msg];
    mc_seal(k_master, msg, sizeof msg, sealed);
    assert_int_equal(mc_unseal(k_minion, sealed, sizeof sealed, opened), 0);
    assert_memory_equal(opened, msg, sizeof msg);
    assert_int_equal(mc_unseal(k_other, sealed, sizeof sealed, opened), -1);
    sealed[30] ^= 1;
    assert_int_equal(mc_unseal(k_minion, sealed, sizeof sealed, opened), -1);
    assert_int_equal(mc_unseal(k_minion, sealed, 10, opened), -1);

    char z85[41];
    unsigned char back[32];
    mc_z85_key(master.pub, z85);
    assert_int_equal(mc_z85_key_decode(z85, back), 0);
    assert_memory_equal(back, master.pub, 32);
    assert_int_equal(mc_z85_key_decode("short", back), -1);
    char finger[MC_FINGERPRINT_LEN];
    mc_fingerprint(master.pub, finger);
    assert_int_equal(strlen(finger), 95);

    /* Key files in CZMQ's format, written by CZMQ, read by our parser. */
    char *cert = mc_sprintf("%s/master.cert", dir);
    assert_int_equal(mc_curve_load_public(cert, back, &err), 0);
    assert_memory_equal(back, master.pub, 32);
    char *line = mc_sprintf("curve\r\n    public-key = '%s'   # a comment\r\n", z85);
    assert_int_equal(mc_write_file(cert, line, strlen(line), 0644, &err), 0);
    assert_int_equal(mc_curve_load_public(cert, back, &err), 0);
    assert_memory_equal(back, master.pub, 32);
    free(line);
    char *bad[] = {
        mc_strdup(""),
        mc_sprintf("metadata\n    public-key = \"%s\"\n", z85), /* wrong section */
        mc_sprintf("curve\n    public-key = \"%.39s\"\n", z85), /* too short */
        mc_sprintf("curve\n    public-key = \"%s\"\n", "0000000000000000000000000000000000000000"),
        mc_sprintf("curve\n    public-key = \"%s\"\n    public-key = \"%s\"\n", z85, z85),
        mc_sprintf("curve\n    public-key = \"%s\n", z85), /* no closing quote */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(mc_write_file(cert, bad[i], strlen(bad[i]), 0644, &err), 0);
        assert_int_equal(mc_curve_load_public(cert, back, &err), -1);
        free(bad[i]);
    }
    char with_nul[] = "curve\n\0    public-key = \"x\"\n";
    assert_int_equal(mc_write_file(cert, with_nul, sizeof with_nul - 1, 0644, &err), 0);
    assert_int_equal(mc_curve_load_public(cert, back, &err), -1);
    /* A secret file without its secret key is refused. */
    line = mc_sprintf("curve\n    public-key = \"%s\"\n", z85);
    assert_int_equal(mc_write_file(secret, line, strlen(line), 0600, &err), 0);
    assert_int_equal(mc_curve_load_or_create(dir, "master", &again, &created, &err), -1);
    assert_non_null(strstr(err.msg, "not a valid key file"));
    free(line);
    free(cert);

    char *cmd = mc_sprintf("rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(secret);
}

static void private_dirs(void **state)
{
    char dir[] = "/tmp/mctl-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    mc_err_t err;
    chmod(dir, 0700);
    assert_int_equal(mc_check_private_dir(dir, &err), 0);
    chmod(dir, 0770);
    assert_int_equal(mc_check_private_dir(dir, &err), -1);
    assert_non_null(strstr(err.msg, "writable by group or others"));
    rmdir(dir);
}

/* Floats print as the shortest text that reads back the same; NaN and
   infinities, which JSON cannot say, as null. */
static void json_numbers(void **state)
{
    (void)state;
    char buf[40];
    mc_json_double_text(buf, sizeof buf, 0.66);
    assert_string_equal(buf, "0.66");
    mc_json_double_text(buf, sizeof buf, 0.1 + 0.2);
    assert_string_equal(buf, "0.30000000000000004");
    mc_json_double_text(buf, sizeof buf, 1e300);
    assert_string_equal(buf, "1e+300");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    msgpack_object nan = {.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = 0.0 / 0.0};
    mc_json_value(f, &nan, MC_JSON_COMPACT);
    fclose(f);
    assert_string_equal(out, "null");
    free(out);
}

/* A seal's nonce never repeats: not within a process, and not between a
   process and a child it forks (which would otherwise go on with the
   parent's prefix and counter: the same nonce under the same key). */
static void seal_nonces_are_unique_across_fork(void **state)
{
    (void)state;
    unsigned char a_pub[MC_KEY_LEN], a_sec[MC_KEY_LEN], b_pub[MC_KEY_LEN], b_sec[MC_KEY_LEN];
    crypto_box_keypair(a_pub, a_sec);
    crypto_box_keypair(b_pub, b_sec);
    mc_seal_key_t k;
    assert_int_equal(mc_seal_key(k, b_pub, a_sec), 0);
    const char msg[] = "job";
    unsigned char first[sizeof msg + MC_SEAL_OVERHEAD], second[sizeof first];
    mc_seal(k, msg, sizeof msg, first);
    mc_seal(k, msg, sizeof msg, second);
    assert_memory_not_equal(first, second, crypto_box_NONCEBYTES);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char child[sizeof first];
        mc_seal(k, msg, sizeof msg, child);
        _exit(write(fds[1], child, crypto_box_NONCEBYTES) == crypto_box_NONCEBYTES ? 0 : 1);
    }
    unsigned char parent[sizeof first], child[crypto_box_NONCEBYTES];
    mc_seal(k, msg, sizeof msg, parent);
    assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fds[0]);
    close(fds[1]);
    assert_memory_not_equal(parent, child, crypto_box_NONCEBYTES);
    assert_memory_not_equal(first, child, crypto_box_NONCEBYTES);
    assert_memory_not_equal(second, child, crypto_box_NONCEBYTES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(master_config_values),
        cmocka_unit_test(json_numbers),
        cmocka_unit_test(config_errors_point_at_the_line),
        cmocka_unit_test(minion_config_and_grains),
        cmocka_unit_test(minion_masters),
        cmocka_unit_test(jids_are_unique_and_ordered),
        cmocka_unit_test(glob_and_list_targets),
        cmocka_unit_test(ids),
        cmocka_unit_test(keys_seal_and_sign),
        cmocka_unit_test(seal_nonces_are_unique_across_fork),
        cmocka_unit_test(private_dirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
