/*  master - the master daemon's state, shared by the files that handle its
    sockets: server.c (the loop, set-up, signals), clients.c (the client
    API on SOCK_DIR/master.ipc), history.c (jobs list, show and wait),
    follow.c (jobs wait on a job held by no one here), publish.c (signing, sealing and
    publishing jobs, and confirming stored returns), copy.c (mctl cp: the
    copy's job, its chunks and progress) and minions.c (what minions send:
    registration, subscriptions, returns, acks, heartbeats, grains, copy
    progress). Everything here is touched from the one loop only, so there
    are no locks. */
#ifndef MC_MASTER_H
#define MC_MASTER_H

#include <czmq.h>

#include "acl.h"
#include "audit.h"
#include "admission.h"
#include "config.h"
#include "jobcache.h"
#include "jobs.h"
#include "keys.h"
#include "log.h"
#include "proto/proto.h"
#include "registry.h"

/* Returns that come after the job's time limit still reach waiting clients
   for this long. */
#define LATE_RETURN_GRACE_MS 30000

/* Room in a minion's queue above pub_hwm, for "stored" notices. */
#define PUB_HWM_MARGIN 1000

/* Why a minion did not get a job when it has no connection to the master. */
#define NOT_CONNECTED "not connected"

/* How long a stop waits for the writes queued before it. */
#define JOBCACHE_SYNC_MS 5000

/* A jobs.kill that waited for its job's user from the history is sent
   only if the answer came within this long: later, its client may have
   given up (mctl-api waits 10 s for a reply, mctl 30 s), and a kill it
   was told failed must not land. */
#define KILL_OWNER_WAIT_MS 8000

/* A minion hears that its returns are stored with its next job, or after
   this long (well inside the minion's resend interval), or once this many
   are waiting: a notice of its own wakes every minion once more per job. */
#define CONFIRM_DELAY_MS 1000
/* A return for a job the shared history lacks is left unconfirmed (sent
   again by its minion) while the job is younger than this. */
#define UNKNOWN_RETURN_RETRY_US (10LL * 60 * 1000000)
#define CONFIRM_BATCH           500

/* Who sent a client request, as the kernel says (SO_PEERCRED): never
   what the request says. */
typedef struct {
    char user[MC_USER_MAX + 1]; /* the name, or "uid N" */
    unsigned long uid, gid;
    bool all;        /* root or the master's own user: not checked against the ACL */
    unsigned rights; /* ACL_RIGHT_* the publisher_acl gives (all of them when all) */
    char **groups;   /* the names of the user's groups */
    size_t ngroups;
    char via[MC_USER_MAX + 1]; /* "" or, for an as request, the user that made it */
} caller_t;

/* The client request being handled, as it came: history.c keeps it when
   it must wait for a read of the history, to run it again. */
typedef struct {
    const void *data;
    size_t len;
    const caller_t *who; /* before the ACL's rights are worked out */
    bool nested;         /* inside an as request */
} request_raw_t;

/* What became of the client request being handled, for the audit log:
   set by the replies that refuse it and by the publish that runs it. */
typedef struct {
    const char *decision; /* "allowed", "refused" or "error" */
    char reason[MC_REPLY_TEXT_MAX + 1];
    char jid[MC_JID_LEN + 1];
    bool delegated;   /* an as request's inner request was handled (and audited) */
    bool deferred;    /* a read of the history: its line is written with its answer */
    int64_t asked_us; /* when it was made, for a request run again later (0: now) */
} outcome_t;

typedef struct callers callers_t;

typedef struct server {
    mc_master_config_t *cfg;
    mc_curve_keys_t curve;
    mc_sign_keys_t sign;
    registry_t *registry;
    jobs_t *jobs;
    jobcache_t *cache;
    zhashx_t *confirm_later; /* minion id -> confirm_t: stored, not yet told */
    int listeners;           /* listening sockets per TCP port (listen_tcp) */
    zhashx_t *nodegroups;    /* name -> compound expression */
    acl_t *acl;              /* publisher_acl */
    audit_t *audit;          /* audit_log */
    outcome_t outcome;       /* of the client request being handled */
    request_raw_t request;   /* the client request being handled, as it came */
    /* While a jobs.kill that waited for the history runs again: its job's
       user as the history says, or NULL and why it could not say. */
    struct {
        const char *jid, *user, *why;
    } kill_owner;
    unsigned long client_gid; /* client_group: may use the client socket */
    char client_group_name[64];
    zsock_t *zap, *reg, *pub, *pull, *client;
    zlistx_t *subscribers;  /* clients that asked for events (events.c), or NULL */
    int64_t events_tick_ms; /* when subscribers were last ticked */
    zhashx_t *subs; /* minion id -> subscriptions standing on its topic (as a pointer-sized int) */
    mc_log_limit_t hostile_log, stale_log, zap_log, register_log; /* lines any peer can cause */
    admission_t *admission;                                       /* new keys per address */
    int sigfd;
    int64_t last_jid_us;
    int jid_index;            /* the last digit of this master's jids (keystore_pg.h) */
    keystore_pg_t *keys;      /* the registry's shared key list, or NULL (folders) */
    int64_t keys_failing_ms;  /* the shared key list cannot be read since (0: it can) */
    int64_t keys_reported_ms; /* and that was last said then */
    zlistx_t *followers;      /* clients waiting on jobs not held here (follow.c), or NULL */
    zlistx_t *history_reads;  /* clients' reads of the history out (history.c), or NULL */
    callers_t *callers;       /* names of the uids that made requests (callers.c) */
    char *ipc_path;
    bool stop;
} master_t;

