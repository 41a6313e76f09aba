/*  run - mctl TARGET FUNCTION [ARG ...]: publish a job and gather returns.

    The master answers the publish with the jid and the minions it expects;
    from then on it streams an "ack" when a minion has the job and a "ret"
    with its return. A minion that has not acknowledged within the gather
    timeout (5 s, or the job's limit if shorter) is taken as not there; one
    that did acknowledge is waited for until the job's time limit, plus a
    grace for the minion to report that it killed the job. Returns print as
    they arrive (txt) or all at the end (json). */
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "wire.h"

#define KILL_REPORT_GRACE_MS 4000

typedef enum { WAITING, ACKED, RETURNED } state_t;

typedef struct {
    char *id;
    state_t state;
    bool success;
    zframe_t *ret; /* raw return, kept for json */
} expected_t;

static expected_t *find_expected(expected_t *e, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].id, id) == 0)
            return &e[i];
    return NULL;
}

static void print_json(expected_t *e, size_t n)
{
    printf("{\n");
    for (size_t i = 0; i < n; i++) {
        printf("    ");
        output_json_string(stdout, e[i].id, strlen(e[i].id));
        printf(": ");
        mc_ret_t ret;
        mc_err_t err;
        if (e[i].ret &&
            mc_ret_decode(&ret, zframe_data(e[i].ret), zframe_size(e[i].ret), &err) == 0) {
            output_json_value(stdout, ret.ret, 4);
            mc_ret_done(&ret);
        } else {
            const char *msg = "Minion did not return. [No response]";
            output_json_string(stdout, msg, strlen(msg));
        }
        printf(i + 1 < n ? ",\n" : "\n");
    }
    printf("}\n");
}

int cmd_run(const cli_opts_t *o, const char *tgt_type, const char *tgt, const char *fun, int argc,
            char **argv)
{
    client_t c;
    mc_err_t err;
    if (client_open(&c, o->config_dir, &err) != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return EXIT_UNAVAILABLE;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    struct passwd *pw = getpwuid(getuid());
    client_pack_publish(&sb, tgt, tgt_type, fun, argc, argv, o->timeout, pw ? pw->pw_name : "?");
    mc_mp_doc_t reply;
    int rc = client_call(&c, &sb, &reply, 10000, &err);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        client_close(&c);
        return strstr(err.msg, "did not answer") ? EXIT_UNAVAILABLE : EXIT_USAGE;
    }
    char jid[MC_JID_LEN + 1] = "";
    const msgpack_object *minions = NULL;
    if (mc_mp_str(&reply.root, "jid", jid, sizeof jid, &err) ||
        mc_mp_array(&reply.root, "minions", false, 1000000, &minions, &err)) {
        fprintf(stderr, "mctl: bad answer from the master: %s\n", err.msg);
        mc_mp_doc_done(&reply);
        client_close(&c);
        return EXIT_UNAVAILABLE;
    }
    size_t n = minions->via.array.size;
    if (n == 0) {
        fprintf(stderr,
                "No minions matched the target. No command was sent, no jid was assigned.\n");
        mc_mp_doc_done(&reply);
        client_close(&c);
        return EXIT_NO_RETURN;
    }
    if (o->async) {
        if (o->out == OUT_JSON)
            printf("{\n    \"jid\": \"%s\"\n}\n", jid);
        else
            printf("Executed command with job ID: %s\n", jid);
        mc_mp_doc_done(&reply);
        client_close(&c);
        return EXIT_OK;
    }
    if (o->verbose)
        fprintf(stderr,
                "Executing job with jid %s\n-------------------------------------------\n\n", jid);

    expected_t *e = mc_calloc(n, sizeof *e);
    for (size_t i = 0; i < n; i++)
        e[i].id = mc_mp_cstr(&minions->via.array.ptr[i]);
    mc_mp_doc_done(&reply);

    int64_t start = mc_mono_ms();
    int gather = o->gather_timeout < o->timeout ? o->gather_timeout : o->timeout;
    int64_t ack_deadline = start + gather * 1000;
    int64_t final_deadline = start + (int64_t)o->timeout * 1000 + KILL_REPORT_GRACE_MS;
    size_t returned = 0;
    while (returned < n) {
        int64_t now = mc_mono_ms();
        bool acked_waiting = false;
        for (size_t i = 0; i < n; i++)
            acked_waiting |= e[i].state == ACKED;
        /* Only minions that never acknowledged are left, and their time
           to do so is up: they are not there. */
        if (!acked_waiting && now >= ack_deadline)
            break;
        int64_t wake = acked_waiting ? final_deadline : ack_deadline;
        if (now >= final_deadline)
            break;
        if (wake > final_deadline)
            wake = final_deadline;
        char kind[16];
        zframe_t *body = NULL;
        int got = client_next(&c, kind, &body, (int)(wake - now));
        if (got < 0)
            break;
        if (got == 0)
            continue;
        if (strcmp(kind, "ack") == 0) {
            mc_ack_t ack;
            if (mc_ack_decode(&ack, zframe_data(body), zframe_size(body), &err) == 0 &&
                strcmp(ack.jid, jid) == 0) {
                expected_t *x = find_expected(e, n, ack.id);
                if (x && x->state == WAITING)
                    x->state = ACKED;
            }
        } else if (strcmp(kind, "ret") == 0) {
            mc_ret_t ret;
            if (mc_ret_decode(&ret, zframe_data(body), zframe_size(body), &err) != 0) {
                fprintf(stderr, "mctl: a malformed return was ignored: %s\n", err.msg);
            } else {
                expected_t *x = strcmp(ret.jid, jid) == 0 ? find_expected(e, n, ret.id) : NULL;
                if (x && x->state != RETURNED) {
                    x->state = RETURNED;
                    x->success = ret.success;
                    returned++;
                    if (o->out == OUT_TXT) {
                        output_txt_minion(stdout, ret.id, ret.ret);
                        fflush(stdout);
                    } else {
                        x->ret = body;
                        body = NULL;
                    }
                }
                mc_ret_done(&ret);
            }
        }
        zframe_destroy(&body);
    }

    int status = EXIT_OK;
    size_t failed = 0, missing = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].state != RETURNED) {
            missing++;
            if (o->out == OUT_TXT)
                printf("%s:\n    Minion did not return. [%s]\n", e[i].id,
                       e[i].state == ACKED ? "Still running" : "No response");
        } else if (!e[i].success) {
            failed++;
        }
    }
    if (o->out == OUT_JSON)
        print_json(e, n);
    fflush(stdout);
    if (missing) {
        fprintf(stderr, "ERROR: %zu of %zu minion%s did not return (jid %s)\n", missing, n,
                n == 1 ? "" : "s", jid);
        status = EXIT_NO_RETURN;
    } else if (failed) {
        fprintf(stderr, "ERROR: Minions returned with non-zero exit code\n");
        status = EXIT_FAILED;
    }
    for (size_t i = 0; i < n; i++) {
        free(e[i].id);
        zframe_destroy(&e[i].ret);
    }
    free(e);
    client_close(&c);
    return status;
}
