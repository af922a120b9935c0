/*
 * The username rule of bc_password.h (what POST /api/admin/users accepts).
 * Hashing and verifying cost argon2's 64 MiB each: the API tests do those.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"

#include "bc_password.h"


#define VALID(s)  bc_username_valid(s, sizeof(s) - 1)


static void
test_username_valid(void **state)
{
    char  longest[BC_USERNAME_MAX + 2];

    (void) state;

    assert_true(VALID("admin"));
    assert_true(VALID("oscar.op"));
    assert_true(VALID("vera-view_2@example.org"));
    assert_true(VALID("7"));

    assert_false(VALID(""));
    assert_false(VALID(".hidden"));
    assert_false(VALID("-dash"));
    assert_false(VALID("two words"));
    assert_false(VALID("tab\there"));
    assert_false(VALID("quote'"));
    assert_false(VALID("semi;colon"));
    assert_false(VALID("caf\xc3\xa9"));
    assert_false(bc_username_valid("nul\0byte", 8));

    memset(longest, 'a', sizeof(longest));
    assert_true(bc_username_valid(longest, BC_USERNAME_MAX));
    assert_false(bc_username_valid(longest, BC_USERNAME_MAX + 1));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_username_valid)
)
