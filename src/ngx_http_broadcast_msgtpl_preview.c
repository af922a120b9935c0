/*
 * POST /api/templates/{id}/preview: the template rendered in the thread.
 * The values of the placeholders come, weakest first, from the contact's
 * attributes, then its own columns (name, phone, whatsapp, email, locale:
 * normalised, so they win over a stray attribute of the same name), then
 * the request's "variables". SMS and WhatsApp text is counted as carriers
 * bill it (common/bc_segments.c).
 */


#include "ngx_http_broadcast_msgtpl.h"
#include "ngx_http_broadcast_send.h"
#include "ngx_http_broadcast_contacts.h"

#include "bc_segments.h"


static const char  *ngx_http_broadcast_msgtpl_contact_keys[] = {
    "name", "phone", "whatsapp", "email", "locale", NULL
};


/* an attribute's value as text; NULL for null, objects and arrays */
static json_t *
ngx_http_broadcast_msgtpl_attr(json_t *v)
{
    char  buf[64];

    switch (json_typeof(v)) {

    case JSON_STRING:
        return json_incref(v);

    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return json_string(buf);

    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
        return json_string(buf);

    case JSON_TRUE:
        return json_string("true");

    case JSON_FALSE:
        return json_string("false");

    default:
        return NULL;
    }
}


/* thread: the contact's values into vals; 0 or -1 with ctx's error set */
static int
ngx_http_broadcast_msgtpl_contact(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, json_t *vals)
{
    json_t                    *list, *c, *v, *text;
    ngx_uint_t                 i;
    const char                *key;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT %s FROM contacts c "
                               "WHERE c.id = %lld",
                               NGX_HTTP_BROADCAST_CONTACT_COLUMNS, id);
    list = ngx_http_broadcast_contacts_fetch(ctx, conn, &sql);
    free(sql.data);

    if (list == NULL) {
        return -1;
    }

    c = json_array_get(list, 0);

    if (c == NULL) {
        json_decref(list);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND,
                                     "contact_not_found",
                                     "no contact with id %lld", id);
        return -1;
    }

    json_object_foreach(json_object_get(c, "attributes"), key, v) {
        text = ngx_http_broadcast_msgtpl_attr(v);

        if (text) {
            (void) json_object_set_new(vals, key, text);
        }
    }

    /* the columns over the attributes; a null column fills nothing */
    for (i = 0; ngx_http_broadcast_msgtpl_contact_keys[i]; i++) {
        key = ngx_http_broadcast_msgtpl_contact_keys[i];
        v = json_object_get(c, key);

        if (json_is_string(v)) {
            (void) json_object_set(vals, key, v);
        }
    }

    json_decref(list);

    return 0;
}


/* rendered[key] = s filled from vals; 0 or -1 (out of memory) */
static int
ngx_http_broadcast_msgtpl_fill(json_t *rendered, const char *key,
    ngx_str_t *s, json_t *vals, json_t *missing, json_t **text)
{
    char    *out;
    size_t   len;

    if (ngx_http_broadcast_msgtpl_render(s->data ? (char *) s->data : "",
                                         s->len, vals, missing, &out, &len)
        != 0)
    {
        return -1;
    }

    *text = json_stringn(out, len);
    free(out);

    return json_object_set(rendered, key, *text);
}


/* encoding, segments and characters of the rendered text into result */
static int
ngx_http_broadcast_msgtpl_count(json_t *result, json_t *body, ngx_int_t ch)
{
    bc_segments_t  c;

    if (bc_segments_count(json_string_value(body), json_string_length(body),
                          &c) != 0)
    {
        return -1;
    }

    if (json_object_set_new(result, "characters",
                            json_integer((json_int_t) c.characters)) != 0)
    {
        return -1;
    }

    /* an e-mail has no segments */
    if (ch == 2) {
        return 0;
    }

    return json_object_set_new(result, "encoding",
               json_string(bc_segments_encoding_name(c.encoding)))
           | json_object_set_new(result, "segments",
               json_integer((json_int_t) c.segments));
}


