/*  keyreq - the client requests about minions' keys: key list, key
    finger, the master's own key (for deploy), preseeding a key, and
    accepting, rejecting or deleting keys by glob, as salt-key does. Who
    may ask is clients.c's to check (root, the master's user, @keys, and
    @deploy for what deploy needs); the keys themselves are registry.c's. */
#include "master.h"

#include <string.h>

#include "target.h"

void keyreq_list(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    size_t n, nd;
    minion_t **all = registry_list(self->registry, &n);
    char **denied = registry_denied_list(self->registry, &nd);
    mc_reply_key_list_t list = {0};
    mc_strs_t *by_state[KEY_DENIED] = {[KEY_ACCEPTED] = &list.accepted,
                                       [KEY_PENDING] = &list.pending,
                                       [KEY_REJECTED] = &list.rejected};
    for (size_t i = 0; i < n; i++)
        if (all[i]->state < KEY_DENIED)
            mc_strs_add(by_state[all[i]->state], all[i]->id, strlen(all[i]->id));
    for (size_t i = 0; i < nd; i++)
        mc_strs_add(&list.denied, denied[i], strlen(denied[i]));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_key_list_pack(&sb, &list);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    mc_reply_key_list_done(&list);
    free(all);
    registry_denied_list_free(denied, nd);
}

static void finger_of(mc_key_finger_t *k, const char *id, const char *state,
                      const unsigned char *key)
{
    snprintf(k->id, sizeof k->id, "%s", id);
    snprintf(k->state, sizeof k->state, "%s", state);
    mc_fingerprint(key, k->finger);
}

void keyreq_finger(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    size_t n, nd, count = 0;
    minion_t **all = registry_list(self->registry, &n);
    char **denied = registry_denied_list(self->registry, &nd);
    mc_key_finger_t *keys = mc_calloc(2 + n + nd, sizeof *keys);
    finger_of(&keys[count++], "master.cert", "local", self->curve.pub);
    finger_of(&keys[count++], "master.sign", "local", self->sign.pub);
    for (size_t i = 0; i < n; i++)
        finger_of(&keys[count++], all[i]->id, key_state_name(all[i]->state), all[i]->pub);
    for (size_t i = 0; i < nd; i++)
        finger_of(&keys[count++], denied[i], "denied",
                  registry_denied_key(self->registry, denied[i]));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_key_finger_pack(&sb, keys, count);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
    free(keys);
    free(all);
    registry_denied_list_free(denied, nd);
}

/* What deploy writes into a minion's config: the master's public key and
   ports. */
