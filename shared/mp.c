/*  mp - see mp.h. The validator follows the msgpack spec byte by byte:
    https://github.com/msgpack/msgpack/blob/master/spec.md */
#include "mp.h"

#include <string.h>

typedef struct {
    const unsigned char *p, *end;
    uint64_t objects; /* values seen so far */
} reader_t;

static int need(reader_t *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n ? 0 : -1;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Skip one object, checking that it fits. Containers are walked with an
   explicit count stack instead of recursion on attacker-chosen counts. */
static int skip_object(reader_t *r, int depth, mc_err_t *err)
{
    if (depth > MC_MP_MAX_DEPTH) {
        mc_err_set(err, "nested deeper than %d levels", MC_MP_MAX_DEPTH);
        return -1;
    }
    /* Unpacked, each value takes a msgpack_object (24 bytes) however few
       bytes it came in: a one-byte nil must not cost that many times over
       without bound. */
    if (++r->objects > MC_MP_MAX_OBJECTS) {
        mc_err_set(err, "more than %d values in one message", MC_MP_MAX_OBJECTS);
        return -1;
    }
    if (need(r, 1) != 0)
        goto truncated;
    unsigned char t = *r->p++;
    uint64_t n = 0; /* payload bytes, or element count for containers */
    int lenbytes = 0;
    enum { RAW, ARRAY, MAP } kind = RAW;

    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
        return 0;
    if ((t & 0xe0) == 0xa0) { /* fixstr */
        n = t & 0x1f;
    } else if ((t & 0xf0) == 0x90) {
        kind = ARRAY;
        n = t & 0x0f;
    } else if ((t & 0xf0) == 0x80) {
        kind = MAP;
        n = t & 0x0f;
    } else {
        switch (t) {
        case 0xc4:
        case 0xd9:
            lenbytes = 1;
            break; /* bin8, str8 */
        case 0xc5:
        case 0xda:
            lenbytes = 2;
            break;
        case 0xc6:
        case 0xdb:
            lenbytes = 4;
            break;
        case 0xc7:
            lenbytes = 1;
            n = 1;
            break; /* ext8: +1 type byte */
        case 0xc8:
            lenbytes = 2;
            n = 1;
            break;
        case 0xc9:
            lenbytes = 4;
            n = 1;
            break;
        case 0xca:
            n = 4;
            break;
        case 0xcb:
            n = 8;
            break;
        case 0xcc:
        case 0xd0:
            n = 1;
            break;
        case 0xcd:
        case 0xd1:
            n = 2;
            break;
        case 0xce:
        case 0xd2:
            n = 4;
            break;
        case 0xcf:
        case 0xd3:
            n = 8;
            break;
        case 0xd4:
            n = 2;
            break; /* fixext: type + data */
        case 0xd5:
            n = 3;
            break;
        case 0xd6:
            n = 5;
            break;
        case 0xd7:
            n = 9;
            break;
        case 0xd8:
            n = 17;
            break;
        case 0xdc:
            kind = ARRAY;
            lenbytes = 2;
            break;
        case 0xdd:
            kind = ARRAY;
            lenbytes = 4;
            break;
        case 0xde:
            kind = MAP;
            lenbytes = 2;
            break;
        case 0xdf:
            kind = MAP;
            lenbytes = 4;
            break;
        default:
            mc_err_set(err, "invalid msgpack type byte 0x%02x", t);
            return -1;
        }
    }
    if (lenbytes) {
        if (need(r, (size_t)lenbytes) != 0)
            goto truncated;
        n += be(r->p, lenbytes);
        r->p += lenbytes;
    }
    if (kind == RAW) {
        if (need(r, n) != 0)
            goto truncated;
        r->p += n;
        return 0;
    }
    uint64_t elems = kind == MAP ? n * 2 : n;
    /* Every element takes at least one byte: a count larger than what is
       left can never be honest. */
    if (elems > (uint64_t)(r->end - r->p)) {
        mc_err_set(err, "container claims %llu elements in %zu bytes", (unsigned long long)elems,
                   (size_t)(r->end - r->p));
        return -1;
    }
    for (uint64_t i = 0; i < elems; i++)
        if (skip_object(r, depth + 1, err) != 0)
            return -1;
    return 0;
truncated:
    mc_err_set(err, "truncated message");
    return -1;
}

int mc_mp_check(const void *buf, size_t len, mc_err_t *err)
{
    reader_t r = {buf, (const unsigned char *)buf + len, 0};
    if (len == 0) {
        mc_err_set(err, "empty message");
        return -1;
    }
    if (skip_object(&r, 0, err) != 0)
        return -1;
    if (r.p != r.end) {
        mc_err_set(err, "%zu trailing bytes after the message", (size_t)(r.end - r.p));
        return -1;
    }
    return 0;
}

/* Check buf, then unpack it (a copy in the zone when copy is set). */
static int parse(mc_mp_doc_t *doc, const void *buf, size_t len, bool copy, mc_err_t *err)
{
    msgpack_zone_init(&doc->zone, 2048);
    if (mc_mp_check(buf, len, err) != 0)
        goto fail;
    const char *data = buf;
    if (copy) {
        /* Strings in the tree point into the bytes they came from: keep a
           copy in the zone so the document owns everything it refers to. */
        char *own = msgpack_zone_malloc(&doc->zone, len);
        if (!own) {
            mc_err_set(err, "out of memory");
            goto fail;
        }
        memcpy(own, buf, len);
        data = own;
    }
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack(data, len, &off, &doc->zone, &doc->root);
    if (rc != MSGPACK_UNPACK_SUCCESS) {
        mc_err_set(err, "malformed message (unpack error %d)", (int)rc);
        goto fail;
    }
    if (doc->root.type != MSGPACK_OBJECT_MAP) {
        mc_err_set(err, "message is not a map");
        goto fail;
    }
    return 0;
fail:
    msgpack_zone_destroy(&doc->zone);
    memset(doc, 0, sizeof *doc);
    return -1;
}

int mc_mp_parse(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err)
{
    return parse(doc, buf, len, true, err);
}

int mc_mp_parse_view(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err)
{
    return parse(doc, buf, len, false, err);
}

void mc_mp_doc_done(mc_mp_doc_t *doc)
{
    msgpack_zone_destroy(&doc->zone);
    memset(doc, 0, sizeof *doc);
}

bool mc_mp_is_str(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *mc_mp_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (mc_mp_is_str(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

static const msgpack_object *field(const msgpack_object *map, const char *key, bool required,
                                   mc_err_t *err)
{
    const msgpack_object *o = mc_mp_get(map, key);
    if (!o && required)
        mc_err_set(err, "missing field '%s'", key);
    return o;
}

static int str_field(const msgpack_object *map, const char *key, bool required, char *out,
                     size_t outsize, mc_err_t *err)
{
    const msgpack_object *o = field(map, key, required, err);
    if (!o) {
        if (required)
            return -1;
        out[0] = '\0';
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_STR) {
        mc_err_set(err, "field '%s' is not a string", key);
        return -1;
    }
    if (o->via.str.size >= outsize || memchr(o->via.str.ptr, '\0', o->via.str.size)) {
        mc_err_set(err, "field '%s' is longer than %zu bytes or holds a NUL", key, outsize - 1);
        return -1;
    }
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return 0;
}

int mc_mp_str(const msgpack_object *map, const char *key, char *out, size_t outsize, mc_err_t *err)
{
    return str_field(map, key, true, out, outsize, err);
}

int mc_mp_str_opt(const msgpack_object *map, const char *key, char *out, size_t outsize,
                  mc_err_t *err)
{
    return str_field(map, key, false, out, outsize, err);
}

int mc_mp_strdup(const msgpack_object *map, const char *key, size_t max, char **out, mc_err_t *err)
{
    const msgpack_object *o = field(map, key, true, err);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_STR) {
        mc_err_set(err, "field '%s' is not a string", key);
        return -1;
    }
    if (o->via.str.size > max || memchr(o->via.str.ptr, '\0', o->via.str.size)) {
        mc_err_set(err, "field '%s' is longer than %zu bytes or holds a NUL", key, max);
        return -1;
    }
    *out = mc_strndup(o->via.str.ptr, o->via.str.size);
    return 0;
}

int mc_mp_int(const msgpack_object *map, const char *key, int64_t min, int64_t max, int64_t *out,
              mc_err_t *err)
{
    const msgpack_object *o = field(map, key, true, err);
    if (!o)
        return -1;
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            goto range;
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        mc_err_set(err, "field '%s' is not an integer", key);
        return -1;
    }
    if (v < min || v > max)
        goto range;
    *out = v;
    return 0;
range:
    mc_err_set(err, "field '%s' is out of range", key);
    return -1;
}

int mc_mp_bool(const msgpack_object *map, const char *key, bool *out, mc_err_t *err)
{
    const msgpack_object *o = field(map, key, true, err);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_BOOLEAN) {
        mc_err_set(err, "field '%s' is not a boolean", key);
        return -1;
    }
    *out = o->via.boolean;
    return 0;
}

int mc_mp_bin(const msgpack_object *map, const char *key, size_t max, const char **data,
              size_t *len, mc_err_t *err)
{
    const msgpack_object *o = field(map, key, true, err);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_BIN) {
        mc_err_set(err, "field '%s' is not binary", key);
        return -1;
    }
    if (o->via.bin.size > max) {
        mc_err_set(err, "field '%s' is longer than %zu bytes", key, max);
        return -1;
    }
    *data = o->via.bin.ptr;
    *len = o->via.bin.size;
    return 0;
}

