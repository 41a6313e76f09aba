/*  proto/chunk - see chunk.h. */
#include "chunk.h"

#include <sodium.h>
#include <string.h>

static void put_head(unsigned char head[MC_CHUNK_HEAD_LEN], const char *jid, int64_t seq)
{
    memcpy(head, jid, MC_JID_LEN);
    for (int i = 0; i < 8; i++)
        head[MC_JID_LEN + i] = (unsigned char)((uint64_t)seq >> (56 - 8 * i));
}

/* The nonce of chunk seq: unique, as the key is the copy's alone. */
static void nonce_of(unsigned char n[crypto_aead_chacha20poly1305_IETF_NPUBBYTES],
                     const unsigned char head[MC_CHUNK_HEAD_LEN])
{
    memset(n, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
    memcpy(n + crypto_aead_chacha20poly1305_IETF_NPUBBYTES - 8, head + MC_JID_LEN, 8);
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
    size_t start = sb->size;
    mc_sbuffer_reserve(sb, MC_CHUNK_HEAD_LEN + MC_CHUNK_TAG_LEN + mc_chunk_spec_bytes(s) + 64 +
                               24 * s->nparts);
    unsigned char head[MC_CHUNK_HEAD_LEN + MC_CHUNK_TAG_LEN] = {0};
    put_head(head, s->jid, s->seq);
    msgpack_sbuffer_write(sb, (const char *)head, sizeof head);
    size_t at = sb->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    mc_proto_header(&pk, 3);
    mc_chunk_fields_pack(&pk, s);
    unsigned char *p = (unsigned char *)sb->data;
    unsigned char nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_of(nonce, p + start);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(p + at, p + at - MC_CHUNK_TAG_LEN, NULL,
                                                       p + at, sb->size - at, p + start,
                                                       MC_CHUNK_HEAD_LEN, NULL, nonce, key);
}

int mc_chunk_jid(const void *buf, size_t len, char jid[MC_JID_LEN + 1])
{
    if (len < MC_CHUNK_HEAD_LEN + MC_CHUNK_TAG_LEN || !mc_jid_valid(buf, MC_JID_LEN))
        return -1;
    memcpy(jid, buf, MC_JID_LEN);
    jid[MC_JID_LEN] = '\0';
    return 0;
}

int mc_chunk_decode(mc_chunk_t *c, const void *buf, size_t len, const unsigned char key[32],
                    mc_err_t *err)
{
    unsigned char *plain = mc_malloc(len + 1);
    int rc = mc_chunk_decode_into(c, buf, len, key, plain, err);
    if (rc == 0)
        c->own_plain = true;
    else
        free(plain);
    return rc;
}

int mc_chunk_decode_into(mc_chunk_t *c, const void *buf, size_t len, const unsigned char key[32],
                         unsigned char *plain, mc_err_t *err)
{
    memset(c, 0, sizeof *c);
    char jid[MC_JID_LEN + 1];
    if (mc_chunk_jid(buf, len, jid) != 0) {
        mc_err_set(err, "chunk without a header");
        return -1;
    }
    const unsigned char *head = buf, *tag = head + MC_CHUNK_HEAD_LEN,
                        *body = tag + MC_CHUNK_TAG_LEN;
    size_t body_len = len - MC_CHUNK_HEAD_LEN - MC_CHUNK_TAG_LEN;
    unsigned char nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_of(nonce, head);
    c->plain = plain;
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            c->plain, NULL, body, body_len, tag, head, MC_CHUNK_HEAD_LEN, nonce, key) != 0) {
        mc_err_set(err, "a chunk failed its authentication check");
        goto fail;
    }
    if (mc_proto_open_view(&c->doc, c->plain, body_len, err) != 0)
        goto fail;
    if (mc_chunk_fields_decode(&c->doc.root, &c->f, err) != 0) {
        mc_proto_doc_done(&c->doc);
        goto fail;
    }
    int64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = (int64_t)(((uint64_t)seq << 8) | head[MC_JID_LEN + i]);
    if (strcmp(c->f.jid, jid) != 0 || c->f.seq != seq) {
        mc_err_set(err, "chunk header and body disagree");
        mc_chunk_done(c);
        return -1;
    }
    return 0;
fail:
    c->plain = NULL;
    return -1;
}

void mc_chunk_done(mc_chunk_t *c)
{
    mc_chunk_fields_done(&c->f);
    mc_proto_doc_done(&c->doc);
    if (c->own_plain)
        free(c->plain);
    memset(c, 0, sizeof *c);
}
