/*  mctl-deploy - mctl deploy: install minions over SSH, in parallel.

    For each host: connect with libssh, check its host key against
    known_hosts, log in, run deploy/minion-remote.sh (compiled in) to see
    what is there, upload what differs (over SFTP, or over the exec
    channel with a checksum where the host offers no SFTP), install it,
    create the
    minion's keys on the host and bring the public key back over the same
    session, have the master accept exactly that key, start the minion, and
    wait until it answers test.ping. A host that is already up to date is
    left alone. --uninstall undoes all of it and deletes the key.

    It is its own program (mctl runs it for "mctl deploy") so that the
    everyday mctl does not load libssh and OpenSSL. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <unistd.h>

#include <elf.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <sodium.h>

#include "cli.h"
#include "client.h"
#include "config.h"
#include "keys.h"
#include "target.h"
#include "util.h"
#include "proto/proto.h"
#include "ydoc.h"

extern const char deploy_remote_script[];
extern const char deploy_minion_unit[];

#define EXIT_SOME_FAILED 1
#define REMOTE_TMP       "/tmp/mctl-deploy.XXXXXXXX"
#define SSH_TIMEOUT_S    10
#define STEP_TIMEOUT_MS  120000
#define SCRIPT_MARK      "mctl-deploy-script-follows"

typedef struct {
    /* what to do */
    char *name; /* roster key, or the host as given */
    char *host, *user, *priv, *priv_passwd, *passwd, *id;
    int port;
    bool sudo;
    const mc_yaml_t *grains;
    /* what happened */
    const char *result;
    const char *via; /* how files went: "sftp", "exec" (no SFTP there), NULL: none sent */
    char note[96];   /* versions: "0.1.0 -> 0.2.0" */
    char error[320];
    double seconds;
} host_t;

typedef struct {
    const char *config_dir;
    const char *roster, *user, *identity, *master, *binary_path, *package, *known_hosts;
    int port, forks, timeout;
    bool ask_pass, sudo, accept_new, uninstall, check, rollback;
    char *pass; /* from --ask-pass */
    /* the master */
    char master_pub[MC_Z85_KEY_LEN + 1];
    char *master_addr;
    int publish_port, ret_port, auth_port;
    /* the minion binary */
    unsigned char *binary;
    size_t binary_len;
    char binary_sha[65], binary_arch[32];
    char binary_version[32]; /* from its "@(#)mctl " mark; "" for a package */
    /* the work */
    mc_yaml_t *roster_doc;
    host_t *hosts;
    size_t n, next, done, failed;
    pthread_mutex_t lock;
    bool progress;
    int64_t started_ms;
} deploy_t;

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: mctl deploy [OPTIONS] --roster FILE [HOST ...]\n"
               "       mctl deploy [OPTIONS] [USER@]HOST[:PORT] ...\n"
               "       mctl deploy --uninstall [OPTIONS] ...\n"
               "\n"
               "Install mctl-minion on hosts over SSH, in parallel: upload the binary (over\n"
               "SFTP, or where the host offers none over the command channel, checked by its\n"
               "SHA-256), write /etc/mctl/minion with the master's address and public key,\n"
               "create the minion's keys on the host and have the master accept exactly that\n"
               "key, start the minion (systemd, or as a daemon with a pidfile where there is\n"
               "no systemd), and wait until it answers test.ping. A host that is up to date\n"
               "is left alone; a changed binary or config is replaced and the minion\n"
               "restarted.\n"
               "\n"
               "With a roster, HOSTs are globs that pick roster entries (default: all).\n"
               "A roster is YAML, as salt-ssh reads it:\n"
               "\n"
               "  web1:                  # the minion id, unless 'id' says otherwise\n"
               "    host: 192.0.2.10\n"
               "    port: 22             # optional\n"
               "    user: root           # optional (--user, else root)\n"
               "    priv: ~/.ssh/id_ed25519   # or passwd: SECRET\n"
               "    sudo: true           # log in as user, run as root through sudo (with\n"
               "                         # passwd, or --ask-pass, as sudo's password)\n"
               "    grains: {roles: [web]}\n"
               "\n"
               "Options:\n"
               "  -r, --roster FILE      the hosts to deploy to\n"
               "  -u, --user USER        log in as USER where the roster does not say\n"
               "  -p, --port PORT        SSH port where the roster does not say (default 22)\n"
               "  -i, --identity FILE    private key to log in with (default: ssh-agent, then\n"
               "                         ~/.ssh/id_*)\n"
               "      --ask-pass         ask once for the password (no echo) for hosts the\n"
               "                         roster gives no key or password for\n"
               "      --sudo             run as root through sudo on every host\n"
               "      --accept-new       trust host keys that are not in known_hosts yet, and\n"
               "                         add them; a changed key is always refused\n"
               "      --known-hosts FILE default ~/.ssh/known_hosts\n"
               "      --master ADDR      the address minions reach the master at (default:\n"
               "                         the master's interface, when it is not a wildcard)\n"
               "      --minion-binary PATH  what to install (default: the mctl-minion beside\n"
               "                         this program)\n"
               "  -f, --forks N          hosts worked on at once (default 16)\n"
               "  -t, --timeout SECONDS  how long a started minion has to answer (default 60)\n"
               "      --check            show what would change (install, update, versions),\n"
               "                         change nothing\n"
               "      --rollback         put back the mctl-minion an update replaced (kept on\n"
               "                         each host) and restart it\n"
               "      --uninstall        stop and remove the minion and delete its key\n"
               "  -c, --config-dir DIR   where the master config is (default $MCTL_CONFIG_DIR\n"
               "                         or /etc/mctl)\n"
               "  -h, --help             show this help\n"
               "\n"
               "An update replaces the binary atomically and restarts the minion; its keys,\n"
               "job history and spooled returns stay (a running job finishes first, within\n"
               "shutdown_grace), and the replaced binary is kept for --rollback.\n"
               "\n"
               "Prints a table: host, result (installed, updated, unchanged, rolled-back,\n"
               "removed, failed; with --check would-install, would-update,\n"
               "would-roll-back), seconds, how the files went (sftp, exec, or - when none\n"
               "were sent), and the error, or the versions (\"0.1.0 -> 0.2.0\"). Exit status: 0 "
               "every host ended up answering\n"
               "(or removed); 1 some host failed; 64 bad usage; 69 master unreachable.\n"
               "\n"
               "Examples:\n"
               "  mctl deploy --roster fleet.yaml --accept-new\n"
               "  mctl deploy --roster fleet.yaml 'web*' -f 32\n"
               "  mctl deploy --ask-pass --master 10.0.0.1 admin@db1 db2:2222\n"
               "  mctl deploy --roster fleet.yaml --check --minion-binary ./mctl-minion\n"
               "  mctl deploy --roster fleet.yaml --rollback 'web*'\n"
               "  mctl deploy --roster fleet.yaml --uninstall\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mctl deploy: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'mctl deploy --help' for more information.\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static void host_fail(host_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void host_fail(host_t *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->error, sizeof h->error, fmt, ap);
    va_end(ap);
    for (char *p = h->error; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    h->result = "failed";
}

