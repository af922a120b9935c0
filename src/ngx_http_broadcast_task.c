/*
 * Thread tasks: every Redis/MySQL access runs in a task on the
 * broadcast_thread_pool with blocking clients on per-thread connections.
 * The task context lives on the heap, the request waits with count++, and a
 * timer answers 503 if the backend is too slow; the late result is then
 * discarded by the completion handler, which always frees the task.
 */


#include "ngx_http_broadcast_common.h"

#include "bc_id.h"
#include "bc_sig.h"

#include <pthread.h>
#include <openssl/evp.h>
#include <openssl/rand.h>


typedef struct {
    ngx_http_request_t              *r;
    ngx_pool_cleanup_t              *cln;
    ngx_http_broadcast_task_conf_t   tc;
    ngx_http_broadcast_main_conf_t  *mcf;
    ngx_event_t                      timer;
    ngx_atomic_t                     aborted;
} ngx_http_broadcast_task_ctx_t;


static void ngx_http_broadcast_task_thread(void *data, ngx_log_t *log);
static void ngx_http_broadcast_task_done(ngx_event_t *ev);
static void ngx_http_broadcast_task_timeout(ngx_event_t *ev);
static void ngx_http_broadcast_task_cleanup(void *data);


/* registry of per-thread connection slots, closed in exit_process */
static pthread_mutex_t              ngx_http_broadcast_conn_mutex =
    PTHREAD_MUTEX_INITIALIZER;
static ngx_http_broadcast_conn_t  **ngx_http_broadcast_conns;
static ngx_uint_t                   ngx_http_broadcast_nconns;
static __thread ngx_http_broadcast_conn_t  *ngx_http_broadcast_tls_conn;


ngx_int_t
ngx_http_broadcast_task_post(ngx_http_request_t *r,
    ngx_http_broadcast_task_conf_t *tc)
{
    ngx_thread_task_t               *task;
    ngx_pool_cleanup_t              *cln;
    ngx_http_broadcast_task_ctx_t   *ctx;
    ngx_http_broadcast_loc_conf_t   *lcf;
    ngx_http_broadcast_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        tc->free(tc->data);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* heap, not r->pool: the request may be gone before the thread ends */
    task = ngx_calloc(sizeof(ngx_thread_task_t)
                      + sizeof(ngx_http_broadcast_task_ctx_t),
                      r->connection->log);
    if (task == NULL) {
        tc->free(tc->data);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = (ngx_http_broadcast_task_ctx_t *) (task + 1);
    ctx->r = r;
    ctx->cln = cln;
    ctx->tc = *tc;
    ctx->mcf = mcf;

    task->ctx = ctx;
    task->handler = ngx_http_broadcast_task_thread;
    task->event.data = task;
    task->event.handler = ngx_http_broadcast_task_done;
    task->event.log = r->connection->log;

    if (ngx_thread_task_post(mcf->thread_pool, task) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: thread pool \"%V\" queue is full",
                      &mcf->thread_pool_name);
        tc->free(tc->data);
        ngx_free(task);
        return ngx_http_broadcast_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "queue_full", "the server is overloaded, retry later");
    }

    cln->handler = ngx_http_broadcast_task_cleanup;
    cln->data = task;

    ctx->timer.handler = ngx_http_broadcast_task_timeout;
    ctx->timer.data = task;
    ctx->timer.log = r->connection->log;
    ngx_add_timer(&ctx->timer, lcf->backend_timeout);

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_broadcast_task_thread(void *data, ngx_log_t *log)
{
    ngx_http_broadcast_task_ctx_t *ctx = data;

    ngx_http_broadcast_conn_t  *conn;

    /* no nginx logging or pools here: results go into ctx->tc.data */
    if (ctx->aborted) {
        return;
    }

    conn = ngx_http_broadcast_conn();

    ctx->tc.run(ctx->tc.data, conn);
}


