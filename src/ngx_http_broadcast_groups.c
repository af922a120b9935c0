/*
 * Contact groups and their members (sql/006_contacts.sql):
 *
 *   GET/POST          /api/groups
 *   GET/PATCH/DELETE  /api/groups/{id}
 *   GET/POST/DELETE   /api/groups/{id}/members
 *
 * Everything is checked in the event loop (ids, names, the contact id
 * list); the thread runs one short SQL statement per step. Listings page
 * by id (keyset), never with OFFSET, and member_count is a COUNT over the
 * (group_id, contact_id) primary key: one range scan per group.
 */


#include "ngx_http_broadcast_api.h"


#define NGX_HTTP_BROADCAST_GROUPS_LIST      0
#define NGX_HTTP_BROADCAST_GROUPS_CREATE    1
#define NGX_HTTP_BROADCAST_GROUPS_GET       2
#define NGX_HTTP_BROADCAST_GROUPS_UPDATE    3
#define NGX_HTTP_BROADCAST_GROUPS_DELETE    4
#define NGX_HTTP_BROADCAST_GROUPS_MEMBERS   5
#define NGX_HTTP_BROADCAST_GROUPS_ADD       6
#define NGX_HTTP_BROADCAST_GROUPS_REMOVE    7

#define NGX_HTTP_BROADCAST_GROUPS_NAME_MAX  255     /* characters */
#define NGX_HTTP_BROADCAST_GROUPS_DESC_MAX  1024    /* characters */
#define NGX_HTTP_BROADCAST_GROUPS_IDS_MAX   10000
#define NGX_HTTP_BROADCAST_GROUPS_LIMIT     100     /* default page */
#define NGX_HTTP_BROADCAST_GROUPS_LIMIT_MAX 1000

/* nginx has no name for 422 */
#define NGX_HTTP_BROADCAST_GROUPS_422       422

/* MariaDB's ER_DUP_ENTRY: the unique name is taken */
#define NGX_HTTP_BROADCAST_GROUPS_DUP       1062

/* the longest id ("9223372036854775807") and its comma */
#define NGX_HTTP_BROADCAST_GROUPS_ID_LEN    20

/* ISO-8601 UTC with milliseconds, as the message JSON (%f has six digits) */
#define NGX_HTTP_BROADCAST_GROUPS_TIME(col)                                   \
    "CONCAT(LEFT(DATE_FORMAT(" col ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"

#define NGX_HTTP_BROADCAST_GROUPS_COLUMNS                                     \
    "g.id,g.name,g.description,"                                              \
    NGX_HTTP_BROADCAST_GROUPS_TIME("g.created_at") ","                        \
    NGX_HTTP_BROADCAST_GROUPS_TIME("g.updated_at") ","                        \
    "(SELECT COUNT(*) FROM contact_group_members m WHERE m.group_id=g.id)"

/* tags as a JSON array built by MariaDB: any character survives */
#define NGX_HTTP_BROADCAST_GROUPS_CONTACT_COLUMNS                             \
    "c.id,c.name,c.phone,c.whatsapp,c.email,c.attributes,c.locale,"           \
    "c.timezone,"                                                             \
    NGX_HTTP_BROADCAST_GROUPS_TIME("c.created_at") ","                        \
    NGX_HTTP_BROADCAST_GROUPS_TIME("c.updated_at") ","                        \
    "(SELECT JSON_ARRAYAGG(t.tag ORDER BY t.tag) FROM contact_tags t "        \
    "WHERE t.contact_id=c.id)"


typedef struct {
    ngx_uint_t   action;
    long long    id;                /* the group of {id} */
    long long    cursor;            /* listings: ids above this one */
    ngx_uint_t   limit;

    /* create and update: UTF-8 checked by jansson, lengths here */
    ngx_uint_t   has_name;
    ngx_uint_t   has_desc;          /* given, possibly null */
    ngx_uint_t   desc_null;
    char         name[NGX_HTTP_BROADCAST_GROUPS_NAME_MAX * 4 + 1];
    char         desc[NGX_HTTP_BROADCAST_GROUPS_DESC_MAX * 4 + 1];

    /* add and remove: the ids as given (duplicates included) */
    long long   *ids;
    ngx_uint_t   nids;
    ssize_t      bad_index;         /* the first element that is no id */
} ngx_http_broadcast_groups_t;


