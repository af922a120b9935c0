/*
 * ULIDs: shape, alphabet, uniqueness, time-ordered prefix.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_id.h"


#define N  2000


static int
cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}


static uint64_t
decode_time(const char *id)
{
    static const char  alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint64_t           ms;
    int                i;

    ms = 0;
    for (i = 0; i < 10; i++) {
        ms = ms << 5 | (uint64_t) (strchr(alphabet, id[i]) - alphabet);
    }

    return ms;
}


static void
test_shape(void **state)
{
    char             id[BC_ULID_LEN + 1];
    size_t           i;
    struct timespec  ts;
    uint64_t         now;

    (void) state;

    assert_int_equal(bc_ulid(id), 0);
    assert_int_equal(strlen(id), BC_ULID_LEN);
    assert_true(bc_ulid_valid(id, BC_ULID_LEN));

    for (i = 0; i < BC_ULID_LEN; i++) {
        assert_non_null(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", id[i]));
    }

    /* the prefix is the current time in ms */
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    assert_true(decode_time(id) <= now);
    assert_true(decode_time(id) + 5000 > now);
}


static void
test_unique_and_ordered(void **state)
{
    char      (*ids)[BC_ULID_LEN + 1];
    size_t      i;

    (void) state;

    ids = malloc(N * sizeof(*ids));
    assert_non_null(ids);

    for (i = 0; i < N; i++) {
        assert_int_equal(bc_ulid(ids[i]), 0);

        /* the timestamp prefix never goes backwards */
        if (i > 0) {
            assert_true(memcmp(ids[i - 1], ids[i], 10) <= 0);
        }
    }

    qsort(ids, N, sizeof(*ids), cmp_ids);

    for (i = 1; i < N; i++) {
        assert_string_not_equal(ids[i - 1], ids[i]);
    }

    free(ids);
}


static void
test_valid(void **state)
{
    (void) state;

    assert_true(bc_ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAV", 26));
    assert_true(bc_ulid_valid("7ZZZZZZZZZZZZZZZZZZZZZZZZZ", 26));
    assert_false(bc_ulid_valid("8ZZZZZZZZZZZZZZZZZZZZZZZZZ", 26));
    assert_false(bc_ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FA", 25));
    assert_false(bc_ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAVX", 27));
    assert_false(bc_ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAI", 26));
    assert_false(bc_ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAU", 26));
    assert_false(bc_ulid_valid("01arz3ndektsv4rrffq69g5fav", 26));
    assert_false(bc_ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5F/V", 26));
    assert_false(bc_ulid_valid(NULL, 26));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_shape),
    cmocka_unit_test(test_unique_and_ordered),
    cmocka_unit_test(test_valid)
)
