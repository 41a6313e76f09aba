/*  cp - mctl cp [OPTIONS] TARGET SOURCE... DEST: files to many minions.

    First the sources are read once (cp_manifest.c) for their sizes, modes and BLAKE2b-256
    hashes (the manifest, proto/copy.h); a directory needs -r, and below
    one only files and directories are copied (a symbolic link or a device
    is skipped, with a warning, as rsync does without -l). The master
    publishes the manifest as a cp.recv job and answers with the minions
    to expect. Each minion answers with the files it already has (a cpack
    with seq 0); the files some minion lacks are then read again (each must
    still be as it was when hashed) and sent
    in chunks of up to CHUNK bytes (many small files share one, a large
    one fills many), each one only when every minion still in the
    copy has taken all but a window of the earlier ones (their cpacks say
    how far they are), so that a slow minion slows the copy rather than
    filling the master's memory. A file that changed since it was hashed
    is sent as an abort (and one whose change slips past mctl fails the
    minions' check of its hash): no minion keeps it, and mctl says so.

    A minion the master could not pass a chunk to, or that takes no chunk
    for the timeout, is out of the copy (it drops what it has) and is
    listed as not returned, with why. The returns, one per minion, map
    each path to "written", "unchanged" or why it failed, and print like
    any job's (txt, json, yaml, --summary); the exit status is the same as
    for a job, or 1 when a source changed. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cp.h"
#include "results.h"
#include "target.h"
#include "proto/proto.h"

#define CHUNK (128 * 1024)
/* What may wait in the master's queues for all the copy's minions
   together, and for one minion: the window of each is the first divided
   among them, within the bounds of the others. */
#define WINDOW_TOTAL      (32LL * 1024 * 1024)
#define WINDOW_MIN        (2LL * CHUNK)
#define WINDOW_MAX        (8LL * 1024 * 1024)
#define WINDOW_CHUNKS_MAX 256
/* The manifest must leave room in the job for everything else. */
#define MANIFEST_MAX (MC_MAX_JOB_MSG - 64 * 1024)

void cp_usage(FILE *f)
{
    fprintf(f, "Usage: mctl cp [OPTIONS] TARGET SOURCE... DEST\n"
               "\n"
               "Copy files (and with -r directories) to every minion TARGET selects. DEST\n"
               "is an absolute path on the minions: with one file it is the file's new path,\n"
               "or the directory it goes into when DEST ends in '/' or is a directory there;\n"
               "with several sources or a directory, DEST is the directory they go into\n"
               "(created if missing). Each file is checked (BLAKE2b) and moved into place\n"
               "whole: nothing is ever left half-written under its name. Files already there\n"
               "with the same content are not sent again.\n"
               "\n"
               "Targets: as for a job (-L, -E, -G, -P, -S, -N, -C, --delimiter; see mctl\n"
               "--help).\n"
               "\n"
               "Options:\n"
               "  -r, --recursive        copy directories and what is in them\n"
               "      --mode MODE        give every file this octal mode (default: the\n"
               "                         source's permission bits)\n"
               "      --owner USER[:GROUP]  owner of the files on the minions (default: the\n"
               "                         minion's user)\n"
               "      --progress         show the bytes sent and the rate (default on a terminal)\n"
               "  -t, --timeout SECONDS  a minion that takes no data for this long is out of\n"
               "                         the copy and drops what it has (default 30, at most\n"
               "                         3600)\n"
               "      --gather-timeout S how long a minion has to answer the start (default 5)\n"
               "      --out FORMAT       txt, json or yaml; --static, --summary, --hide-timeout\n"
               "                         and --no-color as for a job\n"
               "  -c, --config-dir DIR   where the master config is\n"
               "  -h, --help             show this help\n"
               "\n"
               "Exit status: 0 every file written or already there on every minion; 1 some\n"
               "file failed (the return says why) or a source changed while being read; 2\n"
               "some minion did not return, or none matched; 64 bad usage; 66 a source\n"
               "cannot be read; 69 master unreachable; 77 not permitted (publisher_acl:\n"
               "cp.recv, with the destination as its argument).\n"
               "\n"
               "Examples:\n"
               "  mctl cp 'web*' nginx.conf /etc/nginx/nginx.conf\n"
               "  mctl cp -G 'roles:web' --mode 0644 --owner www-data a.html b.css /srv/www/\n"
               "  mctl cp -r -L web1,web2 ./site /srv/\n");
}

