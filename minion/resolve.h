/*  resolve - the master's name to its addresses, off the minion's loop.

    getaddrinfo can take seconds (a slow or absent DNS server); it runs in
    a thread of its own, and the loop learns of the answer through a file
    descriptor it polls with everything else, so jobs keep being handled
    meanwhile. A caller that stops waiting (resolve_free before the answer)
    leaves the thread to finish and clean up alone.

    Addresses come back as text libzmq takes ("192.0.2.1", "2001:db8::1"),
    in getaddrinfo's order, without duplicates; a name that is already an
    address is answered at once. */
#ifndef MC_RESOLVE_H
#define MC_RESOLVE_H

#include <stddef.h>

#include "util.h"

typedef struct resolve resolve_t;

/* Start resolving name. NULL with err when no thread can be started. */
resolve_t *resolve_start(const char *name, mc_err_t *err);
/* Readable once the answer is there. */
int resolve_fd(const resolve_t *self);
/* The answer (after resolve_fd is readable): 0 with the addresses (a
   malloc'd array of malloc'd strings, *n of them: resolve_addrs_free), or -1
   with err ("no such host", a temporary failure). */
int resolve_result(resolve_t *self, char ***addrs, size_t *n, mc_err_t *err);
void resolve_free(resolve_t **self);

/* Free what resolve_result gave. */
void resolve_addrs_free(char **addrs, size_t n);

#endif
