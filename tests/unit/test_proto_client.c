/*  Unit tests for the client API of shared/proto/ (request.h, reply.h,
    reply_jobs.h, reply_keys.h): every request and every reply packed and
    decoded again, and each decoder against what a broken or hostile peer
    could send instead (a field of the wrong type, too long, missing, a
    list item that is not a string, another protocol version). A bad
    field's error names it.

    Malformed messages are made from good ones: mutate() packs a message
    again with the value at a path ("jobs/0/fun") replaced, or dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"
#include "mp.h"
#include "proto/proto.h"

#define JID "20261122153012123456"

/* ---- making malformed messages ------------------------------------------ */

typedef void put_fn(msgpack_packer *pk);

static void put_int(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 7);
}

static void put_neg(msgpack_packer *pk)
{
    msgpack_pack_int(pk, -1);
}

static void put_str(msgpack_packer *pk)
{
    mc_pk_str(pk, "x");
}

static void put_nil(msgpack_packer *pk)
{
    msgpack_pack_nil(pk);
}

static void put_false(msgpack_packer *pk)
{
    msgpack_pack_false(pk);
}

static void put_version_2(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 2);
}

static void put_port_70000(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 70000);
}

/* Longer than every bounded string but a target. */
static void put_long_str(msgpack_packer *pk)
{
    char s[301];
    memset(s, 'a', 300);
    s[300] = '\0';
    mc_pk_str(pk, s);
}

static void put_huge_str(msgpack_packer *pk)
{
    char *s = mc_malloc(MC_TGT_MAX + 2);
    memset(s, 'a', MC_TGT_MAX + 1);
    s[MC_TGT_MAX + 1] = '\0';
    mc_pk_str(pk, s);
    free(s);
}

static void put_str_with_nul(msgpack_packer *pk)
{
    mc_pk_strn(pk, "we\0b", 4);
}

static void put_mixed_list(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    mc_pk_str(pk, "web1");
    msgpack_pack_int(pk, 3);
}

static void put_bad_id_list(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    mc_pk_str(pk, "web1");
    mc_pk_str(pk, "../etc");
}

static void put_int_key_map(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_int(pk, 1);
    mc_pk_str(pk, "x");
}

static void put_bin(msgpack_packer *pk)
{
    mc_pk_bin(pk, "web1", 4);
}

static void repack(msgpack_packer *pk, const msgpack_object *o, const char *path, put_fn *put)
{
    if (!*path) {
        put(pk);
        return;
    }
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : strlen(path);
    const char *rest = slash ? slash + 1 : "";
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        uint32_t at = (uint32_t)strtoul(path, NULL, 10);
        msgpack_pack_array(pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (i == at)
                repack(pk, &o->via.array.ptr[i], rest, put);
            else
                msgpack_pack_object(pk, o->via.array.ptr[i]);
        return;
    }
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    bool drop = !put && !*rest;
    uint32_t size = o->via.map.size;
    const msgpack_object_kv *hit = NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, path, n) == 0)
            hit = &o->via.map.ptr[i];
    }
    assert_non_null(hit);
    msgpack_pack_map(pk, size - (drop ? 1 : 0));
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv != hit) {
            msgpack_pack_object(pk, kv->key);
            msgpack_pack_object(pk, kv->val);
        } else if (!drop) {
            msgpack_pack_object(pk, kv->key);
            repack(pk, &kv->val, rest, put);
        }
    }
}

/* sb again, with the value at path replaced by put's, or dropped when put
   is NULL. */
static void mutate(msgpack_sbuffer *sb, const char *path, put_fn *put)
{
    mc_mp_doc_t doc;
    mc_err_t err;
    assert_int_equal(mc_mp_parse(&doc, sb->data, sb->size, &err), 0);
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    repack(&pk, &doc.root, path, put);
    mc_mp_doc_done(&doc);
}

/* ---- requests ------------------------------------------------------------- */

static void pack_publish(msgpack_sbuffer *sb)
{
    static char *argv[] = {"uptime", "timeout=5", "x=a=b", "=y"};
    mc_req_publish_spec_t spec = {.target = {"G@dc|name:par*", "grain", '|'},
                                  .fun = "cmd.run",
                                  .argc = 4,
                                  .argv = argv,
                                  .timeout = 30,
                                  .user = "alice"};
    msgpack_sbuffer_init(sb);
    mc_request_publish_pack(sb, &spec);
}

/* Decode sb as a request, expecting a failure whose message holds want. */
static void request_fails(msgpack_sbuffer *sb, const char *want)
{
    mc_request_t req;
    mc_err_t err;
    err.msg[0] = '\0';
    assert_int_equal(mc_request_decode(&req, sb->data, sb->size, &err), -1);
    if (!strstr(err.msg, want))
        fail_msg("error '%s' does not say '%s'", err.msg, want);
}

static void publish_roundtrip(void **state)
{
    msgpack_sbuffer sb;
    pack_publish(&sb);
    mc_request_t req;
    mc_err_t err;
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.kind, MC_REQ_PUBLISH);
    assert_string_equal(req.publish.target.tgt, "G@dc|name:par*");
    assert_string_equal(req.publish.target.tgt_type, "grain");
    assert_int_equal(req.publish.target.delimiter, '|');
    assert_string_equal(req.publish.fun, "cmd.run");
    assert_int_equal(req.publish.timeout, 30);
    assert_string_equal(req.publish.user, "alice");
    /* KEY=VALUE with an identifier for KEY is a keyword argument. */
    assert_int_equal(req.publish.arg->via.array.size, 2);
    assert_true(mc_mp_is_str(&req.publish.arg->via.array.ptr[0], "uptime"));
    assert_true(mc_mp_is_str(&req.publish.arg->via.array.ptr[1], "=y"));
    assert_int_equal(req.publish.kwarg->via.map.size, 2);
    assert_true(mc_mp_is_str(mc_mp_get(req.publish.kwarg, "timeout"), "5"));
    assert_true(mc_mp_is_str(mc_mp_get(req.publish.kwarg, "x"), "a=b"));
    mc_request_done(&req);
    msgpack_sbuffer_destroy(&sb);
}

