/*  keystore_pg - the minions' keys in PostgreSQL (table minion_keys, see
    pg.h), so that masters sharing one database share one key list: a key
    accepted, rejected or deleted on one master holds on all of them within
    a second (each polls the changes, in order, every tick of its loop),
    or two when the database takes over PG_KEYS_STEP_MS to answer (the
    answer is then taken at the next tick).

    Also where a master takes its index (0-9) among the masters on the
    database: the last digit of every job id it makes, so that two masters
    never make the same job id. The index is a session advisory lock, held
    while the connection lives and taken again after a reconnect (the
    server's own keepalives, pg.h, end a session whose master vanished, so
    its index is free again within seconds). A master that cannot take its
    index again keeps its digit and logs an error. Every statement is the
    loop's, so each waits at most PG_KEYS_DEADLINE_MS (pg.h). */
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
/* This master's index among the masters on the database (it may change
   after a reconnect, when another master took it meanwhile). */
int keystore_pg_index(keystore_pg_t *self);
/* Hand fn every change after the cursor, in order, moving the cursor on;
   from cursor 0, every key. 0, or -1 with err (the database is
   unreachable: the next call tries again, after a backoff). */
int keystore_pg_changes(keystore_pg_t *self, keystore_pg_fn *fn, void *arg, mc_err_t *err);
/* The same without holding the caller up: a read is sent, and its answer
   waited for at most PG_KEYS_STEP_MS; one that comes later is taken by
   the next call (a server that hangs costs each call that much, until
   the read's deadline closes the connection). 0 (with the changes that
   came, if any), or -1 with err as keystore_pg_changes. */
int keystore_pg_poll(keystore_pg_t *self, keystore_pg_fn *fn, void *arg, mc_err_t *err);
long long keystore_pg_cursor(keystore_pg_t *self);
void keystore_pg_set_cursor(keystore_pg_t *self, long long cursor);
/* Whether the connection was made again since the last call: the
   database may have been replaced, and the changes are read afresh. */
bool keystore_pg_reconnected(keystore_pg_t *self);
/* Store id's key (denied: its second key) in state ("gone" deletes it),
   provided the database holds what this master last saw: was_state and
   was_pub (NULL: no such key, or gone; "*": whatever it holds). Else, and
   when another id holds pub, -1 with MC_E_REFUSED: another master changed
   it meanwhile. */
int keystore_pg_put(keystore_pg_t *self, const char *id, bool denied, const char *state,
                    const unsigned char pub[MC_KEY_LEN], const char *was_state,
                    const unsigned char *was_pub, mc_err_t *err);

/* A key to import. */
typedef struct {
    const char *id;
    bool denied;
    const char *state;
    const unsigned char *pub;
} keystore_key_t;
/* Store these keys in one transaction, only when the database holds no
   key at all (*done says whether it did). */
int keystore_pg_import(keystore_pg_t *self, const keystore_key_t *keys, size_t n, bool *done,
                       mc_err_t *err);

#endif
