/*  Unit tests for shared/proto/ (master and minion): every decoder against good input and
    against the malformed input the network can send (truncated, wrong
    types, absurd lengths, trailing bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp.h"
#include "proto/proto.h"

static void pack_job(msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    mc_job_spec_t spec = {.jid = "20261122153012123456",
                          .tgt_type = "glob",
                          .tgt = "web*",
                          .fun = "cmd.run",
                          .user = "root",
                          .ts = 1790000000,
                          .timeout = 30};
    mc_job_pack(sb, &spec);
}

static void job_roundtrip(void **state)
{
    msgpack_sbuffer sb;
    pack_job(&sb);
    mc_job_t job;
    mc_err_t err;
    assert_int_equal(mc_job_decode(&job, sb.data, sb.size, &err), 0);
    assert_string_equal(job.jid, "20261122153012123456");
    assert_string_equal(job.tgt, "web*");
    assert_string_equal(job.fun, "cmd.run");
    assert_int_equal(job.timeout, 30);
    assert_int_equal(job.arg->via.array.size, 0);
    mc_job_done(&job);
    msgpack_sbuffer_destroy(&sb);
}

/* Every prefix of a valid job must be refused, none may crash. */
static void job_truncated(void **state)
{
    msgpack_sbuffer sb;
    pack_job(&sb);
    mc_job_t job;
    mc_err_t err;
    for (size_t n = 0; n < sb.size; n++)
        assert_int_equal(mc_job_decode(&job, sb.data, n, &err), -1);
    msgpack_sbuffer_destroy(&sb);
}

static void job_trailing_bytes(void **state)
{
    msgpack_sbuffer sb;
    pack_job(&sb);
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    mc_job_t job;
    mc_err_t err;
    assert_int_equal(mc_job_decode(&job, sb.data, sb.size, &err), -1);
    assert_non_null(strstr(err.msg, "trailing"));
    msgpack_sbuffer_destroy(&sb);
}

/* A map of the right keys with one field of the wrong type. */
static int decode_job_with(const char *field, void (*pack_value)(msgpack_packer *), mc_err_t *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *keys[] = {"v",   "jid",   "tgt",  "tgt_type", "fun",
                          "arg", "kwarg", "user", "ts",       "timeout"};
    msgpack_pack_map(&pk, 10);
    for (int i = 0; i < 10; i++) {
        mc_pk_str(&pk, keys[i]);
        if (strcmp(keys[i], field) == 0)
            pack_value(&pk);
        else if (i == 0)
            msgpack_pack_int(&pk, 1);
        else if (i == 1)
            mc_pk_str(&pk, "20261122153012123456");
        else if (i == 5)
            msgpack_pack_array(&pk, 0);
        else if (i == 6)
            msgpack_pack_map(&pk, 0);
        else if (i >= 8)
            msgpack_pack_int(&pk, 10);
        else
            mc_pk_str(&pk, "x");
    }
    mc_job_t job;
    int rc = mc_job_decode(&job, sb.data, sb.size, err);
    if (rc == 0)
        mc_job_done(&job);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void pack_int(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 7);
}
static void pack_str(msgpack_packer *pk)
{
    mc_pk_str(pk, "7");
}
static void pack_neg(msgpack_packer *pk)
{
    msgpack_pack_int(pk, -5);
}
static void pack_badjid(msgpack_packer *pk)
{
    mc_pk_str(pk, "2026112215301212345x");
}
static void pack_intkey_map(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 1);
}

static void job_wrong_types(void **state)
{
    mc_err_t err;
    assert_int_equal(decode_job_with("jid", pack_int, &err), -1);
    assert_non_null(strstr(err.msg, "jid"));
    assert_int_equal(decode_job_with("jid", pack_badjid, &err), -1);
    assert_int_equal(decode_job_with("fun", pack_int, &err), -1);
    assert_non_null(strstr(err.msg, "fun"));
    assert_int_equal(decode_job_with("arg", pack_str, &err), -1);
    assert_int_equal(decode_job_with("kwarg", pack_intkey_map, &err), -1);
    assert_int_equal(decode_job_with("timeout", pack_str, &err), -1);
    assert_int_equal(decode_job_with("timeout", pack_neg, &err), -1);
    assert_int_equal(decode_job_with("v", pack_str, &err), -1);
    assert_int_equal(decode_job_with("ts", pack_int, &err), 0);
}

