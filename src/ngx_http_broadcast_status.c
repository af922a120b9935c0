/*
 * GET /api/status/{id}, /api/status/twilio/{sid}, /api/batch/{batch_id}:
 * MySQL first, then the Redis copies (bc:{q}:msg:<id>, bc:{q}:batch:<id>) of
 * messages the sender has not recorded yet.
 */


#include "ngx_http_broadcast_api.h"

#include "bc_id.h"
#include "bc_job.h"


typedef struct {
    ngx_uint_t  what;
    char        arg[130];
} ngx_http_broadcast_query_t;


static void ngx_http_broadcast_status_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


void
ngx_http_broadcast_status_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_uint_t   what = args->variant;
    ngx_str_t   *arg = &args->id;

    ngx_http_broadcast_query_t  *q;

    if (what == NGX_HTTP_BROADCAST_STATUS_TWILIO) {
        if (arg->len == 0 || arg->len >= 128) {
            goto not_found;
        }

    } else if (!bc_ulid_valid((char *) arg->data, arg->len)) {
        goto not_found;
    }

    q = ngx_http_broadcast_api_op_new(r, ctx,
                                      sizeof(ngx_http_broadcast_query_t),
                                      ngx_http_broadcast_status_op, ngx_free);
    if (q == NULL) {
        return;
    }

    q->what = what;
    ngx_memcpy(q->arg, arg->data, arg->len);

    return;

not_found:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                 what == NGX_HTTP_BROADCAST_STATUS_BATCH
                                 ? "no such batch" : "no such message");
}


/*
 * thread: the message JSON of a row selected with
 * NGX_HTTP_BROADCAST_LIST_COLUMNS: the fields of bc_db_message_json()
 * plus subject, peer, payload (parsed), pricing_category and
 * provider_request_id
 */
json_t *
ngx_http_broadcast_message_json(MYSQL_ROW row, unsigned long *lengths)
{
    json_t  *j;

    j = bc_db_message_json(row, lengths);
    if (j == NULL) {
        return NULL;
    }

    /* subject and payload are sealed at rest (bc_crypt.h) */
    bc_db_set_sealed(j, "subject", row[22], lengths[22], 0);
    json_object_set_new(j, "peer", row[23]
                        ? json_stringn(row[23], lengths[23]) : json_null());
    bc_db_set_sealed(j, "payload", row[24], lengths[24], 1);
    json_object_set_new(j, "pricing_category", row[25]
                        ? json_stringn(row[25], lengths[25]) : json_null());
    json_object_set_new(j, "provider_request_id", row[26]
                        ? json_stringn(row[26], lengths[26]) : json_null());

    return j;
}


/* thread: the message JSON of a queued job read from bc:{q}:msg:<id> */
static json_t *
ngx_http_broadcast_status_from_job(const char *text, size_t len)
{
    char       created[32], err[128];
    json_t    *j;
    bc_job_t   job;

    ngx_memzero(&job, sizeof(bc_job_t));

    if (bc_job_parse(text, len, &job, err, sizeof(err)) != 0) {
        return NULL;
    }

    ngx_http_broadcast_iso_ms(job.created_ms, created);

    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:n,s:n,s:n,"
                  "s:n,s:n,s:n,s:i,s:s,s:s,s:n,s:n,s:n}",
                  "id", job.id, "batch_id", job.batch_id,
                  "channel", job.channel, "direction", "outbound",
                  "provider", job.provider, "to", job.to, "from", job.from,
                  "messaging_service_sid",
                  job.messaging_service_sid[0]
                  ? json_string(job.messaging_service_sid) : json_null(),
                  "body", job.body ? job.body : "",
                  "status", "queued", "provider_message_id", "error_code",
                  "error_message", "price", "price_unit", "num_segments",
                  "attempts", job.attempt, "created_at", created,
                  "updated_at", created, "sent_at", "delivered_at",
                  "read_at");

    bc_job_free(&job);

    return j;
}


/* thread: GET msg:<id> in the lane the id names; 1 found, 0 not found,
   -1 Redis down */
