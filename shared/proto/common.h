/*  proto/common - what every message of shared/proto/ shares.

    Every message is a msgpack map whose first key is "v", the protocol
    version. Each message has one typed struct, one packer and one strict
    decoder, in a file of its own (job.h, ret.h, ...; the client API in
    request.h and reply.h). A decoder checks the bytes with mc_mp_check
    before anything is unpacked, reads each field through a checked getter
    of mp.h, stops at the first surprise and says which field was wrong;
    it either fills the whole struct or returns -1, never half of it.

    Two planes (DESIGN.md, Sockets):
    - master and minion: the master's XPUB sends [m:<id>\0][kind][payload]
      (job, stored, chunk); the minion's PUSH sends [kind][payload] (ret,
      ack, hb, grains, hello, cpack); registration is [register] -> [register reply] on
      the master's ROUTER. The kind frame routes a message before it is
      decoded.
    - mctl and master: a request [msgpack] on SOCK_DIR/master.ipc; answers
      [kind][msgpack] with kind "reply", and while a job is in flight
      "ack" and "ret" as its minions answer (and for a copy, "cpack").

    The helpers below are for the files of shared/proto/ only. */
#ifndef MC_PROTO_COMMON_H
#define MC_PROTO_COMMON_H

#include "mp.h"
#include "util.h"

#define MC_PROTO_VERSION 1
#define MC_JID_LEN       20
#define MC_FUN_MAX       127
#define MC_TGT_MAX       65536
#define MC_ARGS_MAX      1024
#define MC_USER_MAX      64
/* The longest a job may be given to run, in seconds: a year. */
#define MC_JOB_TIMEOUT_MAX (365LL * 86400)

/* Size limits for whole messages (ZMQ_MAXMSGSIZE): a return carries at most
   two capped output streams plus its value. */
#define MC_MAX_JOB_MSG    (4 * 1024 * 1024)
#define MC_MAX_RETURN_MSG (16 * 1024 * 1024)
#define MC_MAX_SMALL_MSG  (256 * 1024)

/* The kind frame of each message between master and minion. */
#define MC_KIND_RETURN    "ret"
#define MC_KIND_ACK       "ack"
#define MC_KIND_HEARTBEAT "hb"
#define MC_KIND_GRAINS    "grains"
#define MC_KIND_HELLO     "hello"
#define MC_KIND_JOB       "job"
#define MC_KIND_STORED    "stored"
/* The kind frame of the master's answer to a client request. */
#define MC_KIND_REPLY "reply"
#define MC_KIND_EVENT "event"
#define MC_KIND_TICK  "tick"

/* Whether s (len bytes) is a job id: 20 digits. */
bool mc_jid_valid(const char *s, size_t len);

/* ---- for the files of shared/proto/ -------------------------------------- */

/* Start a message's map: fields besides "v". */
void mc_proto_header(msgpack_packer *pk, size_t fields);
/* Parse buf into doc and check the version; doc is live only on success. */
int mc_proto_open(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err);
/* The same, the doc pointing into buf (which must outlive it) rather than
   a copy: for bulk data. */
int mc_proto_open_view(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err);
/* A required "jid" / "id" field, checked to be a job id / minion id. */
int mc_proto_jid(const msgpack_object *map, const char *key, char out[MC_JID_LEN + 1],
                 mc_err_t *err);
int mc_proto_id(const msgpack_object *map, const char *key, char out[MC_ID_MAX + 1], mc_err_t *err);
/* A 32-byte binary key field. */
int mc_proto_key(const msgpack_object *map, const char *key, unsigned char out[32], mc_err_t *err);
/* Release a doc that may never have been opened (root zeroed). */
void mc_proto_doc_done(mc_mp_doc_t *doc);

#endif
