/*  admission - see admission.h. */
#include "admission.h"

#include <czmq.h>

#include "util.h"

typedef struct {
    double tokens;
    int64_t at_ms; /* when tokens was last brought up to date */
} bucket_t;

static void bucket_free(void **item)
{
    free(*item);
    *item = NULL;
}

struct _admission_t {
    double rate, burst;
    zhashx_t *buckets; /* address -> bucket_t */
};

admission_t *admission_new(double rate, double burst)
{
    admission_t *self = mc_calloc(1, sizeof *self);
    self->rate = rate;
    self->burst = burst;
    self->buckets = zhashx_new();
    zhashx_set_destructor(self->buckets, bucket_free);
    return self;
}

void admission_destroy(admission_t **pself)
{
    if (*pself) {
        zhashx_destroy(&(*pself)->buckets);
        free(*pself);
        *pself = NULL;
    }
}

static void refill(admission_t *self, bucket_t *b, int64_t now_ms)
{
    b->tokens += (double)(now_ms - b->at_ms) * self->rate / 1000.0;
    if (b->tokens > self->burst)
        b->tokens = self->burst;
    b->at_ms = now_ms;
}

bool admission_take(admission_t *self, const char *addr, int64_t now_ms)
{
    bucket_t *b = zhashx_lookup(self->buckets, addr);
    if (!b) {
        if (zhashx_size(self->buckets) >= ADMISSION_MAX_ADDRS)
            admission_prune(self, now_ms);
        if (zhashx_size(self->buckets) >= ADMISSION_MAX_ADDRS)
            return false;
        b = mc_calloc(1, sizeof *b);
        b->tokens = self->burst;
        b->at_ms = now_ms;
        zhashx_insert(self->buckets, addr, b);
    }
    refill(self, b, now_ms);
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

void admission_prune(admission_t *self, int64_t now_ms)
{
    zlistx_t *full = zlistx_new();
    for (bucket_t *b = zhashx_first(self->buckets); b; b = zhashx_next(self->buckets)) {
        refill(self, b, now_ms);
        if (b->tokens >= self->burst)
            zlistx_add_end(full, (void *)zhashx_cursor(self->buckets));
    }
    for (const char *addr = zlistx_first(full); addr; addr = zlistx_next(full))
        zhashx_delete(self->buckets, addr);
    zlistx_destroy(&full);
}
