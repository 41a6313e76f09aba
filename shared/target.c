/*  target - see target.h. */
#include "target.h"

#include <fnmatch.h>
#include <string.h>

bool mc_target_kind_valid(const char *tgt_type)
{
    return strcmp(tgt_type, "glob") == 0 || strcmp(tgt_type, "list") == 0;
}

int mc_target_validate(const char *tgt, const char *tgt_type, mc_err_t *err)
{
    if (!mc_target_kind_valid(tgt_type)) {
        mc_err_set(err, "unknown target type '%s'", tgt_type);
        return -1;
    }
    if (tgt[strspn(tgt, " \t\n")] == '\0') {
        mc_err_set(err, "empty target");
        return -1;
    }
    return 0;
}

static bool list_contains(const char *list, const char *id)
{
    size_t idlen = strlen(id);
    const char *p = list;
    while (*p) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n == idlen && memcmp(p, id, n) == 0)
            return true;
        p += n;
    }
    return false;
}

bool mc_target_match(const char *tgt, const char *tgt_type, const char *id,
                     const msgpack_object *grains)
{
    (void)grains;
    if (strcmp(tgt_type, "glob") == 0)
        return fnmatch(tgt, id, 0) == 0;
    if (strcmp(tgt_type, "list") == 0)
        return list_contains(tgt, id);
    return false;
}
