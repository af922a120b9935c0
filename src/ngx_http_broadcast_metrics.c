/*
 * /metrics: local counters in a shared memory zone (one ngx_atomic_t per
 * cache line, no mutex) plus queue depths and the sender's counters read
 * from Redis in a thread task. Prometheus text format 0.0.4.
 */


#include "ngx_http_broadcast_metrics.h"


#define NGX_HTTP_BROADCAST_SHM_SIZE  (64 * 1024)


static ngx_int_t ngx_http_broadcast_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_broadcast_metrics_run(void *data,
    ngx_http_broadcast_conn_t *conn);
static ngx_int_t ngx_http_broadcast_metrics_done(ngx_http_request_t *r,
    void *data);
static ngx_int_t ngx_http_broadcast_metrics_timeout(ngx_http_request_t *r,
    void *data);
static void ngx_http_broadcast_metrics_free(void *data);
static ngx_int_t ngx_http_broadcast_metrics_render(ngx_http_request_t *r,
    ngx_http_broadcast_metrics_ctx_t *ctx);


static ngx_atomic_t  *ngx_http_broadcast_counters;

/*
 * The webhook counters after NGX_HTTP_BROADCAST_M_CALLBACK0, laid out once
 * at configuration (ngx_http_broadcast_metrics_layout) in this order: the
 * callbacks by channel and, within a channel, by provider (each label list
 * is the provider's status table and "other"); the signature failures and
 * the event kinds by provider; then metrics_twilio.c's: Twilio call
 * statuses, calls completed, calls failed by reason, messages failed by
 * error code. Inbound messages count as status "received".
 */

