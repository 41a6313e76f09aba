/*  spool - see spool.h. The index in memory is a list ordered by jid,
    which is ordered by time, so "oldest first" is the order of the list,
    and a hash from jid to list position, so that a "stored" notice costs
    the same however long the backlog. The list is walked only when some
    return is due, which next_due_ms tells without walking it. */
#include "spool.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "wire.h"

typedef struct {
    char jid[MC_JID_LEN + 1];
    int64_t sent_ms; /* 0: not sent since it was spooled or due again */
} entry_t;

struct _spool_t {
    char *dir;
    zlistx_t *entries; /* entry_t, sorted by jid */
    zhashx_t *by_jid;  /* jid -> handle in entries */
    int64_t next_due_ms;
    char *free_dir; /* DIR.free: files to write the next returns into */
    zlistx_t *free; /* their names (char *) */
    unsigned next_free;
};

#define FREE_MAX 1024

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->jid, ((const entry_t *)b)->jid);
}

static void free_entry(void **item)
{
    free(*item);
    *item = NULL;
}

static char *path_of(spool_t *self, const char *jid)
{
    return mc_sprintf("%s/%s.ret", self->dir, jid);
}

spool_t *spool_new(const char *dir, mc_err_t *err)
{
    if (mc_mkdir_p(dir, 0700, err) != 0)
        return NULL;
    spool_t *self = mc_calloc(1, sizeof *self);
    self->dir = mc_strdup(dir);
    self->entries = zlistx_new();
    zlistx_set_comparator(self->entries, cmp_entry);
    zlistx_set_destructor(self->entries, free_entry);
    self->by_jid = zhashx_new();
    self->free_dir = mc_sprintf("%s.free", dir);
    self->free = zlistx_new();
    zlistx_set_destructor(self->free, (zlistx_destructor_fn *)zstr_free);
    if (mc_mkdir_p(self->free_dir, 0700, err) != 0) {
        spool_destroy(&self);
        return NULL;
    }
    DIR *fd = opendir(self->free_dir);
    struct dirent *fe;
    while (fd && (fe = readdir(fd)))
        if (fe->d_name[0] == 'f') {
            unsigned k = (unsigned)strtoul(fe->d_name + 1, NULL, 10);
            if (k >= self->next_free)
                self->next_free = k + 1;
            zlistx_add_end(self->free, mc_sprintf("%s/%s", self->free_dir, fe->d_name));
        }
    if (fd)
        closedir(fd);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n == MC_JID_LEN + 4 && strcmp(de->d_name + MC_JID_LEN, ".ret") == 0 &&
            mc_jid_valid(de->d_name, MC_JID_LEN)) {
            entry_t *e = mc_calloc(1, sizeof *e);
            memcpy(e->jid, de->d_name, MC_JID_LEN);
            zlistx_insert(self->entries, e, false);
        }
    }
    if (d)
        closedir(d);
    zlistx_sort(self->entries);
    for (entry_t *e = zlistx_first(self->entries); e; e = zlistx_next(self->entries))
        zhashx_insert(self->by_jid, e->jid, zlistx_cursor(self->entries));
    if (zlistx_size(self->entries))
        mc_info("spool: %zu returns from before are waiting for the master",
                zlistx_size(self->entries));
    return self;
}

void spool_destroy(spool_t **pself)
{
    spool_t *self = *pself;
    if (!self)
        return;
    zhashx_destroy(&self->by_jid);
    zlistx_destroy(&self->entries);
    zlistx_destroy(&self->free);
    free(self->free_dir);
    free(self->dir);
    free(self);
    *pself = NULL;
}

int spool_put(spool_t *self, const char *jid, const void *data, size_t len, mc_err_t *err)
{
    char *path = path_of(self, jid);
    /* No fsync: a crashed minion keeps what the kernel has; only a power
       cut could lose a return, and that is the master's (and Salt's) bet
       too. Written under another name and renamed, so that a return file
       is never seen half written. */
    char *tmp =
        zlistx_first(self->free) ? zlistx_detach(self->free, NULL) : mc_sprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *p = data;
    size_t left = len;
    while (fd >= 0 && left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENOSPC;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    int rc = fd >= 0 && left == 0 ? 0 : -1;
    if (rc != 0)
        mc_err_set(err, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        mc_err_set(err, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        mc_err_set(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    free(path);
    if (rc != 0)
        return -1;
    void *h = zhashx_lookup(self->by_jid, jid);
    if (h) {
        ((entry_t *)zlistx_handle_item(h))->sent_ms = 0;
    } else {
        entry_t *e = mc_calloc(1, sizeof *e);
        snprintf(e->jid, sizeof e->jid, "%s", jid);
        h = zlistx_insert(self->entries, e, false); /* sorted, from the newest end */
        zhashx_insert(self->by_jid, e->jid, h);
    }
    self->next_due_ms = 0;
    return 0;
}

void spool_sent(spool_t *self, const char *jid)
{
    void *h = zhashx_lookup(self->by_jid, jid);
    if (h)
        ((entry_t *)zlistx_handle_item(h))->sent_ms = mc_mono_ms();
}

void spool_stored(spool_t *self, const char *jid)
{
    void *h = zhashx_lookup(self->by_jid, jid);
    if (!h)
        return;
    zhashx_delete(self->by_jid, jid);
    zlistx_delete(self->entries, h);
    char *path = path_of(self, jid);
    char *spare = NULL;
    if (zlistx_size(self->free) < FREE_MAX)
        spare = mc_sprintf("%s/f%u", self->free_dir, self->next_free++);
    if (spare && rename(path, spare) == 0) {
        zlistx_add_end(self->free, spare);
    } else {
        free(spare);
        if (unlink(path) != 0 && errno != ENOENT)
            mc_warn("spool: cannot remove %s: %s", path, strerror(errno));
    }
    free(path);
}

void spool_send_due(spool_t *self, int64_t resend_ms,
                    int (*send)(void *arg, const char *data, size_t len), void *arg)
{
    int64_t now = mc_mono_ms();
    if (now < self->next_due_ms)
        return;
    int64_t next = INT64_MAX;
    for (entry_t *e = zlistx_first(self->entries); e; e = zlistx_next(self->entries)) {
        if (e->sent_ms && now - e->sent_ms < resend_ms) {
            if (e->sent_ms + resend_ms < next)
                next = e->sent_ms + resend_ms;
            continue;
        }
        char *path = path_of(self, e->jid), *data;
        size_t len;
        mc_err_t err;
        if (mc_read_file(path, MC_MAX_RETURN_MSG, &data, &len, &err) != 0) {
            mc_error("spool: %s; dropping this return", err.msg);
            free(path);
            zhashx_delete(self->by_jid, e->jid);
            zlistx_delete(self->entries, zlistx_cursor(self->entries));
            continue;
        }
        free(path);
        int rc = send(arg, data, len);
        free(data);
        if (rc != 0) {
            next = now; /* the channel is full: try again next turn */
            break;
        }
        e->sent_ms = now;
        if (now + resend_ms < next)
            next = now + resend_ms;
    }
    self->next_due_ms = next;
}

void spool_all_due(spool_t *self)
{
    for (entry_t *e = zlistx_first(self->entries); e; e = zlistx_next(self->entries))
        e->sent_ms = 0;
    self->next_due_ms = 0;
}

size_t spool_count(spool_t *self)
{
    return zlistx_size(self->entries);
}
