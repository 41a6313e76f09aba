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
    idle connections open through proxies. When events were lost (the
    master could not hand them over; the client read so slowly that
    EVENTS_BUFFER_MAX was waiting for it; or so slowly that the master held
    events back, as it sends a stream at most MC_EVENTS_WINDOW more than
    the stream has told it it took), "event: resync" with {"lost": N}
    comes first: read the history again. The stream ends when the master
    goes away, mctl-api stops, the login ends (logout, expiry, the user no
    longer in client_group, the account locked or expired) or after
    EVENTS_MAX_AGE_MS; the browser's EventSource reconnects by itself. */
#ifndef MC_API_EVENTS_H
#define MC_API_EVENTS_H

#include "http.h"

#define EVENTS_KEEPALIVE_MS 15000
#define EVENTS_BUFFER_MAX   (1024 * 1024)
#define EVENTS_MAX_AGE_MS   (10 * 60 * 1000)

enum MHD_Result events_stream(http_req_t *r);

#endif
