/*  target - see target.h.

    A compiled target is a small tree: leaves are single matchers (glob,
    list, regex on the id, grain glob or regex, subnet), inner nodes are
    and / or / not. The compound parser is recursive descent over the
    white-space separated words with Salt's precedence, not > and > or.
    Regexes are compiled once, at compile time, so evaluating a target
    against a thousand minions costs no compilation. */
#include "target.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"

#define MAX_WORDS     4096
#define MAX_NESTING   64
#define MAX_EXPANSION 16

typedef enum { N_GLOB, N_LIST, N_PCRE, N_GRAIN, N_GRAIN_PCRE, N_CIDR, N_AND, N_OR, N_NOT } kind_t;

typedef struct node node_t;
struct node {
    kind_t kind;
    char *text;            /* the pattern */
    pcre2_code *re;        /* N_PCRE */
    pcre2_code **split_re; /* N_GRAIN_PCRE: one per key/value split */
    int splits;
    unsigned char net[16]; /* N_CIDR */
    int family, prefix;
    node_t *a, *b;
};

struct _mc_target_t {
    node_t *root;
    char delim;
};

static const char *kinds[] = {"glob",       "list",   "pcre",     "grain",
                              "grain_pcre", "ipcidr", "compound", "nodegroup"};

bool mc_target_kind_valid(const char *tgt_type)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i], tgt_type) == 0)
            return true;
    return false;
}

static void node_free(node_t *n)
{
    if (!n)
        return;
    node_free(n->a);
    node_free(n->b);
    pcre2_code_free(n->re);
    for (int i = 0; n->split_re && i < n->splits; i++)
        pcre2_code_free(n->split_re[i]);
    free(n->split_re);
    free(n->text);
    free(n);
}

void mc_target_destroy(mc_target_t **self)
{
    if (!*self)
        return;
    node_free((*self)->root);
    free(*self);
    *self = NULL;
}

/* ---- leaves ------------------------------------------------------------- */

static pcre2_code *compile_re(const char *pattern, uint32_t flags, const char *what, size_t pos,
                              mc_err_t *err)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_ANCHORED | PCRE2_UTF | flags, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        mc_err_set(err, "%s: position %zu: bad regular expression: %s", what, pos + off + 1,
                   (const char *)msg);
    }
    return re;
}

static bool re_match(const pcre2_code *re, const char *s, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static int count_splits(const char *text, char delim)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == delim;
    return n;
}

/* The pattern part of split i: what follows the (i+1)-th delimiter. */
static const char *split_pattern(const char *text, char delim, int i)
{
    const char *p = text;
    for (int k = 0; k <= i; k++)
        p = strchr(p, delim) + 1;
    return p;
}

static int parse_cidr(node_t *n, const char *what, size_t pos, mc_err_t *err)
{
    char addr[64];
    const char *slash = strchr(n->text, '/');
    size_t len = slash ? (size_t)(slash - n->text) : strlen(n->text);
    if (len >= sizeof addr)
        goto bad;
    memcpy(addr, n->text, len);
    addr[len] = '\0';
    if (inet_pton(AF_INET, addr, n->net) == 1)
        n->family = AF_INET;
    else if (inet_pton(AF_INET6, addr, n->net) == 1)
        n->family = AF_INET6;
    else
        goto bad;
    int max = n->family == AF_INET ? 32 : 128;
    n->prefix = max;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || p < 0 || p > max)
            goto bad;
        n->prefix = (int)p;
    }
    return 0;
bad:
    mc_err_set(err, "%s: position %zu: '%s' is not an address or CIDR", what, pos + 1, n->text);
    return -1;
}

