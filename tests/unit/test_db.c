/*
 * The message row -> JSON shape (no server needed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_db.h"


#define NCOLS  22


static void
test_message_json(void **state)
{
    char           *row[NCOLS] = {
        "01JD3ZQ6V0X8E4R2K5M7N9P1QS", "01JD3ZQ6V0X8E4R2K5M7N9P1QT", "sms",
        "outbound", "twilio", "+14155552671", "+15005550006", NULL,
        "hello", "delivered", "SM0123", NULL, NULL, "-0.00790", "USD",
        "1", "2",
        "2026-11-21T18:00:00.123456Z", "2026-11-21T18:00:01.999999Z",
        "2026-11-21T18:00:00.500000Z", NULL, NULL,
    };
    unsigned long   lengths[NCOLS];
    json_t         *j;
    size_t          i;
    char           *text;

    (void) state;

    for (i = 0; i < NCOLS; i++) {
        lengths[i] = row[i] ? strlen(row[i]) : 0;
    }

    j = bc_db_message_json(row, lengths);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), NCOLS);

    assert_string_equal(json_string_value(json_object_get(j, "id")),
                        "01JD3ZQ6V0X8E4R2K5M7N9P1QS");
    assert_string_equal(json_string_value(json_object_get(j, "to")),
                        "+14155552671");
    assert_string_equal(json_string_value(json_object_get(j, "from")),
                        "+15005550006");
    assert_true(json_is_null(json_object_get(j, "messaging_service_sid")));
    assert_true(json_is_null(json_object_get(j, "error_code")));
    assert_true(json_is_string(json_object_get(j, "price")));
    assert_string_equal(json_string_value(json_object_get(j, "price")),
                        "-0.00790");
    assert_int_equal(json_integer_value(json_object_get(j, "num_segments")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "created_at")),
                        "2026-11-21T18:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "updated_at")),
                        "2026-11-21T18:00:01.999Z");
    assert_string_equal(json_string_value(json_object_get(j, "sent_at")),
                        "2026-11-21T18:00:00.500Z");
    assert_true(json_is_null(json_object_get(j, "delivered_at")));
    assert_true(json_is_null(json_object_get(j, "read_at")));

    text = json_dumps(j, JSON_COMPACT);
    assert_non_null(text);
    free(text);
    json_decref(j);

    /* a NULL price is null, not 0 */
    row[13] = NULL;
    j = bc_db_message_json(row, lengths);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "price")));
    json_decref(j);
}


static void
test_conn_error(void **state)
{
    (void) state;

    assert_true(bc_db_conn_error(2006));
    assert_true(bc_db_conn_error(2013));
    assert_false(bc_db_conn_error(1062));
    assert_false(bc_db_conn_error(0));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_message_json),
    cmocka_unit_test(test_conn_error)
)
