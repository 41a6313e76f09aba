/*  callers - who a local uid is: its user name and the names of its
    groups, for the ACL and the audit log of client requests.

    The kernel gives each request's uid and gid (clients.c); their names
    come from the user and group databases (NSS: files, or a directory
    such as LDAP through sssd). That costs about 100 us with local files,
    and far more with a directory, on the loop, for every request. So a
    uid and gid's names are kept CALLERS_TTL_MS: a user added to or taken
    out of a group counts for the master at most that much later. The
    same goes for the uid and gid of a user name (the as requests of
    mctl-api, one per HTTP request and one per hundred events of a
    stream). At most CALLERS_MAX of each are kept; past that the cache
    starts again. */
#include "master.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>

#define CALLERS_TTL_MS 1000
#define CALLERS_MAX    256

typedef struct {
    int64_t at_ms; /* monotonic: when NSS was asked */
    char user[MC_USER_MAX + 1];
    char **groups;
    size_t ngroups;
} named_t;

typedef struct {
    int64_t at_ms; /* monotonic: when NSS was asked */
    bool found;
    unsigned long uid, gid;
} ids_t;

struct callers {
    zhashx_t *named; /* "uid:gid" -> named_t */
    zhashx_t *ids;   /* user name -> ids_t */
};

static void named_free(void **item)
{
    named_t *n = *item;
    if (!n)
        return;
    for (size_t i = 0; i < n->ngroups; i++)
        free(n->groups[i]);
    free(n->groups);
    free(n);
    *item = NULL;
}

static void ids_free(void **item)
{
    free(*item);
    *item = NULL;
}

callers_t *callers_new(void)
{
    callers_t *self = mc_calloc(1, sizeof *self);
    self->named = zhashx_new();
    zhashx_set_destructor(self->named, named_free);
    self->ids = zhashx_new();
    zhashx_set_destructor(self->ids, ids_free);
    return self;
}

void callers_destroy(callers_t **pself)
{
    if (*pself) {
        zhashx_destroy(&(*pself)->named);
        zhashx_destroy(&(*pself)->ids);
        free(*pself);
        *pself = NULL;
    }
}

/* The groups of a user (primary gid first), by name; a group without a
   name is left out. */
static void ask_groups(named_t *n, const char *name, unsigned long gid)
{
    int count = 64;
    gid_t *gids = mc_calloc((size_t)count, sizeof *gids);
    if (getgrouplist(name, (gid_t)gid, gids, &count) < 0) {
        gids = mc_realloc(gids, (size_t)count * sizeof *gids);
        if (getgrouplist(name, (gid_t)gid, gids, &count) < 0)
            count = 0;
    }
    n->groups = mc_calloc((size_t)count + 1, sizeof *n->groups);
    for (int i = 0; i < count; i++) {
        struct group gr, *found = NULL;
        char buf[4096];
        if (getgrgid_r(gids[i], &gr, buf, sizeof buf, &found) == 0 && found)
            n->groups[n->ngroups++] = mc_strdup(found->gr_name);
    }
    free(gids);
}

static named_t *ask(unsigned long uid, unsigned long gid, int64_t now_ms)
{
    named_t *n = mc_calloc(1, sizeof *n);
    n->at_ms = now_ms;
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &found) == 0 && found &&
        strlen(found->pw_name) <= MC_USER_MAX) {
        snprintf(n->user, sizeof n->user, "%s", found->pw_name);
        ask_groups(n, found->pw_name, gid);
    } else {
        snprintf(n->user, sizeof n->user, "uid %lu", uid);
        n->groups = mc_calloc(1, sizeof *n->groups);
    }
    return n;
}

void callers_name(callers_t *self, caller_t *who, int64_t now_ms)
{
    char key[48];
    snprintf(key, sizeof key, "%lu:%lu", who->uid, who->gid);
    named_t *n = zhashx_lookup(self->named, key);
    if (n && now_ms - n->at_ms >= CALLERS_TTL_MS) {
        zhashx_delete(self->named, key);
        n = NULL;
    }
    if (!n) {
        if (zhashx_size(self->named) >= CALLERS_MAX)
            zhashx_purge(self->named);
        n = ask(who->uid, who->gid, now_ms);
        zhashx_insert(self->named, key, n);
    }
    snprintf(who->user, sizeof who->user, "%s", n->user);
    who->groups = mc_calloc(n->ngroups + 1, sizeof *who->groups);
    for (size_t i = 0; i < n->ngroups; i++)
        who->groups[i] = mc_strdup(n->groups[i]);
    who->ngroups = n->ngroups;
}

bool callers_ids(callers_t *self, const char *user, unsigned long *uid, unsigned long *gid,
                 int64_t now_ms)
{
    ids_t *n = zhashx_lookup(self->ids, user);
    if (n && now_ms - n->at_ms >= CALLERS_TTL_MS) {
        zhashx_delete(self->ids, user);
        n = NULL;
    }
    if (!n) {
        if (zhashx_size(self->ids) >= CALLERS_MAX)
            zhashx_purge(self->ids);
        n = mc_calloc(1, sizeof *n);
        n->at_ms = now_ms;
        struct passwd pw, *found = NULL;
        char buf[4096];
        if (getpwnam_r(user, &pw, buf, sizeof buf, &found) == 0 && found) {
            n->found = true;
            n->uid = (unsigned long)found->pw_uid;
            n->gid = (unsigned long)found->pw_gid;
        }
        zhashx_insert(self->ids, user, n);
    }
    *uid = n->uid;
    *gid = n->gid;
    return n->found;
}
