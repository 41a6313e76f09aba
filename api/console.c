/*  console - see console.h. */
#include "console.h"

#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "html.h"
#include "json.h"
#include "jsonout.h"

/* From api/www/, compiled in (cmake/embed.cmake). */
extern const char console_css[];
extern const char console_js[];

bool console_public(const http_req_t *r)
{
    return strcmp(r->method, "GET") == 0 &&
           (strcmp(r->url, "/login") == 0 || strncmp(r->url, "/static/", 8) == 0 ||
            strcmp(r->url, "/favicon.ico") == 0);
}

static enum MHD_Result page(http_req_t *r, unsigned status, FILE *f, char **buf, size_t *len)
{
    fclose(f);
    enum MHD_Result rc = http_respond(r, status, "text/html; charset=utf-8", *buf, *len);
    free(*buf);
    return rc;
}

#define PAGE_OPEN()                                                                                \
    char *buf = NULL;                                                                              \
    size_t len = 0;                                                                                \
    FILE *f = open_memstream(&buf, &len)

static enum MHD_Result error_page(http_req_t *r, unsigned status, const char *msg)
{
    PAGE_OPEN();
    html_begin(f, "Error", r->user[0] ? r->user : NULL, r->user[0] ? r->form_key : NULL, "error");
    fputs("<h1>Something went wrong</h1><p class=\"error\">", f);
    html_str(f, msg);
    fputs("</p>", f);
    html_end(f);
    return page(r, status, f, &buf, &len);
}

static enum MHD_Result login_page(http_req_t *r)
{
    PAGE_OPEN();
    html_begin(f, "Log in", NULL, NULL, "login");
    fputs("<h1>Log in</h1>", f);
    if (http_arg(r, "failed"))
        fputs("<p class=\"error\" id=\"login-error\">Login failed: wrong user name or password, "
              "or too many attempts.</p>",
              f);
    fputs("<form id=\"login\" method=\"post\" action=\"/login\" class=\"card\">"
          "<label>User <input name=\"username\" autocomplete=\"username\" required "
          "autofocus></label>"
          "<label>Password <input name=\"password\" type=\"password\" "
          "autocomplete=\"current-password\" required></label>"
          "<button type=\"submit\">Log in</button></form>",
          f);
    html_end(f);
    return page(r, 200, f, &buf, &len);
}

static enum MHD_Result static_file(http_req_t *r)
{
    if (strcmp(r->url, "/static/console.css") == 0)
        return http_respond(r, 200, "text/css; charset=utf-8", console_css, strlen(console_css));
    if (strcmp(r->url, "/static/console.js") == 0)
        return http_respond(r, 200, "text/javascript; charset=utf-8", console_js,
                            strlen(console_js));
    return http_error(r, 404, "no such file");
}

/* A filter field of the job list form. */
static void filter_input(FILE *f, http_req_t *r, const char *name, const char *label,
                         const char *hint)
{
    const char *v = http_arg(r, name);
    fprintf(f, "<label>%s <input name=\"%s\" placeholder=\"%s\" value=\"", label, name, hint);
    html_str(f, v ? v : "");
    fputs("\"></label>", f);
}

static void job_row(FILE *f, const mc_job_summary_t *j)
{
    fprintf(f, "<tr data-jid=\"%s\"><td><a href=\"/job/%s\">%s</a></td><td>", j->jid, j->jid,
            j->jid);
    html_time(f, j->ts_us);
    fputs("</td><td>", f);
    html_str(f, j->user);
    fputs("</td><td>", f);
    html_str(f, j->fun);
    fputs("</td><td>", f);
    html_str(f, j->tgt);
    fprintf(f,
            "</td><td class=\"num minions\">%lld</td><td class=\"num returned\">%lld</td>"
            "<td class=\"num failed%s\">%lld</td></tr>\n",
            (long long)j->minions, (long long)j->returned, j->failed ? " bad" : "",
            (long long)j->failed);
}

