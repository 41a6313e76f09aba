/*  mctl-test-rogue - a hostile peer for the security tests: it speaks the
    real protocol with real keys and tries what an attacker on the network,
    or an accepted but malicious minion, would try.

      claim PKI CERT HOST PORT ID JID
          with the minion keys in PKI, push a return that claims to come
          from minion ID (for job JID) to the master's return port
      snoop PKI CERT HOST PORT SECONDS
          with an accepted minion's keys, subscribe to every topic ("m:")
          and try to open each job: prints "received N opened M" and, per
          job, its topic; the payloads as they came go to ./snoop.raw
      big HOST PORT BYTES COUNT CERT
          connect to the registration port (which takes any CURVE client)
          and send COUNT messages of BYTES each
      master PKI PUB RET AUTH ID COMMAND
          act as a master (keys in PKI) for one minion ID: accept it, then
          publish COMMAND (cmd.run) with a bad signature, validly, replayed,
          with an old timestamp, and validly again; prints what came back

    CERT is the master's public certificate (pki_dir/master.cert). */
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"
#include "keys.h"
#include "wire.h"

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

static int claim(char **a)
{
    mc_curve_keys_t me;
    unsigned char master[32];
    load_keys(a[0], "minion", &me);
    load_cert(a[1], master);
    char *ep = mc_sprintf("tcp://%s:%s", a[2], a[3]);
    zsock_t *push = curve_client(ZMQ_PUSH, &me, master, ep);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_ret_pack_error(&sb, a[5], a[4], "test.ping", 0, "forged");
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, MC_KIND_RETURN);
    zmsg_addmem(msg, sb.data, sb.size);
    int rc = zmsg_send(&msg, push);
    msgpack_sbuffer_destroy(&sb);
    zsock_destroy(&push); /* linger: the message goes out first */
    free(ep);
    printf("sent a return for %s claiming to be %s\n", a[5], a[4]);
    return rc == 0 ? 0 : 1;
}

static int snoop(char **a)
{
    mc_curve_keys_t me;
    unsigned char master[32];
    load_keys(a[0], "minion", &me);
    load_cert(a[1], master);
    char *ep = mc_sprintf("tcp://%s:%s", a[2], a[3]);
    zsock_t *sub = curve_client(ZMQ_SUB, &me, master, ep);
    zsock_set_subscribe(sub, "m:");
    mc_seal_key_t seal;
    mc_seal_key(seal, master, me.sec);
    int received = 0, opened = 0;
    FILE *raw = fopen("snoop.raw", "wb");
    if (!raw)
        die("cannot write snoop.raw");
    int64_t end = zclock_mono() + atoi(a[4]) * 1000;
    zpoller_t *poller = zpoller_new(sub, NULL);
    while (zclock_mono() < end) {
        if (!zpoller_wait(poller, (int)(end - zclock_mono())))
            continue;
        zmsg_t *msg = zmsg_recv(sub);
        if (!msg)
            break;
        zframe_t *topic = zmsg_first(msg), *sealed = zmsg_next(msg);
        if (sealed && !zframe_streq(sealed, MC_KIND_STORED) &&
            zframe_size(sealed) > MC_SEAL_OVERHEAD) {
            received++;
            fwrite(zframe_data(sealed), 1, zframe_size(sealed), raw);
            unsigned char *plain = mc_malloc(zframe_size(sealed));
            if (mc_unseal(seal, zframe_data(sealed), zframe_size(sealed), plain) == 0)
                opened++;
            free(plain);
            printf("job for %.*s\n", (int)zframe_size(topic) - 1, (char *)zframe_data(topic));
            fflush(stdout);
        }
        zmsg_destroy(&msg);
    }
    fclose(raw);
    printf("received %d opened %d\n", received, opened);
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    free(ep);
    return 0;
}

static int big(char **a)
{
    mc_curve_keys_t me;
    crypto_box_keypair(me.pub, me.sec);
    /* Any key may knock on the registration port, but it must speak CURVE
       to the master's key: fetch nothing, take the key from the cert. */
    unsigned char master[32];
    load_cert(a[4], master);
    char *ep = mc_sprintf("tcp://%s:%s", a[0], a[1]);
    size_t bytes = (size_t)atol(a[2]);
    int count = atoi(a[3]);
    unsigned char *blob = mc_calloc(1, bytes);
    for (int i = 0; i < count; i++) {
        zsock_t *dealer = curve_client(ZMQ_DEALER, &me, master, ep);
        zsock_set_linger(dealer, 2000);
        zmq_send(zsock_resolve(dealer), blob, bytes, 0);
        zsock_destroy(&dealer);
    }
    free(blob);
    free(ep);
    printf("sent %d messages of %zu bytes\n", count, bytes);
    return 0;
}

