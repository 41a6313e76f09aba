/*  proto/chunk - a piece of a file being copied, master to minion.

    Published on the minion's topic as [m:<id>\0]["chunk"][MAC][body]:
    body is a map {v, jid, seq, file, off, data, abort} and MAC its
    Poly1305 tag (crypto_onetimeauth, 16 bytes) under a key used once:
    BLAKE2b of seq keyed with the copy's key, which only the master and
    the minions of that copy know (it came inside the sealed, signed
    cp.recv job, copy.h). So a chunk is accepted only as the seq-th chunk
    of the copy it names, exactly once.

      jid    the copy's job
      seq    0, 1, 2, ...: the chunks of one copy in the order sent
      file   the file's index in the manifest
      off    where data goes in that file
      data   at most MC_CP_CHUNK_MAX bytes
      abort  true when mctl gave up on the file (it changed while being
             read): the minion drops it, and data is empty

    mc_chunk_decode checks the body strictly; mc_chunk_verify then checks
    the tag with the key of the copy the jid names. */
#ifndef MC_PROTO_CHUNK_H
#define MC_PROTO_CHUNK_H

#include "common.h"
#include "copy.h"

#define MC_KIND_CHUNK    "chunk"
#define MC_CHUNK_MAC_LEN 16

/* The fields of a chunk, as a chunk and mctl's cp_chunk request
   (request.h) both carry them; data points into the decoded message. */
typedef struct {
    char jid[MC_JID_LEN + 1];
    int64_t seq;
    uint32_t file;
    uint64_t off;
    bool abort;
    const unsigned char *data;
    size_t len;
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
    uint32_t file;
    uint64_t off;
    bool abort;
    const void *data;
    size_t len;
} mc_chunk_spec_t;

/* The six fields, as key-value pairs of a map being packed. */
void mc_chunk_fields_pack(msgpack_packer *pk, const mc_chunk_spec_t *spec);
/* The six fields of map m, checked. */
int mc_chunk_fields_decode(const msgpack_object *m, mc_chunk_fields_t *f, mc_err_t *err);

/* [MAC][body] into sb, tagged with the copy's key. */
void mc_chunk_pack(msgpack_sbuffer *sb, const mc_chunk_spec_t *spec, const unsigned char key[32]);
/* buf must outlive the chunk (the tag, the body and data point into it:
   the data is not copied). */
int mc_chunk_decode(mc_chunk_t *c, const void *buf, size_t len, mc_err_t *err);
/* 0 when the tag is right for key, else -1. */
int mc_chunk_verify(const mc_chunk_t *c, const unsigned char key[32]);
void mc_chunk_done(mc_chunk_t *c);

#endif