/* ---- the roster ---------------------------------------------------------- */

static char *expand_home(const char *path)
{
    const char *home = getenv("HOME");
    if (path[0] == '~' && path[1] == '/' && home)
        return mc_sprintf("%s%s", home, path + 1);
    return mc_strdup(path);
}

static bool yaml_true(const char *v)
{
    return strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "yes") == 0 ||
           strcmp(v, "1") == 0;
}

static int parse_port(const char *s, int *port)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

/* Fill one host from a roster entry; returns -1 with err set. */
static int roster_host(deploy_t *d, const mc_yaml_t *e, host_t *h, mc_err_t *err)
{
    h->name = mc_strdup(e->key);
    h->port = d->port;
    h->sudo = d->sudo;
    if (e->kind != MC_YAML_MAP) {
        mc_err_set(err, "line %d: '%s' must be a map (host, user, ...)", e->line, e->key);
        return -1;
    }
    for (size_t i = 0; i < e->count; i++) {
        const mc_yaml_t *f = e->items[i];
        const char *k = f->key;
        if (strcmp(k, "grains") == 0) {
            if (f->kind != MC_YAML_MAP) {
                mc_err_set(err, "line %d: %s: grains must be a map", f->line, e->key);
                return -1;
            }
            h->grains = f;
            continue;
        }
        if (f->kind != MC_YAML_SCALAR) {
            mc_err_set(err, "line %d: %s: '%s' must be a single value", f->line, e->key, k);
            return -1;
        }
        const char *v = f->value;
        if (strcmp(k, "host") == 0) {
            h->host = mc_strdup(v);
        } else if (strcmp(k, "port") == 0) {
            if (parse_port(v, &h->port) != 0) {
                mc_err_set(err, "line %d: %s: port '%s' is not a port number", f->line, e->key, v);
                return -1;
            }
        } else if (strcmp(k, "user") == 0) {
            h->user = mc_strdup(v);
        } else if (strcmp(k, "priv") == 0) {
            h->priv = expand_home(v);
        } else if (strcmp(k, "priv_passwd") == 0) {
            h->priv_passwd = mc_strdup(v);
        } else if (strcmp(k, "passwd") == 0) {
            h->passwd = mc_strdup(v);
        } else if (strcmp(k, "sudo") == 0) {
            h->sudo = yaml_true(v);
        } else if (strcmp(k, "id") == 0) {
            h->id = mc_strdup(v);
        } else {
            fprintf(stderr, "mctl deploy: %s: line %d: %s: '%s' is not used; ignored\n", d->roster,
                    f->line, e->key, k);
        }
    }
    if (!h->host)
        h->host = mc_strdup(e->key);
    return 0;
}

static void host_defaults(deploy_t *d, host_t *h)
{
    if (!h->user)
        h->user = mc_strdup(d->user ? d->user : "root");
    if (!h->priv && d->identity)
        h->priv = mc_strdup(d->identity);
    if (!h->passwd && !h->priv && d->pass)
        h->passwd = mc_strdup(d->pass);
    if (!h->id)
        h->id = mc_strdup(h->name);
}

