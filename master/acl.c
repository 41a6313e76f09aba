/*  acl - see acl.h. Each entry of publisher_acl becomes rules of one
    shape: who (a user, or a group), a compiled target (or none: every
    minion) and the functions allowed there, each with its optional
    argument patterns. A job is checked against the rules in order and the
    first that allows it wins; when none does, the refusal names the
    furthest any rule got (no rule for the caller, the function, its
    arguments, or a minion outside the rule's target). */
#include "acl.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

typedef struct {
    pcre2_code *re;
    char *text;
} pattern_t;

typedef struct {
    pattern_t fun;
    bool restricted; /* an args/kwargs spec was given: arguments must match it */
    pattern_t *args;
    size_t nargs;
    char **kw_keys;
    pattern_t *kw_vals;
    size_t nkw;
} fun_rule_t;

typedef struct {
    char *who;
    bool group;
    unsigned rights;     /* ACL_RIGHT_*: an '@' entry (then no target, no functions) */
    mc_target_t *target; /* NULL: every minion */
    char *target_text;
    fun_rule_t *funs;
    size_t nfuns;
} rule_t;

struct acl {
    rule_t *rules;
    size_t nrules;
    pattern_t *bl_users, *bl_mods;
    size_t nbl_users, nbl_mods;
};

/* ---- patterns ------------------------------------------------------------ */

static int pattern_compile(pattern_t *p, const char *text, int line, const char *what,
                           mc_err_t *err)
{
    int code;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED | PCRE2_UTF,
                          &code, &off, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        mc_err_set(err, "master: line %d: %s: '%s' is not a regular expression: %s", line, what,
                   text, (const char *)msg);
        return -1;
    }
    p->text = mc_strdup(text);
    return 0;
}

static void pattern_free(pattern_t *p)
{
    pcre2_code_free(p->re);
    free(p->text);
}

