/*
 * The thread side of the message templates' CRUD (msgtpl.c checks the
 * requests in the loop). A PATCH reads the row under FOR UPDATE, merges
 * the change and checks the whole result by the same rules as a POST, so
 * a change can never leave, say, a subject on an SMS template. A taken
 * channel + name, found by the UNIQUE key, answers 409 template_exists
 * with the holder's id.
 */


#include "ngx_http_broadcast_msgtpl.h"
#include "ngx_http_broadcast_contacts.h"


/* MariaDB's ER_DUP_ENTRY: the channel + name is taken */
#define NGX_HTTP_BROADCAST_MSGTPL_DUP  1062


/* a row of NGX_HTTP_BROADCAST_MSGTPL_COLUMNS into fields v */
static void
ngx_http_broadcast_msgtpl_row(MYSQL_ROW row, unsigned long *lengths,
    ngx_str_t *v)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_BROADCAST_MSGTPL_NFIELDS; i++) {
        v[i].data = (u_char *) row[i + 1];
        v[i].len = row[i + 1] ? lengths[i + 1] : 0;
    }
}


static json_t *
ngx_http_broadcast_msgtpl_str(ngx_str_t *s)
{
    return s->data ? json_stringn((char *) s->data, s->len) : json_null();
}


/* the template's JSON from a row, with the variables its text uses */
static json_t *
ngx_http_broadcast_msgtpl_json(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    json_t      *t, *vars;
    ngx_str_t    v[NGX_HTTP_BROADCAST_MSGTPL_NFIELDS];
    ngx_uint_t   i;

    ngx_http_broadcast_msgtpl_row(row, lengths, v);

    vars = ngx_http_broadcast_msgtpl_variables(v);
    t = json_pack("{s:I}", "id", (json_int_t) strtoll(row[0], NULL, 10));

    if (t == NULL || vars == NULL) {
        json_decref(vars);
        json_decref(t);
        return NULL;
    }

    for (i = 0; i < NGX_HTTP_BROADCAST_MSGTPL_NFIELDS; i++) {
        if (json_object_set_new(t, ngx_http_broadcast_msgtpl_keys[i],
                                ngx_http_broadcast_msgtpl_str(&v[i]))
            != 0)
        {
            json_decref(vars);
            json_decref(t);
            return NULL;
        }
    }

    if (json_object_set_new(t, "variables", vars) != 0
        || json_object_set_new(t, "created_at",
                               json_string(row[9] ? row[9] : "")) != 0
        || json_object_set_new(t, "updated_at",
                               json_string(row[10] ? row[10] : "")) != 0)
    {
        json_decref(t);
        return NULL;
    }

    return t;
}


/* thread: sql's rows as a JSON array; NULL with ctx's error set */
static json_t *
ngx_http_broadcast_msgtpl_select(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql)
{
    MYSQL_RES  *res;

    res = ngx_http_broadcast_contacts_select(ctx, conn, sql);
    if (res == NULL) {
        return NULL;
    }

    return ngx_http_broadcast_sql_rows(ctx, res,
                                       ngx_http_broadcast_msgtpl_json, NULL);
}


int
ngx_http_broadcast_msgtpl_fetch(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, const char *lock,
    MYSQL_RES **res, ngx_str_t *v)
{
    MYSQL_ROW                  row;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    /* in a transaction (lock): never retried on a new connection */
    sql.tx = (lock[0] != '\0');

    ngx_http_broadcast_sql_cat(&sql, "SELECT %s FROM message_templates "
                               "WHERE id = %lld%s",
                               NGX_HTTP_BROADCAST_MSGTPL_COLUMNS, id, lock);
    *res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (*res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(*res);
    if (row == NULL) {
        return 0;
    }

    ngx_http_broadcast_msgtpl_row(row, mysql_fetch_lengths(*res), v);

    return 1;
}


static void
ngx_http_broadcast_msgtpl_get(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    json_t                    *list;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT %s FROM message_templates "
                               "WHERE id = %lld",
                               NGX_HTTP_BROADCAST_MSGTPL_COLUMNS, id);
    list = ngx_http_broadcast_msgtpl_select(ctx, conn, &sql);
    free(sql.data);

    if (list != NULL) {
        (void) ngx_http_broadcast_sql_one(ctx, list, "template", id);
    }
}


