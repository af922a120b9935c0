/*
 * GET /api/contacts (search, tag and group filters, keyset paging on id),
 * GET /api/contacts/tags, POST /api/contacts/tags/rename and DELETE
 * /api/contacts/tags/{tag}; and the contact JSON every contacts route
 * answers with. Each filter has its index (sql/006_contacts.sql): the tag
 * through contact_tags (tag, contact_id), the group through the members'
 * primary key (group_id, contact_id), the search through the prefix keys
 * of name and each address, so a page at a million contacts reads about
 * one page of rows.
 */


#include "ngx_http_broadcast_contacts.h"

#include "bc_utf8.h"


#define NGX_HTTP_BROADCAST_CONTACTS_LIMIT      50
#define NGX_HTTP_BROADCAST_CONTACTS_LIMIT_MAX  500
#define NGX_HTTP_BROADCAST_CONTACTS_SEARCH     256   /* bytes */


typedef struct {
    ngx_uint_t   variant;
    char         search[NGX_HTTP_BROADCAST_CONTACTS_SEARCH * 2 + 8];
    ngx_uint_t   has_search;
    char         tag[NGX_HTTP_BROADCAST_TAG_SIZE];
    char         to_tag[NGX_HTTP_BROADCAST_TAG_SIZE];
    ngx_uint_t   has_tag;
    long long    group_id;
    long long    cursor;
    ngx_int_t    limit;
} ngx_http_broadcast_clist_t;


static void ngx_http_broadcast_clist_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/* ------------------------------------------------------ contact JSON */


/* "2026-01-02T03:04:05.123456Z" from DATE_FORMAT %f: keep milliseconds */
static json_t *
ngx_http_broadcast_contact_time(const char *v, unsigned long len)
{
    char  buf[32];

    if (v == NULL) {
        return json_null();
    }

    if (len < 24 || len >= sizeof(buf)) {
        return json_stringn(v, len);
    }

    ngx_memcpy(buf, v, 23);
    buf[23] = 'Z';

    return json_stringn(buf, 24);
}


/* a column's text, or null */
static json_t *
ngx_http_broadcast_contact_str(const char *v, unsigned long len)
{
    return v ? json_stringn(v, len) : json_null();
}


static json_t *
ngx_http_broadcast_contact_json(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    json_t  *attrs;

    attrs = row[5] ? json_loadb(row[5], lengths[5], 0, NULL) : NULL;
    if (attrs == NULL) {
        attrs = json_object();
    }

    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "id", (json_int_t) strtoll(row[0], NULL, 10),
                     "name",
                     ngx_http_broadcast_contact_str(row[1], lengths[1]),
                     "phone",
                     ngx_http_broadcast_contact_str(row[2], lengths[2]),
                     "whatsapp",
                     ngx_http_broadcast_contact_str(row[3], lengths[3]),
                     "email",
                     ngx_http_broadcast_contact_str(row[4], lengths[4]),
                     "tags", json_array(),
                     "attributes", attrs,
                     "locale",
                     ngx_http_broadcast_contact_str(row[6], lengths[6]),
                     "timezone",
                     ngx_http_broadcast_contact_str(row[7], lengths[7]),
                     "created_at",
                     ngx_http_broadcast_contact_time(row[8], lengths[8]),
                     "updated_at",
                     ngx_http_broadcast_contact_time(row[9], lengths[9]));
}


