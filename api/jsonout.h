/*  jsonout - what mctl-api answers, as JSON. Every answer is {"return":
    ...} as salt-api's are; times are ISO 8601 in UTC with microseconds.

      job list   [{jid, fun, tgt, tgt_type, user, start, minions,
                 returned, failed}], newest first; and "behind": true
                 beside "return" when the master cannot write its job
                 cache now (the newest jobs are not there yet)
      job        {jid, fun, tgt, tgt_type, user, start, arg, kwarg,
                 running, minions: [ids], returns: {id: {retcode, success,
                 return, stdout, stderr, started, duration_ms,
                 truncated}}, missing: {id: why}}
      minions    [{id, up, last_seen (or null), grains}]: grains in full
                 for one minion, else only os, osrelease, kernel,
                 num_cpus, mem_total, ipv4, roles and host when present */
#ifndef MC_API_JSONOUT_H
#define MC_API_JSONOUT_H

#include <stdio.h>

#include "fetch.h"

void jsonout_time(FILE *f, int64_t us);
void jsonout_job_summary(FILE *f, const mc_job_summary_t *j);
void jsonout_jobs(FILE *f, const mc_reply_jobs_list_t *l);
void jsonout_ret(FILE *f, const mc_ret_t *r);
void jsonout_job(FILE *f, const fetched_job_t *j);
/* one: the minion of that id only, with all its grains. */
void jsonout_minions(FILE *f, const mc_reply_minions_t *l, const char *one);
/* The grains shown in a list of minions. */
extern const char *const jsonout_grains_summary[];

#endif
