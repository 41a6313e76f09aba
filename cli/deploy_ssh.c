/*  deploy_ssh - mctl deploy's SSH: a session checked against
    known_hosts, commands on the host (the remote script's actions, with
    sudo where asked), and files sent over SFTP or, where the host offers
    none, over the exec channel with a checksum. */
#include "deploy.h"

/* ---- SSH ----------------------------------------------------------------- */

static int check_host_key(deploy_t *d, ssh_session s, host_t *h)
{
    ssh_key key = NULL;
    unsigned char *hash = NULL;
    size_t hlen;
    char *finger = NULL;
    if (ssh_get_server_publickey(s, &key) != SSH_OK ||
        ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0) {
        ssh_key_free(key);
        deploy_host_fail(h, "%s: cannot read the host key: %s", h->host, ssh_get_error(s));
        return -1;
    }
    finger = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(key);
    int rc = -1;
    switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
        rc = 0;
        break;
    case SSH_KNOWN_HOSTS_CHANGED:
        deploy_host_fail(
            h,
            "host key of %s CHANGED (now %s): refused; if the host was reinstalled, remove "
            "the old key with ssh-keygen -R %s",
            h->host, finger, h->host);
        break;
    case SSH_KNOWN_HOSTS_OTHER:
        deploy_host_fail(h,
                         "host key of %s is of another type than the one known (now %s): refused",
                         h->host, finger);
        break;
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
        if (!d->accept_new) {
            deploy_host_fail(h, "host key of %s is not known (%s): check it, then use --accept-new",
                             h->host, finger);
            break;
        }
        pthread_mutex_lock(&d->lock);
        rc = ssh_session_update_known_hosts(s) == SSH_OK ? 0 : -1;
        pthread_mutex_unlock(&d->lock);
        if (rc != 0)
            deploy_host_fail(h, "cannot add the host key of %s to known_hosts: %s", h->host,
                             ssh_get_error(s));
        break;
    default:
        deploy_host_fail(h, "cannot check the host key of %s: %s", h->host, ssh_get_error(s));
        break;
    }
    ssh_string_free_char(finger);
    return rc;
}

static int authenticate(ssh_session s, host_t *h)
{
    int rc;
    if (h->priv) {
        ssh_key key = NULL;
        if (ssh_pki_import_privkey_file(h->priv, h->priv_passwd, NULL, NULL, &key) != SSH_OK) {
            deploy_host_fail(h, "cannot read the private key %s", h->priv);
            return -1;
        }
        rc = ssh_userauth_publickey(s, NULL, key);
        ssh_key_free(key);
    } else if (h->passwd) {
        rc = ssh_userauth_password(s, NULL, h->passwd);
    } else {
        rc = ssh_userauth_publickey_auto(s, NULL, NULL);
    }
    if (rc == SSH_AUTH_SUCCESS)
        return 0;
    if (rc == SSH_AUTH_ERROR)
        deploy_host_fail(h, "%s: %s", h->host, ssh_get_error(s));
    else
        deploy_host_fail(h, "authentication refused for %s@%s (%s)", h->user, h->host,
                         h->priv     ? "key"
                         : h->passwd ? "password"
                                     : "ssh-agent and default keys");
    return -1;
}

ssh_session deploy_ssh_open(deploy_t *d, host_t *h)
{
    ssh_session s = ssh_new();
    long timeout = SSH_TIMEOUT_S;
    ssh_options_set(s, SSH_OPTIONS_HOST, h->host);
    ssh_options_set(s, SSH_OPTIONS_PORT, &h->port);
    ssh_options_set(s, SSH_OPTIONS_USER, h->user);
    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
    if (d->known_hosts)
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, d->known_hosts);
    if (ssh_connect(s) != SSH_OK) {
        deploy_host_fail(h, "unreachable: %s", ssh_get_error(s));
        ssh_free(s);
        return NULL;
    }
    if (check_host_key(d, s, h) != 0 || authenticate(s, h) != 0) {
        ssh_disconnect(s);
        ssh_free(s);
        return NULL;
    }
    return s;
}

void deploy_ssh_close(ssh_session *s)
{
    if (*s) {
        ssh_disconnect(*s);
        ssh_free(*s);
        *s = NULL;
    }
}

