/*  follow - `mctl jobs wait` on a job this master does not hold in
    memory: one another master published (masters sharing one PostgreSQL
    history), or one this master published before it was restarted.

    The history says when the job's time is up; until then the waiting
    client is a follower: every second the job's returns are read again
    from the history (by the job cache's reader thread, off the loop) and
    those the client has not had are sent to it, as a job in flight sends
    its waiters each return; the next read is asked for once that one is
    back. A follower ends when
    every minion the job went to has returned, when the job's time is up,
    or when the client has gone, after a last read (none when writes are
    behind then). A client that has gone is seen when a send to it fails:
    a second with no new return sends it ["tick"][] (which it ignores), so
    a client that left (Ctrl-C on `mctl jobs wait`) gives its place back
    within a second of its read coming back, not when the job's time is
    up.
    At most FOLLOWERS_MAX at once and FOLLOWERS_PER_USER of one user (each
    costs a read of the history a second); past that the client is told to
    try again. No read while the job cache's writes fail: that read would
    wait on the failing store, and hold up clients' reads behind it. */
#include "master.h"

#include <errno.h>
#include <string.h>

#define FOLLOWERS_MAX      32
#define FOLLOWERS_PER_USER 8

typedef struct {
    master_t *self;
    zframe_t *route;
    char user[MC_USER_MAX + 1];
    char jid[MC_JID_LEN + 1];
    int64_t until_ms; /* monotonic: the job's time is up */
    zhashx_t *sent;   /* ids whose return the client has had */
    size_t expected;  /* minions the job was sent to */
    void *handle;     /* in self->followers */
    bool reading;     /* a read of the history is out for it */
    bool last;        /* its time is up: the read out is its last */
} follower_t;

static void follower_free(void **item)
{
    follower_t *f = *item;
    if (f) {
        zframe_destroy(&f->route);
        zhashx_destroy(&f->sent);
        free(f);
        *item = NULL;
    }
}

/* Send the returns among `returns` the follower has not had: how many,
   or -1 when the client has gone. */
static int send_new(master_t *self, follower_t *f, const mc_strs_t *returns)
{
    int sent = 0;
    for (size_t i = 0; i < returns->count; i++) {
        mc_ret_t ret;
        mc_err_t err;
        if (mc_ret_decode(&ret, returns->items[i], returns->lens[i], &err) != 0) {
            mc_log_limited(&self->stale_log, MC_LOG_WARNING,
                           "job %s: a stored return cannot be read: %s", f->jid, err.msg);
            continue;
        }
        bool fresh = !zhashx_lookup(f->sent, ret.id);
        if (fresh)
            zhashx_insert(f->sent, ret.id, (void *)1);
        mc_ret_done(&ret);
        if (!fresh)
            continue;
        if (clients_send(self, f->route, MC_KIND_RETURN, returns->items[i], returns->lens[i]) != 0)
            return -1;
        sent++;
    }
    return sent;
}

/* Whether the follower's client has gone: a tick it ignores, refused
   because its connection has closed. */
static bool client_gone(master_t *self, follower_t *f)
{
    return clients_send(self, f->route, MC_KIND_TICK, "", 0) != 0 && errno == EHOSTUNREACH;
}

bool follow_full(master_t *self, const char *user)
{
    if (!self->followers)
        return false;
    if (zlistx_size(self->followers) >= FOLLOWERS_MAX)
        return true;
    size_t mine = 0;
    for (follower_t *f = zlistx_first(self->followers); f; f = zlistx_next(self->followers))
        mine += strcmp(f->user, user) == 0;
    return mine >= FOLLOWERS_PER_USER;
}

void follow_start(master_t *self, zframe_t *route, const char *user, const char *jid,
                  int64_t until_ms, size_t expected, zhashx_t **had)
{
    if (!self->followers) {
        self->followers = zlistx_new();
        zlistx_set_destructor(self->followers, follower_free);
    }
    follower_t *f = mc_calloc(1, sizeof *f);
    f->self = self;
    f->route = zframe_dup(route);
    snprintf(f->user, sizeof f->user, "%s", user);
    snprintf(f->jid, sizeof f->jid, "%s", jid);
    f->until_ms = until_ms;
    f->expected = expected;
    f->sent = *had;
    *had = NULL;
    f->handle = zlistx_add_end(self->followers, f);
    mc_debug("job %s: a client follows it in the history (%zu of %zu returned)", jid,
             zhashx_size(f->sent), expected);
}

/* The end of a follower: every return sent, its time up, or its client
   gone. */
static void settle(follower_t *f, int sent)
{
    master_t *self = f->self;
    bool done = f->last || sent < 0 || zhashx_size(f->sent) >= f->expected;
    if (!done && sent == 0 && client_gone(self, f)) {
        mc_debug("job %s: the client following it has gone", f->jid);
        done = true;
    }
    if (done)
        zlistx_delete(self->followers, f->handle);
}

/* A read of the history for a follower is back (jobcache_shown_fn). */
static void shown(void *arg, mc_reply_job_t *job, mc_strs_t *returns, const int64_t *expires_us,
                  const mc_err_t *err)
{
    (void)expires_us;
    follower_t *f = arg;
    f->reading = false;
    int sent = 0;
    if (job)
        sent = send_new(f->self, f, returns);
    else if (!f->self->stop) /* else each follower would say "stopping" */
        mc_log_limited(&f->self->stale_log, MC_LOG_WARNING,
                       "job %s: cannot read it for a waiting client: %s", f->jid, err->msg);
    settle(f, sent);
}

void follow_tick(master_t *self, int64_t now_ms)
{
    if (!self->followers)
        return;
    bool behind = jobcache_behind(self->cache);
    for (follower_t *f = zlistx_first(self->followers); f;) {
        follower_t *next = zlistx_next(self->followers);
        if (!f->reading) {
            /* Past its time: one last read (unless behind), then it ends. */
            f->last = now_ms >= f->until_ms;
            mc_err_t err;
            if (behind)
                settle(f, 0);
            else if (jobcache_show_read(self->cache, f->jid, false, shown, f, &err) == 0)
                f->reading = true;
            else {
                mc_log_limited(&self->stale_log, MC_LOG_WARNING,
                               "job %s: cannot read it for a waiting client: %s", f->jid, err.msg);
                settle(f, 0);
            }
        }
        f = next;
    }
}

void follow_stop_all(master_t *self)
{
    zlistx_destroy(&self->followers);
}
