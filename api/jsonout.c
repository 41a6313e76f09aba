/*  jsonout - see jsonout.h. */
#include "jsonout.h"

#include <string.h>
#include <time.h>

#include "json.h"

const char *const jsonout_grains_summary[] = {
    "os", "osrelease", "kernel", "num_cpus", "mem_total", "ipv4", "roles", "host", NULL,
};

static void key(FILE *f, const char *k)
{
    mc_json_string(f, k, strlen(k));
    fputc(':', f);
}

static void text(FILE *f, const char *s)
{
    mc_json_text(f, s, strlen(s), MC_JSON_COMPACT);
}

void jsonout_time(FILE *f, int64_t us)
{
    if (us <= 0) {
        fputs("null", f);
        return;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f, "\"%s.%06ldZ\"", buf, (long)(us % 1000000));
}

static void head(FILE *f, const char *jid, const char *fun, const char *tgt, const char *tgt_type,
                 const char *user, int64_t ts_us)
{
    key(f, "jid");
    text(f, jid);
    fputc(',', f);
    key(f, "fun");
    text(f, fun);
    fputc(',', f);
    key(f, "tgt");
    text(f, tgt ? tgt : "");
    fputc(',', f);
    key(f, "tgt_type");
    text(f, tgt_type);
    fputc(',', f);
    key(f, "user");
    text(f, user);
    fputc(',', f);
    key(f, "start");
    jsonout_time(f, ts_us);
}

void jsonout_job_summary(FILE *f, const mc_job_summary_t *j)
{
    fputc('{', f);
    head(f, j->jid, j->fun, j->tgt, j->tgt_type, j->user, j->ts_us);
    fprintf(f, ",\"minions\":%lld,\"returned\":%lld,\"failed\":%lld}", (long long)j->minions,
            (long long)j->returned, (long long)j->failed);
}

void jsonout_jobs(FILE *f, const mc_reply_jobs_list_t *l)
{
    fputs("{\"return\":[", f);
    for (size_t i = 0; i < l->count; i++) {
        if (i)
            fputs(",\n", f);
        jsonout_job_summary(f, &l->jobs[i]);
    }
    fputs(l->behind ? "],\"behind\":true}" : "]}", f);
}

void jsonout_ret(FILE *f, const mc_ret_t *r)
{
    fprintf(f, "{\"retcode\":%lld,\"success\":%s,", (long long)r->retcode,
            r->success ? "true" : "false");
    key(f, "return");
    if (r->ret)
        mc_json_value(f, r->ret, MC_JSON_COMPACT);
    else
        fputs("null", f);
    fputc(',', f);
    key(f, "stdout");
    mc_json_text(f, r->out ? r->out : "", r->out_len, MC_JSON_COMPACT);
    fputc(',', f);
    key(f, "stderr");
    mc_json_text(f, r->err ? r->err : "", r->err_len, MC_JSON_COMPACT);
    fputc(',', f);
    key(f, "started");
    jsonout_time(f, r->started);
    fprintf(f, ",\"duration_ms\":%lld,\"truncated\":%s}", (long long)r->duration_ms,
            r->truncated ? "true" : "false");
}

/* Packed msgpack (arg, kwarg) as JSON, or null. */
static void packed(FILE *f, const char *data, size_t len)
{
    mc_mp_doc_t doc;
    mc_err_t err;
    if (!data || mc_mp_parse(&doc, data, len, &err) != 0) {
        fputs("null", f);
        return;
    }
    mc_json_value(f, &doc.root, MC_JSON_COMPACT);
    mc_mp_doc_done(&doc);
}

void jsonout_job(FILE *f, const fetched_job_t *j)
{
    const mc_reply_job_t *job = &j->job;
    fputs("{\"return\":{", f);
    head(f, job->jid, job->fun, job->tgt, job->tgt_type, job->user, job->ts_us);
    fputc(',', f);
    key(f, "arg");
    packed(f, job->arg, job->arg_len);
    fputc(',', f);
    key(f, "kwarg");
    packed(f, job->kwarg, job->kwarg_len);
    fprintf(f, ",\"running\":%s,", j->running ? "true" : "false");
    key(f, "minions");
    mc_json_strings(f, job->minions.items, job->minions.count, MC_JSON_COMPACT);
    fputs(",\"returns\":{", f);
    bool first = true;
    for (size_t i = 0; i < job->minions.count; i++) {
        const mc_ret_t *r = fetched_job_ret(j, job->minions.items[i]);
        if (!r)
            continue;
        if (!first)
            fputs(",\n", f);
        first = false;
        key(f, r->id);
        jsonout_ret(f, r);
    }
    fputs("},\"missing\":{", f);
    first = true;
    for (size_t i = 0; i < job->minions.count; i++) {
        char why[MC_REPLY_TEXT_MAX + 32];
        if (!fetched_job_missing(j, job->minions.items[i], why, sizeof why))
            continue;
        if (!first)
            fputc(',', f);
        first = false;
        key(f, job->minions.items[i]);
        text(f, why);
    }
    fputs("}}}", f);
}

static void grains(FILE *f, const msgpack_object *g, bool all)
{
    if (!g) {
        fputs("null", f);
        return;
    }
    if (all) {
        mc_json_value(f, g, MC_JSON_COMPACT);
        return;
    }
    fputc('{', f);
    bool first = true;
    for (size_t k = 0; jsonout_grains_summary[k]; k++) {
        const msgpack_object *v = mc_mp_get(g, jsonout_grains_summary[k]);
        if (!v)
            continue;
        if (!first)
            fputc(',', f);
        first = false;
        key(f, jsonout_grains_summary[k]);
        mc_json_value(f, v, MC_JSON_COMPACT);
    }
    fputc('}', f);
}

void jsonout_minions(FILE *f, const mc_reply_minions_t *l, const char *one)
{
    fputs(one ? "{\"return\":" : "{\"return\":[", f);
    bool first = true;
    for (size_t i = 0; i < l->count; i++) {
        const mc_minion_info_t *m = &l->minions[i];
        if (one && strcmp(one, m->id) != 0)
            continue;
        if (!first)
            fputs(",\n", f);
        first = false;
        fputc('{', f);
        key(f, "id");
        text(f, m->id);
        fprintf(f, ",\"up\":%s,", m->up ? "true" : "false");
        key(f, "last_seen");
        jsonout_time(f, m->last_seen_us);
        fputc(',', f);
        key(f, "grains");
        grains(f, m->grains, one != NULL);
        fputc('}', f);
    }
    fputs(one ? "}" : "]}", f);
}
