/*
 * Webhooks: the queueing task every provider shares and the helpers its
 * handlers use (reading the body, 404 and 403 answers). The providers'
 * handlers live in webhook_twilio.c, webhook_sendgrid.c, webhook_meta.c.
 *
 * Signatures are verified in the loop (CPU only) on the exact bytes
 * received; nothing happens for a bad one (403, no Redis access). A
 * verified event is deduplicated and queued to bc:{ev}:stream:events by one Lua
 * script: EVALSHA on the worker's async Redis link (the send fast path's
 * machinery: same timeout, 503 when the link drops with the script in
 * flight, never re-sent), or, when that link is not up or the script is
 * not loaded (NOSCRIPT), EVAL in a thread task. The dedupe key is written
 * only together with the stream entry, so a failed attempt leaves nothing
 * that would make the provider's retry look like a duplicate.
 */


#include "ngx_http_broadcast_webhook.h"
#include "ngx_http_broadcast_lua.h"

#include <openssl/sha.h>


static void ngx_http_broadcast_event_run(void *data,
    ngx_http_broadcast_conn_t *conn);
static ngx_int_t ngx_http_broadcast_event_done(ngx_http_request_t *r,
    void *data);


static ngx_str_t  ngx_http_broadcast_xml_type = ngx_string("text/xml");
static ngx_str_t  ngx_http_broadcast_no_type = ngx_null_string;

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


/* POST only; reads the body (size-checked) and calls handler */
ngx_int_t
ngx_http_broadcast_webhook_read(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
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
    ngx_http_broadcast_provider_t *provider, const char *code,
    const char *message, const char *why)
{
    ngx_http_broadcast_metric_add(provider->sigfail, 1);

    /* client noise; never log the signature, secrets or the body */
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "broadcast: rejected %s webhook \"%V\": %s",
                  provider->title, &r->uri, why);

    return ngx_http_broadcast_send_error(r, NGX_HTTP_FORBIDDEN, code,
                                         message);
}


/*
 * the verified body as JSON of the type the provider sends (JSON_OBJECT or
 * JSON_ARRAY), or NULL and *rc the 400 that says what was expected
 */
json_t *
ngx_http_broadcast_webhook_json(ngx_http_request_t *r, ngx_str_t *body,
    json_type type, const char *expected, ngx_int_t *rc)
{
    json_t        *root;
    json_error_t   err;

    root = json_loadb((char *) body->data, body->len, 0, &err);

    if (root != NULL && json_typeof(root) == type) {
        return root;
    }

    if (root) {
        json_decref(root);
    }

    *rc = ngx_http_broadcast_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_json", expected);
    return NULL;
}


/* a heap event with a copy of the body; dedupe defaults to sha256(body) */
ngx_http_broadcast_event_t *
ngx_http_broadcast_event_create(ngx_http_request_t *r,
    ngx_http_broadcast_provider_t *provider, ngx_uint_t kind, ngx_str_t *body)
{
    size_t                       len;
    ngx_str_t                    ct;
    ngx_http_broadcast_event_t  *ev;

    ev = ngx_calloc(sizeof(ngx_http_broadcast_event_t), r->connection->log);
    if (ev == NULL) {
        return NULL;
    }

    ev->mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    ev->provider = (const char *) provider->name.data;
    ev->kind = provider->kinds[kind];

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

    ngx_http_broadcast_event_metric(ev, provider->ev_base + kind);

    return ev;
}


