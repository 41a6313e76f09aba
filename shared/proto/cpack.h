/*  proto/cpack - how far a copy has come on one minion, minion to master
    and master to mctl.

    A minion pushes ["cpack"][{v, jid, id, seq, have}] when it takes a
    cp.recv job (seq 0, and have: one bit per file of the manifest, bit i
    of byte i/8 set when the file is already there with the same hash, so
    that mctl need not send it), then every few chunks and whenever the
    chunks pause (seq: how many chunks of the copy it has taken, in order;
    have empty). The master
    forwards these to the mctl that runs the copy, which sends more only
    as the slowest minion keeps up.

    The master sends mctl the same message with error set when it could
    not pass a chunk on: to one minion (id: that minion, which then takes
    no part in the rest of the copy) or at all (id ""). */
#ifndef MC_PROTO_CPACK_H
#define MC_PROTO_CPACK_H

#include "common.h"
#include "copy.h"

#define MC_KIND_CPACK      "cpack"
#define MC_CPACK_HAVE_MAX  ((MC_CP_FILES_MAX + 7) / 8)
#define MC_CPACK_ERROR_MAX 511

typedef struct {
    char jid[MC_JID_LEN + 1];
    char id[MC_ID_MAX + 1]; /* "" only in a master's error about the whole copy */
    int64_t seq;
    unsigned char *have; /* malloc'd, have_len bytes */
    size_t have_len;
    char error[MC_CPACK_ERROR_MAX + 1]; /* "" but in the master's errors */
} mc_cpack_t;

typedef struct {
    const char *jid, *id;
    int64_t seq;
    const unsigned char *have; /* may be NULL */
    size_t have_len;
    const char *error; /* NULL: none */
} mc_cpack_spec_t;

void mc_cpack_pack(msgpack_sbuffer *sb, const mc_cpack_spec_t *spec);
int mc_cpack_decode(mc_cpack_t *a, const void *buf, size_t len, mc_err_t *err);
void mc_cpack_done(mc_cpack_t *a);

#endif