/* thread: the tags of the contacts in list (ordered by id) */
static int
ngx_http_broadcast_contacts_tags(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, json_t *list)
{
    size_t                     i, n;
    json_t                    *c;
    long long                  id;
    MYSQL_RES                 *res;
    MYSQL_ROW                  row;
    unsigned long             *lengths;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    n = json_array_size(list);
    if (n == 0) {
        return 0;
    }

    ngx_http_broadcast_sql_cat(&sql, "SELECT contact_id, tag FROM "
                               "contact_tags WHERE contact_id IN (");

    json_array_foreach(list, i, c) {
        ngx_http_broadcast_sql_cat(&sql, "%s%lld", i ? "," : "",
            (long long) json_integer_value(json_object_get(c, "id")));
    }

    ngx_http_broadcast_sql_cat(&sql, ") ORDER BY contact_id, tag");

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return -1;
    }

    /* both in id order: one walk */
    i = 0;

    while ((row = mysql_fetch_row(res)) != NULL) {
        lengths = mysql_fetch_lengths(res);
        id = strtoll(row[0], NULL, 10);

        while (i < n
               && json_integer_value(json_object_get(json_array_get(list, i),
                                                     "id"))
                  < id)
        {
            i++;
        }

        if (i == n) {
            break;
        }

        c = json_array_get(list, i);

        if (json_integer_value(json_object_get(c, "id")) == id) {
            json_array_append_new(json_object_get(c, "tags"),
                                  json_stringn(row[1], lengths[1]));
        }
    }

    mysql_free_result(res);

    return 0;
}


json_t *
ngx_http_broadcast_contacts_fetch(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql)
{
    json_t     *list;
    MYSQL_RES  *res;

    res = ngx_http_broadcast_contacts_select(ctx, conn, sql);
    if (res == NULL) {
        return NULL;
    }

    list = ngx_http_broadcast_sql_rows(ctx, res,
                                       ngx_http_broadcast_contact_json, NULL);
    if (list == NULL) {
        return NULL;
    }

    if (ngx_http_broadcast_contacts_tags(ctx, conn, list) != 0) {
        json_decref(list);
        return NULL;
    }

    return list;
}


json_t *
ngx_http_broadcast_contacts_by_id(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    json_t                    *list;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT %s FROM contacts c "
                               "WHERE c.id = %lld",
                               NGX_HTTP_BROADCAST_CONTACT_COLUMNS, id);
    list = ngx_http_broadcast_contacts_fetch(ctx, conn, &sql);
    free(sql.data);

    return list;
}


/* ----------------------------------------------------------- the loop */


/* loop: the query arguments of GET /api/contacts; 0 or -1 + ctx's error */
static int
ngx_http_broadcast_clist_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_clist_t *cl)
{
    char         buf[NGX_HTTP_BROADCAST_CONTACTS_SEARCH * 4];
    ssize_t      n;
    long long    v;
    const char  *why;

    cl->limit = NGX_HTTP_BROADCAST_CONTACTS_LIMIT;

    /* an empty argument (a form's blank field) is an absent one */
    n = ngx_http_broadcast_api_arg(r, "limit", buf, sizeof(buf));
    if (n != -1 && n != 0) {
        v = n > 0 ? ngx_http_broadcast_sql_id((u_char *) buf, n) : -1;

        if (v < 0 || v > NGX_HTTP_BROADCAST_CONTACTS_LIMIT_MAX) {
            why = "limit must be a number from 1 to 500";
            goto invalid;
        }

        cl->limit = (ngx_int_t) v;
    }

    n = ngx_http_broadcast_api_arg(r, "cursor", buf, sizeof(buf));
    if (n > 0
        && (cl->cursor = ngx_http_broadcast_sql_id((u_char *) buf, n)) < 0)
    {
        why = "cursor must be a next_cursor this API returned";
        goto invalid;
    }

    n = ngx_http_broadcast_api_arg(r, "group_id", buf, sizeof(buf));
    if (n > 0
        && (cl->group_id = ngx_http_broadcast_sql_id((u_char *) buf, n)) < 0)
    {
        why = "group_id must be a group's id";
        goto invalid;
    }

    n = ngx_http_broadcast_api_arg(r, "tag", buf, sizeof(buf));
    if (n == -2
        || (n > 0 && ngx_http_broadcast_contact_tag(buf, n, cl->tag, &why)
                     != 0))
    {
        why = "tag must have 1 to 64 characters";
        goto invalid;
    }

    cl->has_tag = (n > 0);

    n = ngx_http_broadcast_api_arg(r, "search", buf, sizeof(buf));
    if (n == -2 || n > NGX_HTTP_BROADCAST_CONTACTS_SEARCH) {
        why = "search must have at most 256 bytes";
        goto invalid;
    }

    /* a broken character would fail the statement in strict mode */
    if (n > 0 && bc_utf8_valid(buf, n) != (size_t) n) {
        why = "search must be UTF-8 text";
        goto invalid;
    }

    if (n > 0) {
        ngx_memcpy(cl->search, buf, n);
        cl->search[n] = '\0';
        cl->has_search = 1;
    }

    return 0;

invalid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                 "%s", why);
    return -1;
}