static void
ngx_http_broadcast_msgtpl_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_msgtpl_t *t)
{
    char                       next[32];
    json_t                    *list;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    /* keyset: the (channel, id) key or the primary key, never OFFSET */
    ngx_http_broadcast_sql_cat(&sql, "SELECT %s FROM message_templates "
                               "WHERE id > %lld",
                               NGX_HTTP_BROADCAST_MSGTPL_COLUMNS, t->cursor);

    if (t->channel >= 0) {
        ngx_http_broadcast_sql_cat(&sql, " AND channel = '%s'",
            ngx_http_broadcast_msgtpl_channels[t->channel]);
    }

    /* one more than the page: is there a next one */
    ngx_http_broadcast_sql_cat(&sql, " ORDER BY id LIMIT %i",
                               (int) t->limit + 1);

    list = ngx_http_broadcast_msgtpl_select(ctx, conn, &sql);
    free(sql.data);

    if (list == NULL) {
        return;
    }

    next[0] = '\0';

    if (json_array_size(list) > (size_t) t->limit) {
        json_array_remove(list, t->limit);
        snprintf(next, sizeof(next), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(
                     json_array_get(list, t->limit - 1), "id")));
    }

    ctx->result = json_pack("{s:o,s:s?}", "templates", list,
                            "next_cursor", next[0] ? next : NULL);
}


/* thread: the id holding channel + name (for the 409); 0 none or -1 */
static long long
ngx_http_broadcast_msgtpl_holder(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_str_t *v)
{
    MYSQL_RES                 *res;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT id FROM message_templates "
                               "WHERE channel = ");
    ngx_http_broadcast_sql_str(&sql, conn->mysql,
        (char *) v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].data,
        v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].len);
    ngx_http_broadcast_sql_cat(&sql, " AND name = ");
    ngx_http_broadcast_sql_str(&sql, conn->mysql,
        (char *) v[NGX_HTTP_BROADCAST_MSGTPL_NAME].data,
        v[NGX_HTTP_BROADCAST_MSGTPL_NAME].len);

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    return ngx_http_broadcast_sql_number(res);
}


static void
ngx_http_broadcast_msgtpl_exists(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_str_t *v)
{
    long long  id;

    id = ngx_http_broadcast_msgtpl_holder(ctx, conn, v);
    if (id < 0) {
        return;
    }

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT, "template_exists",
        "a %s template named \"%.*s\" already exists (id %lld): change that "
        "one or choose another name",
        (char *) v[NGX_HTTP_BROADCAST_MSGTPL_CHANNEL].data,
        (int) ngx_min(v[NGX_HTTP_BROADCAST_MSGTPL_NAME].len, 200),
        (char *) v[NGX_HTTP_BROADCAST_MSGTPL_NAME].data, id);

    if (id > 0) {
        ctx->error_extra = json_pack("{s:I}", "existing_id",
                                     (json_int_t) id);
    }
}


/* the INSERT or UPDATE of fields v into sql */
static void
ngx_http_broadcast_msgtpl_sql(ngx_http_broadcast_conn_t *conn, long long id,
    ngx_str_t *v, ngx_http_broadcast_sql_t *sql)
{
    ngx_uint_t  i;

    ngx_http_broadcast_sql_cat(sql, id ? "UPDATE message_templates SET "
                                       : "INSERT INTO message_templates SET "
                                         "created_at = UTC_TIMESTAMP(3), ");
    ngx_http_broadcast_sql_cat(sql, "updated_at = UTC_TIMESTAMP(3)");

    for (i = 0; i < NGX_HTTP_BROADCAST_MSGTPL_NFIELDS; i++) {
        ngx_http_broadcast_sql_cat(sql, ", %s = ",
                                   ngx_http_broadcast_msgtpl_keys[i]);

        /* body is NOT NULL: a provider template's is "" */
        if (v[i].data == NULL && i == NGX_HTTP_BROADCAST_MSGTPL_BODY) {
            ngx_http_broadcast_sql_cat(sql, "''");
            continue;
        }

        ngx_http_broadcast_sql_str(sql, conn->mysql, (char *) v[i].data,
                                   v[i].len);
    }

    if (id) {
        ngx_http_broadcast_sql_cat(sql, " WHERE id = %lld", id);
    }
}


