/*  proto/register - see register.h. */
#include "register.h"

#include <string.h>

void mc_register_pack(msgpack_sbuffer *sb, const char *id, const unsigned char pub[32])
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 2);
    mc_pk_kv_str(&pk, "id", id);
    mc_pk_str(&pk, "pub");
    mc_pk_bin(&pk, pub, 32);
}

int mc_register_decode(mc_register_t *reg, const void *buf, size_t len, mc_err_t *err)
{
    mc_mp_doc_t doc;
    if (mc_proto_open(&doc, buf, len, err) != 0)
        return -1;
    int rc = (mc_proto_id(&doc.root, "id", reg->id, err) ||
              mc_proto_key(&doc.root, "pub", reg->pub, err))
                 ? -1
                 : 0;
    mc_mp_doc_done(&doc);
    return rc;
}

void mc_register_reply_pack(msgpack_sbuffer *sb, const char *status, const unsigned char *sign_pub)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, sign_pub ? 2 : 1);
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
    if (mc_proto_open(&doc, buf, len, err) != 0)
        return -1;
    int rc = -1;
    if (mc_mp_str(&doc.root, "status", r->status, sizeof r->status, err))
        goto out;
    if (strcmp(r->status, "accepted") && strcmp(r->status, "pending") &&
        strcmp(r->status, "rejected") && strcmp(r->status, "denied")) {
        mc_err_set(err, "field 'status' is not a key state");
        goto out;
    }
    if (mc_mp_get(&doc.root, "sign_pub")) {
        if (mc_proto_key(&doc.root, "sign_pub", r->sign_pub, err))
            goto out;
        r->has_sign_pub = true;
    }
    rc = 0;
out:
    mc_mp_doc_done(&doc);
    return rc;
}
