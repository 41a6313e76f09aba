/*  audit - the master's append-only record of who asked it what.

    One JSON object per line for every request on the client socket (but
    the chunks of a copy that go through: its cp_start is the line), in
    the file audit_log (default LOGDIR/audit.log: the folder of log_file,
    or /var/log/mctl):

        {"time":"2026-12-02T05:40:01.123456Z","uid":1001,"user":"alice",
         "request":"publish","target":"web*","tgt_type":"glob",
         "function":"cmd.run","args":["uptime"],"kwargs":{},
         "decision":"allowed","jid":"20261202054001123456"}

    decision is "allowed" (the request was carried out), "refused" (not
    permitted to this user: reason says why) or "error" (not carried out:
    bad input, no such job, nothing matched; reason says why). The user
    and uid are the kernel's (SO_PEERCRED), never what the request claims.
    A request that does not decode is recorded as request "invalid". A
    request made on a user's behalf (request "as", mctl-api) is recorded
    as that user's, with "via" naming the local user that made it.

    The file is opened O_APPEND and each line is one write(2), so lines
    never interleave and a restart appends after what is there. SIGHUP
    reopens it (audit_reopen): logrotate renames the file, then signals
    the master; lines written in between land in the renamed file, none
    is lost. A line that cannot be written is counted and reported in the
    master's log (rate-limited), with the count when writing works again. */
#ifndef MC_AUDIT_H
#define MC_AUDIT_H

#include <msgpack.h>
#include <stdint.h>

#include "util.h"

typedef struct audit audit_t;

/* The audit log at path, created 0600 when missing (arguments may hold secrets). NULL with err when
   it cannot be opened. */
audit_t *audit_open(const char *path, mc_err_t *err);
void audit_close(audit_t **self);
/* Open the path again (after logrotate moved the file away). On failure
   the old file stays in use and err says why. */
int audit_reopen(audit_t *self, mc_err_t *err);

/* One record; NULL or "" fields are left out. */
typedef struct {
    int64_t time_us;
    bool no_uid; /* the kernel gave no credentials: "uid": null */
    unsigned long uid;
    const char *user;
    const char *via; /* who asked on the user's behalf (mctl-api's user), or NULL */
    const char *request;
    const char *target, *tgt_type, *function;
    const msgpack_object *args;   /* any value: written as JSON */
    const msgpack_object *kwargs; /* any value */
    char *const *arg_strs;        /* or args as a list of strings */
    size_t narg_strs;
    const char *decision;
    const char *reason;
    const char *jid;
} audit_rec_t;

/* Append one line. Never fails the request: a failure is logged. */
void audit_write(audit_t *self, const audit_rec_t *rec);

/* The default path: the folder of log_file (when set), else /var/log/mctl;
   then "/audit.log". Malloc'd. */
char *audit_default_path(const char *log_file);

#endif
