/*  mctl-test-rogue - a hostile peer for the security tests: it speaks the
    real protocol with real keys and tries what an attacker on the network,
    or an accepted but malicious minion, would try.

      claim PKI CERT HOST RET ID JID
          with the minion keys in PKI, push a return that claims to come
          from minion ID (for job JID) to the master's return port
      snoop PKI CERT HOST PUB RET SECONDS OWN CLAIM [GOFILE]
          with an accepted minion's keys (minion OWN), subscribe to OWN's
          topic, CLAIM's and every minion's ("m:"), say hello claiming to
          be CLAIM, and take every job that comes for SECONDS, answering
          none: prints "opened JID FUN" for each job it can open, "could
          not open a job" for the others, and "received N opened M" at the
          end; the payloads as they came go to ./snoop.raw. Once GOFILE
          exists, push grains and a return for the jid it holds, both
          claiming to be CLAIM
      big HOST PORT BYTES COUNT CERT [PKI]
          connect with a new key to the registration port (DEALER: it takes
          any CURVE client), or with the minion keys in PKI to the return
          port (PUSH), and send COUNT messages of BYTES each; prints how
          many left
      master PKI PUB RET AUTH ID COMMAND
          act as a master (keys in PKI) for one minion ID: accept it, wait
          for its subscription, then publish COMMAND (cmd.run) with a bad
          signature, validly, replayed, with an old timestamp, and validly
          again; prints what came back
      register HOST AUTH CERT PREFIX COUNT
          present COUNT new keys (ids PREFIX0, PREFIX1, ...), each on a
          connection of its own; prints how many were answered
      preseed SOCKET ID
          as a client of the master's socket, ask it to accept a random key
          for ID (what deploy asks); print "accepted" or the refusal
      as SOCKET USER TARGET FUN
          as a client of the master's socket, publish FUN to TARGET inside
          an "as" request naming USER (what mctl-api asks for a logged-in
          user); prints the jid, or the refusal
      lie SOCKET TARGET FUN USER
          as a client of the master's socket, publish FUN to TARGET with a
          request that names USER as the one asking; prints the jid
      cpbad SOCKET TARGET DEST
          as a client of the master's socket, start a copy of one file
          to DEST on TARGET whose manifest says "hello" but send "HELLO"
          (what a source changed past mctl's notice would give); prints
          the minion's return
      cpinject SOCKET JID
          as another client of the master's socket, send a chunk of data
          into the copy JID (someone else's); when the master names the
          chunk it expects instead, try that one too; prints the master's
          last refusal, or "accepted" when it said nothing for 2 s

    CERT is the master's public certificate (pki_dir/master.cert). */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "jid.h"
#include "json.h"
#include "keys.h"
#include "proto/proto.h"

static void die(const char *what)
{
    fprintf(stderr, "rogue: %s\n", what);
    exit(1);
}

static void load_keys(const char *pki, const char *name, mc_curve_keys_t *keys)
{
    bool created;
    mc_err_t err;
    if (mc_curve_load_or_create(pki, name, keys, &created, &err) != 0)
        die(err.msg);
}

static void load_cert(const char *path, unsigned char pub[MC_KEY_LEN])
{
    mc_err_t err;
    if (mc_curve_load_public(path, pub, &err) != 0)
        die(err.msg);
}

static zsock_t *curve_client(int type, const mc_curve_keys_t *me, const unsigned char server[32],
                             const char *endpoint)
{
    zsock_t *s = zsock_new(type);
    zsock_set_curve_serverkey_bin(s, server);
    zsock_set_curve_publickey_bin(s, me->pub);
    zsock_set_curve_secretkey_bin(s, me->sec);
    zsock_set_linger(s, 5000);
    if (zsock_connect(s, "%s", endpoint) != 0)
        die("cannot connect");
    return s;
}

/* [kind][payload] on a PUSH. */
static void push_msg(zsock_t *push, const char *kind, const msgpack_sbuffer *sb)
{
    zmq_send(zsock_resolve(push), kind, strlen(kind), ZMQ_SNDMORE);
    zmq_send(zsock_resolve(push), sb->data, sb->size, 0);
}

