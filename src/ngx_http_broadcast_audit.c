/*
 * The audit log: one audit_log row per successful write through /api/ and
 * per login, failed login and logout, recorded once, in the API's
 * completion (api.c), whatever path answered (thread or the async send
 * path). The row is written by a detached thread task, so the answer never
 * waits for it; it names who (user or key), the route's pattern, the {id},
 * the status and the client address, never a body, password or token.
 * GET /api/audit pages it newest first (admins only).
 */


#include "ngx_http_broadcast_api.h"


#define NGX_HTTP_BROADCAST_AUDIT_ACTION_MAX  160   /* bytes, as the column */
#define NGX_HTTP_BROADCAST_AUDIT_TARGET_MAX  255
#define NGX_HTTP_BROADCAST_AUDIT_LIMIT       50
#define NGX_HTTP_BROADCAST_AUDIT_LIMIT_MAX   500

#define NGX_HTTP_BROADCAST_AUDIT_TS(c)                                       \
    "CONCAT(LEFT(DATE_FORMAT(" c ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"


/* one row to write: filled in the loop, written by the thread */
typedef struct {
    ngx_http_broadcast_main_conf_t  *mcf;
    long long                        at_ms;
    ngx_uint_t                       cred_kind;   /* 0: nobody signed in */
    long long                        cred_id;
    long long                        user_id;
    char                             name[65];    /* a login's username */
    char                             action[NGX_HTTP_BROADCAST_AUDIT_ACTION_MAX
                                            + 1];
    char                             target[NGX_HTTP_BROADCAST_AUDIT_TARGET_MAX
                                            + 1];
    ngx_uint_t                       status;
    char                             ip[NGX_SOCKADDR_STRLEN + 1];
    ngx_uint_t                       failed;      /* thread -> loop */
} ngx_http_broadcast_audit_row_t;


/* the query of GET /api/audit */
typedef struct {
    ngx_uint_t   limit;
    long long    cursor;
    char         actor_kind[8];    /* "user", "key" or "" */
    long long    actor_id;
    char         actor_name[256];  /* or a name */
    char         action[NGX_HTTP_BROADCAST_AUDIT_ACTION_MAX + 1];
} ngx_http_broadcast_audit_query_t;


static void ngx_http_broadcast_audit_thread(void *data, ngx_log_t *log);
static void ngx_http_broadcast_audit_written(ngx_event_t *ev);
static void ngx_http_broadcast_audit_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/* the action of this answer, or NULL when it is not one to record */
static const char *
ngx_http_broadcast_audit_action(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, const char *pattern, ngx_uint_t need,
    char *buf, size_t size)
{
    if (ctx->audit_action) {
        return ctx->audit_action;
    }

    if ((r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) || ctx->code != NULL
        || ctx->status < 200 || ctx->status > 299
        || need < NGX_HTTP_BROADCAST_NEED_SEND || pattern == NULL)
    {
        return NULL;
    }

    snprintf(buf, size, "%.*s %s", (int) r->method_name.len,
             (char *) r->method_name.data, pattern);

    return buf;
}


void
ngx_http_broadcast_audit_record(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, const char *pattern, ngx_uint_t need,
    ngx_str_t *id)
{
    char                            buf[NGX_HTTP_BROADCAST_AUDIT_ACTION_MAX
                                        + 1];
    ngx_time_t                     *tp;
    const char                     *action;
    ngx_thread_task_t              *task;
    ngx_http_broadcast_audit_row_t *row;

    action = ngx_http_broadcast_audit_action(r, ctx, pattern, need, buf,
                                             sizeof(buf));
    if (action == NULL) {
        return;
    }

    /* heap: the row is written after the request is gone */
    task = ngx_http_broadcast_task_alloc(
               sizeof(ngx_http_broadcast_audit_row_t),
               ngx_http_broadcast_audit_thread,
               ngx_http_broadcast_audit_written, r->connection->log);
    if (task == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: audit: out of memory, \"%s\" not recorded",
                      action);
        return;
    }

    task->event.log = ngx_cycle->log;

    row = task->ctx;
    row->mcf = ctx->mcf;
    tp = ngx_timeofday();
    row->at_ms = (long long) tp->sec * 1000 + tp->msec;
    row->status = ctx->code ? ctx->status
                            : (ctx->status ? ctx->status : NGX_HTTP_OK);

    /* a principal only once the credential was resolved */
    if (ctx->cred_id != 0) {
        row->cred_kind = ctx->cred_kind;
        row->cred_id = ctx->cred_id;
        row->user_id = ctx->user_id;
    }

    ngx_cpystrn((u_char *) row->name, (u_char *) ctx->audit_name,
                sizeof(row->name));
    ngx_cpystrn((u_char *) row->action, (u_char *) action,
                sizeof(row->action));
    ngx_memcpy(row->target, id->data,
               ngx_min(id->len, NGX_HTTP_BROADCAST_AUDIT_TARGET_MAX));
    ngx_memcpy(row->ip, r->connection->addr_text.data,
               ngx_min(r->connection->addr_text.len, NGX_SOCKADDR_STRLEN));

    if (ngx_http_broadcast_task_run(ctx->mcf, task, r->connection->log)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: audit: \"%s\" not recorded", action);
    }
}


