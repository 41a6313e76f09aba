/*  proto/chunk - see chunk.h. */
#include "chunk.h"

#include <sodium.h>
#include <string.h>

/* The one-time key of chunk seq: BLAKE2b("mctl-cp" seq) keyed with the
   copy's key. */
static void chunk_key(unsigned char out[crypto_onetimeauth_KEYBYTES], int64_t seq,
                      const unsigned char key[32])
{
    unsigned char in[15] = "mctl-cp";
    uint64_t s = (uint64_t)seq;
    for (int i = 0; i < 8; i++)
        in[7 + i] = (unsigned char)(s >> (8 * i));
    crypto_generichash(out, crypto_onetimeauth_KEYBYTES, in, sizeof in, key, 32);
}

void mc_chunk_fields_pack(msgpack_packer *pk, const mc_chunk_spec_t *s)
{
    mc_pk_kv_str(pk, "jid", s->jid);
    mc_pk_kv_int(pk, "seq", s->seq);
    mc_pk_kv_int(pk, "file", s->file);
    mc_pk_kv_int(pk, "off", (int64_t)s->off);
    mc_pk_str(pk, "data");
    mc_pk_bin(pk, s->data, s->len);
    mc_pk_kv_bool(pk, "abort", s->abort);
}

int mc_chunk_fields_decode(const msgpack_object *m, mc_chunk_fields_t *f, mc_err_t *err)
{
    int64_t file, off;
    const char *data;
    if (mc_proto_jid(m, "jid", f->jid, err) || mc_mp_int(m, "seq", 0, INT64_MAX, &f->seq, err) ||
        mc_mp_int(m, "file", 0, MC_CP_FILES_MAX - 1, &file, err) ||
        mc_mp_int(m, "off", 0, (int64_t)MC_CP_FILE_SIZE_MAX, &off, err) ||
        mc_mp_bin(m, "data", MC_CP_CHUNK_MAX, &data, &f->len, err) ||
        mc_mp_bool(m, "abort", &f->abort, err))
        return -1;
    if (f->abort && f->len) {
        mc_err_set(err, "an aborting chunk carries data");
        return -1;
    }
    f->file = (uint32_t)file;
    f->off = (uint64_t)off;
    f->data = (const unsigned char *)data;
    return 0;
}

void mc_chunk_pack(msgpack_sbuffer *sb, const mc_chunk_spec_t *s, const unsigned char key[32])
{
    mc_sbuffer_reserve(sb, MC_CHUNK_MAC_LEN + s->len + 128);
    unsigned char zero[MC_CHUNK_MAC_LEN] = {0};
    msgpack_sbuffer_write(sb, (const char *)zero, sizeof zero);
    size_t at = sb->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 6);
    mc_chunk_fields_pack(&pk, s);
    unsigned char k[crypto_onetimeauth_KEYBYTES];
    chunk_key(k, s->seq, key);
    crypto_onetimeauth((unsigned char *)sb->data + at - MC_CHUNK_MAC_LEN,
                       (const unsigned char *)sb->data + at, sb->size - at, k);
    sodium_memzero(k, sizeof k);
}

int mc_chunk_decode(mc_chunk_t *c, const void *buf, size_t len, mc_err_t *err)
{
    memset(c, 0, sizeof *c);
    if (len < MC_CHUNK_MAC_LEN) {
        mc_err_set(err, "chunk shorter than its tag");
        return -1;
    }
    c->mac = buf;
    c->body = (const unsigned char *)buf + MC_CHUNK_MAC_LEN;
    c->body_len = len - MC_CHUNK_MAC_LEN;
    if (mc_proto_open_view(&c->doc, c->body, c->body_len, err) != 0)
        return -1;
    if (mc_chunk_fields_decode(&c->doc.root, &c->f, err) != 0) {
        mc_proto_doc_done(&c->doc);
        return -1;
    }
    return 0;
}

int mc_chunk_verify(const mc_chunk_t *c, const unsigned char key[32])
{
    unsigned char k[crypto_onetimeauth_KEYBYTES];
    chunk_key(k, c->f.seq, key);
    int rc = crypto_onetimeauth_verify(c->mac, c->body, c->body_len, k);
    sodium_memzero(k, sizeof k);
    return rc == 0 ? 0 : -1;
}

void mc_chunk_done(mc_chunk_t *c)
{
    mc_proto_doc_done(&c->doc);
    memset(c, 0, sizeof *c);
}
