/*  Unit tests for the minion's link against a real libzmq ROUTER with
    CURVE and a ZAP handler, as the master runs it: the handshake with a
    key the handler accepts, messages both ways (one of a megabyte),
    heartbeats answered, a wrong server key, a refused client key, and the
    frame-size limit. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <czmq.h>

#include "keys.h"
#include "link.h"
#include "util.h"

/* One ZAP handler for all the tests, as it binds a fixed endpoint. */
static zactor_t *auth;

typedef struct {
    zsock_t *router;
    int port;
    mc_curve_keys_t server, client;
    /* What the link reported. */
    int ups, losts, fails, refusals;
    char why[256];
    int messages;
    link_part_t last[LINK_MAX_PARTS];
    mc_buf_t last_data;
    int last_n;
} fixture_t;

static void on_event(void *arg, link_event_t ev, const char *why)
{
    fixture_t *f = arg;
    if (ev == LINK_UP)
        f->ups++;
    else if (ev == LINK_LOST)
        f->losts++;
    else if (ev == LINK_FAILED)
        f->fails++;
    else
        f->refusals++;
    if (why)
        snprintf(f->why, sizeof f->why, "%s", why);
}

/* Keep a copy: the parts are only valid during the call. */
static void on_message(void *arg, const link_part_t *parts, int n)
{
    fixture_t *f = arg;
    f->messages++;
    f->last_data.len = 0;
    size_t off[LINK_MAX_PARTS];
    for (int i = 0; i < n; i++) {
        off[i] = f->last_data.len;
        mc_buf_append(&f->last_data, parts[i].data, parts[i].size);
    }
    for (int i = 0; i < n; i++)
        f->last[i] = (link_part_t){(const uint8_t *)f->last_data.data + off[i], parts[i].size};
    f->last_n = n;
}

/* A CURVE ROUTER whose ZAP handler accepts only a client key saved in a
   folder: the client's (allow) or another one. */
static fixture_t *server_start(bool allow, int heartbeat_ms)
{
    fixture_t *f = mc_calloc(1, sizeof *f);
    assert_int_equal(crypto_box_keypair(f->server.pub, f->server.sec), 0);
    assert_int_equal(crypto_box_keypair(f->client.pub, f->client.sec), 0);
    char dir[] = "/tmp/mctl-link-keys-XXXXXX";
    assert_non_null(mkdtemp(dir));
    mc_curve_keys_t other;
    assert_int_equal(crypto_box_keypair(other.pub, other.sec), 0);
    zcert_t *cert =
        allow ? zcert_new_from(f->client.pub, f->client.sec) : zcert_new_from(other.pub, other.sec);
    char *path = mc_sprintf("%s/client.cert", dir);
    assert_int_equal(zcert_save_public(cert, path), 0);
    zcert_destroy(&cert);
    zstr_sendx(auth, "CURVE", dir, NULL);
    zsock_wait(auth);
    /* zauth has read the folder: it may go. */
    unlink(path);
    free(path);
    rmdir(dir);
    f->router = zsock_new(ZMQ_ROUTER);
    zsock_set_curve_server(f->router, 1);
    zsock_set_curve_secretkey_bin(f->router, f->server.sec);
    zsock_set_zap_domain(f->router, "test");
    zsock_set_linger(f->router, 0);
    if (heartbeat_ms) {
        zsock_set_heartbeat_ivl(f->router, heartbeat_ms);
        zsock_set_heartbeat_timeout(f->router, heartbeat_ms * 3);
    }
    f->port = zsock_bind(f->router, "tcp://127.0.0.1:*");
    assert_true(f->port > 0);
    return f;
}

static void server_stop(fixture_t **pf)
{
    fixture_t *f = *pf;
    zsock_destroy(&f->router);
    mc_buf_free(&f->last_data);
    free(f);
    *pf = NULL;
}

static link_t *link_to(fixture_t *f, const unsigned char *server_pub, size_t max_frame,
                       int alive_ms)
{
    link_config_t lc = {.host = "127.0.0.1",
                        .port = f->port,
                        .server_pub = server_pub,
                        .pub = f->client.pub,
                        .sec = f->client.sec,
                        .max_frame = max_frame,
                        .alive_ms = alive_ms,
                        .on_event = on_event,
                        .on_message = on_message,
                        .arg = f};
    return link_new(&lc);
}