/* ---- the copy ----------------------------------------------------------- */

typedef struct {
    const cli_opts_t *o;
    client_t c;
    char jid[MC_JID_LEN + 1];
    result_t *e;
    size_t n, done;
    int64_t *acked;      /* per minion: chunks taken, as its cpacks say */
    bool *have_seen;     /* per minion: its first cpack came */
    unsigned char *need; /* per file: some minion lacks it */
    int64_t *cum;        /* bytes sent up to and with chunk i */
    size_t cum_cap;
    int64_t seq; /* chunks sent */
    int64_t sent_bytes, total_bytes;
    int64_t started_ms, progress_ms; /* the last time a minion took a chunk */
    bool shown;
    bool changed; /* a source changed while being read */
    /* The chunk being filled: parts of one or more files, their bytes in
       buf. */
    unsigned char *buf;
    size_t used, nparts;
    mc_chunk_part_t *parts;
} copy_t;

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const result_t *)a)->id, ((const result_t *)b)->id);
}

/* A minion's entry (the entries are sorted by id). */
static result_t *find(copy_t *g, const char *id)
{
    result_t key = {.id = (char *)id};
    return bsearch(&key, g->e, g->n, sizeof *g->e, entry_cmp);
}

static bool active(const result_t *x)
{
    return x->state == WAITING || x->state == ACKED;
}

static void finish_entry(copy_t *g, result_t *x, result_state_t how, const char *why)
{
    if (!active(x))
        return;
    x->state = how;
    if (why) {
        free(x->why);
        x->why = mc_strdup(why);
    }
    g->done++;
}

static void progress_clear(copy_t *g)
{
    if (g->shown) {
        fputs("\r\033[K", stderr);
        g->shown = false;
    }
}

static void progress_draw(copy_t *g)
{
    if (!g->o->progress)
        return;
    double secs = (double)(mc_mono_ms() - g->started_ms) / 1000.0;
    size_t live = 0;
    for (size_t i = 0; i < g->n; i++)
        live += active(&g->e[i]);
    fprintf(stderr, "\r\033[Kcp: %.1f/%.1f MiB to %zu minion%s, %.1f MB/s",
            g->sent_bytes / 1048576.0, g->total_bytes / 1048576.0, live, live == 1 ? "" : "s",
            secs > 0 ? (double)g->sent_bytes * (double)live / 1e6 / secs : 0.0);
    fflush(stderr);
    g->shown = true;
}

static void on_cpack(copy_t *g, client_frame_t *body, const sources_t *s)
{
    mc_cpack_t a;
    mc_err_t err;
    if (mc_cpack_decode(&a, body->data, body->size, &err) != 0) {
        fprintf(stderr, "mctl: a malformed progress report was ignored: %s\n", err.msg);
        return;
    }
    if (strcmp(a.jid, g->jid) != 0)
        goto out;
    if (!a.id[0]) {
        /* The master refused the copy's chunk: every minion is out. */
        for (size_t i = 0; i < g->n; i++)
            finish_entry(g, &g->e[i], MISSING, a.error);
        goto out;
    }
    result_t *x = find(g, a.id);
    if (!x || !active(x))
        goto out;
    size_t k = (size_t)(x - g->e);
    if (a.error[0]) {
        finish_entry(g, x, MISSING, a.error);
        goto out;
    }
    if (!g->have_seen[k]) {
        g->have_seen[k] = true;
        x->state = ACKED;
        for (size_t i = 0; i < s->m.count; i++) {
            bool has = i / 8 < a.have_len && (a.have[i / 8] >> (i % 8)) & 1;
            if (!has && !s->m.files[i].dir && s->m.files[i].size > 0)
                g->need[i] = 1;
        }
    }
    /* A minion cannot have taken more than was sent. */
    if (a.seq > g->acked[k] && a.seq <= g->seq) {
        g->acked[k] = a.seq;
        g->progress_ms = mc_mono_ms();
    }
out:
    mc_cpack_done(&a);
}

