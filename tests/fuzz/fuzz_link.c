/*  Fuzz target: what the minion's link reads from a server before CURVE
    has proved anything: the greeting, WELCOME, READY and ERROR commands,
    frame headers and whatever follows. The bytes come from a TCP peer on
    loopback, as they would from a master (or from anyone in between); the
    link must drop the connection, never crash or come up. */
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "link.h"

static int listener = -1, port;
static unsigned char server_pub[32], client_pub[32], client_sec[32];
static int ups, downs;

static void on_event(void *arg, link_event_t ev, const char *why)
{
    (void)arg;
    (void)why;
    if (ev == LINK_UP)
        ups++;
    else
        downs++;
}

static void on_message(void *arg, const link_part_t *parts, int n)
{
    (void)arg;
    (void)parts;
    (void)n;
    abort(); /* nothing is a message before the handshake */
}

static void set_up(void)
{
    if (sodium_init() < 0)
        abort();
    unsigned char sec[32];
    crypto_box_keypair(server_pub, sec);
    crypto_box_keypair(client_pub, client_sec);
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(listener, 4) != 0 || getsockname(listener, (struct sockaddr *)&sa, &len) != 0)
        abort();
    port = ntohs(sa.sin_port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    if (listener < 0)
        set_up();
    link_config_t lc = {.host = "127.0.0.1",
                        .port = port,
                        .server_pub = server_pub,
                        .pub = client_pub,
                        .sec = client_sec,
                        .max_frame = 4096,
                        .on_event = on_event,
                        .on_message = on_message};
    link_t *l = link_new(&lc);
    link_service(l, 0, 0); /* connect */
    int peer = accept(listener, NULL, NULL);
    if (peer < 0)
        abort();
    if (size && write(peer, data, size) != (ssize_t)size)
        abort();
    shutdown(peer, SHUT_WR);
    downs = 0;
    for (int i = 0; i < 1000 && downs == 0; i++) {
        link_flush(l);
        struct pollfd p = {link_fd(l), link_events(l), 0};
        poll(&p, 1, 100);
        link_service(l, p.revents, 0);
    }
    if (ups != 0 || downs == 0)
        abort();
    close(peer);
    link_destroy(&l);
    return 0;
}
