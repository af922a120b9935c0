/*
 * Twilio webhooks (broadcast_webhook twilio): X-Twilio-Signature over
 * broadcast_public_url + the URI as received; the form, or the JSON
 * variant signed with bodySHA256:
 *
 *   .../sms/status         kind sms_status, mid from the query
 *   .../whatsapp           kind whatsapp_status, mid from the query
 *   .../sms/inbound        kind sms_inbound
 *   .../whatsapp/inbound   kind whatsapp_inbound, opens bc:{ev}:wawin:<To>:<From>
 *   .../call               call status: metrics only, nothing queued
 *
 * "broadcast_webhook twilio <kind>" (a row's name: sms_status, ...) makes a
 * location answer that row whatever its path, so callback URLs configured
 * at Twilio by an earlier console (e.g. /webhooks/message) need one
 * location each instead of a new URL; the signature still covers the URL
 * as received.
 *
 * Also the Twilio directives (public URL, account SID) and their merge
 * and check.
 */


#include "ngx_http_broadcast_metrics.h"

#include "bc_addr.h"
#include "bc_form.h"
#include "bc_id.h"
#include "bc_sig.h"


/* what a route does with a verified request */
#define NGX_HTTP_BROADCAST_TW_STATUS   0    /* a message status callback */
#define NGX_HTTP_BROADCAST_TW_INBOUND  1    /* an inbound message */
#define NGX_HTTP_BROADCAST_TW_CALL     2    /* a call status: counted only */

/* indices in ngx_http_broadcast_twilio_kinds */
#define NGX_HTTP_BROADCAST_TW_KIND_SMS_STATUS   0
#define NGX_HTTP_BROADCAST_TW_KIND_WA_STATUS    1
#define NGX_HTTP_BROADCAST_TW_KIND_SMS_INBOUND  2
#define NGX_HTTP_BROADCAST_TW_KIND_WA_INBOUND   3


typedef struct {
    ngx_str_t                        name;       /* its kind in the conf */
    ngx_str_t                        suffix;
    ngx_uint_t                       what;       /* NGX_HTTP_BROADCAST_TW_* */
    ngx_uint_t                       kind;       /* status and inbound */
    ngx_uint_t                       channel;    /* status and inbound */
} ngx_http_broadcast_tw_route_t;


/* the form (or the JSON object of the bodySHA256 variant) Twilio sent */
typedef struct {
    bc_form_t                        form;
    json_t                          *json;
} ngx_http_broadcast_tw_params_t;


static ngx_int_t ngx_http_broadcast_twilio_handler(ngx_http_request_t *r);
static ngx_http_broadcast_tw_route_t *ngx_http_broadcast_twilio_route(
    ngx_http_request_t *r);
static void ngx_http_broadcast_twilio_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_twilio_handle(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_twilio_verify(ngx_http_request_t *r,
    ngx_str_t *body, ngx_http_broadcast_tw_params_t *pr, const char **why);
static ngx_int_t ngx_http_broadcast_twilio_inbound(
    ngx_http_broadcast_event_t *ev, ngx_http_broadcast_tw_route_t *rt,
    ngx_http_broadcast_tw_params_t *pr);
static void ngx_http_broadcast_twilio_status(ngx_http_request_t *r,
    ngx_http_broadcast_event_t *ev, ngx_http_broadcast_tw_route_t *rt,
    ngx_http_broadcast_tw_params_t *pr);
static const char *ngx_http_broadcast_tw_get(
    ngx_http_broadcast_tw_params_t *pr, const char *name);
static ngx_int_t ngx_http_broadcast_twilio_forbidden(ngx_http_request_t *r,
    const char *why);
static char *ngx_http_broadcast_twilio_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf);
static char *ngx_http_broadcast_twilio_check(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf);
static char *ngx_http_broadcast_twilio_kind(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf, ngx_str_t *kind);


