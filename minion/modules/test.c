/*  test - functions to check that minions answer: ping, echo, sleep,
    version. */
#include <time.h>

#include "module.h"
#include "mp.h"

static void test_ping(mc_call_t *call)
{
    if (mc_call_max_args(call, 0) != 0)
        return;
    msgpack_pack_true(call->pk);
}

static void test_echo(mc_call_t *call)
{
    char *text;
    if (mc_call_max_args(call, 1) != 0)
        return;
    int rc = mc_call_str(call, 0, "text", &text);
    if (rc < 0)
        return;
    if (rc > 0) {
        mc_call_fail(call, 1, "test.echo: missing argument 'text'");
        return;
    }
    mc_pk_str(call->pk, text);
    free(text);
}

static void test_sleep(mc_call_t *call)
{
    int64_t secs = 0;
    if (mc_call_max_args(call, 1) != 0)
        return;
    int rc = mc_call_int(call, 0, "length", 0, 86400, &secs);
    if (rc < 0)
        return;
    if (rc > 0) {
        mc_call_fail(call, 1, "test.sleep: missing argument 'length'");
        return;
    }
    int64_t limit = secs > call->timeout_s ? call->timeout_s : secs;
    int64_t end = mc_mono_ms() + limit * 1000;
    while (!mc_call_cancelled && mc_mono_ms() < end) {
        int64_t left = end - mc_mono_ms();
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000};
        nanosleep(&ts, NULL); /* a cancel signal cuts it short */
    }
    if (mc_call_cancelled) {
        mc_call_fail(call, 143, "test.sleep: killed on request");
        return;
    }
    if (secs > call->timeout_s) {
        mc_call_fail(call, 124, "test.sleep: timed out after %lld s", (long long)call->timeout_s);
        return;
    }
    msgpack_pack_true(call->pk);
}

static void test_version(mc_call_t *call)
{
    if (mc_call_max_args(call, 0) != 0)
        return;
    mc_pk_str(call->pk, mc_version());
}

static const mc_function_t functions[] = {
    {"ping", test_ping, "Return True: the minion is up and runs jobs.\n\n    mctl '*' test.ping",
     MC_FN_QUICK},
    {"echo", test_echo, "Return the text given.\n\n    mctl '*' test.echo 'hello'", MC_FN_QUICK},
    {"sleep", test_sleep, "Sleep LENGTH seconds, then return True.\n\n    mctl '*' test.sleep 5",
     0},
    {"version", test_version, "Return the minion's mctl version.\n\n    mctl '*' test.version",
     MC_FN_QUICK},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_test = {"test", functions};
