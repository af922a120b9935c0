/*
 * SendGrid webhooks (broadcast_webhook sendgrid):
 *
 *   POST <location>           Event Webhook: X-Twilio-Email-Event-Webhook-
 *                             Timestamp within broadcast_sendgrid_timestamp_
 *                             tolerance, ECDSA P-256 signature over
 *                             timestamp || raw body; the body is a JSON array
 *                             of events; kind email_events.
 *   POST <location>/inbound   Inbound Parse (multipart/form-data, the raw
 *                             body; ct keeps the boundary); kind
 *                             email_inbound.
 *
 * SendGrid does NOT sign Inbound Parse posts: the location must be
 * protected by a secret path, basic auth or allow/deny (conf.example).
 * Both kinds are deduplicated on sha256(body) and answered 200 (empty).
 */


#include "ngx_http_broadcast_webhook.h"

#include "bc_sig.h"


#define NGX_HTTP_BROADCAST_SG_EVENTS   0
#define NGX_HTTP_BROADCAST_SG_INBOUND  1


static ngx_int_t ngx_http_broadcast_sendgrid_route(ngx_http_request_t *r);
static void ngx_http_broadcast_sendgrid_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_sendgrid_events(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_broadcast_sendgrid_inbound(ngx_http_request_t *r,
    ngx_str_t *body);


ngx_int_t
ngx_http_broadcast_sendgrid_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (ngx_http_broadcast_sendgrid_route(r) == NGX_DECLINED) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_broadcast_send_error(r, NGX_HTTP_NOT_FOUND,
                                             "not_found",
                                             "no such webhook endpoint");
    }

    return ngx_http_broadcast_webhook_read(r,
                                           ngx_http_broadcast_sendgrid_body);
}


/* the location itself: events; .../inbound: Inbound Parse */
static ngx_int_t
ngx_http_broadcast_sendgrid_route(ngx_http_request_t *r)
{
    ngx_str_t                  uri, name;
    ngx_http_core_loc_conf_t  *clcf;

    uri = r->uri;

    while (uri.len > 1 && uri.data[uri.len - 1] == '/') {
        uri.len--;
    }

    if (uri.len >= 8
        && ngx_strncmp(uri.data + uri.len - 8, "/inbound", 8) == 0)
    {
        return NGX_HTTP_BROADCAST_SG_INBOUND;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

#if (NGX_PCRE)
    if (clcf->regex) {
        return NGX_HTTP_BROADCAST_SG_EVENTS;
    }
#endif

    name = clcf->name;

    while (name.len > 1 && name.data[name.len - 1] == '/') {
        name.len--;
    }

    if (uri.len == name.len && ngx_strncmp(uri.data, name.data, name.len) == 0)
    {
        return NGX_HTTP_BROADCAST_SG_EVENTS;
    }

    return NGX_DECLINED;
}


static void
ngx_http_broadcast_sendgrid_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    rc = ngx_http_broadcast_webhook_body_get(r, &body);

    if (rc == NGX_OK) {
        if (ngx_http_broadcast_sendgrid_route(r)
            == NGX_HTTP_BROADCAST_SG_INBOUND)
        {
            rc = ngx_http_broadcast_sendgrid_inbound(r, &body);

        } else {
            rc = ngx_http_broadcast_sendgrid_events(r, &body);
        }
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_broadcast_sendgrid_events(ngx_http_request_t *r, ngx_str_t *body)
{
    size_t                          i;
    json_t                         *root, *e, *name;
    const char                     *s;
    json_error_t                    err;
    ngx_table_elt_t                *sig, *ts;
    ngx_http_broadcast_event_t     *ev;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    sig = ngx_http_broadcast_header_in(r,
              "X-Twilio-Email-Event-Webhook-Signature");
    ts = ngx_http_broadcast_header_in(r,
             "X-Twilio-Email-Event-Webhook-Timestamp");

    if (sig == NULL || sig->value.len == 0 || ts == NULL || ts->value.len == 0)
    {
        return ngx_http_broadcast_webhook_forbidden(r,
                   NGX_HTTP_BROADCAST_WH_SENDGRID, "invalid_signature",
                   "no signature or timestamp");
    }

    if (!bc_sendgrid_timestamp_fresh((char *) ts->value.data, ts->value.len,
                                     (long) ngx_time(),
                                     (long) lcf->sendgrid_tolerance))
    {
        return ngx_http_broadcast_webhook_forbidden(r,
                   NGX_HTTP_BROADCAST_WH_SENDGRID, "stale_timestamp",
                   "timestamp outside the tolerance");
    }

    /* the exact bytes received, trailing CRLF included */
    if (!bc_sendgrid_verify(lcf->sendgrid_key, (char *) ts->value.data,
                            ts->value.len, (char *) body->data, body->len,
                            (char *) sig->value.data, sig->value.len))
    {
        return ngx_http_broadcast_webhook_forbidden(r,
                   NGX_HTTP_BROADCAST_WH_SENDGRID, "invalid_signature",
                   "signature mismatch");
    }

    root = json_loadb((char *) body->data, body->len, 0, &err);

    if (root == NULL || !json_is_array(root)) {
        if (root) {
            json_decref(root);
        }

        return ngx_http_broadcast_send_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_json",
                                             "the body must be a JSON array "
                                             "of events");
    }

    ev = ngx_http_broadcast_event_create(r, "sendgrid", "email_events", body);
    if (ev == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_array_foreach(root, i, e) {
        name = json_object_get(e, "event");
        s = json_is_string(name) ? json_string_value(name) : "";

        ngx_http_broadcast_event_metric(ev,
            ngx_http_broadcast_callback_index(
                NGX_HTTP_BROADCAST_CB_SENDGRID_EMAIL, (u_char *) s,
                ngx_strlen(s)));
    }

    json_decref(root);

    ev->reply = NGX_HTTP_BROADCAST_WH_REPLY_EMPTY;

    return ngx_http_broadcast_event_post(r, ev);
}


static ngx_int_t
ngx_http_broadcast_sendgrid_inbound(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_str_t                    ct;
    ngx_http_broadcast_event_t  *ev;

    ngx_str_null(&ct);
    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    }

    if (ct.len < 19
        || ngx_strncasecmp(ct.data, (u_char *) "multipart/form-data", 19)
           != 0)
    {
        return ngx_http_broadcast_send_error(r,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                   "Inbound Parse posts multipart/form-data");
    }

    ev = ngx_http_broadcast_event_create(r, "sendgrid", "email_inbound",
                                         body);
    if (ev == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_broadcast_event_metric(ev,
        ngx_http_broadcast_callback_index(
            NGX_HTTP_BROADCAST_CB_SENDGRID_EMAIL, (u_char *) "received", 8));

    ev->reply = NGX_HTTP_BROADCAST_WH_REPLY_EMPTY;

    return ngx_http_broadcast_event_post(r, ev);
}
