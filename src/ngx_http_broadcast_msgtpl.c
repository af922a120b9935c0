/*
 * Message templates: GET/POST /api/templates, GET/PATCH/DELETE
 * /api/templates/{id}, POST /api/templates/{id}/preview. This file is the
 * event loop's part: requests are checked and copied here, the SQL runs in
 * the thread (msgtpl_db.c, msgtpl_preview.c). The house rules of a
 * template are pure functions both sides use; the placeholder scanner and
 * renderer are common/bc_template.c (shared with the sender).
 */


#include "ngx_http_broadcast_msgtpl.h"
#include "ngx_http_broadcast_send.h"
#include "bc_template.h"


static void ngx_http_broadcast_msgtpl_free(void *data);


const char  *ngx_http_broadcast_msgtpl_channels[] = {
    "sms", "whatsapp", "email", NULL
};

const char  *ngx_http_broadcast_msgtpl_keys[] = {
    "channel", "name", "language", "subject", "body", "html", "content_sid",
    "provider_name"
};


#define NGX_HTTP_BROADCAST_MSGTPL_SMS       0x01
#define NGX_HTTP_BROADCAST_MSGTPL_WA        0x02
#define NGX_HTTP_BROADCAST_MSGTPL_EMAIL     0x04
#define NGX_HTTP_BROADCAST_MSGTPL_ANY       0x07


/*
 * The limits of each field. A body's limit is the channel's: Twilio takes
 * at most 1,600 characters of SMS, WhatsApp 4,096 of free-form text; an
 * e-mail's text and HTML parts are bounded in bytes (512 KiB each, so
 * both fit one request under broadcast_max_body's default of 1 MiB; mail
 * clients clip far smaller messages anyway).
 */
typedef struct {
    ngx_uint_t   channels;      /* where the field may be given */
    size_t       chars[3];      /* at most, per channel (0: no limit) */
    size_t       bytes;         /* at most, any channel */
} ngx_http_broadcast_msgtpl_limit_t;

static const ngx_http_broadcast_msgtpl_limit_t
    ngx_http_broadcast_msgtpl_limits[NGX_HTTP_BROADCAST_MSGTPL_NFIELDS] =
{
    { NGX_HTTP_BROADCAST_MSGTPL_ANY, { 0, 0, 0 }, 16 },
    { NGX_HTTP_BROADCAST_MSGTPL_ANY, { 128, 128, 128 }, 512 },
    { NGX_HTTP_BROADCAST_MSGTPL_ANY, { 35, 35, 35 }, 35 },
    { NGX_HTTP_BROADCAST_MSGTPL_EMAIL, { 0, 0, 998 }, 998 * 4 },
    { NGX_HTTP_BROADCAST_MSGTPL_ANY, { 1600, 4096, 0 }, 524288 },
    { NGX_HTTP_BROADCAST_MSGTPL_EMAIL, { 0, 0, 0 }, 524288 },
    { NGX_HTTP_BROADCAST_MSGTPL_WA, { 34, 34, 34 }, 34 },
    { NGX_HTTP_BROADCAST_MSGTPL_WA, { 512, 512, 512 }, 512 },
};


ngx_int_t
ngx_http_broadcast_msgtpl_channel(const char *s, size_t len)
{
    ngx_int_t  i;

    for (i = 0; ngx_http_broadcast_msgtpl_channels[i]; i++) {
        if (strlen(ngx_http_broadcast_msgtpl_channels[i]) == len
            && ngx_strncmp(s, ngx_http_broadcast_msgtpl_channels[i], len)
               == 0)
        {
            return i;
        }
    }

    return -1;
}


/* 1 if every byte of s is in the set (a strspn over a counted string) */
static int
ngx_http_broadcast_msgtpl_only(ngx_str_t *s, const char *set)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '\0' || strchr(set, s->data[i]) == NULL) {
            return 0;
        }
    }

    return 1;
}


#define NGX_HTTP_BROADCAST_MSGTPL_ALNUM                                       \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


