/*  spool - see spool.h. The index in memory is a list ordered by jid,
    which is ordered by time, so "oldest first" is the order of the list,
    and a hash from jid to list position, so that a "stored" notice costs
    the same however long the backlog. Each entry knows where its message
    lies in which segment; each segment counts the entries that still lie
    in it, and goes when that count reaches zero. The list is walked only
    when some return is due, which next_due_ms tells without walking it. */
#include "spool.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "proto/proto.h"

#define MAGIC_RET    "MRt1"
#define MAGIC_STORED "MSt1"
#define HEAD_LEN     8
#define CHECK_LEN    8
#define SEG_MAX      (1024 * 1024) /* start the next segment past this */
#define SEG_RECYCLE  (64 * 1024)   /* a segment this big with nothing live goes */
#define STORED_MAX   100000        /* jids in one stored record */

typedef struct {
    unsigned seq;
    size_t live;  /* entries whose message lies here */
    off_t size;   /* bytes of whole records */
    void *handle; /* in segs */
} seg_t;

typedef struct {
    char jid[MC_JID_LEN + 1];
    seg_t *seg;
    off_t off; /* of the message */
    size_t len;
    int64_t sent_ms; /* 0: not sent since it was spooled or due again */
} entry_t;

struct _spool_t {
    char *dir;
    bool readonly;
    bool loading;      /* replaying: no segment goes yet */
    zlistx_t *entries; /* entry_t, sorted by jid */
    zhashx_t *by_jid;  /* jid -> handle in entries */
    zlistx_t *segs;    /* seg_t, by seq */
    seg_t *active;     /* appended to; NULL: the next put starts one */
    int fd;            /* the active segment's */
    unsigned next_seq;
    int rfd; /* a segment open for reading resends, and which */
    unsigned rseq;
    size_t due;
    int64_t next_due_ms;
    mc_buf_t gone; /* jids stored since the last spool_sync */
};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->jid, ((const entry_t *)b)->jid);
}

static void free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static char *seg_path(const spool_t *self, unsigned seq)
{
    return mc_sprintf("%s/%010u.log", self->dir, seq);
}

static void check_of(const char *head, const struct iovec *body, int n, unsigned char *out)
{
    crypto_generichash_state st;
    unsigned char h[crypto_generichash_BYTES_MIN];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)head, HEAD_LEN);
    for (int i = 0; i < n; i++)
        crypto_generichash_update(&st, body[i].iov_base, body[i].iov_len);
    crypto_generichash_final(&st, h, sizeof h);
    memcpy(out, h, CHECK_LEN);
}

/* Forget a segment nothing lies in any more, unless it is being written. */
static bool seg_release(spool_t *self, seg_t *seg)
{
    if (seg->live > 0 || seg == self->active || self->loading)
        return false;
    if (!self->readonly) {
        char *path = seg_path(self, seg->seq);
        if (unlink(path) != 0 && errno != ENOENT)
            mc_warn("spool: cannot remove %s: %s", path, strerror(errno));
        free(path);
    }
    if (self->rfd >= 0 && self->rseq == seg->seq) {
        close(self->rfd);
        self->rfd = -1;
    }
    zlistx_delete(self->segs, seg->handle);
    return true;
}

static void seg_close_active(spool_t *self)
{
    seg_t *seg = self->active;
    if (!seg)
        return;
    close(self->fd);
    self->fd = -1;
    self->active = NULL;
    seg_release(self, seg);
}

/* A segment grown past SEG_RECYCLE with nothing live in it goes now, so
   that the next return starts a fresh one. */
static void recycle_active(spool_t *self)
{
    if (self->active && self->active->live == 0 && self->active->size >= SEG_RECYCLE)
        seg_close_active(self);
}

/* Append one record; *at is where its body starts. On failure the
   segment is cut back to its last whole record. */
