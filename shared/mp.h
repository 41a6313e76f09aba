/*  mp - checked access to msgpack data from the network.

    Nothing from a socket reaches msgpack-c's unpacker before mc_mp_check()
    has walked it: every length and count must fit in the bytes that are
    really there, nesting is bounded, and exactly one object fills the
    buffer. Only then is it unpacked into a zone, so a five-byte message
    cannot make us allocate gigabytes for a claimed array.

    Readers then take fields through mc_mp_* getters that check the type and
    size and say which field was wrong. Packing helpers sit here too. */
#ifndef MC_MP_H
#define MC_MP_H

#include <msgpack.h>

#include "util.h"

#define MC_MP_MAX_DEPTH 32
/* The most values (of any type, containers included) in one message: the
   unpacked tree then stays under about 32 MiB. */
#define MC_MP_MAX_OBJECTS (1 << 20)

/* A decoded message: the object tree and the zone that owns it. */
typedef struct {
    msgpack_zone zone;
    msgpack_object root;
} mc_mp_doc_t;

int mc_mp_check(const void *buf, size_t len, mc_err_t *err);
/* Check and unpack a copy of buf; doc must be released with
   mc_mp_doc_done(). */
int mc_mp_parse(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err);
/* The same without the copy: strings and binaries in the tree point into
   buf, which must outlive doc (for messages that carry bulk data). */
int mc_mp_parse_view(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err);
void mc_mp_doc_done(mc_mp_doc_t *doc);

/* Map lookup by string key; NULL when absent. */
const msgpack_object *mc_mp_get(const msgpack_object *map, const char *key);

/* Typed getters on a map: -1 with err naming the field when the field is
   missing (if required), of the wrong type, or out of bounds. Strings are
   copied into out (NUL-terminated, at most outsize-1 bytes) or malloc'd. */
int mc_mp_str(const msgpack_object *map, const char *key, char *out, size_t outsize, mc_err_t *err);
int mc_mp_str_opt(const msgpack_object *map, const char *key, char *out, size_t outsize,
                  mc_err_t *err);
int mc_mp_strdup(const msgpack_object *map, const char *key, size_t max, char **out, mc_err_t *err);
int mc_mp_int(const msgpack_object *map, const char *key, int64_t min, int64_t max, int64_t *out,
              mc_err_t *err);
int mc_mp_bool(const msgpack_object *map, const char *key, bool *out, mc_err_t *err);
int mc_mp_bin(const msgpack_object *map, const char *key, size_t max, const char **data,
              size_t *len, mc_err_t *err);
/* Field that must be an array / map (or absent when opt). */
int mc_mp_array(const msgpack_object *map, const char *key, bool opt, size_t max,
                const msgpack_object **out, mc_err_t *err);
int mc_mp_map(const msgpack_object *map, const char *key, bool opt, size_t max,
              const msgpack_object **out, mc_err_t *err);

bool mc_mp_is_str(const msgpack_object *o, const char *s);
/* Whether a string value is valid UTF-8. */
bool mc_utf8_valid(const char *s, size_t len);

/* Packing: a packer writing into an sbuffer. */
void mc_pk_str(msgpack_packer *pk, const char *s);
void mc_pk_strn(msgpack_packer *pk, const char *s, size_t n);
void mc_pk_bin(msgpack_packer *pk, const void *p, size_t n);
/* Room for more bytes in sb at once, rather than by doubling as it fills. */
void mc_sbuffer_reserve(msgpack_sbuffer *sb, size_t more);
/* Text that may not be UTF-8: str when it is, bin when not. */
void mc_pk_text(msgpack_packer *pk, const char *s, size_t n);
void mc_pk_kv_str(msgpack_packer *pk, const char *k, const char *v);
void mc_pk_kv_int(msgpack_packer *pk, const char *k, int64_t v);
void mc_pk_kv_bool(msgpack_packer *pk, const char *k, bool v);

#endif
