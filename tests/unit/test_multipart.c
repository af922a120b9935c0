/*
 * multipart/form-data as Inbound Parse posts it, and mail header mailboxes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_addr.h"
#include "bc_multipart.h"


#define BODY                                                                 \
    "--xYzZY\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\n"       \
    "Ann <Ann@Example.com>\r\n"                                               \
    "--xYzZY\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\n"    \
    "hi\r\n--xYzZY--\r\n"


static void
test_boundary(void **state)
{
    char  b[BC_MP_BOUNDARY_MAX + 1];
    const char *ct;

    (void) state;

    ct = "multipart/form-data; boundary=xYzZY";
    assert_int_equal(bc_mp_boundary(ct, strlen(ct), b), 0);
    assert_string_equal(b, "xYzZY");
    ct = "multipart/form-data; charset=utf-8; BOUNDARY=\"a b\"";
    assert_int_equal(bc_mp_boundary(ct, strlen(ct), b), 0);
    assert_string_equal(b, "a b");
    ct = "multipart/form-data";
    assert_int_equal(bc_mp_boundary(ct, strlen(ct), b), -1);
    ct = "multipart/form-data; boundary=";
    assert_int_equal(bc_mp_boundary(ct, strlen(ct), b), -1);
    ct = "multipart/form-data; boundary=\"open";
    assert_int_equal(bc_mp_boundary(ct, strlen(ct), b), -1);
    ct = "multipart/form-data; xboundary=abc";
    assert_int_equal(bc_mp_boundary(ct, strlen(ct), b), -1);
}


static void
test_complete(void **state)
{
    const char  *body = BODY;
    size_t       len = strlen(body), cut;

    (void) state;

    assert_true(bc_mp_complete(body, len, "xYzZY"));
    /* every truncation is refused */
    for (cut = 0; cut < len - 4; cut++) {
        assert_false(bc_mp_complete(body, cut, "xYzZY"));
    }
    assert_false(bc_mp_complete(body, len, "other"));
    assert_false(bc_mp_complete("garbage", 7, "xYzZY"));
    assert_false(bc_mp_complete("--xYzZY\r\nno header end--xYzZY--", 32,
                                "xYzZY"));
}


static void
test_field(void **state)
{
    const char  *body = BODY;
    char        *v;

    (void) state;

    v = bc_mp_field(body, strlen(body), "xYzZY", "from");
    assert_non_null(v);
    assert_string_equal(v, "Ann <Ann@Example.com>");
    free(v);
    v = bc_mp_field(body, strlen(body), "xYzZY", "subject");
    assert_string_equal(v, "hi");
    free(v);
    assert_null(bc_mp_field(body, strlen(body), "xYzZY", "text"));
    assert_null(bc_mp_field(body, strlen(body), "xYzZY", "rom"));
}


static void
test_mailbox(void **state)
{
    char  out[BC_EMAIL_MAX + 1];

    (void) state;

    assert_true(bc_email_mailbox("Ann <Ann@Example.com>", 21, out));
    assert_string_equal(out, "ann@example.com");
    assert_true(bc_email_mailbox("  bob@example.org \r\n", 20, out));
    assert_string_equal(out, "bob@example.org");
    assert_true(bc_email_mailbox("\"a <b>\" <c@d.io>", 16, out));
    assert_string_equal(out, "c@d.io");
    assert_false(bc_email_mailbox("Ann", 3, out));
    assert_false(bc_email_mailbox("Ann <not an address>", 20, out));
    assert_false(bc_email_mailbox("Ann <a@b.co", 11, out));
    assert_false(bc_email_mailbox("", 0, out));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_boundary),
    cmocka_unit_test(test_complete),
    cmocka_unit_test(test_field),
    cmocka_unit_test(test_mailbox)
)
