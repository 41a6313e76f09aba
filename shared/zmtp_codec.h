/*  zmtp_codec - ZMTP 3.x framing without I/O (rfc.zeromq.org/spec/23): the
    greeting, frame headers and command metadata.

    The command line (NULL mechanism, Unix socket) and the minion (CURVE,
    TCP) speak ZMTP themselves rather than through libzmq; both parse what
    the peer sends here, where every length is checked against what is
    buffered and against the caller's limit before anything is read. */
#ifndef MC_ZMTP_CODEC_H
#define MC_ZMTP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define MC_ZMTP_GREETING_SIZE 64
#define MC_ZMTP_MORE          0x01
#define MC_ZMTP_LONG          0x02
#define MC_ZMTP_COMMAND       0x04
/* The longest frame header: flags and an 8-byte size. */
#define MC_ZMTP_HEADER_MAX 9

/* Our greeting, as a client (as-server 0), ZMTP 3.minor, for mechanism
   ("NULL" or "CURVE"). */
void mc_zmtp_greeting(uint8_t g[MC_ZMTP_GREETING_SIZE], int minor, const char *mechanism);

/* 0 when g is a ZMTP 3 (or later) greeting for mechanism, else -1 with why
   in err. */
int mc_zmtp_check_greeting(const uint8_t g[MC_ZMTP_GREETING_SIZE], const char *mechanism,
                           mc_err_t *err);

/* Write the header of a frame of size bytes into hdr; returns its length. */
size_t mc_zmtp_header(uint8_t hdr[MC_ZMTP_HEADER_MAX], uint8_t flags, size_t size);

/* Parse the frame at p, of which have bytes are buffered: 1 with *flags,
   *header (the header's length) and *size when the whole frame is there,
   0 when more bytes are needed, -1 (err says why) on unknown flags or a
   frame larger than max. */
int mc_zmtp_parse(const uint8_t *p, size_t have, size_t max, uint8_t *flags, size_t *header,
                  size_t *size, mc_err_t *err);

/* The value of property name (case-insensitive) in command metadata p[0..n),
   or NULL when it is absent or the metadata is malformed. */
const uint8_t *mc_zmtp_property(const uint8_t *p, size_t n, const char *name, size_t *len);

/* Append a property to metadata being built in b. */
void mc_zmtp_add_property(mc_buf_t *b, const char *name, const void *value, size_t len);

#endif
