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
 */


#include "ngx_http_broadcast_api.h"

#include "bc_sig.h"


#define NGX_HTTP_BROADCAST_LOGIN_TTL           "900"
#define NGX_HTTP_BROADCAST_LOGIN_MAX_PAIR      10
#define NGX_HTTP_BROADCAST_LOGIN_MAX_ADDRESS   100


typedef struct {
    char  address[256];
    char  pair[256];
} ngx_http_broadcast_login_keys_t;


static void
ngx_http_broadcast_login_keys(ngx_http_broadcast_login_keys_t *k,
    const char *ip, const char *username)
{
    char  h[65];

    /* hashed: a username may hold any character and any length */
    bc_sha256_hex(username, strlen(username), h);

    snprintf(k->address, sizeof(k->address), BC_KEY_LOGIN_PREFIX "%s", ip);
    snprintf(k->pair, sizeof(k->pair), BC_KEY_LOGIN_PREFIX "%s:%s", ip, h);
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
            "from this address; wait 15 minutes");
        return NGX_DECLINED;
    }

    if (address >= NGX_HTTP_BROADCAST_LOGIN_MAX_ADDRESS) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_TOO_MANY_REQUESTS,
            "too_many_attempts", "too many failed logins from this address; "
            "wait 15 minutes");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


void
ngx_http_broadcast_login_limit_failed(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *ip, const char *username)
{
    ngx_uint_t                       i;
    const char                      *argv[4], *keys[2];
    ngx_http_broadcast_login_keys_t  k;

    ngx_http_broadcast_login_keys(&k, ip, username);
    keys[0] = k.pair;
    keys[1] = k.address;

    for (i = 0; i < 2; i++) {
        argv[0] = "INCR";
        argv[1] = keys[i];
        (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 2, argv);

        /* the window starts at the first failure and is never extended */
        argv[0] = "EXPIRE";
        argv[2] = NGX_HTTP_BROADCAST_LOGIN_TTL;
        argv[3] = "NX";
        (void) ngx_http_broadcast_redis_integer(conn, ctx->mcf, 4, argv);
    }
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
