/*  keys - the key material of master and minions, and what is done with it.

    CURVE keypairs (X25519) are kept as zcert files, NAME.cert (public) and
    NAME.cert_secret (mode 0600), and serve both CurveZMQ and the sealing of
    job payloads (crypto_box with a key precomputed per minion). The master
    also has an Ed25519 signing keypair, NAME.sign_pub / NAME.sign (0600),
    as Z85 text. A key's text and fingerprint are keytext.h's. */
#ifndef MC_KEYS_H
#define MC_KEYS_H

#include <sodium.h>

#include "keytext.h"
#include "util.h"

typedef struct {
    unsigned char pub[MC_KEY_LEN];
    unsigned char sec[MC_KEY_LEN];
} mc_curve_keys_t;

typedef struct {
    unsigned char pub[crypto_sign_PUBLICKEYBYTES];
    unsigned char sec[crypto_sign_SECRETKEYBYTES];
} mc_sign_keys_t;

/* Load dir/NAME.cert{,_secret}, creating both on first use. */
int mc_curve_load_or_create(const char *dir, const char *name, mc_curve_keys_t *keys, bool *created,
                            mc_err_t *err);
/* Load just a public CURVE key from a zcert file. */
int mc_curve_load_public(const char *path, unsigned char pub[MC_KEY_LEN], mc_err_t *err);
/* Save a public CURVE key as a zcert file (with "id" metadata). */
int mc_curve_save_public(const char *path, const unsigned char pub[MC_KEY_LEN], const char *id,
                         mc_err_t *err);

/* Write dir/NAME.cert and dir/NAME.cert_secret (0600) from these keys,
   replacing what is there. */
int mc_curve_save(const char *dir, const char *name, const mc_curve_keys_t *keys, mc_err_t *err);
/* Write dir/NAME.sign (0600) and dir/NAME.sign_pub from these keys. */
int mc_sign_save(const char *dir, const char *name, const mc_sign_keys_t *keys, mc_err_t *err);

int mc_sign_load_or_create(const char *dir, const char *name, mc_sign_keys_t *keys, bool *created,
                           mc_err_t *err);

/* Sealed box between two CURVE keypairs, precomputed: out = nonce || box.
   Nonces are unique per process, forked children included (keys.c). */
#define MC_SEAL_OVERHEAD (crypto_box_NONCEBYTES + crypto_box_MACBYTES)
typedef unsigned char mc_seal_key_t[crypto_box_BEFORENMBYTES];
int mc_seal_key(mc_seal_key_t k, const unsigned char their_pub[MC_KEY_LEN],
                const unsigned char my_sec[MC_KEY_LEN]);
void mc_seal(const mc_seal_key_t k, const void *plain, size_t len, unsigned char *out);
/* out must hold len - MC_SEAL_OVERHEAD bytes. */
int mc_unseal(const mc_seal_key_t k, const void *sealed, size_t len, unsigned char *out);

#endif