static void push_forged_return(zsock_t *push, const char *id, const char *jid)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_ret_pack_error(&sb, jid, id, "test.ping", 0, "forged");
    push_msg(push, MC_KIND_RETURN, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static int claim(char **a)
{
    mc_curve_keys_t me;
    unsigned char master[32];
    load_keys(a[0], "minion", &me);
    load_cert(a[1], master);
    char *ep = mc_sprintf("tcp://%s:%s", a[2], a[3]);
    zsock_t *push = curve_client(ZMQ_PUSH, &me, master, ep);
    push_forged_return(push, a[4], a[5]);
    zsock_destroy(&push); /* linger: the message goes out first */
    free(ep);
    printf("sent a return for %s claiming to be %s\n", a[5], a[4]);
    return 0;
}

static void subscribe(zsock_t *sub, const char *topic, size_t len)
{
    zmq_setsockopt(zsock_resolve(sub), ZMQ_SUBSCRIBE, topic, len);
}

/* snoop PKI CERT HOST PUB RET SECONDS OWN CLAIM [GOFILE] */
static int snoop(char **a, const char *gofile)
{
    mc_curve_keys_t me;
    unsigned char master[32];
    load_keys(a[0], "minion", &me);
    load_cert(a[1], master);
    const char *own = a[6], *claimed = a[7];
    char *pub_ep = mc_sprintf("tcp://%s:%s", a[2], a[3]);
    char *ret_ep = mc_sprintf("tcp://%s:%s", a[2], a[4]);
    zsock_t *sub = zsock_new(ZMQ_SUB);
    zsock_set_curve_serverkey_bin(sub, master);
    zsock_set_curve_publickey_bin(sub, me.pub);
    zsock_set_curve_secretkey_bin(sub, me.sec);
    zsock_set_linger(sub, 0);
    /* Its own topic (so that the master counts it as there), the one it
       claims, and every minion's. */
    char topic[MC_TOPIC_MAX];
    subscribe(sub, topic, mc_topic(topic, own));
    subscribe(sub, topic, mc_topic(topic, claimed));
    subscribe(sub, "m:", 2);
    if (zsock_connect(sub, "%s", pub_ep) != 0)
        die("cannot connect");
    zsock_t *push = curve_client(ZMQ_PUSH, &me, master, ret_ep);
    mc_heartbeat_t hb = {.uptime = 1};
    snprintf(hb.id, sizeof hb.id, "%s", claimed);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_heartbeat_pack(&sb, &hb);
    push_msg(push, MC_KIND_HELLO, &sb);
    msgpack_sbuffer_destroy(&sb);
    /* The claimed topic once more on the live connection (those made
       before it are sent once each when it comes up): the master hears of
       each subscription, but of a connection's end only once per topic. */
    zclock_sleep(1000);
    subscribe(sub, topic, mc_topic(topic, claimed));
    printf("connected, claiming to be %s\n", claimed);
    fflush(stdout);
    mc_seal_key_t seal;
    mc_seal_key(seal, master, me.sec);
    int received = 0, opened = 0;
    bool went = false;
    FILE *raw = fopen("snoop.raw", "wb");
    if (!raw)
        die("cannot write snoop.raw");
    int64_t end = zclock_mono() + atoi(a[5]) * 1000;
    zpoller_t *poller = zpoller_new(sub, NULL);
    while (zclock_mono() < end) {
        char *go = NULL;
        if (gofile && !went && mc_read_file(gofile, 64, &go, NULL, NULL) == 0) {
            /* Speak for the claimed id as the old key: grains and a
               return for the job named in the file. */
            go[strcspn(go, "\r\n")] = '\0';
            msgpack_sbuffer grains;
            msgpack_sbuffer_init(&grains);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &grains, msgpack_sbuffer_write);
            msgpack_pack_map(&pk, 1);
            mc_pk_kv_str(&pk, "marker", "stale");
            msgpack_sbuffer_init(&sb);
            mc_grains_pack(&sb, claimed, grains.data, grains.size);
            push_msg(push, MC_KIND_GRAINS, &sb);
            msgpack_sbuffer_destroy(&sb);
            msgpack_sbuffer_destroy(&grains);
            push_forged_return(push, claimed, go);
            printf("sent grains and a return for %s as %s\n", go, claimed);
            fflush(stdout);
            went = true;
        }
        free(go);
        if (!zpoller_wait(poller, 100))
            continue;
        zmsg_t *msg = zmsg_recv(sub);
        if (!msg)
            break;
        zmsg_first(msg); /* the topic */
        zframe_t *kind = zmsg_next(msg), *sealed = zmsg_next(msg);
        if (kind && zframe_streq(kind, MC_KIND_JOB) && sealed &&
            zframe_size(sealed) > MC_SEAL_OVERHEAD + crypto_sign_BYTES) {
            received++;
            fwrite(zframe_data(sealed), 1, zframe_size(sealed), raw);
            size_t len = zframe_size(sealed) - MC_SEAL_OVERHEAD;
            unsigned char *plain = mc_malloc(len + 1);
            mc_job_t job;
            mc_err_t err;
            if (mc_unseal(seal, zframe_data(sealed), zframe_size(sealed), plain) == 0 &&
                mc_job_decode(&job, plain + crypto_sign_BYTES, len - crypto_sign_BYTES, &err) ==
                    0) {
                opened++;
                printf("opened %s %s\n", job.jid, job.fun);
                mc_job_done(&job);
            } else {
                printf("could not open a job\n");
            }
            fflush(stdout);
            free(plain);
        }
        zmsg_destroy(&msg);
    }
    fclose(raw);
    printf("received %d opened %d\n", received, opened);
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    zsock_destroy(&push);
    free(pub_ep);
    free(ret_ep);
    return 0;
}

