/*
 * Credentials: API keys (bck_...) and admin sessions (bcs_...), looked up
 * by their SHA-256 hex: first in the Redis cache bc:{q}:cred:<hash>, then in
 * MySQL, which refills the cache for BC_CRED_TTL_S. The raw credential never
 * leaves the loop and is never logged.
 *
 * Roles: the lookup reads the owner's role with the credential; a session
 * gets its role's scope and a key at most that, so one comparison with the
 * route's need serves both (SESSION and ADMIN rows take sessions only,
 * ADMIN an admin's). A cookie session's write must carry the session's
 * CSRF token, checked here in the loop where the raw token is.
 */


#include "ngx_http_broadcast_api.h"

#include "bc_sig.h"


static const char  *ngx_http_broadcast_scopes[] = {
    "", "read", "send", "manage"
};


/* by NGX_HTTP_BROADCAST_ROLE_*: its name and the highest scope it gives */
static const struct {
    const char  *name;
    ngx_uint_t   scope;
} ngx_http_broadcast_roles[] = {
    { "", 0 },
    { "viewer", NGX_HTTP_BROADCAST_NEED_READ },
    { "operator", NGX_HTTP_BROADCAST_NEED_MANAGE },
    { "admin", NGX_HTTP_BROADCAST_NEED_MANAGE },
};


ngx_uint_t
ngx_http_broadcast_scope_value(const char *s)
{
    ngx_uint_t  i;

    for (i = 1; i < 4; i++) {
        if (strcmp(s, ngx_http_broadcast_scopes[i]) == 0) {
            return i;
        }
    }

    return 0;
}


const char *
ngx_http_broadcast_scope_name(ngx_uint_t scope)
{
    return ngx_http_broadcast_scopes[scope < 4 ? scope : 0];
}


const char *
ngx_http_broadcast_role_name(ngx_uint_t role)
{
    return ngx_http_broadcast_roles[role <= NGX_HTTP_BROADCAST_ROLE_ADMIN
                                    ? role : 0].name;
}


ngx_uint_t
ngx_http_broadcast_role_value(const char *s)
{
    ngx_uint_t  i;

    for (i = 1; i <= NGX_HTTP_BROADCAST_ROLE_ADMIN; i++) {
        if (strcmp(s, ngx_http_broadcast_roles[i].name) == 0) {
            return i;
        }
    }

    return NGX_HTTP_BROADCAST_ROLE_NONE;
}


ngx_uint_t
ngx_http_broadcast_role_scope(ngx_uint_t role)
{
    return ngx_http_broadcast_roles[role <= NGX_HTTP_BROADCAST_ROLE_ADMIN
                                    ? role : 0].scope;
}


/* loop: the request's X-CSRF-Token equals the session's, in constant time */
static ngx_uint_t
ngx_http_broadcast_auth_csrf_ok(ngx_http_request_t *r, u_char *raw,
    size_t len)
{
    char              want[65];
    ngx_table_elt_t  *h;

    h = ngx_http_broadcast_header_in(r, "X-CSRF-Token");

    if (h == NULL || bc_csrf_token((char *) raw, len, want) != 0) {
        return 0;
    }

    return bc_ct_equal(h->value.data, h->value.len, want, 64);
}


/* the credential's bytes without trailing blanks, 47 of them, or 0 */
static size_t
ngx_http_broadcast_auth_len(u_char *p, size_t len)
{
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
        len--;
    }

    return len == 47 ? len : 0;
}


static ngx_int_t
ngx_http_broadcast_auth_take(ngx_http_broadcast_api_ctx_t *ctx,
    u_char *p, size_t len)
{
    len = ngx_http_broadcast_auth_len(p, len);

    if (len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_strncmp(p, "bck_", 4) == 0) {
        ctx->cred_kind = NGX_HTTP_BROADCAST_CRED_KEY;

    } else if (ngx_strncmp(p, "bcs_", 4) == 0) {
        ctx->cred_kind = NGX_HTTP_BROADCAST_CRED_SESSION;

    } else {
        return NGX_DECLINED;
    }

    ngx_http_broadcast_sha256_hex(p, len, ctx->cred_hash);

    return NGX_OK;
}


