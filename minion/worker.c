/*  worker - see worker.h. */
#include "worker.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "module.h"
#include "proto/proto.h"

static void pack_return(msgpack_sbuffer *sb, const worker_ctx_t *ctx, const mc_job_t *job,
                        const mc_call_t *call, const msgpack_sbuffer *value, int64_t started_us,
                        int64_t duration_ms)
{
    mc_ret_spec_t spec = {.jid = job->jid,
                          .id = ctx->id,
                          .fun = job->fun,
                          .retcode = call->retcode,
                          .success = call->success,
                          .value = value->data,
                          .value_len = value->size,
                          .out = call->out.data,
                          .out_len = call->out.len,
                          .err = call->err.data,
                          .err_len = call->err.len,
                          .started = started_us,
                          .duration_ms = duration_ms,
                          .truncated = call->truncated};
    mc_ret_pack(sb, &spec);
}

void worker_run_job(const worker_ctx_t *ctx, const char *job_bytes, size_t job_len,
                    const char *grains_bytes, size_t grains_len, mc_buf_t *ret)
{
    mc_job_t job;
    mc_err_t err;
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    if (mc_job_decode(&job, job_bytes, job_len, &err) != 0) {
        /* The main process decoded it already; this cannot happen. */
        mc_ret_pack_error(&out, "00000000000000000000", ctx->id, "?", 1, err.msg);
        goto done;
    }
    mc_mp_doc_t grains;
    static const char empty_map = (char)0x80;
    if (mc_mp_parse(&grains, grains_len ? grains_bytes : &empty_map, grains_len ? grains_len : 1,
                    &err) != 0) {
        mc_ret_pack_error(&out, job.jid, ctx->id, job.fun, 1, "grains are unreadable");
        mc_job_done(&job);
        goto done;
    }

    msgpack_sbuffer value;
    msgpack_sbuffer_init(&value);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &value, msgpack_sbuffer_write);
    mc_call_t call = {.fun = job.fun,
                      .arg = job.arg,
                      .kwarg = job.kwarg,
                      .grains = &grains.root,
                      .timeout_s = job.timeout,
                      .output_max = ctx->output_max,
                      .pk = &pk,
                      .retcode = 0,
                      .success = true};
    int64_t started = mc_wall_us(), t0 = mc_mono_ms();
    const mc_function_t *f = mc_function_find(job.fun);
    if (!f)
        mc_call_fail(&call, 254, "'%s' is not available.", job.fun);
    else
        f->fn(&call);
    if (mc_mp_check(value.data, value.size, &err) != 0) {
        /* A function must pack exactly one value; say so rather than send
           something the master would refuse. */
        msgpack_sbuffer_clear(&value);
        mc_call_fail(&call, 1, "%s returned a malformed value: %s", job.fun, err.msg);
    }
    pack_return(&out, ctx, &job, &call, &value, started, mc_mono_ms() - t0);
    msgpack_sbuffer_destroy(&value);
    mc_buf_free(&call.out);
    mc_buf_free(&call.err);
    mc_mp_doc_done(&grains);
    mc_job_done(&job);
done:
    ret->len = 0;
    mc_buf_append(ret, out.data, out.size);
    msgpack_sbuffer_destroy(&out);
}

static void on_cancel(int sig)
{
    (void)sig;
    mc_call_cancelled = 1;
}

void worker_main(int fd, const worker_ctx_t *ctx)
{
    mc_buf_t job = {0}, grains = {0}, ret = {0};
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* SIGTERM cancels the job being run, not the worker. No SA_RESTART:
       a sleeping function must wake up to notice. */
    struct sigaction sa = {.sa_handler = on_cancel};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        if (frame_read(fd, &job) != 0 || frame_read(fd, &grains) != 0)
            break;
        mc_call_cancelled = 0; /* a cancel meant for the previous job is void */
        worker_run_job(ctx, job.data, job.len, grains.data, grains.len, &ret);
        if (frame_write(fd, ret.data, ret.len) != 0)
            break;
    }
    _exit(0);
}
