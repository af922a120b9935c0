/*
 * bc_json_fields: top-level members of a provider's JSON answer, streamed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_json.h"


/* a Twilio Messages.json 201 answer as Twilio documents it */
static const char  twilio_created[] =
    "{\"account_sid\": \"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\", "
    "\"api_version\": \"2010-04-01\", \"body\": \"Hi \\\"you\\\" \\u20ac\", "
    "\"date_created\": \"Thu, 24 Aug 2023 05:01:45 +0000\", "
    "\"date_sent\": null, \"direction\": \"outbound-api\", "
    "\"error_code\": null, \"error_message\": null, "
    "\"from\": \"+14155552345\", \"num_media\": \"0\", "
    "\"num_segments\": \"1\", \"price\": null, \"price_unit\": \"USD\", "
    "\"sid\": \"SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\", \"status\": \"queued\", "
    "\"subresource_uris\": {\"media\": \"/x/Media.json\", "
    "\"sid\": \"nested, not ours\"}, \"to\": \"+14155552345\", "
    "\"list\": [1, {\"status\": \"nested\"}, [true]], "
    "\"uri\": \"/x.json\"}";


static void
test_twilio_answer(void **state)
{
    char              sid[64], status[32], segs[8], price[16], unit[8],
                      body[64], code[8];
    bc_json_field_t   f[] = {
        { "sid", sid, sizeof(sid) },
        { "status", status, sizeof(status) },
        { "num_segments", segs, sizeof(segs) },
        { "price", price, sizeof(price) },
        { "price_unit", unit, sizeof(unit) },
        { "body", body, sizeof(body) },
        { "error_code", code, sizeof(code) },
    };

    (void) state;

    strcpy(price, "stale");

    assert_int_equal(bc_json_fields(twilio_created, sizeof(twilio_created) - 1,
                                    f, 7), 0);
    assert_string_equal(sid, "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    assert_string_equal(status, "queued");
    assert_string_equal(segs, "1");
    assert_string_equal(price, "");             /* null */
    assert_string_equal(unit, "USD");
    assert_string_equal(body, "Hi \"you\" \xe2\x82\xac");  /* decoded */
    assert_string_equal(code, "");
}


static void
test_numbers_and_kinds(void **state)
{
    char              a[16], b[16], c[16], d[16], e[16];
    bc_json_field_t   f[] = {
        { "a", a, sizeof(a) }, { "b", b, sizeof(b) }, { "c", c, sizeof(c) },
        { "d", d, sizeof(d) }, { "e", e, sizeof(e) },
    };
    const char        doc[] = "{\"a\": 21211, \"b\": -0.00750, \"c\": true, "
                              "\"d\": {\"x\": 1}, \"e\": [\"y\"], "
                              "\"a\": 30007}";

    (void) state;

    assert_int_equal(bc_json_fields(doc, sizeof(doc) - 1, f, 5), 0);
    assert_string_equal(a, "30007");            /* the last one wins */
    assert_string_equal(b, "-0.00750");         /* as written */
    assert_string_equal(c, "");
    assert_string_equal(d, "");
    assert_string_equal(e, "");
}


static void
test_too_long_and_nul(void **state)
{
    char              a[4], b[16];
    bc_json_field_t   f[] = { { "a", a, sizeof(a) }, { "b", b, sizeof(b) } };
    const char        doc[] = "{\"a\": \"four\", \"b\": \"x\\u0000y\"}";

    (void) state;

    assert_int_equal(bc_json_fields(doc, sizeof(doc) - 1, f, 2), 0);
    assert_string_equal(a, "");                 /* never cut */
    assert_string_equal(b, "");                 /* no C string */
}


static void
test_rejects(void **state)
{
    static const char *const  bad[] = {
        "", "[]", "[{\"a\": \"1\"}]", "\"a\"", "42", "null",
        "{\"a\": \"1\"", "{\"a\": \"1\"} {}", "{\"a\": \"1\"} x",
        "{\"a\": '1'}", "{a: \"1\"}", "{\"a\": \"\xff\"}",
        "{\"a\": \"1\",}", "{\"a\": \"1\"} // c",
    };
    char              a[16];
    bc_json_field_t   f[] = { { "a", a, sizeof(a) } };
    size_t            i;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(a, "stale");
        assert_int_equal(bc_json_fields(bad[i], strlen(bad[i]), f, 1), -1);
        assert_string_equal(a, "");
    }

    assert_int_equal(bc_json_fields("{}", 2, f, 1), 0);
    assert_string_equal(a, "");
    assert_int_equal(bc_json_fields(" {\"a\":\"1\"}\n", 11, f, 1), 0);
    assert_string_equal(a, "1");
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_twilio_answer),
    cmocka_unit_test(test_numbers_and_kinds),
    cmocka_unit_test(test_too_long_and_nul),
    cmocka_unit_test(test_rejects)
)
