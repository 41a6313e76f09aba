/*  output - print return values the way Salt's outputters do.

    txt ("nested" in Salt): the minion id, a colon, then the value indented
    by four spaces; maps as "----------" then "key:" with the value below,
    lists as "- item", True/False/None for the constants. json: standard
    JSON; bytes that are not UTF-8 become {"base64": "..."}. */
#ifndef MC_OUTPUT_H
#define MC_OUTPUT_H

#include <msgpack.h>
#include <stdio.h>

#include "util.h"

typedef enum { OUT_TXT, OUT_JSON } out_format_t;

int output_parse(const char *name, out_format_t *out);
/* "id:" then the value, nested. */
void output_txt_minion(FILE *f, const char *id, const msgpack_object *value);
void output_txt_value(FILE *f, const msgpack_object *value, int indent);
/* One JSON value, pretty-printed with the given indent level. */
void output_json_value(FILE *f, const msgpack_object *value, int indent);
void output_json_string(FILE *f, const char *s, size_t len);
/* Text as a JSON string, or {"base64": ...} when it is not UTF-8. */
void output_json_text(FILE *f, const char *s, size_t len, int indent);
/* A list of strings as a JSON array, as output_json_value prints one. */
void output_json_strings(FILE *f, char *const *items, size_t n, int indent);

#endif
