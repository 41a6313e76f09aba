/*  keystore_pg - see keystore_pg.h. Writers take a transaction lock
    before they draw a sequence number, so the numbers commit in order and
    a master that has seen number N has seen every change before it. */
#include "keystore_pg.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg.h"

#define KEYS_WRITE_LOCK   4507 /* advisory locks of mctl's: key writers */
#define MASTER_INDEX_LOCK 4508 /* and, with the index, a master's index */
#define RETRY_MS          1000
#define RETRY_MAX_MS      30000

struct _keystore_pg_t {
    PGconn *conn;
    int index;        /* this master's: the last digit of its job ids */
    bool held;        /* the index's lock is held now (not after a reconnect that lost it) */
    int want_index;   /* -1: any */
    bool recheck;     /* the schema is to be checked (a reconnect failed half-way) */
    bool reconnected; /* connected again since keystore_pg_reconnected was asked */
    mc_log_limit_t index_log;
    long long seq;       /* the last change seen */
    int64_t next_try_ms; /* no reconnecting before */
    int64_t backoff_ms;
    pg_reset_t reset;     /* a reconnect under way */
    pg_pending_t reading; /* keystore_pg_poll's read under way */
};

#define CHANGES_BATCH 5000
#define CHANGES_SQL                                                                                \
    "SELECT id, denied, state, pub, seq FROM minion_keys WHERE seq > $1::bigint ORDER BY seq "     \
    "LIMIT 5000"

static int fail(keystore_pg_t *self, const char *what, mc_err_t *err)
{
    char msg[512];
    pg_error(self->conn, what, msg, sizeof msg);
    mc_err_set(err, "keys (PostgreSQL): %s", msg);
    return -1;
}

/* A read keystore_pg_poll left under way, ended before the connection
   carries anything else: its answer is dropped, and read again from the
   same cursor by the next poll. -1 with err when it got no answer in
   time (the connection is closed then). */
static int settle_read(keystore_pg_t *self, mc_err_t *err)
{
    if (!self->reading.since_ms)
        return 0;
    PGresult *r = NULL;
    int st;
    while ((st = pg_step(self->conn, &self->reading, PG_KEYS_DEADLINE_MS, PG_KEYS_DEADLINE_MS,
                         &r)) == 0)
        ;
    PQclear(r);
    return st < 0 ? fail(self, "reading keys", err) : 0;
}

/* Take want_index, or the first free index. */
static int take_index(keystore_pg_t *self, mc_err_t *err)
{
    for (int i = 0; i < KEYSTORE_MASTERS; i++) {
        int idx = self->want_index >= 0 ? self->want_index : i;
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%d, %d)", MASTER_INDEX_LOCK, idx);
        PGresult *r = pg_query(self->conn, PG_KEYS_DEADLINE_MS, sql, -1, NULL, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            return fail(self, "taking a master index", err);
        }
        bool got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (got) {
            self->index = idx;
            self->held = true;
            return 0;
        }
        if (self->want_index >= 0) {
            mc_err_set(err,
                       "master_index %d is held by another master on this database; give each "
                       "master its own (or leave master_index out)",
                       idx);
            return -1;
        }
    }
    mc_err_set(err, "%d masters share this database already (at most %d)", KEYSTORE_MASTERS,
               KEYSTORE_MASTERS);
    return -1;
}

keystore_pg_t *keystore_pg_open(const char *dsn, int want_index, mc_err_t *err)
{
    PGconn *conn = pg_connect(dsn, "keys", "keys", err);
    if (!conn)
        return NULL;
    keystore_pg_t *self = mc_calloc(1, sizeof *self);
    self->conn = conn;
    self->want_index = want_index;
    if (take_index(self, err) != 0) {
        keystore_pg_close(&self);
        return NULL;
    }
    mc_info("keys: PostgreSQL database %s; this master's index is %d", PQdb(conn), self->index);
    return self;
}

void keystore_pg_close(keystore_pg_t **pself)
{
    keystore_pg_t *self = *pself;
    if (!self)
        return;
    pg_pending_drop(&self->reading);
    PQfinish(self->conn);
    free(self);
    *pself = NULL;
}

