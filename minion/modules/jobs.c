/*  jobs - what runs on this minion: jobs.running, jobs.kill.

    Only the minion's main process knows its worker pool, so it answers
    these itself before a job would reach a worker; the table here gives
    them their documentation and a place in sys.list_functions. */
#include "module.h"

static const mc_function_t functions[] = {
    {"running", mc_call_answered_by_main,
     "List the jobs running on the minion: jid, function, worker pid, start time.\n\n"
     "    mctl '*' jobs.running",
     0},
    {"kill", mc_call_answered_by_main,
     "Stop the running job JID: its process group gets SIGTERM, then SIGKILL, and\n"
     "its return says it was killed (a copy in progress, mctl cp, is ended and\n"
     "leaves nothing partial). `mctl jobs kill JID` sends this to the job's\n"
     "minions.\n\n"
     "    mctl web1 jobs.kill 20261122153012123456",
     0},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_jobs = {"jobs", functions};
