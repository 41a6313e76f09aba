/*  jid - job ids as Salt makes them: YYYYMMDDhhmmssffffff, UTC with
    microseconds. A master never hands out the same jid twice: when the
    clock has not moved on (or went back), the next id is the last plus one
    microsecond. Masters that share a job history (up to ten) each end
    their jids in their own digit, their index, so no two make the same. */
#ifndef MC_JID_H
#define MC_JID_H

#include <stdint.h>

/* Make a jid from microseconds since the epoch, strictly after *last (which
   is updated) and ending in the digit index (0-9). out holds 21 bytes. */
void mc_jid_next(char out[21], int64_t now_us, int64_t *last, int index);
/* Microseconds since the epoch of a well-formed jid, or -1. */
int64_t mc_jid_time_us(const char *jid);

#endif
