/*  pg - what the master's PostgreSQL stores share (the job cache,
    jobcache_pg.c, and the key list, keystore_pg.c, each on a connection of
    its own): connecting with the limits the master's loop needs, and the
    schema, versioned in mctl_schema and migrated in place by whichever
    master comes first.

    Schema versions: 1 jobs, job_minions, returns; 2 adds minion_keys (the
    key list masters share); 3 adds jobs.expires (when a job's time is up,
    for jobs wait on a job another master published). A master refuses a
    database whose schema is newer than it knows: masters sharing one are
    upgraded together. */
#ifndef MC_PG_H
#define MC_PG_H

#include <libpq-fe.h>

#include "util.h"

#define PG_SCHEMA_VERSION 3

/* Connect with dsn, adding limits the DSN does not set itself (connect 5 s,
   TCP keepalives, a dead peer 10 s, statements 10 s, locks 5 s), UTF-8 on
   the wire; the database must be UTF-8. Then create or upgrade the schema.
   what names the store in errors ("job cache"); the session is named
   "mctl-master <session>" (application_name, as pg_stat_activity shows
   it) unless the DSN names it. NULL with err on failure. */
PGconn *pg_connect(const char *dsn, const char *what, const char *session, mc_err_t *err);
/* Create or upgrade the schema (pg_connect does it; again after a
   reconnect, in case the database was replaced). */
int pg_migrate(PGconn *conn, const char *what, mc_err_t *err);
/* Statements without parameters: 0, or -1 with err. */
int pg_exec(PGconn *conn, const char *sql, mc_err_t *err);
/* The connection's last error as one line, for a message. */
void pg_error(PGconn *conn, const char *what, char *out, size_t cap);

#endif
