/*  mctl-api - the HTTP API and web console: command line, configuration
    (the api_* settings of the master's config file), TLS, the HTTP
    server, signals. */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <zmq.h>

#include "api.h"
#include "config.h"
#include "daemon.h"
#include "http.h"
#include "jsonin.h"
#include "log.h"

/* A whole PEM file, NUL-terminated; NULL with err. Read in one buffer of
   its size, so that no copy of a key is left behind in freed memory. */
static char *read_pem(const char *what, const char *path, mc_err_t *err)
{
    FILE *f = fopen(path, "re");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        mc_err_code(err, MC_E_CONFIG, "%s %s: %s", what, path, strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    if (st.st_size <= 0 || st.st_size > 1024 * 1024) {
        mc_err_code(err, MC_E_CONFIG, "%s %s: not a PEM file (%lld bytes)", what, path,
                    (long long)st.st_size);
        fclose(f);
        return NULL;
    }
    size_t cap = (size_t)st.st_size;
    char *buf = mc_malloc(cap + 1);
    size_t len = fread(buf, 1, cap, f);
    fclose(f);
    buf[len] = '\0';
    if (!strstr(buf, "-----BEGIN ")) {
        mc_err_code(err, MC_E_CONFIG, "%s %s: not a PEM file", what, path);
        sodium_memzero(buf, cap + 1);
        free(buf);
        return NULL;
    }
    return buf;
}

#define API_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* api_host as a socket address; plain HTTP only on a loopback one. */
static int listen_addr(const mc_master_config_t *cfg, struct sockaddr_storage *ss, bool *v6,
                       mc_err_t *err)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(cfg->api_host, NULL, &hints, &ai) != 0 || !ai) {
        mc_err_code(err, MC_E_CONFIG, "api_host: '%s' is not an IPv4 or IPv6 address",
                    cfg->api_host);
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    *v6 = ss->ss_family == AF_INET6;
    bool loopback;
    if (*v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_port = htons((uint16_t)cfg->api_port);
        loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_port = htons((uint16_t)cfg->api_port);
        loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (cfg->api_disable_ssl && !loopback) {
        mc_err_code(err, MC_E_CONFIG,
                    "api_disable_ssl is allowed only with a loopback api_host (127.0.0.1 or "
                    "::1), not %s: passwords and tokens would cross the network in the clear",
                    cfg->api_host);
        return -1;
    }
    return 0;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    mc_warn("http: %s", line);
}

/* Serve until SIGTERM or SIGINT (blocked in every thread, read here). */
static int serve(api_t *api, const char *key, const char *crt, mc_err_t *err)
{
    struct sockaddr_storage ss;
    bool v6;
    if (listen_addr(api->cfg, &ss, &v6, err) != 0)
        return 78;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (api->tls ? MHD_USE_TLS : 0);
    /* TLS 1.2 and 1.3 only, whatever GnuTLS's defaults allow. */
    struct MHD_OptionItem tls_opts[] = {
        {api->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)crt},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)API_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned per_address = (unsigned)api->cfg->api_max_clients / 4;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)api->cfg->api_port, NULL, NULL, http_handle, api,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, http_completed, api,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)api->cfg->api_max_clients, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        per_address < 8 ? 8u : per_address, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_ARRAY,
        tls_opts, MHD_OPTION_END);
    if (!d) {
        mc_err_set(err, "cannot serve HTTP%s on %s port %d: %s", api->tls ? "S" : "",
                   api->cfg->api_host, api->cfg->api_port,
                   errno ? strerror(errno) : "libmicrohttpd refused the settings");
        return 69;
    }
    mc_info("mctl-api up on %s://%s:%d (master socket %s)", api->tls ? "https" : "http",
            api->cfg->api_host, api->cfg->api_port, api->ipc_path);
    mc_daemon_ready();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            mc_log_reopen();
            mc_info("SIGHUP: log reopened");
            continue;
        }
        mc_info("signal %d: stopping", sig);
        break;
    }
    atomic_store(&api->stop, true);
    MHD_stop_daemon(d);
    return 0;
}

int main(int argc, char **argv)
{
    mc_daemon_block_signals(false);
    mc_daemon_args_t args;
    int status;
    if (mc_daemon_parse_args(argc, argv, "mctl-api",
                             "Serve the mctl HTTP API and web console (HTTPS, PAM logins) on\n"
                             "api_host:api_port (default 0.0.0.0:8000), talking to the master\n"
                             "over its client socket. Settings are the api_* keys of the\n"
                             "master's config file.",
                             "Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reopens the log.", &args,
                             &status) != 0)
        return status;
    mc_master_config_t cfg;
    mc_err_t err;
    mc_log_open("mctl-api", MC_LOG_INFO, NULL, NULL);
    if (mc_master_config_load(&cfg, mc_config_dir(args.config_dir), &err) != 0) {
        fprintf(stderr, "mctl-api: %s\n", err.msg);
        return 78;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "mctl-api: libsodium failed to start\n");
        mc_master_config_free(&cfg);
        return 70;
    }
    jsonin_init();
    api_t api = {.cfg = &cfg, .tls = !cfg.api_disable_ssl};
    char *key = NULL, *crt = NULL;
    if (api.tls) {
        if (!cfg.api_ssl_crt[0] || !cfg.api_ssl_key[0]) {
            fprintf(stderr, "mctl-api: HTTPS needs api_ssl_crt and api_ssl_key in the master "
                            "config (or api_disable_ssl: true with a loopback api_host)\n");
            mc_master_config_free(&cfg);
            return 78;
        }
        if (!(crt = read_pem("api_ssl_crt", cfg.api_ssl_crt, &err)) ||
            !(key = read_pem("api_ssl_key", cfg.api_ssl_key, &err))) {
            fprintf(stderr, "mctl-api: %s\n", err.msg);
            free(crt);
            mc_master_config_free(&cfg);
            return 78;
        }
    }
    struct sockaddr_storage ss;
    bool v6;
    if (listen_addr(&cfg, &ss, &v6, &err) != 0) {
        fprintf(stderr, "mctl-api: %s\n", err.msg);
        status = 78;
        goto out;
    }
    api.ipc_path = mc_sprintf("%s/master.ipc", cfg.sock_dir);
    /* Each connection holds a socket, and its link to the master three
       descriptors: take the whole hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    const char *pidfile = args.pidfile ? args.pidfile : cfg.api_pidfile;
    status = mc_daemon_start("mctl-api", cfg.log_level, cfg.api_log_file, &args, pidfile);
    if (status == 0) {
        api.zctx = zmq_ctx_new();
        zmq_ctx_set(api.zctx, ZMQ_BLOCKY, 0);
        /* Three sockets a connection to the master: the DEALER, its
           monitor and libzmq's end of the monitor. */
        zmq_ctx_set(api.zctx, ZMQ_MAX_SOCKETS, 3 * cfg.api_max_clients + 16);
        api.sessions = sessions_new();
        status = serve(&api, key, crt, &err);
        if (status != 0)
            mc_error("%s", err.msg);
        sessions_destroy(&api.sessions);
        zmq_ctx_term(api.zctx);
    }
    status = mc_daemon_stop(status);
out:
    if (key)
        sodium_memzero(key, strlen(key));
    free(key);
    free(crt);
    free(api.ipc_path);
    mc_master_config_free(&cfg);
    mc_log_close();
    return status;
}
