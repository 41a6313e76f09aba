/*  run - mctl TARGET FUNCTION [ARG ...]: publish, gather, print.

    Every targeted minion is an entry that goes PENDING -> WAITING (job
    published) -> ACKED (the minion has it) -> RETURNED, or MISSING when
    its time runs out: a minion that has not acknowledged within the
    gather timeout (5 s, or the job's limit if shorter) is taken as not
    there; one that did is waited for until the job's time limit plus a
    grace for the minion to report that it killed the job.

    A plain job publishes once to the whole target; the master answers with
    the jid and the minions to expect. In batch mode (-b N or N%) the
    target is resolved first and each minion gets its own job as a slot
    frees up, so that at most N run at once, as Salt's --batch does; the
    publish answers then come back in the order they were asked for.

    Returns print as they arrive (txt) or all at the end (json). */
#include <math.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "results.h"
#include "proto/proto.h"

#define KILL_REPORT_GRACE_MS 4000

typedef struct {
    const cli_opts_t *o;
    client_t c;
    result_t *e;
    size_t n, done, running, next;
    size_t *asked; /* batch: entries whose publish awaits its answer, in order */
    size_t asked_head, asked_tail;
    int64_t next_start_ms;
    const char *fun;
    int argc;
    char **argv;
    const char *user;
    bool shown; /* the progress line is on the terminal */
} gather_t;

/* The live "N/M returned" line on a terminal's stderr. */
static void progress_clear(gather_t *g)
{
    if (g->shown) {
        fputs("\r\033[K", stderr);
        g->shown = false;
    }
}

static void progress_draw(gather_t *g)
{
    if (!g->o->progress || g->done == g->n)
        return;
    size_t returned = 0;
    for (size_t i = 0; i < g->n; i++)
        returned += g->e[i].state == RETURNED;
    fprintf(stderr, "\r\033[K%zu/%zu returned", returned, g->n);
    fflush(stderr);
    g->shown = true;
}

static result_t *find_entry(gather_t *g, const char *jid, const char *id)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->e[i].id, id) == 0 && strcmp(g->e[i].jid, jid) == 0)
            return &g->e[i];
    return NULL;
}

static void finish(gather_t *g, result_t *x, result_state_t how)
{
    if (x->state == WAITING || x->state == ACKED)
        g->running--;
    x->state = how;
    g->done++;
    if (g->o->batch_wait > 0)
        g->next_start_ms = mc_mono_ms() + (int64_t)g->o->batch_wait * 1000;
}

/* The minions a publish answer says the job was not sent to: each is
   finished at once, with the master's reason. */
static void take_unsent(gather_t *g, const mc_strs_t *unsent, const mc_strs_t *why, const char *jid)
{
    for (size_t k = 0; k < unsent->count; k++) {
        result_t *x = find_entry(g, jid, unsent->items[k]);
        if (x && (x->state == WAITING || x->state == ACKED)) {
            x->why = mc_strdup(why->items[k]);
            finish(g, x, NOT_SENT);
            if (g->o->async)
                fprintf(stderr, "mctl: %s: not sent: %s\n", x->id, x->why);
        }
    }
}

/* Batch: publish to the next minion, without waiting for the answer. */
static int start_next(gather_t *g)
{
    result_t *x = &g->e[g->next];
    client_target_t one = {x->id, "list", 0};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    client_pack_publish(&sb, &one, g->fun, g->argc, g->argv, g->o->timeout, g->user);
    mc_err_t err;
    int rc = client_send(&g->c, &sb, &err);
    msgpack_sbuffer_destroy(&sb);
    if (rc < 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return -1;
    }
    if (g->o->verbose)
        fprintf(stderr, "Executing run on %s\n", x->id);
    x->state = WAITING;
    x->started_ms = mc_mono_ms();
    g->asked[g->asked_tail++] = g->next++;
    g->running++;
    return 0;
}

/* Batch: the answer to the oldest publish we have not heard back on. */
static void on_publish_answer(gather_t *g, client_frame_t *body)
{
    if (g->asked_head == g->asked_tail)
        return;
    result_t *x = &g->e[g->asked[g->asked_head++]];
    mc_reply_targets_t r;
    mc_err_t err;
    if (mc_reply_publish_decode(&r, body->data, body->size, &err) != 0) {
        fprintf(stderr, "mctl: %s: %s%s\n", x->id,
                err.code == MC_E_REFUSED || err.code == MC_E_DENIED
                    ? ""
                    : "bad answer from the master: ",
                err.msg);
        finish(g, x, MISSING);
        return;
    }
    if (r.jid[0]) {
        snprintf(x->jid, sizeof x->jid, "%s", r.jid);
        take_unsent(g, &r.unsent, &r.unsent_why, x->jid);
    } else {
        fprintf(stderr, "mctl: %s: no longer matches the target\n", x->id);
        finish(g, x, MISSING);
    }
    mc_reply_targets_done(&r);
}

