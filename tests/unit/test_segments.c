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
typedef struct {
    const char  *pre;
    const char  *unit;
    size_t       n;
    int          enc;
    size_t       units;
    size_t       segments;
} rep_case_t;


/* one character between two runs of fill: units and segments */
typedef struct {
    const char  *fill;
    size_t       before;
    const char  *ch;
    size_t       after;
    size_t       units;
    size_t       segments;
} split_case_t;


/* a code point and its GSM-7 cost: 1, 2 (extension table) or 0 (none) */
typedef struct {
    unsigned long  cp;
    int            cost;
} cost_case_t;


#define NCASES(a)  (sizeof(a) / sizeof((a)[0]))


static void
check(const rep_case_t *cases, size_t n)
{
    char           *s;
    size_t          i;
    bc_segments_t   c;

    for (i = 0; i < n; i++) {
        s = rep(cases[i].pre, cases[i].unit, cases[i].n);
        c = count(s);
        free(s);

        assert_int_equal(c.encoding, cases[i].enc);
        assert_int_equal(c.units, cases[i].units);
        assert_int_equal(c.segments, cases[i].segments);
    }
}


static void
check_split(const split_case_t *cases, size_t n)
{
    char           *a, *s;
    size_t          i;
    bc_segments_t   c;

    for (i = 0; i < n; i++) {
        a = rep("", cases[i].fill, cases[i].before);
        s = rep(a, cases[i].ch, 1);
        free(a);
        a = rep(s, cases[i].fill, cases[i].after);
        free(s);

        c = count(a);
        free(a);

        assert_int_equal(c.units, cases[i].units);
        assert_int_equal(c.segments, cases[i].segments);
    }
}


static void
test_alphabet(void **state)
{
    size_t                    i;
    static const cost_case_t  cases[] = {
        { 'A', 1 }, { '@', 1 }, { '$', 1 }, { '\n', 1 },
        { 0x00e9, 1 },      /* é */
        { 0x00c7, 1 },      /* Ç */
        { 0x03a9, 1 },      /* Ω */
        { 0x00a3, 1 },      /* £ */

        /* the extension table: ^ { } \ [ ~ ] | € and form feed */
        { '^', 2 }, { '{', 2 }, { '}', 2 }, { '\\', 2 }, { '[', 2 },
        { '~', 2 }, { ']', 2 }, { '|', 2 },
        { 0x20ac, 2 },      /* € */
        { '\f', 2 },

        /* not in GSM-7 at all */
        { '`', 0 }, { '\t', 0 },
        { 0x00e1, 0 },      /* á */
        { 0x00ea, 0 },      /* ê */
        { 0x4f60, 0 },      /* 你 */
        { 0x1f600, 0 },     /* 😀 */
    };

    (void) state;

    for (i = 0; i < NCASES(cases); i++) {
        assert_int_equal(bc_segments_gsm7_cost(cases[i].cp), cases[i].cost);
    }
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
    static const rep_case_t  cases[] = {
        { "", "a", 1, BC_SEGMENTS_GSM7, 1, 1 },
        { "", "a", 160, BC_SEGMENTS_GSM7, 160, 1 },
        { "", "a", 161, BC_SEGMENTS_GSM7, 161, 2 },
        { "", "a", 153 * 2, BC_SEGMENTS_GSM7, 306, 2 },
        { "", "a", 153 * 2 + 1, BC_SEGMENTS_GSM7, 307, 3 },
        { "", "a", 153 * 3, BC_SEGMENTS_GSM7, 459, 3 },
        { "", "\xc3\xa9", 160, BC_SEGMENTS_GSM7, 160, 1 },  /* é */
    };

    (void) state;

    check(cases, NCASES(cases));
}


static void
test_gsm7_extension(void **state)
{
    static const rep_case_t  cases[] = {
        /* 80 euro signs are 160 septets: one message; 81 are two */
        { "", "\xe2\x82\xac", 80, BC_SEGMENTS_GSM7, 160, 1 },
        { "", "\xe2\x82\xac", 81, BC_SEGMENTS_GSM7, 162, 2 },
        { "a", "{", 80, BC_SEGMENTS_GSM7, 161, 2 },
    };

    static const split_case_t  splits[] = {
        /*
         * 152 septets then '[': it fits the first part only split, so it
         * moves whole to the second; 152 + 2 + 152 = 306 septets need 3
         * parts where 306 plain ones need 2
         */
        { "a", 152, "[", 152, 306, 3 },

        /* 151 + 2 fills the first part exactly: 153 + 153 = 2 parts */
        { "a", 151, "~", 153, 306, 2 },
    };

    (void) state;

    check(cases, NCASES(cases));
    check_split(splits, NCASES(splits));
}


static void
test_ucs2(void **state)
{
    bc_segments_t            c;
    static const rep_case_t  cases[] = {
        /* one non-GSM character makes the whole text UCS-2 */
        { "\xe4\xbd\xa0", "a", 69, BC_SEGMENTS_UCS2, 70, 1 },
        { "\xe4\xbd\xa0", "a", 70, BC_SEGMENTS_UCS2, 71, 2 },
        { "", "\xe4\xbd\xa0", 67 * 2, BC_SEGMENTS_UCS2, 134, 2 },
        { "", "\xe4\xbd\xa0", 67 * 2 + 1, BC_SEGMENTS_UCS2, 135, 3 },

        /* in UCS-2 the extension characters cost one unit like any other */
        { "\xc3\xa1", "{", 69, BC_SEGMENTS_UCS2, 70, 1 },
    };

    (void) state;

    check(cases, NCASES(cases));

    c = count("caf\xc3\xa1 `x`");
    assert_int_equal(c.encoding, BC_SEGMENTS_UCS2);
    assert_int_equal(c.characters, 8);
    assert_int_equal(c.units, 8);
}


static void
test_surrogates(void **state)
{
    bc_segments_t              c;
    static const rep_case_t    cases[] = {
        { "", "\xf0\x9f\x98\x80", 35, BC_SEGMENTS_UCS2, 70, 1 },
        { "", "\xf0\x9f\x98\x80", 36, BC_SEGMENTS_UCS2, 72, 2 },

        /* 67 pairs = 134 units; parts of 67 hold 33 pairs each: 3 parts */
        { "", "\xf0\x9f\x98\x80", 67, BC_SEGMENTS_UCS2, 134, 3 },
    };

    static const split_case_t  splits[] = {
        /* 66 units then a pair: it moves whole, 66 + 2 + 66 = 134 -> 3 */
        { "\xe4\xbd\xa0", 66, "\xf0\x9f\x98\x80", 66, 134, 3 },
    };

    (void) state;

    /* an emoji is a surrogate pair: two code units, one character */
    c = count("\xf0\x9f\x98\x80");
    assert_int_equal(c.encoding, BC_SEGMENTS_UCS2);
    assert_int_equal(c.characters, 1);
    assert_int_equal(c.units, 2);
    assert_int_equal(c.segments, 1);

    check(cases, NCASES(cases));
    check_split(splits, NCASES(splits));
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
