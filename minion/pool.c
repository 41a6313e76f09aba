/*  pool - see pool.h. */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "proto/proto.h"

/* A worker busy this long past its job's limit is stuck: the function's
   own timeout handling (TERM, then KILL 2 s later) has had time to act. */
#define OVERDUE_GRACE_MS 5000

typedef struct {
    pid_t pid;
    int fd;
    bool busy;
    char jid[MC_JID_LEN + 1];
    char fun[MC_FUN_MAX + 1];
    int64_t deadline_ms;
    int64_t started_us;
    mc_buf_t in;
} worker_t;

typedef struct queued {
    struct queued *next;
    char jid[MC_JID_LEN + 1];
    char fun[MC_FUN_MAX + 1];
    int64_t timeout_s;
    char *job;
    size_t len;
} queued_t;

struct _pool_t {
    worker_t *workers;
    int count, queue_max, queued;
    queued_t *head, *tail;
    worker_ctx_t ctx;
    char *grains;
    size_t grains_len;
    pool_return_fn *on_return;
    void *arg;
};

pool_t *pool_new(int workers, int queue_max, const worker_ctx_t *ctx, pool_return_fn *on_return,
                 void *arg)
{
    pool_t *self = mc_calloc(1, sizeof *self);
    self->count = workers;
    self->queue_max = queue_max;
    self->workers = mc_calloc((size_t)workers, sizeof *self->workers);
    for (int i = 0; i < workers; i++)
        self->workers[i].fd = -1;
    self->ctx = *ctx;
    self->on_return = on_return;
    self->arg = arg;
    return self;
}

void pool_set_grains(pool_t *self, const char *data, size_t len)
{
    free(self->grains);
    self->grains = mc_malloc(len);
    memcpy(self->grains, data, len);
    self->grains_len = len;
}

static int spawn_worker(pool_t *self, worker_t *w, mc_err_t *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        mc_err_set(err, "socketpair: %s", strerror(errno));
        return -1;
    }
    pid_t minion = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        mc_err_set(err, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        /* When the minion dies, even by SIGKILL, the worker gets SIGTERM:
           it cancels the running job, which kills the job's process group,
           and the worker ends (nothing left to report to). A minion gone
           already before this line is noticed by the parent changing. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != minion)
            _exit(1);
        /* The worker keeps only its pipe and stdio: no sockets, no signalfd,
           no other worker's pipe. Signals back to their defaults. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        if (dup2(sv[1], 3) < 0)
            _exit(1);
        close_range(4, ~0U, 0);
        mc_log_after_fork();
        worker_main(3, &self->ctx);
    }
    close(sv[1]);
    w->pid = pid; /* our end stays blocking for writes; reads never block */
    w->fd = sv[0];
    w->busy = false;
    w->in.len = 0;
    return 0;
}

int pool_start(pool_t *self, mc_err_t *err)
{
    for (int i = 0; i < self->count; i++)
        if (spawn_worker(self, &self->workers[i], err) != 0)
            return -1;
    return 0;
}

static void hand_to(pool_t *self, worker_t *w, const char *jid, const char *fun, int64_t timeout_s,
                    const char *job, size_t len)
{
    /* The worker is idle and reading, so this blocking write finishes. A
       worker that died meanwhile fails it; its EOF brings the job back as
       an error return. */
    snprintf(w->jid, sizeof w->jid, "%s", jid);
    snprintf(w->fun, sizeof w->fun, "%s", fun);
    w->busy = true;
    w->started_us = mc_wall_us();
    w->deadline_ms = mc_mono_ms() + timeout_s * 1000 + OVERDUE_GRACE_MS;
    if (frame_write2(w->fd, job, len, self->grains ? self->grains : "", self->grains_len) != 0)
        mc_warn("worker %d: cannot hand over job %s: %s", (int)w->pid, jid, strerror(errno));
}

static worker_t *idle_worker(pool_t *self)
{
    for (int i = 0; i < self->count; i++)
        if (self->workers[i].fd >= 0 && !self->workers[i].busy)
            return &self->workers[i];
    return NULL;
}

static void dispatch_queued(pool_t *self)
{
    worker_t *w;
    while (self->head && (w = idle_worker(self))) {
        queued_t *q = self->head;
        self->head = q->next;
        if (!self->head)
            self->tail = NULL;
        self->queued--;
        hand_to(self, w, q->jid, q->fun, q->timeout_s, q->job, q->len);
        free(q->job);
        free(q);
    }
}

int pool_submit(pool_t *self, const char *jid, const char *fun, int64_t timeout_s, const char *job,
                size_t len)
{
    worker_t *w = idle_worker(self);
    if (w && !self->head) {
        hand_to(self, w, jid, fun, timeout_s, job, len);
        return 0;
    }
    if (self->queued >= self->queue_max)
        return -1;
    queued_t *q = mc_calloc(1, sizeof *q);
    snprintf(q->jid, sizeof q->jid, "%s", jid);
    snprintf(q->fun, sizeof q->fun, "%s", fun);
    q->timeout_s = timeout_s;
    q->job = mc_malloc(len);
    memcpy(q->job, job, len);
    q->len = len;
    if (self->tail)
        self->tail->next = q;
    else
        self->head = q;
    self->tail = q;
    self->queued++;
    return 0;
}

