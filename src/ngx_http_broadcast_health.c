/*
 * /health: Redis PING and MySQL ping, each in its own thread task, so that
 * a stalled backend never delays the other's answer. Health probes give up
 * after 1 s (Kubernetes' default timeoutSeconds), far sooner than
 * broadcast_backend_timeout: a request waits at most
 * NGX_HTTP_BROADCAST_HEALTH_DEADLINE and a backend that has not answered by
 * then reads "timeout". A worker keeps at most one probe per backend in
 * flight; requests arriving meanwhile wait for that probe's answer instead
 * of tying up one more pool thread on a stalled backend.
 */


#include "ngx_http_broadcast_common.h"


/* leaves the probe's own HTTP round trip 250 ms of a 1 s budget */
#define NGX_HTTP_BROADCAST_HEALTH_DEADLINE  750

#define NGX_HTTP_BROADCAST_H_PENDING  0
#define NGX_HTTP_BROADCAST_H_OK       1
#define NGX_HTTP_BROADCAST_H_DOWN     2


typedef ngx_uint_t (*ngx_http_broadcast_health_check_pt)(
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_main_conf_t *mcf);
typedef ngx_flag_t (*ngx_http_broadcast_health_used_pt)(
    ngx_http_broadcast_main_conf_t *mcf);


/* one backend /health reports on; the last three members are per worker */
typedef struct {
    const char                          *member;   /* in the JSON answer */
    const char                          *label;    /* in the error log */
    ngx_http_broadcast_health_check_pt   check;    /* in a pool thread */
    ngx_http_broadcast_health_used_pt    used;     /* NULL: always; else
                                                      "ok" when not used */
    ngx_thread_task_t                   *task;     /* the probe in flight */
    ngx_queue_t                          waiters;  /* requests awaiting it */
    ngx_uint_t                           ready;    /* waiters initialised */
} ngx_http_broadcast_health_backend_t;


/* a probe's task context; the task and this context are one heap block */
typedef struct {
    ngx_http_broadcast_health_backend_t  *backend;
    ngx_http_broadcast_main_conf_t       *mcf;
    ngx_uint_t                            state;
} ngx_http_broadcast_health_probe_t;


static ngx_uint_t ngx_http_broadcast_health_redis(
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_main_conf_t *mcf);
static ngx_uint_t ngx_http_broadcast_health_mysql(
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_main_conf_t *mcf);
static ngx_flag_t ngx_http_broadcast_health_mysql_used(
    ngx_http_broadcast_main_conf_t *mcf);


static ngx_http_broadcast_health_backend_t
    ngx_http_broadcast_health_backends[] = {

    { "redis", "Redis", ngx_http_broadcast_health_redis, NULL,
      NULL, { NULL, NULL }, 0 },

    { "mysql", "MySQL", ngx_http_broadcast_health_mysql,
      ngx_http_broadcast_health_mysql_used, NULL, { NULL, NULL }, 0 },
};

#define NGX_HTTP_BROADCAST_HEALTH_N                                          \
    (sizeof(ngx_http_broadcast_health_backends)                               \
     / sizeof(ngx_http_broadcast_health_backends[0]))


typedef struct ngx_http_broadcast_health_req_s
    ngx_http_broadcast_health_req_t;


/* a request's place in one backend's waiters */
typedef struct {
    ngx_queue_t                       queue;
    ngx_http_broadcast_health_req_t  *req;
    ngx_uint_t                        linked;
} ngx_http_broadcast_health_wait_t;


/* one /health request, in r->pool */
struct ngx_http_broadcast_health_req_s {
    ngx_http_request_t                *r;
    ngx_event_t                        timer;
    ngx_msec_t                         deadline;
    ngx_uint_t                         pending;
    ngx_uint_t                         state[NGX_HTTP_BROADCAST_HEALTH_N];
    ngx_http_broadcast_health_wait_t   wait[NGX_HTTP_BROADCAST_HEALTH_N];
};


static ngx_int_t ngx_http_broadcast_health_probe(
    ngx_http_broadcast_health_backend_t *b,
    ngx_http_broadcast_main_conf_t *mcf, ngx_log_t *log);
static void ngx_http_broadcast_health_thread(void *data, ngx_log_t *log);
static void ngx_http_broadcast_health_probed(ngx_event_t *ev);
static void ngx_http_broadcast_health_timeout(ngx_event_t *ev);
static void ngx_http_broadcast_health_detach(
    ngx_http_broadcast_health_req_t *hr);
static void ngx_http_broadcast_health_cleanup(void *data);
static void ngx_http_broadcast_health_finish(
    ngx_http_broadcast_health_req_t *hr);
static ngx_int_t ngx_http_broadcast_health_answer(
    ngx_http_broadcast_health_req_t *hr);