/*
 * Matched by the end of the URI, so the location may have any prefix
 * (webhook URLs are configured at Twilio); no suffix ends another, so the
 * order of the rows does not matter
 */
static ngx_http_broadcast_tw_route_t  ngx_http_broadcast_tw_routes[] = {
    { ngx_string("whatsapp_inbound"), ngx_string("/whatsapp/inbound"),
      NGX_HTTP_BROADCAST_TW_INBOUND, NGX_HTTP_BROADCAST_TW_KIND_WA_INBOUND,
      NGX_HTTP_BROADCAST_CH_WHATSAPP },
    { ngx_string("sms_inbound"), ngx_string("/sms/inbound"),
      NGX_HTTP_BROADCAST_TW_INBOUND, NGX_HTTP_BROADCAST_TW_KIND_SMS_INBOUND,
      NGX_HTTP_BROADCAST_CH_SMS },
    { ngx_string("sms_status"), ngx_string("/sms/status"),
      NGX_HTTP_BROADCAST_TW_STATUS, NGX_HTTP_BROADCAST_TW_KIND_SMS_STATUS,
      NGX_HTTP_BROADCAST_CH_SMS },
    { ngx_string("whatsapp_status"), ngx_string("/whatsapp"),
      NGX_HTTP_BROADCAST_TW_STATUS, NGX_HTTP_BROADCAST_TW_KIND_WA_STATUS,
      NGX_HTTP_BROADCAST_CH_WHATSAPP },
    { ngx_string("call"), ngx_string("/call"), NGX_HTTP_BROADCAST_TW_CALL,
      0, 0 },
    { ngx_null_string, ngx_null_string, 0, 0, 0 }
};


static const char  *ngx_http_broadcast_twilio_kinds[] = {
    "sms_status", "whatsapp_status", "sms_inbound", "whatsapp_inbound", NULL
};


ngx_http_broadcast_provider_t  ngx_http_broadcast_twilio_provider = {
    ngx_string("twilio"),
    "Twilio",
    ngx_http_broadcast_twilio_handler,
    ngx_http_broadcast_twilio_merge,
    ngx_http_broadcast_twilio_check,
    ngx_http_broadcast_twilio_kind,
    bc_status_twilio,
    NGX_HTTP_BROADCAST_CH(NGX_HTTP_BROADCAST_CH_SMS)
    | NGX_HTTP_BROADCAST_CH(NGX_HTTP_BROADCAST_CH_WHATSAPP),
    ngx_http_broadcast_twilio_kinds,
    { 0 }, 0, 0
};