int keystore_pg_index(keystore_pg_t *self)
{
    return self->index;
}

/* After a reconnect, the index again: the one held before if it is still
   free, else (without master_index) another one. While none can be taken
   the master goes on with its digit and says so: the key list is kept in
   step regardless. */
static void retake_index(keystore_pg_t *self)
{
    int prev = self->index, want = self->want_index;
    mc_err_t err;
    self->want_index = prev;
    int rc = take_index(self, &err);
    if (rc != 0 && want < 0) {
        self->want_index = -1;
        rc = take_index(self, &err);
        if (rc == 0)
            mc_warn("keys (PostgreSQL): index %d is held (by another master, or by this "
                    "master's old session, which a server that hung has not ended yet); this "
                    "master's index is now %d",
                    prev, self->index);
    }
    self->want_index = want;
    self->held = rc == 0;
    if (rc != 0) {
        self->index = prev;
        mc_log_limited(&self->index_log, MC_LOG_ERROR,
                       "keys (PostgreSQL): %s; job ids still end in %d, which another master may "
                       "now use",
                       err.msg, prev);
    }
}

/* The connection, made again after a break (no sooner than the backoff
   says), with the schema checked again. */
static int connected(keystore_pg_t *self, mc_err_t *err)
{
    if (PQstatus(self->conn) == CONNECTION_OK && !self->recheck) {
        if (!self->held)
            retake_index(self);
        return 0;
    }
    if (mc_mono_ms() < self->next_try_ms) {
        mc_err_set(err, "keys (PostgreSQL): the database is not reachable");
        return -1;
    }
    self->held = false;
    int rc = 0;
    if (PQstatus(self->conn) != CONNECTION_OK) {
        /* The key list is read every second: a server that takes its
           time (or hangs) costs the loop PG_RESET_STEP_MS a second. */
        int st = pg_reset_step(self->conn, &self->reset, PG_RESET_STEP_MS, PG_CONNECT_DEADLINE_MS);
        if (st == 0) {
            mc_err_set(err, "keys (PostgreSQL): connecting again");
            return -1;
        }
        rc = st > 0 ? 0 : fail(self, "cannot reconnect", err);
    }
    if (rc == 0)
        rc = pg_migrate(self->conn, PG_KEYS_DEADLINE_MS, "keys", err);
    if (rc != 0) {
        self->recheck = true;
        self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : RETRY_MS;
        if (self->backoff_ms > RETRY_MAX_MS)
            self->backoff_ms = RETRY_MAX_MS;
        self->next_try_ms = mc_mono_ms() + self->backoff_ms;
        return -1;
    }
    self->recheck = false;
    self->backoff_ms = 0;
    self->reconnected = true;
    retake_index(self);
    mc_info("keys (PostgreSQL): connected again (index %d)", self->index);
    return 0;
}

long long keystore_pg_cursor(keystore_pg_t *self)
{
    return self->seq;
}

void keystore_pg_set_cursor(keystore_pg_t *self, long long cursor)
{
    self->seq = cursor;
}

bool keystore_pg_reconnected(keystore_pg_t *self)
{
    bool r = self->reconnected;
    self->reconnected = false;
    return r;
}

static long long be64(const char *p)
{
    uint32_t hi, lo;
    memcpy(&hi, p, 4);
    memcpy(&lo, p + 4, 4);
    return (long long)(((uint64_t)ntohl(hi) << 32) | ntohl(lo));
}

/* The rows of one read of the changes to fn, moving the cursor on: how
   many rows there were. */
static int apply_rows(keystore_pg_t *self, PGresult *r, keystore_pg_fn *fn, void *arg)
{
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        char id[MC_ID_MAX + 1], state[16];
        int id_len = PQgetlength(r, i, 0), st_len = PQgetlength(r, i, 2);
        if (id_len <= 0 || id_len > MC_ID_MAX || st_len <= 0 || st_len >= (int)sizeof state ||
            PQgetlength(r, i, 3) != MC_KEY_LEN || PQgetlength(r, i, 1) != 1 ||
            PQgetlength(r, i, 4) != 8) {
            mc_warn("keys (PostgreSQL): a malformed row in minion_keys; ignored");
        } else {
            memcpy(id, PQgetvalue(r, i, 0), id_len);
            id[id_len] = '\0';
            memcpy(state, PQgetvalue(r, i, 2), st_len);
            state[st_len] = '\0';
            if (!mc_id_valid(id, strlen(id)))
                mc_warn("keys (PostgreSQL): '%s' is not a valid minion id; ignored", id);
            else
                fn(arg, id, PQgetvalue(r, i, 1)[0] != 0, state,
                   (const unsigned char *)PQgetvalue(r, i, 3));
        }
        if (PQgetlength(r, i, 4) == 8)
            self->seq = be64(PQgetvalue(r, i, 4));
    }
    return n;
}

