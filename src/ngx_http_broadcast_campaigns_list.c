/*
 * Campaigns: the campaign JSON, GET /api/campaigns (keyset, newest first)
 * and GET /api/campaigns/{id} with its live stats: the recipient rows
 * grouped by variant, state, skip reason and their message's current
 * status (LEFT JOIN messages by id), counted into buckets here, and the
 * cost summed per price unit.
 */


#include "ngx_http_broadcast_campaigns.h"


#define NGX_HTTP_BROADCAST_CAMP_COLUMNS                                       \
    "c.id,c.name,c.channel,c.status,c.error,c.batch_id,c.template_id,"        \
    "c.never_repeat_template,c.audience,c.rate_per_second,c.quiet_hours,"     \
    NGX_HTTP_BROADCAST_CAMP_TIME("c.schedule_at") ",c.template_variables,"   \
    "(SELECT JSON_ARRAYAGG(JSON_OBJECT('name',v.name,'weight',v.weight,"      \
    "'template_id',v.template_id) ORDER BY v.idx) FROM campaign_variants v "  \
    "WHERE v.campaign_id=c.id),"                                              \
    NGX_HTTP_BROADCAST_CAMP_TIME("c.created_at") ","                          \
    NGX_HTTP_BROADCAST_CAMP_TIME("c.updated_at") ","                          \
    NGX_HTTP_BROADCAST_CAMP_TIME("c.started_at") ","                          \
    NGX_HTTP_BROADCAST_CAMP_TIME("c.completed_at") ","                        \
    "c.audience_limit,c.recipients,c.fanout_done,"                            \
    "(SELECT JSON_ARRAYAGG(JSON_OBJECT('step',s.idx,'channel',s.channel,"     \
    "'template_id',s.template_id,'delay_seconds',s.delay_seconds,"            \
    "'condition',s.step_condition) ORDER BY s.idx) FROM campaign_steps s "    \
    "WHERE s.campaign_id=c.id),c.hold_reason,c.hold_message,"                 \
    NGX_HTTP_BROADCAST_CAMP_TIME("c.hold_until")


/* the counters of the stats, in their JSON order */
enum {
    NGX_HTTP_BROADCAST_CAMP_N_AUDIENCE = 0,
    NGX_HTTP_BROADCAST_CAMP_N_ELIGIBLE,
    NGX_HTTP_BROADCAST_CAMP_N_PENDING,
    NGX_HTTP_BROADCAST_CAMP_N_QUEUED,
    NGX_HTTP_BROADCAST_CAMP_N_SENT,
    NGX_HTTP_BROADCAST_CAMP_N_DELIVERED,
    NGX_HTTP_BROADCAST_CAMP_N_READ,
    NGX_HTTP_BROADCAST_CAMP_N_FAILED,
    NGX_HTTP_BROADCAST_CAMP_N_UNDELIVERED,
    NGX_HTTP_BROADCAST_CAMP_N_BLOCKED,
    NGX_HTTP_BROADCAST_CAMP_N_CANCELLED,
    NGX_HTTP_BROADCAST_CAMP_N_FINISHED,     /* not shown: progress */
    NGX_HTTP_BROADCAST_CAMP_N
};

static const char  *ngx_http_broadcast_camp_counters[] = {
    "audience", "eligible", "pending", "queued", "sent", "delivered", "read",
    "failed", "undelivered", "blocked", "cancelled", NULL
};

/* a message's current status: its bucket, and whether it is finished */
static const struct {
    const char  *status;
    ngx_uint_t   bucket;
    ngx_uint_t   finished;
} ngx_http_broadcast_camp_buckets[] = {
    { "queued", NGX_HTTP_BROADCAST_CAMP_N_QUEUED, 0 },
    { "accepted", NGX_HTTP_BROADCAST_CAMP_N_QUEUED, 0 },
    { "sending", NGX_HTTP_BROADCAST_CAMP_N_QUEUED, 0 },
    { "sent", NGX_HTTP_BROADCAST_CAMP_N_SENT, 1 },
    { "delivered", NGX_HTTP_BROADCAST_CAMP_N_DELIVERED, 1 },
    { "read", NGX_HTTP_BROADCAST_CAMP_N_READ, 1 },
    { "failed", NGX_HTTP_BROADCAST_CAMP_N_FAILED, 1 },
    { "canceled", NGX_HTTP_BROADCAST_CAMP_N_FAILED, 1 },
    { "undelivered", NGX_HTTP_BROADCAST_CAMP_N_UNDELIVERED, 1 },
    { "blocked", NGX_HTTP_BROADCAST_CAMP_N_BLOCKED, 1 },
    { NULL, 0, 0 }
};


