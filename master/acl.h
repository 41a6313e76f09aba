/*  acl - who may publish what: Salt's publisher_acl and
    publisher_acl_blacklist, read from the master config.

        publisher_acl:
          alice:                      # a user
            - test.*                  # a function regex, on every minion
            - 'web*':                 # a target (compound syntax) ...
              - cmd.run               # ... and what may run there
              - pkg.install:
                  args: ['nginx.*']   # positional arguments, in order
                  kwargs:
                    refresh: 'True|False'
          ops%:                       # the members of a group
            - 'G@roles:db and not db9':
              - service.*
          carol:
            - '@jobs'                 # every user's jobs, not only her own
            - '@keys'                 # mctl key: list, accept, reject, delete
            - '@deploy'               # mctl deploy: add (and remove) minions
        publisher_acl_blacklist:
          users: ['^guest']           # regexes on the user's name
          modules: ['cmd.*']          # regexes on the function

    As in Salt, function, argument and blacklist patterns are regular
    expressions anchored at the start (Python's re.match; so 'test.*'
    reads as Salt users expect), and a rule's target is a compound
    expression: a job is allowed when one rule allows its function (and
    arguments) on a target that includes every minion the job reaches. The
    blacklist wins over any rule. root and the master's own user are not
    checked here: they may do everything.

    The '@' entries are rights beyond publishing, as Salt's '@wheel' and
    '@jobs' in external_auth: without them a user of the ACL sees only its
    own jobs and may not touch keys or deploy.

    The rules are compiled once, when the config is read; a bad rule is a
    config error that names the line. */
#ifndef MC_ACL_H
#define MC_ACL_H

#include <msgpack.h>

#include "ydoc.h"

typedef struct acl acl_t;

/* The publisher_acl and publisher_acl_blacklist of a master config (doc:
   its whole document). No publisher_acl: no rule, nobody but root and the
   master's user may publish. NULL with err on a bad rule. */
acl_t *acl_new(const mc_yaml_t *doc, mc_err_t *err);
void acl_destroy(acl_t **self);

/* Who asks: a user name and the names of all the groups the user is in. */
typedef struct {
    const char *user;
    const char *const *groups;
    size_t ngroups;
} acl_caller_t;

/* The minions a job would reach: ids and grains (NULL when unknown). */
typedef struct {
    const char *const *ids;
    const msgpack_object *const *grains;
    size_t count;
} acl_minions_t;

/* Whether the caller may run fun with these arguments (arg an array,
   kwarg a map, either NULL for none) on every one of the minions. On
   refusal returns false with why (what was refused, for the caller and
   the log). */
bool acl_allows(const acl_t *self, const acl_caller_t *who, const char *fun,
                const msgpack_object *arg, const msgpack_object *kwarg,
                const acl_minions_t *minions, char *why, size_t cap);

/* Rights beyond publishing ('@' entries). */
enum {
    ACL_RIGHT_JOBS = 1 << 0,   /* '@jobs': every user's jobs (list, show, wait, kill) */
    ACL_RIGHT_KEYS = 1 << 1,   /* '@keys': every key request */
    ACL_RIGHT_DEPLOY = 1 << 2, /* '@deploy': the master's key, key list, preseed, delete,
                                  and test.ping (to see a minion it installs answer) */
};
/* Whether publisher_acl_blacklist's modules name fun (for everyone). */
bool acl_fun_blacklisted(const acl_t *self, const char *fun);

/* The rights the rules give the caller (none to a blacklisted user). */
unsigned acl_rights(const acl_t *self, const acl_caller_t *who);

/* Whether any rule names the caller (a user of the ACL at all). */
bool acl_names(const acl_t *self, const acl_caller_t *who);

/* The number of rules, for the log. */
size_t acl_rule_count(const acl_t *self);

#endif
