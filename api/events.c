/*  events - see events.h. */
#include "events.h"

#include <string.h>

#include "access.h"
#include "json.h"
#include "jsonout.h"
#include "link.h"
#include "log.h"
#include "proto/proto.h"

typedef struct {
    api_t *api;
    link_t l;
    char token[SESSION_TOKEN_LEN + 1]; /* the login the stream lives on */
    char *buf;                         /* what is still to be written, from off */
    size_t len, off;
    int64_t lost;       /* events dropped here since the last resync */
    int64_t taken;      /* events taken from the master */
    int64_t told;       /* ... as last told to it (events_read) */
    int64_t last_ms;    /* last write */
    int64_t started_ms; /* the stream ends EVENTS_MAX_AGE_MS after */
    int64_t checked_ms; /* the login was last found valid */
} stream_t;

static void stream_free(void *cls)
{
    stream_t *s = cls;
    link_close(&s->l);
    free(s->buf);
    free(s);
}

/* Queue text for the client, unless the stream is EVENTS_BUFFER_MAX behind
   (a client that reads too slowly): then it is counted as lost, and the
   client is told to read the history again once it catches up. */
static void put(stream_t *s, const char *text, size_t len)
{
    if (s->off) {
        memmove(s->buf, s->buf + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    if (s->len + len > EVENTS_BUFFER_MAX) {
        s->lost++;
        return;
    }
    s->buf = mc_realloc(s->buf, s->len + len);
    memcpy(s->buf + s->len, text, len);
    s->len += len;
}

static void format_event(stream_t *s, const mc_event_t *ev)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (ev->lost > 0 || s->lost > 0)
        fprintf(f, "event: resync\ndata: {\"lost\":%lld}\n\n", (long long)(ev->lost + s->lost));
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
    int64_t lost_before = s->lost;
    put(s, buf, len);
    if (s->lost == lost_before && (ev->lost > 0 || lost_before > 0))
        s->lost = 0; /* the resync went out with it */
    free(buf);
}

/* Tell the master how many events this stream has taken, every
   MC_EVENTS_WINDOW / 10: it sends no more than MC_EVENTS_WINDOW beyond
   that, so a browser that stops reading holds a bounded queue there. */
static void tell_read(stream_t *s)
{
    if (s->taken - s->told < MC_EVENTS_WINDOW / 10)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_events_read_pack(&sb, s->taken);
    mc_err_t err;
    if (link_tell(&s->l, &sb, &err) == 0)
        s->told = s->taken;
    else
        mc_warn("events: cannot tell the master what %s's stream has read: %s", s->l.user, err.msg);
    msgpack_sbuffer_destroy(&sb);
}

/* One message from the master: an event is queued, a tick ignored, a
   refusal (of events_read) logged. */
static void take(stream_t *s, const char *kind, const client_frame_t *body)
{
    mc_err_t err;
    if (strcmp(kind, MC_KIND_REPLY) == 0) {
        mc_reply_status_t st;
        if (mc_reply_status_decode(&st, body->data, body->size, &err) == 0 && !st.ok)
            mc_warn("events: the master refused %s's stream: %s", s->l.user, st.error);
        return;
    }
    if (strcmp(kind, MC_KIND_EVENT) != 0)
        return;
    mc_event_t ev;
    s->taken++;
    if (mc_event_decode(&ev, body->data, body->size, &err) == 0)
        format_event(s, &ev);
    else
        mc_warn("events: an event from the master refused: %s", err.msg);
    tell_read(s);
}

/* Whether the stream may go on: mctl-api is not stopping, the stream is
   not too old, and (checked once a second) its login is still valid and
   its user may still use the master. */
static bool may_go_on(stream_t *s)
{
    int64_t now = mc_mono_ms();
    if (atomic_load(&s->api->stop) || now - s->started_ms >= EVENTS_MAX_AGE_MS)
        return false;
    if (now - s->checked_ms < 1000)
        return true;
    s->checked_ms = now;
    char user[MC_USER_MAX + 1];
    if (!sessions_lookup(s->api->sessions, s->token, user, NULL, NULL) ||
        !access_may_use_master(s->api, user) || !access_account_ok(s->api, s->token, user)) {
        mc_info("events: %s's stream ends: the login is over", s->l.user);
        return false;
    }
    return true;
}

/* MHD asks for more of the stream (in this connection's own thread):
   take every event waiting, then give what is queued, or wait for the
   next event a second at a time. */
static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    for (;;) {
        char kind[16];
        client_frame_t *body = NULL;
        int got;
        while ((got = client_next(&s->l.c, kind, &body, 0)) > 0) {
            take(s, kind, body);
            client_frame_free(&body);
        }
        if (got < 0) {
            mc_info("events: %s's stream ends: %s", s->l.user, s->l.c.why.msg);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(out, s->buf + s->off, n);
            s->off += n;
            s->last_ms = mc_mono_ms();
            return (ssize_t)n;
        }
        if (!may_go_on(s))
            return MHD_CONTENT_READER_END_OF_STREAM;
        got = client_next(&s->l.c, kind, &body, 1000);
        if (got < 0) {
            mc_info("events: %s's stream ends: %s", s->l.user, s->l.c.why.msg);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (got > 0) {
            take(s, kind, body);
            client_frame_free(&body);
        } else if (mc_mono_ms() - s->last_ms >= EVENTS_KEEPALIVE_MS) {
            static const char keepalive[] = ": keepalive\n\n";
            put(s, keepalive, sizeof keepalive - 1);
        }
    }
}

enum MHD_Result events_stream(http_req_t *r)
{
    stream_t *s = mc_calloc(1, sizeof *s);
    s->api = r->api;
    snprintf(s->token, sizeof s->token, "%s", r->token);
    s->started_ms = s->checked_ms = s->last_ms = mc_mono_ms();
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