/* ---- callers.c ---------------------------------------------------------- */

callers_t *callers_new(void);
void callers_destroy(callers_t **pself);
/* who->user, who->groups and who->ngroups for who->uid and who->gid, as
   NSS said at most CALLERS_TTL_MS ago. */
void callers_name(callers_t *self, caller_t *who, int64_t now_ms);
/* The uid and primary gid of a user name, as NSS said at most
   CALLERS_TTL_MS ago: false when there is no such user. */
bool callers_ids(callers_t *self, const char *user, unsigned long *uid, unsigned long *gid,
                 int64_t now_ms);

/* ---- listen.c ------------------------------------------------------------ */

/* A CURVE server socket of type, its connections admitted by ZAP in
   domain, not yet listening: a connection takes the socket's options as
   they are at bind time. NULL when libzmq cannot make one. */
zsock_t *listen_curve_socket(master_t *self, int type, const char *domain, int maxmsgsize);
/* TCP keepalive and a retransmission limit, so that a connection whose
   host is gone is closed within about alive_s. */
void listen_dead_peer_guard(zsock_t *s, int alive_s);
/* s listening on interface:port (self->listeners sockets of its own when
   the interface is an address); -1 with err. */
int listen_tcp(master_t *self, zsock_t *s, int port, mc_err_t *err);

/* ---- keyreq.c ------------------------------------------------------------ */

/* The handlers of key list, key finger, master_key, key preseed and key
   accept/reject/delete. */
