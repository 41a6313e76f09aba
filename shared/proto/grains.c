/*  proto/grains - see grains.h. */
#include "grains.h"

#include <string.h>

void mc_grains_pack(msgpack_sbuffer *sb, const char *id, const void *grains, size_t len)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 2);
    mc_pk_kv_str(&pk, "id", id);
    mc_pk_str(&pk, "grains");
    msgpack_sbuffer_write(sb, grains, len);
}

int mc_grains_decode(mc_grains_msg_t *g, const void *buf, size_t len, mc_err_t *err)
{
    memset(g, 0, sizeof *g);
    if (mc_proto_open(&g->doc, buf, len, err) != 0)
        return -1;
    if (mc_proto_id(&g->doc.root, "id", g->id, err) ||
        mc_mp_map(&g->doc.root, "grains", false, MC_GRAINS_MAX_KEYS, &g->grains, err))
        goto fail;
    for (uint32_t i = 0; i < g->grains->via.map.size; i++) {
        if (g->grains->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
            mc_err_set(err, "field 'grains' has a key that is not a string");
            goto fail;
        }
    }
    return 0;
fail:
    mc_grains_done(g);
    return -1;
}

void mc_grains_done(mc_grains_msg_t *g)
{
    mc_proto_doc_done(&g->doc);
}
