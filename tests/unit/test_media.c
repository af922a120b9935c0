/*
 * The media-type rule of every body the module takes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_media.h"


static int
is(const char *v, const char *type)
{
    return bc_media_type_is(v, strlen(v), type);
}


static void
test_media_type(void **state)
{
    (void) state;

    assert_true(is("application/json", "application/json"));
    assert_true(is("Application/JSON", "application/json"));
    assert_true(is("application/json; charset=utf-8", "application/json"));
    assert_true(is("application/json;charset=UTF-8", "application/json"));
    assert_true(is(" application/json ", "application/json"));
    assert_true(is("multipart/form-data; boundary=x", "multipart/form-data"));

    assert_false(is("", "application/json"));
    assert_false(is("application/jsonx", "application/json"));
    assert_false(is("application/json-patch+json", "application/json"));
    assert_false(is("application/jso", "application/json"));
    assert_false(is("text/json", "application/json"));
    assert_false(is("application/json x", "application/json"));
    assert_false(is("text/csvfoo", "text/csv"));
    /* the length bounds the value: no reading past it */
    assert_false(bc_media_type_is("application/json", 10, "application/json"));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_media_type)
)
