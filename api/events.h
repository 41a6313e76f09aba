/*  events - GET /events: server-sent events (text/event-stream) of the
    jobs published and the returns stored from the moment the stream
    opens, those the logged-in user may see (the master decides, as for
    the history):

        event: job
        data: {"jid":..., "fun":..., "tgt":..., "tgt_type":..., "user":...,
               "start":..., "minions": N}

        event: ret
        data: {"jid":..., "id":..., "fun":..., "retcode": 0, "success": true}

    A stream starts with ": connected"; a comment line every 15 s keeps
    idle connections open through proxies. When the master could not hand
    over some events, "event: resync" with {"lost": N} comes first: read
    the history again. The stream ends when the master goes away or
    mctl-api stops; the browser's EventSource reconnects by itself. */
#ifndef MC_API_EVENTS_H
#define MC_API_EVENTS_H

#include "http.h"

#define EVENTS_KEEPALIVE_MS 15000

enum MHD_Result events_stream(http_req_t *r);

#endif
