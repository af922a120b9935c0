/*
 * POST /api/send/sms: the SMS content (text length, sender, messaging
 * service), then the common accept path (send_accept.c). Also the phone
 * number normalisation every channel uses, with its per-worker cache.
 */


#include "ngx_http_broadcast_send.h"

#include "bc_phone.h"


#define NGX_HTTP_BROADCAST_SMS_MAX_CHARS  1600


size_t
ngx_http_broadcast_utf8_chars(const char *s, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (((u_char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


/*
 * The rule of every value that becomes one line of a message header (an
 * e-mail's subject, a sender's display name): a string of min..max
 * characters without CR or LF, which would start another header line.
 */
ngx_int_t
ngx_http_broadcast_single_line(json_t *v, size_t min, size_t max)
{
    const char  *s;
    size_t       len, chars;

    if (!json_is_string(v)) {
        return 0;
    }

    s = json_string_value(v);
    len = json_string_length(v);
    chars = ngx_http_broadcast_utf8_chars(s, len);

    return chars >= min && chars <= max && memchr(s, '\r', len) == NULL
           && memchr(s, '\n', len) == NULL;
}


/*
 * loop only (one per worker, no locking): recently normalised numbers.
 * bc_phone_normalize is a pure function of (input, region) and costs a
 * libphonenumber parse with ICU regexes; senders repeat recipients, so the
 * successes are remembered in a small direct-mapped table. Failures are
 * not cached (their reason text is the library's).
 */

#define NGX_HTTP_BROADCAST_PHONE_CACHE  1024
#define NGX_HTTP_BROADCAST_PHONE_IN     40

typedef struct {
    size_t   len;                              /* 0: empty slot */
    char     in[NGX_HTTP_BROADCAST_PHONE_IN];
    char     region[8];
    char     out[BC_PHONE_MAX];
} ngx_http_broadcast_phone_ent_t;

static ngx_http_broadcast_phone_ent_t
    ngx_http_broadcast_phone_cache[NGX_HTTP_BROADCAST_PHONE_CACHE];


/* out has room for BC_PHONE_MAX bytes */
int
ngx_http_broadcast_phone(const char *in, size_t len, const char *region,
    char *out, const char **reason)
{
    size_t                           rlen;
    uint32_t                         h;
    ngx_http_broadcast_phone_ent_t  *e;

    rlen = strlen(region);

    if (len == 0 || len >= NGX_HTTP_BROADCAST_PHONE_IN || rlen >= 8) {
        return bc_phone_normalize(in, len, region, out, reason);
    }

    h = ngx_murmur_hash2((u_char *) in, len) ^ (region[0] << 8 | region[1]);
    e = &ngx_http_broadcast_phone_cache[h % NGX_HTTP_BROADCAST_PHONE_CACHE];

    if (e->len == len
        && ngx_memcmp(e->in, in, len) == 0
        && ngx_strcmp(e->region, region) == 0)
    {
        ngx_memcpy(out, e->out, BC_PHONE_MAX);
        return 0;
    }

    if (bc_phone_normalize(in, len, region, out, reason) != 0) {
        return -1;
    }

    e->len = len;
    ngx_memcpy(e->in, in, len);
    ngx_memcpy(e->region, region, rlen + 1);
    ngx_memcpy(e->out, out, BC_PHONE_MAX);

    return 0;
}


static int
ngx_http_broadcast_sms_addr(ngx_http_request_t *r, const char *in,
    size_t len, char *to, char *peer, const char **reason)
{
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (ngx_http_broadcast_phone(in, len, (char *) lcf->default_country.data,
                                 to, reason)
        != 0)
    {
        return -1;
    }

    ngx_cpystrn((u_char *) peer, (u_char *) to, BC_PHONE_MAX);

    return 0;
}


/* a Twilio id: the two letters of prefix, then 32 hex digits; 1 or 0 */
ngx_uint_t
ngx_http_broadcast_twilio_sid(json_t *v, const char *prefix)
{
    size_t       i;
    const char  *s;

    s = json_string_value(v);

    if (s == NULL || json_string_length(v) != 34
        || s[0] != prefix[0] || s[1] != prefix[1])
    {
        return 0;
    }

    for (i = 2; i < 34; i++) {
        if (!isxdigit((u_char) s[i])) {
            return 0;
        }
    }

    return 1;
}


/*
 * loop: the SMS text of a request: "message" and, when "append_opt_out" is
 * true, "\n" and the configured footer; or, with "template_id", an empty
 * text the thread renders (msgtpl_preview.c). A batch, or NULL with ctx's
 * error set.
 */
static ngx_http_broadcast_batch_t *
ngx_http_broadcast_sms_content(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json)
{
    u_char                         *p;
    size_t                          len;
    json_t                         *msg, *tpl, *opt;
    ngx_str_t                      *footer;
    ngx_http_broadcast_batch_t     *b;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    msg = json_object_get(json, "message");
    tpl = json_object_get(json, "template_id");
    opt = json_object_get(json, "append_opt_out");

    footer = NULL;

    if (opt && !json_is_null(opt)) {
        if (!json_is_boolean(opt)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "append_opt_out must be true or false");
            return NULL;
        }

        if (json_is_true(opt)) {
            if (lcf->sms_opt_out_text.len == 0) {
                ngx_http_broadcast_api_error(ctx, 422,
                    "opt_out_text_not_configured", "append_opt_out needs "
                    "broadcast_sms_opt_out_text, which is not configured");
                return NULL;
            }

            footer = &lcf->sms_opt_out_text;
        }
    }

    if (tpl && !json_is_null(tpl)) {
        if (msg && !json_is_null(msg)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "give message or template_id, not both");
            return NULL;
        }

        b = ngx_http_broadcast_batch_new(r, ctx, "", 0);
        if (b == NULL
            || ngx_http_broadcast_msgtpl_send_args(r, ctx, json, b) != 0)
        {
            return NULL;
        }

        b->tpl_footer = footer;

        return b;
    }

    if (!json_is_string(msg) || json_string_length(msg) == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "message must be a non-empty string");
        return NULL;
    }

    p = (u_char *) json_string_value(msg);
    len = json_string_length(msg);

    if (footer) {
        p = ngx_pnalloc(r->pool, len + 1 + footer->len);
        if (p == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "internal_error", "out of memory");
            return NULL;
        }

        ngx_memcpy(p, json_string_value(msg), len);
        p[len++] = '\n';
        ngx_memcpy(p + len, footer->data, footer->len);
        len += footer->len;
    }

    if (ngx_http_broadcast_utf8_chars((char *) p, len)
        > NGX_HTTP_BROADCAST_SMS_MAX_CHARS)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "message must be at most %d characters%s",
            NGX_HTTP_BROADCAST_SMS_MAX_CHARS,
            footer ? " with the opt-out footer" : "");
        return NULL;
    }

    return ngx_http_broadcast_batch_new(r, ctx, (char *) p, len);
}


