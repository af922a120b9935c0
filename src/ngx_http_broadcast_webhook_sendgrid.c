/*
 * SendGrid webhooks (broadcast_webhook sendgrid):
 *
 *   POST <location>           Event Webhook: X-Twilio-Email-Event-Webhook-
 *                             Timestamp within broadcast_sendgrid_timestamp_
 *                             tolerance, ECDSA P-256 signature over
 *                             timestamp || raw body; the body is a JSON array
 *                             of events; kind email_events.
 *   POST <location>/inbound   Inbound Parse (multipart/form-data, the raw
 *                             body; ct keeps the boundary); kind
 *                             email_inbound.
 *
 * SendGrid does NOT sign Inbound Parse posts: the location must be
 * protected by a secret path, basic auth or allow/deny (conf.example).
 * Both kinds are deduplicated on sha256(body) and answered 200 (empty).
 *
 * Also the SendGrid directives (the verification key) and their merge and
 * check.
 */


#include "ngx_http_broadcast_webhook.h"

#include "bc_sig.h"
#include "bc_media.h"
#include "bc_multipart.h"
#include "bc_addr.h"

#include <openssl/err.h>
#include <openssl/evp.h>


/* routes, and indices in ngx_http_broadcast_sendgrid_kinds */
#define NGX_HTTP_BROADCAST_SG_EVENTS   0
#define NGX_HTTP_BROADCAST_SG_INBOUND  1


static ngx_int_t ngx_http_broadcast_sendgrid_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_sendgrid_route(ngx_http_request_t *r);
static void ngx_http_broadcast_sendgrid_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_sendgrid_events(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_broadcast_sendgrid_inbound(ngx_http_request_t *r,
    ngx_str_t *body);
static int ngx_http_broadcast_sendgrid_verify(void *key, const char *ts,
    size_t ts_len, const char *body, size_t body_len, const char *sig_b64,
    size_t sig_len);
static ngx_int_t ngx_http_broadcast_sendgrid_forbidden(ngx_http_request_t *r,
    ngx_uint_t stale, const char *why);
static char *ngx_http_broadcast_sendgrid_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf);
static char *ngx_http_broadcast_sendgrid_check(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf);
static void ngx_http_broadcast_sendgrid_key_cleanup(void *data);


static const char  *ngx_http_broadcast_sendgrid_kinds[] = {
    "email_events", "email_inbound", NULL
};


ngx_http_broadcast_provider_t  ngx_http_broadcast_sendgrid_provider = {
    ngx_string("sendgrid"),
    "SendGrid",
    ngx_http_broadcast_sendgrid_handler,
    ngx_http_broadcast_sendgrid_merge,
    ngx_http_broadcast_sendgrid_check,
    NULL,
    bc_status_sendgrid,
    NGX_HTTP_BROADCAST_CH(NGX_HTTP_BROADCAST_CH_EMAIL),
    ngx_http_broadcast_sendgrid_kinds,
    { 0 }, 0, 0
};


/*
 * Loop only (one event loop per worker process, no locking): the verify
 * setup bc_sendgrid_verify() repeats on every call (fetching SHA-256, a
 * new EVP_PKEY_CTX for the key and its verify_init) is done once per key
 * and worker; each call then hashes with a reused EVP_MD_CTX and verifies
 * the digest with the key's reused EVP_PKEY_CTX. Anything unusual falls
 * back to bc_sendgrid_verify(), which gives the same answer.
 */

#define NGX_HTTP_BROADCAST_SG_KEYS     8
#define NGX_HTTP_BROADCAST_SG_SIG_B64  256

typedef struct {
    void                            *key;        /* EVP_PKEY *, conf's */
    EVP_PKEY_CTX                    *pctx;
} ngx_http_broadcast_sg_verifier_t;

static EVP_MD                           *ngx_http_broadcast_sg_md;
static EVP_MD_CTX                       *ngx_http_broadcast_sg_mdctx;
static ngx_http_broadcast_sg_verifier_t
    ngx_http_broadcast_sg_verifiers[NGX_HTTP_BROADCAST_SG_KEYS];