void deploy_remote_done(remote_t *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    if (*len + n > 1 << 20)
        return; /* the remote side has no reason to say this much */
    *buf = mc_realloc(*buf, *len + n + 1);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Run a command on the host with in_len bytes of in as its input. */
static int remote_exec(ssh_session s, const char *cmd, const void *in, size_t in_len, remote_t *r,
                       host_t *h)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    ssh_channel ch = ssh_channel_new(s);
    if (!ch || ssh_channel_open_session(ch) != SSH_OK ||
        ssh_channel_request_exec(ch, cmd) != SSH_OK) {
        deploy_host_fail(h, "%s: cannot run a command: %s", h->host, ssh_get_error(s));
        if (ch)
            ssh_channel_free(ch);
        return -1;
    }
    /* A command that ends at once (sudo refusing, say) may have closed
       the channel before its input is written: then what it said and its
       exit status, still to be read, tell why, not the failed write. */
    bool unwritten = false;
    for (size_t off = 0; in && off < in_len && !unwritten;) {
        uint32_t n = in_len - off > (1u << 20) ? (1u << 20) : (uint32_t)(in_len - off);
        int w = ssh_channel_write(ch, (const char *)in + off, n);
        unwritten = w < 0;
        off += w > 0 ? (size_t)w : 0;
    }
    char write_error[256] = "";
    if (unwritten)
        snprintf(write_error, sizeof write_error, "%s", ssh_get_error(s));
    else
        ssh_channel_send_eof(ch);
    int64_t deadline = mc_mono_ms() + STEP_TIMEOUT_MS;
    char buf[4096];
    while (!deploy_interrupted && mc_mono_ms() < deadline) {
        int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, 100);
        if (n > 0)
            append(&r->out, &r->out_len, buf, (size_t)n);
        int m = ssh_channel_read_timeout(ch, buf, sizeof buf, 1, n > 0 ? 0 : 100);
        if (m > 0)
            append(&r->err, &r->err_len, buf, (size_t)m);
        if (n == SSH_ERROR || m == SSH_ERROR)
            break;
        if (n <= 0 && m <= 0 && ssh_channel_is_eof(ch))
            break;
    }
    bool eof = ssh_channel_is_eof(ch);
    if (eof)
        r->status = ssh_channel_get_exit_status(ch);
    ssh_channel_close(ch);
    ssh_channel_free(ch);
    if (unwritten && (!eof || r->status == 0)) {
        /* It did not end on its own before its input was refused. */
        deploy_host_fail(h, "%s: %s", h->host, write_error);
        deploy_remote_done(r);
        return -1;
    }
    if (!eof) {
        deploy_host_fail(h, "%s: %s", h->host,
                         deploy_interrupted ? "deploy_interrupted"
                                            : "the command did not finish in time");
        return -1;
    }
    if (!r->out)
        r->out = mc_strdup("");
    if (!r->err)
        r->err = mc_strdup("");
    return 0;
}

/* The last line the remote side wrote on stderr, for the summary. */
static const char *last_line(char *text)
{
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        text[--n] = '\0';
    char *nl = strrchr(text, '\n');
    return nl ? nl + 1 : text;
}

/* Run an action of the remote script as root. */
int deploy_remote_action(ssh_session s, host_t *h, const char *action, const char *arg,
                         const char *pass, remote_t *r)
{
    bool with_pass = h->sudo && pass;
    /* With a password, sudo reads its first line; but a sudo that asks
       for none (NOPASSWD) leaves it there. So the shell first reads lines
       up to a marker, dropping a password sudo did not take, and only then
       the script: the password is never run as a command. */
    char *cmd =
        with_pass
            ? mc_sprintf("sudo -S -p '' sh -c 'while IFS= read -r l; do [ \"$l\" = " SCRIPT_MARK
                         " ] && exec sh -s -- \"$@\"; done; exit 97' sh %s%s%s",
                         action, arg ? " " : "", arg ? arg : "")
            : mc_sprintf("%ssh -s -- %s%s%s", h->sudo ? "sudo -n " : "", action, arg ? " " : "",
                         arg ? arg : "");
    char *input =
        with_pass ? mc_sprintf("%s\n" SCRIPT_MARK "\n%s", pass, deploy_remote_script) : NULL;
    const char *text = input ? input : deploy_remote_script;
    int rc = remote_exec(s, cmd, text, strlen(text), r, h);
    if (input) {
        sodium_memzero(input, strlen(input));
        free(input);
    }
    free(cmd);
    if (rc != 0)
        return -1;
    if (r->status != 0) {
        const char *why = last_line(r->err);
        if (h->sudo && (strstr(why, "sudo:") || r->status == 1) &&
            (strstr(why, "password") || strstr(why, "sudoers") || strstr(why, "not found")))
            deploy_host_fail(h, "no sudo: %s cannot run commands as root on %s (%s)", h->user,
                             h->host, why);
        else if (strstr(why, "No space left"))
            deploy_host_fail(h, "no space on %s: %s", h->host, why);
        else
            deploy_host_fail(h, "%s: %s: %s", h->host, action, *why ? why : "failed");
        return -1;
    }
    return 0;
}

const char *deploy_field(const char *text, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, "\r\n");
            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, p + kl + 1, n);
            out[n] = '\0';
            return out;
        }
    }
    out[0] = '\0';
    return NULL;
}

