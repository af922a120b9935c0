/*
 * Reporting, computed in SQL from the rows the sender and recorder write:
 *   GET /api/stats            outbound messages by status, cost, by day
 *   GET /api/stats/series     outbound messages per channel per hour or
 *                             day (the console's chart)
 *   GET /api/webhook-events   the audit rows of message_events, newest
 *                             first, keyset-paged on their id
 *   GET /api/sms/stats        the predecessor's shape of the SMS counts
 * Message ids are ULIDs, so from/to become an id range on the primary key
 * (docs/DESIGN.md, "Listings never need a time index"): no time index is
 * written on the hot path for the sake of a report.
 */


#include "ngx_http_broadcast_api.h"
#include "ngx_http_broadcast_provider.h"

#include "bc_id.h"
#include "bc_utf8.h"



#define NGX_HTTP_BROADCAST_EVENTS_LIMIT      50
#define NGX_HTTP_BROADCAST_EVENTS_LIMIT_MAX  200
#define NGX_HTTP_BROADCAST_STATS_UNITS       16     /* price units kept */

/* nginx names no 422 */
#define NGX_HTTP_BROADCAST_STATS_UNPROCESSABLE  422


typedef struct {
    ngx_uint_t   variant;
    /* stats */
    char         channel[16];                  /* empty: every channel */
    ngx_uint_t   inbound;                      /* count inbound rows too */
    char         batch_id[BC_ULID_LEN + 1];    /* empty: every batch */
    char         id_from[BC_ULID_LEN + 1];     /* empty: no bound */
    char         id_to[BC_ULID_LEN + 1];
    char         bucket[8];                    /* series: hour or day */
    /* webhook events */
    char         provider[16];                 /* empty: every provider */
    ngx_uint_t   limit;
    long long    cursor;                       /* 0: the newest page */
} ngx_http_broadcast_stats_t;


/* the counters of one day (and of the whole range) */
typedef struct {
    long long    total;
    long long    delivered;                    /* delivered or read */
    long long    failed;                       /* failed or undelivered */
} ngx_http_broadcast_stats_day_t;


static void ngx_http_broadcast_stats_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_series_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_events_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/*
 * the query argument name as a bound of the id range: the ULID of its
 * millisecond with the lowest ('0') or highest ('Z') random part; a bare
 * date as "to" is the whole day (its last millisecond). 0 when absent or
 * empty, -1 when not a time.
 */
static int
ngx_http_broadcast_stats_time(ngx_http_request_t *r, const char *name,
    char fill, char id[BC_ULID_LEN + 1])
{
    char     buf[64];
    ssize_t  n;

    n = ngx_http_broadcast_api_arg(r, name, buf, sizeof(buf));
    if (n == -1 || n == 0) {
        return 0;
    }

    if (n < 0) {
        return -1;
    }

    return ngx_http_broadcast_sql_time(buf, NGX_HTTP_BROADCAST_TIME_DAY, fill,
                                       id);
}


/* the query argument name, one of words, into out; 0, or -1 if not one */
static int
ngx_http_broadcast_stats_word(ngx_http_request_t *r, const char *name,
    const char **words, char *out, size_t size)
{
    char      buf[32];
    ssize_t   n;

    n = ngx_http_broadcast_api_arg(r, name, buf, sizeof(buf));
    if (n == -1 || n == 0) {
        return 0;
    }

    if (n < 0 || !ngx_http_broadcast_sql_enum(words, buf)) {
        return -1;
    }

    ngx_cpystrn((u_char *) out, (u_char *) buf, size);

    return 0;
}