static int append(spool_t *self, const char *magic, const struct iovec *body, int n, off_t *at,
                  mc_err_t *err)
{
    if (!self->active) {
        char *path = seg_path(self, self->next_seq);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) {
            mc_err_set(err, "cannot create %s: %s", path, strerror(errno));
            free(path);
            return -1;
        }
        free(path);
        seg_t *seg = mc_calloc(1, sizeof *seg);
        seg->seq = self->next_seq++;
        seg->handle = zlistx_add_end(self->segs, seg);
        self->active = seg;
        self->fd = fd;
    }
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += body[i].iov_len;
    char head[HEAD_LEN];
    memcpy(head, magic, 4);
    uint32_t l32 = (uint32_t)len;
    for (int i = 0; i < 4; i++)
        head[4 + i] = (char)(l32 >> (8 * i));
    unsigned char check[CHECK_LEN];
    check_of(head, body, n, check);
    struct iovec iov[8];
    int k = 0;
    iov[k++] = (struct iovec){head, HEAD_LEN};
    for (int i = 0; i < n && k < 7; i++)
        iov[k++] = body[i];
    iov[k++] = (struct iovec){check, CHECK_LEN};
    size_t total = HEAD_LEN + len + CHECK_LEN, done = 0;
    struct iovec *v = iov;
    while (done < total) {
        ssize_t w = writev(self->fd, v, k);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            break;
        }
        done += (size_t)w;
        while (k > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            k--;
        }
        if (k > 0) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    if (done < total) {
        int e = errno;
        char *path = seg_path(self, self->active->seq);
        mc_err_set(err, "cannot write %s: %s", path, strerror(e));
        free(path);
        if (done > 0 && ftruncate(self->fd, self->active->size) != 0)
            seg_close_active(self); /* its tail is damaged: restarts skip it */
        return -1;
    }
    *at = self->active->size + HEAD_LEN;
    self->active->size += (off_t)total;
    return 0;
}

static void drop_entry(spool_t *self, void *h)
{
    entry_t *e = zlistx_handle_item(h);
    seg_t *seg = e->seg;
    seg->live--;
    if (e->sent_ms == 0)
        self->due--;
    zhashx_delete(self->by_jid, e->jid);
    zlistx_delete(self->entries, h);
    seg_release(self, seg);
}

/* Where a return lies now; replaces an earlier copy of the same jid. */
static void place(spool_t *self, const char *jid, seg_t *seg, off_t off, size_t len)
{
    void *h = zhashx_lookup(self->by_jid, jid);
    entry_t *e;
    seg->live++;
    if (h) {
        e = zlistx_handle_item(h);
        seg_t *old = e->seg;
        old->live--;
        if (e->sent_ms != 0)
            self->due++;
        e->sent_ms = 0;
        e->seg = seg;
        e->off = off;
        e->len = len;
        if (old != seg)
            seg_release(self, old);
    } else {
        e = mc_calloc(1, sizeof *e);
        memcpy(e->jid, jid, MC_JID_LEN);
        e->seg = seg;
        e->off = off;
        e->len = len;
        h = zlistx_insert(self->entries, e, false); /* sorted, from the newest end */
        zhashx_insert(self->by_jid, e->jid, h);
        self->due++;
    }
    self->next_due_ms = 0;
}

