/*  pg - see pg.h. */
#include "pg.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

/* Any number that is mctl's: the lock masters take to create the schema. */
#define PG_SCHEMA_LOCK 4505

/* The connection pg_query last gave up on, and after how long: its next
   error is that, not what libpq says of the socket closed under it. Per
   thread, as each connection is used by one thread. */
static __thread const PGconn *gave_up;
static __thread int gave_up_after_ms;

void pg_error(PGconn *conn, const char *what, char *out, size_t cap)
{
    if (conn && conn == gave_up) {
        snprintf(out, cap,
                 "%s: no answer within %d ms (a server that hangs?); the connection is closed "
                 "and made again later",
                 what, gave_up_after_ms);
        gave_up = NULL; /* said once: a later error is libpq's */
        return;
    }
    const char *msg = conn ? PQerrorMessage(conn) : "no connection";
    snprintf(out, cap, "%s%s%s", what, *msg ? ": " : "", msg);
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
}

/* Closes the connection under libpq (it reads the end of the stream and
   marks it broken), then takes what is left of the statement. */
static void give_up(PGconn *conn, int deadline_ms)
{
    shutdown(PQsocket(conn), SHUT_RDWR);
    PGresult *r;
    while ((r = PQgetResult(conn)))
        PQclear(r);
    /* What was buffered is read, then the end: the connection is broken
       now, not at the next statement. */
    for (int i = 0; i < 8 && PQstatus(conn) == CONNECTION_OK && PQconsumeInput(conn); i++)
        ;
    gave_up = conn;
    gave_up_after_ms = deadline_ms;
}

int pg_send(PGconn *conn, pg_pending_t *p, const char *sql, int n, const char *const *values,
            const int *lengths, const int *formats, int binary)
{
    if (gave_up == conn)
        gave_up = NULL;
    *p = (pg_pending_t){0};
    int sent = n < 0 ? PQsendQuery(conn, sql)
                     : PQsendQueryParams(conn, sql, n, NULL, values, lengths, formats, binary);
    if (!sent)
        return -1;
    p->since_ms = mc_mono_ms();
    return 0;
}

void pg_pending_drop(pg_pending_t *p)
{
    PQclear(p->keep);
    *p = (pg_pending_t){0};
}

int pg_step(PGconn *conn, pg_pending_t *p, int budget_ms, int deadline_ms, PGresult **out)
{
    *out = NULL;
    if (!p->since_ms)
        return -1;
    int64_t end = p->since_ms + deadline_ms, now = mc_mono_ms();
    int64_t until = now + budget_ms < end ? now + budget_ms : end;
    for (;;) {
        /* As PQexec: the first error, else the last result. */
        while (p->broken || !PQisBusy(conn)) {
            PGresult *r = PQgetResult(conn);
            if (!r) {
                *out = p->keep;
                *p = (pg_pending_t){0};
                return 1;
            }
            if (p->keep && PQresultStatus(p->keep) == PGRES_FATAL_ERROR) {
                PQclear(r);
            } else {
                PQclear(p->keep);
                p->keep = r;
            }
        }
        int64_t left = until - mc_mono_ms();
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        int rc = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            if (rc == 0 && mc_mono_ms() < end)
                return 0;
            pg_pending_drop(p);
            give_up(conn, deadline_ms);
            return -1;
        }
        if (!PQconsumeInput(conn))
            p->broken = true; /* PQgetResult says why, without waiting */
    }
}

PGresult *pg_query(PGconn *conn, int deadline_ms, const char *sql, int n, const char *const *values,
                   const int *lengths, const int *formats, int binary)
{
    if (gave_up == conn)
        gave_up = NULL;
    if (deadline_ms <= 0)
        return n < 0 ? PQexec(conn, sql)
                     : PQexecParams(conn, sql, n, NULL, values, lengths, formats, binary);
    pg_pending_t p;
    if (pg_send(conn, &p, sql, n, values, lengths, formats, binary) != 0)
        return NULL;
    PGresult *r;
    while (pg_step(conn, &p, deadline_ms, deadline_ms, &r) == 0)
        ;
    return r;
}

