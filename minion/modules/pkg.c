/*  pkg - Debian packages, as Salt's pkg module: pkg.version, list_pkgs,
    install, remove, upgrade, refresh_db.

    dpkg-query says what is installed; apt-get (DEBIAN_FRONTEND
    noninteractive, the old config file kept on conflicts) changes it.
    install, remove and upgrade return what changed, as Salt does:
    {name: {old: VERSION or "", new: VERSION or ""}}. Nothing here goes
    through a shell; package names are checked before apt-get sees them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "module.h"
#include "mp.h"

static const char *const apt_env[] = {"DEBIAN_FRONTEND=noninteractive",
                                      "APT_LISTCHANGES_FRONTEND=none", NULL};

/* A package name (with an optional =version or :arch), or the absolute
   path of a .deb file; never an option. */
static bool package_ok(const char *s)
{
    size_t n = strlen(s);
    if (s[0] == '/')
        return n > 4 && strcmp(s + n - 4, ".deb") == 0 && !strstr(s, "/-");
    if (!n || n > 256 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("+.-:=~_", *p)))
            return false;
    return true;
}

/* The job's time limit is for the whole function: each command it runs
   gets what is left of it (at least a second). */
static int64_t started_ms;

static int run(mc_call_t *call, char *const argv[])
{
    int64_t whole = call->timeout_s;
    int64_t left = whole - (mc_mono_ms() - started_ms) / 1000;
    call->timeout_s = left < 1 ? 1 : left;
    int rc = cmd_exec(call, argv, apt_env);
    call->timeout_s = whole;
    return rc;
}

/* Run argv with its stdout into out (not into the call's output), whole:
   the package list is not cut at output_max, and a list that would be
   more than CAPTURE_MAX fails the call rather than be taken for shorter. */
#define CAPTURE_MAX (64L << 20)
static int capture(mc_call_t *call, char *const argv[], mc_buf_t *out)
{
    mc_buf_t keep = call->out;
    bool truncated = call->truncated;
    long max = call->output_max;
    call->out = (mc_buf_t){0};
    call->truncated = false;
    call->output_max = CAPTURE_MAX;
    int rc = run(call, argv);
    *out = call->out;
    if (rc >= 0 && call->truncated) {
        mc_call_fail(call, 1, "%s: %s wrote more than %ld bytes", call->fun, argv[0], CAPTURE_MAX);
        rc = -1;
    }
    call->out = keep;
    call->truncated = truncated;
    call->output_max = max;
    return rc;
}

typedef struct {
    char **name, **version;
    size_t n;
} pkgs_t;

static void pkgs_free(pkgs_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->name[i]);
        free(p->version[i]);
    }
    free(p->name);
    free(p->version);
    memset(p, 0, sizeof *p);
}

/* The installed packages, sorted by name (dpkg-query's order). -1 when
   dpkg-query could not run (the call failed). */
static int installed(mc_call_t *call, pkgs_t *p)
{
    /* ${binary:Package}: a package installed for two architectures is
       two entries ("libc6:amd64", "libc6:i386"), never one name twice. */
    char *argv[] = {"dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${binary:Package}\t${Version}\n",
                    NULL};
    mc_buf_t out = {0};
    int rc = capture(call, argv, &out);
    memset(p, 0, sizeof *p);
    if (rc < 0) {
        mc_buf_free(&out);
        return -1;
    }
    char *save = NULL;
    for (char *line = out.data ? strtok_r(out.data, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *name = strchr(line, '\t');
        char *version = name ? strchr(name + 1, '\t') : NULL;
        /* "ii " installed, "hi " held: both are there. */
        if (!version || line[1] != 'i')
            continue;
        *name++ = '\0';
        *version++ = '\0';
        p->name = mc_realloc(p->name, (p->n + 1) * sizeof *p->name);
        p->version = mc_realloc(p->version, (p->n + 1) * sizeof *p->version);
        p->name[p->n] = mc_strdup(name);
        p->version[p->n++] = mc_strdup(version);
    }
    mc_buf_free(&out);
    return 0;
}

static const char *version_in(const pkgs_t *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->name[i], name) == 0)
            return p->version[i];
    return NULL;
}