static int load_roster(deploy_t *d, int argc, char **argv)
{
    mc_err_t err;
    mc_yaml_t *doc = mc_yaml_load(d->roster, d->roster, &err);
    if (!doc) {
        fprintf(stderr, "mctl deploy: %s\n", err.msg);
        return EXIT_USAGE;
    }
    int rc = 0;
    if (doc->kind != MC_YAML_MAP || doc->count == 0) {
        fprintf(stderr, "mctl deploy: %s: expected a map of hosts\n", d->roster);
        rc = EXIT_USAGE;
    }
    d->hosts = mc_calloc(doc->count ? doc->count : 1, sizeof *d->hosts);
    bool *used = mc_calloc((size_t)argc + 1, sizeof *used);
    for (size_t i = 0; rc == 0 && i < doc->count; i++) {
        const mc_yaml_t *e = doc->items[i];
        bool wanted = argc == 0;
        for (int a = 0; a < argc; a++)
            if (mc_target_match(argv[a], "glob", e->key, NULL))
                wanted = used[a] = true;
        if (!wanted)
            continue;
        host_t *h = &d->hosts[d->n++];
        if (roster_host(d, e, h, &err) != 0) {
            fprintf(stderr, "mctl deploy: %s: %s\n", d->roster, err.msg);
            rc = EXIT_USAGE;
        }
    }
    for (int a = 0; rc == 0 && a < argc; a++)
        if (!used[a]) {
            fprintf(stderr, "mctl deploy: '%s' matches no host in %s\n", argv[a], d->roster);
            rc = EXIT_USAGE;
        }
    free(used);
    /* The roster's grains stay referenced from the hosts: the document
       lives as long as they do. */
    d->roster_doc = doc;
    return rc;
}

/* Hosts named on the command line: [USER@]HOST[:PORT]. */
static int adhoc_hosts(deploy_t *d, int argc, char **argv)
{
    d->hosts = mc_calloc((size_t)argc, sizeof *d->hosts);
    for (int a = 0; a < argc; a++) {
        host_t *h = &d->hosts[d->n++];
        char *s = mc_strdup(argv[a]);
        char *at = strchr(s, '@');
        char *hostpart = s;
        if (at) {
            *at = '\0';
            h->user = mc_strdup(s);
            hostpart = at + 1;
        }
        char *colon = strrchr(hostpart, ':');
        h->port = d->port;
        h->sudo = d->sudo;
        if (colon && !strchr(colon + 1, ']') && strchr(hostpart, ':') == colon) {
            *colon = '\0';
            if (parse_port(colon + 1, &h->port) != 0) {
                free(s);
                return usage_error("'%s': bad port", argv[a]);
            }
        }
        if (!*hostpart || (at && !*s)) {
            free(s);
            return usage_error("'%s': expected [USER@]HOST[:PORT]", argv[a]);
        }
        h->host = mc_strdup(hostpart);
        h->name = mc_strdup(hostpart);
        free(s);
    }
    return 0;
}

/* ---- what gets installed ------------------------------------------------- */

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    for (size_t i = 0; i < sizeof h; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* The architecture an ELF file is built for, as `uname -m` names it. */
static int elf_arch(const unsigned char *data, size_t len, char *out, size_t outlen)
{
    if (len < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) != 0)
        return -1;
    uint16_t machine;
    memcpy(&machine, data + offsetof(Elf64_Ehdr, e_machine), sizeof machine);
    const char *name;
    switch (machine) {
    case EM_X86_64:
        name = "x86_64";
        break;
    case EM_AARCH64:
        name = "aarch64";
        break;
    case EM_386:
        name = "i686";
        break;
    case EM_ARM:
        name = "armv7l";
        break;
    case EM_RISCV:
        name = "riscv64";
        break;
    case EM_PPC64:
        name = "ppc64le";
        break;
    case EM_S390:
        name = "s390x";
        break;
    default:
        return -1;
    }
    snprintf(out, outlen, "%s", name);
    return 0;
}

static bool arch_compatible(const char *binary, const char *host)
{
    if (strcmp(binary, host) == 0)
        return true;
    if (strcmp(binary, "i686") == 0)
        return strlen(host) == 4 && host[0] == 'i' && strcmp(host + 2, "86") == 0;
    if (strcmp(binary, "armv7l") == 0)
        return strncmp(host, "armv7", 5) == 0 || strncmp(host, "armv8", 5) == 0;
    return false;
}

/* The version a minion binary carries: the text after its "@(#)mctl "
   mark (util.h's mc_version), or "". */
static void binary_version(const char *data, size_t len, char *out, size_t cap)
{
    static const char mark[] = "@(#)mctl ";
    const char *p = memmem(data, len, mark, sizeof mark - 1);
    size_t n = 0;
    if (p) {
        p += sizeof mark - 1;
        while (p + n < data + len && n + 1 < cap && p[n] > ' ' && p[n] < 127)
            n++;
    }
    memcpy(out, p ? p : "", n);
    out[n] = '\0';
}

