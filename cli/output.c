/*  output - see output.h. */
#include "output.h"

#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#include "mp.h"

int output_parse(const char *name, out_format_t *out)
{
    if (strcmp(name, "txt") == 0 || strcmp(name, "nested") == 0)
        *out = OUT_TXT;
    else if (strcmp(name, "json") == 0)
        *out = OUT_JSON;
    else
        return -1;
    return 0;
}

static void pad(FILE *f, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', f);
}

static void txt_text(FILE *f, const char *s, size_t len, int indent)
{
    /* Every line of a multi-line string at the same indent. */
    pad(f, indent);
    for (size_t i = 0; i < len; i++) {
        fputc(s[i], f);
        if (s[i] == '\n' && i + 1 < len)
            pad(f, indent);
    }
    fputc('\n', f);
}

static void txt_scalar(FILE *f, const msgpack_object *v, int indent)
{
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        pad(f, indent);
        fputs("None\n", f);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        pad(f, indent);
        fputs(v->via.boolean ? "True\n" : "False\n", f);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        pad(f, indent);
        fprintf(f, "%" PRIu64 "\n", v->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        pad(f, indent);
        fprintf(f, "%" PRId64 "\n", v->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        pad(f, indent);
        fprintf(f, "%g\n", v->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        txt_text(f, v->via.str.ptr, v->via.str.size, indent);
        break;
    case MSGPACK_OBJECT_BIN:
        txt_text(f, v->via.bin.ptr, v->via.bin.size, indent);
        break;
    default:
        pad(f, indent);
        fputs("<unprintable>\n", f);
        break;
    }
}

static void txt_key(FILE *f, const msgpack_object *k, int indent)
{
    pad(f, indent);
    if (k->type == MSGPACK_OBJECT_STR)
        fwrite(k->via.str.ptr, 1, k->via.str.size, f);
    else
        msgpack_object_print(f, *k);
    fputs(":\n", f);
}

void output_txt_value(FILE *f, const msgpack_object *v, int indent)
{
    if (v->type == MSGPACK_OBJECT_MAP) {
        pad(f, indent);
        fputs("----------\n", f);
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            txt_key(f, &v->via.map.ptr[i].key, indent);
            output_txt_value(f, &v->via.map.ptr[i].val, indent + 4);
        }
    } else if (v->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            const msgpack_object *e = &v->via.array.ptr[i];
            if (e->type == MSGPACK_OBJECT_MAP || e->type == MSGPACK_OBJECT_ARRAY) {
                pad(f, indent);
                fputs("|_\n", f);
                output_txt_value(f, e, indent + 2);
            } else {
                pad(f, indent);
                fputs("- ", f);
                txt_scalar(f, e, 0);
            }
        }
    } else {
        txt_scalar(f, v, indent);
    }
}

void output_txt_minion(FILE *f, const char *id, const msgpack_object *value)
{
    fprintf(f, "%s:\n", id);
    output_txt_value(f, value, 4);
}

void output_json_string(FILE *f, const char *s, size_t len)
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
            if (c < 0x20)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void output_json_text(FILE *f, const char *s, size_t len, int indent)
{
    if (mc_utf8_valid(s, len)) {
        output_json_string(f, s, len);
        return;
    }
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = mc_malloc(n);
    sodium_bin2base64(b64, n, (const unsigned char *)s, len, sodium_base64_VARIANT_ORIGINAL);
    fputs("{\n", f);
    pad(f, indent + 4);
    fputs("\"base64\": ", f);
    output_json_string(f, b64, strlen(b64));
    fputc('\n', f);
    pad(f, indent);
    fputc('}', f);
    free(b64);
}

void output_json_value(FILE *f, const msgpack_object *v, int indent)
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
        fprintf(f, "%.17g", v->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        output_json_text(f, v->via.str.ptr, v->via.str.size, indent);
        break;
    case MSGPACK_OBJECT_BIN:
        output_json_text(f, v->via.bin.ptr, v->via.bin.size, indent);
        break;
    case MSGPACK_OBJECT_ARRAY:
        if (v->via.array.size == 0) {
            fputs("[]", f);
            break;
        }
        fputs("[\n", f);
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            pad(f, indent + 4);
            output_json_value(f, &v->via.array.ptr[i], indent + 4);
            fputs(i + 1 < v->via.array.size ? ",\n" : "\n", f);
        }
        pad(f, indent);
        fputc(']', f);
        break;
    case MSGPACK_OBJECT_MAP:
        if (v->via.map.size == 0) {
            fputs("{}", f);
            break;
        }
        fputs("{\n", f);
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            const msgpack_object *k = &v->via.map.ptr[i].key;
            pad(f, indent + 4);
            if (k->type == MSGPACK_OBJECT_STR) {
                output_json_string(f, k->via.str.ptr, k->via.str.size);
            } else {
                char buf[64];
                int n = msgpack_object_print_buffer(buf, sizeof buf, *k);
                output_json_string(f, buf, n > 0 ? (size_t)n : 0);
            }
            fputs(": ", f);
            output_json_value(f, &v->via.map.ptr[i].val, indent + 4);
            fputs(i + 1 < v->via.map.size ? ",\n" : "\n", f);
        }
        pad(f, indent);
        fputc('}', f);
        break;
    default:
        fputs("null", f);
        break;
    }
}

void output_json_strings(FILE *f, char *const *items, size_t n, int indent)
{
    if (n == 0) {
        fputs("[]", f);
        return;
    }
    fputs("[\n", f);
    for (size_t i = 0; i < n; i++) {
        pad(f, indent + 4);
        output_json_text(f, items[i], strlen(items[i]), indent + 4);
        fputs(i + 1 < n ? ",\n" : "\n", f);
    }
    pad(f, indent);
    fputc(']', f);
}
