/*  proto/job - a job, master to minion.

    Sent by the master on the minion's topic of its XPUB as
    [m:<id>\0]["job"][sealed: signature, job] (keys.h seals and signs);
    the minion decodes it after opening the seal and checking the
    signature. Fields: jid (20 digits), tgt, tgt_type, fun, arg (array),
    kwarg (map of string keys), user (as the kernel named it to the
    master), ts (seconds since the epoch when published), timeout
    (seconds the function may run), and delimiter (one character between
    nested grain keys in the target, sent only when it is not ':'). */
#ifndef MC_PROTO_JOB_H
#define MC_PROTO_JOB_H

#include "common.h"

typedef struct {
    char jid[MC_JID_LEN + 1];
    char tgt_type[16];
    char *tgt;
    char fun[MC_FUN_MAX + 1];
    char user[MC_USER_MAX + 1];
    int64_t ts;
    int64_t timeout;
    char delimiter;
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

#endif
