/*
 * Redis address parsing, one address or cluster seeds (no server needed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_redis.h"
#include "bc_rc.h"


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


/* the sender's and broadcastctl's keys: redis (a list), redis_user; a bad
   one is named in the error */
static void
test_conf_from(void **state)
{
    char             *keys[2] = { "redis", "redis_user" };
    char             *good[2] = { "127.0.0.1:7000, 127.0.0.1:7001", "bc" };
    char             *bad[2] = { "127.0.0.1:7000,nope", "bc" };
    bc_conf_t         cf = { keys, good, 2 };
    bc_redis_conf_t   conf;
    char              err[256];

    (void) state;

    memset(&conf, 0, sizeof(conf));
    assert_int_equal(bc_redis_conf_from(&conf, &cf, err, sizeof(err)), 0);
    assert_int_equal(conf.nseeds, 2);
    assert_int_equal(conf.seeds[1].port, 7001);
    assert_string_equal(conf.user, "bc");

    cf.values = bad;
    memset(&conf, 0, sizeof(conf));
    assert_int_equal(bc_redis_conf_from(&conf, &cf, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "redis: "));
}


static void
test_connect_refused(void **state)
{
    bc_redis_conf_t   conf;
    bc_rc_t          *rc;
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

    err[0] = '\0';
    rc = NULL;
    reply = bc_redis_cmd(&rc, &conf, 1, argv, NULL, err, sizeof(err));
    assert_null(reply);
    assert_null(rc);
    assert_true(strlen(err) > 0);
}


/* several addresses: cluster seeds, the first one also host/port */
static void
test_conf_seeds(void **state)
{
    bc_redis_conf_t  conf;
    char             err[256], many[1024];
    const char      *list;
    int              i;

    (void) state;

    memset(&conf, 0, sizeof(conf));

    /* one address is one seed (a cluster node, or a single Redis) */
    assert_int_equal(parse(&conf, "127.0.0.1:7000"), 0);
    assert_int_equal(conf.nseeds, 1);
    assert_string_equal(conf.seeds[0].host, "127.0.0.1");
    assert_int_equal(conf.seeds[0].port, 7000);

    assert_int_equal(bc_redis_conf_add_seed(&conf, "10.0.0.2:7001", 13, err,
                                            sizeof(err)), 0);
    assert_int_equal(conf.nseeds, 2);
    assert_string_equal(conf.seeds[1].host, "10.0.0.2");
    assert_int_equal(conf.seeds[1].port, 7001);
    /* existing callers still see the first address */
    assert_string_equal(conf.host, "127.0.0.1");
    assert_int_equal(conf.port, 7000);

    /* a seed is ip:port only */
    assert_int_equal(bc_redis_conf_add_seed(&conf, "unix:/r.sock", 12, err,
                                            sizeof(err)), -1);
    assert_non_null(strstr(err, "ip"));
    assert_int_equal(bc_redis_conf_add_seed(&conf, "10.0.0.3", 8, err,
                                            sizeof(err)), -1);
    assert_int_equal(conf.nseeds, 2);

    /* a unix socket is the only address there can be */
    assert_int_equal(parse(&conf, "unix:/run/redis.sock"), 0);
    assert_int_equal(conf.nseeds, 0);
    assert_int_equal(bc_redis_conf_add_seed(&conf, "127.0.0.1:7000", 14, err,
                                            sizeof(err)), -1);
    assert_non_null(strstr(err, "only"));

    /* the sender's "redis" key: commas and/or spaces */
    list = "127.0.0.1:7000, 127.0.0.1:7001 127.0.0.1:7002,";
    assert_int_equal(bc_redis_conf_parse_list(&conf, list, strlen(list),
                                              err, sizeof(err)), 0);
    assert_int_equal(conf.nseeds, 3);
    assert_int_equal(conf.port, 7000);
    assert_int_equal(conf.seeds[2].port, 7002);

    list = "unix:/run/redis.sock";
    assert_int_equal(bc_redis_conf_parse_list(&conf, list, strlen(list),
                                              err, sizeof(err)), 0);
    assert_string_equal(conf.socket, "/run/redis.sock");

    list = "unix:/run/redis.sock,127.0.0.1:7000";
    assert_int_equal(bc_redis_conf_parse_list(&conf, list, strlen(list),
                                              err, sizeof(err)), -1);
    list = "127.0.0.1:7000,127.0.0.1:x";
    assert_int_equal(bc_redis_conf_parse_list(&conf, list, strlen(list),
                                              err, sizeof(err)), -1);
    assert_non_null(strstr(err, "127.0.0.1:x"));
    list = " , ";
    assert_int_equal(bc_redis_conf_parse_list(&conf, list, strlen(list),
                                              err, sizeof(err)), -1);

    /* more seeds than fit */
    many[0] = '\0';
    for (i = 0; i <= BC_REDIS_SEEDS_MAX; i++) {
        snprintf(many + strlen(many), sizeof(many) - strlen(many),
                 "127.0.0.1:%d,", 7000 + i);
    }
    assert_int_equal(bc_redis_conf_parse_list(&conf, many, strlen(many),
                                              err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at most"));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_conf_parse),
    cmocka_unit_test(test_conf_seeds),
    cmocka_unit_test(test_conf_from),
    cmocka_unit_test(test_connect_refused)
)
