/*
 * /metrics internals shared by metrics.c (zone, handler, queues),
 * metrics_twilio.c (the predecessor exporter's names), metrics_mysql.c
 * (gauges counted in MySQL), metrics_sender.c (the sender's hash) and
 * webhook_calls.c (Twilio call callbacks).
 */

#ifndef _NGX_HTTP_BROADCAST_METRICS_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_METRICS_H_INCLUDED_


#include "ngx_http_broadcast_provider.h"
#include "ngx_http_broadcast_webhook.h"


/* twilio_messages_failed_total{error_code}: "unknown" (no ErrorCode),
 * the first codes seen, then "other"; a label is at most 15 bytes */
#define NGX_HTTP_BROADCAST_ERRCODE_N    16
#define NGX_HTTP_BROADCAST_ERRCODE_LEN  16

/* the message statuses twilio_message_status_gauge reports, then other */
#define NGX_HTTP_BROADCAST_MSG_STATUS_N  10

/* Twilio CallStatus values, "other" last */
#define NGX_HTTP_BROADCAST_CALL_N        10

/* the gauges count what moved in the last day; MySQL at most twice a
 * minute per worker */
#define NGX_HTTP_BROADCAST_GAUGE_WINDOW_S  86400
#define NGX_HTTP_BROADCAST_GAUGE_CACHE_S   30


/* metrics_mysql.c: counted in a thread, cached in the worker */
typedef struct {
    long long                        msg[NGX_HTTP_BROADCAST_MSG_STATUS_N];
    ngx_uint_t                       msg_ok;
    long long                        campaigns_running;
    long long                        recipients_pending;
    ngx_uint_t                       campaigns_ok;
} ngx_http_broadcast_mysql_gauges_t;


typedef struct {
    ngx_http_broadcast_main_conf_t  *mcf;
    int                              redis_up;
    long long                        depth_send;
    long long                        depth_events;
    long long                        depth_retry;
    long long                        age_send_ms;    /* oldest unacked */
    long long                        age_events_ms;
    redisReply                      *sender;         /* HGETALL, or NULL */

    /* the gauges from MySQL: the loop asks, the thread answers */
    ngx_uint_t                       mysql_want;
    ngx_http_broadcast_mysql_gauges_t  mysql;

    ngx_uint_t                       call_ok;
    long long                        call[NGX_HTTP_BROADCAST_CALL_N];
} ngx_http_broadcast_metrics_ctx_t;


extern const char  *ngx_http_broadcast_call_status[];


ngx_atomic_uint_t ngx_http_broadcast_metric_get(ngx_uint_t i);

/* metrics_twilio.c */
ngx_uint_t ngx_http_broadcast_metrics_twilio_layout(ngx_uint_t i);
void ngx_http_broadcast_metrics_errcodes(ngx_slab_pool_t *shpool,
    u_char *labels);
ngx_uint_t ngx_http_broadcast_call_index(const u_char *s, size_t len);
void ngx_http_broadcast_metric_twilio_failed(ngx_http_broadcast_event_t *ev,
    const char *status, const char *code);
void ngx_http_broadcast_metrics_twilio_run(
    ngx_http_broadcast_metrics_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);
u_char *ngx_http_broadcast_metrics_twilio(u_char *p,
    ngx_http_broadcast_metrics_ctx_t *ctx);

/* metrics_mysql.c */
void ngx_http_broadcast_metrics_mysql_want(
    ngx_http_broadcast_metrics_ctx_t *ctx);
void ngx_http_broadcast_metrics_mysql_run(
    ngx_http_broadcast_metrics_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);
void ngx_http_broadcast_metrics_mysql_done(
    ngx_http_broadcast_metrics_ctx_t *ctx);
u_char *ngx_http_broadcast_metrics_mysql(u_char *p);

/* metrics_sender.c */
size_t ngx_http_broadcast_metrics_sender_size(redisReply *sender);
u_char *ngx_http_broadcast_metrics_sender(u_char *p, redisReply *sender);

/* webhook_calls.c */
ngx_int_t ngx_http_broadcast_twilio_call(ngx_http_request_t *r,
    const char *sid, const char *status);


#endif /* _NGX_HTTP_BROADCAST_METRICS_H_INCLUDED_ */
