/*
 * POST /api/send/sms: validation and number normalisation in the loop, then
 * in the thread the idempotency check and one pipelined MULTI/EXEC that
 * queues every accepted message (the ledger's only "accepted").
 */


#include "ngx_http_broadcast_api.h"

#include "bc_id.h"
#include "bc_job.h"
#include "bc_phone.h"
#include "bc_sig.h"


#define NGX_HTTP_BROADCAST_SMS_MAX_CHARS  1600


typedef struct {
    char            id[BC_ULID_LEN + 1];
    char            to[BC_PHONE_MAX];
} ngx_http_broadcast_sms_msg_t;


typedef struct {
    char                           batch_id[BC_ULID_LEN + 1];
    char                           from[BC_PHONE_MAX];
    char                           mss[64];
    char                           idem_hash[65];   /* empty: none */
    char                           body_hash[65];
    char                          *text;            /* malloc'd */
    long long                      created_ms;
    ngx_uint_t                     n;
    ngx_http_broadcast_sms_msg_t  *msgs;            /* malloc'd */
    json_t                        *rejected;
} ngx_http_broadcast_sms_t;


static void ngx_http_broadcast_send_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_send_free(void *data);


static size_t
ngx_http_broadcast_utf8_chars(const char *s, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (((u_char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


void
ngx_http_broadcast_send_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body)
{
    char                            out[BC_PHONE_MAX];
    size_t                          i, j, n, len;
    json_t                         *json, *recipients, *v, *msg, *from, *mss;
    const char                     *s, *reason;
    ngx_table_elt_t                *idem;
    ngx_http_broadcast_sms_t       *sms;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    ctx->need = NGX_HTTP_BROADCAST_NEED_SEND;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    recipients = json_object_get(json, "recipients");
    msg = json_object_get(json, "message");
    from = json_object_get(json, "from_number");
    mss = json_object_get(json, "messaging_service_sid");

    if (!json_is_array(recipients) || json_array_size(recipients) == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request",
            "recipients must be a non-empty array of strings");
        return;
    }

    json_array_foreach(recipients, i, v) {
        if (!json_is_string(v)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "recipients must be an array of strings "
                "(item %u is not a string)", (unsigned) i);
            return;
        }
    }

    n = json_array_size(recipients);

    if (n > lcf->max_recipients) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
            "too_many_recipients", "%u recipients given; at most %u are "
            "allowed per request", (unsigned) n,
            (unsigned) lcf->max_recipients);
        return;
    }

    if (!json_is_string(msg) || json_string_length(msg) == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "message must be a non-empty string");
        return;
    }

    if (ngx_http_broadcast_utf8_chars(json_string_value(msg),
                                      json_string_length(msg))
        > NGX_HTTP_BROADCAST_SMS_MAX_CHARS)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "message must be at most %d characters",
            NGX_HTTP_BROADCAST_SMS_MAX_CHARS);
        return;
    }

    sms = ngx_calloc(sizeof(ngx_http_broadcast_sms_t), r->connection->log);
    if (sms == NULL) {
        goto nomem;
    }

    ctx->op = ngx_http_broadcast_send_op;
    ctx->op_data = sms;
    ctx->op_free = ngx_http_broadcast_send_free;

    if (from && !json_is_null(from)) {
        if (!json_is_string(from)
            || bc_phone_normalize(json_string_value(from),
                                  json_string_length(from), "US", sms->from,
                                  &reason)
               != 0)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "from_number must be an E.164 phone "
                "number such as +15005550006");
            return;
        }
    }

    if (mss && !json_is_null(mss)) {
        s = json_string_value(mss);

        if (s == NULL || json_string_length(mss) != 34
            || s[0] != 'M' || s[1] != 'G')
        {
            goto bad_mss;
        }

        for (i = 2; i < 34; i++) {
            if (!isxdigit((u_char) s[i])) {
                goto bad_mss;
            }
        }

        ngx_cpystrn((u_char *) sms->mss, (u_char *) s, sizeof(sms->mss));
    }

    if (sms->from[0] == '\0' && sms->mss[0] == '\0') {
        if (lcf->sms_from.len == 0) {
            ngx_http_broadcast_api_error(ctx, 422, "invalid_request",
                "no sender: give from_number or messaging_service_sid (no "
                "broadcast_sms_from default is configured)");
            return;
        }

        ngx_cpystrn((u_char *) sms->from, lcf->sms_from.data,
                    sizeof(sms->from));
    }

    idem = ngx_http_broadcast_header_in(r, "Idempotency-Key");

    if (idem) {
        if (idem->value.len == 0 || idem->value.len > 255) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request",
                "Idempotency-Key must be 1 to 255 characters");
            return;
        }

        bc_sha256_hex(idem->value.data, idem->value.len, sms->idem_hash);
    }

    bc_sha256_hex(body->data, body->len, sms->body_hash);

    sms->text = ngx_alloc(json_string_length(msg) + 1, r->connection->log);
    sms->msgs = ngx_alloc(n * sizeof(ngx_http_broadcast_sms_msg_t),
                          r->connection->log);
    sms->rejected = json_array();

    if (sms->text == NULL || sms->msgs == NULL || sms->rejected == NULL) {
        goto nomem;
    }

    ngx_memcpy(sms->text, json_string_value(msg), json_string_length(msg));
    sms->text[json_string_length(msg)] = '\0';

    if (bc_ulid(sms->batch_id) != 0) {
        goto nomem;
    }

    json_array_foreach(recipients, i, v) {
        s = json_string_value(v);
        len = json_string_length(v);

        if (bc_phone_normalize(s, len, (char *) lcf->default_country.data,
                               out, &reason)
            != 0)
        {
            json_array_append_new(sms->rejected,
                                  json_pack("{s:s%,s:s}", "to", s, len,
                                            "error", reason));
            continue;
        }

        /* the first occurrence wins, later duplicates are dropped */
        for (j = 0; j < sms->n; j++) {
            if (strcmp(sms->msgs[j].to, out) == 0) {
                break;
            }
        }

        if (j < sms->n) {
            continue;
        }

        ngx_cpystrn((u_char *) sms->msgs[sms->n].to, (u_char *) out,
                    BC_PHONE_MAX);

        if (bc_ulid(sms->msgs[sms->n].id) != 0) {
            goto nomem;
        }

        sms->n++;
    }

    ctx->rejected = json_array_size(sms->rejected);

    if (sms->n == 0) {
        ctx->error_extra = json_pack("{s:O}", "rejected", sms->rejected);
        ngx_http_broadcast_api_error(ctx, 422, "no_valid_recipients",
                                     "none of the recipients is a valid "
                                     "phone number");
        return;
    }

    sms->created_ms = (long long) ngx_time() * 1000
                      + (long long) (ngx_timeofday())->msec;

    return;

