/*  proto/stored - see stored.h. */
#include "stored.h"

#include <string.h>

void mc_stored_pack(msgpack_sbuffer *sb, const char *const *jids, size_t count)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 1);
    mc_pk_str(&pk, "jids");
    msgpack_pack_array(&pk, count);
    for (size_t i = 0; i < count; i++)
        mc_pk_str(&pk, jids[i]);
}

int mc_stored_decode(mc_stored_t *s, const void *buf, size_t len, mc_err_t *err)
{
    memset(s, 0, sizeof *s);
    mc_mp_doc_t doc;
    if (mc_proto_open(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *jids;
    int rc = -1;
    if (mc_mp_array(&doc.root, "jids", false, MC_STORED_MAX, &jids, err) != 0)
        goto out;
    s->jids = mc_calloc(jids->via.array.size + 1, sizeof *s->jids);
    for (uint32_t i = 0; i < jids->via.array.size; i++) {
        const msgpack_object *j = &jids->via.array.ptr[i];
        if (j->type != MSGPACK_OBJECT_STR || !mc_jid_valid(j->via.str.ptr, j->via.str.size)) {
            mc_err_set(err, "field 'jids' item %u is not a job id", i);
            mc_stored_done(s);
            goto out;
        }
        memcpy(s->jids[i], j->via.str.ptr, MC_JID_LEN);
        s->jids[i][MC_JID_LEN] = '\0';
    }
    s->count = jids->via.array.size;
    rc = 0;
out:
    mc_mp_doc_done(&doc);
    return rc;
}

void mc_stored_done(mc_stored_t *s)
{
    free(s->jids);
    s->jids = NULL;
    s->count = 0;
}
