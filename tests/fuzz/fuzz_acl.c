/*  Fuzz target: publisher_acl and publisher_acl_blacklist in a master
    config (YAML). The rules load or the config is refused with a reason;
    rules that load are then asked about a job (a user in a group, a
    function with an argument, three minions, one with grains), which must
    not crash whatever they say. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "mp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    mc_err_t err;
    err.msg[0] = '\0';
    mc_yaml_t *doc = mc_yaml_parse("master", (const char *)data, size, &err);
    if (!doc)
        return 0;
    acl_t *acl = acl_new(doc, &err);
    mc_yaml_free(&doc);
    if (!acl) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    /* {"a": ["nginx"], "k": {"refresh": true}, "g": {"roles": ["db"]}} */
    static const unsigned char msg[] = {0x83, 0xa1, 'a', 0x91, 0xa5, 'n', 'g', 'i', 'n', 'x', 0xa1,
                                        'k',  0x81, 0xa7, 'r', 'e', 'f', 'r', 'e', 's', 'h', 0xc3,
                                        0xa1, 'g',  0x81, 0xa5, 'r', 'o', 'l', 'e', 's', 0x91,
                                        0xa2, 'd',  'b'};
    mc_mp_doc_t m;
    if (mc_mp_parse(&m, msg, sizeof msg, &err) != 0)
        abort();
    const char *groups[] = {"ops", "users"};
    acl_caller_t who = {"alice", groups, 2};
    const char *ids[] = {"web1", "db1", "db9"};
    const msgpack_object *grains[] = {NULL, mc_mp_get(&m.root, "g"), mc_mp_get(&m.root, "g")};
    acl_minions_t minions = {ids, grains, 3};
    char why[256] = "";
    if (!acl_allows(acl, &who, "pkg.install", mc_mp_get(&m.root, "a"), mc_mp_get(&m.root, "k"),
                    &minions, why, sizeof why) &&
        !why[0])
        abort();
    acl_names(acl, &who);
    unsigned rights = acl_rights(acl, &who);
    if (rights & ~(unsigned)(ACL_RIGHT_JOBS | ACL_RIGHT_KEYS | ACL_RIGHT_DEPLOY))
        abort();
    acl_fun_blacklisted(acl, "test.ping");
    mc_mp_doc_done(&m);
    acl_destroy(&acl);
    return 0;
}
