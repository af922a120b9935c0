/*
 * The SQL plumbing the CRUD areas (contacts, groups, compliance, keyword
 * rules, stats, senders, chat, auth) share: the positive BIGINT {id} and
 * the keyset cursor of a listing, the time bounds of an id range, the
 * connection made when needed and a SELECT's result set, each answering
 * 503 mysql_unavailable on failure.
 */


#include "ngx_http_broadcast_api.h"
#include "bc_id.h"

#include <time.h>


long long
ngx_http_broadcast_sql_id(const u_char *p, size_t len)
{
    off_t  n;

    if (len == 0 || len > 18 || p[0] == '0') {
        return -1;
    }

    n = ngx_atoof((u_char *) p, len);

    return n > 0 ? (long long) n : -1;
}


int
ngx_http_broadcast_sql_cursor(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, long long *cursor)
{
    char     buf[32];
    ssize_t  n;

    n = ngx_http_broadcast_api_arg(r, "cursor", buf, sizeof(buf));
    if (n > 0) {
        *cursor = ngx_http_broadcast_sql_id((u_char *) buf, n);
    }

    if (n == -2 || *cursor < 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "cursor must be the next_cursor of the "
            "previous page");
        return -1;
    }

    return 0;
}


int
ngx_http_broadcast_sql_keyset(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_uint_t *limit, ngx_uint_t max,
    long long *cursor)
{
    char     buf[64];
    ssize_t  n;

    n = ngx_http_broadcast_api_arg(r, "limit", buf, sizeof(buf));
    if (n != -1) {
        *limit = n > 0 && n <= 4 ? (ngx_uint_t) ngx_atoi((u_char *) buf, n)
                                 : 0;

        if (*limit == 0 || *limit > max || (ngx_int_t) *limit == NGX_ERROR) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "limit must be a number from 1 to %d",
                (int) max);
            return -1;
        }
    }

    return ngx_http_broadcast_sql_cursor(r, ctx, cursor);
}


ngx_uint_t
ngx_http_broadcast_sql_enum(const char **values, const char *s)
{
    for ( /* void */ ; *values; values++) {
        if (ngx_strcmp(s, *values) == 0) {
            return 1;
        }
    }

    return 0;
}


int
ngx_http_broadcast_sql_connect(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    char  err[256];

    if (conn->mysql) {
        return 0;
    }

    conn->mysql = bc_db_connect(conn->db ? conn->db : &ctx->mcf->mysql, err,
                                sizeof(err));

    if (conn->mysql == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    return 0;
}




/*
 * The replica's lag, checked at most once a second per thread: fresh when
 * both replication threads run and Seconds_Behind_Master is at most
 * broadcast_mysql_replica's max_lag (SHOW SLAVE STATUS: the user needs
 * SLAVE MONITOR). A replica that is down, stopped or behind is not used.
 */
static ngx_uint_t
ngx_http_broadcast_replica_fresh(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    char               err[256];
    time_t             now;
    MYSQL_ROW          row;
    MYSQL_RES         *res;
    MYSQL_FIELD       *f;
    ngx_uint_t         i, n, io, sql, fresh;
    unsigned long long lag;

    now = time(NULL);

    /* checked this second; or unreachable: not tried again for a while,
       so a replica that is down costs no request a connect timeout */
    if (conn->replica_checked >= now) {
        return conn->replica_fresh;
    }

    conn->replica_checked = now;
    conn->replica_fresh = 0;

    if (conn->replica == NULL) {
        conn->replica = bc_db_connect(&ctx->mcf->mysql_replica, err,
                                      sizeof(err));
    }

    if (conn->replica == NULL
        || bc_db_query(&conn->replica, &ctx->mcf->mysql_replica,
                       "SHOW SLAVE STATUS", 17, err, sizeof(err))
           != 0
        || (res = mysql_store_result(conn->replica)) == NULL)
    {
        conn->replica_checked = now + NGX_HTTP_BROADCAST_REPLICA_RETRY_S;
        return 0;
    }

    row = mysql_fetch_row(res);
    n = mysql_num_fields(res);
    f = mysql_fetch_fields(res);
    io = sql = 0;
    lag = (unsigned long long) -1;

    for (i = 0; row && i < n; i++) {
        if (row[i] == NULL) {
            continue;
        }

        if (ngx_strcmp(f[i].name, "Slave_IO_Running") == 0) {
            io = ngx_strcmp(row[i], "Yes") == 0;

        } else if (ngx_strcmp(f[i].name, "Slave_SQL_Running") == 0) {
            sql = ngx_strcmp(row[i], "Yes") == 0;

        } else if (ngx_strcmp(f[i].name, "Seconds_Behind_Master") == 0) {
            lag = strtoull(row[i], NULL, 10);
        }
    }

    mysql_free_result(res);

    fresh = io && sql && lag <= (unsigned long long) ctx->mcf->replica_max_lag;
    conn->replica_fresh = fresh;

    return fresh;
}


/*
 * A heavy read (listing, stats, export) runs on the replica when one is
 * configured and fresh, else on the primary. The replica stays the thread
 * connection in use until the task ends (ngx_http_broadcast_conn_done).
 */
int
ngx_http_broadcast_sql_read(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    if (ctx->mcf->mysql_replica_set && conn->db == NULL
        && ngx_http_broadcast_replica_fresh(ctx, conn))
    {
        conn->parked = conn->mysql;
        conn->mysql = conn->replica;
        conn->replica = NULL;
        conn->db = &ctx->mcf->mysql_replica;
    }

    return ngx_http_broadcast_sql_connect(ctx, conn);
}


MYSQL_RES *
ngx_http_broadcast_sql_store(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    MYSQL_RES  *res;

    res = mysql_store_result(conn->mysql);
    if (res == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                 mysql_error(conn->mysql));
        ngx_http_broadcast_api_mysql_down(ctx);
    }

    return res;
}