static int container_field(const msgpack_object *map, const char *key, bool opt, size_t max,
                           msgpack_object_type type, const msgpack_object **out, mc_err_t *err)
{
    const msgpack_object *o = field(map, key, !opt, err);
    *out = o;
    if (!o)
        return opt ? 0 : -1;
    if (o->type != type) {
        mc_err_set(err, "field '%s' is not %s", key,
                   type == MSGPACK_OBJECT_MAP ? "a map" : "an array");
        return -1;
    }
    size_t n = type == MSGPACK_OBJECT_MAP ? o->via.map.size : o->via.array.size;
    if (n > max) {
        mc_err_set(err, "field '%s' has more than %zu entries", key, max);
        return -1;
    }
    return 0;
}

int mc_mp_array(const msgpack_object *map, const char *key, bool opt, size_t max,
                const msgpack_object **out, mc_err_t *err)
{
    return container_field(map, key, opt, max, MSGPACK_OBJECT_ARRAY, out, err);
}

int mc_mp_map(const msgpack_object *map, const char *key, bool opt, size_t max,
              const msgpack_object **out, mc_err_t *err)
{
    return container_field(map, key, opt, max, MSGPACK_OBJECT_MAP, out, err);
}

bool mc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned char c = *p;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) < n)
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n;
    }
    return true;
}

void mc_pk_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void mc_pk_str(msgpack_packer *pk, const char *s)
{
    mc_pk_strn(pk, s, strlen(s));
}

void mc_sbuffer_reserve(msgpack_sbuffer *sb, size_t more)
{
    if (sb->alloc - sb->size >= more)
        return;
    sb->alloc = sb->size + more;
    sb->data = mc_realloc(sb->data, sb->alloc);
}

void mc_pk_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

void mc_pk_text(msgpack_packer *pk, const char *s, size_t n)
{
    if (mc_utf8_valid(s, n))
        mc_pk_strn(pk, s, n);
    else
        mc_pk_bin(pk, s, n);
}

void mc_pk_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    mc_pk_str(pk, k);
    mc_pk_str(pk, v);
}

void mc_pk_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    mc_pk_str(pk, k);
    msgpack_pack_int64(pk, v);
}

void mc_pk_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
    mc_pk_str(pk, k);
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}