static void publish_malformed(void **state)
{
    static const struct {
        const char *path;
        put_fn *put;
        const char *want;
    } cases[] = {
        {"fun", put_int, "bad publish request: field 'fun' is not a string"},
        {"fun", put_long_str, "field 'fun' is longer"},
        {"fun", put_str_with_nul, "field 'fun' is longer than 127 bytes or holds a NUL"},
        {"fun", NULL, "missing field 'fun'"},
        {"tgt", put_huge_str, "field 'tgt' is longer"},
        {"tgt", put_nil, "field 'tgt' is not a string"},
        {"tgt_type", put_long_str, "field 'tgt_type'"},
        {"delimiter", put_long_str, "field 'delimiter'"},
        {"arg", put_str, "field 'arg' is not an array"},
        {"kwarg", put_int_key_map, "field 'kwarg' has a key that is not a string"},
        {"timeout", put_neg, "field 'timeout' is out of range"},
        {"timeout", NULL, "missing field 'timeout'"},
        {"user", put_long_str, "field 'user'"},
        {"v", put_version_2, "protocol version 2"},
        {"v", NULL, "missing field 'v'"},
        {"cmd", put_int, "malformed request: field 'cmd' is not a string"},
        {"cmd", put_str, "unknown request 'x'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_sbuffer sb;
        pack_publish(&sb);
        mutate(&sb, cases[i].path, cases[i].put);
        request_fails(&sb, cases[i].want);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* Every prefix of every request is refused, none crashes. */
static void requests_truncated(void **state)
{
    msgpack_sbuffer sb;
    pack_publish(&sb);
    mc_request_t req;
    mc_err_t err;
    for (size_t n = 0; n < sb.size; n++)
        assert_int_equal(mc_request_decode(&req, sb.data, n, &err), -1);
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    request_fails(&sb, "trailing");
    msgpack_sbuffer_destroy(&sb);
}

static void list_targets_roundtrip(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_req_target_spec_t t = {"web* and not db*", "compound", 0};
    mc_request_list_targets_pack(&sb, &t);
    mc_request_t req;
    mc_err_t err;
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.kind, MC_REQ_LIST_TARGETS);
    assert_string_equal(req.target.tgt, "web* and not db*");
    assert_string_equal(req.target.tgt_type, "compound");
    assert_int_equal(req.target.delimiter, ':');
    mc_request_done(&req);
    /* A delimiter is one character. */
    mutate(&sb, "delimiter", put_str);
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.target.delimiter, 'x');
    mc_request_done(&req);
    mutate(&sb, "delimiter", NULL);
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.target.delimiter, ':');
    mc_request_done(&req);
    mutate(&sb, "tgt", NULL);
    request_fails(&sb, "bad list_targets request: missing field 'tgt'");
    msgpack_sbuffer_destroy(&sb);
}

static void jobs_requests(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_jobs_list_pack(&sb, "cmd.*", "web*", "alice", 20, 1764000000000000,
                              "20261202000000000001");
    mc_request_t req;
    mc_err_t err;
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.kind, MC_REQ_JOBS_LIST);
    assert_string_equal(req.jobs_list.fun, "cmd.*");
    assert_string_equal(req.jobs_list.target, "web*");
    assert_int_equal(req.jobs_list.limit, 20);
    assert_int_equal(req.jobs_list.since_us, 1764000000000000);
    assert_string_equal(req.jobs_list.user, "alice");
    assert_string_equal(req.jobs_list.before, "20261202000000000001");
    mc_request_done(&req);
    mutate(&sb, "before", put_str);
    request_fails(&sb, "field 'before' is not a job id");
    msgpack_sbuffer_clear(&sb);
    mc_request_jobs_list_pack(&sb, "cmd.*", "web*", "alice", 20, 1764000000000000, NULL);
    /* Every field of jobs_list may be left out. */
    const char *fields[] = {"fun", "target", "limit", "since", "user", "before"};
    for (size_t i = 0; i < 6; i++)
        mutate(&sb, fields[i], NULL);
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_string_equal(req.jobs_list.fun, "");
    assert_string_equal(req.jobs_list.target, "");
    assert_int_equal(req.jobs_list.limit, MC_JOBS_LIMIT_DEFAULT);
    assert_int_equal(req.jobs_list.since_us, 0);
    mc_request_done(&req);
    msgpack_sbuffer_clear(&sb);
    mc_request_jobs_list_pack(&sb, NULL, NULL, NULL, 5, 0, NULL);
    mutate(&sb, "limit", put_neg);
    request_fails(&sb, "bad jobs_list request: field 'limit' is out of range");
    msgpack_sbuffer_clear(&sb);
    mc_request_jobs_list_pack(&sb, NULL, NULL, NULL, 5, 0, NULL);
    mutate(&sb, "target", put_long_str);
    request_fails(&sb, "field 'target' is longer than 255 bytes");

    mc_req_kind_t kinds[] = {MC_REQ_JOBS_SHOW, MC_REQ_JOBS_WAIT};
    for (size_t i = 0; i < 2; i++) {
        msgpack_sbuffer_clear(&sb);
        mc_request_job_pack(&sb, kinds[i], JID);
        assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
        assert_int_equal(req.kind, kinds[i]);
        assert_string_equal(req.job.jid, JID);
        mc_request_done(&req);
        mutate(&sb, "jid", put_str);
        request_fails(&sb, "field 'jid' is not a job id");
        mutate(&sb, "jid", NULL);
        request_fails(&sb, "missing field 'jid'");
    }
    msgpack_sbuffer_destroy(&sb);
}

static void key_requests(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char *ids[] = {"web*", "db[12]"};
    mc_req_kind_t kinds[] = {MC_REQ_KEY_ACCEPT, MC_REQ_KEY_REJECT, MC_REQ_KEY_DELETE};
    mc_request_t req;
    mc_err_t err;
    for (size_t k = 0; k < 3; k++) {
        msgpack_sbuffer_clear(&sb);
        mc_request_keys_pack(&sb, kinds[k], ids, 2, k == 0, k == 1);
        assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
        assert_int_equal(req.kind, kinds[k]);
        assert_int_equal(req.keys.ids.count, 2);
        assert_string_equal(req.keys.ids.items[0], "web*");
        assert_string_equal(req.keys.ids.items[1], "db[12]");
        assert_int_equal(req.keys.include_rejected, k == 0);
        assert_int_equal(req.keys.include_accepted, k == 1);
        mc_request_done(&req);
    }
    /* The booleans may be left out: false. */
    mutate(&sb, "include_rejected", NULL);
    mutate(&sb, "include_accepted", NULL);
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_false(req.keys.include_rejected || req.keys.include_accepted);
    mc_request_done(&req);
    msgpack_sbuffer_clear(&sb);
    mc_request_keys_pack(&sb, MC_REQ_KEY_ACCEPT, ids, 2, false, false);
    mutate(&sb, "ids/1", put_int);
    request_fails(&sb, "bad key_accept request: field 'ids' item 1 is not a string");
    mutate(&sb, "ids/1", put_long_str);
    request_fails(&sb, "field 'ids' item 1 is longer than 255 bytes");
    mutate(&sb, "ids", put_str);
    request_fails(&sb, "field 'ids' is not an array");
    mutate(&sb, "ids", NULL);
    request_fails(&sb, "missing field 'ids'");
    msgpack_sbuffer_clear(&sb);
    mc_request_keys_pack(&sb, MC_REQ_KEY_REJECT, ids, 2, false, false);
    mutate(&sb, "include_accepted", put_str);
    request_fails(&sb, "bad key_reject request: field 'include_accepted' is not a boolean");

    /* More globs than a request may hold. */
    char **many = mc_calloc(MC_KEY_GLOBS_MAX + 1, sizeof *many);
    for (size_t i = 0; i <= MC_KEY_GLOBS_MAX; i++)
        many[i] = "web*";
    msgpack_sbuffer_clear(&sb);
    mc_request_keys_pack(&sb, MC_REQ_KEY_DELETE, many, MC_KEY_GLOBS_MAX + 1, false, false);
    request_fails(&sb, "field 'ids' has more than");
    free(many);
    msgpack_sbuffer_destroy(&sb);
}

