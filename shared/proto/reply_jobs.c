/*  proto/reply_jobs - see reply_jobs.h. */
#include "reply_jobs.h"

#include <string.h>

/* ---- jobs_list -------------------------------------------------------------- */

mc_job_summary_t *mc_reply_jobs_list_add(mc_reply_jobs_list_t *l)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->jobs = mc_realloc(l->jobs, l->cap * sizeof *l->jobs);
    }
    mc_job_summary_t *j = &l->jobs[l->count++];
    memset(j, 0, sizeof *j);
    return j;
}

void mc_reply_jobs_list_done(mc_reply_jobs_list_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->jobs[i].tgt);
    free(l->jobs);
    memset(l, 0, sizeof *l);
}

void mc_reply_jobs_list_pack(msgpack_sbuffer *sb, const mc_reply_jobs_list_t *l)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, l->behind ? 2 : 1);
    if (l->behind)
        mc_pk_kv_bool(&pk, "behind", true);
    mc_pk_str(&pk, "jobs");
    msgpack_pack_array(&pk, l->count);
    for (size_t i = 0; i < l->count; i++) {
        const mc_job_summary_t *j = &l->jobs[i];
        msgpack_pack_map(&pk, 9);
        mc_pk_kv_str(&pk, "jid", j->jid);
        mc_pk_kv_str(&pk, "fun", j->fun);
        mc_pk_kv_str(&pk, "tgt", j->tgt ? j->tgt : "");
        mc_pk_kv_str(&pk, "tgt_type", j->tgt_type);
        mc_pk_kv_str(&pk, "user", j->user);
        mc_pk_kv_int(&pk, "ts", j->ts_us);
        mc_pk_kv_int(&pk, "minions", j->minions);
        mc_pk_kv_int(&pk, "returned", j->returned);
        mc_pk_kv_int(&pk, "failed", j->failed);
    }
}

/* The fields every job's description has, in jobs_list and jobs_show. */
static int decode_about(const msgpack_object *m, char jid[MC_JID_LEN + 1], char fun[MC_FUN_MAX + 1],
                        char **tgt, char tgt_type[16], char user[MC_USER_MAX + 1], int64_t *ts_us,
                        mc_err_t *err)
{
    return mc_proto_jid(m, "jid", jid, err) || mc_mp_str(m, "fun", fun, MC_FUN_MAX + 1, err) ||
                   mc_mp_strdup(m, "tgt", MC_TGT_MAX, tgt, err) ||
                   mc_mp_str(m, "tgt_type", tgt_type, 16, err) ||
                   mc_mp_str(m, "user", user, MC_USER_MAX + 1, err) ||
                   mc_mp_int(m, "ts", 0, INT64_MAX, ts_us, err)
               ? -1
               : 0;
}

static int decode_summary(const msgpack_object *m, mc_job_summary_t *j, mc_err_t *err)
{
    if (decode_about(m, j->jid, j->fun, &j->tgt, j->tgt_type, j->user, &j->ts_us, err) ||
        mc_mp_int(m, "minions", 0, INT64_MAX, &j->minions, err) ||
        mc_mp_int(m, "returned", 0, j->minions, &j->returned, err) ||
        mc_mp_int(m, "failed", 0, j->returned, &j->failed, err))
        return -1;
    return 0;
}

