/*  proto/register - key registration, minion to master's ROUTER on
    auth_port, and the master's answer.

    The minion sends {v, id, pub} (pub: its 32-byte CURVE public key) over
    a CURVE connection made with that very key; the master checks that pub
    is the key the connection proves (ZAP) before anything else. It
    answers {v, status} with status accepted, pending, rejected or denied,
    and, when accepted, sign_pub: the master's 32-byte Ed25519 key that
    signs jobs, pinned by the minion on first contact. */
#ifndef MC_PROTO_REGISTER_H
#define MC_PROTO_REGISTER_H

#include "common.h"

typedef struct {
    char id[MC_ID_MAX + 1];
    unsigned char pub[32];
} mc_register_t;

void mc_register_pack(msgpack_sbuffer *sb, const char *id, const unsigned char pub[32]);
int mc_register_decode(mc_register_t *reg, const void *buf, size_t len, mc_err_t *err);

typedef struct {
    char status[16]; /* accepted, pending, rejected, denied */
    bool has_sign_pub;
    unsigned char sign_pub[32];
} mc_register_reply_t;

void mc_register_reply_pack(msgpack_sbuffer *sb, const char *status, const unsigned char *sign_pub);
int mc_register_reply_decode(mc_register_reply_t *r, const void *buf, size_t len, mc_err_t *err);

#endif
