/*  gssapi_lazy - libgssapi_krb5, loaded when first called rather than at
    every start of mctl.

    The static libzmq that mctl links (MCTL_STATIC_CLI) carries ZeroMQ's
    GSSAPI mechanism, so it calls these eleven functions of MIT Kerberos'
    libgssapi_krb5, which has no static archive, and reads two of its name
    type OIDs. Linked as a shared library
    it is loaded, with libkrb5 and four more, at each start of mctl: 1.5 ms
    of a command that takes 10 (`perf stat` on an empty program with and
    without it). mctl speaks CURVE only and never calls them; should it,
    each function loads the real library (dlopen, by the soname the
    archive was built against) and calls the real function. Where the
    library cannot be loaded, the call fails with GSS_S_FAILURE, as a
    mechanism the library does not have would. Nothing here implements
    GSSAPI. */
#include <dlfcn.h>
#include <gssapi/gssapi.h>
#include <pthread.h>
#include <stddef.h>

#define GSSAPI_SONAME "libgssapi_krb5.so.2"

static void *library;
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

static void load(void)
{
    library = dlopen(GSSAPI_SONAME, RTLD_NOW | RTLD_LOCAL);
}

/* The real function, or NULL when the library is not there. */
static void *real(const char *name)
{
    pthread_once(&loaded, load);
    return library ? dlsym(library, name) : NULL;
}

/* The two name types the archive reads as data: their OIDs as RFC 2744
   gives them (the library compares OIDs by value). */
static gss_OID_desc user_name = {10, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x01"};
static gss_OID_desc hostbased_service = {10, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04"};
gss_OID GSS_C_NT_USER_NAME = &user_name;
gss_OID GSS_C_NT_HOSTBASED_SERVICE = &hostbased_service;

/* Each function: the real one, called with the same arguments. */
#define FORWARD(name, params, args)                                                                \
    OM_uint32 KRB5_CALLCONV name params                                                            \
    {                                                                                              \
        OM_uint32(KRB5_CALLCONV *fn) params = (OM_uint32(KRB5_CALLCONV *) params)real(#name);      \
        if (!fn) {                                                                                 \
            *minor = 0;                                                                            \
            return GSS_S_FAILURE;                                                                  \
        }                                                                                          \
        return fn args;                                                                            \
    }

FORWARD(gss_acquire_cred,
        (OM_uint32 * minor, gss_name_t name, OM_uint32 time_req, gss_OID_set mechs,
         gss_cred_usage_t usage, gss_cred_id_t *cred, gss_OID_set *actual, OM_uint32 *time_rec),
        (minor, name, time_req, mechs, usage, cred, actual, time_rec))
FORWARD(gss_release_cred, (OM_uint32 * minor, gss_cred_id_t *cred), (minor, cred))
FORWARD(gss_init_sec_context,
        (OM_uint32 * minor, gss_cred_id_t cred, gss_ctx_id_t *ctx, gss_name_t target, gss_OID mech,
         OM_uint32 req_flags, OM_uint32 time_req, gss_channel_bindings_t bindings,
         gss_buffer_t input, gss_OID *actual_mech, gss_buffer_t output, OM_uint32 *ret_flags,
         OM_uint32 *time_rec),
        (minor, cred, ctx, target, mech, req_flags, time_req, bindings, input, actual_mech, output,
         ret_flags, time_rec))
FORWARD(gss_accept_sec_context,
        (OM_uint32 * minor, gss_ctx_id_t *ctx, gss_cred_id_t cred, gss_buffer_t input,
         gss_channel_bindings_t bindings, gss_name_t *src_name, gss_OID *mech, gss_buffer_t output,
         OM_uint32 *ret_flags, OM_uint32 *time_rec, gss_cred_id_t *delegated),
        (minor, ctx, cred, input, bindings, src_name, mech, output, ret_flags, time_rec, delegated))
FORWARD(gss_delete_sec_context, (OM_uint32 * minor, gss_ctx_id_t *ctx, gss_buffer_t output),
        (minor, ctx, output))
FORWARD(gss_wrap,
        (OM_uint32 * minor, gss_ctx_id_t ctx, int conf_req, gss_qop_t qop, gss_buffer_t input,
         int *conf_state, gss_buffer_t output),
        (minor, ctx, conf_req, qop, input, conf_state, output))
FORWARD(gss_unwrap,
        (OM_uint32 * minor, gss_ctx_id_t ctx, gss_buffer_t input, gss_buffer_t output,
         int *conf_state, gss_qop_t *qop),
        (minor, ctx, input, output, conf_state, qop))
FORWARD(gss_display_name, (OM_uint32 * minor, gss_name_t name, gss_buffer_t output, gss_OID *type),
        (minor, name, output, type))
FORWARD(gss_import_name, (OM_uint32 * minor, gss_buffer_t input, gss_OID type, gss_name_t *output),
        (minor, input, type, output))
FORWARD(gss_release_name, (OM_uint32 * minor, gss_name_t *name), (minor, name))
FORWARD(gss_release_buffer, (OM_uint32 * minor, gss_buffer_t buffer), (minor, buffer))