/* sets every provider's counter indices; NGX_ERROR if they do not fit */
static ngx_int_t
ngx_http_broadcast_metrics_layout(ngx_conf_t *cf)
{
    ngx_uint_t                       i, ch;
    ngx_http_broadcast_provider_t   *p, **pp;

    i = NGX_HTTP_BROADCAST_M_CALLBACK0;

    for (ch = 0; ch < NGX_HTTP_BROADCAST_CH_N; ch++) {
        for (pp = ngx_http_broadcast_providers; *pp; pp++) {
            p = *pp;

            if (!(p->channels & NGX_HTTP_BROADCAST_CH(ch))) {
                /* counted nowhere: metric_add ignores this index */
                p->cb_base[ch] = NGX_HTTP_BROADCAST_M_N;
                continue;
            }

            p->cb_base[ch] = i;
            i += bc_status_map_size(p->statuses) + 1;
        }
    }

    for (pp = ngx_http_broadcast_providers; *pp; pp++) {
        (*pp)->sigfail = i++;
    }

    for (pp = ngx_http_broadcast_providers; *pp; pp++) {
        (*pp)->ev_base = i;

        while ((*pp)->kinds[i - (*pp)->ev_base]) {
            i++;
        }
    }

    if (ngx_http_broadcast_metrics_twilio_layout(i) > NGX_HTTP_BROADCAST_M_N)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the webhook counters need more than "
                           "NGX_HTTP_BROADCAST_M_NCALLBACKS slots");
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_broadcast_metrics_zone(ngx_conf_t *cf,
    ngx_http_broadcast_main_conf_t *mcf)
{
    ngx_str_t  name = ngx_string("broadcast_metrics");

    if (ngx_http_broadcast_metrics_layout(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    mcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                          NGX_HTTP_BROADCAST_SHM_SIZE,
                                          &ngx_http_broadcast_module);
    if (mcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    mcf->shm_zone->init = ngx_http_broadcast_metrics_init_zone;
    mcf->shm_zone->data = mcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_broadcast_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    /* counters survive reloads: the old zone keeps its data */
    if (shpool->data) {
        ngx_http_broadcast_counters = (ngx_atomic_t *) shpool->data;

    } else {
        /* the counters, then the error code labels (metrics_twilio.c) */
        ngx_http_broadcast_counters = ngx_slab_calloc(shpool,
                                          NGX_HTTP_BROADCAST_M_N
                                          * NGX_HTTP_BROADCAST_M_LINE
                                          + NGX_HTTP_BROADCAST_ERRCODE_N
                                            * NGX_HTTP_BROADCAST_ERRCODE_LEN);
        if (ngx_http_broadcast_counters == NULL) {
            return NGX_ERROR;
        }

        shpool->data = (void *) ngx_http_broadcast_counters;
    }

    ngx_http_broadcast_metrics_errcodes(shpool,
        (u_char *) ngx_http_broadcast_counters
        + NGX_HTTP_BROADCAST_M_N * NGX_HTTP_BROADCAST_M_LINE);

    return NGX_OK;
}


static ngx_atomic_t *
ngx_http_broadcast_counter(ngx_uint_t i)
{
    return (ngx_atomic_t *) ((u_char *) ngx_http_broadcast_counters
                             + i * NGX_HTTP_BROADCAST_M_LINE);
}


void
ngx_http_broadcast_metric_add(ngx_uint_t i, ngx_atomic_int_t n)
{
    if (ngx_http_broadcast_counters == NULL || i >= NGX_HTTP_BROADCAST_M_N) {
        return;
    }

    (void) ngx_atomic_fetch_add(ngx_http_broadcast_counter(i), n);
}


ngx_atomic_uint_t
ngx_http_broadcast_metric_get(ngx_uint_t i)
{
    return (ngx_atomic_uint_t) *ngx_http_broadcast_counter(i);
}


ngx_int_t
ngx_http_broadcast_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_http_broadcast_task_conf_t     tc;
    ngx_http_broadcast_metrics_ctx_t  *ctx;

    rc = ngx_http_broadcast_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    ctx = ngx_calloc(sizeof(ngx_http_broadcast_metrics_ctx_t),
                     r->connection->log);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    ngx_http_broadcast_metrics_mysql_want(ctx);

    tc.run = ngx_http_broadcast_metrics_run;
    tc.done = ngx_http_broadcast_metrics_done;
    tc.timeout = ngx_http_broadcast_metrics_timeout;
    tc.free = ngx_http_broadcast_metrics_free;
    tc.data = ctx;

    /* NGX_DONE: count++ is balanced by the finalize after the task */
    return ngx_http_broadcast_task_post(r, &tc);
}


/* thread: lag + pending of the group on a stream, -1 if unknown; last
 * gets the group's last-delivered-id ("" if none) */
static long long
ngx_http_broadcast_stream_depth(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, const char *stream,
    const char *group, int *ok, char *last, size_t last_len)
{
    char         err[256];
    size_t       i, j, lens[4];
    long long    depth;
    redisReply  *reply, *g, *k, *v;
    const char  *argv[4];

    argv[0] = "XINFO";
    argv[1] = "GROUPS";
    argv[2] = stream;

    for (i = 0; i < 3; i++) {
        lens[i] = strlen(argv[i]);
    }

    depth = 0;
    last[0] = '\0';

    reply = ngx_http_broadcast_redis_cmd(conn, mcf, 3, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        /* "no such key" is an error reply: an empty queue, Redis is up */
        if (conn && bc_rc_alive(conn->redis)) {
            return 0;
        }

        *ok = 0;
        return -1;
    }

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
    {
        g = reply->element[i];

        if (g->type != REDIS_REPLY_ARRAY) {
            continue;
        }

        for (j = 0; j + 1 < g->elements; j += 2) {
            k = g->element[j];
            v = g->element[j + 1];

            if (k->type != REDIS_REPLY_STRING) {
                continue;
            }

            if (strcmp(k->str, "name") == 0 && v->type == REDIS_REPLY_STRING
                && strcmp(v->str, group) != 0)
            {
                break;
            }

            if (strcmp(k->str, "last-delivered-id") == 0
                && v->type == REDIS_REPLY_STRING)
            {
                ngx_cpystrn((u_char *) last, (u_char *) v->str, last_len);
            }

            if ((strcmp(k->str, "pending") == 0 || strcmp(k->str, "lag") == 0)
                && v->type == REDIS_REPLY_INTEGER)
            {
                depth += v->integer;
            }
        }
    }

    freeReplyObject(reply);

    return depth;
}


/* the milliseconds of a stream entry id, -1 if there is none */
static long long
ngx_http_broadcast_stream_id_ms(redisReply *id)
{
    if (id == NULL || id->type != REDIS_REPLY_STRING) {
        return -1;
    }

    return strtoll(id->str, NULL, 10);
}


/*
 * thread: the age in ms of the oldest entry of a stream not acknowledged
 * by the group: the oldest pending one (read, not finished) or else the
 * first one after last-delivered-id (not read yet); 0 when there is none
 */
static long long
ngx_http_broadcast_stream_age(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, const char *stream,
    const char *group, const char *last)
{
    char         err[256], from[64];
    size_t       i, lens[6];
    long long    oldest, ms;
    redisReply  *reply;
    const char  *argv[6];

    oldest = -1;

    argv[0] = "XPENDING";
    argv[1] = stream;
    argv[2] = group;

    for (i = 0; i < 3; i++) {
        lens[i] = strlen(argv[i]);
    }

    reply = ngx_http_broadcast_redis_cmd(conn, mcf, 3, argv, lens, err,
                                         sizeof(err));
    if (reply) {
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
            oldest = ngx_http_broadcast_stream_id_ms(reply->element[1]);
        }

        freeReplyObject(reply);
    }

    snprintf(from, sizeof(from), "(%s", last[0] ? last : "0-0");

    argv[0] = "XRANGE";
    argv[2] = from;
    argv[3] = "+";
    argv[4] = "COUNT";
    argv[5] = "1";

    for (i = 0; i < 6; i++) {
        lens[i] = strlen(argv[i]);
    }

    reply = ngx_http_broadcast_redis_cmd(conn, mcf, 6, argv, lens, err,
                                         sizeof(err));
    if (reply) {
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1
            && reply->element[0]->type == REDIS_REPLY_ARRAY
            && reply->element[0]->elements >= 1)
        {
            ms = ngx_http_broadcast_stream_id_ms(
                     reply->element[0]->element[0]);

            if (ms >= 0 && (oldest < 0 || ms < oldest)) {
                oldest = ms;
            }
        }

        freeReplyObject(reply);
    }

    if (oldest < 0) {
        return 0;
    }

    ms = (long long) time(NULL) * 1000;

    return ms > oldest ? ms - oldest : 0;
}