/* loop: finds and hashes the credential; NGX_DECLINED if there is none */
ngx_int_t
ngx_http_broadcast_auth_credential(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_str_t         name, value;
    ngx_table_elt_t  *h;

    h = ngx_http_broadcast_header_in(r, "X-API-Key");
    if (h != NULL) {
        return ngx_http_broadcast_auth_take(ctx, h->value.data, h->value.len);
    }

    if (r->headers_in.authorization) {
        value = r->headers_in.authorization->value;

        if (value.len > 7
            && ngx_strncasecmp(value.data, (u_char *) "Bearer ", 7) == 0)
        {
            return ngx_http_broadcast_auth_take(ctx, value.data + 7,
                                                value.len - 7);
        }

        return NGX_DECLINED;
    }

    ngx_str_set(&name, "bc_session");

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                          &value)
        != NGX_DECLINED
        && ngx_http_broadcast_auth_take(ctx, value.data, value.len) == NGX_OK
        && ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_SESSION)
    {
        /* a browser sends the cookie to any request another site makes
           it send: a write must prove it read /api/me or the login */
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
            && !ngx_http_broadcast_auth_csrf_ok(r, value.data,
                    ngx_http_broadcast_auth_len(value.data, value.len)))
        {
            ctx->csrf_failed = 1;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_broadcast_auth_session_csrf(ngx_http_request_t *r, char csrf[65])
{
    size_t            len;
    ngx_str_t         name, value;
    ngx_table_elt_t  *h;

    h = ngx_http_broadcast_header_in(r, "X-API-Key");
    if (h != NULL) {
        return NGX_DECLINED;
    }

    if (r->headers_in.authorization) {
        value = r->headers_in.authorization->value;

        if (value.len <= 7
            || ngx_strncasecmp(value.data, (u_char *) "Bearer ", 7) != 0)
        {
            return NGX_DECLINED;
        }

        value.data += 7;
        value.len -= 7;

    } else {
        ngx_str_set(&name, "bc_session");

        if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                              &value)
            == NGX_DECLINED)
        {
            return NGX_DECLINED;
        }
    }

    len = ngx_http_broadcast_auth_len(value.data, value.len);

    if (len == 0 || ngx_strncmp(value.data, "bcs_", 4) != 0
        || bc_csrf_token((char *) value.data, len, csrf) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* thread: fills the principal from a cache hash reply; 1 if usable */
static int
ngx_http_broadcast_auth_cached(ngx_http_broadcast_api_ctx_t *ctx,
    redisReply *reply, long long *exp)
{
    size_t       i;
    redisReply  *k, *v;
    int          have;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        return 0;
    }

    have = 0;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (strcmp(k->str, "id") == 0) {
            ctx->cred_id = strtoll(v->str, NULL, 10);
            have |= 1;

        } else if (strcmp(k->str, "user_id") == 0) {
            ctx->user_id = strtoll(v->str, NULL, 10);

        } else if (strcmp(k->str, "scope") == 0) {
            ctx->scope = ngx_http_broadcast_scope_value(v->str);
            have |= 2;

        } else if (strcmp(k->str, "exp") == 0) {
            *exp = strtoll(v->str, NULL, 10);

        } else if (strcmp(k->str, "role") == 0) {
            ctx->role = ngx_http_broadcast_role_value(v->str);
            have |= 8;

        } else if (strcmp(k->str, "kind") == 0) {
            if (strcmp(v->str, ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY
                               ? "key" : "session") != 0)
            {
                return 0;
            }

            have |= 4;
        }
    }

    /* an entry without a role (written before roles) is a miss */
    return have == 15 && ctx->role != NGX_HTTP_BROADCAST_ROLE_NONE;
}


/* refills one lane's copy (key) after a lookup; a failure only costs the
 * next lookup */