static void on_return(copy_t *g, client_frame_t **body)
{
    mc_ret_t ret;
    mc_err_t err;
    if (mc_ret_decode(&ret, (*body)->data, (*body)->size, &err) != 0) {
        fprintf(stderr, "mctl: a malformed return was ignored: %s\n", err.msg);
        return;
    }
    result_t *x = strcmp(ret.jid, g->jid) == 0 ? find(g, ret.id) : NULL;
    if (x && active(x)) {
        finish_entry(g, x, RETURNED, NULL);
        progress_clear(g);
        results_take(g->o, x, &ret, body);
    }
    mc_ret_done(&ret);
}

/* Take what the master sends for up to wait_ms: 1 when a message came,
   0 when none did, -1 when the connection is gone. */
static int pump(copy_t *g, const sources_t *s, int wait_ms)
{
    char kind[16];
    client_frame_t *body = NULL;
    int got = client_next(&g->c, kind, &body, wait_ms);
    if (got < 0) {
        progress_clear(g);
        fprintf(stderr, "mctl: %s\n", g->c.why.msg);
        for (size_t i = 0; i < g->n; i++)
            finish_entry(g, &g->e[i], MISSING, "the connection to the master was lost");
        return -1;
    }
    if (got > 0 && strcmp(kind, MC_KIND_CPACK) == 0)
        on_cpack(g, body, s);
    else if (got > 0 && strcmp(kind, MC_KIND_RETURN) == 0)
        on_return(g, &body);
    client_frame_free(&body);
    return got > 0;
}

/* Whether every minion in the copy is within its window of chunk seq. */
static bool window_open(copy_t *g, int64_t len)
{
    size_t live = 0;
    for (size_t i = 0; i < g->n; i++)
        live += active(&g->e[i]);
    if (live == 0)
        return true;
    int64_t window = WINDOW_TOTAL / (int64_t)live;
    window = window < WINDOW_MIN ? WINDOW_MIN : window > WINDOW_MAX ? WINDOW_MAX : window;
    for (size_t i = 0; i < g->n; i++) {
        if (!active(&g->e[i]))
            continue;
        int64_t acked = g->acked[i];
        int64_t acked_bytes = acked > 0 ? g->cum[acked - 1] : 0;
        if (g->seq - acked >= WINDOW_CHUNKS_MAX || g->sent_bytes + len - acked_bytes > window)
            return false;
    }
    return true;
}

static bool any_active(copy_t *g)
{
    return g->done < g->n;
}

/* Send the pending chunk (its parts) once the window allows; -1 when the
   copy cannot go on. */