static int
ngx_http_broadcast_status_redis(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *id, json_t **out)
{
    char         key[160], err[256];
    size_t       lens[2];
    redisReply  *reply;
    const char  *argv[2];

    bc_lane_key(key, sizeof(key), BC_LANE_SEND,
                bc_lane_of_id(id, strlen(id),
                              ngx_http_broadcast_lanes(ctx->mcf)),
                BC_SFX_MSG "%s", id);

    argv[0] = "GET";
    argv[1] = key;
    lens[0] = 3;
    lens[1] = strlen(key);

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 2, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        return -1;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        freeReplyObject(reply);
        return 0;
    }

    *out = ngx_http_broadcast_status_from_job(reply->str, reply->len);
    freeReplyObject(reply);

    return *out ? 1 : 0;
}


static int
ngx_http_broadcast_status_cmp(const void *a, const void *b)
{
    const char  *ia, *ib;

    ia = json_string_value(json_object_get(*(json_t * const *) a, "id"));
    ib = json_string_value(json_object_get(*(json_t * const *) b, "id"));

    return strcmp(ia ? ia : "", ib ? ib : "");
}


/*
 * the rows MySQL has for the query into list; 1 if MySQL answered, 0 if
 * not (ctx->detail and backend_err set, the caller decides)
 */
static int
ngx_http_broadcast_status_mysql(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_query_t *q,
    json_t *list)
{
    char            sql[1024], err[256], *quoted;
    size_t          n;
    json_t         *msg;
    MYSQL_RES      *res;
    MYSQL_ROW       row;
    unsigned long  *lengths;

    if (q->what == NGX_HTTP_BROADCAST_STATUS_ID) {
        n = snprintf(sql, sizeof(sql), "SELECT %s FROM messages "
                     "WHERE id = '%s'", BC_DB_MESSAGE_COLUMNS, q->arg);

    } else if (q->what == NGX_HTTP_BROADCAST_STATUS_BATCH) {
        n = snprintf(sql, sizeof(sql), "SELECT %s FROM messages "
                     "WHERE batch_id = '%s' ORDER BY id",
                     BC_DB_MESSAGE_COLUMNS, q->arg);

    } else {
        n = 0;

        if (conn && (conn->mysql
                     || (conn->mysql = bc_db_connect(&ctx->mcf->mysql, err,
                                                     sizeof(err)))))
        {
            quoted = bc_db_quote(conn->mysql, q->arg, strlen(q->arg));

            if (quoted) {
                n = snprintf(sql, sizeof(sql), "SELECT %s FROM messages WHERE "
                             "provider = 'twilio' AND "
                             "provider_message_id = %s",
                             BC_DB_MESSAGE_COLUMNS, quoted);
                free(quoted);
            }
        }
    }

    if (n > 0 && n < sizeof(sql)
        && ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n, err,
                                          sizeof(err))
           == 0
        && (res = mysql_store_result(conn->mysql)) != NULL)
    {
        while ((row = mysql_fetch_row(res)) != NULL) {
            lengths = mysql_fetch_lengths(res);
            msg = bc_db_message_json(row, lengths);

            if (msg) {
                json_array_append_new(list, msg);
            }
        }

        mysql_free_result(res);

        return 1;
    }

    snprintf(ctx->detail, sizeof(ctx->detail), "%s",
             n ? err : "cannot connect");
    ctx->backend_err |= NGX_HTTP_BROADCAST_ERR_MYSQL;

    return 0;
}


/* GET /api/status/<id>: MySQL's row, else the queued job in Redis */
static void
ngx_http_broadcast_status_message(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_query_t *q,
    json_t *list, int mysql_ok)
{
    int      rc;
    json_t  *msg;

    if (json_array_size(list)) {
        ctx->result = json_incref(json_array_get(list, 0));
        return;
    }

    msg = NULL;
    rc = ngx_http_broadcast_status_redis(ctx, conn, q->arg, &msg);

    if (rc == 1) {
        ctx->result = msg;

    } else if (!mysql_ok) {
        ngx_http_broadcast_api_mysql_down(ctx);

    } else if (rc == -1) {
        ngx_http_broadcast_api_redis_down(ctx);

    } else {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such message");
    }
}


/*
 * a batch: adds the messages only Redis knows (bc:{q}:batch:<id>, or the one
 * message a batch of one is named after); 0 to go on, 1 when ctx answers
 */
