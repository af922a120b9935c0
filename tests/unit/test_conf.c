/*
 * "key = value" files and secret files.
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
#include "bc_conf.h"


static void
write_temp(char *path, const char *text)
{
    bc_unit_write_temp(path, "/tmp/bc_conf_test_XXXXXX", text);
}


static void
test_load(void **state)
{
    bc_conf_t  conf;
    char       path[64], err[256];

    (void) state;

    write_temp(path,
               "# sender\n"
               "redis = 127.0.0.1:6390\n"
               "   mysql_port=3390   \n"
               "\n"
               "  # indented comment\n"
               "twilio_api_base = http://127.0.0.1:8090      # comment\n"
               "password = pa#ss\n"
               "empty =\n"
               "\tlog_level\t=\tinfo\r\n"
               "max_inflight = 1\n"
               "max_inflight = 256\n");

    assert_int_equal(bc_conf_load(&conf, path, err, sizeof(err)), 0);
    assert_string_equal(bc_conf_get(&conf, "redis", NULL), "127.0.0.1:6390");
    assert_string_equal(bc_conf_get(&conf, "mysql_port", NULL), "3390");
    assert_string_equal(bc_conf_get(&conf, "twilio_api_base", NULL),
                        "http://127.0.0.1:8090");
    assert_string_equal(bc_conf_get(&conf, "password", NULL), "pa#ss");
    assert_string_equal(bc_conf_get(&conf, "empty", "x"), "");
    assert_string_equal(bc_conf_get(&conf, "log_level", NULL), "info");
    assert_string_equal(bc_conf_get(&conf, "max_inflight", NULL), "256");
    assert_string_equal(bc_conf_get(&conf, "missing", "dflt"), "dflt");
    assert_null(bc_conf_get(&conf, "missing", NULL));

    bc_conf_free(&conf);
    unlink(path);
}


static void
test_errors(void **state)
{
    bc_conf_t  conf;
    char       path[64], err[256], expect[128];

    (void) state;

    write_temp(path, "a = 1\nno equals sign\n");
    assert_int_equal(bc_conf_load(&conf, path, err, sizeof(err)), -1);
    snprintf(expect, sizeof(expect), "%s:2:", path);
    assert_memory_equal(err, expect, strlen(expect));
    assert_int_equal(conf.n, 0);
    unlink(path);

    write_temp(path, " = 1\n");
    assert_int_equal(bc_conf_load(&conf, path, err, sizeof(err)), -1);
    unlink(path);

    assert_int_equal(bc_conf_load(&conf, "/nonexistent/bc.conf", err,
                                  sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/bc.conf"));
}


static void
test_secret(void **state)
{
    char   path[64], err[256];
    char  *s;

    (void) state;

    write_temp(path, "s3cr3t token\n");
    s = bc_read_secret_file(path, err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(s, "s3cr3t token");
    free(s);
    unlink(path);

    write_temp(path, "abc\r\n");
    s = bc_read_secret_file(path, err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(s, "abc");
    free(s);
    unlink(path);

    write_temp(path, "\n");
    assert_null(bc_read_secret_file(path, err, sizeof(err)));
    unlink(path);

    assert_null(bc_read_secret_file("/nonexistent/secret", err,
                                    sizeof(err)));
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_load),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_secret)
)
