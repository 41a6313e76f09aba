/*  console - the web console served at /: plain HTML pages made on the
    server (the job list, a job, the minions, the login page), so that
    reading works without JavaScript, plus one stylesheet and one script
    (compiled into the program from api/www/) that make the lists live
    (server-sent events) and drive the run form. */
#ifndef MC_API_CONSOLE_H
#define MC_API_CONSOLE_H

#include "http.h"

/* Whether the request is for a page anyone may see (the login page and
   the static files). */
bool console_public(const http_req_t *r);
/* Serve a console page; without a login, the login page. */
enum MHD_Result console_dispatch(http_req_t *r);

#endif