static int big(char **a)
{
    mc_curve_keys_t me;
    if (a[5])
        load_keys(a[5], "minion", &me);
    else
        crypto_box_keypair(me.pub, me.sec);
    /* Any key may knock on the registration port, but it must speak CURVE
       to the master's key: fetch nothing, take the key from the cert. */
    unsigned char master[32];
    load_cert(a[4], master);
    char *ep = mc_sprintf("tcp://%s:%s", a[0], a[1]);
    size_t bytes = (size_t)atol(a[2]);
    int count = atoi(a[3]);
    unsigned char *blob = mc_calloc(1, bytes);
    int sent = 0;
    for (int i = 0; i < count; i++) {
        /* The registration port is a ROUTER; the minion ports take a PUSH. */
        zsock_t *dealer = curve_client(a[5] ? ZMQ_PUSH : ZMQ_DEALER, &me, master, ep);
        zsock_set_linger(dealer, 2000);
        /* A peer the master turned away may leave nowhere to send. */
        zsock_set_sndtimeo(dealer, 5000);
        sent += zmq_send(zsock_resolve(dealer), blob, bytes, 0) >= 0;
        zsock_destroy(&dealer);
    }
    free(blob);
    free(ep);
    printf("sent %d of %d messages of %zu bytes\n", sent, count, bytes);
    return 0;
}

/* register HOST AUTH CERT PREFIX COUNT: COUNT new keys, ids PREFIX0..,
   each presented once on its own connection; prints how many were
   answered within 200 ms each. */
static int register_many(char **a)
{
    unsigned char master[32];
    load_cert(a[2], master);
    char *ep = mc_sprintf("tcp://%s:%s", a[0], a[1]);
    int count = atoi(a[4]), answered = 0;
    for (int i = 0; i < count; i++) {
        mc_curve_keys_t me;
        crypto_box_keypair(me.pub, me.sec);
        zsock_t *d = curve_client(ZMQ_DEALER, &me, master, ep);
        zsock_set_linger(d, 0);
        zsock_set_rcvtimeo(d, 200);
        char id[64];
        snprintf(id, sizeof id, "%s%d", a[3], i);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_register_pack(&sb, id, me.pub);
        zmq_send(zsock_resolve(d), sb.data, sb.size, 0);
        msgpack_sbuffer_destroy(&sb);
        zframe_t *f = zframe_recv(d);
        answered += f != NULL;
        zframe_destroy(&f);
        zsock_destroy(&d);
    }
    free(ep);
    printf("answered %d of %d\n", answered, count);
    return 0;
}

