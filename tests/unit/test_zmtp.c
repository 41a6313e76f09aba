/*  Unit tests for mctl's own ZMTP client against a real libzmq ROUTER
    socket: the handshake, short and long frames both ways, several
    messages in one read, the frame-size limit, and refusing a peer that is
    not a ROUTER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "zmtp.h"

typedef struct {
    void *ctx, *sock;
    char path[64];
} peer_t;

static void peer_start(peer_t *p, int type)
{
    snprintf(p->path, sizeof p->path, "/tmp/mctl-zmtp-%d.ipc", (int)getpid());
    unlink(p->path);
    p->ctx = zmq_ctx_new();
    p->sock = zmq_socket(p->ctx, type);
    int zero = 0;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &zero, sizeof zero);
    char ep[80];
    snprintf(ep, sizeof ep, "ipc://%s", p->path);
    assert_int_equal(zmq_bind(p->sock, ep), 0);
}

static void peer_stop(peer_t *p)
{
    zmq_close(p->sock);
    zmq_ctx_term(p->ctx);
    unlink(p->path);
}

/* Receive one message on the ROUTER: routing id, then one frame. */
static size_t router_recv(peer_t *p, zmq_msg_t *rid, char *buf, size_t cap)
{
    zmq_msg_init(rid);
    assert_true(zmq_msg_recv(rid, p->sock, 0) >= 0);
    int n = zmq_recv(p->sock, buf, cap, 0);
    assert_true(n >= 0);
    return (size_t)n;
}

static void router_send(peer_t *p, zmq_msg_t *rid, const char *kind, const void *body, size_t n)
{
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, rid);
    assert_true(zmq_msg_send(&copy, p->sock, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(p->sock, kind, strlen(kind), ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(p->sock, body, n, 0) >= 0);
}

static void round_trip_short_and_long(void **state)
{
    peer_t p;
    peer_start(&p, ZMQ_ROUTER);
    zmtp_t z;
    mc_err_t err;
    assert_int_equal(zmtp_connect(&z, p.path, 1 << 20, 2000, &err), 0);

    assert_int_equal(zmtp_send(&z, "hello", 5, &err), 0);
    char buf[1 << 16];
    zmq_msg_t rid;
    assert_int_equal(router_recv(&p, &rid, buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);

    /* Long frames (over 255 bytes) both ways. */
    static char big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(zmtp_send(&z, big, 300, &err), 0);
    assert_int_equal(router_recv(&p, &rid, buf, sizeof buf), 300);
    assert_memory_equal(buf, big, 300);

    /* Three messages back, one of them bigger than the read buffer. */
    router_send(&p, &rid, "reply", "x", 1);
    router_send(&p, &rid, "ret", big, sizeof big);
    router_send(&p, &rid, "ack", "", 0);
    zmtp_frame_t *f[2];
    assert_int_equal(zmtp_recv(&z, f, 2, 2000, &err), 2);
    assert_int_equal(f[0]->size, 5);
    assert_memory_equal(f[0]->data, "reply", 5);
    assert_int_equal(f[1]->size, 1);
    zmtp_frame_free(&f[0]);
    zmtp_frame_free(&f[1]);
    assert_int_equal(zmtp_recv(&z, f, 2, 2000, &err), 2);
    assert_int_equal(f[1]->size, sizeof big);
    assert_memory_equal(f[1]->data, big, sizeof big);
    zmtp_frame_free(&f[0]);
    zmtp_frame_free(&f[1]);
    assert_int_equal(zmtp_recv(&z, f, 2, 2000, &err), 2);
    assert_int_equal(f[1]->size, 0);
    zmtp_frame_free(&f[0]);
    zmtp_frame_free(&f[1]);

    /* Nothing more: a timeout, not an error. */
    assert_int_equal(zmtp_recv(&z, f, 2, 50, &err), 0);
    zmq_msg_close(&rid);
    zmtp_close(&z);
    peer_stop(&p);
}

static void oversized_frame_refused(void **state)
{
    peer_t p;
    peer_start(&p, ZMQ_ROUTER);
    zmtp_t z;
    mc_err_t err;
    assert_int_equal(zmtp_connect(&z, p.path, 1000, 2000, &err), 0);
    assert_int_equal(zmtp_send(&z, "hi", 2, &err), 0);
    char buf[16];
    zmq_msg_t rid;
    router_recv(&p, &rid, buf, sizeof buf);
    static char big[5000];
    router_send(&p, &rid, "ret", big, sizeof big);
    zmtp_frame_t *f[2];
    assert_int_equal(zmtp_recv(&z, f, 2, 2000, &err), -1);
    assert_non_null(strstr(err.msg, "over the limit"));
    zmq_msg_close(&rid);
    zmtp_close(&z);
    peer_stop(&p);
}

static void wrong_peer_refused(void **state)
{
    peer_t p;
    peer_start(&p, ZMQ_PUB);
    zmtp_t z;
    mc_err_t err;
    assert_int_equal(zmtp_connect(&z, p.path, 1000, 2000, &err), -1);
    zmtp_close(&z);
    peer_stop(&p);
}

static void nobody_listening(void **state)
{
    zmtp_t z;
    mc_err_t err;
    char path[64];
    snprintf(path, sizeof path, "/tmp/mctl-zmtp-none-%d.ipc", (int)getpid());
    assert_int_equal(zmtp_connect(&z, path, 1000, 2000, &err), -1);
    assert_non_null(strstr(err.msg, path));
    zmtp_close(&z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_short_and_long),
        cmocka_unit_test(oversized_frame_refused),
        cmocka_unit_test(wrong_peer_refused),
        cmocka_unit_test(nobody_listening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
