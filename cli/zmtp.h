/*  zmtp - the client end of a ZeroMQ DEALER connection over a Unix socket,
    speaking ZMTP 3.0 with the NULL mechanism (rfc.zeromq.org/spec/23).

    mctl talks to the master only over ipc://SOCK_DIR/master.ipc, where the
    file mode is the access control and there is no CURVE. Speaking the
    protocol directly instead of through libzmq keeps the command line free
    of libzmq's start-up (its shared libraries, context and I/O thread),
    which is most of the time a one-minion job takes.

    Frames larger than the limit given at connect are refused, as
    ZMQ_MAXMSGSIZE would. */
#ifndef MC_ZMTP_H
#define MC_ZMTP_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct {
    int fd;
    size_t max_frame;
    uint8_t *buf; /* bytes read and not yet parsed: buf[head..tail) */
    size_t head, tail, cap;
} zmtp_t;

/* One message frame, owned by whoever holds it. */
typedef struct {
    size_t size;
    uint8_t data[];
} zmtp_frame_t;

zmtp_frame_t *zmtp_frame_new(const void *data, size_t size);
void zmtp_frame_free(zmtp_frame_t **f);

/* Connect to the Unix socket at path and complete the handshake within
   timeout_ms: greetings, then READY both ways, the peer a ROUTER. */
int zmtp_connect(zmtp_t *z, const char *path, size_t max_frame, int timeout_ms, mc_err_t *err);
void zmtp_close(zmtp_t *z);

/* Send a message of one frame. */
int zmtp_send(zmtp_t *z, const void *data, size_t size, mc_err_t *err);

/* Wait up to timeout_ms for the next message and hand out up to max of
   its frames (the rest are dropped): the frame count, 0 on timeout, -1 on
   error or interruption (err says which; errno is EINTR for a signal). */
int zmtp_recv(zmtp_t *z, zmtp_frame_t **frames, int max, int timeout_ms, mc_err_t *err);

#endif