/* GET /api/stats: channel, from, to, batch_id; 0, or -1 with ctx's error */
static int
ngx_http_broadcast_stats_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_stats_t *st)
{
    char         buf[64];
    ssize_t      n;
    ngx_uint_t   sms;
    const char  *from, *to;

    sms = (st->variant == NGX_HTTP_BROADCAST_STATS_SMS);

    if (sms) {
        /* its SMS rows both ways: "received" counts inbound texts */
        ngx_cpystrn((u_char *) st->channel, (u_char *) "sms",
                    sizeof(st->channel));
        st->inbound = 1;

        /* no campaigns yet: an unfiltered answer would be wrong numbers */
        n = ngx_http_broadcast_api_arg(r, "campaign_id", buf, sizeof(buf));
        if (n != -1 && n != 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "campaign_id is not supported yet (no "
                "campaigns are kept); filter by batch_id or a time range");
            return -1;
        }

    } else if (ngx_http_broadcast_stats_word(r, "channel",
                                      ngx_http_broadcast_channel_names,
                                      st->channel, sizeof(st->channel))
        != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "channel must be sms, whatsapp or email");
        return -1;
    }

    /* the predecessor's console sent created_from/created_to */
    from = sms ? "created_from" : "from";
    to = sms ? "created_to" : "to";

    if (ngx_http_broadcast_stats_time(r, from, '0', st->id_from) != 0
        || ngx_http_broadcast_stats_time(r, to, 'Z', st->id_to) != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "%s and %s must be ISO-8601 times such as "
            "2026-11-21T10:00:00Z or dates such as 2026-11-21 (a date as "
            "\"%s\" includes that whole day, UTC)", from, to, to);
        return -1;
    }

    if (st->id_from[0] && st->id_to[0]
        && ngx_strcmp(st->id_from, st->id_to) > 0)
    {
        ngx_http_broadcast_api_error(ctx,
            NGX_HTTP_BROADCAST_STATS_UNPROCESSABLE, "invalid_range",
            "%s must not be later than %s", from, to);
        return -1;
    }

    /* a batch id is a ULID: validated here, so it reaches SQL as ASCII */
    n = ngx_http_broadcast_api_arg(r, "batch_id", st->batch_id,
                                   sizeof(st->batch_id));
    if (n == -2 || (n > 0 && !bc_ulid_valid(st->batch_id, n))) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "batch_id must be a batch id (a 26-character "
            "ULID) as POST /api/send/* returned it");
        return -1;
    }

    if (n <= 0) {
        st->batch_id[0] = '\0';
    }

    return 0;
}


static const char  *ngx_http_broadcast_series_buckets[] = {
    "hour", "day", NULL
};


/* GET /api/stats/series: the stats arguments and bucket=hour|day */
static int
ngx_http_broadcast_series_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_stats_t *st)
{
    ngx_cpystrn((u_char *) st->bucket, (u_char *) "hour", sizeof(st->bucket));

    if (ngx_http_broadcast_stats_word(r, "bucket",
                                      ngx_http_broadcast_series_buckets,
                                      st->bucket, sizeof(st->bucket))
        != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "bucket must be hour or day");
        return -1;
    }

    return ngx_http_broadcast_stats_args(r, ctx, st);
}


/* GET /api/webhook-events: provider, limit, cursor; 0, or -1 with error */
static int
ngx_http_broadcast_events_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_stats_t *st)
{
    char                            buf[32];
    const char                     *names[8];
    ssize_t                         n;
    ngx_int_t                       num;
    ngx_uint_t                      i;
    ngx_http_broadcast_provider_t **pp;

    /* the providers the module knows are the ones events can come from */
    for (i = 0, pp = ngx_http_broadcast_providers; *pp && i < 7; pp++, i++) {
        names[i] = (const char *) (*pp)->name.data;
    }

    names[i] = NULL;

    if (ngx_http_broadcast_stats_word(r, "provider", names, st->provider,
                                      sizeof(st->provider))
        != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "provider must be twilio, sendgrid or meta");
        return -1;
    }

    st->limit = NGX_HTTP_BROADCAST_EVENTS_LIMIT;

    n = ngx_http_broadcast_api_arg(r, "limit", buf, sizeof(buf));
    if (n != -1) {
        num = n > 0 ? ngx_atoi((u_char *) buf, n) : NGX_ERROR;

        if (num < 1 || num > NGX_HTTP_BROADCAST_EVENTS_LIMIT_MAX) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "limit must be 1 to %d",
                NGX_HTTP_BROADCAST_EVENTS_LIMIT_MAX);
            return -1;
        }

        st->limit = num;
    }

    n = ngx_http_broadcast_api_arg(r, "cursor", buf, sizeof(buf));
    if (n == -1 || n == 0) {
        return 0;
    }

    num = n > 0 ? ngx_atoi((u_char *) buf, n) : NGX_ERROR;

    if (num <= 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "cursor must be the next_cursor of the "
            "previous page");
        return -1;
    }

    st->cursor = num;

    return 0;
}


