/*  proto/reply_keys - see reply_keys.h. */
#include "reply_keys.h"

#include <string.h>

/* ---- key_list --------------------------------------------------------------- */

/* The field of each list, in the order they go. */
static const char *const list_fields[4] = {"minions", "minions_pre", "minions_rejected",
                                           "minions_denied"};

static mc_strs_t *list_of(mc_reply_key_list_t *l, int i)
{
    mc_strs_t *lists[4] = {&l->accepted, &l->pending, &l->rejected, &l->denied};
    return lists[i];
}

void mc_reply_key_list_pack(msgpack_sbuffer *sb, const mc_reply_key_list_t *l)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, 4);
    const mc_strs_t *lists[4] = {&l->accepted, &l->pending, &l->rejected, &l->denied};
    for (int i = 0; i < 4; i++)
        mc_proto_pk_strs(&pk, list_fields[i], (const char *const *)lists[i]->items,
                         lists[i]->count);
}

int mc_reply_key_list_decode(mc_reply_key_list_t *l, const void *buf, size_t len, mc_err_t *err)
{
    memset(l, 0, sizeof *l);
    mc_mp_doc_t doc;
    if (mc_reply_open(&doc, buf, len, err) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = mc_proto_strs(&doc.root, list_fields[i], MC_LIST_MAX, MC_ID_MAX, true, list_of(l, i),
                           err);
    if (rc != 0)
        mc_reply_key_list_done(l);
    mc_mp_doc_done(&doc);
    return rc;
}

void mc_reply_key_list_done(mc_reply_key_list_t *l)
{
    for (int i = 0; i < 4; i++)
        mc_strs_free(list_of(l, i));
}

/* ---- key_finger ------------------------------------------------------------- */

void mc_reply_key_finger_pack(msgpack_sbuffer *sb, const mc_key_finger_t *keys, size_t count)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, 1);
    mc_pk_str(&pk, "keys");
    msgpack_pack_array(&pk, count);
    for (size_t i = 0; i < count; i++) {
        msgpack_pack_map(&pk, 3);
        mc_pk_kv_str(&pk, "id", keys[i].id);
        mc_pk_kv_str(&pk, "state", keys[i].state);
        mc_pk_kv_str(&pk, "finger", keys[i].finger);
    }
}

static bool finger_valid(const char *f)
{
    if (strlen(f) != MC_FINGERPRINT_LEN - 1)
        return false;
    for (size_t i = 0; f[i]; i++) {
        bool hex = (f[i] >= '0' && f[i] <= '9') || (f[i] >= 'a' && f[i] <= 'f');
        if (i % 3 == 2 ? f[i] != ':' : !hex)
            return false;
    }
    return true;
}

static int decode_finger(const msgpack_object *m, mc_key_finger_t *k, mc_err_t *err)
{
    static const char *const states[] = {"local", "accepted", "pending", "rejected", "denied"};
    if (mc_proto_id(m, "id", k->id, err) || mc_mp_str(m, "state", k->state, sizeof k->state, err) ||
        mc_mp_str(m, "finger", k->finger, sizeof k->finger, err))
        return -1;
    size_t s = 0;
    while (s < 5 && strcmp(states[s], k->state) != 0)
        s++;
    if (s == 5) {
        mc_err_set(err, "field 'state' is not a key state");
        return -1;
    }
    if (!finger_valid(k->finger)) {
        mc_err_set(err, "field 'finger' is not a fingerprint");
        return -1;
    }
    return 0;
}

