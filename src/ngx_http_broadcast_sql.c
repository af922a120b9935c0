/*
 * The SQL plumbing the CRUD areas (contacts, groups, compliance, keyword
 * rules, stats, senders, chat, auth) share: the positive BIGINT {id} and
 * the keyset cursor of a listing, the connection made when needed and a
 * SELECT's result set, each answering 503 mysql_unavailable on failure.
 */


#include "ngx_http_broadcast_api.h"


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
ngx_http_broadcast_sql_connect(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    char  err[256];

    if (conn->mysql) {
        return 0;
    }

    conn->mysql = bc_db_connect(&ctx->mcf->mysql, err, sizeof(err));

    if (conn->mysql == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    return 0;
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