NGX_HTTP_BROADCAST_ROUTE(stats)
{
    ngx_http_broadcast_stats_t  *st;

    st = ngx_http_broadcast_api_op_new(r, ctx,
             sizeof(ngx_http_broadcast_stats_t),
             args->variant == NGX_HTTP_BROADCAST_STATS_EVENTS
             ? ngx_http_broadcast_events_op
             : args->variant == NGX_HTTP_BROADCAST_STATS_SERIES
             ? ngx_http_broadcast_series_op : ngx_http_broadcast_stats_op,
             ngx_free);
    if (st == NULL) {
        return;
    }

    st->variant = args->variant;

    if (args->variant == NGX_HTTP_BROADCAST_STATS_SERIES) {
        (void) ngx_http_broadcast_series_args(r, ctx, st);
        return;
    }

    if (args->variant == NGX_HTTP_BROADCAST_STATS_EVENTS) {
        (void) ngx_http_broadcast_events_args(r, ctx, st);
        return;
    }

    (void) ngx_http_broadcast_stats_args(r, ctx, st);
}


/*
 * the WHERE of the stats queries. Every value in it was validated in the
 * loop: the channel is one of a fixed list, ids and bounds are ULIDs
 * (Crockford base32), so none needs quoting beyond the quotes around it.
 */
static int
ngx_http_broadcast_stats_where(ngx_http_broadcast_stats_t *st, char *buf,
    size_t size)
{
    int  n;

    n = snprintf(buf, size, "%s%s%s%s%s%s%s%s%s%s%s%s%s",
                 st->inbound ? "1" : "direction = 'outbound'",
                 st->channel[0] ? " AND channel = '" : "", st->channel,
                 st->channel[0] ? "'" : "",
                 st->batch_id[0] ? " AND batch_id = '" : "", st->batch_id,
                 st->batch_id[0] ? "'" : "",
                 st->id_from[0] ? " AND id >= '" : "", st->id_from,
                 st->id_from[0] ? "'" : "",
                 st->id_to[0] ? " AND id <= '" : "", st->id_to,
                 st->id_to[0] ? "'" : "");

    return (n > 0 && (size_t) n < size) ? n : -1;
}


/* thread: by_status, by_day and the totals from one GROUP BY day, status */
static json_t *
ngx_http_broadcast_stats_counts(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *where,
    ngx_http_broadcast_stats_day_t *all, json_t *by_status)
{
    int                              n;
    char                             sql[1024], day[16];
    json_t                          *by_day, *cur;
    long long                        count, prev;
    MYSQL_RES                       *res;
    MYSQL_ROW                        row;
    ngx_http_broadcast_stats_day_t   d;

    n = snprintf(sql, sizeof(sql), "SELECT DATE_FORMAT(created_at, "
                 "'%%Y-%%m-%%d'), status, COUNT(*) FROM messages WHERE %s "
                 "GROUP BY 1, 2 ORDER BY 1, 2", where);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return NULL;
    }

    by_day = json_array();
    day[0] = '\0';
    ngx_memzero(&d, sizeof(d));

    /* rows come ordered by day: a day's object is done when the day changes */
    for ( ;; ) {
        row = by_day ? mysql_fetch_row(res) : NULL;

        if (day[0] && (row == NULL || row[0] == NULL || strcmp(row[0], day)))
        {
            cur = json_pack("{s:s,s:I,s:I,s:I}", "day", day, "total",
                            (json_int_t) d.total, "delivered",
                            (json_int_t) d.delivered, "failed",
                            (json_int_t) d.failed);

            if (cur == NULL || json_array_append_new(by_day, cur) != 0) {
                json_decref(by_day);
                by_day = NULL;
                break;
            }

            day[0] = '\0';
            ngx_memzero(&d, sizeof(d));
        }

        if (row == NULL) {
            break;
        }

        if (row[0] == NULL || row[1] == NULL || row[2] == NULL) {
            continue;
        }

        ngx_cpystrn((u_char *) day, (u_char *) row[0], sizeof(day));
        count = strtoll(row[2], NULL, 10);

        d.total += count;
        all->total += count;

        if (strcmp(row[1], "delivered") == 0 || strcmp(row[1], "read") == 0) {
            d.delivered += count;
            all->delivered += count;

        } else if (strcmp(row[1], "failed") == 0
                   || strcmp(row[1], "undelivered") == 0)
        {
            d.failed += count;
            all->failed += count;
        }

        prev = json_integer_value(json_object_get(by_status, row[1]));
        json_object_set_new(by_status, row[1], json_integer(prev + count));
    }

    mysql_free_result(res);

    if (by_day == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }

    return by_day;
}