int pg_reset_step(PGconn *conn, pg_reset_t *r, int budget_ms, int deadline_ms)
{
    int64_t now = mc_mono_ms();
    if (gave_up == conn)
        gave_up = NULL;
    if (!r->since_ms) {
        if (!PQresetStart(conn))
            return -1;
        r->since_ms = now;
        r->wait = PGRES_POLLING_WRITING; /* as libpq says to begin */
    }
    int64_t end = r->since_ms + deadline_ms, until = now + budget_ms < end ? now + budget_ms : end;
    for (;;) {
        if (r->wait == PGRES_POLLING_OK || r->wait == PGRES_POLLING_FAILED) {
            r->since_ms = 0;
            return r->wait == PGRES_POLLING_OK ? 1 : -1;
        }
        int64_t left = until - mc_mono_ms();
        struct pollfd p = {.fd = PQsocket(conn),
                           .events = r->wait == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        int rc = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc > 0) {
            r->wait = PQresetPoll(conn);
            continue;
        }
        if (mc_mono_ms() < end)
            return 0;
        /* Left half-way: the next PQresetStart closes it. */
        r->since_ms = 0;
        gave_up = conn;
        gave_up_after_ms = deadline_ms;
        return -1;
    }
}

int pg_exec(PGconn *conn, int deadline_ms, const char *sql, mc_err_t *err)
{
    PGresult *r = pg_query(conn, deadline_ms, sql, -1, NULL, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    PQclear(r);
    if (rc != 0) {
        char msg[512];
        pg_error(conn, "PostgreSQL", msg, sizeof msg);
        mc_err_set(err, "%s", msg);
    }
    return rc;
}

static const char *schema_v1 =
    "CREATE TABLE jobs(jid text COLLATE \"C\" PRIMARY KEY, fun text COLLATE \"C\" NOT NULL,"
    "  tgt text COLLATE \"C\" NOT NULL, tgt_type text COLLATE \"C\" NOT NULL,"
    "  \"user\" text COLLATE \"C\" NOT NULL, ts bigint NOT NULL, arg bytea, kwarg bytea);"
    "CREATE INDEX jobs_ts ON jobs(ts);"
    "CREATE TABLE job_minions(jid text COLLATE \"C\" NOT NULL, id text COLLATE \"C\" NOT NULL,"
    "  unsent text, PRIMARY KEY(jid, id));"
    "CREATE TABLE returns(jid text COLLATE \"C\" NOT NULL, id text COLLATE \"C\" NOT NULL,"
    "  retcode bigint NOT NULL, success boolean NOT NULL, ret bytea NOT NULL,"
    "  PRIMARY KEY(jid, id));";

/* Version 2: the minions' keys. One row per id for its key (denied false)
   and one for a second key it presented (denied true); a deleted key
   stays as state 'gone', so that other masters see the deletion. seq
   orders the changes (writers take a lock, so seq order is commit order)
   and is what masters poll for. A key serves one id. */
static const char *schema_v2 =
    "CREATE SEQUENCE minion_keys_seq;"
    "CREATE TABLE minion_keys(id text COLLATE \"C\" NOT NULL, denied boolean NOT NULL,"
    "  state text COLLATE \"C\" NOT NULL"
    "    CHECK (state IN ('accepted', 'pending', 'rejected', 'denied', 'gone')),"
    "  pub bytea NOT NULL CHECK (length(pub) = 32), seq bigint NOT NULL,"
    "  PRIMARY KEY(id, denied));"
    "CREATE INDEX minion_keys_seq_i ON minion_keys(seq);"
    "CREATE UNIQUE INDEX minion_keys_pub ON minion_keys(pub) WHERE NOT denied AND state <> "
    "'gone';";

/* Version 3: when each job's time is up (wall clock, µs; NULL: not
   known), so that any master can follow a job to its end. */
static const char *schema_v3 = "ALTER TABLE jobs ADD COLUMN expires bigint;";

int pg_migrate(PGconn *conn, int deadline_ms, const char *what, mc_err_t *err)
{
    char lock[64];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%d)", PG_SCHEMA_LOCK);
    if (pg_exec(conn, deadline_ms, "BEGIN ISOLATION LEVEL READ COMMITTED", err) ||
        pg_exec(conn, deadline_ms, lock, err) ||
        pg_exec(conn, deadline_ms,
                "CREATE TABLE IF NOT EXISTS mctl_schema(version integer NOT NULL)", err))
        goto fail;
    PGresult *r = pg_query(conn, deadline_ms, "SELECT max(version) FROM mctl_schema", -1, NULL,
                           NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char msg[512];
        pg_error(conn, "PostgreSQL", msg, sizeof msg);
        mc_err_set(err, "%s", msg);
        PQclear(r);
        goto fail;
    }
    int version = PQgetisnull(r, 0, 0) ? 0 : atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (version > PG_SCHEMA_VERSION) {
        mc_err_set(err, "the database's schema version %d is newer than this master knows (%d)",
                   version, PG_SCHEMA_VERSION);
        goto fail;
    }
    if (version < 1 && (pg_exec(conn, deadline_ms, schema_v1, err) ||
                        pg_exec(conn, deadline_ms, "INSERT INTO mctl_schema VALUES (1)", err)))
        goto fail;
    if (version < 2 && (pg_exec(conn, deadline_ms, schema_v2, err) ||
                        pg_exec(conn, deadline_ms, "INSERT INTO mctl_schema VALUES (2)", err)))
        goto fail;
    if (version < 3 && (pg_exec(conn, deadline_ms, schema_v3, err) ||
                        pg_exec(conn, deadline_ms, "INSERT INTO mctl_schema VALUES (3)", err)))
        goto fail;
    if (pg_exec(conn, deadline_ms, "COMMIT", err))
        goto fail;
    if (version < PG_SCHEMA_VERSION)
        mc_info("%s (PostgreSQL): %s schema version %d", what,
                version ? "upgraded the database to" : "created", PG_SCHEMA_VERSION);
    return 0;
fail:;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    mc_err_set(err, "%s (PostgreSQL): %s", what, msg);
    PGresult *rb = pg_query(conn, deadline_ms, "ROLLBACK", -1, NULL, NULL, NULL, 0);
    PQclear(rb);
    return -1;
}

