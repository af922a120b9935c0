/*
 * Responses: JSON bodies, the {"error":{"code","message"}} shape, and the
 * per-class API request counters.
 */


#include "ngx_http_broadcast_common.h"


static void ngx_http_broadcast_json_cleanup(void *data);


static ngx_str_t  ngx_http_broadcast_json_type =
    ngx_string("application/json");


ngx_int_t
ngx_http_broadcast_add_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


ngx_int_t
ngx_http_broadcast_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len)
{
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_chain_t                     out;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (lcf->kind == NGX_HTTP_BROADCAST_API) {
        ngx_http_broadcast_metric_add(status >= 500
                                      ? NGX_HTTP_BROADCAST_M_API_5XX
                                      : (status >= 400
                                         ? NGX_HTTP_BROADCAST_M_API_4XX
                                         : NGX_HTTP_BROADCAST_M_API_2XX),
                                      1);

        if (ngx_http_broadcast_add_header(r, "Cache-Control",
                                          (u_char *) "no-store", 8)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* every answer is data, never to be sniffed into HTML (the Meta
       challenge echoes a caller's text) */
    if (ngx_http_broadcast_add_header(r, "X-Content-Type-Options",
                                      (u_char *) "nosniff", 7)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = len;

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_broadcast_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json)
{
    char    *text;
    size_t   len;
    u_char  *p;

    text = json_dumps(json, JSON_COMPACT);
    if (text == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "broadcast: json_dumps() failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(text);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        free(text);
        return NGX_ERROR;
    }

    ngx_memcpy(p, text, len);
    p[len] = '\n';
    free(text);

    return ngx_http_broadcast_send(r, status, &ngx_http_broadcast_json_type,
                                   p, len + 1);
}


/* a JSON body already written as text (len bytes, copied, newline added) */
ngx_int_t
ngx_http_broadcast_send_json_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *text, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, text, len);
    p[len] = '\n';

    return ngx_http_broadcast_send(r, status, &ngx_http_broadcast_json_type,
                                   p, len + 1);
}


ngx_int_t
ngx_http_broadcast_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    json_t  *json;

    json = ngx_http_broadcast_json_pool(r,
               json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                         message));
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_broadcast_send_json(r, status, json);
}


/* 405 naming the methods allowed; the request body is dropped */
ngx_int_t
ngx_http_broadcast_send_405(ngx_http_request_t *r, const char *allow)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_broadcast_add_header(r, "Allow", (u_char *) allow,
                                      ngx_strlen(allow))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_broadcast_send_error(r, NGX_HTTP_NOT_ALLOWED,
               "method_not_allowed", "this method is not allowed here");
}


/*
 * a GET and HEAD location (/health, /metrics): drops the body; NGX_DECLINED
 * to go on and answer, else what to return (405 for another method)
 */
ngx_int_t
ngx_http_broadcast_get_only(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_broadcast_send_405(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);

    return (rc == NGX_OK) ? NGX_DECLINED : rc;
}


/* ties a json_t to the request pool; NULL in, NULL out */
json_t *
ngx_http_broadcast_json_pool(ngx_http_request_t *r, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    if (json == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        json_decref(json);
        return NULL;
    }

    cln->handler = ngx_http_broadcast_json_cleanup;
    cln->data = json;

    return json;
}


static void
ngx_http_broadcast_json_cleanup(void *data)
{
    json_decref(data);
}
