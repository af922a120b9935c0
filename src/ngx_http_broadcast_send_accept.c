/*
 * What every channel shares once its content is valid (POST /api/send/sms,
 * /whatsapp, /email): the recipients checks, the batch, its ids and the
 * normalised, deduplicated recipients; and the idempotency record the
 * thread consults before queueing (bc:{q}:idem:<key id>:<hash>).
 */


#include "ngx_http_broadcast_send.h"

#include "bc_id.h"


static void ngx_http_broadcast_send_free(void *data);


/* the channels in the order of their metrics (ctx->channel_index) */
static const char  *ngx_http_broadcast_send_channels[] = {
    "sms", "whatsapp", "email", NULL
};


/* the channel's metrics index; an unknown name counts as SMS */
static ngx_uint_t
ngx_http_broadcast_channel_index(const char *channel)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_broadcast_send_channels[i]; i++) {
        if (ngx_strcmp(channel, ngx_http_broadcast_send_channels[i]) == 0) {
            return i;
        }
    }

    return 0;
}


/* loop: the checks every channel makes of "recipients" */
int
ngx_http_broadcast_send_recipients(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *recipients)
{
    size_t                          i, n;
    json_t                         *v;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (!json_is_array(recipients) || json_array_size(recipients) == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request",
            "recipients must be a non-empty array of strings");
        return -1;
    }

    json_array_foreach(recipients, i, v) {
        if (!json_is_string(v)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "recipients must be an array of strings "
                "(item %u is not a string)", (unsigned) i);
            return -1;
        }
    }

    n = json_array_size(recipients);

    if (n > lcf->max_recipients) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
            "too_many_recipients", "%u recipients given; at most %u are "
            "allowed per request", (unsigned) n,
            (unsigned) lcf->max_recipients);
        return -1;
    }

    return 0;
}


/*
 * loop: the request's JSON object and its "recipients", checked; NULL with
 * ctx's error set
 */
json_t *
ngx_http_broadcast_send_parse(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body, json_t **recipients)
{
    json_t  *json;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return NULL;
    }

    *recipients = json_object_get(json, "recipients");

    /* a campaign's content has no recipients: the dispatcher adds them */
    if (!ctx->proto_only
        && ngx_http_broadcast_send_recipients(r, ctx, *recipients) != 0)
    {
        return NULL;
    }

    return json;
}


/* loop: a batch owned by ctx (freed with it); NULL with ctx's error set */
ngx_http_broadcast_batch_t *
ngx_http_broadcast_batch_new(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, const char *text, size_t len)
{
    ngx_http_broadcast_batch_t  *b;

    b = ngx_http_broadcast_api_op_new(r, ctx,
                                      sizeof(ngx_http_broadcast_batch_t),
                                      ngx_http_broadcast_send_op,
                                      ngx_http_broadcast_send_free);
    if (b == NULL) {
        return NULL;
    }

    ctx->op_fast = ngx_http_broadcast_send_fast;

    b->text = ngx_alloc(len + 1, r->connection->log);
    if (b->text == NULL) {
        goto nomem;
    }

    ngx_memcpy(b->text, text, len);
    b->text[len] = '\0';

    return b;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
    return NULL;
}


/*
 * loop: the batch's channel, provider and sender, and its extra as compact
 * JSON (heap, freed with the batch); 0, or -1 with ctx's error set
 */
int
ngx_http_broadcast_batch_set(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_batch_t *b,
    const char *channel, const char *provider, const char *from,
    json_t *extra)
{
    char    *dump;
    size_t   len;

    ngx_cpystrn((u_char *) b->channel, (u_char *) channel,
                sizeof(b->channel));
    ngx_cpystrn((u_char *) b->provider, (u_char *) provider,
                sizeof(b->provider));
    ngx_cpystrn((u_char *) b->from, (u_char *) from, sizeof(b->from));

    dump = json_dumps(extra, JSON_COMPACT);
    if (dump == NULL) {
        goto nomem;
    }

    len = strlen(dump) + 1;

    b->extra = ngx_alloc(len, r->connection->log);
    if (b->extra == NULL) {
        free(dump);
        goto nomem;
    }

    ngx_memcpy(b->extra, dump, len);
    free(dump);

    return 0;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
    return -1;
}