static int flush_chunk(copy_t *g, const sources_t *s)
{
    if (g->nparts == 0)
        return 0;
    int64_t len = (int64_t)g->used;
    while (any_active(g) && !window_open(g, len)) {
        int64_t now = mc_mono_ms();
        if (now - g->progress_ms > (int64_t)g->o->timeout * 1000) {
            /* Those holding the window shut have taken nothing for the
               timeout: they are out, and drop what they have. */
            char why[128];
            snprintf(why, sizeof why, "took no data for %d s; out of the copy", g->o->timeout);
            int64_t low = INT64_MAX;
            for (size_t i = 0; i < g->n; i++)
                if (active(&g->e[i]) && g->acked[i] < low)
                    low = g->acked[i];
            for (size_t i = 0; i < g->n; i++)
                if (active(&g->e[i]) && g->acked[i] == low)
                    finish_entry(g, &g->e[i], MISSING, why);
            g->progress_ms = now;
            continue;
        }
        if (pump(g, s, 200) < 0)
            return -1;
        progress_draw(g);
    }
    if (!any_active(g))
        return -1;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_chunk_spec_t spec = {.jid = g->jid, .seq = g->seq, .nparts = g->nparts, .parts = g->parts};
    mc_request_cp_chunk_pack(&sb, &spec);
    mc_err_t err;
    int rc = client_send(&g->c, &sb, &err);
    msgpack_sbuffer_destroy(&sb);
    g->nparts = 0;
    g->used = 0;
    if (rc != 0) {
        progress_clear(g);
        fprintf(stderr, "mctl: %s\n", err.msg);
        return -1;
    }
    if ((size_t)g->seq == g->cum_cap) {
        g->cum_cap = g->cum_cap ? g->cum_cap * 2 : 1024;
        g->cum = mc_realloc(g->cum, g->cum_cap * sizeof *g->cum);
    }
    g->sent_bytes += len;
    g->cum[g->seq++] = g->sent_bytes;
    /* Take what has come meanwhile without waiting. */
    int got;
    while ((got = pump(g, s, 0)) > 0)
        ;
    return got < 0 ? -1 : 0;
}

/* Room for a part of up to want bytes in the pending chunk: the pending
   one goes first when it is full. Returns the room, or -1. */
static long make_room(copy_t *g, const sources_t *s, size_t want)
{
    if (g->nparts == MC_CP_PARTS_MAX || (g->used == CHUNK && want > 0))
        if (flush_chunk(g, s) != 0)
            return -1;
    size_t room = CHUNK - g->used;
    return (long)(want < room ? want : room);
}

static void add_part(copy_t *g, size_t file, uint64_t off, size_t len, bool abort)
{
    g->parts[g->nparts++] = (mc_chunk_part_t){
        .file = (uint32_t)file, .off = off, .abort = abort, .data = g->buf + g->used, .len = len};
    g->used += len;
}

/* Whether the file open on fd is still as it was hashed: the same file,
   size, modification and change times (a write changes the change time,
   which no one can set back). */
static bool unchanged(int fd, const struct stat *seen)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == seen->st_dev && st.st_ino == seen->st_ino &&
           st.st_size == seen->st_size && st.st_mtim.tv_sec == seen->st_mtim.tv_sec &&
           st.st_mtim.tv_nsec == seen->st_mtim.tv_nsec &&
           st.st_ctim.tv_sec == seen->st_ctim.tv_sec && st.st_ctim.tv_nsec == seen->st_ctim.tv_nsec;
}

/* Add file i to the chunks: its bytes as they are read again. A file
   that is not as it was when hashed, before its first part or its last,
   gets an abort as its last part (and a change that slips past this is
   caught by each minion's check of the hash). Small files share a chunk,
   a large one fills many. */
