/*  receive - see receive.h. */
#include "receive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* A cpack after this many chunks or bytes, or once none has come for
   CPACK_IDLE_MS. */
#define CPACK_EVERY   16
#define CPACK_BYTES   (512 * 1024)
#define CPACK_IDLE_MS 20

typedef enum { F_TODO, F_HAVE, F_DONE, F_FAILED } file_state_t;

typedef struct xfer {
    struct xfer *next;
    char jid[MC_JID_LEN + 1];
    char fun[MC_FUN_MAX + 1];
    unsigned char key[32];
    mc_cp_manifest_t m;
    int root;        /* the directory the names are under */
    char *root_path; /* and its path, for messages */
    char *single;    /* a copy to a file path: the file's name under root */
    unsigned char *state;
    char **why; /* a failed file's reason */
    size_t todo;
    int64_t seq;
    int64_t acked_seq; /* the seq the last cpack said */
    uint64_t unacked;  /* bytes taken since */
    /* The file being written, and the directory it is in (kept open for
       the next file there, and fsync'd when left: see leave_dir). */
    long cur;
    int fd, dir;
    char *dir_name; /* relative to root, "" for root itself */
    bool dir_dirty; /* a rename in dir since its last fsync */
    long pid;
    uint64_t got;
    crypto_generichash_state hash;
    char tmp[64];
    bool chown;
    uid_t uid;
    gid_t gid;
    int64_t timeout_ms, last_ms, started_us;
    char *record;  /* the record of temporary files */
    int record_fd; /* open for appending, once the first is made */
} xfer_t;

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

/* ---- paths ------------------------------------------------------------------ */

/* The full path of a name, for messages and the return. */
static char *full_path(const xfer_t *x, const char *name)
{
    return mc_sprintf("%s%s%s", x->root_path,
                      x->root_path[strlen(x->root_path) - 1] == '/' ? "" : "/", name);
}

/* Why name under dirfd could not be opened as a directory (errno e). */
static const char *not_dir_why(int dirfd, const char *name, int e)
{
    struct stat st;
    if ((e == ENOTDIR || e == ELOOP) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISLNK(st.st_mode) ? "a symbolic link, not followed" : "not a directory";
    return strerror(e);
}

/* The directory a name is in, opened without following a symbolic link
   below the root, and created (with create) where missing. Returns the
   descriptor (root itself for a name without '/'; the caller closes any
   other) and the name's last part in *leaf, or -1 with why. */
static int open_parent(xfer_t *x, const char *name, bool create, const char **leaf, char *why,
                       size_t cap)
{
    int fd = x->root;
    const char *p = name, *slash;
    char part[256];
    while ((slash = strchr(p, '/'))) {
        size_t n = (size_t)(slash - p);
        memcpy(part, p, n);
        part[n] = '\0';
        int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, part, 0755) == 0 || errno == EEXIST) {
                next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                /* 0755 whatever the minion's umask, as mkdir -p would. */
                if (next >= 0 && fchmod(next, 0755) != 0)
                    mc_warn("copy %s: chmod of a new directory: %s", x->jid, strerror(errno));
                if (next >= 0 && x->chown && fchown(next, x->uid, x->gid) != 0)
                    mc_warn("copy %s: chown of a new directory: %s", x->jid, strerror(errno));
            }
        }
        if (next < 0) {
            int e = errno;
            char *dir = mc_strndup(name, (size_t)(slash - name));
            char *full = full_path(x, dir);
            snprintf(why, cap, "%s: %s", full, not_dir_why(fd, part, e));
            free(full);
            free(dir);
            if (fd != x->root)
                close(fd);
            return -1;
        }
        if (fd != x->root)
            close(fd);
        fd = next;
        p = slash + 1;
    }
    *leaf = p;
    return fd;
}

/* ---- per file ----------------------------------------------------------- */

/* The temporary file's path goes into the record before the file is
   made: one write(2) of one line, so that a kill leaves whole lines. A
   file that cannot be noted is not made (a kill would leave it behind).
   Returns 0, or -1 with errno. */
