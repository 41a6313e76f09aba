/*  jid - see jid.h. */
#include "jid.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "proto/proto.h"

void mc_jid_next(char out[21], int64_t now_us, int64_t *last, int index)
{
    if (now_us <= *last)
        now_us = *last + 1;
    now_us += ((index % 10) - now_us % 10 + 10) % 10;
    *last = now_us;
    time_t secs = (time_t)(now_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64];
    snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d%06d", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(now_us % 1000000));
    memcpy(out, buf, 20);
    out[20] = '\0';
}

int64_t mc_jid_time_us(const char *jid)
{
    if (!jid || !mc_jid_valid(jid, strlen(jid)))
        return -1;
    struct tm tm = {0};
    int us;
    if (sscanf(jid, "%4d%2d%2d%2d%2d%2d%6d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &us) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    return (int64_t)timegm(&tm) * 1000000 + us;
}
