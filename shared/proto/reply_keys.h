/*  proto/reply_keys - the master's answers about keys, master to mctl (the
    reply frame, the refusal and the decoders' handling of it are
    reply.h's).

      key_list     minions, minions_pre, minions_rejected, minions_denied:
                   the ids whose key is accepted, pending, rejected, and
                   denied (a second key for an id already known)
      key_finger   keys: each {id, state, finger}; state is local (the
                   master's own two keys, ids master.cert and master.sign),
                   accepted, pending, rejected or denied; finger the
                   SHA-256 of the key as colon-separated hex pairs
      master_key   pub (the master's CURVE public key, Z85 text),
                   interface (where it listens), publish_port, ret_port,
                   auth_port: what a minion's config needs
      key_accept   changed: the ids whose key changed state
      key_reject   (the same)
      key_delete   (the same)
      key_preseed  changed: whether the key was new to the master */
#ifndef MC_PROTO_REPLY_KEYS_H
#define MC_PROTO_REPLY_KEYS_H

#include "keys.h"
#include "reply.h"

/* The longest interface in master_key. */
#define MC_INTERFACE_MAX 255

/* ---- key_list --------------------------------------------------------------- */

typedef struct {
    mc_strs_t accepted, pending, rejected, denied; /* minion ids */
} mc_reply_key_list_t;

void mc_reply_key_list_pack(msgpack_sbuffer *sb, const mc_reply_key_list_t *l);
int mc_reply_key_list_decode(mc_reply_key_list_t *l, const void *buf, size_t len, mc_err_t *err);
void mc_reply_key_list_done(mc_reply_key_list_t *l);

/* ---- key_finger ------------------------------------------------------------- */

typedef struct {
    char id[MC_ID_MAX + 1];
    char state[16]; /* local, accepted, pending, rejected, denied */
    char finger[MC_FINGERPRINT_LEN];
} mc_key_finger_t;

typedef struct {
    size_t count;
    mc_key_finger_t *keys;
} mc_reply_key_finger_t;

void mc_reply_key_finger_pack(msgpack_sbuffer *sb, const mc_key_finger_t *keys, size_t count);
int mc_reply_key_finger_decode(mc_reply_key_finger_t *f, const void *buf, size_t len,
                               mc_err_t *err);
void mc_reply_key_finger_done(mc_reply_key_finger_t *f);

/* ---- master_key ------------------------------------------------------------- */

typedef struct {
    char pub[MC_Z85_KEY_LEN + 1];
    char interface[MC_INTERFACE_MAX + 1];
    int publish_port, ret_port, auth_port; /* 1 to 65535 */
} mc_reply_master_key_t;

void mc_reply_master_key_pack(msgpack_sbuffer *sb, const mc_reply_master_key_t *k);
int mc_reply_master_key_decode(mc_reply_master_key_t *k, const void *buf, size_t len,
                               mc_err_t *err);

/* ---- key_accept, key_reject, key_delete, key_preseed ------------------------ */

void mc_reply_keys_changed_pack(msgpack_sbuffer *sb, const mc_strs_t *changed);
/* changed: the ids, owned by the caller after a success (mc_strs_free). */
int mc_reply_keys_changed_decode(mc_strs_t *changed, const void *buf, size_t len, mc_err_t *err);

void mc_reply_preseed_pack(msgpack_sbuffer *sb, bool changed);
int mc_reply_preseed_decode(bool *changed, const void *buf, size_t len, mc_err_t *err);

#endif
