/*  proto/copy - what a file copy (mctl cp) sends: the manifest.

    The manifest names the destination and every file and directory of
    one copy, in the order their bytes will come: mctl sends it to the
    master in a cp_start request (request.h), and the master to each
    minion inside the copy's job, whose function is cp.recv, as the kwarg
    {copy: MANIFEST, key: 32 bytes} (the key authenticates the copy's
    chunks, chunk.h). The job is sealed and signed like any other.

    A manifest is a map {dest, into, mode, owner, files}:
      dest   the absolute destination path, without "." or ".." parts
             or "//" (a trailing '/' is allowed)
      into   true when dest is a directory the files go into (several
             sources, a directory, or a dest ending in '/'); false when
             one file goes to dest, or into dest if the minion has a
             directory there
      mode   permission bits for every file (0 to 07777), or -1: each
             file's own
      owner  "USER" or "USER:GROUP" to own the files, "" for the
             minion's user
      files  [[name, size, mode, dir, hash], ...]: name is a relative
             path under dest (no "..", ".", empty or leading '/' parts),
             size in bytes, mode its permission bits, dir true for a
             directory (then size 0 and an empty hash), hash the file's
             BLAKE2b-256 (crypto_generichash, 32 bytes)

    The decoder checks every name (no control characters, each once), so
    that a minion never has to. */
#ifndef MC_PROTO_COPY_H
#define MC_PROTO_COPY_H

#include "common.h"

/* The most files and directories in one copy, the longest path and the
   largest chunk of data a message carries. */
#define MC_CP_FILES_MAX 100000
#define MC_CP_PATH_MAX  4095
#define MC_CP_CHUNK_MAX (1024 * 1024)
#define MC_CP_HASH_LEN  32
#define MC_CP_OWNER_MAX 129
/* The longest a minion waits for a copy's next chunk: a copy holds one of
   the minion's few copy slots, and a stalled one must give it back. */
#define MC_CP_TIMEOUT_MAX 3600
/* The largest file, 1 PiB: a sum of MC_CP_FILES_MAX of them still fits. */
#define MC_CP_FILE_SIZE_MAX (1ULL << 50)

typedef struct {
    char *name;
    uint64_t size;
    uint32_t mode;
    bool dir;
    unsigned char hash[MC_CP_HASH_LEN];
} mc_cp_file_t;

typedef struct {
    char *dest;
    bool into;
    int32_t mode; /* -1: each file's own */
    char owner[MC_CP_OWNER_MAX + 1];
    size_t count;
    mc_cp_file_t *files;
    uint64_t bytes; /* the files' sizes added up (set by the decoder) */
} mc_cp_manifest_t;

/* Pack the manifest as one map value (the caller has packed its key). */
void mc_cp_manifest_pack(msgpack_packer *pk, const mc_cp_manifest_t *m);
/* The map at key of map: 0 with the whole manifest (free it with
   mc_cp_manifest_free), or -1 with err naming what is wrong. */
int mc_cp_manifest_decode(const msgpack_object *map, const char *key, mc_cp_manifest_t *m,
                          mc_err_t *err);
void mc_cp_manifest_free(mc_cp_manifest_t *m);
/* Whether name is a relative path a manifest may hold. */
bool mc_cp_name_valid(const char *name, size_t len);
/* Whether dest is an absolute path without "." or ".." parts or "//"
   (a trailing '/' allowed): what publisher_acl matches is where the files
   go. */
bool mc_cp_dest_valid(const char *dest);

#endif