void
ngx_http_broadcast_contacts_list_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    json_t                      *json, *from, *to;
    const char                  *why;
    ngx_http_broadcast_clist_t  *cl;

    cl = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_clist_t),
                                       ngx_http_broadcast_clist_op, ngx_free);
    if (cl == NULL) {
        return;
    }

    cl->variant = args->variant;

    switch (args->variant) {

    case NGX_HTTP_BROADCAST_CONTACTS_LIST:
        (void) ngx_http_broadcast_clist_args(r, ctx, cl);
        return;

    case NGX_HTTP_BROADCAST_CONTACTS_TAG_DELETE:
        /* nginx has already decoded the path's %XX */
        if (ngx_http_broadcast_contact_tag((char *) args->id.data,
                                           args->id.len, cl->tag, &why)
            != 0)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND,
                                         "not_found", "no such tag: %s", why);
        }

        return;

    case NGX_HTTP_BROADCAST_CONTACTS_TAG_RENAME:
        break;

    default: /* NGX_HTTP_BROADCAST_CONTACTS_TAGS */
        return;
    }

    /* freed with the request's pool */
    json = ngx_http_broadcast_api_parse(r, &args->body, ctx);
    if (json == NULL) {
        return;
    }

    from = json_object_get(json, "from_tag");
    to = json_object_get(json, "to_tag");

    if (!json_is_string(from) || !json_is_string(to)) {
        why = "from_tag and to_tag must be strings";
        goto invalid;
    }

    if (ngx_http_broadcast_contact_tag(json_string_value(from),
                                       json_string_length(from), cl->tag,
                                       &why)
        != 0
        || ngx_http_broadcast_contact_tag(json_string_value(to),
                                          json_string_length(to), cl->to_tag,
                                          &why)
           != 0)
    {
        goto invalid;
    }

    return;

invalid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
                                 "%s", why);
}


/* --------------------------------------------------------- the thread */


/* thread: FROM contacts c and the joins of the tag and group filters */
static void
ngx_http_broadcast_clist_joins(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_clist_t *cl, ngx_http_broadcast_sql_t *sql)
{
    ngx_http_broadcast_sql_cat(sql, " FROM contacts c");

    if (cl->has_tag) {
        ngx_http_broadcast_sql_cat(sql, " JOIN contact_tags t ON "
                                   "t.contact_id = c.id AND t.tag = ");
        ngx_http_broadcast_sql_str(sql, conn->mysql, cl->tag,
                                   strlen(cl->tag));
    }

    if (cl->group_id) {
        ngx_http_broadcast_sql_cat(sql, " JOIN contact_group_members g ON "
                                   "g.contact_id = c.id AND g.group_id = "
                                   "%lld", cl->group_id);
    }
}


/*
 * the search's LIKE patterns: like for the name and e-mail, number for the
 * ASCII address columns ("+" first), only if the search can prefix a
 * number (else number[0] is NUL); the user's % _ \ match themselves
 */
static void
ngx_http_broadcast_clist_likes(ngx_http_broadcast_clist_t *cl, char *like,
    char *number)
{
    size_t      i, n;
    ngx_uint_t  phone;

    n = 0;
    phone = 1;

    for (i = 0; cl->search[i]; i++) {
        if (cl->search[i] == '%' || cl->search[i] == '_'
            || cl->search[i] == '\\')
        {
            like[n++] = '\\';
        }

        like[n++] = cl->search[i];

        if (!(isdigit((u_char) cl->search[i])
              || (i == 0 && cl->search[i] == '+')))
        {
            phone = 0;
        }
    }

    like[n++] = '%';
    like[n] = '\0';

    number[0] = '\0';

    if (phone) {
        ngx_snprintf((u_char *) number, n + 2, "%s%s%Z",
                     like[0] == '+' ? "" : "+", like);
    }
}


