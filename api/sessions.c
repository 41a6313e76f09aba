/*  sessions - see sessions.h. */
#include "sessions.h"

#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "util.h"

typedef struct {
    char user[MC_USER_MAX + 1];
    char form_key[SESSION_TOKEN_LEN + 1];
    int64_t expires;         /* seconds since the epoch */
    int64_t account_checked; /* seconds since the epoch: the login, or the last check */
} session_t;

typedef struct {
    int fails;
    int64_t window_start;
} fails_t;

struct sessions {
    pthread_mutex_t lock;
    zhashx_t *by_hash; /* hex BLAKE2b of the token -> session_t */
    zhashx_t *fails;   /* "a:ADDR", "ua:USER ADDR" or "u:USER" -> fails_t */
    int64_t next_sweep;
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void free_item(void **item)
{
    free(*item);
    *item = NULL;
}

sessions_t *sessions_new(void)
{
    sessions_t *self = mc_calloc(1, sizeof *self);
    pthread_mutex_init(&self->lock, NULL);
    self->by_hash = zhashx_new();
    zhashx_set_destructor(self->by_hash, free_item);
    self->fails = zhashx_new();
    zhashx_set_destructor(self->fails, free_item);
    return self;
}

void sessions_destroy(sessions_t **self)
{
    if (!*self)
        return;
    zhashx_destroy(&(*self)->by_hash);
    zhashx_destroy(&(*self)->fails);
    pthread_mutex_destroy(&(*self)->lock);
    free(*self);
    *self = NULL;
}

static void token_hash(const char *token, char out[65])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof h);
}

/* Drop expired sessions and old failure counts, at most once a minute. */
static void sweep(sessions_t *self, int64_t now)
{
    if (now < self->next_sweep)
        return;
    self->next_sweep = now + 60;
    zlistx_t *keys = zhashx_keys(self->by_hash);
    for (const char *k = zlistx_first(keys); k; k = zlistx_next(keys)) {
        session_t *s = zhashx_lookup(self->by_hash, k);
        if (s->expires <= now)
            zhashx_delete(self->by_hash, k);
    }
    zlistx_destroy(&keys);
    keys = zhashx_keys(self->fails);
    for (const char *k = zlistx_first(keys); k; k = zlistx_next(keys)) {
        fails_t *f = zhashx_lookup(self->fails, k);
        if (now - f->window_start >= LOGIN_WINDOW_S)
            zhashx_delete(self->fails, k);
    }
    zlistx_destroy(&keys);
}