/* ---- a master of our own ---------------------------------------------- */

typedef struct {
    zsock_t *pub, *pull, *reg;
    char topic[MC_TOPIC_MAX]; /* the minion's */
    size_t topic_len;
    mc_curve_keys_t curve;
    mc_sign_keys_t sign;
    mc_seal_key_t seal;
} fake_t;

static void send_job(fake_t *f, const void *sealed, size_t len)
{
    void *s = zsock_resolve(f->pub);
    zmq_send(s, f->topic, f->topic_len, ZMQ_SNDMORE);
    zmq_send(s, MC_KIND_JOB, strlen(MC_KIND_JOB), ZMQ_SNDMORE);
    zmq_send(s, sealed, len, 0);
}

static zsock_t *curve_server(fake_t *f, int type, const char *port)
{
    zsock_t *s = zsock_new(type);
    zsock_set_curve_server(s, 1);
    zsock_set_curve_secretkey_bin(s, f->curve.sec);
    zsock_set_curve_publickey_bin(s, f->curve.pub);
    if (zsock_bind(s, "tcp://127.0.0.1:%s", port) < 0)
        die("cannot bind");
    return s;
}

static void publish(fake_t *f, const char *jid, int64_t ts, const char *command, bool bad_sig,
                    unsigned char *keep, size_t *keep_len)
{
    msgpack_sbuffer args;
    msgpack_sbuffer_init(&args);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &args, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    mc_pk_str(&pk, "a");
    msgpack_pack_array(&pk, 1);
    mc_pk_str(&pk, command);
    mc_mp_doc_t doc;
    mc_err_t err;
    if (mc_mp_parse(&doc, args.data, args.size, &err) != 0)
        die(err.msg);
    mc_job_spec_t spec = {.jid = jid,
                          .tgt_type = "glob",
                          .tgt = "*",
                          .fun = "cmd.run",
                          .user = "rogue",
                          .ts = ts,
                          .timeout = 30,
                          .arg = mc_mp_get(&doc.root, "a")};
    msgpack_sbuffer job;
    msgpack_sbuffer_init(&job);
    mc_job_pack(&job, &spec);
    /* As the master does: [signature][job], sealed. */
    size_t signed_len = crypto_sign_BYTES + job.size, len = signed_len + MC_SEAL_OVERHEAD;
    unsigned char *signed_job = mc_malloc(signed_len), *sealed = mc_malloc(len);
    mc_sign_keys_t other;
    const unsigned char *key = f->sign.sec;
    if (bad_sig) {
        crypto_sign_keypair(other.pub, other.sec);
        key = other.sec;
    }
    crypto_sign_detached(signed_job, NULL, (const unsigned char *)job.data, job.size, key);
    memcpy(signed_job + crypto_sign_BYTES, job.data, job.size);
    mc_seal(f->seal, signed_job, signed_len, sealed);
    send_job(f, sealed, len);
    if (keep) {
        memcpy(keep, sealed, len);
        *keep_len = len;
    }
    free(signed_job);
    free(sealed);
    msgpack_sbuffer_destroy(&job);
    msgpack_sbuffer_destroy(&args);
    mc_mp_doc_done(&doc);
}

/* Wait for the return of jid; prints it. */
static bool wait_return(fake_t *f, const char *jid, int ms)
{
    int64_t end = zclock_mono() + ms;
    zpoller_t *p = zpoller_new(f->pull, NULL);
    bool got = false;
    while (!got && zclock_mono() < end) {
        if (!zpoller_wait(p, (int)(end - zclock_mono())))
            continue;
        zmsg_t *msg = zmsg_recv(f->pull);
        zframe_t *kind = zmsg_first(msg), *body = zmsg_next(msg);
        mc_ret_t ret;
        mc_err_t err;
        if (kind && body && zframe_streq(kind, MC_KIND_RETURN) &&
            mc_ret_decode(&ret, zframe_data(body), zframe_size(body), &err) == 0) {
            printf("return %s success=%d\n", ret.jid, ret.success);
            got = strcmp(ret.jid, jid) == 0;
            mc_ret_done(&ret);
        }
        zmsg_destroy(&msg);
    }
    zpoller_destroy(&p);
    return got;
}

