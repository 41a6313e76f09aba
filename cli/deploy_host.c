/*  deploy_host - one host of mctl deploy: what the master is asked (its
    keys and ports, a minion's key accepted, test.ping until it answers),
    and the steps of a deploy, a rollback and an uninstall on the host. */
#include "deploy.h"

/* ---- the master ---------------------------------------------------------- */

int deploy_master_info(deploy_t *d)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_plain_pack(&sb, MC_REQ_MASTER_KEY);
    client_frame_t *body;
    int rc = client_request(d->config_dir, &sb, &body, 10000);
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        return rc;
    mc_reply_master_key_t k;
    mc_err_t err;
    rc = mc_reply_master_key_decode(&k, body->data, body->size, &err);
    client_frame_free(&body);
    if (rc != 0)
        return client_reply_failed(&err);
    snprintf(d->master_pub, sizeof d->master_pub, "%s", k.pub);
    const char *iface = k.interface;
    d->publish_port = k.publish_port;
    d->ret_port = k.ret_port;
    d->auth_port = k.auth_port;
    if (d->master) {
        d->master_addr = mc_strdup(d->master);
    } else if (strcmp(iface, "0.0.0.0") == 0 || strcmp(iface, "::") == 0 ||
               strcmp(iface, "*") == 0) {
        return deploy_usage_error(
            "the master listens on %s: say with --master ADDR where minions reach "
            "it",
            iface);
    } else {
        d->master_addr = mc_strdup(iface);
    }
    for (const char *p = d->master_addr; *p; p++)
        if (!(*p == '.' || *p == '-' || *p == ':' || *p == '_' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return deploy_usage_error("--master: '%s' is not a host name or address",
                                      d->master_addr);
    return 0;
}

/* Accept the key deploy brought back for the host (pub, Z85), or, with
   no pub, forget the host's key. */
static int key_request(deploy_t *d, host_t *h, const char *pub)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (pub)
        mc_request_preseed_pack(&sb, h->id, pub);
    else
        mc_request_keys_pack(&sb, MC_REQ_KEY_DELETE, &h->id, 1, false, false);
    client_t c;
    mc_err_t err;
    client_frame_t *body = NULL;
    int rc = client_open(&c, d->config_dir, &err);
    if (rc == 0) {
        rc = client_ask(&c, &sb, &body, 10000, &err);
        client_close(&c);
    }
    msgpack_sbuffer_destroy(&sb);
    /* Deleting an id that has no key is no error: the master answers
       with nothing "changed". */
    if (rc == 0) {
        bool changed;
        mc_strs_t deleted;
        rc = pub ? mc_reply_preseed_decode(&changed, body->data, body->size, &err)
                 : mc_reply_keys_changed_decode(&deleted, body->data, body->size, &err);
        if (rc == 0 && !pub)
            mc_strs_free(&deleted);
        if (rc != 0 && err.code != MC_E_REFUSED)
            mc_err_prefix(&err, "bad answer");
        client_frame_free(&body);
    }
    if (rc != 0)
        deploy_host_fail(h, "master: %s", err.msg);
    return rc;
}