static void
ngx_http_broadcast_task_done(ngx_event_t *ev)
{
    ngx_int_t                       rc;
    ngx_thread_task_t              *task;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_broadcast_task_ctx_t  *ctx;

    task = ev->data;
    ctx = task->ctx;
    r = ctx->r;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (r == NULL || ctx->aborted) {
        /* answered by the timer already, or the request is gone */
        ctx->tc.free(ctx->tc.data);
        ngx_free(task);
        return;
    }

    ctx->cln->handler = NULL;
    c = r->connection;

    rc = ctx->tc.done(r, ctx->tc.data);

    ctx->tc.free(ctx->tc.data);
    ngx_free(task);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_broadcast_task_timeout(ngx_event_t *ev)
{
    ngx_int_t                       rc;
    ngx_thread_task_t              *task;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_broadcast_task_ctx_t  *ctx;

    task = ev->data;
    ctx = task->ctx;
    r = ctx->r;
    c = r->connection;

    ctx->aborted = 1;
    ngx_memory_barrier();

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "broadcast: backend did not answer within %M ms",
                  ((ngx_http_broadcast_loc_conf_t *)
                   ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module))
                  ->backend_timeout);

    /* the pool cleanup will detach r from the task when r is freed */
    if (ctx->tc.timeout) {
        rc = ctx->tc.timeout(r, ctx->tc.data);

    } else {
        rc = ngx_http_broadcast_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                 "backend_timeout",
                 "the database did not answer in time and the request may "
                 "still complete: retry with the same Idempotency-Key so it "
                 "is not done twice");
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_broadcast_task_cleanup(void *data)
{
    ngx_thread_task_t  *task = data;

    ngx_http_broadcast_task_ctx_t  *ctx;

    ctx = task->ctx;

    /* the request is freed while the thread still runs: detach */
    ctx->r = NULL;
    ctx->aborted = 1;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }
}


ngx_http_broadcast_conn_t *
ngx_http_broadcast_conn(void)
{
    ngx_http_broadcast_conn_t  *conn, **conns;

    if (ngx_http_broadcast_tls_conn) {
        return ngx_http_broadcast_tls_conn;
    }

    conn = calloc(1, sizeof(ngx_http_broadcast_conn_t));
    if (conn == NULL) {
        return NULL;
    }

    pthread_mutex_lock(&ngx_http_broadcast_conn_mutex);

    conns = realloc(ngx_http_broadcast_conns,
                    (ngx_http_broadcast_nconns + 1) * sizeof(void *));
    if (conns == NULL) {
        pthread_mutex_unlock(&ngx_http_broadcast_conn_mutex);
        free(conn);
        return NULL;
    }

    conns[ngx_http_broadcast_nconns++] = conn;
    ngx_http_broadcast_conns = conns;

    pthread_mutex_unlock(&ngx_http_broadcast_conn_mutex);

    ngx_http_broadcast_tls_conn = conn;

    return conn;
}


void
ngx_http_broadcast_conn_close_all(void)
{
    ngx_uint_t                  i;
    ngx_http_broadcast_conn_t  *conn;

    pthread_mutex_lock(&ngx_http_broadcast_conn_mutex);

    for (i = 0; i < ngx_http_broadcast_nconns; i++) {
        conn = ngx_http_broadcast_conns[i];

        if (conn->redis) {
            redisFree(conn->redis);
        }

        if (conn->mysql) {
            mysql_close(conn->mysql);
        }

        free(conn);
    }

    free(ngx_http_broadcast_conns);
    ngx_http_broadcast_conns = NULL;
    ngx_http_broadcast_nconns = 0;

    pthread_mutex_unlock(&ngx_http_broadcast_conn_mutex);
}


/* thread side: one command with one reconnect-and-retry on a lost link */
redisReply *
ngx_http_broadcast_redis_cmd(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, int argc, const char **argv,
    const size_t *lens, char *err, size_t errlen)
{
    redisReply  *reply;

    if (conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    reply = bc_redis_cmd(&conn->redis, &mcf->redis, argc, argv, lens, err,
                         errlen);

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s", reply->str);
        freeReplyObject(reply);
        return NULL;
    }

    return reply;
}


/* thread side: makes sure a live connection exists (for pipelines) */
int
ngx_http_broadcast_redis_ready(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, char *err, size_t errlen)
{
    redisReply  *reply;
    const char  *argv[1] = { "PING" };
    size_t       lens[1] = { 4 };

    if (conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    if (conn->redis && !conn->redis->err) {
        return 0;
    }

    reply = ngx_http_broadcast_redis_cmd(conn, mcf, 1, argv, lens, err,
                                         errlen);
    if (reply == NULL) {
        return -1;
    }

    freeReplyObject(reply);

    return 0;
}


int
ngx_http_broadcast_mysql_query(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, const char *sql, size_t len,
    char *err, size_t errlen)
{
    if (conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    if (conn->mysql == NULL) {
        conn->mysql = bc_db_connect(&mcf->mysql, err, errlen);
        if (conn->mysql == NULL) {
            return -1;
        }
    }

    return bc_db_query(&conn->mysql, &mcf->mysql, sql, len, err, errlen);
}


void
ngx_http_broadcast_iso_ms(long long ms, char out[32])
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);
    gmtime_r(&t, &tm);

    if (strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        out[0] = '\0';
        return;
    }

    snprintf(out + ngx_strlen(out), 8, ".%03uZ",
             (unsigned) ((unsigned long long) ms % 1000));
}


