/*  link - see link.h. */
#include "link.h"

#include <string.h>

int link_open(api_t *api, link_t *l, const char *user, mc_err_t *err)
{
    memset(l, 0, sizeof *l);
    snprintf(l->user, sizeof l->user, "%s", user);
    return client_open_at(&l->c, api->zctx, api->ipc_path, err);
}

void link_close(link_t *l)
{
    client_close(&l->c);
}

int link_ask(link_t *l, const msgpack_sbuffer *inner, client_frame_t **reply, int timeout_ms,
             mc_err_t *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_as_pack(&sb, l->user, inner);
    int rc = client_ask(&l->c, &sb, reply, timeout_ms, err);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int link_tell(link_t *l, const msgpack_sbuffer *inner, mc_err_t *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_request_as_pack(&sb, l->user, inner);
    int rc = client_send(&l->c, &sb, err);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int link_request(api_t *api, const char *user, const msgpack_sbuffer *inner, client_frame_t **reply,
                 mc_err_t *err)
{
    link_t l;
    if (link_open(api, &l, user, err) != 0)
        return -1;
    int rc = link_ask(&l, inner, reply, LINK_REPLY_MS, err);
    link_close(&l);
    return rc;
}

int link_http_status(const mc_err_t *err)
{
    switch (err->code) {
    case MC_E_DENIED:
        return 403;
    case MC_E_UNREACHABLE:
        return 503;
    default:
        return 400;
    }
}