int mc_reply_key_finger_decode(mc_reply_key_finger_t *f, const void *buf, size_t len, mc_err_t *err)
{
    memset(f, 0, sizeof *f);
    mc_mp_doc_t doc;
    if (mc_reply_open(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *keys;
    int rc = -1;
    if (mc_mp_array(&doc.root, "keys", false, MC_LIST_MAX, &keys, err) != 0)
        goto out;
    f->keys = mc_calloc(keys->via.array.size + 1, sizeof *f->keys);
    for (uint32_t i = 0; i < keys->via.array.size; i++) {
        const msgpack_object *o = &keys->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_MAP) {
            mc_err_set(err, "field 'keys' item %u is not a map", i);
            goto out;
        }
        if (decode_finger(o, &f->keys[i], err) != 0) {
            mc_err_prefix(err, "field 'keys' item %u", i);
            goto out;
        }
    }
    f->count = keys->via.array.size;
    rc = 0;
out:
    if (rc != 0)
        mc_reply_key_finger_done(f);
    mc_mp_doc_done(&doc);
    return rc;
}

void mc_reply_key_finger_done(mc_reply_key_finger_t *f)
{
    free(f->keys);
    memset(f, 0, sizeof *f);
}

/* ---- master_key ------------------------------------------------------------- */

void mc_reply_master_key_pack(msgpack_sbuffer *sb, const mc_reply_master_key_t *k)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, 5);
    mc_pk_kv_str(&pk, "pub", k->pub);
    mc_pk_kv_str(&pk, "interface", k->interface);
    mc_pk_kv_int(&pk, "publish_port", k->publish_port);
    mc_pk_kv_int(&pk, "ret_port", k->ret_port);
    mc_pk_kv_int(&pk, "auth_port", k->auth_port);
}

int mc_reply_master_key_decode(mc_reply_master_key_t *k, const void *buf, size_t len, mc_err_t *err)
{
    memset(k, 0, sizeof *k);
    mc_mp_doc_t doc;
    if (mc_reply_open(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &doc.root;
    int64_t ports[3];
    unsigned char key[MC_KEY_LEN];
    int rc = -1;
    if (mc_mp_str(m, "pub", k->pub, sizeof k->pub, err) ||
        mc_mp_str(m, "interface", k->interface, sizeof k->interface, err) ||
        mc_mp_int(m, "publish_port", 1, 65535, &ports[0], err) ||
        mc_mp_int(m, "ret_port", 1, 65535, &ports[1], err) ||
        mc_mp_int(m, "auth_port", 1, 65535, &ports[2], err))
        goto out;
    if (mc_z85_key_decode(k->pub, key) != 0) {
        mc_err_set(err, "field 'pub' is not a Z85 public key");
        goto out;
    }
    k->publish_port = (int)ports[0];
    k->ret_port = (int)ports[1];
    k->auth_port = (int)ports[2];
    rc = 0;
out:
    if (rc != 0)
        memset(k, 0, sizeof *k);
    mc_mp_doc_done(&doc);
    return rc;
}

/* ---- key changes ------------------------------------------------------------ */

void mc_reply_keys_changed_pack(msgpack_sbuffer *sb, const mc_strs_t *changed)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, 1);
    mc_proto_pk_strs(&pk, "changed", (const char *const *)changed->items, changed->count);
}

int mc_reply_keys_changed_decode(mc_strs_t *changed, const void *buf, size_t len, mc_err_t *err)
{
    memset(changed, 0, sizeof *changed);
    mc_mp_doc_t doc;
    if (mc_reply_open(&doc, buf, len, err) != 0)
        return -1;
    int rc = mc_proto_strs(&doc.root, "changed", MC_LIST_MAX, MC_ID_MAX, true, changed, err);
    mc_mp_doc_done(&doc);
    return rc;
}

void mc_reply_preseed_pack(msgpack_sbuffer *sb, bool changed)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, 1);
    mc_pk_kv_bool(&pk, "changed", changed);
}

int mc_reply_preseed_decode(bool *changed, const void *buf, size_t len, mc_err_t *err)
{
    *changed = false;
    mc_mp_doc_t doc;
    if (mc_reply_open(&doc, buf, len, err) != 0)
        return -1;
    int rc = mc_mp_bool(&doc.root, "changed", changed, err);
    mc_mp_doc_done(&doc);
    return rc;
}
