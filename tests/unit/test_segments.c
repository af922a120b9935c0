/*
 * SMS encoding and segment counting (common/bc_segments.c): the GSM-7
 * alphabet and its extension table, the 160/153 and 70/67 boundaries, and
 * characters that must not be split over two parts.
 */
#include "bc_unit.h"
#include "bc_segments.h"


/* n copies of the UTF-8 text unit, after the prefix pre */
static char *
rep(const char *pre, const char *unit, size_t n)
{
    char    *s;
    size_t   i, ul, pl;

    pl = strlen(pre);
    ul = strlen(unit);
    s = malloc(pl + ul * n + 1);
    assert_non_null(s);

    memcpy(s, pre, pl);

    for (i = 0; i < n; i++) {
        memcpy(s + pl + i * ul, unit, ul);
    }

    s[pl + ul * n] = '\0';

    return s;
}


static bc_segments_t
count(const char *s)
{
    bc_segments_t  c;

    assert_int_equal(bc_segments_count(s, strlen(s), &c), 0);

    return c;
}


/* n repetitions of unit after pre: encoding, units and segments */
static void
check(const char *pre, const char *unit, size_t n, int enc, size_t units,
    size_t segments)
{
    char           *s;
    bc_segments_t   c;

    s = rep(pre, unit, n);
    c = count(s);
    free(s);

    assert_int_equal(c.encoding, enc);
    assert_int_equal(c.units, units);
    assert_int_equal(c.segments, segments);
}


static void
test_alphabet(void **state)
{
    (void) state;

    assert_int_equal(bc_segments_gsm7_cost('A'), 1);
    assert_int_equal(bc_segments_gsm7_cost('@'), 1);
    assert_int_equal(bc_segments_gsm7_cost('$'), 1);
    assert_int_equal(bc_segments_gsm7_cost('\n'), 1);
    assert_int_equal(bc_segments_gsm7_cost(0x00e9), 1);     /* é */
    assert_int_equal(bc_segments_gsm7_cost(0x00c7), 1);     /* Ç */
    assert_int_equal(bc_segments_gsm7_cost(0x03a9), 1);     /* Ω */
    assert_int_equal(bc_segments_gsm7_cost(0x00a3), 1);     /* £ */

    /* the extension table: ^ { } \ [ ~ ] | € and form feed */
    assert_int_equal(bc_segments_gsm7_cost('^'), 2);
    assert_int_equal(bc_segments_gsm7_cost('{'), 2);
    assert_int_equal(bc_segments_gsm7_cost('}'), 2);
    assert_int_equal(bc_segments_gsm7_cost('\\'), 2);
    assert_int_equal(bc_segments_gsm7_cost('['), 2);
    assert_int_equal(bc_segments_gsm7_cost('~'), 2);
    assert_int_equal(bc_segments_gsm7_cost(']'), 2);
    assert_int_equal(bc_segments_gsm7_cost('|'), 2);
    assert_int_equal(bc_segments_gsm7_cost(0x20ac), 2);     /* € */
    assert_int_equal(bc_segments_gsm7_cost('\f'), 2);

    /* not in GSM-7 at all */
    assert_int_equal(bc_segments_gsm7_cost('`'), 0);
    assert_int_equal(bc_segments_gsm7_cost('\t'), 0);
    assert_int_equal(bc_segments_gsm7_cost(0x00e1), 0);     /* á */
    assert_int_equal(bc_segments_gsm7_cost(0x00ea), 0);     /* ê */
    assert_int_equal(bc_segments_gsm7_cost(0x4f60), 0);     /* 你 */
    assert_int_equal(bc_segments_gsm7_cost(0x1f600), 0);    /* 😀 */
}


static void
test_empty(void **state)
{
    bc_segments_t  c;

    (void) state;

    c = count("");
    assert_int_equal(c.encoding, BC_SEGMENTS_GSM7);
    assert_int_equal(c.characters, 0);
    assert_int_equal(c.segments, 0);
}


static void
test_gsm7_boundaries(void **state)
{
    (void) state;

    check("", "a", 1, BC_SEGMENTS_GSM7, 1, 1);
    check("", "a", 160, BC_SEGMENTS_GSM7, 160, 1);
    check("", "a", 161, BC_SEGMENTS_GSM7, 161, 2);
    check("", "a", 153 * 2, BC_SEGMENTS_GSM7, 306, 2);
    check("", "a", 153 * 2 + 1, BC_SEGMENTS_GSM7, 307, 3);
    check("", "a", 153 * 3, BC_SEGMENTS_GSM7, 459, 3);
    check("", "\xc3\xa9", 160, BC_SEGMENTS_GSM7, 160, 1);  /* é */
}


