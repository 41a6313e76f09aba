/*  proto/request - see request.h. */
#include "request.h"

#include <assert.h>
#include <string.h>

#include "keys.h"

static const char *const names[MC_REQ_KINDS] = {
    [MC_REQ_PUBLISH] = "publish",         [MC_REQ_LIST_TARGETS] = "list_targets",
    [MC_REQ_JOBS_LIST] = "jobs_list",     [MC_REQ_JOBS_SHOW] = "jobs_show",
    [MC_REQ_JOBS_WAIT] = "jobs_wait",     [MC_REQ_KEY_LIST] = "key_list",
    [MC_REQ_KEY_FINGER] = "key_finger",   [MC_REQ_MASTER_KEY] = "master_key",
    [MC_REQ_KEY_PRESEED] = "key_preseed", [MC_REQ_KEY_ACCEPT] = "key_accept",
    [MC_REQ_KEY_REJECT] = "key_reject",   [MC_REQ_KEY_DELETE] = "key_delete",
    [MC_REQ_CP_START] = "cp_start",       [MC_REQ_CP_CHUNK] = "cp_chunk",
    [MC_REQ_MINIONS] = "minions",         [MC_REQ_EVENTS] = "events",
    [MC_REQ_EVENTS_READ] = "events_read", [MC_REQ_AS] = "as",
};

const char *mc_request_name(mc_req_kind_t kind)
{
    return (unsigned)kind < MC_REQ_KINDS ? names[kind] : "?";
}

/* ---- lists of strings ----------------------------------------------------- */

static void strs_reserve(mc_strs_t *l, size_t n)
{
    if (n <= l->cap)
        return;
    l->cap = n;
    l->items = mc_realloc(l->items, n * sizeof *l->items);
    l->lens = mc_realloc(l->lens, n * sizeof *l->lens);
}

void mc_strs_add(mc_strs_t *l, const char *s, size_t len)
{
    if (l->count == l->cap)
        strs_reserve(l, l->cap ? l->cap * 2 : 8);
    char *copy = mc_malloc(len + 1);
    if (len)
        memcpy(copy, s, len);
    copy[len] = '\0';
    l->items[l->count] = copy;
    l->lens[l->count++] = len;
}

void mc_strs_free(mc_strs_t *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    free(l->lens);
    memset(l, 0, sizeof *l);
}

/* A string item of a list field: within bounds, no NUL and, with ids, a
   minion id. what says where it sits ("item 3", "a key"). */
static int check_item(const msgpack_object *o, const char *key, const char *what, uint32_t i,
                      size_t max, bool ids, mc_err_t *err)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        mc_err_set(err, "field '%s' %s %u is not a string", key, what, i);
        return -1;
    }
    if (o->via.str.size > max || memchr(o->via.str.ptr, '\0', o->via.str.size)) {
        mc_err_set(err, "field '%s' %s %u is longer than %zu bytes or holds a NUL", key, what, i,
                   max);
        return -1;
    }
    if (ids && !mc_id_valid(o->via.str.ptr, o->via.str.size)) {
        mc_err_set(err, "field '%s' %s %u is not a valid minion id", key, what, i);
        return -1;
    }
    return 0;
}

int mc_proto_strs(const msgpack_object *map, const char *key, size_t max, size_t item_max, bool ids,
                  mc_strs_t *out, mc_err_t *err)
{
    memset(out, 0, sizeof *out);
    const msgpack_object *a;
    if (mc_mp_array(map, key, false, max, &a, err) != 0)
        return -1;
    strs_reserve(out, a->via.array.size);
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        const msgpack_object *o = &a->via.array.ptr[i];
        if (check_item(o, key, "item", i, item_max, ids, err) != 0) {
            mc_strs_free(out);
            return -1;
        }
        mc_strs_add(out, o->via.str.ptr, o->via.str.size);
    }
    return 0;
}