/* Publish test.ping to the one minion until it answers or time runs out. */
static int wait_for_ping(deploy_t *d, host_t *h, int64_t deadline_ms)
{
    client_t c;
    mc_err_t err;
    if (client_open(&c, d->config_dir, &err) != 0) {
        deploy_host_fail(h, "master: %s", err.msg);
        return -1;
    }
    client_target_t one = {h->id, "list", 0};
    bool answered = false;
    while (!answered && !deploy_interrupted && mc_mono_ms() < deadline_ms) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        client_pack_publish(&sb, &one, "test.ping", 0, NULL, 5, "deploy");
        int rc = client_send(&c, &sb, &err);
        msgpack_sbuffer_destroy(&sb);
        if (rc != 0) {
            /* The master cannot be reached (or went away): that, not
               the minion, is what to report. */
            client_close(&c);
            deploy_host_fail(h, "master: %s", err.msg);
            return -1;
        }
        /* A minion that has not connected yet misses this ping; ask
           again after a second. */
        int64_t round_end = mc_mono_ms() + 1000;
        for (int64_t now; !answered && (now = mc_mono_ms()) < round_end;) {
            char kind[16];
            client_frame_t *body = NULL;
            int got = client_next(&c, kind, &body, (int)(round_end - now));
            if (got < 0) {
                deploy_host_fail(h, "master: %s", c.why.msg);
                client_close(&c);
                return -1;
            }
            if (got == 0)
                continue;
            mc_ret_t ret;
            mc_reply_status_t st;
            if (strcmp(kind, MC_KIND_REPLY) == 0 &&
                mc_reply_status_decode(&st, body->data, body->size, &err) == 0 && !st.ok) {
                /* Refused (not permitted, or the master cannot): asking
                   again will not change that. */
                client_frame_free(&body);
                client_close(&c);
                deploy_host_fail(h, "master: %s", st.error);
                return -1;
            }
            if (strcmp(kind, "ret") == 0 &&
                mc_ret_decode(&ret, body->data, body->size, &err) == 0) {
                answered = strcmp(ret.id, h->id) == 0 && ret.success;
                mc_ret_done(&ret);
            }
            client_frame_free(&body);
        }
    }
    client_close(&c);
    if (!answered)
        deploy_host_fail(h, "the minion started but did not answer test.ping within %d s",
                         d->timeout);
    return answered ? 0 : -1;
}

/* ---- one host ------------------------------------------------------------ */

void deploy_host(deploy_t *d, host_t *h)
{
    int64_t deadline;
    ssh_session s = deploy_ssh_open(d, h);
    if (!s)
        return;
    remote_t r = {0};
    char arch[64], init[16], bin[80], pkg[80], conf[80], running[8], pub[64], free_bin[32],
        free_tmp[32], version[32], now_version[32];
    char *config = NULL, *dir = NULL;
    size_t config_len = 0;
    if (deploy_remote_action(s, h, "probe", NULL, deploy_sudo_pass(d, h), &r) != 0)
        goto out;
    deploy_field(r.out, "arch", arch, sizeof arch);
    deploy_field(r.out, "init", init, sizeof init);
    deploy_field(r.out, "bin", bin, sizeof bin);
    deploy_field(r.out, "pkg", pkg, sizeof pkg);
    deploy_field(r.out, "conf", conf, sizeof conf);
    deploy_field(r.out, "running", running, sizeof running);
    deploy_field(r.out, "pub", pub, sizeof pub);
    deploy_field(r.out, "free_bin", free_bin, sizeof free_bin);
    deploy_field(r.out, "free_tmp", free_tmp, sizeof free_tmp);
    deploy_field(r.out, "version", version, sizeof version);
    deploy_remote_done(&r);
    /* A package's architecture is dpkg's to check. */
    if (!d->package && !deploy_arch_compatible(d->binary_arch, arch)) {
        deploy_host_fail(h, "unsupported architecture: %s is %s, the minion binary is built for %s",
                         h->host, arch[0] ? arch : "unknown", d->binary_arch);
        goto out;
    }
    bool systemd = strcmp(init, "systemd") == 0;
    config = deploy_minion_config(d, h, systemd, &config_len);
    char config_sha[65];
    deploy_sha256_hex(config, config_len, config_sha);
    bool same_bin = strcmp(d->package ? pkg : bin, d->binary_sha) == 0;
    bool same_conf = strcmp(conf, config_sha) == 0;
    bool fresh = !bin[0] && !pkg[0];
    if (same_bin && same_conf && strcmp(running, "yes") == 0 && pub[0]) {
        h->result = "unchanged";
        snprintf(h->note, sizeof h->note, "%s", version);
        if (d->check)
            goto out;
    } else if (d->check) {
        /* --check: say what would change, change nothing. */
        h->result = fresh ? "would install" : "would update";
        if (!same_bin)
            snprintf(h->note, sizeof h->note, "%s%s%s", version, version[0] ? " -> " : "",
                     d->binary_version[0] ? d->binary_version : "(package)");
        else
            snprintf(h->note, sizeof h->note, "%s (%s)", version,
                     same_conf ? "restart" : "config changed");
        goto out;
    } else {
        long need = (long)(d->binary_len / 1024) + 64;
        if (!same_bin && (atol(free_bin) < need || atol(free_tmp) < need) && free_bin[0]) {
            deploy_host_fail(
                h,
                "no space on %s: %s KiB free in /usr/local/bin and %s KiB in /tmp, %ld KiB "
                "needed",
                h->host, free_bin, free_tmp, need);
            goto out;
        }
        dir = deploy_upload(d, s, h, !same_bin, config, config_len, systemd && !d->package);
        if (!dir || deploy_remote_action(s, h, "install", dir, deploy_sudo_pass(d, h), &r) != 0)
            goto out;
        deploy_field(r.out, "pub", pub, sizeof pub);
        deploy_field(r.out, "version", now_version, sizeof now_version);
        deploy_remote_done(&r);
        h->result = fresh ? "installed" : "updated";
        if (fresh || strcmp(version, now_version) == 0)
            snprintf(h->note, sizeof h->note, "%s", now_version);
        else
            snprintf(h->note, sizeof h->note, "%s -> %s", version, now_version);
    }
    unsigned char key[MC_KEY_LEN];
    if (mc_z85_key_decode(pub, key) != 0) {
        deploy_host_fail(h, "%s: the minion's public key did not come back", h->host);
        goto out;
    }
    /* The key came over this SSH session, from a host whose identity the
       host key proved: accept exactly it before the minion first calls. */
    if (key_request(d, h, pub) != 0)
        goto out;
    if (strcmp(h->result, "unchanged") != 0 &&
        deploy_remote_action(s, h, "start", systemd ? "systemd" : "none", deploy_sudo_pass(d, h),
                             &r) != 0)
        goto out;
    deploy_remote_done(&r);
    deadline = mc_mono_ms() + (int64_t)d->timeout * 1000;
    wait_for_ping(d, h, deadline);
out:
    deploy_remote_done(&r);
    free(config);
    free(dir);
    deploy_ssh_close(&s);
}

