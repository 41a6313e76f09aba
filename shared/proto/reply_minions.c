/*  proto/reply_minions - see reply_minions.h. */
#include "reply_minions.h"

#include <string.h>

#include "grains.h"

void mc_reply_minions_pack(msgpack_sbuffer *sb, const mc_minion_spec_t *minions, size_t count)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_reply_header(&pk, 1);
    mc_pk_str(&pk, "minions");
    msgpack_pack_array(&pk, count);
    for (size_t i = 0; i < count; i++) {
        msgpack_pack_map(&pk, 4);
        mc_pk_kv_str(&pk, "id", minions[i].id);
        mc_pk_kv_bool(&pk, "up", minions[i].up);
        mc_pk_kv_int(&pk, "last_seen", minions[i].last_seen_us);
        mc_pk_str(&pk, "grains");
        if (minions[i].grains)
            msgpack_pack_object(&pk, *minions[i].grains);
        else
            msgpack_pack_nil(&pk);
    }
}

static int decode_minion(const msgpack_object *m, mc_minion_info_t *info, mc_err_t *err)
{
    if (m->type != MSGPACK_OBJECT_MAP) {
        mc_err_set(err, "is not a map");
        return -1;
    }
    if (mc_proto_id(m, "id", info->id, err) != 0 || mc_mp_bool(m, "up", &info->up, err) != 0 ||
        mc_mp_int(m, "last_seen", 0, INT64_MAX, &info->last_seen_us, err) != 0)
        return -1;
    const msgpack_object *g = mc_mp_get(m, "grains");
    if (!g) {
        mc_err_set(err, "missing field 'grains'");
        return -1;
    }
    if (g->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (g->type != MSGPACK_OBJECT_MAP || g->via.map.size > MC_GRAINS_MAX_KEYS) {
        mc_err_set(err, "field 'grains' is not a map of at most %d keys", MC_GRAINS_MAX_KEYS);
        return -1;
    }
    for (uint32_t k = 0; k < g->via.map.size; k++)
        if (g->via.map.ptr[k].key.type != MSGPACK_OBJECT_STR) {
            mc_err_set(err, "field 'grains' has a key that is not a string");
            return -1;
        }
    info->grains = g;
    return 0;
}

int mc_reply_minions_decode(mc_reply_minions_t *l, const void *buf, size_t len, mc_err_t *err)
{
    memset(l, 0, sizeof *l);
    if (mc_reply_open(&l->doc, buf, len, err) != 0)
        return -1;
    l->has_doc = true;
    const msgpack_object *list;
    if (mc_mp_array(&l->doc.root, "minions", false, MC_LIST_MAX, &list, err) != 0)
        goto fail;
    l->minions = mc_calloc(list->via.array.size + 1, sizeof *l->minions);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        if (decode_minion(&list->via.array.ptr[i], &l->minions[i], err) != 0) {
            mc_err_prefix(err, "field 'minions' item %u", i);
            goto fail;
        }
        l->count++;
    }
    return 0;
fail:
    mc_reply_minions_done(l);
    return -1;
}

void mc_reply_minions_done(mc_reply_minions_t *l)
{
    free(l->minions);
    if (l->has_doc)
        mc_mp_doc_done(&l->doc);
    memset(l, 0, sizeof *l);
}
