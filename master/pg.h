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

/* How long the master's loop waits for its database. A server that hangs
   whole (stopped, swapped out, its disk frozen) neither answers nor
   refuses, and its kernel still acknowledges, so neither TCP keepalives
   nor the server's own statement_timeout end the wait, and every job
   would wait with the loop. Past a deadline the connection is closed and
   made again (pg_reset_step).
   - The key list, read every second, and key writes: 3 s a statement.
     The key list's read waits at most PG_KEYS_STEP_MS of a turn of the
     loop (pg_send and pg_step): an answer later than that is taken at
     the next turn, so a server that hangs costs the loop no more.
   - Pruning, once a minute in the job cache writer's thread (not the
     loop's): 3 s (the server ends it after 2.5 s itself), so that the
     writes are not held up long either.
   - The job cache's reads for a user (jobs list, show, wait, and the
     user of the job a jobs.kill names): 11 s, one
     more than the server's own statement_timeout, so that a slow read is
     ended by the server and the connection stays.
   - Connecting again: 5 s, by the master's clock (a connect_timeout in
     the DSN counts per address and may be 0); the key list's reconnect
     takes at most PG_RESET_STEP_MS of each turn of the loop. */
#define PG_KEYS_DEADLINE_MS    3000
#define PG_PRUNE_DEADLINE_MS   3000
#define PG_READS_DEADLINE_MS   11000
#define PG_CONNECT_DEADLINE_MS 5000
#define PG_RESET_STEP_MS       50
#define PG_KEYS_STEP_MS        20

/* Connect with dsn, adding limits the DSN does not set itself (connect 5 s,
   TCP keepalives, a dead peer 10 s, statements 10 s, locks 5 s), UTF-8 on
   the wire; the database must be UTF-8. Then create or upgrade the schema
   (before the loop runs: no deadline). what names the store in errors
   ("job cache"); the session is named "mctl-master <session>"
   (application_name, as pg_stat_activity shows it) unless the DSN names
   it. NULL with err on failure. */
PGconn *pg_connect(const char *dsn, const char *what, const char *session, mc_err_t *err);
/* Create or upgrade the schema (pg_connect does it; again after a
   reconnect, in case the database was replaced). */
int pg_migrate(PGconn *conn, int deadline_ms, const char *what, mc_err_t *err);
/* Every statement of the master's: PQexecParams (PQexec, several
   statements allowed, when n < 0), waiting at most deadline_ms for the
   whole answer (no limit when 0). Past it, the connection is closed
   (PQstatus says CONNECTION_BAD, and the store connects again after its
   backoff), the result is NULL and pg_error says so. The statement is
   sent whole before the wait (blocking): the master's are small. */
PGresult *pg_query(PGconn *conn, int deadline_ms, const char *sql, int n, const char *const *values,
                   const int *lengths, const int *formats, int binary);
/* A statement that does not hold the loop: pg_send sends it (blocking,
   as pg_query), then each pg_step waits at most budget_ms for its answer:
   1 with *out as pg_query would return it, 0 while the answer is still to
   come (call again later: the connection carries nothing else meanwhile),
   -1 when deadline_ms have passed since it was sent (the connection is
   closed, as by pg_query) or it could not be sent. */
typedef struct {
    int64_t since_ms; /* 0: none under way */
    PGresult *keep;   /* the answer so far: the first error, else the last result */
    bool broken;
} pg_pending_t;
int pg_send(PGconn *conn, pg_pending_t *p, const char *sql, int n, const char *const *values,
            const int *lengths, const int *formats, int binary);
int pg_step(PGconn *conn, pg_pending_t *p, int budget_ms, int deadline_ms, PGresult **out);
/* A statement under way given up on (the connection is closing). */
void pg_pending_drop(pg_pending_t *p);
/* A reconnect that does not hold the loop: pg_reset_step starts one
   (PQresetStart) when none is under way, then advances it for at most
   budget_ms. 1 when connected, 0 while still under way (call again
   later), -1 when it failed or has taken deadline_ms since it started
   (pg_error says why). Starts zeroed. */
typedef struct {
    int64_t since_ms;               /* 0: none under way */
    PostgresPollingStatusType wait; /* what the socket must be ready for next */
} pg_reset_t;
int pg_reset_step(PGconn *conn, pg_reset_t *r, int budget_ms, int deadline_ms);
/* Statements without parameters: 0, or -1 with err. */
int pg_exec(PGconn *conn, int deadline_ms, const char *sql, mc_err_t *err);
/* The connection's last error as one line, for a message. */
void pg_error(PGconn *conn, const char *what, char *out, size_t cap);

#endif