static void random_hex(char out[SESSION_TOKEN_LEN + 1])
{
    unsigned char raw[SESSION_TOKEN_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, SESSION_TOKEN_LEN + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

void sessions_create(sessions_t *self, const char *user, int64_t ttl_s,
                     char token[SESSION_TOKEN_LEN + 1], char form_key[SESSION_TOKEN_LEN + 1],
                     int64_t *expires)
{
    random_hex(token);
    char h[65];
    token_hash(token, h);
    session_t *s = mc_calloc(1, sizeof *s);
    snprintf(s->user, sizeof s->user, "%s", user);
    random_hex(s->form_key);
    memcpy(form_key, s->form_key, SESSION_TOKEN_LEN + 1);
    int64_t now = now_s();
    s->expires = now + ttl_s;
    s->account_checked = now;
    *expires = s->expires;
    pthread_mutex_lock(&self->lock);
    sweep(self, now);
    zhashx_update(self->by_hash, h, s);
    pthread_mutex_unlock(&self->lock);
}

static bool token_well_formed(const char *token)
{
    if (strlen(token) != SESSION_TOKEN_LEN)
        return false;
    for (const char *p = token; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool sessions_lookup(sessions_t *self, const char *token, char user[MC_USER_MAX + 1],
                     char form_key[SESSION_TOKEN_LEN + 1], int64_t *expires)
{
    if (!token_well_formed(token))
        return false;
    char h[65];
    token_hash(token, h);
    bool ok = false;
    int64_t now = now_s();
    pthread_mutex_lock(&self->lock);
    session_t *s = zhashx_lookup(self->by_hash, h);
    if (s && s->expires > now) {
        snprintf(user, MC_USER_MAX + 1, "%s", s->user);
        if (form_key)
            memcpy(form_key, s->form_key, SESSION_TOKEN_LEN + 1);
        if (expires)
            *expires = s->expires;
        ok = true;
    } else if (s) {
        zhashx_delete(self->by_hash, h);
    }
    pthread_mutex_unlock(&self->lock);
    return ok;
}

bool sessions_delete(sessions_t *self, const char *token)
{
    if (!token_well_formed(token))
        return false;
    char h[65];
    token_hash(token, h);
    pthread_mutex_lock(&self->lock);
    bool had = zhashx_lookup(self->by_hash, h) != NULL;
    zhashx_delete(self->by_hash, h);
    pthread_mutex_unlock(&self->lock);
    return had;
}

/* Seconds until the key may try again, 0 when it may now. */
static int64_t blocked_for(sessions_t *self, const char *key, int max, int64_t now)
{
    fails_t *f = zhashx_lookup(self->fails, key);
    if (!f || now - f->window_start >= LOGIN_WINDOW_S || f->fails < max)
        return 0;
    return LOGIN_WINDOW_S - (now - f->window_start);
}

static void count_fail(sessions_t *self, const char *key, int64_t now)
{
    fails_t *f = zhashx_lookup(self->fails, key);
    if (!f) {
        f = mc_calloc(1, sizeof *f);
        zhashx_insert(self->fails, key, f);
    }
    if (now - f->window_start >= LOGIN_WINDOW_S) {
        f->window_start = now;
        f->fails = 0;
    }
    f->fails++;
}

/* The keys failures are counted under: the address, the user from that
   address, the user from anywhere. */
typedef struct {
    char a[128], ua[MC_USER_MAX + 131], u[MC_USER_MAX + 3];
} fail_keys_t;

static void fail_keys(fail_keys_t *k, const char *addr, const char *user)
{
    snprintf(k->a, sizeof k->a, "a:%s", addr);
    snprintf(k->ua, sizeof k->ua, "ua:%s %s", user, addr);
    snprintf(k->u, sizeof k->u, "u:%s", user);
}

bool sessions_login_begin(sessions_t *self, const char *addr, const char *user, int64_t *retry_s)
{
    fail_keys_t k;
    fail_keys(&k, addr, user);
    int64_t now = now_s();
    pthread_mutex_lock(&self->lock);
    sweep(self, now);
    int64_t wait[] = {blocked_for(self, k.a, LOGIN_FAILS_ADDR, now),
                      blocked_for(self, k.ua, LOGIN_FAILS_USER_ADDR, now),
                      blocked_for(self, k.u, LOGIN_FAILS_USER, now)};
    *retry_s = 0;
    for (size_t i = 0; i < sizeof wait / sizeof wait[0]; i++)
        if (wait[i] > *retry_s)
            *retry_s = wait[i];
    if (*retry_s == 0) {
        count_fail(self, k.a, now);
        count_fail(self, k.ua, now);
        count_fail(self, k.u, now);
    }
    pthread_mutex_unlock(&self->lock);
    return *retry_s == 0;
}

static void uncount(sessions_t *self, const char *key)
{
    fails_t *f = zhashx_lookup(self->fails, key);
    if (f && f->fails > 0)
        f->fails--;
}

void sessions_login_succeeded(sessions_t *self, const char *addr, const char *user)
{
    fail_keys_t k;
    fail_keys(&k, addr, user);
    pthread_mutex_lock(&self->lock);
    uncount(self, k.a);
    uncount(self, k.ua);
    uncount(self, k.u);
    pthread_mutex_unlock(&self->lock);
}

bool sessions_account_due(sessions_t *self, const char *token)
{
    if (!token_well_formed(token))
        return false;
    char h[65];
    token_hash(token, h);
    bool due = false;
    int64_t now = now_s();
    pthread_mutex_lock(&self->lock);
    session_t *s = zhashx_lookup(self->by_hash, h);
    if (s && (now - s->account_checked >= SESSION_ACCOUNT_CHECK_S || now < s->account_checked)) {
        s->account_checked = now;
        due = true;
    }
    pthread_mutex_unlock(&self->lock);
    return due;
}
