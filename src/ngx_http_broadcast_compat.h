/*
 * The predecessor console's routes (compat*.c): each is one of our routes
 * behind a translation. The loop renames the request's fields and query
 * arguments, calls our route's handler with them, and wraps the operation
 * it sets so that, in the thread, our answer is reshaped into the
 * predecessor's. Same SQL, same checks, one place for each rule.
 */

#ifndef _NGX_HTTP_BROADCAST_COMPAT_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_COMPAT_H_INCLUDED_


#include "ngx_http_broadcast_api.h"


/* loop: our request body from the predecessor's; NULL with ctx's error */
typedef json_t *(*ngx_http_broadcast_compat_in_pt)(
    ngx_http_broadcast_api_ctx_t *ctx, json_t *in, ngx_uint_t method);

/* thread: the predecessor's answer from ours (a new reference) */
typedef json_t *(*ngx_http_broadcast_compat_out_pt)(json_t *ours);

/* a query argument of the predecessor and the name we read it by */
typedef struct {
    const char                        *from;
    const char                        *to;     /* NULL: refused if set */
    ngx_uint_t                         lower;  /* lower-cased (channel) */
    const char                        *dflt;   /* when absent: the
                                                  predecessor's default */
} ngx_http_broadcast_compat_arg_t;

typedef struct {
    ngx_http_broadcast_route_pt        target;
    ngx_uint_t                         variant;
    const ngx_http_broadcast_compat_arg_t  *args;  /* NULL: none passed */
    ngx_http_broadcast_compat_in_pt    in;     /* NULL: body as it is */
    ngx_http_broadcast_compat_out_pt   out;    /* NULL: answer as it is */
    ngx_uint_t                         upsert; /* a create that changes the
                                                  contact holding the
                                                  address instead of 409 */
} ngx_http_broadcast_compat_map_t;


/* compat_shapes.c: the translations */
json_t *ngx_http_broadcast_compat_customer_in(
    ngx_http_broadcast_api_ctx_t *ctx, json_t *in, ngx_uint_t method);
json_t *ngx_http_broadcast_compat_customer_out(json_t *ours);
json_t *ngx_http_broadcast_compat_customers_out(json_t *ours);
json_t *ngx_http_broadcast_compat_status_out(json_t *ours);
json_t *ngx_http_broadcast_compat_members_in(
    ngx_http_broadcast_api_ctx_t *ctx, json_t *in, ngx_uint_t method);
json_t *ngx_http_broadcast_compat_members_out(json_t *ours);
json_t *ngx_http_broadcast_compat_mtpl_in(
    ngx_http_broadcast_api_ctx_t *ctx, json_t *in, ngx_uint_t method);
json_t *ngx_http_broadcast_compat_mtpl_out(json_t *ours);
json_t *ngx_http_broadcast_compat_smstpl_in(
    ngx_http_broadcast_api_ctx_t *ctx, json_t *in, ngx_uint_t method);
json_t *ngx_http_broadcast_compat_smstpl_out(json_t *ours);
json_t *ngx_http_broadcast_compat_rule_in(
    ngx_http_broadcast_api_ctx_t *ctx, json_t *in, ngx_uint_t method);
json_t *ngx_http_broadcast_compat_rules_out(json_t *ours);
json_t *ngx_http_broadcast_compat_smscontact_in(
    ngx_http_broadcast_api_ctx_t *ctx, json_t *in, ngx_uint_t method);
json_t *ngx_http_broadcast_compat_smscontacts_out(json_t *ours);


/*
 * compat_campaigns*.c: the predecessor's SMS, e-mail and "smart
 * marketing" campaigns on our campaigns (campaigns*.c). A row's variant is
 * the kind times 16 plus the route's operation.
 */
NGX_HTTP_BROADCAST_ROUTE(compat_campaigns);

#define NGX_HTTP_BROADCAST_CC_SMS          0
#define NGX_HTTP_BROADCAST_CC_EMAIL        1
#define NGX_HTTP_BROADCAST_CC_MKT          2

#define NGX_HTTP_BROADCAST_CC_LIST         0   /* GET list, POST create */
#define NGX_HTTP_BROADCAST_CC_ONE          1   /* GET, PATCH, DELETE */
#define NGX_HTTP_BROADCAST_CC_START        2
#define NGX_HTTP_BROADCAST_CC_PAUSE        3
#define NGX_HTTP_BROADCAST_CC_RESUME       4
#define NGX_HTTP_BROADCAST_CC_CANCEL       5
#define NGX_HTTP_BROADCAST_CC_SCHEDULE     6
#define NGX_HTTP_BROADCAST_CC_STATS        7
#define NGX_HTTP_BROADCAST_CC_FLOW         8
#define NGX_HTTP_BROADCAST_CC_STOP         9
#define NGX_HTTP_BROADCAST_CC_STEPS        10
#define NGX_HTTP_BROADCAST_CC_STEPS_BATCH  11
#define NGX_HTTP_BROADCAST_CC_EXECUTIONS   12
#define NGX_HTTP_BROADCAST_CC_PROGRESS     13
#define NGX_HTTP_BROADCAST_CC_CUSTOMER     14  /* per-customer pause/resume */

#define NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(methods, pattern, need, kind, op) \
    { methods, pattern, NGX_HTTP_BROADCAST_NEED_##need,                      \
      ngx_http_broadcast_compat_campaigns_prepare,                           \
      NGX_HTTP_BROADCAST_CC_##kind * 16 + NGX_HTTP_BROADCAST_CC_##op }


/* the predecessor's campaign fields we refuse (its shapes, our words) */
#define NGX_HTTP_BROADCAST_CC_422          422


/* what the thread needs around our campaigns operation */
typedef struct {
    ngx_http_broadcast_op_pt           op;
    void                              *data;
    ngx_http_broadcast_op_free_pt      free;
    ngx_uint_t                         kind;
    ngx_uint_t                         what;     /* NGX_HTTP_BROADCAST_CC_* */
    ngx_uint_t                         method;
    long long                          id;       /* the {id}, 0: none */
    json_t                            *addrs;    /* recipients to upsert as
                                                    contacts, or NULL */
    ngx_str_t                          footer;   /* the SMS opt-out text */
    char                               channel[16];  /* the {id}'s (thread) */
} ngx_http_broadcast_cc_t;

/* compat_campaigns.c: the 422s of the predecessor's campaign fields, and
   its schedule time as our schedule_at into out; -1 (ctx's error set) */
int ngx_http_broadcast_cc_unsupported(ngx_http_broadcast_api_ctx_t *ctx,
    const char *field, const char *why);
int ngx_http_broadcast_cc_invalid(ngx_http_broadcast_api_ctx_t *ctx,
    const char *field, const char *rule);
int ngx_http_broadcast_cc_time(ngx_http_broadcast_api_ctx_t *ctx, json_t *out,
    const char *key, json_t *v);

/* compat_marketing.c, loop: our body (out) from a marketing campaign's
   POST/PATCH or its .../steps[/batch] (in); 0, or -1 with ctx's error */
int ngx_http_broadcast_cc_mkt_in(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_cc_t *w,
    json_t *in, json_t *out);

/* compat_campaigns_out.c, thread: the wrapped operation */
void ngx_http_broadcast_cc_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


#endif /* _NGX_HTTP_BROADCAST_COMPAT_H_INCLUDED_ */
