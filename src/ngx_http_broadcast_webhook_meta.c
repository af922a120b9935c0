/*
 * Meta WhatsApp Cloud API webhooks (broadcast_webhook meta):
 *
 *   GET   hub.mode=subscribe & hub.verify_token (constant-time compare with
 *         broadcast_meta_verify_token_file) -> 200 text/plain hub.challenge
 *   POST  X-Hub-Signature-256 (HMAC-SHA256 with the app secret over the raw
 *         bytes; never re-serialised), then a JSON object with object =
 *         "whatsapp_business_account"; queued as kind meta (the raw
 *         envelope), deduplicated on sha256(body). Every inbound
 *         messages[] item opens bc:{ev}:wawin:meta:<phone_number_id>:+<from>
 *         in the same script. Parsed with jansson in the loop (CPU only).
 *
 * Also the merge and check of the Meta directives.
 */


#include "ngx_http_broadcast_webhook.h"

#include "bc_form.h"
#include "bc_sig.h"


#define NGX_HTTP_BROADCAST_CHALLENGE_MAX  256

/* the index of "meta" in ngx_http_broadcast_meta_kinds */
#define NGX_HTTP_BROADCAST_META_KIND      0


static ngx_int_t ngx_http_broadcast_meta_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_meta_verify(ngx_http_request_t *r);
static void ngx_http_broadcast_meta_hide_query(ngx_http_request_t *r);
static void ngx_http_broadcast_meta_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_meta_handle(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_meta_value(ngx_http_broadcast_event_t *ev,
    json_t *value);
static ngx_uint_t ngx_http_broadcast_digits(const char *s, size_t max);
static char *ngx_http_broadcast_meta_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf);
static char *ngx_http_broadcast_meta_check(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf);


/* the raw envelope, whatever it holds */
static const char  *ngx_http_broadcast_meta_kinds[] = {
    "meta", NULL
};


ngx_http_broadcast_provider_t  ngx_http_broadcast_meta_provider = {
    ngx_string("meta"),
    "Meta",
    ngx_http_broadcast_meta_handler,
    ngx_http_broadcast_meta_merge,
    ngx_http_broadcast_meta_check,
    NULL,
    bc_status_meta,
    NGX_HTTP_BROADCAST_CH(NGX_HTTP_BROADCAST_CH_WHATSAPP),
    ngx_http_broadcast_meta_kinds,
    { 0 }, 0, 0
};


static ngx_int_t
ngx_http_broadcast_meta_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method == NGX_HTTP_GET) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_broadcast_meta_verify(r);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_broadcast_send_405(r, "GET, POST");
    }

    return ngx_http_broadcast_webhook_read(r, ngx_http_broadcast_meta_body);
}


/*
 * The handshake's query carries the verify token, and nginx appends the
 * request line to every error-log line of a request (ours and its own,
 * e.g. a client that closed early). The request line becomes the method,
 * the path and the protocol; the arguments stay in r->args for the check.
 */
static void
ngx_http_broadcast_meta_hide_query(ngx_http_request_t *r)
{
    u_char  *q, *end, *p, *line;
    size_t   head, tail;

    end = r->request_line.data + r->request_line.len;

    q = ngx_strlchr(r->request_line.data, end, '?');
    if (q == NULL) {
        return;
    }

    /* the protocol follows the last space of the line, if there is one */
    for (p = end; p > q && p[-1] != ' '; p--) { /* void */ }

    head = q - r->request_line.data;
    tail = p > q ? (size_t) (end - (p - 1)) : 0;

    /* a copy: r->args still points into the original line */
    line = ngx_pnalloc(r->pool, head + tail);
    if (line == NULL) {
        r->request_line.len = head;
        return;
    }

    ngx_memcpy(line, r->request_line.data, head);
    ngx_memcpy(line + head, p - 1, tail);

    r->request_line.data = line;
    r->request_line.len = head + tail;
}