static const char  *ngx_http_broadcast_clist_search_cols[] = {
    "c.name", "c.email", "c.phone", "c.whatsapp", NULL
};


/* thread: FROM ... WHERE of the listing's filters (without the cursor) */
static void
ngx_http_broadcast_clist_from(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_clist_t *cl, ngx_http_broadcast_sql_t *sql)
{
    char         like[NGX_HTTP_BROADCAST_CONTACTS_SEARCH * 2 + 8];
    char         number[NGX_HTTP_BROADCAST_CONTACTS_SEARCH * 2 + 8];
    const char  *v;
    ngx_uint_t   i;

    ngx_http_broadcast_clist_joins(conn, cl, sql);
    ngx_http_broadcast_sql_cat(sql, " WHERE 1 = 1");

    if (!cl->has_search) {
        return;
    }

    ngx_http_broadcast_clist_likes(cl, like, number);

    /* the ASCII address columns only for what can prefix a number */
    for (i = 0; ngx_http_broadcast_clist_search_cols[i]; i++) {
        v = (i < 2) ? like : number;

        if (v[0] == '\0') {
            break;
        }

        ngx_http_broadcast_sql_cat(sql, i ? " OR %s LIKE " : " AND (%s LIKE ",
                                   ngx_http_broadcast_clist_search_cols[i]);
        ngx_http_broadcast_sql_str(sql, conn->mysql, v, strlen(v));
    }

    ngx_http_broadcast_sql_cat(sql, ")");
}


/*
 * thread: FROM ... WHERE of a search's total: a UNION of one prefix range
 * per column, each read in its own index alone (the index holds the id),
 * where the OR of the listing makes MariaDB fetch every matching row to
 * re-check it: half the time for a prefix shared by 1% of a million.
 */
static void
ngx_http_broadcast_clist_search_count_from(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_clist_t *cl, ngx_http_broadcast_sql_t *sql)
{
    char         like[NGX_HTTP_BROADCAST_CONTACTS_SEARCH * 2 + 8];
    char         number[NGX_HTTP_BROADCAST_CONTACTS_SEARCH * 2 + 8];
    const char  *v;
    ngx_uint_t   i;

    ngx_http_broadcast_clist_likes(cl, like, number);

    ngx_http_broadcast_sql_cat(sql, " FROM (");

    for (i = 0; ngx_http_broadcast_clist_search_cols[i]; i++) {
        v = (i < 2) ? like : number;

        if (v[0] == '\0') {
            break;
        }

        ngx_http_broadcast_sql_cat(sql, i ? " UNION SELECT c.id"
                                          : "SELECT c.id");
        ngx_http_broadcast_clist_joins(conn, cl, sql);
        ngx_http_broadcast_sql_cat(sql, " WHERE %s LIKE ",
                                   ngx_http_broadcast_clist_search_cols[i]);
        ngx_http_broadcast_sql_str(sql, conn->mysql, v, strlen(v));
    }

    ngx_http_broadcast_sql_cat(sql, ") u");
}


/*
 * thread: FROM ... WHERE of the total. Without a search, the tag and group
 * filters are counted in their own keys alone: every row there has its
 * contact (foreign keys), and a join to contacts would read one contact
 * row per member, hundreds of milliseconds at a million.
 */
static void
ngx_http_broadcast_clist_count_from(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_clist_t *cl, ngx_http_broadcast_sql_t *sql)
{
    if (cl->has_search) {
        ngx_http_broadcast_clist_search_count_from(conn, cl, sql);
        return;
    }

    if (!cl->has_tag && cl->group_id == 0) {
        ngx_http_broadcast_clist_from(conn, cl, sql);
        return;
    }

    if (!cl->has_tag) {
        ngx_http_broadcast_sql_cat(sql, " FROM contact_group_members g "
                                   "WHERE g.group_id = %lld", cl->group_id);
        return;
    }

    ngx_http_broadcast_sql_cat(sql, " FROM contact_tags t");

    if (cl->group_id) {
        ngx_http_broadcast_sql_cat(sql, " JOIN contact_group_members g ON "
                                   "g.contact_id = t.contact_id AND "
                                   "g.group_id = %lld", cl->group_id);
    }

    ngx_http_broadcast_sql_cat(sql, " WHERE t.tag = ");
    ngx_http_broadcast_sql_str(sql, conn->mysql, cl->tag, strlen(cl->tag));
}