static enum MHD_Result jobs_page(http_req_t *r)
{
    fetch_jobs_query_t q = {.fun = http_arg(r, "fun"),
                            .target = http_arg(r, "target"),
                            .user = http_arg(r, "user"),
                            .before = http_arg(r, "before"),
                            .limit = MC_JOBS_LIMIT_DEFAULT};
    if (q.before && !mc_jid_valid(q.before, strlen(q.before)))
        return error_page(r, 400, "before: not a job id");
    const char *globs[] = {q.fun, q.target, q.user};
    for (int i = 0; i < 3; i++) {
        if (globs[i] && !*globs[i])
            *(i == 0 ? &q.fun : i == 1 ? &q.target : &q.user) = NULL;
        else if (globs[i] && strlen(globs[i]) > MC_GLOB_MAX)
            return error_page(r, 400, "a filter is too long");
    }
    mc_reply_jobs_list_t l = {0};
    mc_err_t err;
    if (fetch_jobs(r->api, r->user, &q, &l, &err) != 0)
        return error_page(r, 502, err.msg);
    PAGE_OPEN();
    html_begin(f, "Jobs", r->user, r->form_key, "jobs");
    fputs("<h1>Jobs</h1>", f);
    if (l.behind)
        fputs("<p class=\"error\" id=\"behind\">The job history is behind: the master cannot "
              "write its job cache now. The newest jobs and returns wait in its queue: they are "
              "listed, and stored once it can write again.</p>",
              f);
    fputs("<form class=\"filters\" method=\"get\" action=\"/\">", f);
    filter_input(f, r, "user", "User", "any");
    filter_input(f, r, "fun", "Function", "e.g. cmd.*");
    filter_input(f, r, "target", "Target", "e.g. web*");
    fputs("<button type=\"submit\">Filter</button></form>", f);
    fprintf(f,
            "<table id=\"jobs\" data-filtered=\"%d\"><thead><tr><th>Job</th><th>Started</th>"
            "<th>User</th><th>Function</th><th>Target</th><th>Minions</th><th>Returned</th>"
            "<th>Failed</th></tr></thead><tbody>\n",
            q.fun || q.target || q.user || q.before);
    for (size_t i = 0; i < l.count; i++)
        job_row(f, &l.jobs[i]);
    fputs("</tbody></table>", f);
    if (!l.count)
        fputs("<p class=\"empty\">No jobs yet.</p>", f);
    /* The next page: the same filters, older than the last job here. */
    if (l.count == (size_t)q.limit) {
        fprintf(f, "<p><a id=\"older\" href=\"/?before=%s", l.jobs[l.count - 1].jid);
        const char *names[] = {"user", "fun", "target"};
        for (int i = 0; i < 3; i++) {
            const char *v = http_arg(r, names[i]);
            if (!v || !*v)
                continue;
            fprintf(f, "&amp;%s=", names[i]);
            for (const unsigned char *c = (const unsigned char *)v; *c; c++)
                if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                    (*c >= '0' && *c <= '9') || strchr("-_.~", *c))
                    fputc(*c, f);
                else
                    fprintf(f, "%%%02X", *c);
        }
        fputs("\">Older jobs</a></p>", f);
    }
    html_end(f);
    mc_reply_jobs_list_done(&l);
    return page(r, 200, f, &buf, &len);
}

static void minion_result(FILE *f, const fetched_job_t *j, const char *id)
{
    const mc_ret_t *ret = fetched_job_ret(j, id);
    char why[MC_REPLY_TEXT_MAX + 32];
    fputs("<tr data-id=\"", f);
    html_str(f, id);
    fputs("\"><td class=\"id\">", f);
    html_str(f, id);
    if (!ret) {
        fetched_job_missing(j, id, why, sizeof why);
        fputs("</td><td class=\"status missing\">", f);
        html_str(f, why);
        fputs("</td><td></td><td></td><td></td></tr>\n", f);
        return;
    }
    fprintf(f,
            "</td><td class=\"status %s\">%s</td><td class=\"num\">%lld</td>"
            "<td class=\"num\">%lld ms</td><td>",
            ret->success ? "ok" : "bad", ret->success ? "ok" : "failed", (long long)ret->retcode,
            (long long)ret->duration_ms);
    if (ret->ret) {
        fputs("<pre class=\"return\">", f);
        html_json(f, ret->ret, 0);
        fputs("</pre>", f);
    }
    if (ret->out_len) {
        fputs("<details open><summary>stdout</summary><pre class=\"stdout\">", f);
        html_text(f, ret->out, ret->out_len);
        fputs("</pre></details>", f);
    }
    if (ret->err_len) {
        fputs("<details open><summary>stderr</summary><pre class=\"stderr\">", f);
        html_text(f, ret->err, ret->err_len);
        fputs("</pre></details>", f);
    }
    if (ret->truncated)
        fputs("<p class=\"note\">output cut at the minion's output_max</p>", f);
    fputs("</td></tr>\n", f);
}

