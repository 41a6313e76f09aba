/*  cli/gssapi_lazy.c: libgssapi_krb5 is not loaded until a GSSAPI
    function is called; then the call reaches the real library, and the
    two name type OIDs the static libzmq reads are the library's own. */
#include <dlfcn.h>
#include <gssapi/gssapi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define SONAME "libgssapi_krb5.so.2"

static void not_loaded_until_called(void **state)
{
    (void)state;
    assert_null(dlopen(SONAME, RTLD_NOW | RTLD_NOLOAD));
    OM_uint32 minor;
    gss_buffer_desc empty = {0, NULL};
    assert_int_equal(gss_release_buffer(&minor, &empty), GSS_S_COMPLETE);
    void *h = dlopen(SONAME, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h);
    dlclose(h);
}

static void calls_reach_the_library(void **state)
{
    (void)state;
    OM_uint32 minor;
    gss_buffer_desc text = {sizeof "host@example.org" - 1, (void *)"host@example.org"};
    gss_name_t name = GSS_C_NO_NAME;
    assert_int_equal(gss_import_name(&minor, &text, GSS_C_NT_HOSTBASED_SERVICE, &name),
                     GSS_S_COMPLETE);
    assert_non_null(name);
    gss_buffer_desc shown = {0, NULL};
    gss_OID type = GSS_C_NO_OID;
    assert_int_equal(gss_display_name(&minor, name, &shown, &type), GSS_S_COMPLETE);
    assert_int_equal(shown.length, text.length);
    assert_memory_equal(shown.value, text.value, text.length);
    assert_int_equal(gss_release_buffer(&minor, &shown), GSS_S_COMPLETE);
    assert_int_equal(gss_release_name(&minor, &name), GSS_S_COMPLETE);
    assert_null(name);
}

/* Ours against the library's, by value. */
static void same_oid(const char *symbol, gss_OID ours)
{
    void *h = dlopen(SONAME, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(h);
    gss_OID *theirs = dlsym(h, symbol);
    assert_non_null(theirs);
    assert_int_equal((*theirs)->length, ours->length);
    assert_memory_equal((*theirs)->elements, ours->elements, ours->length);
    dlclose(h);
}

static void name_types_are_the_library_s(void **state)
{
    (void)state;
    same_oid("GSS_C_NT_USER_NAME", GSS_C_NT_USER_NAME);
    same_oid("GSS_C_NT_HOSTBASED_SERVICE", GSS_C_NT_HOSTBASED_SERVICE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(not_loaded_until_called),
        cmocka_unit_test(calls_reach_the_library),
        cmocka_unit_test(name_types_are_the_library_s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