typedef struct {
    long long    n[NGX_HTTP_BROADCAST_CAMP_N];
    json_t      *skipped;
} ngx_http_broadcast_camp_count_t;


/* a nullable column as a JSON string or null */
json_t *
ngx_http_broadcast_camp_str(const char *s)
{
    return s ? json_string(s) : json_null();
}


static json_t *
ngx_http_broadcast_camp_num(const char *s)
{
    return s ? json_integer(strtoll(s, NULL, 10)) : json_null();
}


/* a JSON column, or null if absent or unreadable */
static json_t *
ngx_http_broadcast_camp_json_col(const char *s, unsigned long len)
{
    json_t  *v;

    if (s == NULL) {
        return json_null();
    }

    v = json_loadb(s, len, JSON_DECODE_ANY, NULL);

    return v ? v : json_null();
}


/* the campaign JSON of a row of NGX_HTTP_BROADCAST_CAMP_COLUMNS */
static json_t *
ngx_http_broadcast_camp_json(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    json_t  *c, *variants, *steps;

    variants = ngx_http_broadcast_camp_json_col(row[13], lengths[13]);
    if (json_is_null(variants)) {
        json_decref(variants);
        variants = json_array();
    }

    steps = ngx_http_broadcast_camp_json_col(row[21], lengths[21]);
    if (json_is_null(steps)) {
        json_decref(steps);
        steps = json_array();
    }

    c = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:o,s:o,s:o,"
                  "s:o}",
                  "id", (json_int_t) strtoll(row[0], NULL, 10),
                  "name", ngx_http_broadcast_camp_str(row[1]),
                  "channel", ngx_http_broadcast_camp_str(row[2]),
                  "status", ngx_http_broadcast_camp_str(row[3]),
                  "error", ngx_http_broadcast_camp_str(row[4]),
                  "batch_id", ngx_http_broadcast_camp_str(row[5]),
                  "template_id", ngx_http_broadcast_camp_num(row[6]),
                  "never_repeat_template", row[7] && row[7][0] == '1',
                  "audience",
                  ngx_http_broadcast_camp_json_col(row[8], lengths[8]),
                  "rate_per_second", ngx_http_broadcast_camp_num(row[9]),
                  "quiet_hours",
                  ngx_http_broadcast_camp_json_col(row[10], lengths[10]),
                  "schedule_at", ngx_http_broadcast_camp_str(row[11]),
                  "template_variables",
                  ngx_http_broadcast_camp_json_col(row[12], lengths[12]),
                  "variants", variants);

    if (c == NULL) {
        json_decref(steps);
        return NULL;
    }

    json_object_set_new(c, "steps", steps);
    json_object_set_new(c, "created_at", ngx_http_broadcast_camp_str(row[14]));
    json_object_set_new(c, "updated_at", ngx_http_broadcast_camp_str(row[15]));
    json_object_set_new(c, "started_at", ngx_http_broadcast_camp_str(row[16]));
    json_object_set_new(c, "completed_at",
                        ngx_http_broadcast_camp_str(row[17]));

    /* why a running campaign is not sending for now (the dispatcher's) */
    json_object_set_new(c, "hold", row[22] == NULL ? json_null()
        : json_pack("{s:o,s:o,s:o}",
                    "reason", ngx_http_broadcast_camp_str(row[22]),
                    "message", ngx_http_broadcast_camp_str(row[23]),
                    "until", ngx_http_broadcast_camp_str(row[24])));

    return c;
}


/* thread: GET /api/campaigns, newest first, by status */
void
ngx_http_broadcast_camp_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    int         n;
    char        where[96], sql[4096];
    MYSQL_RES  *res;

    static const char  *statuses[] = {
        "draft", "scheduled", "running", "paused", "completed", "cancelled",
        "failed", NULL
    };

    if (ngx_http_broadcast_sql_read(ctx, conn) != 0) {
        return;
    }

    if (cp->status[0] && !ngx_http_broadcast_sql_enum(statuses, cp->status)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "status must be one of draft, scheduled, "
            "running, paused, completed, cancelled, failed");
        return;
    }

    /* the status is one of the list above: nothing to escape */
    snprintf(where, sizeof(where), "%s%s%s",
             cp->status[0] ? " AND c.status='" : "", cp->status,
             cp->status[0] ? "'" : "");

    n = snprintf(sql, sizeof(sql), "SELECT %s FROM campaigns c WHERE "
                 "c.id<%lld%s ORDER BY c.id DESC LIMIT %u",
                 NGX_HTTP_BROADCAST_CAMP_COLUMNS,
                 cp->cursor ? cp->cursor : LLONG_MAX, where,
                 (unsigned) cp->limit + 1);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return;
    }

    (void) ngx_http_broadcast_sql_page_result(ctx, res, cp->limit,
               ngx_http_broadcast_camp_json, NULL, "campaigns");
}