static int load_binary(deploy_t *d)
{
    char *path = NULL;
    if (d->package) {
        path = mc_strdup(d->package);
    } else if (d->binary_path) {
        path = mc_strdup(d->binary_path);
    } else {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            fprintf(stderr,
                    "mctl deploy: cannot find this program's folder; use --minion-binary\n");
            return EXIT_USAGE;
        }
        self[n] = '\0';
        *strrchr(self, '/') = '\0';
        path = mc_sprintf("%s/mctl-minion", self);
    }
    char *data = NULL;
    size_t len = 0;
    mc_err_t err;
    int rc = 0;
    if (mc_read_file(path, 256 << 20, &data, &len, &err) != 0) {
        fprintf(stderr, "mctl deploy: the minion %s: %s\n", d->package ? "package" : "binary",
                err.msg);
        rc = EXIT_USAGE;
    } else if (d->package && (len < 21 || memcmp(data, "!<arch>\ndebian-binary", 21) != 0)) {
        fprintf(stderr, "mctl deploy: %s is not a Debian package\n", path);
        rc = EXIT_USAGE;
    } else if (!d->package &&
               elf_arch((unsigned char *)data, len, d->binary_arch, sizeof d->binary_arch) != 0) {
        fprintf(stderr, "mctl deploy: %s is not a program this tool knows how to install\n", path);
        rc = EXIT_USAGE;
    } else {
        if (d->package)
            snprintf(d->binary_arch, sizeof d->binary_arch, "(package)");
        d->binary = (unsigned char *)data;
        d->binary_len = len;
        sha256_hex(data, len, d->binary_sha);
        binary_version(data, len, d->binary_version, sizeof d->binary_version);
        data = NULL;
    }
    free(data);
    free(path);
    return rc;
}

