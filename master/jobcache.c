/*  jobcache - see jobcache.h. */
#include "jobcache.h"

#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "mp.h"

#define SCHEMA_VERSION 2

typedef struct item {
    struct item *next;
    bool is_job;
    char *jid, *id, *fun, *tgt, *tgt_type, *user;
    int64_t ts_us, retcode;
    bool success;
    char *raw, *arg, *kwarg; /* msgpack */
    size_t raw_len, arg_len, kwarg_len;
    char **ids, **unsent; /* unsent[i]: why the job did not go to ids[i], or NULL */
    size_t n;
} item_t;

struct _jobcache_t {
    sqlite3 *db;
    sqlite3_stmt *ins_job, *ins_minion, *ins_ret;
    item_t *head, *tail;
    size_t pending;
    int64_t failing_since_ms; /* 0 while writes succeed */
    int64_t last_report_ms;
};

/* A failing write (disk full, say) is retried every turn of the loop;
   say so at once, then every 10 s with how much waits, and when it
   recovers. */
static void report_failure(jobcache_t *self, const char *what)
{
    int64_t now = mc_mono_ms();
    if (!self->failing_since_ms)
        self->failing_since_ms = now;
    else if (now - self->last_report_ms < 10000)
        return;
    self->last_report_ms = now;
    mc_error("job cache: %s: %s; %zu jobs and returns wait in memory and are retried (none is "
             "confirmed to its minion until stored)",
             what, sqlite3_errmsg(self->db), self->pending);
}

static const char *schema_v1 =
    "CREATE TABLE jobs(jid TEXT PRIMARY KEY, fun TEXT NOT NULL, tgt TEXT NOT NULL,"
    "  tgt_type TEXT NOT NULL, user TEXT NOT NULL, ts INTEGER NOT NULL, arg BLOB, kwarg BLOB);"
    "CREATE INDEX jobs_ts ON jobs(ts);"
    "CREATE TABLE job_minions(jid TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY(jid, id))"
    "  WITHOUT ROWID;"
    "CREATE TABLE returns(jid TEXT NOT NULL, id TEXT NOT NULL, retcode INTEGER NOT NULL,"
    "  success INTEGER NOT NULL, ret BLOB NOT NULL, PRIMARY KEY(jid, id)) WITHOUT ROWID;";

