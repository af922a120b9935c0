/*
 * POST /api/templates/{id}/preview: the template rendered in the thread.
 * The values of the placeholders come, weakest first, from the contact's
 * attributes, then its own columns (name, phone, whatsapp, email, locale:
 * normalised, so they win over a stray attribute of the same name), then
 * the request's "variables". SMS and WhatsApp text is counted as carriers
 * bill it (common/bc_segments.c).
 *
 * Also the thread side of a send by template_id (POST /api/send/sms,
 * whatsapp, email): the template checked against the channel, rendered
 * from the request's variables only, and written into the batch's text
 * and extra.
 */


#include "ngx_http_broadcast_msgtpl.h"
#include "ngx_http_broadcast_send.h"
#include "ngx_http_broadcast_contacts.h"

#include "bc_segments.h"


static const char  *ngx_http_broadcast_msgtpl_contact_keys[] = {
    "name", "phone", "whatsapp", "email", "locale", NULL
};


/* thread: the contact's values into vals; 0 or -1 with ctx's error set */
static int
ngx_http_broadcast_msgtpl_contact(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, json_t *vals)
{
    json_t      *list, *c, *v, *text;
    ngx_uint_t   i;
    const char  *key;

    list = ngx_http_broadcast_contacts_by_id(ctx, conn, id);

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
        text = bc_template_text(v);

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


/* a template rendered for a send: subject, body, html (malloc'd) */
typedef struct {
    char    *s[3];
    size_t   len[3];
} ngx_http_broadcast_msgtpl_out_t;

typedef int (*ngx_http_broadcast_msgtpl_send_pt)(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_batch_t *b,
    ngx_str_t *v, ngx_http_broadcast_msgtpl_out_t *o);

#define NGX_HTTP_BROADCAST_MSGTPL_OUT_SUBJECT  0
#define NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY     1
#define NGX_HTTP_BROADCAST_MSGTPL_OUT_HTML     2


/* thread: a 422 naming the template; always 0 (ctx answers) */
static int
ngx_http_broadcast_msgtpl_refuse(ngx_http_broadcast_api_ctx_t *ctx,
    const char *code, const char *why, long long id)
{
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422, code,
                                 "template %lld %s", id, why);
    return 0;
}


/* thread: b's text: len bytes of s and, if any, "\n" + footer; 0 or -1 */
static int
ngx_http_broadcast_msgtpl_set_text(ngx_http_broadcast_batch_t *b,
    const char *s, size_t len)
{
    char    *text;
    size_t   flen;

    flen = b->tpl_footer ? 1 + b->tpl_footer->len : 0;

    text = malloc(len + flen + 1);
    if (text == NULL) {
        return -1;
    }

    ngx_memcpy(text, s, len);

    if (flen) {
        text[len] = '\n';
        ngx_memcpy(text + len + 1, b->tpl_footer->data, flen - 1);
    }

    text[len + flen] = '\0';
    free(b->text);
    b->text = text;

    return 0;
}


/* thread: b's extra replaced by the compact JSON of extra; 0 or -1 */
static int
ngx_http_broadcast_msgtpl_set_extra(ngx_http_broadcast_batch_t *b,
    json_t *extra)
{
    char  *dump;

    dump = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    json_decref(extra);

    if (dump == NULL) {
        return -1;
    }

    free(b->extra);
    b->extra = dump;

    return 0;
}


/* thread, SMS: the body with the opt-out footer, at most 1600 chars */
static int
ngx_http_broadcast_msgtpl_send_sms(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, ngx_str_t *v,
    ngx_http_broadcast_msgtpl_out_t *o)
{
    size_t  n;

    if (o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY] == 0) {
        return ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                   "renders an empty message", b->tpl_id);
    }

    if (ngx_http_broadcast_msgtpl_set_text(b,
            o->s[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY],
            o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY])
        != 0)
    {
        return -1;
    }

    n = ngx_http_broadcast_utf8_chars(b->text, strlen(b->text));

    if (n > NGX_HTTP_BROADCAST_MSGTPL_SMS_MAX) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422,
            "message_too_long", "template %lld renders %zu characters%s; "
            "an SMS is at most %d", b->tpl_id, n,
            b->tpl_footer ? " with the opt-out footer" : "",
            NGX_HTTP_BROADCAST_MSGTPL_SMS_MAX);
        return 0;
    }

    return 1;
}