/* A YAML scalar that reads back as the same string. */
static void emit_scalar(FILE *f, const mc_yaml_t *s)
{
    const char *v = s->value;
    bool plain = !s->quoted && *v;
    for (const char *p = v; plain && *p; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_' || *p == '.' || *p == '-';
    if (plain) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void emit_yaml(FILE *f, const mc_yaml_t *node, int indent)
{
    for (size_t i = 0; i < node->count; i++) {
        const mc_yaml_t *c = node->items[i];
        fprintf(f, "%*s", indent, "");
        if (node->kind == MC_YAML_MAP) {
            mc_yaml_t key = {.kind = MC_YAML_SCALAR, .value = c->key};
            emit_scalar(f, &key);
            fputc(':', f);
        } else {
            fputc('-', f);
        }
        if (c->kind == MC_YAML_SCALAR) {
            fputc(' ', f);
            emit_scalar(f, c);
            fputc('\n', f);
        } else if (c->count == 0) {
            fputs(c->kind == MC_YAML_MAP ? " {}\n" : " []\n", f);
        } else {
            fputc('\n', f);
            emit_yaml(f, c, indent + 2);
        }
    }
}

/* The minion config deploy writes for a host. */
static char *minion_config(const deploy_t *d, const host_t *h, bool systemd, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    fprintf(f,
            "# Written by mctl deploy, which rewrites it on every run.\n"
            "id: \"%s\"\n"
            "master: \"%s\"\n"
            "master_pubkey: \"%s\"\n"
            "publish_port: %d\n"
            "ret_port: %d\n"
            "auth_port: %d\n"
            "pki_dir: /etc/mctl/pki/minion\n"
            "cachedir: /var/lib/mctl/minion\n"
            "pidfile: /run/mctl/minion.pid\n",
            h->id, d->master_addr, d->master_pub, d->publish_port, d->ret_port, d->auth_port);
    /* Under systemd, stderr goes to the journal. */
    if (!systemd)
        fprintf(f, "log_file: /var/log/mctl/minion.log\n");
    if (h->grains && h->grains->count) {
        fprintf(f, "grains:\n");
        emit_yaml(f, h->grains, 2);
    }
    fclose(f);
    return text;
}

/* ---- the master ---------------------------------------------------------- */

static int master_info(deploy_t *d)
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
        return usage_error("the master listens on %s: say with --master ADDR where minions reach "
                           "it",
                           iface);
    } else {
        d->master_addr = mc_strdup(iface);
    }
    for (const char *p = d->master_addr; *p; p++)
        if (!(*p == '.' || *p == '-' || *p == ':' || *p == '_' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return usage_error("--master: '%s' is not a host name or address", d->master_addr);
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
        host_fail(h, "master: %s", err.msg);
    return rc;
}

/* Publish test.ping to the one minion until it answers or time runs out. */
static int wait_for_ping(deploy_t *d, host_t *h, int64_t deadline_ms)
{
    client_t c;
    mc_err_t err;
    if (client_open(&c, d->config_dir, &err) != 0) {
        host_fail(h, "master: %s", err.msg);
        return -1;
    }
    client_target_t one = {h->id, "list", 0};
    bool answered = false;
    while (!answered && !interrupted && mc_mono_ms() < deadline_ms) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        client_pack_publish(&sb, &one, "test.ping", 0, NULL, 5, "deploy");
        int rc = client_send(&c, &sb, &err);
        msgpack_sbuffer_destroy(&sb);
        if (rc != 0) {
            /* The master cannot be reached (or went away): that, not
               the minion, is what to report. */
            client_close(&c);
            host_fail(h, "master: %s", err.msg);
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
                host_fail(h, "master: %s", c.why.msg);
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
                host_fail(h, "master: %s", st.error);
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
        host_fail(h, "the minion started but did not answer test.ping within %d s", d->timeout);
    return answered ? 0 : -1;
}

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
        host_fail(h, "%s: cannot read the host key: %s", h->host, ssh_get_error(s));
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
        host_fail(h,
                  "host key of %s CHANGED (now %s): refused; if the host was reinstalled, remove "
                  "the old key with ssh-keygen -R %s",
                  h->host, finger, h->host);
        break;
    case SSH_KNOWN_HOSTS_OTHER:
        host_fail(h, "host key of %s is of another type than the one known (now %s): refused",
                  h->host, finger);
        break;
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
        if (!d->accept_new) {
            host_fail(h, "host key of %s is not known (%s): check it, then use --accept-new",
                      h->host, finger);
            break;
        }
        pthread_mutex_lock(&d->lock);
        rc = ssh_session_update_known_hosts(s) == SSH_OK ? 0 : -1;
        pthread_mutex_unlock(&d->lock);
        if (rc != 0)
            host_fail(h, "cannot add the host key of %s to known_hosts: %s", h->host,
                      ssh_get_error(s));
        break;
    default:
        host_fail(h, "cannot check the host key of %s: %s", h->host, ssh_get_error(s));
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
            host_fail(h, "cannot read the private key %s", h->priv);
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
        host_fail(h, "%s: %s", h->host, ssh_get_error(s));
    else
        host_fail(h, "authentication refused for %s@%s (%s)", h->user, h->host,
                  h->priv     ? "key"
                  : h->passwd ? "password"
                              : "ssh-agent and default keys");
    return -1;
}

static ssh_session ssh_open(deploy_t *d, host_t *h)
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
        host_fail(h, "unreachable: %s", ssh_get_error(s));
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

static void ssh_close(ssh_session *s)
{
    if (*s) {
        ssh_disconnect(*s);
        ssh_free(*s);
        *s = NULL;
    }
}

typedef struct {
    char *out, *err;
    size_t out_len, err_len;
    int status;
} remote_t;

static void remote_done(remote_t *r)
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
        host_fail(h, "%s: cannot run a command: %s", h->host, ssh_get_error(s));
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
    while (!interrupted && mc_mono_ms() < deadline) {
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
        host_fail(h, "%s: %s", h->host, write_error);
        remote_done(r);
        return -1;
    }
    if (!eof) {
        host_fail(h, "%s: %s", h->host,
                  interrupted ? "interrupted" : "the command did not finish in time");
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
static int remote_action(ssh_session s, host_t *h, const char *action, const char *arg,
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
            host_fail(h, "no sudo: %s cannot run commands as root on %s (%s)", h->user, h->host,
                      why);
        else if (strstr(why, "No space left"))
            host_fail(h, "no space on %s: %s", h->host, why);
        else
            host_fail(h, "%s: %s: %s", h->host, action, *why ? why : "failed");
        return -1;
    }
    return 0;
}

static const char *field(const char *text, const char *key, char *out, size_t outlen)
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
        host_fail(h, "%s: cannot upload %s: %s", h->host, path, ssh_get_error(s));
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
                host_fail(h, "no space on %s: uploading %s failed", h->host, path);
            else
                host_fail(h, "%s: uploading %s failed: %s", h->host, path, ssh_get_error(s));
            sftp_close(f);
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    if (sftp_close(f) != SSH_OK) {
        host_fail(h, "%s: uploading %s failed: %s", h->host, path, ssh_get_error(s));
        return -1;
    }
    return 0;
}

/* sudo's password on a host: its roster passwd (as salt-ssh uses it),
   else the one --ask-pass asked for. */
static const char *sudo_pass(const deploy_t *d, const host_t *h)
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
    sha256_hex(data, len, want);
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
            host_fail(h, "no space on %s: uploading %s failed", h->host, path);
        else
            host_fail(h, "%s: uploading %s failed: %s", h->host, path, *why ? why : "cat failed");
        remote_done(&r);
        return -1;
    }
    bool same = strncmp(r.out, want, 64) == 0;
    remote_done(&r);
    if (!same) {
        host_fail(h, "%s: %s arrived damaged (its SHA-256 differs)", h->host, path);
        return -1;
    }
    return 0;
}

/* One file into the upload folder, by SFTP when the host offers it (sf),
   else over the exec channel. */