/* thread: one number from a one-row result; -1 with ctx's error set */
static long long
ngx_http_broadcast_clist_count(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql)
{
    return ngx_http_broadcast_sql_number(
               ngx_http_broadcast_contacts_select(ctx, conn, sql));
}


static void
ngx_http_broadcast_clist_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_clist_t *cl)
{
    char                       next[32];
    json_t                    *list;
    long long                  total;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    /* connected first: the filters quote with the connection's charset */
    if (ngx_http_broadcast_contacts_connect(ctx, conn) != 0) {
        return;
    }

    ngx_http_broadcast_sql_cat(&sql, "SELECT COUNT(*)");
    ngx_http_broadcast_clist_count_from(conn, cl, &sql);

    total = ngx_http_broadcast_clist_count(ctx, conn, &sql);
    if (total < 0) {
        free(sql.data);
        return;
    }

    /* one more than the page: is there a next one */
    sql.len = 0;
    ngx_http_broadcast_sql_cat(&sql, "SELECT %s",
                               NGX_HTTP_BROADCAST_CONTACT_COLUMNS);
    ngx_http_broadcast_clist_from(conn, cl, &sql);
    ngx_http_broadcast_sql_cat(&sql, " AND c.id > %lld ORDER BY c.id "
                               "LIMIT %i", cl->cursor, (int) cl->limit + 1);

    list = ngx_http_broadcast_contacts_fetch(ctx, conn, &sql);
    free(sql.data);

    if (list == NULL) {
        return;
    }

    next[0] = '\0';

    if (json_array_size(list) > (size_t) cl->limit) {
        json_array_remove(list, cl->limit);
        snprintf(next, sizeof(next), "%lld", (long long) json_integer_value(
                     json_object_get(json_array_get(list, cl->limit - 1),
                                     "id")));
    }

    ctx->result = json_pack("{s:o,s:s?,s:I}", "contacts", list,
                            "next_cursor", next[0] ? next : NULL,
                            "total", (json_int_t) total);
}


static void
ngx_http_broadcast_clist_tags(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    json_t                    *tags;
    MYSQL_RES                 *res;
    MYSQL_ROW                  row;
    unsigned long             *lengths;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    /* the (tag, contact_id) key: an index scan, no table rows */
    ngx_http_broadcast_sql_cat(&sql, "SELECT tag, COUNT(*) AS n FROM "
                               "contact_tags GROUP BY tag "
                               "ORDER BY n DESC, tag");
    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return;
    }

    tags = json_array();

    while (tags && (row = mysql_fetch_row(res)) != NULL) {
        lengths = mysql_fetch_lengths(res);
        json_array_append_new(tags, json_pack("{s:s#,s:I}", "tag", row[0],
                                              (int) lengths[0], "count",
                                              (json_int_t) strtoll(row[1],
                                                                   NULL, 10)));
    }

    mysql_free_result(res);

    ctx->result = json_pack("{s:o}", "tags", tags);
}


/*
 * The statements of a rename, each given (to, from) quoted: a contact with
 * both tags keeps one (INSERT IGNORE, then DELETE: an UPDATE would fail on
 * the primary key). "tag <> to" keeps a rename that only changes case
 * ("vip" to "VIP", one tag for the collation) from deleting what it
 * inserted: that one is the UPDATE of the spelling, which matches nothing
 * once the DELETE has run for two different tags.
 */
static const char  *ngx_http_broadcast_clist_rename_sql[] = {
    "INSERT IGNORE INTO contact_tags (contact_id, tag) "
    "SELECT contact_id, %1$s FROM contact_tags "
    "WHERE tag = %2$s AND tag <> %1$s",
    "DELETE FROM contact_tags WHERE tag = %2$s AND tag <> %1$s",
    "UPDATE contact_tags SET tag = %1$s WHERE tag = %2$s",
    "COMMIT"
};