MYSQL_RES *
ngx_http_broadcast_sql_select(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, size_t n)
{
    char  err[256];

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n, err,
                                       sizeof(err))
        != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        return NULL;
    }

    return ngx_http_broadcast_sql_store(ctx, conn);
}


MYSQL_RES *
ngx_http_broadcast_sql_printed(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, int n, size_t size)
{
    if (n <= 0 || (size_t) n >= size) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "query too long");
        return NULL;
    }

    return ngx_http_broadcast_sql_select(ctx, conn, sql, n);
}


json_t *
ngx_http_broadcast_sql_page(ngx_http_broadcast_api_ctx_t *ctx,
    MYSQL_RES *res, ngx_uint_t limit, ngx_http_broadcast_sql_row_pt row_json,
    void *data, char *next, size_t size)
{
    json_t      *list, *item;
    MYSQL_ROW    row;
    ngx_uint_t   rows;

    list = json_array();
    rows = 0;
    next[0] = '\0';

    while (list && (row = mysql_fetch_row(res)) != NULL) {
        if (++rows > limit) {
            break;
        }

        item = row_json(data, row, mysql_fetch_lengths(res));
        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            list = NULL;
            break;
        }

        ngx_cpystrn((u_char *) next, (u_char *) row[0], size);
    }

    mysql_free_result(res);

    if (list == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return NULL;
    }

    if (rows <= limit) {
        next[0] = '\0';
    }

    return list;
}


json_t *
ngx_http_broadcast_sql_rows(ngx_http_broadcast_api_ctx_t *ctx,
    MYSQL_RES *res, ngx_http_broadcast_sql_row_pt row_json, void *data)
{
    json_t     *list, *item;
    MYSQL_ROW   row;

    list = json_array();

    while (list && (row = mysql_fetch_row(res)) != NULL) {
        item = row_json(data, row, mysql_fetch_lengths(res));

        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            list = NULL;
        }
    }

    mysql_free_result(res);

    if (list == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }

    return list;
}


