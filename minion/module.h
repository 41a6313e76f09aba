/*  module - what an execution module is, and what a function gets.

    A module is one C file in minion/modules/ that defines
        const mc_module_t mc_module_NAME = {"NAME", functions};
    with a table of functions. The build collects every file in that folder
    (see CMakeLists.txt), so adding a module touches no other module.

    A function receives an mc_call_t: its arguments (positional and
    keyword), the job's time limit, the minion's grains, and a packer on
    which it packs exactly one value, its return. It sets retcode/success,
    and may fill stdout/stderr. mc_call_fail() packs an error message. */
#ifndef MC_MODULE_H
#define MC_MODULE_H

#include <msgpack.h>
#include <signal.h>

#include "util.h"

typedef struct {
    const char *fun;
    const msgpack_object *arg;    /* array */
    const msgpack_object *kwarg;  /* map with string keys */
    const msgpack_object *grains; /* map */
    int64_t timeout_s;
    long output_max;
    msgpack_packer *pk;
    int retcode;
    bool success;
    mc_buf_t out, err;
    bool truncated;
} mc_call_t;

typedef void (*mc_fn_t)(mc_call_t *call);

/* A quick function reads only its arguments and the grains, never blocks,
   never forks and takes microseconds (test.ping, grains.get): the
   minion's main process runs it itself, sparing the hand-off to a worker
   and back, which costs more than the function. Anything else runs in a
   worker, so that a slow or crashing function never holds up the loop. */
#define MC_FN_QUICK 1u

typedef struct {
    const char *name; /* function name without the module */
    mc_fn_t fn;
    const char *doc;
    unsigned flags; /* MC_FN_* */
} mc_function_t;

typedef struct {
    const char *name;
    const mc_function_t *functions; /* ends with {NULL} */
} mc_module_t;

/* Set (from a signal handler) when the minion asks the worker to stop the
   job it runs: functions that take time check it and end early with a
   "killed" return. */
extern volatile sig_atomic_t mc_call_cancelled;

/* Every module the build collected, ends with NULL. */
extern const mc_module_t *const mc_modules[];

const mc_function_t *mc_function_find(const char *fun);

/* Pack an error string as the return and mark the call failed. */
void mc_call_fail(mc_call_t *call, int retcode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The entry of a function the minion's main process answers itself
   (jobs.running, jobs.kill, cp.recv): it never reaches a worker, and a
   worker that got it would say so. */
void mc_call_answered_by_main(mc_call_t *call);

/* Argument i, or the keyword argument name when given that way. Strings
   and numbers are accepted; the result is NUL-terminated (malloc'd). An
   absent argument returns 1 (and *out = NULL); a wrong type fails the call
   and returns -1. */
int mc_call_str(mc_call_t *call, int index, const char *name, char **out);
/* The same for a whole number; returns 1 and leaves *out when absent. */
int mc_call_int(mc_call_t *call, int index, const char *name, int64_t min, int64_t max,
                int64_t *out);
/* Fail the call when more positional arguments than max were given. */
int mc_call_max_args(mc_call_t *call, int max);

#endif
