/*  registry - see registry.h. */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct _registry_t {
    char *pki_dir;
    keystore_pg_t *db; /* the keys' record when in PostgreSQL, else NULL (the folders) */
    unsigned char master_sec[MC_KEY_LEN];
    zhashx_t *by_id;  /* id -> minion_t (owned) */
    zhashx_t *by_key; /* z85 public key -> minion_t, accepted only */
    zhashx_t *denied; /* id -> 32-byte key (owned) */
};

static const char *state_names[KEY_STATES] = {"accepted", "pending", "rejected", "denied"};
static const char *state_dirs[KEY_STATES] = {"minions", "minions_pre", "minions_rejected",
                                             "minions_denied"};

const char *key_state_name(key_state_t state)
{
    return state_names[state];
}

const char *key_state_dir(key_state_t state)
{
    return state_dirs[state];
}

static void minion_free(void **item)
{
    minion_t *m = *item;
    if (!m)
        return;
    if (m->has_grains)
        mc_grains_done(&m->grains);
    zframe_destroy(&m->waiting);
    free(m);
    *item = NULL;
}

static char *key_path(registry_t *self, key_state_t state, const char *id)
{
    return mc_sprintf("%s/%s/%s", self->pki_dir, state_dirs[state], id);
}

/* Record id's key in state: in its folder, or in the database, where it
   must still be as this master last saw it (was: the minion as it was, or
   NULL for an id without a key; a denied key is stored whatever was). */
static int store_key(registry_t *self, const char *id, key_state_t state,
                     const unsigned char pub[MC_KEY_LEN], const minion_t *was, mc_err_t *err)
{
    if (self->db)
        return keystore_pg_put(self->db, id, state == KEY_DENIED, key_state_name(state), pub,
                               state == KEY_DENIED ? "*"
                               : was               ? key_state_name(was->state)
                                                   : NULL,
                               was ? was->pub : NULL, err);
    char *path = key_path(self, state, id);
    int rc = mc_curve_save_public(path, pub, id, err);
    free(path);
    return rc;
}