/* a row of the stats' GROUP BY into the counters of c */
static void
ngx_http_broadcast_camp_count(ngx_http_broadcast_camp_count_t *c,
    MYSQL_ROW row)
{
    long long    n;
    json_t      *v;
    ngx_uint_t   i;

    n = strtoll(row[4], NULL, 10);
    c->n[NGX_HTTP_BROADCAST_CAMP_N_AUDIENCE] += n;

    if (ngx_strcmp(row[1], "skipped") == 0) {
        v = json_object_get(c->skipped, row[2]);
        json_object_set_new(c->skipped, row[2],
                            json_integer(n + (v ? json_integer_value(v)
                                                : 0)));
        c->n[NGX_HTTP_BROADCAST_CAMP_N_FINISHED] += n;
        return;
    }

    c->n[NGX_HTTP_BROADCAST_CAMP_N_ELIGIBLE] += n;

    /* pending until its quiet hours end: eligible, shown with the skips
       while it waits, queued when the window ends */
    if (ngx_strcmp(row[1], "deferred") == 0) {
        v = json_object_get(c->skipped, "quiet_hours_deferred");
        json_object_set_new(c->skipped, "quiet_hours_deferred",
                            json_integer(n + (v ? json_integer_value(v)
                                                : 0)));
        return;
    }

    if (ngx_strcmp(row[1], "pending") == 0) {
        c->n[NGX_HTTP_BROADCAST_CAMP_N_PENDING] += n;
        return;
    }

    if (ngx_strcmp(row[1], "cancelled") == 0) {
        c->n[NGX_HTTP_BROADCAST_CAMP_N_CANCELLED] += n;
        c->n[NGX_HTTP_BROADCAST_CAMP_N_FINISHED] += n;
        return;
    }

    /* queued: in the stream until its message row tells more */
    for (i = 0; ngx_http_broadcast_camp_buckets[i].status; i++) {
        if (ngx_strcmp(row[3], ngx_http_broadcast_camp_buckets[i].status)
            == 0)
        {
            c->n[ngx_http_broadcast_camp_buckets[i].bucket] += n;

            if (ngx_http_broadcast_camp_buckets[i].finished) {
                c->n[NGX_HTTP_BROADCAST_CAMP_N_FINISHED] += n;
            }

            return;
        }
    }

    c->n[NGX_HTTP_BROADCAST_CAMP_N_QUEUED] += n;
}


/* the counters as JSON members of o */
static void
ngx_http_broadcast_camp_counters_json(json_t *o,
    ngx_http_broadcast_camp_count_t *c)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_broadcast_camp_counters[i]; i++) {
        json_object_set_new(o, ngx_http_broadcast_camp_counters[i],
                            json_integer(c->n[i]));
    }

    json_object_set(o, "skipped", c->skipped);
}


/* thread: the cost per price unit (exact DECIMAL sums as strings) */
static json_t *
ngx_http_broadcast_camp_cost(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    int         n;
    char        sql[512];
    json_t     *cost;
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    n = snprintf(sql, sizeof(sql), "SELECT m.price_unit, SUM(m.price) FROM "
                 "campaign_recipients r JOIN messages m ON m.id=r.message_id "
                 "WHERE r.campaign_id=%lld AND m.price IS NOT NULL "
                 "GROUP BY 1 ORDER BY 1", id);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return NULL;
    }

    cost = json_array();

    while (cost && (row = mysql_fetch_row(res)) != NULL) {
        json_array_append_new(cost, json_pack("{s:s,s:o}", "amount",
                              row[1] ? row[1] : "0", "unit",
                              ngx_http_broadcast_camp_str(row[0])));
    }

    mysql_free_result(res);

    return cost;
}


/* progress: finished / (all recipients once the fan-out is done; else the
   limit plus the skipped, or the rows so far), never 1 before the end */