static int read_at(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        off += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Read one segment's records into the index. */
static void replay_segment(spool_t *self, seg_t *seg, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mc_error("spool: cannot read %s: %s; the returns in it are not sent", path,
                 strerror(errno));
        return;
    }
    struct stat st;
    off_t end = fstat(fd, &st) == 0 ? st.st_size : 0, off = 0;
    char *body = NULL;
    const char *why = NULL;
    while (off < end) {
        char head[HEAD_LEN];
        unsigned char check[CHECK_LEN], want[CHECK_LEN];
        if (end - off < HEAD_LEN + CHECK_LEN || read_at(fd, head, HEAD_LEN, off) != 0) {
            why = "cut short";
            break;
        }
        bool ret = memcmp(head, MAGIC_RET, 4) == 0, stored = memcmp(head, MAGIC_STORED, 4) == 0;
        uint32_t len = 0;
        for (int i = 0; i < 4; i++)
            len |= (uint32_t)(unsigned char)head[4 + i] << (8 * i);
        if (!(ret || stored) ||
            (ret && (len <= MC_JID_LEN || len > MC_JID_LEN + MC_MAX_RETURN_MSG)) ||
            (stored && (len % MC_JID_LEN != 0 || len / MC_JID_LEN > STORED_MAX))) {
            why = "damaged";
            break;
        }
        if ((off_t)len > end - off - HEAD_LEN - CHECK_LEN) {
            why = "cut short";
            break;
        }
        body = mc_realloc(body, len);
        if (read_at(fd, body, len, off + HEAD_LEN) != 0 ||
            read_at(fd, check, CHECK_LEN, off + HEAD_LEN + (off_t)len) != 0) {
            why = "unreadable";
            break;
        }
        struct iovec iov = {body, len};
        check_of(head, &iov, 1, want);
        if (memcmp(check, want, CHECK_LEN) != 0) {
            /* The frame is sound, the contents are not: skip just this. */
            mc_error("spool: %s: the record at offset %lld is damaged (a power cut while "
                     "writing?); a return in it is lost",
                     path, (long long)off);
            off += HEAD_LEN + (off_t)len + CHECK_LEN;
            continue;
        }
        for (uint32_t i = 0; i + MC_JID_LEN <= (ret ? MC_JID_LEN : len); i += MC_JID_LEN) {
            char jid[MC_JID_LEN + 1];
            memcpy(jid, body + i, MC_JID_LEN);
            jid[MC_JID_LEN] = '\0';
            if (!mc_jid_valid(jid, MC_JID_LEN))
                continue;
            if (ret) {
                place(self, jid, seg, off + HEAD_LEN, len);
            } else {
                void *h = zhashx_lookup(self->by_jid, jid);
                if (h)
                    drop_entry(self, h);
            }
        }
        off += HEAD_LEN + (off_t)len + CHECK_LEN;
    }
    if (why) {
        mc_error("spool: %s: the last %lld bytes, from offset %lld, are %s (a crash or power cut "
                 "while writing); skipped",
                 path, (long long)(end - off), (long long)off, why);
        if (!self->readonly && truncate(path, off) != 0) /* so that it is told once */
            mc_warn("spool: cannot cut %s back to its whole records: %s", path, strerror(errno));
    }
    seg->size = off;
    free(body);
    close(fd);
}

static int cmp_seq(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* Returns spooled one file each, as earlier versions did: into the log. */
static void import_files(spool_t *self)
{
    DIR *d = opendir(self->dir);
    struct dirent *de;
    size_t n = 0;
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len != MC_JID_LEN + 4 || strcmp(de->d_name + MC_JID_LEN, ".ret") != 0 ||
            !mc_jid_valid(de->d_name, MC_JID_LEN))
            continue;
        char *path = mc_sprintf("%s/%s", self->dir, de->d_name), *data = NULL;
        char jid[MC_JID_LEN + 1];
        memcpy(jid, de->d_name, MC_JID_LEN);
        jid[MC_JID_LEN] = '\0';
        size_t size;
        mc_err_t err;
        if (mc_read_file(path, MC_MAX_RETURN_MSG, &data, &size, &err) != 0 ||
            spool_put(self, jid, data, size, &err) != 0)
            mc_error("spool: %s; this return stays where it is", err.msg);
        else if (unlink(path) == 0)
            n++;
        free(data);
        free(path);
    }
    if (d)
        closedir(d);
    if (n)
        mc_info("spool: moved %zu returns from single files into the log", n);
    char *free_dir = mc_sprintf("%s.free", self->dir);
    d = opendir(free_dir);
    while (d && (de = readdir(d)))
        if (de->d_name[0] == 'f') {
            char *path = mc_sprintf("%s/%s", free_dir, de->d_name);
            unlink(path);
            free(path);
        }
    if (d) {
        closedir(d);
        rmdir(free_dir);
    }
    free(free_dir);
}

