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
    /* a failure after a confirmed delivery does not undo it */
    assert_false(bc_status_advances("delivered", "failed"));
    assert_false(bc_status_advances("delivered", "undelivered"));
    assert_false(bc_status_advances("read", "failed"));
    assert_true(bc_status_advances("sent", "undelivered"));
    assert_true(bc_status_advances("accepted", "blocked"));
    assert_true(bc_status_rank_advances(0, 100));
    assert_false(bc_status_rank_advances(50, 100));
    assert_true(bc_status_rank_advances(40, 100));
    assert_false(bc_status_advances("undelivered", "failed"));
    assert_false(bc_status_advances("canceled", "read"));
    assert_false(bc_status_advances("blocked", "sent"));

    /* unknown next values never apply */
    assert_false(bc_status_advances("queued", "bogus"));
    assert_false(bc_status_advances("queued", NULL));
}


/* a provider's word and the status it maps to (NULL: none) */
typedef struct {
    const char  *in;
    const char  *want;
} map_case_t;


static void
expect_map(const char *(*from)(const char *), const map_case_t *cases,
    size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (cases[i].want != NULL) {
            assert_string_equal(from(cases[i].in), cases[i].want);
        } else {
            assert_null(from(cases[i].in));
        }
    }
}


static void
test_twilio(void **state)
{
    static const map_case_t  cases[] = {
        { "queued", "accepted" }, { "accepted", "accepted" },
        { "scheduled", "accepted" }, { "sending", "sending" },
        { "sent", "sent" }, { "delivered", "delivered" }, { "read", "read" },
        { "failed", "failed" }, { "undelivered", "undelivered" },
        { "canceled", "canceled" }, { "receiving", NULL },
        { "received", NULL }, { "bogus", NULL }, { NULL, NULL },
    };

    (void) state;

    expect_map(bc_status_from_twilio, cases,
               sizeof(cases) / sizeof(cases[0]));
}


static void
test_meta(void **state)
{
    static const map_case_t  cases[] = {
        { "sent", "sent" }, { "delivered", "delivered" }, { "read", "read" },
        { "failed", "failed" }, { "received", NULL }, { "deleted", NULL },
        { NULL, NULL },
    };

    (void) state;

    expect_map(bc_status_from_meta, cases, sizeof(cases) / sizeof(cases[0]));
}


static void
test_sendgrid(void **state)
{
    static const map_case_t  cases[] = {
        { "processed", "accepted" }, { "delivered", "delivered" },
        { "open", "read" }, { "click", "read" }, { "bounce", "failed" },
        { "dropped", "failed" }, { "deferred", NULL }, { "spamreport", NULL },
        { "Delivered", NULL }, { NULL, NULL },
    };

    (void) state;

    expect_map(bc_status_from_sendgrid, cases,
               sizeof(cases) / sizeof(cases[0]));
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
