/*
 * POST /api/send/b: validation and number normalisation in the loop, then
 * in the thread the idempotency check and one pipelined MULTI/EXEC that
 * queues every accepted message (the ledger's only "accepted").
 *
 * Fast path (no Idempotency-Key, a credential this worker resolved before):
 * one Lua script (EVALSHA) re-checks bc:cred:<hash> and does the same
 * writes atomically, sent from the loop on the worker's async Redis link;
 * when the entry no longer matches it writes nothing and the full path
 * above decides (401/403/MySQL refill), so revocation is immediate.
 */


#include "ngx_http_broadcast_api.h"

#include "bc_id.h"
#include "bc_job.h"
#include "bc_phone.h"
#include "bc_sig.h"

#include <pthread.h>
#include <openssl/sha.h>


#define NGX_HTTP_BROADCAST_SMS_MAX_CHARS  1600


static void ngx_http_broadcast_send_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_send_free(void *data);
static int ngx_http_broadcast_send_fast(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
static int ngx_http_broadcast_send_build(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, char ***jobs, json_t **resp);
static int ngx_http_broadcast_send_jobs(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, char ***jobs_out, size_t **lens_out);
static char *ngx_http_broadcast_send_resp_text(ngx_http_broadcast_batch_t *b,
    size_t *len);
static void ngx_http_broadcast_send_jobs_free(ngx_http_broadcast_batch_t *b,
    char **jobs);


size_t
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


/*
 * loop only (one per worker, no locking): recently normalised numbers.
 * bc_phone_normalize is a pure function of (input, region) and costs a
 * libphonenumber parse with ICU regexes; senders repeat recipients, so the
 * successes are remembered in a small direct-mapped table. Failures are
 * not cached (their reason text is the library's).
 */

#define NGX_HTTP_BROADCAST_PHONE_CACHE  1024
#define NGX_HTTP_BROADCAST_PHONE_IN     40

typedef struct {
    size_t   len;                              /* 0: empty slot */
    char     in[NGX_HTTP_BROADCAST_PHONE_IN];
    char     region[8];
    char     out[BC_PHONE_MAX];
} ngx_http_broadcast_phone_ent_t;

static ngx_http_broadcast_phone_ent_t
    ngx_http_broadcast_phone_cache[NGX_HTTP_BROADCAST_PHONE_CACHE];


/* out has room for BC_PHONE_MAX bytes */
int
ngx_http_broadcast_phone(const char *in, size_t len, const char *region,
    char *out, const char **reason)
{
    size_t                           rlen;
    uint32_t                         h;
    ngx_http_broadcast_phone_ent_t  *e;

    rlen = strlen(region);

    if (len == 0 || len >= NGX_HTTP_BROADCAST_PHONE_IN || rlen >= 8) {
        return bc_phone_normalize(in, len, region, out, reason);
    }

    h = ngx_murmur_hash2((u_char *) in, len) ^ (region[0] << 8 | region[1]);
    e = &ngx_http_broadcast_phone_cache[h % NGX_HTTP_BROADCAST_PHONE_CACHE];

    if (e->len == len
        && ngx_memcmp(e->in, in, len) == 0
        && ngx_strcmp(e->region, region) == 0)
    {
        ngx_memcpy(out, e->out, BC_PHONE_MAX);
        return 0;
    }

    if (bc_phone_normalize(in, len, region, out, reason) != 0) {
        return -1;
    }

    e->len = len;
    ngx_memcpy(e->in, in, len);
    ngx_memcpy(e->region, region, rlen + 1);
    ngx_memcpy(e->out, out, BC_PHONE_MAX);

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


/* loop: a batch owned by ctx (freed with it); NULL with ctx's error set */
ngx_http_broadcast_batch_t *
ngx_http_broadcast_batch_new(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, const char *text, size_t len)
{
    ngx_http_broadcast_batch_t  *b;

    b = ngx_calloc(sizeof(ngx_http_broadcast_batch_t), r->connection->log);
    if (b == NULL) {
        goto nomem;
    }

    ctx->op = ngx_http_broadcast_send_op;
    ctx->op_data = b;
    ctx->op_free = ngx_http_broadcast_send_free;
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
    json_t                    *v;
    const char                *s, *reason;
    ngx_table_elt_t           *idem;
    ngx_http_broadcast_out_t  *m;

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

    ctx->channel_index = ngx_strcmp(b->channel, "whatsapp") == 0 ? 1
                         : ngx_strcmp(b->channel, "email") == 0 ? 2 : 0;
    ctx->rejected = json_array_size(b->rejected);

    if (b->n == 0) {
        ctx->error_extra = json_pack("{s:O}", "rejected", b->rejected);
        ngx_http_broadcast_api_error(ctx, 422, "no_valid_recipients", "%s",
                                     none_valid);
        return;
    }

    if (b->n == 1) {
        /*
         * A batch of one message is named after it: no bc:batch list to
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


static int
ngx_http_broadcast_sms_addr(ngx_http_request_t *r, const char *in,
    size_t len, char *to, char *peer, const char **reason)
{
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (ngx_http_broadcast_phone(in, len, (char *) lcf->default_country.data,
                                 to, reason)
        != 0)
    {
        return -1;
    }

    ngx_cpystrn((u_char *) peer, (u_char *) to, BC_PHONE_MAX);

    return 0;
}


/* POST /api/send/sms: the SMS content, then the common accept path */
void
ngx_http_broadcast_send_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body)
{
    size_t                          i;
    json_t                         *json, *recipients, *msg, *from, *mss;
    const char                     *s, *reason;
    ngx_http_broadcast_batch_t     *b;
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

    if (ngx_http_broadcast_send_recipients(r, ctx, recipients) != 0) {
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

    b = ngx_http_broadcast_batch_new(r, ctx, json_string_value(msg),
                                     json_string_length(msg));
    if (b == NULL) {
        return;
    }

    ngx_memcpy(b->channel, "sms", sizeof("sms"));
    ngx_memcpy(b->provider, "twilio", sizeof("twilio"));

    if (from && !json_is_null(from)) {
        if (!json_is_string(from)
            || ngx_http_broadcast_phone(json_string_value(from),
                                        json_string_length(from), "US",
                                        b->from, &reason)
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

        ngx_cpystrn((u_char *) b->mss, (u_char *) s, sizeof(b->mss));
    }

    if (b->from[0] == '\0' && b->mss[0] == '\0') {
        if (lcf->sms_from.len == 0) {
            ngx_http_broadcast_api_error(ctx, 422, "invalid_request",
                "no sender: give from_number or messaging_service_sid (no "
                "broadcast_sms_from default is configured)");
            return;
        }

        ngx_cpystrn((u_char *) b->from, lcf->sms_from.data,
                    sizeof(b->from));
    }

    ngx_http_broadcast_send_accept(r, ctx, body, b, recipients,
                                   ngx_http_broadcast_sms_addr,
                                   "none of the recipients is a valid "
                                   "phone number");
    return;

bad_mss:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        "messaging_service_sid must be MG followed by 32 hex digits");
}


static void
ngx_http_broadcast_send_free(void *data)
{
    ngx_http_broadcast_batch_t *b = data;

    if (b->rejected) {
        json_decref(b->rejected);
    }

    ngx_free(b->text);
    ngx_free(b->extra);
    ngx_free(b->msgs);
    ngx_free(b);
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
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_batch_t *b,
    const char *key)
{
    char          err[256];
    size_t        lens[6];
    json_t       *stored, *h, *s, *body;
    redisReply   *reply;
    const char   *argv[6];
    json_error_t  jerr;

    argv[0] = "SET"; argv[1] = key; argv[2] = "pending";
    argv[3] = "NX"; argv[4] = "EX"; argv[5] = BC_IDEM_TTL;
    lens[0] = 3; lens[1] = strlen(key); lens[2] = 7;
    lens[3] = 2; lens[4] = 2; lens[5] = sizeof(BC_IDEM_TTL) - 1;

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


/*
 * thread: one pipelined round trip before the MULTI: SISMEMBER of a sender
 * that is not the configured default, and EXISTS of the 24-hour window of
 * every recipient of a free-form WhatsApp message; recipients whose window
 * is closed move to "rejected". 1 to go on, 0 when ctx holds the answer.
 * (A window that closes between the check and the EXEC is the provider's
 * to refuse: the sender treats 63016/131047 as final.)
 */
static int
ngx_http_broadcast_send_check(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_batch_t *b)
{
    int           ok;
    char          err[256], key[2 * NGX_HTTP_BROADCAST_ADDR_MAX + 16];
    size_t        lens[3];
    ngx_uint_t    i, k, nq, q, open;
    redisReply   *reply;
    const char   *argv[3];
    redisContext *rc;

    if (ngx_http_broadcast_redis_ready(conn, ctx->mcf, err, sizeof(err))
        != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_redis_down(ctx);
        return 0;
    }

    rc = conn->redis;
    nq = 0;

    if (b->sender_set) {
        argv[0] = "SISMEMBER"; argv[1] = b->sender_set; argv[2] = b->from;
        lens[0] = 9; lens[1] = strlen(b->sender_set); lens[2] = strlen(b->from);
        redisAppendCommandArgv(rc, 3, argv, lens);
        nq++;
    }

    if (b->window) {
        for (i = 0; i < b->n; i++) {
            lens[1] = snprintf(key, sizeof(key), BC_KEY_WAWIN_PREFIX "%s:%s",
                               b->from, b->msgs[i].peer);
            argv[0] = "EXISTS"; argv[1] = key;
            lens[0] = 6;
            redisAppendCommandArgv(rc, 2, argv, lens);
            nq++;
        }
    }

    ok = 1;
    k = 0;

    for (q = 0; q < nq; q++) {
        reply = NULL;

        if (redisGetReply(rc, (void **) &reply) != REDIS_OK) {
            snprintf(ctx->detail, sizeof(ctx->detail), "%s", rc->errstr);
            redisFree(rc);
            conn->redis = NULL;
            ngx_http_broadcast_api_redis_down(ctx);
            return 0;
        }

        if (reply->type != REDIS_REPLY_INTEGER) {
            snprintf(ctx->detail, sizeof(ctx->detail), "check failed: %s",
                     reply->type == REDIS_REPLY_ERROR ? reply->str
                                                      : "unexpected reply");
            freeReplyObject(reply);
            ok = -1;
            continue;
        }

        if (b->sender_set && q == 0) {
            if (reply->integer != 1) {
                ok = 0;
            }

            freeReplyObject(reply);
            continue;
        }

        /* window of message k (in order, compacted as we go) */
        open = (reply->integer == 1);
        freeReplyObject(reply);

        if (ok != 1) {
            continue;
        }

        i = q - (b->sender_set ? 1 : 0);

        if (open) {
            if (k != i) {
                b->msgs[k] = b->msgs[i];
            }

            k++;
            continue;
        }

        json_array_append_new(b->rejected,
            json_pack("{s:s,s:s}", "to", b->msgs[i].to, "error",
                      "outside_24h_window: the customer has not written to "
                      "this sender in the last 24 hours, so only a template "
                      "can be sent (content_sid or template)"));
    }

    if (ok < 0) {
        ngx_http_broadcast_api_redis_down(ctx);
        return 0;
    }

    if (ok == 0) {
        ngx_http_broadcast_api_error(ctx, 422,
            "sender_not_allowed", "%s is not a whitelisted %s sender: add it "
            "with POST /api/%s/senders", b->from, b->channel, b->channel);
        return 0;
    }

    if (b->window) {
        b->n = k;
    }

    if (b->n == 0) {
        ctx->error_extra = json_pack("{s:O}", "rejected", b->rejected);
        ngx_http_broadcast_api_error(ctx, 422, "no_valid_recipients",
            "no recipient can receive this message (see rejected)");
        return 0;
    }

    return 1;
}


static void
ngx_http_broadcast_send_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_batch_t *b = ctx->op_data;

    int           ok;
    char          idem_key[160], batch_key[64], msg_key[64], err[256];
    char        **jobs, *idem_text;
    size_t        i, lens[7];
    json_t       *resp, *idem_json;
    ngx_uint_t    nq, q;
    redisReply   *reply;
    const char   *argv[7];
    redisContext *rc;

    idem_key[0] = '\0';

    if (b->idem_hash[0]) {
        snprintf(idem_key, sizeof(idem_key), BC_KEY_IDEM_PREFIX "%lld:%s",
                 ctx->cred_id, b->idem_hash);

        if (!ngx_http_broadcast_send_idem(ctx, conn, b, idem_key)) {
            return;
        }
    }

    idem_text = NULL;
    jobs = NULL;
    resp = NULL;

    if ((b->sender_set || b->window)
        && !ngx_http_broadcast_send_check(ctx, conn, b))
    {
        if (idem_key[0] && !ctx->replayed) {
            ngx_http_broadcast_send_idem_del(ctx, conn, idem_key);
        }

        return;
    }

    snprintf(batch_key, sizeof(batch_key), BC_KEY_BATCH_PREFIX "%s",
             b->batch_id);

    ok = 0;

    if (ngx_http_broadcast_send_build(ctx, b, &jobs, &resp) != 0) {
        goto failed;
    }

    if (idem_key[0]) {
        idem_json = json_pack("{s:s,s:i,s:O}", "h", b->body_hash, "s", 202,
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

    for (i = 0; i < b->n; i++) {
        argv[0] = "XADD"; argv[1] = BC_KEY_SEND_STREAM; argv[2] = "*";
        argv[3] = "job"; argv[4] = jobs[i];
        lens[0] = 4; lens[1] = strlen(BC_KEY_SEND_STREAM); lens[2] = 1;
        lens[3] = 3; lens[4] = strlen(jobs[i]);
        redisAppendCommandArgv(rc, 5, argv, lens);

        snprintf(msg_key, sizeof(msg_key), BC_KEY_MSG_PREFIX "%s",
                 b->msgs[i].id);
        argv[0] = "SET"; argv[1] = msg_key; argv[2] = jobs[i];
        argv[3] = "EX"; argv[4] = BC_MSG_TTL;
        lens[0] = 3; lens[1] = strlen(msg_key); lens[2] = strlen(jobs[i]);
        lens[3] = 2; lens[4] = sizeof(BC_MSG_TTL) - 1;
        redisAppendCommandArgv(rc, 5, argv, lens);

        nq += 2;

        if (b->n > 1) {
            argv[0] = "RPUSH"; argv[1] = batch_key; argv[2] = b->msgs[i].id;
            lens[0] = 5; lens[1] = strlen(batch_key); lens[2] = BC_ULID_LEN;
            redisAppendCommandArgv(rc, 3, argv, lens);
            nq++;
        }
    }

    if (b->n > 1) {
        argv[0] = "EXPIRE"; argv[1] = batch_key; argv[2] = BC_MSG_TTL;
        lens[0] = 6; lens[1] = strlen(batch_key);
        lens[2] = sizeof(BC_MSG_TTL) - 1;
        redisAppendCommandArgv(rc, 3, argv, lens);
        nq++;
    }

    if (idem_text) {
        argv[0] = "SET"; argv[1] = idem_key; argv[2] = idem_text;
        argv[3] = "EX"; argv[4] = BC_IDEM_TTL;
        lens[0] = 3; lens[1] = strlen(idem_key); lens[2] = strlen(idem_text);
        lens[3] = 2; lens[4] = sizeof(BC_IDEM_TTL) - 1;
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
    ctx->accepted = b->n;
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

    ngx_http_broadcast_send_jobs_free(b, jobs);

    free(idem_text);
    json_decref(resp);
}


/*
 * A JSON string as jansson's json_dumps() writes it (no JSON_ENSURE_ASCII,
 * no JSON_ESCAPE_SLASH): '"' and '\\' escaped, control characters as
 * \b \f \n \r \t or \u00XX, everything else (UTF-8 included) verbatim.
 * The input is valid UTF-8 (it came through jansson). p has room for
 * 6 * len + 2 bytes.
 */
static u_char *
ngx_http_broadcast_json_str(u_char *p, const char *s, size_t len)
{
    u_char        c;
    const char   *end;
    static const u_char  hex[] = "0123456789ABCDEF";

    *p++ = '"';

    for (end = s + len; s < end; s++) {
        c = (u_char) *s;

        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = c;
            continue;
        }

        *p++ = '\\';

        switch (c) {
        case '"':  *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
            *p++ = 'u'; *p++ = '0'; *p++ = '0';
            *p++ = hex[c >> 4]; *p++ = hex[c & 0xf];
            break;
        }
    }

    *p++ = '"';

    return p;
}


#define ngx_http_broadcast_json_lit(p, s)                                     \
    ngx_cpymem(p, s, sizeof(s) - 1)


/*
 * The job JSON of one message: byte for byte what bc_job_dump() writes
 * (JSON_COMPACT | JSON_PRESERVE_ORDER, docs/DESIGN.md order) without a
 * jansson object per message. The fields shared by the batch are written
 * once into *common ("batch_id" .. "body") by the caller. malloc'd.
 */
static char *
ngx_http_broadcast_job_text(ngx_http_broadcast_batch_t *b, size_t i,
    const u_char *common, size_t common_len, size_t common2_len,
    long long api_key_id, size_t *len)
{
    u_char  *text, *p;
    size_t   to_len;

    to_len = ngx_strlen(b->msgs[i].to);

    text = malloc(sizeof("{\"id\":\"\",\"to\":") - 1 + BC_ULID_LEN
                  + 6 * to_len + 2 + common_len + common2_len
                  + sizeof(",\"api_key_id\":,\"created_ms\":,\"attempt\":0,"
                           "\"status\":\"queued\"}") + 2 * NGX_INT64_LEN);
    if (text == NULL) {
        return NULL;
    }

    p = ngx_http_broadcast_json_lit(text, "{\"id\":\"");
    p = ngx_cpymem(p, b->msgs[i].id, BC_ULID_LEN);
    p = ngx_http_broadcast_json_lit(p, "\",");
    p = ngx_cpymem(p, common, common_len);           /* batch_id .. to key */
    p = ngx_http_broadcast_json_str(p, b->msgs[i].to, to_len);
    p = ngx_cpymem(p, common + common_len + 1, common2_len);
    p = ngx_sprintf(p, ",\"api_key_id\":%L,\"created_ms\":%L,\"attempt\":0,"
                    "\"status\":\"queued\"}", (int64_t) api_key_id,
                    (int64_t) b->created_ms);
    *p = '\0';

    *len = p - text;

    return (char *) text;
}


/*
 * The job JSON of every message (0 or -1: nomem or not representable).
 * Without channel extras the text is written directly; with them the
 * jansson path of bc_job_dump() keeps its exact canonicalisation.
 */
static int
ngx_http_broadcast_send_jobs(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, char ***jobs_out, size_t **lens_out)
{
    char       **jobs;
    u_char      *common, *p;
    size_t       i, text_len, *lens, n, n2;
    long long    api_key_id;
    bc_job_t     job;

    *jobs_out = NULL;
    *lens_out = NULL;

    api_key_id = ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY
                 ? ctx->cred_id : 0;

    jobs = calloc(b->n, sizeof(char *) + sizeof(size_t));
    if (jobs == NULL) {
        return -1;
    }

    lens = (size_t *) (jobs + b->n);

    if (b->extra == NULL) {
        /*
         * "batch_id":..,"channel":..,"provider":..,"to": NUL
         * ,"from":..,"messaging_service_sid":..,"body":.. NUL
         */
        text_len = ngx_strlen(b->text);
        n = 6 * (sizeof(b->batch_id) + sizeof(b->channel)
                 + sizeof(b->provider) + sizeof(b->from) + sizeof(b->mss)
                 + text_len) + 128;

        common = malloc(n);
        if (common == NULL) {
            free(jobs);
            return -1;
        }

        p = ngx_http_broadcast_json_lit(common, "\"batch_id\":");
        p = ngx_http_broadcast_json_str(p, b->batch_id,
                                        ngx_strlen(b->batch_id));
        p = ngx_http_broadcast_json_lit(p, ",\"channel\":");
        p = ngx_http_broadcast_json_str(p, b->channel, ngx_strlen(b->channel));
        p = ngx_http_broadcast_json_lit(p, ",\"provider\":");
        p = ngx_http_broadcast_json_str(p, b->provider,
                                        ngx_strlen(b->provider));
        p = ngx_http_broadcast_json_lit(p, ",\"to\":");
        n = p - common;
        *p++ = '\0';
        p = ngx_http_broadcast_json_lit(p, ",\"from\":");
        p = ngx_http_broadcast_json_str(p, b->from, ngx_strlen(b->from));
        p = ngx_http_broadcast_json_lit(p, ",\"messaging_service_sid\":");
        p = ngx_http_broadcast_json_str(p, b->mss, ngx_strlen(b->mss));
        p = ngx_http_broadcast_json_lit(p, ",\"body\":");
        p = ngx_http_broadcast_json_str(p, b->text, text_len);
        *p = '\0';
        n2 = p - (common + n + 1);

        for (i = 0; i < b->n; i++) {
            jobs[i] = ngx_http_broadcast_job_text(b, i, common, n, n2,
                                                  api_key_id, &lens[i]);
            if (jobs[i] == NULL) {
                free(common);
                goto failed;
            }
        }

        free(common);

        *jobs_out = jobs;
        *lens_out = lens;

        return 0;
    }

    /* the fields common to every message of the batch */
    ngx_memzero(&job, sizeof(bc_job_t));
    ngx_cpystrn((u_char *) job.batch_id, (u_char *) b->batch_id,
                sizeof(job.batch_id));
    ngx_cpystrn((u_char *) job.channel, (u_char *) b->channel,
                sizeof(job.channel));
    ngx_cpystrn((u_char *) job.provider, (u_char *) b->provider,
                sizeof(job.provider));
    ngx_cpystrn((u_char *) job.from, (u_char *) b->from, sizeof(job.from));
    ngx_cpystrn((u_char *) job.messaging_service_sid, (u_char *) b->mss,
                sizeof(job.messaging_service_sid));
    job.body = b->text;
    job.extra = b->extra;
    job.api_key_id = api_key_id;
    job.created_ms = b->created_ms;
    job.attempt = 0;

    for (i = 0; i < b->n; i++) {
        ngx_cpystrn((u_char *) job.id, (u_char *) b->msgs[i].id,
                    sizeof(job.id));
        ngx_cpystrn((u_char *) job.to, (u_char *) b->msgs[i].to,
                    sizeof(job.to));

        jobs[i] = bc_job_dump(&job);
        if (jobs[i] == NULL) {
            goto failed;
        }

        lens[i] = ngx_strlen(jobs[i]);
    }

    *jobs_out = jobs;
    *lens_out = lens;

    return 0;

failed:

    ngx_http_broadcast_send_jobs_free(b, jobs);

    return -1;
}


/*
 * The 202 body as text: what json_dumps(JSON_COMPACT) writes for
 * {"batch_id","messages":[{"id","to","status"}],"rejected"} (insertion
 * order). malloc'd; NULL on nomem.
 */
static char *
ngx_http_broadcast_send_resp_text(ngx_http_broadcast_batch_t *b, size_t *len)
{
    char    *rej;
    u_char  *text, *p;
    size_t   i, n, rej_len;

    rej = NULL;
    rej_len = 2;

    if (json_array_size(b->rejected)) {
        rej = json_dumps(b->rejected, JSON_COMPACT);
        if (rej == NULL) {
            return NULL;
        }

        rej_len = ngx_strlen(rej);
    }

    n = sizeof("{\"batch_id\":\"\",\"messages\":[],\"rejected\":}\n")
        + BC_ULID_LEN + rej_len;

    for (i = 0; i < b->n; i++) {
        n += sizeof("{\"id\":\"\",\"to\":,\"status\":\"queued\"},")
             + BC_ULID_LEN + 6 * ngx_strlen(b->msgs[i].to) + 2;
    }

    text = malloc(n);
    if (text == NULL) {
        free(rej);
        return NULL;
    }

    p = ngx_http_broadcast_json_lit(text, "{\"batch_id\":");
    p = ngx_http_broadcast_json_str(p, b->batch_id, ngx_strlen(b->batch_id));
    p = ngx_http_broadcast_json_lit(p, ",\"messages\":[");

    for (i = 0; i < b->n; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_http_broadcast_json_lit(p, "{\"id\":");
        p = ngx_http_broadcast_json_str(p, b->msgs[i].id,
                                        ngx_strlen(b->msgs[i].id));
        p = ngx_http_broadcast_json_lit(p, ",\"to\":");
        p = ngx_http_broadcast_json_str(p, b->msgs[i].to,
                                        ngx_strlen(b->msgs[i].to));
        p = ngx_http_broadcast_json_lit(p, ",\"status\":\"queued\"}");
    }

    p = ngx_http_broadcast_json_lit(p, "],\"rejected\":");

    if (rej) {
        p = ngx_cpymem(p, rej, rej_len);
        free(rej);

    } else {
        p = ngx_http_broadcast_json_lit(p, "[]");
    }

    *p++ = '}';
    *p = '\0';

    *len = p - text;

    return (char *) text;
}


/* thread: the job JSON of every message and the 202 body; 0 or -1 (nomem) */
static int
ngx_http_broadcast_send_build(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, char ***jobs_out, json_t **resp_out)
{
    char      **jobs;
    size_t      i, *lens;
    json_t     *resp, *msgs, *item;

    *jobs_out = NULL;
    *resp_out = NULL;

    if (ngx_http_broadcast_send_jobs(ctx, b, &jobs, &lens) != 0) {
        return -1;
    }

    resp = json_pack("{s:s,s:[],s:O}", "batch_id", b->batch_id,
                     "messages", "rejected", b->rejected);

    if (resp == NULL) {
        goto failed;
    }

    msgs = json_object_get(resp, "messages");

    for (i = 0; i < b->n; i++) {
        item = json_pack("{s:s,s:s,s:s}", "id", b->msgs[i].id,
                         "to", b->msgs[i].to, "status", "queued");

        if (item == NULL || json_array_append_new(msgs, item) != 0) {
            goto failed;
        }
    }

    *jobs_out = jobs;
    *resp_out = resp;

    return 0;

failed:

    ngx_http_broadcast_send_jobs_free(b, jobs);
    json_decref(resp);

    return -1;
}


static void
ngx_http_broadcast_send_jobs_free(ngx_http_broadcast_batch_t *b, char **jobs)
{
    size_t  i;

    if (jobs == NULL) {
        return;
    }

    for (i = 0; i < b->n; i++) {
        free(jobs[i]);
    }

    free(jobs);
}


/*
 * The fast path's script: checks the credential cache entry against the
 * principal the thread remembered (kind, id, scope, expiry) and, only if it
 * still matches, queues every message, all in one atomic step: nothing is
 * written when the check fails (0: take the full path), and the writes are
 * exactly those of the MULTI/EXEC of the full path.
 *
 * KEYS: bc:cred:<hash>, bc:stream:send, bc:batch:<id>, bc:msg:<id> x n
 * ARGV: kind, id, needed scope (0: none), now (epoch s), n,
 *       message id x n, job JSON x n
 */
static const char  ngx_http_broadcast_send_lua[] =
    "local c = redis.call('HMGET', KEYS[1], 'kind', 'id', 'scope', 'exp')\n"
    "if c[1] ~= ARGV[1] or c[2] ~= ARGV[2] then return 0 end\n"
    /* no table constructor: one per call was 10-20% of the script */
    "local sc = c[3]\n"
    "local s = sc == 'send' and 2 or sc == 'manage' and 3"
    " or sc == 'read' and 1 or nil\n"
    "if s == nil or s < tonumber(ARGV[3]) then return 0 end\n"
    "local e = tonumber(c[4])\n"
    "if e == nil or (e ~= 0 and e <= tonumber(ARGV[4])) then return 0 end\n"
    "local n = tonumber(ARGV[5])\n"
    "for i = 1, n do\n"
    "  local job = ARGV[5 + n + i]\n"
    "  redis.call('XADD', KEYS[2], '*', 'job', job)\n"
    "  redis.call('SET', KEYS[3 + i], job, 'EX', '" BC_MSG_TTL "')\n"
    "end\n"
    "if n > 1 then\n"
    "  for i = 1, n do redis.call('RPUSH', KEYS[3], ARGV[5 + i]) end\n"
    "  redis.call('EXPIRE', KEYS[3], '" BC_MSG_TTL "')\n"
    "end\n"
    "return 1\n";

static char            ngx_http_broadcast_send_lua_sha[41];
static pthread_once_t  ngx_http_broadcast_send_lua_once = PTHREAD_ONCE_INIT;


static void
ngx_http_broadcast_send_lua_init(void)
{
    u_char  md[SHA_DIGEST_LENGTH];

    SHA1((u_char *) ngx_http_broadcast_send_lua,
         sizeof(ngx_http_broadcast_send_lua) - 1, md);

    ngx_hex_dump((u_char *) ngx_http_broadcast_send_lua_sha, md,
                 SHA_DIGEST_LENGTH);
    ngx_http_broadcast_send_lua_sha[40] = '\0';
}


#define NGX_HTTP_BROADCAST_FAST_STACK  8
#define NGX_HTTP_BROADCAST_FAST_ARGS   (11 + 3 * NGX_HTTP_BROADCAST_FAST_STACK)


typedef struct {
    int            argc;
    const char   **argv;
    size_t        *lens;
    char          *keys;
    const char    *argv_s[NGX_HTTP_BROADCAST_FAST_ARGS];
    size_t         lens_s[NGX_HTTP_BROADCAST_FAST_ARGS];
    char           keys_s[NGX_HTTP_BROADCAST_FAST_STACK * 48];
    char           cred_key[80];
    char           batch_key[64];
    char           f_id[24];
    char           f_need[8];
    char           f_now[24];
    char           f_n[24];
    char           f_nkeys[24];
} ngx_http_broadcast_script_t;


static void
ngx_http_broadcast_script_free(ngx_http_broadcast_script_t *sc)
{
    if (sc->argv != sc->argv_s) {
        free(sc->argv);
        free(sc->lens);
        free(sc->keys);
    }
}


/* the EVALSHA command of the fast path; 0 or -1 (nomem) */
static int
ngx_http_broadcast_script_args(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, char **jobs, size_t *jlens,
    ngx_http_broadcast_script_t *sc)
{
    size_t   i, k;

    (void) pthread_once(&ngx_http_broadcast_send_lua_once,
                        ngx_http_broadcast_send_lua_init);

    sc->argc = (int) (3 + 3 + b->n + 5 + 2 * b->n);

    if (b->n <= NGX_HTTP_BROADCAST_FAST_STACK) {
        sc->argv = sc->argv_s;
        sc->lens = sc->lens_s;
        sc->keys = sc->keys_s;

    } else {
        sc->argv = malloc(sc->argc * sizeof(char *));
        sc->lens = malloc(sc->argc * sizeof(size_t));
        sc->keys = malloc(b->n * 48);

        if (sc->argv == NULL || sc->lens == NULL || sc->keys == NULL) {
            ngx_http_broadcast_script_free(sc);
            return -1;
        }
    }

    sc->argv[0] = "EVALSHA";
    sc->lens[0] = 7;
    sc->argv[1] = ngx_http_broadcast_send_lua_sha;
    sc->lens[1] = 40;
    sc->lens[2] = ngx_sprintf((u_char *) sc->f_nkeys, "%uz", 3 + b->n)
                  - (u_char *) sc->f_nkeys;
    sc->argv[2] = sc->f_nkeys;

    sc->lens[3] = ngx_sprintf((u_char *) sc->cred_key,
                              BC_KEY_CRED_PREFIX "%*s", (size_t) 64,
                              ctx->cred_hash)
                  - (u_char *) sc->cred_key;
    sc->argv[3] = sc->cred_key;
    sc->argv[4] = BC_KEY_SEND_STREAM;
    sc->lens[4] = sizeof(BC_KEY_SEND_STREAM) - 1;
    sc->lens[5] = ngx_sprintf((u_char *) sc->batch_key,
                              BC_KEY_BATCH_PREFIX "%*s", (size_t) BC_ULID_LEN,
                              b->batch_id)
                  - (u_char *) sc->batch_key;
    sc->argv[5] = sc->batch_key;

    for (i = 0; i < b->n; i++) {
        sc->lens[6 + i] = ngx_sprintf((u_char *) sc->keys + i * 48,
                                      BC_KEY_MSG_PREFIX "%*s",
                                      (size_t) BC_ULID_LEN, b->msgs[i].id)
                          - (u_char *) (sc->keys + i * 48);
        sc->argv[6 + i] = sc->keys + i * 48;
    }

    k = 6 + b->n;

    sc->argv[k] = ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY ? "key"
                                                                 : "session";
    sc->lens[k] = ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY ? 3 : 7;
    k++;

    sc->lens[k] = ngx_sprintf((u_char *) sc->f_id, "%L",
                              (int64_t) ctx->cred_id)
                  - (u_char *) sc->f_id;
    sc->argv[k++] = sc->f_id;

    sc->lens[k] = ngx_sprintf((u_char *) sc->f_need, "%ui",
                              ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY
                              ? ctx->need : (ngx_uint_t) 0)
                  - (u_char *) sc->f_need;
    sc->argv[k++] = sc->f_need;

    sc->lens[k] = ngx_sprintf((u_char *) sc->f_now, "%L",
                              (int64_t) time(NULL))
                  - (u_char *) sc->f_now;
    sc->argv[k++] = sc->f_now;

    sc->lens[k] = ngx_sprintf((u_char *) sc->f_n, "%uz", b->n)
                  - (u_char *) sc->f_n;
    sc->argv[k++] = sc->f_n;

    for (i = 0; i < b->n; i++) {
        sc->argv[k] = b->msgs[i].id;
        sc->lens[k++] = BC_ULID_LEN;
    }

    for (i = 0; i < b->n; i++) {
        sc->argv[k] = jobs[i];
        sc->lens[k++] = jlens[i];
    }

    return 0;
}


/* the script's reply: 1 answered (ok or 503), 0 full path, -1 NOSCRIPT */
static int
ngx_http_broadcast_script_result(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, redisReply *reply, char **text,
    size_t len)
{
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        ctx->status = 202;
        ctx->result_text = *text;
        ctx->result_len = len;
        ctx->accepted = b->n;
        *text = NULL;
        return 1;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        /* the cache entry does not match the hint: full path */
        return 0;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        return -1;
    }

    snprintf(ctx->detail, sizeof(ctx->detail), "script failed: %s",
             reply->type == REDIS_REPLY_ERROR ? reply->str
                                              : "unexpected reply");
    ngx_http_broadcast_api_redis_down(ctx);

    return 1;
}


/* thread: auth + enqueue in one round trip; 0: use the full path */
static int
ngx_http_broadcast_send_fast(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_batch_t *b = ctx->op_data;

    int                           rv;
    char                        **jobs, err[256], *resp;
    size_t                       *jlens, resp_len;
    redisReply                   *reply;
    redisContext                 *rc;
    ngx_http_broadcast_script_t   sc;

    /* the idempotency protocol and the checks need their own round trips */
    if (b->idem_hash[0] || b->sender_set || b->window) {
        return 0;
    }

    /* no usable link: the full path answers (and reports) exactly */
    if (ngx_http_broadcast_redis_ready(conn, ctx->mcf, err, sizeof(err))
        != 0)
    {
        return 0;
    }

    if (ngx_http_broadcast_send_jobs(ctx, b, &jobs, &jlens) != 0) {
        return 0;
    }

    resp = ngx_http_broadcast_send_resp_text(b, &resp_len);
    if (resp == NULL) {
        ngx_http_broadcast_send_jobs_free(b, jobs);
        return 0;
    }

    if (ngx_http_broadcast_script_args(ctx, b, jobs, jlens, &sc) != 0) {
        ngx_http_broadcast_send_jobs_free(b, jobs);
        free(resp);
        return 0;
    }

    rc = conn->redis;

    reply = redisCommandArgv(rc, sc.argc, sc.argv, sc.lens);

    if (reply && reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* first use on this server: EVAL loads it into the cache */
        freeReplyObject(reply);
        sc.argv[0] = "EVAL";
        sc.lens[0] = 4;
        sc.argv[1] = ngx_http_broadcast_send_lua;
        sc.lens[1] = sizeof(ngx_http_broadcast_send_lua) - 1;

        reply = redisCommandArgv(rc, sc.argc, sc.argv, sc.lens);
    }

    if (reply == NULL) {
        /* the script may or may not have run: never retry it */
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", rc->errstr);
        redisFree(rc);
        conn->redis = NULL;
        ngx_http_broadcast_api_redis_down(ctx);
        rv = 1;

    } else {
        rv = ngx_http_broadcast_script_result(ctx, b, reply, &resp, resp_len);

        if (rv < 0) {
            snprintf(ctx->detail, sizeof(ctx->detail), "%s", reply->str);
            ngx_http_broadcast_api_redis_down(ctx);
            rv = 1;
        }

        freeReplyObject(reply);
    }

    ngx_http_broadcast_script_free(&sc);
    ngx_http_broadcast_send_jobs_free(b, jobs);
    free(resp);

    return rv;
}


/* loop: the script's reply on the worker's async link */
static ngx_int_t
ngx_http_broadcast_send_areply(ngx_http_request_t *r, void *data,
    redisReply *reply)
{
    ngx_http_broadcast_api_ctx_t *ctx = data;

    int      rv;
    char    *resp;

    resp = ctx->fast_text;
    ctx->fast_text = NULL;

    if (reply == NULL) {
        /* the link dropped with the script sent: outcome unknown */
        free(resp);
        snprintf(ctx->detail, sizeof(ctx->detail),
                 "async link lost with the request in flight");
        ngx_http_broadcast_api_redis_down(ctx);
        return ngx_http_broadcast_api_answer(r, ctx);
    }

    rv = ngx_http_broadcast_script_result(ctx, ctx->op_data, reply, &resp,
                                          ctx->fast_len);
    free(resp);

    if (rv == 1) {
        return ngx_http_broadcast_api_answer(r, ctx);
    }

    if (rv < 0) {
        /*
         * NOSCRIPT: not in this server's cache yet (a fresh or restarted
         * Redis). The thread's fast path EVALs it, which loads it; going
         * to the full path instead left it unloaded, and every send paid
         * a failed EVALSHA plus the full path's round trips.
         */
        return NGX_DECLINED;
    }

    /* no match: the thread's full path decides */
    ctx->op_fast = NULL;
    ctx->cred_id = 0;
    ctx->user_id = 0;
    ctx->scope = 0;

    return NGX_DECLINED;
}


/*
 * loop: the same script sent on the worker's async Redis link, so the
 * common send needs no thread at all. NGX_DECLINED: use the thread path.
 */
ngx_int_t
ngx_http_broadcast_send_loop(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_task_conf_t *tc)
{
    ngx_http_broadcast_batch_t *b = ctx->op_data;

    char                        **jobs, *resp;
    size_t                       *jlens, resp_len;
    ngx_int_t                     rc;
    ngx_http_broadcast_script_t   sc;

    if (ctx->op != ngx_http_broadcast_send_op || b == NULL
        || b->idem_hash[0] || b->sender_set || b->window
        || ctx->code != NULL
        || !ngx_http_broadcast_auth_hint(ctx))
    {
        return NGX_DECLINED;
    }

    if (ngx_http_broadcast_send_jobs(ctx, b, &jobs, &jlens) != 0) {
        return NGX_DECLINED;
    }

    resp = ngx_http_broadcast_send_resp_text(b, &resp_len);
    if (resp == NULL) {
        ngx_http_broadcast_send_jobs_free(b, jobs);
        return NGX_DECLINED;
    }

    if (ngx_http_broadcast_script_args(ctx, b, jobs, jlens, &sc) != 0) {
        ngx_http_broadcast_send_jobs_free(b, jobs);
        free(resp);
        return NGX_DECLINED;
    }

    ctx->fast_text = resp;
    ctx->fast_len = resp_len;

    /* hiredis formats the command at once: argv need not outlive this */
    rc = ngx_http_broadcast_aredis_post(r, tc, ngx_http_broadcast_send_areply,
                                        sc.argc, sc.argv, sc.lens);

    ngx_http_broadcast_script_free(&sc);
    ngx_http_broadcast_send_jobs_free(b, jobs);

    if (rc == NGX_DECLINED) {
        ctx->fast_text = NULL;
        free(resp);
    }

    return rc;
}
