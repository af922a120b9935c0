/*
 * Conversations and message listings, one SQL query each, paged in SQL:
 *   GET  /api/chat/users       one GROUP BY on peer
 *   GET  /api/chat/history     the messages of one peer (oldest first)
 *   POST /api/chat/mark-read   read_at of inbound rows
 *   GET  /api/messages         filtered listing (newest first)
 * Ids are ULIDs, so "ORDER BY id" is time order and created_from/created_to
 * become an id range (docs/DESIGN.md).
 */


#include "ngx_http_broadcast_api.h"

#include "bc_addr.h"
#include "bc_id.h"
#include "bc_phone.h"



#define NGX_HTTP_BROADCAST_MARK_MAX  1000


typedef struct {
    ngx_uint_t   what;
    ngx_uint_t   limit;
    ngx_uint_t   offset;
    char         channel[16];
    char         direction[16];
    char         status[16];
    char         batch_id[BC_ULID_LEN + 1];
    char         id_from[BC_ULID_LEN + 1];     /* empty: none */
    char         id_to[BC_ULID_LEN + 1];
    char         peer[NGX_HTTP_BROADCAST_ADDR_MAX];
    ngx_uint_t   nids;
    char        *ids;                          /* nids * 27, malloc'd */
} ngx_http_broadcast_chat_t;


static void ngx_http_broadcast_chat_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/*
 * the decoded value of a query argument: its length, -1 if absent, -2 if
 * it does not fit (with its NUL) into size bytes
 */
ssize_t
ngx_http_broadcast_api_arg(ngx_http_request_t *r, const char *name,
    char *buf, size_t size)
{
    u_char     *dst, *src;
    ngx_str_t   value;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &value) != NGX_OK)
    {
        return -1;
    }

    if (value.len >= size) {
        return -2;
    }

    /* '+' in a query means a space */
    ngx_memcpy(buf, value.data, value.len);
    buf[value.len] = '\0';

    for (dst = (u_char *) buf; dst < (u_char *) buf + value.len; dst++) {
        if (*dst == '+') {
            *dst = ' ';
        }
    }

    dst = (u_char *) buf;
    src = (u_char *) buf;
    ngx_unescape_uri(&dst, &src, value.len, 0);
    *dst = '\0';

    return dst - (u_char *) buf;
}


/*
 * the operation a request runs after its auth: op with size zeroed bytes
 * of op_data (heap, freed by op_free with ctx); NULL with ctx's error set
 */
void *
ngx_http_broadcast_api_op_new(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, size_t size,
    ngx_http_broadcast_op_pt op, ngx_http_broadcast_op_free_pt op_free)
{
    void  *data;

    data = ngx_calloc(size, r->connection->log);
    if (data == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return NULL;
    }

    ctx->op = op;
    ctx->op_data = data;
    ctx->op_free = op_free;

    return data;
}


/* an address in its peer form: +E164 for phones, lower-cased for email */
static int
ngx_http_broadcast_chat_peer(ngx_http_request_t *r, const char *in,
    size_t len, char *out)
{
    char                            buf[64], e164[BC_PHONE_MAX];
    size_t                          i;
    const char                     *reason;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (memchr(in, '@', len)) {
        return bc_email_valid(in, len, out) ? 0 : -1;
    }

    if (len > BC_WA_PREFIX_LEN && bc_wa_prefixed(in, len)) {
        in += BC_WA_PREFIX_LEN;
        len -= BC_WA_PREFIX_LEN;
    }

    /* Meta's wa_id: international digits without '+' */
    for (i = 0; i < len; i++) {
        if (in[i] < '0' || in[i] > '9') {
            break;
        }
    }

    if (i == len && len >= 8 && len <= 15) {
        buf[0] = '+';
        ngx_memcpy(buf + 1, in, len);
        in = buf;
        len++;
    }

    if (ngx_http_broadcast_phone(in, len, (char *) lcf->default_country.data,
                                 e164, &reason)
        != 0)
    {
        return -1;
    }

    ngx_cpystrn((u_char *) out, (u_char *) e164, NGX_HTTP_BROADCAST_ADDR_MAX);

    return 0;
}


static const char  *ngx_http_broadcast_channels[] = {
    "sms", "whatsapp", "email", NULL
};

static const char  *ngx_http_broadcast_directions[] = {
    "inbound", "outbound", NULL
};

static const char  *ngx_http_broadcast_statuses[] = {
    "queued", "accepted", "sending", "sent", "delivered", "read", "failed",
    "undelivered", "blocked", "canceled", "received", NULL
};


