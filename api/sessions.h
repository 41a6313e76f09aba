/*  sessions - who is logged in to mctl-api: one token per login, kept in
    memory (a restart logs everybody out), and the count of failed logins
    that slows down password guessing.

    A token is 32 random bytes as 64 hex digits. The table holds only a
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

/* A new session for user lasting ttl_s seconds: the token (NUL-terminated)
   and when it expires (seconds since the epoch). */
void sessions_create(sessions_t *self, const char *user, int64_t ttl_s,
                     char token[SESSION_TOKEN_LEN + 1], int64_t *expires);
/* The user of a token that is valid now: true with user filled in. */
bool sessions_lookup(sessions_t *self, const char *token, char user[MC_USER_MAX + 1],
                     int64_t *expires);
/* End a session (logout); false when there was none. */
bool sessions_delete(sessions_t *self, const char *token);

/* Whether a login from addr for user may be tried now; when not, *retry_s
   says in how many seconds. */
bool sessions_login_allowed(sessions_t *self, const char *addr, const char *user, int64_t *retry_s);
/* A failed login, counted against addr and user. */
void sessions_login_failed(sessions_t *self, const char *addr, const char *user);

#endif
