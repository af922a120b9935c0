/*
 * Webhooks: the broadcast_webhook handler (dispatch by provider), the Twilio
 * routes, the queueing task every provider shares, and the configuration of
 * the webhook directives.
 *
 * Signatures are verified in the loop (CPU only) on the exact bytes
 * received; nothing happens for a bad one (403, no Redis access). A
 * verified event is deduplicated and queued to bc:stream:events by one Lua
 * script: EVALSHA on the worker's async Redis link (the send fast path's
 * machinery: same timeout, 503 when the link drops with the script in
 * flight, never re-sent), or, when that link is not up or the script is
 * not loaded (NOSCRIPT), EVAL in a thread task. The dedupe key is written
 * only together with the stream entry, so a failed attempt leaves nothing
 * that would make the provider's retry look like a duplicate.
 *
 * Twilio (X-Twilio-Signature over broadcast_public_url + the URI as
 * received; form or bodySHA256 JSON variant):
 *
 *   .../sms/status         kind sms_status, mid from the query
 *   .../whatsapp           kind whatsapp_status, mid from the query
 *   .../sms/inbound        kind sms_inbound
 *   .../whatsapp/inbound   kind whatsapp_inbound, opens bc:wawin:<To>:<From>
 *   .../call               call status: metrics only, nothing queued
 */


#include "ngx_http_broadcast_webhook.h"
#include "ngx_http_broadcast_lua.h"

#include "bc_conf.h"
#include "bc_form.h"
#include "bc_id.h"
#include "bc_sig.h"

#include <openssl/sha.h>


#define NGX_HTTP_BROADCAST_TW_SMS_STATUS   0
#define NGX_HTTP_BROADCAST_TW_WA_STATUS    1
#define NGX_HTTP_BROADCAST_TW_SMS_INBOUND  2
#define NGX_HTTP_BROADCAST_TW_WA_INBOUND   3
#define NGX_HTTP_BROADCAST_TW_CALL         4

#define NGX_HTTP_BROADCAST_WAWIN_TTL       "86400"
#define NGX_HTTP_BROADCAST_DEDUP_TTL       NGX_HTTP_BROADCAST_STR(BC_DEDUP_TTL_S)
#define NGX_HTTP_BROADCAST_STR(x)          NGX_HTTP_BROADCAST_STR2(x)
#define NGX_HTTP_BROADCAST_STR2(x)         #x


typedef struct {
    ngx_str_t                        suffix;
    ngx_uint_t                       route;
} ngx_http_broadcast_tw_route_t;


/* the form (or the JSON object of the bodySHA256 variant) Twilio sent */
typedef struct {
    bc_form_t                        form;
    json_t                          *json;
} ngx_http_broadcast_tw_params_t;


static ngx_int_t ngx_http_broadcast_twilio_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_twilio_route(ngx_http_request_t *r);
static void ngx_http_broadcast_twilio_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_twilio_handle(ngx_http_request_t *r);
static const char *ngx_http_broadcast_tw_get(
    ngx_http_broadcast_tw_params_t *pr, const char *name);
static void ngx_http_broadcast_event_run(void *data,
    ngx_http_broadcast_conn_t *conn);
static ngx_int_t ngx_http_broadcast_event_done(ngx_http_request_t *r,
    void *data);
static void ngx_http_broadcast_sendgrid_key_cleanup(void *data);


static ngx_str_t  ngx_http_broadcast_xml_type = ngx_string("text/xml");
static ngx_str_t  ngx_http_broadcast_no_type = ngx_null_string;