/* thread: one lane's depths and ages, added to (ages: the oldest of) the
   totals; 0, or -1 when Redis did not answer */
static int
ngx_http_broadcast_metrics_lane(ngx_http_broadcast_metrics_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_uint_t lane)
{
    int          ok = 1;
    char         err[256], last[64], stream[64], retry[64];
    size_t       lens[2];
    long long    n;
    redisReply  *reply;
    const char  *argv[2];

    bc_lane_key(stream, sizeof(stream), BC_LANE_SEND, lane,
                BC_SFX_SEND_STREAM);
    ctx->depth_send += ngx_http_broadcast_stream_depth(conn, ctx->mcf,
                           stream, BC_GROUP_SENDERS, &ok, last, sizeof(last));
    if (!ok) {
        return -1;
    }

    n = ngx_http_broadcast_stream_age(conn, ctx->mcf, stream,
                                      BC_GROUP_SENDERS, last);
    ctx->age_send_ms = ngx_max(ctx->age_send_ms, n);

    bc_lane_key(stream, sizeof(stream), BC_LANE_EVENTS, lane,
                BC_SFX_EVENTS_STREAM);
    ctx->depth_events += ngx_http_broadcast_stream_depth(conn, ctx->mcf,
                             stream, BC_GROUP_RECORDERS, &ok, last,
                             sizeof(last));
    if (!ok) {
        return -1;
    }

    n = ngx_http_broadcast_stream_age(conn, ctx->mcf, stream,
                                      BC_GROUP_RECORDERS, last);
    ctx->age_events_ms = ngx_max(ctx->age_events_ms, n);

    bc_lane_key(retry, sizeof(retry), BC_LANE_SEND, lane, BC_SFX_RETRY);
    argv[0] = "ZCARD";
    argv[1] = retry;
    lens[0] = 5;
    lens[1] = strlen(retry);

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 2, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        return -1;
    }

    ctx->depth_retry += reply->type == REDIS_REPLY_INTEGER ? reply->integer
                                                           : 0;
    freeReplyObject(reply);

    return 0;
}


/* thread: queue depths and ages over every lane, the sender's hash;
   redis_up if all came */
static void
ngx_http_broadcast_metrics_redis_run(ngx_http_broadcast_metrics_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    char         err[256];
    size_t       lens[2];
    ngx_uint_t   lane;
    const char  *argv[2];

    for (lane = 0; lane < ngx_http_broadcast_lanes(ctx->mcf); lane++) {
        if (ngx_http_broadcast_metrics_lane(ctx, conn, lane) != 0) {
            return;
        }
    }

    argv[0] = "HGETALL";
    argv[1] = BC_KEY_SENDER_METRICS;
    lens[0] = 7;
    lens[1] = strlen(BC_KEY_SENDER_METRICS);

    ctx->sender = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 2, argv, lens,
                                               err, sizeof(err));
    if (ctx->sender == NULL) {
        return;
    }

    ctx->redis_up = 1;
}


