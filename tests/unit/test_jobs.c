/*  Unit tests for the master's jobs in flight: progress only moves
    forward, a job completes when every minion returned, and expiry names
    the minions that neither acknowledged nor returned (the master's
    per-minion pub_hwm count rests on this). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "jobs.h"

static const char *const ids[] = {"a", "b", "c"};

static void progress_moves_forward(void **state)
{
    (void)state;
    jobs_t *jobs = jobs_new();
    job_t *job = jobs_add(jobs, "20261122153012123456", "test.ping", ids, 3, 1000);
    minion_progress_t from = MINION_RETURNED;
    assert_true(job_advance(job, "a", MINION_ACKED, &from));
    assert_int_equal(from, MINION_SENT);
    assert_false(job_advance(job, "a", MINION_ACKED, &from)); /* duplicate ack */
    assert_true(job_advance(job, "a", MINION_RETURNED, &from));
    assert_int_equal(from, MINION_ACKED);
    assert_false(job_advance(job, "a", MINION_ACKED, NULL));    /* ack after return */
    assert_false(job_advance(job, "x", MINION_RETURNED, NULL)); /* not targeted */
    assert_true(job_advance(job, "b", MINION_RETURNED, &from));
    assert_int_equal(from, MINION_SENT);
    assert_false(job_complete(job));
    assert_true(job_advance(job, "c", MINION_RETURNED, NULL));
    assert_true(job_complete(job));
    jobs_destroy(&jobs);
}

typedef struct {
    char seen[8][8];
    int n;
} unsettled_t;

static void record(const char *id, void *arg)
{
    unsettled_t *u = arg;
    assert_true(u->n < 8);
    snprintf(u->seen[u->n++], sizeof u->seen[0], "%s", id);
}

static bool saw(const unsettled_t *u, const char *id)
{
    for (int i = 0; i < u->n; i++)
        if (strcmp(u->seen[i], id) == 0)
            return true;
    return false;
}

static void expiry_names_the_unsettled(void **state)
{
    (void)state;
    jobs_t *jobs = jobs_new();
    job_t *early = jobs_add(jobs, "20261122153012000001", "test.ping", ids, 3, 1000);
    jobs_add(jobs, "20261122153012000002", "test.ping", ids, 1, 5000);
    job_advance(early, "a", MINION_ACKED, NULL);
    job_advance(early, "b", MINION_RETURNED, NULL);

    unsettled_t u = {.n = 0};
    jobs_expire(jobs, 999, record, &u);
    assert_int_equal(u.n, 0);
    assert_int_equal(jobs_count(jobs), 2);

    jobs_expire(jobs, 1000, record, &u);
    assert_int_equal(u.n, 1); /* c: sent, never heard from */
    assert_true(saw(&u, "c"));
    assert_int_equal(jobs_count(jobs), 1);
    assert_null(jobs_find(jobs, "20261122153012000001"));

    jobs_expire(jobs, 5000, NULL, NULL);
    assert_int_equal(jobs_count(jobs), 0);
    jobs_destroy(&jobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(progress_moves_forward),
        cmocka_unit_test(expiry_names_the_unsettled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