/* ---- a master of our own ---------------------------------------------- */

typedef struct {
    zsock_t *pub, *pull, *reg;
    mc_curve_keys_t curve;
    mc_sign_keys_t sign;
    char topic[MC_ID_MAX + 4];
    size_t topic_len;
    mc_seal_key_t seal;
} fake_t;

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
    size_t len = job.size + MC_SEAL_OVERHEAD;
    unsigned char *sealed = mc_malloc(len);
    mc_seal(f->seal, job.data, job.size, sealed);
    unsigned char sig[crypto_sign_BYTES];
    if (bad_sig) {
        mc_sign_keys_t other;
        crypto_sign_keypair(other.pub, other.sec);
        crypto_sign_detached(sig, NULL, sealed, len, other.sec);
    } else {
        crypto_sign_detached(sig, NULL, sealed, len, f->sign.sec);
    }
    void *s = zsock_resolve(f->pub);
    zmq_send(s, f->topic, f->topic_len, ZMQ_SNDMORE);
    zmq_send(s, sealed, len, ZMQ_SNDMORE);
    zmq_send(s, sig, sizeof sig, 0);
    if (keep) {
        memcpy(keep, sealed, len);
        memcpy(keep + len, sig, sizeof sig);
        *keep_len = len;
    }
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
    f.topic_len = (size_t)snprintf(f.topic, sizeof f.topic, "m:%s", a[4]) + 1;
    const char *command = a[5];

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

    /* Wait until the minion subscribed to its topic. */
    p = zpoller_new(f.pub, NULL);
    bool subscribed = false;
    while (!subscribed && zpoller_wait(p, 20000)) {
        zframe_t *s = zframe_recv(f.pub);
        subscribed = s && zframe_size(s) > 0 && zframe_data(s)[0] == 1;
        zframe_destroy(&s);
    }
    zpoller_destroy(&p);
    if (!subscribed)
        die("the minion did not subscribe within 20 s");

    int64_t now = (int64_t)time(NULL);
    char jid[MC_JID_LEN + 1];
    int64_t last = 0;
    unsigned char replay[65536];
    size_t replay_len = 0;
    mc_jid_next(jid, mc_wall_us(), &last);
    publish(&f, jid, now, command, true, NULL, NULL);
    printf("sent %s with a bad signature\n", jid);
    mc_jid_next(jid, mc_wall_us() + 1000, &last);
    publish(&f, jid, now, command, false, replay, &replay_len);
    printf("sent %s signed\n", jid);
    if (!wait_return(&f, jid, 20000))
        die("no return for the signed job");
    void *s = zsock_resolve(f.pub);
    zmq_send(s, f.topic, f.topic_len, ZMQ_SNDMORE);
    zmq_send(s, replay, replay_len, ZMQ_SNDMORE);
    zmq_send(s, replay + replay_len, crypto_sign_BYTES, 0);
    printf("sent %s again (replay)\n", jid);
    mc_jid_next(jid, mc_wall_us() + 2000, &last);
    publish(&f, jid, now - 3600, command, false, NULL, NULL);
    printf("sent %s an hour old\n", jid);
    wait_return(&f, jid, 5000);
    mc_jid_next(jid, mc_wall_us() + 3000, &last);
    publish(&f, jid, now, command, false, NULL, NULL);
    printf("sent %s signed\n", jid);
    if (!wait_return(&f, jid, 20000))
        die("no return for the last signed job");
    zsock_destroy(&f.pub);
    zsock_destroy(&f.pull);
    zsock_destroy(&f.reg);
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
    if (argc == 7 && strcmp(argv[1], "snoop") == 0)
        return snoop(argv + 2);
    if (argc == 7 && strcmp(argv[1], "big") == 0)
        return big(argv + 2);
    if (argc == 8 && strcmp(argv[1], "master") == 0)
        return master(argv + 2);
    fprintf(stderr, "usage: see the comment at the top of tests/tools/rogue.c\n");
    return 64;
}
