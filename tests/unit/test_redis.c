/*
 * Redis address parsing (no server needed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_redis.h"


static int
parse(bc_redis_conf_t *conf, const char *spec)
{
    return bc_redis_conf_parse(conf, spec, strlen(spec));
}


static void
test_conf_parse(void **state)
{
    bc_redis_conf_t  conf;

    (void) state;

    memset(&conf, 0, sizeof(conf));
    conf.timeout_ms = 1500;

    assert_int_equal(parse(&conf, "127.0.0.1:6390"), 0);
    assert_string_equal(conf.host, "127.0.0.1");
    assert_int_equal(conf.port, 6390);
    assert_string_equal(conf.socket, "");

    /* the caller's timeout survives */
    assert_int_equal(conf.timeout_ms, 1500);

    assert_int_equal(parse(&conf, "[::1]:6379"), 0);
    assert_string_equal(conf.host, "::1");
    assert_int_equal(conf.port, 6379);

    assert_int_equal(parse(&conf, "unix:/run/redis.sock"), 0);
    assert_string_equal(conf.socket, "/run/redis.sock");
    assert_string_equal(conf.host, "");

    assert_int_equal(parse(&conf, "127.0.0.1"), -1);
    assert_int_equal(parse(&conf, "127.0.0.1:"), -1);
    assert_int_equal(parse(&conf, ":6379"), -1);
    assert_int_equal(parse(&conf, "127.0.0.1:0"), -1);
    assert_int_equal(parse(&conf, "127.0.0.1:65536"), -1);
    assert_int_equal(parse(&conf, "127.0.0.1:63a"), -1);
    assert_int_equal(parse(&conf, "unix:"), -1);
    assert_int_equal(parse(&conf, "unix:relative"), -1);
    assert_int_equal(parse(&conf, ""), -1);
}


static void
test_connect_refused(void **state)
{
    bc_redis_conf_t   conf;
    redisContext     *c;
    redisReply       *reply;
    const char       *argv[1] = { "PING" };
    char              err[256];

    (void) state;

    /* port 1 on loopback: nothing listens there */
    memset(&conf, 0, sizeof(conf));
    conf.timeout_ms = 500;
    assert_int_equal(parse(&conf, "127.0.0.1:1"), 0);

    err[0] = '\0';
    assert_null(bc_redis_connect(&conf, err, sizeof(err)));
    assert_true(strlen(err) > 0);

    c = NULL;
    err[0] = '\0';
    reply = bc_redis_cmd(&c, &conf, 1, argv, NULL, err, sizeof(err));
    assert_null(reply);
    assert_null(c);
    assert_true(strlen(err) > 0);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_conf_parse),
    cmocka_unit_test(test_connect_refused)
)
