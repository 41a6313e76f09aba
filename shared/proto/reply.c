/*  proto/reply - see reply.h. */
#include "reply.h"

#include <string.h>

void mc_reply_header(msgpack_packer *pk, size_t fields)
{
    mc_proto_header(pk, fields + 1);
    mc_pk_kv_bool(pk, "ok", true);
}

int mc_reply_open(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err)
{
    if (mc_proto_open(doc, buf, len, err) != 0)
        return -1;
    bool ok;
    if (mc_mp_bool(&doc->root, "ok", &ok, err) != 0)
        goto fail;
    if (!ok) {
        char msg[MC_REPLY_TEXT_MAX + 1];
        bool denied = false;
        if (mc_mp_str(&doc->root, "error", msg, sizeof msg, err) == 0 &&
            (!mc_mp_get(&doc->root, "denied") || mc_mp_bool(&doc->root, "denied", &denied, err) == 0))
            mc_err_code(err, denied ? MC_E_DENIED : MC_E_REFUSED, "%s", msg);
        goto fail;
    }
    return 0;
fail:
    mc_proto_doc_done(doc);
    return -1;
}

/* ---- refusals --------------------------------------------------------------- */

void mc_reply_error_pack(msgpack_sbuffer *sb, bool denied, const char *message)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, denied ? 3 : 2);
    mc_pk_kv_bool(&pk, "ok", false);
    mc_pk_str(&pk, "error");
    mc_pk_strn(&pk, message, strnlen(message, MC_REPLY_TEXT_MAX));
    if (denied)
        mc_pk_kv_bool(&pk, "denied", true);
}

int mc_reply_status_decode(mc_reply_status_t *st, const void *buf, size_t len, mc_err_t *err)
{
    memset(st, 0, sizeof *st);
    mc_mp_doc_t doc;
    if (mc_proto_open(&doc, buf, len, err) != 0)
        return -1;
    int rc = -1;
    if (mc_mp_bool(&doc.root, "ok", &st->ok, err) != 0 ||
        (!st->ok && mc_mp_str(&doc.root, "error", st->error, sizeof st->error, err) != 0) ||
        (!st->ok && mc_mp_get(&doc.root, "denied") &&
         mc_mp_bool(&doc.root, "denied", &st->denied, err) != 0))
        memset(st, 0, sizeof *st);
    else
        rc = 0;
    mc_mp_doc_done(&doc);
    return rc;
}

/* ---- publish and list_targets ----------------------------------------------- */

void mc_reply_publish_pack(msgpack_sbuffer *sb, const mc_reply_publish_spec_t *s)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t unsent = 0;
    for (size_t i = 0; s->unsent_why && i < s->count; i++)
        unsent += s->unsent_why[i] != NULL;
    mc_reply_header(&pk, unsent ? 3 : 2);
    mc_pk_kv_str(&pk, "jid", s->jid);
    mc_proto_pk_strs(&pk, "minions", s->minions, s->count);
    if (!unsent)
        return;
    mc_pk_str(&pk, "unsent");
    msgpack_pack_map(&pk, unsent);
    for (size_t i = 0; i < s->count; i++) {
        const char *why = s->unsent_why[i];
        if (why) {
            mc_pk_str(&pk, s->minions[i]);
            mc_pk_strn(&pk, why, strnlen(why, MC_REPLY_TEXT_MAX));
        }
    }
}

void mc_reply_list_targets_pack(msgpack_sbuffer *sb, const char *const *minions, size_t count)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, 1);
    mc_proto_pk_strs(&pk, "minions", minions, count);
}

static int decode_targets(mc_reply_targets_t *r, const void *buf, size_t len, bool publish,
                          mc_err_t *err)
{
    memset(r, 0, sizeof *r);
    mc_mp_doc_t doc;
    if (mc_reply_open(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &doc.root;
    int rc = -1;
    if (mc_proto_strs(m, "minions", MC_LIST_MAX, MC_ID_MAX, true, &r->minions, err) != 0)
        goto out;
    if (publish) {
        if (mc_mp_str(m, "jid", r->jid, sizeof r->jid, err) != 0 ||
            mc_proto_id_map(m, "unsent", true, MC_LIST_MAX, MC_REPLY_TEXT_MAX, &r->unsent,
                            &r->unsent_why, err) != 0)
            goto out;
        /* A job id exactly when there are minions to run it. */
        if (r->jid[0] ? !mc_jid_valid(r->jid, strlen(r->jid)) : r->minions.count > 0) {
            mc_err_set(err, "field 'jid' is not a job id");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        mc_reply_targets_done(r);
    mc_mp_doc_done(&doc);
    return rc;
}

int mc_reply_publish_decode(mc_reply_targets_t *r, const void *buf, size_t len, mc_err_t *err)
{
    return decode_targets(r, buf, len, true, err);
}

int mc_reply_list_targets_decode(mc_reply_targets_t *r, const void *buf, size_t len, mc_err_t *err)
{
    return decode_targets(r, buf, len, false, err);
}

void mc_reply_targets_done(mc_reply_targets_t *r)
{
    mc_strs_free(&r->minions);
    mc_strs_free(&r->unsent);
    mc_strs_free(&r->unsent_why);
    r->jid[0] = '\0';
}
