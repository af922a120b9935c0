/*
 * Lanes: key names, the lane an id or a value names, and where the first
 * lanes land on an evenly split three-master cluster.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_id.h"
#include "bc_lane.h"
#include "bc_rc.h"
#include "bc_redis.h"


#define N  3000


static void
test_key_names(void **state)
{
    char  key[64], tiny[12];

    (void) state;

    assert_int_equal(bc_lane_key(key, sizeof(key), BC_LANE_SEND, 0,
                                 BC_SFX_SEND_STREAM), 18);
    assert_string_equal(key, "bc:{q}:stream:send");
    bc_lane_key(key, sizeof(key), BC_LANE_SEND, 3, BC_SFX_MSG "%s", "ABC");
    assert_string_equal(key, "bc:{q:3}:msg:ABC");
    bc_lane_key(key, sizeof(key), BC_LANE_EVENTS, 31, BC_SFX_EVENTS_STREAM);
    assert_string_equal(key, "bc:{ev:31}:stream:events");
    /* a name that does not fit is refused, not cut */
    assert_int_equal(bc_lane_key(tiny, sizeof(tiny), BC_LANE_SEND, 0,
                                 BC_SFX_SEND_STREAM), -1);
    assert_int_equal(bc_lane_key(tiny, 5, BC_LANE_SEND, 10, "x"), -1);
}


static void
test_id_names_its_lane(void **state)
{
    char      id[BC_ULID_LEN + 1];
    unsigned  lanes, lane, count[3] = { 0 };
    int       i;

    (void) state;

    for (lanes = 1; lanes <= BC_LANES_MAX; lanes++) {
        for (lane = 0; lane < lanes; lane++) {
            assert_int_equal(bc_ulid(id), 0);
            bc_lane_set_id(id, BC_ULID_LEN, lane);
            assert_true(bc_ulid_valid(id, BC_ULID_LEN));
            assert_int_equal(bc_lane_of_id(id, BC_ULID_LEN, lanes), lane);
        }
    }

    /* one lane (and 0, unset) is lane 0 whatever the id */
    assert_int_equal(bc_lane_of_id("01ARZ3NDEKTSV4RRFFQ69G5FAZ", 26, 1), 0);
    assert_int_equal(bc_lane_of_id("01ARZ3NDEKTSV4RRFFQ69G5FAZ", 26, 0), 0);
    /* Crockford's readings of lowercase letters */
    assert_int_equal(bc_lane_of_id("x", 1, 32), bc_lane_of_id("X", 1, 32));

    /* fresh ids spread over the lanes */
    for (i = 0; i < N; i++) {
        assert_int_equal(bc_ulid(id), 0);
        count[bc_lane_of_id(id, BC_ULID_LEN, 3)]++;
    }
    for (lane = 0; lane < 3; lane++) {
        assert_true(count[lane] > N / 4);
    }
}


static void
test_value_lane(void **state)
{
    char      v[32];
    unsigned  count[4] = { 0 }, lane;
    int       i, n;

    (void) state;

    assert_int_equal(bc_lane_of_str("abc", 3, 1), 0);
    assert_int_equal(bc_lane_of_str("abc", 3, 7), bc_lane_of_str("abc", 3, 7));
    for (i = 0; i < N; i++) {
        n = snprintf(v, sizeof(v), "+1415555%04d", i);
        lane = bc_lane_of_str(v, (size_t) n, 4);
        assert_true(lane < 4);
        count[lane]++;
    }
    for (lane = 0; lane < 4; lane++) {
        assert_true(count[lane] > N / 6);
    }
}


static void
test_window_key(void **state)
{
    char  key[128];
    int   n;

    (void) state;

    n = bc_wawin_key(key, sizeof(key), 1, "+15005550006", 12, "+1415", 5);
    assert_int_equal(n, (int) strlen(key));
    assert_string_equal(key, "bc:{ev}:wawin:+15005550006:+1415");

    bc_wawin_key(key, sizeof(key), 5, "a", 1, "b", 1);
    if (bc_lane_of_str("a:b", 3, 5) == 0) {
        assert_string_equal(key, "bc:{ev}:wawin:a:b");
    } else {
        char want[64];
        snprintf(want, sizeof(want), "bc:{ev:%u}:wawin:a:b",
                 bc_lane_of_str("a:b", 3, 5));
        assert_string_equal(key, want);
    }
}


/* the master of a slot in an even three-way split, as redis-cli --cluster
   create makes it */
static int
master_of(const char *key)
{
    unsigned  slot = bc_key_slot(key, strlen(key));

    return slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2;
}


static void
test_three_lanes_three_masters(void **state)
{
    static const char *const  fam[2] = { BC_LANE_SEND, BC_LANE_EVENTS };
    char      key[64];
    unsigned  lane;
    int       f, seen;

    (void) state;

    for (f = 0; f < 2; f++) {
        seen = 0;
        for (lane = 0; lane < 3; lane++) {
            bc_lane_key(key, sizeof(key), fam[f], lane, "x");
            seen |= 1 << master_of(key);
        }
        assert_int_equal(seen, 7);
    }
}


static void
test_conf(void **state)
{
    bc_redis_conf_t  c;
    char             err[256];

    (void) state;

    memset(&c, 0, sizeof(c));
    assert_int_equal(bc_lanes_n(c.lanes), 1);
    assert_int_equal(bc_redis_conf_set(&c, "lanes", 5, "3", 1, err,
                                       sizeof(err)), 0);
    assert_int_equal(c.lanes, 3);
    assert_int_equal(bc_redis_conf_set(&c, "lanes", 5, "32", 2, err,
                                       sizeof(err)), 0);
    assert_int_equal(bc_redis_conf_set(&c, "lanes", 5, "0", 1, err,
                                       sizeof(err)), -1);
    assert_non_null(strstr(err, "1 to 32"));
    assert_int_equal(bc_redis_conf_set(&c, "lanes", 5, "33", 2, err,
                                       sizeof(err)), -1);
    assert_int_equal(bc_redis_conf_set(&c, "lanes", 5, "3x", 2, err,
                                       sizeof(err)), -1);
    assert_int_equal(bc_redis_conf_set(&c, "lanes", 5, "", 0, err,
                                       sizeof(err)), -1);
    assert_int_equal(bc_redis_conf_set(&c, "lanes", 5,
                                       "99999999999999999999", 20, err,
                                       sizeof(err)), -1);
    assert_int_equal(c.lanes, 32);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_key_names),
    cmocka_unit_test(test_id_names_its_lane),
    cmocka_unit_test(test_value_lane),
    cmocka_unit_test(test_window_key),
    cmocka_unit_test(test_three_lanes_three_masters),
    cmocka_unit_test(test_conf)
)