/* thread: the sum of price per price_unit, exact (DECIMAL) as strings */
static json_t *
ngx_http_broadcast_stats_cost(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *where)
{
    int          n;
    char         sql[1024];
    json_t      *cost, *item;
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    ngx_uint_t   units;

    n = snprintf(sql, sizeof(sql), "SELECT price_unit, SUM(price) FROM "
                 "messages WHERE %s AND price IS NOT NULL GROUP BY 1 "
                 "ORDER BY 1 LIMIT %d", where,
                 NGX_HTTP_BROADCAST_STATS_UNITS);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return NULL;
    }

    cost = json_array();
    units = 0;

    while (cost && (row = mysql_fetch_row(res)) != NULL
           && units++ < NGX_HTTP_BROADCAST_STATS_UNITS)
    {
        /* a provider's unit is its bytes: repaired so jansson takes it */
        if (row[0]) {
            bc_utf8_repair(row[0], strlen(row[0]));
        }

        item = json_pack("{s:s,s:s?}", "amount", row[1] ? row[1] : "0",
                         "unit", row[0]);

        if (item == NULL || json_array_append_new(cost, item) != 0) {
            json_decref(cost);
            cost = NULL;
        }
    }

    mysql_free_result(res);

    if (cost == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }

    return cost;
}


/* the counts GET /api/sms/stats names, zero when none */
static const char  *ngx_http_broadcast_stats_sms_keys[] = {
    "delivered", "failed", "undelivered", "queued", "sent", "received",
    "blocked", NULL
};


/*
 * thread: the predecessor's shape: {total, <status>: n, ..., cost,
 * price_unit}. Its cost was a number: the exact DECIMAL sum goes into the
 * text as a number literal (a binary double would print as -0.0299999...).
 * With several units, the first (alphabetical) is named; /api/stats
 * lists them all.
 */
static void
ngx_http_broadcast_stats_sms(ngx_http_broadcast_api_ctx_t *ctx,
    long long total, json_t *by_status, json_t *cost)
{
    char         *text, *out;
    size_t        len;
    json_t       *res, *first, *unit;
    const char   *amount, *p, **k;

    res = json_pack("{s:I}", "total", (json_int_t) total);

    for (k = ngx_http_broadcast_stats_sms_keys; res && *k; k++) {
        json_object_set_new(res, *k, json_integer(json_integer_value(
                                         json_object_get(by_status, *k))));
    }

    first = json_array_get(cost, 0);
    amount = json_string_value(json_object_get(first, "amount"));

    for (p = amount; p && *p; p++) {
        if (!isdigit((u_char) *p) && *p != '-' && *p != '.') {
            amount = NULL;
        }
    }

    unit = json_object_get(first, "unit");

    if (res) {
        json_object_set_new(res, "price_unit",
                            unit ? json_incref(unit) : json_null());
    }

    text = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);

    len = text ? strlen(text) : 0;
    out = len ? malloc(len + 64) : NULL;

    if (out == NULL) {
        free(text);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    /* "...}" becomes "...,"cost":<amount>}" */
    snprintf(out, len + 64, "%.*s,\"cost\":%s}", (int) (len - 1), text,
             amount && *amount ? amount : "0");
    free(text);

    ctx->result_text = out;
    ctx->result_len = strlen(out);
}


