/*  Unit tests for the minion's execution modules, run the way a worker
    runs them: a packed job in, a packed return out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "modules/cmd.h"
#include "module.h"
#include "proto/proto.h"
#include "worker.h"

static const worker_ctx_t ctx = {.id = "m1", .output_max = 1024};

/* The packed return of the last run; a decoded return points into it. */
static mc_buf_t out;

/* Run fun with string args (KEY=VALUE ones as kwargs); the return is left
   decoded in *ret. */
static void run(const char *fun, int timeout, mc_ret_t *ret, int argc, const char **argv)
{
    msgpack_sbuffer args, job, grains;
    msgpack_sbuffer_init(&args);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &args, msgpack_sbuffer_write);
    int nkw = 0;
    for (int i = 0; i < argc; i++)
        nkw += strchr(argv[i], '=') != NULL;
    msgpack_pack_array(&pk, (size_t)(argc - nkw));
    for (int i = 0; i < argc; i++)
        if (!strchr(argv[i], '='))
            mc_pk_str(&pk, argv[i]);
    msgpack_pack_map(&pk, (size_t)nkw);
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (eq) {
            mc_pk_strn(&pk, argv[i], (size_t)(eq - argv[i]));
            mc_pk_str(&pk, eq + 1);
        }
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_next(&u, args.data, args.size, &off);
    msgpack_object arg = u.data;
    msgpack_unpacked kw;
    msgpack_unpacked_init(&kw);
    msgpack_unpack_next(&kw, args.data, args.size, &off);

    msgpack_sbuffer_init(&job);
    mc_job_spec_t spec = {.jid = "20261122153012123456",
                          .tgt_type = "glob",
                          .tgt = "*",
                          .fun = fun,
                          .user = "root",
                          .ts = 1,
                          .timeout = timeout,
                          .arg = &arg,
                          .kwarg = &kw.data};
    mc_job_pack(&job, &spec);
    msgpack_sbuffer_init(&grains);
    msgpack_packer gp;
    msgpack_packer_init(&gp, &grains, msgpack_sbuffer_write);
    msgpack_pack_map(&gp, 2);
    mc_pk_kv_str(&gp, "os", "Debian");
    mc_pk_str(&gp, "roles");
    msgpack_pack_array(&gp, 2);
    mc_pk_str(&gp, "web");
    mc_pk_str(&gp, "db");

    worker_run_job(&ctx, job.data, job.size, grains.data, grains.size, &out);
    mc_err_t err;
    assert_int_equal(mc_ret_decode(ret, out.data, out.len, &err), 0);
    assert_string_equal(ret->id, "m1");
    assert_string_equal(ret->jid, "20261122153012123456");
    msgpack_unpacked_destroy(&u);
    msgpack_unpacked_destroy(&kw);
    msgpack_sbuffer_destroy(&args);
    msgpack_sbuffer_destroy(&job);
    msgpack_sbuffer_destroy(&grains);
}

static void ping_echo_version(void **state)
{
    mc_ret_t r;
    run("test.ping", 5, &r, 0, NULL);
    assert_true(r.success);
    assert_int_equal(r.ret->type, MSGPACK_OBJECT_BOOLEAN);
    mc_ret_done(&r);
    const char *hello[] = {"hello world"};
    run("test.echo", 5, &r, 1, hello);
    assert_true(mc_mp_is_str(r.ret, "hello world"));
    mc_ret_done(&r);
    run("test.version", 5, &r, 0, NULL);
    assert_true(mc_mp_is_str(r.ret, MCTL_VERSION));
    mc_ret_done(&r);
}

static void unknown_function_and_bad_args(void **state)
{
    mc_ret_t r;
    run("nope.nothing", 5, &r, 0, NULL);
    assert_false(r.success);
    assert_true(mc_mp_is_str(r.ret, "'nope.nothing' is not available."));
    mc_ret_done(&r);
    run("cmd.run", 5, &r, 0, NULL);
    assert_false(r.success);
    assert_int_equal(r.ret->type, MSGPACK_OBJECT_STR);
    mc_ret_done(&r);
    const char *two[] = {"a", "b"};
    run("test.ping", 5, &r, 2, two);
    assert_false(r.success);
    mc_ret_done(&r);
    const char *bad_sleep[] = {"soon"};
    run("test.sleep", 5, &r, 1, bad_sleep);
    assert_false(r.success);
    mc_ret_done(&r);
}

static void cmd_streams_and_exit_codes(void **state)
{
    mc_ret_t r;
    const char *cmd[] = {"echo out; echo err >&2; exit 3"};
    run("cmd.run", 5, &r, 1, cmd);
    assert_false(r.success);
    assert_int_equal(r.retcode, 3);
    assert_int_equal(r.out_len, 4);
    assert_memory_equal(r.out, "out\n", 4);
    assert_memory_equal(r.err, "err\n", 4);
    assert_true(mc_mp_is_str(r.ret, "out\nerr"));
    mc_ret_done(&r);

    run("cmd.retcode", 5, &r, 1, cmd);
    assert_true(r.success);
    assert_int_equal(r.ret->via.u64, 3);
    mc_ret_done(&r);

    run("cmd.run_all", 5, &r, 1, cmd);
    assert_true(mc_mp_is_str(mc_mp_get(r.ret, "stderr"), "err"));
    assert_int_equal(mc_mp_get(r.ret, "retcode")->via.u64, 3);
    mc_ret_done(&r);

    const char *cwd[] = {"pwd", "cwd=/tmp"};
    run("cmd.run", 5, &r, 2, cwd);
    assert_true(mc_mp_is_str(r.ret, "/tmp"));
    mc_ret_done(&r);
}