ngx_int_t
ngx_http_broadcast_health_handler(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_uint_t                            i;
    ngx_pool_cleanup_t                   *cln;
    ngx_http_broadcast_health_req_t      *hr;
    ngx_http_broadcast_loc_conf_t        *lcf;
    ngx_http_broadcast_main_conf_t       *mcf;
    ngx_http_broadcast_health_backend_t  *b;

    rc = ngx_http_broadcast_get_only(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    hr = ngx_pcalloc(r->pool, sizeof(ngx_http_broadcast_health_req_t));
    if (hr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hr->r = r;
    cln->handler = ngx_http_broadcast_health_cleanup;
    cln->data = hr;

    hr->deadline = ngx_min(lcf->backend_timeout,
                           NGX_HTTP_BROADCAST_HEALTH_DEADLINE);

    /* every probe is under way before any request waits on one */
    for (i = 0; i < NGX_HTTP_BROADCAST_HEALTH_N; i++) {
        b = &ngx_http_broadcast_health_backends[i];

        if (b->used && !b->used(mcf)) {
            hr->state[i] = NGX_HTTP_BROADCAST_H_OK;
            continue;
        }

        if (b->task == NULL
            && ngx_http_broadcast_health_probe(b, mcf, r->connection->log)
               != NGX_OK)
        {
            ngx_http_broadcast_health_detach(hr);
            return ngx_http_broadcast_send_error(r,
                       NGX_HTTP_SERVICE_UNAVAILABLE, "queue_full",
                       "the server is overloaded, retry later");
        }

        hr->wait[i].req = hr;
        hr->wait[i].linked = 1;
        ngx_queue_insert_tail(&b->waiters, &hr->wait[i].queue);
        hr->pending++;
    }

    if (hr->pending == 0) {
        return ngx_http_broadcast_health_answer(hr);
    }

    return ngx_http_broadcast_wait(r, &hr->timer,
                                   ngx_http_broadcast_health_timeout, hr,
                                   hr->deadline);
}


static ngx_int_t
ngx_http_broadcast_health_probe(ngx_http_broadcast_health_backend_t *b,
    ngx_http_broadcast_main_conf_t *mcf, ngx_log_t *log)
{
    ngx_thread_task_t                  *task;
    ngx_http_broadcast_health_probe_t  *probe;

    if (!b->ready) {
        ngx_queue_init(&b->waiters);
        b->ready = 1;
    }

    /* heap: the probe may outlive every request that waited for it */
    task = ngx_http_broadcast_task_alloc(
               sizeof(ngx_http_broadcast_health_probe_t),
               ngx_http_broadcast_health_thread,
               ngx_http_broadcast_health_probed, log);
    if (task == NULL) {
        return NGX_ERROR;
    }

    task->event.log = ngx_cycle->log;

    probe = task->ctx;
    probe->backend = b;
    probe->mcf = mcf;

    if (ngx_http_broadcast_task_run(mcf, task, log) != NGX_OK) {
        return NGX_ERROR;
    }

    b->task = task;

    return NGX_OK;
}


static void
ngx_http_broadcast_health_thread(void *data, ngx_log_t *log)
{
    ngx_http_broadcast_health_probe_t *probe = data;

    /* no nginx logging or pools here: the result goes into probe->state */
    probe->state = probe->backend->check(ngx_http_broadcast_conn(),
                                         probe->mcf);
}


static ngx_uint_t
ngx_http_broadcast_health_redis(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf)
{
    char         err[256];
    size_t       lens[1] = { 4 };
    redisReply  *reply;
    const char  *argv[1] = { "PING" };

    reply = ngx_http_broadcast_redis_cmd(conn, mcf, 1, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        return NGX_HTTP_BROADCAST_H_DOWN;
    }

    freeReplyObject(reply);

    return NGX_HTTP_BROADCAST_H_OK;
}


static ngx_uint_t
ngx_http_broadcast_health_mysql(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_main_conf_t *mcf)
{
    char  err[256];

    if (conn == NULL) {
        return NGX_HTTP_BROADCAST_H_DOWN;
    }

    if (conn->mysql && mysql_ping(conn->mysql) == 0) {
        return NGX_HTTP_BROADCAST_H_OK;
    }

    /* no connection yet, or a dead one: reconnect once */
    if (conn->mysql) {
        mysql_close(conn->mysql);
    }

    conn->mysql = bc_db_connect(&mcf->mysql, err, sizeof(err));

    return conn->mysql ? NGX_HTTP_BROADCAST_H_OK : NGX_HTTP_BROADCAST_H_DOWN;
}


/* broadcast_mysql is required only where broadcast_api is used */
static ngx_flag_t
ngx_http_broadcast_health_mysql_used(ngx_http_broadcast_main_conf_t *mcf)
{
    return mcf->mysql_set;
}


/* loop: the probe's answer goes to every request waiting for it */
static void
ngx_http_broadcast_health_probed(ngx_event_t *ev)
{
    ngx_uint_t                            i, state;
    ngx_queue_t                          *q, answered;
    ngx_thread_task_t                    *task;
    ngx_http_broadcast_health_req_t      *hr;
    ngx_http_broadcast_health_wait_t     *w;
    ngx_http_broadcast_health_probe_t    *probe;
    ngx_http_broadcast_health_backend_t  *b;

    task = ev->data;
    probe = task->ctx;
    b = probe->backend;
    state = probe->state;
    i = b - ngx_http_broadcast_health_backends;

    b->task = NULL;
    ngx_free(task);

    /*
     * the waiters move to a local list first: a request that arrives while
     * these are answered waits for a probe of its own
     */
    ngx_queue_init(&answered);

    if (!ngx_queue_empty(&b->waiters)) {
        ngx_queue_add(&answered, &b->waiters);
        ngx_queue_init(&b->waiters);
    }

    /* answering a request unlinks only that request's own links */
    while (!ngx_queue_empty(&answered)) {
        q = ngx_queue_head(&answered);
        w = ngx_queue_data(q, ngx_http_broadcast_health_wait_t, queue);
        hr = w->req;

        ngx_queue_remove(q);
        w->linked = 0;
        hr->state[i] = state;

        if (--hr->pending == 0) {
            ngx_http_broadcast_health_finish(hr);
        }
    }
}


/* loop: the deadline: backends not yet heard from read "timeout" */
static void
ngx_http_broadcast_health_timeout(ngx_event_t *ev)
{
    ngx_uint_t                        i;
    ngx_http_broadcast_health_req_t  *hr;

    hr = ev->data;

    for (i = 0; i < NGX_HTTP_BROADCAST_HEALTH_N; i++) {
        if (hr->wait[i].linked) {
            ngx_log_error(NGX_LOG_ERR, hr->r->connection->log, 0,
                          "broadcast: health: %s did not answer within "
                          "%M ms", ngx_http_broadcast_health_backends[i].label,
                          hr->deadline);
        }
    }

    ngx_http_broadcast_health_finish(hr);
}


static void
ngx_http_broadcast_health_detach(ngx_http_broadcast_health_req_t *hr)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_BROADCAST_HEALTH_N; i++) {
        if (hr->wait[i].linked) {
            ngx_queue_remove(&hr->wait[i].queue);
            hr->wait[i].linked = 0;
        }
    }

    if (hr->timer.timer_set) {
        ngx_del_timer(&hr->timer);
    }
}


