/*  Unit tests for the minion's return spool: what a restart finds, what
    it sends again, and what it does with a log cut short or damaged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"

typedef struct {
    char sent[64][64];
    int n;
    int refuse_after; /* -1: never */
} sink_t;

static int sink_send(void *arg, const char *jid, const char *data, size_t len)
{
    sink_t *s = arg;
    /* The return handed over is the one kept for that jid. */
    assert_int_equal(strlen(jid), 20);
    if (s->refuse_after >= 0 && s->n >= s->refuse_after)
        return -1;
    snprintf(s->sent[s->n++], sizeof s->sent[0], "%.*s", (int)len, data);
    return 0;
}

/* Each test gets a fresh spool folder, removed afterwards. */
static int make_spool_dir(void **state)
{
    char tmpl[] = "/tmp/mctl-spool-test.XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    *state = mc_sprintf("%s/spool", tmpl);
    return 0;
}

static int remove_spool_dir(void **state)
{
    char *dir = *state;
    char *cmd = mc_sprintf("rm -rf '%.*s'", (int)(strrchr(dir, '/') - dir), dir);
    int rc = system(cmd);
    free(cmd);
    free(dir);
    return rc == 0 ? 0 : -1;
}

static void jid_of(int i, char *out)
{
    snprintf(out, 21, "2026112200000000%04d", i);
}

static size_t files_in(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

static void restart_sends_what_was_not_stored(void **state)
{
    const char *dir = *state;
    mc_err_t err;
    spool_t *sp = spool_new(dir, &err);
    assert_non_null(sp);
    char jid[21], msg[32];
    for (int i = 0; i < 10; i++) {
        jid_of(i, jid);
        snprintf(msg, sizeof msg, "return %d", i);
        assert_int_equal(spool_put(sp, jid, msg, strlen(msg), &err), 0);
    }
    assert_int_equal(spool_count(sp), 10);
    assert_int_equal(spool_due(sp), 10);
    for (int i = 0; i < 10; i += 2) {
        jid_of(i, jid);
        spool_stored(sp, jid);
    }
    spool_sync(sp);
    assert_int_equal(spool_count(sp), 5);
    spool_destroy(&sp);

    sp = spool_new(dir, &err);
    assert_non_null(sp);
    assert_int_equal(spool_count(sp), 5);
    sink_t sink = {.refuse_after = -1};
    spool_send_due(sp, 60000, sink_send, &sink);
    assert_int_equal(sink.n, 5);
    for (int k = 0; k < 5; k++) { /* oldest first, the odd ones */
        snprintf(msg, sizeof msg, "return %d", 2 * k + 1);
        assert_string_equal(sink.sent[k], msg);
    }
    assert_int_equal(spool_due(sp), 0);
    /* Sent, not yet stored: not due again within the interval. */
    spool_send_due(sp, 60000, sink_send, &sink);
    assert_int_equal(sink.n, 5);
    spool_all_due(sp);
    assert_int_equal(spool_due(sp), 5);
    for (int i = 1; i < 10; i += 2) {
        jid_of(i, jid);
        spool_stored(sp, jid);
    }
    spool_sync(sp);
    assert_int_equal(spool_count(sp), 0);
    spool_destroy(&sp);

    sp = spool_new(dir, &err);
    assert_non_null(sp);
    assert_int_equal(spool_count(sp), 0);
    spool_destroy(&sp);
}

static void full_channel_keeps_the_rest_due(void **state)
{
    const char *dir = *state;
    mc_err_t err;
    spool_t *sp = spool_new(dir, &err);
    assert_non_null(sp);
    char jid[21];
    for (int i = 0; i < 4; i++) {
        jid_of(i, jid);
        assert_int_equal(spool_put(sp, jid, "x", 1, &err), 0);
    }
    sink_t sink = {.refuse_after = 2};
    spool_send_due(sp, 60000, sink_send, &sink);
    assert_int_equal(sink.n, 2);
    assert_int_equal(spool_due(sp), 2);
    sink.refuse_after = -1;
    spool_send_due(sp, 60000, sink_send, &sink);
    assert_int_equal(sink.n, 4);
    assert_int_equal(spool_due(sp), 0);
    spool_destroy(&sp);
}

static void segments_go_when_stored(void **state)
{
    const char *dir = *state;
    mc_err_t err;
    spool_t *sp = spool_new(dir, &err);
    assert_non_null(sp);
    char jid[21], big[4096];
    memset(big, 'r', sizeof big);
    /* About 2.5 MB: three segments. */
    for (int i = 0; i < 600; i++) {
        jid_of(i, jid);
        assert_int_equal(spool_put(sp, jid, big, sizeof big, &err), 0);
    }
    assert_true(files_in(dir) >= 3);
    for (int i = 0; i < 600; i++) {
        jid_of(i, jid);
        spool_stored(sp, jid);
    }
    spool_sync(sp);
    assert_int_equal(files_in(dir), 0);
    spool_destroy(&sp);
}

/* A crash mid-write leaves a record cut short; a power cut may leave
   garbage. Both are skipped, and what came before is kept. */
static void damaged_tail_is_skipped(void **state)
{
    const char *dir = *state;
    mc_err_t err;
    spool_t *sp = spool_new(dir, &err);
    assert_non_null(sp);
    char jid[21];
    for (int i = 0; i < 3; i++) {
        jid_of(i, jid);
        assert_int_equal(spool_put(sp, jid, "kept", 4, &err), 0);
    }
    spool_destroy(&sp);
    char *seg = mc_sprintf("%s/0000000000.log", dir);
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    /* Cut the last record short. */
    assert_int_equal(truncate(seg, st.st_size - 3), 0);
    sp = spool_new(dir, &err);
    assert_non_null(sp);
    assert_int_equal(spool_count(sp), 2);
    spool_destroy(&sp);
    /* Flip one byte of the first record's jid: that record alone goes. */
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 8 + 20), 1);
    close(fd);
    sp = spool_new(dir, &err);
    assert_non_null(sp);
    assert_int_equal(spool_count(sp), 1);
    sink_t sink = {.refuse_after = -1};
    spool_send_due(sp, 60000, sink_send, &sink);
    assert_int_equal(sink.n, 1);
    assert_string_equal(sink.sent[0], "kept");
    spool_destroy(&sp);
    free(seg);
}

