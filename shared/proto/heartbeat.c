/*  proto/heartbeat - see heartbeat.h. */
#include "heartbeat.h"

void mc_heartbeat_pack(msgpack_sbuffer *sb, const mc_heartbeat_t *hb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 4);
    mc_pk_kv_str(&pk, "id", hb->id);
    mc_pk_kv_int(&pk, "uptime", hb->uptime);
    mc_pk_str(&pk, "load");
    msgpack_pack_double(&pk, hb->load);
    mc_pk_kv_int(&pk, "jobs_running", hb->jobs_running);
}

int mc_heartbeat_decode(mc_heartbeat_t *hb, const void *buf, size_t len, mc_err_t *err)
{
    mc_mp_doc_t doc;
    if (mc_proto_open(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &doc.root;
    int rc = -1;
    if (mc_proto_id(m, "id", hb->id, err) ||
        mc_mp_int(m, "uptime", 0, INT64_MAX, &hb->uptime, err) ||
        mc_mp_int(m, "jobs_running", 0, 1 << 30, &hb->jobs_running, err))
        goto out;
    const msgpack_object *load = mc_mp_get(m, "load");
    if (!load || (load->type != MSGPACK_OBJECT_FLOAT64 && load->type != MSGPACK_OBJECT_FLOAT32)) {
        mc_err_set(err, "field 'load' is not a number");
        goto out;
    }
    hb->load = load->via.f64;
    rc = 0;
out:
    mc_mp_doc_done(&doc);
    return rc;
}
