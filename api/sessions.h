/*  sessions - who is logged in to mctl-api: one token per login, kept in
    memory (a restart logs everybody out), and the count of failed logins
    that slows down password guessing.

    A token is 32 random bytes as 64 hex digits; each session also has a
    second such value, its form key, which the console's pages carry (never
    the token itself) and send back in X-CSRF-Token with the cookie. The table holds only a
    hash of each token, so that finding one takes the same time whatever
    part of it is right. A token lasts api_token_expire seconds from the
    login, or until logout, or until PAM's account rules refuse the user
    (an account locked or expired after the login: checked again every
    SESSION_ACCOUNT_CHECK_S).

    Failed logins are counted per client address, per user name from an
    address and per user name: after LOGIN_FAILS_ADDR failures from an
    address, LOGIN_FAILS_USER_ADDR for a user from one address or
    LOGIN_FAILS_USER for a user from anywhere, within LOGIN_WINDOW_S
    seconds, further attempts from that address, for that user from that
    address, or for that user are refused without asking PAM until the
    window has passed. So one address guessing a user's password cannot
    lock that user out from others (its LOGIN_FAILS_ADDR stays under
    LOGIN_FAILS_USER); guessing from many addresses at once is still
    held to LOGIN_FAILS_USER a window. (An address gets more than a user
    from it: several people may share one, and a proxy makes everyone
    one.) */
#ifndef MC_API_SESSIONS_H
#define MC_API_SESSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/common.h"

#define SESSION_TOKEN_LEN     64
#define LOGIN_FAILS_USER_ADDR 5
#define LOGIN_FAILS_ADDR      20
#define LOGIN_FAILS_USER      50
#define LOGIN_WINDOW_S        60
/* A session's account is asked of PAM again this often (api_pam_check at
   login, api_pam_account after): a locked or expired account's tokens
   stop working within it. */
#define SESSION_ACCOUNT_CHECK_S 5

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
/* Whether the account behind a session is due to be checked again (its
   last check SESSION_ACCOUNT_CHECK_S or more ago, or never since the
   login): true at most once per interval, the check counting as made. */
bool sessions_account_due(sessions_t *self, const char *token);

/* Whether a login from addr for user may be tried now; when not, *retry_s
   says in how many seconds. A login that may be tried is counted as a
   failure at once, so that logins tried at the same time cannot pass the
   limit together; sessions_login_succeeded takes it back. */
bool sessions_login_begin(sessions_t *self, const char *addr, const char *user, int64_t *retry_s);
void sessions_login_succeeded(sessions_t *self, const char *addr, const char *user);

#endif