static void
ngx_http_broadcast_auth_cache_fill_key(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *key, long long exp)
{
    int          n;
    char         err[256], f_id[24], f_uid[24], f_exp[24];
    size_t       lens[14];
    redisReply  *reply;
    const char  *argv[14];

    snprintf(f_id, sizeof(f_id), "%lld", ctx->cred_id);
    snprintf(f_uid, sizeof(f_uid), "%lld", ctx->user_id);
    snprintf(f_exp, sizeof(f_exp), "%lld", exp);

    argv[0] = "HSET"; argv[1] = key;
    argv[2] = "kind";
    argv[3] = ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY ? "key"
                                                            : "session";
    argv[4] = "id"; argv[5] = f_id;
    argv[6] = "user_id"; argv[7] = f_uid;
    argv[8] = "scope"; argv[9] = ngx_http_broadcast_scopes[ctx->scope];
    argv[10] = "exp"; argv[11] = f_exp;
    argv[12] = "role"; argv[13] = ngx_http_broadcast_role_name(ctx->role);

    for (n = 0; n < 14; n++) {
        lens[n] = strlen(argv[n]);
    }

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 14, argv, lens,
                                         err, sizeof(err));
    if (reply == NULL) {
        return;
    }

    freeReplyObject(reply);

    argv[0] = "EXPIRE";
    argv[2] = BC_CRED_TTL;
    lens[0] = 6;
    lens[2] = sizeof(BC_CRED_TTL) - 1;

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 3, argv, lens, err,
                                         sizeof(err));
    if (reply) {
        freeReplyObject(reply);
    }
}


/*
 * every lane's copy of bc:{q..}:cred:<hash>: each lane's send script
 * re-checks its own (send_fast.c)
 */
static void
ngx_http_broadcast_auth_cache_fill(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long exp)
{
    char        key[96];
    ngx_uint_t  lane;

    for (lane = 0; lane < ngx_http_broadcast_lanes(ctx->mcf); lane++) {
        bc_lane_key(key, sizeof(key), BC_LANE_SEND, lane, BC_SFX_CRED "%s",
                    ctx->cred_hash);
        ngx_http_broadcast_auth_cache_fill_key(ctx, conn, key, exp);
    }
}


/* every lane's copy of a credential's cache entry, deleted */
void
ngx_http_broadcast_auth_forget_one(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *hash)
{
    char         key[96];
    const char  *argv[2];
    ngx_uint_t   lane;

    argv[0] = "DEL";
    argv[1] = key;

    for (lane = 0; lane < ngx_http_broadcast_lanes(ctx->mcf); lane++) {
        bc_lane_key(key, sizeof(key), BC_LANE_SEND, lane, BC_SFX_CRED "%s",
                    hash);
        (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);
    }
}


/*
 * the credential in MySQL (the lookup by hash is the comparison), then the
 * cache refill; 1 found (ctx's principal set), 0 unknown, -1 MySQL down
 * (ctx answers)
 */
static int
ngx_http_broadcast_auth_lookup(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    int         n;
    char        sql[512], err[256];
    long long   exp;
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    if (ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY) {
        n = snprintf(sql, sizeof(sql),
            "SELECT k.id, k.admin_user_id, k.scope, "
            "COALESCE(UNIX_TIMESTAMP(k.expires_at), 0), u.role "
            "FROM api_keys k JOIN admin_users u ON u.id = k.admin_user_id "
            "WHERE k.key_hash = '%s' AND k.revoked_at IS NULL "
            "AND (k.expires_at IS NULL OR k.expires_at > UTC_TIMESTAMP(3))"
            " AND u.disabled_at IS NULL", ctx->cred_hash);

    } else {
        n = snprintf(sql, sizeof(sql),
            "SELECT s.id, s.admin_user_id, 'manage', "
            "UNIX_TIMESTAMP(s.expires_at), u.role "
            "FROM admin_sessions s JOIN admin_users u "
            "ON u.id = s.admin_user_id "
            "WHERE s.token_hash = '%s' AND s.expires_at > UTC_TIMESTAMP(3)"
            " AND u.disabled_at IS NULL", ctx->cred_hash);
    }

    res = ngx_http_broadcast_sql_select(ctx, conn, sql, n);
    if (res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(res);

    if (row == NULL || row[0] == NULL || row[1] == NULL) {
        mysql_free_result(res);
        return 0;
    }

    ctx->cred_id = strtoll(row[0], NULL, 10);
    ctx->user_id = strtoll(row[1], NULL, 10);
    ctx->scope = ngx_http_broadcast_scope_value(row[2] ? row[2] : "");
    exp = row[3] ? strtoll(row[3], NULL, 10) : 0;
    ctx->role = ngx_http_broadcast_role_value(row[4] ? row[4] : "");

    /* a session has its role's scope; a key never more than its owner */
    ctx->scope = ngx_min(ctx->scope,
                         ngx_http_broadcast_role_scope(ctx->role));

    mysql_free_result(res);

    if (ctx->role == NGX_HTTP_BROADCAST_ROLE_NONE) {
        return 0;
    }

    ngx_http_broadcast_auth_cache_fill(ctx, conn, exp);

    /*
     * last_used_at moves at most once a minute per key: on cache refill,
     * and the condition bounds it when Redis is down
     */
    if (ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY) {
        n = snprintf(sql, sizeof(sql),
            "UPDATE api_keys SET last_used_at = UTC_TIMESTAMP(3) "
            "WHERE id = %lld AND (last_used_at IS NULL OR "
            "last_used_at < UTC_TIMESTAMP(3) - INTERVAL 60 SECOND)",
            ctx->cred_id);

        (void) ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n,
                                              err, sizeof(err));
    }

    return 1;
}


