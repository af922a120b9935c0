/*
 * The thread side of POST /api/contacts and GET/PATCH/DELETE
 * /api/contacts/{id} (contacts.c checks the request in the loop): the
 * contact and its tags are written in one transaction; a duplicate
 * address, found by the look-up or by a UNIQUE key (a concurrent write),
 * answers 409 contact_exists with the holder's id. Also the SQL text
 * helpers of the contacts area.
 */


#include "ngx_http_broadcast_contacts.h"

#include <stdarg.h>


#define NGX_HTTP_BROADCAST_ER_DUP_ENTRY       1062


/* ------------------------------------------------------------ SQL text */


void
ngx_http_broadcast_sql_cat(ngx_http_broadcast_sql_t *s, const char *fmt, ...)
{
    int       n;
    char     *p;
    size_t    cap;
    va_list   ap;

    if (s->failed) {
        return;
    }

    for ( ;; ) {
        va_start(ap, fmt);
        n = vsnprintf(s->data ? s->data + s->len : NULL,
                      s->data ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);

        if (n < 0) {
            s->failed = 1;
            return;
        }

        if (s->data && s->len + n < s->cap) {
            s->len += n;
            return;
        }

        cap = ngx_max(s->cap * 2, s->len + n + 1024);
        p = realloc(s->data, cap);

        if (p == NULL) {
            s->failed = 1;
            return;
        }

        s->data = p;
        s->cap = cap;
    }
}


void
ngx_http_broadcast_sql_str(ngx_http_broadcast_sql_t *s, MYSQL *m,
    const char *v, size_t len)
{
    char  *q;

    if (v == NULL) {
        ngx_http_broadcast_sql_cat(s, "NULL");
        return;
    }

    q = bc_db_quote(m, v, len);
    if (q == NULL) {
        s->failed = 1;
        return;
    }

    ngx_http_broadcast_sql_cat(s, "%s", q);
    free(q);
}


int
ngx_http_broadcast_contacts_exec(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql)
{
    char  err[256];

    if (sql->failed) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    if (sql->tx) {
        if (conn->mysql == NULL
            || mysql_real_query(conn->mysql, sql->data, sql->len) != 0)
        {
            snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                     conn->mysql ? mysql_error(conn->mysql) : "no connection");
            ngx_http_broadcast_api_mysql_down(ctx);
            return -1;
        }

        return 0;
    }

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql->data, sql->len,
                                       err, sizeof(err))
        != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    return 0;
}


int
ngx_http_broadcast_contacts_begin(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql)
{
    ngx_http_broadcast_sql_cat(sql, "START TRANSACTION");

    if (ngx_http_broadcast_contacts_exec(ctx, conn, sql) != 0) {
        free(sql->data);
        sql->data = NULL;
        return -1;
    }

    sql->len = 0;
    sql->tx = 1;

    return 0;
}


MYSQL_RES *
ngx_http_broadcast_contacts_select(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql)
{
    if (ngx_http_broadcast_contacts_exec(ctx, conn, sql) != 0) {
        return NULL;
    }

    return ngx_http_broadcast_sql_store(ctx, conn);
}


/* --------------------------------------------------------- the thread */


static void
ngx_http_broadcast_contact_rollback(ngx_http_broadcast_conn_t *conn)
{
    if (conn->mysql) {
        (void) mysql_query(conn->mysql, "ROLLBACK");
    }
}


/* thread: the one contact, or 404; ctx->result set */
static void
ngx_http_broadcast_contact_get(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    json_t  *list;

    list = ngx_http_broadcast_contacts_by_id(ctx, conn, id);

    if (list != NULL) {
        (void) ngx_http_broadcast_sql_one(ctx, list, "contact", id);
    }
}


/*
 * thread: the id of another contact holding one of the addresses ct sets;
 * 0 none, -1 with ctx's error set
 */
