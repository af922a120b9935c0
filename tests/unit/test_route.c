/*
 * The route table: exact paths, {name} segments, 404 and 405 answers, one
 * pattern with several method rows, HEAD through GET, and no dependence on
 * the order of the rows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_route.h"


/* method bits as a caller would pass them (nginx's values) */
#define GET     0x0002u
#define HEAD    0x0004u
#define POST    0x0008u
#define DELETE  0x0020u

/* what each row's data points at, to tell the rows apart */
enum {
    R_SMS, R_EMAIL, R_KEYS, R_REVOKE, R_STATUS, R_STATUS_TWILIO,
    R_SENDERS_READ, R_SENDERS_MANAGE, R_MESSAGES, R_MESSAGE, R_N
};

static const int  ids[R_N] = { R_SMS, R_EMAIL, R_KEYS, R_REVOKE, R_STATUS,
    R_STATUS_TWILIO, R_SENDERS_READ, R_SENDERS_MANAGE, R_MESSAGES,
    R_MESSAGE };

static const bc_route_t  rows[] = {
    /* the prefix-looking rows first: they must not shadow longer ones */
    { GET, "/api/status/{id}", &ids[R_STATUS] },
    { GET, "/api/messages/{id}", &ids[R_MESSAGE] },
    { POST, "/api/keys/{id}/revoke", &ids[R_REVOKE] },
    { POST, "/api/send/sms", &ids[R_SMS] },
    { POST, "/api/send/email", &ids[R_EMAIL] },
    { GET|POST, "/api/keys", &ids[R_KEYS] },
    { GET, "/api/status/twilio/{sid}", &ids[R_STATUS_TWILIO] },
    { GET, "/api/email/senders", &ids[R_SENDERS_READ] },
    { POST|DELETE, "/api/email/senders", &ids[R_SENDERS_MANAGE] },
    { GET, "/api/messages", &ids[R_MESSAGES] },
};

#define NROWS  (sizeof(rows) / sizeof(rows[0]))


static bc_router_t *
router_of(const bc_route_t *table, size_t n)
{
    char          err[256];
    bc_router_t  *router;

    err[0] = '\0';
    router = bc_router_new(table, n, GET, HEAD, err, sizeof(err));
    if (router == NULL) {
        print_error("bc_router_new: %s\n", err);
    }

    assert_non_null(router);

    return router;
}


static bc_route_result_t
find(bc_router_t *router, unsigned method, const char *path,
    bc_route_match_t *m)
{
    return bc_router_find(router, method, path, strlen(path), m);
}


/* the row id found for method and path, or -1 */
static int
row_of(bc_router_t *router, unsigned method, const char *path)
{
    bc_route_match_t  m;

    if (find(router, method, path, &m) != BC_ROUTE_FOUND) {
        return -1;
    }

    return *(const int *) m.route->data;
}


typedef struct {
    unsigned     method;
    const char  *path;
} probe_t;


/* each probe finds no path: no row, no methods, no params */
static void
expect_no_path(bc_router_t *router, const probe_t *probes, size_t n)
{
    size_t            i;
    bc_route_match_t  m;

    for (i = 0; i < n; i++) {
        assert_int_equal(find(router, probes[i].method, probes[i].path, &m),
                         BC_ROUTE_NO_PATH);
        assert_null(m.route);
        assert_int_equal(m.allowed, 0);
        assert_int_equal(m.nparams, 0);
    }
}


/* method and path find row with one param, the len bytes at path + off */
static void
expect_param(bc_router_t *router, unsigned method, const char *path, int row,
    size_t off, size_t len)
{
    bc_route_match_t  m;

    assert_int_equal(find(router, method, path, &m), BC_ROUTE_FOUND);
    assert_int_equal(*(const int *) m.route->data, row);
    assert_int_equal(m.nparams, 1);
    assert_ptr_equal(m.params[0].data, path + off);
    assert_int_equal(m.params[0].len, len);
}


