/*  jsonin - see jsonin.h. */
#include "jsonin.h"

#include <sodium.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Each block jansson asks for carries its size in front, so that it can
   be wiped when freed (jansson's free function is given no size). */
#define HEAD alignof(max_align_t)

static void *wiping_malloc(size_t n)
{
    if (n > SIZE_MAX - HEAD)
        return NULL;
    unsigned char *p = malloc(HEAD + n);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    return p + HEAD;
}

static void wiping_free(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - HEAD;
    size_t n;
    memcpy(&n, p, sizeof n);
    sodium_memzero(ptr, n);
    free(p);
}

void jsonin_init(void)
{
    json_set_alloc_funcs(wiping_malloc, wiping_free);
}

static int depth_of(const json_t *v, int depth)
{
    if (depth > JSONIN_DEPTH_MAX)
        return depth;
    int deepest = depth;
    if (json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            int d = depth_of(item, depth + 1);
            if (d > deepest)
                deepest = d;
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            int d = depth_of(item, depth + 1);
            if (d > deepest)
                deepest = d;
        }
    }
    return deepest;
}

json_t *jsonin_object(const char *body, size_t len, mc_err_t *err)
{
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        mc_err_code(err, MC_E_INPUT, "the body is not JSON: %s (line %d, column %d)", je.text,
                    je.line, je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        mc_err_code(err, MC_E_INPUT, "the body must be a JSON object");
        json_decref(o);
        return NULL;
    }
    if (depth_of(o, 0) > JSONIN_DEPTH_MAX) {
        mc_err_code(err, MC_E_INPUT, "the body is nested more than %d deep", JSONIN_DEPTH_MAX);
        json_decref(o);
        return NULL;
    }
    return o;
}

void jsonin_pack(msgpack_packer *pk, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(v));
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            msgpack_pack_str_with_body(pk, k, strlen(k));
            jsonin_pack(pk, item);
        }
        break;
    }
    case JSON_ARRAY: {
        msgpack_pack_array(pk, json_array_size(v));
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) jsonin_pack(pk, item);
        break;
    }
    case JSON_STRING:
        msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        break;
    }
}

int jsonin_str(const json_t *o, const char *key, bool required, size_t max, const char **out,
               mc_err_t *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) {
            mc_err_code(err, MC_E_INPUT, "missing field '%s'", key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        mc_err_code(err, MC_E_INPUT, "field '%s' must be a string", key);
        return -1;
    }
    size_t len = json_string_length(v);
    if (len > max || strlen(json_string_value(v)) != len) {
        mc_err_code(err, MC_E_INPUT, "field '%s' is longer than %zu bytes or holds a NUL", key,
                    max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int jsonin_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *out,
               mc_err_t *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        mc_err_code(err, MC_E_INPUT, "field '%s' must be an integer from %lld to %lld", key,
                    (long long)min, (long long)max);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

int jsonin_bool(const json_t *o, const char *key, bool *out, mc_err_t *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        mc_err_code(err, MC_E_INPUT, "field '%s' must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}
