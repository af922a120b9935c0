/*
 * UTF-8 well-formedness and in-place repair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_utf8.h"


static size_t
valid(const char *s)
{
    return bc_utf8_valid(s, strlen(s));
}


static void
test_valid(void **state)
{
    (void) state;

    assert_int_equal(valid(""), 0);
    assert_int_equal(valid("plain ascii"), 11);
    /* 2-, 3- and 4-byte characters, and the edges of the code space */
    assert_int_equal(valid("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"), 15);
    assert_int_equal(valid("\xed\x9f\xbf"), 3);           /* U+D7FF */
    assert_int_equal(valid("\xf4\x8f\xbf\xbf"), 4);       /* U+10FFFF */
}


static void
test_invalid(void **state)
{
    (void) state;

    assert_int_equal(valid("ok\xff"), 2);                 /* never UTF-8 */
    assert_int_equal(valid("ok\xc0\xaf"), 2);             /* overlong '/' */
    assert_int_equal(valid("ok\xe0\x80\xaf"), 2);         /* overlong */
    assert_int_equal(valid("ok\xed\xa0\x80"), 2);         /* surrogate */
    assert_int_equal(valid("ok\xf4\x90\x80\x80"), 2);     /* > U+10FFFF */
    assert_int_equal(valid("ok\xe2\x9c"), 2);             /* cut short */
    assert_int_equal(valid("ok\x80"), 2);                 /* lone trail */
}


static void
test_repair(void **state)
{
    char  s[] = "bad \xff\xfe bytes, \xe2\x9c\x93 kept, cut \xe2\x9c";

    (void) state;

    assert_int_equal(bc_utf8_repair(s, strlen(s)), 4);
    assert_string_equal(s, "bad ?? bytes, \xe2\x9c\x93 kept, cut ??");
    assert_int_equal(valid(s), strlen(s));

    /* a good character right after a bad byte survives */
    char  t[] = "\xc3\xc3\xa9";
    assert_int_equal(bc_utf8_repair(t, strlen(t)), 1);
    assert_string_equal(t, "?\xc3\xa9");
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_valid),
    cmocka_unit_test(test_invalid),
    cmocka_unit_test(test_repair)
)
