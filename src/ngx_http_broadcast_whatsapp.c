/*
 * POST /api/send/whatsapp: the sender picks the provider (whatsapp:+E164 is
 * Twilio, meta:<phone-number-id> is the Cloud API), exactly one kind of
 * content is validated into the job's "extra" (docs/DESIGN.md), and the
 * batch goes through the common accept path (send_accept.c); the thread
 * checks the sender whitelist and the 24-hour window of free-form messages
 * before queueing (send_queue.c).
 */


#include "ngx_http_broadcast_send.h"

#include "bc_addr.h"
#include "bc_phone.h"


/* a Meta sender: meta:<phone-number-id> */
#define NGX_HTTP_BROADCAST_META_PREFIX      "meta:"
#define NGX_HTTP_BROADCAST_META_PREFIX_LEN                                    \
    (sizeof(NGX_HTTP_BROADCAST_META_PREFIX) - 1)

#define NGX_HTTP_BROADCAST_WA_MAX_BODY    1600
#define NGX_HTTP_BROADCAST_WA_MAX_MEDIA   10
#define NGX_HTTP_BROADCAST_WA_MAX_VARS    100
#define NGX_HTTP_BROADCAST_WA_MAX_URL     2048


static int
ngx_http_broadcast_wa_url(json_t *v)
{
    size_t       len, i;
    const char  *s;

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || len > NGX_HTTP_BROADCAST_WA_MAX_URL) {
        return 0;
    }

    if (!((len > 8 && ngx_strncasecmp((u_char *) s, (u_char *) "https://", 8)
           == 0)
          || (len > 7 && ngx_strncasecmp((u_char *) s, (u_char *) "http://", 7)
              == 0)))
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((u_char) s[i] <= 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/*
 * 1 if from is a number the operator configured: the default sender
 * (broadcast_whatsapp_from) or meta:<broadcast_meta_phone_number_id>
 */
static ngx_uint_t
ngx_http_broadcast_wa_configured(ngx_http_broadcast_loc_conf_t *lcf,
    const char *from)
{
    size_t      len;
    ngx_str_t  *pid;

    len = ngx_strlen(from);

    if (len == lcf->whatsapp_from.len
        && ngx_strncmp(lcf->whatsapp_from.data, from, len) == 0)
    {
        return 1;
    }

    pid = &lcf->meta_phone_number_id;

    return pid->len
           && len == NGX_HTTP_BROADCAST_META_PREFIX_LEN + pid->len
           && ngx_strncmp(from, NGX_HTTP_BROADCAST_META_PREFIX,
                          NGX_HTTP_BROADCAST_META_PREFIX_LEN) == 0
           && ngx_strncmp(from + NGX_HTTP_BROADCAST_META_PREFIX_LEN,
                          pid->data, pid->len)
              == 0;
}


/* Twilio: whatsapp:+E164 for the job, +E164 for the peer */
static int
ngx_http_broadcast_wa_twilio_addr(ngx_http_request_t *r, const char *in,
    size_t len, char *to, char *peer, const char **reason)
{
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (len > BC_WA_PREFIX_LEN && bc_wa_prefixed(in, len)) {
        in += BC_WA_PREFIX_LEN;
        len -= BC_WA_PREFIX_LEN;
    }

    if (ngx_http_broadcast_phone(in, len, (char *) lcf->default_country.data,
                                 peer, reason)
        != 0)
    {
        return -1;
    }

    snprintf(to, NGX_HTTP_BROADCAST_ADDR_MAX, BC_WA_PREFIX "%s", peer);

    return 0;
}


/* Meta: +E164 for the job and the peer (the sender sends the digits) */
static int
ngx_http_broadcast_wa_meta_addr(ngx_http_request_t *r, const char *in,
    size_t len, char *to, char *peer, const char **reason)
{
    if (ngx_http_broadcast_wa_twilio_addr(r, in, len, to, peer, reason)
        != 0)
    {
        return -1;
    }

    ngx_cpystrn((u_char *) to, (u_char *) peer, NGX_HTTP_BROADCAST_ADDR_MAX);

    return 0;
}


/* the Meta message object of "template"; NULL with ctx's error set */
static json_t *
ngx_http_broadcast_wa_meta_template(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *t)
{
    json_t      *name, *lang, *code, *comps;
    const char  *s;

    name = json_object_get(t, "name");
    lang = json_object_get(t, "language");
    comps = json_object_get(t, "components");

    s = json_string_value(name);

    if (!json_is_object(t) || s == NULL || json_string_length(name) == 0
        || json_string_length(name) > 512)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "template must be an object with a "
            "non-empty name, a language and optional components");
        return NULL;
    }

    code = json_is_object(lang) ? json_object_get(lang, "code") : lang;

    if (!json_is_string(code) || json_string_length(code) < 2
        || json_string_length(code) > 16)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "template.language must be a language code "
            "such as \"en_US\" or {\"code\":\"en_US\"}");
        return NULL;
    }

    if (comps && !json_is_null(comps) && !json_is_array(comps)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "template.components must be an array of "
            "component objects (Meta's shape)");
        return NULL;
    }

    if (json_is_array(comps) && json_array_size(comps) > 0) {
        return json_pack("{s:s,s:{s:O,s:{s:O},s:O}}", "type", "template",
                         "template", "name", name, "language", "code", code,
                         "components", comps);
    }

    return json_pack("{s:s,s:{s:O,s:{s:O}}}", "type", "template",
                     "template", "name", name, "language", "code", code);
}


