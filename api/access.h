/*  access - who may use mctl-api: the users who could use mctl, that is
    root, the owner of the master's client socket (the master's user) and
    the members of its group (client_group). Checked at login and again on
    every request, so that a user taken out of client_group loses the web
    too, at once; and an account that PAM's account rules refuse since the
    login (locked, expired) within SESSION_ACCOUNT_CHECK_S. */
#ifndef MC_API_ACCESS_H
#define MC_API_ACCESS_H

#include <stdbool.h>

#include "api.h"

bool access_may_use_master(const api_t *api, const char *user);

/* Whether the session of token (user's) may go on: PAM's account rules
   are asked again when SESSION_ACCOUNT_CHECK_S have passed since they
   last were; a refusal ends the session (logged), as a logout would. */
bool access_account_ok(api_t *api, const char *token, const char *user);

#endif