static int put(ssh_session s, sftp_session sf, host_t *h, const char *path, const void *data,
               size_t len, mode_t mode)
{
    return sf ? sftp_put(s, sf, h, path, data, len, mode) : exec_put(s, h, path, data, len, mode);
}

/* Upload the files into a fresh folder in /tmp; returns its path. */
static char *upload(deploy_t *d, ssh_session s, host_t *h, bool binary, const char *config,
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
        host_fail(h, "%s: cannot make an upload folder: %s", h->host,
                  strstr(r.err, "No space") ? "no space left" : last_line(r.err));
        remote_done(&r);
        free(dir);
        return NULL;
    }
    remote_done(&r);
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
    int rc = (binary ? put(s, sf, h, p1, d->binary, d->binary_len, 0755) : 0) ||
             put(s, sf, h, p2, config, config_len, 0600) ||
             (unit ? put(s, sf, h, p3, deploy_minion_unit, strlen(deploy_minion_unit), 0644) : 0);
    free(p1);
    free(p2);
    free(p3);
    if (sf)
        sftp_free(sf);
    if (rc != 0) {
        remote_action(s, &(host_t){.sudo = h->sudo, .user = h->user, .host = h->host}, "cleanup",
                      dir, sudo_pass(d, h), &r);
        remote_done(&r);
        free(dir);
        return NULL;
    }
    return dir;
}

/* ---- one host ------------------------------------------------------------ */

static void deploy_host(deploy_t *d, host_t *h)
{
    int64_t deadline;
    ssh_session s = ssh_open(d, h);
    if (!s)
        return;
    remote_t r = {0};
    char arch[64], init[16], bin[80], pkg[80], conf[80], running[8], pub[64], free_bin[32],
        free_tmp[32], version[32], now_version[32];
    char *config = NULL, *dir = NULL;
    size_t config_len = 0;
    if (remote_action(s, h, "probe", NULL, sudo_pass(d, h), &r) != 0)
        goto out;
    field(r.out, "arch", arch, sizeof arch);
    field(r.out, "init", init, sizeof init);
    field(r.out, "bin", bin, sizeof bin);
    field(r.out, "pkg", pkg, sizeof pkg);
    field(r.out, "conf", conf, sizeof conf);
    field(r.out, "running", running, sizeof running);
    field(r.out, "pub", pub, sizeof pub);
    field(r.out, "free_bin", free_bin, sizeof free_bin);
    field(r.out, "free_tmp", free_tmp, sizeof free_tmp);
    field(r.out, "version", version, sizeof version);
    remote_done(&r);
    /* A package's architecture is dpkg's to check. */
    if (!d->package && !arch_compatible(d->binary_arch, arch)) {
        host_fail(h, "unsupported architecture: %s is %s, the minion binary is built for %s",
                  h->host, arch[0] ? arch : "unknown", d->binary_arch);
        goto out;
    }
    bool systemd = strcmp(init, "systemd") == 0;
    config = minion_config(d, h, systemd, &config_len);
    char config_sha[65];
    sha256_hex(config, config_len, config_sha);
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
            host_fail(h,
                      "no space on %s: %s KiB free in /usr/local/bin and %s KiB in /tmp, %ld KiB "
                      "needed",
                      h->host, free_bin, free_tmp, need);
            goto out;
        }
        dir = upload(d, s, h, !same_bin, config, config_len, systemd && !d->package);
        if (!dir || remote_action(s, h, "install", dir, sudo_pass(d, h), &r) != 0)
            goto out;
        field(r.out, "pub", pub, sizeof pub);
        field(r.out, "version", now_version, sizeof now_version);
        remote_done(&r);
        h->result = fresh ? "installed" : "updated";
        if (fresh || strcmp(version, now_version) == 0)
            snprintf(h->note, sizeof h->note, "%s", now_version);
        else
            snprintf(h->note, sizeof h->note, "%s -> %s", version, now_version);
    }
    unsigned char key[MC_KEY_LEN];
    if (mc_z85_key_decode(pub, key) != 0) {
        host_fail(h, "%s: the minion's public key did not come back", h->host);
        goto out;
    }
    /* The key came over this SSH session, from a host whose identity the
       host key proved: accept exactly it before the minion first calls. */
    if (key_request(d, h, pub) != 0)
        goto out;
    if (strcmp(h->result, "unchanged") != 0 &&
        remote_action(s, h, "start", systemd ? "systemd" : "none", sudo_pass(d, h), &r) != 0)
        goto out;
    remote_done(&r);
    deadline = mc_mono_ms() + (int64_t)d->timeout * 1000;
    wait_for_ping(d, h, deadline);
out:
    remote_done(&r);
    free(config);
    free(dir);
    ssh_close(&s);
}

/* --rollback: put back the binary the last update replaced (kept on the
   host as mctl-minion.prev), restart the minion, wait for its answer. */
