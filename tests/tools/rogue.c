/*  mctl-test-rogue - a hostile peer for the security tests: it speaks the
    real protocol with real keys and tries what an attacker on the network,
    or an accepted but malicious minion, would try.

      claim PKI CERT HOST PORT ID JID
          with the minion keys in PKI, send a return that claims to come
          from minion ID (for job JID) to the master's minion port
      snoop PKI CERT HOST PORT SECONDS ID
          with an accepted minion's keys, connect to the minion port, send
          a heartbeat that claims to be minion ID, and take every job that
          comes for SECONDS, answering none: prints "opened JID FUN" for each
          job it can open and "received N opened M" at the end; the payloads
          as they came go to ./snoop.raw
      big HOST PORT BYTES COUNT CERT [PKI]
          connect with a new key (the registration port takes any CURVE
          client), or with the minion keys in PKI, and send COUNT messages
          of BYTES each; prints how many left
      master PKI RET AUTH ID COMMAND
          act as a master (keys in PKI) for one minion ID: accept it, then
          send COMMAND (cmd.run) with a bad signature, validly, replayed,
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
    zsock_t *push = curve_client(ZMQ_DEALER, &me, master, ep);
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
    zsock_t *sub = curve_client(ZMQ_DEALER, &me, master, ep);
    mc_heartbeat_t hb = {.uptime = 1};
    snprintf(hb.id, sizeof hb.id, "%s", a[5]);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_heartbeat_pack(&sb, &hb);
    zmq_send(zsock_resolve(sub), MC_KIND_HEARTBEAT, strlen(MC_KIND_HEARTBEAT), ZMQ_SNDMORE);
    zmq_send(zsock_resolve(sub), sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
    printf("connected, claiming to be %s\n", a[5]);
    fflush(stdout);
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
        zframe_t *kind = zmsg_first(msg), *sealed = zmsg_next(msg);
        if (zframe_streq(kind, MC_KIND_JOB) && sealed &&
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
                fflush(stdout);
                mc_job_done(&job);
            }
            free(plain);
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
        zsock_t *dealer = curve_client(ZMQ_DEALER, &me, master, ep);
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

/* ---- a master of our own ---------------------------------------------- */

typedef struct {
    zsock_t *chan, *reg;
    zframe_t *route; /* the minion's connection */
    mc_curve_keys_t curve;
    mc_sign_keys_t sign;
    mc_seal_key_t seal;
} fake_t;

static void send_job(fake_t *f, const void *sealed, size_t len)
{
    void *s = zsock_resolve(f->chan);
    zmq_send(s, zframe_data(f->route), zframe_size(f->route), ZMQ_SNDMORE);
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
    zpoller_t *p = zpoller_new(f->chan, NULL);
    bool got = false;
    while (!got && zclock_mono() < end) {
        if (!zpoller_wait(p, (int)(end - zclock_mono())))
            continue;
        zmsg_t *msg = zmsg_recv(f->chan);
        zmsg_first(msg); /* the route */
        zframe_t *kind = zmsg_next(msg), *body = zmsg_next(msg);
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
    f.chan = curve_server(&f, ZMQ_ROUTER, a[1]);
    f.reg = curve_server(&f, ZMQ_ROUTER, a[2]);
    const char *command = a[4];

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

    /* The minion's first message (its grains) says where it is. */
    p = zpoller_new(f.chan, NULL);
    if (!zpoller_wait(p, 20000))
        die("the minion did not connect within 20 s");
    zpoller_destroy(&p);
    msg = zmsg_recv(f.chan);
    f.route = zmsg_pop(msg);
    zmsg_destroy(&msg);

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
    send_job(&f, replay, replay_len);
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
    zframe_destroy(&f.route);
    zsock_destroy(&f.chan);
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
    if (argc == 8 && strcmp(argv[1], "snoop") == 0)
        return snoop(argv + 2);
    if ((argc == 7 || argc == 8) && strcmp(argv[1], "big") == 0)
        return big(argv + 2);
    if (argc == 7 && strcmp(argv[1], "master") == 0)
        return master(argv + 2);
    fprintf(stderr, "usage: see the comment at the top of tests/tools/rogue.c\n");
    return 64;
}
