/*
 * CSV import routes: POST /api/contacts/import (the body spilled to a temp
 * file by nginx, linked to a path of the import's own, an imports row,
 * 202 at once, the parse posted to the thread pool as a job of its own)
 * and GET /api/contacts/imports/{id} (the row's counters and errors); the
 * predecessor's POST /api/sms/contacts/import is the same import (also
 * reading a headerless phone,name,tags file), answered the same way.
 * Tables: sql/010_imports.sql.
 */


#include "ngx_http_broadcast_csv.h"

#include "bc_media.h"


typedef struct {
    ngx_http_broadcast_import_job_t   job;
    char                              temp[NGX_MAX_PATH];  /* nginx's */
    char                              tags_arg[2048];
    ngx_uint_t                        ready;   /* row and link made: post */
    ngx_uint_t                        posted;  /* tried, by the answer */
    ngx_uint_t                        status;  /* GET: the id asked */
} ngx_http_broadcast_csv_op_t;


static void ngx_http_broadcast_csv_import_op(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_csv_status_op(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_csv_free(void *data);
static void ngx_http_broadcast_csv_job_thread(void *data, ngx_log_t *log);
static void ngx_http_broadcast_csv_job_done(ngx_event_t *ev);
static ngx_int_t ngx_http_broadcast_csv_import_answer(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx);


/* loop: 413 with broadcast_import_max_body in the message */
static ngx_int_t
ngx_http_broadcast_csv_too_large(ngx_http_request_t *r,
    ngx_http_broadcast_loc_conf_t *lcf)
{
    u_char  msg[160];

    ngx_snprintf(msg, sizeof(msg), "a CSV import is at most %O bytes "
                 "(broadcast_import_max_body): split the file%Z",
                 lcf->import_max_body);

    return ngx_http_broadcast_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "body_too_large", (char *) msg);
}


/*
 * loop, before the body is read: the import's own limit, and the body
 * written to a file nginx keeps on disk (persistent) and deletes with the
 * request (clean); NGX_DECLINED: read it, else the answer's rc
 */
ngx_int_t
ngx_http_broadcast_csv_body(ngx_http_request_t *r)
{
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (r->headers_in.content_length_n > lcf->import_max_body) {
        r->keepalive = 0;
        return ngx_http_broadcast_csv_too_large(r, lcf);
    }

    r->request_body_in_file_only = 1;
    r->request_body_in_persistent_file = 1;
    r->request_body_in_clean_file = 1;

    return NGX_DECLINED;
}


static int
ngx_http_broadcast_csv_number(const char *s, size_t len, long long *n)
{
    size_t  i;

    *n = 0;

    if (len == 0 || len > 18) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        *n = *n * 10 + (s[i] - '0');
    }

    return *n > 0 ? 0 : -1;
}


/* loop: ?group_id= and ?tags=; 0, or -1 with ctx's error set */
static int
ngx_http_broadcast_csv_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_csv_op_t *op)
{
    char         buf[32];
    char        *p, *end, *comma;
    ssize_t      n;
    const char  *why;

    n = ngx_http_broadcast_api_arg(r, "group_id", buf, sizeof(buf));

    if (n == -2 || (n >= 0
        && ngx_http_broadcast_csv_number(buf, n, &op->job.group_id) != 0))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                                     "invalid_group_id",
                                     "group_id must be a group's id");
        return -1;
    }

    n = ngx_http_broadcast_api_arg(r, "tags", op->tags_arg,
                                   sizeof(op->tags_arg));
    if (n == -2) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                                     "invalid_tags",
                                     "tags is at most 2047 bytes");
        return -1;
    }

    if (n <= 0) {
        op->tags_arg[0] = '\0';
        return 0;
    }

    p = op->tags_arg;
    end = p + n;

    while (p < end) {
        comma = memchr(p, ',', end - p);
        if (comma == NULL) {
            comma = end;
        }

        if (op->job.ntags == NGX_HTTP_BROADCAST_IMPORT_TAGS_MAX) {
            ngx_http_broadcast_api_error(ctx,
                NGX_HTTP_BROADCAST_UNPROCESSABLE, "invalid_tags",
                "tags: at most 16 tags, separated by commas");
            return -1;
        }

        if (ngx_http_broadcast_contact_tag(p, comma - p,
                op->job.tags[op->job.ntags], &why)
            != 0)
        {
            ngx_http_broadcast_api_error(ctx,
                NGX_HTTP_BROADCAST_UNPROCESSABLE, "invalid_tags",
                "tags: %s", why);
            return -1;
        }

        op->job.ntags++;
        p = comma + 1;
    }

    return 0;
}


