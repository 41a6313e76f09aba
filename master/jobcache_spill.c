/*  jobcache_spill - the jobs in the job cache's queue kept on disk while
    its store does not take them (the database down) and when the master
    stops so, and read back into the queue when it starts again: see
    jobcache.h (jobcache_keep). Returns that wait are not kept here: none is
    confirmed to its minion until stored, so the minions send them again.

    The file is a msgpack map {v: 1, jobs: [...]}, each job a map {jid,
    fun, tgt, tgt_type, user, ts, expires (optional), arg, kwarg, ids, unsent}; it is written whole
   to a temporary name and renamed, and checked field by field when read. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "jobcache_store.h"
#include "log.h"
#include "jid.h"
#include "mp.h"

#define SPILL_MAX     (256u << 20) /* bytes */
#define SPILL_IDS_MAX 1000000      /* minions of one job */

int jobcache_spill_write(const char *path, const jobcache_item_t *queued,
                         const jobcache_item_t *in_flight, size_t *count, mc_err_t *err)
{
    const jobcache_item_t *lists[] = {in_flight, queued};
    size_t n = 0;
    for (size_t l = 0; l < 2; l++)
        for (const jobcache_item_t *it = lists[l]; it; it = it->next)
            n += it->is_job;
    *count = n;
    if (n == 0)
        return 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mc_pk_kv_int(&pk, "v", 1);
    mc_pk_str(&pk, "jobs");
    msgpack_pack_array(&pk, n);
    for (size_t l = 0; l < 2; l++)
        for (const jobcache_item_t *it = lists[l]; it; it = it->next) {
            if (!it->is_job)
                continue;
            msgpack_pack_map(&pk, 11);
            mc_pk_kv_str(&pk, "jid", it->jid);
            mc_pk_kv_str(&pk, "fun", it->fun);
            mc_pk_kv_str(&pk, "tgt", it->tgt);
            mc_pk_kv_str(&pk, "tgt_type", it->tgt_type);
            mc_pk_kv_str(&pk, "user", it->user);
            mc_pk_kv_int(&pk, "ts", it->ts_us);
            mc_pk_kv_int(&pk, "expires", it->expires_us);
            mc_pk_str(&pk, "arg");
            mc_pk_bin(&pk, it->arg, it->arg_len);
            mc_pk_str(&pk, "kwarg");
            mc_pk_bin(&pk, it->kwarg, it->kwarg_len);
            mc_pk_str(&pk, "ids");
            msgpack_pack_array(&pk, it->n);
            for (size_t i = 0; i < it->n; i++)
                mc_pk_str(&pk, it->ids[i]);
            mc_pk_str(&pk, "unsent");
            msgpack_pack_array(&pk, it->n);
            for (size_t i = 0; i < it->n; i++) {
                if (it->unsent[i])
                    mc_pk_str(&pk, it->unsent[i]);
                else
                    msgpack_pack_nil(&pk);
            }
        }
    int rc = mc_write_file_sync(path, sb.data, sb.size, 0600, true, err);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* One job of the file, into a queue item; NULL with err. */
static jobcache_item_t *read_job(const msgpack_object *m, mc_err_t *err)
{
    if (m->type != MSGPACK_OBJECT_MAP) {
        mc_err_set(err, "a job is not a map");
        return NULL;
    }
    jobcache_item_t *it = mc_calloc(1, sizeof *it);
    it->is_job = true;
    const msgpack_object *ids, *unsent;
    const char *arg, *kwarg;
    char jid[MC_JID_LEN + 1];
    if (mc_mp_str(m, "jid", jid, sizeof jid, err) != 0)
        goto fail;
    if (!mc_jid_valid(jid, strlen(jid))) {
        mc_err_set(err, "a job's jid is malformed");
        goto fail;
    }
    if (mc_mp_strdup(m, "fun", MC_FUN_MAX, &it->fun, err) ||
        mc_mp_strdup(m, "tgt", MC_MAX_SMALL_MSG, &it->tgt, err) ||
        mc_mp_strdup(m, "tgt_type", 16, &it->tgt_type, err) ||
        mc_mp_strdup(m, "user", MC_USER_MAX, &it->user, err) ||
        mc_mp_int(m, "ts", 0, INT64_MAX, &it->ts_us, err) ||
        mc_mp_bin(m, "arg", MC_MAX_JOB_MSG, &arg, &it->arg_len, err) ||
        mc_mp_bin(m, "kwarg", MC_MAX_JOB_MSG, &kwarg, &it->kwarg_len, err) ||
        mc_mp_array(m, "ids", false, SPILL_IDS_MAX, &ids, err) ||
        mc_mp_array(m, "unsent", false, SPILL_IDS_MAX, &unsent, err))
        goto fail;
    if (mc_mp_get(m, "expires") && mc_mp_int(m, "expires", 0, INT64_MAX, &it->expires_us, err) != 0)
        goto fail;
    if (ids->via.array.size != unsent->via.array.size) {
        mc_err_set(err, "job %s: ids and unsent differ in length", jid);
        goto fail;
    }
    it->jid = mc_strdup(jid);
    it->arg = mc_strndup(arg, it->arg_len);
    it->kwarg = mc_strndup(kwarg, it->kwarg_len);
    it->n = ids->via.array.size;
    it->ids = mc_calloc(it->n + 1, sizeof *it->ids);
    it->unsent = mc_calloc(it->n + 1, sizeof *it->unsent);
    for (size_t i = 0; i < it->n; i++) {
        const msgpack_object *id = &ids->via.array.ptr[i], *why = &unsent->via.array.ptr[i];
        if (id->type != MSGPACK_OBJECT_STR || !mc_id_valid(id->via.str.ptr, id->via.str.size) ||
            (why->type != MSGPACK_OBJECT_NIL &&
             (why->type != MSGPACK_OBJECT_STR || why->via.str.size > MC_REPLY_TEXT_MAX))) {
            mc_err_set(err, "job %s: a minion id or its reason is malformed", jid);
            goto fail;
        }
        it->ids[i] = mc_strndup(id->via.str.ptr, id->via.str.size);
        if (why->type == MSGPACK_OBJECT_STR)
            it->unsent[i] = mc_strndup(why->via.str.ptr, why->via.str.size);
    }
    return it;
fail:
    jobcache_item_free(it);
    return NULL;
}

int jobcache_spill_read(const char *path, jobcache_item_t **items, mc_err_t *err)
{
    *items = NULL;
    char *buf;
    size_t len;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    if (mc_read_file(path, SPILL_MAX, &buf, &len, err) != 0)
        return -1;
    mc_mp_doc_t doc;
    int rc = mc_mp_parse(&doc, buf, len, err);
    free(buf);
    if (rc != 0)
        return -1;
    jobcache_item_t *head = NULL, **tail = &head;
    int64_t v;
    const msgpack_object *jobs = NULL;
    if (mc_mp_int(&doc.root, "v", 1, 1, &v, err) != 0 ||
        mc_mp_array(&doc.root, "jobs", false, UINT32_MAX, &jobs, err) != 0)
        rc = -1;
    for (uint32_t i = 0; rc == 0 && i < jobs->via.array.size; i++) {
        jobcache_item_t *it = read_job(&jobs->via.array.ptr[i], err);
        if (!it) {
            rc = -1;
            break;
        }
        *tail = it;
        tail = &it->next;
    }
    mc_mp_doc_done(&doc);
    if (rc != 0) {
        while (head) {
            jobcache_item_t *next = head->next;
            jobcache_item_free(head);
            head = next;
        }
        return -1;
    }
    *items = head;
    return 0;
}