static void
test_exact(void **state)
{
    bc_router_t             *router;
    bc_route_match_t         m;
    static const probe_t     no_paths[] = {
        { POST, "/api/send/sm" }, { POST, "/api/send/smsx" },
        { POST, "/api/send/sms/" }, { POST, "/api/send/SMS" },
        { POST, "/api//send/sms" }, { POST, "api/send/sms" },
        { POST, "/api/send" }, { POST, "/api" }, { POST, "/" },
        { POST, "" },
    };

    (void) state;

    router = router_of(rows, NROWS);

    assert_int_equal(find(router, POST, "/api/send/sms", &m),
                     BC_ROUTE_FOUND);
    assert_int_equal(*(const int *) m.route->data, R_SMS);
    assert_int_equal(m.nparams, 0);
    assert_string_equal(m.route->pattern, "/api/send/sms");
    assert_int_equal(m.route->methods, POST);

    assert_int_equal(row_of(router, POST, "/api/send/email"), R_EMAIL);
    assert_int_equal(row_of(router, GET, "/api/messages"), R_MESSAGES);

    /* the path must match in full: no prefixes, case or slash leeway */
    expect_no_path(router, no_paths, sizeof(no_paths) / sizeof(no_paths[0]));

    /* the length bounds the path: bytes after it are not looked at */
    assert_int_equal(bc_router_find(router, POST, "/api/send/smsXYZ", 13,
                                    &m),
                     BC_ROUTE_FOUND);
    assert_int_equal(*(const int *) m.route->data, R_SMS);

    bc_router_free(router);
}


static void
test_params(void **state)
{
    bc_router_t           *router;
    static const probe_t   no_paths[] = {
        { POST, "/api/keys//revoke" }, { POST, "/api/keys/4/2/revoke" },
        { GET, "/api/status/" }, { GET, "/api/status/a/b" },
        { GET, "/api/messages/x/" }, { POST, "/api/keys/42/revoke/" },
        { POST, "/api/keys/42" },
    };

    (void) state;

    router = router_of(rows, NROWS);

    expect_param(router, POST, "/api/keys/42/revoke", R_REVOKE, 10, 2);
    expect_param(router, GET, "/api/status/01ARZ3NDEKTSV4RRFFQ69G5FAV",
                 R_STATUS, 12, 26);

    /* one segment: not empty, no '/' */
    expect_no_path(router, no_paths, sizeof(no_paths) / sizeof(no_paths[0]));

    bc_router_free(router);
}


/* a literal segment wins; a dead end below it falls back to {id} */
static void
test_literal_over_param(void **state)
{
    bc_router_t           *router;
    static const probe_t   no_paths[] = {
        { GET, "/api/status/twilio/" }, { GET, "/api/status/twilio/a/b" },
    };

    (void) state;

    router = router_of(rows, NROWS);

    expect_param(router, GET, "/api/status/twilio/SM0123", R_STATUS_TWILIO,
                 19, 6);

    /* "twilio" alone is an id to /api/status/{id} */
    expect_param(router, GET, "/api/status/twilio", R_STATUS, 12, 6);

    expect_no_path(router, no_paths, sizeof(no_paths) / sizeof(no_paths[0]));

    bc_router_free(router);
}


static void
test_method_not_allowed(void **state)
{
    bc_router_t       *router;
    bc_route_match_t   m;

    (void) state;

    router = router_of(rows, NROWS);

    assert_int_equal(find(router, GET, "/api/send/sms", &m),
                     BC_ROUTE_NO_METHOD);
    assert_null(m.route);
    assert_int_equal(m.allowed, POST);

    assert_int_equal(find(router, DELETE, "/api/keys", &m),
                     BC_ROUTE_NO_METHOD);
    assert_int_equal(m.allowed, GET|HEAD|POST);

    assert_int_equal(find(router, POST, "/api/status/x", &m),
                     BC_ROUTE_NO_METHOD);
    assert_int_equal(m.allowed, GET|HEAD);
    assert_int_equal(m.nparams, 1);

    assert_int_equal(find(router, 0x0010u, "/api/email/senders", &m),
                     BC_ROUTE_NO_METHOD);
    assert_int_equal(m.allowed, GET|HEAD|POST|DELETE);

    bc_router_free(router);
}


/* one pattern, rows told apart by method */
static void
test_methods_one_path(void **state)
{
    bc_router_t       *router;
    bc_route_match_t   m;

    (void) state;

    router = router_of(rows, NROWS);

    assert_int_equal(row_of(router, GET, "/api/email/senders"),
                     R_SENDERS_READ);
    assert_int_equal(row_of(router, POST, "/api/email/senders"),
                     R_SENDERS_MANAGE);
    assert_int_equal(row_of(router, DELETE, "/api/email/senders"),
                     R_SENDERS_MANAGE);

    assert_int_equal(find(router, POST, "/api/email/senders", &m),
                     BC_ROUTE_FOUND);
    assert_int_equal(m.allowed, GET|HEAD|POST|DELETE);

    assert_int_equal(row_of(router, GET, "/api/keys"), R_KEYS);
    assert_int_equal(row_of(router, POST, "/api/keys"), R_KEYS);

    bc_router_free(router);
}


