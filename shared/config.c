/*  config - see config.h. Each file has a table of its keys: name, type,
    where the value goes, and bounds. Loading sets defaults, then walks the
    YAML map and converts each key through its table entry. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { CF_STR, CF_STRS, CF_PORT, CF_INT, CF_BOOL, CF_LOGLEVEL, CF_MAP } cf_type_t;

typedef struct {
    const char *key;
    cf_type_t type;
    size_t offset;
    long min, max;
} cf_field_t;

#define F(st, k, t, lo, hi)                                                                        \
    {                                                                                              \
#k, t, offsetof(st, k), lo, hi                                                             \
    }

static const cf_field_t master_fields[] = {
    F(mc_master_config_t, interface, CF_STR, 0, 0),
    F(mc_master_config_t, publish_port, CF_PORT, 1, 65535),
    F(mc_master_config_t, ret_port, CF_PORT, 1, 65535),
    F(mc_master_config_t, auth_port, CF_PORT, 1, 65535),
    F(mc_master_config_t, pki_dir, CF_STR, 0, 0),
    F(mc_master_config_t, cachedir, CF_STR, 0, 0),
    F(mc_master_config_t, sock_dir, CF_STR, 0, 0),
    F(mc_master_config_t, log_file, CF_STR, 0, 0),
    F(mc_master_config_t, pidfile, CF_STR, 0, 0),
    F(mc_master_config_t, log_level, CF_LOGLEVEL, 0, 0),
    F(mc_master_config_t, auto_accept, CF_BOOL, 0, 0),
    F(mc_master_config_t, keep_jobs, CF_INT, 0, 24 * 365 * 10),
    F(mc_master_config_t, max_minions, CF_INT, 1, 1000000),
    F(mc_master_config_t, max_pending, CF_INT, 0, 1000000),
    F(mc_master_config_t, register_rate, CF_INT, 1, 1000000),
    F(mc_master_config_t, pub_hwm, CF_INT, 1, 1000000),
    F(mc_master_config_t, minion_alive_interval, CF_INT, 2, 86400),
    F(mc_master_config_t, client_group, CF_STR, 0, 0),
    F(mc_master_config_t, audit_log, CF_STR, 0, 0),
    F(mc_master_config_t, master_job_cache, CF_STR, 0, 0),
    F(mc_master_config_t, postgres_dsn, CF_STR, 0, 0),
    F(mc_master_config_t, master_index, CF_INT, -1, 9),
    F(mc_master_config_t, api_host, CF_STR, 0, 0),
    F(mc_master_config_t, api_port, CF_PORT, 1, 65535),
    F(mc_master_config_t, api_ssl_crt, CF_STR, 0, 0),
    F(mc_master_config_t, api_ssl_key, CF_STR, 0, 0),
    F(mc_master_config_t, api_disable_ssl, CF_BOOL, 0, 0),
    F(mc_master_config_t, api_token_expire, CF_INT, 1, 86400 * 30),
    F(mc_master_config_t, api_pam_service, CF_STR, 0, 0),
    F(mc_master_config_t, api_log_file, CF_STR, 0, 0),
    F(mc_master_config_t, api_pidfile, CF_STR, 0, 0),
    F(mc_master_config_t, api_max_clients, CF_INT, 1, 10000),
    {"nodegroups", CF_MAP, SIZE_MAX, 0, 0},
    {"publisher_acl", CF_MAP, SIZE_MAX, 0, 0},
    {"publisher_acl_blacklist", CF_MAP, SIZE_MAX, 0, 0},
    {NULL, 0, 0, 0, 0},
};

static const cf_field_t minion_fields[] = {
    F(mc_minion_config_t, master, CF_STRS, 1, MC_MASTERS_MAX),
    F(mc_minion_config_t, master_pubkey, CF_STR, 0, 0),
    F(mc_minion_config_t, id, CF_STR, 0, 0),
    F(mc_minion_config_t, publish_port, CF_PORT, 1, 65535),
    F(mc_minion_config_t, ret_port, CF_PORT, 1, 65535),
    F(mc_minion_config_t, auth_port, CF_PORT, 1, 65535),
    F(mc_minion_config_t, pki_dir, CF_STR, 0, 0),
    F(mc_minion_config_t, cachedir, CF_STR, 0, 0),
    F(mc_minion_config_t, log_file, CF_STR, 0, 0),
    F(mc_minion_config_t, pidfile, CF_STR, 0, 0),
    F(mc_minion_config_t, log_level, CF_LOGLEVEL, 0, 0),
    F(mc_minion_config_t, workers, CF_INT, 1, 1024),
    F(mc_minion_config_t, queue_max, CF_INT, 0, 100000),
    F(mc_minion_config_t, job_max_age, CF_INT, 1, 86400 * 7),
    F(mc_minion_config_t, heartbeat, CF_INT, 1, 3600),
    F(mc_minion_config_t, master_alive_interval, CF_INT, 2, 86400),
    F(mc_minion_config_t, shutdown_grace, CF_INT, 0, 86400),
    {"output_max", CF_INT, offsetof(mc_minion_config_t, output_max), 1024, 64L << 20},
    {"grains", CF_MAP, offsetof(mc_minion_config_t, grains), 0, 0},
    {NULL, 0, 0, 0, 0},
};

const char *mc_config_dir(const char *arg)
{
    if (arg && *arg)
        return arg;
    const char *env = getenv("MCTL_CONFIG_DIR");
    return env && *env ? env : MC_DEFAULT_CONFIG_DIR;
}

static int set_field(const char *name, const cf_field_t *f, const mc_yaml_t *node, void *out,
                     mc_err_t *err)
{
    /* SIZE_MAX: a key that is checked here but kept only in the parsed
       document (nodegroups); there is no field to point into. */
    char *p = f->offset == SIZE_MAX ? NULL : (char *)out + f->offset;
    if (f->type == CF_MAP) {
        if (node->kind != MC_YAML_MAP) {
            mc_err_set(err, "%s: line %d: %s: expected a map", name, node->line, f->key);
            return -1;
        }
        if (p)
            *(const mc_yaml_t **)p = node;
        return 0;
    }
    if (f->type == CF_STRS && node->kind == MC_YAML_LIST) {
        /* A list of names: kept joined by ", " (for messages), and split
           again by whoever needs the items (mc_minion_masters). */
        if (node->count < (size_t)f->min || node->count > (size_t)f->max) {
            mc_err_set(err, "%s: line %d: %s: expected %ld to %ld names, got %zu", name, node->line,
                       f->key, f->min, f->max, node->count);
            return -1;
        }
        mc_buf_t joined = {0};
        for (size_t i = 0; i < node->count; i++) {
            const mc_yaml_t *item = node->items[i];
            if (item->kind != MC_YAML_SCALAR || !item->value[0] || strchr(item->value, ',') ||
                strchr(item->value, ' ')) {
                mc_err_set(err, "%s: line %d: %s: expected a list of names, got %s", name,
                           item->line, f->key,
                           item->kind == MC_YAML_SCALAR ? "an empty name or one with a comma or "
                                                          "a space"
                                                        : "a nested map or list");
                mc_buf_free(&joined);
                return -1;
            }
            for (size_t j = 0; j < i; j++)
                if (strcmp(node->items[j]->value, item->value) == 0) {
                    mc_err_set(err, "%s: line %d: %s: %s is listed twice", name, item->line, f->key,
                               item->value);
                    mc_buf_free(&joined);
                    return -1;
                }
            if (i)
                mc_buf_append(&joined, ", ", 2);
            mc_buf_append(&joined, item->value, strlen(item->value));
        }
        mc_buf_append(&joined, "", 1);
        free(*(char **)p);
        *(char **)p = mc_strdup(joined.data);
        mc_buf_free(&joined);
        return 0;
    }
    if (node->kind != MC_YAML_SCALAR) {
        mc_err_set(err, "%s: line %d: %s: expected a single value, got a %s", name, node->line,
                   f->key, node->kind == MC_YAML_MAP ? "map" : "list");
        return -1;
    }
    const char *v = node->value;
    char *end;
    long n;
    switch (f->type) {
    case CF_STR:
    case CF_STRS:
        free(*(char **)p);
        *(char **)p = mc_strdup(v);
        return 0;
    case CF_PORT:
    case CF_INT:
        errno = 0;
        n = strtol(v, &end, 10);
        if (!*v || *end || errno || n < f->min || n > f->max) {
            if (f->type == CF_PORT)
                mc_err_set(err, "%s: line %d: %s: expected a port number, got \"%s\"", name,
                           node->line, f->key, v);
            else
                mc_err_set(err,
                           "%s: line %d: %s: expected a whole number from %ld to %ld, got \"%s\"",
                           name, node->line, f->key, f->min, f->max, v);
            return -1;
        }
        if (strcmp(f->key, "output_max") == 0)
            *(long *)p = n;
        else
            *(int *)p = (int)n;
        return 0;
    case CF_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes"))
            *(bool *)p = true;
        else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no"))
            *(bool *)p = false;
        else {
            mc_err_set(err, "%s: line %d: %s: expected true or false, got \"%s\"", name, node->line,
                       f->key, v);
            return -1;
        }
        return 0;
    case CF_LOGLEVEL:
        if (mc_log_level_parse(v, (mc_log_level_t *)p) != 0) {
            mc_err_set(err, "%s: line %d: %s: expected error, warning, info or debug, got \"%s\"",
                       name, node->line, f->key, v);
            return -1;
        }
        return 0;
    case CF_MAP:
        break;
    }
    return -1;
}