/* the shapes of the provider references and the language; 0 or -1 */
static int
ngx_http_broadcast_msgtpl_shapes(ngx_str_t *v, const char **code, char *why,
    size_t size)
{
    ngx_str_t  *s, tail;

    s = &v[NGX_HTTP_BROADCAST_MSGTPL_LANGUAGE];

    /* Meta spells languages en_US, BCP 47 en-US: both are taken */
    if (s->data && (s->len < 2 || !isalpha(s->data[0])
                    || !ngx_http_broadcast_msgtpl_only(s,
                           NGX_HTTP_BROADCAST_MSGTPL_ALNUM "_-")))
    {
        *code = "invalid_language";
        snprintf(why, size, "language must be a language tag such as "
                 "\"en\", \"pt-BR\" or \"en_US\"");
        return -1;
    }

    s = &v[NGX_HTTP_BROADCAST_MSGTPL_SID];
    tail.data = s->data + 2;
    tail.len = s->len - 2;

    if (s->data && (s->len != 34 || s->data[0] != 'H' || s->data[1] != 'X'
                    || !ngx_http_broadcast_msgtpl_only(&tail,
                           "0123456789abcdefABCDEF")))
    {
        *code = "invalid_content_sid";
        snprintf(why, size, "content_sid must be a Twilio Content SID: HX "
                 "and 32 hexadecimal digits");
        return -1;
    }

    s = &v[NGX_HTTP_BROADCAST_MSGTPL_PNAME];

    if (s->data && !ngx_http_broadcast_msgtpl_only(s,
                        "abcdefghijklmnopqrstuvwxyz0123456789_"))
    {
        *code = "invalid_provider_name";
        snprintf(why, size, "provider_name must be a Meta template name: "
                 "lower-case letters, digits and underscores");
        return -1;
    }

    if (s->data && v[NGX_HTTP_BROADCAST_MSGTPL_LANGUAGE].data == NULL) {
        *code = "language_required";
        snprintf(why, size, "a Meta template (provider_name) needs its "
                 "language, such as \"en_US\"");
        return -1;
    }

    return 0;
}


int
ngx_http_broadcast_msgtpl_check(ngx_str_t *v, const char **code, char *why,
    size_t size)
{
    size_t                                    i, chars, max;
    ngx_int_t                                 ch;
    ngx_str_t                                *s;
    const ngx_http_broadcast_msgtpl_limit_t  *l;

    s = &v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL];
    ch = s->data ? ngx_http_broadcast_msgtpl_channel((char *) s->data,
                                                     s->len)
                 : -1;

    if (ch < 0) {
        *code = "invalid_channel";
        snprintf(why, size, "channel must be \"sms\", \"whatsapp\" or "
                 "\"email\"");
        return -1;
    }

    for (i = 0; i < NGX_HTTP_BROADCAST_MSGTPL_NFIELDS; i++) {
        s = &v[i];
        l = &ngx_http_broadcast_msgtpl_limits[i];

        if (s->data == NULL) {
            continue;
        }

        if (!(l->channels & (1 << ch))) {
            *code = "field_not_allowed";
            snprintf(why, size, "%s is not used by %s templates: %s",
                     ngx_http_broadcast_msgtpl_keys[i],
                     ngx_http_broadcast_msgtpl_channels[ch],
                     (l->channels == NGX_HTTP_BROADCAST_MSGTPL_EMAIL)
                     ? "only e-mail has a subject and HTML"
                     : "only WhatsApp refers to a provider template");
            return -1;
        }

        chars = ngx_http_broadcast_utf8_chars((char *) s->data, s->len);
        max = l->chars[ch];

        if (s->len > l->bytes || (max && chars > max)) {
            *code = "field_too_long";
            snprintf(why, size, max ? "%s has %zu characters; %s templates "
                     "take at most %zu" : "%s has %zu characters; %s "
                     "templates take at most %zu bytes",
                     ngx_http_broadcast_msgtpl_keys[i], chars,
                     ngx_http_broadcast_msgtpl_channels[ch],
                     max ? max : l->bytes);
            return -1;
        }
    }

    s = &v[NGX_HTTP_BROADCAST_MSGTPL_NAME];

    for (i = 0; s->data && i < s->len && s->data[i] >= 0x20
                && s->data[i] != 0x7f; i++) { /* void */ }

    if (s->data == NULL || s->len == 0 || i < s->len) {
        *code = "invalid_name";
        snprintf(why, size, "name must be 1 to 128 characters on one line "
                 "(unique per channel)");
        return -1;
    }

    if (ngx_http_broadcast_msgtpl_shapes(v, code, why, size) != 0) {
        return -1;
    }

    s = &v[NGX_HTTP_BROADCAST_MSGTPL_BODY];

    if ((s->data == NULL || s->len == 0)
        && !(ch == 1 && (v[NGX_HTTP_BROADCAST_MSGTPL_SID].data
                         || v[NGX_HTTP_BROADCAST_MSGTPL_PNAME].data)))
    {
        *code = "empty_body";
        snprintf(why, size, "body must not be empty (only a WhatsApp "
                 "template that names content_sid or provider_name may "
                 "leave it out)");
        return -1;
    }

    return 0;
}