int mc_reply_jobs_list_decode(mc_reply_jobs_list_t *l, const void *buf, size_t len, mc_err_t *err)
{
    memset(l, 0, sizeof *l);
    mc_mp_doc_t doc;
    if (mc_reply_open(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *jobs;
    int rc = -1;
    if (mc_mp_array(&doc.root, "jobs", false, MC_LIST_MAX, &jobs, err) != 0 ||
        (mc_mp_get(&doc.root, "behind") && mc_mp_bool(&doc.root, "behind", &l->behind, err) != 0))
        goto out;
    for (uint32_t i = 0; i < jobs->via.array.size; i++) {
        const msgpack_object *o = &jobs->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_MAP) {
            mc_err_set(err, "field 'jobs' item %u is not a map", i);
            goto out;
        }
        if (decode_summary(o, mc_reply_jobs_list_add(l), err) != 0) {
            mc_err_prefix(err, "field 'jobs' item %u", i);
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        mc_reply_jobs_list_done(l);
    mc_mp_doc_done(&doc);
    return rc;
}

/* ---- jobs_show and jobs_wait ------------------------------------------------ */

/* Whether data is one packed msgpack value of that type (array or map)
   with at most MC_ARGS_MAX entries, a map's keys all strings. */
static bool packed_is(const char *data, size_t len, msgpack_object_type type)
{
    if (!data || mc_mp_check(data, len, NULL) != 0)
        return false;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object o;
    size_t off = 0;
    bool ok =
        msgpack_unpack(data, len, &off, &zone, &o) == MSGPACK_UNPACK_SUCCESS && o.type == type;
    if (ok && type == MSGPACK_OBJECT_ARRAY)
        ok = o.via.array.size <= MC_ARGS_MAX;
    if (ok && type == MSGPACK_OBJECT_MAP) {
        ok = o.via.map.size <= MC_ARGS_MAX;
        for (uint32_t i = 0; ok && i < o.via.map.size; i++)
            ok = o.via.map.ptr[i].key.type == MSGPACK_OBJECT_STR;
    }
    msgpack_zone_destroy(&zone);
    return ok;
}

static void pack_packed(msgpack_packer *pk, msgpack_sbuffer *sb, const char *key, const char *data,
                        size_t len, msgpack_object_type type)
{
    mc_pk_str(pk, key);
    if (packed_is(data, len, type))
        msgpack_sbuffer_write(sb, data, len); /* already packed */
    else
        msgpack_pack_nil(pk);
}

static void pack_job(msgpack_sbuffer *sb, const mc_reply_job_t *j, bool wait)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, wait ? 5 : 4);
    mc_pk_str(&pk, "job");
    msgpack_pack_map(&pk, 8);
    mc_pk_kv_str(&pk, "jid", j->jid);
    mc_pk_kv_str(&pk, "fun", j->fun);
    mc_pk_kv_str(&pk, "tgt", j->tgt ? j->tgt : "");
    mc_pk_kv_str(&pk, "tgt_type", j->tgt_type);
    mc_pk_kv_str(&pk, "user", j->user);
    mc_pk_kv_int(&pk, "ts", j->ts_us);
    pack_packed(&pk, sb, "arg", j->arg, j->arg_len, MSGPACK_OBJECT_ARRAY);
    pack_packed(&pk, sb, "kwarg", j->kwarg, j->kwarg_len, MSGPACK_OBJECT_MAP);
    mc_proto_pk_strs(&pk, "minions", (const char *const *)j->minions.items, j->minions.count);
    mc_pk_kv_int(&pk, "stored", j->stored);
    mc_pk_str(&pk, "unsent");
    msgpack_pack_map(&pk, j->unsent.count);
    for (size_t i = 0; i < j->unsent.count; i++) {
        mc_pk_str(&pk, j->unsent.items[i]);
        mc_pk_strn(&pk, j->unsent_why.items[i], strnlen(j->unsent_why.items[i], MC_REPLY_TEXT_MAX));
    }
    if (wait)
        mc_pk_kv_int(&pk, "remaining_ms", j->remaining_ms > 0 ? j->remaining_ms : 0);
}

void mc_reply_jobs_show_pack(msgpack_sbuffer *sb, const mc_reply_job_t *job)
{
    pack_job(sb, job, false);
}

void mc_reply_jobs_wait_pack(msgpack_sbuffer *sb, const mc_reply_job_t *job)
{
    pack_job(sb, job, true);
}

/* arg or kwarg: nil (NULL), or that type, packed again on its own. */
static int decode_packed(const msgpack_object *m, const char *key, msgpack_object_type type,
                         char **out, size_t *len, mc_err_t *err)
{
    const msgpack_object *o = mc_mp_get(m, key);
    if (o && o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (type == MSGPACK_OBJECT_ARRAY ? mc_mp_array(m, key, false, MC_ARGS_MAX, &o, err)
                                     : mc_mp_map(m, key, false, MC_ARGS_MAX, &o, err))
        return -1;
    for (uint32_t i = 0; type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
        if (o->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
            mc_err_set(err, "field '%s' has a key that is not a string", key);
            return -1;
        }
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, *o);
    *out = sb.data; /* malloc'd by the sbuffer */
    *len = sb.size;
    return 0;
}

static int decode_job_map(const msgpack_object *m, mc_reply_job_t *j, mc_err_t *err)
{
    return decode_about(m, j->jid, j->fun, &j->tgt, j->tgt_type, j->user, &j->ts_us, err) ||
                   decode_packed(m, "arg", MSGPACK_OBJECT_ARRAY, &j->arg, &j->arg_len, err) ||
                   decode_packed(m, "kwarg", MSGPACK_OBJECT_MAP, &j->kwarg, &j->kwarg_len, err)
               ? -1
               : 0;
}

static int decode_job(mc_reply_job_t *j, const void *buf, size_t len, bool wait, mc_err_t *err)
{
    memset(j, 0, sizeof *j);
    mc_mp_doc_t doc;
    if (mc_reply_open(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &doc.root, *job;
    int rc = -1;
    if (mc_mp_map(m, "job", false, 64, &job, err) != 0)
        goto out;
    if (decode_job_map(job, j, err) != 0) {
        mc_err_prefix(err, "field 'job'");
        goto out;
    }
    if (mc_proto_strs(m, "minions", MC_LIST_MAX, MC_ID_MAX, true, &j->minions, err) ||
        mc_mp_int(m, "stored", 0, MC_LIST_MAX, &j->stored, err) ||
        mc_proto_id_map(m, "unsent", false, MC_LIST_MAX, MC_REPLY_TEXT_MAX, &j->unsent,
                        &j->unsent_why, err) ||
        (wait && mc_mp_int(m, "remaining_ms", 0, MC_JOB_TIMEOUT_MAX * 1000, &j->remaining_ms, err)))
        goto out;
    /* At most one return from each minion the job was meant for. */
    if ((size_t)j->stored > j->minions.count) {
        mc_err_set(err, "field 'stored' is more than field 'minions' has entries");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        mc_reply_job_done(j);
    mc_mp_doc_done(&doc);
    return rc;
}

int mc_reply_jobs_show_decode(mc_reply_job_t *job, const void *buf, size_t len, mc_err_t *err)
{
    return decode_job(job, buf, len, false, err);
}

int mc_reply_jobs_wait_decode(mc_reply_job_t *job, const void *buf, size_t len, mc_err_t *err)
{
    return decode_job(job, buf, len, true, err);
}

void mc_reply_job_done(mc_reply_job_t *j)
{
    free(j->tgt);
    free(j->arg);
    free(j->kwarg);
    mc_strs_free(&j->minions);
    mc_strs_free(&j->unsent);
    mc_strs_free(&j->unsent_why);
    memset(j, 0, sizeof *j);
}
