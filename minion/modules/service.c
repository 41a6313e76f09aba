/*  service - systemd services, as Salt's service module: service.status,
    start, stop, restart, reload, enable, disable, enabled, available.

    Each runs systemctl (never a shell) on one unit name; on a host
    without systemd every function fails with "no systemd here". */
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "module.h"
#include "mp.h"

/* A unit name as systemd allows it, never an option. */
static bool unit_name_ok(const char *s)
{
    if (!*s || *s == '-' || strlen(s) > 256)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("@._:-\\", *p)))
            return false;
    return true;
}

/* The unit argument, checked; NULL when the call failed. */
static char *unit_arg(mc_call_t *call)
{
    char *name = NULL;
    int rc = mc_call_max_args(call, 1) == 0 ? mc_call_str(call, 0, "name", &name) : -1;
    if (rc > 0)
        mc_call_fail(call, 1, "%s: missing argument 'name' (the service)", call->fun);
    if (rc != 0)
        return NULL;
    if (!unit_name_ok(name)) {
        mc_call_fail(call, 1, "%s: '%s' is not a service name", call->fun, name);
        free(name);
        return NULL;
    }
    if (access("/run/systemd/system", F_OK) != 0) {
        mc_call_fail(call, 1, "%s: no systemd here (/run/systemd/system is missing)", call->fun);
        free(name);
        return NULL;
    }
    return name;
}

/* systemctl VERB NAME: its exit code, or -1 (the call failed). */
static int systemctl(mc_call_t *call, const char *verb, const char *name)
{
    char *argv[] = {"systemctl", (char *)verb, "--", (char *)name, NULL};
    return cmd_exec(call, argv, NULL);
}

/* For start, stop, restart, reload, enable, disable: True, or the
   failure with systemctl's words. */
static void act(mc_call_t *call, const char *verb)
{
    char *name = unit_arg(call);
    if (!name)
        return;
    int rc = systemctl(call, verb, name);
    if (rc == 0) {
        msgpack_pack_true(call->pk);
    } else if (rc > 0) {
        mc_buf_t *e = &call->err;
        while (e->len && (e->data[e->len - 1] == '\n' || e->data[e->len - 1] == ' '))
            e->data[--e->len] = '\0';
        mc_call_fail(call, rc, "%s %s failed: %s", call->fun, name,
                     e->len ? e->data : "systemctl gave no reason");
    }
    free(name);
}

/* For status, enabled: whether systemctl VERB says yes (exit 0). */
static void ask(mc_call_t *call, const char *verb)
{
    char *name = unit_arg(call);
    if (!name)
        return;
    int rc = systemctl(call, verb, name);
    if (rc == 124 || rc == 143)
        mc_call_fail(call, rc, "%s %s: systemctl %s", call->fun, name,
                     rc == 124 ? "timed out" : "was killed");
    else if (rc == 0)
        msgpack_pack_true(call->pk);
    else if (rc > 0)
        msgpack_pack_false(call->pk);
    free(name);
}

static void service_status(mc_call_t *call)
{
    ask(call, "is-active");
}
static void service_enabled(mc_call_t *call)
{
    ask(call, "is-enabled");
}
static void service_start(mc_call_t *call)
{
    act(call, "start");
}
static void service_stop(mc_call_t *call)
{
    act(call, "stop");
}
static void service_restart(mc_call_t *call)
{
    act(call, "restart");
}
static void service_reload(mc_call_t *call)
{
    act(call, "reload");
}
static void service_enable(mc_call_t *call)
{
    act(call, "enable");
}
static void service_disable(mc_call_t *call)
{
    act(call, "disable");
}

/* Whether systemd knows the unit (LoadState is not not-found). */
static void service_available(mc_call_t *call)
{
    char *name = unit_arg(call);
    if (!name)
        return;
    char *argv[] = {"systemctl", "show", "--property=LoadState", "--", name, NULL};
    int rc = cmd_exec(call, argv, NULL);
    if (rc >= 0) {
        bool known = rc == 0 && call->out.data && strstr(call->out.data, "LoadState=") &&
                     !strstr(call->out.data, "LoadState=not-found");
        if (known)
            msgpack_pack_true(call->pk);
        else
            msgpack_pack_false(call->pk);
    }
    free(name);
}

static const mc_function_t functions[] = {
    {"status", service_status,
     "Return True when the service is active.\n\n"
     "    mctl '*' service.status nginx",
     0},
    {"start", service_start, "Start the service.\n\n    mctl '*' service.start nginx", 0},
    {"stop", service_stop, "Stop the service.\n\n    mctl '*' service.stop nginx", 0},
    {"restart", service_restart, "Restart the service.\n\n    mctl '*' service.restart nginx", 0},
    {"reload", service_reload,
     "Reload the service's configuration.\n\n"
     "    mctl '*' service.reload nginx",
     0},
    {"enable", service_enable, "Start the service at boot.\n\n    mctl '*' service.enable nginx",
     0},
    {"disable", service_disable,
     "Do not start the service at boot.\n\n"
     "    mctl '*' service.disable nginx",
     0},
    {"enabled", service_enabled,
     "Return True when the service starts at boot.\n\n"
     "    mctl '*' service.enabled nginx",
     0},
    {"available", service_available,
     "Return True when systemd knows the service.\n\n"
     "    mctl '*' service.available nginx",
     0},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_service = {"service", functions};