/* Run the link for up to ms, or until *until becomes non-zero. */
static void pump(link_t *l, int ms, const int *until)
{
    int64_t end = mc_mono_ms() + ms;
    while (mc_mono_ms() < end && !(until && *until)) {
        link_flush(l);
        struct pollfd p = {link_fd(l), link_events(l), 0};
        long t = link_timeout(l, mc_mono_ms());
        if (t < 0 || t > 20)
            t = 20;
        poll(&p, 1, (int)t);
        link_service(l, p.revents, mc_mono_ms());
    }
}

/* The next message at the ROUTER, waiting up to 5 s. */
static zmsg_t *server_recv(fixture_t *f, link_t *l)
{
    int64_t end = mc_mono_ms() + 5000;
    while (mc_mono_ms() < end) {
        pump(l, 10, NULL);
        if (zsock_events(f->router) & ZMQ_POLLIN)
            return zmsg_recv(f->router);
    }
    return NULL;
}

/* Bring the link up and send one frame, so that the ROUTER learns who it
   is: returns the routing id for messages back. */
static zframe_t *first_hello(fixture_t *f, link_t *l)
{
    pump(l, 5000, &f->ups);
    assert_true(link_is_up(l));
    link_part_t hi = {(const uint8_t *)"hi", 2};
    assert_int_equal(link_send(l, &hi, 1), 0);
    zmsg_t *m = server_recv(f, l);
    assert_non_null(m);
    zframe_t *rid = zmsg_pop(m);
    zmsg_destroy(&m);
    return rid;
}

static void test_messages_both_ways(void **state)
{
    (void)state;
    fixture_t *f = server_start(true, 0);
    link_t *l = link_to(f, f->server.pub, 2u << 20, 0);
    pump(l, 5000, &f->ups);
    assert_int_equal(f->ups, 1);
    assert_true(link_is_up(l));

    link_part_t out[2] = {{(const uint8_t *)"ret", 3}, {(const uint8_t *)"hello", 5}};
    assert_int_equal(link_send(l, out, 2), 0);
    zmsg_t *m = server_recv(f, l);
    assert_non_null(m);
    assert_int_equal(zmsg_size(m), 3);
    zframe_t *rid = zmsg_pop(m);
    zframe_t *kind = zmsg_first(m);
    assert_true(zframe_streq(kind, "ret"));
    assert_true(zframe_streq(zmsg_next(m), "hello"));
    zmsg_destroy(&m);

    /* A megabyte each way, in frames bigger than one read. */
    size_t big = 1u << 20;
    char *blob = mc_malloc(big);
    for (size_t i = 0; i < big; i++)
        blob[i] = (char)(i * 7);
    zmsg_t *reply = zmsg_new();
    zmsg_append(reply, &rid);
    zmsg_addstr(reply, "job");
    zmsg_addmem(reply, blob, big);
    assert_int_equal(zmsg_send(&reply, f->router), 0);
    pump(l, 5000, &f->messages);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->last_n, 2);
    assert_int_equal(f->last[0].size, 3);
    assert_memory_equal(f->last[0].data, "job", 3);
    assert_int_equal(f->last[1].size, big);
    assert_memory_equal(f->last[1].data, blob, big);

    link_part_t back = {(const uint8_t *)blob, big};
    assert_int_equal(link_send(l, &back, 1), 0);
    m = server_recv(f, l);
    assert_non_null(m);
    assert_int_equal(zframe_size(zmsg_last(m)), big);
    assert_memory_equal(zframe_data(zmsg_last(m)), blob, big);
    zmsg_destroy(&m);
    free(blob);
    assert_int_equal(f->losts + f->fails + f->refusals, 0);
    link_destroy(&l);
    server_stop(&f);
}

/* A message of more frames than LINK_MAX_PARTS is dropped and the link
   stays up: the next message arrives whole. */
