/*
 * Request bodies: the size check before reading, the body gathered into
 * one contiguous buffer (memory and file-backed buffers alike), and the
 * JSON object body of an API request.
 */


#include "ngx_http_broadcast_api.h"
#include "bc_media.h"


/*
 * NGX_DECLINED when the body may be read; otherwise the 413 was answered
 * before anything was read and the result is what the handler returns.
 * (Not NGX_OK for "go on": a sent response also yields NGX_OK.)
 */
ngx_int_t
ngx_http_broadcast_body_check(ngx_http_request_t *r)
{
    u_char                          msg[96];
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (r->headers_in.content_length_n > (off_t) lcf->max_body) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "broadcast: body of %O bytes exceeds %uz",
                      r->headers_in.content_length_n, lcf->max_body);

        ngx_snprintf(msg, sizeof(msg), "the body is too large: more than %uz bytes%Z",
                     lcf->max_body);

        /* nginx would otherwise try to read what we refuse */
        r->keepalive = 0;

        return ngx_http_broadcast_send_error(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                   (char *) msg);
    }

    return NGX_DECLINED;
}


/*
 * NGX_OK with body set (possibly empty), NGX_DECLINED if a chunked body was
 * larger than broadcast_max_body, NGX_ERROR on a read error.
 */
ngx_int_t
ngx_http_broadcast_body_get(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t                           size;
    u_char                         *p;
    ssize_t                         n;
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    body->len = 0;
    body->data = (u_char *) "";

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size > (off_t) lcf->max_body) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "broadcast: cannot read the request body "
                              "from \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        /* an empty or special buffer may have NULL pointers: memcpy(p,
         * NULL, 0) is undefined behaviour (UBSan aborts on it) */
        if (b->last != b->pos) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    *p = '\0';
    body->len = p - body->data;

    return NGX_OK;
}


/* the first request header called name (any case), or NULL */
ngx_table_elt_t *
ngx_http_broadcast_header_in(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* loop: a JSON object body, or NULL with ctx's error set (415/400) */
json_t *
ngx_http_broadcast_api_parse(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_broadcast_api_ctx_t *ctx)
{
    json_t        *json;
    ngx_str_t     *ct;
    json_error_t   jerr;

    /* a body without a Content-Type is refused too: the type is part of
       the contract, and a form or text post must not pass for JSON */
    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    if (ct == NULL
        || !bc_media_type_is((char *) ct->data, ct->len, "application/json"))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json");
        return NULL;
    }

    if (body->len == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_json",
                                     "the request body is empty: send a "
                                     "JSON object");
        return NULL;
    }

    json = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (json == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_json",
                                     "the body is not valid JSON: %s at "
                                     "line %d column %d", jerr.text,
                                     jerr.line, jerr.column);
        return NULL;
    }

    if (ngx_http_broadcast_json_pool(r, json) == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return NULL;
    }

    /* well-formed JSON of the wrong shape is a request error */
    if (!json_is_object(json)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "the body must be a JSON object");
        return NULL;
    }

    return json;
}
