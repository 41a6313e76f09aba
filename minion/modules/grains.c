/*  grains - read the minion's grains: items, get, ls. */
#include <string.h>

#include "module.h"
#include "mp.h"

static void grains_items(mc_call_t *call)
{
    if (mc_call_max_args(call, 0) != 0)
        return;
    msgpack_pack_object(call->pk, *call->grains);
}

/* Walk "a:b:c" through nested maps; list elements by index. */
static const msgpack_object *lookup(const msgpack_object *node, const char *key, char delim)
{
    char *copy = mc_strdup(key), *save = NULL;
    char sep[2] = {delim, '\0'};
    for (char *part = strtok_r(copy, sep, &save); part && node; part = strtok_r(NULL, sep, &save)) {
        if (node->type == MSGPACK_OBJECT_MAP) {
            node = mc_mp_get(node, part);
        } else if (node->type == MSGPACK_OBJECT_ARRAY) {
            char *end;
            long i = strtol(part, &end, 10);
            node = (*end || i < 0 || (uint32_t)i >= node->via.array.size) ? NULL
                                                                          : &node->via.array.ptr[i];
        } else {
            node = NULL;
        }
    }
    free(copy);
    return node;
}

static void grains_get(mc_call_t *call)
{
    char *key = NULL, *delim = NULL;
    const msgpack_object *def = NULL;
    if (mc_call_max_args(call, 2) != 0)
        return;
    int rc = mc_call_str(call, 0, "key", &key);
    if (rc != 0) {
        if (rc > 0)
            mc_call_fail(call, 1, "grains.get: missing argument 'key'");
        return;
    }
    if (mc_call_str(call, -1, "delimiter", &delim) < 0) {
        free(key);
        return;
    }
    if (call->arg->via.array.size > 1)
        def = &call->arg->via.array.ptr[1];
    else
        def = mc_mp_get(call->kwarg, "default");
    const msgpack_object *v = lookup(call->grains, key, delim && *delim ? delim[0] : ':');
    if (v)
        msgpack_pack_object(call->pk, *v);
    else if (def)
        msgpack_pack_object(call->pk, *def);
    else
        mc_pk_str(call->pk, ""); /* Salt returns '' for a missing grain */
    free(key);
    free(delim);
}

static int cmp_keys(const void *a, const void *b)
{
    const msgpack_object_kv *x = a, *y = b;
    uint32_t n =
        x->key.via.str.size < y->key.via.str.size ? x->key.via.str.size : y->key.via.str.size;
    int c = memcmp(x->key.via.str.ptr, y->key.via.str.ptr, n);
    return c ? c : (int)x->key.via.str.size - (int)y->key.via.str.size;
}

static void grains_ls(mc_call_t *call)
{
    if (mc_call_max_args(call, 0) != 0)
        return;
    uint32_t n = call->grains->via.map.size;
    msgpack_object_kv *kv = mc_calloc(n + 1, sizeof *kv);
    memcpy(kv, call->grains->via.map.ptr, n * sizeof *kv);
    qsort(kv, n, sizeof *kv, cmp_keys);
    msgpack_pack_array(call->pk, n);
    for (uint32_t i = 0; i < n; i++)
        msgpack_pack_object(call->pk, kv[i].key);
    free(kv);
}

static const mc_function_t functions[] = {
    {"items", grains_items, "Return all grains.\n\n    mctl '*' grains.items", MC_FN_QUICK},
    {"get", grains_get,
     "Return the grain KEY; nested keys are joined by ':' (or delimiter=).\n"
     "A missing grain gives DEFAULT, or ''.\n\n"
     "    mctl '*' grains.get os\n    mctl '*' grains.get roles:0",
     MC_FN_QUICK},
    {"ls", grains_ls, "Return the names of all grains.\n\n    mctl '*' grains.ls", MC_FN_QUICK},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_grains = {"grains", functions};
