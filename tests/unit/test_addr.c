/*
 * Address rules: the whatsapp: prefix and e-mail validation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_addr.h"


static void
test_wa_prefix(void **state)
{
    (void) state;

    assert_true(bc_wa_prefixed("whatsapp:+14155552671", 21));
    assert_true(bc_wa_prefixed("WhatsApp:+1", 11));
    assert_false(bc_wa_prefixed("whatsapp", 8));
    assert_false(bc_wa_prefixed("whatsapp:+1", 8));
    assert_false(bc_wa_prefixed("+14155552671", 12));

    assert_string_equal(bc_wa_strip("whatsapp:+14155552671"),
                        "+14155552671");
    assert_string_equal(bc_wa_strip("+14155552671"), "+14155552671");
    assert_string_equal(bc_wa_strip("meta:123"), "meta:123");
}


static int
email(const char *s, char *out)
{
    return bc_email_valid(s, strlen(s), out);
}


static void
test_email(void **state)
{
    size_t              i;
    char                out[BC_EMAIL_MAX + 1], big[300];
    static const char  *bad[] = {
        "", "ann", "@example.com", "ann@", "ann@example", "ann@.example.com",
        "ann@example.com.", "ann@example..com", "ann@b@example.com",
        "ann lee@example.com", "<ann@example.com>", "ann@exa\"mple.com",
    };

    (void) state;

    assert_true(email("Ann.Lee+x@Example.COM", out));
    assert_string_equal(out, "ann.lee+x@example.com");
    assert_true(email("a@b.co", NULL));

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(email(bad[i], out));
    }
    assert_false(bc_email_valid("a\0b@example.com", 15, out));

    memset(big, 'a', sizeof(big));
    memcpy(big + 242, "@example.com", 12);      /* 254 bytes */
    assert_true(bc_email_valid(big, 254, out));
    memcpy(big + 243, "@example.com", 12);      /* 255 bytes */
    assert_false(bc_email_valid(big, 255, out));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_wa_prefix),
    cmocka_unit_test(test_email)
)
