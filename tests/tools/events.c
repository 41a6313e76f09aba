/*  mctl-test-events - an event subscriber that stops reading, for the
    test that the master's queue for it stays bounded (t_security.sh),
    and the many jobs such tests need.

      mctl-test-events publish SOCKET LIST COUNT
          publish COUNT test.ping jobs to the minions of LIST (ids with
          commas) over one connection, each once the master has answered
          the last (mctl --async COUNT times, without COUNT processes);
          prints the last jid, or exits 1 with why on stderr

      mctl-test-events SOCKET GOFILE

    Subscribes to events on the master's client socket SOCKET and prints
    "subscribed"; then reads nothing, and says nothing of what it has read,
    until the file GOFILE exists. Then it takes every event waiting until
    none comes for a second, tells the master it has read them
    (events_read), prints "drained N" (how many), and waits up to 20 s for the
    next event: prints "next lost L" with that event's lost count. Exits
    0, or 1 with why on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "proto/proto.h"
#include "util.h"

static int fail(const char *what, const mc_err_t *err)
{
    fprintf(stderr, "mctl-test-events: %s: %s\n", what, err ? err->msg : "no answer");
    return 1;
}

/* The next event within timeout_ms: 1 with ev, 0 when none came, -1 when
   the connection failed. Other messages (ticks) are passed over. */
static int next_event(client_t *c, mc_event_t *ev, int timeout_ms)
{
    int64_t until = mc_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = until - mc_mono_ms();
        if (left <= 0)
            return 0;
        char kind[16];
        client_frame_t *body = NULL;
        int got = client_next(c, kind, &body, (int)left);
        if (got <= 0)
            return got;
        mc_err_t err;
        int rc = strcmp(kind, MC_KIND_EVENT) == 0 &&
                 mc_event_decode(ev, body->data, body->size, &err) == 0;
        client_frame_free(&body);
        if (rc)
            return 1;
    }
}

static int publish(const char *socket, const char *list, int count)
{
    client_t c;
    mc_err_t err;
    if (client_open_at(&c, NULL, socket, &err) != 0)
        return fail("connect", &err);
    mc_req_publish_spec_t spec = {
        .target = {list, "list", 0}, .fun = "test.ping", .timeout = 10, .user = "test"};
    char jid[MC_JID_LEN + 1] = "";
    for (int i = 0; i < count; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_request_publish_pack(&sb, &spec);
        client_frame_t *reply = NULL;
        mc_reply_targets_t t;
        int rc = client_ask(&c, &sb, &reply, 10000, &err);
        msgpack_sbuffer_destroy(&sb);
        if (rc == 0)
            rc = mc_reply_publish_decode(&t, reply->data, reply->size, &err);
        client_frame_free(&reply);
        if (rc != 0)
            return fail("publish", &err);
        snprintf(jid, sizeof jid, "%s", t.jid);
        mc_reply_targets_done(&t);
    }
    printf("%s\n", jid);
    client_close(&c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "publish") == 0)
        return publish(argv[2], argv[3], atoi(argv[4]));
    if (argc != 3) {
        fprintf(stderr, "usage: mctl-test-events SOCKET GOFILE\n"
                        "       mctl-test-events publish SOCKET LIST COUNT\n");
        return 64;
    }
    client_t c;
    mc_err_t err;
    if (client_open_at(&c, NULL, argv[1], &err) != 0)
        return fail("connect", &err);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_plain_pack(&sb, MC_REQ_EVENTS);
    client_frame_t *reply = NULL;
    mc_reply_status_t st;
    if (client_ask(&c, &sb, &reply, 10000, &err) != 0 ||
        mc_reply_status_decode(&st, reply->data, reply->size, &err) != 0)
        return fail("subscribe", &err);
    client_frame_free(&reply);
    if (!st.ok)
        return fail("subscribe", NULL);
    printf("subscribed\n");
    fflush(stdout);
    while (access(argv[2], F_OK) != 0)
        usleep(50 * 1000);
    mc_event_t ev;
    int64_t drained = 0;
    int got;
    while ((got = next_event(&c, &ev, 1000)) > 0)
        drained++;
    if (got < 0)
        return fail("read", &c.why);
    msgpack_sbuffer_clear(&sb);
    mc_request_events_read_pack(&sb, drained);
    if (client_send(&c, &sb, &err) != 0)
        return fail("events_read", &err);
    msgpack_sbuffer_destroy(&sb);
    printf("drained %lld\n", (long long)drained);
    fflush(stdout);
    got = next_event(&c, &ev, 20000);
    if (got <= 0)
        return fail("the next event", got < 0 ? &c.why : NULL);
    printf("next lost %lld\n", (long long)ev.lost);
    client_close(&c);
    return 0;
}
