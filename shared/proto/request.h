/*  proto/request - what mctl asks the master, mctl to master.

    Sent by mctl (and every tool built on cli/client.c) as one frame on the
    master's client socket, SOCK_DIR/master.ipc: a map {v, cmd, ...} where
    cmd names the request and the rest are its fields.

      publish        tgt, tgt_type, delimiter, fun, arg (array), kwarg (map
                     of string keys), timeout (seconds the function may
                     run), user (who the client says it is: never trusted,
                     the master records the user the kernel names)
      list_targets   tgt, tgt_type, delimiter: which minions a target
                     selects, nothing is run
      jobs_list      fun, target (globs on the function and the target
                     expression, "" for any), limit (at most that many
                     jobs), since (microseconds since the epoch, 0 for any),
                     user (only that user's jobs, "" for any), before (a
                     jid: only older jobs, the next page; "" for any)
      jobs_show      jid
      jobs_wait      jid
      key_list       no fields
      key_finger     no fields
      master_key     no fields
      key_preseed    id, pub (the minion's CURVE public key, Z85 text)
      key_accept     ids (globs), include_rejected, include_accepted
      key_reject     (the same)
      key_delete     (the same)
      cp_start       tgt, tgt_type, delimiter, copy (the manifest of
                     copy.h), timeout (seconds a minion waits for the next
                     chunk before it gives the copy up, at most
                     MC_CP_TIMEOUT_MAX), user (as publish)
      cp_chunk       jid, seq, parts: the fields of a chunk (chunk.h),
                     for the master to tag and pass on
                     to the copy's minions; answered only when it cannot
                     be passed on, by a cpack with an error (cpack.h)
      minions        no fields: every accepted minion, whether it is
                     connected, when it was last heard from, its grains
                     (reply_minions.h)
      events         no fields: subscribe to the jobs published and the
                     returns stored from now on, each sent as an "event"
                     message (event.h) for as long as the connection
                     stays
      events_read    read: how many events the subscriber has taken on
                     this connection so far (0 or more; more than were
                     sent counts as all of them, less than it said
                     before changes nothing). The master sends at most
                     MC_EVENTS_WINDOW events more than the subscriber
                     says it has taken; past that it counts them lost
                     (event.h), so one that stops reading costs the
                     master a bounded queue. No reply unless it is
                     refused. A subscriber that never sends it gets
                     MC_EVENTS_WINDOW events and then none: mctl-api
                     and the master go together
      as             user, req (bin): the request req (any but another
                     as), made on behalf of the local user named user.
                     Only root and the master's own user may ask this
                     (mctl-api, which has checked the user's password);
                     the master then treats req exactly as if that user
                     had sent it, and the audit log names both

    delimiter (one character between nested grain keys) is ':' when
    absent; jobs_list's fields and the key requests' booleans may be
    absent too (any, 50 jobs, false). Every other field is required.

    The master answers each request with one reply (reply.h); a published
    job's acks and returns follow as the minions send them (ack.h, ret.h).
    mc_request_decode reads cmd first, then that request's fields, and
    names the request and the field in its error. */
#ifndef MC_PROTO_REQUEST_H
#define MC_PROTO_REQUEST_H

#include "chunk.h"
#include "common.h"
#include "copy.h"

/* The longest glob in jobs_list (target) and in the key requests' ids. */
#define MC_GLOB_MAX 255
/* The most items of any list in a client message: ids in a request, and
   in a reply the minions of a fleet or the jobs of one history page. */
#define MC_LIST_MAX 1000000
/* The most globs in one key request: each is matched against every key. */
#define MC_KEY_GLOBS_MAX 10000
/* jobs_list's limit when the request gives none, and the most it may
   ask for: with each target cut to MC_JOBS_LIST_TGT_MAX characters, the
   reply stays well inside one message. */
#define MC_JOBS_LIMIT_DEFAULT 50
#define MC_JOBS_LIMIT_MAX     10000
#define MC_JOBS_LIST_TGT_MAX  1024
/* Events the master sends a subscriber beyond those it says it has
   taken (events_read); a subscriber says so at least every
   MC_EVENTS_WINDOW / 10 events. */
#define MC_EVENTS_WINDOW 1000