/* thread: SQL text of s quoted, or "NULL" for an empty one (malloc'd) */
static char *
ngx_http_broadcast_audit_quote(MYSQL *mysql, const char *s)
{
    return s[0] ? bc_db_quote(mysql, s, strlen(s)) : strdup("NULL");
}


static void
ngx_http_broadcast_audit_thread(void *data, ngx_log_t *log)
{
    ngx_http_broadcast_audit_row_t *row = data;

    int                         n;
    char                        sql[2048], err[256], name[256], id[24];
    char                       *action, *target, *ip, *who;
    const char                 *kind;
    ngx_http_broadcast_conn_t  *conn;

    conn = ngx_http_broadcast_conn();

    if (conn == NULL || (conn->mysql == NULL
        && (conn->mysql = bc_db_connect(&row->mcf->mysql, err, sizeof(err)))
           == NULL))
    {
        row->failed = 1;
        return;
    }

    /* the name at the time: a later rename or delete leaves it as it was */
    if (row->cred_kind == NGX_HTTP_BROADCAST_CRED_KEY) {
        kind = "key";
        snprintf(name, sizeof(name),
                 "(SELECT name FROM api_keys WHERE id = %lld)", row->cred_id);

    } else if (row->cred_kind == NGX_HTTP_BROADCAST_CRED_SESSION) {
        kind = "user";
        row->cred_id = row->user_id;
        snprintf(name, sizeof(name), "(SELECT username FROM admin_users "
                 "WHERE id = %lld)", row->user_id);

    } else {
        kind = "anonymous";
        name[0] = '\0';
    }

    action = ngx_http_broadcast_audit_quote(conn->mysql, row->action);
    target = ngx_http_broadcast_audit_quote(conn->mysql, row->target);
    ip = ngx_http_broadcast_audit_quote(conn->mysql, row->ip);
    who = ngx_http_broadcast_audit_quote(conn->mysql, row->name);

    if (action == NULL || target == NULL || ip == NULL || who == NULL) {
        row->failed = 1;
        goto done;
    }

    if (row->cred_kind) {
        snprintf(id, sizeof(id), "%lld", row->cred_id);

    } else {
        ngx_memcpy(id, "NULL", 5);
    }

    n = snprintf(sql, sizeof(sql),
                 "INSERT INTO audit_log (at, actor_kind, actor_id, "
                 "actor_name, action, target, status, ip) VALUES "
                 "(FROM_UNIXTIME(%lld.%03lld), '%s', %s, %s, %s, %s, %u, %s)",
                 row->at_ms / 1000, row->at_ms % 1000, kind, id,
                 name[0] ? name : who, action, target,
                 (unsigned) row->status, ip);

    if (n < 0 || (size_t) n >= sizeof(sql)
        || ngx_http_broadcast_mysql_query(conn, row->mcf, sql, n, err,
                                          sizeof(err))
           != 0)
    {
        row->failed = 1;
    }

done:

    free(action);
    free(target);
    free(ip);
    free(who);
}


static void
ngx_http_broadcast_audit_written(ngx_event_t *ev)
{
    ngx_thread_task_t               *task = ev->data;
    ngx_http_broadcast_audit_row_t  *row = task->ctx;

    if (row->failed) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "broadcast: audit: \"%s\" (status %ui) not recorded: "
                      "MySQL unavailable", row->action, row->status);
    }

    ngx_free(task);
}