static void copy_requests(void **state)
{
    (void)state;
    /* Every kind has its name, and it decodes back to the kind. */
    for (int k = 0; k < MC_REQ_KINDS; k++)
        assert_string_not_equal(mc_request_name((mc_req_kind_t)k), "?");
    mc_cp_file_t files[2] = {{.name = "site", .dir = true, .mode = 0755},
                             {.name = "site/index.html", .size = 12, .mode = 0644}};
    memset(files[1].hash, 9, sizeof files[1].hash);
    mc_cp_manifest_t m = {.dest = "/srv/www",
                          .into = true,
                          .mode = 0640,
                          .owner = "www-data",
                          .count = 2,
                          .files = files};
    mc_req_target_spec_t t = {"web*", "glob", 0};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_cp_start_pack(&sb, &t, &m, 60, "alice");
    mc_request_t req;
    mc_err_t err;
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.kind, MC_REQ_CP_START);
    assert_string_equal(req.cp_start.target.tgt, "web*");
    assert_string_equal(req.cp_start.copy.dest, "/srv/www");
    assert_int_equal(req.cp_start.copy.count, 2);
    assert_true(req.cp_start.copy.files[0].dir);
    assert_int_equal(req.cp_start.copy.bytes, 12);
    assert_int_equal(req.cp_start.copy.mode, 0640);
    assert_string_equal(req.cp_start.copy.owner, "www-data");
    assert_int_equal(req.cp_start.timeout, 60);
    mc_request_done(&req);
    mutate(&sb, "timeout", put_neg);
    request_fails(&sb, "bad cp_start request: field 'timeout'");
    msgpack_sbuffer_clear(&sb);
    files[1].name = "site/../../etc/passwd";
    mc_request_cp_start_pack(&sb, &t, &m, 60, "alice");
    request_fails(&sb, "bad cp_start request: copy file 1: the name is not a relative path");

    msgpack_sbuffer_clear(&sb);
    mc_chunk_part_t part = {.file = 1, .data = (const unsigned char *)"<html>", .len = 6};
    mc_chunk_spec_t c = {.jid = "20261122153012123456", .seq = 4, .nparts = 1, .parts = &part};
    mc_request_cp_chunk_pack(&sb, &c);
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.kind, MC_REQ_CP_CHUNK);
    assert_int_equal(req.cp_chunk.seq, 4);
    assert_int_equal(req.cp_chunk.nparts, 1);
    assert_int_equal(req.cp_chunk.parts[0].len, 6);
    assert_memory_equal(req.cp_chunk.parts[0].data, "<html>", 6);
    mc_request_done(&req);
    mutate(&sb, "parts", put_str);
    request_fails(&sb, "bad cp_chunk request: field 'parts' is not an array");
    msgpack_sbuffer_destroy(&sb);
}

static void preseed_and_plain_requests(void **state)
{
    unsigned char pub[MC_KEY_LEN], sec[MC_KEY_LEN];
    crypto_box_keypair(pub, sec);
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(pub, z85);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_preseed_pack(&sb, "web3", z85);
    mc_request_t req;
    mc_err_t err;
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.kind, MC_REQ_KEY_PRESEED);
    assert_string_equal(req.preseed.id, "web3");
    assert_memory_equal(req.preseed.pub, pub, MC_KEY_LEN);
    mc_request_done(&req);
    mutate(&sb, "pub", put_str);
    request_fails(&sb, "bad key_preseed request: field 'pub' is not a Z85 public key");
    msgpack_sbuffer_clear(&sb);
    mc_request_preseed_pack(&sb, "../web3", z85);
    request_fails(&sb, "field 'id' is not a valid minion id");

    mc_req_kind_t plain[] = {MC_REQ_KEY_LIST, MC_REQ_KEY_FINGER, MC_REQ_MASTER_KEY};
    for (size_t i = 0; i < 3; i++) {
        msgpack_sbuffer_clear(&sb);
        mc_request_plain_pack(&sb, plain[i]);
        assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
        assert_int_equal(req.kind, plain[i]);
        mc_request_done(&req);
    }
    for (int k = 0; k < MC_REQ_KINDS; k++)
        assert_string_not_equal(mc_request_name((mc_req_kind_t)k), "?");
    assert_string_equal(mc_request_name(MC_REQ_KEY_PRESEED), "key_preseed");
    msgpack_sbuffer_destroy(&sb);
}

/* ---- replies -------------------------------------------------------------- */

typedef int decode_fn(const void *buf, size_t len, mc_err_t *err);

/* Decode and release; returns the decoder's result with err filled. */
static int decode_publish(const void *buf, size_t len, mc_err_t *err)
{
    mc_reply_targets_t r;
    int rc = mc_reply_publish_decode(&r, buf, len, err);
    if (rc == 0)
        mc_reply_targets_done(&r);
    return rc;
}

static int decode_jobs_list(const void *buf, size_t len, mc_err_t *err)
{
    mc_reply_jobs_list_t l;
    int rc = mc_reply_jobs_list_decode(&l, buf, len, err);
    if (rc == 0)
        mc_reply_jobs_list_done(&l);
    return rc;
}

static int decode_jobs_wait(const void *buf, size_t len, mc_err_t *err)
{
    mc_reply_job_t j;
    int rc = mc_reply_jobs_wait_decode(&j, buf, len, err);
    if (rc == 0)
        mc_reply_job_done(&j);
    return rc;
}