/* --rollback: put back the binary the last update replaced (kept on the
   host as mctl-minion.prev), restart the minion, wait for its answer. */
void deploy_rollback_host(deploy_t *d, host_t *h)
{
    ssh_session s = deploy_ssh_open(d, h);
    if (!s)
        return;
    remote_t r = {0};
    char version[32], prev[32], init[16], now_version[32];
    if (deploy_remote_action(s, h, "probe", NULL, deploy_sudo_pass(d, h), &r) != 0)
        goto out;
    deploy_field(r.out, "version", version, sizeof version);
    deploy_field(r.out, "prev", prev, sizeof prev);
    deploy_field(r.out, "init", init, sizeof init);
    deploy_remote_done(&r);
    if (!prev[0]) {
        deploy_host_fail(h, "%s: no previous mctl-minion is kept there (nothing was updated)",
                         h->host);
        goto out;
    }
    if (d->check) {
        h->result = "would roll back";
        snprintf(h->note, sizeof h->note, "%s -> %s", version, prev);
        goto out;
    }
    if (deploy_remote_action(s, h, "rollback", NULL, deploy_sudo_pass(d, h), &r) != 0)
        goto out;
    deploy_field(r.out, "version", now_version, sizeof now_version);
    deploy_remote_done(&r);
    if (deploy_remote_action(s, h, "start", strcmp(init, "systemd") == 0 ? "systemd" : "none",
                             deploy_sudo_pass(d, h), &r) != 0)
        goto out;
    deploy_remote_done(&r);
    h->result = "rolled back";
    snprintf(h->note, sizeof h->note, "%s -> %s", version, now_version);
    wait_for_ping(d, h, mc_mono_ms() + (int64_t)d->timeout * 1000);
out:
    deploy_remote_done(&r);
    deploy_ssh_close(&s);
}

void deploy_uninstall_host(deploy_t *d, host_t *h)
{
    ssh_session s = deploy_ssh_open(d, h);
    if (!s)
        return;
    remote_t r = {0};
    if (deploy_remote_action(s, h, "uninstall", NULL, deploy_sudo_pass(d, h), &r) == 0 &&
        key_request(d, h, NULL) == 0)
        h->result = "removed";
    deploy_remote_done(&r);
    deploy_ssh_close(&s);
}