/* thread: runs the write; 0, 1 when channel + name is taken, -1 error */
static int
ngx_http_broadcast_msgtpl_store(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, ngx_str_t *v)
{
    ngx_http_broadcast_sql_t  sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_msgtpl_sql(conn, id, v, &sql);

    if (sql.failed) {
        free(sql.data);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    /* not through the retrying query: a lost transaction is not redone */
    if (mysql_real_query(conn->mysql, sql.data, sql.len) != 0) {
        free(sql.data);

        if (mysql_errno(conn->mysql) == NGX_HTTP_BROADCAST_MSGTPL_DUP) {
            return 1;
        }

        snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                 mysql_error(conn->mysql));
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    free(sql.data);

    return 0;
}


static void
ngx_http_broadcast_msgtpl_create(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_msgtpl_t *t)
{
    int        rc;
    long long  id;

    rc = ngx_http_broadcast_msgtpl_store(ctx, conn, 0, t->f);

    if (rc == 1) {
        ngx_http_broadcast_msgtpl_exists(ctx, conn, t->f);
    }

    if (rc != 0) {
        return;
    }

    id = (long long) mysql_insert_id(conn->mysql);
    ngx_http_broadcast_msgtpl_get(ctx, conn, id);

    if (ctx->result) {
        ctx->status = NGX_HTTP_CREATED;
    }
}


static void
ngx_http_broadcast_msgtpl_rollback(ngx_http_broadcast_conn_t *conn)
{
    if (conn->mysql) {
        (void) mysql_query(conn->mysql, "ROLLBACK");
    }
}


/* thread: PATCH, the row locked while the merged template is checked */
static void
ngx_http_broadcast_msgtpl_patch(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_msgtpl_t *t)
{
    int                        rc;
    char                       why[256];
    ngx_str_t                  v[NGX_HTTP_BROADCAST_MSGTPL_NFIELDS];
    MYSQL_RES                 *res;
    ngx_uint_t                 i;
    const char                *code;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    if (ngx_http_broadcast_contacts_begin(ctx, conn, &sql) != 0) {
        return;
    }

    free(sql.data);

    res = NULL;
    rc = ngx_http_broadcast_msgtpl_fetch(ctx, conn, t->id, " FOR UPDATE",
                                         &res, v);
    if (rc <= 0) {
        if (rc == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no template with id %lld", t->id);
        }

        goto failed;
    }

    /* the change over the stored row, then the rules over the whole */
    for (i = 0; i < NGX_HTTP_BROADCAST_MSGTPL_NFIELDS; i++) {
        if (t->set & (1 << i)) {
            v[i] = t->f[i];
        }
    }

    if (ngx_http_broadcast_msgtpl_check(v, &code, why, sizeof(why)) != 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_MSGTPL_422,
                                     code, "%s", why);
        goto failed;
    }

    rc = ngx_http_broadcast_msgtpl_store(ctx, conn, t->id, v);

    if (rc == 1) {
        ngx_http_broadcast_msgtpl_rollback(conn);
        ngx_http_broadcast_msgtpl_exists(ctx, conn, v);
        mysql_free_result(res);
        return;
    }

    mysql_free_result(res);
    res = NULL;

    if (rc != 0 || mysql_query(conn->mysql, "COMMIT") != 0) {
        if (ctx->code == NULL) {
            ngx_http_broadcast_api_mysql_down(ctx);
        }

        goto failed;
    }

    ngx_http_broadcast_msgtpl_get(ctx, conn, t->id);
    return;

failed:

    if (res) {
        mysql_free_result(res);
    }

    ngx_http_broadcast_msgtpl_rollback(conn);
}


static void
ngx_http_broadcast_msgtpl_delete(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    int                        rc;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "DELETE FROM message_templates "
                               "WHERE id = %lld", id);
    rc = ngx_http_broadcast_contacts_exec(ctx, conn, &sql);
    free(sql.data);

    if (rc != 0) {
        return;
    }

    if (mysql_affected_rows(conn->mysql) == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no template with id %lld", id);
        return;
    }

    ctx->result = json_pack("{s:b,s:I}", "deleted", 1, "id", (json_int_t) id);
}


void
ngx_http_broadcast_msgtpl_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_msgtpl_t *t = ctx->op_data;

    /* connected first: values are quoted with the connection's charset */
    if (ngx_http_broadcast_contacts_connect(ctx, conn) != 0) {
        return;
    }

    switch (t->action) {

    case NGX_HTTP_BROADCAST_MSGTPL_LIST:
        ngx_http_broadcast_msgtpl_list(ctx, conn, t);
        break;

    case NGX_HTTP_BROADCAST_MSGTPL_CREATE:
        ngx_http_broadcast_msgtpl_create(ctx, conn, t);
        break;

    case NGX_HTTP_BROADCAST_MSGTPL_PATCH:
        ngx_http_broadcast_msgtpl_patch(ctx, conn, t);
        break;

    case NGX_HTTP_BROADCAST_MSGTPL_DELETE:
        ngx_http_broadcast_msgtpl_delete(ctx, conn, t->id);
        break;

    default:
        ngx_http_broadcast_msgtpl_get(ctx, conn, t->id);
    }
}