void keyreq_master_key(master_t *self, zframe_t *route, const mc_request_t *req,
                       const caller_t *who)
{
    mc_reply_master_key_t k = {.publish_port = self->cfg->publish_port,
                               .ret_port = self->cfg->ret_port,
                               .auth_port = self->cfg->auth_port};
    mc_z85_key(self->curve.pub, k.pub);
    snprintf(k.interface, sizeof k.interface, "%s", self->cfg->interface);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_master_key_pack(&sb, &k);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* Deploy brings a minion's public key back over SSH: accept exactly it. */
void keyreq_preseed(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    mc_err_t err;
    const mc_req_preseed_t *p = &req->preseed;
    bool changed;
    /* @deploy adds minions: it may accept the key an install brought
       back for a new id (or one only pending), never put another key in
       place of one an operator accepted, rejected or denied. */
    minion_t *known = registry_find(self->registry, p->id);
    if (!(who->rights & ACL_RIGHT_KEYS) && known && known->state != KEY_PENDING &&
        memcmp(known->pub, p->pub, MC_KEY_LEN) != 0) {
        clients_reply_denied(self, route,
                             "user %s may not replace the %s key of %s: @deploy adds minions, "
                             "changing a key needs @keys",
                             who->user, key_state_name(known->state), p->id);
        return;
    }
    if (registry_preseed(self->registry, p->id, p->pub, &changed, &err) != 0) {
        clients_reply_error(self, route, "%s", err.msg);
        return;
    }
    minion_t *m = registry_find(self->registry, p->id);
    if (m && m->waiting) {
        minions_registration_reply(self, m->waiting, KEY_ACCEPTED);
        zframe_destroy(&m->waiting);
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    mc_reply_preseed_pack(&sb, changed);
    clients_reply(self, route, &sb);
    msgpack_sbuffer_destroy(&sb);
}

/* accept / reject / delete: ids are globs, as salt-key takes them. */
void keyreq_change(master_t *self, zframe_t *route, const mc_request_t *req, const caller_t *who)
{
    mc_err_t err;
    const mc_req_keys_t *k = &req->keys;
    size_t n, nd;
    minion_t **all = registry_list(self->registry, &n);
    char **denied = registry_denied_list(self->registry, &nd);
    mc_strs_t changed = {0};
    char failure[MC_REPLY_TEXT_MAX + 1] = "";
    bool is_delete = req->kind == MC_REQ_KEY_DELETE;
    /* Without @keys (that is, with @deploy) a delete names exact ids, as
       deploy does for the minions it removes: no glob, no sweep. */
    for (size_t p = 0; !(who->rights & ACL_RIGHT_KEYS) && p < k->ids.count; p++) {
        const char *id = k->ids.items[p];
        if (!mc_id_valid(id, strlen(id)) || strpbrk(id, "*?[")) {
            clients_reply_denied(self, route,
                                 "user %s may delete only keys named exactly, not '%s' (@deploy; "
                                 "globs need @keys)",
                                 who->user, id);
            free(all);
            registry_denied_list_free(denied, nd);
            return;
        }
    }

    for (size_t p = 0; p < k->ids.count; p++) {
        const char *pat = k->ids.items[p];
        for (size_t i = 0; i < n; i++) {
            minion_t *m = all[i];
            if (!m || !mc_target_match(pat, "glob", m->id, NULL))
                continue;
            key_state_t to = KEY_ACCEPTED;
            bool eligible;
            if (is_delete) {
                eligible = true;
            } else if (req->kind == MC_REQ_KEY_ACCEPT) {
                eligible =
                    m->state == KEY_PENDING || (k->include_rejected && m->state == KEY_REJECTED);
            } else {
                to = KEY_REJECTED;
                eligible =
                    m->state == KEY_PENDING || (k->include_accepted && m->state == KEY_ACCEPTED);
            }
            if (!eligible)
                continue;
            char id[MC_ID_MAX + 1];
            snprintf(id, sizeof id, "%s", m->id);
            int rc;
            if (is_delete) {
                rc = registry_delete(self->registry, id, &err);
                all[i] = NULL; /* freed */
            } else {
                rc = registry_set_state(self->registry, m, to, &err);
                if (rc == 0 && m->waiting) {
                    minions_registration_reply(self, m->waiting, to);
                    zframe_destroy(&m->waiting);
                }
            }
            if (rc == 0)
                mc_strs_add(&changed, id, strlen(id));
            else
                snprintf(failure, sizeof failure, "%s", err.msg);
        }
        if (is_delete) {
            for (size_t i = 0; i < nd; i++) {
                if (denied[i] && mc_target_match(pat, "glob", denied[i], NULL) &&
                    !registry_find(self->registry, denied[i])) {
                    char id[MC_ID_MAX + 1];
                    snprintf(id, sizeof id, "%s", denied[i]);
                    free(denied[i]);
                    denied[i] = NULL;
                    if (registry_delete(self->registry, id, &err) == 0)
                        mc_strs_add(&changed, id, strlen(id));
                }
            }
        }
    }
    if (failure[0]) {
        clients_reply_error(self, route, "%s", failure);
    } else {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        mc_reply_keys_changed_pack(&sb, &changed);
        clients_reply(self, route, &sb);
        msgpack_sbuffer_destroy(&sb);
    }
    mc_strs_free(&changed);
    free(all);
    registry_denied_list_free(denied, nd);
}