static void
test_gsm7_extension(void **state)
{
    (void) state;

    /* 80 euro signs are 160 septets: one message; 81 are two */
    check("", "\xe2\x82\xac", 80, BC_SEGMENTS_GSM7, 160, 1);
    check("", "\xe2\x82\xac", 81, BC_SEGMENTS_GSM7, 162, 2);
    check("a", "{", 80, BC_SEGMENTS_GSM7, 161, 2);

    /*
     * 152 septets then '[': it fits the first part only split, so it
     * moves whole to the second; 152 + 2 + 152 = 306 septets need 3 parts
     * where 306 plain ones need 2
     */
    {
        char           *a, *s;
        bc_segments_t   c;

        a = rep("", "a", 152);
        s = rep(a, "[", 1);
        free(a);
        a = rep(s, "a", 152);
        free(s);

        c = count(a);
        free(a);

        assert_int_equal(c.units, 306);
        assert_int_equal(c.segments, 3);
    }

    /* 151 + 2 fills the first part exactly: 153 + 153 = 2 parts */
    {
        char           *a, *s;
        bc_segments_t   c;

        a = rep("", "a", 151);
        s = rep(a, "~", 1);
        free(a);
        a = rep(s, "a", 153);
        free(s);

        c = count(a);
        free(a);

        assert_int_equal(c.units, 306);
        assert_int_equal(c.segments, 2);
    }
}


static void
test_ucs2(void **state)
{
    bc_segments_t  c;

    (void) state;

    /* one non-GSM character makes the whole text UCS-2 */
    check("\xe4\xbd\xa0", "a", 69, BC_SEGMENTS_UCS2, 70, 1);
    check("\xe4\xbd\xa0", "a", 70, BC_SEGMENTS_UCS2, 71, 2);
    check("", "\xe4\xbd\xa0", 67 * 2, BC_SEGMENTS_UCS2, 134, 2);
    check("", "\xe4\xbd\xa0", 67 * 2 + 1, BC_SEGMENTS_UCS2, 135, 3);

    /* in UCS-2 the extension characters cost one unit like any other */
    check("\xc3\xa1", "{", 69, BC_SEGMENTS_UCS2, 70, 1);

    c = count("caf\xc3\xa1 `x`");
    assert_int_equal(c.encoding, BC_SEGMENTS_UCS2);
    assert_int_equal(c.characters, 8);
    assert_int_equal(c.units, 8);
}


static void
test_surrogates(void **state)
{
    bc_segments_t  c;

    (void) state;

    /* an emoji is a surrogate pair: two code units, one character */
    c = count("\xf0\x9f\x98\x80");
    assert_int_equal(c.encoding, BC_SEGMENTS_UCS2);
    assert_int_equal(c.characters, 1);
    assert_int_equal(c.units, 2);
    assert_int_equal(c.segments, 1);

    check("", "\xf0\x9f\x98\x80", 35, BC_SEGMENTS_UCS2, 70, 1);
    check("", "\xf0\x9f\x98\x80", 36, BC_SEGMENTS_UCS2, 72, 2);

    /* 66 units then a pair: it moves whole, 66 + 2 + 66 = 134 -> 3 parts */
    {
        char           *a, *s;

        a = rep("", "\xe4\xbd\xa0", 66);
        s = rep(a, "\xf0\x9f\x98\x80", 1);
        free(a);
        a = rep(s, "\xe4\xbd\xa0", 66);
        free(s);

        c = count(a);
        free(a);

        assert_int_equal(c.units, 134);
        assert_int_equal(c.segments, 3);
    }

    /* 67 pairs = 134 units; parts of 67 hold 33 pairs each: 3 parts */
    check("", "\xf0\x9f\x98\x80", 67, BC_SEGMENTS_UCS2, 134, 3);
}


static void
test_invalid(void **state)
{
    bc_segments_t  c;

    (void) state;

    assert_int_equal(bc_segments_count("ok\xff", 3, &c), -1);
    assert_int_equal(bc_segments_count("ok\xe2\x82", 4, &c), -1);
    assert_string_equal(bc_segments_encoding_name(BC_SEGMENTS_GSM7), "GSM-7");
    assert_string_equal(bc_segments_encoding_name(BC_SEGMENTS_UCS2), "UCS-2");
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_alphabet),
    cmocka_unit_test(test_empty),
    cmocka_unit_test(test_gsm7_boundaries),
    cmocka_unit_test(test_gsm7_extension),
    cmocka_unit_test(test_ucs2),
    cmocka_unit_test(test_surrogates),
    cmocka_unit_test(test_invalid)
)