/* Containers that claim more elements than there are bytes. */
static void huge_lengths(void **state)
{
    mc_err_t err;
    const unsigned char array32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    const unsigned char map32[] = {0xdf, 0x7f, 0xff, 0xff, 0xff};
    const unsigned char str32[] = {0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'};
    const unsigned char bin32[] = {0xc6, 0x10, 0x00, 0x00, 0x00};
    assert_int_equal(mc_mp_check(array32, sizeof array32, &err), -1);
    assert_int_equal(mc_mp_check(map32, sizeof map32, &err), -1);
    assert_int_equal(mc_mp_check(str32, sizeof str32, &err), -1);
    assert_int_equal(mc_mp_check(bin32, sizeof bin32, &err), -1);
    unsigned char deep[64];
    memset(deep, 0x91, sizeof deep); /* arrays of one, nested 64 deep */
    deep[63] = 0xc0;
    assert_int_equal(mc_mp_check(deep, sizeof deep, &err), -1);
    assert_non_null(strstr(err.msg, "nested"));
    const unsigned char reserved[] = {0xc1};
    assert_int_equal(mc_mp_check(reserved, 1, &err), -1);
    assert_int_equal(mc_mp_check("", 0, &err), -1);
    /* A million nils fit the bytes but not the value budget: one message
       may not unpack into gigabytes. */
    for (size_t n = MC_MP_MAX_OBJECTS - 1; n <= MC_MP_MAX_OBJECTS; n++) {
        /* n nils in an array: n + 1 values */
        unsigned char *many = malloc(5 + n);
        assert_non_null(many);
        many[0] = 0xdd;
        many[1] = (unsigned char)(n >> 24), many[2] = (unsigned char)(n >> 16);
        many[3] = (unsigned char)(n >> 8), many[4] = (unsigned char)n;
        memset(many + 5, 0xc0, n);
        int rc = mc_mp_check(many, 5 + n, &err);
        if (n + 1 <= MC_MP_MAX_OBJECTS) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err.msg, "values"));
        }
        free(many);
    }
}

static void return_roundtrip_and_errors(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_ret_pack_error(&sb, "20261122153012123456", "web1", "cmd.run", 3, "boom");
    mc_ret_t r;
    mc_err_t err;
    assert_int_equal(mc_ret_decode(&r, sb.data, sb.size, &err), 0);
    assert_string_equal(r.id, "web1");
    assert_int_equal(r.retcode, 3);
    assert_false(r.success);
    assert_true(mc_mp_is_str(r.ret, "boom"));
    mc_ret_done(&r);
    for (size_t n = 0; n < sb.size; n++)
        assert_int_equal(mc_ret_decode(&r, sb.data, n, &err), -1);
    msgpack_sbuffer_destroy(&sb);

    /* An id that could escape a folder or a topic is refused. */
    msgpack_sbuffer_init(&sb);
    mc_ret_pack_error(&sb, "20261122153012123456", "../etc", "cmd.run", 3, "boom");
    assert_int_equal(mc_ret_decode(&r, sb.data, sb.size, &err), -1);
    assert_non_null(strstr(err.msg, "id"));
    msgpack_sbuffer_destroy(&sb);
}

