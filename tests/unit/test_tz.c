/*
 * bc_tz (common/bc_tz.c): offsets read from the TZif files agree with
 * glibc's localtime_r for zones with and without DST, north and south,
 * past the last transition of a file (the footer's rule); quiet hours end
 * at the window's end in the zone, across a DST change.
 */
#include "bc_unit.h"

#include <time.h>

#include "bc_tz.h"

/* glibc's offset (this test is single-threaded, so TZ may switch) */
static long
glibc_offset(const char *zone, time_t t)
{
    struct tm  tm;

    setenv("TZ", zone, 1);
    tzset();
    localtime_r(&t, &tm);
    return tm.tm_gmtoff;
}

static void
test_offsets(void **state)
{
    static const char  *zones[] = { "UTC", "Europe/Berlin",
        "America/New_York", "Australia/Sydney", "Asia/Kolkata",
        "America/Sao_Paulo", "Pacific/Chatham", "Europe/London",
        "America/Los_Angeles", "Asia/Tokyo", NULL };
    bc_tz_t            *tz;
    int64_t             t;
    int                 i;

    (void) state;
    for (i = 0; zones[i] != NULL; i++) {
        tz = bc_tz_load(zones[i]);
        assert_non_null(tz);
        /* every 7 hours from 1990 to 2060: past 2037 the rule answers */
        for (t = 631152000; t < 2840140800LL; t += 7 * 3600 + 11) {
            if (bc_tz_offset(tz, t) != glibc_offset(zones[i], (time_t) t)) {
                fail_msg("%s at %lld: %ld, glibc %ld", zones[i],
                         (long long) t, bc_tz_offset(tz, t),
                         glibc_offset(zones[i], (time_t) t));
            }
        }
        bc_tz_free(tz);
    }
}

static void
test_names(void **state)
{
    (void) state;
    assert_null(bc_tz_load("../../etc/passwd"));
    assert_null(bc_tz_load("/etc/passwd"));
    assert_null(bc_tz_load("Nowhere/Atlantis"));
    assert_null(bc_tz_load(""));
    assert_int_equal(bc_tz_hhmm("21:00"), 21 * 60);
    assert_int_equal(bc_tz_hhmm("08:05"), 8 * 60 + 5);
    assert_int_equal(bc_tz_hhmm("24:00"), -1);
    assert_int_equal(bc_tz_hhmm("8:00"), -1);
    assert_int_equal(bc_tz_hhmm("12:60"), -1);
}

static void
test_quiet(void **state)
{
    bc_tz_t  *ny;
    int64_t   until;

    (void) state;
    ny = bc_tz_load("America/New_York");
    assert_non_null(ny);
    /* 2026-03-07 22:00 EST (03:00 UTC on the 8th) in 21:00-08:00: the
       clocks go forward at 02:00, so 08:00 EDT is 12:00 UTC, not 13:00 */
    assert_int_equal(bc_tz_quiet(ny, 1772938800, 21 * 60, 8 * 60, &until),
                     1);
    assert_int_equal(until, 1772971200);
    /* 2026-03-08 12:00 UTC is 08:00 EDT: outside */
    assert_int_equal(bc_tz_quiet(ny, 1772971200, 21 * 60, 8 * 60, &until),
                     0);
    /* 07:59 local: inside, ends a minute later */
    assert_int_equal(bc_tz_quiet(ny, 1772971200 - 60, 21 * 60, 8 * 60,
                                 &until), 1);
    assert_int_equal(until, 1772971200);
    /* a window within one day, and none at all */
    assert_int_equal(bc_tz_quiet(NULL, 1772971200, 11 * 60, 13 * 60,
                                 &until), 1);
    assert_int_equal(until, 1772971200 + 3600);
    assert_int_equal(bc_tz_quiet(NULL, 1772971200, 12 * 60, 12 * 60,
                                 &until), 0);
    /* a DST gap: 02:30 does not exist on 2026-03-08 in New York; the end
       is the first instant at or after it (03:30 EDT) */
    assert_int_equal(bc_tz_quiet(ny, 1772951400, 0, 150, &until), 1);
    assert_int_equal(until + bc_tz_offset(ny, until) >=
                     1772928000 + 150 * 60, 1);
    assert_true(until <= 1772955000);
    bc_tz_free(ny);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_offsets),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_quiet)
)
