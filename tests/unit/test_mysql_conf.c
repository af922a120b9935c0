/*
 * The MySQL connection settings shared by the module's broadcast_mysql
 * directive, the sender's and broadcastctl's config files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_mysql_conf.h"


static void
write_temp(char *path, const char *text)
{
    bc_unit_write_temp(path, "/tmp/bc_mysql_conf_test_XXXXXX", text);
}


static int
addr(bc_db_conf_t *db, const char *a)
{
    memset(db, 0, sizeof(*db));
    return bc_mysql_conf_addr(db, a, strlen(a));
}


static void
test_addr(void **state)
{
    bc_db_conf_t  db;

    (void) state;

    assert_int_equal(addr(&db, "127.0.0.1:3306"), BC_MYSQL_CONF_OK);
    assert_string_equal(db.host, "127.0.0.1");
    assert_int_equal(db.port, 3306);
    assert_string_equal(db.socket, "");

    assert_int_equal(addr(&db, "[::1]:3307"), BC_MYSQL_CONF_OK);
    assert_string_equal(db.host, "::1");
    assert_int_equal(db.port, 3307);

    assert_int_equal(addr(&db, "unix:/run/mysqld/mysqld.sock"),
                     BC_MYSQL_CONF_OK);
    assert_string_equal(db.socket, "/run/mysqld/mysqld.sock");
    assert_string_equal(db.host, "");

    /* a name would be resolved with blocking DNS */
    assert_int_equal(addr(&db, "localhost:3306"), BC_MYSQL_CONF_INVALID);
    assert_int_equal(addr(&db, "127.0.0.1"), BC_MYSQL_CONF_INVALID);
    assert_int_equal(addr(&db, "127.0.0.1:0"), BC_MYSQL_CONF_INVALID);
    assert_int_equal(addr(&db, "127.0.0.1:65536"), BC_MYSQL_CONF_INVALID);
    assert_int_equal(addr(&db, "127.0.0.1:33a"), BC_MYSQL_CONF_INVALID);
    assert_int_equal(addr(&db, ":3306"), BC_MYSQL_CONF_INVALID);
    assert_int_equal(addr(&db, "[]:3306"), BC_MYSQL_CONF_INVALID);
    assert_int_equal(addr(&db, "unix:"), BC_MYSQL_CONF_INVALID);
    assert_int_equal(addr(&db, ""), BC_MYSQL_CONF_INVALID);
}


static int
param(bc_db_conf_t *db, const char *name, const char *value, char *err,
    size_t errlen)
{
    return bc_mysql_conf_set(db, name, strlen(name), value, strlen(value),
                             1, err, errlen);
}