/* the subscription handshake: answers hub.challenge exactly */
static ngx_int_t
ngx_http_broadcast_meta_verify(ngx_http_request_t *r)
{
    char                            mode[16], token[512];
    char                            challenge[NGX_HTTP_BROADCAST_CHALLENGE_MAX
                                              + 1];
    u_char                         *p;
    size_t                          i, len;
    ngx_str_t                       type = ngx_string("text/plain");
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    ngx_http_broadcast_meta_hide_query(r);

    if (bc_query_get((char *) r->args.data, r->args.len, "hub.mode", mode,
                     sizeof(mode))
        != 1
        || ngx_strcmp(mode, "subscribe") != 0
        || bc_query_get((char *) r->args.data, r->args.len,
                        "hub.verify_token", token, sizeof(token))
           != 1
        || !bc_ct_equal(token, ngx_strlen(token), lcf->meta_verify_token.data,
                        lcf->meta_verify_token.len))
    {
        goto forbidden;
    }

    if (bc_query_get((char *) r->args.data, r->args.len, "hub.challenge",
                     challenge, sizeof(challenge))
        != 1)
    {
        goto forbidden;
    }

    len = ngx_strlen(challenge);

    if (len == 0) {
        goto forbidden;
    }

    /* printable ASCII only: it is echoed as the response body */
    for (i = 0; i < len; i++) {
        if (challenge[i] < 0x20 || challenge[i] > 0x7e) {
            goto forbidden;
        }
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, challenge, len);

    return ngx_http_broadcast_send(r, NGX_HTTP_OK, &type, p, len);

forbidden:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "broadcast: rejected Meta webhook verification \"%V\"",
                  &r->uri);

    return ngx_http_broadcast_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                         "hub.mode, hub.verify_token or "
                                         "hub.challenge is missing or wrong");
}


static void
ngx_http_broadcast_meta_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_broadcast_meta_handle(r));
}