static void
ngx_http_broadcast_metrics_run(void *data, ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_metrics_ctx_t *ctx = data;

    ngx_http_broadcast_metrics_redis_run(ctx, conn);
    ngx_http_broadcast_metrics_twilio_run(ctx, conn);
    ngx_http_broadcast_metrics_mysql_run(ctx, conn);
}


static ngx_int_t
ngx_http_broadcast_metrics_done(ngx_http_request_t *r, void *data)
{
    ngx_http_broadcast_metrics_mysql_done(data);

    return ngx_http_broadcast_metrics_render(r, data);
}


static ngx_int_t
ngx_http_broadcast_metrics_timeout(ngx_http_request_t *r, void *data)
{
    ngx_http_broadcast_metrics_ctx_t  local;

    /* the thread still owns ctx: render the local counters only */
    ngx_memzero(&local, sizeof(local));

    return ngx_http_broadcast_metrics_render(r, &local);
}


static void
ngx_http_broadcast_metrics_free(void *data)
{
    ngx_http_broadcast_metrics_ctx_t *ctx = data;

    if (ctx->sender) {
        freeReplyObject(ctx->sender);
    }

    ngx_free(ctx);
}


#define ngx_http_broadcast_c(i)                                               \
    ((ngx_atomic_uint_t) *ngx_http_broadcast_counter(i))


/* the label of row i of a provider's status table, "other" after it */
static const char *
ngx_http_broadcast_status_label(const ngx_http_broadcast_provider_t *p,
    ngx_uint_t i)
{
    return p->statuses[i].value ? p->statuses[i].value : "other";
}


/* broadcast_callbacks_total by channel, then by provider */
static u_char *
ngx_http_broadcast_metrics_callbacks(u_char *p)
{
    ngx_uint_t                       ch, i, n;
    ngx_http_broadcast_provider_t   *pr, **pp;

    p = ngx_sprintf(p,
        "# HELP broadcast_callbacks_total Verified, new provider status "
        "callbacks and inbound messages (status=\"received\").\n"
        "# TYPE broadcast_callbacks_total counter\n");

    for (ch = 0; ch < NGX_HTTP_BROADCAST_CH_N; ch++) {
        for (pp = ngx_http_broadcast_providers; *pp; pp++) {
            pr = *pp;

            if (!(pr->channels & NGX_HTTP_BROADCAST_CH(ch))) {
                continue;
            }

            n = bc_status_map_size(pr->statuses) + 1;

            for (i = 0; i < n; i++) {
                p = ngx_sprintf(p, "broadcast_callbacks_total{provider=\"%V\","
                                "channel=\"%s\",status=\"%s\"} %uA\n",
                                &pr->name,
                                ngx_http_broadcast_channel_names[ch],
                                ngx_http_broadcast_status_label(pr, i),
                                ngx_http_broadcast_c(pr->cb_base[ch] + i));
            }
        }
    }

    return p;
}


/* the webhook counters; at most NGX_HTTP_BROADCAST_M_NCALLBACKS * 160 */
static u_char *
ngx_http_broadcast_metrics_webhooks(u_char *p)
{
    ngx_uint_t                       i;
    ngx_http_broadcast_provider_t  **pp;

    p = ngx_http_broadcast_metrics_callbacks(p);

    p = ngx_sprintf(p,
        "# HELP broadcast_webhook_events_total Webhook events queued to "
        "bc:{ev}:stream:events.\n"
        "# TYPE broadcast_webhook_events_total counter\n");

    for (pp = ngx_http_broadcast_providers; *pp; pp++) {
        for (i = 0; (*pp)->kinds[i]; i++) {
            p = ngx_sprintf(p, "broadcast_webhook_events_total{provider="
                            "\"%V\",kind=\"%s\"} %uA\n", &(*pp)->name,
                            (*pp)->kinds[i],
                            ngx_http_broadcast_c((*pp)->ev_base + i));
        }
    }

    return p;
}