static void rollback_host(deploy_t *d, host_t *h)
{
    ssh_session s = ssh_open(d, h);
    if (!s)
        return;
    remote_t r = {0};
    char version[32], prev[32], init[16], now_version[32];
    if (remote_action(s, h, "probe", NULL, sudo_pass(d, h), &r) != 0)
        goto out;
    field(r.out, "version", version, sizeof version);
    field(r.out, "prev", prev, sizeof prev);
    field(r.out, "init", init, sizeof init);
    remote_done(&r);
    if (!prev[0]) {
        host_fail(h, "%s: no previous mctl-minion is kept there (nothing was updated)", h->host);
        goto out;
    }
    if (d->check) {
        h->result = "would roll back";
        snprintf(h->note, sizeof h->note, "%s -> %s", version, prev);
        goto out;
    }
    if (remote_action(s, h, "rollback", NULL, sudo_pass(d, h), &r) != 0)
        goto out;
    field(r.out, "version", now_version, sizeof now_version);
    remote_done(&r);
    if (remote_action(s, h, "start", strcmp(init, "systemd") == 0 ? "systemd" : "none",
                      sudo_pass(d, h), &r) != 0)
        goto out;
    remote_done(&r);
    h->result = "rolled back";
    snprintf(h->note, sizeof h->note, "%s -> %s", version, now_version);
    wait_for_ping(d, h, mc_mono_ms() + (int64_t)d->timeout * 1000);
out:
    remote_done(&r);
    ssh_close(&s);
}

static void uninstall_host(deploy_t *d, host_t *h)
{
    ssh_session s = ssh_open(d, h);
    if (!s)
        return;
    remote_t r = {0};
    if (remote_action(s, h, "uninstall", NULL, sudo_pass(d, h), &r) == 0 &&
        key_request(d, h, NULL) == 0)
        h->result = "removed";
    remote_done(&r);
    ssh_close(&s);
}

/* ---- the pool of workers ------------------------------------------------- */

static void draw_progress(deploy_t *d, bool final)
{
    if (!d->progress)
        return;
    size_t running = d->next - d->done;
    fprintf(stderr, "\r\033[K%s: %zu/%zu done, %zu failed, %zu running, %.0f s",
            d->uninstall ? "uninstall" : "deploy", d->done, d->n, d->failed, running,
            (double)(mc_mono_ms() - d->started_ms) / 1000);
    if (final)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static void *worker(void *arg)
{
    deploy_t *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->lock);
        if (d->next >= d->n || interrupted) {
            pthread_mutex_unlock(&d->lock);
            return NULL;
        }
        host_t *h = &d->hosts[d->next++];
        draw_progress(d, false);
        pthread_mutex_unlock(&d->lock);

        int64_t t0 = mc_mono_ms();
        if (!mc_id_valid(h->id, strlen(h->id)))
            host_fail(h, "'%s' is not a valid minion id", h->id);
        else if (d->uninstall)
            uninstall_host(d, h);
        else if (d->rollback)
            rollback_host(d, h);
        else
            deploy_host(d, h);
        if (!h->result)
            host_fail(h, "%s", interrupted ? "interrupted" : "failed");
        h->seconds = (double)(mc_mono_ms() - t0) / 1000;

        pthread_mutex_lock(&d->lock);
        d->done++;
        if (strcmp(h->result, "failed") == 0)
            d->failed++;
        draw_progress(d, false);
        pthread_mutex_unlock(&d->lock);
    }
}

static void deploy_free(deploy_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        host_t *h = &d->hosts[i];
        free(h->name);
        free(h->host);
        free(h->user);
        free(h->priv);
        free(h->priv_passwd);
        if (h->passwd)
            sodium_memzero(h->passwd, strlen(h->passwd));
        free(h->passwd);
        free(h->id);
    }
    free(d->hosts);
    mc_yaml_free(&d->roster_doc);
    free(d->binary);
    free(d->master_addr);
    if (d->pass)
        sodium_memzero(d->pass, strlen(d->pass));
    free(d->pass);
}

static void print_summary(const deploy_t *d)
{
    int w = 4;
    for (size_t i = 0; i < d->n; i++)
        if ((int)strlen(d->hosts[i].name) > w)
            w = (int)strlen(d->hosts[i].name);
    printf("%-*s  %-15s  %7s  %-4s  %s\n", w, "HOST", "RESULT", "SECONDS", "VIA",
           "ERROR OR VERSION");
    for (size_t i = 0; i < d->n; i++) {
        const host_t *h = &d->hosts[i];
        /* Results are one word in the table ("would-update"), so that
           scripts can split it on blanks. */
        char result[32];
        snprintf(result, sizeof result, "%s", h->result ? h->result : "not run");
        for (char *c = result; *c; c++)
            if (*c == ' ')
                *c = '-';
        printf("%-*s  %-15s  %7.1f  %-4s  %s\n", w, h->name, result, h->seconds,
               h->via ? h->via : "-", h->error[0] ? h->error : h->note);
    }
    size_t ok = d->n - d->failed;
    printf("%zu host%s: %zu %s, %zu failed\n", d->n, d->n == 1 ? "" : "s", ok,
           d->uninstall ? "removed" : "answering", d->failed);
}

