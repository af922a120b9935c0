/*
 * Webhooks: what the provider files (webhook_twilio.c, webhook_sendgrid.c,
 * webhook_meta.c) share with webhook.c (the queueing task, the helpers).
 */

#ifndef _NGX_HTTP_BROADCAST_WEBHOOK_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_WEBHOOK_H_INCLUDED_


#include "ngx_http_broadcast_provider.h"


#define NGX_HTTP_BROADCAST_WH_MAX_METRICS  64

/* how long an inbound WhatsApp message keeps the 24-hour window open */
#define NGX_HTTP_BROADCAST_WAWIN_TTL       "86400"

/* what a verified webhook answers once its event is queued */
#define NGX_HTTP_BROADCAST_WH_REPLY_TWIML  0    /* 200 text/xml <Response/> */
#define NGX_HTTP_BROADCAST_WH_REPLY_EMPTY  1    /* 200, no body */


/*
 * One verified event for a lane's events stream (bc:{ev..}:stream:events):
 * heap, owned by the thread task.
 * Everything the thread needs is copied in; it never touches r.
 */
typedef struct {
    ngx_http_broadcast_main_conf_t  *mcf;
    const char                      *provider;    /* static strings */
    const char                      *kind;
    char                             dedup[65];   /* sha256 hex */
    char                             mid[32];
    char                            *body;        /* malloc'd, exact bytes */
    size_t                           body_len;
    char                            *ct;          /* malloc'd */
    long long                        at;
    char                           **wawin;       /* malloc'd keys */
    ngx_uint_t                      *wawin_lanes;  /* each key's lane */
    ngx_uint_t                       nwawin;
    /* the events lane (bc_lane.h), so that what must be recorded in order
       is in one lane: a conversation's (ordered: set by the provider's
       parser), else its first window's (the same conversation), else its
       message's (mid), else its dedupe key's. The windows of that lane
       come first, nwawin_in of them, and only those are the script's (a
       key of another lane is another slot's): the others are set after */
    ngx_uint_t                       ordered;
    ngx_uint_t                       order_lane;
    ngx_uint_t                       lane;
    ngx_uint_t                       nwawin_in;
    ngx_uint_t                       reply;
    ngx_uint_t                       nmetrics;    /* counted when new */
    ngx_uint_t                       metrics[NGX_HTTP_BROADCAST_WH_MAX_METRICS];
    ngx_uint_t                       counts[NGX_HTTP_BROADCAST_WH_MAX_METRICS];
    int                              result;      /* 1 new, 2 dup, -1 down */
    char                             detail[256];
} ngx_http_broadcast_event_t;


ngx_http_broadcast_event_t *ngx_http_broadcast_event_create(
    ngx_http_request_t *r, ngx_http_broadcast_provider_t *provider,
    ngx_uint_t kind, ngx_str_t *body);
ngx_int_t ngx_http_broadcast_event_wawin(ngx_http_broadcast_event_t *ev,
    const u_char *from, size_t from_len, const u_char *peer,
    size_t peer_len);
void ngx_http_broadcast_event_metric(ngx_http_broadcast_event_t *ev,
    ngx_uint_t index);
/* the conversation whose events must stay in order: <ours>:<theirs> */
void ngx_http_broadcast_event_order(ngx_http_broadcast_event_t *ev,
    const char *ours, const char *theirs);

ngx_int_t ngx_http_broadcast_event_post(ngx_http_request_t *r,
    ngx_http_broadcast_event_t *ev);
void ngx_http_broadcast_event_free(void *data);

ngx_int_t ngx_http_broadcast_webhook_not_found(ngx_http_request_t *r);
ngx_int_t ngx_http_broadcast_webhook_read(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);
ngx_int_t ngx_http_broadcast_webhook_body_get(ngx_http_request_t *r,
    ngx_str_t *body);
json_t *ngx_http_broadcast_webhook_json(ngx_http_request_t *r,
    ngx_str_t *body, json_type type, const char *expected, ngx_int_t *rc);
ngx_int_t ngx_http_broadcast_webhook_forbidden(ngx_http_request_t *r,
    ngx_http_broadcast_provider_t *provider, const char *code,
    const char *message, const char *why);


/* counts a callback status of provider in channel if the event is new */
static ngx_inline void
ngx_http_broadcast_event_status(ngx_http_broadcast_event_t *ev,
    ngx_http_broadcast_provider_t *provider, ngx_uint_t channel,
    const char *status)
{
    ngx_http_broadcast_event_metric(ev,
        ngx_http_broadcast_callback_index(provider, channel,
                                          (const u_char *) status,
                                          ngx_strlen(status)));
}


#endif /* _NGX_HTTP_BROADCAST_WEBHOOK_H_INCLUDED_ */
