/*  log - see log.h. The state below is the process's one logger, set
    once at start (and reopened in place on SIGHUP); a line is one write(2)
    from a stack buffer, so threads (the master's job cache writer) may
    log too. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    char ident[64];
    mc_log_level_t level;
    char *path;
    int fd;
    int tee_fd; /* error lines go here too ("E message"), or -1 */
} logger = {"mctl", MC_LOG_INFO, NULL, 2, -1};

static const char *level_names[] = {"error", "warning", "info", "debug"};

int mc_log_level_parse(const char *name, mc_log_level_t *out)
{
    for (int i = 0; i <= MC_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (mc_log_level_t)i;
            return 0;
        }
    }
    if (strcmp(name, "warn") == 0) {
        *out = MC_LOG_WARNING;
        return 0;
    }
    return -1;
}

int mc_log_open(const char *ident, mc_log_level_t level, const char *file, mc_err_t *err)
{
    snprintf(logger.ident, sizeof logger.ident, "%s", ident);
    logger.level = level;
    free(logger.path);
    logger.path = NULL;
    if (logger.fd > 2)
        close(logger.fd);
    logger.fd = 2;
    if (file && *file) {
        int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) {
            mc_err_set(err, "cannot open log file %s: %s", file, strerror(errno));
            return -1;
        }
        logger.fd = fd;
        logger.path = mc_strdup(file);
    }
    return 0;
}

void mc_log_reopen(void)
{
    if (!logger.path)
        return;
    int fd = open(logger.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return;
    /* Onto the same number: other threads may be writing a line to it. */
    if (logger.fd > 2) {
        dup2(fd, logger.fd);
        close(fd);
    } else {
        logger.fd = fd;
    }
}

void mc_log_after_fork(void)
{
    logger.fd = 2; /* the inherited descriptor is the parent's; it was closed */
    logger.tee_fd = -1;
    mc_log_reopen();
}

void mc_log_close(void)
{
    if (logger.fd > 2)
        close(logger.fd);
    logger.fd = 2;
    free(logger.path);
    logger.path = NULL;
}

bool mc_log_enabled(mc_log_level_t level)
{
    return level <= logger.level;
}

static void log_line(mc_log_level_t level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void log_line(mc_log_level_t level, const char *fmt, va_list ap)
{
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03d [%s:%d] %s: ", (int)(tv.tv_usec / 1000),
                          logger.ident, (int)getpid(), level_names[level]);
    size_t head = n;
    int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
    n = (m < 0 || n + (size_t)m >= sizeof line - 1) ? sizeof line - 2 : n + (size_t)m;
    line[n++] = '\n';
    ssize_t w = write(logger.fd, line, n);
    (void)w;
    if (level == MC_LOG_ERROR && logger.tee_fd >= 0) {
        /* "E " and the message (with its newline), without the stamp */
        head -= 2;
        memcpy(line + head, "E ", 2);
        w = write(logger.tee_fd, line + head, n - head);
        (void)w;
    }
}

void mc_log_tee_errors(int fd)
{
    logger.tee_fd = fd;
}

void mc_log(mc_log_level_t level, const char *fmt, ...)
{
    if (level > logger.level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, fmt, ap);
    va_end(ap);
}

void mc_log_limited(mc_log_limit_t *lim, mc_log_level_t level, const char *fmt, ...)
{
    if (level > logger.level)
        return;
    int64_t now = mc_mono_ms();
    if (now - lim->window_start_ms >= MC_LOG_LIMIT_WINDOW_MS) {
        if (lim->left_out)
            mc_log(level, "%ld more like the last were left out of the log in %d s", lim->left_out,
                   MC_LOG_LIMIT_WINDOW_MS / 1000);
        lim->window_start_ms = now;
        lim->count = 0;
        lim->left_out = 0;
    }
    if (lim->count >= MC_LOG_LIMIT_BURST) {
        lim->left_out++;
        return;
    }
    lim->count++;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, fmt, ap);
    va_end(ap);
}