int keystore_pg_changes(keystore_pg_t *self, keystore_pg_fn *fn, void *arg, mc_err_t *err)
{
    if (settle_read(self, err) != 0 || connected(self, err) != 0)
        return -1;
    for (;;) {
        char since[24];
        snprintf(since, sizeof since, "%lld", self->seq);
        const char *values[1] = {since};
        /* Binary results: the key as its 32 bytes, seq as 8. */
        PGresult *r =
            pg_query(self->conn, PG_KEYS_DEADLINE_MS, CHANGES_SQL, 1, values, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            return fail(self, "reading keys", err);
        }
        int n = apply_rows(self, r, fn, arg);
        PQclear(r);
        if (n < CHANGES_BATCH)
            return 0;
    }
}

int keystore_pg_poll(keystore_pg_t *self, keystore_pg_fn *fn, void *arg, mc_err_t *err)
{
    int64_t until = mc_mono_ms() + PG_KEYS_STEP_MS;
    for (;;) {
        /* An answer to a read of an earlier call is not this call's: a
           new read goes at once, so a slow server is read each call. */
        bool sent_now = !self->reading.since_ms;
        if (sent_now) {
            if (connected(self, err) != 0)
                return -1;
            char since[24];
            snprintf(since, sizeof since, "%lld", self->seq);
            const char *values[1] = {since};
            if (pg_send(self->conn, &self->reading, CHANGES_SQL, 1, values, NULL, NULL, 1) != 0)
                return fail(self, "reading keys", err);
        }
        int64_t left = until - mc_mono_ms();
        PGresult *r = NULL;
        int st =
            pg_step(self->conn, &self->reading, left > 0 ? (int)left : 0, PG_KEYS_DEADLINE_MS, &r);
        if (st == 0)
            return 0;
        if (st < 0 || PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            return fail(self, "reading keys", err);
        }
        int n = apply_rows(self, r, fn, arg);
        PQclear(r);
        if ((n < CHANGES_BATCH && sent_now) || mc_mono_ms() >= until)
            return 0;
    }
}

/* The write (one statement) of keystore_pg_put, in a transaction that
   holds the writers' lock: 0, or -1 with err (MC_E_REFUSED when the row
   was not what the caller expected). */
