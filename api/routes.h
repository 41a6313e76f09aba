/*  routes - mctl-api's endpoints, found by method and path:

      POST /login            username, password (JSON, or a form: then a
                             303 to / with the cookie set) -> token
      POST /logout
      GET  /minions          every accepted minion: up or down, last seen,
                             a summary of its grains
      GET  /minions/ID       one minion, all its grains
      GET  /jobs             ?user= &fun= &target= (globs) &since= (ISO
                             date or seconds since the epoch) &limit=
                             (1 to 10000, default 50) &before= (a jid:
                             only older jobs, for the next page)
      GET  /jobs/JID         the job, every return, the minions missing
                             and why
      POST /run              {tgt, tgt_type, fun, arg, kwarg, timeout};
                             ?wait=1 answers with the job once it is over,
                             or after RUN_WAIT_MAX_S with what has come
                             (running: true)
      GET  /targets          ?tgt= &tgt_type= &delimiter=: the minions a
                             target selects (nothing is run)
      GET  /keys             the key lists
      POST /keys/accept, /keys/reject, /keys/delete
                             {match: glob or [globs], include_rejected,
                             include_accepted}
      GET  /events           server-sent events (events.c)
      GET  / and the rest    the web console (console.c)

    Every endpoint but /login and the console's login page needs a login:
    401 without one. What a user may do is the master's to decide
    (publisher_acl): its refusal is a 403. */
#ifndef MC_API_ROUTES_H
#define MC_API_ROUTES_H

#include "http.h"

/* The longest POST /run?wait=1 holds its connection. */
#define RUN_WAIT_MAX_S 300

enum MHD_Result routes_dispatch(http_req_t *r);

#endif