static enum MHD_Result job_page(http_req_t *r, const char *jid)
{
    if (!mc_jid_valid(jid, strlen(jid)))
        return error_page(r, 404, "not a job id");
    fetched_job_t j;
    mc_err_t err;
    if (fetch_job(r->api, r->user, jid, &j, &err) != 0)
        return error_page(r, err.code == MC_E_DENIED ? 403 : 404, err.msg);
    PAGE_OPEN();
    html_begin(f, jid, r->user, r->form_key, "job");
    fprintf(f, "<h1>Job <span id=\"jid\">%s</span></h1><dl class=\"job\"><dt>Function</dt><dd>",
            jid);
    html_str(f, j.job.fun);
    fputs("</dd><dt>Target</dt><dd>", f);
    html_str(f, j.job.tgt);
    fputs(" <small>(", f);
    html_str(f, j.job.tgt_type);
    fputs(")</small></dd><dt>User</dt><dd>", f);
    html_str(f, j.job.user);
    fputs("</dd><dt>Started</dt><dd>", f);
    html_time(f, j.job.ts_us);
    size_t failed = 0, missing = 0;
    for (size_t i = 0; i < j.job.minions.count; i++) {
        const mc_ret_t *ret = fetched_job_ret(&j, j.job.minions.items[i]);
        failed += ret && !ret->success;
        missing += !ret;
    }
    fprintf(f,
            "</dd><dt>Minions</dt><dd id=\"counts\">%zu targeted, %zu returned, %zu failed, "
            "%zu missing%s</dd></dl>",
            j.job.minions.count, j.job.minions.count - missing, failed, missing,
            j.running ? " (running)" : "");
    fprintf(f,
            "<p><button id=\"copy-json\" type=\"button\" data-jid=\"%s\">Copy as "
            "JSON</button></p>",
            jid);
    fprintf(f,
            "<table id=\"returns\" data-running=\"%d\"><thead><tr><th>Minion</th>"
            "<th>Status</th><th>Retcode</th><th>Duration</th><th>Output</th></tr></thead>"
            "<tbody>\n",
            j.running);
    /* Failed and missing first: they are what one looks for. */
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < j.job.minions.count; i++) {
            const mc_ret_t *ret = fetched_job_ret(&j, j.job.minions.items[i]);
            int kind = !ret ? 0 : !ret->success ? 1 : 2;
            if ((kind == 0 && pass == 1) || (kind == 1 && pass == 0) || (kind == 2 && pass == 2))
                minion_result(f, &j, j.job.minions.items[i]);
        }
    fputs("</tbody></table>", f);
    html_end(f);
    fetched_job_done(&j);
    return page(r, 200, f, &buf, &len);
}

static void grain_value(FILE *f, const msgpack_object *g, const char *name)
{
    const msgpack_object *v = g ? mc_mp_get(g, name) : NULL;
    if (!v)
        return;
    if (v->type == MSGPACK_OBJECT_STR) {
        html_text(f, v->via.str.ptr, v->via.str.size);
        return;
    }
    html_json(f, v, MC_JSON_COMPACT);
}