static spool_t *spool_open(const char *dir, bool readonly, mc_err_t *err)
{
    if (!readonly && mc_mkdir_p(dir, 0700, err) != 0)
        return NULL;
    DIR *d = opendir(dir);
    if (!d && !(readonly && errno == ENOENT)) { /* a minion that never ran has none */
        mc_err_set(err, "cannot read %s: %s", dir, strerror(errno));
        return NULL;
    }
    spool_t *self = mc_calloc(1, sizeof *self);
    self->dir = mc_strdup(dir);
    self->readonly = readonly;
    self->fd = self->rfd = -1;
    self->entries = zlistx_new();
    zlistx_set_comparator(self->entries, cmp_entry);
    zlistx_set_destructor(self->entries, free_item);
    self->by_jid = zhashx_new();
    self->segs = zlistx_new();
    zlistx_set_destructor(self->segs, free_item);
    unsigned *seqs = NULL;
    size_t nseqs = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char *end;
        unsigned long seq = strtoul(de->d_name, &end, 10);
        if (strlen(de->d_name) == 14 && end == de->d_name + 10 && strcmp(end, ".log") == 0 &&
            seq < UINT32_MAX) {
            seqs = mc_realloc(seqs, (nseqs + 1) * sizeof *seqs);
            seqs[nseqs++] = (unsigned)seq;
        }
    }
    if (d)
        closedir(d);
    if (nseqs)
        qsort(seqs, nseqs, sizeof *seqs, cmp_seq);
    for (size_t i = 0; i < nseqs; i++) {
        seg_t *seg = mc_calloc(1, sizeof *seg);
        seg->seq = seqs[i];
        seg->handle = zlistx_add_end(self->segs, seg);
        self->next_seq = seqs[i] + 1;
    }
    free(seqs);
    self->loading = true;
    for (seg_t *s = zlistx_first(self->segs); s; s = zlistx_next(self->segs)) {
        char *path = seg_path(self, s->seq);
        replay_segment(self, s, path);
        free(path);
    }
    self->loading = false;
    /* Segments left with nothing live go. */
    seg_t *s = zlistx_first(self->segs);
    while (s) {
        seg_t *next = zlistx_next(self->segs);
        seg_release(self, s);
        s = next;
    }
    if (!readonly)
        import_files(self);
    if (!readonly && zlistx_size(self->entries))
        mc_info("spool: %zu returns from before are waiting for the master",
                zlistx_size(self->entries));
    return self;
}

spool_t *spool_new(const char *dir, mc_err_t *err)
{
    return spool_open(dir, false, err);
}

void spool_destroy(spool_t **pself)
{
    spool_t *self = *pself;
    if (!self)
        return;
    if (self->fd >= 0)
        close(self->fd);
    if (self->rfd >= 0)
        close(self->rfd);
    zhashx_destroy(&self->by_jid);
    zlistx_destroy(&self->entries);
    zlistx_destroy(&self->segs);
    mc_buf_free(&self->gone);
    free(self->dir);
    free(self);
    *pself = NULL;
}

int spool_put(spool_t *self, const char *jid, const void *data, size_t len, mc_err_t *err)
{
    /* No fsync: a crashed minion keeps what the kernel has; only a power
       cut could lose a return, and that is the master's (and Salt's) bet
       too. */
    if (strlen(jid) != MC_JID_LEN || len > MC_MAX_RETURN_MSG) {
        mc_err_set(err, "cannot spool a return of %zu bytes for job '%s'", len, jid);
        return -1;
    }
    struct iovec body[2] = {{(void *)jid, MC_JID_LEN}, {(void *)data, len}};
    off_t at;
    if (append(self, MAGIC_RET, body, 2, &at, err) != 0)
        return -1;
    seg_t *seg = self->active;
    place(self, jid, seg, at, MC_JID_LEN + len);
    if (seg->size >= SEG_MAX)
        seg_close_active(self);
    return 0;
}

void spool_sent(spool_t *self, const char *jid)
{
    void *h = zhashx_lookup(self->by_jid, jid);
    if (!h)
        return;
    entry_t *e = zlistx_handle_item(h);
    if (e->sent_ms == 0)
        self->due--;
    e->sent_ms = mc_mono_ms();
}

void spool_stored(spool_t *self, const char *jid)
{
    void *h = zhashx_lookup(self->by_jid, jid);
    if (!h)
        return;
    seg_t *seg = ((entry_t *)zlistx_handle_item(h))->seg;
    bool kept = seg->live > 1 || seg == self->active; /* its record stays on disk */
    drop_entry(self, h);
    if (kept)
        mc_buf_append(&self->gone, jid, MC_JID_LEN);
    recycle_active(self);
}