bad_mss:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "messaging_service_sid must be MG followed by 32 hex digits");
    return;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
}


static void
ngx_http_broadcast_send_free(void *data)
{
    ngx_http_broadcast_sms_t *sms = data;

    if (sms->rejected) {
        json_decref(sms->rejected);
    }

    ngx_free(sms->text);
    ngx_free(sms->msgs);
    ngx_free(sms);
}


/* thread: best effort, so that a retry with the same key can proceed */
static void
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


/* thread: 1 to go on, 0 when ctx holds the answer (replay or error) */
static int
ngx_http_broadcast_send_idem(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sms_t *sms,
    const char *key)
{
    char          err[256];
    size_t        lens[6];
    json_t       *stored, *h, *s, *body;
    redisReply   *reply;
    const char   *argv[6];
    json_error_t  jerr;

    argv[0] = "SET"; argv[1] = key; argv[2] = "pending";
    argv[3] = "NX"; argv[4] = "EX"; argv[5] = "86400";
    lens[0] = 3; lens[1] = strlen(key); lens[2] = 7;
    lens[3] = 2; lens[4] = 2; lens[5] = 5;

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 6, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_redis_down(ctx);
        return 0;
    }

    if (reply->type == REDIS_REPLY_STATUS) {
        freeReplyObject(reply);
        return 1;
    }

    freeReplyObject(reply);

    argv[0] = "GET";
    lens[0] = 3;

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 2, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_redis_down(ctx);
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

    if (strcmp(json_string_value(h), sms->body_hash) != 0) {
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


static void
ngx_http_broadcast_send_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_sms_t *sms = ctx->op_data;

    int           ok;
    char          idem_key[160], batch_key[64], msg_key[64], err[256];
    char        **jobs, *idem_text;
    size_t        i, lens[7];
    json_t       *resp, *msgs, *idem_json;
    bc_job_t      job;
    ngx_uint_t    nq, q;
    redisReply   *reply;
    const char   *argv[7];
    redisContext *rc;

    idem_key[0] = '\0';

    if (sms->idem_hash[0]) {
        snprintf(idem_key, sizeof(idem_key), BC_KEY_IDEM_PREFIX "%lld:%s",
                 ctx->cred_id, sms->idem_hash);

        if (!ngx_http_broadcast_send_idem(ctx, conn, sms, idem_key)) {
            return;
        }
    }

    snprintf(batch_key, sizeof(batch_key), BC_KEY_BATCH_PREFIX "%s",
             sms->batch_id);

    jobs = calloc(sms->n, sizeof(char *));
    resp = json_pack("{s:s,s:[],s:O}", "batch_id", sms->batch_id,
                     "messages", "rejected", sms->rejected);
    idem_text = NULL;
    ok = 0;

    if (jobs == NULL || resp == NULL) {
        goto failed;
    }

    msgs = json_object_get(resp, "messages");

    for (i = 0; i < sms->n; i++) {
        ngx_memzero(&job, sizeof(bc_job_t));
        ngx_cpystrn((u_char *) job.id, (u_char *) sms->msgs[i].id,
                    sizeof(job.id));
        ngx_cpystrn((u_char *) job.batch_id, (u_char *) sms->batch_id,
                    sizeof(job.batch_id));
        ngx_cpystrn((u_char *) job.channel, (u_char *) "sms",
                    sizeof(job.channel));
        ngx_cpystrn((u_char *) job.provider, (u_char *) "twilio",
                    sizeof(job.provider));
        ngx_cpystrn((u_char *) job.to, (u_char *) sms->msgs[i].to,
                    sizeof(job.to));
        ngx_cpystrn((u_char *) job.from, (u_char *) sms->from,
                    sizeof(job.from));
        ngx_cpystrn((u_char *) job.messaging_service_sid, (u_char *) sms->mss,
                    sizeof(job.messaging_service_sid));
        job.body = sms->text;
        job.api_key_id = ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY
                         ? ctx->cred_id : 0;
        job.created_ms = sms->created_ms;
        job.attempt = 0;

        jobs[i] = bc_job_dump(&job);
        if (jobs[i] == NULL) {
            goto failed;
        }

        json_array_append_new(msgs, json_pack("{s:s,s:s,s:s}",
                                              "id", sms->msgs[i].id,
                                              "to", sms->msgs[i].to,
                                              "status", "queued"));
    }

    if (idem_key[0]) {
        idem_json = json_pack("{s:s,s:i,s:O}", "h", sms->body_hash, "s", 202,
                              "r", resp);
        idem_text = idem_json ? json_dumps(idem_json, JSON_COMPACT) : NULL;
        json_decref(idem_json);

        if (idem_text == NULL) {
            goto failed;
        }
    }

    if (ngx_http_broadcast_redis_ready(conn, ctx->mcf, err, sizeof(err))
        != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        goto redis_down;
    }

    /* one pipelined MULTI ... EXEC: all messages or none */
    rc = conn->redis;
    nq = 0;

    argv[0] = "MULTI";
    lens[0] = 5;
    redisAppendCommandArgv(rc, 1, argv, lens);

    for (i = 0; i < sms->n; i++) {
        argv[0] = "XADD"; argv[1] = BC_KEY_SEND_STREAM; argv[2] = "*";
        argv[3] = "job"; argv[4] = jobs[i];
        lens[0] = 4; lens[1] = strlen(BC_KEY_SEND_STREAM); lens[2] = 1;
        lens[3] = 3; lens[4] = strlen(jobs[i]);
        redisAppendCommandArgv(rc, 5, argv, lens);

        snprintf(msg_key, sizeof(msg_key), BC_KEY_MSG_PREFIX "%s",
                 sms->msgs[i].id);
        argv[0] = "SET"; argv[1] = msg_key; argv[2] = jobs[i];
        argv[3] = "EX"; argv[4] = "604800";
        lens[0] = 3; lens[1] = strlen(msg_key); lens[2] = strlen(jobs[i]);
        lens[3] = 2; lens[4] = 6;
        redisAppendCommandArgv(rc, 5, argv, lens);

        argv[0] = "RPUSH"; argv[1] = batch_key; argv[2] = sms->msgs[i].id;
        lens[0] = 5; lens[1] = strlen(batch_key); lens[2] = BC_ULID_LEN;
        redisAppendCommandArgv(rc, 3, argv, lens);

        nq += 3;
    }

    argv[0] = "EXPIRE"; argv[1] = batch_key; argv[2] = "604800";
    lens[0] = 6; lens[1] = strlen(batch_key); lens[2] = 6;
    redisAppendCommandArgv(rc, 3, argv, lens);
    nq++;

    if (idem_text) {
        argv[0] = "SET"; argv[1] = idem_key; argv[2] = idem_text;
        argv[3] = "EX"; argv[4] = "86400";
        lens[0] = 3; lens[1] = strlen(idem_key); lens[2] = strlen(idem_text);
        lens[3] = 2; lens[4] = 5;
        redisAppendCommandArgv(rc, 5, argv, lens);
        nq++;
    }

    argv[0] = "EXEC";
    lens[0] = 4;
    redisAppendCommandArgv(rc, 1, argv, lens);

    /* MULTI, the queued commands, EXEC: read every reply */
    for (q = 0; q < nq + 2; q++) {
        reply = NULL;

        if (redisGetReply(rc, (void **) &reply) != REDIS_OK) {
            snprintf(ctx->detail, sizeof(ctx->detail), "%s", rc->errstr);

            /* the link is unusable now; EXEC was not applied or unknown */
            redisFree(rc);
            conn->redis = NULL;
            goto redis_down;
        }

        if (q == nq + 1) {
            ok = (reply->type == REDIS_REPLY_ARRAY
                  && reply->elements == nq);

            if (!ok) {
                snprintf(ctx->detail, sizeof(ctx->detail),
                         "EXEC failed: %s",
                         reply->type == REDIS_REPLY_ERROR ? reply->str
                                                          : "aborted");
            }

        } else if (reply->type == REDIS_REPLY_ERROR) {
            snprintf(ctx->detail, sizeof(ctx->detail), "%s", reply->str);
        }

        freeReplyObject(reply);
    }

    if (!ok) {
        goto redis_down;
    }

    ctx->status = 202;
    ctx->result = resp;
    ctx->accepted = sms->n;
    resp = NULL;

    goto done;

redis_down:

    ngx_http_broadcast_api_redis_down(ctx);

    if (idem_key[0]) {
        ngx_http_broadcast_send_idem_del(ctx, conn, idem_key);
    }

    goto done;

failed:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");

    if (idem_key[0]) {
        ngx_http_broadcast_send_idem_del(ctx, conn, idem_key);
    }

done:

    if (jobs) {
        for (i = 0; i < sms->n; i++) {
            free(jobs[i]);
        }

        free(jobs);
    }

    free(idem_text);
    json_decref(resp);
}
