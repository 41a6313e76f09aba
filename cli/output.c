/*  output - see output.h. */
#include "output.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "mp.h"

int output_parse(const char *name, out_format_t *out)
{
    if (strcmp(name, "txt") == 0 || strcmp(name, "nested") == 0)
        *out = OUT_TXT;
    else if (strcmp(name, "json") == 0)
        *out = OUT_JSON;
    else if (strcmp(name, "yaml") == 0)
        *out = OUT_YAML;
    else
        return -1;
    return 0;
}

static void pad(FILE *f, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', f);
}

/* One byte of a minion's text. On a terminal, control characters other
   than newline and tab are shown as \xNN: a minion (or a program it ran)
   must not be able to drive the operator's terminal with escape
   sequences. Into a pipe or a file the bytes go as they are. */
static void txt_byte(FILE *f, unsigned char c, bool tty)
{
    if (tty && ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f))
        fprintf(f, "\\x%02x", c);
    else
        fputc(c, f);
}

static void txt_text(FILE *f, const char *s, size_t len, int indent)
{
    bool tty = isatty(fileno(f));
    /* Every line of a multi-line string at the same indent. */
    pad(f, indent);
    for (size_t i = 0; i < len; i++) {
        txt_byte(f, (unsigned char)s[i], tty);
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
    bool tty = isatty(fileno(f));
    if (k->type == MSGPACK_OBJECT_STR)
        for (uint32_t i = 0; i < k->via.str.size; i++)
            txt_byte(f, (unsigned char)k->via.str.ptr[i], tty);
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
