/*  file - files on the minion, as Salt's file module: file.exists,
    file.stat, file.get_hash, file.read, file.write, file.append,
    file.remove, file.mkdir, file.chmod, file.chown.

    Paths must be absolute. file.read is bounded by output_max (larger
    files: mctl cp's job); file.write replaces the file atomically
    (temporary name in the same folder, fsync, rename), keeping the mode
    and owner of the file it replaces. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "module.h"
#include "mp.h"

/* The path argument (index 0, or path=): absolute, or the call fails. */
static char *path_arg(mc_call_t *call, const char *fun)
{
    char *path = NULL;
    int rc = mc_call_str(call, 0, "path", &path);
    if (rc > 0)
        mc_call_fail(call, 1, "%s: missing argument 'path'", fun);
    else if (rc == 0 && path[0] != '/')
        mc_call_fail(call, 1, "%s: '%s' is not an absolute path", fun, path);
    if (rc != 0 || path[0] != '/') {
        free(path);
        return NULL;
    }
    return path;
}

static void fail_errno(mc_call_t *call, const char *fun, const char *path)
{
    mc_call_fail(call, 1, "%s: %s: %s", fun, path, strerror(errno));
}

static void file_exists(mc_call_t *call)
{
    char *path = path_arg(call, "file.exists");
    if (!path || mc_call_max_args(call, 1) != 0) {
        free(path);
        return;
    }
    struct stat st;
    if (lstat(path, &st) == 0)
        msgpack_pack_true(call->pk);
    else
        msgpack_pack_false(call->pk);
    free(path);
}

static const char *type_of(mode_t m)
{
    return S_ISREG(m)    ? "file"
           : S_ISDIR(m)  ? "dir"
           : S_ISLNK(m)  ? "link"
           : S_ISCHR(m)  ? "char"
           : S_ISBLK(m)  ? "block"
           : S_ISFIFO(m) ? "pipe"
           : S_ISSOCK(m) ? "socket"
                         : "unknown";
}

static void file_stat(mc_call_t *call)
{
    char *path = path_arg(call, "file.stat");
    if (!path || mc_call_max_args(call, 1) != 0) {
        free(path);
        return;
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
        fail_errno(call, "file.stat", path);
        free(path);
        return;
    }
    struct passwd *pw = getpwuid(st.st_uid);
    struct group *gr = getgrgid(st.st_gid);
    char mode[8], target[4096] = "";
    snprintf(mode, sizeof mode, "0%o", (unsigned)(st.st_mode & 07777));
    ssize_t tn = S_ISLNK(st.st_mode) ? readlink(path, target, sizeof target - 1) : -1;
    if (tn > 0)
        target[tn] = '\0';
    msgpack_packer *pk = call->pk;
    msgpack_pack_map(pk, tn > 0 ? 12 : 11);
    mc_pk_kv_str(pk, "type", type_of(st.st_mode));
    mc_pk_kv_str(pk, "mode", mode);
    mc_pk_kv_int(pk, "size", (int64_t)st.st_size);
    mc_pk_kv_int(pk, "uid", st.st_uid);
    mc_pk_kv_int(pk, "gid", st.st_gid);
    mc_pk_kv_str(pk, "user", pw ? pw->pw_name : "");
    mc_pk_kv_str(pk, "group", gr ? gr->gr_name : "");
    mc_pk_kv_int(pk, "inode", (int64_t)st.st_ino);
    mc_pk_kv_int(pk, "atime", (int64_t)st.st_atime);
    mc_pk_kv_int(pk, "mtime", (int64_t)st.st_mtime);
    mc_pk_kv_int(pk, "ctime", (int64_t)st.st_ctime);
    if (tn > 0)
        mc_pk_kv_str(pk, "target", target);
    free(path);
}

