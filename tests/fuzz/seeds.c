/*  Writes the seed corpora of the message, config, key and spill fuzz
    targets from the packers themselves, so the seeds are what the daemons
    really send. Built with the suite, run by hand when a message changes:

        build/bin/fuzz_seeds tests/fuzz/corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "client.h"
#include "jobcache_store.h"
#include "keys.h"
#include "proto/proto.h"

static const char *root;

static void put(const char *target, const char *name, unsigned char prefix, bool with_prefix,
                const void *data, size_t len)
{
    char *dir = mc_sprintf("%s/%s", root, target);
    mkdir(dir, 0755);
    char *path = mc_sprintf("%s/seed-%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (with_prefix && fputc(prefix, f) == EOF) || fwrite(data, 1, len, f) != len ||
        fclose(f) != 0) {
        fprintf(stderr, "fuzz_seeds: cannot write %s\n", path);
        exit(1);
    }
    free(path);
    free(dir);
}

static void put_sb(const char *target, const char *name, int prefix, msgpack_sbuffer *sb)
{
    put(target, name, (unsigned char)prefix, prefix >= 0, sb->data, sb->size);
    msgpack_sbuffer_clear(sb);
}

int main(int argc, char **argv)
{
    if (argc != 2 || sodium_init() < 0) {
        fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR\n");
        return 64;
    }
    root = argv[1];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *jid = "20261122153012123456";

    /* jobs: plain, with arguments, compound target */
    msgpack_sbuffer args;
    msgpack_sbuffer_init(&args);
    msgpack_packer apk;
    msgpack_packer_init(&apk, &args, msgpack_sbuffer_write);
    msgpack_pack_map(&apk, 1);
    mc_pk_str(&apk, "arg");
    msgpack_pack_array(&apk, 2);
    mc_pk_str(&apk, "uptime; echo $HOME");
    msgpack_pack_int(&apk, 7);
    mc_mp_doc_t adoc;
    mc_err_t err;
    if (mc_mp_parse(&adoc, args.data, args.size, &err) != 0) {
        fprintf(stderr, "fuzz_seeds: %s\n", err.msg);
        return 1;
    }
    mc_job_spec_t job = {.jid = jid,
                         .tgt_type = "glob",
                         .tgt = "web*",
                         .fun = "test.ping",
                         .user = "root",
                         .ts = 1795000000,
                         .timeout = 30};
    mc_job_pack(&sb, &job);
    put_sb("job", "ping", -1, &sb);
    job.fun = "cmd.run";
    job.arg = mc_mp_get(&adoc.root, "arg");
    job.tgt_type = "compound";
    job.tgt = "G@os:Debian and web* or L@db1,db2 and not E@web-dc2-.*";
    mc_job_pack(&sb, &job);
    put_sb("job", "cmd-compound", -1, &sb);
    job.tgt_type = "grain";
    job.tgt = "dc|name:par*";
    job.delimiter = '|';
    mc_job_pack(&sb, &job);
    put_sb("job", "grain-delim", -1, &sb);

    /* returns */
    msgpack_sbuffer value;
    msgpack_sbuffer_init(&value);
    msgpack_packer vpk;
    msgpack_packer_init(&vpk, &value, msgpack_sbuffer_write);
    msgpack_pack_map(&vpk, 2);
    mc_pk_kv_str(&vpk, "stdout", " 15:30:12 up 3 days");
    mc_pk_kv_int(&vpk, "retcode", 0);
    mc_ret_spec_t spec = {.jid = jid,
                          .id = "web1",
                          .fun = "cmd.run_all",
                          .success = true,
                          .value = value.data,
                          .value_len = value.size,
                          .out = "up 3 days",
                          .out_len = 9,
                          .started = 1764000000000000,
                          .duration_ms = 12};
    mc_ret_pack(&sb, &spec);
    put_sb("ret", "run-all", -1, &sb);
    mc_ret_pack_error(&sb, jid, "web1", "cmd.run", 1, "the job was killed");
    put_sb("ret", "error", -1, &sb);

    /* heartbeat (0), ack (1), grains (2), stored (3) */
    mc_heartbeat_t hb = {.id = "web1", .uptime = 3600, .load = 0.25, .jobs_running = 2};
    mc_heartbeat_pack(&sb, &hb);
    put_sb("minion_msg", "heartbeat", 0, &sb);
    mc_ack_pack(&sb, jid, "web1");
    put_sb("minion_msg", "ack", 1, &sb);
    msgpack_sbuffer grains;
    msgpack_sbuffer_init(&grains);
    msgpack_packer gpk;
    msgpack_packer_init(&gpk, &grains, msgpack_sbuffer_write);
    msgpack_pack_map(&gpk, 2);
    mc_pk_kv_str(&gpk, "os", "Debian");
    mc_pk_str(&gpk, "roles");
    msgpack_pack_array(&gpk, 1);
    mc_pk_str(&gpk, "web");
    mc_grains_pack(&sb, "web1", grains.data, grains.size);
    msgpack_sbuffer_destroy(&grains);
    put_sb("minion_msg", "grains", 2, &sb);
    const char *stored[] = {jid, "20261122153012654321"};
    mc_stored_pack(&sb, stored, 2);
    put_sb("minion_msg", "stored", 3, &sb);

    /* a copy: a chunk, an abort, a cpack, a manifest (as the cp.recv job's kwarg) */
    {
        unsigned char key[32] = {1};
        mc_chunk_part_t parts[2] = {
            {.file = 1, .off = 262144, .data = (const unsigned char *)"data of a file", .len = 14},
            {.file = 2, .data = (const unsigned char *)"small", .len = 5}};
        mc_chunk_spec_t chunk = {.jid = jid, .seq = 3, .nparts = 2, .parts = parts};
        mc_chunk_pack(&sb, &chunk, key);
        put_sb("copy", "chunk", 0, &sb);
        mc_proto_header(&pk, 3);
        mc_chunk_fields_pack(&pk, &chunk);
        put_sb("copy", "chunk-body", 0, &sb);
        parts[0].abort = true;
        parts[0].len = 0;
        chunk.nparts = 1;
        mc_chunk_pack(&sb, &chunk, key);
        put_sb("copy", "abort", 0, &sb);
        unsigned char have[2] = {0x03, 0x01};
        mc_cpack_spec_t cpack = {.jid = jid, .id = "web1", .have = have, .have_len = 2};
        mc_cpack_pack(&sb, &cpack);
        put_sb("copy", "cpack", 1, &sb);
        cpack.id = "";
        cpack.error = "no copy in progress";
        mc_cpack_pack(&sb, &cpack);
        put_sb("copy", "cpack-error", 1, &sb);
        mc_cp_file_t files[2] = {{.name = "site", .dir = true, .mode = 0755},
                                 {.name = "site/index.html", .size = 12, .mode = 0644}};
        mc_cp_manifest_t m = {.dest = "/srv/www",
                              .into = true,
                              .mode = -1,
                              .owner = "www-data",
                              .count = 2,
                              .files = files};
        msgpack_pack_map(&pk, 1);
        mc_pk_str(&pk, "copy");
        mc_cp_manifest_pack(&pk, &m);
        put_sb("copy", "manifest", 2, &sb);
    }

    /* registration (1) and its reply (0) */
    unsigned char pub[32];
    randombytes_buf(pub, sizeof pub);
    mc_register_pack(&sb, "web1", pub);
    put_sb("register", "request", 1, &sb);
    mc_register_reply_pack(&sb, "accepted", pub);
    put_sb("register", "accepted", 0, &sb);
    mc_register_reply_pack(&sb, "pending", NULL);
    put_sb("register", "pending", 0, &sb);

    /* configs: minion (0), master (1) */
    const char *minion =
        "id: web1\nmaster: 10.0.0.1\nmaster_pubkey: \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n"
        "workers: 4\nheartbeat: 30\ngrains:\n  roles: [web, db]\n  dc: {name: par1}\n";
    put("config", "minion", 0, true, minion, strlen(minion));
    const char *master = "interface: 0.0.0.0\nret_port: 4506\nauto_accept: false\nkeep_jobs: 24\n"
                         "nodegroups:\n  web: 'web* or G@roles:web'\n  db: L@db1,db2\n";
    put("config", "master", 1, true, master, strlen(master));

    /* keys: a zcert public file (0), Z85 text (1) */
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(pub, z85);
    char *cert = mc_sprintf("#   ****  Generated on 2026-11-22 by CZMQ  ****\n"
                            "#   ZeroMQ CURVE Public Certificate\n\nmetadata\n    id = \"web1\"\n"
                            "curve\n    public-key = \"%s\"\n",
                            z85);
    put("keys", "cert", 0, true, cert, strlen(cert));
    put("keys", "z85", 1, true, z85, strlen(z85));
    free(cert);

    /* client API requests, as mctl packs them */
    char *argv_[] = {"uptime", "timeout=5"};
    mc_req_publish_spec_t publish = {.target = {"web*", "glob", 0},
                                     .fun = "cmd.run",
                                     .argc = 2,
                                     .argv = argv_,
                                     .timeout = 30,
                                     .user = "root"};
    mc_request_publish_pack(&sb, &publish);
    put_sb("client", "publish", -1, &sb);
    mc_req_target_spec_t comp = {"G@roles:web and not N@web or L@db1", "compound", 0};
    mc_request_list_targets_pack(&sb, &comp);
    put_sb("client", "list-targets", -1, &sb);
    mc_request_job_pack(&sb, MC_REQ_JOBS_SHOW, jid);
    put_sb("client", "jobs-show", -1, &sb);
    mc_request_job_pack(&sb, MC_REQ_JOBS_WAIT, jid);
    put_sb("client", "jobs-wait", -1, &sb);
    mc_request_jobs_list_pack(&sb, "cmd.*", "web*", NULL, 10, 1764000000000000,
                              "20261122153012123456");
    put_sb("client", "jobs_list", -1, &sb);
    const mc_req_kind_t plain[] = {MC_REQ_KEY_LIST, MC_REQ_KEY_FINGER, MC_REQ_MASTER_KEY,
                                   MC_REQ_MINIONS, MC_REQ_EVENTS};
    for (size_t i = 0; i < 5; i++) {
        mc_request_plain_pack(&sb, plain[i]);
        put_sb("client", mc_request_name(plain[i]), -1, &sb);
    }
    mc_request_events_read_pack(&sb, 250);
    put_sb("client", "events-read", -1, &sb);
    char *globs[] = {"web*"};
    mc_request_keys_pack(&sb, MC_REQ_KEY_ACCEPT, globs, 1, true, false);
    put_sb("client", "key-accept", -1, &sb);
    mc_request_preseed_pack(&sb, "web3", z85);
    put_sb("client", "key-preseed", -1, &sb);
    {
        msgpack_sbuffer inner;
        msgpack_sbuffer_init(&inner);
        mc_request_job_pack(&inner, MC_REQ_JOBS_SHOW, "20261122153012123456");
        mc_request_as_pack(&sb, "root", &inner);
        put_sb("client", "as", -1, &sb);
        msgpack_sbuffer_destroy(&inner);
    }

    /* client API replies, as the master packs them; the first byte picks
       the decoder (fuzz_reply.c) */
    mc_reply_error_pack(&sb, false, "no job 20261122153012123456 in the job cache");
    put_sb("reply", "error", 0, &sb);
    const char *ids[] = {"web1", "web2", "db1"};
    const char *why[] = {NULL, "not connected", NULL};
    mc_reply_publish_spec_t answer = {.jid = jid, .minions = ids, .count = 3, .unsent_why = why};
    mc_reply_publish_pack(&sb, &answer);
    put_sb("reply", "publish", 1, &sb);
    mc_reply_list_targets_pack(&sb, ids, 3);
    put_sb("reply", "list-targets", 2, &sb);
    mc_reply_jobs_list_t history = {0};
    mc_job_summary_t *sum = mc_reply_jobs_list_add(&history);
    snprintf(sum->jid, sizeof sum->jid, "%s", jid);
    snprintf(sum->fun, sizeof sum->fun, "cmd.run");
    sum->tgt = mc_strdup("web*");
    snprintf(sum->tgt_type, sizeof sum->tgt_type, "glob");
    snprintf(sum->user, sizeof sum->user, "root");
    sum->ts_us = 1764000000000000;
    sum->minions = 3;
    sum->returned = 2;
    sum->failed = 1;
    mc_reply_jobs_list_pack(&sb, &history);
    put_sb("reply", "jobs-list", 3, &sb);
    mc_reply_jobs_list_done(&history);
    mc_reply_job_t shown = {.ts_us = 1764000000000000, .remaining_ms = 25000};
    snprintf(shown.jid, sizeof shown.jid, "%s", jid);
    snprintf(shown.fun, sizeof shown.fun, "cmd.run_all");
    shown.tgt = mc_strdup("web*");
    snprintf(shown.tgt_type, sizeof shown.tgt_type, "glob");
    snprintf(shown.user, sizeof shown.user, "root");
    msgpack_sbuffer job_args;
    msgpack_sbuffer_init(&job_args);
    msgpack_packer jpk;
    msgpack_packer_init(&jpk, &job_args, msgpack_sbuffer_write);
    msgpack_pack_object(&jpk, *mc_mp_get(&adoc.root, "arg"));
    shown.arg = job_args.data;
    shown.arg_len = job_args.size;
    for (size_t i = 0; i < 3; i++)
        mc_strs_add(&shown.minions, ids[i], strlen(ids[i]));
    shown.stored = 1;
    mc_strs_add(&shown.unsent, "web2", 4);
    mc_strs_add(&shown.unsent_why, "not connected", 13);
    mc_reply_jobs_show_pack(&sb, &shown);
    put_sb("reply", "jobs-show", 4, &sb);
    mc_reply_jobs_wait_pack(&sb, &shown);
    put_sb("reply", "jobs-wait", 5, &sb);
    shown.arg = NULL; /* job_args owns it */
    mc_reply_job_done(&shown);
    msgpack_sbuffer_destroy(&job_args);
    mc_reply_key_list_t keys = {0};
    mc_strs_add(&keys.accepted, "web1", 4);
    mc_strs_add(&keys.accepted, "web2", 4);
    mc_strs_add(&keys.pending, "db1", 3);
    mc_strs_add(&keys.denied, "web1", 4);
    mc_reply_key_list_pack(&sb, &keys);
    put_sb("reply", "key-list", 6, &sb);
    mc_reply_key_list_done(&keys);
    mc_key_finger_t fingers[2] = {{.id = "master.cert", .state = "local"},
                                  {.id = "web1", .state = "accepted"}};
    mc_fingerprint(pub, fingers[0].finger);
    mc_fingerprint(pub, fingers[1].finger);
    mc_reply_key_finger_pack(&sb, fingers, 2);
    put_sb("reply", "key-finger", 7, &sb);
    mc_reply_master_key_t mk = {
        .interface = "10.0.0.1", .publish_port = 4505, .ret_port = 4506, .auth_port = 4507};
    snprintf(mk.pub, sizeof mk.pub, "%s", z85);
    mc_reply_master_key_pack(&sb, &mk);
    put_sb("reply", "master-key", 8, &sb);
    mc_strs_t changed = {0};
    mc_strs_add(&changed, "web1", 4);
    mc_reply_keys_changed_pack(&sb, &changed);
    put_sb("reply", "keys-changed", 9, &sb);
    mc_strs_free(&changed);
    mc_reply_preseed_pack(&sb, true);
    put_sb("reply", "preseed", 10, &sb);
    {
        mc_minion_spec_t fleet[2] = {{"db1", false, 0, NULL},
                                     {"web1", true, 1764000000000000, &adoc.root}};
        mc_reply_minions_pack(&sb, fleet, 2);
        put_sb("reply", "minions", 11, &sb);
        mc_event_t ev_job = {.type = MC_EVENT_JOB,
                             .jid = "20261122153012123456",
                             .fun = "test.ping",
                             .tgt = "web*",
                             .tgt_type = "glob",
                             .user = "alice",
                             .ts_us = 1764000000000000,
                             .minions = 3};
        mc_event_pack(&sb, &ev_job);
        put_sb("reply", "event-job", 12, &sb);
        mc_event_t ev_ret = {.type = MC_EVENT_RET,
                             .jid = "20261122153012123456",
                             .fun = "test.ping",
                             .id = "web1",
                             .retcode = 0,
                             .success = true,
                             .lost = 1};
        mc_event_pack(&sb, &ev_ret);
        put_sb("reply", "event-ret", 12, &sb);
    }

    /* the job cache's spill file: two jobs, one with a minion not sent to */
    {
        char *spill_ids[] = {"web1", "web2", NULL}, *spill_unsent[] = {NULL, "not connected", NULL};
        char noargs[] = {(char)0x90}, nokw[] = {(char)0x80};
        jobcache_item_t second = {.is_job = true,
                                  .jid = "20261122153013123457",
                                  .fun = "test.ping",
                                  .tgt = "web*",
                                  .tgt_type = "glob",
                                  .user = "root",
                                  .ts_us = 1764000001000000,
                                  .arg = noargs,
                                  .arg_len = 1,
                                  .kwarg = nokw,
                                  .kwarg_len = 1,
                                  .ids = spill_ids,
                                  .unsent = spill_unsent,
                                  .n = 2};
        jobcache_item_t first = second;
        first.next = &second;
        first.jid = "20261122153012123456";
        first.fun = "cmd.run";
        first.expires_us = 1764000031000000;
        first.arg = (char *)args.data;
        first.arg_len = args.size;
        first.n = 1;
        char *dir = mc_sprintf("%s/spill", root);
        char *path = mc_sprintf("%s/seed-jobs", dir);
        mkdir(dir, 0755);
        size_t kept;
        if (jobcache_spill_write(path, &first, NULL, &kept, &err) != 0) {
            fprintf(stderr, "fuzz_seeds: %s\n", err.msg);
            return 1;
        }
        free(path);
        free(dir);
    }

    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&args);
    msgpack_sbuffer_destroy(&value);
    mc_mp_doc_done(&adoc);
    return 0;
}
