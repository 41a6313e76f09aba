/*  receive_xfer - one copy coming in (mctl cp), as receive.c keeps it,
    and the operations on its files and directories (receive_file.c):
    every name is opened under the copy's root directory, one component
    at a time, never following a link. Private to those two files. */
#ifndef MC_RECEIVE_XFER_H
#define MC_RECEIVE_XFER_H

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

char *xfer_full_path(const xfer_t *x, const char *name);
const char *xfer_not_dir_why(int dirfd, const char *name, int e);
void xfer_leave_dir(xfer_t *x);
const char *xfer_file_name(const xfer_t *x, size_t i);
void xfer_close_current(xfer_t *x, bool remove);
void xfer_file_failed(xfer_t *x, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int xfer_open_file(xfer_t *x, size_t i);
void xfer_complete_file(xfer_t *x, size_t i);
bool xfer_have_file(xfer_t *x, size_t i);
void xfer_make_dir(xfer_t *x, size_t i);

#endif