/* file.get_hash PATH [FORM]: sha256 (default), sha512 or blake2b, in hex. */
static void file_get_hash(mc_call_t *call)
{
    char *path = path_arg(call, "file.get_hash"), *form = NULL;
    if (!path || mc_call_max_args(call, 2) != 0 || mc_call_str(call, 1, "form", &form) < 0)
        goto out;
    const char *f = form ? form : "sha256";
    bool s256 = strcmp(f, "sha256") == 0, s512 = strcmp(f, "sha512") == 0,
         b2 = strcmp(f, "blake2b") == 0;
    if (!s256 && !s512 && !b2) {
        mc_call_fail(call, 1, "file.get_hash: form '%s' is not one of sha256, sha512, blake2b", f);
        goto out;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail_errno(call, "file.get_hash", path);
        goto out;
    }
    crypto_hash_sha256_state h256;
    crypto_hash_sha512_state h512;
    crypto_generichash_state hb2;
    crypto_hash_sha256_init(&h256);
    crypto_hash_sha512_init(&h512);
    crypto_generichash_init(&hb2, NULL, 0, crypto_generichash_BYTES_MAX);
    unsigned char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && !mc_call_cancelled) {
        if (s256)
            crypto_hash_sha256_update(&h256, buf, (unsigned long long)n);
        else if (s512)
            crypto_hash_sha512_update(&h512, buf, (unsigned long long)n);
        else
            crypto_generichash_update(&hb2, buf, (unsigned long long)n);
    }
    int e = errno;
    close(fd);
    if (mc_call_cancelled) {
        mc_call_fail(call, 143, "file.get_hash: killed on request");
        goto out;
    }
    if (n < 0) {
        errno = e;
        fail_errno(call, "file.get_hash", path);
        goto out;
    }
    unsigned char digest[64];
    size_t len = s256 ? 32 : 64;
    if (s256)
        crypto_hash_sha256_final(&h256, digest);
    else if (s512)
        crypto_hash_sha512_final(&h512, digest);
    else
        crypto_generichash_final(&hb2, digest, crypto_generichash_BYTES_MAX);
    char hex[129];
    sodium_bin2hex(hex, sizeof hex, digest, len);
    mc_pk_str(call->pk, hex);
out:
    free(path);
    free(form);
}

/* file.read PATH: the contents, up to output_max bytes (text as a string,
   anything else as bytes). */
static void file_read(mc_call_t *call)
{
    char *path = path_arg(call, "file.read");
    if (!path || mc_call_max_args(call, 1) != 0) {
        free(path);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    mc_err_t err;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        mc_call_fail(call, 1, "file.read: %s is a directory", path);
    else if (stat(path, &st) == 0 && st.st_size > call->output_max)
        mc_call_fail(call, 1,
                     "file.read: %s is %lld bytes, more than output_max (%ld); use mctl cp", path,
                     (long long)st.st_size, call->output_max);
    else if (mc_read_file(path, (size_t)call->output_max, &data, &len, &err) != 0)
        mc_call_fail(call, 1, "file.read: %s", err.msg);
    else if (mc_utf8_valid(data, len))
        mc_pk_strn(call->pk, data, len);
    else
        mc_pk_bin(call->pk, data, len);
    free(data);
    free(path);
}

/* The lines of file.write and file.append: every argument after the path,
   each ended with a newline. */
static int lines_of(mc_call_t *call, const char *fun, mc_buf_t *out, size_t *count)
{
    uint32_t n = call->arg->via.array.size;
    *count = 0;
    for (uint32_t i = 1; i < n; i++) {
        const msgpack_object *o = &call->arg->via.array.ptr[i];
        char num[32];
        const char *s = num;
        size_t len;
        if (o->type == MSGPACK_OBJECT_STR) {
            s = o->via.str.ptr;
            len = o->via.str.size;
        } else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            len = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)o->via.u64);
        } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            len = (size_t)snprintf(num, sizeof num, "%lld", (long long)o->via.i64);
        } else {
            mc_call_fail(call, 1, "%s: line %u is not text", fun, i);
            return -1;
        }
        mc_buf_append(out, s, len);
        mc_buf_append(out, "\n", 1);
        (*count)++;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void file_write(mc_call_t *call)
{
    char *path = path_arg(call, "file.write");
    mc_buf_t text = {0};
    size_t count;
    if (!path || lines_of(call, "file.write", &text, &count) != 0)
        goto out;
    /* The new contents under a temporary name beside it, then renamed
       over it: a reader sees the old file or the new, never half. */
    struct stat old;
    bool had = lstat(path, &old) == 0;
    if (had && !S_ISREG(old.st_mode)) {
        mc_call_fail(call, 1, "file.write: %s is a %s, not a file; nothing written", path,
                     S_ISLNK(old.st_mode) ? "symbolic link (write to its target)"
                                          : type_of(old.st_mode));
        goto out;
    }
    char *tmp = mc_sprintf("%s.mctl-write.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fail_errno(call, "file.write", path);
        free(tmp);
        goto out;
    }
    /* Owner first: a chown clears the set-id bits a chmod set. */
    bool ok = (!had || fchown(fd, old.st_uid, old.st_gid) == 0 || errno == EPERM) &&
              fchmod(fd, had ? (old.st_mode & 07777) : 0644) == 0 &&
              write_all(fd, text.data ? text.data : "", text.len) == 0 && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        errno = e;
        fail_errno(call, "file.write", path);
        free(tmp);
        goto out;
    }
    free(tmp);
    char msg[4200];
    snprintf(msg, sizeof msg, "Wrote %zu lines to \"%s\"", count, path);
    mc_pk_str(call->pk, msg);
