/*
 * The predecessor exporter's metric names (docs/DESIGN.md "Metrics"):
 * twilio_message_callback_total, twilio_message_status_gauge,
 * twilio_messages_delivered_total, twilio_messages_failed_total,
 * twilio_call_callback_total, twilio_call_status_gauge,
 * twilio_calls_completed_total, twilio_calls_failed_total. Unlike the
 * exporter, every count is of verified, deduplicated callbacks.
 *
 * twilio_call_status_gauge is the calls whose latest callback in the last
 * day had that status (Redis sorted sets written by webhook_calls.c);
 * twilio_message_status_gauge comes from MySQL (metrics_mysql.c).
 */


#include "ngx_http_broadcast_metrics.h"


const char  *ngx_http_broadcast_call_status[] = {
    "queued", "initiated", "ringing", "in-progress", "completed", "busy",
    "no-answer", "canceled", "failed", "other", NULL
};

/* twilio_calls_failed_total{disconnect_reason}: the CallStatus of a call
 * that did not connect (status callbacks carry no other reason) */
static const char  *ngx_http_broadcast_call_failed[] = {
    "failed", "busy", "no-answer", NULL
};

#define NGX_HTTP_BROADCAST_CALL_FAILED_N  3

/* counter indices, laid out once at configuration */
static ngx_uint_t  ngx_http_broadcast_m_calls;
static ngx_uint_t  ngx_http_broadcast_m_completed;
static ngx_uint_t  ngx_http_broadcast_m_failed;
static ngx_uint_t  ngx_http_broadcast_m_errcode;

/* the error code labels in the zone: slot k at k * ERRCODE_LEN, its last
 * byte set once the label is written (readers take no lock) */
static ngx_slab_pool_t  *ngx_http_broadcast_errcode_pool;
static u_char           *ngx_http_broadcast_errcode_labels;

/* the call and error code counters from index i; returns the next free */
ngx_uint_t
ngx_http_broadcast_metrics_twilio_layout(ngx_uint_t i)
{
    ngx_http_broadcast_m_calls = i;
    ngx_http_broadcast_m_completed = i + NGX_HTTP_BROADCAST_CALL_N;
    ngx_http_broadcast_m_failed = ngx_http_broadcast_m_completed + 1;
    ngx_http_broadcast_m_errcode = ngx_http_broadcast_m_failed
                                   + NGX_HTTP_BROADCAST_CALL_FAILED_N;

    return ngx_http_broadcast_m_errcode + NGX_HTTP_BROADCAST_ERRCODE_N;
}


void
ngx_http_broadcast_metrics_errcodes(ngx_slab_pool_t *shpool, u_char *labels)
{
    ngx_http_broadcast_errcode_pool = shpool;
    ngx_http_broadcast_errcode_labels = labels;
}


static u_char *
ngx_http_broadcast_errcode_label(ngx_uint_t k)
{
    return ngx_http_broadcast_errcode_labels
           + k * NGX_HTTP_BROADCAST_ERRCODE_LEN;
}


/* the slot of an ErrorCode: 0 unknown, N - 1 other (odd or too many) */
static ngx_uint_t
ngx_http_broadcast_errcode_slot(const char *code)
{
    size_t       len, i;
    u_char      *l;
    ngx_uint_t   k, last;

    last = NGX_HTTP_BROADCAST_ERRCODE_N - 1;

    if (code == NULL || *code == '\0' || ngx_strcmp(code, "unknown") == 0) {
        return 0;
    }

    len = ngx_strlen(code);

    if (len >= NGX_HTTP_BROADCAST_ERRCODE_LEN - 1
        || ngx_strcmp(code, "other") == 0
        || ngx_http_broadcast_errcode_labels == NULL)
    {
        return last;
    }

    /* a label value stays printable without escaping */
    for (i = 0; i < len; i++) {
        if (!isalnum((u_char) code[i]) && code[i] != '-' && code[i] != '_'
            && code[i] != '.')
        {
            return last;
        }
    }

    for (k = 1; k < last; k++) {
        l = ngx_http_broadcast_errcode_label(k);

        if (l[NGX_HTTP_BROADCAST_ERRCODE_LEN - 1]
            && ngx_strcmp(l, code) == 0)
        {
            return k;
        }
    }

    /* a new code: claim the first free slot under the zone's lock */
    ngx_shmtx_lock(&ngx_http_broadcast_errcode_pool->mutex);

    for (k = 1; k < last; k++) {
        l = ngx_http_broadcast_errcode_label(k);

        if (!l[NGX_HTTP_BROADCAST_ERRCODE_LEN - 1]) {
            ngx_memcpy(l, code, len + 1);
            ngx_memory_barrier();
            l[NGX_HTTP_BROADCAST_ERRCODE_LEN - 1] = 1;
            break;
        }

        if (ngx_strcmp(l, code) == 0) {
            break;
        }
    }

    ngx_shmtx_unlock(&ngx_http_broadcast_errcode_pool->mutex);

    return k;
}