int mc_proto_id_map(const msgpack_object *map, const char *key, bool opt, size_t max,
                    size_t val_max, mc_strs_t *keys, mc_strs_t *vals, mc_err_t *err)
{
    memset(keys, 0, sizeof *keys);
    memset(vals, 0, sizeof *vals);
    const msgpack_object *m;
    if (mc_mp_map(map, key, opt, max, &m, err) != 0)
        return -1;
    if (!m)
        return 0;
    strs_reserve(keys, m->via.map.size);
    strs_reserve(vals, m->via.map.size);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key, *v = &m->via.map.ptr[i].val;
        if (check_item(k, key, "key", i, MC_ID_MAX, true, err) != 0 ||
            check_item(v, key, "value", i, val_max, false, err) != 0) {
            mc_strs_free(keys);
            mc_strs_free(vals);
            return -1;
        }
        mc_strs_add(keys, k->via.str.ptr, k->via.str.size);
        mc_strs_add(vals, v->via.str.ptr, v->via.str.size);
    }
    return 0;
}

void mc_proto_pk_strs(msgpack_packer *pk, const char *key, const char *const *items, size_t n)
{
    mc_pk_str(pk, key);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        mc_pk_str(pk, items[i]);
}

/* ---- packing -------------------------------------------------------------- */

static void start(msgpack_packer *pk, msgpack_sbuffer *sb, mc_req_kind_t kind, size_t fields)
{
    assert((unsigned)kind < MC_REQ_KINDS);
    msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
    mc_proto_header(pk, fields + 1);
    mc_pk_kv_str(pk, "cmd", names[kind]);
}

static void pack_target(msgpack_packer *pk, const mc_req_target_spec_t *t)
{
    mc_pk_kv_str(pk, "tgt", t->tgt);
    mc_pk_kv_str(pk, "tgt_type", t->tgt_type);
    mc_pk_str(pk, "delimiter");
    mc_pk_strn(pk, t->delimiter ? &t->delimiter : ":", 1);
}

static bool is_kwarg(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return false;
    for (const char *p = arg; p < eq; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > arg && *p >= '0' && *p <= '9')))
            return false;
    return true;
}

void mc_request_publish_pack(msgpack_sbuffer *sb, const mc_req_publish_spec_t *s)
{
    msgpack_packer pk;
    start(&pk, sb, MC_REQ_PUBLISH, 8);
    pack_target(&pk, &s->target);
    mc_pk_kv_str(&pk, "fun", s->fun);
    if (s->arg) {
        mc_pk_str(&pk, "arg");
        msgpack_pack_object(&pk, *s->arg);
        mc_pk_str(&pk, "kwarg");
        if (s->kwarg)
            msgpack_pack_object(&pk, *s->kwarg);
        else
            msgpack_pack_map(&pk, 0);
        mc_pk_kv_int(&pk, "timeout", s->timeout);
        mc_pk_kv_str(&pk, "user", s->user);
        return;
    }
    size_t nkw = 0;
    for (int i = 0; i < s->argc; i++)
        nkw += is_kwarg(s->argv[i]);
    mc_pk_str(&pk, "arg");
    msgpack_pack_array(&pk, (size_t)s->argc - nkw);
    for (int i = 0; i < s->argc; i++)
        if (!is_kwarg(s->argv[i]))
            mc_pk_str(&pk, s->argv[i]);
    mc_pk_str(&pk, "kwarg");
    msgpack_pack_map(&pk, nkw);
    for (int i = 0; i < s->argc; i++) {
        if (!is_kwarg(s->argv[i]))
            continue;
        const char *eq = strchr(s->argv[i], '=');
        mc_pk_strn(&pk, s->argv[i], (size_t)(eq - s->argv[i]));
        mc_pk_str(&pk, eq + 1);
    }
    mc_pk_kv_int(&pk, "timeout", s->timeout);
    mc_pk_kv_str(&pk, "user", s->user);
}

void mc_request_list_targets_pack(msgpack_sbuffer *sb, const mc_req_target_spec_t *target)
{
    msgpack_packer pk;
    start(&pk, sb, MC_REQ_LIST_TARGETS, 3);
    pack_target(&pk, target);
}

