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

size_t mc_chunk_spec_bytes(const mc_chunk_spec_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nparts; i++)
        n += s->parts[i].len;
    return n;
}

void mc_chunk_fields_pack(msgpack_packer *pk, const mc_chunk_spec_t *s)
{
    mc_pk_kv_str(pk, "jid", s->jid);
    mc_pk_kv_int(pk, "seq", s->seq);
    mc_pk_str(pk, "parts");
    msgpack_pack_array(pk, s->nparts);
    for (size_t i = 0; i < s->nparts; i++) {
        const mc_chunk_part_t *p = &s->parts[i];
        msgpack_pack_array(pk, 4);
        msgpack_pack_uint32(pk, p->file);
        msgpack_pack_uint64(pk, p->off);
        mc_pk_bin(pk, p->data, p->len);
        if (p->abort)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
}

int mc_chunk_fields_decode(const msgpack_object *m, mc_chunk_fields_t *f, mc_err_t *err)
{
    memset(f, 0, sizeof *f);
    const msgpack_object *parts;
    if (mc_proto_jid(m, "jid", f->jid, err) || mc_mp_int(m, "seq", 0, INT64_MAX, &f->seq, err) ||
        mc_mp_array(m, "parts", false, MC_CP_PARTS_MAX, &parts, err))
        return -1;
    f->parts = mc_calloc(parts->via.array.size + 1, sizeof *f->parts);
    size_t total = 0;
    for (uint32_t i = 0; i < parts->via.array.size; i++) {
        const msgpack_object *o = &parts->via.array.ptr[i];
        const msgpack_object *a = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.ptr : NULL;
        if (!a || o->via.array.size != 4 || a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            a[0].via.u64 >= MC_CP_FILES_MAX || a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            a[1].via.u64 > MC_CP_FILE_SIZE_MAX || a[2].type != MSGPACK_OBJECT_BIN ||
            a[3].type != MSGPACK_OBJECT_BOOLEAN) {
            mc_err_set(err, "chunk part %u is not [file, off, data, abort]", i);
            goto fail;
        }
        mc_chunk_part_t *p = &f->parts[i];
        p->file = (uint32_t)a[0].via.u64;
        p->off = a[1].via.u64;
        p->data = (const unsigned char *)a[2].via.bin.ptr;
        p->len = a[2].via.bin.size;
        p->abort = a[3].via.boolean;
        total += p->len;
        if (p->abort && p->len) {
            mc_err_set(err, "chunk part %u aborts its file but carries data", i);
            goto fail;
        }
        if (total > MC_CP_CHUNK_MAX) {
            mc_err_set(err, "chunk carries more than %d bytes", MC_CP_CHUNK_MAX);
            goto fail;
        }
    }
    f->nparts = parts->via.array.size;
    return 0;
fail:
    mc_chunk_fields_done(f);
    return -1;
}

void mc_chunk_fields_done(mc_chunk_fields_t *f)
{
    free(f->parts);
    f->parts = NULL;
    f->nparts = 0;
}

void mc_chunk_pack(msgpack_sbuffer *sb, const mc_chunk_spec_t *s, const unsigned char key[32])
{
    mc_sbuffer_reserve(sb, MC_CHUNK_MAC_LEN + mc_chunk_spec_bytes(s) + 64 + 24 * s->nparts);
    unsigned char zero[MC_CHUNK_MAC_LEN] = {0};
    msgpack_sbuffer_write(sb, (const char *)zero, sizeof zero);
    size_t at = sb->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 3);
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
    mc_chunk_fields_done(&c->f);
    mc_proto_doc_done(&c->doc);
    memset(c, 0, sizeof *c);
}
