/*  status - the host's load, memory and uptime, as Salt's status module
    returns them: status.loadavg, status.meminfo, status.uptime. Each reads
    one file of /proc. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "module.h"
#include "mp.h"

/* A small /proc file, whole. -1 with the call failed when unreadable. */
static int read_proc(mc_call_t *call, const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f)
        fclose(f);
    if (!f || n == 0) {
        mc_call_fail(call, 1, "cannot read %s", path);
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

static void status_loadavg(mc_call_t *call)
{
    char buf[256];
    double l1, l5, l15;
    if (mc_call_max_args(call, 0) != 0 || read_proc(call, "/proc/loadavg", buf, sizeof buf) != 0)
        return;
    if (sscanf(buf, "%lf %lf %lf", &l1, &l5, &l15) != 3) {
        mc_call_fail(call, 1, "/proc/loadavg: unexpected contents");
        return;
    }
    msgpack_pack_map(call->pk, 3);
    mc_pk_str(call->pk, "1-min");
    msgpack_pack_double(call->pk, l1);
    mc_pk_str(call->pk, "5-min");
    msgpack_pack_double(call->pk, l5);
    mc_pk_str(call->pk, "15-min");
    msgpack_pack_double(call->pk, l15);
}

/* {"MemTotal": {"value": "16330128", "unit": "kB"}, ...} as Salt's. */
static void status_meminfo(mc_call_t *call)
{
    char buf[8192];
    if (mc_call_max_args(call, 0) != 0 || read_proc(call, "/proc/meminfo", buf, sizeof buf) != 0)
        return;
    size_t lines = 0;
    for (const char *p = buf; *p; p++)
        lines += *p == '\n';
    msgpack_pack_map(call->pk, lines);
    size_t packed = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line && packed < lines;
         line = strtok_r(NULL, "\n", &save)) {
        char key[64], value[64], unit[16] = "";
        if (sscanf(line, "%63[^:]: %63s %15s", key, value, unit) < 2)
            continue;
        mc_pk_str(call->pk, key);
        msgpack_pack_map(call->pk, unit[0] ? 2 : 1);
        mc_pk_str(call->pk, "value");
        mc_pk_str(call->pk, value);
        if (unit[0]) {
            mc_pk_str(call->pk, "unit");
            mc_pk_str(call->pk, unit);
        }
        packed++;
    }
    /* Lines that did not parse: the count promised must still be met. */
    for (; packed < lines; packed++) {
        char key[32];
        snprintf(key, sizeof key, "unparsed-%zu", packed);
        mc_pk_str(call->pk, key);
        msgpack_pack_nil(call->pk);
    }
}

/* seconds, since_t, since_iso, days, time ("H:MM"), as Salt's. */
static void status_uptime(mc_call_t *call)
{
    char buf[128];
    double up;
    if (mc_call_max_args(call, 0) != 0 || read_proc(call, "/proc/uptime", buf, sizeof buf) != 0)
        return;
    if (sscanf(buf, "%lf", &up) != 1) {
        mc_call_fail(call, 1, "/proc/uptime: unexpected contents");
        return;
    }
    long secs = (long)up;
    time_t since = time(NULL) - secs;
    struct tm tm;
    gmtime_r(&since, &tm);
    char iso[32], hm[16];
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(hm, sizeof hm, "%ld:%02ld", secs % 86400 / 3600, secs % 3600 / 60);
    msgpack_pack_map(call->pk, 5);
    mc_pk_str(call->pk, "seconds");
    msgpack_pack_long(call->pk, secs);
    mc_pk_str(call->pk, "since_t");
    msgpack_pack_long(call->pk, (long)since);
    mc_pk_str(call->pk, "since_iso");
    mc_pk_str(call->pk, iso);
    mc_pk_str(call->pk, "days");
    msgpack_pack_long(call->pk, secs / 86400);
    mc_pk_str(call->pk, "time");
    mc_pk_str(call->pk, hm);
}

static const mc_function_t functions[] = {
    {"loadavg", status_loadavg,
     "Return the load averages: {1-min, 5-min, 15-min}.\n\n    mctl '*' status.loadavg",
     MC_FN_QUICK},
    {"meminfo", status_meminfo,
     "Return /proc/meminfo as {Name: {value, unit}}.\n\n    mctl '*' status.meminfo", MC_FN_QUICK},
    {"uptime", status_uptime,
     "Return how long the host has been up: seconds, days, time (H:MM), since_t and "
     "since_iso.\n\n    mctl '*' status.uptime",
     MC_FN_QUICK},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_status = {"status", functions};
