/*  yamlout - see yamlout.h. */
#include "yamlout.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "json.h"
#include "mp.h"

struct yamlout {
    yaml_emitter_t em;
    bool failed;
};

static void emit(yamlout_t *y, yaml_event_t *ev)
{
    if (!y->failed && !yaml_emitter_emit(&y->em, ev))
        y->failed = true;
}

static void scalar(yamlout_t *y, const char *tag, const char *s, size_t len, bool plain)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)tag, (yaml_char_t *)s, (int)len, plain,
                                 !tag, YAML_ANY_SCALAR_STYLE);
    emit(y, &ev);
}

/* Whether a YAML 1.1 reader would take this plain text for a bool, a
   null, or a number. */
static bool looks_typed(const char *s, size_t len)
{
    static const char *const words[] = {"y",   "yes",  "n", "no",   "true",  "false", "on",
                                        "off", "null", "~", ".inf", "-.inf", "+.inf", ".nan"};
    if (len == 0)
        return true;
    if (len <= 6) {
        char w[8];
        memcpy(w, s, len);
        w[len] = '\0';
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            if (strcasecmp(w, words[i]) == 0)
                return true;
    }
    /* Numbers: digits with an optional sign, dots, exponent, 0x/0o, and
       the underscores and colons YAML 1.1 allows in them. */
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i == len)
        return false;
    bool digit = false;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isdigit(c))
            digit = true;
        else if (!strchr("._:eExXoOabcdefABCDEF+-", c))
            return false;
    }
    return digit;
}

void yamlout_text(yamlout_t *y, const char *s, size_t len)
{
    if (!mc_utf8_valid(s, len)) {
        size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(n);
        if (!b64) {
            y->failed = true;
            return;
        }
        sodium_bin2base64(b64, n, (const unsigned char *)s, len, sodium_base64_VARIANT_ORIGINAL);
        scalar(y, "tag:yaml.org,2002:binary", b64, strlen(b64), false);
        free(b64);
        return;
    }
    scalar(y, NULL, s, len, !looks_typed(s, len));
}

void yamlout_value(yamlout_t *y, const msgpack_object *v)
{
    char buf[64];
    yaml_event_t ev;
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        scalar(y, NULL, "null", 4, true);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        scalar(y, NULL, v->via.boolean ? "true" : "false", v->via.boolean ? 4 : 5, true);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(buf, sizeof buf, "%" PRIu64, v->via.u64);
        scalar(y, NULL, buf, strlen(buf), true);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(buf, sizeof buf, "%" PRId64, v->via.i64);
        scalar(y, NULL, buf, strlen(buf), true);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (isnan(v->via.f64))
            snprintf(buf, sizeof buf, ".nan");
        else if (isinf(v->via.f64))
            snprintf(buf, sizeof buf, "%s", v->via.f64 < 0 ? "-.inf" : ".inf");
        else
            mc_json_double_text(buf, sizeof buf, v->via.f64);
        if (!strpbrk(buf, ".eni")) /* 1.0 stays a float */
            strcat(buf, ".0");
        scalar(y, NULL, buf, strlen(buf), true);
        break;
    case MSGPACK_OBJECT_STR:
        yamlout_text(y, v->via.str.ptr, v->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        yamlout_text(y, v->via.bin.ptr, v->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        emit(y, &ev);
        for (uint32_t i = 0; i < v->via.array.size; i++)
            yamlout_value(y, &v->via.array.ptr[i]);
        yaml_sequence_end_event_initialize(&ev);
        emit(y, &ev);
        break;
    case MSGPACK_OBJECT_MAP:
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        emit(y, &ev);
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            const msgpack_object *k = &v->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_STR) {
                yamlout_text(y, k->via.str.ptr, k->via.str.size);
            } else {
                int n = msgpack_object_print_buffer(buf, sizeof buf, *k);
                yamlout_text(y, buf, n > 0 ? (size_t)n : 0);
            }
            yamlout_value(y, &v->via.map.ptr[i].val);
        }
        yaml_mapping_end_event_initialize(&ev);
        emit(y, &ev);
        break;
    default:
        scalar(y, NULL, "null", 4, true);
        break;
    }
}

void yamlout_strings(yamlout_t *y, char *const *items, size_t n)
{
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
    emit(y, &ev);
    for (size_t i = 0; i < n; i++)
        yamlout_text(y, items[i], strlen(items[i]));
    yaml_sequence_end_event_initialize(&ev);
    emit(y, &ev);
}

yamlout_t *yamlout_open(FILE *f)
{
    yamlout_t *y = calloc(1, sizeof *y);
    if (!y || !yaml_emitter_initialize(&y->em)) {
        free(y);
        return NULL;
    }
    yaml_emitter_set_output_file(&y->em, f);
    yaml_emitter_set_unicode(&y->em, 1);
    yaml_emitter_set_width(&y->em, -1);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    emit(y, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    emit(y, &ev);
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    emit(y, &ev);
    return y;
}

void yamlout_key(yamlout_t *y, const char *key)
{
    yamlout_text(y, key, strlen(key));
}

int yamlout_close(yamlout_t **py)
{
    yamlout_t *y = *py;
    if (!y)
        return -1;
    yaml_event_t ev;
    yaml_mapping_end_event_initialize(&ev);
    emit(y, &ev);
    yaml_document_end_event_initialize(&ev, 1);
    emit(y, &ev);
    yaml_stream_end_event_initialize(&ev);
    emit(y, &ev);
    yaml_emitter_flush(&y->em);
    bool failed = y->failed;
    yaml_emitter_delete(&y->em);
    free(y);
    *py = NULL;
    return failed ? -1 : 0;
}