/* {name: {old, new}} for every package whose version differs. */
static void pack_changes(msgpack_packer *pk, const pkgs_t *before, const pkgs_t *after)
{
    size_t count = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            msgpack_pack_map(pk, count);
        for (size_t i = 0; i < after->n; i++) {
            const char *old = version_in(before, after->name[i]);
            if (old && strcmp(old, after->version[i]) == 0)
                continue;
            if (pass == 0) {
                count++;
                continue;
            }
            mc_pk_str(pk, after->name[i]);
            msgpack_pack_map(pk, 2);
            mc_pk_kv_str(pk, "old", old ? old : "");
            mc_pk_kv_str(pk, "new", after->version[i]);
        }
        for (size_t i = 0; i < before->n; i++) {
            if (version_in(after, before->name[i]))
                continue;
            if (pass == 0) {
                count++;
                continue;
            }
            mc_pk_str(pk, before->name[i]);
            msgpack_pack_map(pk, 2);
            mc_pk_kv_str(pk, "old", before->version[i]);
            mc_pk_kv_str(pk, "new", "");
        }
    }
}

/* The positional arguments as checked package names (at least one). */
static char **names_arg(mc_call_t *call, size_t *n)
{
    uint32_t count = call->arg->via.array.size;
    *n = 0;
    if (count == 0) {
        mc_call_fail(call, 1, "%s: name at least one package", call->fun);
        return NULL;
    }
    char **names = mc_calloc(count + 1, sizeof *names);
    for (uint32_t i = 0; i < count; i++) {
        if (mc_call_str(call, (int)i, NULL, &names[i]) != 0 || !package_ok(names[i])) {
            if (names[i])
                mc_call_fail(call, 1, "%s: '%s' is not a package name", call->fun, names[i]);
            for (uint32_t k = 0; k <= i; k++)
                free(names[k]);
            free(names);
            return NULL;
        }
    }
    *n = count;
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The last line apt-get wrote on stderr, for a failure. */
static const char *apt_error(mc_call_t *call)
{
    mc_buf_t *e = &call->err;
    while (e->len && (e->data[e->len - 1] == '\n' || e->data[e->len - 1] == ' '))
        e->data[--e->len] = '\0';
    if (!e->len)
        return "apt-get gave no reason";
    char *nl = strrchr(e->data, '\n');
    return nl ? nl + 1 : e->data;
}

static void pkg_version(mc_call_t *call)
{
    started_ms = mc_mono_ms();
    size_t n;
    char **names = names_arg(call, &n);
    pkgs_t all;
    if (!names || installed(call, &all) != 0) {
        free_names(names, n);
        return;
    }
    if (n == 1) {
        const char *v = version_in(&all, names[0]);
        mc_pk_str(call->pk, v ? v : "");
    } else {
        msgpack_pack_map(call->pk, n);
        for (size_t i = 0; i < n; i++) {
            const char *v = version_in(&all, names[i]);
            mc_pk_kv_str(call->pk, names[i], v ? v : "");
        }
    }
    pkgs_free(&all);
    free_names(names, n);
}

static void pkg_list_pkgs(mc_call_t *call)
{
    started_ms = mc_mono_ms();
    pkgs_t all;
    if (mc_call_max_args(call, 0) != 0 || installed(call, &all) != 0)
        return;
    msgpack_pack_map(call->pk, all.n);
    for (size_t i = 0; i < all.n; i++)
        mc_pk_kv_str(call->pk, all.name[i], all.version[i]);
    pkgs_free(&all);
}

/* -o DPkg::Lock::Timeout=N: wait for another apt or dpkg (an upgrade
   running, another job) for the time the job has left, rather than fail
   at once on its lock. */
static char *lock_wait(mc_call_t *call, char *buf, size_t cap)
{
    int64_t left = call->timeout_s - (mc_mono_ms() - started_ms) / 1000;
    snprintf(buf, cap, "DPkg::Lock::Timeout=%lld", (long long)(left < 1 ? 1 : left));
    return buf;
}

static int refresh(mc_call_t *call)
{
    char wait[48];
    char *argv[] = {"apt-get", "-q", "-o", lock_wait(call, wait, sizeof wait), "update", NULL};
    int rc = run(call, argv);
    if (rc > 0)
        mc_call_fail(call, rc, "%s: apt-get update failed: %s", call->fun, apt_error(call));
    return rc == 0 ? 0 : -1;
}

/* apt-get -y VERB [names] with what changed as the return. */
static void change(mc_call_t *call, const char *verb, char **names, size_t n, bool do_refresh)
{
    pkgs_t before, after;
    if (installed(call, &before) != 0)
        return;
    if (do_refresh && refresh(call) != 0) {
        pkgs_free(&before);
        return;
    }
    char **argv = mc_calloc(n + 10, sizeof *argv);
    size_t a = 0;
    argv[a++] = "apt-get";
    argv[a++] = "-y";
    argv[a++] = "-q";
    argv[a++] = "-o";
    argv[a++] = "Dpkg::Options::=--force-confold";
    char wait[48];
    argv[a++] = "-o";
    argv[a++] = lock_wait(call, wait, sizeof wait);
    argv[a++] = (char *)verb;
    if (n)
        argv[a++] = "--";
    for (size_t i = 0; i < n; i++)
        argv[a++] = names[i];
    int rc = run(call, argv);
    free(argv);
    if (rc > 0) {
        mc_call_fail(call, rc, "%s: apt-get %s failed: %s", call->fun, verb, apt_error(call));
    } else if (rc == 0 && installed(call, &after) == 0) {
        pack_changes(call->pk, &before, &after);
        pkgs_free(&after);
    }
    pkgs_free(&before);
}

static bool refresh_kwarg(mc_call_t *call, bool dflt)
{
    const msgpack_object *o = mc_mp_get(call->kwarg, "refresh");
    if (!o)
        return dflt;
    if (o->type == MSGPACK_OBJECT_BOOLEAN)
        return o->via.boolean;
    return !(o->type == MSGPACK_OBJECT_STR &&
             ((o->via.str.size == 5 && strncasecmp(o->via.str.ptr, "false", 5) == 0) ||
              (o->via.str.size == 1 && o->via.str.ptr[0] == '0')));
}

static void pkg_install(mc_call_t *call)
{
    started_ms = mc_mono_ms();
    size_t n;
    char **names = names_arg(call, &n);
    if (names)
        change(call, "install", names, n, refresh_kwarg(call, false));
    free_names(names, n);
}

static void pkg_remove(mc_call_t *call)
{
    started_ms = mc_mono_ms();
    size_t n;
    char **names = names_arg(call, &n);
    if (names)
        change(call, "remove", names, n, false);
    free_names(names, n);
}

static void pkg_upgrade(mc_call_t *call)
{
    started_ms = mc_mono_ms();
    if (mc_call_max_args(call, 0) == 0)
        change(call, "upgrade", NULL, 0, refresh_kwarg(call, true));
}

static void pkg_refresh_db(mc_call_t *call)
{
    started_ms = mc_mono_ms();
    if (mc_call_max_args(call, 0) == 0 && refresh(call) == 0)
        msgpack_pack_true(call->pk);
}

static const mc_function_t functions[] = {
    {"version", pkg_version,
     "Return the installed version of a package (\"\" when it is not installed); of several, "
     "a map.\n\n    mctl '*' pkg.version nginx\n    mctl '*' pkg.version nginx openssl",
     0},
    {"list_pkgs", pkg_list_pkgs,
     "Return every installed package and its version.\n\n    mctl '*' pkg.list_pkgs", 0},
    {"install", pkg_install,
     "Install packages (names, or paths of .deb files) with apt-get; refresh=True updates the "
     "package lists first. Returns what changed: {name: {old, new}}.\n\n"
     "    mctl '*' pkg.install nginx\n    mctl '*' pkg.install /tmp/tool_1.0_all.deb",
     0},
    {"remove", pkg_remove,
     "Remove packages (their config files stay). Returns what changed: {name: {old, "
     "new}}.\n\n    mctl '*' pkg.remove nginx",
     0},
    {"upgrade", pkg_upgrade,
     "Upgrade every package (apt-get upgrade; the lists are refreshed first unless "
     "refresh=False). Returns what changed.\n\n    mctl '*' pkg.upgrade",
     0},
    {"refresh_db", pkg_refresh_db,
     "Update the package lists (apt-get update).\n\n    mctl '*' pkg.refresh_db", 0},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_pkg = {"pkg", functions};
