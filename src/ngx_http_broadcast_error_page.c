/*
 * broadcast_error_page: the target of nginx's error_page, so the answers
 * nginx gives itself (a body over client_max_body_size, a header too
 * large, a malformed request line, a path no location serves) are JSON
 * like the module's own, with a stable code and a sentence.
 *
 *     error_page 400 404 405 408 413 414 494 500 502 503 504 /broadcast-error;
 *     location = /broadcast-error { internal; broadcast_error_page; }
 *
 * error_page keeps the status in r->err_status (494 is turned into 400 by
 * nginx itself) and re-enters as GET, so the handler only maps a status to
 * its code and message.
 */


#include "ngx_http_broadcast_common.h"


typedef struct {
    ngx_uint_t   status;
    const char  *code;
    const char  *message;
} ngx_http_broadcast_error_page_t;


static const ngx_http_broadcast_error_page_t
    ngx_http_broadcast_error_pages[] = {

    { NGX_HTTP_BAD_REQUEST, "bad_request",
      "the request is malformed (request line, headers or URI encoding) or "
      "its headers are too large" },
    { NGX_HTTP_UNAUTHORIZED, "unauthorized", "authentication is required" },
    { NGX_HTTP_FORBIDDEN, "forbidden", "access to this path is forbidden" },
    { NGX_HTTP_NOT_FOUND, "not_found",
      "no such path: routes are case-sensitive and live under /api/ (see "
      "README)" },
    { NGX_HTTP_NOT_ALLOWED, "method_not_allowed",
      "this method is not allowed on this path" },
    { NGX_HTTP_REQUEST_TIME_OUT, "request_timeout",
      "the request was not received in time" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
      "the body is too large for this location (client_max_body_size)" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, "uri_too_long",
      "the URI is too long" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "internal_error",
      "internal error: the server's error log has the details" },
    { NGX_HTTP_BAD_GATEWAY, "bad_gateway", "an upstream failed" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "unavailable",
      "the service is unavailable, retry later" },
    { NGX_HTTP_GATEWAY_TIME_OUT, "gateway_timeout",
      "an upstream did not answer in time" },
    { 0, NULL, NULL }
};


ngx_int_t
ngx_http_broadcast_error_page_handler(ngx_http_request_t *r)
{
    ngx_uint_t                              status;
    const ngx_http_broadcast_error_page_t  *e;

    /* reached directly (no error_page in between): a plain 404 */
    status = r->err_status ? (ngx_uint_t) r->err_status : NGX_HTTP_NOT_FOUND;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    for (e = ngx_http_broadcast_error_pages; e->code; e++) {
        if (e->status == status) {
            return ngx_http_broadcast_send_error(r, status, e->code,
                                                 e->message);
        }
    }

    return ngx_http_broadcast_send_error(r, status, "http_error",
                                         "the request failed with this HTTP "
                                         "status");
}
