/*  Fuzz target: the client API, as the master reads requests from
    SOCK_DIR/master.ipc. The real master code runs (server_open: keys,
    registry with three accepted minions, job cache, sockets on ports of
    its own) and each input is one request body; whatever it holds, the
    master answers or refuses it without crashing. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "keys.h"
#include "log.h"
#include "server.h"

static server_t *m;
static mc_master_config_t cfg;
static char dir[] = "/tmp/mctl-fuzz-client.XXXXXX";

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void done(void)
{
    server_close(&m);
    mc_master_config_free(&cfg);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static server_t *master(void)
{
    if (m)
        return m;
    mc_log_open("fuzz", MC_LOG_ERROR, NULL, NULL);
    if (sodium_init() < 0)
        abort();
    if (!mkdtemp(dir))
        abort();
    /* Three accepted minions, so targets match and jobs are published. */
    const char *ids[] = {"web1", "web2", "db1"};
    char *minions = mc_sprintf("%s/pki/minions", dir);
    mc_err_t err;
    if (mc_mkdir_p(minions, 0700, &err) != 0)
        abort();
    for (size_t i = 0; i < 3; i++) {
        unsigned char pub[32], sec[32];
        crypto_box_keypair(pub, sec);
        char *path = mc_sprintf("%s/%s", minions, ids[i]);
        if (mc_curve_save_public(path, pub, ids[i], &err) != 0)
            abort();
        free(path);
    }
    free(minions);
    for (int attempt = 0; attempt < 20 && !m; attempt++) {
        int base = 20000 + (int)(randombytes_uniform(30000));
        char *text =
            mc_sprintf("interface: 127.0.0.1\nret_port: %d\n"
                       "auth_port: %d\npublish_port: %d\npki_dir: %s/pki\ncachedir: %s/cache\n"
                       "sock_dir: %s/run\naudit_log: %s/audit.log\n"
                       "nodegroups:\n  web: 'web* or G@roles:web'\n",
                       base, base + 1, base + 2, dir, dir, dir, dir);
        if (mc_master_config_parse(&cfg, text, strlen(text), &err) != 0)
            abort();
        free(text);
        m = server_open(&cfg);
        if (!m)
            mc_master_config_free(&cfg);
    }
    if (!m)
        abort();
    atexit(done); /* after czmq's own, so it runs first */
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    server_feed_request(master(), data, size);
    return 0;
}
