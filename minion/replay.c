/*  replay - see replay.h. */
#include "replay.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "jid.h"
#include "log.h"
#include "proto/proto.h"

struct _replay_t {
    zhashx_t *seen; /* jid -> nothing (the key is what matters) */
    int fd;
    int max_age_s;
};

static bool in_window(const replay_t *self, const char *jid)
{
    int64_t t = mc_jid_time_us(jid);
    return t >= 0 && t >= mc_wall_us() - (int64_t)self->max_age_s * 2 * 1000000;
}

replay_t *replay_new(const char *path, int max_age_s, mc_err_t *err)
{
    replay_t *self = mc_calloc(1, sizeof *self);
    self->seen = zhashx_new();
    self->max_age_s = max_age_s;
    self->fd = -1;
    char *text = NULL;
    size_t len = 0;
    if (access(path, F_OK) == 0 && mc_read_file(path, 64u << 20, &text, &len, err) != 0)
        goto fail;
    mc_buf_t keep = {0};
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (mc_jid_valid(line, strlen(line)) && in_window(self, line) &&
            zhashx_insert(self->seen, line, (void *)1) == 0) {
            mc_buf_append(&keep, line, strlen(line));
            mc_buf_append(&keep, "\n", 1);
        }
    }
    free(text);
    int rc = mc_write_file(path, keep.data ? keep.data : "", keep.len, 0600, err);
    mc_buf_free(&keep);
    if (rc != 0)
        goto fail;
    self->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (self->fd < 0) {
        mc_err_set(err, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    return self;
fail:
    replay_destroy(&self);
    return NULL;
}

void replay_destroy(replay_t **pself)
{
    replay_t *self = *pself;
    if (!self)
        return;
    zhashx_destroy(&self->seen);
    if (self->fd >= 0)
        close(self->fd);
    free(self);
    *pself = NULL;
}

bool replay_seen(replay_t *self, const char *jid)
{
    return zhashx_lookup(self->seen, jid) != NULL;
}

int replay_add(replay_t *self, const char *jid, mc_err_t *err)
{
    char line[MC_JID_LEN + 2];
    snprintf(line, sizeof line, "%s\n", jid);
    if (write(self->fd, line, MC_JID_LEN + 1) != MC_JID_LEN + 1) {
        mc_err_set(err, "cannot record job %s: %s", jid, strerror(errno));
        return -1;
    }
    zhashx_insert(self->seen, jid, (void *)1);
    return 0;
}

void replay_prune(replay_t *self)
{
    zlistx_t *old = zlistx_new();
    for (void *v = zhashx_first(self->seen); v; v = zhashx_next(self->seen)) {
        const char *jid = zhashx_cursor(self->seen);
        if (!in_window(self, jid))
            zlistx_add_end(old, (void *)jid);
    }
    for (const char *jid = zlistx_first(old); jid; jid = zlistx_next(old))
        zhashx_delete(self->seen, jid);
    zlistx_destroy(&old);
}
