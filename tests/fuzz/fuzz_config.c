/*  Fuzz target: the master and minion config files (YAML), the first byte
    picks which. Loading either succeeds or says why not. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    mc_err_t err;
    err.msg[0] = '\0';
    const char *text = (const char *)data + 1;
    if (data[0] & 1) {
        mc_master_config_t cfg;
        if (mc_master_config_parse(&cfg, text, size - 1, &err) == 0)
            mc_master_config_free(&cfg);
        else if (!err.msg[0])
            abort();
    } else {
        mc_minion_config_t cfg;
        if (mc_minion_config_parse(&cfg, text, size - 1, &err) == 0)
            mc_minion_config_free(&cfg);
        else if (!err.msg[0])
            abort();
    }
    return 0;
}
