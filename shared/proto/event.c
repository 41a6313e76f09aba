/*  proto/event - see event.h. */
#include "event.h"

#include <string.h>

const char *mc_event_type_name(mc_event_type_t type)
{
    return type == MC_EVENT_JOB ? "job" : "ret";
}

void mc_event_pack(msgpack_sbuffer *sb, const mc_event_t *ev)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    bool job = ev->type == MC_EVENT_JOB;
    mc_proto_header(&pk, job ? 9 : 7);
    mc_pk_kv_str(&pk, "type", mc_event_type_name(ev->type));
    mc_pk_kv_str(&pk, "jid", ev->jid);
    mc_pk_kv_str(&pk, "fun", ev->fun);
    mc_pk_kv_int(&pk, "lost", ev->lost);
    if (job) {
        mc_pk_str(&pk, "tgt");
        mc_pk_strn(&pk, ev->tgt, strnlen(ev->tgt, sizeof ev->tgt - 1));
        mc_pk_kv_str(&pk, "tgt_type", ev->tgt_type);
        mc_pk_kv_str(&pk, "user", ev->user);
        mc_pk_kv_int(&pk, "ts", ev->ts_us);
        mc_pk_kv_int(&pk, "minions", ev->minions);
    } else {
        mc_pk_kv_str(&pk, "id", ev->id);
        mc_pk_kv_int(&pk, "retcode", ev->retcode);
        mc_pk_kv_bool(&pk, "success", ev->success);
    }
}

int mc_event_decode(mc_event_t *ev, const void *buf, size_t len, mc_err_t *err)
{
    memset(ev, 0, sizeof *ev);
    mc_mp_doc_t doc;
    if (mc_proto_open(&doc, buf, len, err) != 0) {
        mc_err_prefix(err, "malformed event");
        return -1;
    }
    const msgpack_object *m = &doc.root;
    char type[8];
    int rc = -1;
    if (mc_mp_str(m, "type", type, sizeof type, err) != 0 || mc_proto_jid(m, "jid", ev->jid, err) ||
        mc_mp_str(m, "fun", ev->fun, sizeof ev->fun, err) ||
        mc_mp_int(m, "lost", 0, INT64_MAX, &ev->lost, err))
        goto out;
    if (strcmp(type, "job") == 0) {
        ev->type = MC_EVENT_JOB;
        if (mc_mp_str(m, "tgt", ev->tgt, sizeof ev->tgt, err) ||
            mc_mp_str(m, "tgt_type", ev->tgt_type, sizeof ev->tgt_type, err) ||
            mc_mp_str(m, "user", ev->user, sizeof ev->user, err) ||
            mc_mp_int(m, "ts", 0, INT64_MAX, &ev->ts_us, err) ||
            mc_mp_int(m, "minions", 0, MC_LIST_MAX, &ev->minions, err))
            goto out;
    } else if (strcmp(type, "ret") == 0) {
        ev->type = MC_EVENT_RET;
        if (mc_proto_id(m, "id", ev->id, err) ||
            mc_mp_int(m, "retcode", INT32_MIN, INT32_MAX, &ev->retcode, err) ||
            mc_mp_bool(m, "success", &ev->success, err))
            goto out;
    } else {
        mc_err_set(err, "field 'type' is not job or ret");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        mc_err_prefix(err, "bad event");
    mc_mp_doc_done(&doc);
    return rc;
}