/* thread, e-mail: subject, text and html into extra (as email.c does) */
static int
ngx_http_broadcast_msgtpl_send_email(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, ngx_str_t *v,
    ngx_http_broadcast_msgtpl_out_t *o)
{
    ngx_uint_t     shown;
    json_t        *extra;
    json_error_t   jerr;

    if (o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_SUBJECT] == 0
        || (o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY] == 0
            && o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_HTML] == 0))
    {
        return ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                   "renders an e-mail without a subject or content",
                   b->tpl_id);
    }

    extra = json_loads(b->extra ? b->extra : "{}", 0, &jerr);
    if (extra == NULL) {
        return -1;
    }

    json_object_set_new(extra, "subject",
        json_string(o->s[NGX_HTTP_BROADCAST_MSGTPL_OUT_SUBJECT]));

    if (o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY]) {
        json_object_set_new(extra, "text",
            json_string(o->s[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY]));
    }

    if (o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_HTML]) {
        json_object_set_new(extra, "html",
            json_string(o->s[NGX_HTTP_BROADCAST_MSGTPL_OUT_HTML]));
    }

    /* the text shown in the messages table: the text, else the html */
    shown = o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY]
            ? NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY
            : NGX_HTTP_BROADCAST_MSGTPL_OUT_HTML;

    if (ngx_http_broadcast_msgtpl_set_extra(b, extra) != 0
        || ngx_http_broadcast_msgtpl_set_text(b, o->s[shown], o->len[shown])
           != 0)
    {
        return -1;
    }

    return 1;
}


/*
 * the variables as Meta's body parameters: "1".."n" positionally, other
 * names as named parameters (parameter_name); NULL when out of memory
 */
static json_t *
ngx_http_broadcast_msgtpl_meta_params(json_t *vars)
{
    char         num[24];
    size_t       i, n;
    json_t      *params, *v;
    const char  *key;

    params = json_array();
    if (params == NULL) {
        return NULL;
    }

    n = json_object_size(vars);

    for (i = 1; i <= n; i++) {
        snprintf(num, sizeof(num), "%zu", i);
        if (json_object_get(vars, num) == NULL) {
            break;
        }
    }

    if (i > n) {
        for (i = 1; i <= n; i++) {
            snprintf(num, sizeof(num), "%zu", i);
            json_array_append_new(params, json_pack("{s:s,s:O}", "type",
                                  "text", "text", json_object_get(vars, num)));
        }

        return params;
    }

    json_object_foreach(vars, key, v) {
        json_array_append_new(params, json_pack("{s:s,s:s,s:O}", "type",
                              "text", "parameter_name", key, "text", v));
    }

    return params;
}


/*
 * thread, WhatsApp: a text template as a free-form body (inside the 24 h
 * window), or the provider template it references with the variables as
 * its parameters (Twilio content_sid; Meta name + language)
 */
static int
ngx_http_broadcast_msgtpl_send_wa(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, ngx_str_t *v,
    ngx_http_broadcast_msgtpl_out_t *o)
{
    char        *vars, text[600];
    json_t      *extra, *tpl;
    ngx_uint_t   meta;

    meta = (ngx_strcmp(b->provider, "meta") == 0);
    extra = NULL;
    vars = NULL;

    if (v[NGX_HTTP_BROADCAST_MSGTPL_SID].data) {
        if (meta) {
            return ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                       "is a Twilio content template: send it from a "
                       "Twilio sender", b->tpl_id);
        }

        vars = json_dumps(b->tpl_vars, JSON_COMPACT);
        extra = vars ? json_pack("{s:s%,s:s}", "content_sid",
                                 v[NGX_HTTP_BROADCAST_MSGTPL_SID].data,
                                 v[NGX_HTTP_BROADCAST_MSGTPL_SID].len,
                                 "content_variables", vars)
                     : NULL;
        snprintf(text, sizeof(text), "template:%.*s variables:%.500s",
                 (int) v[NGX_HTTP_BROADCAST_MSGTPL_SID].len,
                 (char *) v[NGX_HTTP_BROADCAST_MSGTPL_SID].data,
                 vars ? vars : "{}");
        free(vars);
        b->window = 0;

    } else if (v[NGX_HTTP_BROADCAST_MSGTPL_PNAME].data) {
        if (!meta) {
            return ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                       "is a Meta template: send it from a Meta sender "
                       "(meta:<phone-number-id>)", b->tpl_id);
        }

        tpl = json_pack("{s:s%,s:{s:s%}}", "name",
                        v[NGX_HTTP_BROADCAST_MSGTPL_PNAME].data,
                        v[NGX_HTTP_BROADCAST_MSGTPL_PNAME].len, "language",
                        "code", v[NGX_HTTP_BROADCAST_MSGTPL_LANGUAGE].data,
                        v[NGX_HTTP_BROADCAST_MSGTPL_LANGUAGE].len);

        if (tpl && json_object_size(b->tpl_vars)) {
            json_object_set_new(tpl, "components",
                json_pack("[{s:s,s:o}]", "type", "body", "parameters",
                          ngx_http_broadcast_msgtpl_meta_params(
                              b->tpl_vars)));
        }

        extra = tpl ? json_pack("{s:{s:s,s:o}}", "message", "type",
                                "template", "template", tpl)
                    : NULL;
        snprintf(text, sizeof(text), "template:%.*s",
                 (int) v[NGX_HTTP_BROADCAST_MSGTPL_PNAME].len,
                 (char *) v[NGX_HTTP_BROADCAST_MSGTPL_PNAME].data);
        b->window = 0;

    } else {
        if (o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY] == 0) {
            return ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                       "renders an empty message", b->tpl_id);
        }

        extra = meta ? json_pack("{s:{s:s,s:{s:s}}}", "message", "type",
                                 "text", "text", "body",
                                 o->s[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY])
                     : json_object();
        b->window = 1;

        return (ngx_http_broadcast_msgtpl_set_extra(b, extra) != 0
                || ngx_http_broadcast_msgtpl_set_text(b,
                       o->s[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY],
                       o->len[NGX_HTTP_BROADCAST_MSGTPL_OUT_BODY])
                   != 0)
               ? -1 : 1;
    }

    return (ngx_http_broadcast_msgtpl_set_extra(b, extra) != 0
            || ngx_http_broadcast_msgtpl_set_text(b, text, strlen(text)) != 0)
           ? -1 : 1;
}


