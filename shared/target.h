/*  target - does a target expression select a minion?

    One matcher for both sides: the master resolves a target against its
    registry to know whom to publish to and wait for, and each minion checks
    again before it runs a job. Kinds: "glob" (fnmatch on the id, the
    default) and "list" (comma-separated ids). */
#ifndef MC_TARGET_H
#define MC_TARGET_H

#include <msgpack.h>

#include "util.h"

/* Is tgt_type a kind this build knows? */
bool mc_target_kind_valid(const char *tgt_type);
/* Check an expression before anything is published. */
int mc_target_validate(const char *tgt, const char *tgt_type, mc_err_t *err);
/* grains may be NULL when the kind does not look at them. */
bool mc_target_match(const char *tgt, const char *tgt_type, const char *id,
                     const msgpack_object *grains);

#endif