static void ngx_http_broadcast_groups_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/* the action of a row's variant and the request's method */
static ngx_uint_t
ngx_http_broadcast_groups_action(ngx_uint_t variant, ngx_uint_t method)
{
    ngx_uint_t  get;

    get = (method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) != 0;

    switch (variant) {

    case NGX_HTTP_BROADCAST_GROUPS_COLLECTION:
        return get ? NGX_HTTP_BROADCAST_GROUPS_LIST
                   : NGX_HTTP_BROADCAST_GROUPS_CREATE;

    case NGX_HTTP_BROADCAST_GROUPS_ONE:
        if (get) {
            return NGX_HTTP_BROADCAST_GROUPS_GET;
        }

        return (method & NGX_HTTP_PATCH) ? NGX_HTTP_BROADCAST_GROUPS_UPDATE
                                         : NGX_HTTP_BROADCAST_GROUPS_DELETE;

    default: /* NGX_HTTP_BROADCAST_GROUPS_MEMBERS_OF */
        if (get) {
            return NGX_HTTP_BROADCAST_GROUPS_MEMBERS;
        }

        return (method & NGX_HTTP_POST) ? NGX_HTTP_BROADCAST_GROUPS_ADD
                                        : NGX_HTTP_BROADCAST_GROUPS_REMOVE;
    }
}


static void
ngx_http_broadcast_groups_free(void *data)
{
    ngx_http_broadcast_groups_t *gd = data;

    ngx_free(gd->ids);
    ngx_free(gd);
}


/* limit and cursor of a listing; 0, or -1 with ctx's error set */
static int
ngx_http_broadcast_groups_page(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_groups_t *gd)
{
    char       buf[32];
    ssize_t    n;
    ngx_int_t  limit;

    gd->limit = NGX_HTTP_BROADCAST_GROUPS_LIMIT;

    n = ngx_http_broadcast_api_arg(r, "limit", buf, sizeof(buf));
    if (n != -1) {
        limit = n > 0 ? ngx_atoi((u_char *) buf, n) : NGX_ERROR;

        if (limit < 1 || limit > NGX_HTTP_BROADCAST_GROUPS_LIMIT_MAX) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request",
                                         "limit must be 1 to %d",
                                         NGX_HTTP_BROADCAST_GROUPS_LIMIT_MAX);
            return -1;
        }

        gd->limit = limit;
    }

    if (ngx_http_broadcast_sql_cursor(r, ctx, &gd->cursor) != 0) {
        return -1;
    }

    return 0;
}


/*
 * one optional text field of at most max characters into out; NUL bytes
 * and (single_line) control characters are refused. 0 absent, 1 given,
 * 2 null (when nullable), -1 with ctx's error set
 */
static int
ngx_http_broadcast_groups_text(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *json, const char *field, size_t max, ngx_uint_t nullable,
    ngx_uint_t single_line, char *out, size_t size)
{
    size_t       len, i;
    json_t      *v;
    const char  *s;

    v = json_object_get(json, field);

    if (v == NULL) {
        return 0;
    }

    if (nullable && json_is_null(v)) {
        return 2;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || len >= size || strlen(s) != len
        || ngx_http_broadcast_utf8_chars(s, len) > max
        || (single_line && len == 0))
    {
        goto invalid;
    }

    for (i = 0; single_line && i < len; i++) {
        if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
            goto invalid;
        }
    }

    ngx_memcpy(out, s, len);
    out[len] = '\0';

    return 1;

invalid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_GROUPS_422,
        single_line ? "invalid_name" : "invalid_description",
        single_line ? "%s must be a single-line string of 1 to %zu characters"
                    : "%s must be a string of at most %zu characters or null",
        field, max);
    return -1;
}