static void
ngx_http_broadcast_chat_free(void *data)
{
    ngx_http_broadcast_chat_t *q = data;

    ngx_free(q->ids);
    ngx_free(q);
}


/* POST /api/chat/mark-read: the message ids to mark */
static void
ngx_http_broadcast_chat_mark_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body,
    ngx_http_broadcast_chat_t *q)
{
    size_t   i;
    json_t  *json, *ids, *v;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    ids = json_object_get(json, "message_ids");

    if (!json_is_array(ids) || json_array_size(ids) == 0
        || json_array_size(ids) > NGX_HTTP_BROADCAST_MARK_MAX)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "message_ids must be an array of 1 to %d "
            "message ids", NGX_HTTP_BROADCAST_MARK_MAX);
        return;
    }

    json_array_foreach(ids, i, v) {
        if (!json_is_string(v)
            || !bc_ulid_valid(json_string_value(v), json_string_length(v)))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "message_ids[%u] is not a message id "
                "(26-character ULID)", (unsigned) i);
            return;
        }
    }

    /* the heap, not the pool: a late thread may still read them */
    q->ids = ngx_alloc(json_array_size(ids) * 27, r->connection->log);
    if (q->ids == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    json_array_foreach(ids, i, v) {
        ngx_memcpy(q->ids + i * 27, json_string_value(v), 26);
        q->ids[i * 27 + 26] = '\0';
    }

    q->nids = json_array_size(ids);
}


/*
 * the integer query argument name, min to max, into *out when given; 0, or
 * -1 with ctx's error set
 */
static int
ngx_http_broadcast_chat_num_arg(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, const char *name, ngx_int_t min,
    ngx_int_t max, const char *error, ngx_uint_t *out)
{
    char       buf[600];
    ssize_t    n;
    ngx_int_t  num;

    n = ngx_http_broadcast_api_arg(r, name, buf, sizeof(buf));
    if (n == -1) {
        return 0;
    }

    num = n > 0 ? ngx_atoi((u_char *) buf, n) : NGX_ERROR;

    if (num < min || num > max) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request", "%s", error);
        return -1;
    }

    *out = num;

    return 0;
}


/*
 * the query argument name, one of words (NULL: a ULID), into out when
 * given and not empty; 0, or -1 with ctx's error set
 */
static int
ngx_http_broadcast_chat_word_arg(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, const char *name, const char **words,
    const char *error, char *out, size_t size)
{
    char     buf[600];
    ssize_t  n;

    n = ngx_http_broadcast_api_arg(r, name, buf, sizeof(buf));
    if (n == -1 || n == 0) {
        return 0;
    }

    if (n == -2
        || (words ? !ngx_http_broadcast_sql_enum(words, buf)
                  : !bc_ulid_valid(buf, n)))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request", "%s", error);
        return -1;
    }

    ngx_cpystrn((u_char *) out, (u_char *) buf, size);

    return 0;
}


/* limit, offset and channel of every listing; 0, or -1 with ctx's error */
static int
ngx_http_broadcast_chat_page_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_chat_t *q)
{
    q->limit = (q->what == NGX_HTTP_BROADCAST_CHAT_MESSAGES) ? 100 : 50;

    if (ngx_http_broadcast_chat_num_arg(r, ctx, "limit", 1, 500,
                                        "limit must be 1 to 500", &q->limit)
        != 0
        || ngx_http_broadcast_chat_num_arg(r, ctx, "offset", 0, 10000000,
               "offset must be a non-negative integer", &q->offset)
           != 0)
    {
        return -1;
    }

    return ngx_http_broadcast_chat_word_arg(r, ctx, "channel",
               ngx_http_broadcast_channels,
               "channel must be sms, whatsapp or email",
               q->channel, sizeof(q->channel));
}


/*
 * the time query argument name as the bound of an id range (fill: '0' for
 * the lowest id of its millisecond, 'Z' for the highest); 0 when absent or
 * empty, -1 when not a time
 */
static int
ngx_http_broadcast_chat_time_arg(ngx_http_request_t *r, const char *name,
    char fill, char id[27])
{
    char     buf[600];
    ssize_t  n;

    n = ngx_http_broadcast_api_arg(r, name, buf, sizeof(buf));
    if (n > 0) {
        return ngx_http_broadcast_sql_time(buf,
                                           NGX_HTTP_BROADCAST_TIME_DATE_OFFSET,
                                           fill, id);

    } else if (n == -2) {
        return -1;
    }

    return 0;
}


