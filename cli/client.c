/*  client - see client.h. */
#include "client.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "wire.h"

int client_open(client_t *c, const char *config_dir, mc_err_t *err)
{
    memset(c, 0, sizeof *c);
    c->conn.fd = -1;
    mc_master_config_t cfg;
    if (mc_master_config_load(&cfg, config_dir, err) != 0)
        return -1;
    c->path = mc_sprintf("%s/master.ipc", cfg.sock_dir);
    mc_master_config_free(&cfg);
    struct stat st;
    if (stat(c->path, &st) != 0) {
        if (errno == EACCES)
            mc_err_set(err,
                       "cannot reach the master: permission denied on %s (run mctl as the "
                       "user the master runs as)",
                       c->path);
        else
            mc_err_set(err,
                       "cannot reach the master: %s does not exist (is mctl-master running? "
                       "is the config folder %s right?)",
                       c->path, config_dir);
        client_close(c);
        return -1;
    }
    if (access(c->path, R_OK | W_OK) != 0) {
        mc_err_set(err,
                   "cannot reach the master: permission denied on %s (run mctl as the user "
                   "the master runs as)",
                   c->path);
        client_close(c);
        return -1;
    }
    if (zmtp_connect(&c->conn, c->path, MC_MAX_RETURN_MSG + 1024, 10000, err) != 0) {
        client_close(c);
        return -1;
    }
    return 0;
}

void client_close(client_t *c)
{
    zmtp_close(&c->conn);
    free(c->path);
    c->path = NULL;
}

int client_next(client_t *c, char kind[16], zmtp_frame_t **body, int timeout_ms)
{
    for (;;) {
        zmtp_frame_t *f[2] = {NULL, NULL};
        mc_err_t err;
        int n = zmtp_recv(&c->conn, f, 2, timeout_ms, &err);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (n != 2) {
            zmtp_frame_free(&f[0]);
            zmtp_frame_free(&f[1]);
            continue;
        }
        size_t k = f[0]->size < 15 ? f[0]->size : 15;
        memcpy(kind, f[0]->data, k);
        kind[k] = '\0';
        zmtp_frame_free(&f[0]);
        *body = f[1];
        return 1;
    }
}

int client_send(client_t *c, const msgpack_sbuffer *req, mc_err_t *err)
{
    return zmtp_send(&c->conn, req->data, req->size, err);
}

int client_call(client_t *c, const msgpack_sbuffer *req, mc_mp_doc_t *reply, int timeout_ms,
                mc_err_t *err)
{
    if (client_send(c, req, err) != 0)
        return -1;
    int64_t deadline = mc_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - mc_mono_ms();
        char kind[16];
        zmtp_frame_t *body = NULL;
        int rc = left > 0 ? client_next(c, kind, &body, (int)left) : 0;
        if (rc <= 0) {
            mc_err_set(err,
                       rc < 0 ? "interrupted"
                              : "the master at %s did not answer within %d s (is it running?)",
                       c->path, timeout_ms / 1000);
            return -1;
        }
        if (strcmp(kind, "reply") != 0) {
            zmtp_frame_free(&body);
            continue;
        }
        int prc = mc_mp_parse(reply, body->data, body->size, err);
        zmtp_frame_free(&body);
        if (prc != 0) {
            mc_err_prefix(err, "bad answer from the master");
            return -1;
        }
        const msgpack_object *ok = mc_mp_get(&reply->root, "ok");
        if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
            char msg[400] = "the master refused the request";
            mc_mp_str_opt(&reply->root, "error", msg, sizeof msg, NULL);
            mc_err_set(err, "%s", msg);
            mc_mp_doc_done(reply);
            return -1;
        }
        return 0;
    }
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

static void pack_target(msgpack_packer *pk, const client_target_t *t)
{
    mc_pk_kv_str(pk, "tgt", t->tgt);
    mc_pk_kv_str(pk, "tgt_type", t->tgt_type);
    char delim[2] = {t->delimiter ? t->delimiter : ':', '\0'};
    mc_pk_kv_str(pk, "delimiter", delim);
}

void client_pack_publish(msgpack_sbuffer *sb, const client_target_t *target, const char *fun,
                         int argc, char *const *argv, int timeout, const char *user)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int nkw = 0;
    for (int i = 0; i < argc; i++)
        nkw += is_kwarg(argv[i]);
    msgpack_pack_map(&pk, 10);
    mc_pk_kv_int(&pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_str(&pk, "cmd", "publish");
    pack_target(&pk, target);
    mc_pk_kv_str(&pk, "fun", fun);
    mc_pk_str(&pk, "arg");
    msgpack_pack_array(&pk, (size_t)(argc - nkw));
    for (int i = 0; i < argc; i++)
        if (!is_kwarg(argv[i]))
            mc_pk_str(&pk, argv[i]);
    mc_pk_str(&pk, "kwarg");
    msgpack_pack_map(&pk, (size_t)nkw);
    for (int i = 0; i < argc; i++) {
        if (!is_kwarg(argv[i]))
            continue;
        const char *eq = strchr(argv[i], '=');
        mc_pk_strn(&pk, argv[i], (size_t)(eq - argv[i]));
        mc_pk_str(&pk, eq + 1);
    }
    mc_pk_kv_int(&pk, "timeout", timeout);
    mc_pk_kv_str(&pk, "user", user);
}

void client_pack_list_targets(msgpack_sbuffer *sb, const client_target_t *target)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    mc_pk_kv_int(&pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_str(&pk, "cmd", "list_targets");
    pack_target(&pk, target);
}

void client_pack_jid_request(msgpack_sbuffer *sb, const char *cmd, const char *jid)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    mc_pk_kv_int(&pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_str(&pk, "cmd", cmd);
    mc_pk_kv_str(&pk, "jid", jid);
}

void client_pack_simple(msgpack_sbuffer *sb, const char *cmd)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mc_pk_kv_int(&pk, "v", MC_PROTO_VERSION);
    mc_pk_kv_str(&pk, "cmd", cmd);
}

int client_request(const char *config_dir, const msgpack_sbuffer *req, mc_mp_doc_t *reply,
                   int timeout_ms)
{
    client_t c;
    mc_err_t err;
    if (client_open(&c, config_dir, &err) != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return 69;
    }
    int rc = client_call(&c, req, reply, timeout_ms, &err);
    client_close(&c);
    if (rc != 0) {
        fprintf(stderr, "mctl: %s\n", err.msg);
        return strstr(err.msg, "did not answer") ? 69 : 1;
    }
    return 0;
}
