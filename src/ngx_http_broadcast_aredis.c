/*
 * The worker's asynchronous Redis link: a hiredis async context driven by
 * nginx events (the adapter), the waiters of requests whose single command
 * is in flight on it, and ngx_http_broadcast_aredis_post(), which sends a
 * command with the request waiting like a thread task.
 */


#include "ngx_http_broadcast_common.h"


/*
 * The Redis hot path without a thread: one hiredis async context per worker
 * on nginx events, used only by operations that are a single command. The
 * context is created lazily and used only once connected; until then (and
 * whenever Redis is away) callers take the thread path, which reports
 * errors exactly. A request waits with count++,
 * a timer answers 503 backend_timeout, and a heap waiter outlives the
 * request when the reply is late (the pool cleanup detaches it).
 */

typedef struct {
    ngx_http_request_t                *r;
    ngx_pool_cleanup_t                *cln;
    ngx_http_broadcast_task_conf_t     tc;
    ngx_http_broadcast_areply_pt       reply;
    ngx_event_t                        timer;
    /* with wait_replicas: the command's reply (a scalar: these scripts
       answer an integer or an error) kept until its WAIT answers */
    ngx_http_broadcast_main_conf_t    *mcf;
    redisReply                         stash;
    ngx_uint_t                         stash_lost;   /* link lost first */
    ngx_uint_t                         no_wait;      /* WAIT not sent */
} ngx_http_broadcast_waiter_t;


/*
 * One link per Redis node, at most NGX_HTTP_BROADCAST_ALINKS: link 0 is the
 * configured (first) address; a Redis Cluster adds the masters that MOVED
 * replies name. Until a MOVED is seen every command goes to link 0, so a
 * single Redis costs nothing more; after one, each command goes to the link
 * its first key's slot was moved to (slot_link, 1-based, 0 = link 0). The
 * request that met the MOVED takes the thread path, whose client follows
 * it (bc_rc.h).
 */
#define NGX_HTTP_BROADCAST_ALINKS  8

typedef struct {
    char                 host[128];   /* empty: the configured address */
    unsigned             port;
    redisAsyncContext   *ac;
    ngx_uint_t           ready;
    ngx_msec_t           backoff;
    ngx_msec_t           retry_at;
} ngx_http_broadcast_alink_t;

static ngx_http_broadcast_alink_t   ngx_http_broadcast_alinks[
                                        NGX_HTTP_BROADCAST_ALINKS];
static ngx_uint_t                   ngx_http_broadcast_nalinks = 1;
static u_char                      *ngx_http_broadcast_slot_link;
static ngx_uint_t                   ngx_http_broadcast_ac_exiting;

/*
 * After a failed connect or a lost link the next attempt waits, doubling
 * from 100 ms to 5 s, so a Redis that is down is not hammered with a
 * connect per request; requests meanwhile take the thread path. A
 * successful connect resets it.
 */
#define NGX_HTTP_BROADCAST_AC_BACKOFF_MIN  100
#define NGX_HTTP_BROADCAST_AC_BACKOFF_MAX  5000


static void
ngx_http_broadcast_ac_failed(ngx_http_broadcast_alink_t *l)
{
    l->backoff = l->backoff ? ngx_min(l->backoff * 2,
                                      NGX_HTTP_BROADCAST_AC_BACKOFF_MAX)
                            : NGX_HTTP_BROADCAST_AC_BACKOFF_MIN;

    l->retry_at = ngx_current_msec + l->backoff;
}


static void
ngx_http_broadcast_ac_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_broadcast_ac_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static void
ngx_http_broadcast_ac_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_broadcast_ac_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_broadcast_ac_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_http_broadcast_ac_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis calls this before it closes the fd: release c, not the fd */
static void
ngx_http_broadcast_ac_cleanup(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
ngx_http_broadcast_ac_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_broadcast_alink_t  *l = ac->data;

    if (l == NULL || l->ac != ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "broadcast: Redis async connect: %s", ac->errstr);
        l->ac = NULL;
        l->ready = 0;
        ngx_http_broadcast_ac_failed(l);
        return;
    }

    l->ready = 1;
    l->backoff = 0;
}