static void
ngx_http_broadcast_stats_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_stats_t *st = ctx->op_data;

    char                             where[512];
    json_t                          *by_status, *by_day, *cost, *rate;
    long long                        known;
    ngx_http_broadcast_stats_day_t   all;

    if (ngx_http_broadcast_sql_read(ctx, conn) != 0) {
        return;
    }

    if (ngx_http_broadcast_stats_where(st, where, sizeof(where)) < 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "query too long");
        return;
    }

    ngx_memzero(&all, sizeof(all));

    by_status = json_object();
    if (by_status == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    by_day = ngx_http_broadcast_stats_counts(ctx, conn, where, &all,
                                             by_status);
    if (by_day == NULL) {
        json_decref(by_status);
        return;
    }

    cost = ngx_http_broadcast_stats_cost(ctx, conn, where);
    if (cost == NULL) {
        json_decref(by_status);
        json_decref(by_day);
        return;
    }

    /*
     * delivered (or read) among the messages whose outcome is known:
     * delivered, read, failed, undelivered. In-flight messages and those
     * never offered to a carrier (blocked, canceled) do not count.
     */
    if (st->variant == NGX_HTTP_BROADCAST_STATS_SMS) {
        ngx_http_broadcast_stats_sms(ctx, all.total, by_status, cost);
        json_decref(by_status);
        json_decref(by_day);
        json_decref(cost);
        return;
    }

    known = all.delivered + all.failed;
    rate = known ? json_real((double) all.delivered / known) : json_null();

    ctx->result = json_pack("{s:I,s:o,s:o,s:o,s:o}", "total",
                            (json_int_t) all.total, "by_status", by_status,
                            "delivery_rate", rate, "cost", cost, "by_day",
                            by_day);
}


/*
 * thread: {"bucket","points":[{"at","sms","whatsapp","email"}]}, one point
 * per bucket that has messages, in time order, every channel named (0 when
 * none). One GROUP BY bucket, channel; rows come ordered by bucket, so a
 * point is complete when the bucket changes.
 */
static void
ngx_http_broadcast_series_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_stats_t *st = ctx->op_data;

    int           n;
    char          where[512], sql[1024];
    json_t       *points, *point;
    MYSQL_RES    *res;
    MYSQL_ROW     row;
    const char  **ch;

    if (ngx_http_broadcast_sql_read(ctx, conn) != 0) {
        return;
    }

    if (ngx_http_broadcast_stats_where(st, where, sizeof(where)) < 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "query too long");
        return;
    }

    /* created_at is UTC: the bucket's start, written as an ISO-8601 time */
    n = snprintf(sql, sizeof(sql), "SELECT DATE_FORMAT(created_at, '%s'), "
                 "channel, COUNT(*) FROM messages WHERE %s GROUP BY 1, 2 "
                 "ORDER BY 1, 2",
                 ngx_strcmp(st->bucket, "day") == 0
                 ? "%Y-%m-%dT00:00:00Z" : "%Y-%m-%dT%H:00:00Z", where);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return;
    }

    points = json_array();
    point = NULL;

    while (points && (row = mysql_fetch_row(res)) != NULL) {
        if (row[0] == NULL || row[1] == NULL || row[2] == NULL) {
            continue;
        }

        if (point == NULL || strcmp(json_string_value(
                                 json_object_get(point, "at")), row[0]))
        {
            point = json_pack("{s:s}", "at", row[0]);

            for (ch = ngx_http_broadcast_channel_names; point && *ch; ch++) {
                json_object_set_new(point, *ch, json_integer(0));
            }

            if (point == NULL || json_array_append_new(points, point) != 0) {
                json_decref(points);
                points = NULL;
                break;
            }
        }

        if (ngx_http_broadcast_sql_enum(ngx_http_broadcast_channel_names,
                                        row[1]))
        {
            json_object_set_new(point, row[1],
                                json_integer(strtoll(row[2], NULL, 10)));
        }
    }

    mysql_free_result(res);

    ctx->result = points ? json_pack("{s:s,s:o}", "bucket", st->bucket,
                                     "points", points)
                         : NULL;

    if (ctx->result == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }
}