static ngx_int_t
ngx_http_broadcast_metrics_render(ngx_http_request_t *r,
    ngx_http_broadcast_metrics_ctx_t *ctx)
{
    size_t                           size;
    u_char                          *p, *start;
    ngx_str_t                        type = ngx_string("text/plain; "
                                                       "version=0.0.4");
    ngx_http_broadcast_provider_t  **pp;

    if (ngx_http_broadcast_counters == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = 16384 + NGX_HTTP_BROADCAST_M_NCALLBACKS * 256
           + ngx_http_broadcast_metrics_sender_size(ctx->sender);

    start = ngx_pnalloc(r->pool, size);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    p = ngx_sprintf(p,
        "# HELP broadcast_sends_accepted_total Messages accepted into the "
        "send queue.\n"
        "# TYPE broadcast_sends_accepted_total counter\n"
        "broadcast_sends_accepted_total{channel=\"sms\"} %uA\n"
        "broadcast_sends_accepted_total{channel=\"whatsapp\"} %uA\n"
        "broadcast_sends_accepted_total{channel=\"email\"} %uA\n"
        "# HELP broadcast_recipients_rejected_total Recipients rejected at "
        "the API.\n"
        "# TYPE broadcast_recipients_rejected_total counter\n"
        "broadcast_recipients_rejected_total{channel=\"sms\"} %uA\n"
        "broadcast_recipients_rejected_total{channel=\"whatsapp\"} %uA\n"
        "broadcast_recipients_rejected_total{channel=\"email\"} %uA\n"
        "# HELP broadcast_api_requests_total API responses by status class.\n"
        "# TYPE broadcast_api_requests_total counter\n"
        "broadcast_api_requests_total{code=\"2xx\"} %uA\n"
        "broadcast_api_requests_total{code=\"4xx\"} %uA\n"
        "broadcast_api_requests_total{code=\"5xx\"} %uA\n"
        "# HELP broadcast_signature_failures_total Webhook requests with a "
        "bad signature.\n"
        "# TYPE broadcast_signature_failures_total counter\n",
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_SENDS_SMS),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_SENDS_WHATSAPP),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_SENDS_EMAIL),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_REJECTED_SMS),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_REJECTED_WHATSAPP),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_REJECTED_EMAIL),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_API_2XX),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_API_4XX),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_API_5XX));

    for (pp = ngx_http_broadcast_providers; *pp; pp++) {
        p = ngx_sprintf(p, "broadcast_signature_failures_total{provider="
                        "\"%V\"} %uA\n", &(*pp)->name,
                        ngx_http_broadcast_c((*pp)->sigfail));
    }

    p = ngx_sprintf(p,
        "# HELP broadcast_backend_errors_total Failed backend operations.\n"
        "# TYPE broadcast_backend_errors_total counter\n"
        "broadcast_backend_errors_total{backend=\"redis\"} %uA\n"
        "broadcast_backend_errors_total{backend=\"mysql\"} %uA\n",
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_ERR_REDIS),
        ngx_http_broadcast_c(NGX_HTTP_BROADCAST_M_ERR_MYSQL));

    p = ngx_http_broadcast_metrics_webhooks(p);
    p = ngx_http_broadcast_metrics_twilio(p, ctx);
    p = ngx_http_broadcast_metrics_mysql(p);

    p = ngx_sprintf(p,
        "# HELP broadcast_redis_up Whether Redis answered this scrape.\n"
        "# TYPE broadcast_redis_up gauge\n"
        "broadcast_redis_up %d\n", ctx->redis_up);

    if (ctx->redis_up) {
        p = ngx_sprintf(p,
            "# HELP broadcast_queue_depth Entries waiting in a queue.\n"
            "# TYPE broadcast_queue_depth gauge\n"
            "broadcast_queue_depth{queue=\"send\"} %L\n"
            "broadcast_queue_depth{queue=\"events\"} %L\n"
            "broadcast_queue_depth{queue=\"retry\"} %L\n"
            "# HELP broadcast_queue_oldest_age_seconds Age of the oldest "
            "entry not yet finished (0: none).\n"
            "# TYPE broadcast_queue_oldest_age_seconds gauge\n"
            "broadcast_queue_oldest_age_seconds{queue=\"send\"} %L.%03L\n"
            "broadcast_queue_oldest_age_seconds{queue=\"events\"} "
            "%L.%03L\n",
            ctx->depth_send, ctx->depth_events, ctx->depth_retry,
            ctx->age_send_ms / 1000, ctx->age_send_ms % 1000,
            ctx->age_events_ms / 1000, ctx->age_events_ms % 1000);
    }

    /* the sender's own metrics, field names as in docs/DESIGN.md */
    if (ctx->sender && ctx->sender->type == REDIS_REPLY_ARRAY) {
        p = ngx_http_broadcast_metrics_sender(p, ctx->sender);
    }

    return ngx_http_broadcast_send(r, NGX_HTTP_OK, &type, start, p - start);
}