int pool_pollfds(pool_t *self, struct pollfd *fds, int max)
{
    int n = 0;
    for (int i = 0; i < self->count && n < max; i++)
        if (self->workers[i].fd >= 0)
            fds[n++] = (struct pollfd){self->workers[i].fd, POLLIN, 0};
    return n;
}

/* A worker is gone (EOF, or killed): answer for its job, start another. */
static void replace_worker(pool_t *self, worker_t *w, const char *why)
{
    int status = 0;
    if (w->pid > 0) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, &status, 0);
    }
    close(w->fd);
    w->fd = -1;
    char how[64] = "";
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, " (signal %d)", WTERMSIG(status));
    if (w->busy) {
        char msg[256];
        snprintf(msg, sizeof msg, "the worker running %s %s%s; the job did not finish", w->fun, why,
                 how);
        mc_error("job %s: %s", w->jid, msg);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_ret_pack_error(&sb, w->jid, self->ctx.id, w->fun, 1, msg);
        self->on_return(self->arg, w->jid, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    } else {
        mc_warn("worker %d %s%s; replacing it", (int)w->pid, why, how);
    }
    w->busy = false;
    w->pid = 0;
    mc_buf_free(&w->in);
    mc_err_t err;
    if (spawn_worker(self, w, &err) != 0)
        mc_error("cannot replace a worker: %s", err.msg);
    dispatch_queued(self);
}

void pool_on_readable(pool_t *self, int fd)
{
    worker_t *w = NULL;
    for (int i = 0; i < self->count && !w; i++)
        if (self->workers[i].fd == fd)
            w = &self->workers[i];
    if (!w)
        return;
    char chunk[65536];
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n > 0) {
            mc_buf_append(&w->in, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        replace_worker(self, w, "died");
        return;
    }
    const char *data;
    size_t len, used;
    int rc;
    while ((rc = frame_take(&w->in, &used, &data, &len)) == 1) {
        if (w->busy) {
            w->busy = false;
            self->on_return(self->arg, w->jid, data, len);
        }
        memmove(w->in.data, w->in.data + used, w->in.len - used);
        w->in.len -= used;
    }
    if (rc < 0) {
        replace_worker(self, w, "sent garbage");
        return;
    }
    dispatch_queued(self);
}

void pool_check(pool_t *self)
{
    int64_t now = mc_mono_ms();
    for (int i = 0; i < self->count; i++) {
        worker_t *w = &self->workers[i];
        if (w->fd >= 0 && w->busy && now > w->deadline_ms)
            replace_worker(self, w, "was still busy past the time limit and was killed");
        else if (w->fd < 0) {
            mc_err_t err;
            if (spawn_worker(self, w, &err) != 0)
                mc_error("cannot start a worker: %s", err.msg);
        }
    }
}

int pool_busy(pool_t *self)
{
    int n = 0;
    for (int i = 0; i < self->count; i++)
        n += self->workers[i].busy;
    return n;
}

int pool_queued(pool_t *self)
{
    return self->queued;
}

void pool_destroy(pool_t **pself)
{
    pool_t *self = *pself;
    if (!self)
        return;
    for (int i = 0; i < self->count; i++) {
        worker_t *w = &self->workers[i];
        if (w->fd >= 0)
            close(w->fd); /* an idle worker exits on EOF */
        if (w->pid > 0 && w->busy)
            kill(w->pid, SIGTERM);
    }
    for (int i = 0; i < self->count; i++) {
        if (self->workers[i].pid > 0)
            waitpid(self->workers[i].pid, NULL, 0);
        mc_buf_free(&self->workers[i].in);
    }
    while (self->head) {
        queued_t *q = self->head;
        self->head = q->next;
        free(q->job);
        free(q);
    }
    free(self->grains);
    free(self->workers);
    free(self);
    *pself = NULL;
}

bool pool_kill(pool_t *self, const char *jid)
{
    for (int i = 0; i < self->count; i++) {
        worker_t *w = &self->workers[i];
        if (w->fd >= 0 && w->busy && strcmp(w->jid, jid) == 0) {
            kill(w->pid, SIGTERM);
            return true;
        }
    }
    return false;
}

void pool_drop_queued(pool_t *self, const char *why)
{
    while (self->head) {
        queued_t *q = self->head;
        self->head = q->next;
        self->queued--;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_ret_pack_error(&sb, q->jid, self->ctx.id, q->fun, 1, why);
        self->on_return(self->arg, q->jid, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        free(q->job);
        free(q);
    }
    self->tail = NULL;
}

void pool_cancel_running(pool_t *self)
{
    for (int i = 0; i < self->count; i++)
        if (self->workers[i].fd >= 0 && self->workers[i].busy)
            kill(self->workers[i].pid, SIGTERM);
}

void pool_pack_running(pool_t *self, msgpack_packer *pk)
{
    for (int i = 0; i < self->count; i++) {
        worker_t *w = &self->workers[i];
        if (!w->busy)
            continue;
        msgpack_pack_map(pk, 4);
        mc_pk_kv_str(pk, "jid", w->jid);
        mc_pk_kv_str(pk, "fun", w->fun);
        mc_pk_kv_int(pk, "pid", w->pid);
        mc_pk_kv_int(pk, "started", w->started_us);
    }
}