static int send_file(copy_t *g, const sources_t *s, size_t i)
{
    const mc_cp_file_t *f = &s->m.files[i];
    int fd = open(s->paths[i], O_RDONLY | O_CLOEXEC);
    int open_errno = errno;
    uint64_t off = 0;
    bool bad = fd < 0 || !unchanged(fd, &s->seen[i]);
    while (!bad && off < f->size) {
        uint64_t left = f->size - off;
        long room = make_room(g, s, left < CHUNK ? (size_t)left : CHUNK);
        if (room < 0) {
            close(fd);
            return -1;
        }
        size_t want = (size_t)room, got = 0;
        unsigned char *at = g->buf + g->used;
        while (got < want) {
            ssize_t n = read(fd, at + got, want - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got < want || (off + got == f->size && !unchanged(fd, &s->seen[i]))) {
            bad = true;
            break;
        }
        add_part(g, i, off, got, false);
        off += got;
    }
    if (fd >= 0)
        close(fd);
    if (bad) {
        progress_clear(g);
        if (fd < 0)
            fprintf(stderr, "mctl: %s: %s; not copied\n", s->paths[i], strerror(open_errno));
        else
            fprintf(stderr, "mctl: %s changed while being read; not copied\n", s->paths[i]);
        g->changed = true;
        if (make_room(g, s, 0) < 0)
            return -1;
        add_part(g, i, off, 0, true);
    }
    return 0;
}

static void run_copy(copy_t *g, const sources_t *s)
{
    /* Every minion says what it has, or is out after the gather timeout. */
    int64_t until = mc_mono_ms() + (int64_t)g->o->gather_timeout * 1000;
    for (;;) {
        bool waiting = false;
        for (size_t i = 0; i < g->n; i++)
            waiting |= active(&g->e[i]) && !g->have_seen[i];
        int64_t now = mc_mono_ms();
        if (!waiting)
            break;
        if (now >= until) {
            for (size_t i = 0; i < g->n; i++)
                if (active(&g->e[i]) && !g->have_seen[i])
                    finish_entry(g, &g->e[i], MISSING, "did not answer the start of the copy");
            break;
        }
        if (pump(g, s, (int)(until - now)) < 0)
            return;
    }
    for (size_t i = 0; i < s->m.count; i++)
        if (g->need[i])
            g->total_bytes += (int64_t)s->m.files[i].size;
    g->started_ms = g->progress_ms = mc_mono_ms();
    progress_draw(g);
    size_t f = 0;
    while (f < s->m.count && any_active(g) && (!g->need[f] || send_file(g, s, f) == 0))
        f++;
    if (f == s->m.count)
        flush_chunk(g, s);
    /* The returns: each minion has until the timeout after it last took a
       chunk (it gives up itself then, and says so). */
    while (any_active(g)) {
        int64_t now = mc_mono_ms();
        int64_t limit = g->progress_ms + (int64_t)g->o->timeout * 1000 + 5000;
        if (now >= limit) {
            for (size_t i = 0; i < g->n; i++)
                finish_entry(g, &g->e[i], MISSING, NULL);
            break;
        }
        if (pump(g, s, (int)(limit - now < 500 ? limit - now : 500)) < 0)
            break;
        progress_draw(g);
    }
    progress_clear(g);
}

int cmd_cp(const cli_opts_t *o, client_target_t *target, int argc, char **argv)
{
    if (argc < 3)
        return cli_sub_usage_error("cp", "expected TARGET SOURCE... DEST");
    if (o->async)
        return cli_sub_usage_error("cp", "--async is not an option of mctl cp");
    if (o->timeout > MC_CP_TIMEOUT_MAX)
        return cli_sub_usage_error("cp",
                                   "--timeout is at most %d seconds for a copy (how long a minion "
                                   "waits for more data)",
                                   MC_CP_TIMEOUT_MAX);
    target->tgt = argv[0];
    const char *dest = argv[argc - 1];
    if (dest[0] != '/')
        return cli_sub_usage_error("cp", "DEST must be an absolute path, got '%s'", dest);
    if (strlen(dest) > MC_CP_PATH_MAX)
        return cli_sub_usage_error("cp", "DEST is longer than %d bytes", MC_CP_PATH_MAX);
    if (!mc_cp_dest_valid(dest))
        return cli_sub_usage_error("cp", "DEST must not hold '.', '..' or '//', got '%s'", dest);
    mc_err_t err;
    mc_target_t *check = NULL;
    bool groups = strcmp(target->tgt_type, "nodegroup") == 0 ||
                  (strcmp(target->tgt_type, "compound") == 0 && strstr(target->tgt, "N@"));
    if (!groups &&
        !(check = mc_target_compile(target->tgt, target->tgt_type, target->delimiter, &err)))
        return cli_sub_usage_error("cp", "%s", err.msg);
    mc_target_destroy(&check);

    sources_t s = {0};
    int status = cp_sources_read(o, &s, argc - 2, argv + 1, dest);
    if (status != 0) {
        cp_sources_free(&s);
        return status;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    struct passwd *pw = getpwuid(getuid());
    mc_request_cp_start_pack(&sb, target, &s.m, o->timeout, pw ? pw->pw_name : "?");
    if (sb.size > MANIFEST_MAX) {
        fprintf(stderr,
                "mctl: %zu files make a manifest of %zu bytes, more than a copy takes; "
                "copy them in parts\n",
                s.m.count, sb.size);
        msgpack_sbuffer_destroy(&sb);
        cp_sources_free(&s);
        return EXIT_USAGE;
    }
    copy_t g = {.o = o};
    if (client_open(&g.c, o->config_dir, &err) != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        msgpack_sbuffer_destroy(&sb);
        cp_sources_free(&s);
        return EXIT_UNAVAILABLE;
    }
    client_frame_t *body;
    int rc = client_ask(&g.c, &sb, &body, 10000, &err);
    msgpack_sbuffer_destroy(&sb);
    mc_reply_targets_t reply;
    if (rc != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        status = err.code == MC_E_UNREACHABLE ? EXIT_UNAVAILABLE : EXIT_USAGE;
        goto done;
    }
    rc = mc_reply_publish_decode(&reply, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0) {
        status = client_reply_failed(&err);
        status = status == EXIT_FAILED ? EXIT_USAGE : status;
        goto done;
    }
    snprintf(g.jid, sizeof g.jid, "%s", reply.jid);
    g.n = reply.minions.count;
    g.e = mc_calloc(g.n + 1, sizeof *g.e);
    g.acked = mc_calloc(g.n + 1, sizeof *g.acked);
    g.have_seen = mc_calloc(g.n + 1, sizeof *g.have_seen);
    g.need = mc_calloc(s.m.count + 1, 1);
    g.buf = mc_malloc(CHUNK);
    g.parts = mc_calloc(MC_CP_PARTS_MAX, sizeof *g.parts);
    for (size_t i = 0; i < g.n; i++) {
        g.e[i].id = mc_strdup(reply.minions.items[i]);
        snprintf(g.e[i].jid, sizeof g.e[i].jid, "%s", g.jid);
        g.e[i].state = WAITING;
        g.e[i].started_ms = mc_mono_ms();
    }
    qsort(g.e, g.n, sizeof *g.e, entry_cmp);
    for (size_t k = 0; k < reply.unsent.count; k++) {
        result_t *x = find(&g, reply.unsent.items[k]);
        if (x)
            finish_entry(&g, x, NOT_SENT, reply.unsent_why.items[k]);
    }
    mc_reply_targets_done(&reply);
    if (g.n == 0) {
        fprintf(stderr, "No minions matched the target. Nothing was copied.\n");
        status = EXIT_NO_RETURN;
        goto done;
    }
    if (o->verbose)
        fprintf(stderr, "Copying %zu files (%.1f MiB) with jid %s\n", s.m.count,
                (double)s.m.bytes / 1048576.0, g.jid);
    run_copy(&g, &s);
    status = results_report(o, g.e, g.n, g.jid);
    if (g.changed && status == EXIT_OK)
        status = EXIT_FAILED;
done:
    for (size_t i = 0; i < g.n; i++) {
        free(g.e[i].id);
        free(g.e[i].why);
        client_frame_free(&g.e[i].ret);
    }
    free(g.e);
    free(g.acked);
    free(g.have_seen);
    free(g.need);
    free(g.cum);
    free(g.buf);
    free(g.parts);
    client_close(&g.c);
    cp_sources_free(&s);
    return status;
}
