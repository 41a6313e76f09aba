/*  zmtp - see zmtp.h. */
#include "zmtp.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "zmtp_codec.h"

zmtp_frame_t *zmtp_frame_new(const void *data, size_t size)
{
    zmtp_frame_t *f = mc_malloc(sizeof *f + size);
    f->size = size;
    if (size)
        memcpy(f->data, data, size);
    return f;
}

void zmtp_frame_free(zmtp_frame_t **f)
{
    if (f) {
        free(*f);
        *f = NULL;
    }
}

static int write_all(int fd, const uint8_t *p, size_t n, mc_err_t *err)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            mc_err_set(err, "cannot send to the master: %s", strerror(errno));
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read what is there, waiting until deadline_ms (mc_mono_ms) for
   something: 1 when bytes came, 0 on timeout, -1 on error or EOF. */
static int fill(zmtp_t *z, int64_t deadline_ms, mc_err_t *err)
{
    if (z->head > 0 && z->head == z->tail)
        z->head = z->tail = 0;
    if (z->tail == z->cap && z->head > 0) {
        memmove(z->buf, z->buf + z->head, z->tail - z->head);
        z->tail -= z->head;
        z->head = 0;
    }
    if (z->tail == z->cap) {
        z->cap = z->cap ? z->cap * 2 : 65536;
        z->buf = mc_realloc(z->buf, z->cap);
    }
    for (;;) {
        int64_t left = deadline_ms - mc_mono_ms();
        struct pollfd p = {z->fd, POLLIN, 0};
        int rc = poll(&p, 1, left > 0 ? (int)left : 0);
        if (rc < 0) {
            mc_err_set(err, "interrupted");
            return -1;
        }
        if (rc == 0)
            return 0;
        ssize_t r = read(z->fd, z->buf + z->tail, z->cap - z->tail);
        if (r < 0 && errno == EINTR) {
            mc_err_set(err, "interrupted");
            return -1;
        }
        if (r < 0 && errno == EAGAIN)
            continue;
        if (r <= 0) {
            mc_err_set(err, "the master closed the connection%s%s", r < 0 ? ": " : "",
                       r < 0 ? strerror(errno) : "");
            return -1;
        }
        z->tail += (size_t)r;
        return 1;
    }
}

/* Parse the frame at off: 1 with *flags, *body (offset of the body) and
   *size when the whole frame is buffered, 0 when more bytes are needed, -1
   on a malformed or oversized frame. */
static int frame_at(const zmtp_t *z, size_t off, uint8_t *flags, size_t *body, size_t *size,
                    mc_err_t *err)
{
    size_t hdr;
    mc_err_t why;
    int rc = mc_zmtp_parse(z->buf + off, z->tail - off, z->max_frame, flags, &hdr, size, &why);
    if (rc < 0)
        mc_err_set(err, "the master sent %s", why.msg);
    if (rc == 1)
        *body = off + hdr;
    return rc;
}

static int send_frame(zmtp_t *z, uint8_t flags, const void *data, size_t size, mc_err_t *err)
{
    uint8_t hdr[MC_ZMTP_HEADER_MAX];
    size_t h = mc_zmtp_header(hdr, flags, size);
    if (write_all(z->fd, hdr, h, err) != 0)
        return -1;
    return write_all(z->fd, data, size, err);
}