static int sftp_put(ssh_session s, sftp_session sf, host_t *h, const char *path, const void *data,
                    size_t len, mode_t mode)
{
    sftp_file f = sftp_open(sf, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (!f) {
        deploy_host_fail(h, "%s: cannot upload %s: %s", h->host, path, ssh_get_error(s));
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        size_t chunk = left < 32768 ? left : 32768;
        ssize_t n = sftp_write(f, p, chunk);
        if (n <= 0) {
            int code = sftp_get_error(sf);
            if (code == SSH_FX_FAILURE)
                deploy_host_fail(h, "no space on %s: uploading %s failed", h->host, path);
            else
                deploy_host_fail(h, "%s: uploading %s failed: %s", h->host, path, ssh_get_error(s));
            sftp_close(f);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    if (sftp_close(f) != SSH_OK) {
        deploy_host_fail(h, "%s: uploading %s failed: %s", h->host, path, ssh_get_error(s));
        return -1;
    }
    return 0;
}

/* sudo's password on a host: its roster passwd (as salt-ssh uses it),
   else the one --ask-pass asked for. */
const char *deploy_sudo_pass(const deploy_t *d, const host_t *h)
{
    return h->passwd ? h->passwd : d->pass;
}

/* Without SFTP: the file over the exec channel into `cat`, then its
   SHA-256 as the host computes it must be the one sent. path is in the
   upload folder (checked: no characters the shell would read). */
static int exec_put(ssh_session s, host_t *h, const char *path, const void *data, size_t len,
                    mode_t mode)
{
    char want[65];
    deploy_sha256_hex(data, len, want);
    char *cmd =
        mc_sprintf("cat > %s && chmod %o %s && sha256sum %s", path, (unsigned)mode, path, path);
    remote_t r;
    int rc = remote_exec(s, cmd, data, len, &r, h);
    free(cmd);
    if (rc != 0)
        return -1;
    if (r.status != 0) {
        const char *why = last_line(r.err);
        if (strstr(why, "No space left"))
            deploy_host_fail(h, "no space on %s: uploading %s failed", h->host, path);
        else
            deploy_host_fail(h, "%s: uploading %s failed: %s", h->host, path,
                             *why ? why : "cat failed");
        deploy_remote_done(&r);
        return -1;
    }
    bool same = strncmp(r.out, want, 64) == 0;
    deploy_remote_done(&r);
    if (!same) {
        deploy_host_fail(h, "%s: %s arrived damaged (its SHA-256 differs)", h->host, path);
        return -1;
    }
    return 0;
}

/* One file into the upload folder, by SFTP when the host offers it (sf),
   else over the exec channel. */
int deploy_put(ssh_session s, sftp_session sf, host_t *h, const char *path, const void *data,
               size_t len, mode_t mode)
{
    return sf ? sftp_put(s, sf, h, path, data, len, mode) : exec_put(s, h, path, data, len, mode);
}

/* Upload the files into a fresh folder in /tmp; returns its path. */
char *deploy_upload(deploy_t *d, ssh_session s, host_t *h, bool binary, const char *config,
                    size_t config_len, bool unit)
{
    remote_t r;
    if (remote_exec(s, "mktemp -d " REMOTE_TMP, NULL, 0, &r, h) != 0)
        return NULL;
    char *dir = mc_strdup(last_line(r.out));
    bool ok = r.status == 0 && strncmp(dir, "/tmp/mctl-deploy.", 17) == 0 &&
              strspn(dir + 17, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
                  strlen(dir + 17);
    if (!ok) {
        deploy_host_fail(h, "%s: cannot make an upload folder: %s", h->host,
                         strstr(r.err, "No space") ? "no space left" : last_line(r.err));
        deploy_remote_done(&r);
        free(dir);
        return NULL;
    }
    deploy_remote_done(&r);
    /* Hardened hosts often offer no SFTP subsystem: then the exec
       channel carries the files, as mature tools fall back. */
    sftp_session sf = sftp_new(s);
    if (sf && sftp_init(sf) != SSH_OK) {
        sftp_free(sf);
        sf = NULL;
    }
    h->via = sf ? "sftp" : "exec";
    char *p1 = mc_sprintf(d->package ? "%s/mctl-minion.deb" : "%s/mctl-minion", dir),
         *p2 = mc_sprintf("%s/minion", dir), *p3 = mc_sprintf("%s/mctl-minion.service", dir);
    int rc =
        (binary ? deploy_put(s, sf, h, p1, d->binary, d->binary_len, 0755) : 0) ||
        deploy_put(s, sf, h, p2, config, config_len, 0600) ||
        (unit ? deploy_put(s, sf, h, p3, deploy_minion_unit, strlen(deploy_minion_unit), 0644) : 0);
    free(p1);
    free(p2);
    free(p3);
    if (sf)
        sftp_free(sf);
    if (rc != 0) {
        deploy_remote_action(s, &(host_t){.sudo = h->sudo, .user = h->user, .host = h->host},
                             "cleanup", dir, deploy_sudo_pass(d, h), &r);
        deploy_remote_done(&r);
        free(dir);
        return NULL;
    }
    return dir;
}