/* POST /api/send/sms: the SMS content, then the common accept path */
void
ngx_http_broadcast_send_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_str_t  *body = &args->body;

    json_t                         *json, *recipients, *from, *mss;
    const char                     *reason;
    ngx_http_broadcast_batch_t     *b;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    json = ngx_http_broadcast_send_parse(r, ctx, body, &recipients);
    if (json == NULL) {
        return;
    }

    from = json_object_get(json, "from_number");
    mss = json_object_get(json, "messaging_service_sid");

    b = ngx_http_broadcast_sms_content(r, ctx, json);
    if (b == NULL) {
        return;
    }

    ngx_memcpy(b->channel, "sms", sizeof("sms"));
    ngx_memcpy(b->provider, "twilio", sizeof("twilio"));

    if (from && !json_is_null(from)) {
        if (!json_is_string(from)
            || ngx_http_broadcast_phone(json_string_value(from),
                                        json_string_length(from), "US",
                                        b->from, &reason)
               != 0)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "from_number must be an E.164 phone "
                "number such as +15005550006");
            return;
        }
    }

    if (mss && !json_is_null(mss)) {
        if (!ngx_http_broadcast_twilio_sid(mss, "MG")) {
            goto bad_mss;
        }

        ngx_cpystrn((u_char *) b->mss, (u_char *) json_string_value(mss),
                    sizeof(b->mss));
    }

    if (b->from[0] == '\0' && b->mss[0] == '\0') {
        if (lcf->sms_from.len == 0) {
            ngx_http_broadcast_api_error(ctx, 422, "invalid_request",
                "no sender: give from_number or messaging_service_sid (no "
                "broadcast_sms_from default is configured)");
            return;
        }

        ngx_cpystrn((u_char *) b->from, lcf->sms_from.data,
                    sizeof(b->from));
    }

    ngx_http_broadcast_send_accept(r, ctx, body, b, recipients,
                                   ngx_http_broadcast_sms_addr,
                                   "none of the recipients is a valid "
                                   "phone number");
    return;

bad_mss:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "messaging_service_sid must be MG followed by 32 hex digits");
}
