/*  fetch - what mctl-api reads from the master for a logged-in user: the
    job history, one job with its returns, the minions. The JSON endpoints
    (routes.c) and the console's pages (console.c) show the same data. */
#ifndef MC_API_FETCH_H
#define MC_API_FETCH_H

#include "api.h"
#include "link.h"
#include "proto/proto.h"

/* Each request to the master gets this long to be answered. */
#define FETCH_TIMEOUT_MS LINK_REPLY_MS

/* One job, its stored returns, and whether it is still running. */
typedef struct {
    mc_reply_job_t job;
    mc_ret_t *rets;
    size_t nrets;
    bool running; /* minions may still return */
} fetched_job_t;

typedef struct {
    const char *fun, *target, *user; /* NULL: any */
    const char *before;              /* a jid: only older jobs; NULL: any */
    int64_t limit;                   /* 1 to MC_JOBS_LIMIT_MAX */
    int64_t since_us;                /* 0: any */
} fetch_jobs_query_t;

int fetch_jobs(api_t *api, const char *user, const fetch_jobs_query_t *q, mc_reply_jobs_list_t *out,
               mc_err_t *err);
int fetch_job(api_t *api, const char *user, const char *jid, fetched_job_t *out, mc_err_t *err);
void fetched_job_done(fetched_job_t *j);
/* The return of one minion, or NULL. */
const mc_ret_t *fetched_job_ret(const fetched_job_t *j, const char *id);
/* Whether a minion of the job has no return, and why: "not sent: WHY",
   "running" or "no return". */
bool fetched_job_missing(const fetched_job_t *j, const char *id, char *why, size_t cap);
int fetch_minions(api_t *api, const char *user, mc_reply_minions_t *out, mc_err_t *err);

#endif
