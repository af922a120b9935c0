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
    static const struct {
        const char  *key;
        const char  *value;     /* NULL: null */
    } strings[] = {
        { "id", "01JD3ZQ6V0X8E4R2K5M7N9P1QS" },
        { "to", "+14155552671" },
        { "from", "+15005550006" },
        { "messaging_service_sid", NULL },
        { "error_code", NULL },
        { "price", "-0.00790" },
        { "created_at", "2026-11-21T18:00:00.123Z" },
        { "updated_at", "2026-11-21T18:00:01.999Z" },
        { "sent_at", "2026-11-21T18:00:00.500Z" },
        { "delivered_at", NULL },
        { "read_at", NULL },
    };

    (void) state;

    for (i = 0; i < NCOLS; i++) {
        lengths[i] = row[i] ? strlen(row[i]) : 0;
    }

    j = bc_db_message_json(row, lengths);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), NCOLS);

    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (strings[i].value != NULL) {
            assert_string_equal(
                json_string_value(json_object_get(j, strings[i].key)),
                strings[i].value);
        } else {
            assert_true(json_is_null(json_object_get(j, strings[i].key)));
        }
    }
    assert_int_equal(json_integer_value(json_object_get(j, "num_segments")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);

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
