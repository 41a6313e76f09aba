/*  json - msgpack values and strings written as JSON, the way mctl prints
    them (--out json) and the master records them (the audit log).

    Text that is not UTF-8 becomes {"base64": "..."}; map keys that are not
    strings are written as strings, NaN and infinities as null (a key that is not UTF-8 as
    "base64:..."). indent >= 0 pretty-prints (four spaces
    a level, starting at that column); MC_JSON_COMPACT writes one line with
    no spaces, for line-oriented files. */
#ifndef MC_JSON_H
#define MC_JSON_H

#include <msgpack.h>
#include <stdio.h>

#define MC_JSON_COMPACT (-1)

/* A finite double as the shortest text that reads back as the same value
   (0.66, not 0.66000000000000003), as Python's repr. */
void mc_json_double_text(char *buf, size_t cap, double v);

/* A JSON string of exactly these bytes (escaped; no UTF-8 check). */
void mc_json_string(FILE *f, const char *s, size_t len);
/* Text as a JSON string, or {"base64": ...} when it is not UTF-8. */
void mc_json_text(FILE *f, const char *s, size_t len, int indent);
/* One value. */
void mc_json_value(FILE *f, const msgpack_object *value, int indent);
/* A list of strings as an array. */
void mc_json_strings(FILE *f, char *const *items, size_t n, int indent);

#endif
