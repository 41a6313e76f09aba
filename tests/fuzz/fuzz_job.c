/*  Fuzz target: a job as the minion reads it once the seal is open and
    the signature inside checked (a decoder must hold even against what a
    compromised master or a bug would sign), then its target
    compiled and matched as the minion does. A decoder either fills the job
    or says why not. */
#include <stdint.h>
#include <stdlib.h>

#include "target.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mc_job_t job;
    mc_err_t err;
    err.msg[0] = '\0';
    if (mc_job_decode(&job, data, size, &err) != 0) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    mc_target_t *t = mc_target_compile(job.tgt, job.tgt_type, job.delimiter, &err);
    if (t) {
        mc_target_eval(t, "web1", NULL);
        mc_target_destroy(&t);
    }
    mc_job_done(&job);
    return 0;
}
