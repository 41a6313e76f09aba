/*  util - errors, allocation, clocks, files. See util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void mc_err_set(mc_err_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = MC_E_FAILED;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

void mc_err_code(mc_err_t *err, mc_err_code_t code, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

void mc_err_prefix(mc_err_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3)
        n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3;
    size_t m = strnlen(old, room);
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
}

static void out_of_memory(size_t n)
{
    fprintf(stderr, "mctl: out of memory allocating %zu bytes\n", n);
    abort();
}

/* Kept whole in the binary, whatever the optimizer does with its uses. */
__attribute__((used)) static const char version_what[] = "@(#)mctl " MCTL_VERSION;

const char *mc_version(void)
{
    /* Through a volatile read of the address, so the bytes printed are
       the marked string's, never a copy the compiler folded in. */
    const char *volatile p = version_what;
    return p + 9;
}

void *mc_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *mc_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

void *mc_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *mc_strdup(const char *s)
{
    return mc_strndup(s, strlen(s));
}

char *mc_strndup(const char *s, size_t n)
{
    char *p = mc_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mc_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = mc_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int64_t mc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mc_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *mc_buf_extend(mc_buf_t *b, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->data = mc_realloc(b->data, cap);
        b->cap = cap;
    }
    char *p = b->data + b->len;
    b->len += len;
    b->data[b->len] = '\0';
    return p;
}

void mc_buf_append(mc_buf_t *b, const void *data, size_t len)
{
    char *p = mc_buf_extend(b, len);
    if (len)
        memcpy(p, data, len);
}

void mc_buf_free(mc_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int mc_mkdir_p(const char *path, mode_t mode, mc_err_t *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        mc_err_set(err, "%s: path too long", path);
        return -1;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            mc_err_set(err, "cannot create %s: %s", tmp, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0) {
        if (errno != EEXIST) {
            mc_err_set(err, "cannot create %s: %s", tmp, strerror(errno));
            return -1;
        }
        struct stat st;
        if (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
            mc_err_set(err, "%s exists and is not a folder", tmp);
            return -1;
        }
    }
    return 0;
}

int mc_write_file(const char *path, const void *data, size_t len, mode_t mode, mc_err_t *err)
{
    return mc_write_file_sync(path, data, len, mode, true, err);
}

int mc_temp_path(char *out, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path + 1) : 0;
    int n = snprintf(out, cap, "%.*s.%s.tmp%d", (int)dir_len, path, path + dir_len, (int)getpid());
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int mc_write_file_sync(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                       mc_err_t *err)
{
    char tmp[PATH_MAX];
    if (mc_temp_path(tmp, sizeof tmp, path) != 0) {
        mc_err_set(err, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        mc_err_set(err, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            mc_err_set(err, "cannot write %s: %s", tmp, n < 0 ? strerror(errno) : "short write");
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || (sync && fsync(fd) != 0)) {
        mc_err_set(err, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        mc_err_set(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int mc_read_file(const char *path, size_t max, char **out, size_t *len, mc_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mc_err_set(err, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    mc_buf_t b = {0};
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            mc_err_set(err, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if (b.len + (size_t)n > max) {
            mc_err_set(err, "%s: larger than %zu bytes", path, max);
            goto fail;
        }
        mc_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    if (!b.data)
        mc_buf_append(&b, "", 0);
    *out = b.data;
    if (len)
        *len = b.len;
    return 0;
fail:
    close(fd);
    mc_buf_free(&b);
    return -1;
}

int mc_check_private_dir(const char *path, mc_err_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        mc_err_set(err, "cannot use %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        mc_err_set(err, "%s is not a folder", path);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        mc_err_set(err,
                   "%s is writable by group or others (mode %03o); refusing to use it "
                   "(chmod 700 %s)",
                   path, (unsigned)(st.st_mode & 0777), path);
        return -1;
    }
    return 0;
}

bool mc_id_valid(const char *id, size_t len)
{
    if (len == 0 || len > MC_ID_MAX || id[0] == '.' || id[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_' || c == '@';
        if (!ok)
            return false;
    }
    return true;
}