/*
 * The Redis hot path without a thread: one hiredis async context per worker
 * on nginx events (craft notes §3.1, option (a)), used only by operations
 * that are a single command. The context is created lazily and used only
 * once connected; until then (and whenever Redis is away) callers take the
 * thread path, which reports errors exactly. A request waits with count++,
 * a timer answers 503 backend_timeout, and a heap waiter outlives the
 * request when the reply is late (the pool cleanup detaches it).
 */

typedef struct {
    ngx_http_request_t                *r;
    ngx_pool_cleanup_t                *cln;
    ngx_http_broadcast_task_conf_t     tc;
    ngx_http_broadcast_areply_pt       reply;
    ngx_event_t                        timer;
} ngx_http_broadcast_waiter_t;


static redisAsyncContext  *ngx_http_broadcast_ac;
static ngx_uint_t          ngx_http_broadcast_ac_ready;
static ngx_uint_t          ngx_http_broadcast_ac_exiting;


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
    if (ac != ngx_http_broadcast_ac) {
        return;
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "broadcast: Redis async connect: %s", ac->errstr);
        ngx_http_broadcast_ac = NULL;
        ngx_http_broadcast_ac_ready = 0;
        return;
    }

    ngx_http_broadcast_ac_ready = 1;
}


static void
ngx_http_broadcast_ac_disconnected(const redisAsyncContext *ac, int status)
{
    if (ac == ngx_http_broadcast_ac) {
        if (status != REDIS_OK && !ngx_http_broadcast_ac_exiting) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "broadcast: Redis async link lost: %s",
                          ac->errstr);
        }

        ngx_http_broadcast_ac = NULL;
        ngx_http_broadcast_ac_ready = 0;
    }
}