static void
ngx_http_broadcast_ac_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_broadcast_alink_t  *l = ac->data;

    if (l == NULL || l->ac != ac) {
        return;
    }

    if (status != REDIS_OK && !ngx_http_broadcast_ac_exiting) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "broadcast: Redis async link lost: %s", ac->errstr);
    }

    l->ac = NULL;
    l->ready = 0;

    if (status != REDIS_OK) {
        ngx_http_broadcast_ac_failed(l);
    }
}


/* a refused AUTH: the link is useless, drop it and retry later */
static void
ngx_http_broadcast_ac_authed(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                  *reply = r;
    ngx_http_broadcast_alink_t  *l = ac->data;

    if (reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "broadcast: Redis AUTH failed on the async link: %s",
                  reply ? reply->str : ac->errstr);

    if (l != NULL && l->ac == ac) {
        ngx_http_broadcast_ac_failed(l);
        redisAsyncDisconnect(ac);
    }
}


/* loop: link l's connected context, or NULL (and a connection begun) */
static redisAsyncContext *
ngx_http_broadcast_ac_get(ngx_http_broadcast_main_conf_t *mcf,
    ngx_http_broadcast_alink_t *l)
{
    int                 argc;
    size_t              lens[3];
    const char         *argv[3];
    redisAsyncContext  *ac;
    ngx_connection_t   *c;

    if (l->ac) {
        return l->ready ? l->ac : NULL;
    }

    if (ngx_http_broadcast_ac_exiting
        || (l->backoff
            && (ngx_msec_int_t) (ngx_current_msec - l->retry_at) < 0))
    {
        return NULL;
    }

    /* an IP literal or a socket path: connect() does not block */
    if (l->host[0]) {
        ac = redisAsyncConnect(l->host, (int) l->port);

    } else {
        ac = mcf->redis.socket[0]
             ? redisAsyncConnectUnix(mcf->redis.socket)
             : redisAsyncConnect(mcf->redis.host, (int) mcf->redis.port);
    }

    if (ac == NULL) {
        return NULL;
    }

    if (ac->err) {
        redisAsyncFree(ac);
        ngx_http_broadcast_ac_failed(l);
        return NULL;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        return NULL;
    }

    c->data = ac;
    c->read->handler = ngx_http_broadcast_ac_read;
    c->write->handler = ngx_http_broadcast_ac_write;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;

    ac->data = l;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_broadcast_ac_add_read;
    ac->ev.delRead = ngx_http_broadcast_ac_del_read;
    ac->ev.addWrite = ngx_http_broadcast_ac_add_write;
    ac->ev.delWrite = ngx_http_broadcast_ac_del_write;
    ac->ev.cleanup = ngx_http_broadcast_ac_cleanup;

    l->ac = ac;
    l->ready = 0;

    redisAsyncSetConnectCallback(ac, ngx_http_broadcast_ac_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_broadcast_ac_disconnected);

    /* AUTH goes first in the pipeline: every script after it runs as the
       configured ACL user */
    argc = bc_redis_auth_argv(&mcf->redis, argv, lens);

    if (argc
        && redisAsyncCommandArgv(ac, ngx_http_broadcast_ac_authed, NULL, argc,
                                 argv, lens)
           != REDIS_OK)
    {
        l->ac = NULL;
        redisAsyncFree(ac);
        ngx_http_broadcast_ac_failed(l);
        return NULL;
    }

    /* the connect completes on the first write event */
    ngx_http_broadcast_ac_add_write(c);

    return NULL;
}


