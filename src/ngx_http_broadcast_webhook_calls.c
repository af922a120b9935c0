/*
 * Twilio call status callbacks (/webhooks/twilio/call), verified by
 * webhook_twilio.c: deduplicated and remembered in Redis in a thread task,
 * then counted (metrics only, nothing is queued). A callback repeating the
 * call's latest status is a provider retry and counts once.
 */


#include "ngx_http_broadcast_metrics.h"


typedef struct {
    ngx_http_broadcast_main_conf_t  *mcf;
    char                             sid[64];
    char                             status[32];
    ngx_uint_t                       index;     /* in call_status[] */
    int                              result;    /* 1 new, 0 dup, -1 error */
    char                             detail[256];
} ngx_http_broadcast_call_t;


/*
 * KEYS[1] bc:{calls}:call:<sid>, KEYS[2..] bc:{calls}:calls:<status> in call_status order;
 * ARGV status, its key's position (1-based), now, window, sid.
 * Returns 1 new, 0 a repeat of the latest status.
 */
static const char  ngx_http_broadcast_call_lua[] =
    "local old = redis.call('GET', KEYS[1])\n"
    "if old == ARGV[1] then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])\n"
    "local since = tonumber(ARGV[3]) - tonumber(ARGV[4])\n"
    "for i = 2, #KEYS do\n"
    "  redis.call('ZREM', KEYS[i], ARGV[5])\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. since)\n"
    "end\n"
    "redis.call('ZADD', KEYS[1 + tonumber(ARGV[2])], ARGV[3], ARGV[5])\n"
    "return 1\n";


static ngx_str_t  ngx_http_broadcast_call_xml = ngx_string("text/xml");


static void
ngx_http_broadcast_call_run(void *data, ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_call_t *call = data;

    char         key[96], keys[NGX_HTTP_BROADCAST_CALL_N][48], nkeys[8];
    char         pos[8], now[32];
    size_t       i, n, lens[9 + NGX_HTTP_BROADCAST_CALL_N];
    redisReply  *reply;
    const char  *argv[9 + NGX_HTTP_BROADCAST_CALL_N];

    argv[0] = "EVAL";
    argv[1] = ngx_http_broadcast_call_lua;
    snprintf(nkeys, sizeof(nkeys), "%d", 1 + NGX_HTTP_BROADCAST_CALL_N);
    argv[2] = nkeys;
    snprintf(key, sizeof(key), BC_KEY_CALL_PREFIX "%s", call->sid);
    argv[3] = key;
    n = 4;

    for (i = 0; i < NGX_HTTP_BROADCAST_CALL_N; i++) {
        snprintf(keys[i], sizeof(keys[i]), BC_KEY_CALLS_PREFIX "%s",
                 ngx_http_broadcast_call_status[i]);
        argv[n++] = keys[i];
    }

    snprintf(pos, sizeof(pos), "%u", (unsigned) call->index + 1);
    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));

    argv[n++] = call->status;
    argv[n++] = pos;
    argv[n++] = now;
    argv[n++] = BC_STR(NGX_HTTP_BROADCAST_GAUGE_WINDOW_S);
    argv[n++] = call->sid;

    for (i = 0; i < n; i++) {
        lens[i] = strlen(argv[i]);
    }

    reply = ngx_http_broadcast_redis_cmd(conn, call->mcf, (int) n, argv, lens,
                                         call->detail, sizeof(call->detail));
    if (reply == NULL) {
        call->result = -1;
        return;
    }

    call->result = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;

    freeReplyObject(reply);
}


static ngx_int_t
ngx_http_broadcast_call_done(ngx_http_request_t *r, void *data)
{
    ngx_http_broadcast_call_t *call = data;

    if (call->result < 0) {
        ngx_http_broadcast_metric_add(NGX_HTTP_BROADCAST_M_ERR_REDIS, 1);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: Redis: %s", call->detail);

        /* a 5xx makes Twilio retry the callback later */
        return ngx_http_broadcast_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "redis_unavailable", "the queue is unavailable, retry");
    }

    if (call->result == 1) {
        ngx_http_broadcast_metric_call((u_char *) call->status,
                                       ngx_strlen(call->status));
    }

    return ngx_http_broadcast_send(r, NGX_HTTP_OK,
                                   &ngx_http_broadcast_call_xml,
                                   (u_char *) "<Response/>", 11);
}


static void
ngx_http_broadcast_call_free(void *data)
{
    ngx_free(data);
}


/* NGX_DONE once the task is posted; a callback without a CallSid cannot
 * be deduplicated and is counted as it comes */
ngx_int_t
ngx_http_broadcast_twilio_call(ngx_http_request_t *r, const char *sid,
    const char *status)
{
    ngx_http_broadcast_call_t       *call;
    ngx_http_broadcast_task_conf_t   tc;

    if (status == NULL) {
        status = "";
    }

    if (sid == NULL || *sid == '\0' || ngx_strlen(sid) >= 64
        || ngx_strlen(status) >= 32)
    {
        ngx_http_broadcast_metric_call((u_char *) status, ngx_strlen(status));

        return ngx_http_broadcast_send(r, NGX_HTTP_OK,
                                       &ngx_http_broadcast_call_xml,
                                       (u_char *) "<Response/>", 11);
    }

    call = ngx_calloc(sizeof(ngx_http_broadcast_call_t), r->connection->log);
    if (call == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    call->mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    ngx_cpystrn((u_char *) call->sid, (u_char *) sid, sizeof(call->sid));
    ngx_cpystrn((u_char *) call->status, (u_char *) status,
                sizeof(call->status));
    call->index = ngx_http_broadcast_call_index((u_char *) status,
                                                ngx_strlen(status));

    tc.run = ngx_http_broadcast_call_run;
    tc.done = ngx_http_broadcast_call_done;
    tc.timeout = NULL;
    tc.free = ngx_http_broadcast_call_free;
    tc.data = call;

    return ngx_http_broadcast_task_post(r, &tc);
}
