/*
 * Twilio webhooks: the signature is verified in the loop (CPU only) against
 * broadcast_public_url + the URI as received; a valid status callback is
 * deduplicated and queued to bc:stream:events in a thread task. Nothing
 * happens for a bad signature.
 */


#include "ngx_http_broadcast_common.h"

#include "bc_form.h"
#include "bc_id.h"
#include "bc_sig.h"


typedef struct {
    ngx_http_broadcast_main_conf_t  *mcf;
    char                             dedup[65];
    char                             mid[BC_ULID_LEN + 1];
    char                             status[32];
    char                            *body;        /* malloc'd */
    size_t                           body_len;
    char                             ct[128];
    long long                        at;
    int                              result;      /* 1 new, 2 dup, -1 down */
    char                             detail[256];
} ngx_http_broadcast_event_t;


static void ngx_http_broadcast_webhook_body(ngx_http_request_t *r);
static void ngx_http_broadcast_webhook_run(void *data,
    ngx_http_broadcast_conn_t *conn);
static ngx_int_t ngx_http_broadcast_webhook_done(ngx_http_request_t *r,
    void *data);
static void ngx_http_broadcast_webhook_free(void *data);


static ngx_str_t  ngx_http_broadcast_xml_type = ngx_string("text/xml");


ngx_int_t
ngx_http_broadcast_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_str_t   path = ngx_string("/sms/status");

    if (r->uri.len < path.len
        || ngx_strncmp(r->uri.data + r->uri.len - path.len, path.data,
                       path.len) != 0)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_broadcast_send_error(r, NGX_HTTP_NOT_FOUND,
                                             "not_found",
                                             "no such webhook endpoint");
    }

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

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_broadcast_webhook_body);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_broadcast_webhook_reject(ngx_http_request_t *r, const char *why)
{
    ngx_http_broadcast_metric_add(NGX_HTTP_BROADCAST_M_SIG_TWILIO, 1);

    /* client noise; never log the signature, token or body */
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "broadcast: rejected Twilio webhook \"%V\": %s",
                  &r->uri, why);

    return ngx_http_broadcast_send_error(r, NGX_HTTP_FORBIDDEN,
                                         "invalid_signature",
                                         "the X-Twilio-Signature header is "
                                         "missing or does not match");
}


static void
ngx_http_broadcast_webhook_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_broadcast_webhook_handle(r));
}


