/*
 * E.164 normalisation through libphonenumber.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_phone.h"


static void
ok(const char *in, const char *region, const char *expected)
{
    char         out[BC_PHONE_MAX];
    const char  *reason = NULL;
    int          rc;

    rc = bc_phone_normalize(in, strlen(in), region, out, &reason);
    if (rc != 0) {
        fail_msg("%s (%s): %s", in, region ? region : "-",
                 reason ? reason : "?");
    }

    assert_string_equal(out, expected);
}


static const char *
bad(const char *in, const char *region)
{
    char         out[BC_PHONE_MAX];
    const char  *reason = NULL;

    assert_int_equal(bc_phone_normalize(in, strlen(in), region, out,
                                        &reason), -1);
    assert_non_null(reason);
    assert_true(strlen(reason) > 0);

    return reason;
}


static void
test_valid(void **state)
{
    (void) state;

    ok("+1 415-555-2671", "US", "+14155552671");
    ok("+1 415-555-2671", NULL, "+14155552671");
    ok("(415) 555-2671", "US", "+14155552671");
    ok("(415) 555-2671", "us", "+14155552671");
    ok("whatsapp:+447911123456", "US", "+447911123456");
    ok("WhatsApp:+447911123456", NULL, "+447911123456");
    ok("07911 123456", "GB", "+447911123456");
    ok("020 7946 0958", "GB", "+442079460958");
    ok("+49 30 901820", "US", "+4930901820");
}


static void
test_invalid(void **state)
{
    char         out[BC_PHONE_MAX];
    const char  *reason;

    (void) state;

    assert_string_equal(bad("12", "US"), "number is too short");
    assert_string_equal(bad("abc", "US"), "not a number: no digits");
    assert_string_equal(bad("+1 555 0100", "US"),
        "not a valid phone number: it has the form of an E.164 number but "
        "is not in its country's numbering plan");
    assert_string_equal(bad("+19999999999", "US"),
        "not a valid phone number: it has the form of an E.164 number but "
        "is not in its country's numbering plan");
    bad("(415) 555-2671", NULL);
    assert_string_equal(bad("+1 415 555 2671 1234 5678 9012", "US"),
                        "number is too long");
    bad("whatsapp:", "US");

    reason = NULL;
    assert_int_equal(bc_phone_normalize("", 0, "US", out, &reason), -1);
    assert_non_null(reason);

    /* only len bytes are read */
    assert_int_equal(bc_phone_normalize("+14155552671", 5, "US", out,
                                        &reason), -1);
}


static void
test_region_valid(void **state)
{
    (void) state;

    assert_true(bc_phone_region_valid("US"));
    assert_true(bc_phone_region_valid("GB"));
    assert_true(bc_phone_region_valid("de"));
    assert_false(bc_phone_region_valid("ZZ"));
    assert_false(bc_phone_region_valid("XX"));
    assert_false(bc_phone_region_valid("USA"));
    assert_false(bc_phone_region_valid(""));
    assert_false(bc_phone_region_valid(NULL));
}


/* the audience filter's "country": the region an +E164 number belongs to */
static void
test_region_of(void **state)
{
    char  r[3];

    (void) state;

    assert_int_equal(bc_phone_region("+14155552671", r), 0);
    assert_string_equal(r, "US");
    assert_int_equal(bc_phone_region("+442071838750", r), 0);
    assert_string_equal(r, "GB");
    assert_int_equal(bc_phone_region("+8613800138000", r), 0);
    assert_string_equal(r, "CN");
    /* no leading +, nothing, or a non-geographic number: no region */
    assert_int_equal(bc_phone_region("14155552671", r), -1);
    assert_string_equal(r, "");
    assert_int_equal(bc_phone_region(NULL, r), -1);
    assert_int_equal(bc_phone_region("+80012345678", r), -1);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_valid),
    cmocka_unit_test(test_invalid),
    cmocka_unit_test(test_region_valid),
    cmocka_unit_test(test_region_of)
)