static int exec(jobcache_t *self, const char *sql, mc_err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        mc_err_set(err, "job cache: %s", msg ? msg : sqlite3_errmsg(self->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int migrate(jobcache_t *self, mc_err_t *err)
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
        if (version > 0)
            mc_info("job cache: schema upgraded from version %d to %d", version, SCHEMA_VERSION);
    }
    /* Later versions: if (version < 3) { ALTER ...; PRAGMA user_version = 3; } */
    return 0;
}

jobcache_t *jobcache_open(const char *path, mc_err_t *err)
{
    jobcache_t *self = mc_calloc(1, sizeof *self);
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        mc_err_set(err, "cannot open the job cache %s: %s", path, sqlite3_errmsg(self->db));
        goto fail;
    }
    chmod(path, 0600);
    sqlite3_busy_timeout(self->db, 5000);
    if (exec(self, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF",
             err) ||
        migrate(self, err))
        goto fail;
    if (sqlite3_prepare_v2(self->db,
                           "INSERT OR IGNORE INTO jobs(jid, fun, tgt, tgt_type, user, ts, arg, "
                           "kwarg) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
    jobcache_close(&self);
    return NULL;
}

static void item_free(item_t *it)
{
    free(it->jid);
    free(it->id);
    free(it->fun);
    free(it->tgt);
    free(it->tgt_type);
    free(it->user);
    free(it->raw);
    free(it->arg);
    free(it->kwarg);
    for (size_t i = 0; i < it->n; i++) {
        free(it->ids[i]);
        free(it->unsent[i]);
    }
    free(it->ids);
    free(it->unsent);
    free(it);
}

void jobcache_close(jobcache_t **pself)
{
    jobcache_t *self = *pself;
    if (!self)
        return;
    if (self->pending)
        mc_error("job cache: closing with %zu writes not committed", self->pending);
    while (self->head) {
        item_t *it = self->head;
        self->head = it->next;
        item_free(it);
    }
    sqlite3_finalize(self->ins_job);
    sqlite3_finalize(self->ins_minion);
    sqlite3_finalize(self->ins_ret);
    sqlite3_close(self->db);
    free(self);
    *pself = NULL;
}

static void enqueue(jobcache_t *self, item_t *it)
{
    if (self->tail)
        self->tail->next = it;
    else
        self->head = it;
    self->tail = it;
    self->pending++;
}

static char *pack_object(const msgpack_object *o, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (o)
        msgpack_pack_object(&pk, *o);
    else
        msgpack_pack_nil(&pk);
    *len = sb.size;
    return sb.data; /* sbuffer data is malloc'd */
}

void jobcache_add_job(jobcache_t *self, const char *jid, const char *fun, const char *tgt,
                      const char *tgt_type, const char *user, int64_t ts_us,
                      const msgpack_object *arg, const msgpack_object *kwarg,
                      const char *const *ids, const char *const *unsent, size_t n)
{
    item_t *it = mc_calloc(1, sizeof *it);
    it->is_job = true;
    it->jid = mc_strdup(jid);
    it->fun = mc_strdup(fun);
    it->tgt = mc_strdup(tgt);
    it->tgt_type = mc_strdup(tgt_type);
    it->user = mc_strdup(user);
    it->ts_us = ts_us;
    it->arg = pack_object(arg, &it->arg_len);
    it->kwarg = pack_object(kwarg, &it->kwarg_len);
    it->ids = mc_calloc(n + 1, sizeof *it->ids);
    it->unsent = mc_calloc(n + 1, sizeof *it->unsent);
    for (size_t i = 0; i < n; i++) {
        it->ids[i] = mc_strdup(ids[i]);
        it->unsent[i] = unsent && unsent[i] ? mc_strdup(unsent[i]) : NULL;
    }
    it->n = n;
    enqueue(self, it);
}

void jobcache_add_return(jobcache_t *self, const char *jid, const char *id, int64_t retcode,
                         bool success, const void *raw, size_t len)
{
    item_t *it = mc_calloc(1, sizeof *it);
    it->jid = mc_strdup(jid);
    it->id = mc_strdup(id);
    it->retcode = retcode;
    it->success = success;
    it->raw = mc_malloc(len);
    memcpy(it->raw, raw, len);
    it->raw_len = len;
    enqueue(self, it);
}

size_t jobcache_pending(jobcache_t *self)
{
    return self->pending;
}

static int step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int write_item(jobcache_t *self, const item_t *it)
{
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

int jobcache_flush(jobcache_t *self)
{
    if (!self->head)
        return 0;
    mc_err_t err;
    if (exec(self, "BEGIN", &err) != 0) {
        report_failure(self, "cannot begin a transaction");
        return -1;
    }
    int written = 0;
    for (item_t *it = self->head; it; it = it->next, written++) {
        if (write_item(self, it) != 0) {
            report_failure(self, "write failed");
            exec(self, "ROLLBACK", &err);
            return -1;
        }
    }
    if (exec(self, "COMMIT", &err) != 0) {
        report_failure(self, "commit failed");
        exec(self, "ROLLBACK", &err);
        return -1;
    }
    if (self->failing_since_ms) {
        mc_info("job cache: writing again after %lld s; %d items stored",
                (long long)((mc_mono_ms() - self->failing_since_ms) / 1000), written);
        self->failing_since_ms = 0;
    }
    while (self->head) {
        item_t *it = self->head;
        self->head = it->next;
        item_free(it);
    }
    self->tail = NULL;
    self->pending = 0;
    return written;
}

/* A text column, "" for NULL. */
static const char *text(sqlite3_stmt *st, int c)
{
    const char *s = (const char *)sqlite3_column_text(st, c);
    return s ? s : "";
}

int jobcache_list(jobcache_t *self, const jobcache_query_t *q, mc_reply_jobs_list_t *out,
                  mc_err_t *err)
{
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
static int select_lists(jobcache_t *self, const char *sql, const char *jid, mc_strs_t *a,
                        mc_strs_t *b, mc_err_t *err)
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

int jobcache_job_user(jobcache_t *self, const char *jid, char user[MC_USER_MAX + 1])
{
    sqlite3_stmt *st;
    user[0] = '\0';
    if (sqlite3_prepare_v2(self->db, "SELECT user FROM jobs WHERE jid = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, jid, -1, SQLITE_STATIC);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(user, MC_USER_MAX + 1, "%s", text(st, 0));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int jobcache_show(jobcache_t *self, const char *jid, mc_reply_job_t *out, mc_strs_t *returns,
                  mc_err_t *err)
{
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

int jobcache_prune(jobcache_t *self, int64_t before_us)
{
    static const char *sql[] = {"DELETE FROM returns WHERE jid IN (SELECT jid FROM jobs WHERE ts < "
                                "?1 ORDER BY jid LIMIT 1000)",
                                "DELETE FROM job_minions WHERE jid IN (SELECT jid FROM jobs WHERE "
                                "ts < ?1 ORDER BY jid LIMIT 1000)",
                                "DELETE FROM jobs WHERE jid IN (SELECT jid FROM jobs WHERE ts < ?1 "
                                "ORDER BY jid LIMIT 1000)"};
    int removed = 0;
    for (int i = 0; i < 3; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(self->db, sql[i], -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_int64(st, 1, before_us);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_finalize(st);
            return -1;
        }
        if (i == 2)
            removed = sqlite3_changes(self->db);
        sqlite3_finalize(st);
    }
    return removed;
}
