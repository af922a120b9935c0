/*
 * bc_rc without a server: key slots (the {hash tag} rule), the table
 * routing each command to its key, and no seed answering. The cluster
 * itself is t/44-redis-cluster.t.
 */
#include "bc_unit.h"
#include "bc_rc.h"


static unsigned
slot(const char *key)
{
    return bc_key_slot(key, strlen(key));
}


static void
test_crc16(void **state)
{
    (void) state;

    /* the reference vector of the Redis Cluster specification */
    assert_int_equal(bc_crc16("123456789", 9), 0x31C3);
    assert_int_equal(bc_crc16("", 0), 0);
}


static void
test_key_slot(void **state)
{
    (void) state;

    /* values Redis' CLUSTER KEYSLOT gives */
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot(""), 0);

    /* a hash tag: keys sharing it share a slot, that of the tag alone */
    assert_int_equal(slot("{user1000}.following"),
                     slot("{user1000}.followers"));
    assert_int_equal(slot("{user1000}.following"), slot("user1000"));
    assert_int_equal(slot("bc:{t}a"), slot("t"));

    /* an empty tag is no tag: the whole key is hashed */
    assert_int_equal(slot("foo{}{bar}"),
                     bc_crc16("foo{}{bar}", 10) & 16383);
    assert_true(slot("foo{}{bar}") != slot("bar"));

    /* from the first '{' to the first '}' after it */
    assert_int_equal(slot("foo{{bar}}zap"), slot("{bar"));
    assert_int_equal(slot("foo{bar}{zap}"), slot("bar"));

    /* no closing brace: the whole key */
    assert_int_equal(slot("foo{bar"), bc_crc16("foo{bar", 7) & 16383);

    /* length-bounded: a NUL or what follows is the caller's business */
    assert_int_equal(bc_key_slot("foo-and-more", 3), 12182);
}


static bc_rc_route_t
route(int argc, const char **argv, int *key)
{
    return bc_rc_route(argc, argv, NULL, key);
}


