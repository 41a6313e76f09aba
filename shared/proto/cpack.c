/*  proto/cpack - see cpack.h. */
#include "cpack.h"

#include <string.h>

void mc_cpack_pack(msgpack_sbuffer *sb, const mc_cpack_spec_t *s)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, s->error ? 5 : 4);
    mc_pk_kv_str(&pk, "jid", s->jid);
    mc_pk_kv_str(&pk, "id", s->id);
    mc_pk_kv_int(&pk, "seq", s->seq);
    mc_pk_str(&pk, "have");
    mc_pk_bin(&pk, s->have, s->have ? s->have_len : 0);
    if (s->error) {
        char cut[MC_CPACK_ERROR_MAX + 1];
        snprintf(cut, sizeof cut, "%s", s->error);
        mc_pk_kv_str(&pk, "error", cut);
    }
}

int mc_cpack_decode(mc_cpack_t *a, const void *buf, size_t len, mc_err_t *err)
{
    memset(a, 0, sizeof *a);
    mc_mp_doc_t doc;
    if (mc_proto_open(&doc, buf, len, err) != 0)
        return -1;
    const msgpack_object *m = &doc.root;
    const char *have;
    int rc = -1;
    if (mc_proto_jid(m, "jid", a->jid, err) || mc_mp_str(m, "id", a->id, sizeof a->id, err) ||
        mc_mp_int(m, "seq", 0, INT64_MAX, &a->seq, err) ||
        mc_mp_bin(m, "have", MC_CPACK_HAVE_MAX, &have, &a->have_len, err) ||
        mc_mp_str_opt(m, "error", a->error, sizeof a->error, err))
        goto out;
    if (a->id[0] && !mc_id_valid(a->id, strlen(a->id))) {
        mc_err_set(err, "field 'id' is not a valid minion id");
        goto out;
    }
    if (!a->id[0] && !a->error[0]) {
        mc_err_set(err, "field 'id' is empty but there is no error");
        goto out;
    }
    a->have = mc_malloc(a->have_len + 1);
    if (a->have_len)
        memcpy(a->have, have, a->have_len);
    rc = 0;
out:
    mc_mp_doc_done(&doc);
    return rc;
}

void mc_cpack_done(mc_cpack_t *a)
{
    free(a->have);
    memset(a, 0, sizeof *a);
}