static int record_temp(xfer_t *x)
{
    if (x->record_fd < 0)
        x->record_fd = open(x->record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (x->record_fd < 0)
        return -1;
    char *full = x->dir_name[0] ? full_path(x, x->dir_name) : mc_strdup(x->root_path);
    char *line = mc_sprintf("%s/%s\n", full, x->tmp);
    ssize_t w = write(x->record_fd, line, strlen(line));
    int e = errno;
    bool whole = w == (ssize_t)strlen(line);
    free(line);
    free(full);
    errno = w < 0 ? e : ENOSPC;
    return whole ? 0 : -1;
}

/* Leave the current directory: its renames are made durable. */
static void leave_dir(xfer_t *x)
{
    if (x->dir >= 0 && x->dir_dirty)
        fsync(x->dir);
    if (x->dir >= 0 && x->dir != x->root)
        close(x->dir);
    x->dir = -1;
    x->dir_dirty = false;
    free(x->dir_name);
    x->dir_name = NULL;
}

/* The directory name is in, opened (and created where missing) without
   following a link; the one already open when it is the same. */
static int enter_dir(xfer_t *x, const char *name, const char **leaf, char *why, size_t cap)
{
    const char *slash = strrchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : 0;
    *leaf = slash ? slash + 1 : name;
    if (x->dir >= 0 && strlen(x->dir_name) == n && strncmp(x->dir_name, name, n) == 0)
        return 0;
    leave_dir(x);
    const char *ignored;
    int dir = open_parent(x, name, true, &ignored, why, cap);
    if (dir < 0)
        return -1;
    x->dir = dir;
    x->dir_name = mc_strndup(name, n);
    return 0;
}

static const char *file_name(const xfer_t *x, size_t i)
{
    return x->single ? x->single : x->m.files[i].name;
}

static void close_current(xfer_t *x, bool remove)
{
    if (x->fd >= 0) {
        close(x->fd);
        x->fd = -1;
        if (remove)
            unlinkat(x->dir, x->tmp, 0);
    }
    x->cur = -1;
}

static void file_failed(xfer_t *x, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void file_failed(xfer_t *x, size_t i, const char *fmt, ...)
{
    if ((long)i == x->cur)
        close_current(x, true);
    if (x->state[i] == F_TODO)
        x->todo--;
    x->state[i] = F_FAILED;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(x->why[i]);
    x->why[i] = mc_strdup(msg);
    char *full = full_path(x, file_name(x, i));
    mc_warn("copy %s: %s not written: %s", x->jid, full, msg);
    free(full);
}

/* The mode a file gets: --mode, or its own. */
static mode_t file_mode(const xfer_t *x, size_t i)
{
    return (mode_t)(x->m.mode >= 0 ? (uint32_t)x->m.mode : x->m.files[i].mode & 0777);
}

/* Owner, mode, fsync, rename: the file is in place. */
static int put_in_place(xfer_t *x, size_t i, const char *leaf)
{
    const char *step = "chown";
    if ((x->chown && fchown(x->fd, x->uid, x->gid) != 0) ||
        (step = "chmod", fchmod(x->fd, file_mode(x, i)) != 0) ||
        (step = "fsync", fsync(x->fd) != 0) ||
        (step = "rename", renameat(x->dir, x->tmp, x->dir, leaf) != 0)) {
        file_failed(x, i, "%s: %s", step, strerror(errno));
        return -1;
    }
    close(x->fd);
    x->fd = -1;
    x->dir_dirty = true;
    x->cur = -1;
    x->state[i] = F_DONE;
    x->todo--;
    return 0;
}

/* Start writing file i under its temporary name. */
static int open_file(xfer_t *x, size_t i)
{
    char why[1024];
    const char *leaf;
    if (enter_dir(x, file_name(x, i), &leaf, why, sizeof why) != 0) {
        file_failed(x, i, "%s", why);
        return -1;
    }
    /* The pid too: minions sharing a filesystem do not meet. */
    snprintf(x->tmp, sizeof x->tmp, ".mctl-cp.%s.%ld.%zu", x->jid, x->pid, i);
    if (record_temp(x) != 0) {
        file_failed(x, i, "cannot note its temporary file in %s: %s", x->record, strerror(errno));
        return -1;
    }
    x->fd = openat(x->dir, x->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (x->fd < 0) {
        file_failed(x, i, "cannot create a file in its directory: %s", strerror(errno));
        return -1;
    }
    x->cur = (long)i;
    x->got = 0;
    crypto_generichash_init(&x->hash, NULL, 0, MC_CP_HASH_LEN);
    return 0;
}

/* All of file i has come: check it and put it in place. */
static void complete_file(xfer_t *x, size_t i)
{
    unsigned char h[MC_CP_HASH_LEN];
    crypto_generichash_final(&x->hash, h, sizeof h);
    if (sodium_memcmp(h, x->m.files[i].hash, sizeof h) != 0) {
        file_failed(x, i, "checksum mismatch: the data changed on the way or at the source");
        return;
    }
    const char *name = file_name(x, i), *leaf = strrchr(name, '/');
    put_in_place(x, i, leaf ? leaf + 1 : name);
}

/* Whether file i is already there, whole: a regular file (not a link) of
   the same size and hash. Its owner and mode are then set as asked. */
static bool have_file(xfer_t *x, size_t i)
{
    const mc_cp_file_t *f = &x->m.files[i];
    char why[1024];
    const char *leaf;
    int dir = open_parent(x, file_name(x, i), false, &leaf, why, sizeof why);
    if (dir < 0)
        return false;
    bool same = false;
    int fd = openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    /* A second link to it is written anew (a file is never changed through
       a link someone else may hold). */
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
        (uint64_t)st.st_size == f->size) {
        crypto_generichash_state hs;
        crypto_generichash_init(&hs, NULL, 0, MC_CP_HASH_LEN);
        static unsigned char buf[1 << 16];
        ssize_t n;
        uint64_t total = 0;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            crypto_generichash_update(&hs, buf, (size_t)n);
            total += (uint64_t)n;
        }
        unsigned char h[MC_CP_HASH_LEN];
        crypto_generichash_final(&hs, h, sizeof h);
        same = n == 0 && total == f->size && sodium_memcmp(h, f->hash, sizeof h) == 0;
        if (same && ((st.st_mode & 07777) != file_mode(x, i)))
            if (fchmod(fd, file_mode(x, i)) != 0)
                mc_warn("copy %s: chmod: %s", x->jid, strerror(errno));
        if (same && x->chown && (st.st_uid != x->uid || st.st_gid != x->gid))
            if (fchown(fd, x->uid, x->gid) != 0)
                mc_warn("copy %s: chown: %s", x->jid, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    if (dir != x->root)
        close(dir);
    return same;
}

/* A directory of the manifest: created where missing, with its mode. */
static void make_dir(xfer_t *x, size_t i)
{
    char why[1024];
    const char *leaf;
    int dir = open_parent(x, x->m.files[i].name, true, &leaf, why, sizeof why);
    if (dir < 0) {
        file_failed(x, i, "%s", why);
        return;
    }
    bool made = mkdirat(dir, leaf, 0700) == 0;
    int fd = -1;
    if (!made && errno != EEXIST)
        file_failed(x, i, "%s", strerror(errno));
    else if ((fd = openat(dir, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        file_failed(x, i, "%s", not_dir_why(dir, leaf, errno));
    if (fd >= 0) {
        if (made && x->chown && fchown(fd, x->uid, x->gid) != 0)
            mc_warn("copy %s: chown: %s", x->jid, strerror(errno));
        if (made && fchmod(fd, x->m.files[i].mode & 07777) != 0)
            mc_warn("copy %s: chmod: %s", x->jid, strerror(errno));
        close(fd);
        x->state[i] = F_DONE;
        x->todo--;
    }
    if (dir != x->root)
        close(dir);
}

/* ---- the copy ---------------------------------------------------------- */

static void xfer_free(xfer_t *x)
{
    close_current(x, true);
    leave_dir(x);
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
    close_current(x, true);
    leave_dir(x); /* the last renames are durable before the return says so */
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
        char *full = full_path(x, file_name(x, i));
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
            file_failed(x, i, "%s", why);
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
            snprintf(why, cap, "%s: %s", x->m.dest, not_dir_why(parent, leaf, errno));
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
            make_dir(x, i);
        } else if (have_file(x, i)) {
            x->state[i] = F_HAVE;
            x->todo--;
            have[i / 8] |= (unsigned char)(1u << (i % 8));
        } else if (f->size == 0 && open_file(x, i) == 0) {
            complete_file(x, i);
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
        file_failed(x, (size_t)x->cur, "the sender moved on before the file was complete");
    if (x->state[i] != F_TODO)
        return;
    if (p->abort) {
        file_failed(x, i, "the source changed while it was being read; not copied");
        return;
    }
    if (x->cur < 0 && open_file(x, i) != 0)
        return;
    const mc_cp_file_t *f = &x->m.files[i];
    if (p->off != x->got || p->len > f->size - x->got) {
        file_failed(x, i, "data out of place (offset %llu, expected %llu)",
                    (unsigned long long)p->off, (unsigned long long)x->got);
        return;
    }
    if (write_all(x->fd, p->data, p->len) != 0) {
        file_failed(x, i, "%s", strerror(errno));
        return;
    }
    crypto_generichash_update(&x->hash, p->data, p->len);
    x->got += p->len;
    if (x->got == f->size)
        complete_file(x, i);
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
