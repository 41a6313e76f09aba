/*  receive - see receive.h; the files themselves are receive_file.c's. */
#include "receive_xfer.h"

/* A cpack after this many chunks or bytes, or once none has come for
   CPACK_IDLE_MS. */
#define CPACK_EVERY   16
#define CPACK_BYTES   (512 * 1024)
#define CPACK_IDLE_MS 20

struct _receive_t {
    char *id, *state_dir;
    receive_send_fn *send;
    receive_return_fn *ret;
    void *arg;
    xfer_t *head;
    int count;
    mc_log_limit_t stray_log;
    unsigned char *scratch; /* where chunks are decrypted, reused */
    size_t scratch_len;
};

/* ---- records of temporary files ------------------------------------------ */

/* Remove the temporary files an earlier run left: each line of a record
   is a path whose last part is .mctl-cp.JID.PID.N of the record's jid. */
/* Whether base is .mctl-cp.JID.PID.N for this jid. */
static bool temp_name(const char *base, const char *jid)
{
    char prefix[MC_JID_LEN + 16];
    snprintf(prefix, sizeof prefix, ".mctl-cp.%s.", jid);
    if (strncmp(base, prefix, strlen(prefix)) != 0)
        return false;
    const char *p = base + strlen(prefix);
    for (int part = 0; part < 2; part++) {
        const char *start = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == start || *p != (part == 0 ? '.' : '\0'))
            return false;
        p++;
    }
    return true;
}

static void clean_record(const char *path, const char *jid)
{
    FILE *f = fopen(path, "re");
    if (f) {
        char line[MC_CP_PATH_MAX * 2 + 128];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            const char *base = strrchr(line, '/');
            if (!base || !temp_name(base + 1, jid))
                continue;
            if (unlink(line) == 0)
                mc_warn("copy %s: removed %s, left by a copy that did not finish", jid, line);
        }
        fclose(f);
    }
    unlink(path);
}

static void clean_records(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "cp-", 3) != 0 ||
            !mc_jid_valid(e->d_name + 3, strlen(e->d_name + 3)))
            continue;
        char *path = mc_sprintf("%s/%s", dir, e->d_name);
        clean_record(path, e->d_name + 3);
        free(path);
    }
    closedir(d);
}

receive_t *receive_new(const char *id, const char *state_dir, receive_send_fn *send,
                       receive_return_fn *ret, void *arg)
{
    receive_t *self = mc_calloc(1, sizeof *self);
    self->id = mc_strdup(id);
    self->state_dir = mc_strdup(state_dir);
    self->send = send;
    self->ret = ret;
    self->arg = arg;
    clean_records(state_dir);
    return self;
}

/* ---- the copy ---------------------------------------------------------- */

static void xfer_free(xfer_t *x)
{
    xfer_close_current(x, true);
    xfer_leave_dir(x);
    if (x->record_fd >= 0)
        close(x->record_fd);
    if (x->root >= 0)
        close(x->root);
    for (size_t i = 0; i < x->m.count; i++)
        free(x->why[i]);
    free(x->why);
    free(x->state);
    if (x->record) {
        unlink(x->record);
        free(x->record);
    }
    mc_cp_manifest_free(&x->m);
    sodium_memzero(x->key, sizeof x->key);
    free(x->root_path);
    free(x->single);
    free(x);
}

