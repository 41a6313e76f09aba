/*  json - see json.h. */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "mp.h"

/* Before an element of a container (after the opening bracket or the
   previous element's comma): a new line at the element's indent, or
   nothing when compact. */
static void newline(FILE *f, int indent)
{
    if (indent < 0)
        return;
    fputc('\n', f);
    for (int i = 0; i < indent; i++)
        fputc(' ', f);
}

static int inner(int indent)
{
    return indent < 0 ? indent : indent + 4;
}

void mc_json_double_text(char *buf, size_t cap, double v)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

void mc_json_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void mc_json_text(FILE *f, const char *s, size_t len, int indent)
{
    if (mc_utf8_valid(s, len)) {
        mc_json_string(f, s, len);
        return;
    }
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = mc_malloc(n);
    sodium_bin2base64(b64, n, (const unsigned char *)s, len, sodium_base64_VARIANT_ORIGINAL);
    fputc('{', f);
    newline(f, inner(indent));
    fputs(indent < 0 ? "\"base64\":" : "\"base64\": ", f);
    mc_json_string(f, b64, strlen(b64));
    newline(f, indent);
    fputc('}', f);
    free(b64);
}

/* A key must be a string: one that is not UTF-8 is "base64:..." */
static void json_key(FILE *f, const char *s, size_t len)
{
    if (mc_utf8_valid(s, len)) {
        mc_json_string(f, s, len);
        return;
    }
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = mc_malloc(n + 7);
    memcpy(b64, "base64:", 7);
    sodium_bin2base64(b64 + 7, n, (const unsigned char *)s, len, sodium_base64_VARIANT_ORIGINAL);
    mc_json_string(f, b64, strlen(b64));
    free(b64);
}

void mc_json_value(FILE *f, const msgpack_object *v, int indent)
{
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        fputs("null", f);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs(v->via.boolean ? "true" : "false", f);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf(f, "%" PRIu64, v->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf(f, "%" PRId64, v->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        /* JSON has no NaN or infinity: null keeps the document valid. */
        if (isfinite(v->via.f64)) {
            char num[40];
            mc_json_double_text(num, sizeof num, v->via.f64);
            fputs(num, f);
        } else {
            fputs("null", f);
        }
        break;
    case MSGPACK_OBJECT_STR:
        mc_json_text(f, v->via.str.ptr, v->via.str.size, indent);
        break;
    case MSGPACK_OBJECT_BIN:
        mc_json_text(f, v->via.bin.ptr, v->via.bin.size, indent);
        break;
    case MSGPACK_OBJECT_ARRAY:
        if (v->via.array.size == 0) {
            fputs("[]", f);
            break;
        }
        fputc('[', f);
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (i)
                fputc(',', f);
            newline(f, inner(indent));
            mc_json_value(f, &v->via.array.ptr[i], inner(indent));
        }
        newline(f, indent);
        fputc(']', f);
        break;
    case MSGPACK_OBJECT_MAP:
        if (v->via.map.size == 0) {
            fputs("{}", f);
            break;
        }
        fputc('{', f);
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            const msgpack_object *k = &v->via.map.ptr[i].key;
            if (i)
                fputc(',', f);
            newline(f, inner(indent));
            if (k->type == MSGPACK_OBJECT_STR) {
                json_key(f, k->via.str.ptr, k->via.str.size);
            } else {
                char buf[64];
                int n = msgpack_object_print_buffer(buf, sizeof buf, *k);
                mc_json_string(f, buf, n > 0 ? (size_t)n : 0);
            }
            fputs(indent < 0 ? ":" : ": ", f);
            mc_json_value(f, &v->via.map.ptr[i].val, inner(indent));
        }
        newline(f, indent);
        fputc('}', f);
        break;
    default:
        fputs("null", f);
        break;
    }
}

void mc_json_strings(FILE *f, char *const *items, size_t n, int indent)
{
    if (n == 0) {
        fputs("[]", f);
        return;
    }
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        newline(f, inner(indent));
        mc_json_text(f, items[i], strlen(items[i]), inner(indent));
    }
    newline(f, indent);
    fputc(']', f);
}
