/*  access - see access.h. */
#include "access.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "log.h"
#include "pam.h"

bool access_may_use_master(const api_t *api, const char *user)
{
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwnam_r(user, &pw, buf, sizeof buf, &found) != 0 || !found)
        return false;
    if (found->pw_uid == 0)
        return true;
    struct stat st;
    if (stat(api->ipc_path, &st) != 0)
        return false;
    if (found->pw_uid == st.st_uid || found->pw_gid == st.st_gid)
        return true;
    int n = 256;
    gid_t groups[256];
    if (getgrouplist(user, found->pw_gid, groups, &n) < 0)
        return false;
    for (int i = 0; i < n; i++)
        if (groups[i] == st.st_gid)
            return true;
    return false;
}

bool access_account_ok(api_t *api, const char *token, const char *user)
{
    if (!sessions_account_due(api->sessions, token))
        return true;
    mc_err_t err;
    if (api_pam_account(api->cfg->api_pam_service, user, &err) == 0)
        return true;
    mc_warn("%s's login ends: %s", user, err.msg);
    sessions_delete(api->sessions, token);
    return false;
}