static int put_locked(keystore_pg_t *self, const char *id, bool denied, const char *state,
                      const unsigned char pub[MC_KEY_LEN], const char *was_state,
                      const unsigned char *was_pub, mc_err_t *err)
{
    bool any = was_state && strcmp(was_state, "*") == 0, gone = strcmp(state, "gone") == 0;
    const char *values[6] = {id,        denied ? "t" : "f",   state, (const char *)pub,
                             was_state, (const char *)was_pub};
    int lengths[6] = {0, 0, 0, MC_KEY_LEN, 0, MC_KEY_LEN}, formats[6] = {0, 0, 0, 1, 0, 1};
    const char *sql;
    int n = 4;
    if (gone && any) {
        sql = "UPDATE minion_keys SET state = 'gone', seq = nextval('minion_keys_seq') "
              "WHERE id = $1 AND denied = $2::boolean AND state <> 'gone'";
        n = 2;
    } else if (any) {
        sql = "INSERT INTO minion_keys(id, denied, state, pub, seq) VALUES ($1, $2::boolean, $3, "
              "$4, nextval('minion_keys_seq')) ON CONFLICT (id, denied) DO UPDATE SET state = "
              "EXCLUDED.state, pub = EXCLUDED.pub, seq = EXCLUDED.seq";
    } else if (!was_state) {
        sql = "INSERT INTO minion_keys(id, denied, state, pub, seq) VALUES ($1, $2::boolean, $3, "
              "$4, nextval('minion_keys_seq')) ON CONFLICT (id, denied) DO UPDATE SET state = "
              "EXCLUDED.state, pub = EXCLUDED.pub, seq = EXCLUDED.seq WHERE minion_keys.state = "
              "'gone'";
    } else {
        sql = "UPDATE minion_keys SET state = $3, pub = $4, seq = nextval('minion_keys_seq') "
              "WHERE id = $1 AND denied = $2::boolean AND state = $5 AND pub = $6";
        n = 6;
    }
    PGresult *r = pg_query(self->conn, PG_KEYS_DEADLINE_MS, sql, n, values, lengths, formats, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (code && strcmp(code, "23505") == 0) {
            mc_err_set(err,
                       "the key presented for %s is already another minion's key; a key serves "
                       "one id",
                       id);
            err->code = MC_E_REFUSED;
        } else {
            fail(self, "storing a key", err);
        }
        PQclear(r);
        return -1;
    }
    bool none = strcmp(PQcmdTuples(r), "0") == 0;
    PQclear(r);
    if (none && !any) {
        mc_err_set(err,
                   "the key of %s changed on another master just now; look again (mctl key "
                   "list) and retry",
                   id);
        err->code = MC_E_REFUSED;
        return -1;
    }
    return 0;
}

static int begin_locked(keystore_pg_t *self, mc_err_t *err)
{
    char lock[64];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%d)", KEYS_WRITE_LOCK);
    if (pg_exec(self->conn, PG_KEYS_DEADLINE_MS, "BEGIN ISOLATION LEVEL READ COMMITTED", err) ||
        pg_exec(self->conn, PG_KEYS_DEADLINE_MS, lock, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        mc_err_set(err, "keys (PostgreSQL): %s", msg);
        return -1;
    }
    return 0;
}

static int commit_or_rollback(keystore_pg_t *self, int rc, mc_err_t *err)
{
    if (rc == 0) {
        mc_err_t cerr;
        if (pg_exec(self->conn, PG_KEYS_DEADLINE_MS, "COMMIT", &cerr) == 0)
            return 0;
        /* The server may have committed before the connection failed. */
        mc_err_set(err,
                   "keys (PostgreSQL): %s; whether the change was made is not known until the "
                   "database answers (look again with mctl key list)",
                   cerr.msg);
    }
    PGresult *rb = pg_query(self->conn, PG_KEYS_DEADLINE_MS, "ROLLBACK", -1, NULL, NULL, NULL, 0);
    PQclear(rb);
    return -1;
}

int keystore_pg_put(keystore_pg_t *self, const char *id, bool denied, const char *state,
                    const unsigned char pub[MC_KEY_LEN], const char *was_state,
                    const unsigned char *was_pub, mc_err_t *err)
{
    if (settle_read(self, err) != 0 || connected(self, err) != 0)
        return -1;
    int rc = begin_locked(self, err);
    if (rc == 0)
        rc = put_locked(self, id, denied, state, pub, was_state, was_pub, err);
    return commit_or_rollback(self, rc, err);
}

int keystore_pg_import(keystore_pg_t *self, const keystore_key_t *keys, size_t n, bool *done,
                       mc_err_t *err)
{
    *done = false;
    if (settle_read(self, err) != 0 || connected(self, err) != 0)
        return -1;
    int rc = begin_locked(self, err);
    if (rc == 0) {
        PGresult *r =
            pg_query(self->conn, PG_KEYS_DEADLINE_MS,
                     "SELECT NOT EXISTS (SELECT 1 FROM minion_keys)", -1, NULL, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = fail(self, "reading keys", err);
        else
            *done = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
    }
    for (size_t i = 0; rc == 0 && *done && i < n; i++)
        rc = put_locked(self, keys[i].id, keys[i].denied, keys[i].state, keys[i].pub, "*", NULL,
                        err);
    if (commit_or_rollback(self, rc, err) != 0) {
        *done = false;
        return -1;
    }
    return 0;
}