/* loop: the link serving the slot of key (link 0 until a MOVED was seen) */
static ngx_http_broadcast_alink_t *
ngx_http_broadcast_ac_link(const char *key, size_t len)
{
    u_char  i;

    if (ngx_http_broadcast_slot_link == NULL || key == NULL) {
        return &ngx_http_broadcast_alinks[0];
    }

    i = ngx_http_broadcast_slot_link[bc_key_slot(key, len)];

    return &ngx_http_broadcast_alinks[i ? i - 1 : 0];
}


/*
 * loop: "MOVED <slot> <ip>:<port>" on a link: later commands of that slot
 * go to that node's link (added if new and there is room)
 */
static void
ngx_http_broadcast_ac_moved(redisReply *reply)
{
    char        *p, *colon;
    size_t       n;
    ngx_int_t    port;
    ngx_uint_t   i, slot;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR
        || ngx_strncmp(reply->str, "MOVED ", 6) != 0)
    {
        return;
    }

    slot = (ngx_uint_t) strtoul(reply->str + 6, &p, 10);
    colon = strrchr(p, ':');

    if (slot >= BC_RC_SLOTS || *p != ' ' || colon == NULL) {
        return;
    }

    p++;
    n = colon - p;
    port = ngx_atoi((u_char *) colon + 1, ngx_strlen(colon + 1));

    if (n == 0 || n >= sizeof(ngx_http_broadcast_alinks[0].host)
        || port <= 0 || port > 65535)
    {
        return;
    }

    if (ngx_http_broadcast_slot_link == NULL) {
        ngx_http_broadcast_slot_link = ngx_calloc(BC_RC_SLOTS,
                                                  ngx_cycle->log);
        if (ngx_http_broadcast_slot_link == NULL) {
            return;
        }
    }

    for (i = 1; i < ngx_http_broadcast_nalinks; i++) {
        if (ngx_http_broadcast_alinks[i].port == (unsigned) port
            && ngx_strlen(ngx_http_broadcast_alinks[i].host) == n
            && ngx_strncmp(ngx_http_broadcast_alinks[i].host, p, n) == 0)
        {
            break;
        }
    }

    if (i == ngx_http_broadcast_nalinks) {
        if (i == NGX_HTTP_BROADCAST_ALINKS) {
            return;
        }

        ngx_memcpy(ngx_http_broadcast_alinks[i].host, p, n);
        ngx_http_broadcast_alinks[i].host[n] = '\0';
        ngx_http_broadcast_alinks[i].port = (unsigned) port;
        ngx_http_broadcast_nalinks++;
    }

    ngx_http_broadcast_slot_link[slot] = (u_char) (i + 1);
}


void
ngx_http_broadcast_ac_close(void)
{
    ngx_uint_t  i;

    ngx_http_broadcast_ac_exiting = 1;

    for (i = 0; i < ngx_http_broadcast_nalinks; i++) {
        if (ngx_http_broadcast_alinks[i].ac) {
            redisAsyncFree(ngx_http_broadcast_alinks[i].ac);
            ngx_http_broadcast_alinks[i].ac = NULL;
        }
    }

    ngx_free(ngx_http_broadcast_slot_link);
    ngx_http_broadcast_slot_link = NULL;
}


static void
ngx_http_broadcast_waiter_cleanup(void *data)
{
    ngx_http_broadcast_waiter_t  *w = data;

    /* the request is freed before the reply came: detach */
    w->r = NULL;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
}


static void
ngx_http_broadcast_waiter_timeout(ngx_event_t *ev)
{
    ngx_http_broadcast_waiter_t  *w;

    w = ev->data;

    /* the pool cleanup detaches r; the late reply frees the waiter */
    ngx_http_broadcast_task_expired(w->r, &w->tc, "Redis");
}


static void
ngx_http_broadcast_waiter_free(ngx_http_broadcast_waiter_t *w)
{
    if (w->stash.str) {
        ngx_free(w->stash.str);
    }

    ngx_free(w);
}