/* thread: ctx->result the preview of template v, values from vals */
static void
ngx_http_broadcast_msgtpl_show(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_str_t *v, json_t *vals)
{
    int        rc;
    json_t    *result, *rendered, *missing, *body, *other;
    ngx_int_t  ch;

    ch = ngx_http_broadcast_msgtpl_channel(
             (char *) v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].data,
             v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].len);

    rendered = json_object();
    missing = json_array();
    body = NULL;
    other = NULL;

    /* in the order of the variables: subject, body, html */
    rc = (rendered == NULL || missing == NULL) ? -1 : 0;

    if (rc == 0 && v[NGX_HTTP_BROADCAST_MSGTPL_SUBJECT].data) {
        rc = ngx_http_broadcast_msgtpl_fill(rendered, "subject",
                 &v[NGX_HTTP_BROADCAST_MSGTPL_SUBJECT], vals, missing,
                 &other);
        json_decref(other);
    }

    if (rc == 0) {
        rc = ngx_http_broadcast_msgtpl_fill(rendered, "body",
                 &v[NGX_HTTP_BROADCAST_MSGTPL_BODY], vals, missing, &body);
    }

    if (rc == 0 && v[NGX_HTTP_BROADCAST_MSGTPL_HTML].data) {
        other = NULL;
        rc = ngx_http_broadcast_msgtpl_fill(rendered, "html",
                 &v[NGX_HTTP_BROADCAST_MSGTPL_HTML], vals, missing, &other);
        json_decref(other);
    }

    result = (rc == 0) ? json_pack("{s:O,s:O}", "rendered", rendered,
                                   "missing", missing)
                       : NULL;

    if (result && ngx_http_broadcast_msgtpl_count(result, body, ch) != 0) {
        json_decref(result);
        result = NULL;
    }

    json_decref(body);
    json_decref(rendered);
    json_decref(missing);

    if (result == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    ctx->result = result;
}


void
ngx_http_broadcast_msgtpl_preview(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_msgtpl_t *t = ctx->op_data;

    int         rc;
    json_t     *vals;
    ngx_str_t   v[NGX_HTTP_BROADCAST_MSGTPL_NFIELDS];
    MYSQL_RES  *res;

    if (ngx_http_broadcast_contacts_connect(ctx, conn) != 0) {
        return;
    }

    res = NULL;
    rc = ngx_http_broadcast_msgtpl_fetch(ctx, conn, t->id, "", &res, v);

    if (rc == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no template with id %lld", t->id);
    }

    if (rc <= 0) {
        goto done;
    }

    vals = json_object();
    if (vals == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        goto done;
    }

    /* weakest first: the contact's, then the request's own variables */
    if ((t->contact_id == 0
         || ngx_http_broadcast_msgtpl_contact(ctx, conn, t->contact_id, vals)
            == 0)
        && json_object_update(vals, t->vars) == 0)
    {
        ngx_http_broadcast_msgtpl_show(ctx, v, vals);
    }

    json_decref(vals);

done:

    if (res) {
        mysql_free_result(res);
    }
}


#define NGX_HTTP_BROADCAST_MSGTPL_SMS_MAX  1600    /* as send.c */


/* thread: 422 invalid_template; always 0 (ctx answers) */
static int
ngx_http_broadcast_msgtpl_refuse(ngx_http_broadcast_api_ctx_t *ctx,
    const char *code, const char *why, long long id)
{
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422, code,
                                 "template %lld %s", id, why);
    return 0;
}


/* thread: s rendered from vals, malloc'd, NULL-safe for a NULL column */
static char *
ngx_http_broadcast_msgtpl_send_fill(ngx_str_t *s, json_t *vals,
    json_t *missing, size_t *len)
{
    char  *out;

    if (ngx_http_broadcast_msgtpl_render(s->data ? (char *) s->data : "",
                                         s->len, vals, missing, &out, len)
        != 0)
    {
        return NULL;
    }

    return out;
}


/* thread: an e-mail's subject, text and html into b's extra; 0 or -1 */
static int
ngx_http_broadcast_msgtpl_send_email(ngx_http_broadcast_batch_t *b,
    const char *subject, const char *text, const char *html)
{
    char          *dump;
    json_t        *extra;
    json_error_t   jerr;

    extra = json_loads(b->extra ? b->extra : "{}", 0, &jerr);
    if (extra == NULL) {
        return -1;
    }

    json_object_set_new(extra, "subject", json_string(subject));

    if (text[0]) {
        json_object_set_new(extra, "text", json_string(text));
    }

    if (html && html[0]) {
        json_object_set_new(extra, "html", json_string(html));
    }

    dump = json_dumps(extra, JSON_COMPACT);
    json_decref(extra);

    if (dump == NULL) {
        return -1;
    }

    free(b->extra);
    b->extra = dump;

    return 0;
}


/*
 * thread: the template of a send, checked against its channel and
 * rendered with the request's variables (contacts do not fill a send);
 * every placeholder left is refused before anything is queued
 */
