/*  ydoc - a YAML document as a small tree of maps, lists and scalars, each
    node knowing its line, so config errors can point at it.

    Only what config files need: block and flow maps and lists, plain and
    quoted scalars. Anchors and aliases are refused (a config has no use for
    them and they are the classic expansion bomb). */
#ifndef MC_YDOC_H
#define MC_YDOC_H

#include <msgpack.h>

#include "util.h"

typedef enum { MC_YAML_SCALAR, MC_YAML_LIST, MC_YAML_MAP } mc_yaml_kind_t;

typedef struct mc_yaml mc_yaml_t;
struct mc_yaml {
    mc_yaml_kind_t kind;
    int line;
    char *value; /* scalar text */
    bool quoted; /* scalar was quoted: always a string */
    char *key;   /* set on children of a map */
    mc_yaml_t **items;
    size_t count;
};

/* Parse text; name is used in messages ("master: line 4: ..."). An empty
   document gives an empty map. */
mc_yaml_t *mc_yaml_parse(const char *name, const char *text, size_t len, mc_err_t *err);
mc_yaml_t *mc_yaml_load(const char *name, const char *path, mc_err_t *err);
void mc_yaml_free(mc_yaml_t **node);
const mc_yaml_t *mc_yaml_get(const mc_yaml_t *map, const char *key);
/* Pack a node as msgpack: plain scalars become booleans, integers or
   floats where they look like one, as YAML means them. */
void mc_yaml_pack(msgpack_packer *pk, const mc_yaml_t *node);

#endif
