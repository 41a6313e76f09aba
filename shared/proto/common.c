/*  proto/common - see common.h. */
#include "common.h"

#include <string.h>

void mc_proto_header(msgpack_packer *pk, size_t fields)
{
    msgpack_pack_map(pk, fields + 1);
    mc_pk_str(pk, "v");
    msgpack_pack_int(pk, MC_PROTO_VERSION);
}

static int open_doc(mc_mp_doc_t *doc, const void *buf, size_t len, bool view, mc_err_t *err)
{
    memset(doc, 0, sizeof *doc);
    if ((view ? mc_mp_parse_view : mc_mp_parse)(doc, buf, len, err) != 0) {
        memset(doc, 0, sizeof *doc);
        return -1;
    }
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
    memset(doc, 0, sizeof *doc);
    return -1;
}

int mc_proto_open(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err)
{
    return open_doc(doc, buf, len, false, err);
}

int mc_proto_open_view(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err)
{
    return open_doc(doc, buf, len, true, err);
}

void mc_proto_doc_done(mc_mp_doc_t *doc)
{
    if (doc->root.type == MSGPACK_OBJECT_MAP)
        mc_mp_doc_done(doc);
    memset(doc, 0, sizeof *doc);
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

int mc_proto_jid(const msgpack_object *map, const char *key, char out[MC_JID_LEN + 1],
                 mc_err_t *err)
{
    if (mc_mp_str(map, key, out, MC_JID_LEN + 1, err) != 0)
        return -1;
    if (!mc_jid_valid(out, strlen(out))) {
        mc_err_set(err, "field '%s' is not a job id", key);
        return -1;
    }
    return 0;
}

int mc_proto_id(const msgpack_object *map, const char *key, char out[MC_ID_MAX + 1],
                mc_err_t *err)
{
    if (mc_mp_str(map, key, out, MC_ID_MAX + 1, err) != 0)
        return -1;
    if (!mc_id_valid(out, strlen(out))) {
        mc_err_set(err, "field '%s' is not a valid minion id", key);
        return -1;
    }
    return 0;
}

int mc_proto_key(const msgpack_object *map, const char *key, unsigned char out[32],
                 mc_err_t *err)
{
    const char *p;
    size_t n;
    if (mc_mp_bin(map, key, 32, &p, &n, err) != 0)
        return -1;
    if (n != 32) {
        mc_err_set(err, "field '%s' is not a 32-byte key", key);
        return -1;
    }
    memcpy(out, p, 32);
    return 0;
}