/* a Twilio message status callback: counted with the event if it is new */
void
ngx_http_broadcast_metric_twilio_failed(ngx_http_broadcast_event_t *ev,
    const char *status, const char *code)
{
    if (ngx_strcmp(status, "failed") != 0
        && ngx_strcmp(status, "undelivered") != 0)
    {
        return;
    }

    ngx_http_broadcast_event_metric(ev, ngx_http_broadcast_m_errcode
                                  + ngx_http_broadcast_errcode_slot(code));
}


/* index of a CallStatus, "other" for anything else */
ngx_uint_t
ngx_http_broadcast_call_index(const u_char *s, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i + 1 < NGX_HTTP_BROADCAST_CALL_N; i++) {
        if (ngx_strlen(ngx_http_broadcast_call_status[i]) == len
            && ngx_strncmp(ngx_http_broadcast_call_status[i], s, len) == 0)
        {
            break;
        }
    }

    return i;
}


/* a verified, new Twilio call status callback */
void
ngx_http_broadcast_metric_call(const u_char *status, size_t len)
{
    ngx_uint_t  i;

    i = ngx_http_broadcast_call_index(status, len);

    ngx_http_broadcast_metric_add(ngx_http_broadcast_m_calls + i, 1);

    if (len == 9 && ngx_strncmp(status, "completed", 9) == 0) {
        ngx_http_broadcast_metric_add(ngx_http_broadcast_m_completed, 1);
        return;
    }

    for (i = 0; ngx_http_broadcast_call_failed[i]; i++) {
        if (ngx_strlen(ngx_http_broadcast_call_failed[i]) == len
            && ngx_strncmp(ngx_http_broadcast_call_failed[i], status, len)
               == 0)
        {
            ngx_http_broadcast_metric_add(ngx_http_broadcast_m_failed + i, 1);
            return;
        }
    }
}


/* thread: ZCOUNT of every call status set since a day ago, one EVAL */
void
ngx_http_broadcast_metrics_twilio_run(ngx_http_broadcast_metrics_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    char         err[256], keys[NGX_HTTP_BROADCAST_CALL_N][48], since[32];
    char         nkeys[8];
    size_t       i, lens[4 + NGX_HTTP_BROADCAST_CALL_N];
    redisReply  *reply;
    const char  *argv[4 + NGX_HTTP_BROADCAST_CALL_N];
    static const char  lua[] =
        "local out = {}\n"
        "for i = 1, #KEYS do\n"
        "  out[i] = redis.call('ZCOUNT', KEYS[i], ARGV[1], '+inf')\n"
        "end\n"
        "return out\n";

    if (!ctx->redis_up) {
        return;
    }

    argv[0] = "EVAL";
    argv[1] = lua;
    snprintf(nkeys, sizeof(nkeys), "%d", NGX_HTTP_BROADCAST_CALL_N);
    argv[2] = nkeys;

    for (i = 0; i < NGX_HTTP_BROADCAST_CALL_N; i++) {
        snprintf(keys[i], sizeof(keys[i]), BC_KEY_CALLS_PREFIX "%s",
                 ngx_http_broadcast_call_status[i]);
        argv[3 + i] = keys[i];
    }

    snprintf(since, sizeof(since), "%lld",
             (long long) time(NULL) - NGX_HTTP_BROADCAST_GAUGE_WINDOW_S);
    argv[3 + NGX_HTTP_BROADCAST_CALL_N] = since;

    for (i = 0; i < 4 + NGX_HTTP_BROADCAST_CALL_N; i++) {
        lens[i] = strlen(argv[i]);
    }

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf,
                                         4 + NGX_HTTP_BROADCAST_CALL_N, argv,
                                         lens, err, sizeof(err));
    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY
        && reply->elements == NGX_HTTP_BROADCAST_CALL_N)
    {
        for (i = 0; i < NGX_HTTP_BROADCAST_CALL_N; i++) {
            ctx->call[i] = reply->element[i]->integer;
        }

        ctx->call_ok = 1;
    }

    freeReplyObject(reply);
}


