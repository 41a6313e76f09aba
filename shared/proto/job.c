/*  proto/job - see job.h. */
#include "job.h"

#include <string.h>

void mc_job_pack(msgpack_sbuffer *sb, const mc_job_spec_t *s)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    bool delim = s->delimiter && s->delimiter != ':';
    mc_proto_header(&pk, delim ? 10 : 9);
    mc_pk_kv_str(&pk, "jid", s->jid);
    mc_pk_kv_str(&pk, "tgt", s->tgt);
    mc_pk_kv_str(&pk, "tgt_type", s->tgt_type);
    mc_pk_kv_str(&pk, "fun", s->fun);
    mc_pk_str(&pk, "arg");
    if (s->arg)
        msgpack_pack_object(&pk, *s->arg);
    else
        msgpack_pack_array(&pk, 0);
    mc_pk_str(&pk, "kwarg");
    if (s->kwarg)
        msgpack_pack_object(&pk, *s->kwarg);
    else
        msgpack_pack_map(&pk, 0);
    mc_pk_kv_str(&pk, "user", s->user);
    mc_pk_kv_int(&pk, "ts", s->ts);
    mc_pk_kv_int(&pk, "timeout", s->timeout);
    if (delim) {
        mc_pk_str(&pk, "delimiter");
        mc_pk_strn(&pk, &s->delimiter, 1);
    }
}

int mc_job_decode(mc_job_t *job, const void *buf, size_t len, mc_err_t *err)
{
    memset(job, 0, sizeof *job);
    if (mc_proto_open(&job->doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &job->doc.root;
    if (mc_proto_jid(m, "jid", job->jid, err) ||
        mc_mp_strdup(m, "tgt", MC_TGT_MAX, &job->tgt, err) ||
        mc_mp_str(m, "tgt_type", job->tgt_type, sizeof job->tgt_type, err) ||
        mc_mp_str(m, "fun", job->fun, sizeof job->fun, err) ||
        mc_mp_array(m, "arg", false, MC_ARGS_MAX, &job->arg, err) ||
        mc_mp_map(m, "kwarg", false, MC_ARGS_MAX, &job->kwarg, err) ||
        mc_mp_str(m, "user", job->user, sizeof job->user, err) ||
        mc_mp_int(m, "ts", 0, INT64_MAX / 2, &job->ts, err) ||
        mc_mp_int(m, "timeout", 1, MC_JOB_TIMEOUT_MAX, &job->timeout, err))
        goto fail;
    for (uint32_t i = 0; i < job->kwarg->via.map.size; i++) {
        if (job->kwarg->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
            mc_err_set(err, "field 'kwarg' has a key that is not a string");
            goto fail;
        }
    }
    char delim[2];
    if (mc_mp_str_opt(m, "delimiter", delim, sizeof delim, err))
        goto fail;
    if (mc_mp_get(m, "delimiter") && !delim[0]) {
        mc_err_set(err, "field 'delimiter' is empty");
        goto fail;
    }
    job->delimiter = delim[0] ? delim[0] : ':';
    return 0;
fail:
    mc_job_done(job);
    return -1;
}

void mc_job_done(mc_job_t *job)
{
    free(job->tgt);
    job->tgt = NULL;
    mc_proto_doc_done(&job->doc);
}
