/*  disk - disk.usage: the mounted filesystems' space, as Salt's disk.usage
    (df -P) returns it, keyed by mount point. Read from /proc/self/mounts
    and statvfs, no df. */
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "module.h"
#include "mp.h"

typedef struct {
    char *dir, *fsname;
    unsigned long long blocks, used, avail; /* KiB */
} mount_t;

static void pack_kib(msgpack_packer *pk, const char *key, unsigned long long v)
{
    char text[32];
    snprintf(text, sizeof text, "%llu", v);
    mc_pk_str(pk, key);
    mc_pk_str(pk, text);
}

/* disk.usage [PATH]: every filesystem with blocks (pseudo filesystems
   without any are left out), or the one holding PATH. */
static void disk_usage(mc_call_t *call)
{
    char *only = NULL;
    if (mc_call_max_args(call, 1) != 0 || mc_call_str(call, 0, "path", &only) < 0)
        return;
    FILE *f = setmntent("/proc/self/mounts", "re");
    if (!f) {
        mc_call_fail(call, 1, "cannot read /proc/self/mounts");
        free(only);
        return;
    }
    mount_t *m = NULL;
    size_t n = 0;
    struct mntent ent;
    char buf[4096];
    while (getmntent_r(f, &ent, buf, sizeof buf)) {
        struct statvfs st;
        if (statvfs(ent.mnt_dir, &st) != 0 || st.f_blocks == 0)
            continue;
        /* A later mount on the same point hides the earlier one. */
        size_t i = 0;
        while (i < n && strcmp(m[i].dir, ent.mnt_dir) != 0)
            i++;
        if (i == n) {
            m = mc_realloc(m, (n + 1) * sizeof *m);
            n++;
        } else {
            free(m[i].dir);
            free(m[i].fsname);
        }
        unsigned long long fr = st.f_frsize;
        m[i] = (mount_t){mc_strdup(ent.mnt_dir), mc_strdup(ent.mnt_fsname),
                         (unsigned long long)st.f_blocks * fr / 1024,
                         (unsigned long long)(st.f_blocks - st.f_bfree) * fr / 1024,
                         (unsigned long long)st.f_bavail * fr / 1024};
    }
    endmntent(f);
    /* With a path: the longest mount point that holds it. */
    size_t pick = n;
    if (only) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(m[i].dir);
            bool holds = strcmp(m[i].dir, "/") == 0 ||
                         (strncmp(only, m[i].dir, l) == 0 && (only[l] == '/' || !only[l]));
            if (holds && l >= best) {
                best = l;
                pick = i;
            }
        }
        if (pick == n) {
            mc_call_fail(call, 1, "disk.usage: no mounted filesystem holds %s", only);
            goto out;
        }
    }
    msgpack_pack_map(call->pk, only ? 1 : n);
    for (size_t i = 0; i < n; i++) {
        if (only && i != pick)
            continue;
        unsigned long long total = m[i].used + m[i].avail;
        char cap[16];
        snprintf(cap, sizeof cap, "%llu%%", total ? (m[i].used * 100 + total - 1) / total : 0);
        mc_pk_str(call->pk, m[i].dir);
        msgpack_pack_map(call->pk, 5);
        mc_pk_str(call->pk, "filesystem");
        mc_pk_str(call->pk, m[i].fsname);
        pack_kib(call->pk, "1K-blocks", m[i].blocks);
        pack_kib(call->pk, "used", m[i].used);
        pack_kib(call->pk, "available", m[i].avail);
        mc_pk_str(call->pk, "capacity");
        mc_pk_str(call->pk, cap);
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(m[i].dir);
        free(m[i].fsname);
    }
    free(m);
    free(only);
}

static const mc_function_t functions[] = {
    {"usage", disk_usage,
     "Return the space of every mounted filesystem, keyed by mount point: filesystem, "
     "1K-blocks, used, available, capacity (as df -P). With a path, only the filesystem "
     "holding it.\n\n    mctl '*' disk.usage\n    mctl '*' disk.usage /var",
     0},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_disk = {"disk", functions};
