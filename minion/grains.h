/*  grains - facts about the host the minion runs on, as Salt names them:
    id, host, fqdn, os, os_family, osrelease, kernel, kernelrelease,
    cpuarch, num_cpus, mem_total (MiB), ipv4, ipv6, machine_id, and every
    key of the grains: map in the minion config (which wins on a clash). */
#ifndef MC_GRAINS_H
#define MC_GRAINS_H

#include <msgpack.h>

#include "config.h"

void grains_collect(const mc_minion_config_t *cfg, msgpack_sbuffer *out);

#endif