/* GET /api/audit?cursor=&actor=&action=&limit= */
void
ngx_http_broadcast_audit_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    char                              actor[256];
    ssize_t                           n;
    ngx_http_broadcast_audit_query_t *q;

    q = ngx_http_broadcast_api_op_new(r, ctx,
            sizeof(ngx_http_broadcast_audit_query_t),
            ngx_http_broadcast_audit_list, free);
    if (q == NULL) {
        return;
    }

    q->limit = NGX_HTTP_BROADCAST_AUDIT_LIMIT;

    if (ngx_http_broadcast_sql_keyset(r, ctx, &q->limit,
                                      NGX_HTTP_BROADCAST_AUDIT_LIMIT_MAX,
                                      &q->cursor)
        != 0)
    {
        return;
    }

    /* actor: user:<id>, key:<id>, or a username or key name */
    n = ngx_http_broadcast_api_arg(r, "actor", actor, sizeof(actor));

    if (n > 0) {
        if (n > 5 && ngx_strncmp(actor, "user:", 5) == 0) {
            ngx_memcpy(q->actor_kind, "user", 5);
            q->actor_id = ngx_http_broadcast_sql_id((u_char *) actor + 5,
                                                    n - 5);

        } else if (n > 4 && ngx_strncmp(actor, "key:", 4) == 0) {
            ngx_memcpy(q->actor_kind, "key", 4);
            q->actor_id = ngx_http_broadcast_sql_id((u_char *) actor + 4,
                                                    n - 4);

        } else {
            ngx_memcpy(q->actor_name, actor, n);
        }

        if (q->actor_kind[0] && q->actor_id < 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "actor must be user:<id>, key:<id> or a "
                "username or key name");
            return;
        }

    } else if (n == -2) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "actor is too long: at most 255 bytes");
        return;
    }

    n = ngx_http_broadcast_api_arg(r, "action", q->action, sizeof(q->action));

    if (n == -2) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "action is too long: at most %d bytes",
            NGX_HTTP_BROADCAST_AUDIT_ACTION_MAX);
    }
}


/* thread: an entry from a row of the SELECT below */
static json_t *
ngx_http_broadcast_audit_entry(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    return json_pack("{s:I,s:s,s:{s:s,s:o,s:o},s:s,s:o,s:i,s:s}",
                     "id", (json_int_t) strtoll(row[0], NULL, 10),
                     "at", row[1] ? row[1] : "",
                     "actor",
                         "kind", row[2] ? row[2] : "",
                         "id", row[3] ? json_integer(strtoll(row[3], NULL, 10))
                                      : json_null(),
                         "name", row[4] ? json_string(row[4]) : json_null(),
                     "action", row[5] ? row[5] : "",
                     "target", row[6] ? json_string(row[6]) : json_null(),
                     "status", row[7] ? atoi(row[7]) : 0,
                     "ip", row[8] ? row[8] : "");
}


static void
ngx_http_broadcast_audit_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_audit_query_t *q = ctx->op_data;

    int         n;
    char        sql[2048], where[1536], *name, *action;
    MYSQL_RES  *res;

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return;
    }

    name = bc_db_quote(conn->mysql, q->actor_name, strlen(q->actor_name));
    action = bc_db_quote(conn->mysql, q->action, strlen(q->action));

    if (name == NULL || action == NULL) {
        free(name);
        free(action);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    /* each filter appends its clause; the quoted values fit: each is at
       most 255 bytes of input, 511 quoted */
    n = snprintf(where, sizeof(where), "WHERE 1 = 1");

    if (q->cursor) {
        n += snprintf(where + n, sizeof(where) - n, " AND id < %lld",
                      q->cursor);
    }

    if (q->actor_kind[0]) {
        n += snprintf(where + n, sizeof(where) - n,
                      " AND actor_kind = '%s' AND actor_id = %lld",
                      q->actor_kind, q->actor_id);
    }

    if (q->actor_name[0]) {
        n += snprintf(where + n, sizeof(where) - n, " AND actor_name = %s",
                      name);
    }

    if (q->action[0]) {
        (void) snprintf(where + n, sizeof(where) - n, " AND action = %s",
                        action);
    }

    free(name);
    free(action);

    n = snprintf(sql, sizeof(sql), "SELECT %s FROM audit_log %s ORDER BY "
                 "id DESC LIMIT %u", "id, " NGX_HTTP_BROADCAST_AUDIT_TS("at")
                 ", actor_kind, actor_id, actor_name, action, target, "
                 "status, ip", where, (unsigned) q->limit + 1);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return;
    }

    (void) ngx_http_broadcast_sql_page_result(ctx, res, q->limit,
                                              ngx_http_broadcast_audit_entry,
                                              NULL, "entries");
}
