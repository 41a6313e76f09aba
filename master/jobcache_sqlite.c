/*  jobcache_sqlite - the job cache in SQLite (WAL) at CACHEDIR/jobs.db,
    for a single master: see jobcache.h and jobcache_store.h. */
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "jobcache_store.h"
#include "log.h"

#define SCHEMA_VERSION  3
#define BUSY_TIMEOUT_MS 5000 /* a write lock held by the other connection */

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *ins_job, *ins_minion, *ins_ret;
} store_t;

static const char *schema_v1 =
    "CREATE TABLE jobs(jid TEXT PRIMARY KEY, fun TEXT NOT NULL, tgt TEXT NOT NULL,"
    "  tgt_type TEXT NOT NULL, user TEXT NOT NULL, ts INTEGER NOT NULL, arg BLOB, kwarg BLOB);"
    "CREATE INDEX jobs_ts ON jobs(ts);"
    "CREATE TABLE job_minions(jid TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(jid, id))"
    "  WITHOUT ROWID;"
    "CREATE TABLE returns(jid TEXT NOT NULL, id TEXT NOT NULL, retcode INTEGER NOT NULL,"
    "  success INTEGER NOT NULL, ret BLOB NOT NULL, PRIMARY KEY(jid, id)) WITHOUT ROWID;";

