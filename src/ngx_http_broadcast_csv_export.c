/*
 * GET /api/contacts/export?tag=&group_id=: a streamed, chunked response.
 * The API task (after auth) writes the header line and the first keyset
 * page (on id) into a heap buffer; the loop sends it and posts a page task
 * of its own, which fills the second buffer while the first is on the
 * wire. A buffer is refilled only once nginx has sent it all
 * (backpressure: at most two chunks of about 1 MB held, whatever the
 * export's size), and a page task stops after a chunk's worth of pages, so
 * no task comes near broadcast_backend_timeout however long the export:
 * only the first task is under that timer; the rest of the response is
 * under send_timeout, as any download. The columns are those the import
 * reads, with the attributes as one JSON cell, so an export imports back
 * unchanged.
 */


#include "ngx_http_broadcast_csv.h"

#include <csv.h>


/* rows of one keyset query */
#define NGX_HTTP_BROADCAST_EXPORT_PAGE   5000
/* a page task stops after the page that brings its buffer over this */
#define NGX_HTTP_BROADCAST_EXPORT_CHUNK  (1024 * 1024)

#define NGX_HTTP_BROADCAST_EXPORT_NONE   -1

/* a contact's tags in one cell: one index range of contact_tags each */
#define NGX_HTTP_BROADCAST_EXPORT_TAGS                                        \
    "(SELECT GROUP_CONCAT(t.tag ORDER BY t.tag SEPARATOR ';') "              \
    "FROM contact_tags t WHERE t.contact_id = c.id)"


typedef struct {
    char                            *data;     /* malloc'd */
    size_t                           len;
    size_t                           cap;
} ngx_http_broadcast_export_buf_t;


typedef struct {
    ngx_http_request_t              *r;        /* NULL: the request is gone */
    ngx_http_broadcast_main_conf_t  *mcf;
    char                             tag[NGX_HTTP_BROADCAST_TAG_SIZE];
    long long                        group_id;
    ngx_uint_t                       sms;      /* the predecessor's file */

    /* written by a task, read by the loop when the task is done */
    long long                        last;     /* the keyset: last id */
    ngx_uint_t                       eof;
    ngx_uint_t                       failed;
    ngx_http_broadcast_api_ctx_t     page_ctx; /* a page task's errors */
    ngx_http_broadcast_export_buf_t  buf[2];

    /* the loop's: indexes into buf, or NGX_HTTP_BROADCAST_EXPORT_NONE */
    ngx_int_t                        filling;  /* a page task writes it */
    ngx_int_t                        ready;    /* filled, not yet sent */
    ngx_int_t                        sending;  /* in nginx's output */
} ngx_http_broadcast_export_t;


static void ngx_http_broadcast_csv_export_op(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);
static ngx_int_t ngx_http_broadcast_csv_export_send(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx);
static void ngx_http_broadcast_csv_export_pump(
    ngx_http_broadcast_export_t *ex);
static void ngx_http_broadcast_csv_export_free(void *data);


/* the columns the import reads, and those of the predecessor's SMS
   contacts file (GET /api/sms/contacts/export: contacts with a phone) */
static const ngx_str_t  ngx_http_broadcast_export_header[] = {
    ngx_string("name,phone,whatsapp,email,tags,locale,timezone,"
               "attributes\r\n"),
    ngx_string("phone,name,tags\r\n")
};

static const char  *ngx_http_broadcast_export_columns[] = {
    "c.name, c.phone, c.whatsapp, c.email, " NGX_HTTP_BROADCAST_EXPORT_TAGS
    ", c.locale, c.timezone, c.attributes",
    "c.phone, c.name, " NGX_HTTP_BROADCAST_EXPORT_TAGS
};

static const ngx_str_t  ngx_http_broadcast_export_file[] = {
    ngx_string("attachment; filename=\"contacts.csv\""),
    ngx_string("attachment; filename=\"sms_contacts.csv\"")
};


void
ngx_http_broadcast_csv_export_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_uint_t sms)
{
    char                          buf[32];
    size_t                        i;
    ssize_t                       n;
    const char                   *why;
    ngx_http_broadcast_export_t  *ex;

    ex = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_export_t),
                                       ngx_http_broadcast_csv_export_op,
                                       ngx_http_broadcast_csv_export_free);
    if (ex == NULL) {
        return;
    }

    ex->mcf = ctx->mcf;
    ex->sms = sms;
    ex->page_ctx.mcf = ctx->mcf;
    ex->filling = NGX_HTTP_BROADCAST_EXPORT_NONE;
    ex->ready = NGX_HTTP_BROADCAST_EXPORT_NONE;
    ex->sending = NGX_HTTP_BROADCAST_EXPORT_NONE;

    n = ngx_http_broadcast_api_arg(r, "group_id", buf, sizeof(buf));

    if (n == -2 || n == 0) {
        goto bad_group;
    }

    for (i = 0; n > 0 && i < (size_t) n; i++) {
        if (buf[i] < '0' || buf[i] > '9' || i >= 18) {
            goto bad_group;
        }

        ex->group_id = ex->group_id * 10 + (buf[i] - '0');
    }

    n = ngx_http_broadcast_api_arg(r, "tag", ex->tag, sizeof(ex->tag));

    if (n == -2
        || (n >= 0 && ngx_http_broadcast_contact_tag(ex->tag, n, ex->tag, &why)
                      != 0))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                                     "invalid_tag", "tag: %s",
                                     n == -2 ? "at most 64 characters" : why);
    }

    return;

