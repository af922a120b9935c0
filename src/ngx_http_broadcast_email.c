/*
 * POST /api/send/email: addresses are checked and lower-cased, the content
 * goes into the job's "extra" (docs/DESIGN.md) and the batch through the
 * common accept path of send.c (whitelist check included).
 */


#include "ngx_http_broadcast_send.h"
#include "ngx_http_broadcast_provider.h"

#include "bc_addr.h"


#define NGX_HTTP_BROADCAST_SUBJECT_MAX     998
#define NGX_HTTP_BROADCAST_FROM_NAME_MAX   255


static int
ngx_http_broadcast_email_addr(ngx_http_request_t *r, const char *in,
    size_t len, char *to, char *peer, const char **reason)
{
    if (!bc_email_valid(in, len, to)) {
        *reason = "not a valid email address (local@domain.tld)";
        return -1;
    }

    ngx_cpystrn((u_char *) peer, (u_char *) to, NGX_HTTP_BROADCAST_ADDR_MAX);

    return 0;
}


static ngx_inline int
ngx_http_broadcast_email_given(json_t *v)
{
    return v != NULL && !json_is_null(v);
}


/* from_email (or the default), from_name, reply_to; 0 or -1 (ctx error) */
static int
ngx_http_broadcast_email_sender(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_loc_conf_t *lcf, json_t *jfrom, json_t *name,
    json_t *reply_to, char *from, char *reply)
{
    if (ngx_http_broadcast_email_given(jfrom)) {
        if (!json_is_string(jfrom)
            || !bc_email_valid(json_string_value(jfrom),
                               json_string_length(jfrom), from))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "from_email must be an email address");
            return -1;
        }

    } else if (lcf->email_from.len) {
        ngx_cpystrn((u_char *) from, lcf->email_from.data,
                    ngx_min(NGX_HTTP_BROADCAST_ADDR_MAX,
                            lcf->email_from.len + 1));

    } else {
        ngx_http_broadcast_api_error(ctx, 422, "invalid_request",
            "no sender: give from_email (no broadcast_email_from default is "
            "configured)");
        return -1;
    }

    if (ngx_http_broadcast_email_given(name)
        && !ngx_http_broadcast_single_line(name, 0,
                                           NGX_HTTP_BROADCAST_FROM_NAME_MAX))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "from_name must be a single-line string of "
            "at most %d characters", NGX_HTTP_BROADCAST_FROM_NAME_MAX);
        return -1;
    }

    if (ngx_http_broadcast_email_given(reply_to)
        && (!json_is_string(reply_to)
            || !bc_email_valid(json_string_value(reply_to),
                               json_string_length(reply_to), reply)))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "reply_to must be an email address");
        return -1;
    }

    return 0;
}


/* subject, text and html of a send without a template; 0 or -1 */
static int
ngx_http_broadcast_email_content(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *subject, json_t *text, json_t *html)
{
    if (!ngx_http_broadcast_single_line(subject, 1,
                                        NGX_HTTP_BROADCAST_SUBJECT_MAX))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "subject must be a single-line string of 1 "
            "to %d characters", NGX_HTTP_BROADCAST_SUBJECT_MAX);
        return -1;
    }

    if ((ngx_http_broadcast_email_given(text) && !json_is_string(text))
        || (ngx_http_broadcast_email_given(html) && !json_is_string(html)))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "text and html must be strings");
        return -1;
    }

    if (json_string_length(text) == 0 && json_string_length(html) == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "give text and/or html (non-empty)");
        return -1;
    }

    return 0;
}


void
ngx_http_broadcast_email_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_str_t  *body = &args->body;

    char                            from[NGX_HTTP_BROADCAST_ADDR_MAX];
    char                            reply[NGX_HTTP_BROADCAST_ADDR_MAX];
    json_t                         *json, *recipients, *subject, *text, *html,
                                   *jfrom, *name, *reply_to, *sandbox,
                                   *extra, *shown, *tpl;
    ngx_http_broadcast_batch_t     *b;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    json = ngx_http_broadcast_send_parse(r, ctx, body, &recipients);
    if (json == NULL) {
        return;
    }

    subject = json_object_get(json, "subject");
    text = json_object_get(json, "text");
    html = json_object_get(json, "html");
    jfrom = json_object_get(json, "from_email");
    name = json_object_get(json, "from_name");
    reply_to = json_object_get(json, "reply_to");
    sandbox = json_object_get(json, "sandbox");
    tpl = json_object_get(json, "template_id");

    if (ngx_http_broadcast_email_given(tpl)) {
        if (ngx_http_broadcast_email_given(subject)
            || ngx_http_broadcast_email_given(text)
            || ngx_http_broadcast_email_given(html))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "give subject/text/html or template_id, "
                "not both");
            return;
        }

    } else if (ngx_http_broadcast_email_content(ctx, subject, text, html)
               != 0)
    {
        return;
    }

    if (ngx_http_broadcast_email_sender(ctx, lcf, jfrom, name, reply_to, from,
                                        reply)
        != 0)
    {
        return;
    }

    if (ngx_http_broadcast_email_given(sandbox) && !json_is_boolean(sandbox))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "sandbox must be true or false");
        return;
    }

    extra = ngx_http_broadcast_json_pool(r,
                json_pack("{s:b}", "sandbox", json_is_true(sandbox)));
    if (extra == NULL) {
        goto nomem;
    }

    if (subject && json_object_set(extra, "subject", subject) != 0) {
        goto nomem;
    }

    if (json_string_length(text)) {
        json_object_set(extra, "text", text);
    }

    if (json_string_length(html)) {
        json_object_set(extra, "html", html);
    }

    if (json_is_string(name) && json_string_length(name)) {
        json_object_set(extra, "from_name", name);

    } else if (lcf->email_from_name.len
               && ngx_strcmp(from, lcf->email_from.data) == 0)
    {
        json_object_set_new(extra, "from_name",
                            json_stringn((char *) lcf->email_from_name.data,
                                         lcf->email_from_name.len));
    }

    if (json_is_string(reply_to)) {
        json_object_set_new(extra, "reply_to", json_string(reply));
    }

    shown = json_string_length(text) ? text : html;

    b = ngx_http_broadcast_batch_new(r, ctx,
                                     ngx_http_broadcast_email_given(tpl)
                                     ? "" : json_string_value(shown),
                                     json_string_length(shown));
    if (b == NULL) {
        return;
    }

    if (ngx_http_broadcast_email_given(tpl)
        && ngx_http_broadcast_msgtpl_send_args(r, ctx, json, b) != 0)
    {
        return;
    }

    if (ngx_http_broadcast_batch_set(r, ctx, b, "email",
            (const char *) ngx_http_broadcast_sendgrid_provider.name.data,
            from, extra)
        != 0)
    {
        return;
    }

    if (lcf->email_from.len != ngx_strlen(from)
        || ngx_strncmp(lcf->email_from.data, from, lcf->email_from.len) != 0)
    {
        b->sender_set = BC_KEY_SENDERS_EMAIL;
    }

    ngx_http_broadcast_send_accept(r, ctx, body, b, recipients,
                                   ngx_http_broadcast_email_addr,
                                   "none of the recipients is a valid email "
                                   "address");
    return;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
}
