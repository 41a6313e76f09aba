/*  sessions - who is logged in to mctl-api: one token per login, kept in
    memory (a restart logs everybody out), and the count of failed logins
    that slows down password guessing.

    A token is 32 random bytes as 64 hex digits; each session also has a
    second such value, its form key, which the console's pages carry (never
    the token itself) and send back in X-CSRF-Token with the cookie. The table holds only a
    hash of each token, so that finding one takes the same time whatever
    part of it is right. A token lasts api_token_expire seconds from the
    login, or until logout.

    Failed logins are counted per user name and per client address: after
    LOGIN_FAILS_USER failures for a user, or LOGIN_FAILS_ADDR from an
    address, within LOGIN_WINDOW_S seconds, further attempts for that user
    or from that address are refused without asking PAM until the window
    has passed. (An address gets more: several people may share one, and
    a proxy makes everyone one.) */
#ifndef MC_API_SESSIONS_H
#define MC_API_SESSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/common.h"

#define SESSION_TOKEN_LEN 64
#define LOGIN_FAILS_USER  5
#define LOGIN_FAILS_ADDR  20
#define LOGIN_WINDOW_S    60

typedef struct sessions sessions_t;

sessions_t *sessions_new(void);
void sessions_destroy(sessions_t **self);

/* A new session for user lasting ttl_s seconds: the token and the form
   key (NUL-terminated) and when it expires (seconds since the epoch). */
void sessions_create(sessions_t *self, const char *user, int64_t ttl_s,
                     char token[SESSION_TOKEN_LEN + 1], char form_key[SESSION_TOKEN_LEN + 1],
                     int64_t *expires);
/* The session of a token that is valid now: true with user, form_key (may
   be NULL) and expires filled in. */
bool sessions_lookup(sessions_t *self, const char *token, char user[MC_USER_MAX + 1],
                     char form_key[SESSION_TOKEN_LEN + 1], int64_t *expires);
/* End a session (logout); false when there was none. */
bool sessions_delete(sessions_t *self, const char *token);

/* Whether a login from addr for user may be tried now; when not, *retry_s
   says in how many seconds. A login that may be tried is counted as a
   failure at once, so that logins tried at the same time cannot pass the
   limit together; sessions_login_succeeded takes it back. */
bool sessions_login_begin(sessions_t *self, const char *addr, const char *user, int64_t *retry_s);
void sessions_login_succeeded(sessions_t *self, const char *addr, const char *user);

#endif
