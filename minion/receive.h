/*  receive - mctl cp on the minion: the cp.recv job and its chunks.

    The main process takes a copy itself (it moves bytes to disk, as the
    spool does, and runs no user code): the cp.recv job brings the
    manifest and the copy's key (proto/copy.h); the chunks follow on this
    minion's topic, each checked against that key and its place in the
    sequence (proto/chunk.h).

    Paths. The destination is opened as the job names it (a symbolic link
    there is the operator's own). Below it, every directory is opened with
    O_NOFOLLOW and every file is written under a temporary name
    (.mctl-cp.JID.PID.N, mode 0600) in its final directory, then checked
    against the manifest's BLAKE2b-256, given its owner and mode, fsync'd
    and renamed over the destination name: a symbolic link is never
    followed out of the destination, and a destination name only ever
    holds a whole, checked file. A file already there with the same hash
    is not sent again (the first cpack says so) and is reported
    "unchanged".

    Failures are per file and say why (no space, not a directory,
    permission, checksum); a missing chunk, a chunk that fails its check,
    or no chunk for the job's timeout ends the whole copy. Temporary files
    are removed when a file fails; a record in the cache directory names
    them until the copy ends, so that those of a minion killed mid-copy
    are removed when it starts again. The return maps each file's path to
    "written", "unchanged" or why it failed; its retcode is 1 when any
    failed. */
#ifndef MC_RECEIVE_H
#define MC_RECEIVE_H

#include <stdint.h>

#include "proto/proto.h"

/* At most this many copies at once on one minion. */
#define RECEIVE_MAX 16

typedef struct _receive_t receive_t;

/* A cpack for the copy jid to the master. */
typedef void(receive_send_fn)(void *arg, const char *jid, const void *data, size_t len);
/* A complete return for a job. */
typedef void(receive_return_fn)(void *arg, const char *jid, const char *ret, size_t len);

/* state_dir holds the records of copies in progress; those left by an
   earlier run are acted on (their temporary files removed) here. */
receive_t *receive_new(const char *id, const char *state_dir, receive_send_fn *send,
                       receive_return_fn *ret, void *arg);
void receive_destroy(receive_t **self);
/* A verified cp.recv job. */
void receive_start(receive_t *self, const mc_job_t *job);
/* A "chunk" message from the master. */
void receive_chunk(receive_t *self, const void *buf, size_t len);
/* End the copies that have had no chunk for their timeout, and say how
   far the others are that have had none for a moment. */
void receive_check(receive_t *self, int64_t now_ms);
/* Milliseconds until receive_check has something to say (-1: nothing). */
long receive_due(receive_t *self, int64_t now_ms);
/* End the copy jid (jobs.kill): false when it is not in progress. */
bool receive_kill(receive_t *self, const char *jid);
/* End every copy in progress, each file not yet written failing with why
   (the minion is stopping). */
void receive_abandon(receive_t *self, const char *why);
/* Pack a {jid, fun, pid, started} for each copy in progress
   (receive_active of them), as jobs.running lists jobs. */
void receive_pack_running(receive_t *self, msgpack_packer *pk);
/* How many copies are in progress. */
int receive_active(receive_t *self);

#endif