static node_t *leaf(kind_t kind, const char *text, size_t len, char delim, const char *what,
                    size_t pos, mc_err_t *err)
{
    node_t *n = mc_calloc(1, sizeof *n);
    n->kind = kind;
    n->text = mc_strndup(text, len);
    if (!n->text[0]) {
        mc_err_set(err, "%s: position %zu: empty pattern", what, pos + 1);
        goto fail;
    }
    switch (kind) {
    case N_PCRE:
        n->re = compile_re(n->text, 0, what, pos, err);
        if (!n->re)
            goto fail;
        break;
    case N_GRAIN:
    case N_GRAIN_PCRE:
        n->splits = count_splits(n->text, delim);
        if (n->splits == 0) {
            mc_err_set(err, "%s: position %zu: '%s' is not KEY%cVALUE", what, pos + 1, n->text,
                       delim);
            goto fail;
        }
        if (kind == N_GRAIN_PCRE) {
            n->split_re = mc_calloc((size_t)n->splits, sizeof *n->split_re);
            for (int i = 0; i < n->splits; i++) {
                const char *pat = split_pattern(n->text, delim, i);
                n->split_re[i] =
                    compile_re(pat, PCRE2_CASELESS, what, pos + (size_t)(pat - n->text), err);
                if (!n->split_re[i] && i == n->splits - 1)
                    goto fail; /* only the value after the last delimiter must compile */
            }
        }
        break;
    case N_CIDR:
        if (parse_cidr(n, what, pos, err) != 0)
            goto fail;
        break;
    default:
        break;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

/* ---- evaluation ---------------------------------------------------------- */

static bool list_contains(const char *list, const char *id)
{
    size_t idlen = strlen(id);
    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n == idlen && memcmp(p, id, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* A scalar as Python's str() would print it, lower-cased for matching. */
static char *scalar_text(const msgpack_object *v)
{
    char buf[64];
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        return mc_strndup(v->via.str.ptr, v->via.str.size);
    case MSGPACK_OBJECT_BIN:
        return mc_strndup(v->via.bin.ptr, v->via.bin.size);
    case MSGPACK_OBJECT_BOOLEAN:
        return mc_strdup(v->via.boolean ? "true" : "false");
    case MSGPACK_OBJECT_NIL:
        return mc_strdup("none");
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v->via.u64);
        return mc_strdup(buf);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(buf, sizeof buf, "%lld", (long long)v->via.i64);
        return mc_strdup(buf);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        snprintf(buf, sizeof buf, "%g", v->via.f64);
        return mc_strdup(buf);
    default:
        return NULL;
    }
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Salt's _match: a value (scalar, list of values, or map keys) against a
   glob (case-insensitive) or an anchored, caseless regex. */
static bool value_matches(const msgpack_object *v, const char *glob, const pcre2_code *re,
                          int depth)
{
    if (depth > 8)
        return false;
    if (v->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < v->via.array.size; i++)
            if (value_matches(&v->via.array.ptr[i], glob, re, depth + 1))
                return true;
        return false;
    }
    if (v->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < v->via.map.size; i++)
            if (value_matches(&v->via.map.ptr[i].key, glob, re, depth + 1))
                return true;
        return false;
    }
    char *text = scalar_text(v);
    if (!text)
        return false;
    bool ok;
    if (re) {
        ok = re_match(re, text, strlen(text));
    } else {
        char *pat = mc_strdup(glob);
        lower(text);
        lower(pat);
        ok = fnmatch(pat, text, 0) == 0;
        free(pat);
    }
    free(text);
    return ok;
}

/* Does the value at key (nested by delim) match? Maps are followed by
   key; a list is indexed by number, or searched for maps that hold the
   rest of the key, as Salt's subdict_match does. */
static bool path_matches(const msgpack_object *node, const char *p, const char *end, char delim,
                         const char *glob, const pcre2_code *re, int depth)
{
    if (p > end)
        return value_matches(node, glob, re, 0);
    if (depth > 32)
        return false;
    const char *q = memchr(p, delim, (size_t)(end - p));
    size_t n = q ? (size_t)(q - p) : (size_t)(end - p);
    const char *rest = q ? q + 1 : end + 1;
    if (node->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < node->via.map.size; i++) {
            const msgpack_object *k = &node->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
                memcmp(k->via.str.ptr, p, n) == 0)
                return path_matches(&node->via.map.ptr[i].val, rest, end, delim, glob, re,
                                    depth + 1);
        }
        return false;
    }
    if (node->type != MSGPACK_OBJECT_ARRAY)
        return false;
    char idx[16];
    if (n > 0 && n < sizeof idx) {
        memcpy(idx, p, n);
        idx[n] = '\0';
        char *e;
        long i = strtol(idx, &e, 10);
        if (!*e && i >= 0 && (uint32_t)i < node->via.array.size &&
            path_matches(&node->via.array.ptr[i], rest, end, delim, glob, re, depth + 1))
            return true;
    }
    for (uint32_t i = 0; i < node->via.array.size; i++)
        if (node->via.array.ptr[i].type == MSGPACK_OBJECT_MAP &&
            path_matches(&node->via.array.ptr[i], p, end, delim, glob, re, depth + 1))
            return true;
    return false;
}