/* The cmd of each request. */
typedef enum {
    MC_REQ_PUBLISH,
    MC_REQ_LIST_TARGETS,
    MC_REQ_JOBS_LIST,
    MC_REQ_JOBS_SHOW,
    MC_REQ_JOBS_WAIT,
    MC_REQ_KEY_LIST,
    MC_REQ_KEY_FINGER,
    MC_REQ_MASTER_KEY,
    MC_REQ_KEY_PRESEED,
    MC_REQ_KEY_ACCEPT,
    MC_REQ_KEY_REJECT,
    MC_REQ_KEY_DELETE,
    MC_REQ_CP_START,
    MC_REQ_CP_CHUNK,
    MC_REQ_MINIONS,
    MC_REQ_EVENTS,
    MC_REQ_EVENTS_READ,
    MC_REQ_AS,
    MC_REQ_KINDS
} mc_req_kind_t;

/* The cmd string of a kind ("publish", "key_accept", ...). */
const char *mc_request_name(mc_req_kind_t kind);

/* A list of byte strings that owns them; each item is NUL-terminated
   after its lens[i] bytes, so one that holds no NUL (every text field)
   reads as a C string. Start from {0}; mc_strs_free releases it. */
typedef struct {
    size_t count, cap;
    char **items;
    size_t *lens;
} mc_strs_t;

void mc_strs_add(mc_strs_t *l, const char *s, size_t len);
void mc_strs_free(mc_strs_t *l);

/* ---- decoded ------------------------------------------------------------ */

typedef struct {
    char *tgt; /* at most MC_TGT_MAX bytes */
    char tgt_type[16];
    char delimiter; /* ':' unless the request says otherwise */
} mc_req_target_t;

typedef struct {
    mc_req_target_t target;
    char fun[MC_FUN_MAX + 1];
    const msgpack_object *arg;   /* array, at most MC_ARGS_MAX items */
    const msgpack_object *kwarg; /* map of string keys, at most MC_ARGS_MAX */
    int64_t timeout;             /* seconds, 1 s to a year */
    char user[MC_USER_MAX + 1];  /* as claimed by the client */
} mc_req_publish_t;

typedef struct {
    char fun[MC_FUN_MAX + 1];     /* "" for any */
    char target[MC_GLOB_MAX + 1]; /* "" for any */
    int64_t limit;                /* 1 to MC_LIST_MAX */
    int64_t since_us;             /* 0 for any */
    char user[MC_USER_MAX + 1];   /* "" for any */
    char before[MC_JID_LEN + 1];  /* "" for any */
} mc_req_jobs_list_t;

typedef struct {
    char jid[MC_JID_LEN + 1];
} mc_req_job_t;

typedef struct {
    mc_strs_t ids; /* at most MC_KEY_GLOBS_MAX globs of MC_GLOB_MAX bytes */
    bool include_rejected, include_accepted;
} mc_req_keys_t;

typedef struct {
    char id[MC_ID_MAX + 1];
    unsigned char pub[32];
} mc_req_preseed_t;

typedef struct {
    mc_req_target_t target;
    mc_cp_manifest_t copy;
    int64_t timeout;            /* seconds, 1 s to MC_CP_TIMEOUT_MAX */
    char user[MC_USER_MAX + 1]; /* as claimed by the client */
} mc_req_cp_start_t;

typedef mc_chunk_fields_t mc_req_cp_chunk_t; /* data owned by the request's doc */

typedef struct {
    char user[MC_USER_MAX + 1]; /* a local user's name */
    const char *req;            /* the request made for the user, owned by the doc */
    size_t req_len;             /* at most MC_MAX_JOB_MSG */
} mc_req_as_t;

/* One request; the member of the union that kind selects is filled. */
typedef struct {
    mc_req_kind_t kind;
    union {
        mc_req_publish_t publish;     /* MC_REQ_PUBLISH */
        mc_req_target_t target;       /* MC_REQ_LIST_TARGETS */
        mc_req_jobs_list_t jobs_list; /* MC_REQ_JOBS_LIST */
        mc_req_job_t job;             /* MC_REQ_JOBS_SHOW, MC_REQ_JOBS_WAIT */
        mc_req_keys_t keys;           /* MC_REQ_KEY_ACCEPT, _REJECT, _DELETE */
        mc_req_preseed_t preseed;     /* MC_REQ_KEY_PRESEED */
        mc_req_cp_start_t cp_start;   /* MC_REQ_CP_START */
        mc_req_cp_chunk_t cp_chunk;   /* MC_REQ_CP_CHUNK */
        mc_req_as_t as;               /* MC_REQ_AS */
        int64_t events_read;          /* MC_REQ_EVENTS_READ */
    };
    mc_mp_doc_t doc; /* owns publish.arg and publish.kwarg */
} mc_request_t;