static int handshake(zmtp_t *z, int64_t deadline, mc_err_t *err)
{
    uint8_t g[MC_ZMTP_GREETING_SIZE];
    mc_zmtp_greeting(g, 0, "NULL");
    if (write_all(z->fd, g, sizeof g, err) != 0)
        return -1;
    while (z->tail < MC_ZMTP_GREETING_SIZE) {
        int rc = fill(z, deadline, err);
        if (rc <= 0) {
            if (rc == 0)
                mc_err_set(err, "the master did not answer the handshake");
            return -1;
        }
    }
    if (mc_zmtp_check_greeting(z->buf, "NULL", err) != 0)
        return -1;
    z->head = MC_ZMTP_GREETING_SIZE;

    static const uint8_t ready[] = {5,   'R', 'E', 'A', 'D', 'Y', 11,  'S', 'o', 'c', 'k',
                                    'e', 't', '-', 'T', 'y', 'p', 'e', 0,   0,   0,   6,
                                    'D', 'E', 'A', 'L', 'E', 'R', 8,   'I', 'd', 'e', 'n',
                                    't', 'i', 't', 'y', 0,   0,   0,   0};
    if (send_frame(z, MC_ZMTP_COMMAND, ready, sizeof ready, err) != 0)
        return -1;
    for (;;) {
        uint8_t flags;
        size_t body = 0, size = 0;
        int rc = frame_at(z, z->head, &flags, &body, &size, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            int frc = fill(z, deadline, err);
            if (frc == 0)
                mc_err_set(err, "the master did not answer the handshake");
            if (frc <= 0)
                return -1;
            continue;
        }
        const uint8_t *c = z->buf + body;
        z->head = body + size;
        if (!(flags & MC_ZMTP_COMMAND) || size < 1 || c[0] + 1u > size) {
            mc_err_set(err, "the master sent a message before READY");
            return -1;
        }
        size_t nl = c[0];
        if (nl == 5 && memcmp(c + 1, "ERROR", 5) == 0) {
            int rl = size > 6 ? c[6] : 0;
            if (rl > (int)size - 7)
                rl = (int)size - 7;
            mc_err_set(err, "the master refused the connection: %.*s", rl < 0 ? 0 : rl,
                       (const char *)c + 7);
            return -1;
        }
        if (nl != 5 || memcmp(c + 1, "READY", 5) != 0)
            continue;
        size_t tl = 0;
        const uint8_t *type = mc_zmtp_property(c + 6, size - 6, "Socket-Type", &tl);
        if (!type || tl != 6 || memcmp(type, "ROUTER", 6) != 0) {
            mc_err_set(err, "the socket is not the master's client socket (peer is %.*s)",
                       type ? (int)tl : 7, type ? (const char *)type : "unknown");
            return -1;
        }
        return 0;
    }
}

int zmtp_connect(zmtp_t *z, const char *path, size_t max_frame, int timeout_ms, mc_err_t *err)
{
    memset(z, 0, sizeof *z);
    z->max_frame = max_frame;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        z->fd = -1;
        mc_err_set(err, "socket path %s is too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    z->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (z->fd < 0) {
        mc_err_set(err, "cannot make a socket: %s", strerror(errno));
        return -1;
    }
    if (connect(z->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == ECONNREFUSED)
            mc_err_set(err,
                       "cannot reach the master: nothing listens on %s (is mctl-master running?)",
                       path);
        else
            mc_err_set(err, "cannot connect to %s: %s", path, strerror(errno));
        zmtp_close(z);
        return -1;
    }
    if (handshake(z, mc_mono_ms() + timeout_ms, err) != 0) {
        zmtp_close(z);
        return -1;
    }
    return 0;
}

void zmtp_close(zmtp_t *z)
{
    if (z->fd >= 0)
        close(z->fd);
    z->fd = -1;
    free(z->buf);
    z->buf = NULL;
    z->head = z->tail = z->cap = 0;
}

int zmtp_send(zmtp_t *z, const void *data, size_t size, mc_err_t *err)
{
    return send_frame(z, 0, data, size, err);
}

int zmtp_recv(zmtp_t *z, zmtp_frame_t **frames, int max, int timeout_ms, mc_err_t *err)
{
    int64_t deadline = mc_mono_ms() + timeout_ms;
    for (;;) {
        /* Is a whole message buffered? Commands between messages are
           skipped (ZMTP 3.0 has none we must answer). */
        size_t off = z->head;
        bool complete = false;
        int frames_in = 0;
        for (;;) {
            uint8_t flags;
            size_t body = 0, size = 0;
            int rc = frame_at(z, off, &flags, &body, &size, err);
            if (rc < 0)
                return -1;
            if (rc == 0)
                break;
            off = body + size;
            if (flags & MC_ZMTP_COMMAND) {
                if (frames_in == 0)
                    z->head = off;
                continue;
            }
            frames_in++;
            if (!(flags & MC_ZMTP_MORE)) {
                complete = true;
                break;
            }
        }
        if (complete) {
            int n = 0;
            size_t at = z->head;
            while (at < off) {
                uint8_t flags;
                size_t body = 0, size = 0;
                frame_at(z, at, &flags, &body, &size, err);
                if (!(flags & MC_ZMTP_COMMAND) && n < max)
                    frames[n++] = zmtp_frame_new(z->buf + body, size);
                at = body + size;
            }
            z->head = off;
            return n;
        }
        int rc = fill(z, deadline, err);
        if (rc <= 0)
            return rc;
    }
}
