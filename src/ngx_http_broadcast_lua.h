/*
 * A Lua script the module runs in Redis: its source, the SHA1 of the source
 * (computed once per process, on first use, from any thread) for EVALSHA,
 * and the fallback when the server does not hold it (NOSCRIPT after a
 * fresh start, a restart or SCRIPT FLUSH): EVAL, which also loads it.
 * Used by the send fast path (send_fast.c) and webhook events (webhook.c).
 */
#ifndef _NGX_HTTP_BROADCAST_LUA_H_INCLUDED_
#define _NGX_HTTP_BROADCAST_LUA_H_INCLUDED_


#include "ngx_http_broadcast_common.h"


typedef struct {
    const char    *source;
    size_t         len;
    char           sha[41];           /* hex, valid once ready is set */
    ngx_uint_t     ready;
} ngx_http_broadcast_lua_t;


/* a holder for a static script text (a char array, not a pointer) */
#define ngx_http_broadcast_lua_script(text)  { text, sizeof(text) - 1, "", 0 }


/* argv[0], argv[1] (and lens): EVALSHA <sha1> */
void ngx_http_broadcast_lua_evalsha(ngx_http_broadcast_lua_t *lua,
    const char **argv, size_t *lens);

/* argv[0], argv[1] (and lens): EVAL <source> */
void ngx_http_broadcast_lua_eval(ngx_http_broadcast_lua_t *lua,
    const char **argv, size_t *lens);

/* 1 if reply is Redis' NOSCRIPT error (nothing ran) */
ngx_uint_t ngx_http_broadcast_lua_noscript(redisReply *reply);
/* 1 if the error reply says the script did not run: NOSCRIPT, MOVED, ASK,
   TRYAGAIN, CLUSTERDOWN (the thread path retries it) */
ngx_uint_t ngx_http_broadcast_lua_not_run(redisReply *reply);

/*
 * thread: the script on a blocking link: EVALSHA, and EVAL when the server
 * answers NOSCRIPT. argv[0..1] are filled here; NULL when the link broke
 * (the script may or may not have run: never retry it).
 */
redisReply *ngx_http_broadcast_lua_call(ngx_http_broadcast_lua_t *lua,
    bc_rc_t *rc, int argc, const char **argv, size_t *lens);


#endif /* _NGX_HTTP_BROADCAST_LUA_H_INCLUDED_ */
