/*  results - see results.h. */
#include "results.h"

#include <string.h>

void results_missing_text(const result_t *x, char *buf, size_t cap)
{
    if (x->state == NOT_SENT)
        snprintf(buf, cap, "Minion did not return. [Not sent: %s]", x->why ? x->why : "?");
    else
        snprintf(buf, cap, "Minion did not return. [%s]",
                 x->state == PENDING ? "Not run" : "No response");
}

static void print_json(result_t *r, size_t n)
{
    printf("{\n");
    for (size_t i = 0; i < n; i++) {
        printf("    ");
        mc_json_string(stdout, r[i].id, strlen(r[i].id));
        printf(": ");
        mc_ret_t ret;
        mc_err_t err;
        client_frame_t *f = r[i].ret;
        if (f && mc_ret_decode(&ret, f->data, f->size, &err) == 0) {
            mc_json_value(stdout, ret.ret, 4);
            mc_ret_done(&ret);
        } else {
            char msg[512];
            results_missing_text(&r[i], msg, sizeof msg);
            mc_json_string(stdout, msg, strlen(msg));
        }
        printf(i + 1 < n ? ",\n" : "\n");
    }
    printf("}\n");
}

int results_report(const cli_opts_t *o, result_t *r, size_t n, const char *jid)
{
    size_t failed = 0, missing = 0;
    for (size_t i = 0; i < n; i++) {
        result_t *x = &r[i];
        if (x->state != RETURNED) {
            missing++;
            if (o->out == OUT_TXT) {
                char msg[512];
                results_missing_text(x, msg, sizeof msg);
                printf("%s:\n    %s\n", x->id, msg);
            }
        } else if (!x->success) {
            failed++;
        }
    }
    if (o->out == OUT_JSON)
        print_json(r, n);
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