bad_group:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                                 "invalid_group_id",
                                 "group_id must be a group's id");
}


/* ------------------------------------------------------- a pool thread */


/* room for n more bytes; 0, or -1 out of memory */
static int
ngx_http_broadcast_export_room(ngx_http_broadcast_export_buf_t *b, size_t n)
{
    char    *p;
    size_t   cap;

    if (b->len + n <= b->cap) {
        return 0;
    }

    cap = ngx_max(b->cap * 2, b->len + n + 64 * 1024);

    p = realloc(b->data, cap);
    if (p == NULL) {
        return -1;
    }

    b->data = p;
    b->cap = cap;

    return 0;
}


/* one CSV cell, quoted by libcsv, and its separator; nothing for NULL */
static int
ngx_http_broadcast_export_cell(ngx_http_broadcast_export_buf_t *b,
    const char *v, size_t len, ngx_uint_t last)
{
    /* libcsv: at most every byte doubled, and the two quotes */
    if (ngx_http_broadcast_export_room(b, 2 * len + 4) != 0) {
        return -1;
    }

    if (v != NULL && len) {
        b->len += csv_write(b->data + b->len, b->cap - b->len, v, len);
    }

    if (last) {
        b->data[b->len++] = '\r';
        b->data[b->len++] = '\n';

    } else {
        b->data[b->len++] = ',';
    }

    return 0;
}


/* the page after ex->last into b; rows written, or -1 with ctx's error */
static ngx_int_t
ngx_http_broadcast_export_page(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_export_t *ex,
    ngx_http_broadcast_export_buf_t *b)
{
    ngx_int_t                  n;
    ngx_uint_t                 i, ncols, oom;
    MYSQL_ROW                  row;
    MYSQL_RES                 *res;
    unsigned long             *lens;
    ngx_http_broadcast_sql_t   sql = { 0 };

    ncols = ex->sms ? 3 : 8;

    ngx_http_broadcast_sql_cat(&sql, "SELECT c.id, %s FROM contacts c",
                               ngx_http_broadcast_export_columns[ex->sms]);

    if (ex->tag[0]) {
        ngx_http_broadcast_sql_cat(&sql, " JOIN contact_tags ft ON "
                                   "ft.contact_id = c.id AND ft.tag = ");
        ngx_http_broadcast_sql_str(&sql, conn->mysql, ex->tag,
                                   strlen(ex->tag));
    }

    if (ex->group_id) {
        ngx_http_broadcast_sql_cat(&sql, " JOIN contact_group_members gm ON "
                                   "gm.contact_id = c.id AND gm.group_id = "
                                   "%lld", ex->group_id);
    }

    ngx_http_broadcast_sql_cat(&sql, " WHERE c.id > %lld%s ORDER BY c.id "
                               "LIMIT %d", ex->last,
                               ex->sms ? " AND c.phone IS NOT NULL" : "",
                               NGX_HTTP_BROADCAST_EXPORT_PAGE);

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        free(sql.data);
        return -1;
    }

    free(sql.data);

    res = mysql_use_result(conn->mysql);
    if (res == NULL) {
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    n = 0;
    oom = 0;

    /* every row is fetched, even after a failed write, so that the
       connection is left clean for its next statement */
    while ((row = mysql_fetch_row(res)) != NULL) {
        lens = mysql_fetch_lengths(res);
        ex->last = strtoll(row[0], NULL, 10);

        for (i = 1; i <= ncols && !oom; i++) {
            oom = ngx_http_broadcast_export_cell(b, row[i], lens[i],
                                                 i == ncols);
        }

        n++;
    }

    if (mysql_errno(conn->mysql)) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                 mysql_error(conn->mysql));
        mysql_free_result(res);
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    mysql_free_result(res);

    if (oom) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    return n;
}


/*
 * pages into b until it holds a chunk's worth (at most one page when
 * first: that one runs under broadcast_backend_timeout); sets ex->eof
 * after the last one; 0, or -1 with ctx's error set
 */