void keyreq_list(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
void keyreq_finger(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
void keyreq_master_key(master_t *self, zframe_t *route, const mc_request_t *req,
                       const caller_t *who);
void keyreq_preseed(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
void keyreq_change(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);

/* ---- history.c ---------------------------------------------------------- */

/* The handlers of jobs list, show and wait. */
void history_list(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
void history_show(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
void history_wait(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
/* A return for jid came: the jobs wait reads out for it add it to their
   answer (it may be stored after the read and queued no more). */
void history_arrived(master_t *self, const char *jid, const char *id, const void *raw, size_t len);
/* jobs.kill of jid, by a user without @jobs, and the job not in flight
   here: the request being handled (self->request) waits for its job's
   user from the history, read off the loop, and runs again with it in
   self->kill_owner; or the client is told at once why it cannot. */
void history_kill_owner(master_t *self, zframe_t *route, const char *jid);
/* Answer the reads of the history out, and stop the reader (at a stop,
   while the client socket is open). */
void history_stop(master_t *self);

/* ---- follow.c ----------------------------------------------------------- */

/* Whether no more clients, or no more of this user's, may follow jobs
   in the history now. */
bool follow_full(master_t *self, const char *user);
/* The client at route (user's) follows job jid in the history until
   until_ms (monotonic) or until `expected` minions have returned; `had`
   holds the ids whose return it was sent with the reply (taken over). */
void follow_start(master_t *self, zframe_t *route, const char *user, const char *jid,
                  int64_t until_ms, size_t expected, zhashx_t **had);
/* Send each follower the returns stored since (once a second). */
void follow_tick(master_t *self, int64_t now_ms);
void follow_stop_all(master_t *self);

/* ---- clients.c ---------------------------------------------------------- */

/* Handle the client socket's next message; false when none was waiting
   (the loop's receives do not block). */
bool clients_on_request(master_t *self);
/* The caller with this uid and gid: name, groups (callers.c), and whether
   it is root or the master's own user. Release with clients_caller_done. */
int clients_caller(master_t *self, caller_t *who, unsigned long uid, unsigned long gid);
void clients_caller_done(caller_t *who);
/* One request body from the local user who. */
void clients_request(master_t *self, zframe_t *route, zframe_t *body, const caller_t *who);
/* A request kept while it waited (history_kill_owner) runs again as it
   came, its audit line dated asked_us. */
void clients_request_again(master_t *self, zframe_t *route, const void *data, size_t len,
                           const caller_t *who, bool nested, int64_t asked_us);
/* A copy of who that owns its strings (clients_caller_done). */
void clients_caller_copy(caller_t *to, const caller_t *from);
/* [kind][data] to one client: 0, or -1 when it has gone. */
int clients_send(master_t *self, zframe_t *route, const char *kind, const void *data, size_t len);
void clients_reply(master_t *self, zframe_t *route, msgpack_sbuffer *sb);
/* Refuse a request the caller may not make: {ok: false, error, denied},
   and a line in the log. */
void clients_reply_denied(master_t *self, zframe_t *route, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Refuse a request: {ok: false, error} with the message. */
void clients_reply_error(master_t *self, zframe_t *route, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Stream one minion message to every client waiting on the job. */
void clients_notify_waiters(master_t *self, job_t *job, const char *kind, zframe_t *payload);

/* A request's target, resolved against the registry. */
typedef struct {
    char *tgt; /* after nodegroup expansion */
    char tgt_type[16];
    char delimiter;
    minion_t **matched;
    size_t count;
} resolved_t;

/* Resolve a request's target; on error the client has been answered and
   -1 is returned. */
int clients_resolve_target(master_t *self, zframe_t *route, const mc_req_target_t *t,
                           resolved_t *r);
void clients_resolved_done(resolved_t *r);
/* The matched minions' ids, in a malloc'd array (the ids are the
   registry's). */
const char **clients_resolved_ids(const resolved_t *r);
bool clients_fun_name_valid(const char *fun);

/* ---- publish.c ---------------------------------------------------------- */

/* A minion subscribed (again): send it the jobs in flight it has not
   acknowledged. */
void publish_resend(master_t *self, minion_t *m);
/* A publish request: sign, seal, publish, record, answer. */
void publish_request(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
/* Whether the caller may run fun with these arguments on every minion r
   reaches (publisher_acl); when not, the client has been told why. */
bool publish_allowed(master_t *self, zframe_t *route, const caller_t *who, const resolved_t *r,
                     const char **ids, const char *fun, const msgpack_object *arg,
                     const msgpack_object *kwarg);
/* A job, as sent and as recorded. */
typedef struct {
    const char *fun;
    const msgpack_object *arg, *kwarg;         /* sent to the minions */
    const msgpack_object *rec_arg, *rec_kwarg; /* in the job cache */
    int64_t timeout;
    job_copy_t *copy; /* a copy's state, owned by the job from here on */
} publish_job_t;
/* Sign the job once, seal and send it to each minion of r that can take
   it now, record it, answer the client with the jid, the minions to
   expect and why any was not sent it. Returns the job while it is in
   flight, or NULL (nothing matched, or nothing was sent). */
job_t *publish_send(master_t *self, zframe_t *route, const caller_t *who, const resolved_t *r,
                    const char **ids, const publish_job_t *pj);
/* [topic][kind][payload] to a minion on the XPUB: 0, or -1 with why it
   could not go. */
int publish_send_to(master_t *self, minion_t *m, const char *kind, const void *data, size_t len,
                    char *why, size_t cap);
/* The same with a message that is sent to many without a copy for each
   (publish_msg_take makes one of an sbuffer's bytes). */
int publish_send_msg(master_t *self, minion_t *m, const char *kind, zmq_msg_t *payload, char *why,
                     size_t cap);
void publish_msg_take(zmq_msg_t *msg, msgpack_sbuffer *sb);
/* A minion acknowledged or returned a job, or the job expired without
   either: it is no longer in flight to that minion (arg: the master). */
void publish_settle(const char *id, void *arg);
/* The job cache's jobcache_stored_fn (arg: the master): a return it
   committed is confirmed to its minion. */
void publish_on_stored(void *arg, const char *jid, const char *id, bool unknown);
/* Send the confirmations waiting since before older (all: INT64_MAX). */
void publish_confirm_due(master_t *self, int64_t older);
/* For confirm_later's destructor. */
void publish_confirm_free(void **item);

/* ---- copy.c -------------------------------------------------------------- */

/* mctl cp: a cp_start request publishes a cp.recv job carrying the
   manifest and a fresh key; cp_chunk requests are tagged with that key
   and passed on to the copy's minions. */
void copy_start(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
void copy_chunk(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
/* A minion's progress report: to the mctl running the copy. */
void copy_on_cpack(master_t *self, const char *sender, zframe_t *body);

/* ---- events.c ----------------------------------------------------------- */

/* An events request: the client hears of every job it may see from now on. */
void events_subscribe(master_t *self, zframe_t *route, const mc_request_t *req,
                      const caller_t *who);
/* An events_read request: the subscriber on route has taken that many
   events, so that many more may go to it. */
void events_read(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who);
/* A job was published (to minions of them, some perhaps not sent). */
void events_job(master_t *self, const char *jid, const char *fun, const char *user, const char *tgt,
                const char *tgt_type, size_t minions);
/* A return was stored; job is the job in flight, or NULL when it is not. */
void events_ret(master_t *self, const job_t *job, const mc_ret_t *ret);
/* Every EVENTS_TICK_MS: a tick to each subscriber, so that those whose
   connection is gone are dropped. */
void events_tick(master_t *self, int64_t now_ms);

/* ---- minions.c ---------------------------------------------------------- */

/* Each handles its socket's next message; false when none was waiting. */
bool minions_on_message(master_t *self);
bool minions_on_subscription(master_t *self);
bool minions_on_register(master_t *self);
/* Whether a job can reach the minion now: a subscription stands on its
   topic and its current key has spoken. */
bool minions_present(master_t *self, const minion_t *m);
/* Tell a minion waiting on the registration socket its key's state. */
void minions_registration_reply(master_t *self, zframe_t *route, key_state_t state);

#endif