/*
 * loop: what every channel shares once its content is valid: the
 * Idempotency-Key, the batch and message ids, and the recipients, each
 * normalised by the channel's addr(), deduplicated (the first occurrence
 * wins) or rejected with a reason.
 */
void
ngx_http_broadcast_send_accept(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body,
    ngx_http_broadcast_batch_t *b, json_t *recipients,
    ngx_http_broadcast_addr_pt addr, const char *none_valid)
{
    size_t                     i, j, n, len;
    unsigned                   lanes;
    json_t                    *v;
    const char                *s, *reason;
    ngx_table_elt_t           *idem;
    ngx_http_broadcast_out_t  *m;

    /* a campaign's content: the batch is what the caller wanted */
    if (ctx->proto_only) {
        return;
    }

    idem = ngx_http_broadcast_header_in(r, "Idempotency-Key");

    if (idem) {
        if (idem->value.len == 0 || idem->value.len > 255) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request",
                "Idempotency-Key must be 1 to 255 characters");
            return;
        }

        ngx_http_broadcast_sha256_hex(idem->value.data, idem->value.len,
                                      b->idem_hash);

        /* only the idempotency record compares bodies */
        ngx_http_broadcast_sha256_hex(body->data, body->len,
                                      b->body_hash);
    }

    n = json_array_size(recipients);

    b->msgs = ngx_alloc(n * sizeof(ngx_http_broadcast_out_t),
                        r->connection->log);
    b->rejected = json_array();

    if (b->msgs == NULL || b->rejected == NULL) {
        goto nomem;
    }

    if (ngx_http_broadcast_ulid(b->batch_id) != 0) {
        goto nomem;
    }

    json_array_foreach(recipients, i, v) {
        s = json_string_value(v);
        len = json_string_length(v);
        m = &b->msgs[b->n];

        reason = "invalid recipient";

        if (addr(r, s, len, m->to, m->peer, &reason) != 0) {
            json_array_append_new(b->rejected,
                                  json_pack("{s:s%,s:s}", "to", s, len,
                                            "error", reason));
            continue;
        }

        for (j = 0; j < b->n; j++) {
            if (strcmp(b->msgs[j].to, m->to) == 0) {
                break;
            }
        }

        if (j < b->n) {
            continue;
        }

        if (ngx_http_broadcast_ulid(m->id) != 0) {
            goto nomem;
        }

        b->n++;
    }

    ctx->channel_index = ngx_http_broadcast_channel_index(b->channel);
    ctx->rejected = json_array_size(b->rejected);

    if (b->n == 0) {
        ctx->error_extra = json_pack("{s:O}", "rejected", b->rejected);
        ngx_http_broadcast_api_error(ctx, 422, "no_valid_recipients", "%s",
                                     none_valid);
        return;
    }

    /*
     * One lane for the batch (bc_lane.h): its messages are queued by one
     * MULTI or script. The lane of the Idempotency-Key when there is one,
     * so that every retry meets its record; else the batch id's own.
     */
    lanes = ngx_http_broadcast_lanes(ctx->mcf);
    b->lane = b->idem_hash[0] ? bc_lane_of_str(b->idem_hash, 64, lanes)
                              : bc_lane_of_id(b->batch_id, BC_ULID_LEN,
                                              lanes);
    bc_lane_set_id(b->batch_id, BC_ULID_LEN, b->lane);

    for (i = 0; i < b->n; i++) {
        bc_lane_set_id(b->msgs[i].id, BC_ULID_LEN, b->lane);
    }

    ctx->cred_lane = b->lane;

    if (b->n == 1) {
        /*
         * A batch of one message is named after it: no batch list to
         * write (status.c finds such a batch through its message), which is
         * two Redis writes and a key fewer on the single-send path.
         */
        ngx_memcpy(b->batch_id, b->msgs[0].id, sizeof(b->batch_id));
    }

    b->created_ms = (long long) ngx_time() * 1000
                    + (long long) (ngx_timeofday())->msec;

    return;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
}


