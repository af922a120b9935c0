/*
 * Thread tasks: every Redis/MySQL access runs in a task on the
 * broadcast_thread_pool with blocking clients on per-thread connections.
 * The task context lives on the heap, the request waits with count++, and a
 * timer answers 503 if the backend is too slow; the late result is then
 * discarded by the completion handler, which always frees the task.
 */


#include "ngx_http_broadcast_common.h"

#include <pthread.h>


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
    task = ngx_http_broadcast_task_alloc(sizeof(ngx_http_broadcast_task_ctx_t),
                                         ngx_http_broadcast_task_thread,
                                         ngx_http_broadcast_task_done,
                                         r->connection->log);
    if (task == NULL) {
        tc->free(tc->data);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = task->ctx;
    ctx->r = r;
    ctx->cln = cln;
    ctx->tc = *tc;
    ctx->mcf = mcf;

    if (ngx_http_broadcast_task_run(mcf, task, r->connection->log) != NGX_OK)
    {
        tc->free(tc->data);
        return ngx_http_broadcast_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "queue_full", "the server is overloaded, retry later");
    }

    cln->handler = ngx_http_broadcast_task_cleanup;
    cln->data = task;

    return ngx_http_broadcast_wait(r, &ctx->timer,
                                   ngx_http_broadcast_task_timeout, task,
                                   lcf->backend_timeout);
}


/*
 * loop: a heap thread task with size zeroed bytes of context behind it
 * (task->ctx): handler runs in a pool thread, then done in the loop
 */
ngx_thread_task_t *
ngx_http_broadcast_task_alloc(size_t size,
    void (*handler)(void *data, ngx_log_t *log), ngx_event_handler_pt done,
    ngx_log_t *log)
{
    ngx_thread_task_t  *task;

    task = ngx_calloc(sizeof(ngx_thread_task_t) + size, log);
    if (task == NULL) {
        return NULL;
    }

    task->ctx = task + 1;
    task->handler = handler;
    task->event.data = task;
    task->event.handler = done;
    task->event.log = log;

    return task;
}


/* loop: posts the task to broadcast_thread_pool; a full queue frees it */
ngx_int_t
ngx_http_broadcast_task_run(ngx_http_broadcast_main_conf_t *mcf,
    ngx_thread_task_t *task, ngx_log_t *log)
{
    if (ngx_thread_task_post(mcf->thread_pool, task) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "broadcast: thread pool \"%V\" queue is full",
                      &mcf->thread_pool_name);
        ngx_free(task);
        return NGX_ERROR;
    }

    return NGX_OK;
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

    ngx_http_broadcast_conn_done(conn);
}


/* after a task: a replica taken for a read goes back to its slot */
void
ngx_http_broadcast_conn_done(ngx_http_broadcast_conn_t *conn)
{
    if (conn == NULL || conn->db == NULL) {
        return;
    }

    conn->replica = conn->mysql;
    conn->mysql = conn->parked;
    conn->parked = NULL;
    conn->db = NULL;
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
    ngx_thread_task_t              *task;
    ngx_http_broadcast_task_ctx_t  *ctx;

    task = ev->data;
    ctx = task->ctx;

    ctx->aborted = 1;
    ngx_memory_barrier();

    /* the pool cleanup will detach r from the task when r is freed */
    ngx_http_broadcast_task_expired(ctx->r, &ctx->tc, "backend");
}


/*
 * loop: a task's or a Redis reply's timer fired first: logs, answers with
 * tc->timeout or a 503 and finalizes; the late result is discarded
 */
