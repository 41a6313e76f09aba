/*  deploy - what the files of mctl-deploy share: its options and hosts
    (deploy_t, host_t), and the functions of deploy.c (options, the pool
    of workers, main), deploy_roster.c, deploy_payload.c, deploy_ssh.c and
    deploy_host.c. */
#ifndef MC_DEPLOY_H
#define MC_DEPLOY_H

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

typedef struct {
    char *out, *err;
    size_t out_len, err_len;
    int status;
} remote_t;

/* Set by SIGINT and SIGTERM: every step stops at its next check. */
extern volatile sig_atomic_t deploy_interrupted;

/* deploy.c: a usage error said (exit 64), and a host's failure noted. */
int deploy_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void deploy_host_fail(host_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* deploy_roster.c */
int deploy_parse_port(const char *s, int *port);
void deploy_host_defaults(deploy_t *d, host_t *h);
int deploy_load_roster(deploy_t *d, int argc, char **argv);
int deploy_adhoc_hosts(deploy_t *d, int argc, char **argv);
/* deploy_payload.c */
void deploy_sha256_hex(const void *data, size_t len, char out[65]);
bool deploy_arch_compatible(const char *binary, const char *host);
void deploy_binary_version(const char *data, size_t len, char *out, size_t cap);
int deploy_load_binary(deploy_t *d);
char *deploy_minion_config(const deploy_t *d, const host_t *h, bool systemd, size_t *len);
/* deploy_ssh.c */
ssh_session deploy_ssh_open(deploy_t *d, host_t *h);
void deploy_ssh_close(ssh_session *s);
void deploy_remote_done(remote_t *r);
int deploy_remote_action(ssh_session s, host_t *h, const char *action, const char *arg,
                         const char *pass, remote_t *r);
const char *deploy_field(const char *text, const char *key, char *out, size_t outlen);
const char *deploy_sudo_pass(const deploy_t *d, const host_t *h);
int deploy_put(ssh_session s, sftp_session sf, host_t *h, const char *path, const void *data,
               size_t len, mode_t mode);
char *deploy_upload(deploy_t *d, ssh_session s, host_t *h, bool binary, const char *config,
                    size_t config_len, bool unit);
/* deploy_host.c */
int deploy_master_info(deploy_t *d);
void deploy_rollback_host(deploy_t *d, host_t *h);
void deploy_uninstall_host(deploy_t *d, host_t *h);
void deploy_host(deploy_t *d, host_t *h);

#endif
