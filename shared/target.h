/*  target - does a target expression select a minion? Salt's semantics.

    One matcher for both sides: the master compiles a target once per job
    and evaluates it against every minion in its registry (id and cached
    grains) to know whom to publish to and wait for; each minion evaluates
    it again against itself before it runs the job.

    Kinds (tgt_type), as Salt names them:
      glob      fnmatch on the id (the default)
      list      comma-separated ids
      pcre      PCRE2 regex on the id, anchored at the start only (re.match)
      grain     KEY:VALUE, nested keys joined by the delimiter, glob on the
                value (case-insensitive); a list grain matches when any
                element does
      grain_pcre  the same with a regex on the value
      ipcidr    an address or CIDR against the ipv4/ipv6 grains
      compound  words split on white space: G@ P@ E@ L@ S@ prefixes, plain
                words are globs, and/or/not and ( ) as their own words;
                not binds tighter than and, and tighter than or; a "not"
                right after a match means "and not"
      nodegroup a name from the master's nodegroups: (expanded to a
                compound on the master; never sent to minions)

    Errors say where: "compound target: position 14: unknown prefix 'X@'". */
#ifndef MC_TARGET_H
#define MC_TARGET_H

#include <msgpack.h>

#include "util.h"

typedef struct _mc_target_t mc_target_t;

/* Is tgt_type a kind this build knows (nodegroup included)? */
bool mc_target_kind_valid(const char *tgt_type);

/* Compile an expression; delim separates nested grain keys (':' when 0). */
mc_target_t *mc_target_compile(const char *tgt, const char *tgt_type, char delim, mc_err_t *err);
void mc_target_destroy(mc_target_t **self);
/* grains: the minion's grains map, or NULL when unknown (then grain
   matches fail). */
bool mc_target_eval(const mc_target_t *self, const char *id, const msgpack_object *grains);

/* Compile, check and throw away. */
int mc_target_validate(const char *tgt, const char *tgt_type, mc_err_t *err);
/* Compile, evaluate once, throw away; false on a bad expression. */
bool mc_target_match(const char *tgt, const char *tgt_type, const char *id,
                     const msgpack_object *grains);

/* Nodegroups: lookup(name) gives a group's compound expression (or NULL).
   Turns a nodegroup target, or N@ words in a compound one, into a plain
   compound expression; the result is malloc'd. */
typedef const char *(mc_nodegroup_fn)(void *arg, const char *name);
char *mc_target_expand(const char *tgt, const char *tgt_type, mc_nodegroup_fn *group_of, void *arg,
                       mc_err_t *err);

#endif