static long long
ngx_http_broadcast_contact_holder(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_contact_t *ct)
{
    char                               *v;
    MYSQL_RES                          *res;
    ngx_uint_t                          i, n;
    ngx_http_broadcast_sql_t            sql = { NULL, 0, 0, 0, 1 };
    const ngx_http_broadcast_cfield_t  *f;

    ngx_http_broadcast_sql_cat(&sql, "SELECT id FROM contacts WHERE id <> "
                               "%lld AND (", ct->id);
    n = 0;

    for (i = 0; i < ngx_http_broadcast_ncfields; i++) {
        f = &ngx_http_broadcast_cfields[i];

        if (!(f->bit & NGX_HTTP_BROADCAST_CF_ADDRS & ct->set & ~ct->nulls)) {
            continue;
        }

        v = (char *) ct + f->offset;
        ngx_http_broadcast_sql_cat(&sql, "%s%s = ", n++ ? " OR " : "",
                                   f->key);
        ngx_http_broadcast_sql_str(&sql, conn->mysql, v, strlen(v));
    }

    if (n == 0) {
        free(sql.data);
        return 0;
    }

    ngx_http_broadcast_sql_cat(&sql, ") LIMIT 1");

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    return ngx_http_broadcast_sql_number(res);
}


static void
ngx_http_broadcast_contact_exists(ngx_http_broadcast_api_ctx_t *ctx,
    long long existing)
{
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT, "contact_exists",
        "another contact (id %lld) already has this phone, whatsapp or "
        "email: change that contact instead", existing);

    ctx->error_extra = json_pack("{s:I}", "existing_id",
                                 (json_int_t) existing);
}


/* thread: the INSERT or UPDATE of the contact's columns into sql */
static void
ngx_http_broadcast_contact_sql(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_contact_t *ct, ngx_http_broadcast_sql_t *sql)
{
    char                               *v;
    ngx_uint_t                          i, create;
    const ngx_http_broadcast_cfield_t  *f;

    create = (ct->action == NGX_HTTP_BROADCAST_CONTACT_CREATE);

    ngx_http_broadcast_sql_cat(sql, create ? "INSERT INTO contacts SET "
                                             "created_at = UTC_TIMESTAMP(3), "
                                           : "UPDATE contacts SET ");
    ngx_http_broadcast_sql_cat(sql, "updated_at = UTC_TIMESTAMP(3)");

    for (i = 0; i < ngx_http_broadcast_ncfields; i++) {
        f = &ngx_http_broadcast_cfields[i];

        if (!(ct->set & f->bit) || f->bit == NGX_HTTP_BROADCAST_CF_TAGS) {
            continue;
        }

        v = (ct->nulls & f->bit) ? NULL
            : f->size ? (char *) ct + f->offset : ct->attrs;

        ngx_http_broadcast_sql_cat(sql, ", %s = ", f->key);
        ngx_http_broadcast_sql_str(sql, conn->mysql, v, v ? strlen(v) : 0);
    }

    if (!create) {
        ngx_http_broadcast_sql_cat(sql, " WHERE id = %lld", ct->id);
    }
}


/* thread, in the transaction: PATCH's contact exists and keeps an address */
static int
ngx_http_broadcast_contact_check(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_contact_t *ct)
{
    MYSQL_RES                 *res;
    MYSQL_ROW                  row;
    ngx_uint_t                 i, has;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 1 };

    static const ngx_uint_t  bits[] = { NGX_HTTP_BROADCAST_CF_PHONE,
        NGX_HTTP_BROADCAST_CF_WHATSAPP, NGX_HTTP_BROADCAST_CF_EMAIL };

    ngx_http_broadcast_sql_cat(&sql, "SELECT phone IS NOT NULL, whatsapp IS "
                               "NOT NULL, email IS NOT NULL FROM contacts "
                               "WHERE id = %lld FOR UPDATE", ct->id);

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(res);

    if (row == NULL) {
        mysql_free_result(res);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no contact with id %lld", ct->id);
        return -1;
    }

    has = 0;

    for (i = 0; i < 3; i++) {
        has |= (ct->set & bits[i]) ? !(ct->nulls & bits[i])
                                   : (row[i] && row[i][0] == '1');
    }

    mysql_free_result(res);

    if (!has) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
            "no_address", "a contact keeps at least one of phone, whatsapp "
            "or email: this change would remove the last one");
        return -1;
    }

    return 0;
}