static void test_too_many_frames(void **state)
{
    (void)state;
    fixture_t *f = server_start(true, 0);
    link_t *l = link_to(f, f->server.pub, 1024, 0);
    zframe_t *rid = first_hello(f, l);
    assert_int_equal(f->ups, 1);

    zmsg_t *many = zmsg_new();
    zmsg_add(many, zframe_dup(rid));
    for (int i = 0; i < LINK_MAX_PARTS + 3; i++)
        zmsg_addstr(many, "frame");
    assert_int_equal(zmsg_send(&many, f->router), 0);
    zmsg_t *two = zmsg_new();
    zmsg_append(two, &rid);
    zmsg_addstr(two, "job");
    zmsg_addstr(two, "after");
    assert_int_equal(zmsg_send(&two, f->router), 0);
    pump(l, 5000, &f->messages);
    assert_int_equal(f->messages, 1);
    assert_int_equal(f->last_n, 2);
    assert_memory_equal(f->last[1].data, "after", 5);
    assert_true(link_is_up(l));
    assert_int_equal(f->losts + f->fails, 0);
    link_destroy(&l);
    server_stop(&f);
}

/* The server pings every 100 ms and gives up after 300 ms of silence; the
   link pings every 200 ms and gives up after 400: answered pings keep both
   ends up for well over either limit. */
static void test_heartbeats(void **state)
{
    (void)state;
    fixture_t *f = server_start(true, 100);
    link_t *l = link_to(f, f->server.pub, 1024, 400);
    pump(l, 5000, &f->ups);
    assert_int_equal(f->ups, 1);
    pump(l, 1500, &f->losts);
    assert_int_equal(f->losts, 0);
    assert_true(link_is_up(l));
    link_part_t p = {(const uint8_t *)"still", 5};
    assert_int_equal(link_send(l, &p, 1), 0);
    zmsg_t *m = server_recv(f, l);
    assert_non_null(m);
    zmsg_destroy(&m);
    link_destroy(&l);
    server_stop(&f);
}

static void test_wrong_server_key(void **state)
{
    (void)state;
    fixture_t *f = server_start(true, 0);
    unsigned char other[32], other_sec[32];
    crypto_box_keypair(other, other_sec);
    link_t *l = link_to(f, other, 1024, 0);
    pump(l, 5000, &f->fails);
    assert_int_equal(f->ups, 0);
    assert_true(f->fails >= 1);
    /* The server cannot open HELLO and hangs up: the log names the cause. */
    assert_non_null(strstr(f->why, "is master_pubkey this master's key?"));
    assert_false(link_is_up(l));
    link_part_t p = {(const uint8_t *)"x", 1};
    assert_int_equal(link_send(l, &p, 1), -1);
    link_destroy(&l);
    server_stop(&f);
}

static void test_refused_key(void **state)
{
    (void)state;
    fixture_t *f = server_start(false, 0);
    link_t *l = link_to(f, f->server.pub, 1024, 0);
    pump(l, 5000, &f->refusals);
    assert_int_equal(f->ups, 0);
    assert_int_equal(f->refusals, 1);
    assert_non_null(strstr(f->why, "refused"));
    link_destroy(&l);
    server_stop(&f);
}

static void test_frame_limit(void **state)
{
    (void)state;
    fixture_t *f = server_start(true, 0);
    link_t *l = link_to(f, f->server.pub, 1000, 0);
    zframe_t *rid = first_hello(f, l);
    char blob[2000] = {0};
    zmsg_t *reply = zmsg_new();
    zmsg_append(reply, &rid);
    zmsg_addmem(reply, blob, sizeof blob);
    assert_int_equal(zmsg_send(&reply, f->router), 0);
    pump(l, 5000, &f->losts);
    assert_int_equal(f->losts, 1);
    assert_int_equal(f->messages, 0);
    assert_non_null(strstr(f->why, "over the limit"));
    /* It comes back by itself. */
    for (int i = 0; i < 250 && f->ups < 2; i++)
        pump(l, 20, NULL);
    assert_int_equal(f->ups, 2);
    link_destroy(&l);
    server_stop(&f);
}

int main(void)
{
    zsys_set_logstream(NULL);
    auth = zactor_new(zauth, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_both_ways), cmocka_unit_test(test_too_many_frames),
        cmocka_unit_test(test_heartbeats),         cmocka_unit_test(test_wrong_server_key),
        cmocka_unit_test(test_refused_key),        cmocka_unit_test(test_frame_limit),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zactor_destroy(&auth);
    return rc;
}