static void small_messages(void **state)
{
    msgpack_sbuffer sb;
    mc_err_t err;
    msgpack_sbuffer_init(&sb);
    mc_ack_pack(&sb, "20261122153012123456", "db-1");
    mc_ack_t ack;
    assert_int_equal(mc_ack_decode(&ack, sb.data, sb.size, &err), 0);
    assert_string_equal(ack.id, "db-1");
    assert_int_equal(mc_ack_decode(&ack, sb.data, sb.size - 1, &err), -1);
    msgpack_sbuffer_destroy(&sb);

    msgpack_sbuffer_init(&sb);
    mc_heartbeat_t hb = {.id = "m1", .uptime = 5, .load = 0.5, .jobs_running = 2}, out;
    mc_heartbeat_pack(&sb, &hb);
    assert_int_equal(mc_heartbeat_decode(&out, sb.data, sb.size, &err), 0);
    assert_int_equal(out.jobs_running, 2);
    assert_int_equal(mc_heartbeat_decode(&out, sb.data, sb.size - 3, &err), -1);
    msgpack_sbuffer_destroy(&sb);

    unsigned char key[32] = {1, 2, 3};
    msgpack_sbuffer_init(&sb);
    mc_register_pack(&sb, "m1", key);
    mc_register_t reg;
    assert_int_equal(mc_register_decode(&reg, sb.data, sb.size, &err), 0);
    assert_memory_equal(reg.pub, key, 32);
    msgpack_sbuffer_destroy(&sb);

    /* A key of the wrong size. */
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    mc_pk_kv_int(&pk, "v", 1);
    mc_pk_kv_str(&pk, "id", "m1");
    mc_pk_str(&pk, "pub");
    mc_pk_bin(&pk, key, 31);
    assert_int_equal(mc_register_decode(&reg, sb.data, sb.size, &err), -1);
    msgpack_sbuffer_destroy(&sb);

    msgpack_sbuffer_init(&sb);
    mc_register_reply_pack(&sb, "accepted", key);
    mc_register_reply_t rr;
    assert_int_equal(mc_register_reply_decode(&rr, sb.data, sb.size, &err), 0);
    assert_true(rr.has_sign_pub);
    assert_string_equal(rr.status, "accepted");
    msgpack_sbuffer_destroy(&sb);
}

static void grains_message(void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    mc_pk_kv_int(&pk, "v", 1);
    mc_pk_kv_str(&pk, "id", "m1");
    mc_pk_str(&pk, "grains");
    msgpack_pack_map(&pk, 1);
    mc_pk_kv_str(&pk, "os", "Debian");
    mc_grains_msg_t g;
    mc_err_t err;
    assert_int_equal(mc_grains_decode(&g, sb.data, sb.size, &err), 0);
    assert_non_null(mc_mp_get(g.grains, "os"));
    mc_grains_done(&g);
    assert_int_equal(mc_grains_decode(&g, sb.data, sb.size - 2, &err), -1);
    msgpack_sbuffer_destroy(&sb);
}

/* The stored notice: round trip, and a list holding anything but job ids
   is refused whole. */
static void stored_notice(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    const char *jids[] = {"20261122153012123456", "20261122153012654321"};
    mc_stored_pack(&sb, jids, 2);
    mc_stored_t st;
    mc_err_t err;
    assert_int_equal(mc_stored_decode(&st, sb.data, sb.size, &err), 0);
    assert_int_equal(st.count, 2);
    assert_string_equal(st.jids[1], "20261122153012654321");
    mc_stored_done(&st);

    msgpack_sbuffer_clear(&sb);
    const char *bad[] = {"20261122153012123456", "../../etc/passwd"};
    mc_stored_pack(&sb, bad, 2);
    assert_int_equal(mc_stored_decode(&st, sb.data, sb.size, &err), -1);
    assert_non_null(strstr(err.msg, "jids"));
    assert_null(st.jids);
    assert_int_equal(mc_stored_decode(&st, sb.data, sb.size - 3, &err), -1);
    msgpack_sbuffer_destroy(&sb);
}

/* A registration reply names one of the four key states and nothing else. */
static void register_reply_states(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    unsigned char key[32] = {1, 2, 3};
    mc_register_reply_pack(&sb, "accepted", key);
    mc_register_reply_t r;
    mc_err_t err;
    assert_int_equal(mc_register_reply_decode(&r, sb.data, sb.size, &err), 0);
    assert_true(r.has_sign_pub);
    assert_memory_equal(r.sign_pub, key, 32);
    msgpack_sbuffer_clear(&sb);
    mc_register_reply_pack(&sb, "welcome", NULL);
    assert_int_equal(mc_register_reply_decode(&r, sb.data, sb.size, &err), -1);
    assert_non_null(strstr(err.msg, "status"));
    msgpack_sbuffer_destroy(&sb);
}