/* created_from and created_to as an id range; 0, or -1 with ctx's error */
static int
ngx_http_broadcast_chat_time_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_chat_t *q)
{
    if (ngx_http_broadcast_chat_time_arg(r, "created_from", '0', q->id_from)
        != 0
        || ngx_http_broadcast_chat_time_arg(r, "created_to", 'Z', q->id_to)
           != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "created_from and created_to must be "
            "ISO-8601 times such as 2026-11-21T10:00:00Z or dates such as "
            "2026-11-21");
        return -1;
    }

    return 0;
}


/* GET /api/messages: direction, status and batch_id filters */
static void
ngx_http_broadcast_chat_filter_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_chat_t *q)
{
    if (ngx_http_broadcast_chat_word_arg(r, ctx, "direction",
            ngx_http_broadcast_directions,
            "direction must be inbound or outbound",
            q->direction, sizeof(q->direction))
        != 0)
    {
        return;
    }

    if (ngx_http_broadcast_chat_word_arg(r, ctx, "status",
            ngx_http_broadcast_statuses,
            "status must be one of queued, accepted, sending, sent, "
            "delivered, read, failed, undelivered, blocked, canceled, "
            "received",
            q->status, sizeof(q->status))
        != 0)
    {
        return;
    }

    (void) ngx_http_broadcast_chat_word_arg(r, ctx, "batch_id", NULL,
               "batch_id must be a batch id (26-character ULID)",
               q->batch_id, sizeof(q->batch_id));
}


void
ngx_http_broadcast_chat_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_str_t   *body = &args->body;
    ngx_uint_t   what = args->variant;

    char                        buf[600];
    ssize_t                     n;
    ngx_http_broadcast_chat_t  *q;

    q = ngx_http_broadcast_api_op_new(r, ctx,
                                      sizeof(ngx_http_broadcast_chat_t),
                                      ngx_http_broadcast_chat_op,
                                      ngx_http_broadcast_chat_free);
    if (q == NULL) {
        return;
    }

    q->what = what;

    if (what == NGX_HTTP_BROADCAST_CHAT_MARK) {
        ngx_http_broadcast_chat_mark_args(r, ctx, body, q);
        return;
    }

    if (ngx_http_broadcast_chat_page_args(r, ctx, q) != 0) {
        return;
    }

    if (what != NGX_HTTP_BROADCAST_CHAT_HISTORY) {
        if (ngx_http_broadcast_chat_time_args(r, ctx, q) != 0) {
            return;
        }
    }

    if (what == NGX_HTTP_BROADCAST_CHAT_HISTORY) {
        n = ngx_http_broadcast_api_arg(r, "address", buf, sizeof(buf));

        if (n <= 0
            || ngx_http_broadcast_chat_peer(r, buf, n, q->peer) != 0)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "address must be a phone number "
                "(+E164, whatsapp:+E164 or a WhatsApp id) or an email "
                "address");
            return;
        }
    }

    if (what == NGX_HTTP_BROADCAST_CHAT_MESSAGES) {
        ngx_http_broadcast_chat_filter_args(r, ctx, q);
    }
}


/* appends " AND ..." conditions of the common filters; the new length */
static size_t
ngx_http_broadcast_chat_where(ngx_http_broadcast_chat_t *q, char *sql,
    size_t n, size_t size)
{
    /* every value here was checked against a fixed list or the ULID set */
    if (q->channel[0] && n < size) {
        n += snprintf(sql + n, size - n, " AND channel = '%s'", q->channel);
    }

    if (q->direction[0] && n < size) {
        n += snprintf(sql + n, size - n, " AND direction = '%s'",
                      q->direction);
    }

    if (q->status[0] && n < size) {
        n += snprintf(sql + n, size - n, " AND status = '%s'", q->status);
    }

    if (q->batch_id[0] && n < size) {
        n += snprintf(sql + n, size - n, " AND batch_id = '%s'", q->batch_id);
    }

    if (q->id_from[0] && n < size) {
        n += snprintf(sql + n, size - n, " AND id >= '%s'", q->id_from);
    }

    if (q->id_to[0] && n < size) {
        n += snprintf(sql + n, size - n, " AND id <= '%s'", q->id_to);
    }

    return n;
}


