/*
 * The gauges /metrics counts in MySQL: twilio_message_status_gauge (the
 * Twilio messages created in the last day by their current status),
 * broadcast_campaigns_running and broadcast_campaign_recipients_pending
 * (the dispatcher's backlog). Index range counts in the scrape's thread
 * task, at most every NGX_HTTP_BROADCAST_GAUGE_CACHE_S per worker: the
 * loop decides, the thread fills the request's copy, the loop keeps it.
 */


#include "ngx_http_broadcast_metrics.h"


/* our message statuses (common/bc_status.c), "other" last */
static const char  *ngx_http_broadcast_msg_status[] = {
    "queued", "accepted", "sending", "sent", "delivered", "read",
    "undelivered", "failed", "canceled", "other", NULL
};

/* this worker's last answer */
static time_t                             ngx_http_broadcast_mysql_at;
static ngx_uint_t                         ngx_http_broadcast_mysql_have;
static ngx_http_broadcast_mysql_gauges_t  ngx_http_broadcast_mysql_cache;


/* loop: does this scrape ask MySQL? */
void
ngx_http_broadcast_metrics_mysql_want(ngx_http_broadcast_metrics_ctx_t *ctx)
{
    ctx->mysql_want = ctx->mcf->mysql_set
                      && (!ngx_http_broadcast_mysql_have
                          || ngx_time() - ngx_http_broadcast_mysql_at
                             >= NGX_HTTP_BROADCAST_GAUGE_CACHE_S);
}


/* thread: a query's result, NULL (and nothing counted) on any error */
static MYSQL_RES *
ngx_http_broadcast_metrics_mysql_select(ngx_http_broadcast_metrics_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, size_t len)
{
    char  err[256];

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, len, err,
                                       sizeof(err))
        != 0)
    {
        return NULL;
    }

    return mysql_store_result(conn->mysql);
}


/* thread: the Twilio messages of the last day by status */
static void
ngx_http_broadcast_metrics_msg_run(ngx_http_broadcast_metrics_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    size_t                              i;
    MYSQL_ROW                           row;
    MYSQL_RES                          *res;
    ngx_http_broadcast_mysql_gauges_t  *g = &ctx->mysql;
    static const char  sql[] =
        "SELECT status, COUNT(*) FROM messages WHERE provider = 'twilio' "
        "AND created_at >= UTC_TIMESTAMP(3) - INTERVAL "
        BC_STR(NGX_HTTP_BROADCAST_GAUGE_WINDOW_S) " SECOND GROUP BY status";

    res = ngx_http_broadcast_metrics_mysql_select(ctx, conn, sql,
                                                  sizeof(sql) - 1);
    if (res == NULL) {
        return;
    }

    while ((row = mysql_fetch_row(res)) != NULL) {
        if (row[0] == NULL || row[1] == NULL) {
            continue;
        }

        for (i = 0; i + 1 < NGX_HTTP_BROADCAST_MSG_STATUS_N; i++) {
            if (strcmp(row[0], ngx_http_broadcast_msg_status[i]) == 0) {
                break;
            }
        }

        g->msg[i] += strtoll(row[1], NULL, 10);
    }

    mysql_free_result(res);

    g->msg_ok = 1;
}


/* thread: running campaigns and their recipients not yet queued */
static void
ngx_http_broadcast_metrics_campaigns_run(
    ngx_http_broadcast_metrics_ctx_t *ctx, ngx_http_broadcast_conn_t *conn)
{
    MYSQL_ROW                           row;
    MYSQL_RES                          *res;
    ngx_http_broadcast_mysql_gauges_t  *g = &ctx->mysql;
    static const char  sql[] =
        "SELECT (SELECT COUNT(*) FROM campaigns WHERE status = 'running'), "
        "(SELECT COUNT(*) FROM campaigns c JOIN campaign_recipients r "
        "ON r.campaign_id = c.id AND r.state = 'pending' "
        "WHERE c.status = 'running')";

    res = ngx_http_broadcast_metrics_mysql_select(ctx, conn, sql,
                                                  sizeof(sql) - 1);
    if (res == NULL) {
        return;
    }

    row = mysql_fetch_row(res);

    if (row && row[0] && row[1]) {
        g->campaigns_running = strtoll(row[0], NULL, 10);
        g->recipients_pending = strtoll(row[1], NULL, 10);
        g->campaigns_ok = 1;
    }

    mysql_free_result(res);
}


void
ngx_http_broadcast_metrics_mysql_run(ngx_http_broadcast_metrics_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    if (!ctx->mysql_want) {
        return;
    }

    ngx_http_broadcast_metrics_msg_run(ctx, conn);
    ngx_http_broadcast_metrics_campaigns_run(ctx, conn);
}


/* loop: keeps what MySQL answered for the next scrapes */
void
ngx_http_broadcast_metrics_mysql_done(ngx_http_broadcast_metrics_ctx_t *ctx)
{
    if (ctx->mysql_want && (ctx->mysql.msg_ok || ctx->mysql.campaigns_ok)) {
        ngx_http_broadcast_mysql_cache = ctx->mysql;
        ngx_http_broadcast_mysql_at = ngx_time();
        ngx_http_broadcast_mysql_have = 1;
    }
}


u_char *
ngx_http_broadcast_metrics_mysql(u_char *p)
{
    ngx_uint_t                          i;
    ngx_http_broadcast_mysql_gauges_t  *g = &ngx_http_broadcast_mysql_cache;

    if (g->msg_ok) {
        p = ngx_sprintf(p,
            "# HELP twilio_message_status_gauge Twilio messages created in "
            "the last day, by current status (refreshed every "
            BC_STR(NGX_HTTP_BROADCAST_GAUGE_CACHE_S) " s).\n"
            "# TYPE twilio_message_status_gauge gauge\n");

        for (i = 0; i < NGX_HTTP_BROADCAST_MSG_STATUS_N; i++) {
            p = ngx_sprintf(p, "twilio_message_status_gauge{status=\"%s\"} "
                            "%L\n", ngx_http_broadcast_msg_status[i],
                            g->msg[i]);
        }
    }

    if (g->campaigns_ok) {
        p = ngx_sprintf(p,
            "# HELP broadcast_campaigns_running Campaigns running.\n"
            "# TYPE broadcast_campaigns_running gauge\n"
            "broadcast_campaigns_running %L\n"
            "# HELP broadcast_campaign_recipients_pending Recipients of "
            "running campaigns written but not yet queued.\n"
            "# TYPE broadcast_campaign_recipients_pending gauge\n"
            "broadcast_campaign_recipients_pending %L\n",
            g->campaigns_running, g->recipients_pending);
    }

    return p;
}