static ngx_int_t
ngx_http_broadcast_sendgrid_handler(ngx_http_request_t *r)
{
    if (ngx_http_broadcast_sendgrid_route(r) == NGX_DECLINED) {
        return ngx_http_broadcast_webhook_not_found(r);
    }

    return ngx_http_broadcast_webhook_read(r,
                                           ngx_http_broadcast_sendgrid_body);
}


/* the location itself: events; .../inbound: Inbound Parse */
static ngx_int_t
ngx_http_broadcast_sendgrid_route(ngx_http_request_t *r)
{
    ngx_str_t                  uri, name;
    ngx_http_core_loc_conf_t  *clcf;

    uri = r->uri;

    while (uri.len > 1 && uri.data[uri.len - 1] == '/') {
        uri.len--;
    }

    if (uri.len >= 8
        && ngx_strncmp(uri.data + uri.len - 8, "/inbound", 8) == 0)
    {
        return NGX_HTTP_BROADCAST_SG_INBOUND;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

#if (NGX_PCRE)
    if (clcf->regex) {
        return NGX_HTTP_BROADCAST_SG_EVENTS;
    }
#endif

    name = clcf->name;

    while (name.len > 1 && name.data[name.len - 1] == '/') {
        name.len--;
    }

    if (uri.len == name.len && ngx_strncmp(uri.data, name.data, name.len) == 0)
    {
        return NGX_HTTP_BROADCAST_SG_EVENTS;
    }

    return NGX_DECLINED;
}


static void
ngx_http_broadcast_sendgrid_body(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    rc = ngx_http_broadcast_webhook_body_get(r, &body);

    if (rc == NGX_OK) {
        if (ngx_http_broadcast_sendgrid_route(r)
            == NGX_HTTP_BROADCAST_SG_INBOUND)
        {
            rc = ngx_http_broadcast_sendgrid_inbound(r, &body);

        } else {
            rc = ngx_http_broadcast_sendgrid_events(r, &body);
        }
    }

    ngx_http_finalize_request(r, rc);
}


/* the 403: a bad signature, or (stale) a timestamp outside the window */
static ngx_int_t
ngx_http_broadcast_sendgrid_forbidden(ngx_http_request_t *r, ngx_uint_t stale,
    const char *why)
{
    if (stale) {
        return ngx_http_broadcast_webhook_forbidden(r,
                   &ngx_http_broadcast_sendgrid_provider, "stale_timestamp",
                   "the X-Twilio-Email-Event-Webhook-Timestamp is missing or "
                   "outside the accepted window", why);
    }

    return ngx_http_broadcast_webhook_forbidden(r,
               &ngx_http_broadcast_sendgrid_provider, "invalid_signature",
               "the X-Twilio-Email-Event-Webhook-Signature header is missing "
               "or does not match", why);
}


static ngx_int_t
ngx_http_broadcast_sendgrid_events(ngx_http_request_t *r, ngx_str_t *body)
{
    size_t                          i;
    json_t                         *root, *e, *name;
    ngx_int_t                       rc;
    const char                     *s;
    ngx_table_elt_t                *sig, *ts;
    ngx_http_broadcast_event_t     *ev;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    sig = ngx_http_broadcast_header_in(r,
              "X-Twilio-Email-Event-Webhook-Signature");
    ts = ngx_http_broadcast_header_in(r,
             "X-Twilio-Email-Event-Webhook-Timestamp");

    if (sig == NULL || sig->value.len == 0 || ts == NULL || ts->value.len == 0)
    {
        return ngx_http_broadcast_sendgrid_forbidden(r, 0,
                   "no signature or timestamp");
    }

    if (!bc_sendgrid_timestamp_fresh((char *) ts->value.data, ts->value.len,
                                     (long) ngx_time(),
                                     (long) lcf->sendgrid_tolerance))
    {
        return ngx_http_broadcast_sendgrid_forbidden(r, 1,
                   "timestamp outside the tolerance");
    }

    /* the exact bytes received, trailing CRLF included */
    if (!ngx_http_broadcast_sendgrid_verify(lcf->sendgrid_key,
                                            (char *) ts->value.data,
                                            ts->value.len, (char *) body->data,
                                            body->len,
                                            (char *) sig->value.data,
                                            sig->value.len))
    {
        return ngx_http_broadcast_sendgrid_forbidden(r, 0,
                   "signature mismatch");
    }

    root = ngx_http_broadcast_webhook_json(r, body, JSON_ARRAY,
                                           "the body must be a JSON array "
                                           "of events", &rc);
    if (root == NULL) {
        return rc;
    }

    ev = ngx_http_broadcast_event_create(r,
             &ngx_http_broadcast_sendgrid_provider,
             NGX_HTTP_BROADCAST_SG_EVENTS, body);
    if (ev == NULL) {
        json_decref(root);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_array_foreach(root, i, e) {
        name = json_object_get(e, "event");
        s = json_is_string(name) ? json_string_value(name) : "";

        ngx_http_broadcast_event_status(ev,
                                        &ngx_http_broadcast_sendgrid_provider,
                                        NGX_HTTP_BROADCAST_CH_EMAIL, s);
    }

    json_decref(root);

    ev->reply = NGX_HTTP_BROADCAST_WH_REPLY_EMPTY;

    return ngx_http_broadcast_event_post(r, ev);
}


/*
 * Inbound Parse is not signed; SendGrid sends the credentials of the Parse
 * URL (https://user:password@host/...) as HTTP basic auth, compared here in
 * constant time. A wrong or missing one is 401 with a challenge, which
 * clients that wait for one answer with the credentials.
 */
static ngx_int_t
ngx_http_broadcast_sendgrid_inbound_auth(ngx_http_request_t *r,
    ngx_http_broadcast_loc_conf_t *lcf)
{
    ngx_table_elt_t  *h;

    if (lcf->sendgrid_inbound_basic.len == 0) {
        return NGX_DECLINED;
    }

    h = r->headers_in.authorization;

    if (h != NULL
        && bc_ct_equal(h->value.data, h->value.len,
                       lcf->sendgrid_inbound_basic.data,
                       lcf->sendgrid_inbound_basic.len))
    {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "broadcast: rejected SendGrid Inbound Parse \"%V\": %s",
                  &r->uri, h ? "wrong credentials" : "no credentials");

    ngx_http_broadcast_metric_add(
        ngx_http_broadcast_sendgrid_provider.sigfail, 1);

    if (ngx_http_broadcast_add_header(r, "WWW-Authenticate",
            (u_char *) "Basic realm=\"SendGrid Inbound Parse\"", 36)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_broadcast_send_error(r, NGX_HTTP_UNAUTHORIZED,
               "unauthorized", "Inbound Parse needs the credentials of its "
               "URL (broadcast_sendgrid_inbound_auth_file)");
}


/* a complete multipart body whose "from" is a mailbox (NGX_DECLINED);
   otherwise the 400 answered */
static ngx_int_t
ngx_http_broadcast_sendgrid_inbound_check(ngx_http_request_t *r,
    ngx_str_t *ct, ngx_str_t *body)
{
    char   boundary[BC_MP_BOUNDARY_MAX + 1], addr[BC_EMAIL_MAX + 1], *from;
    int    ok;

    if (bc_mp_boundary((char *) ct->data, ct->len, boundary) != 0) {
        return ngx_http_broadcast_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "malformed_multipart", "the multipart Content-Type has "
                   "no valid boundary");
    }

    if (!bc_mp_complete((char *) body->data, body->len, boundary)) {
        return ngx_http_broadcast_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "malformed_multipart", "the multipart body is truncated "
                   "or malformed (no closing boundary)");
    }

    from = bc_mp_field((char *) body->data, body->len, boundary, "from");
    ok = from != NULL && bc_email_mailbox(from, strlen(from), addr);
    free(from);

    if (!ok) {
        return ngx_http_broadcast_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid_from", "the mail's \"from\" field is missing or "
                   "holds no e-mail address");
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_broadcast_sendgrid_inbound(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t                       rc;
    ngx_str_t                       ct;
    ngx_http_broadcast_event_t     *ev;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    /* each check answers a refusal itself, NGX_DECLINED lets it pass */
    rc = ngx_http_broadcast_sendgrid_inbound_auth(r, lcf);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    ngx_str_null(&ct);
    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    }

    if (!bc_media_type_is((char *) ct.data, ct.len, "multipart/form-data")) {
        return ngx_http_broadcast_send_error(r,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                   "Inbound Parse posts multipart/form-data");
    }

    rc = ngx_http_broadcast_sendgrid_inbound_check(r, &ct, body);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    ev = ngx_http_broadcast_event_create(r,
             &ngx_http_broadcast_sendgrid_provider,
             NGX_HTTP_BROADCAST_SG_INBOUND, body);
    if (ev == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_broadcast_event_status(ev, &ngx_http_broadcast_sendgrid_provider,
                                    NGX_HTTP_BROADCAST_CH_EMAIL, "received");

    ev->reply = NGX_HTTP_BROADCAST_WH_REPLY_EMPTY;

    return ngx_http_broadcast_event_post(r, ev);
}


/* the key's verify context, set up on first use; NULL: use the fallback */
static EVP_PKEY_CTX *
ngx_http_broadcast_sendgrid_pctx(void *key)
{
    ngx_uint_t                         i;
    EVP_PKEY_CTX                      *pctx;
    ngx_http_broadcast_sg_verifier_t  *v;

    for (i = 0; i < NGX_HTTP_BROADCAST_SG_KEYS; i++) {
        v = &ngx_http_broadcast_sg_verifiers[i];

        if (v->key == key) {
            return v->pctx;
        }

        if (v->key == NULL) {
            break;
        }
    }

    if (i == NGX_HTTP_BROADCAST_SG_KEYS) {
        return NULL;
    }

    if (ngx_http_broadcast_sg_md == NULL) {
        ngx_http_broadcast_sg_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (ngx_http_broadcast_sg_md == NULL) {
            return NULL;
        }
    }

    if (ngx_http_broadcast_sg_mdctx == NULL) {
        ngx_http_broadcast_sg_mdctx = EVP_MD_CTX_new();
        if (ngx_http_broadcast_sg_mdctx == NULL) {
            return NULL;
        }
    }

    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (pctx == NULL) {
        return NULL;
    }

    if (EVP_PKEY_verify_init(pctx) != 1
        || EVP_PKEY_CTX_set_signature_md(pctx, ngx_http_broadcast_sg_md) != 1)
    {
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }

    /* the key is the configuration's and lives as long as the worker */
    v->key = key;
    v->pctx = pctx;

    return pctx;
}


/* bc_sendgrid_verify() with the setup reused: 1 valid, 0 not */
static int
ngx_http_broadcast_sendgrid_verify(void *key, const char *ts, size_t ts_len,
    const char *body, size_t body_len, const char *sig_b64, size_t sig_len)
{
    u_char         sig[NGX_HTTP_BROADCAST_SG_SIG_B64];
    u_char         md[EVP_MAX_MD_SIZE];
    size_t         n;
    unsigned int   md_len;
    EVP_MD_CTX    *mdctx;
    EVP_PKEY_CTX  *pctx;

    if (key == NULL || ts == NULL || sig_b64 == NULL
        || (body == NULL && body_len != 0)
        || sig_len == 0 || sig_len > NGX_HTTP_BROADCAST_SG_SIG_B64)
    {
        goto fallback;
    }

    pctx = ngx_http_broadcast_sendgrid_pctx(key);
    if (pctx == NULL) {
        goto fallback;
    }

    /* the same base64 rules as bc_sendgrid_verify(), no allocation */
    if (bc_base64_decode_into(sig_b64, sig_len, sig, sizeof(sig), &n) != 0) {
        return 0;
    }

    mdctx = ngx_http_broadcast_sg_mdctx;

    if (EVP_DigestInit_ex2(mdctx, ngx_http_broadcast_sg_md, NULL) != 1
        || EVP_DigestUpdate(mdctx, ts, ts_len) != 1
        || (body_len != 0 && EVP_DigestUpdate(mdctx, body, body_len) != 1)
        || EVP_DigestFinal_ex(mdctx, md, &md_len) != 1)
    {
        goto fallback;
    }

    if (EVP_PKEY_verify(pctx, sig, n, md, md_len) != 1) {
        ERR_clear_error();
        return 0;
    }

    return 1;

fallback:

    return bc_sendgrid_verify(key, ts, ts_len, body, body_len, sig_b64,
                              sig_len);
}


/* --- configuration ----------------------------------------------------- */


static char *
ngx_http_broadcast_sendgrid_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf)
{
    ngx_str_t  raw;

    ngx_conf_merge_ptr_value(conf->sendgrid_key, prev->sendgrid_key, NULL);
    ngx_conf_merge_sec_value(conf->sendgrid_tolerance,
                             prev->sendgrid_tolerance, 300);
    ngx_conf_merge_str_value(conf->sendgrid_inbound_auth,
                             prev->sendgrid_inbound_auth, "");

    raw = conf->sendgrid_inbound_auth;

    if (raw.len == 0 || conf->sendgrid_inbound_basic.len) {
        return NGX_CONF_OK;
    }

    if (ngx_strlchr(raw.data, raw.data + raw.len, ':') == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "broadcast_sendgrid_inbound_auth_file must hold "
                           "\"user:password\", the credentials of the "
                           "Inbound Parse URL");
        return NGX_CONF_ERROR;
    }

    /* the header SendGrid sends for https://user:password@host/... */
    conf->sendgrid_inbound_basic.data = ngx_pnalloc(cf->pool,
                                            6 + ngx_base64_encoded_length(
                                                    raw.len));
    if (conf->sendgrid_inbound_basic.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(conf->sendgrid_inbound_basic.data, "Basic ", 6);
    conf->sendgrid_inbound_basic.len = 6;

    {
        ngx_str_t  b64;

        b64.data = conf->sendgrid_inbound_basic.data + 6;
        ngx_encode_base64(&b64, &raw);
        conf->sendgrid_inbound_basic.len += b64.len;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_broadcast_sendgrid_check(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *conf)
{
    if (conf->sendgrid_key == NULL) {
        return ngx_http_broadcast_provider_requires(cf,
                   &ngx_http_broadcast_sendgrid_provider,
                   "broadcast_sendgrid_webhook_key");
    }

    return NGX_CONF_OK;
}


/* broadcast_sendgrid_webhook_key <base64 SPKI>: parsed once, here */
char *
ngx_http_broadcast_sendgrid_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_broadcast_loc_conf_t *lcf = conf;

    char                 err[256];
    void                *key;
    ngx_str_t           *value;
    ngx_pool_cleanup_t  *cln;

    if (lcf->sendgrid_key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    err[0] = '\0';

    key = bc_sendgrid_key_load((char *) value[1].data, value[1].len, err,
                               sizeof(err));
    if (key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key in broadcast_sendgrid_webhook_key "
                           "(expected the base64 DER P-256 public key "
                           "SendGrid shows): %s", err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_broadcast_sendgrid_key_cleanup;
    cln->data = key;

    lcf->sendgrid_key = key;

    return NGX_CONF_OK;
}


static void
ngx_http_broadcast_sendgrid_key_cleanup(void *data)
{
    bc_sendgrid_key_free(data);
}
