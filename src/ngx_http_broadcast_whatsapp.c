/*
 * POST /api/send/whatsapp: the sender picks the provider (whatsapp:+E164 is
 * Twilio, meta:<phone-number-id> is the Cloud API), exactly one kind of
 * content is validated into the job's "extra" (docs/DESIGN.md),
 * and the batch goes through the common accept path of send.c, which also
 * checks the sender whitelist and the 24-hour window of free-form messages.
 */


#include "ngx_http_broadcast_api.h"

#include "bc_addr.h"
#include "bc_phone.h"


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
           && len == sizeof("meta:") - 1 + pid->len
           && ngx_strncmp(from, "meta:", sizeof("meta:") - 1) == 0
           && ngx_strncmp(from + sizeof("meta:") - 1, pid->data, pid->len)
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


/* the Meta message object of "media"; NULL with ctx's error set */
static json_t *
ngx_http_broadcast_wa_meta_media(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *m)
{
    json_t      *type, *link, *caption, *filename, *obj;
    const char  *t;

    type = json_object_get(m, "type");
    link = json_object_get(m, "link");
    caption = json_object_get(m, "caption");
    filename = json_object_get(m, "filename");

    t = json_string_value(type);

    if (!json_is_object(m) || t == NULL
        || (strcmp(t, "image") != 0 && strcmp(t, "document") != 0
            && strcmp(t, "audio") != 0 && strcmp(t, "video") != 0))
    {
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
        && (!json_is_string(caption) || strcmp(t, "audio") == 0
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
        && (!json_is_string(filename) || strcmp(t, "document") != 0
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


void
ngx_http_broadcast_whatsapp_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body)
{
    char                            from[NGX_HTTP_BROADCAST_ADDR_MAX];
    char                            e164[BC_PHONE_MAX];
    char                           *text, *dump;
    size_t                          i, len, nkinds;
    json_t                         *json, *recipients, *jfrom, *jbody, *media,
                                   *urls, *csid, *cvars, *tmpl, *extra, *msg,
                                   *v;
    ngx_uint_t                      meta, freeform;
    const char                     *s, *key, *reason;
    ngx_http_broadcast_batch_t     *b;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    ctx->need = NGX_HTTP_BROADCAST_NEED_SEND;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    recipients = json_object_get(json, "recipients");
    jfrom = json_object_get(json, "from_address");
    jbody = json_object_get(json, "body");
    urls = json_object_get(json, "media_urls");
    csid = json_object_get(json, "content_sid");
    cvars = json_object_get(json, "content_variables");
    tmpl = json_object_get(json, "template");
    media = json_object_get(json, "media");

    if (ngx_http_broadcast_send_recipients(r, ctx, recipients) != 0) {
        return;
    }

    /* the sender, and with it the provider */

    if (ngx_http_broadcast_wa_given(jfrom)) {
        s = json_string_value(jfrom);
        len = json_string_length(jfrom);

        if (s == NULL) {
            goto bad_from;
        }

        if (len > 5 && ngx_strncmp(s, "meta:", 5) == 0) {
            if (len > 64) {
                goto bad_from;
            }

            for (i = 5; i < len; i++) {
                if (s[i] < '0' || s[i] > '9') {
                    goto bad_from;
                }
            }

            ngx_memcpy(from, s, len);
            from[len] = '\0';

        } else {
            if (len > BC_WA_PREFIX_LEN && bc_wa_prefixed(s, len)) {
                s += BC_WA_PREFIX_LEN;
                len -= BC_WA_PREFIX_LEN;
            }

            if (len == 0 || s[0] != '+'
                || ngx_http_broadcast_phone(s, len, "US", e164, &reason) != 0)
            {
                goto bad_from;
            }

            snprintf(from, sizeof(from), BC_WA_PREFIX "%s", e164);
        }

    } else if (lcf->whatsapp_from.len) {
        ngx_cpystrn((u_char *) from, lcf->whatsapp_from.data,
                    ngx_min(sizeof(from), lcf->whatsapp_from.len + 1));

    } else {
        ngx_http_broadcast_api_error(ctx, 422, "invalid_request",
            "no sender: give from_address (no broadcast_whatsapp_from "
            "default is configured)");
        return;
    }

    meta = (ngx_strncmp(from, "meta:", 5) == 0);

    /* the content: exactly one kind */

    if (ngx_http_broadcast_wa_given(jbody) && !json_is_string(jbody)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "body must be a string");
        return;
    }

    if (json_is_string(jbody)
        && (json_string_length(jbody) == 0
            || ngx_http_broadcast_utf8_chars(json_string_value(jbody),
                                             json_string_length(jbody))
               > NGX_HTTP_BROADCAST_WA_MAX_BODY))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "body must be 1 to %d characters",
            NGX_HTTP_BROADCAST_WA_MAX_BODY);
        return;
    }

    extra = NULL;
    text = NULL;
    freeform = 1;

    if (!meta) {
        if (ngx_http_broadcast_wa_given(tmpl)
            || ngx_http_broadcast_wa_given(media))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "template and media are for Meta senders "
                "(from_address meta:<phone-number-id>); with a Twilio sender "
                "use content_sid or media_urls");
            return;
        }

        nkinds = (ngx_http_broadcast_wa_given(csid) ? 1 : 0)
                 + ((json_is_string(jbody) || ngx_http_broadcast_wa_given(urls))
                    ? 1 : 0);

        if (nkinds != 1) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", nkinds ? "give either content_sid (a "
                "template) or body and/or media_urls, not both"
                : "give body and/or media_urls, or content_sid (with "
                "content_variables)");
            return;
        }

        extra = json_object();
        if (extra == NULL) {
            goto nomem;
        }

        ngx_http_broadcast_json_pool(r, extra);

        if (ngx_http_broadcast_wa_given(csid)) {
            s = json_string_value(csid);

            if (s == NULL || json_string_length(csid) != 34
                || s[0] != 'H' || s[1] != 'X')
            {
                goto bad_csid;
            }

            for (i = 2; i < 34; i++) {
                if (!isxdigit((u_char) s[i])) {
                    goto bad_csid;
                }
            }

            json_object_set(extra, "content_sid", csid);
            freeform = 0;

            if (ngx_http_broadcast_wa_given(cvars)) {
                if (!json_is_object(cvars)
                    || json_object_size(cvars) > NGX_HTTP_BROADCAST_WA_MAX_VARS)
                {
                    goto bad_vars;
                }

                json_object_foreach(cvars, key, v) {
                    if (!json_is_string(v) || strlen(key) == 0
                        || strlen(key) > 16)
                    {
                        goto bad_vars;
                    }
                }

                dump = json_dumps(cvars, JSON_COMPACT);
                if (dump == NULL) {
                    goto nomem;
                }

                json_object_set_new(extra, "content_variables",
                                    json_string(dump));
                free(dump);
            }

        } else {
            if (ngx_http_broadcast_wa_given(cvars)) {
                ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                    "invalid_request",
                    "content_variables requires content_sid");
                return;
            }

            if (ngx_http_broadcast_wa_given(urls)) {
                if (!json_is_array(urls) || json_array_size(urls) == 0
                    || json_array_size(urls) > NGX_HTTP_BROADCAST_WA_MAX_MEDIA)
                {
                    goto bad_urls;
                }

                json_array_foreach(urls, i, v) {
                    if (!ngx_http_broadcast_wa_url(v)) {
                        goto bad_urls;
                    }
                }

                json_object_set(extra, "media_urls", urls);
            }
        }

    } else {
        if (ngx_http_broadcast_wa_given(csid)
            || ngx_http_broadcast_wa_given(cvars)
            || ngx_http_broadcast_wa_given(urls))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "content_sid, content_variables and "
                "media_urls are for Twilio senders; with a Meta sender use "
                "body, template or media");
            return;
        }

        nkinds = (json_is_string(jbody) ? 1 : 0)
                 + (ngx_http_broadcast_wa_given(tmpl) ? 1 : 0)
                 + (ngx_http_broadcast_wa_given(media) ? 1 : 0);

        if (nkinds != 1) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "give exactly one of body, template or "
                "media (%u given)", (unsigned) nkinds);
            return;
        }

        if (json_is_string(jbody)) {
            msg = json_pack("{s:s,s:{s:O}}", "type", "text", "text", "body",
                            jbody);

        } else if (ngx_http_broadcast_wa_given(tmpl)) {
            msg = ngx_http_broadcast_wa_meta_template(ctx, tmpl);
            freeform = 0;

        } else {
            msg = ngx_http_broadcast_wa_meta_media(ctx, media);
        }

        if (msg == NULL) {
            if (ctx->code == NULL) {
                goto nomem;
            }

            return;
        }

        extra = ngx_http_broadcast_json_pool(r,
                    json_pack("{s:o}", "message", msg));
        if (extra == NULL) {
            goto nomem;
        }
    }

    /* what the messages table shows as body */

    if (json_is_string(jbody)) {
        s = json_string_value(jbody);
        len = json_string_length(jbody);
        text = NULL;

    } else if (ngx_http_broadcast_wa_given(csid)) {
        /* as the predecessor stored it: "template:<sid> variables:<json>" */
        v = json_object_get(extra, "content_variables");
        len = json_string_length(csid) + 32 + json_string_length(v);
        text = ngx_pnalloc(r->pool, len);
        if (text == NULL) {
            goto nomem;
        }

        len = snprintf(text, len, "template:%s variables:%s",
                       json_string_value(csid),
                       json_is_string(v) ? json_string_value(v) : "{}");
        s = text;

    } else if (ngx_http_broadcast_wa_given(tmpl)) {
        v = json_object_get(json_object_get(
                json_object_get(extra, "message"), "template"), "name");
        len = json_string_length(v) + 16;
        text = ngx_pnalloc(r->pool, len);
        if (text == NULL) {
            goto nomem;
        }

        len = snprintf(text, len, "template:%s", json_string_value(v));
        s = text;

    } else if (ngx_http_broadcast_wa_given(media)) {
        v = json_object_get(media, "caption");
        s = json_is_string(v) ? json_string_value(v)
                              : json_string_value(json_object_get(media,
                                                                  "link"));
        len = strlen(s);

    } else {
        /* media_urls only */
        s = json_string_value(json_array_get(urls, 0));
        len = strlen(s);
    }

    b = ngx_http_broadcast_batch_new(r, ctx, s, len);
    if (b == NULL) {
        return;
    }

    ngx_memcpy(b->channel, "whatsapp", sizeof("whatsapp"));
    ngx_cpystrn((u_char *) b->provider, (u_char *) (meta ? "meta" : "twilio"),
                sizeof(b->provider));
    ngx_cpystrn((u_char *) b->from, (u_char *) from, sizeof(b->from));

    dump = json_dumps(extra, JSON_COMPACT);
    if (dump == NULL) {
        goto nomem;
    }

    b->extra = ngx_alloc(strlen(dump) + 1, r->connection->log);
    if (b->extra == NULL) {
        free(dump);
        goto nomem;
    }

    ngx_memcpy(b->extra, dump, strlen(dump) + 1);
    free(dump);

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

bad_from:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "from_address must be whatsapp:+E164 (Twilio) or "
        "meta:<phone-number-id> (Meta)");
    return;

bad_csid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "content_sid must be HX followed by 32 hex digits");
    return;

bad_vars:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "content_variables must be an object of at most %d string values "
        "with keys of 1 to 16 characters", NGX_HTTP_BROADCAST_WA_MAX_VARS);
    return;

bad_urls:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "media_urls must be an array of 1 to %d http(s) URLs",
        NGX_HTTP_BROADCAST_WA_MAX_MEDIA);
    return;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
}