static bool pattern_match(const pattern_t *p, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    int rc = pcre2_match(p->re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static bool any_match(const pattern_t *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (pattern_match(&list[i], s, strlen(s)))
            return true;
    return false;
}

/* ---- parsing ------------------------------------------------------------- */

static void fun_rule_free(fun_rule_t *f)
{
    pattern_free(&f->fun);
    for (size_t i = 0; i < f->nargs; i++)
        pattern_free(&f->args[i]);
    free(f->args);
    for (size_t i = 0; i < f->nkw; i++) {
        free(f->kw_keys[i]);
        pattern_free(&f->kw_vals[i]);
    }
    free(f->kw_keys);
    free(f->kw_vals);
}

static void rule_free(rule_t *r)
{
    free(r->who);
    mc_target_destroy(&r->target);
    free(r->target_text);
    for (size_t i = 0; i < r->nfuns; i++)
        fun_rule_free(&r->funs[i]);
    free(r->funs);
}

static rule_t *add_rule(acl_t *self, const char *who)
{
    self->rules = mc_realloc(self->rules, (self->nrules + 1) * sizeof *self->rules);
    rule_t *r = &self->rules[self->nrules++];
    memset(r, 0, sizeof *r);
    size_t n = strlen(who);
    r->group = n > 1 && who[n - 1] == '%';
    r->who = mc_strdup(who);
    if (r->group)
        r->who[n - 1] = '\0';
    return r;
}

static fun_rule_t *add_fun(rule_t *r)
{
    r->funs = mc_realloc(r->funs, (r->nfuns + 1) * sizeof *r->funs);
    fun_rule_t *f = &r->funs[r->nfuns++];
    memset(f, 0, sizeof *f);
    return f;
}

/* {args: [regex, ...], kwargs: {name: regex, ...}} for the function f. */
static int parse_arg_spec(fun_rule_t *f, const mc_yaml_t *spec, mc_err_t *err)
{
    f->restricted = true;
    for (size_t i = 0; i < spec->count; i++) {
        const mc_yaml_t *part = spec->items[i];
        if (strcmp(part->key, "args") == 0 && part->kind == MC_YAML_LIST && !f->args) {
            f->args = mc_calloc(part->count + 1, sizeof *f->args);
            /* Counted before each is compiled, so that a failure frees
               what is there. */
            for (size_t k = 0; k < part->count; k++) {
                const mc_yaml_t *a = part->items[k];
                f->nargs++;
                if (a->kind != MC_YAML_SCALAR) {
                    mc_err_set(err, "master: line %d: publisher_acl: args: expected regexes",
                               a->line);
                    return -1;
                }
                if (pattern_compile(&f->args[k], a->value, a->line, "publisher_acl: args", err))
                    return -1;
            }
        } else if (strcmp(part->key, "kwargs") == 0 && part->kind == MC_YAML_MAP && !f->kw_keys) {
            f->kw_keys = mc_calloc(part->count + 1, sizeof *f->kw_keys);
            f->kw_vals = mc_calloc(part->count + 1, sizeof *f->kw_vals);
            for (size_t k = 0; k < part->count; k++) {
                const mc_yaml_t *a = part->items[k];
                f->nkw++;
                if (a->kind != MC_YAML_SCALAR) {
                    mc_err_set(err, "master: line %d: publisher_acl: kwargs: %s: expected a regex",
                               a->line, a->key);
                    return -1;
                }
                f->kw_keys[k] = mc_strdup(a->key);
                if (pattern_compile(&f->kw_vals[k], a->value, a->line, "publisher_acl: kwargs",
                                    err))
                    return -1;
            }
        } else {
            mc_err_set(err,
                       "master: line %d: publisher_acl: %s: expected args (a list) or kwargs "
                       "(a map), once each",
                       part->line, part->key);
            return -1;
        }
    }
    return 0;
}

/* One function entry: "regex", or {regex: {args: ..., kwargs: ...}}. */
static int parse_fun(rule_t *r, const mc_yaml_t *item, mc_err_t *err)
{
    if (item->kind == MC_YAML_SCALAR)
        return pattern_compile(&add_fun(r)->fun, item->value, item->line, "publisher_acl", err);
    if (item->kind == MC_YAML_MAP && item->count == 1 && item->items[0]->kind == MC_YAML_MAP) {
        const mc_yaml_t *spec = item->items[0];
        fun_rule_t *f = add_fun(r);
        if (pattern_compile(&f->fun, spec->key, spec->line, "publisher_acl", err))
            return -1;
        return parse_arg_spec(f, spec, err);
    }
    mc_err_set(err,
               "master: line %d: publisher_acl: expected a function, or a function with its "
               "args and kwargs",
               item->line);
    return -1;
}

static unsigned right_named(const char *name)
{
    if (strcmp(name, "@jobs") == 0)
        return ACL_RIGHT_JOBS;
    if (strcmp(name, "@keys") == 0)
        return ACL_RIGHT_KEYS;
    if (strcmp(name, "@deploy") == 0)
        return ACL_RIGHT_DEPLOY;
    return 0;
}

/* The entries of one user or group: functions everywhere, or
   {target: [functions]}. */
static int parse_entries(acl_t *self, const mc_yaml_t *who, mc_err_t *err)
{
    if (who->kind != MC_YAML_LIST) {
        mc_err_set(err, "master: line %d: publisher_acl: %s: expected a list", who->line, who->key);
        return -1;
    }
    for (size_t i = 0; i < who->count; i++) {
        const mc_yaml_t *item = who->items[i];
        bool targeted =
            item->kind == MC_YAML_MAP && item->count == 1 && item->items[0]->kind == MC_YAML_LIST;
        rule_t *r = add_rule(self, who->key);
        if (item->kind == MC_YAML_SCALAR && item->value[0] == '@') {
            r->rights = right_named(item->value);
            if (!r->rights) {
                mc_err_set(err,
                           "master: line %d: publisher_acl: %s: '%s' is not a right (expected "
                           "@jobs, @keys or @deploy)",
                           item->line, who->key, item->value);
                return -1;
            }
            continue;
        }
        if (!targeted) {
            if (parse_fun(r, item, err) != 0)
                return -1;
            continue;
        }
        const mc_yaml_t *funs = item->items[0];
        r->target_text = mc_strdup(funs->key);
        r->target = mc_target_compile(funs->key, "compound", ':', err);
        if (!r->target) {
            mc_err_prefix(err, "master: line %d: publisher_acl: target '%s'", item->line,
                          funs->key);
            return -1;
        }
        for (size_t k = 0; k < funs->count; k++)
            if (parse_fun(r, funs->items[k], err) != 0)
                return -1;
    }
    return 0;
}

static int parse_list(const mc_yaml_t *list, const char *what, pattern_t **out, size_t *n,
                      mc_err_t *err)
{
    if (!list)
        return 0;
    if (list->kind != MC_YAML_LIST) {
        mc_err_set(err, "master: line %d: %s: expected a list of regexes", list->line, what);
        return -1;
    }
    *out = mc_calloc(list->count + 1, sizeof **out);
    for (size_t i = 0; i < list->count; i++, (*n)++) {
        const mc_yaml_t *item = list->items[i];
        if (item->kind != MC_YAML_SCALAR) {
            mc_err_set(err, "master: line %d: %s: expected a regex", item->line, what);
            return -1;
        }
        if (pattern_compile(&(*out)[i], item->value, item->line, what, err) != 0)
            return -1;
    }
    return 0;
}

acl_t *acl_new(const mc_yaml_t *doc, mc_err_t *err)
{
    acl_t *self = mc_calloc(1, sizeof *self);
    const mc_yaml_t *acl = doc ? mc_yaml_get(doc, "publisher_acl") : NULL;
    const mc_yaml_t *bl = doc ? mc_yaml_get(doc, "publisher_acl_blacklist") : NULL;
    if (acl && acl->kind != MC_YAML_MAP) {
        mc_err_set(err, "master: line %d: publisher_acl: expected a map of users and groups",
                   acl->line);
        goto fail;
    }
    for (size_t i = 0; acl && i < acl->count; i++)
        if (parse_entries(self, acl->items[i], err) != 0)
            goto fail;
    if (bl && bl->kind != MC_YAML_MAP) {
        mc_err_set(err, "master: line %d: publisher_acl_blacklist: expected users and modules",
                   bl->line);
        goto fail;
    }
    for (size_t i = 0; bl && i < bl->count; i++) {
        const mc_yaml_t *part = bl->items[i];
        if (strcmp(part->key, "users") == 0) {
            if (parse_list(part, "publisher_acl_blacklist: users", &self->bl_users,
                           &self->nbl_users, err) != 0)
                goto fail;
        } else if (strcmp(part->key, "modules") == 0) {
            if (parse_list(part, "publisher_acl_blacklist: modules", &self->bl_mods,
                           &self->nbl_mods, err) != 0)
                goto fail;
        } else {
            mc_err_set(err,
                       "master: line %d: publisher_acl_blacklist: %s: expected users or "
                       "modules",
                       part->line, part->key);
            goto fail;
        }
    }
    return self;
fail:
    acl_destroy(&self);
    return NULL;
}

void acl_destroy(acl_t **self)
{
    acl_t *a = *self;
    if (!a)
        return;
    for (size_t i = 0; i < a->nrules; i++)
        rule_free(&a->rules[i]);
    free(a->rules);
    for (size_t i = 0; i < a->nbl_users; i++)
        pattern_free(&a->bl_users[i]);
    free(a->bl_users);
    for (size_t i = 0; i < a->nbl_mods; i++)
        pattern_free(&a->bl_mods[i]);
    free(a->bl_mods);
    free(a);
    *self = NULL;
}

size_t acl_rule_count(const acl_t *self)
{
    return self->nrules;
}

/* ---- checking ------------------------------------------------------------ */

/* The caller's group names, sorted: each group rule is then one binary
   search, so many rules for a user of many groups stay cheap. */
typedef struct {
    const char **names;
    size_t n;
} groupset_t;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static groupset_t groupset_of(const acl_caller_t *who)
{
    groupset_t g = {mc_calloc(who->ngroups + 1, sizeof *g.names), who->ngroups};
    if (g.n) {
        memcpy(g.names, who->groups, g.n * sizeof *g.names);
        qsort(g.names, g.n, sizeof *g.names, cmp_name);
    }
    return g;
}

static bool rule_applies(const rule_t *r, const acl_caller_t *who, const groupset_t *g)
{
    if (!r->group)
        return strcmp(r->who, who->user) == 0;
    const char *name = r->who;
    return g->n && bsearch(&name, g->names, g->n, sizeof *g->names, cmp_name);
}

bool acl_fun_blacklisted(const acl_t *self, const char *fun)
{
    return any_match(self->bl_mods, self->nbl_mods, fun);
}

unsigned acl_rights(const acl_t *self, const acl_caller_t *who)
{
    if (any_match(self->bl_users, self->nbl_users, who->user))
        return 0;
    groupset_t g = groupset_of(who);
    unsigned rights = 0;
    for (size_t i = 0; i < self->nrules; i++)
        if (rule_applies(&self->rules[i], who, &g))
            rights |= self->rules[i].rights;
    free(g.names);
    return rights;
}

bool acl_names(const acl_t *self, const acl_caller_t *who)
{
    groupset_t g = groupset_of(who);
    bool named = false;
    for (size_t i = 0; i < self->nrules && !named; i++)
        named = rule_applies(&self->rules[i], who, &g);
    free(g.names);
    return named;
}

/* An argument as Salt's str() would give it, for the patterns: strings as
   they are, numbers and booleans as text; anything else matches nothing. */
static bool arg_text(const msgpack_object *o, char *buf, size_t cap, const char **s, size_t *len)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        *s = o->via.str.ptr, *len = o->via.str.size;
        return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *len = (size_t)snprintf(buf, cap, "%llu", (unsigned long long)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *len = (size_t)snprintf(buf, cap, "%lld", (long long)o->via.i64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        *len = (size_t)snprintf(buf, cap, "%s", o->via.boolean ? "True" : "False");
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *len = (size_t)snprintf(buf, cap, "%g", o->via.f64);
        break;
    default:
        return false;
    }
    *s = buf;
    return true;
}

static bool arg_matches(const pattern_t *p, const msgpack_object *o)
{
    char buf[64];
    const char *s;
    size_t len;
    return arg_text(o, buf, sizeof buf, &s, &len) && pattern_match(p, s, len);
}

/* With an args/kwargs spec, every argument given must match its pattern
   (positional ones by place, keyword ones by name). */
static bool args_allowed(const fun_rule_t *f, const msgpack_object *arg,
                         const msgpack_object *kwarg)
{
    if (!f->restricted)
        return true;
    size_t nargs = arg && arg->type == MSGPACK_OBJECT_ARRAY ? arg->via.array.size : 0;
    for (size_t i = 0; i < nargs; i++)
        if (i >= f->nargs || !arg_matches(&f->args[i], &arg->via.array.ptr[i]))
            return false;
    size_t nkw = kwarg && kwarg->type == MSGPACK_OBJECT_MAP ? kwarg->via.map.size : 0;
    for (size_t i = 0; i < nkw; i++) {
        const msgpack_object_kv *kv = &kwarg->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            return false;
        size_t k = 0;
        while (k < f->nkw && (strlen(f->kw_keys[k]) != kv->key.via.str.size ||
                              memcmp(f->kw_keys[k], kv->key.via.str.ptr, kv->key.via.str.size)))
            k++;
        if (k == f->nkw || !arg_matches(&f->kw_vals[k], &kv->val))
            return false;
    }
    return true;
}

/* How far a rule got, for the refusal: the furthest wins. */
enum { GOT_NO_RULE, GOT_RULE, GOT_FUN, GOT_ARGS };

bool acl_allows(const acl_t *self, const acl_caller_t *who, const char *fun,
                const msgpack_object *arg, const msgpack_object *kwarg,
                const acl_minions_t *minions, char *why, size_t cap)
{
    if (any_match(self->bl_users, self->nbl_users, who->user)) {
        snprintf(why, cap, "user %s may not publish (publisher_acl_blacklist)", who->user);
        return false;
    }
    if (any_match(self->bl_mods, self->nbl_mods, fun)) {
        snprintf(why, cap, "%s may not be run by %s (publisher_acl_blacklist)", fun, who->user);
        return false;
    }
    int got = GOT_NO_RULE;
    const char *outside = NULL;
    groupset_t g = groupset_of(who);
    for (size_t i = 0; i < self->nrules; i++) {
        const rule_t *r = &self->rules[i];
        if (!rule_applies(r, who, &g))
            continue;
        if (got < GOT_RULE)
            got = GOT_RULE;
        for (size_t k = 0; k < r->nfuns; k++) {
            const fun_rule_t *f = &r->funs[k];
            if (!pattern_match(&f->fun, fun, strlen(fun)))
                continue;
            if (got < GOT_FUN)
                got = GOT_FUN;
            if (!args_allowed(f, arg, kwarg))
                continue;
            got = GOT_ARGS;
            size_t m = 0;
            while (r->target && m < minions->count &&
                   mc_target_eval(r->target, minions->ids[m], minions->grains[m]))
                m++;
            if (!r->target || m == minions->count) {
                free(g.names);
                return true;
            }
            if (!outside)
                outside = minions->ids[m];
        }
    }
    free(g.names);
    switch (got) {
    case GOT_NO_RULE:
        snprintf(why, cap,
                 "user %s may not publish: no publisher_acl rule names the user or a "
                 "group of the user",
                 who->user);
        break;
    case GOT_RULE:
        snprintf(why, cap, "user %s may not run %s (publisher_acl)", who->user, fun);
        break;
    case GOT_FUN:
        snprintf(why, cap, "user %s may not run %s with these arguments (publisher_acl)", who->user,
                 fun);
        break;
    default:
        snprintf(why, cap, "user %s may not run %s on %s (publisher_acl)", who->user, fun,
                 outside ? outside : "these minions");
    }
    return false;
}