static int master(char **a)
{
    fake_t f;
    load_keys(a[0], "master", &f.curve);
    crypto_sign_keypair(f.sign.pub, f.sign.sec);
    f.pub = curve_server(&f, ZMQ_XPUB, a[1]);
    f.pull = curve_server(&f, ZMQ_PULL, a[2]);
    f.reg = curve_server(&f, ZMQ_ROUTER, a[3]);
    const char *command = a[5];
    printf("listening\n");
    fflush(stdout);

    /* Registration: accept whatever key the minion presents. */
    zpoller_t *p = zpoller_new(f.reg, NULL);
    if (!zpoller_wait(p, 20000))
        die("no registration within 20 s");
    zpoller_destroy(&p);
    zmsg_t *msg = zmsg_recv(f.reg);
    zframe_t *route = zmsg_pop(msg), *body = zmsg_pop(msg);
    mc_register_t reg;
    mc_err_t err;
    if (!route || !body || mc_register_decode(&reg, zframe_data(body), zframe_size(body), &err))
        die("bad registration");
    mc_seal_key(f.seal, reg.pub, f.curve.sec);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_register_reply_pack(&sb, "accepted", f.sign.pub);
    zframe_send(&route, f.reg, ZFRAME_MORE);
    zmq_send(zsock_resolve(f.reg), sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
    zframe_destroy(&body);
    zmsg_destroy(&msg);

    /* The minion is there once it has subscribed to its topic. */
    f.topic_len = mc_topic(f.topic, reg.id);
    p = zpoller_new(f.pub, NULL);
    if (!zpoller_wait(p, 20000))
        die("the minion did not subscribe within 20 s");
    zpoller_destroy(&p);
    zframe_t *subscription = zframe_recv(f.pub);
    if (!subscription || zframe_size(subscription) != f.topic_len + 1 ||
        memcmp(zframe_data(subscription) + 1, f.topic, f.topic_len) != 0)
        die("the minion subscribed to something else than its topic");
    zframe_destroy(&subscription);

    int64_t now = (int64_t)time(NULL);
    char jid[MC_JID_LEN + 1];
    int64_t last = 0;
    unsigned char replay[65536];
    size_t replay_len = 0;
    mc_jid_next(jid, mc_wall_us(), &last, 0);
    publish(&f, jid, now, command, true, NULL, NULL);
    printf("sent %s with a bad signature\n", jid);
    mc_jid_next(jid, mc_wall_us() + 1000, &last, 0);
    publish(&f, jid, now, command, false, replay, &replay_len);
    printf("sent %s signed\n", jid);
    if (!wait_return(&f, jid, 20000))
        die("no return for the signed job");
    send_job(&f, replay, replay_len);
    printf("sent %s again (replay)\n", jid);
    mc_jid_next(jid, mc_wall_us() + 2000, &last, 0);
    publish(&f, jid, now - 3600, command, false, NULL, NULL);
    printf("sent %s an hour old\n", jid);
    wait_return(&f, jid, 5000);
    mc_jid_next(jid, mc_wall_us() + 3000, &last, 0);
    publish(&f, jid, now, command, false, NULL, NULL);
    printf("sent %s signed\n", jid);
    if (!wait_return(&f, jid, 20000))
        die("no return for the last signed job");
    zsock_destroy(&f.pub);
    zsock_destroy(&f.pull);
    zsock_destroy(&f.reg);
    return 0;
}

/* A client that says it is someone else: a publish request naming USER,
   sent to the master's client socket; prints the reply's jid. */
/* One request to the master's client socket at path; its reply. */
static zmsg_t *ask_master(const char *path, msgpack_sbuffer *sb)
{
    zsock_t *c = zsock_new(ZMQ_DEALER);
    zsock_set_linger(c, 0);
    zsock_set_rcvtimeo(c, 10000);
    if (zsock_connect(c, "ipc://%s", path) != 0)
        die("cannot connect");
    zmq_send(zsock_resolve(c), sb->data, sb->size, 0);
    msgpack_sbuffer_destroy(sb);
    zmsg_t *reply = zmsg_recv(c);
    if (!reply)
        die("no reply");
    zsock_destroy(&c);
    return reply;
}

static int lie(char **a)
{
    client_target_t t = {a[1], "glob", 0};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    client_pack_publish(&sb, &t, a[2], 0, NULL, 10, a[3]);
    zmsg_t *reply = ask_master(a[0], &sb);
    zframe_t *body = zmsg_last(reply);
    mc_reply_targets_t r;
    mc_err_t err;
    if (mc_reply_publish_decode(&r, zframe_data(body), zframe_size(body), &err) != 0 || !r.jid[0])
        die("bad reply");
    printf("%s\n", r.jid);
    mc_reply_targets_done(&r);
    zmsg_destroy(&reply);
    return 0;
}

/* preseed SOCKET ID: ask the master to accept a fresh random key for ID;
   print "accepted" or the master's refusal. */
static int preseed(char **a)
{
    unsigned char pub[32];
    randombytes_buf(pub, sizeof pub);
    char z85[MC_Z85_KEY_LEN + 1];
    mc_z85_key(pub, z85);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_preseed_pack(&sb, a[1], z85);
    zmsg_t *reply = ask_master(a[0], &sb);
    zframe_t *body = zmsg_last(reply);
    mc_reply_status_t st;
    mc_err_t err;
    if (mc_reply_status_decode(&st, zframe_data(body), zframe_size(body), &err) != 0)
        die("bad reply");
    printf("%s\n", st.ok ? "accepted" : st.error);
    zmsg_destroy(&reply);
    return st.ok ? 0 : 1;
}

static int as_user(char **a)
{
    msgpack_sbuffer inner, sb;
    msgpack_sbuffer_init(&inner);
    msgpack_sbuffer_init(&sb);
    mc_req_publish_spec_t spec = {
        .target = {a[2], "glob", 0}, .fun = a[3], .timeout = 10, .user = a[1]};
    mc_request_publish_pack(&inner, &spec);
    mc_request_as_pack(&sb, a[1], &inner);
    msgpack_sbuffer_destroy(&inner);
    zmsg_t *reply = ask_master(a[0], &sb);
    zframe_t *body = zmsg_last(reply);
    mc_reply_targets_t t;
    mc_err_t err;
    int rc = mc_reply_publish_decode(&t, zframe_data(body), zframe_size(body), &err);
    printf("%s\n", rc == 0 ? t.jid : err.msg);
    if (rc == 0)
        mc_reply_targets_done(&t);
    zmsg_destroy(&reply);
    return rc == 0 ? 0 : 1;
}

static int cpinject(char **a)
{
    zsock_t *c = zsock_new(ZMQ_DEALER);
    zsock_set_linger(c, 0);
    zsock_set_rcvtimeo(c, 2000);
    if (zsock_connect(c, "ipc://%s", a[0]) != 0)
        die("cannot connect");
    int64_t seq = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_chunk_part_t part = {.data = (const unsigned char *)"INJECTED", .len = 8};
        mc_chunk_spec_t chunk = {.jid = a[1], .seq = seq, .nparts = 1, .parts = &part};
        mc_request_cp_chunk_pack(&sb, &chunk);
        zmq_send(zsock_resolve(c), sb.data, sb.size, 0);
        msgpack_sbuffer_destroy(&sb);
        zmsg_t *reply = zmsg_recv(c);
        if (!reply) {
            printf("accepted\n");
            zsock_destroy(&c);
            return 0;
        }
        zframe_t *body = zmsg_last(reply);
        mc_cpack_t ack;
        mc_err_t err;
        if (mc_cpack_decode(&ack, zframe_data(body), zframe_size(body), &err) != 0)
            die("bad reply");
        const char *expected = strstr(ack.error, "expected chunk ");
        if (attempt == 1 || !expected) {
            printf("%s\n", ack.error);
            mc_cpack_done(&ack);
            zmsg_destroy(&reply);
            break;
        }
        seq = strtoll(expected + strlen("expected chunk "), NULL, 10);
        mc_cpack_done(&ack);
        zmsg_destroy(&reply);
    }
    zsock_destroy(&c);
    return 0;
}