/* name and description of a create or an update; 0 or -1 */
static int
ngx_http_broadcast_groups_fields(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *json, ngx_http_broadcast_groups_t *gd)
{
    int  rc;

    rc = ngx_http_broadcast_groups_text(ctx, json, "name",
                                        NGX_HTTP_BROADCAST_GROUPS_NAME_MAX, 0,
                                        1, gd->name, sizeof(gd->name));
    if (rc < 0) {
        return -1;
    }

    gd->has_name = (rc == 1);

    rc = ngx_http_broadcast_groups_text(ctx, json, "description",
                                        NGX_HTTP_BROADCAST_GROUPS_DESC_MAX, 1,
                                        0, gd->desc, sizeof(gd->desc));
    if (rc < 0) {
        return -1;
    }

    gd->has_desc = (rc != 0);
    gd->desc_null = (rc == 2);

    if (gd->action == NGX_HTTP_BROADCAST_GROUPS_CREATE && !gd->has_name) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_GROUPS_422,
            "invalid_name", "name is required: a single-line string of 1 "
            "to %d characters", NGX_HTTP_BROADCAST_GROUPS_NAME_MAX);
        return -1;
    }

    if (gd->action == NGX_HTTP_BROADCAST_GROUPS_UPDATE
        && !gd->has_name && !gd->has_desc)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_GROUPS_422,
            "nothing_to_update", "send name and/or description to change");
        return -1;
    }

    return 0;
}


/* "contact_ids": 1 to 10,000 positive integers; 0 or -1 */
static int
ngx_http_broadcast_groups_ids(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_groups_t *gd)
{
    size_t       i, n;
    json_t      *list, *v;
    json_int_t   id;

    list = json_object_get(json, "contact_ids");
    n = json_array_size(list);

    if (!json_is_array(list) || n == 0
        || n > NGX_HTTP_BROADCAST_GROUPS_IDS_MAX)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_GROUPS_422,
            "invalid_contact_ids", "contact_ids must be an array of 1 to %d "
            "contact ids", NGX_HTTP_BROADCAST_GROUPS_IDS_MAX);
        return -1;
    }

    gd->bad_index = -1;
    gd->ids = ngx_alloc(n * sizeof(long long), r->connection->log);
    if (gd->ids == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    json_array_foreach(list, i, v) {
        id = json_is_integer(v) ? json_integer_value(v) : 0;

        /*
         * reported by the thread, after the auth: an error_extra set here
         * would also reach a 401 answer
         */
        if (id <= 0) {
            gd->bad_index = i;
            return 0;
        }

        gd->ids[i] = id;
    }

    gd->nids = n;

    return 0;
}


void
ngx_http_broadcast_groups_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    json_t                       *json;
    ngx_http_broadcast_groups_t  *gd;

    gd = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_groups_t),
                                       ngx_http_broadcast_groups_op,
                                       ngx_http_broadcast_groups_free);
    if (gd == NULL) {
        return;
    }

    gd->action = ngx_http_broadcast_groups_action(args->variant, r->method);

    if (args->variant != NGX_HTTP_BROADCAST_GROUPS_COLLECTION) {
        gd->id = ngx_http_broadcast_sql_id(args->id.data, args->id.len);

        /* not an id: no such group (reported after the auth, as usual) */
        if (gd->id < 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND,
                                         "not_found", "no such group");
            return;
        }
    }

    switch (gd->action) {

    case NGX_HTTP_BROADCAST_GROUPS_LIST:
    case NGX_HTTP_BROADCAST_GROUPS_MEMBERS:
        (void) ngx_http_broadcast_groups_page(r, ctx, gd);
        return;

    case NGX_HTTP_BROADCAST_GROUPS_GET:
    case NGX_HTTP_BROADCAST_GROUPS_DELETE:
        return;

    default:
        break;
    }

    json = ngx_http_broadcast_api_parse(r, &args->body, ctx);
    if (json == NULL) {
        return;
    }

    if (gd->action == NGX_HTTP_BROADCAST_GROUPS_CREATE
        || gd->action == NGX_HTTP_BROADCAST_GROUPS_UPDATE)
    {
        (void) ngx_http_broadcast_groups_fields(ctx, json, gd);
        return;
    }

    (void) ngx_http_broadcast_groups_ids(r, ctx, json, gd);
}