/* Forget id's key in state (KEY_DENIED: its second key), which is pub. */
static int forget_key(registry_t *self, const char *id, key_state_t state,
                      const unsigned char pub[MC_KEY_LEN], mc_err_t *err)
{
    if (self->db)
        return keystore_pg_put(self->db, id, state == KEY_DENIED, "gone", pub,
                               state == KEY_DENIED ? "*" : key_state_name(state), pub, err);
    char *path = key_path(self, state, id);
    int rc = 0;
    if (unlink(path) != 0 && errno != ENOENT) {
        mc_err_set(err, "cannot delete %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(path);
    return rc;
}

static void index_key(registry_t *self, minion_t *m)
{
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(m->pub, z85);
    if (m->state == KEY_ACCEPTED) {
        mc_seal_key(m->seal, m->pub, self->master_sec);
        zhashx_update(self->by_key, z85, m);
    } else {
        zhashx_delete(self->by_key, z85);
    }
}

static minion_t *add_minion(registry_t *self, const char *id, key_state_t state,
                            const unsigned char pub[MC_KEY_LEN])
{
    minion_t *m = mc_calloc(1, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    m->state = state;
    memcpy(m->pub, pub, MC_KEY_LEN);
    zhashx_insert(self->by_id, id, m);
    index_key(self, m);
    return m;
}

static int load_state_dir(registry_t *self, key_state_t state, mc_err_t *err)
{
    char *dir = mc_sprintf("%s/%s", self->pki_dir, state_dirs[state]);
    int rc = mc_mkdir_p(dir, 0700, err);
    DIR *d = rc == 0 ? opendir(dir) : NULL;
    if (rc == 0 && !d) {
        mc_err_set(err, "cannot read %s: %s", dir, strerror(errno));
        rc = -1;
    }
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *id = de->d_name;
        /* Dot files are files being written (mc_temp_path): no id starts
           with a dot. */
        if (id[0] == '.')
            continue;
        if (!mc_id_valid(id, strlen(id))) {
            mc_warn("%s/%s: not a valid minion id; ignored", dir, id);
            continue;
        }
        char *path = mc_sprintf("%s/%s", dir, id);
        unsigned char pub[MC_KEY_LEN];
        mc_err_t kerr;
        if (mc_curve_load_public(path, pub, &kerr) != 0) {
            mc_warn("%s; ignored", kerr.msg);
        } else if (state == KEY_DENIED) {
            zhashx_update(self->denied, id, mc_strndup((const char *)pub, MC_KEY_LEN));
        } else if (zhashx_lookup(self->by_id, id)) {
            mc_warn("%s: a key for this id is also in another folder; ignored", path);
        } else {
            add_minion(self, id, state, pub);
        }
        free(path);
    }
    if (d)
        closedir(d);
    free(dir);
    return rc;
}

/* Keep what minions told us (grains, last seen, a waiting registration)
   and the jobs in flight to them across a reload, for
   every minion whose id and key are unchanged. */
static void carry_runtime_state(registry_t *self, zhashx_t *old)
{
    for (minion_t *o = zhashx_first(old); o; o = zhashx_next(old)) {
        minion_t *m = registry_find(self, o->id);
        if (!m || memcmp(m->pub, o->pub, MC_KEY_LEN) != 0)
            continue;
        m->last_seen_ms = o->last_seen_ms;
        if (o->has_grains) {
            m->grains = o->grains;
            m->has_grains = true;
            o->has_grains = false;
        }
        m->waiting = o->waiting;
        o->waiting = NULL;
        m->in_flight = o->in_flight;
    }
}

/* A key as the database holds it, applied to what is in memory: a
   reload's (changed NULL), or a change another master made. */
typedef struct {
    registry_t *self;
    registry_change_fn *changed;
    void *arg;
} apply_t;

static void drop_minion(registry_t *self, minion_t *m)
{
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(m->pub, z85);
    if (zhashx_lookup(self->by_key, z85) == m)
        zhashx_delete(self->by_key, z85);
    zhashx_delete(self->by_id, m->id);
}

static void apply_key(void *p, const char *id, bool denied, const char *state,
                      const unsigned char pub[MC_KEY_LEN])
{
    apply_t *a = p;
    registry_t *self = a->self;
    bool gone = strcmp(state, "gone") == 0;
    if (denied) {
        if (gone)
            zhashx_delete(self->denied, id);
        else
            zhashx_update(self->denied, id, mc_strndup((const char *)pub, MC_KEY_LEN));
        return;
    }
    minion_t *m = registry_find(self, id);
    if (gone) {
        if (m) {
            drop_minion(self, m);
            if (a->changed)
                mc_info("key of minion %s deleted (on another master)", id);
        }
        return;
    }
    key_state_t s = KEY_STATES;
    for (int i = 0; i < KEY_DENIED; i++)
        if (strcmp(state, state_names[i]) == 0)
            s = (key_state_t)i;
    if (s == KEY_STATES) {
        mc_warn("keys (PostgreSQL): minion %s: unknown state '%s'; ignored", id, state);
        return;
    }
    if (m && memcmp(m->pub, pub, MC_KEY_LEN) != 0) {
        drop_minion(self, m); /* a new key for the id: nothing of the old one carries over */
        m = NULL;
    }
    if (!m) {
        m = add_minion(self, id, s, pub);
        if (a->changed) {
            mc_info("key of minion %s: %s (on another master)", id, state);
            a->changed(a->arg, m, KEY_STATES);
        }
    } else if (m->state != s) {
        key_state_t old = m->state;
        m->state = s;
        index_key(self, m);
        if (a->changed) {
            mc_info("key of minion %s: %s -> %s (on another master)", id, key_state_name(old),
                    state);
            a->changed(a->arg, m, old);
        }
    }
}

static int sync_changes(registry_t *self, registry_change_fn *changed, void *arg, mc_err_t *err)
{
    apply_t a = {self, changed, arg};
    return keystore_pg_changes(self->db, apply_key, &a, err);
}

/* The changes that have come, without waiting for more (registry_sync). */
static int poll_changes(registry_t *self, registry_change_fn *changed, void *arg, mc_err_t *err)
{
    apply_t a = {self, changed, arg};
    return keystore_pg_poll(self->db, apply_key, &a, err);
}

int registry_sync(registry_t *self, registry_change_fn *changed, void *arg, mc_err_t *err)
{
    if (!self->db)
        return 0;
    /* Connected again: the database may be another one (restored from a
       backup, its changes numbered anew); read it whole. */
    if (keystore_pg_reconnected(self->db)) {
        if (registry_reload(self, err) != 0)
            return -1;
        mc_info("keys: read again from PostgreSQL after a reconnect (%zu accepted)",
                registry_accepted_count(self));
        return 0;
    }
    return poll_changes(self, changed, arg, err);
}

/* A database no master has stored keys in yet takes the keys in the
   folders (a single master becoming one of several), in one transaction:
   masters starting together import once. A master joining a database
   that has keys says which of its folders' keys it does not hold. */
static int import_folders(registry_t *self, mc_err_t *err)
{
    int rc = 0;
    for (int s = 0; s < KEY_STATES && rc == 0; s++)
        rc = load_state_dir(self, (key_state_t)s, err);
    size_t n = zhashx_size(self->by_id) + zhashx_size(self->denied), i = 0;
    keystore_key_t *keys = mc_calloc(n + 1, sizeof *keys);
    for (minion_t *m = zhashx_first(self->by_id); m; m = zhashx_next(self->by_id))
        keys[i++] = (keystore_key_t){m->id, false, key_state_name(m->state), m->pub};
    for (const char *pub = zhashx_first(self->denied); pub; pub = zhashx_next(self->denied))
        keys[i++] = (keystore_key_t){zhashx_cursor(self->denied), true, "denied",
                                     (const unsigned char *)pub};
    bool done = false;
    if (rc == 0)
        rc = keystore_pg_import(self->db, keys, n, &done, err);
    free(keys);
    if (rc == 0 && done && n)
        mc_info("keys: imported %zu keys from %s into PostgreSQL", n, self->pki_dir);
    else if (rc == 0 && !done && n)
        mc_warn("keys: the database holds the key list already; the %zu keys in %s's folders "
                "are not read (accept them again on a master if they are missing)",
                n, self->pki_dir);
    zhashx_purge(self->by_id);
    zhashx_purge(self->by_key);
    zhashx_purge(self->denied);
    return rc;
}

/* Read the whole record into fresh maps and swap them in; when it cannot
   be read (the database down, a folder unreadable), keep what is in
   memory as it was. */
int registry_reload(registry_t *self, mc_err_t *err)
{
    zhashx_t *old_id = self->by_id, *old_key = self->by_key, *old_denied = self->denied;
    self->by_id = zhashx_new();
    zhashx_set_destructor(self->by_id, minion_free);
    self->by_key = zhashx_new();
    self->denied = zhashx_new();
    zhashx_set_destructor(self->denied, (zhashx_destructor_fn *)zstr_free);
    int rc = 0;
    long long cursor = 0;
    if (self->db) {
        cursor = keystore_pg_cursor(self->db);
        keystore_pg_set_cursor(self->db, 0);
        rc = sync_changes(self, NULL, NULL, err);
    } else {
        for (int s = 0; s < KEY_STATES && rc == 0; s++)
            rc = load_state_dir(self, (key_state_t)s, err);
    }
    if (rc != 0) {
        zhashx_destroy(&self->by_key);
        zhashx_destroy(&self->by_id);
        zhashx_destroy(&self->denied);
        self->by_id = old_id;
        self->by_key = old_key;
        self->denied = old_denied;
        if (self->db)
            keystore_pg_set_cursor(self->db, cursor);
        return -1;
    }
    carry_runtime_state(self, old_id);
    zhashx_destroy(&old_key);
    zhashx_destroy(&old_id);
    zhashx_destroy(&old_denied);
    return 0;
}

registry_t *registry_new(const char *pki_dir, const unsigned char master_sec[MC_KEY_LEN],
                         keystore_pg_t *db, mc_err_t *err)
{
    registry_t *self = mc_calloc(1, sizeof *self);
    self->pki_dir = mc_strdup(pki_dir);
    self->db = db;
    memcpy(self->master_sec, master_sec, MC_KEY_LEN);
    self->by_id = zhashx_new();
    zhashx_set_destructor(self->by_id, minion_free);
    self->by_key = zhashx_new();
    self->denied = zhashx_new();
    zhashx_set_destructor(self->denied, (zhashx_destructor_fn *)zstr_free);
    if ((db && import_folders(self, err) != 0) || registry_reload(self, err) != 0) {
        registry_destroy(&self);
        return NULL;
    }
    return self;
}

void registry_destroy(registry_t **pself)
{
    registry_t *self = *pself;
    if (!self)
        return;
    zhashx_destroy(&self->by_key);
    zhashx_destroy(&self->by_id);
    zhashx_destroy(&self->denied);
    keystore_pg_close(&self->db);
    sodium_memzero(self->master_sec, sizeof self->master_sec);
    free(self->pki_dir);
    free(self);
    *pself = NULL;
}

minion_t *registry_find(registry_t *self, const char *id)
{
    return zhashx_lookup(self->by_id, id);
}

minion_t *registry_find_accepted_key(registry_t *self, const unsigned char pub[MC_KEY_LEN])
{
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(pub, z85);
    return zhashx_lookup(self->by_key, z85);
}

const unsigned char *registry_denied_key(registry_t *self, const char *id)
{
    return zhashx_lookup(self->denied, id);
}

const char *registry_key_holder(registry_t *self, const unsigned char pub[MC_KEY_LEN])
{
    minion_t *m = registry_find_accepted_key(self, pub);
    if (m)
        return m->id;
    /* Keys that are not accepted are few and this is rare (a new key on
       the registration port): a scan is enough. */
    for (m = zhashx_first(self->by_id); m; m = zhashx_next(self->by_id))
        if (memcmp(m->pub, pub, MC_KEY_LEN) == 0)
            return m->id;
    return NULL;
}

static int refuse_held_key(registry_t *self, const char *id, const unsigned char pub[MC_KEY_LEN],
                           mc_err_t *err)
{
    const char *holder = registry_key_holder(self, pub);
    if (holder && strcmp(holder, id) != 0) {
        mc_err_set(err, "the key presented for %s is already %s's key; a key serves one id", id,
                   holder);
        return -1;
    }
    return 0;
}

int registry_present(registry_t *self, const char *id, const unsigned char pub[MC_KEY_LEN],
                     bool auto_accept, key_state_t *state, mc_err_t *err)
{
    minion_t *m = registry_find(self, id);
    if (m && memcmp(m->pub, pub, MC_KEY_LEN) == 0) {
        *state = m->state;
        return 0;
    }
    if (m) {
        /* Another key for a known id: keep it aside, as Salt does. */
        if (refuse_held_key(self, id, pub, err) != 0)
            return -1;
        const unsigned char *old = registry_denied_key(self, id);
        if (!old || memcmp(old, pub, MC_KEY_LEN) != 0) {
            if (store_key(self, id, KEY_DENIED, pub, NULL, err) != 0)
                return -1;
            zhashx_update(self->denied, id, mc_strndup((const char *)pub, MC_KEY_LEN));
            mc_warn("minion %s presented a key other than its %s one; denied", id,
                    key_state_name(m->state));
        }
        *state = KEY_DENIED;
        return 0;
    }
    if (refuse_held_key(self, id, pub, err) != 0)
        return -1;
    key_state_t s = auto_accept ? KEY_ACCEPTED : KEY_PENDING;
    if (store_key(self, id, s, pub, NULL, err) != 0)
        return -1;
    add_minion(self, id, s, pub);
    char finger[MC_FINGERPRINT_LEN];
    mc_fingerprint(pub, finger);
    mc_info("minion %s presented a new key (%s): %s", id, finger, key_state_name(s));
    *state = s;
    return 0;
}

int registry_set_state(registry_t *self, minion_t *m, key_state_t state, mc_err_t *err)
{
    if (m->state == state)
        return 0;
    if (self->db) {
        if (store_key(self, m->id, state, m->pub, m, err) != 0)
            return -1;
    } else {
        char *from = key_path(self, m->state, m->id);
        char *to = key_path(self, state, m->id);
        int rc = rename(from, to);
        if (rc != 0)
            mc_err_set(err, "cannot move %s to %s: %s", from, to, strerror(errno));
        free(from);
        free(to);
        if (rc != 0)
            return -1;
    }
    mc_info("key of minion %s: %s -> %s", m->id, key_state_name(m->state), key_state_name(state));
    m->state = state;
    index_key(self, m);
    return 0;
}

int registry_delete(registry_t *self, const char *id, mc_err_t *err)
{
    minion_t *m = registry_find(self, id);
    bool denied = registry_denied_key(self, id) != NULL;
    if (!m && !denied) {
        mc_err_set(err, "no key for minion '%s'", id);
        return -1;
    }
    if (m) {
        if (forget_key(self, id, m->state, m->pub, err) != 0)
            return -1;
        drop_minion(self, m);
    }
    if (denied) {
        if (forget_key(self, id, KEY_DENIED, registry_denied_key(self, id), err) != 0)
            return -1;
        zhashx_delete(self->denied, id);
    }
    mc_info("key of minion %s deleted", id);
    return 0;
}

int registry_preseed(registry_t *self, const char *id, const unsigned char pub[MC_KEY_LEN],
                     bool *changed, mc_err_t *err)
{
    minion_t *m = registry_find(self, id);
    const unsigned char *denied = registry_denied_key(self, id);
    *changed = false;
    if (m && memcmp(m->pub, pub, MC_KEY_LEN) == 0 && !denied) {
        if (m->state == KEY_ACCEPTED)
            return 0;
        *changed = true;
        return registry_set_state(self, m, KEY_ACCEPTED, err);
    }
    if (refuse_held_key(self, id, pub, err) != 0)
        return -1;
    if ((m || denied) && registry_delete(self, id, err) != 0)
        return -1;
    if (store_key(self, id, KEY_ACCEPTED, pub, NULL, err) != 0)
        return -1;
    add_minion(self, id, KEY_ACCEPTED, pub);
    char finger[MC_FINGERPRINT_LEN];
    mc_fingerprint(pub, finger);
    mc_info("key of minion %s (%s) accepted as deployed%s", id, finger,
            m || denied ? ", replacing the key it had" : "");
    *changed = true;
    return 0;
}

static int cmp_minion(const void *a, const void *b)
{
    return strcmp((*(minion_t *const *)a)->id, (*(minion_t *const *)b)->id);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

minion_t **registry_list(registry_t *self, size_t *count)
{
    *count = zhashx_size(self->by_id);
    minion_t **list = mc_calloc(*count + 1, sizeof *list);
    size_t i = 0;
    for (minion_t *m = zhashx_first(self->by_id); m; m = zhashx_next(self->by_id))
        list[i++] = m;
    qsort(list, *count, sizeof *list, cmp_minion);
    return list;
}

char **registry_denied_list(registry_t *self, size_t *count)
{
    *count = zhashx_size(self->denied);
    char **list = mc_calloc(*count + 1, sizeof *list);
    size_t i = 0;
    for (void *k = zhashx_first(self->denied); k; k = zhashx_next(self->denied))
        list[i++] = mc_strdup(zhashx_cursor(self->denied));
    qsort(list, *count, sizeof *list, cmp_str);
    return list;
}

void registry_denied_list_free(char **list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        free(list[i]);
    free(list);
}

size_t registry_accepted_count(registry_t *self)
{
    return zhashx_size(self->by_key);
}

size_t registry_count(registry_t *self, key_state_t state)
{
    if (state == KEY_ACCEPTED)
        return zhashx_size(self->by_key);
    if (state == KEY_DENIED)
        return zhashx_size(self->denied);
    size_t n = 0;
    for (minion_t *m = zhashx_first(self->by_id); m; m = zhashx_next(self->by_id))
        n += m->state == state;
    return n;
}
