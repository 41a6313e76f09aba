/*  jobcache_pg - the job cache in PostgreSQL, for masters that share one
    history (master_job_cache: postgres, postgres_dsn): see jobcache.h and
    jobcache_store.h.

    The tables are SQLite's (jobs, job_minions, returns), in the schema
    pg.h creates and upgrades (again after every reconnect). Every insert is ON CONFLICT DO NOTHING,
   so a job or a return that two masters both receive is stored once. Text that is not UTF-8 (or
   holds a NUL) is stored with U+FFFD in place of the bad bytes; the messages themselves are kept
   whole, as bytea.

    The connection gets pg.h's limits and must be UTF-8. The reads are the
    reader thread's (clients' reads of the history, and a job's user for
    jobs.kill): each waits at most PG_READS_DEADLINE_MS (connecting again
    PG_CONNECT_DEADLINE_MS); the writer's thread waits as long as the
    server takes (its queue says when it hangs), but prunes within
    PG_PRUNE_DEADLINE_MS. Pruning is one statement, by one master at a
    time (an advisory lock).

    The job cache opens two connections, each a thread's: the writer's
    (jobcache_writer.c) for the writes and pruning, the reader's
    (jobcache_reader.c) for the reads. The loop has none, so a database
    that answers slowly never slows it. When a connection breaks, its next
    call reconnects: at once, then after 1, 2, 4 ... up to 30 s between
    attempts, while the writes wait in memory. */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "jobcache_store.h"
#include "log.h"
#include "pg.h"

#define PG_RETRY_MS      1000
#define PG_RETRY_MAX_MS  30000
#define PRUNE_BATCH_MAX  1000
#define QUICK_FAILURE_MS 100 /* a reconnect that failed this fast held nothing up */

typedef struct {
    PGconn *conn;
    int deadline_ms; /* on a connection for reads; none for the writer's */
    pg_reset_t reset;
    int prune_batch; /* jobs a prune deletes: halved while it fails, up to 1000 */
    char err[512];
    int64_t next_try_ms; /* no reconnecting before (after a failure) */
    int64_t backoff_ms;  /* the wait after the next failure */
    bool recheck;        /* the schema is to be checked (after a reconnect) */
} store_t;

static void set_err(store_t *self, const char *what)
{
    pg_error(self->conn, what, self->err, sizeof self->err);
}

/* A statement whose result only says whether it worked. */
static int run(store_t *self, const char *sql, int n, const char *const *values, const int *lengths,
               const int *formats, char *tuples, size_t cap)
{
    PGresult *r = pg_query(self->conn, self->deadline_ms, sql, n, values, lengths, formats, 0);
    ExecStatusType st = PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        set_err(self, "PostgreSQL");
    else if (tuples)
        snprintf(tuples, cap, "%s", PQcmdTuples(r));
    PQclear(r);
    return rc;
}