/* a text column as a JSON string (repaired if a provider's bytes are not
   UTF-8), or null */
static json_t *
ngx_http_broadcast_events_str(char *s, unsigned long len)
{
    if (s == NULL) {
        return json_null();
    }

    bc_utf8_repair(s, len);

    return json_stringn(s, len);
}


/* the columns of one audit row, in the order of the SELECT */
typedef struct {
    const char  *name;
    ngx_uint_t   number;      /* a JSON number; otherwise text (or null) */
} ngx_http_broadcast_events_col_t;

static const ngx_http_broadcast_events_col_t
    ngx_http_broadcast_events_columns[] =
{
    { "id", 1 }, { "provider", 0 }, { "kind", 0 }, { "message_id", 0 },
    { "dedup_key", 0 }, { "provider_message_id", 0 }, { "status", 0 },
    { "error_code", 0 }, { "error_message", 0 },
    { "price", 0 },                   /* DECIMAL: a string, as /api/status */
    { "price_unit", 0 }, { "num_segments", 1 }, { "payload", 0 },
    { "created_at", 0 }, { NULL, 0 }
};


/* one audit row as JSON */
static json_t *
ngx_http_broadcast_events_row(void *data, MYSQL_ROW row,
    unsigned long *lens)
{
    json_t      *item, *v;
    ngx_uint_t   i;

    item = json_object();

    for (i = 0; item && ngx_http_broadcast_events_columns[i].name; i++) {
        if (ngx_http_broadcast_events_columns[i].number) {
            v = row[i] ? json_integer(strtoll(row[i], NULL, 10))
                       : json_null();

        } else if (ngx_strcmp(ngx_http_broadcast_events_columns[i].name,
                              "payload") == 0)
        {
            /* the raw webhook body is sealed at rest (bc_crypt.h) */
            if (bc_db_set_sealed(item, "payload", row[i], lens[i], 0) != 0) {
                json_decref(item);
                item = NULL;
            }
            continue;

        } else {
            v = ngx_http_broadcast_events_str(row[i], lens[i]);
        }

        if (v == NULL || json_object_set_new(item,
                             ngx_http_broadcast_events_columns[i].name, v)
                         != 0)
        {
            json_decref(item);
            item = NULL;
        }
    }

    return item;
}


static void
ngx_http_broadcast_events_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_stats_t *st = ctx->op_data;

    int         n;
    char        sql[1024];
    MYSQL_RES  *res;

    if (ngx_http_broadcast_sql_read(ctx, conn) != 0) {
        return;
    }

    /* newest first; the provider is one of the module's table, no quoting */
    n = snprintf(sql, sizeof(sql), "SELECT id, provider, kind, message_id, "
                 "dedup_key, provider_message_id, status, error_code, "
                 "error_message, price, price_unit, num_segments, payload, "
                 "CONCAT(LEFT(DATE_FORMAT(received_at, "
                 "'%%Y-%%m-%%dT%%H:%%i:%%s.%%f'), 23), 'Z') "
                 "FROM message_events WHERE 1%s%lld%s%s%s ORDER BY id DESC "
                 "LIMIT %u", st->cursor ? " AND id < " : " AND id > ",
                 st->cursor, st->provider[0] ? " AND provider = '" : "",
                 st->provider, st->provider[0] ? "'" : "",
                 (unsigned) st->limit + 1);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return;
    }

    /* the cursor is a string: opaque to clients, whatever it holds later */
    (void) ngx_http_broadcast_sql_page_result(ctx, res, st->limit,
               ngx_http_broadcast_events_row, NULL, "events");
}