static void
test_head_via_get(void **state)
{
    char               err[128];
    bc_router_t       *router;
    bc_route_match_t   m;
    const bc_route_t   table[] = { { GET, "/a", &ids[0] } };

    (void) state;

    router = router_of(rows, NROWS);

    assert_int_equal(row_of(router, HEAD, "/api/messages"), R_MESSAGES);
    assert_int_equal(row_of(router, HEAD, "/api/email/senders"),
                     R_SENDERS_READ);
    assert_int_equal(row_of(router, HEAD, "/api/status/x"), R_STATUS);
    assert_int_equal(find(router, HEAD, "/api/send/sms", &m),
                     BC_ROUTE_NO_METHOD);

    bc_router_free(router);

    /* no GET/HEAD rule: HEAD is a method like any other */
    router = bc_router_new(table, 1, 0, 0, err, sizeof(err));
    assert_non_null(router);
    assert_int_equal(find(router, HEAD, "/a", &m), BC_ROUTE_NO_METHOD);
    assert_int_equal(m.allowed, GET);
    assert_int_equal(find(router, GET, "/a", &m), BC_ROUTE_FOUND);
    bc_router_free(router);
}


/* every order of the rows gives the same answers */
static void
test_order_independent(void **state)
{
    size_t             i, j;
    bc_route_t         rev[NROWS];
    bc_router_t       *fwd, *bwd;
    bc_route_match_t   a, b;
    static const probe_t  probes[] = {
        { POST, "/api/send/sms" }, { GET, "/api/status/twilio/SM1" },
        { GET, "/api/status/twilio" }, { GET, "/api/status/x" },
        { POST, "/api/keys/7/revoke" }, { GET, "/api/keys" },
        { DELETE, "/api/email/senders" }, { HEAD, "/api/email/senders" },
        { GET, "/api/messages" }, { GET, "/api/messages/1" },
        { GET, "/api/send/sms" }, { GET, "/api/nothing" },
    };

    (void) state;

    for (i = 0; i < NROWS; i++) {
        rev[i] = rows[NROWS - 1 - i];
    }

    fwd = router_of(rows, NROWS);
    bwd = router_of(rev, NROWS);

    for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        assert_int_equal(find(fwd, probes[i].method, probes[i].path, &a),
                         find(bwd, probes[i].method, probes[i].path, &b));
        assert_int_equal(a.allowed, b.allowed);
        assert_int_equal(a.nparams, b.nparams);

        if (a.route) {
            assert_ptr_equal(a.route->data, b.route->data);
        } else {
            assert_null(b.route);
        }

        for (j = 0; j < a.nparams; j++) {
            assert_ptr_equal(a.params[j].data, b.params[j].data);
            assert_int_equal(a.params[j].len, b.params[j].len);
        }
    }

    bc_router_free(fwd);
    bc_router_free(bwd);
}


static void
test_several_params(void **state)
{
    bc_router_t       *router;
    bc_route_match_t   m;
    const char        *path;
    const bc_route_t   table[] = {
        { GET, "/a/{x}/b/{y}", &ids[0] },
        { GET, "/a/{x}/c", &ids[1] },
        { GET, "/a/lit/c", &ids[2] },
    };

    (void) state;

    router = router_of(table, 3);

    path = "/a/one/b/two";
    assert_int_equal(find(router, GET, path, &m), BC_ROUTE_FOUND);
    assert_int_equal(m.nparams, 2);
    assert_ptr_equal(m.params[0].data, path + 3);
    assert_int_equal(m.params[0].len, 3);
    assert_ptr_equal(m.params[1].data, path + 9);
    assert_int_equal(m.params[1].len, 3);

    assert_int_equal(row_of(router, GET, "/a/lit/c"), 2);
    assert_int_equal(row_of(router, GET, "/a/other/c"), 1);

    /* a dead end under "lit" falls back to {x}, captured again */
    path = "/a/lit/b/z";
    assert_int_equal(find(router, GET, path, &m), BC_ROUTE_FOUND);
    assert_int_equal(*(const int *) m.route->data, 0);
    assert_int_equal(m.nparams, 2);
    assert_ptr_equal(m.params[0].data, path + 3);
    assert_int_equal(m.params[0].len, 3);

    bc_router_free(router);
}