/* ------------------------------------------------------ placeholders */


/* the scanner and the renderer live once in common/bc_template.c, shared
   with the sender's campaign dispatcher */
int
ngx_http_broadcast_msgtpl_next(const char *s, size_t len, size_t from,
    size_t *start, size_t *end, size_t *name, size_t *nlen)
{
    return bc_template_next(s, len, from, start, end, name, nlen);
}


json_t *
ngx_http_broadcast_msgtpl_variables(ngx_str_t *v)
{
    ngx_str_t  *s;
    json_t     *list, *seen;
    ngx_uint_t  i;
    static const ngx_uint_t  fields[] = {
        NGX_HTTP_BROADCAST_MSGTPL_SUBJECT, NGX_HTTP_BROADCAST_MSGTPL_BODY,
        NGX_HTTP_BROADCAST_MSGTPL_HTML
    };

    list = json_array();
    seen = json_object();

    for (i = 0; list != NULL && seen != NULL && i < 3; i++) {
        s = &v[fields[i]];

        if (bc_template_names((char *) s->data, s->len, list, seen) != 0) {
            break;
        }
    }

    if (list == NULL || seen == NULL || i < 3) {
        json_decref(list);
        list = NULL;
    }

    json_decref(seen);

    return list;
}


int
ngx_http_broadcast_msgtpl_render(const char *s, size_t len, json_t *vals,
    json_t *missing, char **out, size_t *outlen)
{
    return bc_template_render(s, len, vals, missing, out, outlen);
}


/* ----------------------------------------------------------- the loop */


/* a positive decimal number of at most 18 digits; 0 or -1 */
static int
ngx_http_broadcast_msgtpl_number(const u_char *s, size_t len, long long *out)
{
    size_t  i;

    if (len == 0 || len > 18 || s[0] == '0') {
        return -1;
    }

    *out = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        *out = *out * 10 + (s[i] - '0');
    }

    return 0;
}


/* GET /api/templates?channel=&limit=&cursor=; 0 or -1 with ctx's error */
static int
ngx_http_broadcast_msgtpl_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_msgtpl_t *t)
{
    char         buf[32];
    ssize_t      n;
    long long    v;
    const char  *why;

    t->limit = NGX_HTTP_BROADCAST_MSGTPL_LIMIT;
    t->channel = -1;

    /* an empty argument (a form's blank field) is an absent one */
    n = ngx_http_broadcast_api_arg(r, "limit", buf, sizeof(buf));
    if (n != -1 && n != 0) {
        if (n < 0
            || ngx_http_broadcast_msgtpl_number((u_char *) buf, n, &v) != 0
            || v > NGX_HTTP_BROADCAST_MSGTPL_LIMIT_MAX)
        {
            why = "limit must be a number from 1 to 500";
            goto invalid;
        }

        t->limit = (ngx_int_t) v;
    }

    n = ngx_http_broadcast_api_arg(r, "cursor", buf, sizeof(buf));
    if (n != -1 && n != 0
        && (n < 0 || ngx_http_broadcast_msgtpl_number((u_char *) buf, n,
                                                      &t->cursor) != 0))
    {
        why = "cursor must be a next_cursor this API returned";
        goto invalid;
    }

    n = ngx_http_broadcast_api_arg(r, "channel", buf, sizeof(buf));
    if (n != -1 && n != 0) {
        t->channel = (n < 0) ? -1 : ngx_http_broadcast_msgtpl_channel(buf, n);

        if (t->channel < 0) {
            why = "channel must be sms, whatsapp or email";
            goto invalid;
        }
    }

    return 0;

invalid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                 "%s", why);
    return -1;
}