/* Statements without parameters (several at once, for the schema). */
static int run0(store_t *self, const char *sql)
{
    PGresult *r = pg_query(self->conn, self->deadline_ms, sql, -1, NULL, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        set_err(self, "PostgreSQL");
    PQclear(r);
    return rc;
}

static void pg_close(void *p)
{
    store_t *self = p;
    if (!self)
        return;
    PQfinish(self->conn);
    free(self);
}

void *jobcache_pg_open(const char *dsn, jobcache_handle_t which, mc_err_t *err)
{
    /* The writer has a thread of its own, and a queue that says when it
       hangs; the reads have their deadline. */
    bool writer = which == JOBCACHE_WRITER;
    int deadline_ms = writer ? 0 : PG_READS_DEADLINE_MS;
    PGconn *conn = pg_connect(dsn, "job cache",
                              writer ? "job cache (writes)" : "job cache (clients' reads)", err);
    if (!conn)
        return NULL;
    store_t *self = mc_calloc(1, sizeof *self);
    self->conn = conn;
    self->deadline_ms = deadline_ms;
    self->prune_batch = PRUNE_BATCH_MAX;
    if (writer) /* once: it is opened first */
        mc_info("job cache: PostgreSQL database %s on %s", PQdb(self->conn),
                PQhost(self->conn) ? PQhost(self->conn) : "the default socket");
    return self;
}

static const char *pg_errmsg(void *p)
{
    return ((store_t *)p)->err;
}

/* Another attempt after the backoff. */
static int retry_later(store_t *self)
{
    self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : PG_RETRY_MS;
    if (self->backoff_ms > PG_RETRY_MAX_MS)
        self->backoff_ms = PG_RETRY_MAX_MS;
    self->next_try_ms = mc_mono_ms() + self->backoff_ms;
    return -1;
}

/* The connection, made again when it broke (no sooner than the backoff
   says), with the schema checked again: the database may have been
   replaced while the master was away. */
static int connected(store_t *self)
{
    if (PQstatus(self->conn) == CONNECTION_OK && !self->recheck)
        return 0;
    int64_t now = mc_mono_ms();
    if (now < self->next_try_ms) {
        set_err(self, "the database is not reachable");
        return -1;
    }
    if (PQstatus(self->conn) != CONNECTION_OK) {
        if (!self->deadline_ms)
            PQreset(self->conn);
        else
            pg_reset_step(self->conn, &self->reset, PG_CONNECT_DEADLINE_MS, PG_CONNECT_DEADLINE_MS);
        if (PQstatus(self->conn) != CONNECTION_OK) {
            set_err(self, "cannot reconnect");
            /* The reads back off only from attempts that took long
               (they held up the reads behind them, or the loop for a
               job's user): a refusal costs nothing, and the next jobs
               show after the server is back works. */
            if (self->deadline_ms && mc_mono_ms() - now < QUICK_FAILURE_MS)
                return -1;
            return retry_later(self);
        }
    }
    mc_err_t err;
    if (pg_migrate(self->conn, self->deadline_ms, "job cache", &err) != 0) {
        snprintf(self->err, sizeof self->err, "%s", err.msg);
        self->recheck = true;
        return retry_later(self);
    }
    self->recheck = false;
    self->backoff_ms = 0;
    mc_info("job cache (PostgreSQL): connected again");
    return 0;
}

static int pg_begin(void *p)
{
    store_t *self = p;
    return connected(self) != 0 ? -1 : run0(self, "BEGIN ISOLATION LEVEL READ COMMITTED");
}

static int pg_commit(void *p)
{
    return run0(p, "COMMIT");
}

static void pg_rollback(void *p)
{
    store_t *self = p;
    if (PQstatus(self->conn) == CONNECTION_OK) {
        PGresult *r = pg_query(self->conn, self->deadline_ms, "ROLLBACK", -1, NULL, NULL, NULL, 0);
        PQclear(r);
    }
}

/* Text PostgreSQL takes: valid UTF-8 without NUL (bad bytes become
   U+FFFD). Returns s itself when it is fine, else a copy in *own. */
static const char *pg_text(const char *s, size_t len, char **own)
{
    *own = NULL;
    if (mc_utf8_valid(s, len) && strlen(s) == len)
        return s;
    char *out = mc_malloc(len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xc0)
            n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c && i + n <= len && mc_utf8_valid(s + i, n)) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    *own = out;
    return out;
}

/* {"a","b",NULL}: a text[] literal of the items (NULL items as NULL). */
static char *array_literal(char *const *items, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fputc('{', f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        if (!items[i]) {
            fputs("NULL", f);
            continue;
        }
        char *own;
        const char *t = pg_text(items[i], strlen(items[i]), &own);
        fputc('"', f);
        for (const char *c = t; *c; c++) {
            if (*c == '"' || *c == '\\')
                fputc('\\', f);
            fputc(*c, f);
        }
        fputc('"', f);
        free(own);
    }
    fputc('}', f);
    fclose(f);
    return buf;
}