static double
ngx_http_broadcast_camp_progress(ngx_http_broadcast_camp_count_t *all,
    MYSQL_ROW row)
{
    double     total, done;
    long long  limit;

    done = all->n[NGX_HTTP_BROADCAST_CAMP_N_FINISHED];
    total = all->n[NGX_HTTP_BROADCAST_CAMP_N_AUDIENCE];

    if (row[20] && row[20][0] == '1') {
        return total > 0 ? done / total : 1.0;
    }

    limit = row[18] ? strtoll(row[18], NULL, 10) : 0;

    if (limit) {
        total = limit + all->n[NGX_HTTP_BROADCAST_CAMP_N_AUDIENCE]
                - all->n[NGX_HTTP_BROADCAST_CAMP_N_ELIGIBLE];
    }

    if (total <= 0) {
        return 0.0;
    }

    return done / total < 0.99 ? done / total : 0.99;
}


/* thread: the stats of the campaign of row; NULL with ctx's error set */
static json_t *
ngx_http_broadcast_camp_stats(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, MYSQL_ROW crow,
    json_t *variants, json_t *steps)
{
    int                               n;
    char                              sql[1024];
    json_t                           *stats, *v;
    size_t                            i, nv, ns, step;
    MYSQL_RES                        *res;
    MYSQL_ROW                         row;
    ngx_http_broadcast_camp_count_t   all, per[
                                          NGX_HTTP_BROADCAST_CAMP_VARIANTS_MAX],
                                      later[NGX_HTTP_BROADCAST_CAMP_STEPS_MAX];

    n = snprintf(sql, sizeof(sql), "SELECT r.variant, "
                 "IF(r.state='pending' AND r.not_before>UTC_TIMESTAMP(3), "
                 "'deferred', r.state), "
                 "COALESCE(r.skip_reason,'other'), COALESCE(m.status,''), "
                 "COUNT(*), r.step FROM campaign_recipients r LEFT JOIN "
                 "messages m ON m.id=r.message_id WHERE r.campaign_id=%lld "
                 "GROUP BY 1,2,3,4,6", id);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return NULL;
    }

    /* the API writes at most 10 variants: any more are not counted */
    nv = ngx_min(json_array_size(variants),
                 NGX_HTTP_BROADCAST_CAMP_VARIANTS_MAX);
    ngx_memzero(&all, sizeof(all));
    ngx_memzero(per, sizeof(per));
    all.skipped = json_object();

    for (i = 0; i < nv; i++) {
        per[i].skipped = json_object();
    }

    /* the campaign's own message (step 0) is counted at the top and per
       variant, each later step by itself */
    ns = ngx_min(json_array_size(steps), NGX_HTTP_BROADCAST_CAMP_STEPS_MAX);
    ngx_memzero(later, sizeof(later));

    for (i = 0; i < ns; i++) {
        later[i].skipped = json_object();
    }

    while ((row = mysql_fetch_row(res)) != NULL) {
        step = strtoul(row[5], NULL, 10);

        if (step > 0) {
            if (step <= ns) {
                ngx_http_broadcast_camp_count(&later[step - 1], row);
            }

            continue;
        }

        ngx_http_broadcast_camp_count(&all, row);

        i = strtoul(row[0], NULL, 10);
        if (i < nv) {
            ngx_http_broadcast_camp_count(&per[i], row);
        }
    }

    mysql_free_result(res);

    stats = json_object();
    ngx_http_broadcast_camp_counters_json(stats, &all);
    json_object_set_new(stats, "cost",
                        ngx_http_broadcast_camp_cost(ctx, conn, id));
    json_object_set_new(stats, "progress",
                        json_real(ngx_http_broadcast_camp_progress(&all,
                                                                   crow)));

    json_array_foreach(variants, i, v) {
        if (i >= nv) {
            break;
        }

        v = json_pack("{s:O,s:O}", "name", json_object_get(v, "name"),
                      "weight", json_object_get(v, "weight"));
        ngx_http_broadcast_camp_counters_json(v, &per[i]);
        json_decref(per[i].skipped);
        json_array_set_new(variants, i, v);
    }

    json_decref(all.skipped);
    json_object_set(stats, "variants", variants);

    json_array_foreach(steps, i, v) {
        if (i >= ns) {
            break;
        }

        v = json_deep_copy(v);
        if (v) {
            ngx_http_broadcast_camp_counters_json(v, &later[i]);
            json_array_set_new(steps, i, v);
        }

        json_decref(later[i].skipped);
    }

    json_object_set(stats, "steps", steps);

    if (ctx->code) {
        json_decref(stats);
        return NULL;
    }

    return stats;
}


