/*  listen - the master's TCP sockets: each a CURVE server whose
    connections ZAP admits (zap.c), with a guard against peers whose host
    is gone, listening on its port through sockets of the master's own
    (SO_REUSEPORT, handed to libzmq), so that minions reconnecting all at
    once after a restart are not turned away. */
#include "master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A CURVE server socket, not yet listening: a connection takes the
   socket's options as they are at bind time. */
zsock_t *listen_curve_socket(master_t *self, int type, const char *domain, int maxmsgsize)
{
    zsock_t *s = zsock_new(type);
    if (!s)
        return NULL;
    zsock_set_zap_domain(s, domain);
    zsock_set_curve_server(s, 1);
    zsock_set_curve_secretkey_bin(s, self->curve.sec);
    zsock_set_curve_publickey_bin(s, self->curve.pub);
    zsock_set_maxmsgsize(s, maxmsgsize);
    zsock_set_linger(s, 1000);
    zsock_set_rcvtimeo(s, 0); /* the loop drains it (server_run) */
    zsock_set_sndhwm(s, 100000);
    zsock_set_rcvhwm(s, 100000);
    if (type == ZMQ_ROUTER)
        zsock_set_router_mandatory(s, 1);
    return s;
}

/* A minion's connection whose host is gone (powered off, cut from the
   network) is closed by the kernel: TCP keepalive probes an idle one
   after alive_s (the kernel takes at most 32767 s), and data left
   unacknowledged for alive_s (at least 30 s: a slow link is not a dead
   one) ends one that is sending. Not ZMTP heartbeats: libzmq 4.3 keeps one timer per
   heartbeating connection and cancels it by walking all of its io
   thread's timers, so their cost grows with the square of the minions
   (most of an idle master's CPU at 8,000). A minion that is there but
   silent (a hung process) is not present anyway: presence also needs its
   heartbeats within minion_alive_interval (minions.c). */
void listen_dead_peer_guard(zsock_t *s, int alive_s)
{
    int idle_s = alive_s < 32767 ? alive_s : 32767;
    int probe_s = idle_s / 6 > 1 ? idle_s / 6 : 1;
    zsock_set_tcp_keepalive(s, 1);
    zsock_set_tcp_keepalive_idle(s, idle_s);
    zsock_set_tcp_keepalive_intvl(s, probe_s);
    zsock_set_tcp_keepalive_cnt(s, 3);
    zsock_set_tcp_maxrt(s, (alive_s > 30 ? alive_s : 30) * 1000);
}

/* A listening socket of the master's own, in the port's SO_REUSEPORT
   group; -1 with errno. */
static int reuseport_listener(const struct sockaddr_storage *addr, socklen_t len, int backlog)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        (addr->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0) ||
        bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Whether nobody listens on the address: a plain socket (not in any
   SO_REUSEPORT group) binds it. Keeps a second master off the port. */
static int port_free(const struct sockaddr_storage *addr, socklen_t len)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    int rc = bind(fd, (const struct sockaddr *)addr, len);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* The port's listeners. libzmq accepts one connection each time a
   listener wakes its io thread, and a restarted master's minions all
   reconnect at once: with an interface given as an address, the master
   opens `self->listeners` sockets of its own on the port (SO_REUSEPORT;
   the kernel spreads new connections over them, each with its own accept
   queue) and hands each to libzmq (ZMQ_USE_FD), as many as io threads. Any
   other interface (a name, `*`) is libzmq's to resolve, with one
   listener. Only a process of the master's own uid could join the
   SO_REUSEPORT group (the kernel's rule); port_free keeps another master
   from doing so. */
int listen_tcp(master_t *self, zsock_t *s, int port, mc_err_t *err)
{
    const char *iface = self->cfg->interface;
    bool v6 = strchr(iface, ':') != NULL;
    if (!s) {
        mc_err_set(err, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (v6)
        zsock_set_ipv6(s, 1);
    /* Minions reconnecting all at once (a master restart) must not find
       the accept queue full: a dropped SYN costs each a second or more.
       The kernel caps it at net.core.somaxconn. */
    int backlog = self->cfg->max_minions < 4096 ? self->cfg->max_minions : 4096;
    backlog = backlog < 100 ? 100 : backlog;
    zsock_set_backlog(s, backlog);
    struct sockaddr_storage addr = {0};
    socklen_t len = 0;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    if (inet_pton(AF_INET, iface, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, iface, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof *a6;
    }
    if (!len) {
        if (zsock_bind(s, v6 ? "tcp://[%s]:%d" : "tcp://%s:%d", iface, port) < 0) {
            mc_err_set(err, "cannot listen on %s port %d: %s", iface, port,
                       zmq_strerror(zmq_errno()));
            return -1;
        }
        return 0;
    }
    if (port_free(&addr, len) != 0) {
        mc_err_set(err, "cannot listen on %s port %d: %s", iface, port, strerror(errno));
        return -1;
    }
    for (int i = 0; i < self->listeners; i++) {
        int fd = reuseport_listener(&addr, len, backlog);
        if (fd < 0) {
            mc_err_set(err, "cannot listen on %s port %d: %s", iface, port, strerror(errno));
            return -1;
        }
        /* libzmq places each listener on an io thread of its choosing.
           Pinning listener i and its connections to thread i
           (ZMQ_AFFINITY) was tried: a restart under 8,000 minions took
           64 s against 48-51 s without. */
        int none = -1;
        void *z = zsock_resolve(s);
        int rc = zmq_setsockopt(z, ZMQ_USE_FD, &fd, sizeof fd) == 0
                     ? zsock_bind(s, v6 ? "tcp://[%s]:%d" : "tcp://%s:%d", iface, port)
                     : -1;
        zmq_setsockopt(z, ZMQ_USE_FD, &none, sizeof none);
        if (rc < 0) {
            mc_err_set(err, "cannot listen on %s port %d: %s", iface, port,
                       zmq_strerror(zmq_errno()));
            close(fd);
            return -1;
        }
    }
    return 0;
}