static int write_job(store_t *self, const jobcache_item_t *it)
{
    char *own[4];
    char ts[24], expires[24];
    snprintf(ts, sizeof ts, "%lld", (long long)it->ts_us);
    snprintf(expires, sizeof expires, "%lld", (long long)it->expires_us);
    const char *values[9] = {it->jid,
                             pg_text(it->fun, strlen(it->fun), &own[0]),
                             pg_text(it->tgt, strlen(it->tgt), &own[1]),
                             pg_text(it->tgt_type, strlen(it->tgt_type), &own[2]),
                             pg_text(it->user, strlen(it->user), &own[3]),
                             ts,
                             it->arg,
                             it->kwarg,
                             it->expires_us ? expires : NULL};
    int lengths[9] = {0, 0, 0, 0, 0, 0, (int)it->arg_len, (int)it->kwarg_len, 0};
    int formats[9] = {0, 0, 0, 0, 0, 0, 1, 1, 0};
    int rc = run(self,
                 "INSERT INTO jobs(jid, fun, tgt, tgt_type, \"user\", ts, arg, kwarg, expires) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                 9, values, lengths, formats, NULL, 0);
    for (int i = 0; i < 4; i++)
        free(own[i]);
    if (rc != 0)
        return -1;
    char *ids = array_literal(it->ids, it->n), *unsent = array_literal(it->unsent, it->n);
    const char *mv[3] = {it->jid, ids, unsent};
    rc = run(self,
             "INSERT INTO job_minions(jid, id, unsent) SELECT $1, u.id, u.unsent FROM "
             "unnest($2::text[], $3::text[]) AS u(id, unsent) ON CONFLICT DO NOTHING",
             3, mv, NULL, NULL, NULL, 0);
    free(ids);
    free(unsent);
    return rc;
}

static int pg_write(void *p, const jobcache_item_t *it)
{
    store_t *self = p;
    if (it->is_job)
        return write_job(self, it);
    char retcode[24], tuples[24] = "";
    snprintf(retcode, sizeof retcode, "%lld", (long long)it->retcode);
    const char *values[5] = {it->jid, it->id, retcode, it->success ? "t" : "f", it->raw};
    int lengths[5] = {0, 0, 0, 0, (int)it->raw_len};
    int formats[5] = {0, 0, 0, 0, 1};
    if (run(self,
            "INSERT INTO returns(jid, id, retcode, success, ret) SELECT $1, $2, $3, $4, $5 "
            "WHERE EXISTS (SELECT 1 FROM job_minions WHERE jid = $1 AND id = $2) "
            "ON CONFLICT DO NOTHING",
            5, values, lengths, formats, tuples, sizeof tuples) != 0)
        return -1;
    if (strcmp(tuples, "0") != 0)
        return 0;
    /* A duplicate (another master stored it) is done with; a return for
       a job the database does not have for this minion (yet: its master
       may still be writing it) is not confirmed, so that it comes again. */
    const char *key[2] = {it->jid, it->id};
    PGresult *r =
        pg_query(self->conn, self->deadline_ms, "SELECT 1 FROM returns WHERE jid = $1 AND id = $2",
                 2, key, NULL, NULL, 0);
    int rc = PQresultStatus(r) != PGRES_TUPLES_OK ? -1 : PQntuples(r) ? 0 : 1;
    if (rc < 0)
        set_err(self, "PostgreSQL");
    PQclear(r);
    return rc;
}

/* A query's result, or NULL with err. */
static PGresult *query(store_t *self, const char *sql, int n, const char *const *values,
                       mc_err_t *err)
{
    if (connected(self) != 0) {
        mc_err_set(err, "job cache (PostgreSQL): %s", self->err);
        return NULL;
    }
    PGresult *r = pg_query(self->conn, self->deadline_ms, sql, n, values, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(self, "PostgreSQL");
        mc_err_set(err, "job cache (PostgreSQL): %s", self->err);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* A glob (*, ?, [...]) as an anchored POSIX regular expression. */
static char *glob_regex(const char *g)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fputc('^', f);
    for (const char *c = g; *c; c++) {
        if (*c == '*') {
            fputs(".*", f);
        } else if (*c == '?') {
            fputc('.', f);
        } else if (*c == '[') {
            /* A bracket as SQLite's GLOB reads it: ^ negates, a ] right
               after the opening (and the ^) is a member. */
            bool neg = c[1] == '^';
            const char *first = c + 1 + neg;
            const char *end = strchr(first + (*first == ']'), ']');
            if (!end) {
                fputs("\\[", f); /* no closing ]: a plain [ */
                continue;
            }
            fputs(neg ? "[^" : "[", f);
            for (const char *m = first; m < end; m++) {
                if (*m == '\\' || *m == '[' || *m == ']' || *m == '^')
                    fputc('\\', f);
                fputc(*m, f);
            }
            fputc(']', f);
            c = end;
        } else {
            if (strchr("\\^$.|+()[]{}", *c))
                fputc('\\', f);
            fputc(*c, f);
        }
    }
    fputc('$', f);
    fclose(f);
    return buf;
}

static int pg_list(void *p, const jobcache_query_t *q, mc_reply_jobs_list_t *out, mc_err_t *err)
{
    store_t *self = p;
    char since[24], limit[16], tgt_max[16];
    snprintf(since, sizeof since, "%lld", (long long)q->since_us);
    snprintf(limit, sizeof limit, "%d", q->limit > 0 ? q->limit : 50);
    snprintf(tgt_max, sizeof tgt_max, "%d", MC_JOBS_LIST_TGT_MAX);
    char *fun = q->fun ? glob_regex(q->fun) : NULL,
         *target = q->target ? glob_regex(q->target) : NULL;
    const char *values[7] = {fun, target, since, limit, tgt_max, q->user, q->before};
    PGresult *r = query(
        self,
        "SELECT j.jid, j.fun, substr(j.tgt, 1, $5::int), j.tgt_type, j.\"user\", j.ts,"
        " (SELECT count(*) FROM job_minions m WHERE m.jid = j.jid),"
        " (SELECT count(*) FROM returns r WHERE r.jid = j.jid),"
        " (SELECT count(*) FROM returns r WHERE r.jid = j.jid AND NOT r.success)"
        " FROM jobs j WHERE ($1::text IS NULL OR j.fun ~ $1) AND ($2::text IS NULL OR j.tgt ~ $2)"
        " AND j.ts >= $3::bigint AND ($6::text IS NULL OR j.\"user\" = $6)"
        " AND ($7::text IS NULL OR j.jid < $7) ORDER BY j.jid DESC LIMIT $4::int",
        7, values, err);
    free(fun);
    free(target);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        mc_job_summary_t *j = mc_reply_jobs_list_add(out);
        snprintf(j->jid, sizeof j->jid, "%s", PQgetvalue(r, i, 0));
        snprintf(j->fun, sizeof j->fun, "%s", PQgetvalue(r, i, 1));
        j->tgt = mc_strdup(PQgetvalue(r, i, 2));
        snprintf(j->tgt_type, sizeof j->tgt_type, "%s", PQgetvalue(r, i, 3));
        snprintf(j->user, sizeof j->user, "%s", PQgetvalue(r, i, 4));
        j->ts_us = strtoll(PQgetvalue(r, i, 5), NULL, 10);
        j->minions = strtoll(PQgetvalue(r, i, 6), NULL, 10);
        j->returned = strtoll(PQgetvalue(r, i, 7), NULL, 10);
        j->failed = strtoll(PQgetvalue(r, i, 8), NULL, 10);
    }
    PQclear(r);
    return 0;
}

/* A bytea column (text format) copied, or NULL when null or empty. */
static char *bytea(PGresult *r, int row, int col, size_t *len)
{
    *len = 0;
    if (PQgetisnull(r, row, col))
        return NULL;
    size_t n;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
    if (!b || n == 0) {
        PQfreemem(b);
        return NULL;
    }
    char *copy = mc_malloc(n);
    memcpy(copy, b, n);
    PQfreemem(b);
    *len = n;
    return copy;
}

static int pg_show(void *p, const char *jid, mc_reply_job_t *out, mc_strs_t *returns, mc_err_t *err)
{
    store_t *self = p;
    const char *values[1] = {jid};
    PGresult *r =
        query(self, "SELECT fun, tgt, tgt_type, \"user\", ts, arg, kwarg FROM jobs WHERE jid = $1",
              1, values, err);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        mc_err_set(err, "no job %s in the job cache", jid);
        return -1;
    }
    snprintf(out->jid, sizeof out->jid, "%s", jid);
    snprintf(out->fun, sizeof out->fun, "%s", PQgetvalue(r, 0, 0));
    out->tgt = mc_strdup(PQgetvalue(r, 0, 1));
    snprintf(out->tgt_type, sizeof out->tgt_type, "%s", PQgetvalue(r, 0, 2));
    snprintf(out->user, sizeof out->user, "%s", PQgetvalue(r, 0, 3));
    out->ts_us = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    out->arg = bytea(r, 0, 5, &out->arg_len);
    out->kwarg = bytea(r, 0, 6, &out->kwarg_len);
    PQclear(r);
    r = query(self, "SELECT id, unsent FROM job_minions WHERE jid = $1 ORDER BY id", 1, values,
              err);
    if (!r)
        goto fail;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        mc_strs_add(&out->minions, id, strlen(id));
        if (!PQgetisnull(r, i, 1)) {
            mc_strs_add(&out->unsent, id, strlen(id));
            mc_strs_add(&out->unsent_why, PQgetvalue(r, i, 1), strlen(PQgetvalue(r, i, 1)));
        }
    }
    PQclear(r);
    r = query(self, "SELECT ret FROM returns WHERE jid = $1 ORDER BY id", 1, values, err);
    if (!r)
        goto fail;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t n;
        char *ret = bytea(r, i, 0, &n);
        mc_strs_add(returns, ret ? ret : "", n);
        free(ret);
    }
    PQclear(r);
    return 0;