static void on_return(gather_t *g, client_frame_t **body)
{
    mc_ret_t ret;
    mc_err_t err;
    if (mc_ret_decode(&ret, (*body)->data, (*body)->size, &err) != 0) {
        fprintf(stderr, "mctl: a malformed return was ignored: %s\n", err.msg);
        return;
    }
    result_t *x = find_entry(g, ret.jid, ret.id);
    if (x && (x->state == WAITING || x->state == ACKED)) {
        finish(g, x, RETURNED);
        progress_clear(g);
        results_take(g->o, x, &ret, body);
    }
    mc_ret_done(&ret);
}

/* Mark minions whose time is up; returns when the next one's will be. */
static int64_t expire(gather_t *g, int64_t now)
{
    int gather = g->o->gather_timeout < g->o->timeout ? g->o->gather_timeout : g->o->timeout;
    int64_t wake = now + 1000;
    for (size_t i = 0; i < g->n; i++) {
        result_t *x = &g->e[i];
        if (x->state != WAITING && x->state != ACKED)
            continue;
        /* A job waited for (jobs wait) has the time the master says it
           has left; one just published, the timeout given here. */
        int64_t limit = x->deadline_ms
                            ? x->deadline_ms + KILL_REPORT_GRACE_MS
                            : x->started_ms + (x->state == WAITING ? (int64_t)gather * 1000
                                                                   : (int64_t)g->o->timeout * 1000 +
                                                                         KILL_REPORT_GRACE_MS);
        if (now >= limit)
            finish(g, x, MISSING);
        else if (limit < wake)
            wake = limit;
    }
    return wake;
}

static void gather(gather_t *g, size_t limit)
{
    progress_draw(g);
    while (g->done < g->n) {
        int64_t now = mc_mono_ms();
        while (g->next < g->n && g->running < limit && now >= g->next_start_ms)
            if (start_next(g) != 0)
                return;
        int64_t wake = expire(g, now);
        if (g->done == g->n)
            break;
        if (g->next < g->n && g->running < limit && g->next_start_ms < wake)
            wake = g->next_start_ms;
        char kind[16];
        client_frame_t *body = NULL;
        int got = client_next(&g->c, kind, &body, wake > now ? (int)(wake - now) : 0);
        if (got < 0) {
            fprintf(stderr, "mctl: %s\n", g->c.why.msg);
            return;
        }
        if (got > 0 && strcmp(kind, MC_KIND_REPLY) == 0) {
            on_publish_answer(g, body);
        } else if (got > 0 && strcmp(kind, MC_KIND_ACK) == 0) {
            mc_ack_t ack;
            mc_err_t err;
            if (mc_ack_decode(&ack, body->data, body->size, &err) == 0) {
                result_t *x = find_entry(g, ack.jid, ack.id);
                if (x && x->state == WAITING)
                    x->state = ACKED;
            }
        } else if (got > 0 && strcmp(kind, MC_KIND_RETURN) == 0) {
            on_return(g, &body);
            progress_draw(g);
        }
        client_frame_free(&body);
    }
    progress_clear(g);
}

static int report(gather_t *g, const char *jid)
{
    return results_report(g->o, g->e, g->n, jid);
}

/* The ids a reply names, as new entries. */
static void take_minions(gather_t *g, const mc_strs_t *minions, const char *jid)
{
    g->n = minions->count;
    g->e = mc_calloc(g->n + 1, sizeof *g->e);
    for (size_t i = 0; i < g->n; i++) {
        g->e[i].id = mc_strdup(minions->items[i]);
        if (jid) {
            snprintf(g->e[i].jid, sizeof g->e[i].jid, "%s", jid);
            g->e[i].state = WAITING;
            g->e[i].started_ms = mc_mono_ms();
        }
    }
    /* A plain job has started on every minion already. */
    g->running = jid ? g->n : 0;
    g->next = jid ? g->n : 0;
}

static void free_entries(gather_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->e[i].id);
        free(g->e[i].why);
        client_frame_free(&g->e[i].ret);
    }
    free(g->e);
    free(g->asked);
}

static size_t batch_size(const char *spec, size_t n)
{
    char *end;
    double v = strtod(spec, &end);
    size_t size = *end == '%' ? (size_t)ceil((double)n * v / 100.0) : (size_t)v;
    return size < 1 ? 1 : size;
}

