/*  Fuzz target: ZMTP 3.0 frames as mctl reads them from the master's
    client socket: lengths, flags and long frames against the frame limit.
    The bytes arrive through a socketpair, as they would from the socket. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zmtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    int sndbuf = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (size && write(sv[0], data, size) != (ssize_t)size)
        abort();
    close(sv[0]);
    zmtp_t z = {.fd = sv[1], .max_frame = 4096};
    mc_err_t err;
    for (int i = 0; i < 64; i++) {
        zmtp_frame_t *frames[4] = {0};
        int n = zmtp_recv(&z, frames, 4, 0, &err);
        for (int k = 0; k < n && k < 4; k++) {
            if (frames[k]->size > z.max_frame)
                abort();
            zmtp_frame_free(&frames[k]);
        }
        if (n <= 0)
            break;
    }
    zmtp_close(&z);
    return 0;
}