ngx_int_t
ngx_http_broadcast_webhook_handle(ngx_http_request_t *r)
{
    int                              valid, json;
    char                             key[160], mid[64];
    u_char                          *url, *p;
    size_t                           url_len;
    ngx_int_t                        rc;
    ngx_str_t                        body, ct;
    bc_form_t                        form;
    const char                      *sid, *status, *code, *account;
    ngx_table_elt_t                 *sig;
    ngx_http_broadcast_event_t      *ev;
    ngx_http_broadcast_task_conf_t   tc;
    ngx_http_broadcast_loc_conf_t   *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    rc = ngx_http_broadcast_body_get(r, &body);
    if (rc == NGX_DECLINED) {
        return ngx_http_broadcast_send_error(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                   "the body is too large");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sig = ngx_http_broadcast_header_in(r, "X-Twilio-Signature");
    if (sig == NULL || sig->value.len == 0) {
        return ngx_http_broadcast_webhook_reject(r, "no signature");
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

    ngx_memzero(&form, sizeof(bc_form_t));

    if (json) {
        valid = bc_twilio_verify_json((char *) lcf->twilio_token.data,
                                      lcf->twilio_token.len, (char *) url,
                                      url_len, (char *) body.data, body.len,
                                      (char *) sig->value.data,
                                      sig->value.len);
    } else {
        if (bc_form_parse((char *) body.data, body.len, &form) != 0) {
            return ngx_http_broadcast_webhook_reject(r, "malformed body");
        }

        valid = bc_twilio_verify((char *) lcf->twilio_token.data,
                                 lcf->twilio_token.len, (char *) url, url_len,
                                 form.items, form.n,
                                 (char *) sig->value.data, sig->value.len);
    }

    if (!valid) {
        bc_form_free(&form);
        return ngx_http_broadcast_webhook_reject(r, "signature mismatch");
    }

    sid = bc_form_get(&form, "MessageSid");
    status = bc_form_get(&form, "MessageStatus");
    code = bc_form_get(&form, "ErrorCode");
    account = bc_form_get(&form, "AccountSid");

    if (lcf->twilio_account_sid.len
        && (account == NULL
            || ngx_strlen(account) != lcf->twilio_account_sid.len
            || ngx_strncmp(account, lcf->twilio_account_sid.data,
                           lcf->twilio_account_sid.len) != 0))
    {
        bc_form_free(&form);
        return ngx_http_broadcast_webhook_reject(r, "AccountSid mismatch");
    }

    ev = ngx_calloc(sizeof(ngx_http_broadcast_event_t), r->connection->log);
    if (ev == NULL) {
        bc_form_free(&form);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ev->mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);

    ngx_snprintf((u_char *) key, sizeof(key), "%s|%s|%s%Z",
                 sid ? sid : "", status ? status : "", code ? code : "");
    bc_sha256_hex(key, ngx_strlen(key), ev->dedup);

    ngx_cpystrn((u_char *) ev->status, (u_char *) (status ? status : ""),
                sizeof(ev->status));
    bc_form_free(&form);

    if (r->args.len
        && bc_query_get((char *) r->args.data, r->args.len, "mid", mid,
                        sizeof(mid))
           == 1
        && bc_ulid_valid(mid, ngx_strlen(mid)))
    {
        ngx_cpystrn((u_char *) ev->mid, (u_char *) mid, sizeof(ev->mid));
    }

    ngx_cpystrn((u_char *) ev->ct, ct.data ? ct.data : (u_char *) "",
                ngx_min(ct.len + 1, sizeof(ev->ct)));

    ev->body = ngx_alloc(body.len + 1, r->connection->log);
    if (ev->body == NULL) {
        ngx_free(ev);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ev->body, body.data, body.len);
    ev->body_len = body.len;
    ev->at = (long long) ngx_time() * 1000 + (ngx_timeofday())->msec;

    tc.run = ngx_http_broadcast_webhook_run;
    tc.done = ngx_http_broadcast_webhook_done;
    tc.timeout = NULL;
    tc.free = ngx_http_broadcast_webhook_free;
    tc.data = ev;

    return ngx_http_broadcast_task_post(r, &tc);
}


static void
ngx_http_broadcast_webhook_run(void *data, ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_event_t *ev = data;

    char         key[96], at[24];
    size_t       lens[16];
    redisReply  *reply;
    const char  *argv[16];
    int          i;

    snprintf(key, sizeof(key), BC_KEY_DEDUP_PREFIX "%s", ev->dedup);

    argv[0] = "SET"; argv[1] = key; argv[2] = "1"; argv[3] = "NX";
    argv[4] = "EX"; argv[5] = "172800";

    for (i = 0; i < 6; i++) {
        lens[i] = strlen(argv[i]);
    }

    reply = ngx_http_broadcast_redis_cmd(conn, ev->mcf, 6, argv, lens,
                                         ev->detail, sizeof(ev->detail));
    if (reply == NULL) {
        ev->result = -1;
        return;
    }

    if (reply->type != REDIS_REPLY_STATUS) {
        /* seen before: acknowledged, not queued again */
        freeReplyObject(reply);
        ev->result = 2;
        return;
    }

    freeReplyObject(reply);

    snprintf(at, sizeof(at), "%lld", ev->at);

    argv[0] = "XADD"; argv[1] = BC_KEY_EVENTS_STREAM; argv[2] = "*";
    argv[3] = "provider"; argv[4] = "twilio";
    argv[5] = "kind"; argv[6] = "sms_status";
    argv[7] = "mid"; argv[8] = ev->mid;
    argv[9] = "body"; argv[10] = ev->body;
    argv[11] = "ct"; argv[12] = ev->ct;
    argv[13] = "at"; argv[14] = at;

    for (i = 0; i < 15; i++) {
        lens[i] = strlen(argv[i]);
    }

    lens[10] = ev->body_len;

    reply = ngx_http_broadcast_redis_cmd(conn, ev->mcf, 15, argv, lens,
                                         ev->detail, sizeof(ev->detail));
    if (reply == NULL) {
        /* let Twilio's retry through the dedup check again */
        argv[0] = "DEL";
        argv[1] = key;
        lens[0] = 3;
        lens[1] = strlen(key);

        reply = ngx_http_broadcast_redis_cmd(conn, ev->mcf, 2, argv, lens,
                                             at, sizeof(at));
        if (reply) {
            freeReplyObject(reply);
        }

        ev->result = -1;
        return;
    }

    freeReplyObject(reply);
    ev->result = 1;
}


static ngx_int_t
ngx_http_broadcast_webhook_done(ngx_http_request_t *r, void *data)
{
    ngx_http_broadcast_event_t *ev = data;

    if (ev->result < 0) {
        ngx_http_broadcast_metric_add(NGX_HTTP_BROADCAST_M_ERR_REDIS, 1);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: Redis: %s", ev->detail);

        /* a 5xx makes Twilio retry the callback later */
        return ngx_http_broadcast_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "redis_unavailable", "the queue is unavailable, retry");
    }

    if (ev->result == 1) {
        ngx_http_broadcast_metric_add(
            ngx_http_broadcast_callback_index(ev->status), 1);
    }

    return ngx_http_broadcast_send(r, NGX_HTTP_OK,
                                   &ngx_http_broadcast_xml_type,
                                   (u_char *) "<Response/>", 11);
}


static void
ngx_http_broadcast_webhook_free(void *data)
{
    ngx_http_broadcast_event_t *ev = data;

    ngx_free(ev->body);
    ngx_free(ev);
}
