/*  wire - see wire.h. Decoders read each field through the mp getters and
    stop at the first surprise. */
#include "wire.h"

#include <string.h>

static void pk_header(msgpack_packer *pk, size_t fields)
{
    msgpack_pack_map(pk, fields + 1);
    mc_pk_str(pk, "v");
    msgpack_pack_int(pk, MC_PROTO_VERSION);
}

/* Parse and check the version; doc is live on success. */
static int open_doc(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err)
{
    if (mc_mp_parse(doc, buf, len, err) != 0)
        return -1;
    int64_t v;
    if (mc_mp_int(&doc->root, "v", 0, 1000, &v, err) != 0)
        goto fail;
    if (v != MC_PROTO_VERSION) {
        mc_err_set(err, "protocol version %lld, expected %d", (long long)v, MC_PROTO_VERSION);
        goto fail;
    }
    return 0;
fail:
    mc_mp_doc_done(doc);
    return -1;
}

bool mc_jid_valid(const char *s, size_t len)
{
    if (len != MC_JID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int jid_field(const msgpack_object *map, char out[MC_JID_LEN + 1], mc_err_t *err)
{
    if (mc_mp_str(map, "jid", out, MC_JID_LEN + 1, err) != 0)
        return -1;
    if (!mc_jid_valid(out, strlen(out))) {
        mc_err_set(err, "field 'jid' is not a job id");
        return -1;
    }
    return 0;
}

static int id_field(const msgpack_object *map, char out[MC_ID_MAX + 1], mc_err_t *err)
{
    if (mc_mp_str(map, "id", out, MC_ID_MAX + 1, err) != 0)
        return -1;
    if (!mc_id_valid(out, strlen(out))) {
        mc_err_set(err, "field 'id' is not a valid minion id");
        return -1;
    }
    return 0;
}

void mc_job_pack(msgpack_sbuffer *sb, const mc_job_spec_t *s)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    bool delim = s->delimiter && s->delimiter != ':';
    pk_header(&pk, delim ? 10 : 9);
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
    if (open_doc(&job->doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &job->doc.root;
    if (jid_field(m, job->jid, err) || mc_mp_strdup(m, "tgt", MC_TGT_MAX, &job->tgt, err) ||
        mc_mp_str(m, "tgt_type", job->tgt_type, sizeof job->tgt_type, err) ||
        mc_mp_str(m, "fun", job->fun, sizeof job->fun, err) ||
        mc_mp_array(m, "arg", false, MC_ARGS_MAX, &job->arg, err) ||
        mc_mp_map(m, "kwarg", false, MC_ARGS_MAX, &job->kwarg, err) ||
        mc_mp_str(m, "user", job->user, sizeof job->user, err) ||
        mc_mp_int(m, "ts", 0, INT64_MAX / 2, &job->ts, err) ||
        mc_mp_int(m, "timeout", 1, 365LL * 86400, &job->timeout, err))
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
    if (job->doc.root.type == MSGPACK_OBJECT_MAP)
        mc_mp_doc_done(&job->doc);
}

int mc_ret_decode(mc_ret_t *r, const void *buf, size_t len, mc_err_t *err)
{
    memset(r, 0, sizeof *r);
    if (open_doc(&r->doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &r->doc.root;
    if (jid_field(m, r->jid, err) || id_field(m, r->id, err) ||
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
    if (r->doc.root.type == MSGPACK_OBJECT_MAP)
        mc_mp_doc_done(&r->doc);
}

void mc_ret_pack_value(msgpack_sbuffer *sb, const char *jid, const char *id, const char *fun,
                       int retcode, bool success, const msgpack_sbuffer *value)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_header(&pk, 11);
    mc_pk_kv_str(&pk, "jid", jid);
    mc_pk_kv_str(&pk, "id", id);
    mc_pk_kv_str(&pk, "fun", fun);
    mc_pk_kv_int(&pk, "retcode", retcode);
    mc_pk_kv_bool(&pk, "success", success);
    mc_pk_str(&pk, "return");
    msgpack_sbuffer_write(sb, value->data, value->size);
    mc_pk_str(&pk, "stdout");
    mc_pk_bin(&pk, "", 0);
    mc_pk_str(&pk, "stderr");
    mc_pk_bin(&pk, "", 0);
    mc_pk_kv_int(&pk, "started", mc_wall_us());
    mc_pk_kv_int(&pk, "duration_ms", 0);
    mc_pk_kv_bool(&pk, "truncated", false);
}

void mc_ret_pack_error(msgpack_sbuffer *sb, const char *jid, const char *id, const char *fun,
                       int retcode, const char *message)
{
    msgpack_sbuffer value;
    msgpack_sbuffer_init(&value);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &value, msgpack_sbuffer_write);
    mc_pk_str(&pk, message);
    mc_ret_pack_value(sb, jid, id, fun, retcode, false, &value);
    msgpack_sbuffer_destroy(&value);
}

void mc_ack_pack(msgpack_sbuffer *sb, const char *jid, const char *id)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_header(&pk, 2);
    mc_pk_kv_str(&pk, "jid", jid);
    mc_pk_kv_str(&pk, "id", id);
}

int mc_ack_decode(mc_ack_t *ack, const void *buf, size_t len, mc_err_t *err)
{
    mc_mp_doc_t doc;
    if (open_doc(&doc, buf, len, err) != 0)
        return -1;
    int rc = (jid_field(&doc.root, ack->jid, err) || id_field(&doc.root, ack->id, err)) ? -1 : 0;
    mc_mp_doc_done(&doc);
    return rc;
}

void mc_heartbeat_pack(msgpack_sbuffer *sb, const mc_heartbeat_t *hb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_header(&pk, 4);
    mc_pk_kv_str(&pk, "id", hb->id);
    mc_pk_kv_int(&pk, "uptime", hb->uptime);
    mc_pk_str(&pk, "load");
    msgpack_pack_double(&pk, hb->load);
    mc_pk_kv_int(&pk, "jobs_running", hb->jobs_running);
}

int mc_heartbeat_decode(mc_heartbeat_t *hb, const void *buf, size_t len, mc_err_t *err)
{
    mc_mp_doc_t doc;
    if (open_doc(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &doc.root;
    int rc = -1;
    if (id_field(m, hb->id, err) || mc_mp_int(m, "uptime", 0, INT64_MAX, &hb->uptime, err) ||
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

int mc_grains_decode(mc_grains_msg_t *g, const void *buf, size_t len, mc_err_t *err)
{
    memset(g, 0, sizeof *g);
    if (open_doc(&g->doc, buf, len, err) != 0)
        return -1;
    if (id_field(&g->doc.root, g->id, err) ||
        mc_mp_map(&g->doc.root, "grains", false, 4096, &g->grains, err)) {
        mc_grains_done(g);
        return -1;
    }
    for (uint32_t i = 0; i < g->grains->via.map.size; i++) {
        if (g->grains->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
            mc_err_set(err, "grains key is not a string");
            mc_grains_done(g);
            return -1;
        }
    }
    return 0;
}

void mc_grains_done(mc_grains_msg_t *g)
{
    if (g->doc.root.type == MSGPACK_OBJECT_MAP)
        mc_mp_doc_done(&g->doc);
}

void mc_register_pack(msgpack_sbuffer *sb, const char *id, const unsigned char pub[32])
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_header(&pk, 2);
    mc_pk_kv_str(&pk, "id", id);
    mc_pk_str(&pk, "pub");
    mc_pk_bin(&pk, pub, 32);
}

int mc_register_decode(mc_register_t *reg, const void *buf, size_t len, mc_err_t *err)
{
    mc_mp_doc_t doc;
    if (open_doc(&doc, buf, len, err) != 0)
        return -1;
    const char *pub;
    size_t publen;
    int rc = -1;
    if (id_field(&doc.root, reg->id, err) || mc_mp_bin(&doc.root, "pub", 32, &pub, &publen, err))
        goto out;
    if (publen != 32) {
        mc_err_set(err, "field 'pub' is not a 32-byte key");
        goto out;
    }
    memcpy(reg->pub, pub, 32);
    rc = 0;
out:
    mc_mp_doc_done(&doc);
    return rc;
}

void mc_register_reply_pack(msgpack_sbuffer *sb, const char *status, const unsigned char *sign_pub)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pk_header(&pk, sign_pub ? 2 : 1);
    mc_pk_kv_str(&pk, "status", status);
    if (sign_pub) {
        mc_pk_str(&pk, "sign_pub");
        mc_pk_bin(&pk, sign_pub, 32);
    }
}

int mc_register_reply_decode(mc_register_reply_t *r, const void *buf, size_t len, mc_err_t *err)
{
    memset(r, 0, sizeof *r);
    mc_mp_doc_t doc;
    if (open_doc(&doc, buf, len, err) != 0)
        return -1;
    int rc = -1;
    if (mc_mp_str(&doc.root, "status", r->status, sizeof r->status, err))
        goto out;
    if (mc_mp_get(&doc.root, "sign_pub")) {
        const char *p;
        size_t n;
        if (mc_mp_bin(&doc.root, "sign_pub", 32, &p, &n, err))
            goto out;
        if (n != 32) {
            mc_err_set(err, "field 'sign_pub' is not a 32-byte key");
            goto out;
        }
        memcpy(r->sign_pub, p, 32);
        r->has_sign_pub = true;
    }
    rc = 0;
out:
    mc_mp_doc_done(&doc);
    return rc;
}

size_t mc_topic(char out[MC_TOPIC_MAX], const char *id)
{
    return (size_t)snprintf(out, MC_TOPIC_MAX, "m:%s", id) + 1;
}

int mc_topic_id(const void *topic, size_t len, char id[MC_ID_MAX + 1])
{
    const char *t = topic;
    if (len < 4 || len > MC_TOPIC_MAX || memcmp(t, "m:", 2) != 0 || t[len - 1] != '\0' ||
        !mc_id_valid(t + 2, len - 3))
        return -1;
    memcpy(id, t + 2, len - 3);
    id[len - 3] = '\0';
    return 0;
}