static int decode_key_list(const void *buf, size_t len, mc_err_t *err)
{
    mc_reply_key_list_t l;
    int rc = mc_reply_key_list_decode(&l, buf, len, err);
    if (rc == 0)
        mc_reply_key_list_done(&l);
    return rc;
}

static int decode_key_finger(const void *buf, size_t len, mc_err_t *err)
{
    mc_reply_key_finger_t f;
    int rc = mc_reply_key_finger_decode(&f, buf, len, err);
    if (rc == 0)
        mc_reply_key_finger_done(&f);
    return rc;
}

static int decode_master_key(const void *buf, size_t len, mc_err_t *err)
{
    mc_reply_master_key_t k;
    return mc_reply_master_key_decode(&k, buf, len, err);
}

static int decode_changed(const void *buf, size_t len, mc_err_t *err)
{
    mc_strs_t changed;
    int rc = mc_reply_keys_changed_decode(&changed, buf, len, err);
    if (rc == 0)
        mc_strs_free(&changed);
    return rc;
}

static int decode_preseed(const void *buf, size_t len, mc_err_t *err)
{
    bool changed;
    return mc_reply_preseed_decode(&changed, buf, len, err);
}

static void reply_fails(decode_fn *decode, msgpack_sbuffer *sb, const char *want)
{
    mc_err_t err;
    err.msg[0] = '\0';
    assert_int_equal(decode(sb->data, sb->size, &err), -1);
    if (!strstr(err.msg, want))
        fail_msg("error '%s' does not say '%s'", err.msg, want);
}

static const char *const ids[] = {"web1", "web2", "db1"};

static void pack_publish_reply(msgpack_sbuffer *sb)
{
    const char *why[] = {NULL, "not connected", NULL};
    mc_reply_publish_spec_t spec = {.jid = JID, .minions = ids, .count = 3, .unsent_why = why};
    msgpack_sbuffer_init(sb);
    mc_reply_publish_pack(sb, &spec);
}

