/*  link - see link.h.

    Why not libzmq. A libzmq socket lives in an I/O thread: every message
    crosses between that thread and ours through a mailbox, which costs a
    thread wake-up and a handful of system calls (eventfd reads and writes,
    zero-timeout polls, getpid for fork checks) each way. A minion does
    little else per job, so with a thousand minions on a host that hand-off
    was about half of all the CPU a round of test.ping took. Here the
    connection is one non-blocking TCP socket in the minion's own poll
    loop: a job is one read, a return one write, no second thread.

    The master keeps libzmq: to its ROUTER this is an ordinary DEALER, and
    its ZAP handler checks our long-term key as before.

    Protocol. On connect we send our greeting (ZMTP 3.1, CURVE, as client)
    and HELLO at once, then answer WELCOME with INITIATE (our long-term key,
    its vouch, and metadata Socket-Type DEALER) and wait for READY, or
    ERROR when ZAP refused the key. After that every frame is a MESSAGE box:
    flags (more, command) and the frame, sealed with the session keys and a
    nonce that must increase; a frame that does not open, or whose nonce
    does not increase, drops the connection. Heartbeats are ZMTP PING/PONG
    inside the boxes: we answer the master's pings, ping it every half
    alive_ms, and give it up after alive_ms without a byte from it.

    Nothing is queued while the link is down (libzmq's ZMQ_IMMEDIATE): the
    caller keeps what must wait. Output that cannot be written yet waits in
    a buffer, up to OUT_MAX bytes; past that, link_send refuses. */
#include "link.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "zmtp_codec.h"

#define RECONNECT_MS        200
#define RECONNECT_MAX_MS    5000
#define HANDSHAKE_MS        30000
#define HANDSHAKE_FRAME_MAX 4096
#define IN_CHUNK            16384
#define OUT_MAX             (64u << 20)
#define MESSAGE_HEADER      16 /* "\x07MESSAGE" and the nonce */
/* The flags byte inside a MESSAGE box. */
#define BOX_MORE    0x01
#define BOX_COMMAND 0x02

typedef enum { IDLE, CONNECTING, GREETING, WELCOME, READY, UP } state_t;

typedef struct {
    uint8_t *data;
    size_t head, tail, cap; /* bytes data[head..tail) are pending */
} bytes_t;

struct _link_t {
    link_config_t cfg;
    state_t state;
    int fd;
    int64_t next_connect_ms; /* IDLE: when to try again */
    int backoff_ms;
    int64_t deadline_ms;  /* handshake: when to give up */
    int64_t last_recv_ms; /* UP: when a byte last came */
    int64_t last_ping_ms; /* UP: when we last pinged */
    bytes_t in, out;
    /* Session: our transient keys, the server's, and the nonces. */
    unsigned char cn_pub[crypto_box_PUBLICKEYBYTES], cn_sec[crypto_box_SECRETKEYBYTES];
    unsigned char precom[crypto_box_BEFORENMBYTES];
    uint64_t nonce, peer_nonce;
    /* The message being received: its frames' plain text, one after another. */
    mc_buf_t msg;
    size_t part_len[LINK_MAX_PARTS];
    int parts; /* frames so far; more than LINK_MAX_PARTS: being dropped */
};

/* ---- byte buffers ---------------------------------------------------------- */

static void bytes_reserve(bytes_t *b, size_t more)
{
    if (b->head == b->tail)
        b->head = b->tail = 0;
    if (b->cap - b->tail >= more)
        return;
    if (b->head > 0) {
        memmove(b->data, b->data + b->head, b->tail - b->head);
        b->tail -= b->head;
        b->head = 0;
    }
    if (b->cap - b->tail < more) {
        size_t cap = b->cap ? b->cap : IN_CHUNK;
        while (cap - b->tail < more)
            cap *= 2;
        b->data = mc_realloc(b->data, cap);
        b->cap = cap;
    }
}

static void bytes_append(bytes_t *b, const void *p, size_t n)
{
    bytes_reserve(b, n);
    memcpy(b->data + b->tail, p, n);
    b->tail += n;
}

