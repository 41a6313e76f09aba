/*  wire - the messages that cross the network, in msgpack.

    Every message is a map whose first key is "v" (protocol version 1).
    Each kind has one packer and one strict decoder; a decoder either fills
    the whole struct or returns -1 with the reason, never half of it.

    A decoded message owns a copy of its bytes: the buffer it came from
    can go at once; release the message with its *_done().

    Master and minion talk over two sockets (DESIGN.md, Sockets). The
    master publishes on its XPUB [m:<id>\0][kind][payload], one topic per
    minion: [job][sealed: signature, job] and [stored][{v, jids}]. The
    minion pushes [kind][payload] to the master's PULL: ret, ack, hb,
    grains and hello (a heartbeat sent when a connection comes up). The
    kind frame lets either side route a message before decoding it. */
#ifndef MC_WIRE_H
#define MC_WIRE_H

#include "mp.h"
#include "util.h"

#define MC_PROTO_VERSION 1
#define MC_JID_LEN       20
#define MC_FUN_MAX       127
#define MC_TGT_MAX       65536
#define MC_ARGS_MAX      1024
#define MC_USER_MAX      64

/* Size limits for whole messages (ZMQ_MAXMSGSIZE): a return carries at most
   two capped output streams plus its value. */
#define MC_MAX_JOB_MSG    (4 * 1024 * 1024)
#define MC_MAX_RETURN_MSG (16 * 1024 * 1024)
#define MC_MAX_SMALL_MSG  (256 * 1024)

#define MC_KIND_RETURN    "ret"
#define MC_KIND_ACK       "ack"
#define MC_KIND_HEARTBEAT "hb"
#define MC_KIND_GRAINS    "grains"
#define MC_KIND_HELLO     "hello"
/* Master to minion: a job, and {v, jids} of the returns it has stored. */
#define MC_KIND_JOB    "job"
#define MC_KIND_STORED "stored"

/* A job as the minion reads it after opening the sealed payload. */
typedef struct {
    char jid[MC_JID_LEN + 1];
    char tgt_type[16];
    char *tgt;
    char fun[MC_FUN_MAX + 1];
    char user[MC_USER_MAX + 1];
    int64_t ts;                  /* seconds since the epoch when published */
    int64_t timeout;             /* seconds the function may run */
    char delimiter;              /* between nested grain keys in the target */
    const msgpack_object *arg;   /* array */
    const msgpack_object *kwarg; /* map of string keys */
    mc_mp_doc_t doc;
} mc_job_t;

typedef struct {
    const char *jid, *tgt_type, *tgt, *fun, *user;
    int64_t ts, timeout;
    char delimiter;                    /* 0 or ':' for the default */
    const msgpack_object *arg, *kwarg; /* may be NULL: empty */
} mc_job_spec_t;

void mc_job_pack(msgpack_sbuffer *sb, const mc_job_spec_t *spec);
int mc_job_decode(mc_job_t *job, const void *buf, size_t len, mc_err_t *err);
void mc_job_done(mc_job_t *job);

/* A return. The value is any msgpack object; stdout/stderr are bytes. */
typedef struct {
    char jid[MC_JID_LEN + 1];
    char id[MC_ID_MAX + 1];
    char fun[MC_FUN_MAX + 1];
    int64_t retcode;
    bool success;
    const msgpack_object *ret;
    const char *out, *err;
    size_t out_len, err_len;
    int64_t started; /* microseconds since the epoch */
    int64_t duration_ms;
    bool truncated;
    mc_mp_doc_t doc;
} mc_ret_t;

int mc_ret_decode(mc_ret_t *ret, const void *buf, size_t len, mc_err_t *err);
void mc_ret_done(mc_ret_t *ret);
/* A return whose value is already packed in value. */
void mc_ret_pack_value(msgpack_sbuffer *sb, const char *jid, const char *id, const char *fun,
                       int retcode, bool success, const msgpack_sbuffer *value);
/* A return for a job that could not run: value is the message string. */
void mc_ret_pack_error(msgpack_sbuffer *sb, const char *jid, const char *id, const char *fun,
                       int retcode, const char *message);

typedef struct {
    char jid[MC_JID_LEN + 1];
    char id[MC_ID_MAX + 1];
} mc_ack_t;

void mc_ack_pack(msgpack_sbuffer *sb, const char *jid, const char *id);
int mc_ack_decode(mc_ack_t *ack, const void *buf, size_t len, mc_err_t *err);

typedef struct {
    char id[MC_ID_MAX + 1];
    int64_t uptime;
    double load;
    int64_t jobs_running;
} mc_heartbeat_t;

void mc_heartbeat_pack(msgpack_sbuffer *sb, const mc_heartbeat_t *hb);
int mc_heartbeat_decode(mc_heartbeat_t *hb, const void *buf, size_t len, mc_err_t *err);

/* Grains: the payload keeps the raw grains map so the master can cache the
   bytes and hand them out again. */
typedef struct {
    char id[MC_ID_MAX + 1];
    const msgpack_object *grains;
    mc_mp_doc_t doc;
} mc_grains_msg_t;

int mc_grains_decode(mc_grains_msg_t *g, const void *buf, size_t len, mc_err_t *err);
void mc_grains_done(mc_grains_msg_t *g);

/* Registration: a minion presents its id and CURVE public key. */
typedef struct {
    char id[MC_ID_MAX + 1];
    unsigned char pub[32];
} mc_register_t;

void mc_register_pack(msgpack_sbuffer *sb, const char *id, const unsigned char pub[32]);
int mc_register_decode(mc_register_t *reg, const void *buf, size_t len, mc_err_t *err);

typedef struct {
    char status[16]; /* accepted, pending, rejected, denied */
    bool has_sign_pub;
    unsigned char sign_pub[32];
} mc_register_reply_t;

void mc_register_reply_pack(msgpack_sbuffer *sb, const char *status, const unsigned char *sign_pub);
int mc_register_reply_decode(mc_register_reply_t *r, const void *buf, size_t len, mc_err_t *err);

bool mc_jid_valid(const char *s, size_t len);

/* A minion's topic on the master's XPUB: "m:<id>" and its NUL, so that
   one id is never a prefix of another's topic. Returns its length, the NUL
   included. */
#define MC_TOPIC_MAX (MC_ID_MAX + 3)
size_t mc_topic(char out[MC_TOPIC_MAX], const char *id);
/* The id a topic names (into id), or -1 when it is not a minion topic. */
int mc_topic_id(const void *topic, size_t len, char id[MC_ID_MAX + 1]);

#endif
