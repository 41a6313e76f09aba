/*  results - the minions' answers to one job, and how mctl reports them:
    used by a live job and by `mctl jobs show`, so both print the same and
    exit with the same status. */
#ifndef MC_RESULTS_H
#define MC_RESULTS_H

#include "client.h"

#include "cli.h"
#include "proto/proto.h"

typedef enum { PENDING, WAITING, ACKED, RETURNED, MISSING, NOT_SENT } result_state_t;

typedef struct {
    char *id;
    char jid[MC_JID_LEN + 1];
    result_state_t state;
    bool success;
    int64_t started_ms;
    int64_t deadline_ms; /* when set, wait for this minion until then */
    client_frame_t *ret; /* the raw return, kept for json */
    char *why;           /* NOT_SENT: the master's reason */
} result_t;

/* "Minion did not return. [why]" for a minion without a return. */
void results_missing_text(const result_t *x, char *buf, size_t cap);

/* One minion's return as txt ("id:" then the value), the id in green or
   red (failed) when color is on. */
void results_print_txt(const cli_opts_t *o, const char *id, bool success,
                       const msgpack_object *ret);

/* A minion's return has come: txt prints it now (unless --static), the
   other formats keep its bytes (*body, taken) for the document at the
   end. The caller clears any progress line first. */
void results_take(const cli_opts_t *o, result_t *x, const mc_ret_t *ret, client_frame_t **body);
/* After the returns (txt prints them as they come, unless --static):
   list the minions that did not return (txt, unless --hide-timeout) or
   print everything as one document (json, yaml; without those minions
   under --hide-timeout); --summary's counts (on stdout for txt, stderr
   otherwise, so the document stays whole); say what went wrong on stderr.
   Returns the exit status. jid may be NULL (batches). */
int results_report(const cli_opts_t *o, result_t *r, size_t n, const char *jid);

#endif
