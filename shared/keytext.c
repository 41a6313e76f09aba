/*  keytext - see keytext.h. Apart from keys.c, whose key files need czmq,
    so that what only prints or reads a key (mctl) does not load it. */
#include "keytext.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

void mc_z85_key(const unsigned char key[MC_KEY_LEN], char out[MC_Z85_KEY_LEN + 1])
{
    zmq_z85_encode(out, key, MC_KEY_LEN);
}

int mc_z85_key_decode(const char *text, unsigned char key[MC_KEY_LEN])
{
    if (!text || strlen(text) != MC_Z85_KEY_LEN)
        return -1;
    return zmq_z85_decode(key, text) ? 0 : -1;
}

void mc_fingerprint(const unsigned char key[MC_KEY_LEN], char out[MC_FINGERPRINT_LEN])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, key, MC_KEY_LEN);
    for (int i = 0; i < 32; i++)
        snprintf(out + i * 3, 4, "%02x%s", h[i], i < 31 ? ":" : "");
}