/* longest first: "/whatsapp/inbound" before "/whatsapp" */
static ngx_http_broadcast_tw_route_t  ngx_http_broadcast_tw_routes[] = {
    { ngx_string("/whatsapp/inbound"), NGX_HTTP_BROADCAST_TW_WA_INBOUND },
    { ngx_string("/sms/inbound"), NGX_HTTP_BROADCAST_TW_SMS_INBOUND },
    { ngx_string("/sms/status"), NGX_HTTP_BROADCAST_TW_SMS_STATUS },
    { ngx_string("/whatsapp"), NGX_HTTP_BROADCAST_TW_WA_STATUS },
    { ngx_string("/call"), NGX_HTTP_BROADCAST_TW_CALL },
    { ngx_null_string, 0 }
};


/*
 * KEYS[1] dedupe key, KEYS[2] the events stream, KEYS[3..] window keys;
 * ARGV provider, kind, mid, body, ct, at, dedupe TTL, window TTL.
 * Returns 1 queued, 0 duplicate. The XADD comes before any write, so an
 * error leaves nothing behind.
 */
static const char  ngx_http_broadcast_event_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('XADD', KEYS[2], '*', 'provider', ARGV[1], 'kind', ARGV[2],"
    " 'mid', ARGV[3], 'body', ARGV[4], 'ct', ARGV[5], 'at', ARGV[6])\n"
    "redis.call('SET', KEYS[1], '1', 'EX', ARGV[7])\n"
    "for i = 3, #KEYS do redis.call('SET', KEYS[i], '1', 'EX', ARGV[8]) end\n"
    "return 1\n";


ngx_int_t
ngx_http_broadcast_webhook_handler(ngx_http_request_t *r)
{
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    switch (lcf->webhook_provider) {

    case NGX_HTTP_BROADCAST_WH_SENDGRID:
        return ngx_http_broadcast_sendgrid_handler(r);

    case NGX_HTTP_BROADCAST_WH_META:
        return ngx_http_broadcast_meta_handler(r);

    default:
        return ngx_http_broadcast_twilio_handler(r);
    }
}


/* --- shared by the providers ------------------------------------------ */


/* POST only; reads the body (size-checked) and calls handler */
/* a path under a webhook location that names no endpoint: a JSON 404 */
ngx_int_t
ngx_http_broadcast_webhook_not_found(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_broadcast_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no such webhook endpoint");
}


ngx_int_t
ngx_http_broadcast_webhook_read(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_broadcast_send_405(r, "POST");
    }

    rc = ngx_http_broadcast_body_check(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_read_client_request_body(r, handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the raw body; NGX_OK, or a response already sent / an error status */
ngx_int_t
ngx_http_broadcast_webhook_body_get(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_int_t  rc;

    rc = ngx_http_broadcast_body_get(r, body);

    if (rc == NGX_DECLINED) {
        return ngx_http_broadcast_send_error(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                   "the body is too large");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* 403 for a request that failed verification; counted, no side effect */
ngx_int_t
ngx_http_broadcast_webhook_forbidden(ngx_http_request_t *r,
    ngx_uint_t provider, const char *code, const char *why)
{
    const char  *name, *message;

    ngx_http_broadcast_metric_add(ngx_http_broadcast_sigfail_index(provider),
                                  1);

    switch (provider) {

    case NGX_HTTP_BROADCAST_WH_SENDGRID:
        name = "SendGrid";
        message = (ngx_strcmp(code, "stale_timestamp") == 0)
                  ? "the X-Twilio-Email-Event-Webhook-Timestamp is missing "
                    "or outside the accepted window"
                  : "the X-Twilio-Email-Event-Webhook-Signature header is "
                    "missing or does not match";
        break;

    case NGX_HTTP_BROADCAST_WH_META:
        name = "Meta";
        message = "the X-Hub-Signature-256 header is missing or does not "
                  "match";
        break;

    default:
        name = "Twilio";
        message = "the X-Twilio-Signature header is missing or does not "
                  "match";
        break;
    }

    /* client noise; never log the signature, secrets or the body */
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "broadcast: rejected %s webhook \"%V\": %s",
                  name, &r->uri, why);

    return ngx_http_broadcast_send_error(r, NGX_HTTP_FORBIDDEN, code,
                                         message);
}


/* a heap event with a copy of the body; dedupe defaults to sha256(body) */
ngx_http_broadcast_event_t *
ngx_http_broadcast_event_create(ngx_http_request_t *r, const char *provider,
    const char *kind, ngx_str_t *body)
{
    size_t                       len;
    ngx_str_t                    ct;
    ngx_http_broadcast_event_t  *ev;

    ev = ngx_calloc(sizeof(ngx_http_broadcast_event_t), r->connection->log);
    if (ev == NULL) {
        return NULL;
    }

    ev->mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    ev->provider = provider;
    ev->kind = kind;

    ngx_str_null(&ct);
    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    }

    len = ngx_min(ct.len, 1024);

    ev->ct = ngx_alloc(len + 1, r->connection->log);
    ev->body = ngx_alloc(body->len + 1, r->connection->log);

    if (ev->ct == NULL || ev->body == NULL) {
        ngx_http_broadcast_event_free(ev);
        return NULL;
    }

    ngx_memcpy(ev->ct, ct.data, len);
    ev->ct[len] = '\0';

    ngx_memcpy(ev->body, body->data, body->len);
    ev->body[body->len] = '\0';
    ev->body_len = body->len;

    /* the dedupe key: sha256(body) unless the route sets one (event_post) */

    ev->at = (long long) ngx_time() * 1000 + (ngx_timeofday())->msec;

    ngx_http_broadcast_event_metric(ev,
                                    ngx_http_broadcast_event_index(provider,
                                                                   kind));

    return ev;
}


/* adds bc:wawin:<from>:<peer> to what the event's script sets */
ngx_int_t
ngx_http_broadcast_event_wawin(ngx_http_broadcast_event_t *ev,
    const u_char *from, size_t from_len, const u_char *peer, size_t peer_len)
{
    char   **keys, *key;
    size_t   len;

    keys = realloc(ev->wawin, (ev->nwawin + 1) * sizeof(char *));
    if (keys == NULL) {
        return NGX_ERROR;
    }

    ev->wawin = keys;

    len = sizeof("bc:wawin:") - 1 + from_len + 1 + peer_len;

    key = malloc(len + 1);
    if (key == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf((u_char *) key, "bc:wawin:%*s:%*s%Z", from_len, from,
                peer_len, peer);

    ev->wawin[ev->nwawin++] = key;

    return NGX_OK;
}


/* a counter to add if the event turns out new */
void
ngx_http_broadcast_event_metric(ngx_http_broadcast_event_t *ev,
    ngx_uint_t index)
{
    ngx_uint_t  i;

    for (i = 0; i < ev->nmetrics; i++) {
        if (ev->metrics[i] == index) {
            ev->counts[i]++;
            return;
        }
    }

    if (ev->nmetrics < NGX_HTTP_BROADCAST_WH_MAX_METRICS) {
        ev->metrics[ev->nmetrics] = index;
        ev->counts[ev->nmetrics++] = 1;
    }
}


/*
 * EVALSHA on the worker's async link; the thread path keeps EVAL, which
 * also loads it after a Redis restart or SCRIPT FLUSH (NOSCRIPT on the
 * link hands over to it).
 */
static ngx_http_broadcast_lua_t  ngx_http_broadcast_event_script =
    ngx_http_broadcast_lua_script(ngx_http_broadcast_event_lua);


#define NGX_HTTP_BROADCAST_EVENT_STACK_ARGS  32


/* loop: the script's reply on the worker's async link */
static ngx_int_t
ngx_http_broadcast_event_areply(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_broadcast_event_t *ev = data;

    if (reply == NULL) {
        /*
         * the link dropped with the script sent: it may have run, so it is
         * never re-sent; the provider's retry is deduplicated if it did
         */
        snprintf(ev->detail, sizeof(ev->detail),
                 "async link lost with the event in flight");
        ev->result = -1;

    } else if (reply->type == REDIS_REPLY_INTEGER) {
        /* 0: seen before, acknowledged and not queued again */
        ev->result = reply->integer == 1 ? 1 : 2;

    } else if (ngx_http_broadcast_lua_noscript(reply)) {
        /* nothing ran: the thread path EVALs (and so loads) the script */
        return NGX_DECLINED;

    } else {
        snprintf(ev->detail, sizeof(ev->detail), "script failed: %s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str
                                                  : "unexpected reply");
        ev->result = -1;
    }

    return ngx_http_broadcast_event_done(r, ev);
}


/* loop: the event's script on the async link; NGX_DECLINED: thread path */
static ngx_int_t
ngx_http_broadcast_event_loop(ngx_http_request_t *r,
    ngx_http_broadcast_event_t *ev, ngx_http_broadcast_task_conf_t *tc)
{
    int           argc, i;
    char          key[96], at[24], nkeys[16];
    size_t       *lens, lens_s[NGX_HTTP_BROADCAST_EVENT_STACK_ARGS];
    ngx_int_t     rc;
    ngx_uint_t    k;
    const char  **argv, *argv_s[NGX_HTTP_BROADCAST_EVENT_STACK_ARGS];

    argc = 3 + 2 + (int) ev->nwawin + 8;

    if (argc <= NGX_HTTP_BROADCAST_EVENT_STACK_ARGS) {
        argv = argv_s;
        lens = lens_s;

    } else {
        argv = malloc(argc * sizeof(char *));
        lens = malloc(argc * sizeof(size_t));

        if (argv == NULL || lens == NULL) {
            free(argv);
            free(lens);
            return NGX_DECLINED;
        }
    }

    ngx_http_broadcast_lua_evalsha(&ngx_http_broadcast_event_script, argv,
                                   lens);
    i = 2;

    argv[i] = nkeys;
    lens[i++] = ngx_sprintf((u_char *) nkeys, "%ui", 2 + ev->nwawin)
                - (u_char *) nkeys;
    argv[i] = key;
    lens[i++] = ngx_sprintf((u_char *) key, BC_KEY_DEDUP_PREFIX "%s",
                            ev->dedup)
                - (u_char *) key;
    argv[i] = BC_KEY_EVENTS_STREAM;
    lens[i++] = sizeof(BC_KEY_EVENTS_STREAM) - 1;

    for (k = 0; k < ev->nwawin; k++) {
        argv[i] = ev->wawin[k];
        lens[i++] = ngx_strlen(ev->wawin[k]);
    }

    argv[i] = ev->provider;
    lens[i++] = ngx_strlen(ev->provider);
    argv[i] = ev->kind;
    lens[i++] = ngx_strlen(ev->kind);
    argv[i] = ev->mid;
    lens[i++] = ngx_strlen(ev->mid);
    argv[i] = ev->body;
    lens[i++] = ev->body_len;             /* exact bytes, NULs included */
    argv[i] = ev->ct;
    lens[i++] = ngx_strlen(ev->ct);
    argv[i] = at;
    lens[i++] = ngx_sprintf((u_char *) at, "%L", (int64_t) ev->at)
                - (u_char *) at;
    argv[i] = NGX_HTTP_BROADCAST_DEDUP_TTL;
    lens[i++] = sizeof(NGX_HTTP_BROADCAST_DEDUP_TTL) - 1;
    argv[i] = NGX_HTTP_BROADCAST_WAWIN_TTL;
    lens[i++] = sizeof(NGX_HTTP_BROADCAST_WAWIN_TTL) - 1;

    /* hiredis formats the command at once: argv need not outlive this */
    rc = ngx_http_broadcast_aredis_post(r, tc, ngx_http_broadcast_event_areply,
                                        argc, argv, lens);

    if (argv != argv_s) {
        free(argv);
        free(lens);
    }

    return rc;
}


ngx_int_t
ngx_http_broadcast_event_post(ngx_http_request_t *r,
    ngx_http_broadcast_event_t *ev)
{
    ngx_int_t                       rc;
    ngx_http_broadcast_task_conf_t  tc;

    tc.run = ngx_http_broadcast_event_run;
    tc.done = ngx_http_broadcast_event_done;
    tc.timeout = NULL;
    tc.free = ngx_http_broadcast_event_free;
    tc.data = ev;

    if (ev->dedup[0] == '\0') {
        ngx_http_broadcast_sha256_hex(ev->body, ev->body_len, ev->dedup);
    }

    /* the async link when it is up; the thread path otherwise */
    rc = ngx_http_broadcast_event_loop(r, ev, &tc);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_broadcast_task_post(r, &tc);
}


static void
ngx_http_broadcast_event_run(void *data, ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_event_t *ev = data;

    int           argc, i;
    char          key[96], at[24], nkeys[16], dttl[16];
    ngx_uint_t    k;
    size_t       *lens;
    redisReply   *reply;
    const char  **argv;

    argc = 3 + 2 + (int) ev->nwawin + 8;

    argv = malloc(argc * sizeof(char *));
    lens = malloc(argc * sizeof(size_t));

    if (argv == NULL || lens == NULL) {
        free(argv);
        free(lens);
        snprintf(ev->detail, sizeof(ev->detail), "out of memory");
        ev->result = -1;
        return;
    }

    snprintf(key, sizeof(key), BC_KEY_DEDUP_PREFIX "%s", ev->dedup);
    snprintf(at, sizeof(at), "%lld", ev->at);
    snprintf(nkeys, sizeof(nkeys), "%d", 2 + (int) ev->nwawin);
    snprintf(dttl, sizeof(dttl), "%d", BC_DEDUP_TTL_S);

    ngx_http_broadcast_lua_eval(&ngx_http_broadcast_event_script, argv,
                                lens);
    i = 2;
    argv[i++] = nkeys;
    argv[i++] = key;
    argv[i++] = BC_KEY_EVENTS_STREAM;

    for (k = 0; k < ev->nwawin; k++) {
        argv[i++] = ev->wawin[k];
    }

    argv[i++] = ev->provider;
    argv[i++] = ev->kind;
    argv[i++] = ev->mid;
    argv[i++] = ev->body;
    argv[i++] = ev->ct;
    argv[i++] = at;
    argv[i++] = dttl;
    argv[i++] = NGX_HTTP_BROADCAST_WAWIN_TTL;

    for (i = 0; i < argc; i++) {
        lens[i] = strlen(argv[i]);
    }

    /* the body: exact bytes, NULs included */
    lens[argc - 5] = ev->body_len;

    reply = ngx_http_broadcast_redis_cmd(conn, ev->mcf, argc, argv, lens,
                                         ev->detail, sizeof(ev->detail));
    free(argv);
    free(lens);

    if (reply == NULL) {
        ev->result = -1;
        return;
    }

    /* 0: seen before, acknowledged and not queued again */
    ev->result = (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
                 ? 1 : 2;

    freeReplyObject(reply);
}


static ngx_int_t
ngx_http_broadcast_event_done(ngx_http_request_t *r, void *data)
{
    ngx_http_broadcast_event_t *ev = data;

    ngx_uint_t  i;

    if (ev->result < 0) {
        ngx_http_broadcast_metric_add(NGX_HTTP_BROADCAST_M_ERR_REDIS, 1);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: Redis: %s", ev->detail);

        /* a 5xx makes the provider retry the webhook later */
        return ngx_http_broadcast_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "redis_unavailable", "the queue is unavailable, retry");
    }

    if (ev->result == 1) {
        for (i = 0; i < ev->nmetrics; i++) {
            ngx_http_broadcast_metric_add(ev->metrics[i], ev->counts[i]);
        }
    }

    if (ev->reply == NGX_HTTP_BROADCAST_WH_REPLY_EMPTY) {
        return ngx_http_broadcast_send(r, NGX_HTTP_OK,
                                       &ngx_http_broadcast_no_type,
                                       (u_char *) "", 0);
    }

    return ngx_http_broadcast_send(r, NGX_HTTP_OK,
                                   &ngx_http_broadcast_xml_type,
                                   (u_char *) "<Response/>", 11);
}


void
ngx_http_broadcast_event_free(void *data)
{
    ngx_http_broadcast_event_t *ev = data;

    ngx_uint_t  i;

    for (i = 0; i < ev->nwawin; i++) {
        free(ev->wawin[i]);
    }

    free(ev->wawin);
    ngx_free(ev->body);
    ngx_free(ev->ct);
    ngx_free(ev);
}


/* --- Twilio ------------------------------------------------------------ */


static ngx_int_t
ngx_http_broadcast_twilio_route(ngx_http_request_t *r)
{
    ngx_http_broadcast_tw_route_t  *rt;

    for (rt = ngx_http_broadcast_tw_routes; rt->suffix.len; rt++) {
        if (r->uri.len >= rt->suffix.len
            && ngx_strncmp(r->uri.data + r->uri.len - rt->suffix.len,
                           rt->suffix.data, rt->suffix.len)
               == 0)
        {
            return rt->route;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_broadcast_twilio_handler(ngx_http_request_t *r)
{
    if (ngx_http_broadcast_twilio_route(r) == NGX_DECLINED) {
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
ngx_http_broadcast_twilio_handle(ngx_http_request_t *r)
{
    int                              valid, json;
    char                             key[160], mid[64];
    u_char                          *url, *p;
    size_t                           url_len;
    ngx_int_t                        rc, route;
    ngx_str_t                        body, ct;
    ngx_uint_t                       set;
    const char                      *sid, *status, *code, *account, *to;
    const char                      *from, *kind;
    json_error_t                     jerr;
    ngx_table_elt_t                 *sig;
    ngx_http_broadcast_event_t      *ev;
    ngx_http_broadcast_loc_conf_t   *lcf;
    ngx_http_broadcast_tw_params_t   pr;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    route = ngx_http_broadcast_twilio_route(r);

    rc = ngx_http_broadcast_webhook_body_get(r, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    sig = ngx_http_broadcast_header_in(r, "X-Twilio-Signature");
    if (sig == NULL || sig->value.len == 0) {
        return ngx_http_broadcast_webhook_forbidden(r,
                   NGX_HTTP_BROADCAST_WH_TWILIO, "invalid_signature",
                   "no signature");
    }

    ngx_str_null(&ct);
    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    }

    json = ct.len >= 16
           && ngx_strncasecmp(ct.data, (u_char *) "application/json", 16)
              == 0;

    /* the URL Twilio called: public base + path and query as received */
    url_len = lcf->public_url.len + r->unparsed_uri.len;
    url = ngx_pnalloc(r->pool, url_len + 1);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(url, lcf->public_url.data, lcf->public_url.len);
    p = ngx_cpymem(p, r->unparsed_uri.data, r->unparsed_uri.len);
    *p = '\0';

    ngx_memzero(&pr, sizeof(ngx_http_broadcast_tw_params_t));

    if (json) {
        valid = bc_twilio_verify_json((char *) lcf->twilio_token.data,
                                      lcf->twilio_token.len, (char *) url,
                                      url_len, (char *) body.data, body.len,
                                      (char *) sig->value.data,
                                      sig->value.len);
        if (valid) {
            /* verified: the fields, if the body is an object */
            pr.json = json_loadb((char *) body.data, body.len, 0, &jerr);
            if (pr.json && !json_is_object(pr.json)) {
                json_decref(pr.json);
                pr.json = NULL;
            }

            if (pr.json == NULL) {
                pr.json = json_object();
                if (pr.json == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }
            }
        }

    } else {
        if (bc_form_parse((char *) body.data, body.len, &pr.form) != 0) {
            return ngx_http_broadcast_webhook_forbidden(r,
                       NGX_HTTP_BROADCAST_WH_TWILIO, "invalid_signature",
                       "malformed body");
        }

        valid = bc_twilio_verify((char *) lcf->twilio_token.data,
                                 lcf->twilio_token.len, (char *) url, url_len,
                                 pr.form.items, pr.form.n,
                                 (char *) sig->value.data, sig->value.len);
    }

    if (!valid) {
        bc_form_free(&pr.form);
        return ngx_http_broadcast_webhook_forbidden(r,
                   NGX_HTTP_BROADCAST_WH_TWILIO, "invalid_signature",
                   "signature mismatch");
    }

    account = ngx_http_broadcast_tw_get(&pr, "AccountSid");

    if (lcf->twilio_account_sid.len
        && (account == NULL
            || ngx_strlen(account) != lcf->twilio_account_sid.len
            || ngx_strncmp(account, lcf->twilio_account_sid.data,
                           lcf->twilio_account_sid.len) != 0))
    {
        rc = ngx_http_broadcast_webhook_forbidden(r,
                 NGX_HTTP_BROADCAST_WH_TWILIO, "invalid_signature",
                 "AccountSid mismatch");
        goto done;
    }

    if (route == NGX_HTTP_BROADCAST_TW_CALL) {
        /* call status callbacks: counted, nothing queued */
        status = ngx_http_broadcast_tw_get(&pr, "CallStatus");
        if (status == NULL) {
            status = "";
        }

        ngx_http_broadcast_metric_call((u_char *) status, ngx_strlen(status));

        rc = ngx_http_broadcast_send(r, NGX_HTTP_OK,
                                     &ngx_http_broadcast_xml_type,
                                     (u_char *) "<Response/>", 11);
        goto done;
    }

    switch (route) {

    case NGX_HTTP_BROADCAST_TW_WA_STATUS:
        kind = "whatsapp_status";
        set = NGX_HTTP_BROADCAST_CB_TWILIO_WHATSAPP;
        break;

    case NGX_HTTP_BROADCAST_TW_SMS_INBOUND:
        kind = "sms_inbound";
        set = NGX_HTTP_BROADCAST_CB_TWILIO_SMS;
        break;

    case NGX_HTTP_BROADCAST_TW_WA_INBOUND:
        kind = "whatsapp_inbound";
        set = NGX_HTTP_BROADCAST_CB_TWILIO_WHATSAPP;
        break;

    default: /* NGX_HTTP_BROADCAST_TW_SMS_STATUS */
        kind = "sms_status";
        set = NGX_HTTP_BROADCAST_CB_TWILIO_SMS;
        break;
    }

    ev = ngx_http_broadcast_event_create(r, "twilio", kind, &body);
    if (ev == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    sid = ngx_http_broadcast_tw_get(&pr, "MessageSid");

    if (route == NGX_HTTP_BROADCAST_TW_SMS_INBOUND
        || route == NGX_HTTP_BROADCAST_TW_WA_INBOUND)
    {
        /* without a MessageSid the body hash stays the dedupe key */
        if (sid && *sid) {
            ngx_snprintf((u_char *) key, sizeof(key) - 1, "in|%s%Z", sid);
            key[sizeof(key) - 1] = '\0';
            ngx_http_broadcast_sha256_hex(key, ngx_strlen(key), ev->dedup);
        }

        ngx_http_broadcast_event_metric(ev,
            ngx_http_broadcast_callback_index(set, (u_char *) "received", 8));

        to = ngx_http_broadcast_tw_get(&pr, "To");
        from = ngx_http_broadcast_tw_get(&pr, "From");

        /* the 24-hour window: our whatsapp:+E164, the peer's +E164 */
        if (route == NGX_HTTP_BROADCAST_TW_WA_INBOUND && to && from
            && ngx_strncmp(to, "whatsapp:", 9) == 0
            && ngx_http_broadcast_e164(to + 9, ngx_strlen(to + 9)))
        {
            if (ngx_strncmp(from, "whatsapp:", 9) == 0) {
                from += 9;
            }

            if (ngx_http_broadcast_e164(from, ngx_strlen(from))
                && ngx_http_broadcast_event_wawin(ev, (u_char *) to,
                                                  ngx_strlen(to),
                                                  (u_char *) from,
                                                  ngx_strlen(from))
                   != NGX_OK)
            {
                ngx_http_broadcast_event_free(ev);
                rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                goto done;
            }
        }

    } else {
        status = ngx_http_broadcast_tw_get(&pr, "MessageStatus");
        code = ngx_http_broadcast_tw_get(&pr, "ErrorCode");

        if (!json) {
            ngx_snprintf((u_char *) key, sizeof(key) - 1, "%s|%s|%s%Z",
                         sid ? sid : "", status ? status : "",
                         code ? code : "");
            key[sizeof(key) - 1] = '\0';
            ngx_http_broadcast_sha256_hex(key, ngx_strlen(key), ev->dedup);
        }

        if (status == NULL) {
            status = "";
        }

        ngx_http_broadcast_event_metric(ev,
            ngx_http_broadcast_callback_index(set, (u_char *) status,
                                              ngx_strlen(status)));

        if (r->args.len
            && bc_query_get((char *) r->args.data, r->args.len, "mid", mid,
                            sizeof(mid))
               == 1
            && bc_ulid_valid(mid, ngx_strlen(mid)))
        {
            ngx_cpystrn((u_char *) ev->mid, (u_char *) mid, sizeof(ev->mid));
        }
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


/* --- configuration ----------------------------------------------------- */


char *
ngx_http_broadcast_webhook_merge(ngx_conf_t *cf,
    ngx_http_broadcast_loc_conf_t *prev, ngx_http_broadcast_loc_conf_t *conf)
{
    ngx_conf_merge_ptr_value(conf->sendgrid_key, prev->sendgrid_key, NULL);
    ngx_conf_merge_sec_value(conf->sendgrid_tolerance,
                             prev->sendgrid_tolerance, 300);
    ngx_conf_merge_str_value(conf->meta_app_secret, prev->meta_app_secret,
                             "");
    ngx_conf_merge_str_value(conf->meta_verify_token,
                             prev->meta_verify_token, "");

    if (conf->kind != NGX_HTTP_BROADCAST_WEBHOOK) {
        return NGX_CONF_OK;
    }

    switch (conf->webhook_provider) {

    case NGX_HTTP_BROADCAST_WH_SENDGRID:
        if (conf->sendgrid_key == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "broadcast_webhook sendgrid requires "
                               "\"broadcast_sendgrid_webhook_key\"");
            return NGX_CONF_ERROR;
        }

        break;

    case NGX_HTTP_BROADCAST_WH_META:
        if (conf->meta_app_secret.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "broadcast_webhook meta requires "
                               "\"broadcast_meta_app_secret_file\"");
            return NGX_CONF_ERROR;
        }

        if (conf->meta_verify_token.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "broadcast_webhook meta requires "
                               "\"broadcast_meta_verify_token_file\"");
            return NGX_CONF_ERROR;
        }

        break;

    default: /* NGX_HTTP_BROADCAST_WH_TWILIO */
        if (conf->twilio_token.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "broadcast_webhook twilio requires "
                               "\"broadcast_twilio_auth_token_file\"");
            return NGX_CONF_ERROR;
        }

        if (conf->public_url.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "broadcast_webhook twilio requires "
                               "\"broadcast_public_url\"");
            return NGX_CONF_ERROR;
        }

        break;
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