static ngx_http_broadcast_tw_route_t *
ngx_http_broadcast_twilio_route(ngx_http_request_t *r)
{
    ngx_http_broadcast_tw_route_t  *rt;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (lcf->webhook_kind) {
        return &ngx_http_broadcast_tw_routes[lcf->webhook_kind - 1];
    }

    for (rt = ngx_http_broadcast_tw_routes; rt->suffix.len; rt++) {
        if (r->uri.len >= rt->suffix.len
            && ngx_strncmp(r->uri.data + r->uri.len - rt->suffix.len,
                           rt->suffix.data, rt->suffix.len)
               == 0)
        {
            return rt;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_broadcast_twilio_handler(ngx_http_request_t *r)
{
    if (ngx_http_broadcast_twilio_route(r) == NULL) {
        return ngx_http_broadcast_webhook_not_found(r);
    }

    return ngx_http_broadcast_webhook_read(r, ngx_http_broadcast_twilio_body);
}


static void
ngx_http_broadcast_twilio_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_broadcast_twilio_handle(r));
}


static const char *
ngx_http_broadcast_tw_get(ngx_http_broadcast_tw_params_t *pr,
    const char *name)
{
    json_t  *v;

    if (pr->json) {
        v = json_object_get(pr->json, name);
        return json_is_string(v) ? json_string_value(v) : NULL;
    }

    return bc_form_get(&pr->form, name);
}


/* "+" and 1..15 digits */
static ngx_uint_t
ngx_http_broadcast_e164(const char *s, size_t len)
{
    size_t  i;

    if (len < 2 || len > 16 || s[0] != '+') {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_broadcast_twilio_forbidden(ngx_http_request_t *r, const char *why)
{
    return ngx_http_broadcast_webhook_forbidden(r,
               &ngx_http_broadcast_twilio_provider, "invalid_signature",
               "the X-Twilio-Signature header is missing or does not match",
               why);
}


static ngx_int_t
ngx_http_broadcast_twilio_handle(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        body;
    const char                      *account, *why;
    ngx_http_broadcast_event_t      *ev;
    ngx_http_broadcast_tw_route_t   *rt;
    ngx_http_broadcast_loc_conf_t   *lcf;
    ngx_http_broadcast_tw_params_t   pr;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    rt = ngx_http_broadcast_twilio_route(r);

    rc = ngx_http_broadcast_webhook_body_get(r, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&pr, sizeof(ngx_http_broadcast_tw_params_t));

    rc = ngx_http_broadcast_twilio_verify(r, &body, &pr, &why);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_broadcast_twilio_forbidden(r, why);
        goto done;
    }

    if (rc != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    account = ngx_http_broadcast_tw_get(&pr, "AccountSid");

    if (lcf->twilio_account_sid.len
        && (account == NULL
            || ngx_strlen(account) != lcf->twilio_account_sid.len
            || ngx_strncmp(account, lcf->twilio_account_sid.data,
                           lcf->twilio_account_sid.len) != 0))
    {
        rc = ngx_http_broadcast_twilio_forbidden(r, "AccountSid mismatch");
        goto done;
    }

    if (rt->what == NGX_HTTP_BROADCAST_TW_CALL) {
        /* call status callbacks: counted, nothing queued */
        rc = ngx_http_broadcast_twilio_call(r,
                 ngx_http_broadcast_tw_get(&pr, "CallSid"),
                 ngx_http_broadcast_tw_get(&pr, "CallStatus"));
        goto done;
    }

    ev = ngx_http_broadcast_event_create(r,
             &ngx_http_broadcast_twilio_provider, rt->kind, &body);
    if (ev == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (rt->what == NGX_HTTP_BROADCAST_TW_INBOUND) {
        if (ngx_http_broadcast_twilio_inbound(ev, rt, &pr) != NGX_OK) {
            ngx_http_broadcast_event_free(ev);
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

    } else {
        ngx_http_broadcast_twilio_status(r, ev, rt, &pr);
    }

    ev->reply = NGX_HTTP_BROADCAST_WH_REPLY_TWIML;

    rc = ngx_http_broadcast_event_post(r, ev);

done:

    bc_form_free(&pr.form);

    if (pr.json) {
        json_decref(pr.json);
    }

    return rc;
}


/* NGX_OK with pr filled in; NGX_DECLINED and why: a 403; NGX_ERROR */
static ngx_int_t
ngx_http_broadcast_twilio_verify(ngx_http_request_t *r, ngx_str_t *body,
    ngx_http_broadcast_tw_params_t *pr, const char **why)
{
    int                              valid;
    u_char                          *url, *p;
    size_t                           url_len;
    ngx_str_t                        ct;
    json_error_t                     jerr;
    ngx_table_elt_t                 *sig;
    ngx_http_broadcast_loc_conf_t   *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    *why = "signature mismatch";

    sig = ngx_http_broadcast_header_in(r, "X-Twilio-Signature");
    if (sig == NULL || sig->value.len == 0) {
        *why = "no signature";
        return NGX_DECLINED;
    }

    ngx_str_null(&ct);
    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    }

    /* the URL Twilio called: public base + path and query as received */
    url_len = lcf->public_url.len + r->unparsed_uri.len;
    url = ngx_pnalloc(r->pool, url_len + 1);
    if (url == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url, lcf->public_url.data, lcf->public_url.len);
    p = ngx_cpymem(p, r->unparsed_uri.data, r->unparsed_uri.len);
    *p = '\0';

    if (ct.len >= 16
        && ngx_strncasecmp(ct.data, (u_char *) "application/json", 16) == 0)
    {
        valid = bc_twilio_verify_json((char *) lcf->twilio_token.data,
                                      lcf->twilio_token.len, (char *) url,
                                      url_len, (char *) body->data, body->len,
                                      (char *) sig->value.data,
                                      sig->value.len);
        if (!valid) {
            return NGX_DECLINED;
        }

        /* verified: the fields, if the body is an object */
        pr->json = json_loadb((char *) body->data, body->len, 0, &jerr);
        if (pr->json && !json_is_object(pr->json)) {
            json_decref(pr->json);
            pr->json = NULL;
        }

        if (pr->json == NULL) {
            pr->json = json_object();
            if (pr->json == NULL) {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    if (bc_form_parse((char *) body->data, body->len, &pr->form) != 0) {
        *why = "malformed body";
        return NGX_DECLINED;
    }

    valid = bc_twilio_verify((char *) lcf->twilio_token.data,
                             lcf->twilio_token.len, (char *) url, url_len,
                             pr->form.items, pr->form.n,
                             (char *) sig->value.data, sig->value.len);

    return valid ? NGX_OK : NGX_DECLINED;
}


/* an inbound message: dedupe on MessageSid, the WhatsApp 24-hour window */
static ngx_int_t
ngx_http_broadcast_twilio_inbound(ngx_http_broadcast_event_t *ev,
    ngx_http_broadcast_tw_route_t *rt, ngx_http_broadcast_tw_params_t *pr)
{
    char         key[160];
    const char  *sid, *to, *to_number, *from;

    sid = ngx_http_broadcast_tw_get(pr, "MessageSid");

    /* without a MessageSid the body hash stays the dedupe key */
    if (sid && *sid) {
        ngx_snprintf((u_char *) key, sizeof(key) - 1, "in|%s%Z", sid);
        key[sizeof(key) - 1] = '\0';
        ngx_http_broadcast_sha256_hex(key, ngx_strlen(key), ev->dedup);
    }

    ngx_http_broadcast_event_status(ev, &ngx_http_broadcast_twilio_provider,
                                    rt->channel, "received");

    to = ngx_http_broadcast_tw_get(pr, "To");
    from = ngx_http_broadcast_tw_get(pr, "From");

    if (to == NULL || from == NULL) {
        return NGX_OK;
    }

    if (rt->channel != NGX_HTTP_BROADCAST_CH_WHATSAPP) {
        /* a STOP and then a START from one number keep their order */
        ngx_http_broadcast_event_order(ev, to, from);
        return NGX_OK;
    }

    /* the window: our whatsapp:+E164 (as Twilio sent it), the peer's +E164 */
    to_number = bc_wa_strip(to);
    from = bc_wa_strip(from);

    if (to_number == to
        || !ngx_http_broadcast_e164(to_number, ngx_strlen(to_number))
        || !ngx_http_broadcast_e164(from, ngx_strlen(from)))
    {
        return NGX_OK;
    }

    return ngx_http_broadcast_event_wawin(ev, (u_char *) to, ngx_strlen(to),
                                          (u_char *) from, ngx_strlen(from));
}


/* a message status callback: dedupe on sid|status|code, mid from the query */
static void
ngx_http_broadcast_twilio_status(ngx_http_request_t *r,
    ngx_http_broadcast_event_t *ev, ngx_http_broadcast_tw_route_t *rt,
    ngx_http_broadcast_tw_params_t *pr)
{
    char         key[160], mid[64];
    const char  *sid, *status, *code;

    sid = ngx_http_broadcast_tw_get(pr, "MessageSid");
    status = ngx_http_broadcast_tw_get(pr, "MessageStatus");
    code = ngx_http_broadcast_tw_get(pr, "ErrorCode");

    /* the JSON variant keeps the body hash */
    if (pr->json == NULL) {
        ngx_snprintf((u_char *) key, sizeof(key) - 1, "%s|%s|%s%Z",
                     sid ? sid : "", status ? status : "", code ? code : "");
        key[sizeof(key) - 1] = '\0';
        ngx_http_broadcast_sha256_hex(key, ngx_strlen(key), ev->dedup);
    }

    if (status == NULL) {
        status = "";
    }

    ngx_http_broadcast_event_status(ev, &ngx_http_broadcast_twilio_provider,
                                    rt->channel, status);
    ngx_http_broadcast_metric_twilio_failed(ev, status, code);

    if (r->args.len
        && bc_query_get((char *) r->args.data, r->args.len, "mid", mid,
                        sizeof(mid))
           == 1
        && bc_ulid_valid(mid, ngx_strlen(mid)))
    {
        ngx_cpystrn((u_char *) ev->mid, (u_char *) mid, sizeof(ev->mid));
    }
}


/* --- configuration ----------------------------------------------------- */


static char *
ngx_http_broadcast_twilio_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf)
{
    ngx_conf_merge_str_value(conf->public_url, prev->public_url, "");
    ngx_conf_merge_str_value(conf->twilio_token, prev->twilio_token, "");
    ngx_conf_merge_str_value(conf->twilio_account_sid,
                             prev->twilio_account_sid, "");
    ngx_conf_merge_str_value(conf->twilio_content_base,
                             prev->twilio_content_base,
                             "https://content.twilio.com");

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_twilio_check(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf)
{
    if (conf->twilio_token.len == 0) {
        return ngx_http_broadcast_provider_requires(cf,
                   &ngx_http_broadcast_twilio_provider,
                   "broadcast_twilio_auth_token_file");
    }

    if (conf->public_url.len == 0) {
        return ngx_http_broadcast_provider_requires(cf,
                   &ngx_http_broadcast_twilio_provider,
                   "broadcast_public_url");
    }

    return NGX_CONF_OK;
}


/* broadcast_webhook twilio <kind>: one row of the route table by name */
static char *
ngx_http_broadcast_twilio_kind(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf, ngx_str_t *kind)
{
    u_char                         names[256], *p, *last;
    ngx_http_broadcast_tw_route_t  *rt;

    for (rt = ngx_http_broadcast_tw_routes; rt->name.len; rt++) {
        if (rt->name.len == kind->len
            && ngx_strncmp(rt->name.data, kind->data, kind->len) == 0)
        {
            conf->webhook_kind = rt - ngx_http_broadcast_tw_routes + 1;
            return NGX_CONF_OK;
        }
    }

    p = names;
    last = names + sizeof(names);

    for (rt = ngx_http_broadcast_tw_routes; rt->name.len; rt++) {
        p = ngx_slprintf(p, last, "%s%V",
                         rt == ngx_http_broadcast_tw_routes ? "" : ", ",
                         &rt->name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown kind \"%V\" in broadcast_webhook twilio "
                       "(valid: %*s)", kind, (size_t) (p - names), names);

    return NGX_CONF_ERROR;
}


/* broadcast_twilio_account_sid AC<32 hex digits> */
char *
ngx_http_broadcast_twilio_account_sid(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (lcf->twilio_account_sid.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len != 34 || value[1].data[0] != 'A'
        || value[1].data[1] != 'C')
    {
        goto invalid;
    }

    for (i = 2; i < 34; i++) {
        if (!isxdigit(value[1].data[i])) {
            goto invalid;
        }
    }

    lcf->twilio_account_sid = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid Twilio account SID \"%V\" in "
                       "broadcast_twilio_account_sid (expected AC and 32 hex "
                       "digits)", &value[1]);
    return NGX_CONF_ERROR;
}