long long
ngx_http_broadcast_sql_number(MYSQL_RES *res)
{
    long long  n;
    MYSQL_ROW  row;

    if (res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(res);
    n = (row && row[0]) ? strtoll(row[0], NULL, 10) : 0;
    mysql_free_result(res);

    return n;
}


int
ngx_http_broadcast_sql_one(ngx_http_broadcast_api_ctx_t *ctx, json_t *list,
    const char *what, long long id)
{
    if (json_array_size(list) == 0) {
        json_decref(list);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no %s with id %lld", what, id);
        return 0;
    }

    ctx->result = json_incref(json_array_get(list, 0));
    json_decref(list);

    return 1;
}


void
ngx_http_broadcast_sql_deleted(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *what, long long id)
{
    if (mysql_affected_rows(conn->mysql) == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no %s with id %lld", what, id);
        return;
    }

    ctx->result = json_pack("{s:b,s:I}", "deleted", 1, "id", (json_int_t) id);
}


/*
 * ISO-8601 date or date-time (optional seconds, fraction and offset) to
 * ms; *date_only is set for a bare date, which takes an offset only with
 * NGX_HTTP_BROADCAST_TIME_DATE_OFFSET in flags
 */
static int
ngx_http_broadcast_sql_iso(const char *s, ngx_uint_t flags, long long *ms,
    ngx_uint_t *date_only)
{
    int          y, mo, d, h, mi, sec, frac, fd, sign, oh, om, n;
    struct tm    tm;
    const char  *p;

    h = mi = sec = frac = fd = sign = oh = om = 0;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) {
        return -1;
    }

    p = s + 10;
    *date_only = (*p == '\0');

    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n) != 2 || n != 5) {
            return -1;
        }

        p += 6;

        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &n) != 1 || n != 2) {
                return -1;
            }

            p += 3;

            if (*p == '.' || *p == ',') {
                for (p++; *p >= '0' && *p <= '9'; p++) {
                    if (fd < 3) {
                        frac = frac * 10 + (*p - '0');
                        fd++;
                    }
                }

                if (fd == 0) {
                    return -1;
                }

                for ( /* void */ ; fd < 3; fd++) {
                    frac *= 10;
                }
            }
        }

    } else if (!(flags & NGX_HTTP_BROADCAST_TIME_DATE_OFFSET)) {
        goto check;
    }

    if (*p == 'Z' || *p == 'z') {
        p++;

    } else if (*p == '+' || *p == '-') {
        sign = (*p == '-') ? -1 : 1;

        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5) {
            p += 6;

        } else if (sscanf(p + 1, "%2d%2d%n", &oh, &om, &n) == 2 && n == 4) {
            p += 5;

        } else {
            return -1;
        }
    }

check:

    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23
        || mi > 59 || sec > 60 || oh > 23 || om > 59 || y < 1970)
    {
        return -1;
    }

    ngx_memzero(&tm, sizeof(struct tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;

    *ms = ((long long) timegm(&tm) - sign * (oh * 3600 + om * 60)) * 1000
          + frac;

    return *ms >= 0 && *ms < (1LL << 48) ? 0 : -1;
}


int
ngx_http_broadcast_sql_time(const char *s, ngx_uint_t flags, char fill,
    char *id)
{
    static const char  b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    int         i;
    long long   ms;
    ngx_uint_t  date_only;

    if (ngx_http_broadcast_sql_iso(s, flags, &ms, &date_only) != 0) {
        return -1;
    }

    if (date_only && fill == 'Z' && (flags & NGX_HTTP_BROADCAST_TIME_DAY)) {
        ms += 86400000 - 1;
    }

    if (ms >= (1LL << 48)) {
        return -1;
    }

    for (i = 9; i >= 0; i--) {
        id[i] = b32[ms & 31];
        ms >>= 5;
    }

    for (i = 10; i < BC_ULID_LEN; i++) {
        id[i] = fill;
    }

    id[BC_ULID_LEN] = '\0';

    return 0;
}


/*
 * thread: a page of res (limit rows, one more read to know there is a
 * next) as ctx->result {"<key>":[...],"next_cursor"}; 0, or -1 with ctx's
 * error set
 */
int
ngx_http_broadcast_sql_page_result(ngx_http_broadcast_api_ctx_t *ctx,
    MYSQL_RES *res, ngx_uint_t limit, ngx_http_broadcast_sql_row_pt row_json,
    void *data, const char *key)
{
    char     next[512];    /* a cursor may be an address (compliance) */
    json_t  *list;

    list = ngx_http_broadcast_sql_page(ctx, res, limit, row_json, data, next,
                                       sizeof(next));
    if (list == NULL) {
        return -1;
    }

    ctx->result = json_pack("{s:o,s:s?}", key, list, "next_cursor",
                            next[0] ? next : NULL);

    return ctx->result ? 0 : -1;
}
