/*  keystore_pg - the minions' keys in PostgreSQL (table minion_keys, see
    pg.h), so that masters sharing one database share one key list: a key
    accepted, rejected or deleted on one master holds on all of them within
    a second (each polls the changes, in order, every tick of its loop).

    Also where a master takes its index (0-9) among the masters on the
    database: the last digit of every job id it makes, so that two masters
    never make the same job id. The index is a session advisory lock, held
    while the connection lives and taken again after a reconnect. */
#ifndef MC_KEYSTORE_PG_H
#define MC_KEYSTORE_PG_H

#include <stdbool.h>

#include "keytext.h"
#include "util.h"

#define KEYSTORE_MASTERS 10 /* masters on one database at most */

typedef struct _keystore_pg_t keystore_pg_t;

/* One stored key: the id's key (denied false) or a second key it
   presented (denied true), and its state: "accepted", "pending",
   "rejected", "denied", or "gone" (deleted). */
typedef void(keystore_pg_fn)(void *arg, const char *id, bool denied, const char *state,
                             const unsigned char pub[MC_KEY_LEN]);

/* Connect (pg_connect) and take a master index: want_index (0-9), or the
   first one free when want_index is -1. NULL with err. */
keystore_pg_t *keystore_pg_open(const char *dsn, int want_index, mc_err_t *err);
void keystore_pg_close(keystore_pg_t **self);
/* This master's index among the masters on the database. */
int keystore_pg_index(keystore_pg_t *self);
/* Whether no key was ever stored (a new database, to import keys into). */
int keystore_pg_empty(keystore_pg_t *self, bool *empty, mc_err_t *err);
/* Hand fn every change since the last call, in order; the first call, and
   the first after keystore_pg_rewind, hands every key. 0, or -1 with err
   (the database is unreachable: the next call tries again, after a
   backoff). */
int keystore_pg_changes(keystore_pg_t *self, keystore_pg_fn *fn, void *arg, mc_err_t *err);
void keystore_pg_rewind(keystore_pg_t *self);
/* Store id's key (denied: its second key) in state ("gone" deletes it).
   With create, only when the id has no such key (or it is gone): else, and
   when another id holds pub, -1 with MC_E_REFUSED. */
int keystore_pg_put(keystore_pg_t *self, const char *id, bool denied, const char *state,
                    const unsigned char pub[MC_KEY_LEN], bool create, mc_err_t *err);

#endif