/* the page's SQL; its length (size or more: it did not fit) */
static size_t
ngx_http_broadcast_chat_sql(ngx_http_broadcast_chat_t *q, const char *peer,
    char *sql, size_t size)
{
    size_t  n, i;

    switch (q->what) {

    case NGX_HTTP_BROADCAST_CHAT_MARK:
        n = snprintf(sql, size, "UPDATE messages SET read_at = "
                     "UTC_TIMESTAMP(3) WHERE direction = 'inbound' AND "
                     "read_at IS NULL AND id IN (");

        for (i = 0; i < q->nids; i++) {
            n += snprintf(sql + n, size - n, "%s'%s'", i ? "," : "",
                          q->ids + i * 27);
        }

        n += snprintf(sql + n, size - n, ")");
        break;

    case NGX_HTTP_BROADCAST_CHAT_USERS:
        n = snprintf(sql, size, "SELECT peer, COUNT(*), "
                     "SUM(direction = 'inbound' AND read_at IS NULL), "
                     "DATE_FORMAT(MAX(created_at),"
                     "'%%Y-%%m-%%dT%%H:%%i:%%s.%%fZ'), "
                     "GROUP_CONCAT(DISTINCT channel ORDER BY channel), "
                     "COUNT(*) OVER () FROM messages WHERE peer IS NOT NULL");
        n = ngx_http_broadcast_chat_where(q, sql, n, size);
        n += snprintf(sql + n, size - n, " GROUP BY peer ORDER BY MAX(id) "
                      "DESC LIMIT %u OFFSET %u", (unsigned) q->limit,
                      (unsigned) q->offset);
        break;

    case NGX_HTTP_BROADCAST_CHAT_HISTORY:
        /* the newest page, shown oldest first */
        n = snprintf(sql, size, "SELECT * FROM (SELECT %s, COUNT(*) OVER (), "
                     "SUM(direction = 'inbound' AND read_at IS NULL) OVER () "
                     "FROM messages WHERE peer = %s",
                     NGX_HTTP_BROADCAST_LIST_COLUMNS, peer);
        n = ngx_http_broadcast_chat_where(q, sql, n, size);
        n += snprintf(sql + n, size - n, " ORDER BY id DESC LIMIT %u OFFSET "
                      "%u) page ORDER BY 1", (unsigned) q->limit,
                      (unsigned) q->offset);
        break;

    default: /* NGX_HTTP_BROADCAST_CHAT_MESSAGES */
        n = snprintf(sql, size, "SELECT %s, COUNT(*) OVER () FROM messages "
                     "WHERE 1 = 1", NGX_HTTP_BROADCAST_LIST_COLUMNS);
        n = ngx_http_broadcast_chat_where(q, sql, n, size);
        n += snprintf(sql + n, size - n, " ORDER BY id DESC LIMIT %u OFFSET "
                      "%u", (unsigned) q->limit, (unsigned) q->offset);
        break;
    }

    return n;
}


/* one conversation of GET /api/chat/users; *total from its window count */
static json_t *
ngx_http_broadcast_chat_user_json(MYSQL_ROW row, unsigned long *lengths,
    long long *total)
{
    char    *p;
    json_t  *channels;

    channels = json_array();

    for (p = row[4]; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1
                                                 : NULL)
    {
        json_array_append_new(channels,
            json_stringn(p, strchr(p, ',') ? (size_t) (strchr(p, ',') - p)
                                           : strlen(p)));
    }

    /* microseconds to the API's milliseconds */
    if (row[3] && lengths[3] == 27) {
        row[3][23] = 'Z';
        row[3][24] = '\0';
    }

    *total = strtoll(row[5], NULL, 10);

    return json_pack("{s:s,s:I,s:I,s:s?,s:o}",
                     "user_address", row[0],
                     "total_messages",
                     (json_int_t) strtoll(row[1], NULL, 10),
                     "unread_count",
                     (json_int_t) (row[2] ? strtoll(row[2], NULL, 10) : 0),
                     "last_message_at", row[3],
                     "channels", channels);
}


