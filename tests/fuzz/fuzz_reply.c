/*  Fuzz target: the master's answers to client requests and its events,
    as mctl and mctl-api decode them; the first byte picks the decoder. Whatever the bytes, a
   decoder either fills its whole struct, within the bounds it promises, or fails with a message and
   leaves nothing to release. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static void check_ids(const mc_strs_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        if (!mc_id_valid(l->items[i], strlen(l->items[i])) || l->lens[i] != strlen(l->items[i]))
            abort();
}

static void check_texts(const mc_strs_t *l, size_t max)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->lens[i] > max || strlen(l->items[i]) != l->lens[i])
            abort();
}

static int decode(unsigned which, const uint8_t *data, size_t size, mc_err_t *err)
{
    int rc = -1;
    switch (which) {
    case 0: {
        mc_reply_status_t st;
        rc = mc_reply_status_decode(&st, data, size, err);
        if (rc == 0 && st.ok && st.error[0])
            abort();
        break;
    }
    case 1:
    case 2: {
        mc_reply_targets_t r;
        rc = which == 1 ? mc_reply_publish_decode(&r, data, size, err)
                        : mc_reply_list_targets_decode(&r, data, size, err);
        if (rc == 0) {
            check_ids(&r.minions);
            check_ids(&r.unsent);
            check_texts(&r.unsent_why, MC_REPLY_TEXT_MAX);
            if (r.unsent.count != r.unsent_why.count ||
                (r.jid[0] && !mc_jid_valid(r.jid, strlen(r.jid))))
                abort();
            mc_reply_targets_done(&r);
        }
        break;
    }
    case 3: {
        mc_reply_jobs_list_t l;
        rc = mc_reply_jobs_list_decode(&l, data, size, err);
        if (rc == 0) {
            for (size_t i = 0; i < l.count; i++)
                if (!mc_jid_valid(l.jobs[i].jid, strlen(l.jobs[i].jid)) || !l.jobs[i].tgt ||
                    l.jobs[i].returned > l.jobs[i].minions || l.jobs[i].failed > l.jobs[i].returned)
                    abort();
            mc_reply_jobs_list_done(&l);
        }
        break;
    }
    case 4:
    case 5: {
        mc_reply_job_t j;
        rc = which == 4 ? mc_reply_jobs_show_decode(&j, data, size, err)
                        : mc_reply_jobs_wait_decode(&j, data, size, err);
        if (rc == 0) {
            check_ids(&j.minions);
            check_ids(&j.unsent);
            check_texts(&j.unsent_why, MC_REPLY_TEXT_MAX);
            if (!mc_jid_valid(j.jid, strlen(j.jid)) || !j.tgt || j.stored < 0 ||
                (size_t)j.stored > j.minions.count || j.remaining_ms < 0 ||
                (j.arg && mc_mp_check(j.arg, j.arg_len, NULL) != 0) ||
                (j.kwarg && mc_mp_check(j.kwarg, j.kwarg_len, NULL) != 0))
                abort();
            mc_reply_job_done(&j);
        }
        break;
    }
    case 6: {
        mc_reply_key_list_t l;
        rc = mc_reply_key_list_decode(&l, data, size, err);
        if (rc == 0) {
            check_ids(&l.accepted);
            check_ids(&l.pending);
            check_ids(&l.rejected);
            check_ids(&l.denied);
            mc_reply_key_list_done(&l);
        }
        break;
    }
    case 7: {
        mc_reply_key_finger_t f;
        rc = mc_reply_key_finger_decode(&f, data, size, err);
        if (rc == 0) {
            for (size_t i = 0; i < f.count; i++)
                if (strlen(f.keys[i].finger) != MC_FINGERPRINT_LEN - 1 ||
                    !mc_id_valid(f.keys[i].id, strlen(f.keys[i].id)))
                    abort();
            mc_reply_key_finger_done(&f);
        }
        break;
    }
    case 8: {
        mc_reply_master_key_t k;
        unsigned char pub[MC_KEY_LEN];
        rc = mc_reply_master_key_decode(&k, data, size, err);
        if (rc == 0 && (mc_z85_key_decode(k.pub, pub) != 0 || k.publish_port < 1 ||
                        k.ret_port > 65535 || k.auth_port < 1))
            abort();
        break;
    }
    case 9: {
        mc_strs_t changed;
        rc = mc_reply_keys_changed_decode(&changed, data, size, err);
        if (rc == 0) {
            check_ids(&changed);
            mc_strs_free(&changed);
        }
        break;
    }
    case 10: {
        bool changed;
        rc = mc_reply_preseed_decode(&changed, data, size, err);
        break;
    }
    case 11: {
        mc_reply_minions_t l;
        rc = mc_reply_minions_decode(&l, data, size, err);
        if (rc == 0) {
            for (size_t i = 0; i < l.count; i++)
                if (!mc_id_valid(l.minions[i].id, strlen(l.minions[i].id)) ||
                    l.minions[i].last_seen_us < 0 ||
                    (l.minions[i].grains && l.minions[i].grains->type != MSGPACK_OBJECT_MAP))
                    abort();
            mc_reply_minions_done(&l);
        }
        break;
    }
    default: {
        mc_event_t ev;
        rc = mc_event_decode(&ev, data, size, err);
        if (rc == 0 && (!mc_jid_valid(ev.jid, strlen(ev.jid)) || ev.lost < 0 ||
                        (ev.type == MC_EVENT_RET && !mc_id_valid(ev.id, strlen(ev.id)))))
            abort();
        break;
    }
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    mc_err_t err;
    err.msg[0] = '\0';
    if (decode(data[0] % 13, data + 1, size - 1, &err) != 0 && !err.msg[0])
        abort();
    return 0;
}