static void utf8(void **state)
{
    assert_true(mc_utf8_valid("héllo", strlen("héllo")));
    assert_false(mc_utf8_valid("\xff\xfe", 2));
    assert_false(mc_utf8_valid("\xc0\x80", 2));     /* overlong NUL */
    assert_false(mc_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(mc_utf8_valid("\xe2\x82", 2));     /* cut short */
}

/* ---- mctl cp: manifest, chunk, cpack ------------------------------------- */

/* Decode the manifest m as a cp.recv job's kwarg carries it: 0 or -1
   (err says why); a decoded one is checked against m. */
static int roundtrip_manifest(const mc_cp_manifest_t *m, mc_err_t *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    mc_pk_str(&pk, "copy");
    mc_cp_manifest_pack(&pk, m);
    mc_mp_doc_t doc;
    assert_int_equal(mc_mp_parse(&doc, sb.data, sb.size, err), 0);
    mc_cp_manifest_t out;
    int rc = mc_cp_manifest_decode(&doc.root, "copy", &out, err);
    if (rc == 0) {
        assert_int_equal(out.count, m->count);
        assert_string_equal(out.files[0].name, m->files[0].name);
        assert_int_equal(out.bytes, m->files[0].size);
        mc_cp_manifest_free(&out);
    }
    mc_mp_doc_done(&doc);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int decode_manifest(const char *name, bool into, const char *dest)
{
    mc_cp_file_t f = {.name = (char *)name, .size = 5, .mode = 0644};
    memset(f.hash, 7, sizeof f.hash);
    mc_cp_manifest_t m = {.dest = (char *)dest, .into = into, .mode = -1, .count = 1, .files = &f};
    mc_err_t err;
    return roundtrip_manifest(&m, &err);
}

static void copy_manifest_names(void **state)
{
    (void)state;
    assert_int_equal(decode_manifest("a/b/c.txt", true, "/srv"), 0);
    assert_int_equal(decode_manifest("nginx.conf", false, "/etc/nginx/nginx.conf"), 0);
    /* Nothing may climb out of the destination or name it oddly. */
    const char *bad[] = {
        "../etc/shadow", "a/../../x", "/etc/shadow", "a//b", "a/./b", "a/", "", ".",
        "a\nb",          "t\tb"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(decode_manifest(bad[i], true, "/srv"), -1);
    assert_int_equal(decode_manifest("a/b", false, "/srv/x"), -1); /* a path, not into */
    assert_int_equal(decode_manifest("x", true, "srv"), -1);       /* a relative dest */
    /* The destination publisher_acl matched is where the files go. */
    const char *bad_dest[] = {"/srv/../etc", "/srv/./x", "/srv//x", "/..", "/srv/..", "//"};
    for (size_t i = 0; i < sizeof bad_dest / sizeof *bad_dest; i++)
        assert_int_equal(decode_manifest("x", true, bad_dest[i]), -1);
    assert_int_equal(decode_manifest("x", true, "/"), 0);
    assert_int_equal(decode_manifest("x", true, "/srv/www/"), 0);
    /* Each name once. */
    mc_cp_file_t twice[2] = {{.name = "a", .size = 1}, {.name = "a", .size = 1}};
    mc_cp_manifest_t m2 = {.dest = "/srv", .into = true, .mode = -1, .count = 2, .files = twice};
    mc_err_t err;
    assert_int_equal(roundtrip_manifest(&m2, &err), -1);
    assert_non_null(strstr(err.msg, "twice"));
}

static void copy_chunk_tagged(void **state)
{
    (void)state;
    unsigned char key[32], other[32];
    memset(key, 1, sizeof key);
    memset(other, 2, sizeof other);
    mc_chunk_part_t parts[2] = {
        {.file = 3, .off = 262144, .data = (const unsigned char *)"hello", .len = 5},
        {.file = 4, .abort = true}};
    mc_chunk_spec_t spec = {.jid = "20261122153012123456", .seq = 7, .nparts = 2, .parts = parts};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_chunk_pack(&sb, &spec, key);
    mc_chunk_t c;
    mc_err_t err;
    char jid[MC_JID_LEN + 1];
    assert_int_equal(mc_chunk_jid(sb.data, sb.size, jid), 0);
    assert_string_equal(jid, "20261122153012123456");
    assert_int_equal(mc_chunk_decode(&c, sb.data, sb.size, key, &err), 0);
    assert_int_equal(c.f.seq, 7);
    assert_int_equal(c.f.nparts, 2);
    assert_int_equal(c.f.parts[0].file, 3);
    assert_int_equal(c.f.parts[0].off, 262144);
    assert_int_equal(c.f.parts[0].len, 5);
    assert_memory_equal(c.f.parts[0].data, "hello", 5);
    assert_true(c.f.parts[1].abort);
    assert_int_equal(c.f.parts[1].len, 0);
    mc_chunk_done(&c);
    /* The data is not there in the clear, for another minion to read. */
    assert_null(memmem(sb.data, sb.size, "hello", 5));
    /* Another key opens nothing; one changed byte anywhere, the header
       included, fails the check. */
    assert_int_equal(mc_chunk_decode(&c, sb.data, sb.size, other, &err), -1);
    for (size_t at = 0; at < sb.size; at++) {
        sb.data[at] ^= 1;
        assert_int_equal(mc_chunk_decode(&c, sb.data, sb.size, key, &err), -1);
        sb.data[at] ^= 1;
    }
    /* A chunk is bound to its seq: the same parts as chunk 8 differ, and
       a header moved from one to the other fails. */
    msgpack_sbuffer sb8;
    msgpack_sbuffer_init(&sb8);
    spec.seq = 8;
    mc_chunk_pack(&sb8, &spec, key);
    memcpy(sb8.data, sb.data, MC_CHUNK_HEAD_LEN);
    assert_int_equal(mc_chunk_decode(&c, sb8.data, sb8.size, key, &err), -1);
    assert_int_equal(mc_chunk_decode(&c, sb.data, 3, key, &err), -1);
    msgpack_sbuffer_destroy(&sb8);
    msgpack_sbuffer_destroy(&sb);
}

static void copy_cpack(void **state)
{
    (void)state;
    unsigned char have[2] = {0x05, 0x80};
    mc_cpack_spec_t spec = {
        .jid = "20261122153012123456", .id = "web1", .seq = 0, .have = have, .have_len = 2};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_cpack_pack(&sb, &spec);
    mc_cpack_t a;
    mc_err_t err;
    assert_int_equal(mc_cpack_decode(&a, sb.data, sb.size, &err), 0);
    assert_string_equal(a.id, "web1");
    assert_int_equal(a.have_len, 2);
    assert_memory_equal(a.have, have, 2);
    assert_string_equal(a.error, "");
    mc_cpack_done(&a);
    msgpack_sbuffer_destroy(&sb);
    /* An empty id only with an error (the master's, about the copy). */
    msgpack_sbuffer_init(&sb);
    spec.id = "";
    mc_cpack_pack(&sb, &spec);
    assert_int_equal(mc_cpack_decode(&a, sb.data, sb.size, &err), -1);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_init(&sb);
    spec.error = "no copy in progress";
    mc_cpack_pack(&sb, &spec);
    assert_int_equal(mc_cpack_decode(&a, sb.data, sb.size, &err), 0);
    assert_string_equal(a.error, "no copy in progress");
    mc_cpack_done(&a);
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(job_roundtrip),
        cmocka_unit_test(job_truncated),
        cmocka_unit_test(job_trailing_bytes),
        cmocka_unit_test(job_wrong_types),
        cmocka_unit_test(huge_lengths),
        cmocka_unit_test(return_roundtrip_and_errors),
        cmocka_unit_test(small_messages),
        cmocka_unit_test(grains_message),
        cmocka_unit_test(stored_notice),
        cmocka_unit_test(register_reply_states),
        cmocka_unit_test(utf8),
        cmocka_unit_test(copy_manifest_names),
        cmocka_unit_test(copy_chunk_tagged),
        cmocka_unit_test(copy_cpack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
