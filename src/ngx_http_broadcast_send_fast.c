/*
 * The send fast path (no Idempotency-Key, a credential this worker
 * resolved before): one Lua script (EVALSHA) re-checks the lane's copy of
 * the credential cache entry (bc:{q..}:cred:<hash>) and
 * does the writes of send_queue.c's MULTI/EXEC atomically, sent from the
 * loop on the worker's async Redis link (or from the thread); when the
 * entry no longer matches it writes nothing and the full path decides
 * (401/403/MySQL refill), so revocation is immediate.
 */


#include "ngx_http_broadcast_send.h"
#include "ngx_http_broadcast_lua.h"

#include "bc_id.h"


/*
 * The fast path's script: checks the credential cache entry against the
 * principal the thread remembered (kind, id, scope, expiry) and, only if it
 * still matches, queues every message, all in one atomic step: nothing is
 * written when the check fails (0: take the full path), and the writes are
 * exactly those of the MULTI/EXEC of the full path.
 *
 * KEYS, all in the batch's lane {q..} (bc_lane.h): cred:<hash>,
 *       stream:send, batch:<id>, msg:<id> x n
 * ARGV: kind, id, needed scope (0: none), now (epoch s), n,
 *       message id x n, job JSON x n
 */
static const char  ngx_http_broadcast_send_lua_source[] =
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

static ngx_http_broadcast_lua_t  ngx_http_broadcast_send_lua =
    ngx_http_broadcast_lua_script(ngx_http_broadcast_send_lua_source);


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
    char           cred_key[96];
    char           batch_key[64];
    char           stream[64];
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

    ngx_http_broadcast_lua_evalsha(&ngx_http_broadcast_send_lua, sc->argv,
                                   sc->lens);
    sc->lens[2] = ngx_sprintf((u_char *) sc->f_nkeys, "%uz", 3 + b->n)
                  - (u_char *) sc->f_nkeys;
    sc->argv[2] = sc->f_nkeys;

    sc->lens[3] = bc_lane_key(sc->cred_key, sizeof(sc->cred_key),
                              BC_LANE_SEND, b->lane, BC_SFX_CRED "%.64s",
                              ctx->cred_hash);
    sc->argv[3] = sc->cred_key;
    sc->lens[4] = bc_lane_key(sc->stream, sizeof(sc->stream), BC_LANE_SEND,
                              b->lane, BC_SFX_SEND_STREAM);
    sc->argv[4] = sc->stream;
    sc->lens[5] = bc_lane_key(sc->batch_key, sizeof(sc->batch_key),
                              BC_LANE_SEND, b->lane, BC_SFX_BATCH "%.26s",
                              b->batch_id);
    sc->argv[5] = sc->batch_key;

    for (i = 0; i < b->n; i++) {
        sc->lens[6 + i] = bc_lane_key(sc->keys + i * 48, 48, BC_LANE_SEND,
                                      b->lane, BC_SFX_MSG "%.26s",
                                      b->msgs[i].id);
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


/* the script's reply: 1 answered (ok or 503), 0 full path, -1 not run
   (NOSCRIPT, or a cluster redirect: ngx_http_broadcast_lua_not_run) */
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

    if (ngx_http_broadcast_lua_not_run(reply)) {
        return -1;
    }

    snprintf(ctx->detail, sizeof(ctx->detail), "script failed: %s",
             reply->type == REDIS_REPLY_ERROR ? reply->str
                                              : "unexpected reply");
    ngx_http_broadcast_api_redis_down(ctx);

    return 1;
}


/* thread: auth + enqueue in one round trip; 0: use the full path */
int
ngx_http_broadcast_send_fast(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_batch_t *b = ctx->op_data;

    int                           rv;
    char                        **jobs, err[256], *resp;
    size_t                       *jlens, resp_len;
    redisReply                   *reply;
    bc_rc_t                      *rc;
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

    reply = ngx_http_broadcast_lua_call(&ngx_http_broadcast_send_lua, rc,
                                        sc.argc, sc.argv, sc.lens);

    if (reply == NULL) {
        /* the script may or may not have run: never retry it */
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", bc_rc_errstr(rc));
        bc_rc_free(rc);
        conn->redis = NULL;
        ngx_http_broadcast_api_redis_down(ctx);
        rv = 1;

    } else {
        rv = ngx_http_broadcast_script_result(ctx, b, reply, &resp, resp_len);

        if (rv == 1 && ctx->status == 202) {
            ngx_http_broadcast_redis_wait(conn, ctx->mcf);
        }

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
         * a failed EVALSHA plus the full path's round trips. A cluster
         * redirect: the thread's client follows it.
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
