/*
 * The API area: one context per API request, shared by the router, auth,
 * send, status and admin areas. Everything the thread reads or writes is in
 * this heap object; the loop builds it, the thread fills in the result.
 */

#ifndef _NGX_HTTP_BROADCAST_API_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_API_H_INCLUDED_


#include "ngx_http_broadcast_common.h"


#define NGX_HTTP_BROADCAST_NEED_NONE     0
#define NGX_HTTP_BROADCAST_NEED_READ     1
#define NGX_HTTP_BROADCAST_NEED_SEND     2
#define NGX_HTTP_BROADCAST_NEED_MANAGE   3
#define NGX_HTTP_BROADCAST_NEED_SESSION  4

#define NGX_HTTP_BROADCAST_CRED_KEY      1
#define NGX_HTTP_BROADCAST_CRED_SESSION  2

#define NGX_HTTP_BROADCAST_ERR_REDIS     1
#define NGX_HTTP_BROADCAST_ERR_MYSQL     2


typedef struct ngx_http_broadcast_api_ctx_s  ngx_http_broadcast_api_ctx_t;

typedef void (*ngx_http_broadcast_op_pt)(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
typedef void (*ngx_http_broadcast_op_free_pt)(void *op);
/* 1: done (ctx holds the answer), 0: not applicable, take the slow path */
typedef int (*ngx_http_broadcast_op_fast_pt)(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);


struct ngx_http_broadcast_api_ctx_s {
    ngx_http_broadcast_main_conf_t  *mcf;

    /* credential: loop -> thread */
    char                             cred_hash[65];
    ngx_uint_t                       cred_kind;
    ngx_uint_t                       need;

    /* principal: thread */
    long long                        cred_id;
    long long                        user_id;
    ngx_uint_t                       scope;

    /* the operation, run after a successful auth */
    ngx_http_broadcast_op_pt         op;
    void                            *op_data;
    ngx_http_broadcast_op_free_pt    op_free;
    /* optional: auth and operation in one Redis round trip */
    ngx_http_broadcast_op_fast_pt    op_fast;

    /* result: thread -> loop */
    ngx_uint_t                       status;
    const char                      *code;          /* error, static */
    char                             message[512];
    char                             detail[256];   /* for the log */
    json_t                          *result;        /* success body */
    json_t                          *error_extra;   /* merged into error */
    char                            *set_cookie;    /* malloc'd */
    ngx_uint_t                       replayed;
    ngx_uint_t                       backend_err;
    ngx_uint_t                       accepted;
    ngx_uint_t                       rejected;
    json_t                          *fast_resp;     /* async fast path */
};


void ngx_http_broadcast_api_error(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *fmt, ...);
void ngx_http_broadcast_api_redis_down(ngx_http_broadcast_api_ctx_t *ctx);
void ngx_http_broadcast_api_mysql_down(ngx_http_broadcast_api_ctx_t *ctx);
json_t *ngx_http_broadcast_api_parse(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_broadcast_api_ctx_t *ctx);

/* auth */
ngx_int_t ngx_http_broadcast_auth_credential(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx);
int ngx_http_broadcast_auth_resolve(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
int ngx_http_broadcast_auth_hint(ngx_http_broadcast_api_ctx_t *ctx);
void ngx_http_broadcast_auth_remember(ngx_http_broadcast_api_ctx_t *ctx);

ngx_int_t ngx_http_broadcast_api_answer(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx);
ngx_int_t ngx_http_broadcast_send_loop(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_task_conf_t *tc);

/* routes: validate in the loop and set ctx->op, or set an error */
void ngx_http_broadcast_send_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body);
void ngx_http_broadcast_status_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_uint_t what, ngx_str_t *arg);
void ngx_http_broadcast_login_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body);
void ngx_http_broadcast_logout_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx);
void ngx_http_broadcast_keys_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body, ngx_str_t *id);

#define NGX_HTTP_BROADCAST_STATUS_ID      0
#define NGX_HTTP_BROADCAST_STATUS_TWILIO  1
#define NGX_HTTP_BROADCAST_STATUS_BATCH   2


#endif /* _NGX_HTTP_BROADCAST_API_H_INCLUDED_ */
