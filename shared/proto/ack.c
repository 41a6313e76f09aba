/*  proto/ack - see ack.h. */
#include "ack.h"

void mc_ack_pack(msgpack_sbuffer *sb, const char *jid, const char *id)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 2);
    mc_pk_kv_str(&pk, "jid", jid);
    mc_pk_kv_str(&pk, "id", id);
}

int mc_ack_decode(mc_ack_t *ack, const void *buf, size_t len, mc_err_t *err)
{
    mc_mp_doc_t doc;
    if (mc_proto_open(&doc, buf, len, err) != 0)
        return -1;
    int rc = (mc_proto_jid(&doc.root, "jid", ack->jid, err) ||
              mc_proto_id(&doc.root, "id", ack->id, err))
                 ? -1
                 : 0;
    mc_mp_doc_done(&doc);
    return rc;
}
