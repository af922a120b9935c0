/*
 * The failed-login limiter of POST /api/login (thread side).
 *
 * Two counters in Redis, each expiring 15 minutes after its first failure:
 * per address and username (10 failures: that username from that address
 * waits), and per address alone (100: one address trying many usernames
 * waits). Keying on the pair means one attacker cannot lock a user out:
 * the right password from another address still works. The address is
 * the connection's, which nginx's realip module replaces with the
 * X-Forwarded-For client only when the request came from a configured
 * trusted proxy (set_real_ip_from), so the header cannot be forged around
 * the limit. Without Redis there is no limit to consult, so logins fail
 * closed (503) rather than let guessing run unbounded.
 *
 * A locked pair is an account lockout as admins see it: the 429 carries
 * Retry-After (the pair's time left), the user's locked_until shows the
 * latest lock, and an admin's enable lifts every address's lock of the
 * username (the addresses are kept in bc:loginaddrs:<sha256hex(username)>
 * for as long as their counters live).
 */


#include "ngx_http_broadcast_api.h"

#include "bc_sig.h"


#define NGX_HTTP_BROADCAST_LOGIN_TTL           "900"
#define NGX_HTTP_BROADCAST_LOGIN_MAX_PAIR      10
#define NGX_HTTP_BROADCAST_LOGIN_MAX_ADDRESS   100


typedef struct {
    char  address[256];
    char  pair[256];
    char  addrs[256];
    char  hash[65];
} ngx_http_broadcast_login_keys_t;


static void
ngx_http_broadcast_login_keys(ngx_http_broadcast_login_keys_t *k,
    const char *ip, const char *username)
{
    /* hashed: a username may hold any character and any length */
    bc_sha256_hex(username, strlen(username), k->hash);

    snprintf(k->address, sizeof(k->address), BC_KEY_LOGIN_PREFIX "%s", ip);
    snprintf(k->pair, sizeof(k->pair), BC_KEY_LOGIN_PREFIX "%s:%s", ip,
             k->hash);
    snprintf(k->addrs, sizeof(k->addrs), BC_KEY_LOGIN_ADDRS_PREFIX "%s",
             k->hash);
}


/* the 429's Retry-After: the counter's time left (the window, if unknown) */
static void
ngx_http_broadcast_login_retry_after(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *key)
{
    long long    ttl;
    const char  *argv[2];

    argv[0] = "TTL";
    argv[1] = key;
    ttl = ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);

    ctx->retry_after = ttl > 0 ? ttl : atoll(NGX_HTTP_BROADCAST_LOGIN_TTL);
}


ngx_int_t
ngx_http_broadcast_login_limit_check(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *ip, const char *username)
{
    long long                        pair, address;
    const char                      *argv[2];
    ngx_http_broadcast_login_keys_t  k;

    ngx_http_broadcast_login_keys(&k, ip, username);

    argv[0] = "GET";
    argv[1] = k.pair;
    pair = ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);
    argv[1] = k.address;
    address = pair < 0 ? -1 : ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2,
                                                             argv);

    if (pair < 0 || address < 0) {
        ngx_http_broadcast_api_redis_down(ctx);
        return NGX_DECLINED;
    }

    if (pair >= NGX_HTTP_BROADCAST_LOGIN_MAX_PAIR) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_TOO_MANY_REQUESTS,
            "too_many_attempts", "too many failed logins for this username "
            "from this address; wait 15 minutes or ask an admin to enable "
            "the user");
        ngx_http_broadcast_login_retry_after(ctx, conn, k.pair);
        return NGX_DECLINED;
    }

    if (address >= NGX_HTTP_BROADCAST_LOGIN_MAX_ADDRESS) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_TOO_MANY_REQUESTS,
            "too_many_attempts", "too many failed logins from this address; "
            "wait 15 minutes");
        ngx_http_broadcast_login_retry_after(ctx, conn, k.address);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* thread: admin_users.locked_until moves to now + seconds, never back */
static void
ngx_http_broadcast_login_locked_until(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *username, long long seconds)
{
    char   sql[512], err[256], *quoted;

    if (conn == NULL || (conn->mysql == NULL
        && (conn->mysql = bc_db_connect(&ctx->mcf->mysql, err, sizeof(err)))
           == NULL))
    {
        return;
    }

    quoted = bc_db_quote(conn->mysql, username, strlen(username));
    if (quoted == NULL) {
        return;
    }

    snprintf(sql, sizeof(sql), "UPDATE admin_users SET locked_until = "
             "GREATEST(COALESCE(locked_until, UTC_TIMESTAMP(3)), "
             "UTC_TIMESTAMP(3) + INTERVAL %lld SECOND) WHERE username = %s",
             seconds, quoted);
    free(quoted);

    /* only what admins see: a failure here leaves the lock itself */
    (void) ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, strlen(sql),
                                          err, sizeof(err));
}


void
ngx_http_broadcast_login_limit_failed(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *ip, const char *username)
{
    ngx_uint_t                       i;
    long long                        n[2], ttl;
    const char                      *argv[4], *keys[2];
    ngx_http_broadcast_login_keys_t  k;

    ngx_http_broadcast_login_keys(&k, ip, username);
    keys[0] = k.pair;
    keys[1] = k.address;

    for (i = 0; i < 2; i++) {
        argv[0] = "INCR";
        argv[1] = keys[i];
        n[i] = ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);

        /* the window starts at the first failure and is never extended */
        argv[0] = "EXPIRE";
        argv[2] = NGX_HTTP_BROADCAST_LOGIN_TTL;
        argv[3] = "NX";
        (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 4, argv);
    }

    /* the addresses an admin's enable must unlock, as long as a pair lives */
    argv[0] = "SADD";
    argv[1] = k.addrs;
    argv[2] = ip;
    (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 3, argv);

    argv[0] = "EXPIRE";
    argv[2] = NGX_HTTP_BROADCAST_LOGIN_TTL;
    (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 3, argv);

    if (n[0] != NGX_HTTP_BROADCAST_LOGIN_MAX_PAIR) {
        return;
    }

    /* this failure locked the pair: the user shows it until it ends */
    argv[0] = "TTL";
    argv[1] = k.pair;
    ttl = ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);

    ngx_http_broadcast_login_locked_until(ctx, conn, username,
        ttl > 0 ? ttl : atoll(NGX_HTTP_BROADCAST_LOGIN_TTL));
}


void
ngx_http_broadcast_login_limit_passed(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *ip, const char *username)
{
    const char                      *argv[2];
    ngx_http_broadcast_login_keys_t  k;

    ngx_http_broadcast_login_keys(&k, ip, username);

    argv[0] = "DEL";
    argv[1] = k.pair;
    (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);
}


/* thread: an admin's enable: the username's lock at every address lifted */
void
ngx_http_broadcast_login_limit_clear(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *username)
{
    char                             err[256], pair[256];
    size_t                           i, lens[2];
    redisReply                      *reply;
    const char                      *argv[2];
    ngx_http_broadcast_login_keys_t  k;

    ngx_http_broadcast_login_keys(&k, "", username);

    argv[0] = "SMEMBERS";
    argv[1] = k.addrs;
    lens[0] = 8;
    lens[1] = strlen(k.addrs);

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 2, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        return;
    }

    argv[0] = "DEL";
    argv[1] = pair;

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++)
    {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        snprintf(pair, sizeof(pair), BC_KEY_LOGIN_PREFIX "%s:%s",
                 reply->element[i]->str, k.hash);
        (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);
    }

    freeReplyObject(reply);

    argv[1] = k.addrs;
    (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);
}
