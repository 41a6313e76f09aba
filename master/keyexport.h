/*  keyexport - the master's own keys, CURVE and signing, as one text file,
    so that several masters serving the same minions hold the same keys:
    `mctl-master --export-keys FILE` on the first, `--import-keys FILE` on
    each other one before it first starts (or copy PKI_DIR/master.* by
    hand). Minions pin one master key and one signing key, so masters that
    share minions must share both.

    The file holds secret keys: it is written 0600 and never over an
    existing file. */
#ifndef MC_KEYEXPORT_H
#define MC_KEYEXPORT_H

#include "util.h"

/* Write pki_dir's master keys (made first when missing) to path ("-":
   standard output). */
int keyexport_write(const char *pki_dir, const char *path, mc_err_t *err);
/* Install the keys in path ("-": standard input) in pki_dir. A pki_dir
   that holds other master keys already is refused; the same keys are
   fine (*same set). */
int keyexport_read(const char *pki_dir, const char *path, bool *same, mc_err_t *err);

#endif
