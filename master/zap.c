/*  zap - see zap.h. */
#include "zap.h"

#include <string.h>

#include "log.h"

zsock_t *zap_new(mc_err_t *err)
{
    zsock_t *zap = zsock_new(ZMQ_REP);
    if (zap)
        zsock_set_rcvtimeo(zap, 0); /* the loop drains it (server_run) */
    if (!zap || zsock_bind(zap, "inproc://zeromq.zap.01") != 0) {
        mc_err_set(err, "cannot bind the ZAP handler: %s", zmq_strerror(zmq_errno()));
        zsock_destroy(&zap);
        return NULL;
    }
    return zap;
}

static void reply(zsock_t *zap, zframe_t *version, zframe_t *request_id, const char *code,
                  const char *text, const char *user_id)
{
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &version);
    zmsg_append(msg, &request_id);
    zmsg_addstr(msg, code);
    zmsg_addstr(msg, text);
    zmsg_addstr(msg, user_id);
    zmsg_addmem(msg, NULL, 0);
    zmsg_send(&msg, zap);
}

bool zap_handle(zsock_t *zap, registry_t *registry, mc_log_limit_t *refused)
{
    zmsg_t *msg = zmsg_recv(zap);
    if (!msg)
        return false;
    /* version, request id, domain, address, identity, mechanism, key */
    zframe_t *version = zmsg_pop(msg);
    zframe_t *request_id = zmsg_pop(msg);
    char *domain = zmsg_popstr(msg);
    char *address = zmsg_popstr(msg);
    zframe_t *identity = zmsg_pop(msg);
    char *mechanism = zmsg_popstr(msg);
    zframe_t *key = zmsg_pop(msg);
    const char *code = "400", *text = "denied";
    char user[MC_ID_MAX + 1] = "";

    if (!version || !request_id || !domain || !mechanism || strcmp(mechanism, "CURVE") != 0 ||
        !key || zframe_size(key) != MC_KEY_LEN) {
        mc_warn("zap: refused a connection from %s: not a CURVE handshake",
                address ? address : "?");
    } else if (strcmp(domain, ZAP_DOMAIN_REGISTER) == 0) {
        mc_z85_key(zframe_data(key), user);
        code = "200";
        text = "OK";
    } else if (strcmp(domain, ZAP_DOMAIN_MINION) == 0) {
        mc_z85_key(zframe_data(key), user);
        if (registry_find_accepted_key(registry, zframe_data(key))) {
            code = "200";
            text = "OK";
        } else {
            mc_log_limited(refused, MC_LOG_WARNING,
                           "zap: refused a connection from %s: key %s is not accepted", address,
                           user);
            user[0] = '\0';
        }
    }
    if (version && request_id)
        reply(zap, version, request_id, code, text, user);
    else {
        zframe_destroy(&version);
        zframe_destroy(&request_id);
    }
    zframe_destroy(&identity);
    zframe_destroy(&key);
    zstr_free(&domain);
    zstr_free(&address);
    zstr_free(&mechanism);
    zmsg_destroy(&msg);
    return true;
}