out:
    mc_buf_free(&text);
    free(path);
}

static void file_append(mc_call_t *call)
{
    char *path = path_arg(call, "file.append");
    mc_buf_t text = {0};
    size_t count;
    if (!path || lines_of(call, "file.append", &text, &count) != 0)
        goto out;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, text.data ? text.data : "", text.len) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        fail_errno(call, "file.append", path);
        goto out;
    }
    close(fd);
    char msg[4200];
    snprintf(msg, sizeof msg, "Wrote %zu lines to \"%s\"", count, path);
    mc_pk_str(call->pk, msg);
out:
    mc_buf_free(&text);
    free(path);
}

/* Remove what folder dirfd holds, then the folder name in parent: each
   entry is opened relative to its folder with O_NOFOLLOW, so a symbolic
   link swapped in during the walk is removed, never followed. */
static int remove_tree(int parent, const char *name, int depth)
{
    if (depth > 256) {
        errno = ELOOP;
        return -1;
    }
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOTDIR || errno == ELOOP ? unlinkat(parent, name, 0) : -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)
            rc = remove_tree(dirfd(d), e->d_name, depth + 1);
        else
            rc = unlinkat(dirfd(d), e->d_name, 0);
    }
    int err = errno;
    closedir(d);
    errno = err;
    return rc == 0 ? unlinkat(parent, name, AT_REMOVEDIR) : -1;
}

/* file.remove PATH: a file, a link, or a directory with all it holds. */
static void file_remove(mc_call_t *call)
{
    char *path = path_arg(call, "file.remove");
    if (!path || mc_call_max_args(call, 1) != 0) {
        free(path);
        return;
    }
    struct stat st;
    char *real = realpath(path, NULL);
    if (real && strcmp(real, "/") == 0)
        mc_call_fail(call, 1, "file.remove: refusing to remove /");
    else if (lstat(path, &st) != 0)
        fail_errno(call, "file.remove", path);
    else if ((S_ISDIR(st.st_mode) ? remove_tree(AT_FDCWD, path, 0) : unlink(path)) != 0)
        fail_errno(call, "file.remove", path);
    else
        msgpack_pack_true(call->pk);
    free(real);
    free(path);
}

/* chmod and chown of the path itself, never through a symbolic link
   (one planted there would otherwise hand its target over): the path is
   opened O_PATH|O_NOFOLLOW and changed through /proc/self/fd. mode or
   ids < 0 / -1 are left as they are. */
