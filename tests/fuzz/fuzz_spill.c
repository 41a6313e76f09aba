/*  Fuzz target: the job cache's spill file (CACHEDIR/jobcache.pending),
    read back into the queue when the master starts. What it takes must
    write back and read again as the same jobs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobcache_store.h"

static void free_all(jobcache_item_t *it)
{
    while (it) {
        jobcache_item_t *next = it->next;
        jobcache_item_free(it);
        it = next;
    }
}

static size_t count(const jobcache_item_t *it)
{
    size_t n = 0;
    for (; it; it = it->next)
        n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[] = "/tmp/fuzz-spill.XXXXXX";
    static char in[64], out[64];
    if (!in[0]) {
        if (!mkdtemp(dir))
            abort();
        snprintf(in, sizeof in, "%s/in", dir);
        snprintf(out, sizeof out, "%s/out", dir);
    }
    FILE *f = fopen(in, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    jobcache_item_t *items = NULL, *again = NULL;
    mc_err_t err;
    err.msg[0] = '\0';
    if (jobcache_spill_read(in, &items, &err) != 0) {
        if (!err.msg[0] || items)
            abort(); /* a refusal says why, and gives nothing */
        return 0;
    }
    size_t kept = 0;
    unlink(out);
    if (jobcache_spill_write(out, items, NULL, &kept, &err) != 0 || kept != count(items))
        abort();
    if (kept && (jobcache_spill_read(out, &again, &err) != 0 || count(again) != kept))
        abort();
    for (const jobcache_item_t *a = items, *b = again; a && b; a = a->next, b = b->next)
        if (strcmp(a->jid, b->jid) != 0 || a->n != b->n || a->expires_us != b->expires_us)
            abort();
    free_all(items);
    free_all(again);
    return 0;
}