static int
ngx_http_broadcast_export_fill(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_export_t *ex,
    ngx_http_broadcast_export_buf_t *b, ngx_uint_t first)
{
    ngx_int_t                 n;
    ngx_http_broadcast_sql_t  sql = { 0 };

    /* pages may come from a replica: an export is a heavy read, and each
       page's keyset continues from the last id whichever server serves it */
    if (ngx_http_broadcast_sql_read(ctx, conn) != 0) {
        return -1;
    }

    /* a contact's tags in one cell: up to 100 of 256 bytes (per session:
       each task may run on another thread's connection) */
    ngx_http_broadcast_sql_cat(&sql, "SET SESSION group_concat_max_len = "
                               "65536");
    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        free(sql.data);
        return -1;
    }

    free(sql.data);

    do {
        n = ngx_http_broadcast_export_page(ctx, conn, ex, b);

        if (n < 0) {
            return -1;
        }

        if (n < NGX_HTTP_BROADCAST_EXPORT_PAGE) {
            ex->eof = 1;
        }

    } while (!ex->eof && !first && b->len < NGX_HTTP_BROADCAST_EXPORT_CHUNK);

    return 0;
}


/* the API task, after auth: the header line and the first page */
static void
ngx_http_broadcast_csv_export_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    const ngx_str_t                  *header;
    ngx_http_broadcast_export_t      *ex = ctx->op_data;
    ngx_http_broadcast_export_buf_t  *b = &ex->buf[0];

    header = &ngx_http_broadcast_export_header[ex->sms];

    if (ngx_http_broadcast_export_room(b, header->len) != 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    ngx_memcpy(b->data, header->data, header->len);
    b->len = header->len;

    if (ngx_http_broadcast_export_fill(ctx, conn, ex, b, 1) != 0) {
        return;
    }

    ex->ready = 0;
    ctx->answer = ngx_http_broadcast_csv_export_send;
}


/* a page task of the stream (no request, no nginx calls but memory) */
static void
ngx_http_broadcast_export_task_thread(void *data, ngx_log_t *log)
{
    ngx_http_broadcast_export_t  *ex = *(ngx_http_broadcast_export_t **) data;

    ngx_http_broadcast_conn_t  *conn;

    conn = ngx_http_broadcast_conn();

    ex->buf[ex->filling].len = 0;

    if (conn == NULL
        || ngx_http_broadcast_export_fill(&ex->page_ctx, conn, ex,
                                          &ex->buf[ex->filling], 0)
           != 0)
    {
        ex->failed = 1;
    }

    /* a page read from the replica gives the thread its primary back, as
       every task does (task.c): the next task on it may write */
    ngx_http_broadcast_conn_done(conn);
}


/* ------------------------------------------------------------ the loop */


static void
ngx_http_broadcast_csv_export_free(void *data)
{
    ngx_http_broadcast_export_t *ex = data;

    free(ex->buf[0].data);
    free(ex->buf[1].data);
    ngx_free(ex);
}


/* the request is freed: the stream's state goes now, or with its task */
static void
ngx_http_broadcast_export_cleanup(void *data)
{
    ngx_http_broadcast_export_t *ex = data;

    ex->r = NULL;

    if (ex->filling == NGX_HTTP_BROADCAST_EXPORT_NONE) {
        ngx_http_broadcast_csv_export_free(ex);
    }
}