/* loop: the command's reply reached the request (or the request is gone) */
static void
ngx_http_broadcast_waiter_finish(ngx_http_broadcast_waiter_t *w,
    redisReply *reply)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->r;

    if (r == NULL || ngx_http_broadcast_ac_exiting) {
        /* answered by the timer already, or the request is gone */
        w->tc.free(w->tc.data);
        ngx_http_broadcast_waiter_free(w);
        return;
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    w->cln->handler = NULL;
    c = r->connection;

    ngx_http_broadcast_ac_moved(reply);

    rc = w->reply(r, w->tc.data, reply);

    if (rc == NGX_DECLINED) {
        /* the thread path takes over (and frees tc.data) */
        rc = ngx_http_broadcast_task_post(r, &w->tc);

    } else {
        w->tc.free(w->tc.data);
    }

    ngx_http_broadcast_waiter_free(w);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_broadcast_waiter_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_broadcast_waiter_finish(privdata, reply);
}


/* loop: the command's reply, kept for when its WAIT answers */
static void
ngx_http_broadcast_waiter_stash(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                   *reply = r;
    ngx_http_broadcast_waiter_t  *w = privdata;

    if (reply == NULL) {
        w->stash_lost = 1;

    } else {
        w->stash.type = reply->type == REDIS_REPLY_ARRAY ? REDIS_REPLY_NIL
                                                         : reply->type;
        w->stash.integer = reply->integer;

        if (reply->str) {
            w->stash.str = ngx_alloc(reply->len + 1, ngx_cycle->log);

            if (w->stash.str == NULL) {
                w->stash.type = REDIS_REPLY_NIL;

            } else {
                ngx_memcpy(w->stash.str, reply->str, reply->len + 1);
                w->stash.len = reply->len;
            }
        }
    }

    if (w->no_wait) {
        ngx_http_broadcast_waiter_finish(w, w->stash_lost ? NULL
                                                          : &w->stash);
    }
}


/* loop: WAIT answered: the stashed reply goes to the request */
static void
ngx_http_broadcast_waiter_waited(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_broadcast_waiter_t  *w = privdata;

    if (!w->stash_lost && reply != NULL) {
        ngx_http_broadcast_redis_waited(w->mcf, reply);
    }

    ngx_http_broadcast_waiter_finish(w, w->stash_lost ? NULL : &w->stash);
}


/*
 * loop: redisAsyncCommandArgv() without hiredis' sds formatting: the RESP
 * request is written at once into a per-worker buffer (kept between calls
 * unless it grew large) and handed over with redisAsyncFormattedCommand().
 */

#define NGX_HTTP_BROADCAST_AC_BUF_KEEP  65536

static u_char  *ngx_http_broadcast_ac_buf;
static size_t   ngx_http_broadcast_ac_buf_size;


