/*  proto/ret - see ret.h. */
#include "ret.h"

#include <string.h>

void mc_ret_pack(msgpack_sbuffer *sb, const mc_ret_spec_t *s)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 11);
    mc_pk_kv_str(&pk, "jid", s->jid);
    mc_pk_kv_str(&pk, "id", s->id);
    mc_pk_kv_str(&pk, "fun", s->fun);
    mc_pk_kv_int(&pk, "retcode", s->retcode);
    mc_pk_kv_bool(&pk, "success", s->success);
    mc_pk_str(&pk, "return");
    msgpack_sbuffer_write(sb, s->value, s->value_len); /* already packed */
    mc_pk_str(&pk, "stdout");
    mc_pk_bin(&pk, s->out ? s->out : "", s->out ? s->out_len : 0);
    mc_pk_str(&pk, "stderr");
    mc_pk_bin(&pk, s->err ? s->err : "", s->err ? s->err_len : 0);
    mc_pk_kv_int(&pk, "started", s->started);
    mc_pk_kv_int(&pk, "duration_ms", s->duration_ms);
    mc_pk_kv_bool(&pk, "truncated", s->truncated);
}

void mc_ret_pack_error(msgpack_sbuffer *sb, const char *jid, const char *id, const char *fun,
                       int retcode, const char *message)
{
    msgpack_sbuffer value;
    msgpack_sbuffer_init(&value);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &value, msgpack_sbuffer_write);
    mc_pk_str(&pk, message);
    mc_ret_spec_t spec = {.jid = jid,
                          .id = id,
                          .fun = fun,
                          .retcode = retcode,
                          .success = false,
                          .value = value.data,
                          .value_len = value.size,
                          .started = mc_wall_us()};
    mc_ret_pack(sb, &spec);
    msgpack_sbuffer_destroy(&value);
}

int mc_ret_decode(mc_ret_t *r, const void *buf, size_t len, mc_err_t *err)
{
    memset(r, 0, sizeof *r);
    if (mc_proto_open(&r->doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &r->doc.root;
    if (mc_proto_jid(m, "jid", r->jid, err) || mc_proto_id(m, "id", r->id, err) ||
        mc_mp_str(m, "fun", r->fun, sizeof r->fun, err) ||
        mc_mp_int(m, "retcode", INT32_MIN, INT32_MAX, &r->retcode, err) ||
        mc_mp_bool(m, "success", &r->success, err) ||
        mc_mp_bin(m, "stdout", MC_MAX_RETURN_MSG, &r->out, &r->out_len, err) ||
        mc_mp_bin(m, "stderr", MC_MAX_RETURN_MSG, &r->err, &r->err_len, err) ||
        mc_mp_int(m, "started", 0, INT64_MAX, &r->started, err) ||
        mc_mp_int(m, "duration_ms", 0, INT64_MAX, &r->duration_ms, err) ||
        mc_mp_bool(m, "truncated", &r->truncated, err))
        goto fail;
    r->ret = mc_mp_get(m, "return");
    if (!r->ret) {
        mc_err_set(err, "missing field 'return'");
        goto fail;
    }
    return 0;
fail:
    mc_ret_done(r);
    return -1;
}

void mc_ret_done(mc_ret_t *r)
{
    mc_proto_doc_done(&r->doc);
}
