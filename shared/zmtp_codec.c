/*  zmtp_codec - see zmtp_codec.h. */
#include "zmtp_codec.h"

#include <string.h>
#include <strings.h>

void mc_zmtp_greeting(uint8_t g[MC_ZMTP_GREETING_SIZE], int minor, const char *mechanism)
{
    memset(g, 0, MC_ZMTP_GREETING_SIZE);
    g[0] = 0xff;
    g[8] = 1;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = (uint8_t)minor;
    memcpy(g + 12, mechanism, strlen(mechanism)); /* up to 20 bytes, zero-padded */
}

int mc_zmtp_check_greeting(const uint8_t g[MC_ZMTP_GREETING_SIZE], const char *mechanism,
                           mc_err_t *err)
{
    if (g[0] != 0xff || (g[9] & 1) != 1 || g[10] < 3) {
        mc_err_set(err, "the peer does not speak ZMTP 3");
        return -1;
    }
    uint8_t want[20] = {0};
    memcpy(want, mechanism, strlen(mechanism));
    if (memcmp(g + 12, want, sizeof want) != 0) {
        mc_err_set(err, "the peer does not use the %s mechanism", mechanism);
        return -1;
    }
    return 0;
}

size_t mc_zmtp_header(uint8_t hdr[MC_ZMTP_HEADER_MAX], uint8_t flags, size_t size)
{
    if (size <= 255) {
        hdr[0] = flags;
        hdr[1] = (uint8_t)size;
        return 2;
    }
    hdr[0] = flags | MC_ZMTP_LONG;
    for (int i = 0; i < 8; i++)
        hdr[1 + i] = (uint8_t)((uint64_t)size >> (56 - 8 * i));
    return 9;
}

int mc_zmtp_parse(const uint8_t *p, size_t have, size_t max, uint8_t *flags, size_t *header,
                  size_t *size, mc_err_t *err)
{
    if (have < 2)
        return 0;
    *flags = p[0];
    if (*flags & ~(MC_ZMTP_MORE | MC_ZMTP_LONG | MC_ZMTP_COMMAND)) {
        mc_err_set(err, "bad frame (flags %#x)", *flags);
        return -1;
    }
    uint64_t n;
    size_t hdr;
    if (*flags & MC_ZMTP_LONG) {
        if (have < 9)
            return 0;
        n = 0;
        for (int i = 1; i <= 8; i++)
            n = n << 8 | p[i];
        hdr = 9;
    } else {
        n = p[1];
        hdr = 2;
    }
    if (n > max) {
        mc_err_set(err, "a frame of %llu bytes, over the limit of %zu", (unsigned long long)n, max);
        return -1;
    }
    if (have - hdr < n)
        return 0;
    *header = hdr;
    *size = (size_t)n;
    return 1;
}

const uint8_t *mc_zmtp_property(const uint8_t *p, size_t n, const char *name, size_t *len)
{
    size_t want = strlen(name);
    while (n > 0) {
        size_t nl = p[0];
        if (n < 1 + nl + 4)
            return NULL;
        const uint8_t *key = p + 1;
        const uint8_t *v = key + nl;
        size_t vl = (size_t)v[0] << 24 | (size_t)v[1] << 16 | (size_t)v[2] << 8 | v[3];
        if (n - 1 - nl - 4 < vl)
            return NULL;
        if (nl == want && strncasecmp((const char *)key, name, nl) == 0) {
            *len = vl;
            return v + 4;
        }
        p = v + 4 + vl;
        n -= 1 + nl + 4 + vl;
    }
    return NULL;
}

void mc_zmtp_add_property(mc_buf_t *b, const char *name, const void *value, size_t len)
{
    uint8_t nl = (uint8_t)strlen(name);
    uint8_t vl[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    mc_buf_append(b, &nl, 1);
    mc_buf_append(b, name, nl);
    mc_buf_append(b, vl, 4);
    mc_buf_append(b, value, len);
}