/*
 * The route's need against the principal: sessions by role (READ viewer,
 * SEND and MANAGE operator, SESSION anyone signed in, ADMIN admin), keys
 * by scope (already capped by the owner's role); 1, or 0 with 403 set
 */
static int
ngx_http_broadcast_auth_allowed(ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_uint_t  session;

    session = (ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_SESSION);

    if (ctx->need == NGX_HTTP_BROADCAST_NEED_SESSION
        || ctx->need == NGX_HTTP_BROADCAST_NEED_ADMIN)
    {
        if (!session) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_FORBIDDEN, "forbidden",
                "this endpoint needs a signed-in %s's session, not an API "
                "key", ctx->need == NGX_HTTP_BROADCAST_NEED_ADMIN
                       ? "admin" : "user");
            return 0;
        }

        if (ctx->need == NGX_HTTP_BROADCAST_NEED_ADMIN
            && ctx->role != NGX_HTTP_BROADCAST_ROLE_ADMIN)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_FORBIDDEN, "forbidden",
                "this endpoint needs the admin role; your role is \"%s\"",
                ngx_http_broadcast_role_name(ctx->role));
            return 0;
        }

        return 1;
    }

    if (ctx->scope >= ctx->need) {
        return 1;
    }

    if (session) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_FORBIDDEN, "forbidden",
            "this endpoint needs the %s role; your role is \"%s\"",
            ctx->need == NGX_HTTP_BROADCAST_NEED_READ ? "viewer" : "operator",
            ngx_http_broadcast_role_name(ctx->role));
        return 0;
    }

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_FORBIDDEN, "forbidden",
        "this API key has scope \"%s\"; this endpoint needs \"%s\"",
        ngx_http_broadcast_scopes[ctx->scope],
        ngx_http_broadcast_scopes[ctx->need]);
    return 0;
}


/* thread: 1 if authenticated and allowed, else 0 with ctx's error set */
int
ngx_http_broadcast_auth_resolve(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    int          hit, n;
    char         key[96], err[256];
    size_t       lens[2];
    long long    exp;
    redisReply  *reply;
    const char  *argv[2];

    /* the copy of the lane the request's send would use: the one its
       script checks */
    n = bc_lane_key(key, sizeof(key), BC_LANE_SEND, ctx->cred_lane,
                    BC_SFX_CRED "%s", ctx->cred_hash);

    argv[0] = "HGETALL";
    argv[1] = key;
    lens[0] = 7;
    lens[1] = n;

    hit = 0;
    exp = 0;

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 2, argv, lens, err,
                                         sizeof(err));
    if (reply) {
        hit = ngx_http_broadcast_auth_cached(ctx, reply, &exp);
        freeReplyObject(reply);

        if (hit && exp != 0 && exp <= (long long) time(NULL)) {
            goto unauthorized;
        }
    }

    if (!hit) {
        hit = ngx_http_broadcast_auth_lookup(ctx, conn);

        if (hit < 0) {
            return 0;
        }

        if (hit == 0) {
            goto unauthorized;
        }
    }

    return ngx_http_broadcast_auth_allowed(ctx);

