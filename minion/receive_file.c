/*  receive_file - the files and directories of a copy coming in (mctl
    cp): paths opened under the copy's root one component at a time,
    without following links; each file written to a temporary name (kept
    in the copy's record until it is in place), then owner, mode, fsync and
    rename; a file already the same is left alone. See receive_xfer.h. */
#include "receive_xfer.h"

/* ---- paths ------------------------------------------------------------------ */

/* The full path of a name, for messages and the return. */
char *xfer_full_path(const xfer_t *x, const char *name)
{
    return mc_sprintf("%s%s%s", x->root_path,
                      x->root_path[strlen(x->root_path) - 1] == '/' ? "" : "/", name);
}

/* Why name under dirfd could not be opened as a directory (errno e). */
const char *xfer_not_dir_why(int dirfd, const char *name, int e)
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
            char *full = xfer_full_path(x, dir);
            snprintf(why, cap, "%s: %s", full, xfer_not_dir_why(fd, part, e));
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
    char *full = x->dir_name[0] ? xfer_full_path(x, x->dir_name) : mc_strdup(x->root_path);
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
void xfer_leave_dir(xfer_t *x)
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
    xfer_leave_dir(x);
    const char *ignored;
    int dir = open_parent(x, name, true, &ignored, why, cap);
    if (dir < 0)
        return -1;
    x->dir = dir;
    x->dir_name = mc_strndup(name, n);
    return 0;
}

const char *xfer_file_name(const xfer_t *x, size_t i)
{
    return x->single ? x->single : x->m.files[i].name;
}

void xfer_close_current(xfer_t *x, bool remove)
{
    if (x->fd >= 0) {
        close(x->fd);
        x->fd = -1;
        if (remove)
            unlinkat(x->dir, x->tmp, 0);
    }
    x->cur = -1;
}

void xfer_file_failed(xfer_t *x, size_t i, const char *fmt, ...)
{
    if ((long)i == x->cur)
        xfer_close_current(x, true);
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
    char *full = xfer_full_path(x, xfer_file_name(x, i));
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
        xfer_file_failed(x, i, "%s: %s", step, strerror(errno));
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
int xfer_open_file(xfer_t *x, size_t i)
{
    char why[1024];
    const char *leaf;
    if (enter_dir(x, xfer_file_name(x, i), &leaf, why, sizeof why) != 0) {
        xfer_file_failed(x, i, "%s", why);
        return -1;
    }
    /* The pid too: minions sharing a filesystem do not meet. */
    snprintf(x->tmp, sizeof x->tmp, ".mctl-cp.%s.%ld.%zu", x->jid, x->pid, i);
    if (record_temp(x) != 0) {
        xfer_file_failed(x, i, "cannot note its temporary file in %s: %s", x->record,
                         strerror(errno));
        return -1;
    }
    x->fd = openat(x->dir, x->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (x->fd < 0) {
        xfer_file_failed(x, i, "cannot create a file in its directory: %s", strerror(errno));
        return -1;
    }
    x->cur = (long)i;
    x->got = 0;
    crypto_generichash_init(&x->hash, NULL, 0, MC_CP_HASH_LEN);
    return 0;
}

/* All of file i has come: check it and put it in place. */
void xfer_complete_file(xfer_t *x, size_t i)
{
    unsigned char h[MC_CP_HASH_LEN];
    crypto_generichash_final(&x->hash, h, sizeof h);
    if (sodium_memcmp(h, x->m.files[i].hash, sizeof h) != 0) {
        xfer_file_failed(x, i, "checksum mismatch: the data changed on the way or at the source");
        return;
    }
    const char *name = xfer_file_name(x, i), *leaf = strrchr(name, '/');
    put_in_place(x, i, leaf ? leaf + 1 : name);
}

/* Whether file i is already there, whole: a regular file (not a link) of
   the same size and hash. Its owner and mode are then set as asked. */
bool xfer_have_file(xfer_t *x, size_t i)
{
    const mc_cp_file_t *f = &x->m.files[i];
    char why[1024];
    const char *leaf;
    int dir = open_parent(x, xfer_file_name(x, i), false, &leaf, why, sizeof why);
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
void xfer_make_dir(xfer_t *x, size_t i)
{
    char why[1024];
    const char *leaf;
    int dir = open_parent(x, x->m.files[i].name, true, &leaf, why, sizeof why);
    if (dir < 0) {
        xfer_file_failed(x, i, "%s", why);
        return;
    }
    bool made = mkdirat(dir, leaf, 0700) == 0;
    int fd = -1;
    if (!made && errno != EEXIST)
        xfer_file_failed(x, i, "%s", strerror(errno));
    else if ((fd = openat(dir, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        xfer_file_failed(x, i, "%s", xfer_not_dir_why(dir, leaf, errno));
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
