/*  admission - how fast new minion keys may arrive, per network address.

    Registration (auth_port) takes any CURVE key, so anyone who can reach
    it can ask the master to write a key file. Each source address gets a
    bucket of `burst` new keys that refills at `rate` a second; a key
    presented again, already known, costs nothing. Buckets that are full
    again are forgotten, and the table holds at most ADMISSION_MAX_ADDRS
    addresses: past that, a new address waits until the table has room, so
    a flood from many addresses costs memory that is bounded too. */
#ifndef MC_ADMISSION_H
#define MC_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

#define ADMISSION_MAX_ADDRS 65536

typedef struct _admission_t admission_t;

admission_t *admission_new(double rate, double burst);
void admission_destroy(admission_t **pself);
/* May addr register one more new key now? Takes a token when it may. */
bool admission_take(admission_t *self, const char *addr, int64_t now_ms);
/* Forget the addresses whose bucket is full again (call now and then). */
void admission_prune(admission_t *self, int64_t now_ms);

#endif