/*
 * Stats that were expensive to count (a campaign of hundreds of thousands
 * of recipients: a scan of its rows joined to their messages) are shared
 * through Redis for five times what they cost, between 0.5 and 10 s, so a
 * console polling every second does not keep MySQL scanning; cheap ones
 * (under 100 ms) are counted at every request.
 */
#define NGX_HTTP_BROADCAST_CAMP_STATS_SHARE_MS  100
#define NGX_HTTP_BROADCAST_CAMP_STATS_KEY       "bc:campstats:{%lld}"

static long long
ngx_http_broadcast_camp_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static json_t *
ngx_http_broadcast_camp_stats_shared(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, MYSQL_ROW crow,
    json_t *variants, json_t *steps)
{
    char          key[64], px[24], err[128], *dump;
    size_t        lens[5];
    json_t       *s;
    long long     t0, cost;
    redisReply   *reply;
    const char   *argv[5];

    snprintf(key, sizeof(key), NGX_HTTP_BROADCAST_CAMP_STATS_KEY, id);
    argv[0] = "GET";
    argv[1] = key;
    lens[0] = 3;
    lens[1] = strlen(key);

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 2, argv, lens, err,
                                         sizeof(err));
    if (reply) {
        s = reply->type == REDIS_REPLY_STRING
            ? json_loadb(reply->str, reply->len, 0, NULL) : NULL;
        freeReplyObject(reply);

        if (s) {
            return s;
        }
    }

    t0 = ngx_http_broadcast_camp_now_ms();
    s = ngx_http_broadcast_camp_stats(ctx, conn, id, crow, variants, steps);
    cost = ngx_http_broadcast_camp_now_ms() - t0;

    if (s == NULL || cost < NGX_HTTP_BROADCAST_CAMP_STATS_SHARE_MS) {
        return s;
    }

    dump = json_dumps(s, JSON_COMPACT);
    if (dump == NULL) {
        return s;
    }

    snprintf(px, sizeof(px), "%lld", ngx_min(ngx_max(5 * cost, 500), 10000));
    argv[0] = "SET";
    argv[2] = dump;
    argv[3] = "PX";
    argv[4] = px;
    lens[0] = 3;
    lens[2] = strlen(dump);
    lens[3] = 2;
    lens[4] = strlen(px);

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 5, argv, lens, err,
                                         sizeof(err));
    if (reply) {
        freeReplyObject(reply);
    }

    free(dump);

    return s;
}


json_t *
ngx_http_broadcast_camp_one(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, ngx_uint_t stats)
{
    int         n;
    char        sql[4096];
    json_t     *c, *s, *variants, *steps;
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    n = snprintf(sql, sizeof(sql), "SELECT %s FROM campaigns c WHERE "
                 "c.id=%lld", NGX_HTTP_BROADCAST_CAMP_COLUMNS, id);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return NULL;
    }

    row = mysql_fetch_row(res);

    if (row == NULL) {
        mysql_free_result(res);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no campaign with id %lld", id);
        return NULL;
    }

    c = ngx_http_broadcast_camp_json(NULL, row, mysql_fetch_lengths(res));

    if (c && stats) {
        variants = json_deep_copy(json_object_get(c, "variants"));
        steps = json_deep_copy(json_object_get(c, "steps"));
        s = ngx_http_broadcast_camp_stats_shared(ctx, conn, id, row,
                                                 variants, steps);
        json_decref(variants);
        json_decref(steps);

        if (s == NULL) {
            json_decref(c);
            c = NULL;

        } else {
            json_object_set_new(c, "stats", s);
        }
    }

    mysql_free_result(res);

    return c;
}


int
ngx_http_broadcast_camp_status(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, char *out, size_t size)
{
    int         n;
    char        sql[128];
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    n = snprintf(sql, sizeof(sql), "SELECT status FROM campaigns WHERE "
                 "id=%lld", id);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(res);
    if (row) {
        ngx_cpystrn((u_char *) out, (u_char *) row[0], size);
    }

    mysql_free_result(res);

    if (row == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no campaign with id %lld", id);
        return 0;
    }

    return 1;
}


void
ngx_http_broadcast_camp_refused(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, const char *what)
{
    char  status[32];

    if (ngx_http_broadcast_camp_status(ctx, conn, id, status, sizeof(status))
        != 1)
    {
        return;
    }

    ctx->error_extra = json_pack("{s:s}", "status", status);
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT,
        "invalid_transition", "campaign %lld is %s: %s", id, status, what);
}