/* adds the window of <from>:<peer> (bc_wawin_key) to what the event sets */
ngx_int_t
ngx_http_broadcast_event_wawin(ngx_http_broadcast_event_t *ev,
    const u_char *from, size_t from_len, const u_char *peer, size_t peer_len)
{
    int          n;
    char       **keys, *key, buf[600];
    unsigned     lanes;
    ngx_uint_t  *kl;

    keys = realloc(ev->wawin, (ev->nwawin + 1) * sizeof(char *));
    if (keys == NULL) {
        return NGX_ERROR;
    }

    ev->wawin = keys;

    kl = realloc(ev->wawin_lanes, (ev->nwawin + 1) * sizeof(ngx_uint_t));
    if (kl == NULL) {
        return NGX_ERROR;
    }

    ev->wawin_lanes = kl;

    lanes = ngx_http_broadcast_lanes(ev->mcf);
    n = bc_wawin_key(buf, sizeof(buf), lanes, (const char *) from, from_len,
                     (const char *) peer, peer_len);
    if (n < 0) {
        return NGX_ERROR;
    }

    key = malloc(n + 1);
    if (key == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(key, buf, n + 1);

    ev->wawin_lanes[ev->nwawin] = bc_lane_of_str(buf + n
                                      - (from_len + 1 + peer_len),
                                      from_len + 1 + peer_len, lanes);
    ev->wawin[ev->nwawin++] = key;

    return NGX_OK;
}


void
ngx_http_broadcast_event_order(ngx_http_broadcast_event_t *ev,
    const char *ours, const char *theirs)
{
    char  pair[600];
    int   n;

    n = snprintf(pair, sizeof(pair), "%s:%s", ours, theirs);

    if (n > 0 && (size_t) n < sizeof(pair)) {
        ev->order_lane = bc_lane_of_str(pair, n,
                                        ngx_http_broadcast_lanes(ev->mcf));
        ev->ordered = 1;
    }
}


/* the event's lane, and its windows of that lane first (nwawin_in) */
static void
ngx_http_broadcast_event_lane(ngx_http_broadcast_event_t *ev)
{
    char        *key;
    unsigned     lanes;
    ngx_uint_t   i, l;

    lanes = ngx_http_broadcast_lanes(ev->mcf);

    if (ev->ordered) {
        ev->lane = ev->order_lane;

    } else if (ev->nwawin) {
        ev->lane = ev->wawin_lanes[0];

    } else if (ev->mid[0]) {
        ev->lane = bc_lane_of_str(ev->mid, ngx_strlen(ev->mid), lanes);

    } else {
        ev->lane = bc_lane_of_str(ev->dedup, 64, lanes);
    }

    ev->nwawin_in = 0;

    for (i = 0; i < ev->nwawin; i++) {
        if (ev->wawin_lanes[i] != ev->lane) {
            continue;
        }

        key = ev->wawin[i];
        l = ev->wawin_lanes[i];
        ev->wawin[i] = ev->wawin[ev->nwawin_in];
        ev->wawin_lanes[i] = ev->wawin_lanes[ev->nwawin_in];
        ev->wawin[ev->nwawin_in] = key;
        ev->wawin_lanes[ev->nwawin_in++] = l;
    }
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

    } else if (ngx_http_broadcast_lua_not_run(reply)) {
        /* nothing ran: the thread path EVALs (and so loads) the script,
           and follows a cluster redirect */
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
    char          key[112], stream[64], at[24], nkeys[16];
    size_t       *lens, lens_s[NGX_HTTP_BROADCAST_EVENT_STACK_ARGS];
    ngx_int_t     rc;
    ngx_uint_t    k;
    const char  **argv, *argv_s[NGX_HTTP_BROADCAST_EVENT_STACK_ARGS];

    if (ev->nwawin_in < ev->nwawin) {
        return NGX_DECLINED;        /* windows in other lanes: the thread */
    }

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
    lens[i++] = bc_lane_key(key, sizeof(key), BC_LANE_EVENTS, ev->lane,
                            BC_SFX_DEDUP "%s", ev->dedup);
    argv[i] = stream;
    lens[i++] = bc_lane_key(stream, sizeof(stream), BC_LANE_EVENTS, ev->lane,
                            BC_SFX_EVENTS_STREAM);

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
    argv[i] = BC_DEDUP_TTL;
    lens[i++] = sizeof(BC_DEDUP_TTL) - 1;
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

    ngx_http_broadcast_event_lane(ev);

    /* the async link when it is up; the thread path otherwise */
    rc = ngx_http_broadcast_event_loop(r, ev, &tc);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_broadcast_task_post(r, &tc);
}


/*
 * thread: the windows of lanes other than the event's, opened after its
 * script queued it (a webhook batch with several customers). A failure is
 * logged: the window opens with the customer's next message.
 */
static void
ngx_http_broadcast_event_windows(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_event_t *ev)
{
    char         err[256];
    ngx_uint_t   k;
    redisReply  *reply;
    const char  *argv[5];

    for (k = ev->nwawin_in; k < ev->nwawin; k++) {
        argv[0] = "SET";
        argv[1] = ev->wawin[k];
        argv[2] = "1";
        argv[3] = "EX";
        argv[4] = NGX_HTTP_BROADCAST_WAWIN_TTL;

        reply = ngx_http_broadcast_redis_cmd(conn, ev->mcf, 5, argv, NULL,
                                             err, sizeof(err));
        if (reply == NULL) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "broadcast: opening a WhatsApp window: %s", err);
            return;
        }

        freeReplyObject(reply);
    }
}


static void
ngx_http_broadcast_event_run(void *data, ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_event_t *ev = data;

    int           argc, i;
    char          key[112], stream[64], at[24], nkeys[16];
    ngx_uint_t    k;
    size_t       *lens;
    redisReply   *reply;
    const char  **argv;

    argc = 3 + 2 + (int) ev->nwawin_in + 8;

    argv = malloc(argc * sizeof(char *));
    lens = malloc(argc * sizeof(size_t));

    if (argv == NULL || lens == NULL) {
        free(argv);
        free(lens);
        snprintf(ev->detail, sizeof(ev->detail), "out of memory");
        ev->result = -1;
        return;
    }

    bc_lane_key(key, sizeof(key), BC_LANE_EVENTS, ev->lane, BC_SFX_DEDUP "%s",
                ev->dedup);
    bc_lane_key(stream, sizeof(stream), BC_LANE_EVENTS, ev->lane,
                BC_SFX_EVENTS_STREAM);
    snprintf(at, sizeof(at), "%lld", ev->at);
    snprintf(nkeys, sizeof(nkeys), "%d", 2 + (int) ev->nwawin_in);

    ngx_http_broadcast_lua_eval(&ngx_http_broadcast_event_script, argv,
                                lens);
    i = 2;
    argv[i++] = nkeys;
    argv[i++] = key;
    argv[i++] = stream;

    for (k = 0; k < ev->nwawin_in; k++) {
        argv[i++] = ev->wawin[k];
    }

    argv[i++] = ev->provider;
    argv[i++] = ev->kind;
    argv[i++] = ev->mid;
    argv[i++] = ev->body;
    argv[i++] = ev->ct;
    argv[i++] = at;
    argv[i++] = BC_DEDUP_TTL;
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

    if (ev->result == 1) {
        ngx_http_broadcast_redis_wait(conn, ev->mcf);
        ngx_http_broadcast_event_windows(conn, ev);
    }
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
    free(ev->wawin_lanes);
    ngx_free(ev->body);
    ngx_free(ev->ct);
    ngx_free(ev);
}