static int
ngx_http_broadcast_csv_type_ok(ngx_http_request_t *r)
{
    ngx_str_t   *ct;
    ngx_uint_t   i;

    static const char  *types[] = {
        "text/csv", "application/csv", "text/plain", NULL
    };

    /* the type is part of the contract, as for JSON bodies: none is 415 */
    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    ct = &r->headers_in.content_type->value;

    for (i = 0; types[i]; i++) {
        if (bc_media_type_is((char *) ct->data, ct->len, types[i])) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_broadcast_csv_import(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_csv_op_t *op)
{
    ngx_temp_file_t                *tf;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    ngx_cpystrn((u_char *) op->job.country, lcf->default_country.data,
                ngx_min(sizeof(op->job.country),
                        lcf->default_country.len + 1));

    if (!ngx_http_broadcast_csv_type_ok(r)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "unsupported_media_type",
                                     "send the file as Content-Type: "
                                     "text/csv");
        return;
    }

    if (ngx_http_broadcast_csv_args(r, ctx, op) != 0) {
        return;
    }

    tf = r->request_body ? r->request_body->temp_file : NULL;

    if (tf == NULL || tf->file.offset == 0
        || tf->file.name.len + sizeof(".import") > sizeof(op->temp))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "empty_file",
                                     "the request body is empty: send the "
                                     "CSV file as the body");
        return;
    }

    /* a chunked body had no Content-Length to refuse it by */
    if (tf->file.offset > lcf->import_max_body) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "body_too_large", "a CSV import is at "
                                     "most %lld bytes "
                                     "(broadcast_import_max_body): split "
                                     "the file",
                                     (long long) lcf->import_max_body);
        return;
    }

    /* nginx's name, NUL-terminated by ngx_create_temp_file */
    ngx_memcpy(op->temp, tf->file.name.data, tf->file.name.len);
    op->temp[tf->file.name.len] = '\0';

    /* a name of the import's own next to nginx's, in the same directory
       (one file system, so a link: no copy of the data) */
    ngx_snprintf((u_char *) op->job.path, sizeof(op->job.path), "%s.import%Z",
                 op->temp);
}


void
ngx_http_broadcast_csv_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_http_broadcast_csv_op_t  *op;

    if (args->variant == NGX_HTTP_BROADCAST_CSV_EXPORT
        || args->variant == NGX_HTTP_BROADCAST_CSV_SMS_EXPORT)
    {
        ngx_http_broadcast_csv_export_prepare(r, ctx,
            args->variant == NGX_HTTP_BROADCAST_CSV_SMS_EXPORT);
        return;
    }

    if (args->variant == NGX_HTTP_BROADCAST_CSV_IMPORT
        || args->variant == NGX_HTTP_BROADCAST_CSV_SMS_IMPORT)
    {
        op = ngx_http_broadcast_api_op_new(r, ctx,
                 sizeof(ngx_http_broadcast_csv_op_t),
                 ngx_http_broadcast_csv_import_op,
                 ngx_http_broadcast_csv_free);
        if (op != NULL) {
            op->job.mcf = ctx->mcf;
            op->job.by_position =
                (args->variant == NGX_HTTP_BROADCAST_CSV_SMS_IMPORT);
            ngx_http_broadcast_csv_import(r, ctx, op);
        }

        return;
    }

    op = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_csv_op_t),
                                       ngx_http_broadcast_csv_status_op,
                                       ngx_http_broadcast_csv_free);
    if (op == NULL) {
        return;
    }

    op->status = 1;

    if (ngx_http_broadcast_csv_number((char *) args->id.data, args->id.len,
                                      &op->job.import_id)
        != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no import with this id");
    }
}


/* ------------------------------------------------------ the API thread */


/* 1 if the group exists, 0 if not, -1 with ctx's error set */
static int
ngx_http_broadcast_csv_group(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    int                        found;
    MYSQL_RES                 *res;
    ngx_http_broadcast_sql_t   sql = { 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT 1 FROM contact_groups "
                               "WHERE id = %lld", id);

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return -1;
    }

    found = mysql_num_rows(res) > 0;
    mysql_free_result(res);

    return found;
}