static int cpbad(char **a)
{
    zsock_t *c = zsock_new(ZMQ_DEALER);
    zsock_set_linger(c, 0);
    zsock_set_rcvtimeo(c, 10000);
    if (zsock_connect(c, "ipc://%s", a[0]) != 0)
        die("cannot connect");
    mc_cp_file_t file = {.name = "bad.txt", .size = 5, .mode = 0644};
    crypto_generichash(file.hash, sizeof file.hash, (const unsigned char *)"hello", 5, NULL, 0);
    mc_cp_manifest_t m = {.dest = a[2], .into = true, .mode = -1, .count = 1, .files = &file};
    mc_req_target_spec_t t = {a[1], "glob", 0};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_cp_start_pack(&sb, &t, &m, 10, "rogue");
    zmq_send(zsock_resolve(c), sb.data, sb.size, 0);
    msgpack_sbuffer_clear(&sb);
    char jid[MC_JID_LEN + 1] = "";
    bool sent = false;
    for (zmsg_t *msg; (msg = zmsg_recv(c)); zmsg_destroy(&msg)) {
        char *kind = zframe_strdup(zmsg_first(msg));
        zframe_t *body = zmsg_last(msg);
        mc_err_t err;
        if (strcmp(kind, MC_KIND_REPLY) == 0) {
            mc_reply_targets_t r;
            if (mc_reply_publish_decode(&r, zframe_data(body), zframe_size(body), &err) != 0 ||
                !r.jid[0])
                die("copy refused");
            snprintf(jid, sizeof jid, "%s", r.jid);
            mc_reply_targets_done(&r);
        } else if (strcmp(kind, MC_KIND_CPACK) == 0 && !sent && jid[0]) {
            mc_chunk_part_t part = {.data = (const unsigned char *)"HELLO", .len = 5};
            mc_chunk_spec_t chunk = {.jid = jid, .seq = 0, .nparts = 1, .parts = &part};
            mc_request_cp_chunk_pack(&sb, &chunk);
            zmq_send(zsock_resolve(c), sb.data, sb.size, 0);
            msgpack_sbuffer_clear(&sb);
            sent = true;
        } else if (strcmp(kind, MC_KIND_RETURN) == 0) {
            mc_ret_t ret;
            if (mc_ret_decode(&ret, zframe_data(body), zframe_size(body), &err) != 0)
                die("bad return");
            mc_json_value(stdout, ret.ret, 0);
            printf("\n");
            mc_ret_done(&ret);
            free(kind);
            zmsg_destroy(&msg);
            break;
        }
        free(kind);
    }
    msgpack_sbuffer_destroy(&sb);
    zsock_destroy(&c);
    return 0;
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    if (sodium_init() < 0)
        die("libsodium");
    if (argc == 8 && strcmp(argv[1], "claim") == 0)
        return claim(argv + 2);
    if ((argc == 10 || argc == 11) && strcmp(argv[1], "snoop") == 0)
        return snoop(argv + 2, argc == 11 ? argv[10] : NULL);
    if ((argc == 7 || argc == 8) && strcmp(argv[1], "big") == 0)
        return big(argv + 2);
    if (argc == 8 && strcmp(argv[1], "master") == 0)
        return master(argv + 2);
    if (argc == 7 && strcmp(argv[1], "register") == 0)
        return register_many(argv + 2);
    if (argc == 4 && strcmp(argv[1], "preseed") == 0)
        return preseed(argv + 2);
    if (argc == 5 && strcmp(argv[1], "cpbad") == 0)
        return cpbad(argv + 2);
    if (argc == 4 && strcmp(argv[1], "cpinject") == 0)
        return cpinject(argv + 2);
    if (argc == 6 && strcmp(argv[1], "as") == 0)
        return as_user(argv + 2);
    if (argc == 6 && strcmp(argv[1], "lie") == 0)
        return lie(argv + 2);
    fprintf(stderr, "usage: see the comment at the top of tests/tools/rogue.c\n");
    return 64;
}