fail:
    mc_reply_job_done(out);
    return -1;
}

static int pg_job_expires(void *p, const char *jid, int64_t *expires_us)
{
    const char *values[1] = {jid};
    mc_err_t err;
    PGresult *r = query(p, "SELECT expires FROM jobs WHERE jid = $1", 1, values, &err);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples(r) == 1) {
        *expires_us = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        rc = 0;
    }
    PQclear(r);
    return rc;
}

static int pg_job_user(void *p, const char *jid, char user[MC_USER_MAX + 1], mc_err_t *err)
{
    const char *values[1] = {jid};
    PGresult *r = query(p, "SELECT \"user\" FROM jobs WHERE jid = $1", 1, values, err);
    if (!r)
        return -1;
    int rc = 1;
    if (PQntuples(r) == 1) {
        snprintf(user, MC_USER_MAX + 1, "%s", PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* Up to prune_batch old jobs with their minions and returns, in one
   statement (so masters pruning at once cannot leave orphans), and only
   by the master that holds the prune lock at the time. It runs on the
   writer's connection, between batches, so it waits at most 100 ms for a
   table another session holds (a lock, a maintenance command) and takes
   at most 2.5 s (the server ends it; PG_PRUNE_DEADLINE_MS if the server
   hangs): it gives up and is tried again a minute later, with half as
   many jobs, rather than hold up the writes. */
static int prune(store_t *self, int64_t before_us)
{
    if (connected(self) != 0)
        return -1;
    if (run(self, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 0)
        return -1;
    if (run(self, "SET LOCAL lock_timeout = '100ms'", 0, NULL, NULL, NULL, NULL, 0) != 0 ||
        run(self, "SET LOCAL statement_timeout = '2500ms'", 0, NULL, NULL, NULL, NULL, 0) != 0) {
        run(self, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
        return -1;
    }
    char before[24], batch[16];
    snprintf(before, sizeof before, "%lld", (long long)before_us);
    snprintf(batch, sizeof batch, "%d", self->prune_batch);
    const char *values[2] = {before, batch};
    PGresult *r = pg_query(
        self->conn, self->deadline_ms,
        "WITH lock AS (SELECT pg_try_advisory_xact_lock(4506) AS got),"
        " d AS (DELETE FROM jobs WHERE (SELECT got FROM lock) AND jid IN (SELECT jid FROM jobs"
        "   WHERE ts < $1::bigint ORDER BY jid LIMIT $2::int) RETURNING jid),"
        " r AS (DELETE FROM returns x USING d WHERE x.jid = d.jid),"
        " m AS (DELETE FROM job_minions x USING d WHERE x.jid = d.jid)"
        " SELECT count(*) FROM d",
        2, values, NULL, NULL, 0);
    int removed = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        removed = atoi(PQgetvalue(r, 0, 0));
    else
        set_err(self, "PostgreSQL");
    PQclear(r);
    char why[sizeof self->err];
    memcpy(why, self->err, sizeof why); /* what the DELETE said, not the ROLLBACK */
    if (run(self, removed >= 0 ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) != 0)
        removed = -1;
    else if (removed < 0)
        memcpy(self->err, why, sizeof why);
    return removed;
}

static int pg_prune(void *p, int64_t before_us)
{
    store_t *self = p;
    int reads = self->deadline_ms;
    self->deadline_ms = PG_PRUNE_DEADLINE_MS;
    int removed = prune(self, before_us);
    self->deadline_ms = reads;
    if (removed < 0 && self->prune_batch > 10)
        self->prune_batch /= 2;
    else if (removed >= 0 && self->prune_batch < PRUNE_BATCH_MAX)
        self->prune_batch =
            self->prune_batch * 2 < PRUNE_BATCH_MAX ? self->prune_batch * 2 : PRUNE_BATCH_MAX;
    return removed;
}

const jobcache_store_t jobcache_pg = {
    .name = "PostgreSQL",
    .close = pg_close,
    .errmsg = pg_errmsg,
    .begin = pg_begin,
    .write = pg_write,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .list = pg_list,
    .show = pg_show,
    .job_user = pg_job_user,
    .job_expires = pg_job_expires,
    .prune = pg_prune,
};