void mc_request_jobs_list_pack(msgpack_sbuffer *sb, const char *fun, const char *target,
                               const char *user, int64_t limit, int64_t since_us,
                               const char *before)
{
    msgpack_packer pk;
    start(&pk, sb, MC_REQ_JOBS_LIST, 6);
    mc_pk_kv_str(&pk, "before", before ? before : "");
    mc_pk_kv_str(&pk, "user", user ? user : "");
    mc_pk_kv_int(&pk, "limit", limit);
    mc_pk_kv_str(&pk, "fun", fun ? fun : "");
    mc_pk_kv_str(&pk, "target", target ? target : "");
    mc_pk_kv_int(&pk, "since", since_us);
}

void mc_request_job_pack(msgpack_sbuffer *sb, mc_req_kind_t kind, const char *jid)
{
    assert(kind == MC_REQ_JOBS_SHOW || kind == MC_REQ_JOBS_WAIT);
    msgpack_packer pk;
    start(&pk, sb, kind, 1);
    mc_pk_kv_str(&pk, "jid", jid);
}

void mc_request_keys_pack(msgpack_sbuffer *sb, mc_req_kind_t kind, char *const *ids, size_t count,
                          bool include_rejected, bool include_accepted)
{
    assert(kind == MC_REQ_KEY_ACCEPT || kind == MC_REQ_KEY_REJECT || kind == MC_REQ_KEY_DELETE);
    msgpack_packer pk;
    start(&pk, sb, kind, 3);
    mc_proto_pk_strs(&pk, "ids", (const char *const *)ids, count);
    mc_pk_kv_bool(&pk, "include_rejected", include_rejected);
    mc_pk_kv_bool(&pk, "include_accepted", include_accepted);
}

void mc_request_preseed_pack(msgpack_sbuffer *sb, const char *id, const char *pub_z85)
{
    msgpack_packer pk;
    start(&pk, sb, MC_REQ_KEY_PRESEED, 2);
    mc_pk_kv_str(&pk, "id", id);
    mc_pk_kv_str(&pk, "pub", pub_z85);
}

void mc_request_plain_pack(msgpack_sbuffer *sb, mc_req_kind_t kind)
{
    assert(kind == MC_REQ_KEY_LIST || kind == MC_REQ_KEY_FINGER || kind == MC_REQ_MASTER_KEY ||
           kind == MC_REQ_MINIONS || kind == MC_REQ_EVENTS);
    msgpack_packer pk;
    start(&pk, sb, kind, 0);
}

void mc_request_events_read_pack(msgpack_sbuffer *sb, int64_t read)
{
    msgpack_packer pk;
    start(&pk, sb, MC_REQ_EVENTS_READ, 1);
    mc_pk_kv_int(&pk, "read", read);
}

void mc_request_cp_start_pack(msgpack_sbuffer *sb, const mc_req_target_spec_t *target,
                              const mc_cp_manifest_t *copy, int64_t timeout, const char *user)
{
    msgpack_packer pk;
    start(&pk, sb, MC_REQ_CP_START, 6);
    pack_target(&pk, target);
    mc_pk_str(&pk, "copy");
    mc_cp_manifest_pack(&pk, copy);
    mc_pk_kv_int(&pk, "timeout", timeout);
    mc_pk_kv_str(&pk, "user", user);
}

void mc_request_cp_chunk_pack(msgpack_sbuffer *sb, const mc_chunk_spec_t *c)
{
    mc_sbuffer_reserve(sb, mc_chunk_spec_bytes(c) + 96 + 24 * c->nparts);
    msgpack_packer pk;
    start(&pk, sb, MC_REQ_CP_CHUNK, 3);
    mc_chunk_fields_pack(&pk, c);
}

void mc_request_as_pack(msgpack_sbuffer *sb, const char *user, const msgpack_sbuffer *inner)
{
    msgpack_packer pk;
    start(&pk, sb, MC_REQ_AS, 2);
    mc_pk_kv_str(&pk, "user", user);
    mc_pk_str(&pk, "req");
    mc_pk_bin(&pk, inner->data, inner->size);
}

/* ---- decoding ------------------------------------------------------------- */

/* An optional field that, when there, must be a boolean. */
static int opt_bool(const msgpack_object *m, const char *key, bool *out, mc_err_t *err)
{
    *out = false;
    return mc_mp_get(m, key) ? mc_mp_bool(m, key, out, err) : 0;
}