static int apply(const char *name, mc_yaml_t *doc, const cf_field_t *fields, void *out,
                 mc_err_t *err)
{
    if (doc->kind != MC_YAML_MAP) {
        mc_err_set(err, "%s: line %d: expected a map of settings", name, doc->line);
        return -1;
    }
    for (size_t i = 0; i < doc->count; i++) {
        const mc_yaml_t *node = doc->items[i];
        const cf_field_t *f = fields;
        while (f->key && strcmp(f->key, node->key) != 0)
            f++;
        if (!f->key) {
            mc_warn("%s: line %d: unknown setting '%s' ignored", name, node->line, node->key);
            continue;
        }
        if (set_field(name, f, node, out, err) != 0)
            return -1;
    }
    return 0;
}

static void free_strings(const cf_field_t *fields, void *cfg)
{
    for (const cf_field_t *f = fields; f->key; f++) {
        if (f->type == CF_STR || f->type == CF_STRS) {
            char **p = (char **)((char *)cfg + f->offset);
            free(*p);
            *p = NULL;
        }
    }
}

static void master_defaults(mc_master_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->interface = mc_strdup("0.0.0.0");
    c->publish_port = 4505;
    c->ret_port = 4506;
    c->auth_port = 4507;
    c->pki_dir = mc_strdup("/etc/mctl/pki/master");
    c->cachedir = mc_strdup("/var/cache/mctl/master");
    c->sock_dir = mc_strdup("/run/mctl/master");
    c->client_group = mc_strdup(""); /* the master's primary group */
    c->audit_log = mc_strdup("");    /* LOGDIR/audit.log */
    c->log_file = mc_strdup("");
    c->pidfile = mc_strdup("/run/mctl/master.pid");
    c->log_level = MC_LOG_INFO;
    c->auto_accept = false;
    c->keep_jobs = 24;
    c->max_minions = 10000;
    c->max_pending = 1000;
    c->register_rate = 20;
    c->pub_hwm = 10000;
    c->minion_alive_interval = 60;
    c->master_job_cache = mc_strdup("sqlite");
    c->postgres_dsn = mc_strdup("");
    c->master_index = -1;
    c->api_host = mc_strdup("0.0.0.0");
    c->api_port = 8000;
    c->api_ssl_crt = mc_strdup("");
    c->api_ssl_key = mc_strdup("");
    c->api_token_expire = 12 * 3600;
    c->api_pam_service = mc_strdup("mctl-api");
    c->api_log_file = mc_strdup("");
    c->api_pidfile = mc_strdup("/run/mctl/api.pid");
    c->api_max_clients = 1000;
}