/*
 * thread: one statement; 0 done, 1 duplicate name (no error set), -1 with
 * ctx's error set
 */
static int
ngx_http_broadcast_groups_exec(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, size_t len)
{
    char  err[256];

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, len, err,
                                       sizeof(err))
        == 0)
    {
        return 0;
    }

    if (conn->mysql
        && mysql_errno(conn->mysql) == NGX_HTTP_BROADCAST_GROUPS_DUP)
    {
        return 1;
    }

    snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
    ngx_http_broadcast_api_mysql_down(ctx);

    return -1;
}


/* thread: the result of a SELECT just run; NULL with ctx's error set */
static MYSQL_RES *
ngx_http_broadcast_groups_select(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, size_t len)
{
    if (ngx_http_broadcast_groups_exec(ctx, conn, sql, len) != 0) {
        if (ctx->code == NULL) {
            ngx_http_broadcast_api_mysql_down(ctx);
        }

        return NULL;
    }

    return ngx_http_broadcast_sql_store(ctx, conn);
}


static json_t *
ngx_http_broadcast_groups_str(const char *s)
{
    return s ? json_string(s) : json_null();
}


/* the group JSON of a row selected with NGX_HTTP_BROADCAST_GROUPS_COLUMNS */
static json_t *
ngx_http_broadcast_groups_json(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    return json_pack("{s:I,s:o,s:o,s:I,s:o,s:o}",
                     "id", (json_int_t) strtoll(row[0], NULL, 10),
                     "name", ngx_http_broadcast_groups_str(row[1]),
                     "description", ngx_http_broadcast_groups_str(row[2]),
                     "member_count",
                     (json_int_t) strtoll(row[5] ? row[5] : "0", NULL, 10),
                     "created_at", ngx_http_broadcast_groups_str(row[3]),
                     "updated_at", ngx_http_broadcast_groups_str(row[4]));
}


/* a JSON column (attributes, tags), or null if absent or unreadable */
static json_t *
ngx_http_broadcast_groups_json_col(const char *s, unsigned long len)
{
    json_t  *v;

    if (s == NULL) {
        return json_null();
    }

    v = json_loadb(s, len, JSON_DECODE_ANY, NULL);

    return v ? v : json_null();
}


/* the contact JSON of a row of NGX_HTTP_BROADCAST_GROUPS_CONTACT_COLUMNS */
static json_t *
ngx_http_broadcast_groups_contact(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    json_t  *tags;

    tags = ngx_http_broadcast_groups_json_col(row[10], lengths[10]);
    if (json_is_null(tags)) {
        json_decref(tags);
        tags = json_array();
    }

    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "id", (json_int_t) strtoll(row[0], NULL, 10),
                     "name", ngx_http_broadcast_groups_str(row[1]),
                     "phone", ngx_http_broadcast_groups_str(row[2]),
                     "whatsapp", ngx_http_broadcast_groups_str(row[3]),
                     "email", ngx_http_broadcast_groups_str(row[4]),
                     "tags", tags,
                     "attributes",
                     ngx_http_broadcast_groups_json_col(row[5], lengths[5]),
                     "locale", ngx_http_broadcast_groups_str(row[6]),
                     "timezone", ngx_http_broadcast_groups_str(row[7]),
                     "created_at", ngx_http_broadcast_groups_str(row[8]),
                     "updated_at", ngx_http_broadcast_groups_str(row[9]));
}


/*
 * thread: the group gd->id as JSON; NULL with ctx's error set (404 when it
 * does not exist)
 */