static void
ngx_http_broadcast_send_free(void *data)
{
    ngx_http_broadcast_batch_t *b = data;

    if (b->rejected) {
        json_decref(b->rejected);
    }

    if (b->tpl_vars) {
        json_decref(b->tpl_vars);
    }

    ngx_free(b->text);
    ngx_free(b->extra);
    ngx_free(b->msgs);
    ngx_free(b);
}


/* thread: best effort, so that a retry with the same key can proceed */
void
ngx_http_broadcast_send_idem_del(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *key)
{
    char         err[256];
    size_t       lens[2];
    redisReply  *reply;
    const char  *argv[2];

    argv[0] = "DEL";
    argv[1] = key;
    lens[0] = 3;
    lens[1] = strlen(key);

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 2, argv, lens, err,
                                         sizeof(err));
    if (reply) {
        freeReplyObject(reply);
    }
}


/* thread: a command on the idempotency record; NULL: ctx's Redis error */
static redisReply *
ngx_http_broadcast_send_idem_cmd(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, int argc, const char **argv,
    const size_t *lens)
{
    char         err[256];
    redisReply  *reply;

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, argc, argv, lens,
                                         err, sizeof(err));
    if (reply == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_redis_down(ctx);
    }

    return reply;
}


/* thread: 1 to go on, 0 when ctx holds the answer (replay or error) */
int
ngx_http_broadcast_send_idem(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_batch_t *b,
    const char *key)
{
    size_t        lens[6];
    json_t       *stored, *h, *s, *body;
    redisReply   *reply;
    const char   *argv[6];
    json_error_t  jerr;

    argv[0] = "SET"; argv[1] = key; argv[2] = "pending";
    argv[3] = "NX"; argv[4] = "EX"; argv[5] = BC_IDEM_TTL;
    lens[0] = 3; lens[1] = strlen(key); lens[2] = 7;
    lens[3] = 2; lens[4] = 2; lens[5] = sizeof(BC_IDEM_TTL) - 1;

    reply = ngx_http_broadcast_send_idem_cmd(ctx, conn, 6, argv, lens);
    if (reply == NULL) {
        return 0;
    }

    if (reply->type == REDIS_REPLY_STATUS) {
        freeReplyObject(reply);
        return 1;
    }

    freeReplyObject(reply);

    argv[0] = "GET";
    lens[0] = 3;

    reply = ngx_http_broadcast_send_idem_cmd(ctx, conn, 2, argv, lens);
    if (reply == NULL) {
        return 0;
    }

    if (reply->type != REDIS_REPLY_STRING
        || strcmp(reply->str, "pending") == 0)
    {
        freeReplyObject(reply);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT,
            "idempotency_in_progress", "a request with this Idempotency-Key "
            "is still being processed; retry later");
        return 0;
    }

    stored = json_loadb(reply->str, reply->len, 0, &jerr);
    freeReplyObject(reply);

    h = json_object_get(stored, "h");
    s = json_object_get(stored, "s");
    body = json_object_get(stored, "r");

    if (!json_is_string(h) || !json_is_integer(s) || body == NULL) {
        json_decref(stored);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT,
            "idempotency_in_progress", "the stored response for this "
            "Idempotency-Key is unreadable; use a new key");
        return 0;
    }

    if (strcmp(json_string_value(h), b->body_hash) != 0) {
        json_decref(stored);
        ngx_http_broadcast_api_error(ctx, 422, "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body");
        return 0;
    }

    ctx->status = (ngx_uint_t) json_integer_value(s);
    ctx->result = json_incref(body);
    ctx->replayed = 1;
    json_decref(stored);

    return 0;
}
