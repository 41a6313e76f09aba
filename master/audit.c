/*  audit - see audit.h. A record is formatted into memory (json.h writes
    the values) and handed to the kernel with one write(2) on an O_APPEND
    descriptor. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"

struct audit {
    char *path;
    int fd;
    long unwritten;     /* lines lost since the last that was written */
    bool torn;          /* the last write stopped inside a line */
    mc_log_limit_t log; /* write failures, at most a few lines a window */
};

static int open_append(const char *path, mc_err_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        mc_err_set(err, "audit_log %s: cannot open it: %s", path, strerror(errno));
    return fd;
}

audit_t *audit_open(const char *path, mc_err_t *err)
{
    int fd = open_append(path, err);
    if (fd < 0)
        return NULL;
    audit_t *self = mc_calloc(1, sizeof *self);
    self->path = mc_strdup(path);
    self->fd = fd;
    return self;
}

void audit_close(audit_t **self)
{
    if (!*self)
        return;
    if ((*self)->unwritten)
        mc_error("audit log %s: %ld lines could not be written", (*self)->path, (*self)->unwritten);
    close((*self)->fd);
    free((*self)->path);
    free(*self);
    *self = NULL;
}

int audit_reopen(audit_t *self, mc_err_t *err)
{
    int fd = open_append(self->path, err);
    if (fd < 0)
        return -1;
    close(self->fd);
    self->fd = fd;
    return 0;
}

char *audit_default_path(const char *log_file)
{
    const char *slash = log_file ? strrchr(log_file, '/') : NULL;
    if (!slash)
        return mc_strdup("/var/log/mctl/audit.log");
    if (slash == log_file)
        return mc_strdup("/audit.log");
    return mc_sprintf("%.*s/audit.log", (int)(slash - log_file), log_file);
}

/* ,"key":"text" when there is text. */
static void field_text(FILE *f, const char *key, const char *text)
{
    if (!text || !*text)
        return;
    fprintf(f, ",\"%s\":", key);
    mc_json_text(f, text, strlen(text), MC_JSON_COMPACT);
}

static void format(FILE *f, const audit_rec_t *rec)
{
    time_t secs = (time_t)(rec->time_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "{\"time\":\"%s.%06ldZ\",\"uid\":", stamp, (long)(rec->time_us % 1000000));
    if (rec->no_uid)
        fputs("null", f);
    else
        fprintf(f, "%lu", rec->uid);
    field_text(f, "user", rec->user);
    field_text(f, "via", rec->via);
    field_text(f, "request", rec->request);
    field_text(f, "target", rec->target);
    field_text(f, "tgt_type", rec->tgt_type);
    field_text(f, "function", rec->function);
    if (rec->args) {
        fputs(",\"args\":", f);
        mc_json_value(f, rec->args, MC_JSON_COMPACT);
    } else if (rec->narg_strs) {
        fputs(",\"args\":", f);
        mc_json_strings(f, rec->arg_strs, rec->narg_strs, MC_JSON_COMPACT);
    }
    if (rec->kwargs) {
        fputs(",\"kwargs\":", f);
        mc_json_value(f, rec->kwargs, MC_JSON_COMPACT);
    }
    field_text(f, "decision", rec->decision);
    field_text(f, "reason", rec->reason);
    field_text(f, "jid", rec->jid);
    fputs("}\n", f);
}

/* 0 when all n bytes were written; else -1, with *torn set when some
   were. */
static int write_all(int fd, const char *p, size_t n, bool *torn)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            *torn = done > 0;
            return -1;
        }
        done += (size_t)w;
    }
    *torn = false;
    return 0;
}

void audit_write(audit_t *self, const audit_rec_t *rec)
{
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f) {
        self->unwritten++;
        mc_log_limited(&self->log, MC_LOG_ERROR, "audit log: out of memory formatting a line");
        return;
    }
    /* After a line cut short (a full disk), start on a line of our own so
       that every later line stays whole. */
    if (self->torn)
        fputc('\n', f);
    format(f, rec);
    fclose(f);
    /* One write for the line: O_APPEND places it whole after the last. */
    bool torn;
    if (write_all(self->fd, line, len, &torn) != 0) {
        self->torn = self->torn || torn;
        self->unwritten++;
        mc_log_limited(&self->log, MC_LOG_ERROR,
                       "audit log %s: a line could not be written (%s); %ld lost so far",
                       self->path, strerror(errno), self->unwritten);
    } else {
        self->torn = false;
        if (self->unwritten)
            mc_error("audit log %s: writing again; %ld lines were lost before this one", self->path,
                     self->unwritten);
        self->unwritten = 0;
    }
    free(line);
}