static int
ngx_http_broadcast_status_batch_redis(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_query_t *q,
    json_t *list, int mysql_ok)
{
    int          found;
    char         key[160], err[256];
    size_t       i, j, lens[4];
    json_t      *msg;
    redisReply  *reply;
    const char  *argv[4], *id;

    bc_lane_key(key, sizeof(key), BC_LANE_SEND,
                bc_lane_of_id(q->arg, strlen(q->arg),
                              ngx_http_broadcast_lanes(ctx->mcf)),
                BC_SFX_BATCH "%s", q->arg);

    argv[0] = "LRANGE";
    argv[1] = key;
    argv[2] = "0";
    argv[3] = "-1";
    lens[0] = 6;
    lens[1] = strlen(key);
    lens[2] = 1;
    lens[3] = 2;

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 4, argv, lens, err,
                                         sizeof(err));

    if (reply == NULL && !mysql_ok) {
        ngx_http_broadcast_api_mysql_down(ctx);
        return 1;
    }

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            id = reply->element[i]->str;

            if (reply->element[i]->type != REDIS_REPLY_STRING) {
                continue;
            }

            found = 0;

            for (j = 0; j < json_array_size(list); j++) {
                if (strcmp(json_string_value(json_object_get(
                               json_array_get(list, j), "id")), id) == 0)
                {
                    found = 1;
                    break;
                }
            }

            msg = NULL;

            if (!found
                && ngx_http_broadcast_status_redis(ctx, conn, id, &msg) == 1)
            {
                json_array_append_new(list, msg);
            }
        }
    }

    if (reply) {
        freeReplyObject(reply);
    }

    if (json_array_size(list) == 0) {
        /* a batch of one message bears its message's id (send_accept.c) */
        msg = NULL;

        if (ngx_http_broadcast_status_redis(ctx, conn, q->arg, &msg) == 1) {
            id = json_string_value(json_object_get(msg, "batch_id"));

            if (id != NULL && ngx_strcmp(id, q->arg) == 0) {
                json_array_append_new(list, msg);

            } else {
                json_decref(msg);
            }
        }
    }

    return 0;
}


/* GET /api/status/batch/<id>: every message, ordered by id; 0 or -1 */
static int
ngx_http_broadcast_status_batch(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_query_t *q,
    json_t *list, int mysql_ok)
{
    size_t    i, n;
    json_t  **items;

    if (ngx_http_broadcast_status_batch_redis(ctx, conn, q, list, mysql_ok)) {
        return 0;
    }

    if (json_array_size(list) == 0) {
        if (!mysql_ok) {
            ngx_http_broadcast_api_mysql_down(ctx);

        } else {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no such batch");
        }

        return 0;
    }

    n = json_array_size(list);
    items = malloc(n * sizeof(json_t *));
    if (items == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        items[i] = json_incref(json_array_get(list, i));
    }

    qsort(items, n, sizeof(json_t *), ngx_http_broadcast_status_cmp);

    json_array_clear(list);

    for (i = 0; i < n; i++) {
        json_array_append_new(list, items[i]);
    }

    free(items);

    ctx->result = json_pack("{s:s,s:O}", "batch_id", q->arg, "messages",
                            list);

    return ctx->result ? 0 : -1;
}


static void
ngx_http_broadcast_status_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_query_t *q = ctx->op_data;

    int      mysql_ok;
    json_t  *list;

    list = json_array();
    if (list == NULL) {
        goto nomem;
    }

    mysql_ok = ngx_http_broadcast_status_mysql(ctx, conn, q, list);

    if (q->what == NGX_HTTP_BROADCAST_STATUS_TWILIO) {
        /* provider ids exist only once the sender has recorded the call */
        if (!mysql_ok) {
            ngx_http_broadcast_api_mysql_down(ctx);

        } else if (json_array_size(list) == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no message with this Twilio SID");
        } else {
            ctx->result = json_incref(json_array_get(list, 0));
        }

    } else if (q->what == NGX_HTTP_BROADCAST_STATUS_ID) {
        ngx_http_broadcast_status_message(ctx, conn, q, list, mysql_ok);

    } else if (ngx_http_broadcast_status_batch(ctx, conn, q, list, mysql_ok)
               != 0)
    {
        goto nomem;
    }

    json_decref(list);
    return;

nomem:

    json_decref(list);
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
}
