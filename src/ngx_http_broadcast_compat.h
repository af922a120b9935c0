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


#endif /* _NGX_HTTP_BROADCAST_COMPAT_H_INCLUDED_ */
