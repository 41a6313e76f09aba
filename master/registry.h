/*  registry - the minions the master knows: their keys, key states, and
    what they last told us (grains, heartbeat time).

    Keys live on disk as Salt lays them out, one zcert public file per id in
    PKI_DIR/minions (accepted), minions_pre (pending), minions_rejected and
    minions_denied (a second key presented for an id that has one already);
    or, with master_job_cache: postgres, in the database the masters share
    (keystore_pg.h), which takes the folders' keys when it has none yet.
    That is the record; the registry mirrors it in memory, indexed by id
    and, for accepted minions, by public key, which is what the ZAP handler
    needs to let a connection in, and what the master resolves every message
    and subscription by. */
#ifndef MC_REGISTRY_H
#define MC_REGISTRY_H

#include <czmq.h>

#include "keys.h"
#include "keystore_pg.h"
#include "proto/proto.h"

typedef enum { KEY_ACCEPTED, KEY_PENDING, KEY_REJECTED, KEY_DENIED, KEY_STATES } key_state_t;

typedef struct {
    char id[MC_ID_MAX + 1];
    key_state_t state;
    unsigned char pub[MC_KEY_LEN];
    mc_seal_key_t seal;     /* precomputed crypto_box key, accepted only */
    int64_t last_seen_ms;   /* monotonic, of its last message signed with this key;
                               0 = not since it was last connected */
    mc_grains_msg_t grains; /* last grains message, if any */
    bool has_grains;
    zframe_t *waiting; /* routing id of a registration waiting for acceptance */
    int in_flight;     /* jobs sent to it, neither acknowledged nor returned */
    int64_t resent_ms; /* when its unacknowledged jobs were last sent again */
} minion_t;

typedef struct _registry_t registry_t;

/* The keys in pki_dir's folders, or in db (PostgreSQL) when it is not NULL;
   the registry owns db. */
registry_t *registry_new(const char *pki_dir, const unsigned char master_sec[MC_KEY_LEN],
                         keystore_pg_t *db, mc_err_t *err);
void registry_destroy(registry_t **self);
/* Drop what is in memory and read the record again (SIGHUP). */
int registry_reload(registry_t *self, mc_err_t *err);
/* A minion whose key another master added (old: KEY_STATES) or moved. */
typedef void(registry_change_fn)(void *arg, minion_t *m, key_state_t old);
/* Take in the changes other masters made to the shared key list (nothing
   to do with folders): changed for each minion that is new or moved; one
   deleted is gone from the registry. Waits at most PG_KEYS_STEP_MS for
   the database (keystore_pg_poll): changes that come later are taken by
   the next call. After a reconnect the list is read whole, waiting.
   0, or -1 with err. */
int registry_sync(registry_t *self, registry_change_fn *changed, void *arg, mc_err_t *err);

const char *key_state_name(key_state_t state);
/* The folder name for a state: minions, minions_pre, ... */
const char *key_state_dir(key_state_t state);

minion_t *registry_find(registry_t *self, const char *id);
/* The accepted minion holding this CURVE public key, or NULL. */
minion_t *registry_find_accepted_key(registry_t *self, const unsigned char pub[MC_KEY_LEN]);
/* A denied key recorded for this id, or NULL. */
const unsigned char *registry_denied_key(registry_t *self, const char *id);

/* A minion presents id and key. Returns the state it is in afterwards: a
   new id becomes pending (accepted with auto_accept), a known id with the
   same key keeps its state, a known id with another key is denied. A key
   that another id holds is refused (an error): a key serves one id. */
int registry_present(registry_t *self, const char *id, const unsigned char pub[MC_KEY_LEN],
                     bool auto_accept, key_state_t *state, mc_err_t *err);
/* Move a minion's key to another state (accept, reject). */
int registry_set_state(registry_t *self, minion_t *m, key_state_t state, mc_err_t *err);
/* Accept exactly this key for this id, as deploy fetched it from the host
   over an authenticated SSH session: a pending or rejected entry with the
   same key is accepted, another key for the id (in any state, denied
   included) is replaced. A key that another id holds is refused. *changed
   says whether anything moved. */
int registry_preseed(registry_t *self, const char *id, const unsigned char pub[MC_KEY_LEN],
                     bool *changed, mc_err_t *err);
/* Forget a minion and its key(s), including a denied one. */
int registry_delete(registry_t *self, const char *id, mc_err_t *err);

/* All minions, sorted by id; the array is the caller's to free. */
minion_t **registry_list(registry_t *self, size_t *count);
/* Ids with a denied key, sorted: copies, so that deleting keys while
   walking the list is safe; release with registry_denied_list_free. */
char **registry_denied_list(registry_t *self, size_t *count);
void registry_denied_list_free(char **list, size_t count);
size_t registry_accepted_count(registry_t *self);
size_t registry_count(registry_t *self, key_state_t state);
/* The id whose key (in any state but denied) is pub, or NULL. */
const char *registry_key_holder(registry_t *self, const unsigned char pub[MC_KEY_LEN]);

#endif
