/*
 * The queueing of an accepted batch, in a pool thread: the idempotency
 * check, the sender whitelist and 24-hour window check, then one pipelined
 * MULTI/EXEC that queues every message (the ledger's only "accepted").
 * Also the job JSON of every message and the 202 body, written as text
 * (byte for byte what jansson writes) for this path and the fast path.
 */


#include "ngx_http_broadcast_send.h"

#include "bc_id.h"
#include "bc_job.h"


static int ngx_http_broadcast_send_build(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_batch_t *b, char ***jobs, json_t **resp);


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
    int           ok, n;
    char          err[256], key[2 * NGX_HTTP_BROADCAST_ADDR_MAX + 32];
    size_t        lens[3];
    ngx_uint_t    i, k, nq, q, open;
    redisReply   *reply;
    const char   *argv[3];
    bc_rc_t      *rc;

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
        bc_rc_append(rc, 3, argv, lens);
        nq++;
    }

    if (b->window) {
        for (i = 0; i < b->n; i++) {
            n = bc_wawin_key(key, sizeof(key),
                             ngx_http_broadcast_lanes(ctx->mcf), b->from,
                             strlen(b->from), b->msgs[i].peer,
                             strlen(b->msgs[i].peer));
            lens[1] = n < 0 ? 0 : (size_t) n;
            argv[0] = "EXISTS"; argv[1] = key;
            lens[0] = 6;
            bc_rc_append(rc, 2, argv, lens);
            nq++;
        }
    }

    ok = 1;
    k = 0;

    for (q = 0; q < nq; q++) {
        reply = NULL;

        if (bc_rc_get_reply(rc, &reply) != REDIS_OK) {
            snprintf(ctx->detail, sizeof(ctx->detail), "%s", bc_rc_errstr(rc));
            bc_rc_free(rc);
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


/*
 * thread: one pipelined MULTI ... EXEC, all messages or none: per message
 * the stream entry and msg:<id>, the batch list of two or more, and the
 * idempotency record (idem_text, or NULL). 1 applied; 0 not or unknown,
 * with ctx->detail set (the link is closed when it broke).
 */
static int
ngx_http_broadcast_send_multi(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_batch_t *b,
    char **jobs, const char *idem_key, const char *idem_text)
{
    int           ok;
    char          batch_key[64], msg_key[64], stream[64], err[256];
    size_t        i, lens[7];
    ngx_uint_t    nq, q;
    redisReply   *reply;
    const char   *argv[7];
    bc_rc_t      *rc;

    if (ngx_http_broadcast_redis_ready(conn, ctx->mcf, err, sizeof(err))
        != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        return 0;
    }

    bc_lane_key(batch_key, sizeof(batch_key), BC_LANE_SEND, b->lane,
                BC_SFX_BATCH "%s", b->batch_id);
    bc_lane_key(stream, sizeof(stream), BC_LANE_SEND, b->lane,
                BC_SFX_SEND_STREAM);

    rc = conn->redis;
    nq = 0;
    ok = 0;

    argv[0] = "MULTI";
    lens[0] = 5;
    bc_rc_append(rc, 1, argv, lens);

    for (i = 0; i < b->n; i++) {
        argv[0] = "XADD"; argv[1] = stream; argv[2] = "*";
        argv[3] = "job"; argv[4] = jobs[i];
        lens[0] = 4; lens[1] = strlen(stream); lens[2] = 1;
        lens[3] = 3; lens[4] = strlen(jobs[i]);
        bc_rc_append(rc, 5, argv, lens);

        bc_lane_key(msg_key, sizeof(msg_key), BC_LANE_SEND, b->lane,
                    BC_SFX_MSG "%s", b->msgs[i].id);
        argv[0] = "SET"; argv[1] = msg_key; argv[2] = jobs[i];
        argv[3] = "EX"; argv[4] = BC_MSG_TTL;
        lens[0] = 3; lens[1] = strlen(msg_key); lens[2] = strlen(jobs[i]);
        lens[3] = 2; lens[4] = sizeof(BC_MSG_TTL) - 1;
        bc_rc_append(rc, 5, argv, lens);

        nq += 2;

        if (b->n > 1) {
            argv[0] = "RPUSH"; argv[1] = batch_key; argv[2] = b->msgs[i].id;
            lens[0] = 5; lens[1] = strlen(batch_key); lens[2] = BC_ULID_LEN;
            bc_rc_append(rc, 3, argv, lens);
            nq++;
        }
    }

    if (b->n > 1) {
        argv[0] = "EXPIRE"; argv[1] = batch_key; argv[2] = BC_MSG_TTL;
        lens[0] = 6; lens[1] = strlen(batch_key);
        lens[2] = sizeof(BC_MSG_TTL) - 1;
        bc_rc_append(rc, 3, argv, lens);
        nq++;
    }

    if (idem_text) {
        argv[0] = "SET"; argv[1] = idem_key; argv[2] = idem_text;
        argv[3] = "EX"; argv[4] = BC_IDEM_TTL;
        lens[0] = 3; lens[1] = strlen(idem_key); lens[2] = strlen(idem_text);
        lens[3] = 2; lens[4] = sizeof(BC_IDEM_TTL) - 1;
        bc_rc_append(rc, 5, argv, lens);
        nq++;
    }

    argv[0] = "EXEC";
    lens[0] = 4;
    bc_rc_append(rc, 1, argv, lens);

    /* MULTI, the queued commands, EXEC: read every reply */
    for (q = 0; q < nq + 2; q++) {
        reply = NULL;

        if (bc_rc_get_reply(rc, &reply) != REDIS_OK) {
            snprintf(ctx->detail, sizeof(ctx->detail), "%s", bc_rc_errstr(rc));

            /* the link is unusable now; EXEC was not applied or unknown */
            bc_rc_free(rc);
            conn->redis = NULL;
            return 0;
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

    if (ok) {
        ngx_http_broadcast_redis_wait(conn, ctx->mcf);
    }

    return ok;
}


void
ngx_http_broadcast_send_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_batch_t *b = ctx->op_data;

    char     idem_key[160];
    char   **jobs, *idem_text;
    json_t  *resp, *idem_json;

    idem_key[0] = '\0';

    if (b->idem_hash[0]) {
        bc_lane_key(idem_key, sizeof(idem_key), BC_LANE_SEND, b->lane,
                    BC_SFX_IDEM "%lld:%s", ctx->cred_id, b->idem_hash);

        if (!ngx_http_broadcast_send_idem(ctx, conn, b, idem_key)) {
            return;
        }
    }

    idem_text = NULL;
    jobs = NULL;
    resp = NULL;

    /* after the idempotency record, so that a replay answers as before */
    if (b->tpl_id && !ngx_http_broadcast_msgtpl_send(ctx, conn, b)) {
        if (idem_key[0]) {
            ngx_http_broadcast_send_idem_del(ctx, conn, idem_key);
        }

        return;
    }

    if ((b->sender_set || b->window)
        && !ngx_http_broadcast_send_check(ctx, conn, b))
    {
        if (idem_key[0] && !ctx->replayed) {
            ngx_http_broadcast_send_idem_del(ctx, conn, idem_key);
        }

        return;
    }

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

    if (!ngx_http_broadcast_send_multi(ctx, conn, b, jobs, idem_key,
                                       idem_text))
    {
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
int
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
char *
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


void
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