static void
test_route_table(void **state)
{
    int  key;

    (void) state;

    /* most commands: argv[1], case-insensitive */
    {
        const char *argv[] = { "set", "k", "v" };
        assert_int_equal(route(3, argv, &key), BC_RC_ROUTE_KEY);
        assert_int_equal(key, 1);
    }
    {
        const char *argv[] = { "XADD", "bc:stream:send", "*", "f", "v" };
        assert_int_equal(route(5, argv, &key), BC_RC_ROUTE_KEY);
        assert_int_equal(key, 1);
    }

    /* EVAL/EVALSHA: the first key when numkeys > 0 */
    {
        const char *argv[] = { "EVALSHA", "abc", "2", "k1", "k2", "a" };
        assert_int_equal(route(6, argv, &key), BC_RC_ROUTE_KEY);
        assert_int_equal(key, 3);
    }
    {
        const char *argv[] = { "eval", "return 1", "0", "a" };
        assert_int_equal(route(4, argv, &key), BC_RC_ROUTE_ANY);
        assert_int_equal(key, -1);
    }

    /* XREADGROUP/XREAD: the first stream after STREAMS */
    {
        const char *argv[] = { "XREADGROUP", "GROUP", "g", "c", "COUNT",
                               "10", "BLOCK", "0", "streams", "s1", ">" };
        assert_int_equal(route(11, argv, &key), BC_RC_ROUTE_KEY);
        assert_int_equal(key, 9);
    }
    {
        const char *argv[] = { "XREAD", "STREAMS", "s1", "0" };
        assert_int_equal(route(4, argv, &key), BC_RC_ROUTE_KEY);
        assert_int_equal(key, 2);
    }

    /* XINFO/XGROUP: argv[2] */
    {
        const char *argv[] = { "XGROUP", "CREATE", "s", "g", "0" };
        assert_int_equal(route(5, argv, &key), BC_RC_ROUTE_KEY);
        assert_int_equal(key, 2);
    }
    {
        const char *argv[] = { "XINFO", "STREAM", "s" };
        assert_int_equal(route(3, argv, &key), BC_RC_ROUTE_KEY);
        assert_int_equal(key, 2);
    }

    /* keyless: any master */
    {
        const char *argv[] = { "PING" };
        assert_int_equal(route(1, argv, &key), BC_RC_ROUTE_ANY);
    }
    {
        const char *argv[] = { "TIME" };
        assert_int_equal(route(1, argv, &key), BC_RC_ROUTE_ANY);
    }
    {
        const char *argv[] = { "INFO", "replication" };
        assert_int_equal(route(2, argv, &key), BC_RC_ROUTE_ANY);
        assert_int_equal(key, -1);
    }
    {
        const char *argv[] = { "SCRIPT", "EXISTS", "abc" };
        assert_int_equal(route(3, argv, &key), BC_RC_ROUTE_ANY);
    }

    /* SCRIPT LOAD: every master must know the script */
    {
        const char *argv[] = { "script", "load", "return 1" };
        assert_int_equal(route(3, argv, &key), BC_RC_ROUTE_ALL);
    }

    {
        const char *argv[] = { "SCRIPT", "FLUSH" };
        assert_int_equal(route(2, argv, &key), BC_RC_ROUTE_ALL);
    }
    {
        const char *argv[] = { "SCRIPT" };
        assert_int_equal(route(1, argv, &key), BC_RC_ROUTE_ANY);
    }

    /* a numkeys that is not a positive number: no key */
    {
        const char *argv[] = { "EVALSHA", "abc", "x1", "k1" };
        assert_int_equal(route(4, argv, &key), BC_RC_ROUTE_ANY);
        assert_int_equal(key, -1);
    }

    /* XREADGROUP without STREAMS, XINFO without its key: no key */
    {
        const char *argv[] = { "XREADGROUP", "GROUP", "g", "c" };
        assert_int_equal(route(4, argv, &key), BC_RC_ROUTE_ANY);
    }
    {
        const char *argv[] = { "XINFO", "HELP" };
        assert_int_equal(route(2, argv, &key), BC_RC_ROUTE_ANY);
    }

    /* transactions */
    {
        const char *argv[] = { "MULTI" };
        assert_int_equal(route(1, argv, &key), BC_RC_ROUTE_MULTI);
    }
    {
        const char *argv[] = { "EXEC" };
        assert_int_equal(route(1, argv, &key), BC_RC_ROUTE_END);
    }
    {
        const char *argv[] = { "DISCARD" };
        assert_int_equal(route(1, argv, &key), BC_RC_ROUTE_END);
    }

    /* WAIT follows the writes it waits for */
    {
        const char *argv[] = { "WAIT", "1", "100" };
        assert_int_equal(route(3, argv, &key), BC_RC_ROUTE_PREV);
    }

    /* a prefix is not the command, lengths are honoured */
    {
        const char   *argv[] = { "EXECUTE", "k" };
        const size_t  lens[] = { 4, 1 };
        assert_int_equal(bc_rc_route(2, argv, lens, &key), BC_RC_ROUTE_END);
        assert_int_equal(route(2, argv, &key), BC_RC_ROUTE_KEY);
        assert_int_equal(key, 1);
    }
}


/* no seed answers: NULL and a sentence naming the last one tried */
static void
test_connect_refused(void **state)
{
    bc_redis_conf_t  conf;
    char             err[256];
    const char      *seeds = "127.0.0.1:1,127.0.0.1:2";

    (void) state;

    memset(&conf, 0, sizeof(conf));
    conf.timeout_ms = 500;
    assert_int_equal(bc_redis_conf_parse_list(&conf, seeds, strlen(seeds),
                                              err, sizeof(err)), 0);

    err[0] = '\0';
    assert_null(bc_rc_connect(&conf, err, sizeof(err)));
    assert_non_null(strstr(err, "127.0.0.1:2"));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_crc16),
    cmocka_unit_test(test_connect_refused),
    cmocka_unit_test(test_key_slot),
    cmocka_unit_test(test_route_table)
)
