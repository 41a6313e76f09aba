/*  keytext - a public key as people and config files see it: Z85 text (40
    characters, as ZeroMQ writes keys) and the fingerprint, the SHA-256 of
    the key in hex pairs joined by ':', as Salt prints them. */
#ifndef MC_KEYTEXT_H
#define MC_KEYTEXT_H

#define MC_KEY_LEN         32
#define MC_Z85_KEY_LEN     40
#define MC_FINGERPRINT_LEN 96 /* 32 hex pairs and colons, plus NUL */

/* A public key as Z85 text (40 chars) and back (-1: not a Z85 key). */
void mc_z85_key(const unsigned char key[MC_KEY_LEN], char out[MC_Z85_KEY_LEN + 1]);
int mc_z85_key_decode(const char *text, unsigned char key[MC_KEY_LEN]);

void mc_fingerprint(const unsigned char key[MC_KEY_LEN], char out[MC_FINGERPRINT_LEN]);

#endif
