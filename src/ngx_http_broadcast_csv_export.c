/*
 * GET /api/contacts/export?tag=&group_id=: the API thread writes the CSV
 * to an unlinked temp file in pages of 5,000 contacts (keyset on id), and
 * the loop sends that file with nginx's file output: the export is never
 * whole in memory. The columns are those the import reads, with the
 * attributes as one JSON cell, so an export imports back unchanged.
 */


#include "ngx_http_broadcast_csv.h"

#include <csv.h>


#define NGX_HTTP_BROADCAST_EXPORT_PAGE  5000


typedef struct {
    char        dir[NGX_MAX_PATH];    /* client_body_temp_path */
    char        tag[NGX_HTTP_BROADCAST_TAG_SIZE];
    long long   group_id;
    int         fd;                   /* -1: none */
    off_t       size;
} ngx_http_broadcast_export_t;


static void ngx_http_broadcast_csv_export_op(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);
static ngx_int_t ngx_http_broadcast_csv_export_send(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx);
static void ngx_http_broadcast_csv_export_free(void *data);


static const char  *ngx_http_broadcast_export_header[] = {
    "name", "phone", "whatsapp", "email", "tags", "locale", "timezone",
    "attributes", NULL
};


void
ngx_http_broadcast_csv_export_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx)
{
    char                          buf[32];
    size_t                        i;
    ssize_t                       n;
    const char                   *why;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_broadcast_export_t  *ex;

    ex = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_export_t),
                                       ngx_http_broadcast_csv_export_op,
                                       ngx_http_broadcast_csv_export_free);
    if (ex == NULL) {
        return;
    }

    ex->fd = -1;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    ngx_cpystrn((u_char *) ex->dir, clcf->client_body_temp_path->name.data,
                ngx_min(sizeof(ex->dir),
                        clcf->client_body_temp_path->name.len + 1));

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


/* one CSV cell: quoted by libcsv, nothing for NULL or empty */
static void
ngx_http_broadcast_csv_cell_out(FILE *fp, const char *v, size_t len,
    ngx_uint_t last)
{
    if (v != NULL && len) {
        (void) csv_fwrite(fp, v, len);
    }

    fputs(last ? "\r\n" : ",", fp);
}


/* one page after *last; rows written, or -1 with ctx's error set */
static ngx_int_t
ngx_http_broadcast_csv_page(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_export_t *ex,
    FILE *fp, long long *last)
{
    ngx_uint_t                 i, n;
    MYSQL_ROW                  row;
    MYSQL_RES                 *res;
    unsigned long             *lens;
    ngx_http_broadcast_sql_t   sql = { 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT c.id, c.name, c.phone, "
        "c.whatsapp, c.email, (SELECT GROUP_CONCAT(t.tag ORDER BY t.tag "
        "SEPARATOR ';') FROM contact_tags t WHERE t.contact_id = c.id), "
        "c.locale, c.timezone, c.attributes FROM contacts c");

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

    ngx_http_broadcast_sql_cat(&sql, " WHERE c.id > %lld ORDER BY c.id "
                               "LIMIT %d", *last,
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

    while ((row = mysql_fetch_row(res)) != NULL) {
        lens = mysql_fetch_lengths(res);
        *last = strtoll(row[0], NULL, 10);

        for (i = 1; i <= 8; i++) {
            ngx_http_broadcast_csv_cell_out(fp, row[i], lens[i], i == 8);
        }

        n++;
    }

    mysql_free_result(res);

    return n;
}


static void
ngx_http_broadcast_csv_export_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    int                           fd;
    char                          path[NGX_MAX_PATH + 32];
    FILE                         *fp;
    ngx_int_t                     n;
    ngx_uint_t                    i;
    long long                     last;
    ngx_http_broadcast_sql_t      sql = { 0 };
    ngx_http_broadcast_export_t  *ex = ctx->op_data;

    if (ngx_http_broadcast_contacts_connect(ctx, conn) != 0) {
        return;
    }

    /* a contact's tags in one cell: up to 100 of 256 bytes */
    ngx_http_broadcast_sql_cat(&sql, "SET SESSION group_concat_max_len = "
                               "65536");
    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        free(sql.data);
        return;
    }

    free(sql.data);

    snprintf(path, sizeof(path), "%s/export-XXXXXX", ex->dir);

    fd = mkstemp(path);
    if (fd == -1) {
        snprintf(ctx->detail, sizeof(ctx->detail), "mkstemp: %s",
                 strerror(errno));
        goto failed;
    }

    /* only the descriptor: nothing left on disk whatever happens next */
    (void) unlink(path);

    fp = fdopen(dup(fd), "w");
    if (fp == NULL) {
        close(fd);
        goto failed;
    }

    for (i = 0; ngx_http_broadcast_export_header[i]; i++) {
        fprintf(fp, "%s%s", ngx_http_broadcast_export_header[i],
                ngx_http_broadcast_export_header[i + 1] ? "," : "\r\n");
    }

    last = 0;

    do {
        n = ngx_http_broadcast_csv_page(ctx, conn, ex, fp, &last);
    } while (n == NGX_HTTP_BROADCAST_EXPORT_PAGE);

    if (fclose(fp) != 0 || n < 0) {
        close(fd);

        if (n < 0) {
            return;
        }

        goto failed;
    }

    ex->fd = fd;
    ex->size = lseek(fd, 0, SEEK_END);
    ctx->answer = ngx_http_broadcast_csv_export_send;

    return;

failed:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error",
                                 "the export file could not be written");
}


/* loop: the file as the body; nginx closes it with the request */
static ngx_int_t
ngx_http_broadcast_csv_export_send(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_chain_t                   out;
    ngx_pool_cleanup_t           *cln;
    ngx_pool_cleanup_file_t      *clnf;
    ngx_http_broadcast_export_t  *ex = ctx->op_data;

    static ngx_str_t  type = ngx_string("text/csv; charset=utf-8");

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_pool_cleanup_file_t));
    b = ngx_calloc_buf(r->pool);

    if (cln == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the request owns the descriptor from here */
    clnf = cln->data;
    clnf->fd = ex->fd;
    clnf->name = (u_char *) "contacts export";
    clnf->log = r->connection->log;
    cln->handler = ngx_pool_cleanup_file;
    ex->fd = -1;

    if (ngx_http_broadcast_add_header(r, "Content-Disposition",
            (u_char *) "attachment; filename=\"contacts.csv\"", 35)
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
    r->headers_out.content_length_n = ex->size;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file->fd = clnf->fd;
    b->file->name.data = clnf->name;
    b->file->name.len = ngx_strlen(clnf->name);
    b->file->log = r->connection->log;
    b->in_file = 1;
    b->file_pos = 0;
    b->file_last = ex->size;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void
ngx_http_broadcast_csv_export_free(void *data)
{
    ngx_http_broadcast_export_t *ex = data;

    /* written but never sent (the request went away) */
    if (ex->fd != -1) {
        close(ex->fd);
    }

    ngx_free(ex);
}
