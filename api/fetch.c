/*  fetch - see fetch.h. */
#include "fetch.h"

#include <string.h>

#include "link.h"

/* One request as user, its reply in *reply; the link stays open for what
   follows the reply when l is given, else it is closed. */
static int ask(api_t *api, const char *user, msgpack_sbuffer *inner, link_t *l,
               client_frame_t **reply, mc_err_t *err)
{
    if (!l)
        return link_request(api, user, inner, reply, err);
    if (link_open(api, l, user, err) != 0)
        return -1;
    int rc = link_ask(l, inner, reply, FETCH_TIMEOUT_MS, err);
    if (rc != 0)
        link_close(l);
    return rc;
}

int fetch_jobs(api_t *api, const char *user, const fetch_jobs_query_t *q, mc_reply_jobs_list_t *out,
               mc_err_t *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_jobs_list_pack(&sb, q->fun, q->target, q->user, q->limit, q->since_us, q->before);
    client_frame_t *reply = NULL;
    int rc = ask(api, user, &sb, NULL, &reply, err);
    msgpack_sbuffer_destroy(&sb);
    if (rc == 0)
        rc = mc_reply_jobs_list_decode(out, reply->data, reply->size, err);
    client_frame_free(&reply);
    return rc;
}

int fetch_job(api_t *api, const char *user, const char *jid, fetched_job_t *out, mc_err_t *err)
{
    memset(out, 0, sizeof *out);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    /* wait, not show: it says whether the job still runs. The master
       forgets this connection as a waiter once it has closed. */
    mc_request_job_pack(&sb, MC_REQ_JOBS_WAIT, jid);
    client_frame_t *reply = NULL;
    link_t l;
    int rc = ask(api, user, &sb, &l, &reply, err);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return -1;
    rc = mc_reply_jobs_wait_decode(&out->job, reply->data, reply->size, err);
    client_frame_free(&reply);
    if (rc != 0) {
        link_close(&l);
        return -1;
    }
    out->running = out->job.remaining_ms > 0;
    size_t want = (size_t)out->job.stored;
    out->rets = mc_calloc(want + 1, sizeof *out->rets);
    /* The stored returns come next, one message each. */
    while (out->nrets < want) {
        char kind[16];
        client_frame_t *body = NULL;
        int got = client_next(&l.c, kind, &body, FETCH_TIMEOUT_MS);
        if (got <= 0) {
            mc_err_code(err, MC_E_UNREACHABLE, "the master stopped sending job %s's returns", jid);
            rc = -1;
            break;
        }
        if (strcmp(kind, MC_KIND_RETURN) == 0 &&
            mc_ret_decode(&out->rets[out->nrets], body->data, body->size, err) == 0)
            out->nrets++;
        client_frame_free(&body);
    }
    link_close(&l);
    if (rc != 0)
        fetched_job_done(out);
    return rc;
}

void fetched_job_done(fetched_job_t *j)
{
    for (size_t i = 0; i < j->nrets; i++)
        mc_ret_done(&j->rets[i]);
    free(j->rets);
    mc_reply_job_done(&j->job);
    memset(j, 0, sizeof *j);
}

const mc_ret_t *fetched_job_ret(const fetched_job_t *j, const char *id)
{
    for (size_t i = 0; i < j->nrets; i++)
        if (strcmp(j->rets[i].id, id) == 0)
            return &j->rets[i];
    return NULL;
}

bool fetched_job_missing(const fetched_job_t *j, const char *id, char *why, size_t cap)
{
    if (fetched_job_ret(j, id))
        return false;
    for (size_t i = 0; i < j->job.unsent.count; i++)
        if (strcmp(j->job.unsent.items[i], id) == 0) {
            snprintf(why, cap, "not sent: %s", j->job.unsent_why.items[i]);
            return true;
        }
    snprintf(why, cap, "%s", j->running ? "running" : "no return");
    return true;
}

int fetch_minions(api_t *api, const char *user, mc_reply_minions_t *out, mc_err_t *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_plain_pack(&sb, MC_REQ_MINIONS);
    client_frame_t *reply = NULL;
    int rc = ask(api, user, &sb, NULL, &reply, err);
    msgpack_sbuffer_destroy(&sb);
    if (rc == 0)
        rc = mc_reply_minions_decode(out, reply->data, reply->size, err);
    client_frame_free(&reply);
    return rc;
}