static json_t *
ngx_http_broadcast_groups_one(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_groups_t *gd)
{
    int         n;
    char        sql[1024];
    json_t     *group;
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    n = snprintf(sql, sizeof(sql), "SELECT %s FROM contact_groups g "
                 "WHERE g.id=%lld", NGX_HTTP_BROADCAST_GROUPS_COLUMNS, gd->id);

    res = ngx_http_broadcast_groups_select(ctx, conn, sql, n);
    if (res == NULL) {
        return NULL;
    }

    row = mysql_fetch_row(res);
    group = row ? ngx_http_broadcast_groups_json(NULL, row, NULL) : NULL;
    mysql_free_result(res);

    if (row == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no group with id %lld", gd->id);
        return NULL;
    }

    if (group == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }

    return group;
}


/* thread: GET /api/groups, one page of groups by id */
static void
ngx_http_broadcast_groups_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_groups_t *gd)
{
    int         n;
    char        sql[1024];
    MYSQL_RES  *res;

    /* one row more than the page tells whether another page follows */
    n = snprintf(sql, sizeof(sql), "SELECT %s FROM contact_groups g "
                 "WHERE g.id>%lld ORDER BY g.id LIMIT %u",
                 NGX_HTTP_BROADCAST_GROUPS_COLUMNS, gd->cursor,
                 (unsigned) gd->limit + 1);

    res = ngx_http_broadcast_groups_select(ctx, conn, sql, n);
    if (res == NULL) {
        return;
    }

    (void) ngx_http_broadcast_sql_page_result(ctx, res, gd->limit,
               ngx_http_broadcast_groups_json, NULL, "groups");
}


/* thread: one number of a SELECT COUNT(*) or a SELECT id; -1 on error */
static long long
ngx_http_broadcast_groups_number(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, size_t len)
{
    return ngx_http_broadcast_sql_number(
               ngx_http_broadcast_groups_select(ctx, conn, sql, len));
}


/* thread: 1 if the group gd->id exists, 0 with a 404 set, -1 on error */
static int
ngx_http_broadcast_groups_exists(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_groups_t *gd)
{
    int        n;
    char       sql[128];
    long long  v;

    n = snprintf(sql, sizeof(sql),
                 "SELECT COUNT(*) FROM contact_groups WHERE id=%lld", gd->id);

    v = ngx_http_broadcast_groups_number(ctx, conn, sql, n);
    if (v < 0) {
        return -1;
    }

    if (v == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no group with id %lld", gd->id);
    }

    return v != 0;
}


/* thread: GET /api/groups/{id}/members, a page by contact id and total */
static void
ngx_http_broadcast_groups_members(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_groups_t *gd)
{
    int         n;
    char        sql[1024], next[NGX_HTTP_BROADCAST_GROUPS_ID_LEN + 1];
    json_t     *list;
    long long   total;
    MYSQL_RES  *res;

    if (ngx_http_broadcast_groups_exists(ctx, conn, gd) != 1) {
        return;
    }

    n = snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM "
                 "contact_group_members WHERE group_id=%lld", gd->id);

    total = ngx_http_broadcast_groups_number(ctx, conn, sql, n);
    if (total < 0) {
        return;
    }

    /* the primary key (group_id, contact_id) serves range and order */
    n = snprintf(sql, sizeof(sql), "SELECT %s FROM contact_group_members m "
                 "JOIN contacts c ON c.id=m.contact_id WHERE m.group_id=%lld "
                 "AND m.contact_id>%lld ORDER BY m.contact_id LIMIT %u",
                 NGX_HTTP_BROADCAST_GROUPS_CONTACT_COLUMNS, gd->id,
                 gd->cursor, (unsigned) gd->limit + 1);

    res = ngx_http_broadcast_groups_select(ctx, conn, sql, n);
    if (res == NULL) {
        return;
    }

    list = ngx_http_broadcast_sql_page(ctx, res, gd->limit,
                                       ngx_http_broadcast_groups_contact, NULL,
                                       next, sizeof(next));
    if (list == NULL) {
        return;
    }

    ctx->result = json_pack("{s:I,s:o,s:s?,s:I}", "group_id",
                            (json_int_t) gd->id, "members", list,
                            "next_cursor", next[0] ? next : NULL,
                            "total", (json_int_t) total);
}


