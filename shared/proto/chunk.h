/*  proto/chunk - pieces of the files being copied, master to minion.

    Published on the minion's topic as [m:<id>\0]["chunk"][MAC][body]:
    body is a map {v, jid, seq, parts} and MAC its
    Poly1305 tag (crypto_onetimeauth, 16 bytes) under a key used once:
    BLAKE2b of seq keyed with the copy's key, which only the master and
    the minions of that copy know (it came inside the sealed, signed
    cp.recv job, copy.h). So a chunk is accepted only as the seq-th chunk
    of the copy it names, exactly once.

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

    mc_chunk_decode checks the body strictly; mc_chunk_verify then checks
    the tag with the key of the copy the jid names. */
#ifndef MC_PROTO_CHUNK_H
#define MC_PROTO_CHUNK_H

#include "common.h"
#include "copy.h"

#define MC_KIND_CHUNK    "chunk"
#define MC_CHUNK_MAC_LEN 16

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
    /* The tag and the bytes it covers, for mc_chunk_verify. */
    const unsigned char *mac, *body;
    size_t body_len;
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

/* [MAC][body] into sb, tagged with the copy's key. */
void mc_chunk_pack(msgpack_sbuffer *sb, const mc_chunk_spec_t *spec, const unsigned char key[32]);
/* buf must outlive the chunk (the tag, the body and data point into it:
   the data is not copied). */
int mc_chunk_decode(mc_chunk_t *c, const void *buf, size_t len, mc_err_t *err);
/* 0 when the tag is right for key, else -1. */
int mc_chunk_verify(const mc_chunk_t *c, const unsigned char key[32]);
void mc_chunk_done(mc_chunk_t *c);

#endif
