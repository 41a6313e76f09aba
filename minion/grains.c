/*  grains - see grains.h. Everything is read from the kernel and /etc
    without running any program. */
#include "grains.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "mp.h"

/* Value of KEY= in an os-release style file, unquoted, or "". */
static void os_release_value(const char *text, const char *key, char *out, size_t outsize)
{
    out[0] = '\0';
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, klen) != 0 || line[klen] != '=')
            continue;
        const char *v = line + klen + 1;
        size_t n = strcspn(v, "\n");
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v++;
            n -= 2;
        }
        if (n >= outsize)
            n = outsize - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        return;
    }
}

static const char *os_family(const char *id, const char *id_like)
{
    static const struct {
        const char *needle, *family;
    } table[] = {{"debian", "Debian"}, {"ubuntu", "Debian"}, {"rhel", "RedHat"},
                 {"fedora", "RedHat"}, {"centos", "RedHat"}, {"suse", "Suse"},
                 {"arch", "Arch"},     {"alpine", "Alpine"}, {"gentoo", "Gentoo"}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strstr(id, table[i].needle) || strstr(id_like, table[i].needle))
            return table[i].family;
    return "Linux";
}

static void pack_addresses(msgpack_packer *pk, int family)
{
    struct ifaddrs *ifa = NULL;
    char addrs[64][INET6_ADDRSTRLEN];
    uint32_t n = 0;
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *p = ifa; p && n < 64; p = p->ifa_next) {
            if (!p->ifa_addr || p->ifa_addr->sa_family != family)
                continue;
            const void *a = family == AF_INET
                                ? (const void *)&((struct sockaddr_in *)p->ifa_addr)->sin_addr
                                : (const void *)&((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr;
            if (!inet_ntop(family, a, addrs[n], sizeof addrs[n]))
                continue;
            bool dup = false;
            for (uint32_t i = 0; i < n && !dup; i++)
                dup = strcmp(addrs[i], addrs[n]) == 0;
            if (!dup)
                n++;
        }
        freeifaddrs(ifa);
    }
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++)
        mc_pk_str(pk, addrs[i]);
}

static long mem_total_mib(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (long)((long long)pages * size / (1024 * 1024)) : 0;
}

void grains_collect(const mc_minion_config_t *cfg, msgpack_sbuffer *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    struct utsname u;
    uname(&u);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    /* The canonical name is looked up once, when the minion starts (the
       first collection, before its loop): a slow resolver must not stall
       the loop every time the grains are refreshed. */
    static char fqdn[512];
    static bool looked_up;
    if (!looked_up) {
        looked_up = true;
        snprintf(fqdn, sizeof fqdn, "%s", host);
        struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *ai = NULL;
        if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai && ai->ai_canonname)
            snprintf(fqdn, sizeof fqdn, "%s", ai->ai_canonname);
        if (ai)
            freeaddrinfo(ai);
    }
    char *release = NULL, *machine_id = NULL;
    if (mc_read_file("/etc/os-release", 65536, &release, NULL, NULL) != 0)
        release = mc_strdup("");
    if (mc_read_file("/etc/machine-id", 256, &machine_id, NULL, NULL) != 0)
        machine_id = mc_strdup("");
    machine_id[strcspn(machine_id, "\n")] = '\0';
    char name[128], id[64], id_like[128], version[64];
    os_release_value(release, "NAME", name, sizeof name);
    os_release_value(release, "ID", id, sizeof id);
    os_release_value(release, "ID_LIKE", id_like, sizeof id_like);
    os_release_value(release, "VERSION_ID", version, sizeof version);
    /* Salt's os is the distribution's short name: "Debian", "Ubuntu". */
    char os[128];
    snprintf(os, sizeof os, "%s", name[0] ? name : u.sysname);
    char *sp = strstr(os, " GNU/Linux");
    if (sp)
        *sp = '\0';

    const mc_yaml_t *extra = cfg->grains;
    static const char *builtin[] = {"id",        "host",       "fqdn",        "os",
                                    "os_family", "osrelease",  "kernel",      "kernelrelease",
                                    "cpuarch",   "num_cpus",   "mem_total",   "ipv4",
                                    "ipv6",      "machine_id", "mctl_version"};
    size_t nbuiltin = sizeof builtin / sizeof builtin[0], count = 0;
    for (size_t i = 0; i < nbuiltin; i++)
        count += mc_yaml_get(extra, builtin[i]) == NULL;
    msgpack_pack_map(&pk, count + (extra ? extra->count : 0));
#define GRAIN(key) if (!mc_yaml_get(extra, key) && (mc_pk_str(&pk, key), 1))
    GRAIN("id") mc_pk_str(&pk, cfg->id);
    GRAIN("host") mc_pk_str(&pk, host);
    GRAIN("fqdn") mc_pk_str(&pk, fqdn);
    GRAIN("os") mc_pk_str(&pk, os);
    GRAIN("os_family") mc_pk_str(&pk, os_family(id, id_like));
    GRAIN("osrelease") mc_pk_str(&pk, version);
    GRAIN("kernel") mc_pk_str(&pk, u.sysname);
    GRAIN("kernelrelease") mc_pk_str(&pk, u.release);
    GRAIN("cpuarch") mc_pk_str(&pk, u.machine);
    GRAIN("num_cpus") msgpack_pack_long(&pk, sysconf(_SC_NPROCESSORS_ONLN));
    GRAIN("mem_total") msgpack_pack_long(&pk, mem_total_mib());
    GRAIN("ipv4") pack_addresses(&pk, AF_INET);
    GRAIN("ipv6") pack_addresses(&pk, AF_INET6);
    GRAIN("machine_id") mc_pk_str(&pk, machine_id);
    GRAIN("mctl_version") mc_pk_str(&pk, mc_version());
#undef GRAIN
    for (size_t i = 0; extra && i < extra->count; i++) {
        mc_pk_str(&pk, extra->items[i]->key);
        mc_yaml_pack(&pk, extra->items[i]);
    }
    free(release);
    free(machine_id);
}
