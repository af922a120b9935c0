/*
 * urlencoded parsing, building and query lookup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_form.h"


static int
parse(const char *s, bc_form_t *f)
{
    return bc_form_parse(s, strlen(s), f);
}


static void
test_parse_basic(void **state)
{
    bc_form_t  f;

    (void) state;

    assert_int_equal(parse("To=%2B14155552671&Body=hello+world%21&x=", &f),
                     0);
    assert_int_equal(f.n, 3);
    assert_string_equal(bc_form_get(&f, "To"), "+14155552671");
    assert_string_equal(bc_form_get(&f, "Body"), "hello world!");
    assert_string_equal(bc_form_get(&f, "x"), "");
    assert_int_equal(f.items[2].value_len, 0);
    assert_null(bc_form_get(&f, "missing"));
    bc_form_free(&f);
}


static void
test_parse_edges(void **state)
{
    bc_form_t  f;

    (void) state;

    assert_int_equal(bc_form_parse("", 0, &f), 0);
    assert_int_equal(f.n, 0);
    assert_null(bc_form_get(&f, "a"));
    bc_form_free(&f);

    /* repeated names keep every pair; get returns the first */
    assert_int_equal(parse("a=1&&a=2&b&", &f), 0);
    assert_int_equal(f.n, 3);
    assert_string_equal(bc_form_get(&f, "a"), "1");
    assert_string_equal(f.items[1].value, "2");
    assert_string_equal(f.items[2].name, "b");
    assert_string_equal(f.items[2].value, "");
    bc_form_free(&f);

    /* %00 decodes to a NUL byte: the lengths carry it */
    assert_int_equal(parse("n%61me=a%00b", &f), 0);
    assert_string_equal(f.items[0].name, "name");
    assert_int_equal(f.items[0].value_len, 3);
    assert_memory_equal(f.items[0].value, "a\0b", 3);
    bc_form_free(&f);

    /* lowercase hex and '=' in a value */
    assert_int_equal(parse("k=%e2%82%ac=", &f), 0);
    assert_string_equal(bc_form_get(&f, "k"), "\xe2\x82\xac=");
    bc_form_free(&f);
}


static void
test_parse_malformed(void **state)
{
    bc_form_t  f;

    (void) state;

    assert_int_equal(parse("a=%G1", &f), -1);
    assert_null(f.items);
    assert_int_equal(parse("a=%1", &f), -1);
    assert_int_equal(parse("a=%", &f), -1);
    assert_int_equal(parse("%zz=1", &f), -1);
    assert_int_equal(parse("a=1&b=2%", &f), -1);
}


static void
test_append(void **state)
{
    char       *buf = NULL;
    size_t      len = 0, cap = 0;
    bc_form_t   f;
    int         i;

    (void) state;

    assert_int_equal(bc_form_append(&buf, &len, &cap, "To", "+1 415", 6), 0);
    assert_int_equal(bc_form_append(&buf, &len, &cap, "Body", "a&b=c~", 6),
                     0);
    assert_string_equal(buf, "To=%2B1%20415&Body=a%26b%3Dc~");
    assert_int_equal(len, strlen(buf));

    /* grows past the first allocation and round-trips */
    for (i = 0; i < 200; i++) {
        assert_int_equal(bc_form_append(&buf, &len, &cap, "k", "\xc3\xa9 ",
                                        3), 0);
    }

    assert_int_equal(bc_form_parse(buf, len, &f), 0);
    assert_int_equal(f.n, 202);
    assert_string_equal(bc_form_get(&f, "To"), "+1 415");
    assert_string_equal(bc_form_get(&f, "Body"), "a&b=c~");
    assert_string_equal(f.items[201].value, "\xc3\xa9 ");
    bc_form_free(&f);
    free(buf);
}


static void
test_url_decode(void **state)
{
    char    out[8];
    size_t  n;

    (void) state;

    assert_int_equal(bc_url_decode("a%20b", 5, out, sizeof(out), &n), 0);
    assert_string_equal(out, "a b");
    assert_int_equal(n, 3);

    /* the encoded form is longer than out, the decoded one fits */
    assert_int_equal(bc_url_decode("%41%42%43%44", 12, out, sizeof(out), &n),
                     0);
    assert_string_equal(out, "ABCD");

    assert_int_equal(bc_url_decode("12345678", 8, out, sizeof(out), &n), -1);
    assert_int_equal(bc_url_decode("%G1", 3, out, sizeof(out), &n), -1);
}


static void
test_query_get(void **state)
{
    const char  *q = "mid=01JABCDEFGHJKMNPQRSTVWXYZ&x=a%2Bb&empty=&flag&"
                     "bodySHA256=ff";
    char         out[64];
    char         small[4];

    (void) state;

    assert_int_equal(bc_query_get(q, strlen(q), "mid", out, sizeof(out)), 1);
    assert_string_equal(out, "01JABCDEFGHJKMNPQRSTVWXYZ");
    assert_int_equal(bc_query_get(q, strlen(q), "x", out, sizeof(out)), 1);
    assert_string_equal(out, "a+b");
    assert_int_equal(bc_query_get(q, strlen(q), "empty", out, sizeof(out)),
                     1);
    assert_string_equal(out, "");
    assert_int_equal(bc_query_get(q, strlen(q), "flag", out, sizeof(out)), 1);
    assert_string_equal(out, "");
    assert_int_equal(bc_query_get(q, strlen(q), "bodySHA256", out,
                                  sizeof(out)), 1);
    assert_string_equal(out, "ff");
    assert_int_equal(bc_query_get(q, strlen(q), "mi", out, sizeof(out)), 0);
    assert_int_equal(bc_query_get(q, strlen(q), "nope", out, sizeof(out)),
                     0);
    assert_int_equal(bc_query_get("", 0, "mid", out, sizeof(out)), 0);

    /* too long for out, and malformed */
    assert_int_equal(bc_query_get(q, strlen(q), "mid", small, sizeof(small)),
                     -1);
    assert_int_equal(bc_query_get("a=%G1", 5, "a", out, sizeof(out)), -1);

    /* only qlen bytes are looked at */
    assert_int_equal(bc_query_get("a=1&b=2", 3, "b", out, sizeof(out)), 0);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_parse_basic),
    cmocka_unit_test(test_parse_edges),
    cmocka_unit_test(test_parse_malformed),
    cmocka_unit_test(test_append),
    cmocka_unit_test(test_url_decode),
    cmocka_unit_test(test_query_get)
)