static void
ngx_http_broadcast_csv_import_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    int                           rc;
    ngx_http_broadcast_sql_t      sql = { 0 };
    ngx_http_broadcast_csv_op_t  *op = ctx->op_data;

    if (ngx_http_broadcast_contacts_connect(ctx, conn) != 0) {
        return;
    }

    if (op->job.group_id) {
        rc = ngx_http_broadcast_csv_group(ctx, conn, op->job.group_id);
        if (rc < 0) {
            return;
        }

        if (rc == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                                         "group_not_found",
                                         "no group with id %lld: create it "
                                         "first (POST /api/groups)",
                                         op->job.group_id);
            return;
        }
    }

    /* the request's file is deleted with the request: ours outlives it */
    (void) unlink(op->job.path);

    if (link(op->temp, op->job.path) != 0) {
        snprintf(ctx->detail, sizeof(ctx->detail), "link(): %s",
                 strerror(errno));
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error",
                                     "the uploaded file could not be kept");
        return;
    }

    ngx_http_broadcast_sql_cat(&sql, "INSERT INTO imports (status, group_id,"
                               " tags, created_at, updated_at) VALUES "
                               "('running', ");

    if (op->job.group_id) {
        ngx_http_broadcast_sql_cat(&sql, "%lld, ", op->job.group_id);

    } else {
        ngx_http_broadcast_sql_cat(&sql, "NULL, ");
    }

    ngx_http_broadcast_sql_str(&sql, conn->mysql,
                               op->tags_arg[0] ? op->tags_arg : NULL,
                               strlen(op->tags_arg));
    ngx_http_broadcast_sql_cat(&sql, ", NOW(3), NOW(3))");

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        free(sql.data);
        (void) unlink(op->job.path);
        return;
    }

    free(sql.data);

    op->job.import_id = (long long) mysql_insert_id(conn->mysql);
    op->ready = 1;

    ctx->status = NGX_HTTP_ACCEPTED;
    ctx->answer = ngx_http_broadcast_csv_import_answer;
    ctx->result = json_pack("{s:I}", "import_id",
                            (json_int_t) op->job.import_id);
    if (ctx->result == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }
}


static void
ngx_http_broadcast_csv_status_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    json_t                       *errors;
    MYSQL_ROW                     row;
    MYSQL_RES                    *res;
    ngx_http_broadcast_sql_t      sql = { 0 };
    ngx_http_broadcast_csv_op_t  *op = ctx->op_data;

    ngx_http_broadcast_sql_cat(&sql, "SELECT id, status, `rows`, created, "
                               "updated, rejected, errors, message FROM "
                               "imports WHERE id = %lld", op->job.import_id);

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return;
    }

    row = mysql_fetch_row(res);

    if (row == NULL) {
        mysql_free_result(res);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no import with this id");
        return;
    }

    errors = row[6] ? json_loads(row[6], 0, NULL) : NULL;
    if (!json_is_array(errors)) {
        json_decref(errors);
        errors = json_array();
    }

    ctx->result = json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:o}",
                            "id", (json_int_t) strtoll(row[0], NULL, 10),
                            "status", row[1],
                            "rows", (json_int_t) strtoll(row[2], NULL, 10),
                            "created", (json_int_t) strtoll(row[3], NULL, 10),
                            "updated", (json_int_t) strtoll(row[4], NULL, 10),
                            "rejected",
                            (json_int_t) strtoll(row[5], NULL, 10),
                            "errors", errors);

    if (ctx->result && row[7]) {
        json_object_set_new(ctx->result, "message", json_string(row[7]));
    }

    mysql_free_result(res);

    if (ctx->result == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }
}


/* ------------------------------------------------------- the loop again */


/*
 * An import recorded as "running" whose parse could not be posted (the
 * pool's queue is full, or out of memory) is marked "failed" by a small
 * task of its own; while the queue stays full, that task is posted again
 * every 250 ms, so the row never stays "running" (only a worker's exit
 * in that window can leave it so).
 */
typedef struct {
    ngx_event_t                       timer;
    ngx_http_broadcast_main_conf_t   *mcf;
    long long                         import_id;
} ngx_http_broadcast_csv_failing_t;


