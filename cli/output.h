/*  output - print return values the way Salt's outputters do.

    txt ("nested" in Salt): the minion id, a colon, then the value indented
    by four spaces; maps as "----------" then "key:" with the value below,
    lists as "- item", True/False/None for the constants; on a terminal,
    control characters in the minions' text are shown as \xNN. json:
    json.h's. */
#ifndef MC_OUTPUT_H
#define MC_OUTPUT_H

#include <msgpack.h>
#include <stdio.h>

#include "json.h"
#include "util.h"

typedef enum { OUT_TXT, OUT_JSON, OUT_YAML } out_format_t;

int output_parse(const char *name, out_format_t *out);
/* "id:" then the value, nested. */
void output_txt_minion(FILE *f, const char *id, const msgpack_object *value);
void output_txt_value(FILE *f, const msgpack_object *value, int indent);
#endif