unauthorized:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                 "the %s is unknown, revoked or expired",
                                 ctx->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY
                                 ? "API key" : "session");
    return 0;
}


/*
 * Per-thread hints: credential hash -> principal, remembered after a full
 * resolve. A hint is never trusted on its own: the fast path passes it to a
 * Redis script that compares it with bc:{q}:cred:<hash> (kind, id, scope, exp)
 * in the same atomic step as the writes, so a revoke or logout (which
 * deletes bc:{q}:cred:<hash>) takes effect at once in every worker and thread.
 * Thread-local, so no locking; a stale hint only costs the slow path.
 */

#define NGX_HTTP_BROADCAST_HINTS  64

typedef struct {
    char         hash[65];
    ngx_uint_t   kind;
    long long    id;
    long long    user_id;
    ngx_uint_t   scope;
    ngx_uint_t   role;
} ngx_http_broadcast_hint_t;

static __thread ngx_http_broadcast_hint_t
    ngx_http_broadcast_hints[NGX_HTTP_BROADCAST_HINTS];


static ngx_http_broadcast_hint_t *
ngx_http_broadcast_hint_slot(const char *hash)
{
    ngx_int_t  h;

    /* the hash is hex of SHA-256: its first digits are uniform */
    h = ngx_hextoi((u_char *) hash, 4);

    return &ngx_http_broadcast_hints[(h < 0 ? 0 : h)
                                     % NGX_HTTP_BROADCAST_HINTS];
}


/* thread: 1 with the principal filled in from the hint, 0 if none */
int
ngx_http_broadcast_auth_hint(ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_http_broadcast_hint_t  *hint;

    hint = ngx_http_broadcast_hint_slot(ctx->cred_hash);

    if (hint->kind != ctx->cred_kind
        || ngx_memcmp(hint->hash, ctx->cred_hash, 64) != 0)
    {
        return 0;
    }

    ctx->cred_id = hint->id;
    ctx->user_id = hint->user_id;
    ctx->scope = hint->scope;
    ctx->role = hint->role;

    return 1;
}


/* thread: after a successful full resolve */
void
ngx_http_broadcast_auth_remember(ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_http_broadcast_hint_t  *hint;

    hint = ngx_http_broadcast_hint_slot(ctx->cred_hash);

    ngx_memcpy(hint->hash, ctx->cred_hash, 65);
    hint->kind = ctx->cred_kind;
    hint->id = ctx->cred_id;
    hint->user_id = ctx->user_id;
    hint->scope = ctx->scope;
    hint->role = ctx->role;
}


/*
 * thread: the cache keys' hashes of every session and key of the user, read
 * before a change (the change may delete the rows), dropped after it, so a
 * disable, demotion or password change takes effect at once. The send fast
 * path re-checks bc:{q}:cred:<hash> in Redis, so no hint outlives the entry.
 */
json_t *
ngx_http_broadcast_auth_cred_hashes(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long user_id)
{
    int         n;
    char        sql[256];
    json_t     *list;
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    n = snprintf(sql, sizeof(sql),
                 "SELECT token_hash FROM admin_sessions WHERE admin_user_id "
                 "= %lld UNION ALL SELECT key_hash FROM api_keys WHERE "
                 "admin_user_id = %lld", user_id, user_id);

    res = ngx_http_broadcast_sql_select(ctx, conn, sql, n);
    if (res == NULL) {
        return NULL;
    }

    list = json_array();

    while (list && (row = mysql_fetch_row(res)) != NULL) {
        if (row[0]) {
            json_array_append_new(list, json_string(row[0]));
        }
    }

    mysql_free_result(res);

    if (list == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }

    return list;
}


void
ngx_http_broadcast_auth_forget(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, json_t *hashes)
{
    size_t       i;
    json_t      *h;

    json_array_foreach(hashes, i, h) {
        ngx_http_broadcast_auth_forget_one(ctx, conn, json_string_value(h));
    }

    json_decref(hashes);
}