/* Meta's media message types and what each may carry */
typedef struct {
    const char  *type;
    ngx_uint_t   caption;
    ngx_uint_t   filename;
} ngx_http_broadcast_wa_media_type_t;

static const ngx_http_broadcast_wa_media_type_t
    ngx_http_broadcast_wa_media_types[] = {
    { "image",    1, 0 },
    { "document", 1, 1 },
    { "audio",    0, 0 },
    { "video",    1, 0 },
    { NULL,       0, 0 }
};


/* the Meta message object of "media"; NULL with ctx's error set */
static json_t *
ngx_http_broadcast_wa_meta_media(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *m)
{
    json_t      *type, *link, *caption, *filename, *obj;
    ngx_uint_t   i;
    const char  *t;

    const ngx_http_broadcast_wa_media_type_t  *mt;

    type = json_object_get(m, "type");
    link = json_object_get(m, "link");
    caption = json_object_get(m, "caption");
    filename = json_object_get(m, "filename");

    t = json_string_value(type);
    mt = NULL;

    for (i = 0; t && ngx_http_broadcast_wa_media_types[i].type; i++) {
        if (strcmp(t, ngx_http_broadcast_wa_media_types[i].type) == 0) {
            mt = &ngx_http_broadcast_wa_media_types[i];
            break;
        }
    }

    if (!json_is_object(m) || mt == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "media must be an object with type image, "
            "document, audio or video and a link");
        return NULL;
    }

    if (!ngx_http_broadcast_wa_url(link)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "media.link must be an http(s) URL");
        return NULL;
    }

    if (caption && !json_is_null(caption)
        && (!json_is_string(caption) || !mt->caption
            || ngx_http_broadcast_utf8_chars(json_string_value(caption),
                                             json_string_length(caption))
               > 1024))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "media.caption must be a string of at most "
            "1024 characters (not for audio)");
        return NULL;
    }

    if (filename && !json_is_null(filename)
        && (!json_is_string(filename) || !mt->filename
            || json_string_length(filename) == 0
            || json_string_length(filename) > 240))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "media.filename must be a non-empty string "
            "and is for documents only");
        return NULL;
    }

    obj = json_pack("{s:O}", "link", link);
    if (obj == NULL) {
        return NULL;
    }

    if (json_is_string(caption)) {
        json_object_set(obj, "caption", caption);
    }

    if (json_is_string(filename)) {
        json_object_set(obj, "filename", filename);
    }

    return json_pack("{s:s,s:o}", "type", t, t, obj);
}