static int exec(store_t *self, const char *sql, mc_err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        mc_err_set(err, "job cache: %s", msg ? msg : sqlite3_errmsg(self->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int migrate(store_t *self, mc_err_t *err)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(self->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION) {
        mc_err_set(err, "job cache: schema version %d is newer than this master knows (%d)",
                   version, SCHEMA_VERSION);
        return -1;
    }
    if (version == 0) {
        if (exec(self, "BEGIN", err) || exec(self, schema_v1, err) ||
            exec(self, "PRAGMA user_version = 1", err) || exec(self, "COMMIT", err))
            return -1;
        mc_info("job cache: created schema version %d", SCHEMA_VERSION);
    }
    if (version < 2) {
        /* Why a minion the job was meant for was not sent it (NULL: sent). */
        if (exec(self, "BEGIN", err) ||
            exec(self, "ALTER TABLE job_minions ADD COLUMN unsent TEXT", err) ||
            exec(self, "PRAGMA user_version = 2", err) || exec(self, "COMMIT", err))
            return -1;
    }
    if (version < 3) {
        /* When each job's time is up (wall clock, µs; NULL: not known), so
           that jobs wait can follow a job its master no longer holds. */
        if (exec(self, "BEGIN", err) ||
            exec(self, "ALTER TABLE jobs ADD COLUMN expires INTEGER", err) ||
            exec(self, "PRAGMA user_version = 3", err) || exec(self, "COMMIT", err))
            return -1;
        if (version > 0)
            mc_info("job cache: schema upgraded from version %d to %d", version, SCHEMA_VERSION);
    }
    /* Later versions: if (version < 4) { ALTER ...; PRAGMA user_version = 4; } */
    return 0;
}

static void sq_close(void *p);

void *jobcache_sqlite_open(const char *path, jobcache_handle_t which, mc_err_t *err)
{
    (void)which;
    store_t *self = mc_calloc(1, sizeof *self);
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        mc_err_set(err, "cannot open the job cache %s: %s", path, sqlite3_errmsg(self->db));
        goto fail;
    }
    chmod(path, 0600);
    sqlite3_busy_timeout(self->db, BUSY_TIMEOUT_MS);
    if (exec(self, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF",
             err) ||
        migrate(self, err))
        goto fail;
    if (sqlite3_prepare_v2(self->db,
                           "INSERT OR IGNORE INTO jobs(jid, fun, tgt, tgt_type, user, ts, arg, "
                           "kwarg, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                           -1, &self->ins_job, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db,
                           "INSERT OR IGNORE INTO job_minions(jid, id, unsent) VALUES (?1, ?2, ?3)",
                           -1, &self->ins_minion, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db,
                           "INSERT OR IGNORE INTO returns(jid, id, retcode, success, ret) "
                           "SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS "
                           "(SELECT 1 FROM job_minions WHERE jid = ?1 AND id = ?2)",
                           -1, &self->ins_ret, NULL) != SQLITE_OK) {
        mc_err_set(err, "job cache: %s", sqlite3_errmsg(self->db));
        goto fail;
    }
    return self;
fail:
    sq_close(self);
    return NULL;
}

static void sq_close(void *p)
{
    store_t *self = p;
    if (!self)
        return;
    sqlite3_finalize(self->ins_job);
    sqlite3_finalize(self->ins_minion);
    sqlite3_finalize(self->ins_ret);
    sqlite3_close(self->db);
    free(self);
}

static const char *sq_errmsg(void *p)
{
    return sqlite3_errmsg(((store_t *)p)->db);
}

static int sq_begin(void *p)
{
    mc_err_t err;
    return exec(p, "BEGIN", &err);
}

static int sq_commit(void *p)
{
    mc_err_t err;
    return exec(p, "COMMIT", &err);
}

static void sq_rollback(void *p)
{
    mc_err_t err;
    exec(p, "ROLLBACK", &err);
}

static int step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int sq_write(void *p, const jobcache_item_t *it)
{
    store_t *self = p;
    if (it->is_job) {
        sqlite3_stmt *st = self->ins_job;
        sqlite3_bind_text(st, 1, it->jid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, it->fun, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, it->tgt, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, it->tgt_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, it->user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, it->ts_us);
        sqlite3_bind_blob(st, 7, it->arg, (int)it->arg_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 8, it->kwarg, (int)it->kwarg_len, SQLITE_STATIC);
        if (it->expires_us)
            sqlite3_bind_int64(st, 9, it->expires_us);
        if (step(st) != 0)
            return -1;
        for (size_t i = 0; i < it->n; i++) {
            sqlite3_bind_text(self->ins_minion, 1, it->jid, -1, SQLITE_STATIC);
            sqlite3_bind_text(self->ins_minion, 2, it->ids[i], -1, SQLITE_STATIC);
            if (it->unsent[i])
                sqlite3_bind_text(self->ins_minion, 3, it->unsent[i], -1, SQLITE_STATIC);
            if (step(self->ins_minion) != 0)
                return -1;
        }
        return 0;
    }
    sqlite3_stmt *st = self->ins_ret;
    sqlite3_bind_text(st, 1, it->jid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, it->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, it->retcode);
    sqlite3_bind_int(st, 4, it->success);
    sqlite3_bind_blob(st, 5, it->raw, (int)it->raw_len, SQLITE_STATIC);
    if (step(st) != 0)
        return -1;
    if (sqlite3_changes(self->db) == 0)
        mc_warn("job cache: return from %s for job %s not stored: a duplicate, or a minion the "
                "job was not published to",
                it->id, it->jid);
    return 0;
}

/* A text column, "" for NULL. */
static const char *text(sqlite3_stmt *st, int c)
{
    const char *s = (const char *)sqlite3_column_text(st, c);
    return s ? s : "";
}

static int sq_list(void *p, const jobcache_query_t *q, mc_reply_jobs_list_t *out, mc_err_t *err)
{
    store_t *self = p;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    const char *sql =
        "SELECT j.jid, j.fun, substr(j.tgt, 1, ?5), j.tgt_type, j.user, j.ts,"
        " (SELECT count(*) FROM job_minions m WHERE m.jid = j.jid),"
        " (SELECT count(*) FROM returns r WHERE r.jid = j.jid),"
        " (SELECT count(*) FROM returns r WHERE r.jid = j.jid AND r.success = 0)"
        " FROM jobs j WHERE (?1 IS NULL OR j.fun GLOB ?1) AND (?2 IS NULL OR j.tgt GLOB ?2)"
        " AND j.ts >= ?3 AND (?6 IS NULL OR j.user = ?6) AND (?7 IS NULL OR j.jid < ?7)"
        " ORDER BY j.jid DESC LIMIT ?4";
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK) {
        mc_err_set(err, "job cache: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    if (q->fun)
        sqlite3_bind_text(st, 1, q->fun, -1, SQLITE_STATIC);
    if (q->target)
        sqlite3_bind_text(st, 2, q->target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, q->since_us);
    sqlite3_bind_int(st, 4, q->limit > 0 ? q->limit : 50);
    sqlite3_bind_int(st, 5, MC_JOBS_LIST_TGT_MAX); /* characters, so UTF-8 stays whole */
    if (q->user)
        sqlite3_bind_text(st, 6, q->user, -1, SQLITE_STATIC);
    if (q->before)
        sqlite3_bind_text(st, 7, q->before, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mc_job_summary_t *j = mc_reply_jobs_list_add(out);
        snprintf(j->jid, sizeof j->jid, "%s", text(st, 0));
        snprintf(j->fun, sizeof j->fun, "%s", text(st, 1));
        j->tgt = mc_strdup(text(st, 2));
        snprintf(j->tgt_type, sizeof j->tgt_type, "%s", text(st, 3));
        snprintf(j->user, sizeof j->user, "%s", text(st, 4));
        j->ts_us = sqlite3_column_int64(st, 5);
        j->minions = sqlite3_column_int64(st, 6);
        j->returned = sqlite3_column_int64(st, 7);
        j->failed = sqlite3_column_int64(st, 8);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        mc_err_set(err, "job cache: %s", sqlite3_errmsg(self->db));
        mc_reply_jobs_list_done(out);
        return -1;
    }
    return 0;
}

/* One row per item of a job's list: column 0 into a, and column 1 into b
   when there is a b. Blobs and text alike, as their bytes. */
static int select_lists(store_t *self, const char *sql, const char *jid, mc_strs_t *a, mc_strs_t *b,
                        mc_err_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK) {
        mc_err_set(err, "job cache: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < (b ? 2 : 1); c++) {
            const void *p = sqlite3_column_blob(st, c);
            mc_strs_add(c ? b : a, p, p ? (size_t)sqlite3_column_bytes(st, c) : 0);
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        mc_err_set(err, "job cache: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    return 0;
}

/* A blob column copied, or NULL when empty. */
static char *copy_blob(sqlite3_stmt *st, int c, size_t *len)
{
    const void *b = sqlite3_column_blob(st, c);
    int n = sqlite3_column_bytes(st, c);
    *len = 0;
    if (!b || n <= 0)
        return NULL;
    char *copy = mc_malloc((size_t)n);
    memcpy(copy, b, (size_t)n);
    *len = (size_t)n;
    return copy;
}

static int sq_job_expires(void *p, const char *jid, int64_t *expires_us)
{
    store_t *self = p;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(self->db, "SELECT expires FROM jobs WHERE jid = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    int rc = 1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *expires_us = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_job_user(void *p, const char *jid, char user[MC_USER_MAX + 1], mc_err_t *err)
{
    store_t *self = p;
    sqlite3_stmt *st;
    user[0] = '\0';
    if (sqlite3_prepare_v2(self->db, "SELECT user FROM jobs WHERE jid = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        mc_err_set(err, "job cache: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(user, MC_USER_MAX + 1, "%s", text(st, 0));
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = 1;
    } else {
        mc_err_set(err, "job cache: %s", sqlite3_errmsg(self->db));
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_show(void *p, const char *jid, mc_reply_job_t *out, mc_strs_t *returns, mc_err_t *err)
{
    store_t *self = p;
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            self->db, "SELECT fun, tgt, tgt_type, user, ts, arg, kwarg FROM jobs WHERE jid = ?1",
            -1, &st, NULL) != SQLITE_OK) {
        mc_err_set(err, "job cache: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        mc_err_set(err, "no job %s in the job cache", jid);
        return -1;
    }
    snprintf(out->jid, sizeof out->jid, "%s", jid);
    snprintf(out->fun, sizeof out->fun, "%s", text(st, 0));
    out->tgt = mc_strdup(text(st, 1));
    snprintf(out->tgt_type, sizeof out->tgt_type, "%s", text(st, 2));
    snprintf(out->user, sizeof out->user, "%s", text(st, 3));
    out->ts_us = sqlite3_column_int64(st, 4);
    out->arg = copy_blob(st, 5, &out->arg_len);
    out->kwarg = copy_blob(st, 6, &out->kwarg_len);
    sqlite3_finalize(st);
    if (select_lists(self, "SELECT id FROM job_minions WHERE jid = ?1 ORDER BY id", jid,
                     &out->minions, NULL, err) ||
        select_lists(self, "SELECT ret FROM returns WHERE jid = ?1 ORDER BY id", jid, returns, NULL,
                     err) ||
        select_lists(self,
                     "SELECT id, unsent FROM job_minions WHERE jid = ?1 AND unsent IS NOT NULL "
                     "ORDER BY id",
                     jid, &out->unsent, &out->unsent_why, err)) {
        mc_reply_job_done(out);
        return -1;
    }
    return 0;
}

static int sq_prune(void *p, int64_t before_us)
{
    store_t *self = p;
    static const char *sql[] = {"DELETE FROM returns WHERE jid IN (SELECT jid FROM jobs WHERE ts < "
                                "?1 ORDER BY jid LIMIT 1000)",
                                "DELETE FROM job_minions WHERE jid IN (SELECT jid FROM jobs WHERE "
                                "ts < ?1 ORDER BY jid LIMIT 1000)",
                                "DELETE FROM jobs WHERE jid IN (SELECT jid FROM jobs WHERE ts < ?1 "
                                "ORDER BY jid LIMIT 1000)"};
    /* The three in one transaction: a job is removed with all of its
       rows or not at all. */
    mc_err_t err;
    /* Not waiting long for another writer (another process on the same
       file): pruning is tried again a minute later. */
    sqlite3_busy_timeout(self->db, 100);
    int rc = exec(self, "BEGIN IMMEDIATE", &err);
    sqlite3_busy_timeout(self->db, BUSY_TIMEOUT_MS);
    if (rc != 0)
        return -1;
    int removed = 0;
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(self->db, sql[i], -1, &st, NULL) != SQLITE_OK)
            goto fail;
        sqlite3_bind_int64(st, 1, before_us);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_finalize(st);
            goto fail;
        }
        if (i == 2)
            removed = sqlite3_changes(self->db);
        sqlite3_finalize(st);
    }
    if (exec(self, "COMMIT", &err) == 0)
        return removed;
fail:
    exec(self, "ROLLBACK", &err);
    return -1;
}

const jobcache_store_t jobcache_sqlite = {
    .name = "SQLite",
    .close = sq_close,
    .errmsg = sq_errmsg,
    .begin = sq_begin,
    .write = sq_write,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .list = sq_list,
    .show = sq_show,
    .job_user = sq_job_user,
    .job_expires = sq_job_expires,
    .prune = sq_prune,
};