/* Empty, giving back a buffer a big message left large. */
static void bytes_clear(bytes_t *b)
{
    b->head = b->tail = 0;
    if (b->cap > 4 * IN_CHUNK) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- connection life ------------------------------------------------------- */

static void event(link_t *self, link_event_t ev, const char *why)
{
    if (self->cfg.on_event)
        self->cfg.on_event(self->cfg.arg, ev, why);
}

/* Close the connection and schedule the next attempt. */
static void drop(link_t *self, link_event_t ev, const char *why, int64_t now)
{
    bool was_up = self->state == UP;
    if (self->fd >= 0)
        close(self->fd);
    self->fd = -1;
    self->state = IDLE;
    bytes_clear(&self->in);
    bytes_clear(&self->out);
    self->msg.len = 0;
    self->parts = 0;
    sodium_memzero(self->cn_sec, sizeof self->cn_sec);
    sodium_memzero(self->precom, sizeof self->precom);
    if (was_up) {
        self->backoff_ms = RECONNECT_MS;
    } else {
        self->backoff_ms *= 2;
        if (self->backoff_ms > RECONNECT_MAX_MS)
            self->backoff_ms = RECONNECT_MAX_MS;
    }
    /* Spread the reconnections of many minions after a master restart. */
    self->next_connect_ms = now + self->backoff_ms + randombytes_uniform(RECONNECT_MS);
    event(self, was_up ? LINK_LOST : ev, why);
}

static void send_command(link_t *self, const void *body, size_t len)
{
    uint8_t hdr[MC_ZMTP_HEADER_MAX];
    bytes_append(&self->out, hdr, mc_zmtp_header(hdr, MC_ZMTP_COMMAND, len));
    bytes_append(&self->out, body, len);
}

/* The TCP connection is there: greeting and HELLO go out together. */
static void start_handshake(link_t *self, int64_t now)
{
    uint8_t g[MC_ZMTP_GREETING_SIZE];
    mc_zmtp_greeting(g, 1, "CURVE");
    bytes_append(&self->out, g, sizeof g);

    crypto_box_keypair(self->cn_pub, self->cn_sec);
    self->nonce = 1;
    self->peer_nonce = 0;
    uint8_t nonce[crypto_box_NONCEBYTES];
    memcpy(nonce, "CurveZMQHELLO---", 16);
    put_u64(nonce + 16, self->nonce++);
    uint8_t zeros[64] = {0}, box[64 + crypto_box_MACBYTES];
    if (crypto_box_easy(box, zeros, sizeof zeros, nonce, self->cfg.server_pub, self->cn_sec)) {
        drop(self, LINK_FAILED, "master_pubkey is not a usable CURVE key", now);
        return;
    }
    uint8_t hello[200] = "\x05HELLO\x01\x00"; /* version 1.0, then 72 bytes of padding */
    memcpy(hello + 80, self->cn_pub, 32);
    memcpy(hello + 112, nonce + 16, 8);
    memcpy(hello + 120, box, sizeof box);
    send_command(self, hello, sizeof hello);
    self->state = GREETING;
    self->deadline_ms = now + HANDSHAKE_MS;
}

static void try_connect(link_t *self, int64_t now)
{
    char port[16], why[256];
    snprintf(port, sizeof port, "%d", self->cfg.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
    int gai = getaddrinfo(self->cfg.host, port, &hints, &res);
    if (gai != 0) {
        snprintf(why, sizeof why, "cannot resolve %s: %s", self->cfg.host, gai_strerror(gai));
        drop(self, LINK_FAILED, why, now);
        return;
    }
    /* An IPv4 address first, as a name with both usually means the same
       host. */
    struct addrinfo *ai = res;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            ai = a;
            break;
        }
    self->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = -1;
    if (self->fd >= 0) {
        int one = 1;
        setsockopt(self->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        rc = connect(self->fd, ai->ai_addr, ai->ai_addrlen);
    }
    freeaddrinfo(res);
    if (rc == 0) {
        start_handshake(self, now);
    } else if (self->fd >= 0 && errno == EINPROGRESS) {
        self->state = CONNECTING;
        self->deadline_ms = now + HANDSHAKE_MS;
    } else {
        snprintf(why, sizeof why, "cannot connect to %s port %d: %s", self->cfg.host,
                 self->cfg.port, strerror(errno));
        drop(self, LINK_FAILED, why, now);
    }
}

/* ---- handshake ------------------------------------------------------------- */

/* WELCOME: the server's transient key and cookie; we answer INITIATE. */
static int on_welcome(link_t *self, const uint8_t *c, size_t n)
{
    if (n != 168)
        return -1;
    uint8_t nonce[crypto_box_NONCEBYTES], plain[128];
    memcpy(nonce, "WELCOME-", 8);
    memcpy(nonce + 8, c + 8, 16);
    if (crypto_box_open_easy(plain, c + 24, 144, nonce, self->cfg.server_pub, self->cn_sec) != 0)
        return -1;
    const uint8_t *server_tmp = plain, *cookie = plain + 32;
    if (crypto_box_beforenm(self->precom, server_tmp, self->cn_sec) != 0)
        return -1;

    /* The vouch: our long-term key says that this transient key is ours,
       for this server. */
    uint8_t vouch_nonce[crypto_box_NONCEBYTES], vouch_plain[64], vouch[64 + crypto_box_MACBYTES];
    memcpy(vouch_nonce, "VOUCH---", 8);
    randombytes_buf(vouch_nonce + 8, 16);
    memcpy(vouch_plain, self->cn_pub, 32);
    memcpy(vouch_plain + 32, self->cfg.server_pub, 32);
    if (crypto_box_easy(vouch, vouch_plain, sizeof vouch_plain, vouch_nonce, server_tmp,
                        self->cfg.sec) != 0)
        return -1;

    mc_buf_t plain_buf = {0}, *p = &plain_buf;
    mc_buf_append(p, self->cfg.pub, 32);
    mc_buf_append(p, vouch_nonce + 8, 16);
    mc_buf_append(p, vouch, sizeof vouch);
    mc_zmtp_add_property(p, "Socket-Type", "DEALER", 6);
    mc_zmtp_add_property(p, "Identity", "", 0);

    uint8_t nonce2[crypto_box_NONCEBYTES];
    memcpy(nonce2, "CurveZMQINITIATE", 16);
    put_u64(nonce2 + 16, self->nonce++);
    size_t len = 9 + 96 + 8 + p->len + crypto_box_MACBYTES;
    uint8_t *initiate = mc_malloc(len);
    memcpy(initiate, "\x08INITIATE", 9);
    memcpy(initiate + 9, cookie, 96);
    memcpy(initiate + 105, nonce2 + 16, 8);
    crypto_box_easy_afternm(initiate + 113, (const uint8_t *)p->data, p->len, nonce2, self->precom);
    send_command(self, initiate, len);
    free(initiate);
    mc_buf_free(p);
    sodium_memzero(plain, sizeof plain);
    self->state = READY;
    return 0;
}

/* READY: the server's metadata, sealed with the session key. */
static int on_ready(link_t *self, const uint8_t *c, size_t n)
{
    if (n < 14 + crypto_box_MACBYTES)
        return -1;
    uint8_t nonce[crypto_box_NONCEBYTES];
    memcpy(nonce, "CurveZMQREADY---", 16);
    memcpy(nonce + 16, c + 6, 8);
    size_t plen = n - 14 - crypto_box_MACBYTES;
    uint8_t *plain = mc_malloc(plen + 1);
    int rc = crypto_box_open_easy_afternm(plain, c + 14, n - 14, nonce, self->precom);
    size_t tl = 0;
    const uint8_t *type = rc == 0 ? mc_zmtp_property(plain, plen, "Socket-Type", &tl) : NULL;
    rc = type && tl == 6 && memcmp(type, "ROUTER", 6) == 0 ? 0 : -1;
    free(plain);
    if (rc == 0) {
        self->peer_nonce = get_u64(c + 6);
        self->state = UP;
    }
    return rc;
}

/* A command frame during the handshake; -1 drops the connection (why set). */
static int on_handshake_command(link_t *self, const uint8_t *c, size_t n, char *why, size_t cap,
                                link_event_t *ev)
{
    *ev = LINK_FAILED;
    if (n >= 6 && memcmp(c,
                         "\x05"
                         "ERROR",
                         6) == 0) {
        size_t rl = n > 6 ? c[6] : 0;
        if (rl > n - 7)
            rl = n > 7 ? n - 7 : 0;
        snprintf(why, cap, "the master refused the handshake (status %.*s)", (int)rl,
                 (const char *)c + 7);
        *ev = LINK_REFUSED;
        return -1;
    }
    if (self->state == WELCOME && n >= 8 && memcmp(c, "\x07WELCOME", 8) == 0) {
        if (on_welcome(self, c, n) == 0)
            return 0;
        snprintf(why, cap,
                 "the master's WELCOME does not open with its key (is master_pubkey "
                 "this master's key?)");
        return -1;
    }
    if (self->state == READY && n >= 6 && memcmp(c, "\x05READY", 6) == 0) {
        if (on_ready(self, c, n) == 0)
            return 0;
        snprintf(why, cap, "the master's READY is malformed or does not open");
        return -1;
    }
    snprintf(why, cap, "unexpected handshake command from the master");
    return -1;
}

/* ---- messages ---------------------------------------------------------------- */

/* One frame, sealed in a MESSAGE box in place in the output buffer. */
static void send_box(link_t *self, uint8_t flags, const void *data, size_t len)
{
    size_t size = MESSAGE_HEADER + crypto_box_MACBYTES + 1 + len;
    uint8_t hdr[MC_ZMTP_HEADER_MAX];
    bytes_append(&self->out, hdr, mc_zmtp_header(hdr, 0, size));
    bytes_reserve(&self->out, size);
    uint8_t *m = self->out.data + self->out.tail;
    uint8_t nonce[crypto_box_NONCEBYTES];
    memcpy(nonce, "CurveZMQMESSAGEC", 16);
    put_u64(nonce + 16, self->nonce++);
    memcpy(m, "\x07MESSAGE", 8);
    memcpy(m + 8, nonce + 16, 8);
    uint8_t *plain = m + MESSAGE_HEADER + crypto_box_MACBYTES;
    plain[0] = flags;
    if (len)
        memcpy(plain + 1, data, len);
    crypto_box_easy_afternm(m + MESSAGE_HEADER, plain, 1 + len, nonce, self->precom);
    self->out.tail += size;
}

static void on_command(link_t *self, const uint8_t *c, size_t n)
{
    if (n >= 7 && memcmp(c, "\x04PING", 5) == 0) {
        /* PONG carries back the ping's context, up to 16 bytes. */
        uint8_t pong[5 + 16];
        size_t ctx = n - 7 > 16 ? 16 : n - 7;
        memcpy(pong, "\x04PONG", 5);
        memcpy(pong + 5, c + 7, ctx);
        send_box(self, BOX_COMMAND, pong, 5 + ctx);
    }
    /* PONG, and commands we do not know, only show the master is there. */
}

/* A MESSAGE frame; -1 drops the connection. */
static int on_box(link_t *self, const uint8_t *f, size_t n, char *why, size_t cap)
{
    if (n < MESSAGE_HEADER + crypto_box_MACBYTES + 1 || memcmp(f, "\x07MESSAGE", 8) != 0) {
        snprintf(why, cap, "the master sent a frame that is not a CURVE MESSAGE");
        return -1;
    }
    uint64_t v = get_u64(f + 8);
    if (v <= self->peer_nonce) {
        snprintf(why, cap, "the master's message nonce did not increase (a replay?)");
        return -1;
    }
    uint8_t nonce[crypto_box_NONCEBYTES];
    memcpy(nonce, "CurveZMQMESSAGES", 16);
    memcpy(nonce + 16, f + 8, 8);
    size_t plen = n - MESSAGE_HEADER - crypto_box_MACBYTES;
    size_t at = self->msg.len;
    uint8_t *plain = (uint8_t *)mc_buf_extend(&self->msg, plen);
    if (crypto_box_open_easy_afternm(plain, f + MESSAGE_HEADER, n - MESSAGE_HEADER, nonce,
                                     self->precom) != 0) {
        snprintf(why, cap, "a message from the master does not open with the session key");
        return -1;
    }
    self->peer_nonce = v;
    uint8_t flags = plain[0];
    if (flags & BOX_COMMAND) { /* never part of a message */
        self->msg.len = at;
        on_command(self, plain + 1, plen - 1);
        return 0;
    }
    /* Keep the frame without its flags byte; past LINK_MAX_PARTS frames
       only count them, so that a message being dropped does not grow. */
    if (self->parts < LINK_MAX_PARTS) {
        memmove(plain, plain + 1, plen - 1);
        self->msg.len = at + plen - 1;
        self->part_len[self->parts] = plen - 1;
    } else {
        self->msg.len = at;
    }
    if (self->parts <= LINK_MAX_PARTS)
        self->parts++;
    if (flags & BOX_MORE)
        return 0;
    if (self->parts > LINK_MAX_PARTS) {
        mc_warn("dropped a message of more than %d frames from the master", LINK_MAX_PARTS);
    } else {
        link_part_t parts[LINK_MAX_PARTS];
        size_t off = 0;
        for (int i = 0; i < self->parts; i++) {
            parts[i] = (link_part_t){(const uint8_t *)self->msg.data + off, self->part_len[i]};
            off += self->part_len[i];
        }
        self->cfg.on_message(self->cfg.arg, parts, self->parts);
    }
    self->msg.len = 0;
    self->parts = 0;
    if (self->msg.cap > 4 * IN_CHUNK)
        mc_buf_free(&self->msg);
    return 0;
}

/* Parse what has been read; returns -1 after dropping the connection. */
static int on_input(link_t *self, int64_t now)
{
    char why[640];
    link_event_t ev = LINK_FAILED;
    bytes_t *in = &self->in;
    if (self->state == GREETING) {
        if (in->tail - in->head < MC_ZMTP_GREETING_SIZE)
            return 0;
        mc_err_t err;
        if (mc_zmtp_check_greeting(in->data + in->head, "CURVE", &err) != 0) {
            snprintf(why, sizeof why, "%s port %d: %s", self->cfg.host, self->cfg.port, err.msg);
            goto fail;
        }
        in->head += MC_ZMTP_GREETING_SIZE;
        self->state = WELCOME;
    }
    while (self->state != IDLE) {
        /* A MESSAGE box adds its header and MAC to the frame; before the
           handshake ends, nobody is proven yet, and no command is long. */
        size_t max = self->state == UP
                         ? self->cfg.max_frame + MESSAGE_HEADER + crypto_box_MACBYTES + 1
                         : HANDSHAKE_FRAME_MAX;
        uint8_t flags;
        size_t hdr = 0, size = 0;
        mc_err_t err;
        int rc =
            mc_zmtp_parse(in->data + in->head, in->tail - in->head, max, &flags, &hdr, &size, &err);
        if (rc < 0) {
            snprintf(why, sizeof why, "the master sent %s", err.msg);
            goto fail;
        }
        if (rc == 0)
            return 0; /* the rest comes with the next read */
        const uint8_t *f = in->data + in->head + hdr;
        in->head += hdr + size;
        if (self->state != UP) {
            if (!(flags & MC_ZMTP_COMMAND) || size < 1 || f[0] + 1u > size) {
                snprintf(why, sizeof why, "the master sent a message before the handshake ended");
                goto fail;
            }
            if (on_handshake_command(self, f, size, why, sizeof why, &ev) != 0)
                goto fail;
            if (self->state == UP) {
                self->last_recv_ms = self->last_ping_ms = now;
                self->backoff_ms = RECONNECT_MS;
                event(self, LINK_UP, NULL);
            }
        } else if (on_box(self, f, size, why, sizeof why) != 0) {
            goto fail;
        }
    }
    return 0;
fail:
    drop(self, ev, why, now);
    return -1;
}

static void on_readable(link_t *self, int64_t now)
{
    bytes_reserve(&self->in, IN_CHUNK);
    ssize_t n = recv(self->fd, self->in.data + self->in.tail, self->in.cap - self->in.tail, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        char why[256];
        /* A CURVE server that cannot open HELLO closes without a word:
           the usual cause is a master_pubkey that is not this master's. */
        snprintf(why, sizeof why, "the master closed the connection%s%s%s", n < 0 ? ": " : "",
                 n < 0 ? strerror(errno) : "",
                 self->state == GREETING || self->state == WELCOME
                     ? " before answering HELLO (is master_pubkey this master's key?)"
                     : "");
        drop(self, LINK_FAILED, why, now);
        return;
    }
    self->in.tail += (size_t)n;
    self->last_recv_ms = now;
    on_input(self, now);
}

/* ---- public ---------------------------------------------------------------- */

link_t *link_new(const link_config_t *cfg)
{
    link_t *self = mc_calloc(1, sizeof *self);
    self->cfg = *cfg;
    self->fd = -1;
    self->state = IDLE;
    self->backoff_ms = RECONNECT_MS;
    self->next_connect_ms = 0; /* at once */
    return self;
}

void link_destroy(link_t **pself)
{
    link_t *self = *pself;
    if (!self)
        return;
    if (self->fd >= 0) {
        link_flush(self);
        close(self->fd);
    }
    free(self->in.data);
    free(self->out.data);
    mc_buf_free(&self->msg);
    sodium_memzero(self->cn_sec, sizeof self->cn_sec);
    sodium_memzero(self->precom, sizeof self->precom);
    free(self);
    *pself = NULL;
}

bool link_is_up(const link_t *self)
{
    return self->state == UP;
}

int link_send(link_t *self, const link_part_t *parts, int n)
{
    if (self->state != UP || self->out.tail - self->out.head > OUT_MAX)
        return -1;
    for (int i = 0; i < n; i++)
        send_box(self, i + 1 < n ? BOX_MORE : 0, parts[i].data, parts[i].size);
    return 0;
}

void link_flush(link_t *self)
{
    bytes_t *out = &self->out;
    if (self->fd < 0 || self->state == CONNECTING || out->head == out->tail)
        return;
    ssize_t n =
        send(self->fd, out->data + out->head, out->tail - out->head, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0)
        out->head += (size_t)n;
    if (out->head == out->tail)
        bytes_clear(out);
    /* An error shows again on the next read, which drops the connection. */
}

int link_fd(const link_t *self)
{
    return self->fd;
}

short link_events(const link_t *self)
{
    if (self->fd < 0)
        return 0;
    if (self->state == CONNECTING)
        return POLLOUT;
    return POLLIN | (self->out.head != self->out.tail ? POLLOUT : 0);
}

long link_timeout(const link_t *self, int64_t now)
{
    int64_t at;
    if (self->state == IDLE)
        at = self->next_connect_ms;
    else if (self->state != UP)
        at = self->deadline_ms;
    else if (self->cfg.alive_ms > 0)
        at = self->last_ping_ms + self->cfg.alive_ms / 2 < self->last_recv_ms + self->cfg.alive_ms
                 ? self->last_ping_ms + self->cfg.alive_ms / 2
                 : self->last_recv_ms + self->cfg.alive_ms;
    else
        return -1;
    return at > now ? (long)(at - now) : 0;
}

void link_service(link_t *self, short revents, int64_t now)
{
    if (self->state == IDLE) {
        if (now >= self->next_connect_ms)
            try_connect(self, now);
        return;
    }
    if (self->state == CONNECTING && revents) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        getsockopt(self->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) {
            char why[256];
            snprintf(why, sizeof why, "cannot connect to %s port %d: %s", self->cfg.host,
                     self->cfg.port, strerror(soerr));
            drop(self, LINK_FAILED, why, now);
            return;
        }
        start_handshake(self, now);
        link_flush(self);
        return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        on_readable(self, now);
        if (self->state == IDLE)
            return;
    }
    if (revents & POLLOUT)
        link_flush(self);
    if (self->state != UP) {
        if (now >= self->deadline_ms)
            drop(self, LINK_FAILED, "the master did not complete the handshake in time", now);
        return;
    }
    if (self->cfg.alive_ms > 0) {
        if (now - self->last_recv_ms >= self->cfg.alive_ms) {
            char why[96];
            snprintf(why, sizeof why, "the master has been silent for %d s",
                     self->cfg.alive_ms / 1000);
            drop(self, LINK_LOST, why, now);
        } else if (now - self->last_ping_ms >= self->cfg.alive_ms / 2) {
            static const uint8_t ping[7] = "\x04PING\x00\x00"; /* TTL 0: none asked for */
            send_box(self, BOX_COMMAND, ping, sizeof ping);
            self->last_ping_ms = now;
        }
    }
}