/* thread: from_tag becomes to_tag in one transaction */
static void
ngx_http_broadcast_clist_rename(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_clist_t *cl)
{
    char                       from[NGX_HTTP_BROADCAST_TAG_SIZE * 2 + 3];
    char                       to[NGX_HTTP_BROADCAST_TAG_SIZE * 2 + 3];
    char                      *q;
    ngx_uint_t                 i;
    long long                  updated;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    if (ngx_http_broadcast_contacts_begin(ctx, conn, &sql) != 0) {
        return;
    }

    q = bc_db_quote(conn->mysql, cl->tag, strlen(cl->tag));
    ngx_cpystrn((u_char *) from, (u_char *) (q ? q : "''"), sizeof(from));
    free(q);
    q = bc_db_quote(conn->mysql, cl->to_tag, strlen(cl->to_tag));
    ngx_cpystrn((u_char *) to, (u_char *) (q ? q : "''"), sizeof(to));
    free(q);

    /* the contacts that have from_tag: the answer's "updated" */
    sql.len = 0;
    ngx_http_broadcast_sql_cat(&sql, "SELECT COUNT(*) FROM contact_tags "
                               "WHERE tag = %s FOR UPDATE", from);
    updated = ngx_http_broadcast_clist_count(ctx, conn, &sql);

    for (i = 0; updated >= 0
                && i < sizeof(ngx_http_broadcast_clist_rename_sql)
                       / sizeof(ngx_http_broadcast_clist_rename_sql[0]); i++)
    {
        sql.len = 0;
        ngx_http_broadcast_sql_cat(&sql,
                                   ngx_http_broadcast_clist_rename_sql[i],
                                   to, from);

        if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
            updated = -1;
        }
    }

    free(sql.data);

    if (updated < 0) {
        if (conn->mysql) {
            (void) mysql_query(conn->mysql, "ROLLBACK");
        }

        return;
    }

    ctx->result = json_pack("{s:s,s:s,s:I}", "from_tag", cl->tag, "to_tag",
                            cl->to_tag, "updated", (json_int_t) updated);
}


static void
ngx_http_broadcast_clist_untag(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_clist_t *cl)
{
    int                        rc;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    /* connected first: the quoting uses the connection */
    if (ngx_http_broadcast_contacts_connect(ctx, conn) != 0) {
        return;
    }

    ngx_http_broadcast_sql_cat(&sql, "DELETE FROM contact_tags WHERE tag = ");
    ngx_http_broadcast_sql_str(&sql, conn->mysql, cl->tag, strlen(cl->tag));

    rc = ngx_http_broadcast_contacts_exec(ctx, conn, &sql);
    free(sql.data);

    if (rc != 0) {
        return;
    }

    ctx->result = json_pack("{s:s,s:I}", "tag", cl->tag, "removed",
                            (json_int_t) mysql_affected_rows(conn->mysql));
}


static void
ngx_http_broadcast_clist_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_clist_t *cl = ctx->op_data;

    /* the listings may read from a replica; the tag writes may not */
    if ((cl->variant == NGX_HTTP_BROADCAST_CONTACTS_LIST
         || cl->variant == NGX_HTTP_BROADCAST_CONTACTS_TAGS)
        && ngx_http_broadcast_sql_read(ctx, conn) != 0)
    {
        return;
    }

    switch (cl->variant) {

    case NGX_HTTP_BROADCAST_CONTACTS_LIST:
        ngx_http_broadcast_clist_list(ctx, conn, cl);
        break;

    case NGX_HTTP_BROADCAST_CONTACTS_TAGS:
        ngx_http_broadcast_clist_tags(ctx, conn);
        break;

    case NGX_HTTP_BROADCAST_CONTACTS_TAG_RENAME:
        ngx_http_broadcast_clist_rename(ctx, conn, cl);
        break;

    default:
        ngx_http_broadcast_clist_untag(ctx, conn, cl);
    }
}