/* The server's notices ("already exists, skipping") into the log, not
   onto stderr. */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    mc_debug("PostgreSQL: %.*s", (int)strcspn(message, "\n"), message);
}

/* Limits the master's loop needs, which the DSN may set otherwise: how
   long to wait for a connection, a dead peer, a statement and a lock. */
static const char *const default_keys[] = {"application_name", "connect_timeout",  "keepalives",
                                           "keepalives_idle",  "tcp_user_timeout", "options",
                                           "client_encoding",  "dbname",           NULL};

PGconn *pg_connect(const char *dsn, const char *what, const char *session, mc_err_t *err)
{
    char name[64];
    snprintf(name, sizeof name, "mctl-master %s", session);
    /* The DSN comes last (dbname is expanded): what it says wins. */
    const char *values[] = {
        name, "5", "1", "10", "10000",
        /* The server's side too: a session whose master vanished ends
           within seconds, and with it the locks it held. */
        "-c statement_timeout=10000 -c lock_timeout=5000 -c tcp_keepalives_idle=10 "
        "-c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 -c tcp_user_timeout=10000",
        "UTF8", dsn, NULL};
    PGconn *conn = PQconnectdbParams(default_keys, values, 1);
    PQsetNoticeProcessor(conn, notice_to_log, NULL);
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        pg_error(conn, "cannot connect", msg, sizeof msg);
        mc_err_set(err, "%s (PostgreSQL): %s", what, msg);
        PQfinish(conn);
        return NULL;
    }
    /* Text is stored as UTF-8: another server encoding could refuse some
       of it and hold the queue up. */
    const char *enc = PQparameterStatus(conn, "server_encoding");
    if (!enc || strcmp(enc, "UTF8") != 0) {
        mc_err_set(err,
                   "%s (PostgreSQL): the database's encoding is %s; create it with "
                   "ENCODING 'UTF8'",
                   what, enc ? enc : "unknown");
        PQfinish(conn);
        return NULL;
    }
    gave_up = NULL; /* a new connection may have an old one's address */
    if (pg_migrate(conn, 0, what, err) != 0) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}
