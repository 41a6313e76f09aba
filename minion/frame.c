/*  frame - see frame.h. */
#include "frame.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *data, size_t len)
{
    char *p = data;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return got == 0 ? 1 : -1;
        got += (size_t)n;
    }
    return 0;
}

int frame_write(int fd, const void *data, size_t len)
{
    unsigned char hdr[4] = {(unsigned char)len, (unsigned char)(len >> 8),
                            (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    if (len > FRAME_MAX || write_all(fd, hdr, 4) != 0)
        return -1;
    return write_all(fd, data, len);
}

static void put_len(unsigned char hdr[4], size_t len)
{
    hdr[0] = (unsigned char)len;
    hdr[1] = (unsigned char)(len >> 8);
    hdr[2] = (unsigned char)(len >> 16);
    hdr[3] = (unsigned char)(len >> 24);
}

int frame_write2(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen > FRAME_MAX || blen > FRAME_MAX)
        return -1;
    unsigned char ha[4], hb[4];
    put_len(ha, alen);
    put_len(hb, blen);
    struct iovec iov[4] = {{ha, 4}, {(void *)a, alen}, {hb, 4}, {(void *)b, blen}};
    size_t total = 8 + alen + blen;
    ssize_t n;
    do
        n = writev(fd, iov, 4);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if ((size_t)n == total)
        return 0;
    /* A short write (a big job): the rest the slow way. */
    size_t done = (size_t)n;
    for (int i = 0; i < 4; i++) {
        if (done >= iov[i].iov_len) {
            done -= iov[i].iov_len;
            continue;
        }
        if (write_all(fd, (const char *)iov[i].iov_base + done, iov[i].iov_len - done) != 0)
            return -1;
        done = 0;
    }
    return 0;
}

int frame_read(int fd, mc_buf_t *b)
{
    unsigned char hdr[4];
    int rc = read_all(fd, hdr, 4);
    if (rc != 0)
        return rc;
    size_t len = hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
    if (len > FRAME_MAX)
        return -1;
    b->len = 0;
    mc_buf_append(b, NULL, 0);
    if (b->cap < len + 1) {
        b->data = mc_realloc(b->data, len + 1);
        b->cap = len + 1;
    }
    if (len && read_all(fd, b->data, len) != 0)
        return -1;
    b->len = len;
    b->data[len] = '\0';
    return 0;
}

int frame_take(mc_buf_t *in, size_t *consumed, const char **data, size_t *len)
{
    if (in->len < 4)
        return 0;
    const unsigned char *h = (const unsigned char *)in->data;
    size_t n = h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
    if (n > FRAME_MAX)
        return -1;
    if (in->len < 4 + n)
        return 0;
    *data = in->data + 4;
    *len = n;
    *consumed = 4 + n;
    return 1;
}