static ngx_inline int
ngx_http_broadcast_wa_given(json_t *v)
{
    return v != NULL && !json_is_null(v);
}


/* the request's content members, as given (NULL when absent) */
typedef struct {
    json_t  *body;
    json_t  *media_urls;
    json_t  *content_sid;
    json_t  *content_variables;
    json_t  *template;
    json_t  *media;
} ngx_http_broadcast_wa_content_t;


static void
ngx_http_broadcast_wa_nomem(ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
}


/*
 * a WhatsApp sender address: meta:<phone-number-id>, or whatsapp:+E164 (a
 * bare +E164 gets the prefix), into out (NGX_HTTP_BROADCAST_ADDR_MAX
 * bytes); 0, or -1 when it is neither
 */
int
ngx_http_broadcast_wa_sender(const char *s, size_t len, char *out)
{
    char         e164[BC_PHONE_MAX];
    size_t       i;
    const char  *reason;

    if (len > NGX_HTTP_BROADCAST_META_PREFIX_LEN
        && ngx_strncmp(s, NGX_HTTP_BROADCAST_META_PREFIX,
                       NGX_HTTP_BROADCAST_META_PREFIX_LEN) == 0)
    {
        if (len > 64) {
            return -1;
        }

        for (i = NGX_HTTP_BROADCAST_META_PREFIX_LEN; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return -1;
            }
        }

        ngx_memcpy(out, s, len);
        out[len] = '\0';

        return 0;
    }

    if (len > BC_WA_PREFIX_LEN && bc_wa_prefixed(s, len)) {
        s += BC_WA_PREFIX_LEN;
        len -= BC_WA_PREFIX_LEN;
    }

    if (len == 0 || s[0] != '+'
        || ngx_http_broadcast_phone(s, len, "US", e164, &reason) != 0)
    {
        return -1;
    }

    snprintf(out, NGX_HTTP_BROADCAST_ADDR_MAX, BC_WA_PREFIX "%s", e164);

    return 0;
}


/*
 * the sender (from_address, else broadcast_whatsapp_from), and with it the
 * provider; 0, or -1 with ctx's error set
 */
static int
ngx_http_broadcast_wa_from(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_loc_conf_t *lcf, json_t *jfrom, char *from)
{
    const char  *s;

    if (!ngx_http_broadcast_wa_given(jfrom)) {
        if (lcf->whatsapp_from.len == 0) {
            ngx_http_broadcast_api_error(ctx, 422, "invalid_request",
                "no sender: give from_address (no broadcast_whatsapp_from "
                "default is configured)");
            return -1;
        }

        ngx_cpystrn((u_char *) from, lcf->whatsapp_from.data,
                    ngx_min(NGX_HTTP_BROADCAST_ADDR_MAX,
                            lcf->whatsapp_from.len + 1));
        return 0;
    }

    s = json_string_value(jfrom);

    if (s != NULL
        && ngx_http_broadcast_wa_sender(s, json_string_length(jfrom), from)
           == 0)
    {
        return 0;
    }

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "from_address must be whatsapp:+E164 (Twilio) or "
        "meta:<phone-number-id> (Meta)");
    return -1;
}


/* Twilio's content_sid and content_variables into extra; 0 or -1 */
static int
ngx_http_broadcast_wa_twilio_template(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_wa_content_t *c, json_t *extra)
{
    char        *dump;
    json_t      *v;
    const char  *key;

    if (!ngx_http_broadcast_twilio_sid(c->content_sid, "HX")) {
        goto bad_csid;
    }

    json_object_set(extra, "content_sid", c->content_sid);

    if (!ngx_http_broadcast_wa_given(c->content_variables)) {
        return 0;
    }

    if (!json_is_object(c->content_variables)
        || json_object_size(c->content_variables)
           > NGX_HTTP_BROADCAST_WA_MAX_VARS)
    {
        goto bad_vars;
    }

    json_object_foreach(c->content_variables, key, v) {
        if (!json_is_string(v) || strlen(key) == 0 || strlen(key) > 16) {
            goto bad_vars;
        }
    }

    dump = json_dumps(c->content_variables, JSON_COMPACT);
    if (dump == NULL) {
        ngx_http_broadcast_wa_nomem(ctx);
        return -1;
    }

    json_object_set_new(extra, "content_variables", json_string(dump));
    free(dump);

    return 0;

bad_csid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "content_sid must be HX followed by 32 hex digits");
    return -1;

