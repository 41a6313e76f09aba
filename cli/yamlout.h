/*  yamlout - mctl --out yaml: the returns as one YAML document, written
    with libyaml's emitter (block style, as Salt's yaml outputter).

    Strings stay strings: one that YAML would read as something else
    ("true", "no", "012", "1e3", "null", "") is quoted. Bytes that are not
    UTF-8 are !!binary (base64). */
#ifndef MC_YAMLOUT_H
#define MC_YAMLOUT_H

#include <msgpack.h>
#include <stdio.h>

typedef struct yamlout yamlout_t;

/* Start a document whose top is a map (keys added with yamlout_key). */
yamlout_t *yamlout_open(FILE *f);
void yamlout_key(yamlout_t *y, const char *key);
void yamlout_value(yamlout_t *y, const msgpack_object *v);
void yamlout_text(yamlout_t *y, const char *s, size_t len);
/* A list of strings as one value. */
void yamlout_strings(yamlout_t *y, char *const *items, size_t n);
/* End the map and the document; 0, or -1 when writing failed. */
int yamlout_close(yamlout_t **y);

#endif
