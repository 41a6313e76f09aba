/*  jsonin - request bodies in JSON (jansson), and JSON values as msgpack
    for the master. A body must be one JSON object, without duplicate
    keys, nested at most JSONIN_DEPTH_MAX deep. */
#ifndef MC_API_JSONIN_H
#define MC_API_JSONIN_H

#include <jansson.h>
#include <msgpack.h>

#include "util.h"

#define JSONIN_DEPTH_MAX 32

/* Make jansson wipe every block it frees (a login's password passes
   through its parser and its strings): called once, before any other
   jansson call and before threads start. */
void jsonin_init(void);

/* The body as an object; NULL with err saying what is wrong. */
json_t *jsonin_object(const char *body, size_t len, mc_err_t *err);
/* A JSON value packed as msgpack (integers as integers, other numbers as
   doubles, strings as strings). */
void jsonin_pack(msgpack_packer *pk, const json_t *v);

/* Field accessors: -1 with err naming the field when it is of the wrong
   type or out of bounds; absent fields keep the default the caller set. */
int jsonin_str(const json_t *o, const char *key, bool required, size_t max, const char **out,
               mc_err_t *err);
int jsonin_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *out,
               mc_err_t *err);
int jsonin_bool(const json_t *o, const char *key, bool *out, mc_err_t *err);

#endif