/* Earlier versions kept one file per return; a new minion takes them in. */
static void single_files_are_moved_into_the_log(void **state)
{
    const char *dir = *state;
    mc_err_t err;
    assert_int_equal(mc_mkdir_p(dir, 0700, &err), 0);
    char *old = mc_sprintf("%s/20261122000000000007.ret", dir);
    assert_int_equal(mc_write_file(old, "old return", 10, 0600, &err), 0);
    spool_t *sp = spool_new(dir, &err);
    assert_non_null(sp);
    assert_int_equal(spool_count(sp), 1);
    assert_int_equal(access(old, F_OK), -1);
    sink_t sink = {.refuse_after = -1};
    spool_send_due(sp, 60000, sink_send, &sink);
    assert_int_equal(sink.n, 1);
    assert_string_equal(sink.sent[0], "old return");
    spool_destroy(&sp);
    char *list = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&list, &len);
    assert_int_equal(spool_list(dir, f, &err), 1);
    fclose(f);
    assert_string_equal(list, "20261122000000000007 10\n");
    free(list);
    free(old);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(restart_sends_what_was_not_stored, make_spool_dir,
                                        remove_spool_dir),
        cmocka_unit_test_setup_teardown(full_channel_keeps_the_rest_due, make_spool_dir,
                                        remove_spool_dir),
        cmocka_unit_test_setup_teardown(segments_go_when_stored, make_spool_dir, remove_spool_dir),
        cmocka_unit_test_setup_teardown(damaged_tail_is_skipped, make_spool_dir, remove_spool_dir),
        cmocka_unit_test_setup_teardown(single_files_are_moved_into_the_log, make_spool_dir,
                                        remove_spool_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
