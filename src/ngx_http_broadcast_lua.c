/*
 * Lua scripts in Redis (ngx_http_broadcast_lua.h): EVALSHA with the SHA1
 * computed once, EVAL when the server does not hold the script.
 */


#include "ngx_http_broadcast_lua.h"

#include <pthread.h>
#include <openssl/sha.h>


/* taken only until a script's SHA1 is known */
static pthread_mutex_t  ngx_http_broadcast_lua_mutex =
    PTHREAD_MUTEX_INITIALIZER;


static const char *
ngx_http_broadcast_lua_sha(ngx_http_broadcast_lua_t *lua)
{
    u_char  md[SHA_DIGEST_LENGTH];

    /* the loop and pool threads may both be first: hash under the lock */
    if (__atomic_load_n(&lua->ready, __ATOMIC_ACQUIRE)) {
        return lua->sha;
    }

    (void) pthread_mutex_lock(&ngx_http_broadcast_lua_mutex);

    if (!lua->ready) {
        SHA1((u_char *) lua->source, lua->len, md);
        ngx_hex_dump((u_char *) lua->sha, md, SHA_DIGEST_LENGTH);
        lua->sha[40] = '\0';

        __atomic_store_n(&lua->ready, 1, __ATOMIC_RELEASE);
    }

    (void) pthread_mutex_unlock(&ngx_http_broadcast_lua_mutex);

    return lua->sha;
}


void
ngx_http_broadcast_lua_evalsha(ngx_http_broadcast_lua_t *lua,
    const char **argv, size_t *lens)
{
    argv[0] = "EVALSHA";
    lens[0] = sizeof("EVALSHA") - 1;
    argv[1] = ngx_http_broadcast_lua_sha(lua);
    lens[1] = 40;
}


void
ngx_http_broadcast_lua_eval(ngx_http_broadcast_lua_t *lua,
    const char **argv, size_t *lens)
{
    argv[0] = "EVAL";
    lens[0] = sizeof("EVAL") - 1;
    argv[1] = lua->source;
    lens[1] = lua->len;
}


ngx_uint_t
ngx_http_broadcast_lua_noscript(redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR
           && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0;
}


/*
 * An error that says the script did not run: NOSCRIPT, or a Redis Cluster
 * node that does not serve the key's slot (MOVED, ASK) or cannot now
 * (TRYAGAIN, CLUSTERDOWN). The async link sends to one node and does not
 * follow redirects: such a request takes the thread path, whose client
 * does (bc_rc.h).
 */
ngx_uint_t
ngx_http_broadcast_lua_not_run(redisReply *reply)
{
    static const char  *codes[] = { "NOSCRIPT ", "MOVED ", "ASK ",
                                    "TRYAGAIN", "CLUSTERDOWN" };
    ngx_uint_t          i;

    if (reply->type != REDIS_REPLY_ERROR) {
        return 0;
    }

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (ngx_strncmp(reply->str, codes[i], ngx_strlen(codes[i])) == 0) {
            return 1;
        }
    }

    return 0;
}


redisReply *
ngx_http_broadcast_lua_call(ngx_http_broadcast_lua_t *lua, bc_rc_t *rc,
    int argc, const char **argv, size_t *lens)
{
    redisReply  *reply;

    ngx_http_broadcast_lua_evalsha(lua, argv, lens);

    reply = bc_rc_command(rc, argc, argv, lens);

    if (reply && ngx_http_broadcast_lua_noscript(reply)) {
        /* first use on this server: EVAL loads it into the cache */
        freeReplyObject(reply);
        ngx_http_broadcast_lua_eval(lua, argv, lens);

        reply = bc_rc_command(rc, argc, argv, lens);
    }

    return reply;
}