/* the page's rows into list, with the totals; 0 or -1 (nomem) */
static int
ngx_http_broadcast_chat_rows(ngx_http_broadcast_chat_t *q, MYSQL_RES *res,
    json_t *list, long long *total, long long *unread)
{
    json_t         *item;
    MYSQL_ROW       row;
    unsigned long  *lengths;

    while ((row = mysql_fetch_row(res)) != NULL) {
        lengths = mysql_fetch_lengths(res);

        if (q->what == NGX_HTTP_BROADCAST_CHAT_USERS) {
            item = ngx_http_broadcast_chat_user_json(row, lengths, total);

        } else {
            item = ngx_http_broadcast_message_json(row, lengths);
            *total = strtoll(row[27] ? row[27] : "0", NULL, 10);

            if (q->what == NGX_HTTP_BROADCAST_CHAT_HISTORY) {
                *unread = row[28] ? strtoll(row[28], NULL, 10) : 0;
            }
        }

        if (item == NULL || json_array_append_new(list, item) != 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * the totals of an empty page past the first (the window count has no row
 * to ride on): a query of their own; 0, or -1 (MySQL, err may be set)
 */
static int
ngx_http_broadcast_chat_count(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_chat_t *q,
    const char *peer, char *sql, size_t size, char *err, size_t errlen,
    long long *total, long long *unread)
{
    size_t      n;
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    if (q->what == NGX_HTTP_BROADCAST_CHAT_USERS) {
        n = snprintf(sql, size, "SELECT COUNT(DISTINCT peer), 0 FROM "
                     "messages WHERE peer IS NOT NULL");
    } else if (q->what == NGX_HTTP_BROADCAST_CHAT_HISTORY) {
        n = snprintf(sql, size, "SELECT COUNT(*), SUM(direction = "
                     "'inbound' AND read_at IS NULL) FROM messages "
                     "WHERE peer = %s", peer);
    } else {
        n = snprintf(sql, size, "SELECT COUNT(*), 0 FROM messages "
                     "WHERE 1 = 1");
    }

    n = ngx_http_broadcast_chat_where(q, sql, n, size);

    if (n >= size
        || ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n, err, errlen)
           != 0
        || (res = mysql_store_result(conn->mysql)) == NULL)
    {
        return -1;
    }

    row = mysql_fetch_row(res);
    *total = (row && row[0]) ? strtoll(row[0], NULL, 10) : 0;
    *unread = (row && row[1]) ? strtoll(row[1], NULL, 10) : 0;
    mysql_free_result(res);

    return 0;
}


/* the answer of a listing */
static json_t *
ngx_http_broadcast_chat_result(ngx_http_broadcast_chat_t *q, json_t *list,
    long long total, long long unread)
{
    if (q->what == NGX_HTTP_BROADCAST_CHAT_USERS) {
        return json_pack("{s:O,s:I}", "users", list, "total",
                         (json_int_t) total);
    }

    if (q->what == NGX_HTTP_BROADCAST_CHAT_HISTORY) {
        return json_pack("{s:s,s:O,s:I,s:I}", "address", q->peer,
                         "messages", list, "total", (json_int_t) total,
                         "unread_count", (json_int_t) unread);
    }

    return json_pack("{s:O,s:I}", "messages", list, "total",
                     (json_int_t) total);
}


static void
ngx_http_broadcast_chat_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_chat_t *q = ctx->op_data;

    int         rc;
    char       *sql, err[256], *peer;
    size_t      n, size;
    json_t     *list;
    long long   total, unread;
    MYSQL_RES  *res;

    size = 4096 + q->nids * 32;
    sql = malloc(size);
    list = json_array();
    peer = NULL;

    if (sql == NULL || list == NULL) {
        goto nomem;
    }

    if (conn->mysql == NULL) {
        conn->mysql = bc_db_connect(&ctx->mcf->mysql, err, sizeof(err));

        if (conn->mysql == NULL) {
            goto mysql_down;
        }
    }

    if (q->what == NGX_HTTP_BROADCAST_CHAT_HISTORY) {
        peer = bc_db_quote(conn->mysql, q->peer, strlen(q->peer));
        if (peer == NULL) {
            goto nomem;
        }
    }

    n = ngx_http_broadcast_chat_sql(q, peer, sql, size);

    if (n >= size) {
        goto nomem;
    }

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n, err,
                                       sizeof(err))
        != 0)
    {
        goto mysql_down;
    }

    if (q->what == NGX_HTTP_BROADCAST_CHAT_MARK) {
        ctx->result = json_pack("{s:I}", "updated",
                                (json_int_t) mysql_affected_rows(conn->mysql));
        goto done;
    }

    res = mysql_store_result(conn->mysql);
    if (res == NULL) {
        snprintf(err, sizeof(err), "%s", mysql_error(conn->mysql));
        goto mysql_down;
    }

    total = -1;
    unread = 0;

    rc = ngx_http_broadcast_chat_rows(q, res, list, &total, &unread);

    mysql_free_result(res);

    if (rc != 0) {
        goto nomem;
    }

    if (total < 0) {
        /* an empty page: the total needs its own (rare) count */
        if (q->offset == 0) {
            total = 0;

        } else if (ngx_http_broadcast_chat_count(ctx, conn, q, peer, sql,
                                                 size, err, sizeof(err),
                                                 &total, &unread)
                   != 0)
        {
            goto mysql_down;
        }
    }

    ctx->result = ngx_http_broadcast_chat_result(q, list, total, unread);

    if (ctx->result == NULL) {
        goto nomem;
    }

    goto done;

mysql_down:

    snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
    ngx_http_broadcast_api_mysql_down(ctx);
    goto done;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");

done:

    free(peer);
    free(sql);
    json_decref(list);
}
