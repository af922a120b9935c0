/*
 * The status vocabulary: ranks, forward-only order, Twilio mapping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_status.h"


static void
test_ranks(void **state)
{
    (void) state;

    assert_int_equal(bc_status_rank("queued"), 10);
    assert_int_equal(bc_status_rank("accepted"), 20);
    assert_int_equal(bc_status_rank("sending"), 30);
    assert_int_equal(bc_status_rank("sent"), 40);
    assert_int_equal(bc_status_rank("delivered"), 50);
    assert_int_equal(bc_status_rank("read"), 60);
    assert_int_equal(bc_status_rank("failed"), BC_RANK_TERMINAL);
    assert_int_equal(bc_status_rank("undelivered"), BC_RANK_TERMINAL);
    assert_int_equal(bc_status_rank("blocked"), BC_RANK_TERMINAL);
    assert_int_equal(bc_status_rank("canceled"), BC_RANK_TERMINAL);
    assert_int_equal(bc_status_rank("received"), -1);
    assert_int_equal(bc_status_rank("Queued"), -1);
    assert_int_equal(bc_status_rank(""), -1);
    assert_int_equal(bc_status_rank(NULL), -1);
}


static void
test_advances(void **state)
{
    assert_true(bc_status_advances("queued", "accepted"));
    assert_true(bc_status_advances("accepted", "delivered"));
    assert_true(bc_status_advances("sent", "failed"));
    assert_true(bc_status_advances("delivered", "read"));
    assert_true(bc_status_advances(NULL, "queued"));

    (void) state;

    /* never backwards, never sideways */
    assert_false(bc_status_advances("delivered", "sent"));
    assert_false(bc_status_advances("sent", "sent"));

    /* terminal is final, even for another terminal */
    assert_false(bc_status_advances("failed", "delivered"));
    assert_false(bc_status_advances("undelivered", "failed"));
    assert_false(bc_status_advances("canceled", "read"));
    assert_false(bc_status_advances("blocked", "sent"));

    /* unknown next values never apply */
    assert_false(bc_status_advances("queued", "bogus"));
    assert_false(bc_status_advances("queued", NULL));
}


static void
test_twilio(void **state)
{
    (void) state;

    assert_string_equal(bc_status_from_twilio("queued"), "accepted");
    assert_string_equal(bc_status_from_twilio("accepted"), "accepted");
    assert_string_equal(bc_status_from_twilio("scheduled"), "accepted");
    assert_string_equal(bc_status_from_twilio("sending"), "sending");
    assert_string_equal(bc_status_from_twilio("sent"), "sent");
    assert_string_equal(bc_status_from_twilio("delivered"), "delivered");
    assert_string_equal(bc_status_from_twilio("read"), "read");
    assert_string_equal(bc_status_from_twilio("failed"), "failed");
    assert_string_equal(bc_status_from_twilio("undelivered"),
                        "undelivered");
    assert_string_equal(bc_status_from_twilio("canceled"), "canceled");
    assert_null(bc_status_from_twilio("receiving"));
    assert_null(bc_status_from_twilio("received"));
    assert_null(bc_status_from_twilio("bogus"));
    assert_null(bc_status_from_twilio(NULL));
}


static void
test_meta(void **state)
{
    (void) state;

    assert_string_equal(bc_status_from_meta("sent"), "sent");
    assert_string_equal(bc_status_from_meta("delivered"), "delivered");
    assert_string_equal(bc_status_from_meta("read"), "read");
    assert_string_equal(bc_status_from_meta("failed"), "failed");
    assert_null(bc_status_from_meta("received"));
    assert_null(bc_status_from_meta("deleted"));
    assert_null(bc_status_from_meta(NULL));
}


static void
test_sendgrid(void **state)
{
    (void) state;

    assert_string_equal(bc_status_from_sendgrid("processed"), "accepted");
    assert_string_equal(bc_status_from_sendgrid("delivered"), "delivered");
    assert_string_equal(bc_status_from_sendgrid("open"), "read");
    assert_string_equal(bc_status_from_sendgrid("click"), "read");
    assert_string_equal(bc_status_from_sendgrid("bounce"), "failed");
    assert_string_equal(bc_status_from_sendgrid("dropped"), "failed");
    assert_null(bc_status_from_sendgrid("deferred"));
    assert_null(bc_status_from_sendgrid("spamreport"));
    assert_null(bc_status_from_sendgrid("Delivered"));
    assert_null(bc_status_from_sendgrid(NULL));
}


/* the tables are also metric label lists: sizes and lookups by length */
static void
test_tables(void **state)
{
    (void) state;

    assert_int_equal(bc_status_map_size(bc_status_twilio), 13);
    assert_int_equal(bc_status_map_size(bc_status_meta), 5);
    assert_int_equal(bc_status_map_size(bc_status_sendgrid), 12);
    assert_int_equal(bc_status_map_index(bc_status_twilio, "sentx", 4), 4);
    assert_int_equal(bc_status_map_index(bc_status_meta, "read", 4), 2);
    assert_int_equal(bc_status_map_index(bc_status_meta, "rea", 3), 5);
    assert_int_equal(bc_status_map_index(bc_status_sendgrid, "", 0), 12);

    assert_true(bc_status_provider_has("accepted"));
    assert_true(bc_status_provider_has("failed"));
    assert_false(bc_status_provider_has("queued"));
    assert_false(bc_status_provider_has("bogus"));
    assert_false(bc_status_provider_has(NULL));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_ranks),
    cmocka_unit_test(test_advances),
    cmocka_unit_test(test_twilio),
    cmocka_unit_test(test_meta),
    cmocka_unit_test(test_sendgrid),
    cmocka_unit_test(test_tables)
)
