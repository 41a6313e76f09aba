/*  pam - a user's password checked with the host's PAM, as the service
    api_pam_service (default mctl-api: /etc/pam.d/mctl-api, installed with
    the package, which includes common-auth and common-account). Both the
    password (pam_authenticate) and the account (pam_acct_mgmt: expired,
    locked) must pass. Runs in the calling thread; a wrong password takes
    as long as PAM's failure delay. */
#ifndef MC_API_PAM_H
#define MC_API_PAM_H

#include "util.h"

/* 0 when the password is right and the account may log in; -1 with err
   (for the log: the client is told only that the login failed). */
int api_pam_check(const char *service, const char *user, const char *password, mc_err_t *err);
/* 0 when PAM's account rules (pam_acct_mgmt alone: no password asked)
   still let user in; -1 with err when the account was locked, expired or
   otherwise refused since. */
int api_pam_account(const char *service, const char *user, mc_err_t *err);

#endif