int
ngx_http_broadcast_msgtpl_send(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_batch_t *b)
{
    int         rc, ok;
    char       *subject, *body, *html, *text;
    size_t      len, slen, hlen, flen;
    json_t     *missing;
    ngx_str_t   v[NGX_HTTP_BROADCAST_MSGTPL_NFIELDS];
    MYSQL_RES  *res;

    if (ngx_http_broadcast_contacts_connect(ctx, conn) != 0) {
        return 0;
    }

    res = NULL;
    subject = NULL;
    body = NULL;
    html = NULL;
    missing = NULL;
    ok = 0;

    rc = ngx_http_broadcast_msgtpl_fetch(ctx, conn, b->tpl_id, "", &res, v);

    if (rc == 0) {
        ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                                         "does not exist", b->tpl_id);
    }

    if (rc <= 0) {
        goto done;
    }

    if (v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].len != ngx_strlen(b->channel)
        || ngx_strncmp(v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].data, b->channel,
                       ngx_strlen(b->channel)) != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422,
            "invalid_template", "template %lld is a %.*s template; this "
            "request sends %s", b->tpl_id,
            (int) v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].len,
            (char *) v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].data, b->channel);
        goto done;
    }

    if (v[NGX_HTTP_BROADCAST_MSGTPL_SID].data
        || v[NGX_HTTP_BROADCAST_MSGTPL_PNAME].data)
    {
        ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
            "references a provider template, which this version cannot "
            "send by template_id yet: send it with content_sid or template",
            b->tpl_id);
        goto done;
    }

    missing = json_array();
    if (missing == NULL) {
        goto nomem;
    }

    /* in the order of the variables: subject, body, html */
    slen = 0;
    hlen = 0;

    subject = ngx_http_broadcast_msgtpl_send_fill(
                  &v[NGX_HTTP_BROADCAST_MSGTPL_SUBJECT], b->tpl_vars,
                  missing, &slen);
    body = ngx_http_broadcast_msgtpl_send_fill(
               &v[NGX_HTTP_BROADCAST_MSGTPL_BODY], b->tpl_vars, missing,
               &len);
    html = ngx_http_broadcast_msgtpl_send_fill(
               &v[NGX_HTTP_BROADCAST_MSGTPL_HTML], b->tpl_vars, missing,
               &hlen);

    if (subject == NULL || body == NULL || html == NULL) {
        goto nomem;
    }

    if (json_array_size(missing)) {
        ctx->error_extra = json_pack("{s:O}", "missing", missing);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422,
            "missing_variables", "template %lld needs a value for each of "
            "\"missing\" in template_variables", b->tpl_id);
        goto done;
    }

    if (ngx_strcmp(b->channel, "email") == 0) {
        if (slen == 0 || (len == 0 && hlen == 0)) {
            ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                "renders an e-mail without a subject or content",
                b->tpl_id);
            goto done;
        }

        if (ngx_http_broadcast_msgtpl_send_email(b, subject, body,
                                                 hlen ? html : NULL)
            != 0)
        {
            goto nomem;
        }
    }

    if (len == 0) {
        if (ngx_strcmp(b->channel, "email") != 0) {
            ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                                             "renders an empty message",
                                             b->tpl_id);
            goto done;
        }

        /* as email.c: the text shown is the html when there is no text */
        text = html;
        html = body;
        body = text;
        len = hlen;
    }

    /* the SMS opt-out footer: "\n" and the configured text */
    flen = b->tpl_footer ? 1 + b->tpl_footer->len : 0;

    text = malloc(len + flen + 1);
    if (text == NULL) {
        goto nomem;
    }

    ngx_memcpy(text, body, len);

    if (flen) {
        text[len] = '\n';
        ngx_memcpy(text + len + 1, b->tpl_footer->data, flen - 1);
    }

    text[len + flen] = '\0';
    free(b->text);
    b->text = text;

    if (ngx_strcmp(b->channel, "sms") == 0
        && ngx_http_broadcast_utf8_chars(text, len + flen)
           > NGX_HTTP_BROADCAST_MSGTPL_SMS_MAX)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422,
            "message_too_long", "template %lld renders %zu characters; an "
            "SMS is at most %d", b->tpl_id,
            ngx_http_broadcast_utf8_chars(text, len + flen),
            NGX_HTTP_BROADCAST_MSGTPL_SMS_MAX);
        goto done;
    }

    ok = 1;
    goto done;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");

done:

    free(subject);
    free(body);
    free(html);

    if (missing) {
        json_decref(missing);
    }

    if (res) {
        mysql_free_result(res);
    }

    return ok;
}
