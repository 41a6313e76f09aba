/*  call - argument access and errors for execution modules; see module.h. */
#include "module.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"

volatile sig_atomic_t mc_call_cancelled;

const mc_function_t *mc_function_find(const char *fun)
{
    const char *dot = strchr(fun, '.');
    if (!dot)
        return NULL;
    size_t mlen = (size_t)(dot - fun);
    for (const mc_module_t *const *m = mc_modules; *m; m++) {
        if (strlen((*m)->name) != mlen || strncmp((*m)->name, fun, mlen) != 0)
            continue;
        for (const mc_function_t *f = (*m)->functions; f->name; f++)
            if (strcmp(f->name, dot + 1) == 0)
                return f;
    }
    return NULL;
}

void mc_call_fail(mc_call_t *call, int retcode, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mc_pk_str(call->pk, msg);
    call->retcode = retcode;
    call->success = false;
}

void mc_call_answered_by_main(mc_call_t *call)
{
    mc_call_fail(call, 1, "%s is answered by the minion's main process", call->fun);
}

static const msgpack_object *find_arg(mc_call_t *call, int index, const char *name)
{
    if (index >= 0 && (uint32_t)index < call->arg->via.array.size)
        return &call->arg->via.array.ptr[index];
    return name ? mc_mp_get(call->kwarg, name) : NULL;
}

int mc_call_str(mc_call_t *call, int index, const char *name, char **out)
{
    const msgpack_object *o = find_arg(call, index, name);
    *out = NULL;
    if (!o)
        return 1;
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        if (memchr(o->via.str.ptr, '\0', o->via.str.size))
            break;
        *out = mc_strndup(o->via.str.ptr, o->via.str.size);
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = mc_sprintf("%llu", (unsigned long long)o->via.u64);
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = mc_sprintf("%lld", (long long)o->via.i64);
        return 0;
    case MSGPACK_OBJECT_BOOLEAN:
        *out = mc_strdup(o->via.boolean ? "true" : "false");
        return 0;
    default:
        break;
    }
    mc_call_fail(call, 1, "%s: argument '%s' must be text", call->fun, name ? name : "?");
    return -1;
}

int mc_call_int(mc_call_t *call, int index, const char *name, int64_t min, int64_t max,
                int64_t *out)
{
    const msgpack_object *o = find_arg(call, index, name);
    if (!o)
        return 1;
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX) {
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else if (o->type == MSGPACK_OBJECT_STR) {
        char buf[32];
        size_t n = o->via.str.size < sizeof buf - 1 ? o->via.str.size : sizeof buf - 1;
        memcpy(buf, o->via.str.ptr, n);
        buf[n] = '\0';
        char *end;
        errno = 0;
        long long parsed = strtoll(buf, &end, 10);
        if (n == 0 || n != o->via.str.size || *end || errno)
            goto bad;
        v = parsed;
    } else {
        goto bad;
    }
    if (v < min || v > max)
        goto bad;
    *out = v;
    return 0;
bad:
    mc_call_fail(call, 1, "%s: argument '%s' must be a whole number from %lld to %lld", call->fun,
                 name ? name : "?", (long long)min, (long long)max);
    return -1;
}

int mc_call_max_args(mc_call_t *call, int max)
{
    if (call->arg->via.array.size <= (uint32_t)max)
        return 0;
    mc_call_fail(call, 1, "%s takes at most %d positional argument%s (%u given)", call->fun, max,
                 max == 1 ? "" : "s", call->arg->via.array.size);
    return -1;
}
