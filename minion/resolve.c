/*  resolve - see resolve.h. The thread and the caller share one struct;
    whichever of them lets go of it last frees it. */
#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct resolve {
    pthread_mutex_t lock;
    int refs;    /* the caller and the thread */
    int pipe[2]; /* the thread writes one byte when done */
    char *name;
    int gai;      /* getaddrinfo's answer */
    char **addrs; /* the addresses */
    size_t n;
};

static void unref(resolve_t *self)
{
    pthread_mutex_lock(&self->lock);
    int left = --self->refs;
    pthread_mutex_unlock(&self->lock);
    if (left > 0)
        return;
    close(self->pipe[0]);
    close(self->pipe[1]);
    resolve_addrs_free(self->addrs, self->n);
    free(self->name);
    pthread_mutex_destroy(&self->lock);
    free(self);
}

void resolve_addrs_free(char **addrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(addrs[i]);
    free(addrs);
}

static void add_addr(resolve_t *self, const char *text)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->addrs[i], text) == 0)
            return;
    self->addrs = mc_realloc(self->addrs, (self->n + 1) * sizeof *self->addrs);
    self->addrs[self->n++] = mc_strdup(text);
}

static void *run(void *arg)
{
    resolve_t *self = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(self->name, NULL, &hints, &ai);
    pthread_mutex_lock(&self->lock);
    self->gai = gai;
    for (struct addrinfo *a = gai == 0 ? ai : NULL; a; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN];
        const void *where = a->ai_family == AF_INET
                                ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                                : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
        if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
            inet_ntop(a->ai_family, where, text, sizeof text))
            add_addr(self, text);
    }
    pthread_mutex_unlock(&self->lock);
    if (ai)
        freeaddrinfo(ai);
    ssize_t w = write(self->pipe[1], "", 1);
    (void)w;
    unref(self);
    return NULL;
}

resolve_t *resolve_start(const char *name, mc_err_t *err)
{
    resolve_t *self = mc_calloc(1, sizeof *self);
    if (pipe2(self->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        mc_err_set(err, "pipe: %s", strerror(errno));
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->name = mc_strdup(name);
    self->refs = 1;
    /* An address already: the answer is itself. */
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1) {
        add_addr(self, name);
        ssize_t w = write(self->pipe[1], "", 1);
        (void)w;
        return self;
    }
    self->refs = 2;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Signals stay with the main thread (they are blocked there and read
       through a signalfd): the thread inherits that mask. */
    pthread_t t;
    int rc = pthread_create(&t, &attr, run, self);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        mc_err_set(err, "cannot start resolving %s: %s", name, strerror(rc));
        self->refs = 1;
        unref(self);
        return NULL;
    }
    return self;
}

int resolve_fd(const resolve_t *self)
{
    return self->pipe[0];
}

int resolve_result(resolve_t *self, char ***addrs, size_t *n, mc_err_t *err)
{
    pthread_mutex_lock(&self->lock);
    int rc = 0;
    if (self->gai != 0) {
        mc_err_set(err, "cannot resolve %s: %s", self->name, gai_strerror(self->gai));
        rc = -1;
    } else if (self->n == 0) {
        mc_err_set(err, "cannot resolve %s: no IPv4 or IPv6 address", self->name);
        rc = -1;
    } else {
        *addrs = self->addrs;
        *n = self->n;
        self->addrs = NULL;
        self->n = 0;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

void resolve_free(resolve_t **pself)
{
    if (*pself)
        unref(*pself);
    *pself = NULL;
}
