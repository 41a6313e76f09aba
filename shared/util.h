/*  util - small helpers every part of mctl uses: errors as values,
    checked allocation, clocks, files and paths.

    Errors travel as an mc_err_t filled by the function that failed, with a
    message a user can act on and a kind (mc_err_code_t) that callers
    branch on; callers return -1 and pass the same mc_err_t up, adding
    context where it helps. Nothing decides by reading the message. */
#ifndef MC_UTIL_H
#define MC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MC_ID_MAX 128 /* longest minion id */

/* What kind of failure an error is, for the callers that act on it (an
   exit status, a retry). MC_E_FAILED is every error nobody branches on. */
typedef enum {
    MC_E_FAILED = 0,  /* the operation failed; the message says why */
    MC_E_UNREACHABLE, /* the peer (the master) cannot be reached or did not answer */
    MC_E_REFUSED,     /* the peer answered and refused the request */
    MC_E_DENIED,      /* not permitted for this user */
    MC_E_INPUT,       /* bad input from the user (usage) */
    MC_E_CONFIG,      /* the configuration is wrong (a daemon exits 78) */
} mc_err_code_t;

typedef struct {
    mc_err_code_t code;
    char msg[512];
} mc_err_t;

/* Set the message; the kind becomes MC_E_FAILED. */
void mc_err_set(mc_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set the kind and the message. */
void mc_err_code(mc_err_t *err, mc_err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix the message already in err with "fmt: " */
void mc_err_prefix(mc_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* This build's version ("0.1.0"). It is read from one marked string in
   the binary, "@(#)mctl VERSION" (what(1)'s convention), so that a tool
   (or a test making a "newer" build) finds the same bytes. */
const char *mc_version(void);

void *mc_malloc(size_t n);
void *mc_calloc(size_t n, size_t size);
void *mc_realloc(void *p, size_t n);
char *mc_strdup(const char *s);
char *mc_strndup(const char *s, size_t n);
char *mc_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds on the monotonic clock; microseconds of wall time. */
int64_t mc_mono_ms(void);
int64_t mc_wall_us(void);

/* A growable byte buffer. */
typedef struct {
    char *data;
    size_t len, cap;
} mc_buf_t;
void mc_buf_append(mc_buf_t *b, const void *data, size_t len);
/* Room for len more bytes at the end (kept NUL-terminated); returns where
   they start, for the caller to fill. */
char *mc_buf_extend(mc_buf_t *b, size_t len);
void mc_buf_free(mc_buf_t *b);

/* Create a folder and its parents; the last one gets mode. */
int mc_mkdir_p(const char *path, mode_t mode, mc_err_t *err);
/* Write a whole file through a temporary name and rename, so that readers
   never see half of it. */
int mc_write_file(const char *path, const void *data, size_t len, mode_t mode, mc_err_t *err);
/* Where a file is written before it is renamed into place: beside it, as
   a dot file (".NAME.tmpPID"), a name no minion id or jid can have, so
   nothing that lists a folder of ids mistakes it for one, or one for it. */
int mc_temp_path(char *out, size_t cap, const char *path);
/* The same, with the fsync only when sync is true: still all or nothing
   for a process that dies, but a power cut may lose the file. */
int mc_write_file_sync(const char *path, const void *data, size_t len, mode_t mode, bool sync,
                       mc_err_t *err);
/* Read a whole file of at most max bytes; the result is NUL-terminated. */
int mc_read_file(const char *path, size_t max, char **out, size_t *len, mc_err_t *err);
/* Refuse folders that others may write to: keys in them can't be trusted. */
int mc_check_private_dir(const char *path, mc_err_t *err);

/* Minion ids become file names: letters, digits, '.', '-', '_',
   '@', not starting with '.', at most MC_ID_MAX bytes. */
bool mc_id_valid(const char *id, size_t len);

#endif