bad_vars:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "content_variables must be an object of at most %d string values "
        "with keys of 1 to 16 characters", NGX_HTTP_BROADCAST_WA_MAX_VARS);
    return -1;
}


/*
 * Twilio's content: content_sid (a template), or body and/or media_urls;
 * the job's extra (pool-owned), or NULL with ctx's error set
 */
static json_t *
ngx_http_broadcast_wa_twilio_extra(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_wa_content_t *c,
    ngx_uint_t *freeform)
{
    size_t   i, nkinds;
    json_t  *extra, *v;

    if (ngx_http_broadcast_wa_given(c->template)
        || ngx_http_broadcast_wa_given(c->media))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "template and media are for Meta senders "
            "(from_address meta:<phone-number-id>); with a Twilio sender "
            "use content_sid or media_urls");
        return NULL;
    }

    nkinds = (ngx_http_broadcast_wa_given(c->content_sid) ? 1 : 0)
             + ((json_is_string(c->body)
                 || ngx_http_broadcast_wa_given(c->media_urls)) ? 1 : 0);

    if (nkinds != 1) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", nkinds ? "give either content_sid (a "
            "template) or body and/or media_urls, not both"
            : "give body and/or media_urls, or content_sid (with "
            "content_variables)");
        return NULL;
    }

    extra = json_object();
    if (extra == NULL) {
        ngx_http_broadcast_wa_nomem(ctx);
        return NULL;
    }

    ngx_http_broadcast_json_pool(r, extra);

    if (ngx_http_broadcast_wa_given(c->content_sid)) {
        *freeform = 0;

        return ngx_http_broadcast_wa_twilio_template(ctx, c, extra) == 0
               ? extra : NULL;
    }

    if (ngx_http_broadcast_wa_given(c->content_variables)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "content_variables requires content_sid");
        return NULL;
    }

    if (ngx_http_broadcast_wa_given(c->media_urls)) {
        if (!json_is_array(c->media_urls)
            || json_array_size(c->media_urls) == 0
            || json_array_size(c->media_urls)
               > NGX_HTTP_BROADCAST_WA_MAX_MEDIA)
        {
            goto bad_urls;
        }

        json_array_foreach(c->media_urls, i, v) {
            if (!ngx_http_broadcast_wa_url(v)) {
                goto bad_urls;
            }
        }

        json_object_set(extra, "media_urls", c->media_urls);
    }

    return extra;

bad_urls:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "media_urls must be an array of 1 to %d http(s) URLs",
        NGX_HTTP_BROADCAST_WA_MAX_MEDIA);
    return NULL;
}


/*
 * Meta's content: exactly one of body, template or media, as the Cloud
 * API's message object; the job's extra (pool-owned), or NULL with ctx's
 * error set
 */
