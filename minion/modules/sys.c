/*  sys - what the minion can do: sys.list_functions, sys.doc. */
#include <fnmatch.h>
#include <string.h>

#include "module.h"
#include "mp.h"

/* Each function name matching pattern (a module name or a glob). */
static size_t each_function(const char *pattern,
                            void (*fn)(mc_call_t *, const char *, const mc_function_t *),
                            mc_call_t *call)
{
    size_t n = 0;
    for (const mc_module_t *const *m = mc_modules; *m; m++) {
        for (const mc_function_t *f = (*m)->functions; f->name; f++) {
            char full[256];
            snprintf(full, sizeof full, "%s.%s", (*m)->name, f->name);
            if (pattern && strcmp(pattern, (*m)->name) != 0 && fnmatch(pattern, full, 0) != 0)
                continue;
            if (fn)
                fn(call, full, f);
            n++;
        }
    }
    return n;
}

static void pack_name(mc_call_t *call, const char *full, const mc_function_t *f)
{
    (void)f;
    mc_pk_str(call->pk, full);
}

static void pack_doc(mc_call_t *call, const char *full, const mc_function_t *f)
{
    mc_pk_kv_str(call->pk, full, f->doc);
}

static void sys_list_functions(mc_call_t *call)
{
    char *pattern = NULL;
    if (mc_call_max_args(call, 1) != 0 || mc_call_str(call, 0, "module", &pattern) < 0)
        return;
    msgpack_pack_array(call->pk, each_function(pattern, NULL, call));
    each_function(pattern, pack_name, call);
    free(pattern);
}

static void sys_doc(mc_call_t *call)
{
    char *pattern = NULL;
    if (mc_call_max_args(call, 1) != 0 || mc_call_str(call, 0, "fun", &pattern) < 0)
        return;
    msgpack_pack_map(call->pk, each_function(pattern, NULL, call));
    each_function(pattern, pack_doc, call);
    free(pattern);
}

static const mc_function_t functions[] = {
    {"list_functions", sys_list_functions,
     "List the functions this minion has, all or those of one module (or a glob).\n\n"
     "    mctl '*' sys.list_functions\n    mctl '*' sys.list_functions cmd",
     MC_FN_QUICK},
    {"doc", sys_doc,
     "Return the documentation of every function, or of one module or glob.\n\n"
     "    mctl '*' sys.doc cmd.run",
     MC_FN_QUICK},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_sys = {"sys", functions};