static int set_attrs(const char *path, int mode, uid_t uid, gid_t gid)
{
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && S_ISLNK(st.st_mode)) {
        errno = ELOOP;
        rc = -1;
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (rc == 0 && (uid != (uid_t)-1 || gid != (gid_t)-1))
        rc = chown(proc, uid, gid);
    if (rc == 0 && mode >= 0)
        rc = chmod(proc, (mode_t)mode);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* A mode given as "0644", "644" or 644. */
static int mode_arg(mc_call_t *call, const char *fun, int index, mode_t *mode, bool *given)
{
    char *text = NULL;
    int rc = mc_call_str(call, index, "mode", &text);
    *given = rc == 0;
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    char *end;
    long m = strtol(text, &end, 8);
    bool ok = *text && !*end && m >= 0 && m <= 07777;
    if (!ok)
        mc_call_fail(call, 1, "%s: mode '%s' is not an octal mode such as 0644", fun, text);
    *mode = (mode_t)m;
    free(text);
    return ok ? 0 : -1;
}

/* A user or a group, by name or as a number. */
static int id_named(const char *name, bool group, unsigned long *out)
{
    if (group) {
        struct group *gr = getgrnam(name);
        if (gr) {
            *out = gr->gr_gid;
            return 0;
        }
    } else {
        struct passwd *pw = getpwnam(name);
        if (pw) {
            *out = pw->pw_uid;
            return 0;
        }
    }
    char *end;
    errno = 0;
    long n = strtol(name, &end, 10);
    if (!*name || *end || errno || n < 0 || n > UINT32_MAX - 1)
        return -1;
    *out = (unsigned long)n;
    return 0;
}

/* user and group (names or numbers; arguments ui and gi, or user= and
   group=) to ids; -1 for one not given. */
static int owner_args(mc_call_t *call, const char *fun, int ui, int gi, uid_t *uid, gid_t *gid)
{
    char *user = NULL, *group = NULL;
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    int rc = 0;
    if (mc_call_str(call, ui, "user", &user) < 0 || mc_call_str(call, gi, "group", &group) < 0) {
        rc = -1;
    }
    unsigned long id;
    if (rc == 0 && user && *user) {
        if (id_named(user, false, &id) == 0) {
            *uid = (uid_t)id;
        } else {
            mc_call_fail(call, 1, "%s: there is no user '%s'", fun, user);
            rc = -1;
        }
    }
    if (rc == 0 && group && *group) {
        if (id_named(group, true, &id) == 0) {
            *gid = (gid_t)id;
        } else {
            mc_call_fail(call, 1, "%s: there is no group '%s'", fun, group);
            rc = -1;
        }
    }
    free(user);
    free(group);
    return rc;
}

/* file.mkdir PATH [user=] [group=] [mode=]: the folder and its parents. */
static void file_mkdir(mc_call_t *call)
{
    char *path = path_arg(call, "file.mkdir");
    uid_t uid;
    gid_t gid;
    mode_t mode = 0755;
    bool mode_given;
    mc_err_t err;
    if (!path || mc_call_max_args(call, 1) != 0 ||
        owner_args(call, "file.mkdir", -1, -1, &uid, &gid) ||
        mode_arg(call, "file.mkdir", -1, &mode, &mode_given))
        goto out;
    if (mc_mkdir_p(path, 0755, &err) != 0) {
        mc_call_fail(call, 1, "file.mkdir: %s", err.msg);
        goto out;
    }
    if (set_attrs(path, mode_given ? (int)mode : -1, uid, gid) != 0) {
        fail_errno(call, "file.mkdir", path);
        goto out;
    }
    msgpack_pack_true(call->pk);
out:
    free(path);
}

static void file_chmod(mc_call_t *call)
{
    char *path = path_arg(call, "file.chmod");
    mode_t mode;
    bool given;
    if (!path || mc_call_max_args(call, 2) != 0 || mode_arg(call, "file.chmod", 1, &mode, &given))
        goto out;
    if (!given)
        mc_call_fail(call, 1, "file.chmod: missing argument 'mode'");
    else if (set_attrs(path, (int)mode, (uid_t)-1, (gid_t)-1) != 0)
        fail_errno(call, "file.chmod", path);
    else
        msgpack_pack_true(call->pk);
out:
    free(path);
}

static void file_chown(mc_call_t *call)
{
    char *path = path_arg(call, "file.chown");
    uid_t uid;
    gid_t gid;
    if (!path || mc_call_max_args(call, 3) != 0 || owner_args(call, "file.chown", 1, 2, &uid, &gid))
        goto out;
    if (uid == (uid_t)-1 && gid == (gid_t)-1)
        mc_call_fail(call, 1, "file.chown: give a user, a group, or both");
    else if (lchown(path, uid, gid) != 0)
        fail_errno(call, "file.chown", path);
    else
        msgpack_pack_true(call->pk);
out:
    free(path);
}

static const mc_function_t functions[] = {
    {"exists", file_exists,
     "Return True when the path exists (file, folder, link...).\n\n"
     "    mctl '*' file.exists /etc/motd",
     0},
    {"stat", file_stat,
     "Return a path's type, mode, size, uid, gid, user, group, inode, atime, mtime, ctime (and "
     "a link's target).\n\n    mctl '*' file.stat /etc/passwd",
     0},
    {"get_hash", file_get_hash,
     "Return a file's hash in hex: sha256 (default), sha512 or blake2b.\n\n"
     "    mctl '*' file.get_hash /etc/passwd\n    mctl '*' file.get_hash /etc/passwd form=blake2b",
     0},
    {"read", file_read,
     "Return a file's contents, up to output_max bytes (use mctl cp for more).\n\n"
     "    mctl '*' file.read /etc/hostname",
     0},
    {"write", file_write,
     "Replace a file with the lines given (atomically: written beside it, then renamed; mode "
     "and owner kept).\n\n    mctl '*' file.write /etc/motd 'Welcome' 'to web1'",
     0},
    {"append", file_append,
     "Add the lines given to the end of a file (created when missing).\n\n"
     "    mctl '*' file.append /etc/motd 'one more line'",
     0},
    {"remove", file_remove,
     "Remove a file, a link, or a folder with all it holds.\n\n"
     "    mctl '*' file.remove /tmp/old",
     0},
    {"mkdir", file_mkdir,
     "Make a folder and its parents; user=, group=, mode= for the folder.\n\n"
     "    mctl '*' file.mkdir /srv/app user=www-data mode=0750",
     0},
    {"chmod", file_chmod, "Set a path's mode.\n\n    mctl '*' file.chmod /srv/app/run.sh 0755", 0},
    {"chown", file_chown,
     "Set a path's user and group (names or numbers; either may be empty).\n\n"
     "    mctl '*' file.chown /srv/app www-data www-data",
     0},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_file = {"file", functions};
