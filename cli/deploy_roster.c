/*  deploy_roster - mctl deploy's hosts: from a roster (YAML, Salt's
    roster keys) or given on the command line, with the defaults of the
    options. */
#include "deploy.h"

/* ---- the roster ---------------------------------------------------------- */

static char *expand_home(const char *path)
{
    const char *home = getenv("HOME");
    if (path[0] == '~' && path[1] == '/' && home)
        return mc_sprintf("%s%s", home, path + 1);
    return mc_strdup(path);
}

static bool yaml_true(const char *v)
{
    return strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "yes") == 0 ||
           strcmp(v, "1") == 0;
}

int deploy_parse_port(const char *s, int *port)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* Fill one host from a roster entry; returns -1 with err set. */
static int roster_host(deploy_t *d, const mc_yaml_t *e, host_t *h, mc_err_t *err)
{
    h->name = mc_strdup(e->key);
    h->port = d->port;
    h->sudo = d->sudo;
    if (e->kind != MC_YAML_MAP) {
        mc_err_set(err, "line %d: '%s' must be a map (host, user, ...)", e->line, e->key);
        return -1;
    }
    for (size_t i = 0; i < e->count; i++) {
        const mc_yaml_t *f = e->items[i];
        const char *k = f->key;
        if (strcmp(k, "grains") == 0) {
            if (f->kind != MC_YAML_MAP) {
                mc_err_set(err, "line %d: %s: grains must be a map", f->line, e->key);
                return -1;
            }
            h->grains = f;
            continue;
        }
        if (f->kind != MC_YAML_SCALAR) {
            mc_err_set(err, "line %d: %s: '%s' must be a single value", f->line, e->key, k);
            return -1;
        }
        const char *v = f->value;
        if (strcmp(k, "host") == 0) {
            h->host = mc_strdup(v);
        } else if (strcmp(k, "port") == 0) {
            if (deploy_parse_port(v, &h->port) != 0) {
                mc_err_set(err, "line %d: %s: port '%s' is not a port number", f->line, e->key, v);
                return -1;
            }
        } else if (strcmp(k, "user") == 0) {
            h->user = mc_strdup(v);
        } else if (strcmp(k, "priv") == 0) {
            h->priv = expand_home(v);
        } else if (strcmp(k, "priv_passwd") == 0) {
            h->priv_passwd = mc_strdup(v);
        } else if (strcmp(k, "passwd") == 0) {
            h->passwd = mc_strdup(v);
        } else if (strcmp(k, "sudo") == 0) {
            h->sudo = yaml_true(v);
        } else if (strcmp(k, "id") == 0) {
            h->id = mc_strdup(v);
        } else {
            fprintf(stderr, "mctl deploy: %s: line %d: %s: '%s' is not used; ignored\n", d->roster,
                    f->line, e->key, k);
        }
    }
    if (!h->host)
        h->host = mc_strdup(e->key);
    return 0;
}

void deploy_host_defaults(deploy_t *d, host_t *h)
{
    if (!h->user)
        h->user = mc_strdup(d->user ? d->user : "root");
    if (!h->priv && d->identity)
        h->priv = mc_strdup(d->identity);
    if (!h->passwd && !h->priv && d->pass)
        h->passwd = mc_strdup(d->pass);
    if (!h->id)
        h->id = mc_strdup(h->name);
}

int deploy_load_roster(deploy_t *d, int argc, char **argv)
{
    mc_err_t err;
    mc_yaml_t *doc = mc_yaml_load(d->roster, d->roster, &err);
    if (!doc) {
        fprintf(stderr, "mctl deploy: %s\n", err.msg);
        return EXIT_USAGE;
    }
    int rc = 0;
    if (doc->kind != MC_YAML_MAP || doc->count == 0) {
        fprintf(stderr, "mctl deploy: %s: expected a map of hosts\n", d->roster);
        rc = EXIT_USAGE;
    }
    d->hosts = mc_calloc(doc->count ? doc->count : 1, sizeof *d->hosts);
    bool *used = mc_calloc((size_t)argc + 1, sizeof *used);
    for (size_t i = 0; rc == 0 && i < doc->count; i++) {
        const mc_yaml_t *e = doc->items[i];
        bool wanted = argc == 0;
        for (int a = 0; a < argc; a++)
            if (mc_target_match(argv[a], "glob", e->key, NULL))
                wanted = used[a] = true;
        if (!wanted)
            continue;
        host_t *h = &d->hosts[d->n++];
        if (roster_host(d, e, h, &err) != 0) {
            fprintf(stderr, "mctl deploy: %s: %s\n", d->roster, err.msg);
            rc = EXIT_USAGE;
        }
    }
    for (int a = 0; rc == 0 && a < argc; a++)
        if (!used[a]) {
            fprintf(stderr, "mctl deploy: '%s' matches no host in %s\n", argv[a], d->roster);
            rc = EXIT_USAGE;
        }
    free(used);
    /* The roster's grains stay referenced from the hosts: the document
       lives as long as they do. */
    d->roster_doc = doc;
    return rc;
}

/* Hosts named on the command line: [USER@]HOST[:PORT]. */
int deploy_adhoc_hosts(deploy_t *d, int argc, char **argv)
{
    d->hosts = mc_calloc((size_t)argc, sizeof *d->hosts);
    for (int a = 0; a < argc; a++) {
        host_t *h = &d->hosts[d->n++];
        char *s = mc_strdup(argv[a]);
        char *at = strchr(s, '@');
        char *hostpart = s;
        if (at) {
            *at = '\0';
            h->user = mc_strdup(s);
            hostpart = at + 1;
        }
        char *colon = strrchr(hostpart, ':');
        h->port = d->port;
        h->sudo = d->sudo;
        if (colon && !strchr(colon + 1, ']') && strchr(hostpart, ':') == colon) {
            *colon = '\0';
            if (deploy_parse_port(colon + 1, &h->port) != 0) {
                free(s);
                return deploy_usage_error("'%s': bad port", argv[a]);
            }
        }
        if (!*hostpart || (at && !*s)) {
            free(s);
            return deploy_usage_error("'%s': expected [USER@]HOST[:PORT]", argv[a]);
        }
        h->host = mc_strdup(hostpart);
        h->name = mc_strdup(hostpart);
        free(s);
    }
    return 0;
}
