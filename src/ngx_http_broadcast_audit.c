/*
 * The audit log: one audit_log row per successful write through /api/ and
 * per login, failed login and logout, decided once for every route by the
 * API's dispatch (api.c): begun in the loop as the request starts, and
 * written by a detached thread task when the request's context is freed,
 * whatever path answered (thread, async send) and even when the answer
 * timed out before the write ended. It names who (user or key), the
 * route's pattern, the {id}, the status and the client address, never a
 * body, password or token.
 * GET /api/audit pages it newest first (admins only).
 */


#include "ngx_http_broadcast_api.h"


#define NGX_HTTP_BROADCAST_AUDIT_ACTION_MAX  160   /* bytes, as the column */
#define NGX_HTTP_BROADCAST_AUDIT_TARGET_MAX  255
#define NGX_HTTP_BROADCAST_AUDIT_LIMIT       50
#define NGX_HTTP_BROADCAST_AUDIT_LIMIT_MAX   500

#define NGX_HTTP_BROADCAST_AUDIT_TS(c)                                       \
    "CONCAT(LEFT(DATE_FORMAT(" c ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"


/*
 * One row: the request's side filled in the loop when a write begins, the
 * outcome and the principal once the request's context is done with, then
 * written by a detached task.
 */
typedef struct {
    ngx_http_broadcast_main_conf_t  *mcf;
    const char                      *pattern;     /* the row's, static */
    ngx_uint_t                       need;
    char                             method[16];
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


static int ngx_http_broadcast_audit_insert(
    ngx_http_broadcast_audit_row_t *row, ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_audit_thread(void *data, ngx_log_t *log);
static void ngx_http_broadcast_audit_written(ngx_event_t *ev);
static void ngx_http_broadcast_audit_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/* loop, as a write begins: its row in ctx->audit (none for a GET/HEAD) */
void
ngx_http_broadcast_audit_begin(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, const char *pattern, ngx_uint_t need,
    ngx_str_t *id)
{
    ngx_http_broadcast_audit_row_t  *row;

    /* sends are not recorded here: each message is already a ledger row
       with its key, batch and time, and a row per send request would
       double the writes of the hottest path and put a thread task on the
       async one */
    if ((r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        || ngx_strncmp(pattern, "/api/send/", 10) == 0)
    {
        return;
    }

    row = calloc(1, sizeof(ngx_http_broadcast_audit_row_t));
    if (row == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: audit: out of memory, %V %s not recorded",
                      &r->method_name, pattern);
        return;
    }

    row->mcf = ctx->mcf;
    row->pattern = pattern;
    row->need = need;
    ngx_memcpy(row->method, r->method_name.data,
               ngx_min(r->method_name.len, sizeof(row->method) - 1));
    if (id->len) {
        ngx_memcpy(row->target, id->data,
                   ngx_min(id->len, NGX_HTTP_BROADCAST_AUDIT_TARGET_MAX));
    }
    ngx_memcpy(row->ip, r->connection->addr_text.data,
               ngx_min(r->connection->addr_text.len, NGX_SOCKADDR_STRLEN));

    ctx->audit = row;
}


/* thread: the target the row records instead of the {id} (an erased
   person's address is recorded as its hash) */
void
ngx_http_broadcast_audit_target(ngx_http_broadcast_api_ctx_t *ctx,
    const char *target)
{
    ngx_http_broadcast_audit_row_t  *row = ctx->audit;

    if (row) {
        ngx_cpystrn((u_char *) row->target, (u_char *) target,
                    sizeof(row->target));
    }
}


/*
 * loop or thread: the outcome into the row; 1 when it is one to record:
 * an action the route named, or a 2xx of a row needing more than read
 */
static int
ngx_http_broadcast_audit_due(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_audit_row_t *row)
{
    struct timespec  ts;

    if (ctx->audit_action) {
        ngx_cpystrn((u_char *) row->action, (u_char *) ctx->audit_action,
                    sizeof(row->action));

    } else if (ctx->code == NULL && ctx->status >= 200 && ctx->status <= 299
               && row->need >= NGX_HTTP_BROADCAST_NEED_SEND)
    {
        snprintf(row->action, sizeof(row->action), "%s %s", row->method,
                 row->pattern);

    } else {
        return 0;
    }

    (void) clock_gettime(CLOCK_REALTIME, &ts);
    row->at_ms = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    row->status = ctx->status;

    /* a principal only once the credential was resolved */
    if (ctx->cred_id != 0) {
        row->cred_kind = ctx->cred_kind;
        row->cred_id = ctx->cred_id;
        row->user_id = ctx->user_id;
    }

    ngx_cpystrn((u_char *) row->name, (u_char *) ctx->audit_name,
                sizeof(row->name));

    return 1;
}


/*
 * loop, as the request's context is freed (after its answer, or after a
 * late thread result the loop no longer answered with): a due row is
 * written by a detached task, never on the request's path, so no answer
 * (a send while MySQL is stalled, say) waits for the audit log
 */
void
ngx_http_broadcast_audit_record(ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_thread_task_t               *task;
    ngx_http_broadcast_audit_row_t  *row = ctx->audit;

    if (row == NULL || !ctx->ran || !ngx_http_broadcast_audit_due(ctx, row)) {
        return;
    }

    task = ngx_http_broadcast_task_alloc(
               sizeof(ngx_http_broadcast_audit_row_t),
               ngx_http_broadcast_audit_thread,
               ngx_http_broadcast_audit_written, ngx_cycle->log);
    if (task == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "broadcast: audit: out of memory, \"%s\" not "
                      "recorded", row->action);
        return;
    }

    ngx_memcpy(task->ctx, row, sizeof(ngx_http_broadcast_audit_row_t));

    if (ngx_http_broadcast_task_run(ctx->mcf, task, ngx_cycle->log)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "broadcast: audit: \"%s\" not recorded", row->action);
    }
}


/* thread: SQL text of s quoted, or "NULL" for an empty one (malloc'd) */
static char *
ngx_http_broadcast_audit_quote(MYSQL *mysql, const char *s)
{
    return s[0] ? bc_db_quote(mysql, s, strlen(s)) : strdup("NULL");
}


/* thread: the INSERT of the row; 0, or -1 */
static int
ngx_http_broadcast_audit_insert(ngx_http_broadcast_audit_row_t *row,
    ngx_http_broadcast_conn_t *conn)
{
    int          n, rc;
    char         sql[2048], err[256], name[256], id[24];
    char        *action, *target, *ip, *who;
    const char  *kind;

    if (conn == NULL || (conn->mysql == NULL
        && (conn->mysql = bc_db_connect(&row->mcf->mysql, err, sizeof(err)))
           == NULL))
    {
        return -1;
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

    rc = -1;

    if (action == NULL || target == NULL || ip == NULL || who == NULL) {
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

    if (n > 0 && (size_t) n < sizeof(sql)
        && ngx_http_broadcast_mysql_query(conn, row->mcf, sql, n, err,
                                          sizeof(err))
           == 0)
    {
        rc = 0;
    }

done:

    free(action);
    free(target);
    free(ip);
    free(who);

    return rc;
}


/* a detached task's thread */
static void
ngx_http_broadcast_audit_thread(void *data, ngx_log_t *log)
{
    ngx_http_broadcast_audit_row_t *row = data;

    row->failed = (ngx_http_broadcast_audit_insert(row,
                                                   ngx_http_broadcast_conn())
                   != 0);
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

    if (ngx_http_broadcast_sql_read(ctx, conn) != 0) {
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