/* the request is freed while it still waits (the client went away) */
static void
ngx_http_broadcast_health_cleanup(void *data)
{
    ngx_http_broadcast_health_detach(data);
}


static void
ngx_http_broadcast_health_finish(ngx_http_broadcast_health_req_t *hr)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = hr->r;
    c = r->connection;

    ngx_http_broadcast_health_detach(hr);

    rc = ngx_http_broadcast_health_answer(hr);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static const char *
ngx_http_broadcast_health_word(ngx_uint_t state)
{
    static const char  *words[] = {
        "timeout",      /* NGX_HTTP_BROADCAST_H_PENDING */
        "ok",           /* NGX_HTTP_BROADCAST_H_OK */
        "down",         /* NGX_HTTP_BROADCAST_H_DOWN */
    };

    return words[state];
}


static ngx_int_t
ngx_http_broadcast_health_answer(ngx_http_broadcast_health_req_t *hr)
{
    json_t              *json;
    ngx_uint_t           i, ok;
    ngx_http_request_t  *r;

    r = hr->r;
    ok = 1;

    for (i = 0; i < NGX_HTTP_BROADCAST_HEALTH_N; i++) {
        if (hr->state[i] != NGX_HTTP_BROADCAST_H_OK) {
            ok = 0;
        }

        if (hr->state[i] == NGX_HTTP_BROADCAST_H_DOWN) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "broadcast: health: %s is down",
                          ngx_http_broadcast_health_backends[i].label);
        }
    }

    json = ngx_http_broadcast_json_pool(r, json_object());
    if (json == NULL
        || json_object_set_new(json, "status",
                               json_string(ok ? "ok" : "degraded")) != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < NGX_HTTP_BROADCAST_HEALTH_N; i++) {
        if (json_object_set_new(json,
                ngx_http_broadcast_health_backends[i].member,
                json_string(ngx_http_broadcast_health_word(hr->state[i])))
            != 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_broadcast_send_json(r, ok ? NGX_HTTP_OK
                                              : NGX_HTTP_SERVICE_UNAVAILABLE,
                                        json);
}