static void cmd_plain_words_only_when_the_shell_adds_nothing(void **state)
{
    char **w = cmd_plain_words("  ls \t-d   /tmp ");
    assert_non_null(w);
    assert_string_equal(w[0], "ls");
    assert_string_equal(w[1], "-d");
    assert_string_equal(w[2], "/tmp");
    assert_null(w[3]);
    cmd_free_words(w);
    static const char *const shell[] = {
        "",     "  ",       "echo hi",  "cd /tmp",  "FOO=1 env", "ls *.c",
        "ls ~", "ls $HOME", "a;b",      "a && b",   "a | b",     "a > f",
        "a\nb", "ls 'x y'", "ls \"x\"", "ls \\x",   "ls `pwd`",  "exit 3",
        "true", "ls #c",    "(ls)",     "ls {a,b}", "test -f x", "kill 1",
    };
    for (size_t i = 0; i < sizeof shell / sizeof *shell; i++) {
        w = cmd_plain_words(shell[i]);
        if (w)
            fail_msg("'%s' must go through the shell", shell[i]);
    }
}

static void cmd_plain_and_shell_agree(void **state)
{
    mc_ret_t r;
    const char *ls[] = {"ls  -d   /tmp"};
    run("cmd.run", 5, &r, 1, ls);
    assert_true(r.success);
    assert_true(mc_mp_is_str(r.ret, "/tmp"));
    mc_ret_done(&r);

    /* Not found: the shell's own message and status, as before. */
    const char *missing[] = {"no-such-command-mctl --flag"};
    run("cmd.run", 5, &r, 1, missing);
    assert_int_equal(r.retcode, 127);
    assert_non_null(memmem(r.err, r.err_len, "not found", 9));
    mc_ret_done(&r);

    const char *assign[] = {"cmd=MCTL_T=yes printenv MCTL_T"};
    run("cmd.run", 5, &r, 1, assign);
    assert_true(mc_mp_is_str(r.ret, "yes"));
    mc_ret_done(&r);

    /* A script without #! in cwd, by relative path. */
    char dir[] = "/tmp/mctl-cmd.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], cwd[80];
    snprintf(path, sizeof path, "%s/x.sh", dir);
    FILE *f = fopen(path, "w");
    fputs("echo scripted $#\n", f);
    fclose(f);
    chmod(path, 0755);
    snprintf(cwd, sizeof cwd, "cwd=%s", dir);
    const char *script[] = {"./x.sh a b", cwd};
    run("cmd.run", 5, &r, 2, script);
    assert_true(mc_mp_is_str(r.ret, "scripted 2"));
    mc_ret_done(&r);
    unlink(path);
    rmdir(dir);
}

static void cmd_output_cap_and_bytes(void **state)
{
    mc_ret_t r;
    const char *big[] = {"head -c 5000 /dev/zero | tr '\\0' x"};
    run("cmd.run", 5, &r, 1, big);
    assert_true(r.truncated);
    assert_int_equal(r.out_len, 1024); /* output_max */
    mc_ret_done(&r);
    const char *binary[] = {"printf '\\377\\376'"};
    run("cmd.run", 5, &r, 1, binary);
    assert_int_equal(r.ret->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(r.ret->via.bin.size, 2);
    assert_memory_equal(r.ret->via.bin.ptr, "\xff\xfe", 2);
    mc_ret_done(&r);
}

static void cmd_timeout_kills(void **state)
{
    mc_ret_t r;
    const char *slow[] = {"echo started; sleep 30", "timeout=1"};
    int64_t t0 = mc_mono_ms();
    run("cmd.run", 10, &r, 2, slow);
    int64_t took = mc_mono_ms() - t0;
    assert_true(took < 4000);
    assert_false(r.success);
    assert_int_equal(r.retcode, 124);
    assert_memory_equal(r.out, "started\n", 8);
    assert_non_null(strstr(r.err, "timed out after 1 s"));
    mc_ret_done(&r);
}

static void grains_functions(void **state)
{
    mc_ret_t r;
    const char *os[] = {"os"};
    run("grains.get", 5, &r, 1, os);
    assert_true(mc_mp_is_str(r.ret, "Debian"));
    mc_ret_done(&r);
    const char *nested[] = {"roles:1"};
    run("grains.get", 5, &r, 1, nested);
    assert_true(mc_mp_is_str(r.ret, "db"));
    mc_ret_done(&r);
    const char *missing[] = {"nothing", "fallback"};
    run("grains.get", 5, &r, 2, missing);
    assert_true(mc_mp_is_str(r.ret, "fallback"));
    mc_ret_done(&r);
    run("grains.ls", 5, &r, 0, NULL);
    assert_int_equal(r.ret->via.array.size, 2);
    assert_true(mc_mp_is_str(&r.ret->via.array.ptr[0], "os"));
    mc_ret_done(&r);
    run("sys.list_functions", 5, &r, 0, NULL);
    assert_true(r.ret->via.array.size >= 12);
    mc_ret_done(&r);
    const char *doc[] = {"cmd.run"};
    run("sys.doc", 5, &r, 1, doc);
    assert_int_equal(r.ret->via.map.size, 1);
    mc_ret_done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ping_echo_version),
        cmocka_unit_test(unknown_function_and_bad_args),
        cmocka_unit_test(cmd_streams_and_exit_codes),
        cmocka_unit_test(cmd_plain_words_only_when_the_shell_adds_nothing),
        cmocka_unit_test(cmd_plain_and_shell_agree),
        cmocka_unit_test(cmd_output_cap_and_bytes),
        cmocka_unit_test(cmd_timeout_kills),
        cmocka_unit_test(grains_functions),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    mc_buf_free(&out);
    return failed;
}