int cmd_run(const cli_opts_t *o, const client_target_t *target, const char *fun, int argc,
            char **argv)
{
    struct passwd *pw = getpwuid(getuid());
    gather_t g = {.o = o, .fun = fun, .argc = argc, .argv = argv, .user = pw ? pw->pw_name : "?"};
    mc_err_t err;
    if (client_open(&g.c, o->config_dir, &err) != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return EXIT_UNAVAILABLE;
    }
    bool batch = o->batch != NULL && !o->async;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (batch)
        mc_request_list_targets_pack(&sb, target);
    else
        client_pack_publish(&sb, target, fun, argc, argv, o->timeout, g.user);
    client_frame_t *body;
    int rc = client_ask(&g.c, &sb, &body, CLIENT_HISTORY_ASK_MS, &err);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        client_close(&g.c);
        return err.code == MC_E_UNREACHABLE ? EXIT_UNAVAILABLE : EXIT_USAGE;
    }
    mc_reply_targets_t reply;
    rc = batch ? mc_reply_list_targets_decode(&reply, body->data, body->size, &err)
               : mc_reply_publish_decode(&reply, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0) {
        client_close(&g.c);
        rc = client_reply_failed(&err);
        return rc == EXIT_FAILED ? EXIT_USAGE : rc;
    }
    char jid[MC_JID_LEN + 1];
    snprintf(jid, sizeof jid, "%s", reply.jid);
    take_minions(&g, &reply.minions, batch ? NULL : jid);
    if (!batch)
        take_unsent(&g, &reply.unsent, &reply.unsent_why, jid);
    mc_reply_targets_done(&reply);
    int status = EXIT_OK;
    if (g.n == 0) {
        fprintf(stderr,
                "No minions matched the target. No command was sent, no jid was assigned.\n");
        status = EXIT_NO_RETURN;
    } else if (o->async) {
        if (o->out == OUT_JSON)
            printf("{\n    \"jid\": \"%s\"\n}\n", jid);
        else
            printf("Executed command with job ID: %s\n", jid);
        if (g.done > 0)
            status = EXIT_NO_RETURN;
    } else {
        if (o->verbose && !batch)
            fprintf(stderr,
                    "Executing job with jid %s\n----------------------------------------"
                    "---\n\n",
                    jid);
        g.asked = mc_calloc(g.n + 1, sizeof *g.asked);
        gather(&g, batch ? batch_size(o->batch, g.n) : g.n);
        status = report(&g, batch ? NULL : jid);
    }
    free_entries(&g);
    client_close(&g.c);
    return status;
}

int cmd_list_targets(const cli_opts_t *o, const client_target_t *target)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_list_targets_pack(&sb, target);
    client_frame_t *body;
    int rc = client_request(o->config_dir, &sb, &body, 10000);
    msgpack_sbuffer_destroy(&sb);
    mc_reply_targets_t reply;
    mc_err_t err;
    if (rc == 0) {
        rc = mc_reply_list_targets_decode(&reply, body->data, body->size, &err);
        client_frame_free(&body);
        if (rc != 0)
            rc = client_reply_failed(&err);
    }
    if (rc != 0)
        return rc == EXIT_FAILED ? EXIT_USAGE : rc;
    const mc_strs_t *minions = &reply.minions;
    if (o->out == OUT_JSON) {
        mc_json_strings(stdout, minions->items, minions->count, 0);
        printf("\n");
    } else {
        for (size_t i = 0; i < minions->count; i++)
            printf("%s\n", minions->items[i]);
    }
    size_t n = minions->count;
    mc_reply_targets_done(&reply);
    if (n == 0) {
        fprintf(stderr, "No minions matched the target.\n");
        return EXIT_NO_RETURN;
    }
    return EXIT_OK;
}

int cmd_jobs_wait(const cli_opts_t *o, const char *jid)
{
    if (!mc_jid_valid(jid, strlen(jid)))
        return cli_usage_error("jobs wait: '%s' is not a job id (20 digits)", jid);
    gather_t g = {.o = o};
    mc_err_t err;
    if (client_open(&g.c, o->config_dir, &err) != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return EXIT_UNAVAILABLE;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_job_pack(&sb, MC_REQ_JOBS_WAIT, jid);
    client_frame_t *body;
    int rc = client_ask(&g.c, &sb, &body, CLIENT_HISTORY_ASK_MS, &err);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        client_close(&g.c);
        return err.code == MC_E_UNREACHABLE ? EXIT_UNAVAILABLE : EXIT_FAILED;
    }
    mc_reply_job_t job;
    rc = mc_reply_jobs_wait_decode(&job, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0) {
        client_close(&g.c);
        return client_reply_failed(&err);
    }
    take_minions(&g, &job.minions, jid);
    /* Who is still to come waits until the job's time is up; who was
       never sent it is done. */
    for (size_t i = 0; i < g.n; i++) {
        g.e[i].state = ACKED;
        g.e[i].deadline_ms = mc_mono_ms() + job.remaining_ms;
    }
    take_unsent(&g, &job.unsent, &job.unsent_why, jid);
    /* What is stored comes next as "ret" messages, then the rest as it
       arrives: gather takes both alike. */
    mc_reply_job_done(&job);
    gather(&g, g.n);
    int status = report(&g, jid);
    free_entries(&g);
    client_close(&g.c);
    return status;
}