static json_t *
ngx_http_broadcast_wa_meta_extra(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_wa_content_t *c,
    ngx_uint_t *freeform)
{
    size_t   nkinds;
    json_t  *msg, *extra;

    if (ngx_http_broadcast_wa_given(c->content_sid)
        || ngx_http_broadcast_wa_given(c->content_variables)
        || ngx_http_broadcast_wa_given(c->media_urls))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "content_sid, content_variables and "
            "media_urls are for Twilio senders; with a Meta sender use "
            "body, template or media");
        return NULL;
    }

    nkinds = (json_is_string(c->body) ? 1 : 0)
             + (ngx_http_broadcast_wa_given(c->template) ? 1 : 0)
             + (ngx_http_broadcast_wa_given(c->media) ? 1 : 0);

    if (nkinds != 1) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "give exactly one of body, template or "
            "media (%u given)", (unsigned) nkinds);
        return NULL;
    }

    if (json_is_string(c->body)) {
        msg = json_pack("{s:s,s:{s:O}}", "type", "text", "text", "body",
                        c->body);

    } else if (ngx_http_broadcast_wa_given(c->template)) {
        msg = ngx_http_broadcast_wa_meta_template(ctx, c->template);
        *freeform = 0;

    } else {
        msg = ngx_http_broadcast_wa_meta_media(ctx, c->media);
    }

    if (msg == NULL) {
        if (ctx->code == NULL) {
            ngx_http_broadcast_wa_nomem(ctx);
        }

        return NULL;
    }

    extra = ngx_http_broadcast_json_pool(r,
                json_pack("{s:o}", "message", msg));
    if (extra == NULL) {
        ngx_http_broadcast_wa_nomem(ctx);
    }

    return extra;
}


/*
 * what the messages table shows as body: the text, a template's name, the
 * caption or link of media; 0, or -1 (nomem)
 */
static int
ngx_http_broadcast_wa_text(ngx_http_request_t *r,
    ngx_http_broadcast_wa_content_t *c, json_t *extra, const char **text,
    size_t *text_len)
{
    char        *buf;
    size_t       len;
    json_t      *v;
    const char  *s;

    if (json_is_string(c->body)) {
        s = json_string_value(c->body);
        len = json_string_length(c->body);

    } else if (ngx_http_broadcast_wa_given(c->content_sid)) {
        /* as the predecessor stored it: "template:<sid> variables:<json>" */
        v = json_object_get(extra, "content_variables");
        len = json_string_length(c->content_sid) + 32
              + json_string_length(v);
        buf = ngx_pnalloc(r->pool, len);
        if (buf == NULL) {
            return -1;
        }

        len = snprintf(buf, len, "template:%s variables:%s",
                       json_string_value(c->content_sid),
                       json_is_string(v) ? json_string_value(v) : "{}");
        s = buf;

    } else if (ngx_http_broadcast_wa_given(c->template)) {
        v = json_object_get(json_object_get(
                json_object_get(extra, "message"), "template"), "name");
        len = json_string_length(v) + 16;
        buf = ngx_pnalloc(r->pool, len);
        if (buf == NULL) {
            return -1;
        }

        len = snprintf(buf, len, "template:%s", json_string_value(v));
        s = buf;

    } else if (ngx_http_broadcast_wa_given(c->media)) {
        v = json_object_get(c->media, "caption");
        s = json_is_string(v) ? json_string_value(v)
                              : json_string_value(json_object_get(c->media,
                                                                  "link"));
        len = strlen(s);

    } else {
        /* media_urls only */
        s = json_string_value(json_array_get(c->media_urls, 0));
        len = strlen(s);
    }

    *text = s;
    *text_len = len;

    return 0;
}


/*
 * loop: a send by template_id: no content of its own; the thread renders
 * the template into the text and extra (msgtpl_preview.c) and decides the
 * 24 h window (a text template needs it, a provider template does not)
 */
static void
ngx_http_broadcast_wa_by_template(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body, json_t *json,
    json_t *recipients, const char *from, ngx_uint_t meta)
{
    static const char  *content[] = {
        "body", "media_urls", "content_sid", "content_variables", "template",
        "media", NULL
    };

    json_t                         *extra;
    ngx_uint_t                      i;
    ngx_http_broadcast_batch_t     *b;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    for (i = 0; content[i]; i++) {
        if (ngx_http_broadcast_wa_given(json_object_get(json, content[i]))) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "give %s or template_id, not both",
                content[i]);
            return;
        }
    }

    extra = ngx_http_broadcast_json_pool(r, json_object());
    if (extra == NULL) {
        ngx_http_broadcast_wa_nomem(ctx);
        return;
    }

    b = ngx_http_broadcast_batch_new(r, ctx, "", 0);
    if (b == NULL
        || ngx_http_broadcast_batch_set(r, ctx, b, "whatsapp",
                                        meta ? "meta" : "twilio", from, extra)
           != 0
        || ngx_http_broadcast_msgtpl_send_args(r, ctx, json, b) != 0)
    {
        return;
    }

    if (!ngx_http_broadcast_wa_configured(lcf, from)) {
        b->sender_set = BC_KEY_SENDERS_WHATSAPP;
    }

    ngx_http_broadcast_send_accept(r, ctx, body, b, recipients,
                                   meta ? ngx_http_broadcast_wa_meta_addr
                                        : ngx_http_broadcast_wa_twilio_addr,
                                   "none of the recipients is a valid "
                                   "phone number");
}


