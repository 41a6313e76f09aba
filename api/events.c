/*  events - see events.h. */
#include "events.h"

#include <string.h>

#include "json.h"
#include "jsonout.h"
#include "link.h"
#include "log.h"
#include "proto/proto.h"

typedef struct {
    api_t *api;
    link_t l;
    char *buf; /* what is still to be written */
    size_t len, off;
    int64_t last_ms;
} stream_t;

static void stream_free(void *cls)
{
    stream_t *s = cls;
    link_close(&s->l);
    free(s->buf);
    free(s);
}

/* Queue text for the client (the buffer has been written out). */
static void put(stream_t *s, const char *text, size_t len)
{
    free(s->buf);
    s->buf = mc_malloc(len);
    memcpy(s->buf, text, len);
    s->len = len;
    s->off = 0;
}

static void format_event(stream_t *s, const mc_event_t *ev)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (ev->lost > 0)
        fprintf(f, "event: resync\ndata: {\"lost\":%lld}\n\n", (long long)ev->lost);
    fprintf(f, "event: %s\ndata: {\"jid\":\"%s\",\"fun\":", mc_event_type_name(ev->type), ev->jid);
    mc_json_text(f, ev->fun, strlen(ev->fun), MC_JSON_COMPACT);
    if (ev->type == MC_EVENT_JOB) {
        fputs(",\"tgt\":", f);
        mc_json_text(f, ev->tgt, strlen(ev->tgt), MC_JSON_COMPACT);
        fputs(",\"tgt_type\":", f);
        mc_json_text(f, ev->tgt_type, strlen(ev->tgt_type), MC_JSON_COMPACT);
        fputs(",\"user\":", f);
        mc_json_text(f, ev->user, strlen(ev->user), MC_JSON_COMPACT);
        fputs(",\"start\":", f);
        jsonout_time(f, ev->ts_us);
        fprintf(f, ",\"minions\":%lld}\n\n", (long long)ev->minions);
    } else {
        fputs(",\"id\":", f);
        mc_json_text(f, ev->id, strlen(ev->id), MC_JSON_COMPACT);
        fprintf(f, ",\"retcode\":%lld,\"success\":%s}\n\n", (long long)ev->retcode,
                ev->success ? "true" : "false");
    }
    fclose(f);
    free(s->buf);
    s->buf = buf;
    s->len = len;
    s->off = 0;
}

/* MHD asks for more of the stream: wait (this connection's own thread)
   for the next event, a second at a time, so that a stop is noticed. */
static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(out, s->buf + s->off, n);
            s->off += n;
            s->last_ms = mc_mono_ms();
            return (ssize_t)n;
        }
        if (atomic_load(&s->api->stop))
            return MHD_CONTENT_READER_END_OF_STREAM;
        char kind[16];
        client_frame_t *body = NULL;
        int got = client_next(&s->l.c, kind, &body, 1000);
        if (got < 0) {
            mc_info("events: %s's stream ends: %s", s->l.user, s->l.c.why.msg);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (got == 0) {
            if (mc_mono_ms() - s->last_ms >= EVENTS_KEEPALIVE_MS)
                put(s, ": keepalive\n\n", strlen(": keepalive\n\n"));
            continue;
        }
        mc_event_t ev;
        mc_err_t err;
        if (strcmp(kind, MC_KIND_EVENT) == 0 &&
            mc_event_decode(&ev, body->data, body->size, &err) == 0)
            format_event(s, &ev);
        else if (strcmp(kind, MC_KIND_EVENT) == 0)
            mc_warn("events: an event from the master refused: %s", err.msg);
        client_frame_free(&body);
    }
}

enum MHD_Result events_stream(http_req_t *r)
{
    stream_t *s = mc_calloc(1, sizeof *s);
    s->api = r->api;
    mc_err_t err;
    client_frame_t *reply = NULL;
    if (link_open(r->api, &s->l, r->user, &err) != 0) {
        free(s);
        return http_error(r, (unsigned)link_http_status(&err), "%s", err.msg);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_plain_pack(&sb, MC_REQ_EVENTS);
    int rc = link_ask(&s->l, &sb, &reply, 10000, &err);
    msgpack_sbuffer_destroy(&sb);
    mc_reply_status_t st;
    if (rc == 0 && mc_reply_status_decode(&st, reply->data, reply->size, &err) != 0)
        rc = -1;
    else if (rc == 0 && !st.ok) {
        mc_err_code(&err, st.denied ? MC_E_DENIED : MC_E_REFUSED, "%s", st.error);
        rc = -1;
    }
    client_frame_free(&reply);
    if (rc != 0) {
        stream_free(s);
        return http_error(r, (unsigned)link_http_status(&err), "%s", err.msg);
    }
    static const char hello[] = "retry: 3000\n: connected\n\n";
    put(s, hello, sizeof hello - 1);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, s, stream_free);
    if (!resp) {
        stream_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    http_common_headers(r, resp);
    enum MHD_Result ok = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    mc_info("events: %s from %s subscribed", r->user, r->addr);
    return ok;
}