/* "<c><n>\r\n" */
static u_char *
ngx_http_broadcast_resp_len(u_char *p, u_char c, size_t n)
{
    u_char   tmp[NGX_SIZE_T_LEN], *t;

    *p++ = c;

    t = tmp + NGX_SIZE_T_LEN;

    do {
        *--t = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    p = ngx_cpymem(p, t, tmp + NGX_SIZE_T_LEN - t);

    *p++ = '\r';
    *p++ = '\n';

    return p;
}


static int
ngx_http_broadcast_ac_command(redisAsyncContext *ac,
    redisCallbackFn *fn, ngx_http_broadcast_waiter_t *w, int argc,
    const char **argv, const size_t *lens)
{
    int      i, rc;
    u_char  *p;
    size_t   len;

    len = 1 + NGX_INT_T_LEN + 2;

    for (i = 0; i < argc; i++) {
        len += 1 + NGX_SIZE_T_LEN + 2 + lens[i] + 2;
    }

    if (len > ngx_http_broadcast_ac_buf_size) {
        p = ngx_alloc(len, ngx_cycle->log);
        if (p == NULL) {
            return REDIS_ERR;
        }

        ngx_free(ngx_http_broadcast_ac_buf);
        ngx_http_broadcast_ac_buf = p;
        ngx_http_broadcast_ac_buf_size = len;
    }

    p = ngx_http_broadcast_resp_len(ngx_http_broadcast_ac_buf, '*',
                                    (size_t) argc);

    for (i = 0; i < argc; i++) {
        p = ngx_http_broadcast_resp_len(p, '$', lens[i]);
        p = ngx_cpymem(p, argv[i], lens[i]);
        *p++ = '\r';
        *p++ = '\n';
    }

    rc = redisAsyncFormattedCommand(ac, fn, w,
                                    (char *) ngx_http_broadcast_ac_buf,
                                    p - ngx_http_broadcast_ac_buf);

    if (ngx_http_broadcast_ac_buf_size > NGX_HTTP_BROADCAST_AC_BUF_KEEP) {
        ngx_free(ngx_http_broadcast_ac_buf);
        ngx_http_broadcast_ac_buf = NULL;
        ngx_http_broadcast_ac_buf_size = 0;
    }

    return rc;
}


/*
 * loop: sends one command on the worker's async link. NGX_DECLINED if the
 * link is not up (the caller takes the thread path and still owns tc),
 * else NGX_DONE (tc is owned here) or an error status (tc freed).
 */
ngx_int_t
ngx_http_broadcast_aredis_post(ngx_http_request_t *r,
    ngx_http_broadcast_task_conf_t *tc, ngx_http_broadcast_areply_pt reply,
    int argc, const char **argv, const size_t *lens)
{
    size_t                           wlens[3];
    const char                      *wargv[3];
    redisAsyncContext               *ac;
    ngx_pool_cleanup_t              *cln;
    ngx_http_broadcast_waiter_t     *w;
    ngx_http_broadcast_loc_conf_t   *lcf;
    ngx_http_broadcast_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    /* EVALSHA <sha> <numkeys> <first key> ...: routed by the first key */
    ac = ngx_http_broadcast_ac_get(mcf, ngx_http_broadcast_ac_link(
                                       argc > 3 ? argv[3] : NULL,
                                       argc > 3 ? lens[3] : 0));
    if (ac == NULL || ac->err) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_DECLINED;
    }

    w = ngx_calloc(sizeof(ngx_http_broadcast_waiter_t), r->connection->log);
    if (w == NULL) {
        return NGX_DECLINED;
    }

    w->r = r;
    w->cln = cln;
    w->tc = *tc;
    w->reply = reply;

    w->mcf = mcf;

    if (ngx_http_broadcast_ac_command(ac, mcf->redis_wait_replicas
                                          ? ngx_http_broadcast_waiter_stash
                                          : ngx_http_broadcast_waiter_reply,
                                      w, argc, argv, lens)
        != REDIS_OK)
    {
        ngx_free(w);
        return NGX_DECLINED;
    }

    /* wait_replicas: WAIT right behind it on the same link; its reply
       answers the request (without it, the command's own reply does) */
    if (mcf->redis_wait_replicas) {
        wargv[0] = "WAIT";
        wargv[1] = mcf->redis_wait_n;
        wargv[2] = mcf->redis_wait_ms;
        wlens[0] = 4;
        wlens[1] = ngx_strlen(wargv[1]);
        wlens[2] = ngx_strlen(wargv[2]);

        if (ngx_http_broadcast_ac_command(ac, ngx_http_broadcast_waiter_waited,
                                          w, 3, wargv, wlens)
            != REDIS_OK)
        {
            w->no_wait = 1;
        }
    }

    cln->handler = ngx_http_broadcast_waiter_cleanup;
    cln->data = w;

    return ngx_http_broadcast_wait(r, &w->timer,
                                   ngx_http_broadcast_waiter_timeout, w,
                                   lcf->backend_timeout);
}