/* twilio_message_callback_total, delivered and failed: all channels */
static u_char *
ngx_http_broadcast_metrics_twilio_messages(u_char *p)
{
    u_char                         *l;
    ngx_uint_t                      ch, i, n, k;
    ngx_atomic_uint_t               sum, delivered;
    ngx_http_broadcast_provider_t  *tw;

    tw = &ngx_http_broadcast_twilio_provider;

    p = ngx_sprintf(p,
        "# HELP twilio_message_callback_total Twilio message status "
        "callbacks, SMS and WhatsApp, verified and deduplicated.\n"
        "# TYPE twilio_message_callback_total counter\n");

    n = bc_status_map_size(tw->statuses) + 1;
    delivered = 0;

    for (i = 0; i < n; i++) {
        sum = 0;

        for (ch = 0; ch < NGX_HTTP_BROADCAST_CH_N; ch++) {
            if (tw->channels & NGX_HTTP_BROADCAST_CH(ch)) {
                sum += ngx_http_broadcast_metric_get(tw->cb_base[ch] + i);
            }
        }

        if (tw->statuses[i].value
            && ngx_strcmp(tw->statuses[i].value, "delivered") == 0)
        {
            delivered = sum;
        }

        p = ngx_sprintf(p, "twilio_message_callback_total{status=\"%s\"} "
                        "%uA\n", tw->statuses[i].value ? tw->statuses[i].value
                                                       : "other", sum);
    }

    p = ngx_sprintf(p,
        "# HELP twilio_messages_delivered_total Twilio messages reported "
        "delivered.\n"
        "# TYPE twilio_messages_delivered_total counter\n"
        "twilio_messages_delivered_total %uA\n"
        "# HELP twilio_messages_failed_total Twilio messages reported failed "
        "or undelivered, by ErrorCode (unknown: none; other: past the "
        "first codes).\n"
        "# TYPE twilio_messages_failed_total counter\n", delivered);

    for (k = 0; k < NGX_HTTP_BROADCAST_ERRCODE_N; k++) {
        if (k == 0) {
            l = (u_char *) "unknown";

        } else if (k == NGX_HTTP_BROADCAST_ERRCODE_N - 1) {
            l = (u_char *) "other";

        } else {
            l = ngx_http_broadcast_errcode_label(k);

            if (!l[NGX_HTTP_BROADCAST_ERRCODE_LEN - 1]) {
                continue;
            }
        }

        p = ngx_sprintf(p, "twilio_messages_failed_total{error_code=\"%s\"} "
                        "%uA\n", l, ngx_http_broadcast_metric_get(
                                        ngx_http_broadcast_m_errcode + k));
    }

    return p;
}


u_char *
ngx_http_broadcast_metrics_twilio(u_char *p,
    ngx_http_broadcast_metrics_ctx_t *ctx)
{
    ngx_uint_t  i;

    p = ngx_http_broadcast_metrics_twilio_messages(p);

    p = ngx_sprintf(p,
        "# HELP twilio_call_callback_total Twilio call status callbacks by "
        "CallStatus, verified and deduplicated.\n"
        "# TYPE twilio_call_callback_total counter\n");

    for (i = 0; i < NGX_HTTP_BROADCAST_CALL_N; i++) {
        p = ngx_sprintf(p, "twilio_call_callback_total{status=\"%s\"} %uA\n",
                        ngx_http_broadcast_call_status[i],
                        ngx_http_broadcast_metric_get(
                            ngx_http_broadcast_m_calls + i));
    }

    if (ctx->call_ok) {
        p = ngx_sprintf(p,
            "# HELP twilio_call_status_gauge Twilio calls whose latest "
            "callback in the last day had this CallStatus.\n"
            "# TYPE twilio_call_status_gauge gauge\n");

        for (i = 0; i < NGX_HTTP_BROADCAST_CALL_N; i++) {
            p = ngx_sprintf(p, "twilio_call_status_gauge{status=\"%s\"} %L\n",
                            ngx_http_broadcast_call_status[i], ctx->call[i]);
        }
    }

    p = ngx_sprintf(p,
        "# HELP twilio_calls_completed_total Twilio calls that completed.\n"
        "# TYPE twilio_calls_completed_total counter\n"
        "twilio_calls_completed_total %uA\n"
        "# HELP twilio_calls_failed_total Twilio calls that did not connect, "
        "by CallStatus.\n"
        "# TYPE twilio_calls_failed_total counter\n",
        ngx_http_broadcast_metric_get(ngx_http_broadcast_m_completed));

    for (i = 0; i < NGX_HTTP_BROADCAST_CALL_FAILED_N; i++) {
        p = ngx_sprintf(p, "twilio_calls_failed_total{disconnect_reason="
                        "\"%s\"} %uA\n", ngx_http_broadcast_call_failed[i],
                        ngx_http_broadcast_metric_get(
                            ngx_http_broadcast_m_failed + i));
    }

    return p;
}