/* thread: 409 group_exists naming the group that holds gd->name */
static void
ngx_http_broadcast_groups_clash(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_groups_t *gd,
    const char *qname)
{
    int        n;
    char       sql[1280];
    long long  id;

    n = snprintf(sql, sizeof(sql),
                 "SELECT id FROM contact_groups WHERE name=%s", qname);

    id = ngx_http_broadcast_groups_number(ctx, conn, sql, n);
    if (id < 0) {
        return;
    }

    ctx->error_extra = json_pack("{s:I}", "existing_id", (json_int_t) id);
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT, "group_exists",
        "a group named \"%s\" already exists (id %lld): pick another name "
        "or use that group", gd->name, id);
}


/* thread: POST /api/groups and PATCH /api/groups/{id} */
static void
ngx_http_broadcast_groups_write(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_groups_t *gd)
{
    int      n, rc;
    char    *qname, *qdesc;
    json_t  *group;
    /* both fields quoted: up to 2 * 4 bytes a character, plus the rest */
    char     sql[(NGX_HTTP_BROADCAST_GROUPS_NAME_MAX
                  + NGX_HTTP_BROADCAST_GROUPS_DESC_MAX) * 8 + 256];

    if (gd->action == NGX_HTTP_BROADCAST_GROUPS_UPDATE
        && ngx_http_broadcast_groups_exists(ctx, conn, gd) != 1)
    {
        return;
    }

    /* bc_db_quote() needs the connection (its character set) */
    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return;
    }

    qname = gd->has_name ? bc_db_quote(conn->mysql, gd->name,
                                       strlen(gd->name))
                         : NULL;
    qdesc = (gd->has_desc && !gd->desc_null)
            ? bc_db_quote(conn->mysql, gd->desc, strlen(gd->desc)) : NULL;

    if ((gd->has_name && qname == NULL)
        || (gd->has_desc && !gd->desc_null && qdesc == NULL))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        goto done;
    }

    if (gd->action == NGX_HTTP_BROADCAST_GROUPS_CREATE) {
        n = snprintf(sql, sizeof(sql), "INSERT INTO contact_groups (name, "
                     "description, created_at, updated_at) VALUES (%s, %s, "
                     "UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))", qname,
                     qdesc ? qdesc : "NULL");

    } else {
        n = snprintf(sql, sizeof(sql), "UPDATE contact_groups SET "
                     "%s%s%s%s%s%s updated_at=UTC_TIMESTAMP(3) WHERE id=%lld",
                     qname ? "name=" : "", qname ? qname : "",
                     qname ? "," : "",
                     gd->has_desc ? "description=" : "",
                     gd->has_desc ? (qdesc ? qdesc : "NULL") : "",
                     gd->has_desc ? "," : "", gd->id);
    }

    if (n <= 0 || (size_t) n >= sizeof(sql)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "statement too long");
        goto done;
    }

    rc = ngx_http_broadcast_groups_exec(ctx, conn, sql, n);

    if (rc == 1) {
        ngx_http_broadcast_groups_clash(ctx, conn, gd, qname);
        goto done;
    }

    if (rc != 0) {
        goto done;
    }

    if (gd->action == NGX_HTTP_BROADCAST_GROUPS_CREATE) {
        gd->id = (long long) mysql_insert_id(conn->mysql);
        ctx->status = NGX_HTTP_CREATED;
    }

    group = ngx_http_broadcast_groups_one(ctx, conn, gd);
    if (group) {
        ctx->result = group;
    }

done:

    free(qname);
    free(qdesc);
}


/* thread: DELETE /api/groups/{id}; the memberships go by cascade */
static void
ngx_http_broadcast_groups_delete(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_groups_t *gd)
{
    int   n;
    char  sql[128];

    n = snprintf(sql, sizeof(sql), "DELETE FROM contact_groups WHERE id=%lld",
                 gd->id);

    if (ngx_http_broadcast_groups_exec(ctx, conn, sql, n) != 0) {
        if (ctx->code == NULL) {
            ngx_http_broadcast_api_mysql_down(ctx);
        }

        return;
    }

    ngx_http_broadcast_sql_deleted(ctx, conn, "group", gd->id);
}