static ngx_int_t
ngx_http_broadcast_meta_handle(ngx_http_request_t *r)
{
    size_t                          i, j;
    json_t                         *root, *object, *entry, *changes, *e, *c;
    ngx_int_t                       rc;
    ngx_str_t                       body;
    ngx_table_elt_t                *sig;
    ngx_http_broadcast_event_t     *ev;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    rc = ngx_http_broadcast_webhook_body_get(r, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    sig = ngx_http_broadcast_header_in(r, "X-Hub-Signature-256");

    if (sig == NULL
        || !bc_meta_verify((char *) lcf->meta_app_secret.data,
                           lcf->meta_app_secret.len, (char *) body.data,
                           body.len, (char *) sig->value.data,
                           sig->value.len))
    {
        return ngx_http_broadcast_webhook_forbidden(r,
                   &ngx_http_broadcast_meta_provider, "invalid_signature",
                   "the X-Hub-Signature-256 header is missing or does not "
                   "match", sig ? "signature mismatch" : "no signature");
    }

    root = ngx_http_broadcast_webhook_json(r, &body, JSON_OBJECT,
                                           "the body must be a JSON object",
                                           &rc);
    if (root == NULL) {
        return rc;
    }

    object = json_object_get(root, "object");

    if (!json_is_string(object)
        || ngx_strcmp(json_string_value(object), "whatsapp_business_account")
           != 0)
    {
        json_decref(root);
        return ngx_http_broadcast_send_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request",
                                             "object must be "
                                             "\"whatsapp_business_account\"");
    }

    ev = ngx_http_broadcast_event_create(r, &ngx_http_broadcast_meta_provider,
                                         NGX_HTTP_BROADCAST_META_KIND, &body);
    if (ev == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    entry = json_object_get(root, "entry");

    json_array_foreach(entry, i, e) {
        changes = json_object_get(e, "changes");

        json_array_foreach(changes, j, c) {
            if (ngx_http_broadcast_meta_value(ev, json_object_get(c, "value"))
                != NGX_OK)
            {
                ngx_http_broadcast_event_free(ev);
                json_decref(root);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    json_decref(root);

    ev->reply = NGX_HTTP_BROADCAST_WH_REPLY_EMPTY;

    return ngx_http_broadcast_event_post(r, ev);
}


/* one changes[].value: statuses are counted, inbound messages open windows */
static ngx_int_t
ngx_http_broadcast_meta_value(ngx_http_broadcast_event_t *ev, json_t *value)
{
    char         from[64], peer[32];
    size_t       i, len;
    json_t      *messages, *statuses, *m, *v;
    const char  *pnid, *wa, *s;

    if (!json_is_object(value)) {
        return NGX_OK;
    }

    statuses = json_object_get(value, "statuses");

    json_array_foreach(statuses, i, m) {
        v = json_object_get(m, "status");
        s = json_is_string(v) ? json_string_value(v) : "";

        ngx_http_broadcast_event_status(ev, &ngx_http_broadcast_meta_provider,
                                        NGX_HTTP_BROADCAST_CH_WHATSAPP, s);
    }

    messages = json_object_get(value, "messages");
    if (json_array_size(messages) == 0) {
        return NGX_OK;
    }

    v = json_object_get(json_object_get(value, "metadata"),
                        "phone_number_id");
    pnid = json_is_string(v) ? json_string_value(v) : NULL;

    if (pnid && !ngx_http_broadcast_digits(pnid, 32)) {
        pnid = NULL;
    }

    if (pnid) {
        len = ngx_sprintf((u_char *) from, "meta:%s", pnid) - (u_char *) from;
    } else {
        len = 0;
    }

    json_array_foreach(messages, i, m) {
        ngx_http_broadcast_event_status(ev, &ngx_http_broadcast_meta_provider,
                                        NGX_HTTP_BROADCAST_CH_WHATSAPP,
                                        "received");

        v = json_object_get(m, "from");
        wa = json_is_string(v) ? json_string_value(v) : NULL;

        /* wa_id: the peer's number, digits only */
        if (pnid == NULL || wa == NULL || !ngx_http_broadcast_digits(wa, 15)) {
            continue;
        }

        s = (char *) ngx_sprintf((u_char *) peer, "+%s", wa);

        if (ngx_http_broadcast_event_wawin(ev, (u_char *) from, len,
                                           (u_char *) peer, s - peer)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* 1..max ASCII digits */
static ngx_uint_t
ngx_http_broadcast_digits(const char *s, size_t max)
{
    size_t  i;

    for (i = 0; s[i]; i++) {
        if (i >= max || s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return i > 0;
}


/* --- configuration ----------------------------------------------------- */


static char *
ngx_http_broadcast_meta_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf)
{
    ngx_conf_merge_str_value(conf->meta_app_secret, prev->meta_app_secret,
                             "");
    ngx_conf_merge_str_value(conf->meta_verify_token,
                             prev->meta_verify_token, "");
    ngx_conf_merge_str_value(conf->meta_graph_base, prev->meta_graph_base,
                             "https://graph.facebook.com/v21.0");
    ngx_conf_merge_str_value(conf->meta_access_token,
                             prev->meta_access_token, "");
    ngx_conf_merge_str_value(conf->meta_waba_id, prev->meta_waba_id, "");
    ngx_conf_merge_str_value(conf->meta_phone_number_id,
                             prev->meta_phone_number_id, "");

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_meta_check(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf)
{
    if (conf->meta_app_secret.len == 0) {
        return ngx_http_broadcast_provider_requires(cf,
                   &ngx_http_broadcast_meta_provider,
                   "broadcast_meta_app_secret_file");
    }

    if (conf->meta_verify_token.len == 0) {
        return ngx_http_broadcast_provider_requires(cf,
                   &ngx_http_broadcast_meta_provider,
                   "broadcast_meta_verify_token_file");
    }

    return NGX_CONF_OK;
}
