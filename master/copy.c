/*  copy - mctl cp on the master.

    A cp_start request becomes a cp.recv job: checked against the
    publisher_acl like any job (function cp.recv, argument the
    destination), recorded in the job cache with the destination and the
    number of files and bytes (never the data, never the key), and sent,
    sealed and signed, to the target minions with the manifest and a key
    made for this copy. The client that started it then sends the data as
    cp_chunk requests, in order; each is tagged with the copy's key
    (proto/chunk.h) and published on the topic of every minion of the copy
    that has neither returned nor dropped out. The master keeps no chunk:
    mctl sends more only as the minions' cpack messages, forwarded to it,
    show they keep up, so what waits in the XPUB's queues stays bounded.

    A minion the master cannot pass a chunk to (gone, or its queue full)
    takes no further part: mctl hears so at once in a cpack with an error,
    and the minion, missing a chunk, drops what it has (nothing lands
    under a destination name) and returns an error. A copy that goes
    quiet is ended by the minions after its timeout; each chunk extends
    the job's life by as much. */
#include "master.h"

#include <string.h>

/* A cpack with an error, to the client of a copy. */
static void tell_owner(master_t *self, zframe_t *route, const char *jid, const char *id,
                       int64_t seq, const char *error)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_cpack_spec_t spec = {.jid = jid, .id = id, .seq = seq, .error = error};
    mc_cpack_pack(&sb, &spec);
    clients_send(self, route, MC_KIND_CPACK, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* An object tree over an sbuffer's bytes (a map packed just now), in
   doc; NULL with the client told why when it cannot be read back. */
static const msgpack_object *as_object(master_t *self, zframe_t *route, msgpack_sbuffer *sb,
                                       mc_mp_doc_t *doc)
{
    mc_err_t err;
    if (mc_mp_parse_view(doc, sb->data, sb->size, &err) == 0)
        return &doc->root;
    clients_reply_error(self, route, "the copy cannot be sent: %s", err.msg);
    return NULL;
}

void copy_start(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    const mc_req_cp_start_t *c = &req->cp_start;
    /* The setuid, setgid and sticky bits, on files root will own, only
       for those who are root already. */
    if (!who->all && c->copy.mode > 0777) {
        clients_reply_denied(self, route,
                             "user %s may not give copied files the mode %04o: setuid, setgid and "
                             "sticky bits are for root and the master's user",
                             who->user, (unsigned)c->copy.mode);
        return;
    }
    resolved_t r;
    if (clients_resolve_target(self, route, &c->target, &r) != 0)
        return;
    const char **ids = clients_resolved_ids(&r);

    /* What the ACL sees: [dest], and --mode and --owner as the keyword
       arguments mode and owner when given; what the history keeps: [dest]
       and the counts. */
    msgpack_sbuffer rec_sb, sent_sb;
    msgpack_sbuffer_init(&rec_sb);
    msgpack_sbuffer_init(&sent_sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &rec_sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    mc_pk_str(&pk, "arg");
    msgpack_pack_array(&pk, 1);
    mc_pk_str(&pk, c->copy.dest);
    mc_pk_str(&pk, "kwarg");
    msgpack_pack_map(&pk, 2);
    mc_pk_kv_int(&pk, "files", (int64_t)c->copy.count);
    mc_pk_kv_int(&pk, "bytes", (int64_t)c->copy.bytes);
    mc_pk_str(&pk, "acl");
    msgpack_pack_map(&pk, (c->copy.mode >= 0) + (c->copy.owner[0] != '\0'));
    if (c->copy.mode >= 0) {
        char mode[16];
        snprintf(mode, sizeof mode, "%04o", (unsigned)c->copy.mode & 07777);
        mc_pk_kv_str(&pk, "mode", mode);
    }
    if (c->copy.owner[0])
        mc_pk_kv_str(&pk, "owner", c->copy.owner);
    mc_mp_doc_t rec_doc = {0}, sent_doc;
    const msgpack_object *rec = as_object(self, route, &rec_sb, &rec_doc);
    const msgpack_object *arg = rec ? mc_mp_get(rec, "arg") : NULL;
    const msgpack_object *rec_kwarg = rec ? mc_mp_get(rec, "kwarg") : NULL;
    const msgpack_object *acl_kwarg = rec ? mc_mp_get(rec, "acl") : NULL;

    if (rec && publish_allowed(self, route, who, &r, ids, "cp.recv", arg, acl_kwarg)) {
        job_copy_t *copy = mc_calloc(1, sizeof *copy);
        randombytes_buf(copy->key, sizeof copy->key);
        copy->owner = zframe_dup(route);
        copy->timeout_ms = c->timeout * 1000;
        copy->dropped = zhashx_new();
        copy->acked = zhashx_new();
        copy->uid = who->uid;
        /* What the minions get: the manifest and the key. */
        msgpack_packer_init(&pk, &sent_sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        mc_pk_str(&pk, "copy");
        mc_cp_manifest_pack(&pk, &c->copy);
        mc_pk_str(&pk, "key");
        mc_pk_bin(&pk, copy->key, sizeof copy->key);
        const msgpack_object *kwarg = as_object(self, route, &sent_sb, &sent_doc);
        if (kwarg) {
            publish_job_t pj = {.fun = "cp.recv",
                                .arg = arg,
                                .kwarg = kwarg,
                                .rec_arg = arg,
                                .rec_kwarg = rec_kwarg,
                                .timeout = c->timeout,
                                .copy = copy};
            publish_send(self, route, who, &r, ids, &pj);
            mc_mp_doc_done(&sent_doc);
        } else {
            job_copy_free(copy);
        }
        sodium_memzero(sent_sb.data, sent_sb.size);
    }
    if (rec)
        mc_mp_doc_done(&rec_doc);
    msgpack_sbuffer_destroy(&rec_sb);
    msgpack_sbuffer_destroy(&sent_sb);
    free(ids);
    clients_resolved_done(&r);
}

/* A minion takes no further part in a copy: say so to its client, once. */
static void drop_minion(master_t *self, job_t *job, const char *id, const char *why)
{
    job_copy_t *copy = job->copy;
    if (zhashx_lookup(copy->dropped, id))
        return;
    zhashx_insert(copy->dropped, id, (void *)1);
    mc_warn("copy %s: chunk %lld not sent to %s: %s; it takes no further part", job->jid,
            (long long)copy->next_seq, id, why);
    char msg[MC_CPACK_ERROR_MAX + 1];
    snprintf(msg, sizeof msg, "the copy stopped at chunk %lld: %s", (long long)copy->next_seq, why);
    tell_owner(self, copy->owner, job->jid, id, copy->next_seq, msg);
}

void copy_chunk(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    const mc_req_cp_chunk_t *c = &req->cp_chunk;
    job_t *job = jobs_find(self->jobs, c->jid);
    /* Only the connection that started the copy may feed it (and a
       client chooses its routing id: the kernel's user must match too). */
    if (!job || !job->copy || !zframe_eq(job->copy->owner, route) || job->copy->uid != who->uid) {
        self->outcome.decision = "error";
        snprintf(self->outcome.reason, sizeof self->outcome.reason,
                 "no copy %s in progress from this connection", c->jid);
        tell_owner(self, route, c->jid, "", c->seq, self->outcome.reason);
        return;
    }
    job_copy_t *copy = job->copy;
    if (c->seq != copy->next_seq) {
        self->outcome.decision = "error";
        snprintf(self->outcome.reason, sizeof self->outcome.reason,
                 "chunk %lld of copy %s out of order: expected chunk %lld", (long long)c->seq,
                 c->jid, (long long)copy->next_seq);
        tell_owner(self, route, c->jid, "", c->seq, self->outcome.reason);
        return;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_chunk_spec_t spec = {.jid = c->jid, .seq = c->seq, .nparts = c->nparts, .parts = c->parts};
    mc_chunk_pack(&sb, &spec, copy->key);
    zmq_msg_t msg;
    publish_msg_take(&msg, &sb);
    for (void *p = zhashx_first(job->progress); p; p = zhashx_next(job->progress)) {
        if ((intptr_t)p - 1 == MINION_RETURNED)
            continue;
        const char *id = zhashx_cursor(job->progress);
        if (zhashx_lookup(copy->dropped, id))
            continue;
        minion_t *m = registry_find(self->registry, id);
        char why[128];
        if (!m)
            drop_minion(self, job, id, "its key was deleted");
        else if (publish_send_msg(self, m, MC_KIND_CHUNK, &msg, why, sizeof why) != 0)
            drop_minion(self, job, id, why);
    }
    zmq_msg_close(&msg);
    copy->next_seq++;
    job->expires_ms = mc_mono_ms() + copy->timeout_ms + LATE_RETURN_GRACE_MS;
}

void copy_on_cpack(master_t *self, const char *sender, zframe_t *body)
{
    mc_cpack_t a;
    mc_err_t err;
    if (mc_cpack_decode(&a, zframe_data(body), zframe_size(body), &err) != 0) {
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING, "cpack from %s refused: %s", sender,
                       err.msg);
        return;
    }
    if (strcmp(a.id, sender) != 0 || a.error[0]) {
        mc_log_limited(&self->hostile_log, MC_LOG_WARNING,
                       "cpack claiming to be from '%s' arrived with the key of %s, or carries an "
                       "error; refused",
                       a.id, sender);
        mc_cpack_done(&a);
        return;
    }
    /* Passed on only when it says more than the last one (the first, with
       its list of files, always) and no more than was sent: a minion
       cannot flood mctl through the master. */
    job_t *job = jobs_find(self->jobs, a.jid);
    if (job && job->copy && zhashx_lookup(job->progress, sender)) {
        intptr_t last = (intptr_t)zhashx_lookup(job->copy->acked, sender); /* seq + 1, 0: none */
        if ((last == 0 || a.seq + 1 > last) && a.seq <= job->copy->next_seq) {
            zhashx_update(job->copy->acked, sender, (void *)(intptr_t)(a.seq + 1));
            clients_send(self, job->copy->owner, MC_KIND_CPACK, zframe_data(body),
                         zframe_size(body));
        }
    }
    mc_cpack_done(&a);
}
