/*  floor_zap - the floor (../shared/floor/floor.c, unchanged) with a ZAP
    handler, built as mctl-floor-zap: floor.c is compiled with
    -Dzmq_ctx_new=floor_zap_ctx_new, and each context it makes gets a
    handler that admits every CURVE client and gives it its key as
    User-Id, as mctl's master does for the accepted keys (master/zap.c).
    libzmq then keeps a pipe to the handler for every connection, for as
    long as the connection lasts, as it does in mctl's master; the floor
    itself has none. mctl-bench-footprint prints this floor's peak RSS
    beside the floor's, so that what ZAP alone costs is seen. */
#undef zmq_ctx_new
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

void *floor_zap_ctx_new(void);

/* ZAP 1.0 (RFC 27): [version][request id][domain][address][identity]
   [mechanism][credentials...] in, [version][request id][status code]
   [status text][user id][metadata] out. */
static void *handler(void *sock)
{
    for (;;) {
        char frames[8][256];
        int len[8], n = 0, more = 1;
        while (more) {
            char scratch[256];
            char *into = n < 8 ? frames[n] : scratch;
            int got = zmq_recv(sock, into, 256, 0);
            if (got < 0) {
                zmq_close(sock);
                return NULL; /* the context is ending */
            }
            if (n < 8)
                len[n++] = got > 256 ? 256 : got;
            size_t size = sizeof more;
            zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &size);
        }
        char user_id[41] = "";
        if (n >= 7 && len[6] == 32)
            zmq_z85_encode(user_id, (const uint8_t *)frames[6], 32);
        zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(sock, frames[1], n > 1 ? (size_t)len[1] : 0, ZMQ_SNDMORE);
        zmq_send(sock, "200", 3, ZMQ_SNDMORE);
        zmq_send(sock, "OK", 2, ZMQ_SNDMORE);
        zmq_send(sock, user_id, strlen(user_id), ZMQ_SNDMORE);
        zmq_send(sock, "", 0, 0);
    }
}

void *floor_zap_ctx_new(void)
{
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_REP) : NULL;
    pthread_t t;
    /* Bound before the context is used, so that no handshake finds no
       handler; the socket is the thread's from then on. */
    if (sock && zmq_bind(sock, "inproc://zeromq.zap.01") == 0 &&
        pthread_create(&t, NULL, handler, sock) == 0)
        pthread_detach(t);
    return ctx;
}
