/*  frame - length-prefixed messages on the pipe between the minion and its
    workers: a 4-byte little-endian length, then the bytes. */
#ifndef MC_FRAME_H
#define MC_FRAME_H

#include "util.h"

#define FRAME_MAX (64u << 20)

/* Blocking write of one frame; -1 on error (the peer is gone). */
int frame_write(int fd, const void *data, size_t len);
/* Two frames in one system call where the pipe has room. */
int frame_write2(int fd, const void *a, size_t alen, const void *b, size_t blen);
/* Blocking read of one frame into b (replacing its content); 0 on success,
   1 on a clean end of file, -1 on error. */
int frame_read(int fd, mc_buf_t *b);
/* Take a whole frame off the front of a buffer filled by non-blocking
   reads: returns 1 and sets *data and *len when one is there, 0 when more
   bytes are needed, -1 when the length is absurd. */
int frame_take(mc_buf_t *in, size_t *consumed, const char **data, size_t *len);

#endif