/* Salt's subdict_match: try every split of "a:b:c" into key and value. */
static bool grain_matches(const node_t *n, const msgpack_object *grains, char delim)
{
    if (!grains || grains->type != MSGPACK_OBJECT_MAP)
        return false;
    for (int i = 0; i < n->splits; i++) {
        const char *pat = split_pattern(n->text, delim, i);
        if (n->kind == N_GRAIN_PCRE && !n->split_re[i])
            continue;
        if (path_matches(grains, n->text, pat - 1, delim, pat,
                         n->kind == N_GRAIN_PCRE ? n->split_re[i] : NULL, 0))
            return true;
    }
    return false;
}

static bool in_subnet(const node_t *n, const char *addr)
{
    unsigned char a[16];
    if (inet_pton(n->family, addr, a) != 1)
        return false;
    int full = n->prefix / 8, rest = n->prefix % 8;
    if (memcmp(a, n->net, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (n->net[full] & mask);
}

static bool cidr_matches(const node_t *n, const msgpack_object *grains)
{
    const msgpack_object *ips = mc_mp_get(grains, n->family == AF_INET ? "ipv4" : "ipv6");
    if (!ips || ips->type != MSGPACK_OBJECT_ARRAY)
        return false;
    for (uint32_t i = 0; i < ips->via.array.size; i++) {
        const msgpack_object *ip = &ips->via.array.ptr[i];
        if (ip->type != MSGPACK_OBJECT_STR || ip->via.str.size >= 64)
            continue;
        char buf[64];
        memcpy(buf, ip->via.str.ptr, ip->via.str.size);
        buf[ip->via.str.size] = '\0';
        if (in_subnet(n, buf))
            return true;
    }
    return false;
}

static bool eval(const node_t *n, const char *id, const msgpack_object *grains, char delim)
{
    switch (n->kind) {
    case N_GLOB:
        return fnmatch(n->text, id, 0) == 0;
    case N_LIST:
        return list_contains(n->text, id);
    case N_PCRE:
        return re_match(n->re, id, strlen(id));
    case N_GRAIN:
    case N_GRAIN_PCRE:
        return grain_matches(n, grains, delim);
    case N_CIDR:
        return grains && cidr_matches(n, grains);
    case N_AND:
        return eval(n->a, id, grains, delim) && eval(n->b, id, grains, delim);
    case N_OR:
        return eval(n->a, id, grains, delim) || eval(n->b, id, grains, delim);
    case N_NOT:
        return !eval(n->a, id, grains, delim);
    }
    return false;
}

bool mc_target_eval(const mc_target_t *self, const char *id, const msgpack_object *grains)
{
    return eval(self->root, id, grains, self->delim);
}

/* ---- the compound parser ------------------------------------------------- */

typedef struct {
    const char *text;
    size_t pos;
    size_t len;
} word_t;

typedef struct {
    word_t *w;
    int n, i, depth;
    char delim;
    mc_err_t *err;
} parser_t;

static bool word_is(const word_t *w, const char *s)
{
    return w->len == strlen(s) && memcmp(w->text, s, w->len) == 0;
}

static bool is_operator(const word_t *w)
{
    return word_is(w, "and") || word_is(w, "or") || word_is(w, "not") || word_is(w, "(") ||
           word_is(w, ")");
}

static node_t *parse_or(parser_t *p);

static node_t *join(kind_t kind, node_t *a, node_t *b)
{
    node_t *n = mc_calloc(1, sizeof *n);
    n->kind = kind;
    n->a = a;
    n->b = b;
    return n;
}

static void fail_at(parser_t *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(parser_t *p, size_t pos, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    mc_err_set(p->err, "compound target: position %zu: %s", pos + 1, what);
}

static node_t *parse_match_word(parser_t *p, const word_t *w)
{
    static const struct {
        char prefix;
        kind_t kind;
    } prefixes[] = {
        {'G', N_GRAIN}, {'P', N_GRAIN_PCRE}, {'E', N_PCRE}, {'L', N_LIST}, {'S', N_CIDR}};
    if (w->len >= 2 && w->text[1] == '@') {
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
            if (w->text[0] == prefixes[i].prefix)
                return leaf(prefixes[i].kind, w->text + 2, w->len - 2, p->delim, "compound target",
                            w->pos + 2, p->err);
        if (w->text[0] == 'N')
            fail_at(p, w->pos,
                    "nodegroup '%.*s' was not expanded (nodegroups are resolved "
                    "on the master)",
                    (int)(w->len), w->text);
        else
            fail_at(p, w->pos, "unknown prefix '%.*s'", (int)(2), w->text);
        return NULL;
    }
    return leaf(N_GLOB, w->text, w->len, p->delim, "compound target", w->pos, p->err);
}

/* unary := "not" unary | "(" or ")" | match */
static node_t *parse_unary(parser_t *p)
{
    if (p->i >= p->n) {
        size_t end = p->n ? p->w[p->n - 1].pos + p->w[p->n - 1].len : 0;
        fail_at(p, end, "expression ends where a match was expected");
        return NULL;
    }
    word_t *w = &p->w[p->i];
    if (word_is(w, "not")) {
        p->i++;
        node_t *a = parse_unary(p);
        return a ? join(N_NOT, a, NULL) : NULL;
    }
    if (word_is(w, "(")) {
        if (++p->depth > MAX_NESTING) {
            fail_at(p, w->pos, "parentheses nested too deeply");
            return NULL;
        }
        p->i++;
        node_t *a = parse_or(p);
        if (!a)
            return NULL;
        if (p->i >= p->n || !word_is(&p->w[p->i], ")")) {
            node_free(a);
            fail_at(p, w->pos, "'(' is never closed");
            return NULL;
        }
        p->depth--;
        p->i++;
        return a;
    }
    if (is_operator(w)) {
        fail_at(p, w->pos, "unexpected '%.*s'", (int)(w->len), w->text);
        return NULL;
    }
    p->i++;
    return parse_match_word(p, w);
}

/* and := unary (("and" | "not"-as-"and not") unary)* */
static node_t *parse_and(parser_t *p)
{
    node_t *left = parse_unary(p);
    while (left && p->i < p->n) {
        word_t *w = &p->w[p->i];
        if (word_is(w, "and")) {
            p->i++;
        } else if (!word_is(w, "not")) {
            if (!is_operator(w)) {
                fail_at(p, w->pos, "expected 'and' or 'or' before '%.*s'", (int)(w->len), w->text);
                node_free(left);
                return NULL;
            }
            break;
        }
        node_t *right = parse_unary(p);
        if (!right) {
            node_free(left);
            return NULL;
        }
        left = join(N_AND, left, right);
    }
    return left;
}

static node_t *parse_or(parser_t *p)
{
    node_t *left = parse_and(p);
    while (left && p->i < p->n && word_is(&p->w[p->i], "or")) {
        p->i++;
        node_t *right = parse_and(p);
        if (!right) {
            node_free(left);
            return NULL;
        }
        left = join(N_OR, left, right);
    }
    return left;
}

static node_t *parse_compound(const char *tgt, char delim, mc_err_t *err)
{
    word_t *words = mc_calloc(MAX_WORDS, sizeof *words);
    int n = 0;
    for (const char *s = tgt; *s;) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        if (n == MAX_WORDS) {
            mc_err_set(err, "compound target: more than %d words", MAX_WORDS);
            free(words);
            return NULL;
        }
        const char *start = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        words[n++] = (word_t){start, (size_t)(start - tgt), (size_t)(s - start)};
    }
    parser_t p = {.w = words, .n = n, .delim = delim, .err = err};
    node_t *root = NULL;
    if (n == 0) {
        mc_err_set(err, "compound target: empty expression");
    } else if (word_is(&words[0], "and") || word_is(&words[0], "or")) {
        fail_at(&p, words[0].pos, "the expression cannot start with '%.*s'", (int)words[0].len,
                words[0].text);
    } else {
        root = parse_or(&p);
        if (root && p.i < p.n) {
            fail_at(&p, words[p.i].pos, "unexpected '%.*s'", (int)(words[p.i].len),
                    words[p.i].text);
            node_free(root);
            root = NULL;
        }
    }
    free(words);
    return root;
}

/* ---- public -------------------------------------------------------------- */

mc_target_t *mc_target_compile(const char *tgt, const char *tgt_type, char delim, mc_err_t *err)
{
    if (!delim)
        delim = ':';
    if (!mc_target_kind_valid(tgt_type)) {
        mc_err_set(err, "unknown target type '%s'", tgt_type);
        return NULL;
    }
    size_t len = strlen(tgt);
    size_t lead = strspn(tgt, " \t\r\n");
    if (lead == len) {
        mc_err_set(err, "empty target");
        return NULL;
    }
    node_t *root = NULL;
    if (strcmp(tgt_type, "compound") == 0)
        root = parse_compound(tgt, delim, err);
    else if (strcmp(tgt_type, "nodegroup") == 0)
        mc_err_set(err, "nodegroup '%s' was not expanded (nodegroups are resolved on the master)",
                   tgt);
    else {
        static const struct {
            const char *name;
            kind_t kind;
        } simple[] = {{"glob", N_GLOB},
                      {"list", N_LIST},
                      {"pcre", N_PCRE},
                      {"grain", N_GRAIN},
                      {"grain_pcre", N_GRAIN_PCRE},
                      {"ipcidr", N_CIDR}};
        for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
            if (strcmp(simple[i].name, tgt_type) == 0)
                root = leaf(simple[i].kind, tgt, len, delim, tgt_type, 0, err);
    }
    if (!root)
        return NULL;
    mc_target_t *self = mc_calloc(1, sizeof *self);
    self->root = root;
    self->delim = delim;
    return self;
}

int mc_target_validate(const char *tgt, const char *tgt_type, mc_err_t *err)
{
    mc_target_t *t = mc_target_compile(tgt, tgt_type, ':', err);
    if (!t)
        return -1;
    mc_target_destroy(&t);
    return 0;
}

bool mc_target_match(const char *tgt, const char *tgt_type, const char *id,
                     const msgpack_object *grains)
{
    mc_target_t *t = mc_target_compile(tgt, tgt_type, ':', NULL);
    if (!t)
        return false;
    bool ok = mc_target_eval(t, id, grains);
    mc_target_destroy(&t);
    return ok;
}

static int expand_into(mc_buf_t *out, const char *tgt, bool whole_group, mc_nodegroup_fn *group_of,
                       void *arg, int depth, mc_err_t *err)
{
    if (depth > MAX_EXPANSION) {
        mc_err_set(err, "nodegroups nest more than %d deep (a group that names itself?)",
                   MAX_EXPANSION);
        return -1;
    }
    if (whole_group) {
        const char *expr = group_of ? group_of(arg, tgt) : NULL;
        if (!expr) {
            mc_err_set(err, "no nodegroup named '%s' in the master config", tgt);
            return -1;
        }
        mc_buf_append(out, "( ", 2);
        int rc = expand_into(out, expr, false, group_of, arg, depth + 1, err);
        mc_buf_append(out, " )", 2);
        return rc;
    }
    for (const char *s = tgt; *s;) {
        size_t sp = strspn(s, " \t\r\n");
        s += sp;
        if (!*s)
            break;
        size_t n = strcspn(s, " \t\r\n");
        if (out->len && out->data[out->len - 1] != ' ')
            mc_buf_append(out, " ", 1);
        if (n > 2 && s[0] == 'N' && s[1] == '@') {
            char *name = mc_strndup(s + 2, n - 2);
            int rc = expand_into(out, name, true, group_of, arg, depth + 1, err);
            free(name);
            if (rc != 0)
                return -1;
        } else {
            mc_buf_append(out, s, n);
        }
        s += n;
    }
    return 0;
}

char *mc_target_expand(const char *tgt, const char *tgt_type, mc_nodegroup_fn *group_of, void *arg,
                       mc_err_t *err)
{
    bool group = strcmp(tgt_type, "nodegroup") == 0;
    if (!group && strcmp(tgt_type, "compound") != 0)
        return mc_strdup(tgt);
    mc_buf_t out = {0};
    if (expand_into(&out, tgt, group, group_of, arg, 0, err) != 0) {
        mc_buf_free(&out);
        return NULL;
    }
    if (!out.data)
        mc_buf_append(&out, "", 0);
    return out.data;
}