static void minion_defaults(mc_minion_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->master = mc_strdup("salt");
    c->master_pubkey = mc_strdup("");
    c->id = mc_strdup("");
    c->publish_port = 4505;
    c->ret_port = 4506;
    c->auth_port = 4507;
    c->pki_dir = mc_strdup("/etc/mctl/pki/minion");
    c->cachedir = mc_strdup("/var/cache/mctl/minion");
    c->log_file = mc_strdup("");
    c->pidfile = mc_strdup("/run/mctl/minion.pid");
    c->log_level = MC_LOG_INFO;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->workers = cpus < 2 ? 2 : (int)cpus;
    c->queue_max = 128;
    c->job_max_age = 300;
    c->heartbeat = 10;
    c->master_alive_interval = 60;
    c->shutdown_grace = 10;
    c->output_max = 1L << 20;
}

/* Resolve the minion id: config, else the host name (as Salt does). */
static int minion_finish(mc_minion_config_t *c, const char *name, mc_err_t *err)
{
    /* master: one name, or several (a YAML list, kept joined by ", ", or
       written so): each trimmed, none empty, none twice, at most ten. */
    c->nmasters = 0;
    for (const char *m = c->master;;) {
        m += strspn(m, " \t");
        size_t n = strcspn(m, ",");
        while (n && (m[n - 1] == ' ' || m[n - 1] == '\t'))
            n--;
        if (n == 0 || c->nmasters == MC_MASTERS_MAX) {
            mc_err_set(err, "%s: master: %s", name,
                       n ? "more than 10 masters" : "an empty name in the list of masters");
            return -1;
        }
        char *one = mc_strndup(m, n);
        for (size_t i = 0; i < c->nmasters; i++)
            if (strcmp(c->masters[i], one) == 0) {
                mc_err_set(err, "%s: master: %s is listed twice", name, one);
                free(one);
                return -1;
            }
        c->masters[c->nmasters++] = one;
        m += strcspn(m, ",");
        if (*m != ',')
            break;
        m++;
    }

    if (c->id[0] == '\0') {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0]) {
            mc_err_set(err, "%s: id is not set and the host name is unknown", name);
            return -1;
        }
        free(c->id);
        c->id = mc_strdup(host);
    }
    /* The master counts a minion as there while its heartbeats come
       within minion_alive_interval (60 s by default, as this default). */
    if (c->heartbeat >= c->master_alive_interval) {
        mc_err_set(err, "%s: heartbeat (%d s) must be shorter than master_alive_interval (%d s)",
                   name, c->heartbeat, c->master_alive_interval);
        return -1;
    }
    if (!mc_id_valid(c->id, strlen(c->id))) {
        mc_err_set(err,
                   "%s: id \"%s\" is not a valid minion id (letters, digits, '.', '-', '_', "
                   "'@'; at most %d characters)",
                   name, c->id, MC_ID_MAX);
        return -1;
    }
    return 0;
}