static void send_cpack(receive_t *self, xfer_t *x, const unsigned char *have, size_t have_len)
{
    x->acked_seq = x->seq;
    x->unacked = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_cpack_spec_t spec = {
        .jid = x->jid, .id = self->id, .seq = x->seq, .have = have, .have_len = have_len};
    mc_cpack_pack(&sb, &spec);
    self->send(self->arg, x->jid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* The return: {path: "written" | "unchanged" | why}, retcode 1 if any
   file failed. */
static void finish(receive_t *self, xfer_t *x)
{
    xfer_close_current(x, true);
    xfer_leave_dir(x); /* the last renames are durable before the return says so */
    msgpack_sbuffer value, sb;
    msgpack_sbuffer_init(&value);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &value, msgpack_sbuffer_write);
    size_t files = 0, failed = 0, written = 0;
    for (size_t i = 0; i < x->m.count; i++)
        files += !x->m.files[i].dir || x->state[i] == F_FAILED;
    msgpack_pack_map(&pk, files);
    for (size_t i = 0; i < x->m.count; i++) {
        if (x->m.files[i].dir && x->state[i] != F_FAILED)
            continue;
        char *full = xfer_full_path(x, xfer_file_name(x, i));
        mc_pk_str(&pk, full);
        free(full);
        if (x->state[i] == F_DONE) {
            mc_pk_str(&pk, "written");
            written++;
        } else if (x->state[i] == F_HAVE) {
            mc_pk_str(&pk, "unchanged");
        } else {
            mc_pk_str(&pk, x->why[i] ? x->why[i] : "not received");
            failed++;
        }
    }
    mc_ret_spec_t spec = {.jid = x->jid,
                          .id = self->id,
                          .fun = x->fun,
                          .retcode = failed ? 1 : 0,
                          .success = failed == 0,
                          .value = value.data,
                          .value_len = value.size,
                          .started = x->started_us,
                          .duration_ms = (mc_wall_us() - x->started_us) / 1000};
    mc_ret_pack(&sb, &spec);
    mc_info("copy %s: %zu written, %zu failed, %zu files in all", x->jid, written, failed, files);
    self->ret(self->arg, x->jid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&value);
    msgpack_sbuffer_destroy(&sb);
    for (xfer_t **pp = &self->head; *pp; pp = &(*pp)->next) {
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    }
    self->count--;
    xfer_free(x);
}

/* Every file not yet done fails with why; the copy ends. */
static void abandon(receive_t *self, xfer_t *x, const char *why)
{
    for (size_t i = 0; i < x->m.count; i++)
        if (x->state[i] == F_TODO)
            xfer_file_failed(x, i, "%s", why);
    finish(self, x);
}

static void error_return(receive_t *self, const mc_job_t *job, const char *msg)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_ret_pack_error(&sb, job->jid, self->id, job->fun, 1, msg);
    mc_warn("copy %s: %s", job->jid, msg);
    self->ret(self->arg, job->jid, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* USER or USER:GROUP, as this minion knows them. */
static int parse_owner(xfer_t *x, char *why, size_t cap)
{
    char user[MC_CP_OWNER_MAX + 1];
    snprintf(user, sizeof user, "%s", x->m.owner);
    char *group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(why, cap, "no user '%s' on this minion", user);
        return -1;
    }
    x->uid = pw->pw_uid;
    x->gid = pw->pw_gid;
    if (group && *group) {
        struct group *gr = getgrnam(group);
        if (!gr) {
            snprintf(why, cap, "no group '%s' on this minion", group);
            return -1;
        }
        x->gid = gr->gr_gid;
    }
    x->chown = true;
    return 0;
}

/* A destination directory that is not there: made in its parent (which
   must be), and opened without following a link, so that what gets its
   mode and owner is the directory just made. */
static int make_root(xfer_t *x, char *why, size_t cap)
{
    char *path = mc_strdup(x->m.dest);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    char *slash = strrchr(path, '/');
    char *leaf = slash + 1;
    *slash = '\0';
    int parent = open(path[0] ? path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = -1;
    bool made = false;
    if (parent < 0) {
        snprintf(why, cap, "%s: %s", path[0] ? path : "/", strerror(errno));
    } else if ((made = mkdirat(parent, leaf, 0700) == 0) == false && errno != EEXIST) {
        snprintf(why, cap, "%s: cannot create it: %s", x->m.dest, strerror(errno));
    } else {
        /* Made here, or by someone else meanwhile (then left as it is). */
        x->root = openat(parent, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (x->root < 0) {
            snprintf(why, cap, "%s: %s", x->m.dest, xfer_not_dir_why(parent, leaf, errno));
        } else {
            /* 0755 whatever the minion's umask, as mkdir -p would. */
            if (made && fchmod(x->root, 0755) != 0)
                mc_warn("copy %s: chmod %s: %s", x->jid, x->m.dest, strerror(errno));
            if (made && x->chown && fchown(x->root, x->uid, x->gid) != 0)
                mc_warn("copy %s: chown %s: %s", x->jid, x->m.dest, strerror(errno));
            x->root_path = mc_strdup(x->m.dest);
            rc = 0;
        }
    }
    if (parent >= 0)
        close(parent);
    free(path);
    return rc;
}

/* Open the destination: the directory the names are under. */
static int open_root(xfer_t *x, char *why, size_t cap)
{
    const char *dest = x->m.dest;
    x->root = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (x->root >= 0) {
        x->root_path = mc_strdup(dest);
        return 0;
    }
    int e = errno;
    if (x->m.into) {
        if (e == ENOENT)
            return make_root(x, why, cap);
        snprintf(why, cap, "%s: %s", dest, e == ENOTDIR ? "not a directory" : strerror(e));
        return -1;
    }
    if (e != ENOENT && e != ENOTDIR) {
        snprintf(why, cap, "%s: %s", dest, strerror(e));
        return -1;
    }
    /* A file path: its directory must be there. */
    const char *slash = strrchr(dest, '/');
    if (!slash[1]) {
        snprintf(why, cap, "%s: not a directory", dest);
        return -1;
    }
    char *parent = slash == dest ? mc_strdup("/") : mc_strndup(dest, (size_t)(slash - dest));
    x->root = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (x->root < 0) {
        snprintf(why, cap, "%s: %s", parent,
                 errno == ENOTDIR ? "not a directory" : strerror(errno));
        free(parent);
        return -1;
    }
    x->root_path = parent;
    x->single = mc_strdup(slash + 1);
    return 0;
}

void receive_start(receive_t *self, const mc_job_t *job)
{
    mc_err_t err;
    char why[1024];
    if (self->count >= RECEIVE_MAX) {
        snprintf(why, sizeof why, "%d copies are in progress here already; refused", self->count);
        error_return(self, job, why);
        return;
    }
    xfer_t *x = mc_calloc(1, sizeof *x);
    x->root = x->fd = x->dir = x->record_fd = -1;
    x->pid = (long)getpid();
    x->cur = -1;
    if (mc_cp_manifest_decode(job->kwarg, "copy", &x->m, &err) != 0 ||
        mc_proto_key(job->kwarg, "key", x->key, &err) != 0) {
        snprintf(why, sizeof why, "not a copy sent by mctl cp: %s", err.msg);
        error_return(self, job, why);
        xfer_free(x);
        return;
    }
    snprintf(x->jid, sizeof x->jid, "%s", job->jid);
    snprintf(x->fun, sizeof x->fun, "%s", job->fun);
    x->timeout_ms = job->timeout * 1000;
    x->last_ms = mc_mono_ms();
    x->started_us = mc_wall_us();
    x->state = mc_calloc(x->m.count, 1);
    x->why = mc_calloc(x->m.count, sizeof *x->why);
    x->todo = x->m.count;
    if ((x->m.owner[0] && parse_owner(x, why, sizeof why) != 0) ||
        open_root(x, why, sizeof why) != 0) {
        error_return(self, job, why);
        xfer_free(x);
        return;
    }
    x->record = mc_sprintf("%s/cp-%s", self->state_dir, x->jid);
    x->next = self->head;
    self->head = x;
    self->count++;

    /* Directories first (the manifest lists each before what is in it),
       then what is already here, then the empty files. */
    unsigned char *have = mc_calloc((x->m.count + 7) / 8, 1);
    for (size_t i = 0; i < x->m.count; i++) {
        const mc_cp_file_t *f = &x->m.files[i];
        if (f->dir) {
            xfer_make_dir(x, i);
        } else if (xfer_have_file(x, i)) {
            x->state[i] = F_HAVE;
            x->todo--;
            have[i / 8] |= (unsigned char)(1u << (i % 8));
        } else if (f->size == 0 && xfer_open_file(x, i) == 0) {
            xfer_complete_file(x, i);
        }
    }
    mc_info("copy %s: %zu files and directories to %s, %zu to receive", x->jid, x->m.count,
            x->m.dest, x->todo);
    send_cpack(self, x, have, (x->m.count + 7) / 8);
    free(have);
    if (x->todo == 0)
        finish(self, x);
}

static xfer_t *find(receive_t *self, const char *jid)
{
    for (xfer_t *x = self->head; x; x = x->next)
        if (strcmp(x->jid, jid) == 0)
            return x;
    return NULL;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One part of a chunk: its bytes go to the end of its file (the one
   being written, or the next), which is put in place once whole. */
static void take_part(xfer_t *x, const mc_chunk_part_t *p)
{
    size_t i = p->file;
    if (x->cur >= 0 && (size_t)x->cur != i)
        xfer_file_failed(x, (size_t)x->cur, "the sender moved on before the file was complete");
    if (x->state[i] != F_TODO)
        return;
    if (p->abort) {
        xfer_file_failed(x, i, "the source changed while it was being read; not copied");
        return;
    }
    if (x->cur < 0 && xfer_open_file(x, i) != 0)
        return;
    const mc_cp_file_t *f = &x->m.files[i];
    if (p->off != x->got || p->len > f->size - x->got) {
        xfer_file_failed(x, i, "data out of place (offset %llu, expected %llu)",
                         (unsigned long long)p->off, (unsigned long long)x->got);
        return;
    }
    if (write_all(x->fd, p->data, p->len) != 0) {
        xfer_file_failed(x, i, "%s", strerror(errno));
        return;
    }
    crypto_generichash_update(&x->hash, p->data, p->len);
    x->got += p->len;
    if (x->got == f->size)
        xfer_complete_file(x, i);
}

void receive_chunk(receive_t *self, const void *buf, size_t len)
{
    mc_chunk_t c = {0};
    mc_err_t err;
    char jid[MC_JID_LEN + 1];
    if (mc_chunk_jid(buf, len, jid) != 0) {
        mc_warn("refused a chunk without a header");
        return;
    }
    xfer_t *x = find(self, jid);
    if (!x) {
        /* Chunks still on their way after the copy ended here. */
        mc_log_limited(&self->stray_log, MC_LOG_DEBUG, "chunk of copy %s, which is not in progress",
                       jid);
        return;
    }
    if (len > self->scratch_len) {
        free(self->scratch);
        self->scratch = mc_malloc(len);
        self->scratch_len = len;
    }
    if (mc_chunk_decode_into(&c, buf, len, x->key, self->scratch, &err) != 0) {
        char why[600];
        snprintf(why, sizeof why, "%s; the copy was stopped", err.msg);
        abandon(self, x, why);
        return;
    }
    if (c.f.seq != x->seq) {
        char why[160];
        snprintf(why, sizeof why,
                 "chunk %lld never arrived (the connection to the master broke); the copy was "
                 "stopped",
                 (long long)x->seq);
        abandon(self, x, why);
        goto out;
    }
    x->seq++;
    x->last_ms = mc_mono_ms();
    for (size_t k = 0; k < c.f.nparts; k++) {
        const mc_chunk_part_t *p = &c.f.parts[k];
        if (p->file >= x->m.count || x->m.files[p->file].dir) {
            abandon(self, x, "a chunk for no file of the copy; the copy was stopped");
            goto out;
        }
        take_part(x, p);
        x->unacked += p->len;
    }
    /* mctl keeps a window of chunks in flight: a cpack every few of them
       (or once no more come, receive_check) keeps it open, with a fraction
       of the messages one for each would take. */
    if (x->todo == 0)
        finish(self, x);
    else if (x->seq - x->acked_seq >= CPACK_EVERY || x->unacked >= CPACK_BYTES)
        send_cpack(self, x, NULL, 0);
out:
    mc_chunk_done(&c);
}

void receive_check(receive_t *self, int64_t now_ms)
{
    for (xfer_t *x = self->head, *next; x; x = next) {
        next = x->next;
        if (x->seq > x->acked_seq && now_ms - x->last_ms >= CPACK_IDLE_MS)
            send_cpack(self, x, NULL, 0);
        if (now_ms - x->last_ms > x->timeout_ms) {
            char why[160];
            snprintf(why, sizeof why, "no data for %lld s: the copy was abandoned",
                     (long long)(x->timeout_ms / 1000));
            abandon(self, x, why);
        }
    }
}

bool receive_kill(receive_t *self, const char *jid)
{
    xfer_t *x = find(self, jid);
    if (x)
        abandon(self, x, "the copy was stopped on request (jobs.kill)");
    return x != NULL;
}

void receive_abandon(receive_t *self, const char *why)
{
    while (self->head)
        abandon(self, self->head, why);
}

long receive_due(receive_t *self, int64_t now_ms)
{
    long due = -1;
    for (xfer_t *x = self->head; x; x = x->next) {
        if (x->seq > x->acked_seq) {
            long in = (long)(x->last_ms + CPACK_IDLE_MS - now_ms);
            in = in < 0 ? 0 : in;
            due = due < 0 || in < due ? in : due;
        }
    }
    return due;
}

void receive_pack_running(receive_t *self, msgpack_packer *pk)
{
    for (xfer_t *x = self->head; x; x = x->next) {
        msgpack_pack_map(pk, 4);
        mc_pk_kv_str(pk, "jid", x->jid);
        mc_pk_kv_str(pk, "fun", x->fun);
        mc_pk_kv_int(pk, "pid", x->pid);
        mc_pk_kv_int(pk, "started", x->started_us);
    }
}

int receive_active(receive_t *self)
{
    return self->count;
}

void receive_destroy(receive_t **pself)
{
    receive_t *self = *pself;
    if (!self)
        return;
    while (self->head) {
        xfer_t *x = self->head;
        self->head = x->next;
        xfer_free(x);
    }
    free(self->id);
    free(self->state_dir);
    free(self->scratch);
    free(self);
    *pself = NULL;
}
