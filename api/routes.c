/*  routes - see routes.h. */
#include "routes.h"

#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "console.h"
#include "events.h"
#include "fetch.h"
#include "json.h"
#include "jsonin.h"
#include "jsonout.h"
#include "link.h"
#include "log.h"
#include "pam.h"

static bool is(const http_req_t *r, const char *method, const char *path)
{
    return strcmp(r->method, method) == 0 && strcmp(r->url, path) == 0;
}

/* The part of the path after prefix, when it starts with it and the rest
   is one segment. */
static const char *tail(const http_req_t *r, const char *method, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strcmp(r->method, method) != 0 || strncmp(r->url, prefix, n) != 0 || !r->url[n] ||
        strchr(r->url + n, '/'))
        return NULL;
    return r->url + n;
}

static enum MHD_Result failed(http_req_t *r, const mc_err_t *err)
{
    return http_error(r, err->code == MC_E_INPUT ? 400 : (unsigned)link_http_status(err), "%s",
                      err->msg);
}

/* ---- login ------------------------------------------------------------------ */

static bool valid_user_name(const char *s)
{
    if (!*s || strlen(s) > MC_USER_MAX || *s == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

static enum MHD_Result handle_login(http_req_t *r)
{
    const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    bool form = type && strncmp(type, "application/x-www-form-urlencoded", 33) == 0;
    char user[MC_USER_MAX + 1] = "", password[1024] = "";
    mc_err_t err;
    if (form) {
        if (!http_form_field(r, "username", user, sizeof user) ||
            !http_form_field(r, "password", password, sizeof password))
            return http_error(r, 400, "username and password are required");
    } else {
        json_t *o = jsonin_object(r->body, r->body_len, &err);
        if (!o)
            return failed(r, &err);
        const char *u = NULL, *p = NULL;
        if (jsonin_str(o, "username", true, MC_USER_MAX, &u, &err) != 0 ||
            jsonin_str(o, "password", true, sizeof password - 1, &p, &err) != 0) {
            json_decref(o);
            return failed(r, &err);
        }
        snprintf(user, sizeof user, "%s", u);
        snprintf(password, sizeof password, "%s", p);
        json_decref(o);
    }
    int64_t retry;
    enum MHD_Result rc;
    unsigned status = 0; /* a refusal: its status and message */
    char msg[256] = "login failed";
    /* Who may use the master is checked first, and refused like a wrong
       password: the answer must not tell a right password of another
       account from a wrong one. */
    if (!valid_user_name(user)) {
        status = 401;
    } else if (!sessions_login_begin(r->api->sessions, r->addr, user, &retry)) {
        mc_warn("login for %s from %s refused: too many failures (for %lld s more)", user, r->addr,
                (long long)retry);
        status = 429;
        snprintf(msg, sizeof msg, "too many failed logins: try again in %lld s", (long long)retry);
    } else if (!access_may_use_master(r->api, user)) {
        mc_warn("login for %s from %s refused: not root, the master's user or in its "
                "client_group",
                user, r->addr);
        status = 401;
    } else if (api_pam_check(r->api->cfg->api_pam_service, user, password, &err) != 0) {
        mc_warn("login for %s from %s failed: %s", user, r->addr, err.msg);
        status = 401;
    } else {
        sessions_login_succeeded(r->api->sessions, r->addr, user);
    }
    if (status && form) {
        rc = http_redirect(r, "/login?failed=1", NULL);
    } else if (status) {
        rc = http_error(r, status, "%s", msg);
    } else {
        char token[SESSION_TOKEN_LEN + 1], form_key[SESSION_TOKEN_LEN + 1];
        int64_t expires;
        sessions_create(r->api->sessions, user, r->api->cfg->api_token_expire, token, form_key,
                        &expires);
        mc_info("login: %s from %s", user, r->addr);
        char cookie[256];
        snprintf(cookie, sizeof cookie,
                 "mctl_token=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s", token,
                 r->api->cfg->api_token_expire, r->api->tls ? "; Secure" : "");
        if (form) {
            const char *headers[] = {"Set-Cookie", cookie, NULL};
            rc = http_redirect(r, "/", headers);
        } else {
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            fprintf(f, "{\"return\":[{\"token\":\"%s\",\"start\":%lld,\"expire\":%lld,\"user\":",
                    token, (long long)time(NULL), (long long)expires);
            mc_json_string(f, user, strlen(user));
            fputs(",\"eauth\":\"pam\"}]}\n", f);
            fclose(f);
            struct MHD_Response *resp =
                MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
            MHD_add_response_header(resp, "Content-Type", "application/json");
            MHD_add_response_header(resp, "X-Auth-Token", token);
            MHD_add_response_header(resp, "Set-Cookie", cookie);
            http_common_headers(r, resp);
            rc = MHD_queue_response(r->conn, 200, resp);
            MHD_destroy_response(resp);
        }
    }
    sodium_memzero(password, sizeof password);
    return rc;
}

static enum MHD_Result handle_logout(http_req_t *r)
{
    sessions_delete(r->api->sessions, r->token);
    mc_info("logout: %s from %s", r->user, r->addr);
    const char *cookie = "mctl_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen("{\"return\":\"logged out\"}\n"),
                                        "{\"return\":\"logged out\"}\n", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Set-Cookie", cookie);
    http_common_headers(r, resp);
    enum MHD_Result rc = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ---- reading ---------------------------------------------------------------- */

static enum MHD_Result handle_minions(http_req_t *r, const char *one)
{
    if (one && !mc_id_valid(one, strlen(one)))
        return http_error(r, 400, "not a minion id");
    mc_reply_minions_t l;
    mc_err_t err;
    if (fetch_minions(r->api, r->user, &l, &err) != 0)
        return failed(r, &err);
    bool found = !one;
    for (size_t i = 0; one && i < l.count; i++)
        found |= strcmp(l.minions[i].id, one) == 0;
    enum MHD_Result rc;
    if (!found) {
        rc = http_error(r, 404, "no accepted minion %s", one);
    } else {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        jsonout_minions(f, &l, one);
        rc = http_json_stream(r, 200, f, &buf, &len);
    }
    mc_reply_minions_done(&l);
    return rc;
}

/* A time argument: seconds since the epoch, or an ISO date
   (YYYY-MM-DD, optionally THH:MM[:SS], UTC). */
static int time_arg(const char *s, int64_t *us)
{
    char *end;
    long long secs = strtoll(s, &end, 10);
    if (*s && !*end && secs >= 0 && secs <= INT64_MAX / 1000000) {
        *us = secs * 1000000;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%d", &tm);
    if (!rest)
        return -1;
    if (*rest == 'T' || *rest == ' ') {
        const char *more = strptime(rest + 1, "%H:%M", &tm);
        if (!more)
            return -1;
        rest = more;
        if (*rest == ':' && !(rest = strptime(rest + 1, "%S", &tm)))
            return -1;
        if (*rest == 'Z')
            rest++;
    }
    if (*rest)
        return -1;
    *us = (int64_t)timegm(&tm) * 1000000;
    return 0;
}

static enum MHD_Result handle_jobs(http_req_t *r)
{
    fetch_jobs_query_t q = {.fun = http_arg(r, "fun"),
                            .target = http_arg(r, "target"),
                            .user = http_arg(r, "user"),
                            .limit = MC_JOBS_LIMIT_DEFAULT};
    const char *limit = http_arg(r, "limit"), *since = http_arg(r, "since");
    q.before = http_arg(r, "before");
    if (q.before && !mc_jid_valid(q.before, strlen(q.before)))
        return http_error(r, 400, "before: expected a job id");
    if (limit) {
        char *end;
        long long n = strtoll(limit, &end, 10);
        if (!*limit || *end || n < 1 || n > MC_JOBS_LIMIT_MAX)
            return http_error(r, 400, "limit: expected 1 to %d", MC_JOBS_LIMIT_MAX);
        q.limit = n;
    }
    if (since && time_arg(since, &q.since_us) != 0)
        return http_error(r, 400, "since: expected seconds since the epoch or YYYY-MM-DD[THH:MM]");
    const char *const globs[] = {q.fun, q.target, q.user};
    for (int i = 0; i < 3; i++)
        if (globs[i] && strlen(globs[i]) > MC_GLOB_MAX)
            return http_error(r, 400, "filters are at most %d characters", MC_GLOB_MAX);
    mc_reply_jobs_list_t l = {0};
    mc_err_t err;
    if (fetch_jobs(r->api, r->user, &q, &l, &err) != 0)
        return failed(r, &err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    jsonout_jobs(f, &l);
    mc_reply_jobs_list_done(&l);
    return http_json_stream(r, 200, f, &buf, &len);
}

static enum MHD_Result handle_job(http_req_t *r, const char *jid)
{
    if (!mc_jid_valid(jid, strlen(jid)))
        return http_error(r, 400, "not a job id");
    fetched_job_t j;
    mc_err_t err;
    if (fetch_job(r->api, r->user, jid, &j, &err) != 0)
        return failed(r, &err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    jsonout_job(f, &j);
    fetched_job_done(&j);
    return http_json_stream(r, 200, f, &buf, &len);
}

/* ---- running ------------------------------------------------------------------ */

/* A job's returns as they come on the publishing connection, until every
   minion it was sent to has returned, its time is up, RUN_WAIT_MAX_S
   have passed (the answer then says it is still running) or mctl-api
   stops. A second at a time, so that a stop is noticed. */
static void wait_returns(api_t *api, link_t *l, const mc_reply_targets_t *t, int64_t timeout_s)
{
    size_t want = t->minions.count - t->unsent.count, got = 0;
    int64_t wait_s = timeout_s + 5 < RUN_WAIT_MAX_S ? timeout_s + 5 : RUN_WAIT_MAX_S;
    int64_t deadline = mc_mono_ms() + wait_s * 1000;
    while (got < want && !atomic_load(&api->stop)) {
        int64_t left = deadline - mc_mono_ms();
        if (left <= 0)
            break;
        char kind[16];
        client_frame_t *body = NULL;
        int n = client_next(&l->c, kind, &body, left < 1000 ? (int)left : 1000);
        if (n < 0)
            break;
        if (n > 0 && strcmp(kind, MC_KIND_RETURN) == 0)
            got++;
        client_frame_free(&body);
    }
}

static enum MHD_Result handle_run(http_req_t *r)
{
    mc_err_t err;
    json_t *o = jsonin_object(r->body, r->body_len, &err);
    if (!o)
        return failed(r, &err);
    const char *tgt = NULL, *tgt_type = "glob", *fun = NULL, *delim = ":";
    int64_t timeout = 30;
    enum MHD_Result rc;
    const json_t *arg = json_object_get(o, "arg"), *kwarg = json_object_get(o, "kwarg");
    if (jsonin_str(o, "tgt", true, MC_TGT_MAX, &tgt, &err) ||
        jsonin_str(o, "tgt_type", false, 15, &tgt_type, &err) ||
        jsonin_str(o, "fun", true, MC_FUN_MAX, &fun, &err) ||
        jsonin_str(o, "delimiter", false, 1, &delim, &err) ||
        jsonin_int(o, "timeout", 1, MC_JOB_TIMEOUT_MAX, &timeout, &err)) {
        rc = failed(r, &err);
        goto out;
    }
    if (!*tgt || strlen(delim) != 1) {
        rc = http_error(r, 400, "tgt must not be empty and delimiter must be one character");
        goto out;
    }
    if ((arg && !json_is_array(arg)) || (kwarg && !json_is_object(kwarg)) ||
        (arg && json_array_size(arg) > MC_ARGS_MAX) ||
        (kwarg && json_object_size(kwarg) > MC_ARGS_MAX)) {
        rc = http_error(r, 400, "arg must be an array and kwarg an object, of at most %d items",
                        MC_ARGS_MAX);
        goto out;
    }
    /* The arguments as msgpack values for the request ({arg, kwarg}). */
    msgpack_sbuffer args;
    msgpack_sbuffer_init(&args);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &args, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mc_pk_str(&pk, "arg");
    if (arg)
        jsonin_pack(&pk, arg);
    else
        msgpack_pack_array(&pk, 0);
    mc_pk_str(&pk, "kwarg");
    if (kwarg)
        jsonin_pack(&pk, kwarg);
    else
        msgpack_pack_map(&pk, 0);
    mc_mp_doc_t doc;
    if (mc_mp_parse(&doc, args.data, args.size, &err) != 0) {
        msgpack_sbuffer_destroy(&args);
        rc = failed(r, &err);
        goto out;
    }
    msgpack_sbuffer_destroy(&args);
    mc_req_publish_spec_t spec = {.target = {tgt, tgt_type, delim[0]},
                                  .fun = fun,
                                  .arg = mc_mp_get(&doc.root, "arg"),
                                  .kwarg = mc_mp_get(&doc.root, "kwarg"),
                                  .timeout = timeout,
                                  .user = r->user};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_publish_pack(&sb, &spec);
    mc_mp_doc_done(&doc);
    link_t l;
    client_frame_t *reply = NULL;
    mc_reply_targets_t t = {0};
    if (link_open(r->api, &l, r->user, &err) != 0) {
        msgpack_sbuffer_destroy(&sb);
        rc = failed(r, &err);
        goto out;
    }
    int got = link_ask(&l, &sb, &reply, FETCH_TIMEOUT_MS, &err);
    msgpack_sbuffer_destroy(&sb);
    if (got == 0)
        got = mc_reply_publish_decode(&t, reply->data, reply->size, &err);
    client_frame_free(&reply);
    if (got != 0) {
        link_close(&l);
        rc = failed(r, &err);
        goto out;
    }
    mc_info("run: %s by %s from %s: job %s to %zu minions", fun, r->user, r->addr,
            t.jid[0] ? t.jid : "(none)", t.minions.count);
    const char *wait = http_arg(r, "wait");
    if (t.jid[0] && wait && strcmp(wait, "0") != 0) {
        wait_returns(r->api, &l, &t, timeout);
        link_close(&l);
        rc = handle_job(r, t.jid);
    } else {
        link_close(&l);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        fputs("{\"return\":{\"jid\":", f);
        mc_json_string(f, t.jid, strlen(t.jid));
        fputs(",\"minions\":", f);
        mc_json_strings(f, t.minions.items, t.minions.count, MC_JSON_COMPACT);
        fputs(",\"unsent\":{", f);
        for (size_t i = 0; i < t.unsent.count; i++) {
            if (i)
                fputc(',', f);
            mc_json_string(f, t.unsent.items[i], strlen(t.unsent.items[i]));
            fputc(':', f);
            mc_json_text(f, t.unsent_why.items[i], strlen(t.unsent_why.items[i]), MC_JSON_COMPACT);
        }
        fputs("}}}", f);
        rc = http_json_stream(r, t.jid[0] ? 202 : 200, f, &buf, &len);
    }
    mc_reply_targets_done(&t);
out:
    json_decref(o);
    return rc;
}

static enum MHD_Result handle_targets(http_req_t *r)
{
    const char *tgt = http_arg(r, "tgt"), *tgt_type = http_arg(r, "tgt_type");
    const char *delim = http_arg(r, "delimiter");
    if (!tgt || !*tgt || strlen(tgt) > MC_TGT_MAX)
        return http_error(r, 400, "tgt is required");
    if (tgt_type && strlen(tgt_type) > 15)
        return http_error(r, 400, "tgt_type: not a target type");
    if (delim && strlen(delim) != 1)
        return http_error(r, 400, "delimiter must be one character");
    mc_req_target_spec_t spec = {tgt, tgt_type ? tgt_type : "glob", delim ? delim[0] : 0};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_list_targets_pack(&sb, &spec);
    client_frame_t *reply = NULL;
    mc_err_t err;
    int rc = link_request(r->api, r->user, &sb, &reply, &err);
    msgpack_sbuffer_destroy(&sb);
    mc_reply_targets_t t = {0};
    if (rc == 0)
        rc = mc_reply_list_targets_decode(&t, reply->data, reply->size, &err);
    client_frame_free(&reply);
    if (rc != 0)
        return failed(r, &err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fputs("{\"return\":", f);
    mc_json_strings(f, t.minions.items, t.minions.count, MC_JSON_COMPACT);
    fputs("}", f);
    mc_reply_targets_done(&t);
    return http_json_stream(r, 200, f, &buf, &len);
}

/* ---- keys --------------------------------------------------------------------- */

static enum MHD_Result handle_keys(http_req_t *r)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_plain_pack(&sb, MC_REQ_KEY_LIST);
    client_frame_t *reply = NULL;
    mc_err_t err;
    int rc = link_request(r->api, r->user, &sb, &reply, &err);
    msgpack_sbuffer_destroy(&sb);
    mc_reply_key_list_t keys;
    if (rc == 0)
        rc = mc_reply_key_list_decode(&keys, reply->data, reply->size, &err);
    client_frame_free(&reply);
    if (rc != 0)
        return failed(r, &err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *names[] = {"minions", "minions_pre", "minions_rejected", "minions_denied"};
    const mc_strs_t *lists[] = {&keys.accepted, &keys.pending, &keys.rejected, &keys.denied};
    fputs("{\"return\":{", f);
    for (int i = 0; i < 4; i++) {
        fprintf(f, "%s\"%s\":", i ? "," : "", names[i]);
        mc_json_strings(f, lists[i]->items, lists[i]->count, MC_JSON_COMPACT);
    }
    fputs("}}", f);
    mc_reply_key_list_done(&keys);
    return http_json_stream(r, 200, f, &buf, &len);
}

static enum MHD_Result handle_key_change(http_req_t *r, const char *action)
{
    mc_req_kind_t kind = strcmp(action, "accept") == 0   ? MC_REQ_KEY_ACCEPT
                         : strcmp(action, "reject") == 0 ? MC_REQ_KEY_REJECT
                         : strcmp(action, "delete") == 0 ? MC_REQ_KEY_DELETE
                                                         : MC_REQ_KINDS;
    if (kind == MC_REQ_KINDS)
        return http_error(r, 404, "no such key action: %s (accept, reject or delete)", action);
    mc_err_t err;
    json_t *o = jsonin_object(r->body, r->body_len, &err);
    if (!o)
        return failed(r, &err);
    bool inc_rej = false, inc_acc = false;
    const json_t *match = json_object_get(o, "match");
    size_t n = json_is_array(match) ? json_array_size(match) : 1;
    char **ids = mc_calloc(n + 1, sizeof *ids);
    size_t count = 0;
    enum MHD_Result rc;
    if (jsonin_bool(o, "include_rejected", &inc_rej, &err) ||
        jsonin_bool(o, "include_accepted", &inc_acc, &err)) {
        rc = failed(r, &err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_is_array(match) ? json_array_get(match, i) : match;
        if (!json_is_string(m) || !json_string_length(m) || json_string_length(m) > MC_GLOB_MAX ||
            n > MC_KEY_GLOBS_MAX) {
            rc = http_error(r, 400,
                            "match must be a glob or a list of at most %d globs of at most %d "
                            "characters",
                            MC_KEY_GLOBS_MAX, MC_GLOB_MAX);
            goto out;
        }
        ids[count++] = (char *)json_string_value(m);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_keys_pack(&sb, kind, ids, count, inc_rej, inc_acc);
    client_frame_t *reply = NULL;
    int got = link_request(r->api, r->user, &sb, &reply, &err);
    msgpack_sbuffer_destroy(&sb);
    mc_strs_t changed = {0};
    if (got == 0)
        got = mc_reply_keys_changed_decode(&changed, reply->data, reply->size, &err);
    client_frame_free(&reply);
    if (got != 0) {
        rc = failed(r, &err);
        goto out;
    }
    mc_info("keys: %s by %s from %s: %zu changed", action, r->user, r->addr, changed.count);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fputs("{\"return\":{\"changed\":", f);
    mc_json_strings(f, changed.items, changed.count, MC_JSON_COMPACT);
    fputs("}}", f);
    mc_strs_free(&changed);
    rc = http_json_stream(r, 200, f, &buf, &len);
out:
    free(ids);
    json_decref(o);
    return rc;
}

/* ---- dispatch ----------------------------------------------------------------- */

enum MHD_Result routes_dispatch(http_req_t *r)
{
    if (is(r, "POST", "/login"))
        return handle_login(r);
    if (console_public(r))
        return console_dispatch(r);
    bool api_path = strncmp(r->url, "/minions", 8) == 0 || strncmp(r->url, "/jobs", 5) == 0 ||
                    strncmp(r->url, "/keys", 5) == 0 || strcmp(r->url, "/run") == 0 ||
                    strcmp(r->url, "/events") == 0 || strcmp(r->url, "/logout") == 0 ||
                    strcmp(r->url, "/targets") == 0;
    if (!http_auth(r)) {
        if (!api_path)
            return console_dispatch(r); /* the login page, or a redirect to it */
        return http_error(r, 401, "log in first: POST /login, then send X-Auth-Token");
    }
    const char *t;
    if (is(r, "POST", "/logout"))
        return handle_logout(r);
    if (is(r, "GET", "/minions"))
        return handle_minions(r, NULL);
    if ((t = tail(r, "GET", "/minions/")))
        return handle_minions(r, t);
    if (is(r, "GET", "/jobs"))
        return handle_jobs(r);
    if ((t = tail(r, "GET", "/jobs/")))
        return handle_job(r, t);
    if (is(r, "POST", "/run"))
        return handle_run(r);
    if (is(r, "GET", "/targets"))
        return handle_targets(r);
    if (is(r, "GET", "/keys"))
        return handle_keys(r);
    if ((t = tail(r, "POST", "/keys/")))
        return handle_key_change(r, t);
    if (is(r, "GET", "/events"))
        return events_stream(r);
    if (api_path)
        return http_error(r, 405, "%s is not allowed on %s", r->method, r->url);
    return console_dispatch(r);
}