static void
ngx_http_broadcast_csv_fail_thread(void *data, ngx_log_t *log)
{
    char                               err[256];
    ngx_http_broadcast_sql_t           sql = { 0 };
    ngx_http_broadcast_csv_failing_t  *f = *(void **) data;

    ngx_http_broadcast_sql_cat(&sql, "UPDATE imports SET status = 'failed',"
        " message = 'the server was too busy to start this import: upload "
        "the file again', updated_at = NOW(3) WHERE id = %lld AND status = "
        "'running'", f->import_id);

    if (!sql.failed) {
        (void) ngx_http_broadcast_mysql_query(ngx_http_broadcast_conn(),
                                              f->mcf, sql.data, sql.len, err,
                                              sizeof(err));
    }

    free(sql.data);
}


static void
ngx_http_broadcast_csv_fail_done(ngx_event_t *ev)
{
    ngx_thread_task_t  *task = ev->data;

    ngx_free(*(void **) task->ctx);
    ngx_free(task);
}


static void
ngx_http_broadcast_csv_fail_post(ngx_event_t *ev)
{
    ngx_thread_task_t                 *task;
    ngx_http_broadcast_csv_failing_t  *f = ev->data;

    task = ngx_http_broadcast_task_alloc(sizeof(void *),
                                         ngx_http_broadcast_csv_fail_thread,
                                         ngx_http_broadcast_csv_fail_done,
                                         ngx_cycle->log);
    if (task != NULL) {
        *(void **) task->ctx = f;

        if (ngx_http_broadcast_task_run(f->mcf, task, ngx_cycle->log)
            == NGX_OK)
        {
            return;
        }
    }

    ngx_add_timer(&f->timer, 250);
}


/* loop: the parse posted as a task with no request, owning a copy of the
   job; NGX_ERROR: it could not be, and the row is being marked failed */
static ngx_int_t
ngx_http_broadcast_csv_post_job(ngx_http_broadcast_csv_op_t *op)
{
    ngx_thread_task_t                 *task;
    ngx_http_broadcast_csv_failing_t  *f;

    op->posted = 1;

    task = ngx_http_broadcast_task_alloc(
               sizeof(ngx_http_broadcast_import_job_t),
               ngx_http_broadcast_csv_job_thread,
               ngx_http_broadcast_csv_job_done, ngx_cycle->log);

    if (task != NULL) {
        ngx_memcpy(task->ctx, &op->job,
                   sizeof(ngx_http_broadcast_import_job_t));

        /* a full queue frees the task */
        if (ngx_http_broadcast_task_run(op->job.mcf, task, ngx_cycle->log)
            == NGX_OK)
        {
            return NGX_OK;
        }
    }

    (void) unlink(op->job.path);

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "broadcast: contacts import %L could not be started: "
                  "marked failed", op->job.import_id);

    f = ngx_calloc(sizeof(ngx_http_broadcast_csv_failing_t), ngx_cycle->log);
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->mcf = op->job.mcf;
    f->import_id = op->job.import_id;
    f->timer.handler = ngx_http_broadcast_csv_fail_post;
    f->timer.data = f;
    f->timer.log = ngx_cycle->log;
    /* a worker's exit does not wait for it */
    f->timer.cancelable = 1;

    ngx_http_broadcast_csv_fail_post(&f->timer);

    return NGX_ERROR;
}


/* loop, the answer to a recorded import: 202 once its parse is posted */
static ngx_int_t
ngx_http_broadcast_csv_import_answer(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_http_broadcast_csv_op_t  *op = ctx->op_data;

    if (ngx_http_broadcast_csv_post_job(op) != NGX_OK) {
        return ngx_http_broadcast_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "queue_full", "the server is too busy to start the "
                   "import (it is recorded as failed): upload the file "
                   "again later");
    }

    return ngx_http_broadcast_send_json(r, ctx->status, ctx->result);
}


/*
 * Runs in the loop when the API request is done with its op: an import
 * that was recorded but never answered (a backend timeout does not undo
 * the row) gets its parse posted now.
 */
static void
ngx_http_broadcast_csv_free(void *data)
{
    ngx_http_broadcast_csv_op_t  *op = data;

    if (op->ready && !op->posted) {
        (void) ngx_http_broadcast_csv_post_job(op);
    }

    ngx_free(op);
}


static void
ngx_http_broadcast_csv_job_thread(void *data, ngx_log_t *log)
{
    ngx_http_broadcast_import_run(data, ngx_http_broadcast_conn());
}


static void
ngx_http_broadcast_csv_job_done(ngx_event_t *ev)
{
    ngx_free(ev->data);
}
