/*  proto/chunk - pieces of the files being copied, master to minion.

    Published on the minion's topic as [m:<id>\0]["chunk"][payload]:
    payload is [jid: 20 digits][seq: 8 bytes, big-endian][tag: 16 bytes]
    [body encrypted], the body being a map {v, jid, seq, parts} encrypted
    with ChaCha20-Poly1305 (IETF, libsodium) under the copy's key, the
    nonce made of seq, and jid and seq in the clear as its additional data.
    The key came inside the sealed, signed cp.recv job (copy.h), so only
    the master and the minions of that copy can read or make a chunk: a
    minion that subscribes to another's topic gets bytes it cannot open,
    and a chunk is taken only as the seq-th of the copy it names, once.

      jid    the copy's job
      seq    0, 1, 2, ...: the chunks of one copy in the order sent
      parts  [[file, off, data, abort], ...]: at most MC_CP_PARTS_MAX,
             with at most MC_CP_CHUNK_MAX bytes of data in all (many small
             files travel in one chunk, a large one in many):
               file   the file's index in the manifest
               off    where data goes in that file
               data   the bytes
               abort  true when mctl gave up on the file (it changed
                      while being read): the minion drops it; data is
                      empty

    mc_chunk_jid reads the jid from the clear header, to find the copy's
    key; mc_chunk_decode then decrypts (failing on any change to the
    bytes) and decodes the body strictly. */
#ifndef MC_PROTO_CHUNK_H
#define MC_PROTO_CHUNK_H

#include "common.h"
#include "copy.h"

#define MC_KIND_CHUNK     "chunk"
#define MC_CHUNK_HEAD_LEN (MC_JID_LEN + 8)
#define MC_CHUNK_TAG_LEN  16

#define MC_CP_PARTS_MAX 4096

/* One file's piece in a chunk; data points into the decoded message. */
typedef struct {
    uint32_t file;
    uint64_t off;
    bool abort;
    const unsigned char *data;
    size_t len;
} mc_chunk_part_t;

/* The fields of a chunk, as a chunk and mctl's cp_chunk request
   (request.h) both carry them; parts is malloc'd by the decoder. */
typedef struct {
    char jid[MC_JID_LEN + 1];
    int64_t seq;
    size_t nparts;
    mc_chunk_part_t *parts;
} mc_chunk_fields_t;

typedef struct {
    mc_chunk_fields_t f;
    unsigned char *plain; /* the decrypted body, which f points into */
    bool own_plain;       /* plain is the chunk's to free */
    mc_mp_doc_t doc;
} mc_chunk_t;

typedef struct {
    const char *jid;
    int64_t seq;
    size_t nparts;
    const mc_chunk_part_t *parts;
} mc_chunk_spec_t;

/* The three fields, as key-value pairs of a map being packed. */
void mc_chunk_fields_pack(msgpack_packer *pk, const mc_chunk_spec_t *spec);
/* The three fields of map m, checked; release with mc_chunk_fields_done. */
int mc_chunk_fields_decode(const msgpack_object *m, mc_chunk_fields_t *f, mc_err_t *err);
void mc_chunk_fields_done(mc_chunk_fields_t *f);
/* The data bytes of a chunk's parts, added up. */
size_t mc_chunk_spec_bytes(const mc_chunk_spec_t *spec);

/* The payload into sb, encrypted with the copy's key. */
void mc_chunk_pack(msgpack_sbuffer *sb, const mc_chunk_spec_t *spec, const unsigned char key[32]);
/* The jid in a payload's clear header: 0, or -1 when it has none. */
int mc_chunk_jid(const void *buf, size_t len, char jid[MC_JID_LEN + 1]);
/* Decrypt with the copy's key and decode: 0 with the whole chunk
   (release with mc_chunk_done), or -1 with err (bytes changed or made
   without the key, or a body that is not a chunk). */
int mc_chunk_decode(mc_chunk_t *c, const void *buf, size_t len, const unsigned char key[32],
                    mc_err_t *err);
/* The same, decrypting into plain (room for len bytes, kept by the caller
   and alive as long as the chunk): no allocation for each chunk. */
int mc_chunk_decode_into(mc_chunk_t *c, const void *buf, size_t len, const unsigned char key[32],
                         unsigned char *plain, mc_err_t *err);
void mc_chunk_done(mc_chunk_t *c);

#endif