/* thread, in the transaction: the contact's tags become ct's */
static int
ngx_http_broadcast_contact_tags_set(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_contact_t *ct)
{
    int                        rc;
    ngx_uint_t                 i;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 1 };

    if (ct->action == NGX_HTTP_BROADCAST_CONTACT_PATCH) {
        ngx_http_broadcast_sql_cat(&sql, "DELETE FROM contact_tags "
                                   "WHERE contact_id = %lld", ct->id);

        rc = ngx_http_broadcast_contacts_exec(ctx, conn, &sql);
        sql.len = 0;

        if (rc != 0) {
            free(sql.data);
            return -1;
        }
    }

    if (ct->ntags == 0) {
        free(sql.data);
        return 0;
    }

    /* IGNORE: two spellings the collation holds equal are one tag */
    ngx_http_broadcast_sql_cat(&sql, "INSERT IGNORE INTO contact_tags "
                               "(contact_id, tag) VALUES ");

    for (i = 0; i < ct->ntags; i++) {
        ngx_http_broadcast_sql_cat(&sql, "%s(%lld,", i ? "," : "", ct->id);
        ngx_http_broadcast_sql_str(&sql, conn->mysql, ct->tags[i],
                                   strlen(ct->tags[i]));
        ngx_http_broadcast_sql_cat(&sql, ")");
    }

    rc = ngx_http_broadcast_contacts_exec(ctx, conn, &sql);
    free(sql.data);

    return rc;
}


/* thread: POST and PATCH, one transaction; ctx->result the contact */
static void
ngx_http_broadcast_contact_write(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_contact_t *ct)
{
    int                        rc;
    char                       err[256];
    long long                  holder;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    if (ngx_http_broadcast_contacts_begin(ctx, conn, &sql) != 0) {
        return;
    }

    if (ct->action == NGX_HTTP_BROADCAST_CONTACT_PATCH
        && ngx_http_broadcast_contact_check(ctx, conn, ct) != 0)
    {
        goto failed;
    }

    holder = ngx_http_broadcast_contact_holder(ctx, conn, ct);
    if (holder != 0) {
        goto conflict;
    }

    ngx_http_broadcast_contact_sql(conn, ct, &sql);

    if (sql.failed) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        goto failed;
    }

    /* not through the retrying query: a lost transaction is not redone */
    if (mysql_real_query(conn->mysql, sql.data, sql.len) != 0) {
        if (mysql_errno(conn->mysql) == NGX_HTTP_BROADCAST_ER_DUP_ENTRY) {
            /* a concurrent write took the address since the look-up */
            ngx_http_broadcast_contact_rollback(conn);
            holder = ngx_http_broadcast_contact_holder(ctx, conn, ct);
            goto conflict;
        }

        snprintf(err, sizeof(err), "%s", mysql_error(conn->mysql));
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        goto failed;
    }

    if (ct->action == NGX_HTTP_BROADCAST_CONTACT_CREATE) {
        ct->id = (long long) mysql_insert_id(conn->mysql);
    }

    if ((ct->set & NGX_HTTP_BROADCAST_CF_TAGS)
        && ngx_http_broadcast_contact_tags_set(ctx, conn, ct) != 0)
    {
        goto failed;
    }

    sql.len = 0;
    ngx_http_broadcast_sql_cat(&sql, "COMMIT");
    rc = ngx_http_broadcast_contacts_exec(ctx, conn, &sql);
    free(sql.data);

    if (rc != 0) {
        ngx_http_broadcast_contact_rollback(conn);
        return;
    }

    ngx_http_broadcast_contact_get(ctx, conn, ct->id);

    if (ctx->result && ct->action == NGX_HTTP_BROADCAST_CONTACT_CREATE) {
        ctx->status = NGX_HTTP_CREATED;
    }

    return;

conflict:

    if (holder > 0) {
        ngx_http_broadcast_contact_exists(ctx, holder);
    }

    if (holder == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT, "contact_exists",
            "another contact already has this phone, whatsapp or email");
    }

failed:

    free(sql.data);
    ngx_http_broadcast_contact_rollback(conn);
}


static void
ngx_http_broadcast_contact_delete(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    int                        rc;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    /* its tags and group memberships go by ON DELETE CASCADE */
    ngx_http_broadcast_sql_cat(&sql, "DELETE FROM contacts WHERE id = %lld",
                               id);
    rc = ngx_http_broadcast_contacts_exec(ctx, conn, &sql);
    free(sql.data);

    if (rc == 0) {
        ngx_http_broadcast_sql_deleted(ctx, conn, "contact", id);
    }
}


void
ngx_http_broadcast_contact_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_contact_t *ct = ctx->op_data;

    switch (ct->action) {

    case NGX_HTTP_BROADCAST_CONTACT_GET:
        ngx_http_broadcast_contact_get(ctx, conn, ct->id);
        break;

    case NGX_HTTP_BROADCAST_CONTACT_DELETE:
        ngx_http_broadcast_contact_delete(ctx, conn, ct->id);
        break;

    default:
        ngx_http_broadcast_contact_write(ctx, conn, ct);
    }
}
