/*  proto/reply_jobs - the master's answers about its job history, master
    to mctl (the reply frame, the refusal and the decoders' handling of
    it are reply.h's).

      jobs_list  jobs: newest first, at most MC_JOBS_LIMIT_MAX, each {jid,
                 fun, tgt (its first MC_JOBS_LIST_TGT_MAX characters),
                 tgt_type, user, ts (microseconds since the epoch when
                 published),
                 minions (how many the job was meant for), returned (how
                 many of them returned), failed (how many of those
                 returned a failure)}; behind (sent only when true):
                 the master cannot write its job cache now, so the newest
                 jobs and returns are not in the list yet
      jobs_show  job: {jid, fun, tgt, tgt_type, user, ts, arg (array, or
                 nil when not stored), kwarg (map, or nil)}, minions (the
                 ids it was meant for), stored (how many returns the
                 history holds), unsent (a map from id to why the job was
                 not sent there). The stored returns follow the reply, one
                 "ret" message each, the bytes its minion sent (ret.h):
                 however many and large they are, no one message carries
                 them all.
      jobs_wait  the same, and remaining_ms: how long the job may still
                 run (0 when it is over). After the stored returns, those
                 still to come follow as "ret" messages, its acks as "ack"
                 messages; a job the master follows in the history
                 (another master's, or one from before a restart) also
                 sends ["tick"][] each second with nothing new, which the
                 client ignores (the master sees so that it has gone). */
#ifndef MC_PROTO_REPLY_JOBS_H
#define MC_PROTO_REPLY_JOBS_H

#include "reply.h"

/* ---- jobs_list -------------------------------------------------------------- */

typedef struct {
    char jid[MC_JID_LEN + 1];
    char fun[MC_FUN_MAX + 1];
    char *tgt; /* at most MC_TGT_MAX bytes */
    char tgt_type[16];
    char user[MC_USER_MAX + 1];
    int64_t ts_us;
    int64_t minions, returned, failed;
} mc_job_summary_t;

/* Owns its jobs and their tgt. Start from {0}. */
typedef struct {
    size_t count, cap;
    mc_job_summary_t *jobs;
    bool behind; /* the job cache cannot be written now: newer jobs and returns wait */
} mc_reply_jobs_list_t;

/* A new, zeroed summary at the end of the list, for the master to fill
   (tgt malloc'd: the list frees it). */
mc_job_summary_t *mc_reply_jobs_list_add(mc_reply_jobs_list_t *l);
void mc_reply_jobs_list_pack(msgpack_sbuffer *sb, const mc_reply_jobs_list_t *l);
int mc_reply_jobs_list_decode(mc_reply_jobs_list_t *l, const void *buf, size_t len, mc_err_t *err);
void mc_reply_jobs_list_done(mc_reply_jobs_list_t *l);

/* ---- jobs_show and jobs_wait ------------------------------------------------ */

/* One job and what became of it. Owns everything in it; start from {0}
   and release with mc_reply_job_done. */
typedef struct {
    char jid[MC_JID_LEN + 1];
    char fun[MC_FUN_MAX + 1];
    char *tgt; /* at most MC_TGT_MAX bytes */
    char tgt_type[16];
    char user[MC_USER_MAX + 1];
    int64_t ts_us;
    /* Packed msgpack: an array and a map of at most MC_ARGS_MAX entries,
       or NULL (nil on the wire) when the job was stored without. The
       packer sends nil for anything else. */
    char *arg, *kwarg;
    size_t arg_len, kwarg_len;
    mc_strs_t minions;    /* minion ids */
    int64_t stored;       /* returns stored, each sent next as a "ret" message */
    mc_strs_t unsent;     /* ids the job was not sent to */
    mc_strs_t unsent_why; /* and why, in the same places */
    int64_t remaining_ms; /* jobs_wait only */
} mc_reply_job_t;

void mc_reply_jobs_show_pack(msgpack_sbuffer *sb, const mc_reply_job_t *job);
void mc_reply_jobs_wait_pack(msgpack_sbuffer *sb, const mc_reply_job_t *job);
int mc_reply_jobs_show_decode(mc_reply_job_t *job, const void *buf, size_t len, mc_err_t *err);
int mc_reply_jobs_wait_decode(mc_reply_job_t *job, const void *buf, size_t len, mc_err_t *err);
void mc_reply_job_done(mc_reply_job_t *job);

#endif