/* by the index of ngx_http_broadcast_msgtpl_channels */
static ngx_http_broadcast_msgtpl_send_pt
    ngx_http_broadcast_msgtpl_senders[] =
{
    ngx_http_broadcast_msgtpl_send_sms,
    ngx_http_broadcast_msgtpl_send_wa,
    ngx_http_broadcast_msgtpl_send_email
};


/*
 * thread: subject, body and html filled from b's variables; 1, or 0 with
 * ctx's answer (422 missing_variables naming them), or -1 (nomem)
 */
static int
ngx_http_broadcast_msgtpl_send_render(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, ngx_str_t *v,
    ngx_http_broadcast_msgtpl_out_t *o)
{
    static const ngx_uint_t  col[3] = {
        NGX_HTTP_BROADCAST_MSGTPL_SUBJECT,
        NGX_HTTP_BROADCAST_MSGTPL_BODY,
        NGX_HTTP_BROADCAST_MSGTPL_HTML
    };

    int         rc;
    json_t     *missing;
    ngx_str_t  *s;
    ngx_uint_t  i;

    missing = json_array();
    if (missing == NULL) {
        return -1;
    }

    /* in the order of the variables: subject, body, html */
    for (i = 0; i < 3; i++) {
        s = &v[col[i]];

        if (ngx_http_broadcast_msgtpl_render(s->data ? (char *) s->data : "",
                                             s->len, b->tpl_vars, missing,
                                             &o->s[i], &o->len[i])
            != 0)
        {
            json_decref(missing);
            return -1;
        }
    }

    rc = 1;

    if (json_array_size(missing)) {
        ctx->error_extra = json_pack("{s:O}", "missing", missing);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422,
            "missing_variables", "template %lld needs a value for each of "
            "\"missing\" in template_variables", b->tpl_id);
        rc = 0;
    }

    json_decref(missing);

    return rc;
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
    int                              rc;
    ngx_int_t                        ch;
    ngx_str_t                        v[NGX_HTTP_BROADCAST_MSGTPL_NFIELDS];
    ngx_uint_t                       i;
    MYSQL_RES                       *res;
    ngx_http_broadcast_msgtpl_out_t  o;

    if (ngx_http_broadcast_contacts_connect(ctx, conn) != 0) {
        return 0;
    }

    ngx_memzero(&o, sizeof(o));
    res = NULL;

    rc = ngx_http_broadcast_msgtpl_fetch(ctx, conn, b->tpl_id, "", &res, v);

    if (rc == 0) {
        ngx_http_broadcast_msgtpl_refuse(ctx, "invalid_template",
                                         "does not exist", b->tpl_id);
    }

    if (rc <= 0) {
        rc = 0;
        goto done;
    }

    ch = ngx_http_broadcast_msgtpl_channel(
             (char *) v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].data,
             v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].len);

    if (ch < 0 || ngx_strcmp(ngx_http_broadcast_msgtpl_channels[ch],
                             b->channel) != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422,
            "invalid_template", "template %lld is a %.*s template; this "
            "request sends %s", b->tpl_id,
            (int) v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].len,
            (char *) v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].data, b->channel);
        rc = 0;
        goto done;
    }

    rc = ngx_http_broadcast_msgtpl_send_render(ctx, b, v, &o);

    if (rc == 1) {
        rc = ngx_http_broadcast_msgtpl_senders[ch](ctx, b, v, &o);
    }

    if (rc < 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        rc = 0;
    }

done:

    for (i = 0; i < 3; i++) {
        free(o.s[i]);
    }

    if (res) {
        mysql_free_result(res);
    }

    return rc;
}