static enum MHD_Result fleet_page(http_req_t *r, const char *one)
{
    if (one && !mc_id_valid(one, strlen(one)))
        return error_page(r, 404, "not a minion id");
    mc_reply_minions_t l;
    mc_err_t err;
    if (fetch_minions(r->api, r->user, &l, &err) != 0)
        return error_page(r, err.code == MC_E_DENIED ? 403 : 502, err.msg);
    PAGE_OPEN();
    size_t up = 0;
    for (size_t i = 0; i < l.count; i++)
        up += l.minions[i].up;
    if (one) {
        const mc_minion_info_t *m = NULL;
        for (size_t i = 0; i < l.count; i++)
            if (strcmp(l.minions[i].id, one) == 0)
                m = &l.minions[i];
        if (!m) {
            fclose(f);
            free(buf);
            mc_reply_minions_done(&l);
            return error_page(r, 404, "no accepted minion of that id");
        }
        html_begin(f, one, r->user, r->form_key, "minion");
        fputs("<h1>Minion ", f);
        html_str(f, one);
        fprintf(f, " <span class=\"state %s\">%s</span></h1><p>Last seen: ", m->up ? "up" : "down",
                m->up ? "up" : "down");
        html_time(f, m->last_seen_us);
        fputs("</p><h2>Grains</h2><pre class=\"grains\">", f);
        if (m->grains) {
            html_json(f, m->grains, 0);
        }
        fputs("</pre>", f);
    } else {
        html_begin(f, "Minions", r->user, r->form_key, "fleet");
        fprintf(f, "<h1>Minions</h1><p id=\"fleet-counts\">%zu accepted: %zu up, %zu down</p>",
                l.count, up, l.count - up);
        fputs("<table id=\"minions\"><thead><tr><th>Minion</th><th>State</th><th>Last "
              "seen</th><th>OS</th><th>Kernel</th><th>CPUs</th><th>Roles</th></tr></thead>"
              "<tbody>\n",
              f);
        /* Down first. */
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < l.count; i++) {
                const mc_minion_info_t *m = &l.minions[i];
                if (m->up != (pass == 1))
                    continue;
                fprintf(f,
                        "<tr data-id=\"%s\"><td><a href=\"/fleet/%s\">%s</a></td>"
                        "<td class=\"state %s\">%s</td><td>",
                        m->id, m->id, m->id, m->up ? "up" : "down", m->up ? "up" : "down");
                html_time(f, m->last_seen_us);
                fputs("</td><td>", f);
                grain_value(f, m->grains, "os");
                fputc(' ', f);
                grain_value(f, m->grains, "osrelease");
                fputs("</td><td>", f);
                grain_value(f, m->grains, "kernelrelease");
                fputs("</td><td>", f);
                grain_value(f, m->grains, "num_cpus");
                fputs("</td><td>", f);
                grain_value(f, m->grains, "roles");
                fputs("</td></tr>\n", f);
            }
        fputs("</tbody></table>", f);
    }
    html_end(f);
    mc_reply_minions_done(&l);
    return page(r, 200, f, &buf, &len);
}

static enum MHD_Result launch_page(http_req_t *r)
{
    PAGE_OPEN();
    html_begin(f, "Run", r->user, r->form_key, "launch");
    fputs("<h1>Run a job</h1><form id=\"run\" class=\"card\">"
          "<label>Target <input name=\"tgt\" required value=\"*\"></label>"
          "<label>Target type <select name=\"tgt_type\">"
          "<option>glob</option><option>list</option><option>pcre</option>"
          "<option>grain</option><option>grain_pcre</option><option>ipcidr</option>"
          "<option>nodegroup</option><option>compound</option></select></label>"
          "<label>Function <input name=\"fun\" required placeholder=\"test.ping\"></label>"
          "<label>Arguments <textarea name=\"args\" rows=\"3\" placeholder=\"one per line; "
          "KEY=VALUE for a keyword argument\"></textarea></label>"
          "<label>Timeout (s) <input name=\"timeout\" type=\"number\" min=\"1\" "
          "value=\"30\"></label>"
          "<p><button type=\"button\" id=\"preview\">Preview targets</button> "
          "<button type=\"submit\" id=\"submit-run\">Run</button></p>"
          "<p id=\"preview-out\" class=\"note\"></p><p id=\"run-error\" class=\"error\"></p>"
          "</form><noscript><p>Running a job needs JavaScript.</p></noscript>",
          f);
    html_end(f);
    return page(r, 200, f, &buf, &len);
}

enum MHD_Result console_dispatch(http_req_t *r)
{
    bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (get && strncmp(r->url, "/static/", 8) == 0)
        return static_file(r);
    if (get && strcmp(r->url, "/favicon.ico") == 0)
        return http_respond(r, MHD_HTTP_NO_CONTENT, "image/x-icon", "", 0);
    if (get && strcmp(r->url, "/login") == 0)
        return login_page(r);
    if (!r->user[0]) {
        if (!get)
            return http_error(r, 401, "log in first");
        return http_redirect(r, "/login", NULL);
    }
    if (!get)
        return http_error(r, 405, "%s is not allowed on %s", r->method, r->url);
    if (strcmp(r->url, "/") == 0)
        return jobs_page(r);
    if (strncmp(r->url, "/job/", 5) == 0 && !strchr(r->url + 5, '/'))
        return job_page(r, r->url + 5);
    if (strcmp(r->url, "/fleet") == 0)
        return fleet_page(r, NULL);
    if (strncmp(r->url, "/fleet/", 7) == 0 && r->url[7] && !strchr(r->url + 7, '/'))
        return fleet_page(r, r->url + 7);
    if (strcmp(r->url, "/launch") == 0)
        return launch_page(r);
    return error_page(r, 404, "no such page");
}
