/*  cp - mctl cp: the sources and their manifest (cp_manifest.c), and the
    copy itself (cp.c). */
#ifndef MC_CLI_CP_H
#define MC_CLI_CP_H

#include <sys/stat.h>

#include "cli.h"
#include "proto/proto.h"

#define EXIT_NOINPUT 66 /* a source that cannot be read */

/* The sources of a copy: the manifest sent to the minions, and for each
   of its entries the path here and the file as it was when hashed. */
typedef struct {
    mc_cp_manifest_t m;
    char **paths;      /* each entry's path here */
    struct stat *seen; /* each file as it was when hashed */
    size_t cap;
} sources_t;

/* Read the sources src (nsrc of them) for a copy to dest: 0, or an exit
   status after saying why on stderr (a source missing or unreadable,
   a directory without -r, too many files, a file too large). */
int cp_sources_read(const cli_opts_t *o, sources_t *s, int nsrc, char **src, const char *dest);
void cp_sources_free(sources_t *s);

#endif