static void
ngx_http_broadcast_export_task_done(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_thread_task_t            *task = ev->data;
    ngx_http_broadcast_export_t  *ex;

    ex = *(ngx_http_broadcast_export_t **) task->ctx;
    ngx_free(task);

    if (ex->r == NULL) {
        ngx_http_broadcast_csv_export_free(ex);
        return;
    }

    c = ex->r->connection;

    if (ex->failed) {
        /* the status line is sent: all that is left is to cut the
           response short, which the client sees as an incomplete body */
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "broadcast: contacts export cut short: %s: %s",
                      ex->page_ctx.message, ex->page_ctx.detail);
        ex->filling = NGX_HTTP_BROADCAST_EXPORT_NONE;
        ngx_http_finalize_request(ex->r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    ex->ready = ex->filling;
    ex->filling = NGX_HTTP_BROADCAST_EXPORT_NONE;

    ngx_http_broadcast_csv_export_pump(ex);
    ngx_http_run_posted_requests(c);
}


/* posts the page task that fills the buffer not in use; NGX_OK/ERROR */
static ngx_int_t
ngx_http_broadcast_export_next(ngx_http_broadcast_export_t *ex)
{
    ngx_thread_task_t  *task;

    task = ngx_http_broadcast_task_alloc(sizeof(ngx_http_broadcast_export_t *),
                                         ngx_http_broadcast_export_task_thread,
                                         ngx_http_broadcast_export_task_done,
                                         ex->r->connection->log);
    if (task == NULL) {
        return NGX_ERROR;
    }

    *(ngx_http_broadcast_export_t **) task->ctx = ex;
    ex->filling = (ex->sending == 0) ? 1 : 0;

    if (ngx_http_broadcast_task_run(ex->mcf, task, ex->r->connection->log)
        != NGX_OK)
    {
        ex->filling = NGX_HTTP_BROADCAST_EXPORT_NONE;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* 1 when nginx holds none of our output any more */
static ngx_uint_t
ngx_http_broadcast_export_drained(ngx_http_request_t *r)
{
    return r->out == NULL && !r->connection->buffered && !r->buffered;
}


/*
 * loop: moves the stream on: a sent buffer is free again, a ready one is
 * sent, the next page task is posted into the free buffer, the last
 * buffer ends the response; else it waits for the socket to drain
 */
static void
ngx_http_broadcast_csv_export_pump(ngx_http_broadcast_export_t *ex)
{
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_http_request_t        *r = ex->r;
    ngx_http_core_loc_conf_t  *clcf;

    if (ex->sending != NGX_HTTP_BROADCAST_EXPORT_NONE
        && ngx_http_broadcast_export_drained(r))
    {
        ex->sending = NGX_HTTP_BROADCAST_EXPORT_NONE;
    }

    if (ex->sending == NGX_HTTP_BROADCAST_EXPORT_NONE
        && ex->ready != NGX_HTTP_BROADCAST_EXPORT_NONE)
    {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        if (ex->buf[ex->ready].len) {
            b->pos = (u_char *) ex->buf[ex->ready].data;
            b->last = b->pos + ex->buf[ex->ready].len;
            b->memory = 1;
        }

        b->flush = 1;
        b->last_buf = ex->eof;
        b->last_in_chain = 1;

        out.buf = b;
        out.next = NULL;

        ex->sending = ex->ready;
        ex->ready = NGX_HTTP_BROADCAST_EXPORT_NONE;

        rc = ngx_http_output_filter(r, &out);

        if (rc == NGX_ERROR || ex->eof) {
            /* the rest, if any, is written by nginx; the buffer stays
               until the request is freed (the cleanup frees it) */
            ngx_http_finalize_request(r, rc);
            return;
        }

        if (ngx_http_broadcast_export_drained(r)) {
            ex->sending = NGX_HTTP_BROADCAST_EXPORT_NONE;
        }
    }

    if (!ex->eof && ex->filling == NGX_HTTP_BROADCAST_EXPORT_NONE
        && ex->ready == NGX_HTTP_BROADCAST_EXPORT_NONE
        && ngx_http_broadcast_export_next(ex) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (ex->sending == NGX_HTTP_BROADCAST_EXPORT_NONE) {
        return;
    }

    /* a slow reader: wait for the socket, as nginx's own writer does */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!r->connection->write->delayed) {
        ngx_add_timer(r->connection->write, clcf->send_timeout);
    }

    if (ngx_handle_write_event(r->connection->write, clcf->send_lowat)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


/* loop: the client's socket can take more (or send_timeout passed) */
static void
ngx_http_broadcast_export_write(ngx_http_request_t *r)
{
    ngx_event_t                  *wev = r->connection->write;
    ngx_http_broadcast_export_t  *ex;

    ex = ngx_http_get_module_ctx(r, ngx_http_broadcast_module);

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "broadcast: client timed out reading the export");
        r->connection->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ex->sending != NGX_HTTP_BROADCAST_EXPORT_NONE
        && ngx_http_output_filter(r, NULL) == NGX_ERROR)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    ngx_http_broadcast_csv_export_pump(ex);
}


/* loop, the API task's answer: the headers, the first buffer, the rest
   by page tasks; the stream now owns the export's state */
static ngx_int_t
ngx_http_broadcast_csv_export_send(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_pool_cleanup_t           *cln;
    ngx_http_broadcast_export_t  *ex = ctx->op_data;

    static ngx_str_t  type = ngx_string("text/csv; charset=utf-8");

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->op_data = NULL;
    ex->r = r;
    cln->handler = ngx_http_broadcast_export_cleanup;
    cln->data = ex;

    /* the API's request state is done with: the stream's from here */
    ngx_http_set_ctx(r, ex, ngx_http_broadcast_module);

    if (ngx_http_broadcast_add_header(r, "Content-Disposition",
            ngx_http_broadcast_export_file[ex->sms].data,
            ngx_http_broadcast_export_file[ex->sms].len)
        != NGX_OK
        || ngx_http_broadcast_add_header(r, "Cache-Control",
                                         (u_char *) "no-store", 8)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_length_n = -1;     /* chunked */

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /* the stream finalizes the request itself: NGX_DONE balances this */
    r->main->count++;
    r->write_event_handler = ngx_http_broadcast_export_write;

    ngx_http_broadcast_csv_export_pump(ex);

    return NGX_DONE;
}
