/*  proto/ret - a return, minion to master (and master to a waiting mctl).

    Pushed by the minion as ["ret"][return] after it is in the spool;
    the master stores it once per (jid, id) and forwards the same bytes to
    the clients waiting on the job. Fields: jid, id, fun, retcode (int32),
    success, return (any msgpack value), stdout and stderr (bytes, capped
    by the minion), started (microseconds since the epoch), duration_ms,
    truncated (whether output was cut at the cap). */
#ifndef MC_PROTO_RET_H
#define MC_PROTO_RET_H

#include "common.h"

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

/* What the packer takes: value is the return value, already packed. */
typedef struct {
    const char *jid, *id, *fun;
    int retcode;
    bool success;
    const void *value;
    size_t value_len;
    const char *out, *err; /* may be NULL: empty */
    size_t out_len, err_len;
    int64_t started, duration_ms;
    bool truncated;
} mc_ret_spec_t;

void mc_ret_pack(msgpack_sbuffer *sb, const mc_ret_spec_t *spec);
int mc_ret_decode(mc_ret_t *ret, const void *buf, size_t len, mc_err_t *err);
void mc_ret_done(mc_ret_t *ret);

/* A return for a job that could not run (started now, no output): the
   value is the message string. */
void mc_ret_pack_error(msgpack_sbuffer *sb, const char *jid, const char *id, const char *fun,
                       int retcode, const char *message);

#endif
