/*  pam - see pam.h. */
#include "pam.h"

#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

/* PAM's questions: the password for those asked with echo off, nothing
   for the rest (messages are not shown to anyone). */
static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *arg)
{
    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    struct pam_response *r = calloc((size_t)n, sizeof *r);
    if (!r)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
            r[i].resp = strdup((const char *)arg);
            if (!r[i].resp) {
                for (int j = 0; j < i; j++)
                    free(r[j].resp);
                free(r);
                return PAM_BUF_ERR;
            }
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

/* A PAM transaction for user on service, or NULL with err. */
static pam_handle_t *start(const char *service, const char *user, const struct pam_conv *conv,
                           mc_err_t *err)
{
    pam_handle_t *h = NULL;
    int rc = pam_start(service, user, conv, &h);
    if (rc == PAM_SUCCESS)
        return h;
    mc_err_set(err, "PAM service %s could not start: %s", service, pam_strerror(h, rc));
    if (h)
        pam_end(h, rc);
    return NULL;
}

int api_pam_check(const char *service, const char *user, const char *password, mc_err_t *err)
{
    struct pam_conv conv = {converse, (void *)password};
    pam_handle_t *h = start(service, user, &conv, err);
    if (!h)
        return -1;
    int rc = pam_authenticate(h, PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_SUCCESS)
        rc = pam_acct_mgmt(h, PAM_DISALLOW_NULL_AUTHTOK);
    if (rc != PAM_SUCCESS)
        mc_err_set(err, "PAM refused %s: %s", user, pam_strerror(h, rc));
    pam_end(h, rc);
    return rc == PAM_SUCCESS ? 0 : -1;
}

/* No question is answered: the account check asks for no password. */
static int refuse(int n, const struct pam_message **msg, struct pam_response **resp, void *arg)
{
    (void)n;
    (void)msg;
    (void)resp;
    (void)arg;
    return PAM_CONV_ERR;
}

int api_pam_account(const char *service, const char *user, mc_err_t *err)
{
    struct pam_conv conv = {refuse, NULL};
    pam_handle_t *h = start(service, user, &conv, err);
    if (!h)
        return -1;
    int rc = pam_acct_mgmt(h, PAM_DISALLOW_NULL_AUTHTOK);
    if (rc != PAM_SUCCESS)
        mc_err_set(err, "PAM refuses %s's account: %s", user, pam_strerror(h, rc));
    pam_end(h, rc);
    return rc == PAM_SUCCESS ? 0 : -1;
}