void
ngx_http_broadcast_whatsapp_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_str_t  *body = &args->body;

    char                             from[NGX_HTTP_BROADCAST_ADDR_MAX];
    size_t                           len;
    json_t                          *json, *recipients, *extra;
    ngx_uint_t                       meta, freeform;
    const char                      *s;
    ngx_http_broadcast_batch_t      *b;
    ngx_http_broadcast_loc_conf_t   *lcf;
    ngx_http_broadcast_wa_content_t  c;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    json = ngx_http_broadcast_send_parse(r, ctx, body, &recipients);
    if (json == NULL) {
        return;
    }

    c.body = json_object_get(json, "body");
    c.media_urls = json_object_get(json, "media_urls");
    c.content_sid = json_object_get(json, "content_sid");
    c.content_variables = json_object_get(json, "content_variables");
    c.template = json_object_get(json, "template");
    c.media = json_object_get(json, "media");

    if (ngx_http_broadcast_wa_from(ctx, lcf,
                                   json_object_get(json, "from_address"),
                                   from)
        != 0)
    {
        return;
    }

    meta = (ngx_strncmp(from, NGX_HTTP_BROADCAST_META_PREFIX,
                        NGX_HTTP_BROADCAST_META_PREFIX_LEN) == 0);

    if (ngx_http_broadcast_wa_given(json_object_get(json, "template_id"))) {
        ngx_http_broadcast_wa_by_template(r, ctx, body, json, recipients,
                                          from, meta);
        return;
    }

    /* the content: exactly one kind */

    if (ngx_http_broadcast_wa_given(c.body) && !json_is_string(c.body)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "body must be a string");
        return;
    }

    if (json_is_string(c.body)
        && (json_string_length(c.body) == 0
            || ngx_http_broadcast_utf8_chars(json_string_value(c.body),
                                             json_string_length(c.body))
               > NGX_HTTP_BROADCAST_WA_MAX_BODY))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "body must be 1 to %d characters",
            NGX_HTTP_BROADCAST_WA_MAX_BODY);
        return;
    }

    freeform = 1;

    extra = meta ? ngx_http_broadcast_wa_meta_extra(r, ctx, &c, &freeform)
                 : ngx_http_broadcast_wa_twilio_extra(r, ctx, &c, &freeform);
    if (extra == NULL) {
        return;
    }

    if (ngx_http_broadcast_wa_text(r, &c, extra, &s, &len) != 0) {
        goto nomem;
    }

    b = ngx_http_broadcast_batch_new(r, ctx, s, len);
    if (b == NULL) {
        return;
    }

    if (ngx_http_broadcast_batch_set(r, ctx, b, "whatsapp",
                                     meta ? "meta" : "twilio", from, extra)
        != 0)
    {
        return;
    }

    b->window = freeform;

    /* the configured numbers are always allowed, others must be listed */
    if (!ngx_http_broadcast_wa_configured(lcf, from)) {
        b->sender_set = BC_KEY_SENDERS_WHATSAPP;
    }

    ngx_http_broadcast_send_accept(r, ctx, body, b, recipients,
                                   meta ? ngx_http_broadcast_wa_meta_addr
                                        : ngx_http_broadcast_wa_twilio_addr,
                                   "none of the recipients is a valid "
                                   "phone number");
    return;

nomem:

    ngx_http_broadcast_wa_nomem(ctx);
}
