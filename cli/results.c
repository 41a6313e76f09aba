/*  results - see results.h. */
#include "results.h"

#include <string.h>

#include "yamlout.h"

#define GREEN  "\033[32m"
#define RED    "\033[31m"
#define YELLOW "\033[33m"
#define RESET  "\033[0m"

void results_missing_text(const result_t *x, char *buf, size_t cap)
{
    if (x->state == NOT_SENT)
        snprintf(buf, cap, "Minion did not return. [Not sent: %s]", x->why ? x->why : "?");
    else if (x->state == MISSING && x->why)
        snprintf(buf, cap, "Minion did not return. [No response: %s]", x->why);
    else
        snprintf(buf, cap, "Minion did not return. [%s]",
                 x->state == PENDING ? "Not run" : "No response");
}

void results_print_txt(const cli_opts_t *o, const char *id, bool success, const msgpack_object *ret)
{
    if (o->color)
        printf("%s%s" RESET ":\n", success ? GREEN : RED, id);
    else
        printf("%s:\n", id);
    output_txt_value(stdout, ret, 4);
}

void results_take(const cli_opts_t *o, result_t *x, const mc_ret_t *ret, client_frame_t **body)
{
    x->success = ret->success;
    if (o->out == OUT_TXT && !o->static_out) {
        results_print_txt(o, ret->id, ret->success, ret->ret);
        fflush(stdout);
    } else {
        x->ret = *body;
        *body = NULL;
    }
}

/* One minion's entry in a json or yaml document: its return, or why it
   has none. false when --hide-timeout leaves it out. */
typedef struct {
    mc_ret_t ret;
    bool have;
    char why[512];
} entry_t;

static bool entry_of(const cli_opts_t *o, const result_t *x, entry_t *e)
{
    mc_err_t err;
    e->have = x->ret && mc_ret_decode(&e->ret, x->ret->data, x->ret->size, &err) == 0;
    if (!e->have)
        results_missing_text(x, e->why, sizeof e->why);
    return e->have || !o->hide_timeout;
}

static void print_json(const cli_opts_t *o, result_t *r, size_t n)
{
    printf("{");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        entry_t e;
        if (!entry_of(o, &r[i], &e))
            continue;
        printf(first ? "\n    " : ",\n    ");
        first = false;
        mc_json_string(stdout, r[i].id, strlen(r[i].id));
        printf(": ");
        if (e.have) {
            mc_json_value(stdout, e.ret.ret, 4);
            mc_ret_done(&e.ret);
        } else {
            mc_json_string(stdout, e.why, strlen(e.why));
        }
    }
    printf(first ? "}\n" : "\n}\n");
}

static void print_yaml(const cli_opts_t *o, result_t *r, size_t n)
{
    yamlout_t *y = yamlout_open(stdout);
    for (size_t i = 0; y && i < n; i++) {
        entry_t e;
        if (!entry_of(o, &r[i], &e))
            continue;
        yamlout_key(y, r[i].id);
        if (e.have) {
            yamlout_value(y, e.ret.ret);
            mc_ret_done(&e.ret);
        } else {
            yamlout_text(y, e.why, strlen(e.why));
        }
    }
    if (yamlout_close(&y) != 0)
        fprintf(stderr, "mctl: could not write the YAML output\n");
}

/* --static txt: every return, in target order, after the gather. */
static void print_txt_static(const cli_opts_t *o, result_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mc_ret_t ret;
        mc_err_t err;
        client_frame_t *f = r[i].ret;
        if (f && mc_ret_decode(&ret, f->data, f->size, &err) == 0) {
            results_print_txt(o, ret.id, ret.success, ret.ret);
            mc_ret_done(&ret);
        }
    }
}

/* --summary, as Salt's: counts, then who did not respond. */
static void print_summary(FILE *f, result_t *r, size_t n, size_t missing, size_t failed)
{
    fprintf(f,
            "-------------------------------------------\n"
            "Summary\n"
            "-------------------------------------------\n"
            "# of minions targeted: %zu\n"
            "# of minions returned: %zu\n"
            "# of minions that did not return: %zu\n"
            "# of minions with errors: %zu\n"
            "-------------------------------------------\n",
            n, n - missing, missing, failed);
    if (missing) {
        fprintf(f, "Minions not responding:");
        for (size_t i = 0; i < n; i++)
            if (r[i].state != RETURNED)
                fprintf(f, " %s", r[i].id);
        fprintf(f, "\n-------------------------------------------\n");
    }
}

int results_report(const cli_opts_t *o, result_t *r, size_t n, const char *jid)
{
    size_t failed = 0, missing = 0;
    if (o->out == OUT_TXT && o->static_out)
        print_txt_static(o, r, n);
    for (size_t i = 0; i < n; i++) {
        result_t *x = &r[i];
        if (x->state != RETURNED) {
            missing++;
            if (o->out == OUT_TXT && !o->hide_timeout) {
                char msg[512];
                results_missing_text(x, msg, sizeof msg);
                if (o->color)
                    printf(YELLOW "%s" RESET ":\n    %s\n", x->id, msg);
                else
                    printf("%s:\n    %s\n", x->id, msg);
            }
        } else if (!x->success) {
            failed++;
        }
    }
    if (o->out == OUT_JSON)
        print_json(o, r, n);
    else if (o->out == OUT_YAML)
        print_yaml(o, r, n);
    fflush(stdout);
    if (o->summary)
        print_summary(o->out == OUT_TXT ? stdout : stderr, r, n, missing, failed);
    fflush(stdout);
    if (missing) {
        fprintf(stderr, "ERROR: %zu of %zu minion%s did not return%s%s%s\n", missing, n,
                n == 1 ? "" : "s", jid ? " (jid " : "", jid ? jid : "", jid ? ")" : "");
        return EXIT_NO_RETURN;
    }
    if (failed) {
        fprintf(stderr, "ERROR: Minions returned with non-zero exit code\n");
        return EXIT_FAILED;
    }
    return EXIT_OK;
}