/* 0 with the whole request, or -1 with err naming the request and the
   field, and nothing to release. */
int mc_request_decode(mc_request_t *req, const void *buf, size_t len, mc_err_t *err);
void mc_request_done(mc_request_t *req);

/* ---- packing ------------------------------------------------------------ */

/* What a request targets; delimiter 0 stands for ':'. */
typedef struct {
    const char *tgt, *tgt_type;
    char delimiter;
} mc_req_target_spec_t;

typedef struct {
    mc_req_target_spec_t target;
    const char *fun;
    /* Command-line arguments, as Salt's CLI passes them: KEY=VALUE (KEY
       an identifier) becomes a keyword argument, the rest positional
       ones, all as strings. */
    int argc;
    char *const *argv;
    /* Or, when arg is not NULL, the arguments as values of any type (an
       array and a map, as mctl-api takes them in JSON); argv is then
       not read. */
    const msgpack_object *arg, *kwarg;
    int64_t timeout;
    const char *user;
} mc_req_publish_spec_t;

void mc_request_publish_pack(msgpack_sbuffer *sb, const mc_req_publish_spec_t *spec);
void mc_request_list_targets_pack(msgpack_sbuffer *sb, const mc_req_target_spec_t *target);
/* fun, target, user and before may be NULL: any. */
void mc_request_jobs_list_pack(msgpack_sbuffer *sb, const char *fun, const char *target,
                               const char *user, int64_t limit, int64_t since_us,
                               const char *before);
/* kind: MC_REQ_JOBS_SHOW or MC_REQ_JOBS_WAIT. */
void mc_request_job_pack(msgpack_sbuffer *sb, mc_req_kind_t kind, const char *jid);
/* kind: MC_REQ_KEY_ACCEPT, MC_REQ_KEY_REJECT or MC_REQ_KEY_DELETE. */
void mc_request_keys_pack(msgpack_sbuffer *sb, mc_req_kind_t kind, char *const *ids, size_t count,
                          bool include_rejected, bool include_accepted);
void mc_request_preseed_pack(msgpack_sbuffer *sb, const char *id, const char *pub_z85);
/* A request that is its kind alone: key_list, key_finger, master_key,
   minions, events. */
void mc_request_plain_pack(msgpack_sbuffer *sb, mc_req_kind_t kind);
void mc_request_events_read_pack(msgpack_sbuffer *sb, int64_t read);

void mc_request_cp_start_pack(msgpack_sbuffer *sb, const mc_req_target_spec_t *target,
                              const mc_cp_manifest_t *copy, int64_t timeout, const char *user);
/* The chunk's fields; the master tags it (chunk.h). */
void mc_request_cp_chunk_pack(msgpack_sbuffer *sb, const mc_chunk_spec_t *chunk);
/* The request packed in inner, made on behalf of user. */
void mc_request_as_pack(msgpack_sbuffer *sb, const char *user, const msgpack_sbuffer *inner);

/* ---- for the files of shared/proto/ ------------------------------------- */

/* A field that must be an array of at most max strings, each at most
   item_max bytes without a NUL; with ids, each must be a minion id. */
int mc_proto_strs(const msgpack_object *map, const char *key, size_t max, size_t item_max, bool ids,
                  mc_strs_t *out, mc_err_t *err);
/* A field that must be a map (absent: empty, when opt) of at most max
   entries from minion id to a string of at most val_max bytes: keys and
   values land in the same places of two lists. */
int mc_proto_id_map(const msgpack_object *map, const char *key, bool opt, size_t max,
                    size_t val_max, mc_strs_t *keys, mc_strs_t *vals, mc_err_t *err);
/* key: [items...] */
void mc_proto_pk_strs(msgpack_packer *pk, const char *key, const char *const *items, size_t n);

#endif