static void refusals(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_error_pack(&sb, false, "no job " JID " in the job cache");
    mc_reply_status_t st;
    mc_err_t err;
    assert_int_equal(mc_reply_status_decode(&st, sb.data, sb.size, &err), 0);
    assert_false(st.ok);
    assert_string_equal(st.error, "no job " JID " in the job cache");
    /* Every typed decoder gives the master's reason as a refusal. */
    decode_fn *decoders[] = {decode_publish,  decode_jobs_list,  decode_jobs_wait,
                             decode_key_list, decode_key_finger, decode_master_key,
                             decode_changed,  decode_preseed};
    for (size_t i = 0; i < sizeof decoders / sizeof decoders[0]; i++) {
        err.code = MC_E_FAILED;
        assert_int_equal(decoders[i](sb.data, sb.size, &err), -1);
        assert_int_equal(err.code, MC_E_REFUSED);
        assert_string_equal(err.msg, "no job " JID " in the job cache");
    }
    /* Not permitted, rather than not possible. */
    msgpack_sbuffer_clear(&sb);
    mc_reply_error_pack(&sb, true, "user alice may not run cmd.run on db1 (publisher_acl)");
    assert_int_equal(mc_reply_status_decode(&st, sb.data, sb.size, &err), 0);
    assert_true(st.denied);
    assert_int_equal(decode_publish(sb.data, sb.size, &err), -1);
    assert_int_equal(err.code, MC_E_DENIED);
    assert_string_equal(err.msg, "user alice may not run cmd.run on db1 (publisher_acl)");
    mutate(&sb, "denied", put_str);
    assert_int_equal(decode_publish(sb.data, sb.size, &err), -1);
    assert_int_equal(err.code, MC_E_FAILED);
    assert_non_null(strstr(err.msg, "field 'denied' is not a boolean"));
    mutate(&sb, "error", NULL);
    reply_fails(decode_publish, &sb, "missing field 'error'");
    mutate(&sb, "ok", put_str);
    reply_fails(decode_publish, &sb, "field 'ok' is not a boolean");
    assert_int_equal(mc_reply_status_decode(&st, sb.data, sb.size, &err), -1);

    /* A message too long for a reply is cut, not refused. */
    char long_msg[2000];
    memset(long_msg, 'e', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = '\0';
    msgpack_sbuffer_clear(&sb);
    mc_reply_error_pack(&sb, false, long_msg);
    assert_int_equal(mc_reply_status_decode(&st, sb.data, sb.size, &err), 0);
    assert_int_equal(strlen(st.error), MC_REPLY_TEXT_MAX);

    /* An answer is ok, with no error. */
    msgpack_sbuffer_clear(&sb);
    mc_reply_preseed_pack(&sb, false);
    assert_int_equal(mc_reply_status_decode(&st, sb.data, sb.size, &err), 0);
    assert_true(st.ok);
    assert_string_equal(st.error, "");
    mutate(&sb, "v", put_version_2);
    reply_fails(decode_preseed, &sb, "protocol version 2");
    msgpack_sbuffer_destroy(&sb);
}

static void publish_replies(void **state)
{
    msgpack_sbuffer sb;
    pack_publish_reply(&sb);
    mc_reply_targets_t r;
    mc_err_t err;
    assert_int_equal(mc_reply_publish_decode(&r, sb.data, sb.size, &err), 0);
    assert_string_equal(r.jid, JID);
    assert_int_equal(r.minions.count, 3);
    assert_string_equal(r.minions.items[2], "db1");
    assert_int_equal(r.unsent.count, 1);
    assert_string_equal(r.unsent.items[0], "web2");
    assert_string_equal(r.unsent_why.items[0], "not connected");
    mc_reply_targets_done(&r);
    for (size_t n = 0; n < sb.size; n++)
        assert_int_equal(decode_publish(sb.data, n, &err), -1);

    mutate(&sb, "minions/1", put_int);
    reply_fails(decode_publish, &sb, "field 'minions' item 1 is not a string");
    msgpack_sbuffer_destroy(&sb);
    pack_publish_reply(&sb);
    mutate(&sb, "minions", put_bad_id_list);
    reply_fails(decode_publish, &sb, "field 'minions' item 1 is not a valid minion id");
    msgpack_sbuffer_destroy(&sb);
    pack_publish_reply(&sb);
    mutate(&sb, "unsent/web2", put_int);
    reply_fails(decode_publish, &sb, "field 'unsent' value 0 is not a string");
    mutate(&sb, "unsent", put_int_key_map);
    reply_fails(decode_publish, &sb, "field 'unsent' key 0 is not a string");
    mutate(&sb, "unsent", NULL); /* there only when some were not sent */
    assert_int_equal(decode_publish(sb.data, sb.size, &err), 0);
    mutate(&sb, "jid", put_str);
    reply_fails(decode_publish, &sb, "field 'jid' is not a job id");
    msgpack_sbuffer_destroy(&sb);

    /* Nothing matched: no jid, no minions. */
    msgpack_sbuffer_init(&sb);
    mc_reply_publish_spec_t none = {.jid = ""};
    mc_reply_publish_pack(&sb, &none);
    assert_int_equal(mc_reply_publish_decode(&r, sb.data, sb.size, &err), 0);
    assert_string_equal(r.jid, "");
    assert_int_equal(r.minions.count, 0);
    assert_int_equal(r.unsent.count, 0);
    mc_reply_targets_done(&r);
    msgpack_sbuffer_clear(&sb);

    mc_reply_list_targets_pack(&sb, ids, 3);
    assert_int_equal(mc_reply_list_targets_decode(&r, sb.data, sb.size, &err), 0);
    assert_string_equal(r.jid, "");
    assert_int_equal(r.minions.count, 3);
    assert_string_equal(r.minions.items[0], "web1");
    mc_reply_targets_done(&r);
    /* A publish answer needs its jid. */
    reply_fails(decode_publish, &sb, "missing field 'jid'");
    mutate(&sb, "minions", NULL);
    assert_int_equal(mc_reply_list_targets_decode(&r, sb.data, sb.size, &err), -1);
    assert_non_null(strstr(err.msg, "missing field 'minions'"));
    msgpack_sbuffer_destroy(&sb);
}

static void pack_jobs_list(msgpack_sbuffer *sb)
{
    mc_reply_jobs_list_t l = {0};
    for (int i = 0; i < 2; i++) {
        mc_job_summary_t *j = mc_reply_jobs_list_add(&l);
        snprintf(j->jid, sizeof j->jid, "2026112215301212345%d", i);
        snprintf(j->fun, sizeof j->fun, "test.ping");
        j->tgt = mc_strdup(i ? "G@os:Debian" : "*");
        snprintf(j->tgt_type, sizeof j->tgt_type, i ? "grain" : "glob");
        snprintf(j->user, sizeof j->user, "root");
        j->ts_us = 1764000000000000 + i;
        j->minions = 3;
        j->returned = 2;
        j->failed = i;
    }
    msgpack_sbuffer_init(sb);
    mc_reply_jobs_list_pack(sb, &l);
    mc_reply_jobs_list_done(&l);
}

static void jobs_list_replies(void **state)
{
    msgpack_sbuffer sb;
    pack_jobs_list(&sb);
    mc_reply_jobs_list_t l;
    mc_err_t err;
    assert_int_equal(mc_reply_jobs_list_decode(&l, sb.data, sb.size, &err), 0);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.jobs[1].jid, "20261122153012123451");
    assert_string_equal(l.jobs[1].tgt, "G@os:Debian");
    assert_string_equal(l.jobs[1].tgt_type, "grain");
    assert_string_equal(l.jobs[0].user, "root");
    assert_int_equal(l.jobs[1].ts_us, 1764000000000001);
    assert_int_equal(l.jobs[1].minions, 3);
    assert_int_equal(l.jobs[1].returned, 2);
    assert_int_equal(l.jobs[1].failed, 1);
    assert_false(l.behind);
    /* behind comes only when true, and reads back. */
    l.behind = true;
    msgpack_sbuffer_clear(&sb);
    mc_reply_jobs_list_pack(&sb, &l);
    mc_reply_jobs_list_done(&l);
    assert_int_equal(mc_reply_jobs_list_decode(&l, sb.data, sb.size, &err), 0);
    assert_true(l.behind);
    assert_int_equal(l.count, 2);
    mc_reply_jobs_list_done(&l);
    mutate(&sb, "behind", put_int);
    reply_fails(decode_jobs_list, &sb, "behind");
    msgpack_sbuffer_destroy(&sb);
    pack_jobs_list(&sb);

    static const struct {
        const char *path;
        put_fn *put;
        const char *want;
    } cases[] = {
        {"jobs/1/fun", put_int, "field 'jobs' item 1: field 'fun' is not a string"},
        {"jobs/0/tgt", put_huge_str, "field 'jobs' item 0: field 'tgt' is longer"},
        {"jobs/0/user", put_long_str, "field 'user' is longer than 64 bytes"},
        {"jobs/0/jid", put_str, "field 'jid' is not a job id"},
        {"jobs/0/returned", put_port_70000, "field 'returned' is out of range"},
        {"jobs/1/failed", NULL, "missing field 'failed'"},
        {"jobs/0", put_str, "field 'jobs' item 0 is not a map"},
        {"jobs", put_nil, "field 'jobs' is not an array"},
        {"jobs", NULL, "missing field 'jobs'"},
        {"ok", NULL, "missing field 'ok'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_sbuffer_destroy(&sb);
        pack_jobs_list(&sb);
        mutate(&sb, cases[i].path, cases[i].put);
        reply_fails(decode_jobs_list, &sb, cases[i].want);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* A stored job with one return, one minion it was not sent to. */
static void fill_job(mc_reply_job_t *j, msgpack_sbuffer *args)
{
    memset(j, 0, sizeof *j);
    snprintf(j->jid, sizeof j->jid, JID);
    snprintf(j->fun, sizeof j->fun, "cmd.run");
    j->tgt = mc_strdup("web*");
    snprintf(j->tgt_type, sizeof j->tgt_type, "glob");
    snprintf(j->user, sizeof j->user, "alice");
    j->ts_us = 1764000000000000;
    msgpack_sbuffer_init(args);
    msgpack_packer pk;
    msgpack_packer_init(&pk, args, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    mc_pk_str(&pk, "uptime");
    j->arg = mc_malloc(args->size);
    memcpy(j->arg, args->data, args->size);
    j->arg_len = args->size;
    for (size_t i = 0; i < 3; i++)
        mc_strs_add(&j->minions, ids[i], strlen(ids[i]));
    j->stored = 1;
    mc_strs_add(&j->unsent, "web2", 4);
    mc_strs_add(&j->unsent_why, "not connected", 13);
    j->remaining_ms = 12000;
}

static void pack_job(msgpack_sbuffer *sb, bool wait)
{
    mc_reply_job_t j;
    msgpack_sbuffer args;
    fill_job(&j, &args);
    msgpack_sbuffer_init(sb);
    if (wait)
        mc_reply_jobs_wait_pack(sb, &j);
    else
        mc_reply_jobs_show_pack(sb, &j);
    mc_reply_job_done(&j);
    msgpack_sbuffer_destroy(&args);
}

static void job_replies(void **state)
{
    mc_reply_job_t want, got;
    msgpack_sbuffer args, sb;
    mc_err_t err;
    fill_job(&want, &args);
    for (int wait = 0; wait < 2; wait++) {
        msgpack_sbuffer_init(&sb);
        if (wait)
            mc_reply_jobs_wait_pack(&sb, &want);
        else
            mc_reply_jobs_show_pack(&sb, &want);
        int rc = wait ? mc_reply_jobs_wait_decode(&got, sb.data, sb.size, &err)
                      : mc_reply_jobs_show_decode(&got, sb.data, sb.size, &err);
        assert_int_equal(rc, 0);
        assert_string_equal(got.jid, JID);
        assert_string_equal(got.fun, "cmd.run");
        assert_string_equal(got.tgt, "web*");
        assert_string_equal(got.user, "alice");
        assert_int_equal(got.ts_us, 1764000000000000);
        assert_int_equal(got.arg_len, want.arg_len);
        assert_memory_equal(got.arg, want.arg, want.arg_len);
        assert_null(got.kwarg); /* stored without: nil */
        assert_int_equal(got.minions.count, 3);
        assert_int_equal(got.stored, 1);
        assert_string_equal(got.unsent.items[0], "web2");
        assert_string_equal(got.unsent_why.items[0], "not connected");
        assert_int_equal(got.remaining_ms, wait ? 12000 : 0);
        mc_reply_job_done(&got);
        msgpack_sbuffer_destroy(&sb);
    }
    /* Arguments that are not what they claim go as nil. */
    free(want.arg);
    want.arg = mc_strdup("\x92\x01");
    want.arg_len = 2;
    msgpack_sbuffer_init(&sb);
    mc_reply_jobs_show_pack(&sb, &want);
    assert_int_equal(mc_reply_jobs_show_decode(&got, sb.data, sb.size, &err), 0);
    assert_null(got.arg);
    mc_reply_job_done(&got);
    /* A show answer is not a wait answer. */
    reply_fails(decode_jobs_wait, &sb, "missing field 'remaining_ms'");
    msgpack_sbuffer_destroy(&sb);
    mc_reply_job_done(&want);
    msgpack_sbuffer_destroy(&args);

    static const struct {
        const char *path;
        put_fn *put;
        const char *want;
    } cases[] = {
        {"job/arg", put_str, "field 'job': field 'arg' is not an array"},
        {"job/kwarg", put_int_key_map, "field 'job': field 'kwarg' has a key that is not a string"},
        {"job/fun", put_long_str, "field 'job': field 'fun' is longer"},
        {"job/ts", put_neg, "field 'job': field 'ts' is out of range"},
        {"job", put_str, "field 'job' is not a map"},
        {"stored", put_str, "field 'stored' is not an integer"},
        {"minions/2", put_bin, "field 'minions' item 2 is not a string"},
        {"stored", put_int, "field 'stored' is more than field 'minions' has entries"},
        {"stored", put_neg, "field 'stored' is out of range"},
        {"unsent/web2", put_false, "field 'unsent' value 0 is not a string"},
        {"unsent", NULL, "missing field 'unsent'"},
        {"remaining_ms", put_neg, "field 'remaining_ms' is out of range"},
        {"v", put_version_2, "protocol version 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pack_job(&sb, true);
        mutate(&sb, cases[i].path, cases[i].put);
        reply_fails(decode_jobs_wait, &sb, cases[i].want);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void pack_key_list(msgpack_sbuffer *sb)
{
    mc_reply_key_list_t l = {0};
    mc_strs_add(&l.accepted, "web1", 4);
    mc_strs_add(&l.accepted, "web2", 4);
    mc_strs_add(&l.pending, "db1", 3);
    mc_strs_add(&l.denied, "web1", 4);
    msgpack_sbuffer_init(sb);
    mc_reply_key_list_pack(sb, &l);
    mc_reply_key_list_done(&l);
}

static void key_list_replies(void **state)
{
    msgpack_sbuffer sb;
    pack_key_list(&sb);
    mc_reply_key_list_t l;
    mc_err_t err;
    assert_int_equal(mc_reply_key_list_decode(&l, sb.data, sb.size, &err), 0);
    assert_int_equal(l.accepted.count, 2);
    assert_string_equal(l.accepted.items[1], "web2");
    assert_int_equal(l.pending.count, 1);
    assert_int_equal(l.rejected.count, 0);
    assert_string_equal(l.denied.items[0], "web1");
    mc_reply_key_list_done(&l);
    static const struct {
        const char *path;
        put_fn *put;
        const char *want;
    } cases[] = {
        {"minions_pre", put_mixed_list, "field 'minions_pre' item 1 is not a string"},
        {"minions_denied", put_bad_id_list,
         "field 'minions_denied' item 1 is not a valid minion id"},
        {"minions/0", put_long_str, "field 'minions' item 0 is longer than 128 bytes"},
        {"minions_rejected", NULL, "missing field 'minions_rejected'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_sbuffer_destroy(&sb);
        pack_key_list(&sb);
        mutate(&sb, cases[i].path, cases[i].put);
        reply_fails(decode_key_list, &sb, cases[i].want);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void pack_fingers(msgpack_sbuffer *sb)
{
    unsigned char key[MC_KEY_LEN] = {1, 2, 3};
    mc_key_finger_t keys[2] = {{.id = "master.cert", .state = "local"},
                               {.id = "web1", .state = "pending"}};
    mc_fingerprint(key, keys[0].finger);
    mc_fingerprint(key, keys[1].finger);
    msgpack_sbuffer_init(sb);
    mc_reply_key_finger_pack(sb, keys, 2);
}

static void key_finger_replies(void **state)
{
    msgpack_sbuffer sb;
    pack_fingers(&sb);
    mc_reply_key_finger_t f;
    mc_err_t err;
    assert_int_equal(mc_reply_key_finger_decode(&f, sb.data, sb.size, &err), 0);
    assert_int_equal(f.count, 2);
    assert_string_equal(f.keys[0].id, "master.cert");
    assert_string_equal(f.keys[1].state, "pending");
    assert_int_equal(strlen(f.keys[1].finger), MC_FINGERPRINT_LEN - 1);
    mc_reply_key_finger_done(&f);
    static const struct {
        const char *path;
        put_fn *put;
        const char *want;
    } cases[] = {
        {"keys/1/state", put_str, "field 'keys' item 1: field 'state' is not a key state"},
        {"keys/0/finger", put_str, "field 'keys' item 0: field 'finger' is not a fingerprint"},
        {"keys/0/finger", put_long_str, "field 'finger' is longer"},
        {"keys/1/id", put_int, "field 'keys' item 1: field 'id' is not a string"},
        {"keys/1", put_int, "field 'keys' item 1 is not a map"},
        {"keys", NULL, "missing field 'keys'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_sbuffer_destroy(&sb);
        pack_fingers(&sb);
        mutate(&sb, cases[i].path, cases[i].put);
        reply_fails(decode_key_finger, &sb, cases[i].want);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void pack_master_key(msgpack_sbuffer *sb)
{
    unsigned char pub[MC_KEY_LEN] = {9, 8, 7};
    mc_reply_master_key_t k = {
        .interface = "10.0.0.1", .publish_port = 4505, .ret_port = 4506, .auth_port = 4507};
    mc_z85_key(pub, k.pub);
    msgpack_sbuffer_init(sb);
    mc_reply_master_key_pack(sb, &k);
}

static void other_key_replies(void **state)
{
    msgpack_sbuffer sb;
    pack_master_key(&sb);
    mc_reply_master_key_t k;
    mc_err_t err;
    assert_int_equal(mc_reply_master_key_decode(&k, sb.data, sb.size, &err), 0);
    assert_string_equal(k.interface, "10.0.0.1");
    assert_int_equal(k.publish_port, 4505);
    assert_int_equal(k.ret_port, 4506);
    assert_int_equal(k.auth_port, 4507);
    assert_int_equal(strlen(k.pub), MC_Z85_KEY_LEN);
    mutate(&sb, "ret_port", put_port_70000);
    reply_fails(decode_master_key, &sb, "field 'ret_port' is out of range");
    msgpack_sbuffer_destroy(&sb);
    pack_master_key(&sb);
    mutate(&sb, "pub", put_str);
    reply_fails(decode_master_key, &sb, "field 'pub' is not a Z85 public key");
    mutate(&sb, "interface", NULL);
    reply_fails(decode_master_key, &sb, "missing field 'interface'");
    msgpack_sbuffer_destroy(&sb);

    mc_strs_t changed = {0}, got;
    mc_strs_add(&changed, "web1", 4);
    mc_strs_add(&changed, "db1", 3);
    msgpack_sbuffer_init(&sb);
    mc_reply_keys_changed_pack(&sb, &changed);
    mc_strs_free(&changed);
    assert_int_equal(mc_reply_keys_changed_decode(&got, sb.data, sb.size, &err), 0);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.items[1], "db1");
    mc_strs_free(&got);
    mutate(&sb, "changed", put_mixed_list);
    reply_fails(decode_changed, &sb, "field 'changed' item 1 is not a string");
    msgpack_sbuffer_clear(&sb);

    bool yes;
    mc_reply_preseed_pack(&sb, true);
    assert_int_equal(mc_reply_preseed_decode(&yes, sb.data, sb.size, &err), 0);
    assert_true(yes);
    mutate(&sb, "changed", put_int);
    reply_fails(decode_preseed, &sb, "field 'changed' is not a boolean");
    msgpack_sbuffer_destroy(&sb);
}

/* ---- mctl-api's requests and answers ------------------------------------------ */

static void as_requests(void **state)
{
    msgpack_sbuffer inner, sb;
    msgpack_sbuffer_init(&inner);
    msgpack_sbuffer_init(&sb);
    mc_request_jobs_list_pack(&inner, "test.*", NULL, NULL, 5, 0, NULL);
    mc_request_as_pack(&sb, "alice", &inner);
    mc_request_t req;
    mc_err_t err;
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.kind, MC_REQ_AS);
    assert_string_equal(req.as.user, "alice");
    assert_int_equal(req.as.req_len, inner.size);
    assert_memory_equal(req.as.req, inner.data, inner.size);
    mc_request_t in;
    assert_int_equal(mc_request_decode(&in, req.as.req, req.as.req_len, &err), 0);
    assert_int_equal(in.kind, MC_REQ_JOBS_LIST);
    assert_int_equal(in.jobs_list.limit, 5);
    mc_request_done(&in);
    mc_request_done(&req);
    mutate(&sb, "req", put_str);
    request_fails(&sb, "bad as request: field 'req'");
    msgpack_sbuffer_clear(&sb);
    mc_request_as_pack(&sb, "", &inner);
    request_fails(&sb, "field 'user' is empty");
    msgpack_sbuffer_clear(&sb);
    mc_request_as_pack(&sb, "alice", &inner);
    mutate(&sb, "user", put_long_str);
    request_fails(&sb, "field 'user'");
    mc_req_kind_t plain[] = {MC_REQ_MINIONS, MC_REQ_EVENTS};
    for (size_t i = 0; i < 2; i++) {
        msgpack_sbuffer_clear(&sb);
        mc_request_plain_pack(&sb, plain[i]);
        assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
        assert_int_equal(req.kind, plain[i]);
        mc_request_done(&req);
    }
    msgpack_sbuffer_clear(&sb);
    mc_request_events_read_pack(&sb, 1234);
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.kind, MC_REQ_EVENTS_READ);
    assert_int_equal(req.events_read, 1234);
    mc_request_done(&req);
    msgpack_sbuffer_clear(&sb);
    mc_request_events_read_pack(&sb, -1);
    request_fails(&sb, "bad events_read request: field 'read'");
    msgpack_sbuffer_clear(&sb);
    mc_request_events_read_pack(&sb, 1);
    mutate(&sb, "read", put_str);
    request_fails(&sb, "bad events_read request: field 'read'");
    msgpack_sbuffer_destroy(&inner);
    msgpack_sbuffer_destroy(&sb);
}

/* A publish with typed arguments (mctl-api's JSON) reads back the same. */
static void publish_values(void **state)
{
    msgpack_sbuffer args, sb;
    msgpack_sbuffer_init(&args);
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &args, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mc_pk_str(&pk, "arg");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_true(&pk);
    mc_pk_str(&pk, "kwarg");
    msgpack_pack_map(&pk, 1);
    mc_pk_kv_str(&pk, "name", "nginx");
    mc_mp_doc_t doc;
    mc_err_t err;
    assert_int_equal(mc_mp_parse(&doc, args.data, args.size, &err), 0);
    mc_req_publish_spec_t spec = {.target = {"web*", "glob", 0},
                                  .fun = "pkg.install",
                                  .arg = mc_mp_get(&doc.root, "arg"),
                                  .kwarg = mc_mp_get(&doc.root, "kwarg"),
                                  .timeout = 60,
                                  .user = "alice"};
    mc_request_publish_pack(&sb, &spec);
    mc_mp_doc_done(&doc);
    mc_request_t req;
    assert_int_equal(mc_request_decode(&req, sb.data, sb.size, &err), 0);
    assert_int_equal(req.publish.arg->via.array.size, 2);
    assert_int_equal(req.publish.arg->via.array.ptr[0].via.u64, 42);
    assert_int_equal(req.publish.arg->via.array.ptr[1].type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(mc_mp_is_str(mc_mp_get(req.publish.kwarg, "name"), "nginx"));
    assert_int_equal(req.publish.timeout, 60);
    mc_request_done(&req);
    msgpack_sbuffer_destroy(&args);
    msgpack_sbuffer_destroy(&sb);
}

static void pack_minions(msgpack_sbuffer *sb)
{
    msgpack_sbuffer g;
    msgpack_sbuffer_init(&g);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &g, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    mc_pk_kv_str(&pk, "os", "Debian");
    mc_mp_doc_t doc;
    mc_err_t err;
    assert_int_equal(mc_mp_parse(&doc, g.data, g.size, &err), 0);
    mc_minion_spec_t m[2] = {{"db1", false, 0, NULL}, {"web1", true, 1764672000000000, &doc.root}};
    msgpack_sbuffer_init(sb);
    mc_reply_minions_pack(sb, m, 2);
    mc_mp_doc_done(&doc);
    msgpack_sbuffer_destroy(&g);
}

static int decode_minions(const void *buf, size_t len, mc_err_t *err)
{
    mc_reply_minions_t l;
    int rc = mc_reply_minions_decode(&l, buf, len, err);
    if (rc == 0)
        mc_reply_minions_done(&l);
    return rc;
}

static void minions_replies(void **state)
{
    msgpack_sbuffer sb;
    pack_minions(&sb);
    mc_reply_minions_t l;
    mc_err_t err;
    assert_int_equal(mc_reply_minions_decode(&l, sb.data, sb.size, &err), 0);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.minions[0].id, "db1");
    assert_false(l.minions[0].up);
    assert_null(l.minions[0].grains);
    assert_true(l.minions[1].up);
    assert_int_equal(l.minions[1].last_seen_us, 1764672000000000);
    assert_true(mc_mp_is_str(mc_mp_get(l.minions[1].grains, "os"), "Debian"));
    mc_reply_minions_done(&l);
    for (size_t n = 0; n < sb.size; n++)
        assert_int_equal(decode_minions(sb.data, n, &err), -1);
    mutate(&sb, "minions/1/grains", put_str);
    reply_fails(decode_minions, &sb, "field 'minions' item 1: field 'grains' is not a map");
    msgpack_sbuffer_destroy(&sb);
    pack_minions(&sb);
    mutate(&sb, "minions/0/id", put_long_str);
    reply_fails(decode_minions, &sb, "field 'minions' item 0");
    msgpack_sbuffer_destroy(&sb);
    pack_minions(&sb);
    mutate(&sb, "minions/0/last_seen", put_neg);
    reply_fails(decode_minions, &sb, "last_seen");
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_init(&sb);
    mc_reply_error_pack(&sb, true, "user alice may not");
    assert_int_equal(mc_reply_minions_decode(&l, sb.data, sb.size, &err), -1);
    assert_int_equal(err.code, MC_E_DENIED);
    msgpack_sbuffer_destroy(&sb);
}

static int decode_event(const void *buf, size_t len, mc_err_t *err)
{
    mc_event_t ev;
    return mc_event_decode(&ev, buf, len, err);
}

static void events(void **state)
{
    mc_event_t job = {.type = MC_EVENT_JOB,
                      .jid = "20261202000000000001",
                      .fun = "test.ping",
                      .tgt = "web*",
                      .tgt_type = "glob",
                      .user = "alice",
                      .ts_us = 5,
                      .minions = 3,
                      .lost = 2};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_event_pack(&sb, &job);
    mc_event_t ev;
    mc_err_t err;
    assert_int_equal(mc_event_decode(&ev, sb.data, sb.size, &err), 0);
    assert_int_equal(ev.type, MC_EVENT_JOB);
    assert_string_equal(ev.tgt, "web*");
    assert_string_equal(ev.user, "alice");
    assert_int_equal(ev.minions, 3);
    assert_int_equal(ev.lost, 2);
    for (size_t n = 0; n < sb.size; n++)
        assert_int_equal(decode_event(sb.data, n, &err), -1);
    mutate(&sb, "type", put_str);
    reply_fails(decode_event, &sb, "field 'type' is not job or ret");
    msgpack_sbuffer_clear(&sb);
    mc_event_t ret = {.type = MC_EVENT_RET,
                      .jid = "20261202000000000001",
                      .fun = "test.ping",
                      .id = "web1",
                      .retcode = 1,
                      .success = false};
    mc_event_pack(&sb, &ret);
    assert_int_equal(mc_event_decode(&ev, sb.data, sb.size, &err), 0);
    assert_int_equal(ev.type, MC_EVENT_RET);
    assert_string_equal(ev.id, "web1");
    assert_int_equal(ev.retcode, 1);
    assert_false(ev.success);
    mutate(&sb, "id", put_long_str);
    reply_fails(decode_event, &sb, "bad event");
    msgpack_sbuffer_clear(&sb);
    mc_event_pack(&sb, &ret);
    mutate(&sb, "jid", put_str);
    reply_fails(decode_event, &sb, "jid");
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(publish_roundtrip),
        cmocka_unit_test(publish_malformed),
        cmocka_unit_test(requests_truncated),
        cmocka_unit_test(list_targets_roundtrip),
        cmocka_unit_test(jobs_requests),
        cmocka_unit_test(key_requests),
        cmocka_unit_test(preseed_and_plain_requests),
        cmocka_unit_test(copy_requests),
        cmocka_unit_test(refusals),
        cmocka_unit_test(publish_replies),
        cmocka_unit_test(jobs_list_replies),
        cmocka_unit_test(job_replies),
        cmocka_unit_test(key_list_replies),
        cmocka_unit_test(key_finger_replies),
        cmocka_unit_test(other_key_replies),
        cmocka_unit_test(as_requests),
        cmocka_unit_test(publish_values),
        cmocka_unit_test(minions_replies),
        cmocka_unit_test(events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
