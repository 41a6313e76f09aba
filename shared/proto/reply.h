/*  proto/reply - the master's answer to a client request, master to mctl.

    Sent by the master on its client socket as ["reply"][{v, ok, ...}],
    one for each request (request.h), in the order they came. While a
    published job is in flight, ["ack"] and ["ret"] messages follow: the
    minions' own acks and returns, forwarded as they came (ack.h, ret.h).

    A refusal is {v, ok: false, error, denied}: error says why, for a
    person, in at most MC_REPLY_TEXT_MAX bytes; denied (sent only when
    true) says the caller may not do what was asked (publisher_acl), as
    against a request that cannot be done. Every typed decoder below turns
    a refusal into an MC_E_REFUSED error (MC_E_DENIED when denied)
    carrying that message, so that the caller gets the answer it asked for
    or the master's reason in one step; mc_reply_status_decode reads only
    {ok, error, denied}, of any reply.

    An answer is {v, ok: true, ...} with the fields of its request:
      publish       jid ("" when no minion matched: nothing was
                    published), minions (the ids the job was meant for),
                    unsent (a map from id to why the job was not sent
                    there; only when some were not)
      list_targets  minions
    The other answers are in reply_jobs.h and reply_keys.h. */
#ifndef MC_PROTO_REPLY_H
#define MC_PROTO_REPLY_H

#include "common.h"
#include "request.h"

/* The longest error message, and reason a job was not sent. */
#define MC_REPLY_TEXT_MAX 511

/* ---- refusals --------------------------------------------------------------- */

typedef struct {
    bool ok;
    bool denied;                       /* not permitted, rather than not possible */
    char error[MC_REPLY_TEXT_MAX + 1]; /* "" when ok */
} mc_reply_status_t;

/* {v, ok: false, error[, denied: true]}; a longer message is cut at
   MC_REPLY_TEXT_MAX. */
void mc_reply_error_pack(msgpack_sbuffer *sb, bool denied, const char *message);
int mc_reply_status_decode(mc_reply_status_t *st, const void *buf, size_t len, mc_err_t *err);

/* ---- publish and list_targets ----------------------------------------------- */

typedef struct {
    char jid[MC_JID_LEN + 1]; /* "" for list_targets, or when nothing matched */
    mc_strs_t minions;        /* minion ids */
    mc_strs_t unsent;         /* the ids the job was not sent to */
    mc_strs_t unsent_why;     /* and why, in the same places */
} mc_reply_targets_t;

typedef struct {
    const char *jid;
    const char *const *minions;
    size_t count;
    /* NULL when the job went to every minion, else one per minion: why
       it was not sent there, or NULL when it was. */
    const char *const *unsent_why;
} mc_reply_publish_spec_t;

void mc_reply_publish_pack(msgpack_sbuffer *sb, const mc_reply_publish_spec_t *spec);
void mc_reply_list_targets_pack(msgpack_sbuffer *sb, const char *const *minions, size_t count);
int mc_reply_publish_decode(mc_reply_targets_t *r, const void *buf, size_t len, mc_err_t *err);
int mc_reply_list_targets_decode(mc_reply_targets_t *r, const void *buf, size_t len, mc_err_t *err);
void mc_reply_targets_done(mc_reply_targets_t *r);

/* ---- any reply as a document ------------------------------------------------ */

/* Parse a reply and check its version and ok: a refusal is -1 with an
   MC_E_REFUSED err carrying the master's message. The typed decoders are
   built on it; after a success, mc_mp_doc_done(doc). */
int mc_reply_open(mc_mp_doc_t *doc, const void *buf, size_t len, mc_err_t *err);

/* ---- for the files of shared/proto/ ----------------------------------------- */

/* Start an answer's map: {v, ok: true} and fields more. */
void mc_reply_header(msgpack_packer *pk, size_t fields);

#endif