/* An optional integer field: def when absent. */
static int opt_int(const msgpack_object *m, const char *key, int64_t min, int64_t max, int64_t def,
                   int64_t *out, mc_err_t *err)
{
    *out = def;
    return mc_mp_get(m, key) ? mc_mp_int(m, key, min, max, out, err) : 0;
}

static int decode_target(const msgpack_object *m, mc_req_target_t *t, mc_err_t *err)
{
    char delim[2];
    if (mc_mp_strdup(m, "tgt", MC_TGT_MAX, &t->tgt, err) ||
        mc_mp_str(m, "tgt_type", t->tgt_type, sizeof t->tgt_type, err) ||
        mc_mp_str_opt(m, "delimiter", delim, sizeof delim, err))
        return -1;
    if (mc_mp_get(m, "delimiter") && !delim[0]) {
        mc_err_set(err, "field 'delimiter' is empty");
        return -1;
    }
    t->delimiter = delim[0] ? delim[0] : ':';
    return 0;
}

static int decode_publish(const msgpack_object *m, mc_req_publish_t *p, mc_err_t *err)
{
    if (decode_target(m, &p->target, err) || mc_mp_str(m, "fun", p->fun, sizeof p->fun, err) ||
        mc_mp_array(m, "arg", false, MC_ARGS_MAX, &p->arg, err) ||
        mc_mp_map(m, "kwarg", false, MC_ARGS_MAX, &p->kwarg, err) ||
        mc_mp_int(m, "timeout", 1, MC_JOB_TIMEOUT_MAX, &p->timeout, err) ||
        mc_mp_str(m, "user", p->user, sizeof p->user, err))
        return -1;
    for (uint32_t i = 0; i < p->kwarg->via.map.size; i++) {
        if (p->kwarg->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
            mc_err_set(err, "field 'kwarg' has a key that is not a string");
            return -1;
        }
    }
    return 0;
}

static int decode_jobs_list(const msgpack_object *m, mc_req_jobs_list_t *q, mc_err_t *err)
{
    if (mc_mp_str_opt(m, "fun", q->fun, sizeof q->fun, err) ||
        mc_mp_str_opt(m, "target", q->target, sizeof q->target, err) ||
        opt_int(m, "limit", 1, MC_JOBS_LIMIT_MAX, MC_JOBS_LIMIT_DEFAULT, &q->limit, err) ||
        opt_int(m, "since", 0, INT64_MAX, 0, &q->since_us, err) ||
        mc_mp_str_opt(m, "user", q->user, sizeof q->user, err) ||
        mc_mp_str_opt(m, "before", q->before, sizeof q->before, err))
        return -1;
    if (q->before[0] && !mc_jid_valid(q->before, strlen(q->before))) {
        mc_err_set(err, "field 'before' is not a job id");
        return -1;
    }
    return 0;
}

static int decode_keys(const msgpack_object *m, mc_req_keys_t *k, mc_err_t *err)
{
    return mc_proto_strs(m, "ids", MC_KEY_GLOBS_MAX, MC_GLOB_MAX, false, &k->ids, err) ||
                   opt_bool(m, "include_rejected", &k->include_rejected, err) ||
                   opt_bool(m, "include_accepted", &k->include_accepted, err)
               ? -1
               : 0;
}

static int decode_preseed(const msgpack_object *m, mc_req_preseed_t *p, mc_err_t *err)
{
    char z85[MC_Z85_KEY_LEN + 1];
    if (mc_proto_id(m, "id", p->id, err) || mc_mp_str(m, "pub", z85, sizeof z85, err))
        return -1;
    if (mc_z85_key_decode(z85, p->pub) != 0) {
        mc_err_set(err, "field 'pub' is not a Z85 public key");
        return -1;
    }
    return 0;
}

static int decode_cp_start(const msgpack_object *m, mc_req_cp_start_t *c, mc_err_t *err)
{
    if (decode_target(m, &c->target, err))
        return -1;
    if (mc_cp_manifest_decode(m, "copy", &c->copy, err) == 0) {
        if (mc_mp_int(m, "timeout", 1, MC_CP_TIMEOUT_MAX, &c->timeout, err) == 0 &&
            mc_mp_str(m, "user", c->user, sizeof c->user, err) == 0)
            return 0;
        mc_cp_manifest_free(&c->copy);
    }
    free(c->target.tgt);
    c->target.tgt = NULL;
    return -1;
}