/* loop: the connected context, or NULL (and a connection attempt begun) */
static redisAsyncContext *
ngx_http_broadcast_ac_get(ngx_http_broadcast_main_conf_t *mcf)
{
    redisAsyncContext  *ac;
    ngx_connection_t   *c;

    if (ngx_http_broadcast_ac) {
        return ngx_http_broadcast_ac_ready ? ngx_http_broadcast_ac : NULL;
    }

    if (ngx_http_broadcast_ac_exiting) {
        return NULL;
    }

    /* an IP literal or a socket path: connect() does not block */
    ac = mcf->redis.socket[0]
         ? redisAsyncConnectUnix(mcf->redis.socket)
         : redisAsyncConnect(mcf->redis.host, (int) mcf->redis.port);

    if (ac == NULL) {
        return NULL;
    }

    if (ac->err) {
        redisAsyncFree(ac);
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

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_broadcast_ac_add_read;
    ac->ev.delRead = ngx_http_broadcast_ac_del_read;
    ac->ev.addWrite = ngx_http_broadcast_ac_add_write;
    ac->ev.delWrite = ngx_http_broadcast_ac_del_write;
    ac->ev.cleanup = ngx_http_broadcast_ac_cleanup;

    ngx_http_broadcast_ac = ac;
    ngx_http_broadcast_ac_ready = 0;

    redisAsyncSetConnectCallback(ac, ngx_http_broadcast_ac_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_broadcast_ac_disconnected);

    /* the connect completes on the first write event */
    ngx_http_broadcast_ac_add_write(c);

    return NULL;
}


void
ngx_http_broadcast_ac_close(void)
{
    ngx_http_broadcast_ac_exiting = 1;

    if (ngx_http_broadcast_ac) {
        redisAsyncFree(ngx_http_broadcast_ac);
        ngx_http_broadcast_ac = NULL;
    }
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
    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_broadcast_waiter_t  *w;

    w = ev->data;
    r = w->r;
    c = r->connection;

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "broadcast: Redis did not answer within %M ms",
                  ((ngx_http_broadcast_loc_conf_t *)
                   ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module))
                  ->backend_timeout);

    /* the pool cleanup detaches r; the late reply frees the waiter */
    if (w->tc.timeout) {
        rc = w->tc.timeout(r, w->tc.data);

    } else {
        rc = ngx_http_broadcast_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                 "backend_timeout",
                 "the database did not answer in time and the request may "
                 "still complete: retry with the same Idempotency-Key so it "
                 "is not done twice");
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_broadcast_waiter_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_broadcast_waiter_t  *w;

    w = privdata;
    r = w->r;

    if (r == NULL || ngx_http_broadcast_ac_exiting) {
        /* answered by the timer already, or the request is gone */
        w->tc.free(w->tc.data);
        ngx_free(w);
        return;
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    w->cln->handler = NULL;
    c = r->connection;

    rc = w->reply(r, w->tc.data, reply);

    if (rc == NGX_DECLINED) {
        /* the thread path takes over (and frees tc.data) */
        rc = ngx_http_broadcast_task_post(r, &w->tc);

    } else {
        w->tc.free(w->tc.data);
    }

    ngx_free(w);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
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
    ngx_http_broadcast_waiter_t *w, int argc, const char **argv,
    const size_t *lens)
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

    rc = redisAsyncFormattedCommand(ac, ngx_http_broadcast_waiter_reply, w,
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
    redisAsyncContext               *ac;
    ngx_pool_cleanup_t              *cln;
    ngx_http_broadcast_waiter_t     *w;
    ngx_http_broadcast_loc_conf_t   *lcf;
    ngx_http_broadcast_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    ac = ngx_http_broadcast_ac_get(mcf);
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

    if (ngx_http_broadcast_ac_command(ac, w, argc, argv, lens) != REDIS_OK) {
        ngx_free(w);
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_broadcast_waiter_cleanup;
    cln->data = w;

    w->timer.handler = ngx_http_broadcast_waiter_timeout;
    w->timer.data = w;
    w->timer.log = r->connection->log;
    ngx_add_timer(&w->timer, lcf->backend_timeout);

    r->main->count++;

    return NGX_DONE;
}


/*
 * Loop-only helpers (one event loop per worker process, so no locking; never
 * call them from a thread task): what bc_ulid() and bc_sha256_hex() compute,
 * without OpenSSL's per-call setup. The random bits of ULIDs come from a
 * per-process buffer refilled by RAND_bytes() in blocks (it is discarded
 * when the process differs from the one that filled it, so a fork never
 * shares it); SHA-256 uses one fetched EVP_MD and one reused EVP_MD_CTX.
 */

#define NGX_HTTP_BROADCAST_RAND_BLOCK  1000    /* 100 ULIDs */

static u_char      ngx_http_broadcast_rand[NGX_HTTP_BROADCAST_RAND_BLOCK];
static size_t      ngx_http_broadcast_rand_pos = NGX_HTTP_BROADCAST_RAND_BLOCK;
static ngx_pid_t   ngx_http_broadcast_rand_pid = -1;
static EVP_MD     *ngx_http_broadcast_sha256_md;
static EVP_MD_CTX *ngx_http_broadcast_sha256_ctx;


/* bc_ulid(): 48-bit ms timestamp + 80 random bits, Crockford base32 */
int
ngx_http_broadcast_ulid(char *out)
{
    u_char          *rnd;
    struct timespec  ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return -1;
    }

    if (ngx_http_broadcast_rand_pid != ngx_pid
        || ngx_http_broadcast_rand_pos + 10 > NGX_HTTP_BROADCAST_RAND_BLOCK)
    {
        if (RAND_bytes(ngx_http_broadcast_rand, NGX_HTTP_BROADCAST_RAND_BLOCK)
            != 1)
        {
            ngx_http_broadcast_rand_pos = NGX_HTTP_BROADCAST_RAND_BLOCK;
            return -1;
        }

        ngx_http_broadcast_rand_pid = ngx_pid;
        ngx_http_broadcast_rand_pos = 0;
    }

    rnd = ngx_http_broadcast_rand + ngx_http_broadcast_rand_pos;
    ngx_http_broadcast_rand_pos += 10;

    bc_ulid_encode((unsigned long long) ts.tv_sec * 1000
                   + (unsigned long long) ts.tv_nsec / 1000000, rnd, out);

    /* used once: not kept in memory */
    ngx_memzero(rnd, 10);

    return 0;
}


/* bc_sha256_hex(): lower-case hex of SHA-256 */
void
ngx_http_broadcast_sha256_hex(const void *data, size_t len, char out[65])
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  md_len;

    if (ngx_http_broadcast_sha256_md == NULL) {
        ngx_http_broadcast_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    if (ngx_http_broadcast_sha256_ctx == NULL) {
        ngx_http_broadcast_sha256_ctx = EVP_MD_CTX_new();
    }

    md_len = 0;

    if (ngx_http_broadcast_sha256_md == NULL
        || ngx_http_broadcast_sha256_ctx == NULL
        || EVP_DigestInit_ex2(ngx_http_broadcast_sha256_ctx,
                              ngx_http_broadcast_sha256_md, NULL) != 1
        || EVP_DigestUpdate(ngx_http_broadcast_sha256_ctx, data, len) != 1
        || EVP_DigestFinal_ex(ngx_http_broadcast_sha256_ctx, md, &md_len)
           != 1
        || md_len != 32)
    {
        bc_sha256_hex(data, len, out);
        return;
    }

    *ngx_hex_dump((u_char *) out, md, 32) = '\0';
}