void spool_sync(spool_t *self)
{
    if (!self->gone.len || self->readonly)
        return;
    if (zlistx_size(self->segs) > 0) {
        /* Only needed while some segment with those records is kept. */
        size_t step = STORED_MAX * MC_JID_LEN;
        for (size_t i = 0; i < self->gone.len; i += step) {
            size_t n = self->gone.len - i < step ? self->gone.len - i : step;
            struct iovec body = {self->gone.data + i, n};
            off_t at;
            mc_err_t err;
            if (append(self, MAGIC_STORED, &body, 1, &at, &err) != 0) {
                mc_warn("spool: %s; a restart will send some stored returns again", err.msg);
                break;
            }
        }
        recycle_active(self);
    }
    self->gone.len = 0;
}

/* The message of an entry, read back from its segment. */
static char *read_entry(spool_t *self, entry_t *e, mc_err_t *err)
{
    if (self->rfd < 0 || self->rseq != e->seg->seq) {
        if (self->rfd >= 0)
            close(self->rfd);
        char *path = seg_path(self, e->seg->seq);
        self->rfd = open(path, O_RDONLY | O_CLOEXEC);
        self->rseq = e->seg->seq;
        if (self->rfd < 0) {
            mc_err_set(err, "cannot read %s: %s", path, strerror(errno));
            free(path);
            return NULL;
        }
        free(path);
    }
    char *data = mc_malloc(e->len);
    if (read_at(self->rfd, data, e->len, e->off) != 0 || memcmp(data, e->jid, MC_JID_LEN) != 0) {
        mc_err_set(err, "cannot read job %s's return back from segment %u", e->jid, e->seg->seq);
        free(data);
        return NULL;
    }
    return data;
}

void spool_send_due(spool_t *self, int64_t resend_ms,
                    int (*send)(void *arg, const char *jid, const char *data, size_t len),
                    void *arg)
{
    int64_t now = mc_mono_ms();
    if (now < self->next_due_ms)
        return;
    int64_t next = INT64_MAX;
    entry_t *e = zlistx_first(self->entries);
    while (e) {
        if (e->sent_ms && now - e->sent_ms < resend_ms) {
            if (e->sent_ms + resend_ms < next)
                next = e->sent_ms + resend_ms;
            e = zlistx_next(self->entries);
            continue;
        }
        mc_err_t err;
        char *data = read_entry(self, e, &err);
        if (!data) {
            mc_error("spool: %s; dropping this return", err.msg);
            void *h = zlistx_cursor(self->entries);
            e = zlistx_next(self->entries);
            drop_entry(self, h);
            continue;
        }
        int rc = send(arg, e->jid, data + MC_JID_LEN, e->len - MC_JID_LEN);
        free(data);
        if (rc != 0) {
            next = now; /* the channel is full: try again next turn */
            break;
        }
        if (e->sent_ms == 0)
            self->due--;
        e->sent_ms = now;
        if (now + resend_ms < next)
            next = now + resend_ms;
        e = zlistx_next(self->entries);
    }
    self->next_due_ms = next;
}

void spool_all_due(spool_t *self)
{
    for (entry_t *e = zlistx_first(self->entries); e; e = zlistx_next(self->entries))
        e->sent_ms = 0;
    self->due = zlistx_size(self->entries);
    self->next_due_ms = 0;
}

size_t spool_count(spool_t *self)
{
    return zlistx_size(self->entries);
}

size_t spool_due(spool_t *self)
{
    return self->due;
}

long spool_list(const char *dir, FILE *out, mc_err_t *err)
{
    spool_t *self = spool_open(dir, true, err);
    if (!self)
        return -1;
    long n = 0;
    for (entry_t *e = zlistx_first(self->entries); e; e = zlistx_next(self->entries), n++)
        fprintf(out, "%s %zu\n", e->jid, e->len - MC_JID_LEN);
    spool_destroy(&self);
    return n;
}