static int decode_as(const msgpack_object *m, mc_req_as_t *as, mc_err_t *err)
{
    if (mc_mp_str(m, "user", as->user, sizeof as->user, err) != 0 ||
        mc_mp_bin(m, "req", MC_MAX_JOB_MSG, &as->req, &as->req_len, err) != 0)
        return -1;
    if (!as->user[0]) {
        mc_err_set(err, "field 'user' is empty");
        return -1;
    }
    return 0;
}

int mc_request_decode(mc_request_t *req, const void *buf, size_t len, mc_err_t *err)
{
    memset(req, 0, sizeof *req);
    char cmd[32];
    if (mc_proto_open(&req->doc, buf, len, err) != 0) {
        mc_err_prefix(err, "malformed request");
        return -1;
    }
    const msgpack_object *m = &req->doc.root;
    if (mc_mp_str(m, "cmd", cmd, sizeof cmd, err) != 0) {
        mc_err_prefix(err, "malformed request");
        goto fail;
    }
    unsigned k = 0;
    while (k < MC_REQ_KINDS && strcmp(names[k], cmd) != 0)
        k++;
    if (k == MC_REQ_KINDS) {
        mc_err_set(err, "unknown request '%s'", cmd);
        goto fail;
    }
    req->kind = (mc_req_kind_t)k;
    int rc = 0;
    switch (req->kind) {
    case MC_REQ_PUBLISH:
        rc = decode_publish(m, &req->publish, err);
        break;
    case MC_REQ_LIST_TARGETS:
        rc = decode_target(m, &req->target, err);
        break;
    case MC_REQ_JOBS_LIST:
        rc = decode_jobs_list(m, &req->jobs_list, err);
        break;
    case MC_REQ_JOBS_SHOW:
    case MC_REQ_JOBS_WAIT:
        rc = mc_proto_jid(m, "jid", req->job.jid, err);
        break;
    case MC_REQ_KEY_ACCEPT:
    case MC_REQ_KEY_REJECT:
    case MC_REQ_KEY_DELETE:
        rc = decode_keys(m, &req->keys, err);
        break;
    case MC_REQ_KEY_PRESEED:
        rc = decode_preseed(m, &req->preseed, err);
        break;
    case MC_REQ_CP_START:
        rc = decode_cp_start(m, &req->cp_start, err);
        break;
    case MC_REQ_CP_CHUNK:
        rc = mc_chunk_fields_decode(m, &req->cp_chunk, err);
        break;
    case MC_REQ_AS:
        rc = decode_as(m, &req->as, err);
        break;
    case MC_REQ_EVENTS_READ:
        rc = mc_mp_int(m, "read", 0, INT64_MAX, &req->events_read, err);
        break;
    case MC_REQ_KEY_LIST:
    case MC_REQ_KEY_FINGER:
    case MC_REQ_MASTER_KEY:
    case MC_REQ_MINIONS:
    case MC_REQ_EVENTS:
    case MC_REQ_KINDS:
        break;
    }
    if (rc != 0) {
        mc_err_prefix(err, "bad %s request", names[k]);
        goto fail;
    }
    return 0;
fail:
    mc_request_done(req);
    return -1;
}

void mc_request_done(mc_request_t *req)
{
    switch (req->kind) {
    case MC_REQ_PUBLISH:
        free(req->publish.target.tgt);
        break;
    case MC_REQ_LIST_TARGETS:
        free(req->target.tgt);
        break;
    case MC_REQ_CP_START:
        free(req->cp_start.target.tgt);
        mc_cp_manifest_free(&req->cp_start.copy);
        break;
    case MC_REQ_CP_CHUNK:
        mc_chunk_fields_done(&req->cp_chunk);
        break;
    case MC_REQ_KEY_ACCEPT:
    case MC_REQ_KEY_REJECT:
    case MC_REQ_KEY_DELETE:
        mc_strs_free(&req->keys.ids);
        break;
    default:
        break;
    }
    mc_proto_doc_done(&req->doc);
    memset(req, 0, sizeof *req);
}
