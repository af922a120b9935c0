/*
 * /health: Redis PING and MySQL ping in a thread task; the task timer
 * answers within broadcast_backend_timeout even if a backend is stalled.
 */


#include "ngx_http_broadcast_common.h"


#define NGX_HTTP_BROADCAST_H_PENDING  0
#define NGX_HTTP_BROADCAST_H_OK       1
#define NGX_HTTP_BROADCAST_H_DOWN     2


typedef struct {
    ngx_http_broadcast_main_conf_t  *mcf;
    ngx_atomic_t                     redis;
    ngx_atomic_t                     mysql;
} ngx_http_broadcast_health_ctx_t;


static void ngx_http_broadcast_health_run(void *data,
    ngx_http_broadcast_conn_t *conn);
static ngx_int_t ngx_http_broadcast_health_done(ngx_http_request_t *r,
    void *data);
static void ngx_http_broadcast_health_free(void *data);


ngx_int_t
ngx_http_broadcast_health_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_http_broadcast_task_conf_t    tc;
    ngx_http_broadcast_health_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_broadcast_send_405(r, "GET, HEAD");
    }

    ctx = ngx_calloc(sizeof(ngx_http_broadcast_health_ctx_t),
                     r->connection->log);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);

    tc.run = ngx_http_broadcast_health_run;
    tc.done = ngx_http_broadcast_health_done;
    tc.timeout = ngx_http_broadcast_health_done;
    tc.free = ngx_http_broadcast_health_free;
    tc.data = ctx;

    return ngx_http_broadcast_task_post(r, &tc);
}


static void
ngx_http_broadcast_health_run(void *data, ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_health_ctx_t *ctx = data;

    char         err[256];
    size_t       lens[1] = { 4 };
    redisReply  *reply;
    const char  *argv[1] = { "PING" };

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 1, argv, lens, err,
                                         sizeof(err));
    ngx_memory_barrier();
    ctx->redis = reply ? NGX_HTTP_BROADCAST_H_OK : NGX_HTTP_BROADCAST_H_DOWN;

    if (reply) {
        freeReplyObject(reply);
    }

    if (!ctx->mcf->mysql_set) {
        ctx->mysql = NGX_HTTP_BROADCAST_H_OK;
        return;
    }

    if (conn && conn->mysql && mysql_ping(conn->mysql) == 0) {
        ngx_memory_barrier();
        ctx->mysql = NGX_HTTP_BROADCAST_H_OK;
        return;
    }

    /* no connection yet, or a dead one: reconnect once */
    if (conn && conn->mysql) {
        mysql_close(conn->mysql);
        conn->mysql = NULL;
    }

    if (conn) {
        conn->mysql = bc_db_connect(&ctx->mcf->mysql, err, sizeof(err));
    }

    ngx_memory_barrier();
    ctx->mysql = (conn && conn->mysql) ? NGX_HTTP_BROADCAST_H_OK
                                       : NGX_HTTP_BROADCAST_H_DOWN;
}


static const char *
ngx_http_broadcast_health_word(ngx_atomic_uint_t state)
{
    switch (state) {
    case NGX_HTTP_BROADCAST_H_OK:
        return "ok";
    case NGX_HTTP_BROADCAST_H_DOWN:
        return "down";
    default:
        return "timeout";
    }
}


/* also the timeout handler: states not yet written read as "timeout" */
static ngx_int_t
ngx_http_broadcast_health_done(ngx_http_request_t *r, void *data)
{
    ngx_http_broadcast_health_ctx_t *ctx = data;

    json_t             *json;
    ngx_uint_t          ok;
    ngx_atomic_uint_t   redis, mysql;

    redis = ctx->redis;
    mysql = ctx->mysql;
    ngx_memory_barrier();

    ok = (redis == NGX_HTTP_BROADCAST_H_OK
          && mysql == NGX_HTTP_BROADCAST_H_OK);

    if (redis == NGX_HTTP_BROADCAST_H_DOWN) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: health: Redis is down");
    }

    if (mysql == NGX_HTTP_BROADCAST_H_DOWN) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: health: MySQL is down");
    }

    json = ngx_http_broadcast_json_pool(r,
               json_pack("{s:s,s:s,s:s}",
                         "status", ok ? "ok" : "degraded",
                         "redis", ngx_http_broadcast_health_word(redis),
                         "mysql", ngx_http_broadcast_health_word(mysql)));
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_broadcast_send_json(r, ok ? NGX_HTTP_OK
                                              : NGX_HTTP_SERVICE_UNAVAILABLE,
                                        json);
}


static void
ngx_http_broadcast_health_free(void *data)
{
    ngx_free(data);
}