/*
 * thread: POST/DELETE /api/groups/{id}/members. Only ids of existing
 * contacts are inserted (INSERT IGNORE ... SELECT), so unknown ids and
 * existing members are skipped in one statement, not errors.
 */
static void
ngx_http_broadcast_groups_change(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_groups_t *gd)
{
    int          n;
    char        *sql, *p, *end;
    size_t       size;
    long long    done;
    ngx_uint_t   i, add;

    if (gd->bad_index >= 0) {
        ctx->error_extra = json_pack("{s:I}", "index",
                                     (json_int_t) gd->bad_index);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_GROUPS_422,
            "invalid_contact_ids", "contact_ids[%zd] is not a contact id "
            "(a positive integer)", gd->bad_index);
        return;
    }

    if (ngx_http_broadcast_groups_exists(ctx, conn, gd) != 1) {
        return;
    }

    add = (gd->action == NGX_HTTP_BROADCAST_GROUPS_ADD);
    size = 256 + gd->nids * (NGX_HTTP_BROADCAST_GROUPS_ID_LEN + 1);

    sql = malloc(size);
    if (sql == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    end = sql + size;

    n = add ? snprintf(sql, size, "INSERT IGNORE INTO contact_group_members "
                       "(group_id, contact_id, created_at) SELECT %lld, id, "
                       "UTC_TIMESTAMP(3) FROM contacts WHERE id IN (", gd->id)
            : snprintf(sql, size, "DELETE FROM contact_group_members WHERE "
                       "group_id=%lld AND contact_id IN (", gd->id);
    p = sql + n;

    /* the ids are integers checked in the loop: nothing to escape */
    for (i = 0; i < gd->nids; i++) {
        p += snprintf(p, end - p, "%s%lld", i ? "," : "", gd->ids[i]);
    }

    p += snprintf(p, end - p, ")");

    if (ngx_http_broadcast_groups_exec(ctx, conn, sql, p - sql) != 0) {
        if (ctx->code == NULL) {
            ngx_http_broadcast_api_mysql_down(ctx);
        }

        free(sql);
        return;
    }

    free(sql);

    done = (long long) mysql_affected_rows(conn->mysql);

    ctx->result = add ? json_pack("{s:I,s:I,s:I}", "group_id",
                                  (json_int_t) gd->id, "added",
                                  (json_int_t) done, "skipped",
                                  (json_int_t) (gd->nids - done))
                      : json_pack("{s:I,s:I}", "group_id",
                                  (json_int_t) gd->id, "removed",
                                  (json_int_t) done);
}


static void
ngx_http_broadcast_groups_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    json_t                       *group;
    ngx_http_broadcast_groups_t  *gd = ctx->op_data;

    switch (gd->action) {

    case NGX_HTTP_BROADCAST_GROUPS_LIST:
        ngx_http_broadcast_groups_list(ctx, conn, gd);
        break;

    case NGX_HTTP_BROADCAST_GROUPS_GET:
        group = ngx_http_broadcast_groups_one(ctx, conn, gd);
        if (group) {
            ctx->result = group;
        }

        break;

    case NGX_HTTP_BROADCAST_GROUPS_CREATE:
    case NGX_HTTP_BROADCAST_GROUPS_UPDATE:
        ngx_http_broadcast_groups_write(ctx, conn, gd);
        break;

    case NGX_HTTP_BROADCAST_GROUPS_DELETE:
        ngx_http_broadcast_groups_delete(ctx, conn, gd);
        break;

    case NGX_HTTP_BROADCAST_GROUPS_MEMBERS:
        ngx_http_broadcast_groups_members(ctx, conn, gd);
        break;

    default: /* ADD, REMOVE */
        ngx_http_broadcast_groups_change(ctx, conn, gd);
        break;
    }

    if (ctx->result == NULL && ctx->code == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }
}