/* POST and PATCH: the body's fields copied into t; 0 or -1 + ctx's error */
static int
ngx_http_broadcast_msgtpl_fields(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_msgtpl_t *t,
    ngx_str_t *body)
{
    size_t       i, len;
    json_t      *json, *v;
    const char  *key, *s;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return -1;
    }

    for (i = 0; i < NGX_HTTP_BROADCAST_MSGTPL_NFIELDS; i++) {
        key = ngx_http_broadcast_msgtpl_keys[i];

        v = json_object_get(json, key);
        if (v == NULL) {
            continue;
        }

        t->set |= 1 << i;

        if (!json_is_null(v) && !json_is_string(v)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request",
                                         "%s must be a string", key);
            return -1;
        }

        s = json_string_value(v);
        len = json_string_length(v);

        /* "" is no value for the optional fields, as null (a form's blank) */
        if (s == NULL || (len == 0 && i != NGX_HTTP_BROADCAST_MSGTPL_BODY
                          && i != NGX_HTTP_BROADCAST_MSGTPL_NAME))
        {
            t->nulls |= 1 << i;
            continue;
        }

        t->f[i].data = ngx_alloc(len + 1, r->connection->log);
        if (t->f[i].data == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "internal_error", "out of memory");
            return -1;
        }

        ngx_memcpy(t->f[i].data, s, len);
        t->f[i].data[len] = '\0';
        t->f[i].len = len;
    }

    if (t->action == NGX_HTTP_BROADCAST_MSGTPL_PATCH && t->set == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "give at least one of channel, name, "
            "language, subject, body, html, content_sid, provider_name");
        return -1;
    }

    return 0;
}


/* POST /api/templates: the whole template must already be valid */
static void
ngx_http_broadcast_msgtpl_check_new(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_msgtpl_t *t)
{
    char         why[256];
    const char  *code;

    if (ngx_http_broadcast_msgtpl_check(t->f, &code, why, sizeof(why)) != 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422,
                                     code, "%s", why);
    }
}


/* a variable's value as text: strings as given, numbers written out */
static json_t *
ngx_http_broadcast_msgtpl_text(json_t *v)
{
    char  buf[64];

    if (json_is_string(v)) {
        return json_incref(v);
    }

    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return json_string(buf);
    }

    if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
        return json_string(buf);
    }

    return NULL;
}


/* POST .../preview {"contact_id"?, "variables"?{}}; 0 or -1 + ctx's error */
static int
ngx_http_broadcast_msgtpl_preview_body(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_msgtpl_t *t,
    ngx_str_t *body)
{
    json_t      *json, *v, *vars, *text;
    const char  *key;

    t->vars = json_object();
    if (t->vars == NULL) {
        goto nomem;
    }

    /* no body: a preview with nothing filled in */
    if (body->len == 0) {
        return 0;
    }

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return -1;
    }

    v = json_object_get(json, "contact_id");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "contact_id must be a contact's id");
            return -1;
        }

        t->contact_id = json_integer_value(v);
    }

    vars = json_object_get(json, "variables");
    if (vars && !json_is_null(vars) && !json_is_object(vars)) {
        goto invalid;
    }

    json_object_foreach(vars, key, v) {
        text = ngx_http_broadcast_msgtpl_text(v);
        if (text == NULL) {
            goto invalid;
        }

        if (json_object_set_new(t->vars, key, text) != 0) {
            goto nomem;
        }
    }

    return 0;

invalid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "variables must be an object of strings or numbers, such as "
        "{\"first_name\":\"Ada\"}");
    return -1;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
    return -1;
}


