/*  Fuzz target: key material read from files and configs: a public key
    file (zcert format, as in pki_dir/minions/ID and master.cert) and Z85
    key text (master_pubkey, master_sign.pub). The first byte picks which. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    unsigned char key[MC_KEY_LEN];
    if (data[0] & 1) {
        char *text = mc_strndup((const char *)data + 1, size - 1);
        if (mc_z85_key_decode(text, key) == 0) {
            char back[MC_Z85_KEY_LEN + 1];
            mc_z85_key(key, back);
            if (strlen(text) != MC_Z85_KEY_LEN || strcmp(back, text) != 0)
                abort(); /* decoding must be exact, or refuse */
        }
        free(text);
        return 0;
    }
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-key", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1))
        abort();
    mc_err_t err;
    err.msg[0] = '\0';
    if (mc_curve_load_public(path, key, &err) != 0 && !err.msg[0])
        abort();
    return 0;
}