static void
test_bad_tables(void **state)
{
    size_t              i;
    char                err[128];
    bc_router_t        *router;
    static const char  *bad[] = {
        "api/x", "/api//x", "/api/x/", "/api/{}", "/api/{id", "/api/id}",
        "/api/a{id}", "/api/{i{d}", "/{a}/{b}/{c}/{d}/{e}", "",
    };
    const bc_route_t    dup[] = {
        { GET, "/a/{id}", &ids[0] },
        { GET|POST, "/a/{other}", &ids[1] },
    };
    const bc_route_t    none[] = { { 0, "/a", &ids[0] } };
    const bc_route_t    head[] = {
        { GET, "/a", &ids[0] },
        { HEAD, "/a", &ids[1] },
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bc_route_t  row = { GET, bad[i], &ids[0] };

        err[0] = '\0';
        router = bc_router_new(&row, 1, GET, HEAD, err, sizeof(err));
        assert_null(router);
        assert_true(err[0] != '\0');
    }

    assert_null(bc_router_new(dup, 2, GET, HEAD, err, sizeof(err)));
    assert_null(bc_router_new(none, 1, GET, HEAD, err, sizeof(err)));
    assert_null(bc_router_new(head, 2, GET, HEAD, err, sizeof(err)));

    /* without the GET/HEAD rule the same rows are fine */
    router = bc_router_new(head, 2, 0, 0, err, sizeof(err));
    assert_non_null(router);
    assert_int_equal(row_of(router, HEAD, "/a"), 1);
    bc_router_free(router);

    /* an empty table routes nothing */
    router = bc_router_new(NULL, 0, GET, HEAD, err, sizeof(err));
    assert_non_null(router);
    assert_int_equal(row_of(router, GET, "/a"), -1);
    bc_router_free(router);
}


/* many exact paths, some alike in length and last bytes (one hash slot) */
static void
test_many_exact(void **state)
{
    char               paths[300][16];
    size_t             i, n;
    int                id[300];
    bc_route_t         table[300];
    bc_router_t       *router;
    bc_route_match_t   m;

    (void) state;

    n = 0;

    for (i = 0; i < 200; i++, n++) {
        snprintf(paths[n], sizeof(paths[n]), "/r/%zu", i);
    }

    for (i = 0; i < 100; i++, n++) {
        snprintf(paths[n], sizeof(paths[n]), "/%02zu/send/sms", i);
    }

    for (i = 0; i < n; i++) {
        id[i] = (int) i;
        table[i].methods = i % 2 ? POST : GET;
        table[i].pattern = paths[i];
        table[i].data = &id[i];
    }

    router = router_of(table, n);

    for (i = 0; i < n; i++) {
        assert_int_equal(find(router, i % 2 ? POST : GET, paths[i], &m),
                         BC_ROUTE_FOUND);
        assert_int_equal(*(const int *) m.route->data, (int) i);
        assert_int_equal(find(router, i % 2 ? GET : POST, paths[i], &m),
                         BC_ROUTE_NO_METHOD);
    }

    assert_int_equal(find(router, GET, "/r/200", &m), BC_ROUTE_NO_PATH);
    assert_int_equal(find(router, GET, "/aa/send/sms", &m),
                     BC_ROUTE_NO_PATH);
    assert_int_equal(find(router, GET, "/r/1/", &m), BC_ROUTE_NO_PATH);

    bc_router_free(router);
}


/* the rows are copied: the caller's table may go away */
static void
test_rows_copied(void **state)
{
    char               pattern[16];
    bc_route_t         table[1];
    bc_router_t       *router;

    (void) state;

    strcpy(pattern, "/tmp/{id}");
    table[0].methods = POST;
    table[0].pattern = pattern;
    table[0].data = &ids[3];

    router = router_of(table, 1);
    memset(pattern, 'x', sizeof(pattern) - 1);
    memset(table, 0, sizeof(table));

    assert_int_equal(row_of(router, POST, "/tmp/9"), 3);
    bc_router_free(router);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_exact),
    cmocka_unit_test(test_params),
    cmocka_unit_test(test_literal_over_param),
    cmocka_unit_test(test_method_not_allowed),
    cmocka_unit_test(test_methods_one_path),
    cmocka_unit_test(test_head_via_get),
    cmocka_unit_test(test_order_independent),
    cmocka_unit_test(test_several_params),
    cmocka_unit_test(test_bad_tables),
    cmocka_unit_test(test_many_exact),
    cmocka_unit_test(test_rows_copied)
)