void
ngx_http_broadcast_msgtpl_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_http_broadcast_op_pt      op;
    ngx_http_broadcast_msgtpl_t  *t;

    op = (args->variant == NGX_HTTP_BROADCAST_MSGTPL_PREVIEW_OF)
         ? ngx_http_broadcast_msgtpl_preview : ngx_http_broadcast_msgtpl_op;

    t = ngx_http_broadcast_api_op_new(r, ctx,
                                      sizeof(ngx_http_broadcast_msgtpl_t), op,
                                      ngx_http_broadcast_msgtpl_free);
    if (t == NULL) {
        return;
    }

    if (args->variant == NGX_HTTP_BROADCAST_MSGTPL_COLLECTION) {
        if (r->method & NGX_HTTP_POST) {
            t->action = NGX_HTTP_BROADCAST_MSGTPL_CREATE;

            if (ngx_http_broadcast_msgtpl_fields(r, ctx, t, &args->body)
                == 0)
            {
                ngx_http_broadcast_msgtpl_check_new(ctx, t);
            }

            return;
        }

        t->action = NGX_HTTP_BROADCAST_MSGTPL_LIST;
        (void) ngx_http_broadcast_msgtpl_args(r, ctx, t);
        return;
    }

    if (ngx_http_broadcast_msgtpl_number(args->id.data, args->id.len, &t->id)
        != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no template with this id");
        return;
    }

    if (args->variant == NGX_HTTP_BROADCAST_MSGTPL_PREVIEW_OF) {
        t->action = NGX_HTTP_BROADCAST_MSGTPL_PREVIEW;
        (void) ngx_http_broadcast_msgtpl_preview_body(r, ctx, t, &args->body);

    } else if (r->method & NGX_HTTP_PATCH) {
        t->action = NGX_HTTP_BROADCAST_MSGTPL_PATCH;
        (void) ngx_http_broadcast_msgtpl_fields(r, ctx, t, &args->body);

    } else if (r->method & NGX_HTTP_DELETE) {
        t->action = NGX_HTTP_BROADCAST_MSGTPL_DELETE;

    } else {
        t->action = NGX_HTTP_BROADCAST_MSGTPL_GET;
    }
}


static void
ngx_http_broadcast_msgtpl_free(void *data)
{
    ngx_http_broadcast_msgtpl_t *t = data;

    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_BROADCAST_MSGTPL_NFIELDS; i++) {
        ngx_free(t->f[i].data);
    }

    if (t->vars) {
        json_decref(t->vars);
    }

    ngx_free(t);
}


/*
 * POST /api/send/sms, whatsapp, email: "template_id" and
 * "template_variables" (an object of strings or numbers, as in a
 * preview). Only the shapes are checked here: the template itself is in
 * MySQL, so the thread loads and renders it, and the request leaves the
 * Lua fast path (which cannot read MySQL).
 */
int
ngx_http_broadcast_msgtpl_send_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_batch_t *b)
{
    json_t      *id, *vars, *v, *text;
    const char  *key;

    id = json_object_get(json, "template_id");
    vars = json_object_get(json, "template_variables");

    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "template_id must be a template's id (a "
            "positive integer)");
        return -1;
    }

    if (vars && !json_is_null(vars) && !json_is_object(vars)) {
        goto invalid;
    }

    b->tpl_vars = json_object();
    if (b->tpl_vars == NULL) {
        goto nomem;
    }

    json_object_foreach(vars, key, v) {
        if (strlen(key) > NGX_HTTP_BROADCAST_MSGTPL_VAR_MAX) {
            goto invalid;
        }

        text = ngx_http_broadcast_msgtpl_text(v);
        if (text == NULL) {
            goto invalid;
        }

        if (json_object_set_new(b->tpl_vars, key, text) != 0) {
            goto nomem;
        }
    }

    b->tpl_id = json_integer_value(id);
    ctx->op_fast = NULL;

    return 0;

invalid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "template_variables must be an object of strings or numbers with "
        "names of at most %d characters, such as {\"first_name\":\"Ada\"}",
        NGX_HTTP_BROADCAST_MSGTPL_VAR_MAX);
    return -1;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
    return -1;
}