static void
test_directive(void **state)
{
    bc_db_conf_t  db;
    char          path[64], err[256], big[400];

    (void) state;
    memset(&db, 0, sizeof(db));

    assert_int_equal(param(&db, "database", "broadcast", err, sizeof(err)),
                     BC_MYSQL_CONF_OK);
    assert_int_equal(param(&db, "user", "bc", err, sizeof(err)),
                     BC_MYSQL_CONF_OK);
    assert_string_equal(db.database, "broadcast");
    assert_string_equal(db.user, "bc");

    /* the address is not a parameter; empty values and unknown names
       are refused */
    assert_int_equal(param(&db, "host", "127.0.0.1", err, sizeof(err)),
                     BC_MYSQL_CONF_INVALID);
    assert_int_equal(param(&db, "port", "3306", err, sizeof(err)),
                     BC_MYSQL_CONF_INVALID);
    assert_int_equal(param(&db, "user", "", err, sizeof(err)),
                     BC_MYSQL_CONF_INVALID);
    assert_int_equal(param(&db, "password", "x", err, sizeof(err)),
                     BC_MYSQL_CONF_INVALID);
    assert_string_equal(db.user, "bc");

    memset(big, 'u', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(param(&db, "user", big, err, sizeof(err)),
                     BC_MYSQL_CONF_INVALID);

    write_temp(path, "pa#ss word\n");
    assert_int_equal(param(&db, "password_file", path, err, sizeof(err)),
                     BC_MYSQL_CONF_OK);
    assert_string_equal(db.password, "pa#ss word");
    unlink(path);

    assert_int_equal(param(&db, "password_file", "/nonexistent/pw", err,
                           sizeof(err)),
                     BC_MYSQL_CONF_SECRET_UNREADABLE);

    write_temp(path, big);
    assert_int_equal(param(&db, "password_file", path, err, sizeof(err)),
                     BC_MYSQL_CONF_SECRET_TOO_LONG);
    unlink(path);
}


/* the primary's settings of a file's text; with replica, then the
   replica's from them (bc_mysql_conf_replica_from's answer) */
static int
load(bc_db_conf_t *db, const char *text, int replica, char *err,
    size_t errlen)
{
    bc_conf_t     cf;
    bc_db_conf_t  primary;
    char          path[64];
    int           rc;

    write_temp(path, text);
    memset(&cf, 0, sizeof(cf));
    assert_int_equal(bc_conf_load(&cf, path, err, errlen), 0);
    unlink(path);

    memset(&primary, 0, sizeof(primary));
    rc = bc_mysql_conf_from(&primary, &cf, err, errlen);
    if (replica) {
        assert_int_equal(rc, 0);
        primary.connect_timeout = 3;
        memset(db, 0, sizeof(*db));
        rc = bc_mysql_conf_replica_from(db, &primary, &cf, err, errlen);
    } else {
        *db = primary;
    }
    bc_conf_free(&cf);

    return rc;
}

#define from(db, text, err, len)          load(db, text, 0, err, len)
#define replica_from(db, text, err, len)  load(db, text, 1, err, len)


static void
test_file(void **state)
{
    bc_db_conf_t  db;
    char          path[64], text[256], err[256];

    (void) state;

    assert_int_equal(from(&db, "# nothing\n", err, sizeof(err)), 0);
    assert_string_equal(db.host, "127.0.0.1");
    assert_int_equal(db.port, 3306);
    assert_string_equal(db.user, "broadcast");
    assert_string_equal(db.database, "broadcast");
    assert_string_equal(db.password, "");

    assert_int_equal(from(&db, "mysql_host = 10.0.0.7\nmysql_port = 3390\n"
                          "mysql_user = u\nmysql_database = d\n", err,
                          sizeof(err)),
                     0);
    assert_string_equal(db.host, "10.0.0.7");
    assert_int_equal(db.port, 3390);
    assert_string_equal(db.user, "u");
    assert_string_equal(db.database, "d");

    /* a socket: no default host */
    assert_int_equal(from(&db, "mysql_socket = /tmp/m.sock\n", err,
                          sizeof(err)),
                     0);
    assert_string_equal(db.socket, "/tmp/m.sock");
    assert_string_equal(db.host, "");

    assert_int_equal(from(&db, "mysql_port = 0\n", err, sizeof(err)), -1);
    assert_string_equal(err, "mysql_port = \"0\": expected 1..65535");
    assert_int_equal(from(&db, "mysql_port = 3306x\n", err, sizeof(err)),
                     -1);

    write_temp(path, "secret\n");
    snprintf(text, sizeof(text), "mysql_password_file = %s\n", path);
    assert_int_equal(from(&db, text, err, sizeof(err)), 0);
    assert_string_equal(db.password, "secret");
    unlink(path);

    assert_int_equal(from(&db, "mysql_password_file = /nonexistent/pw\n",
                          err, sizeof(err)),
                     -1);
}


static void
test_replica(void **state)
{
    bc_db_conf_t  db;
    char          path[64], text[256], err[256];

    (void) state;

    assert_int_equal(replica_from(&db, "mysql_host = 10.0.0.7\n", err,
                                  sizeof(err)), 0);

    write_temp(path, "secret\n");
    snprintf(text, sizeof(text), "mysql_host = 10.0.0.7\nmysql_user = u\n"
             "mysql_password_file = %s\nmysql_replica = 10.0.0.8:3307\n",
             path);
    assert_int_equal(replica_from(&db, text, err, sizeof(err)), 1);
    assert_string_equal(db.host, "10.0.0.8");
    assert_int_equal(db.port, 3307);
    assert_string_equal(db.user, "u");
    assert_string_equal(db.database, "broadcast");
    assert_string_equal(db.password, "secret");
    assert_int_equal(db.connect_timeout, 3);
    unlink(path);

    assert_int_equal(replica_from(&db, "mysql_host = 10.0.0.7\n"
                                  "mysql_replica = unix:/run/r.sock\n"
                                  "mysql_replica_user = reader\n"
                                  "mysql_replica_database = b2\n", err,
                                  sizeof(err)), 1);
    assert_string_equal(db.socket, "/run/r.sock");
    assert_string_equal(db.host, "");
    assert_string_equal(db.user, "reader");
    assert_string_equal(db.database, "b2");

    assert_int_equal(replica_from(&db, "mysql_replica = replica.local:3307\n",
                                  err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mysql_replica"));
    assert_int_equal(replica_from(&db, "mysql_replica = 10.0.0.8:3307\n"
                                  "mysql_replica_password_file = /nonexistent\n",
                                  err, sizeof(err)), -1);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_addr),
    cmocka_unit_test(test_directive),
    cmocka_unit_test(test_file),
    cmocka_unit_test(test_replica)
)