static char *ask_password(void)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) {
        fprintf(stderr, "mctl deploy: --ask-pass needs a terminal\n");
        return NULL;
    }
    struct termios old, quiet;
    bool restore = tcgetattr(fileno(tty), &old) == 0;
    fputs("SSH password: ", tty);
    fflush(tty);
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    char buf[1024];
    char *got = fgets(buf, sizeof buf, tty);
    if (restore)
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputs("\n", tty);
    fclose(tty);
    if (!got)
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    char *pass = mc_strdup(buf);
    sodium_memzero(buf, sizeof buf);
    return pass;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"roster", required_argument, NULL, 'r'},
        {"user", required_argument, NULL, 'u'},
        {"port", required_argument, NULL, 'p'},
        {"identity", required_argument, NULL, 'i'},
        {"ask-pass", no_argument, NULL, 'P'},
        {"sudo", no_argument, NULL, 'S'},
        {"accept-new", no_argument, NULL, 'A'},
        {"known-hosts", required_argument, NULL, 'K'},
        {"master", required_argument, NULL, 'm'},
        {"minion-binary", required_argument, NULL, 'b'},
        {"package", required_argument, NULL, 'k'},
        {"forks", required_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        {"uninstall", no_argument, NULL, 'U'},
        {"check", no_argument, NULL, 'C'},
        {"rollback", no_argument, NULL, 'R'},
        {"config-dir", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    deploy_t d = {.port = 22, .forks = 16, .timeout = 60};
    int c;
    while ((c = getopt_long(argc, argv, "r:u:p:i:f:t:c:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'r':
            d.roster = optarg;
            break;
        case 'u':
            d.user = optarg;
            break;
        case 'p':
            if (parse_port(optarg, &d.port) != 0)
                return usage_error("--port: '%s' is not a port number", optarg);
            break;
        case 'i':
            d.identity = optarg;
            break;
        case 'P':
            d.ask_pass = true;
            break;
        case 'S':
            d.sudo = true;
            break;
        case 'A':
            d.accept_new = true;
            break;
        case 'K':
            d.known_hosts = optarg;
            break;
        case 'm':
            d.master = optarg;
            break;
        case 'b':
            d.binary_path = optarg;
            break;
        case 'k':
            d.package = optarg;
            break;
        case 'f':
            d.forks = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || d.forks < 1 || d.forks > 1024)
                return usage_error("--forks: expected 1 to 1024, got '%s'", optarg);
            break;
        case 't':
            d.timeout = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || d.timeout < 1 || d.timeout > 86400)
                return usage_error("--timeout: expected a number of seconds, got '%s'", optarg);
            break;
        case 'U':
            d.uninstall = true;
            break;
        case 'C':
            d.check = true;
            break;
        case 'R':
            d.rollback = true;
            break;
        case 'c':
            d.config_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            return usage_error("unknown option");
        }
    }
    argc -= optind;
    argv += optind;
    if (!d.roster && argc == 0)
        return usage_error("name a --roster or the hosts to deploy to");
    if (d.package && d.binary_path)
        return usage_error("--package and --minion-binary: choose one");
    if (d.uninstall + d.rollback > 1)
        return usage_error("--uninstall and --rollback: choose one");
    if (d.check && d.uninstall)
        return usage_error("--check shows what a deploy or --rollback would change; not with "
                           "--uninstall");
    d.config_dir = mc_config_dir(d.config_dir);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    if (sodium_init() < 0) {
        fprintf(stderr, "mctl deploy: libsodium failed to start\n");
        return 70;
    }
    int rc = d.roster ? load_roster(&d, argc, argv) : adhoc_hosts(&d, argc, argv);
    if (rc == 0 && !d.uninstall && !d.rollback)
        rc = load_binary(&d);
    if (rc == 0 && !d.uninstall)
        rc = master_info(&d);
    if (rc == 0 && d.ask_pass && !(d.pass = ask_password()))
        rc = EXIT_USAGE;
    if (rc != 0) {
        deploy_free(&d);
        return rc;
    }
    for (size_t i = 0; i < d.n; i++)
        host_defaults(&d, &d.hosts[i]);

    ssh_init();
    pthread_mutex_init(&d.lock, NULL);
    d.progress = isatty(STDERR_FILENO);
    d.started_ms = mc_mono_ms();
    size_t nthreads = d.n < (size_t)d.forks ? d.n : (size_t)d.forks;
    pthread_t *threads = mc_calloc(nthreads, sizeof *threads);
    for (size_t i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], NULL, worker, &d) != 0) {
            fprintf(stderr, "mctl deploy: cannot start a thread\n");
            interrupted = 1;
            nthreads = i;
        }
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    draw_progress(&d, true);
    for (size_t i = 0; i < d.n; i++)
        if (!d.hosts[i].result) {
            host_fail(&d.hosts[i], "interrupted before it started");
            d.failed++;
        }
    print_summary(&d);
    ssh_finalize();
    pthread_mutex_destroy(&d.lock);
    rc = d.failed ? EXIT_SOME_FAILED : EXIT_OK;
    deploy_free(&d);
    return rc;
}