static int parse_into(const char *name, const char *text, size_t len, const cf_field_t *fields,
                      void *cfg, mc_yaml_t **doc, mc_err_t *err)
{
    *doc = mc_yaml_parse(name, text, len, err);
    if (!*doc)
        return -1;
    return apply(name, *doc, fields, cfg, err);
}

int mc_master_config_parse(mc_master_config_t *cfg, const char *text, size_t len, mc_err_t *err)
{
    master_defaults(cfg);
    if (parse_into("master", text, len, master_fields, cfg, &cfg->doc, err) != 0) {
        mc_master_config_free(cfg);
        return -1;
    }
    if (strcmp(cfg->master_job_cache, "sqlite") != 0 &&
        strcmp(cfg->master_job_cache, "postgres") != 0) {
        mc_err_code(err, MC_E_CONFIG,
                    "master: master_job_cache: expected sqlite or postgres, got '%s'",
                    cfg->master_job_cache);
        mc_master_config_free(cfg);
        return -1;
    }
    if (strcmp(cfg->master_job_cache, "postgres") == 0 && !cfg->postgres_dsn[0]) {
        mc_err_code(err, MC_E_CONFIG,
                    "master: master_job_cache is postgres but postgres_dsn is not set (a libpq "
                    "connection string: 'host=db1 dbname=mctl user=mctl')");
        mc_master_config_free(cfg);
        return -1;
    }
    return 0;
}

int mc_minion_config_parse(mc_minion_config_t *cfg, const char *text, size_t len, mc_err_t *err)
{
    minion_defaults(cfg);
    if (parse_into("minion", text, len, minion_fields, cfg, &cfg->doc, err) != 0 ||
        minion_finish(cfg, "minion", err) != 0) {
        mc_minion_config_free(cfg);
        return -1;
    }
    return 0;
}

/* Read DIR/NAME; a missing file is an empty one. */
static int read_config(const char *dir, const char *name, char **text, size_t *len, mc_err_t *err)
{
    char *path = mc_sprintf("%s/%s", dir, name);
    struct stat st;
    int rc = 0;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        *text = mc_strdup("");
        *len = 0;
    } else {
        rc = mc_read_file(path, 1 << 20, text, len, err);
    }
    free(path);
    return rc;
}

int mc_master_config_load(mc_master_config_t *cfg, const char *dir, mc_err_t *err)
{
    char *text;
    size_t len;
    if (read_config(dir, "master", &text, &len, err) != 0)
        return -1;
    int rc = mc_master_config_parse(cfg, text, len, err);
    free(text);
    return rc;
}

int mc_minion_config_load(mc_minion_config_t *cfg, const char *dir, mc_err_t *err)
{
    char *text;
    size_t len;
    if (read_config(dir, "minion", &text, &len, err) != 0)
        return -1;
    int rc = mc_minion_config_parse(cfg, text, len, err);
    free(text);
    return rc;
}

void mc_master_config_free(mc_master_config_t *cfg)
{
    free_strings(master_fields, cfg);
    mc_yaml_free(&cfg->doc);
}

void mc_minion_config_free(mc_minion_config_t *cfg)
{
    for (size_t i = 0; i < cfg->nmasters; i++)
        free(cfg->masters[i]);
    cfg->nmasters = 0;
    free_strings(minion_fields, cfg);
    mc_yaml_free(&cfg->doc);
    cfg->grains = NULL;
}