void
ngx_http_broadcast_task_expired(ngx_http_request_t *r,
    ngx_http_broadcast_task_conf_t *tc, const char *backend)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "broadcast: %s did not answer within %M ms", backend,
                  ((ngx_http_broadcast_loc_conf_t *)
                   ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module))
                  ->backend_timeout);

    if (tc->timeout) {
        rc = tc->timeout(r, tc->data);

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
            bc_rc_free(conn->redis);
        }

        if (conn->mysql) {
            mysql_close(conn->mysql);
        }

        if (conn->replica) {
            mysql_close(conn->replica);
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


/* thread side: one command of NUL-terminated arguments and its integer (a
   missing key or a non-number reads 0), or -1 if Redis failed */
long long
ngx_http_broadcast_redis_integer(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf, int argc, const char **argv)
{
    int          i;
    char         err[256];
    size_t       lens[8];
    long long    v;
    redisReply  *reply;

    if (argc > 8) {
        return -1;
    }

    for (i = 0; i < argc; i++) {
        lens[i] = strlen(argv[i]);
    }

    reply = ngx_http_broadcast_redis_cmd(conn, mcf, argc, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        return -1;
    }

    v = reply->type == REDIS_REPLY_INTEGER ? reply->integer
        : (reply->type == REDIS_REPLY_STRING ? strtoll(reply->str, NULL, 10)
                                             : 0);
    freeReplyObject(reply);

    return v;
}


/*
 * thread side: appends "WAIT <replicas> <timeout>" after an accepted write
 * (broadcast_redis wait_replicas=); 1 appended, 0 not configured. Its
 * reply goes to ngx_http_broadcast_redis_waited().
 */
static ngx_uint_t
ngx_http_broadcast_redis_wait_append(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf)
{
    const char  *argv[3];
    size_t       lens[3];

    if (mcf->redis_wait_replicas == 0) {
        return 0;
    }

    argv[0] = "WAIT"; argv[1] = mcf->redis_wait_n; argv[2] = mcf->redis_wait_ms;
    lens[0] = 4; lens[1] = strlen(argv[1]); lens[2] = strlen(argv[2]);

    return bc_rc_append(conn->redis, 3, argv, lens) == REDIS_OK;
}


/*
 * The WAIT reply: fewer replicas than asked within the timeout is logged,
 * not refused: the write is on the master, and an error would make the
 * client send again what was queued (the link itself failing is the
 * caller's, as for any reply)
 */
void
ngx_http_broadcast_redis_waited(ngx_http_broadcast_main_conf_t *mcf,
    redisReply *reply)
{
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
        if ((ngx_uint_t) reply->integer < mcf->redis_wait_replicas) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "broadcast: an accepted write reached %i of %s "
                          "Redis replicas within %sms (wait_replicas)",
                          (ngx_int_t) reply->integer, mcf->redis_wait_n,
                          mcf->redis_wait_ms);
        }

        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "broadcast: Redis WAIT after an accepted write: %s",
                  reply && reply->type == REDIS_REPLY_ERROR ? reply->str
                                                            : "no reply");
}


/* thread side: WAIT on its own, after a script's accepted write */
void
ngx_http_broadcast_redis_wait(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf)
{
    redisReply  *reply;

    if (conn->redis == NULL
        || !ngx_http_broadcast_redis_wait_append(conn, mcf))
    {
        return;
    }

    reply = NULL;

    if (bc_rc_get_reply(conn->redis, &reply) != REDIS_OK) {
        /* the write is done; the next task reconnects */
        bc_rc_free(conn->redis);
        conn->redis = NULL;
    }

    ngx_http_broadcast_redis_waited(mcf, reply);

    if (reply) {
        freeReplyObject(reply);
    }
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

    if (bc_rc_alive(conn->redis)) {
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
        conn->mysql = bc_db_connect(conn->db ? conn->db : &mcf->mysql, err,
                                    errlen);
    }

    if (conn->mysql != NULL
        && bc_db_query(&conn->mysql, conn->db ? conn->db : &mcf->mysql, sql,
                       len, err, errlen)
           == 0)
    {
        return 0;
    }

    if (conn->db != &mcf->mysql_replica) {
        return -1;
    }

    /*
     * a heavy read met the replica gone since this thread found it fresh
     * (checked once a second): the primary answers it, and the replica is
     * not tried again for a while
     */
    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "broadcast: MySQL replica: %s; reading from the primary",
                  err);
    ngx_http_broadcast_conn_done(conn);
    conn->replica_fresh = 0;
    conn->replica_checked = time(NULL) + NGX_HTTP_BROADCAST_REPLICA_RETRY_S;

    return ngx_http_broadcast_mysql_query(conn, mcf, sql, len, err, errlen);
}
