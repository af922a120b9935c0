/*
 * Users and roles: GET/POST /api/admin/users, PATCH/DELETE
 * /api/admin/users/{id}, POST .../{id}/disable|enable (admins), GET /api/me
 * and POST /api/me/password (anyone signed in). Passwords are hashed and
 * verified with argon2id in the thread (common/bc_password.c). Every change
 * that takes rights away (disable, demotion, delete, a new password) drops
 * the user's cached credentials (bc:{q}:cred:*) after it, so it holds at once;
 * the last enabled admin can never be disabled, demoted or deleted, checked
 * under row locks so two admins cannot each remove the other.
 */


#include "ngx_http_broadcast_api.h"

#include "bc_password.h"


#define NGX_HTTP_BROADCAST_USER_TS(c)                                        \
    "CONCAT(LEFT(DATE_FORMAT(" c ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"

#define NGX_HTTP_BROADCAST_USER_COLUMNS                                      \
    "id,username,role,disabled_at IS NOT NULL,"                              \
    NGX_HTTP_BROADCAST_USER_TS("created_at") ","                             \
    NGX_HTTP_BROADCAST_USER_TS("last_login_at") ","                          \
    "IF(locked_until > UTC_TIMESTAMP(3),"                                    \
    NGX_HTTP_BROADCAST_USER_TS("locked_until") ",NULL)"


typedef struct {
    ngx_uint_t   variant;
    ngx_uint_t   method;
    long long    id;                 /* the {id} */
    char         username[BC_USERNAME_MAX + 1];
    ngx_uint_t   role;               /* 0: unchanged */
    char        *password;           /* malloc'd, wiped on free */
    size_t       password_len;
    char        *current;            /* /api/me/password: the old one */
    size_t       current_len;
    char         csrf[65];           /* GET /api/me */
} ngx_http_broadcast_users_t;


static void ngx_http_broadcast_users_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


static void
ngx_http_broadcast_users_free(void *data)
{
    ngx_http_broadcast_users_t *u = data;

    if (u->password) {
        explicit_bzero(u->password, u->password_len);
        free(u->password);
    }

    if (u->current) {
        explicit_bzero(u->current, u->current_len);
        free(u->current);
    }

    free(u);
}


/* loop: a copy of the string member; 0, or -1 with ctx's 400 set */
static int
ngx_http_broadcast_users_secret(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *v, const char *name, char **out, size_t *len)
{
    if (!json_is_string(v) || json_string_length(v) < BC_PASSWORD_MIN
        || json_string_length(v) > BC_PASSWORD_MAX)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "%s must be a string of %d to %d bytes",
            name, BC_PASSWORD_MIN, BC_PASSWORD_MAX);
        return -1;
    }

    *len = json_string_length(v);
    *out = malloc(*len + 1);

    if (*out == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    ngx_memcpy(*out, json_string_value(v), *len + 1);

    return 0;
}


/* loop: the members of a POST /api/admin/users or PATCH .../{id} body */
static void
ngx_http_broadcast_users_body(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body,
    ngx_http_broadcast_users_t *u)
{
    json_t      *json, *name, *role, *pw;
    ngx_uint_t   create;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    create = (u->variant == NGX_HTTP_BROADCAST_USERS_COLLECTION);
    name = json_object_get(json, "username");
    role = json_object_get(json, "role");
    pw = json_object_get(json, "password");

    if (create
        && (!json_is_string(name)
            || !bc_username_valid(json_string_value(name),
                                  json_string_length(name))))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "username must be 1 to %d letters, digits, "
            "'.', '_', '@' or '-', starting with a letter or digit",
            BC_USERNAME_MAX);
        return;
    }

    if ((create || role) && (!json_is_string(role)
        || (u->role = ngx_http_broadcast_role_value(json_string_value(role)))
           == NGX_HTTP_BROADCAST_ROLE_NONE))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "role must be one of viewer, operator, admin");
        return;
    }

    if (!create && role == NULL && pw == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "send role, password or both to change");
        return;
    }

    if ((create || pw)
        && ngx_http_broadcast_users_secret(ctx, pw, "password", &u->password,
                                           &u->password_len)
           != 0)
    {
        return;
    }

    if (create) {
        ngx_memcpy(u->username, json_string_value(name),
                   json_string_length(name));
    }
}


void
ngx_http_broadcast_users_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    json_t                      *json;
    ngx_http_broadcast_users_t  *u;

    u = ngx_http_broadcast_api_op_new(r, ctx,
            sizeof(ngx_http_broadcast_users_t), ngx_http_broadcast_users_op,
            ngx_http_broadcast_users_free);
    if (u == NULL) {
        return;
    }

    u->variant = args->variant;
    u->method = r->method;

    if (args->id.len) {
        u->id = ngx_http_broadcast_sql_id(args->id.data, args->id.len);

        if (u->id < 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                "no user with id %.*s: an id is a positive number",
                (int) ngx_min(args->id.len, 32), args->id.data);
            return;
        }
    }

    switch (u->variant) {

    case NGX_HTTP_BROADCAST_USERS_ME:
        /* the raw session token is in this request only: derive it here */
        if (ngx_http_broadcast_auth_session_csrf(r, u->csrf) != NGX_OK) {
            u->csrf[0] = '\0';
        }

        return;

    case NGX_HTTP_BROADCAST_USERS_PASSWORD:
        json = ngx_http_broadcast_api_parse(r, &args->body, ctx);

        if (json == NULL
            || ngx_http_broadcast_users_secret(ctx,
                   json_object_get(json, "new_password"), "new_password",
                   &u->password, &u->password_len)
               != 0)
        {
            return;
        }

        /* the current one is checked, not judged: any length may match */
        json = json_object_get(json, "current_password");

        if (!json_is_string(json) || json_string_length(json) == 0
            || json_string_length(json) > BC_PASSWORD_MAX
            || (u->current = strdup(json_string_value(json))) == NULL)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "current_password must be your present "
                "password");
            return;
        }

        u->current_len = strlen(u->current);
        return;

    case NGX_HTTP_BROADCAST_USERS_COLLECTION:
    case NGX_HTTP_BROADCAST_USERS_ONE:
        if (r->method & (NGX_HTTP_POST|NGX_HTTP_PATCH)) {
            ngx_http_broadcast_users_body(r, ctx, &args->body, u);
        }

        return;

    default: /* disable, enable */
        return;
    }
}


/* thread: a user item from a row of NGX_HTTP_BROADCAST_USER_COLUMNS */
static json_t *
ngx_http_broadcast_users_item(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    return json_pack("{s:I,s:s,s:s,s:b,s:s,s:o,s:o}",
                     "id", (json_int_t) strtoll(row[0], NULL, 10),
                     "username", row[1] ? row[1] : "",
                     "role", row[2] ? row[2] : "",
                     "disabled", row[3] && row[3][0] == '1',
                     "created_at", row[4] ? row[4] : "",
                     "last_login_at",
                     row[5] ? json_string(row[5]) : json_null(),
                     "locked_until",
                     row[6] ? json_string(row[6]) : json_null());
}


/* thread: one statement; 0, or -1 with mysql_unavailable set */
static int
ngx_http_broadcast_users_exec(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql)
{
    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, strlen(sql),
                                       ctx->detail, sizeof(ctx->detail))
        != 0)
    {
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    return 0;
}


/* thread: the user {id} as ctx->result (status 200 or the caller's) */
static void
ngx_http_broadcast_users_answer(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    int          n;
    char         sql[512];
    json_t      *list;
    MYSQL_RES   *res;

    n = snprintf(sql, sizeof(sql), "SELECT %s FROM admin_users WHERE id = "
                 "%lld", NGX_HTTP_BROADCAST_USER_COLUMNS, id);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return;
    }

    list = ngx_http_broadcast_sql_rows(ctx, res,
                                       ngx_http_broadcast_users_item, NULL);
    if (list != NULL) {
        (void) ngx_http_broadcast_sql_one(ctx, list, "user", id);
    }
}


/* POST /api/admin/users: 201 the user, 409 when the name is taken */
static void
ngx_http_broadcast_users_create(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_users_t *u)
{
    char        *hash, *qname, *qhash, sql[1024];
    const char  *why;

    hash = bc_password_hash(u->password, u->password_len, &why);
    if (hash == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "%s", why);
        return;
    }

    qname = bc_db_quote(conn->mysql, u->username, strlen(u->username));
    qhash = bc_db_quote(conn->mysql, hash, strlen(hash));
    free(hash);

    if (qname == NULL || qhash == NULL) {
        free(qname);
        free(qhash);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    snprintf(sql, sizeof(sql), "INSERT INTO admin_users (username, "
             "password_hash, role, created_at) VALUES (%s, %s, '%s', "
             "UTC_TIMESTAMP(3))", qname, qhash,
             ngx_http_broadcast_role_name(u->role));
    free(qname);
    free(qhash);

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, strlen(sql),
                                       ctx->detail, sizeof(ctx->detail))
        != 0)
    {
        if (conn->mysql && mysql_errno(conn->mysql) == 1062) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT,
                "username_taken", "a user named \"%s\" exists: choose "
                "another username", u->username);
            return;
        }

        ngx_http_broadcast_api_mysql_down(ctx);
        return;
    }

    ngx_http_broadcast_users_answer(ctx, conn,
                                    (long long) mysql_insert_id(conn->mysql));
    ctx->status = ctx->code ? ctx->status : NGX_HTTP_CREATED;
}


/*
 * thread, in a transaction: locks the enabled admins' rows and the
 * target's; 1 when the change may go on, 0 with the answer set (404, 409).
 * takes_admin: the change leaves the target no enabled admin.
 */
static int
ngx_http_broadcast_users_guard(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_users_t *u,
    ngx_uint_t takes_admin, char *username, size_t size)
{
    int         n, admin;
    char        sql[256];
    long long   admins;
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    static const char  count[] = "SELECT COUNT(*) FROM admin_users WHERE "
                                 "role = 'admin' AND disabled_at IS NULL "
                                 "FOR UPDATE";

    admins = ngx_http_broadcast_sql_number(ngx_http_broadcast_sql_select(ctx,
                 conn, count, sizeof(count) - 1));
    if (admins < 0) {
        return 0;
    }

    n = snprintf(sql, sizeof(sql), "SELECT username, role = 'admin' AND "
                 "disabled_at IS NULL FROM admin_users WHERE id = %lld "
                 "FOR UPDATE", u->id);

    res = ngx_http_broadcast_sql_select(ctx, conn, sql, n);
    if (res == NULL) {
        return 0;
    }

    row = mysql_fetch_row(res);

    if (row == NULL || row[0] == NULL) {
        mysql_free_result(res);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no user with id %lld", u->id);
        return 0;
    }

    ngx_cpystrn((u_char *) username, (u_char *) row[0], size);
    admin = row[1] && row[1][0] == '1';
    mysql_free_result(res);

    if (takes_admin && admin && admins <= 1) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT, "last_admin",
            "this is the last enabled admin: make another user admin "
            "first");
        return 0;
    }

    return 1;
}


/*
 * PATCH, DELETE, disable, enable of /api/admin/users/{id}: the change and
 * the last-admin check in one transaction, then the user's cached
 * credentials dropped when rights were taken away
 */
static void
ngx_http_broadcast_users_change(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_users_t *u)
{
    char         sql[3][512], username[BC_USERNAME_MAX + 1], *hash;
    json_t      *hashes;
    ngx_uint_t   i, takes_admin, remove;
    const char  *why;

    remove = (u->variant == NGX_HTTP_BROADCAST_USERS_ONE
              && (u->method & NGX_HTTP_DELETE));

    if (remove && u->id == ctx->user_id) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT,
            "cannot_delete_self", "you cannot delete your own user: ask "
            "another admin");
        return;
    }

    takes_admin = remove || u->variant == NGX_HTTP_BROADCAST_USERS_DISABLE
                  || (u->role && u->role != NGX_HTTP_BROADCAST_ROLE_ADMIN);

    ngx_memzero(sql, sizeof(sql));
    hash = NULL;

    if (u->password) {
        hash = bc_password_hash(u->password, u->password_len, &why);
        if (hash == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "internal_error", "%s", why);
            return;
        }
    }

    if (remove) {
        snprintf(sql[0], sizeof(sql[0]), "UPDATE api_keys SET revoked_at = "
                 "COALESCE(revoked_at, UTC_TIMESTAMP(3)) WHERE "
                 "admin_user_id = %lld", u->id);
        snprintf(sql[1], sizeof(sql[1]), "DELETE FROM admin_users WHERE "
                 "id = %lld", u->id);

    } else if (u->variant == NGX_HTTP_BROADCAST_USERS_DISABLE) {
        snprintf(sql[0], sizeof(sql[0]), "UPDATE admin_users SET "
                 "disabled_at = COALESCE(disabled_at, UTC_TIMESTAMP(3)) "
                 "WHERE id = %lld", u->id);

    } else if (u->variant == NGX_HTTP_BROADCAST_USERS_ENABLE) {
        snprintf(sql[0], sizeof(sql[0]), "UPDATE admin_users SET "
                 "disabled_at = NULL, locked_until = NULL WHERE id = %lld",
                 u->id);

    } else {
        /* the hash is argon2's encoded text: no quote needed in it */
        snprintf(sql[0], sizeof(sql[0]), "UPDATE admin_users SET role = "
                 "COALESCE(%s%s%s, role), password_hash = COALESCE(%s%s%s, "
                 "password_hash) WHERE id = %lld",
                 u->role ? "'" : "", u->role
                 ? ngx_http_broadcast_role_name(u->role) : "NULL",
                 u->role ? "'" : "", hash ? "'" : "", hash ? hash : "NULL",
                 hash ? "'" : "", u->id);
    }

    /* disabled, deleted or a new password: no session of theirs goes on
       (an enable does not bring one back; keys are kept unless deleted) */
    if (remove || hash || u->variant == NGX_HTTP_BROADCAST_USERS_DISABLE) {
        snprintf(sql[2], sizeof(sql[2]), "DELETE FROM admin_sessions WHERE "
                 "admin_user_id = %lld", u->id);
    }

    free(hash);

    if (ngx_http_broadcast_users_exec(ctx, conn, "START TRANSACTION") != 0) {
        return;
    }

    hashes = NULL;

    if (!ngx_http_broadcast_users_guard(ctx, conn, u, takes_admin, username,
                                        sizeof(username))
        || (hashes = ngx_http_broadcast_auth_cred_hashes(ctx, conn, u->id))
           == NULL)
    {
        goto rollback;
    }

    for (i = 0; i < 3; i++) {
        if (sql[i][0] && ngx_http_broadcast_users_exec(ctx, conn, sql[i]) != 0)
        {
            goto rollback;
        }
    }

    if (ngx_http_broadcast_users_exec(ctx, conn, "COMMIT") != 0) {
        json_decref(hashes);
        return;
    }

    ngx_http_broadcast_auth_forget(ctx, conn, hashes);

    if (u->variant == NGX_HTTP_BROADCAST_USERS_ENABLE) {
        ngx_http_broadcast_login_limit_clear(ctx, conn, username);
    }

    if (remove) {
        ctx->result = json_pack("{s:b,s:I}", "deleted", 1,
                                "id", (json_int_t) u->id);
        return;
    }

    ngx_http_broadcast_users_answer(ctx, conn, u->id);
    return;

rollback:

    json_decref(hashes);
    (void) ngx_http_broadcast_mysql_query(conn, ctx->mcf, "ROLLBACK", 8,
                                          ctx->detail, sizeof(ctx->detail));
}


/* GET /api/me */
static void
ngx_http_broadcast_users_me(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_users_t *u)
{
    json_t  *user;

    ngx_http_broadcast_users_answer(ctx, conn, ctx->user_id);

    if (ctx->result == NULL) {
        return;
    }

    user = json_pack("{s:O,s:O,s:O}",
                     "id", json_object_get(ctx->result, "id"),
                     "username", json_object_get(ctx->result, "username"),
                     "role", json_object_get(ctx->result, "role"));

    json_decref(ctx->result);

    ctx->result = json_pack("{s:o,s:s}", "user", user, "csrf_token",
                            u->csrf);
}


/* loop: the 204 of a password change, no body */
static ngx_int_t
ngx_http_broadcast_users_no_content(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx)
{
    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/* POST /api/me/password: 204, and every other session of the user ends */
static void
ngx_http_broadcast_users_password(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_users_t *u)
{
    int          n, ok;
    char         sql[512], *hash;
    json_t      *hashes;
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    const char  *why;

    n = snprintf(sql, sizeof(sql), "SELECT password_hash FROM admin_users "
                 "WHERE id = %lld", ctx->user_id);

    res = ngx_http_broadcast_sql_select(ctx, conn, sql, n);
    if (res == NULL) {
        return;
    }

    row = mysql_fetch_row(res);
    ok = bc_password_verify(row && row[0] ? row[0] : NULL, u->current,
                            u->current_len);
    mysql_free_result(res);

    if (!ok) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_FORBIDDEN,
            "wrong_password", "current_password is not your present "
            "password");
        return;
    }

    hash = bc_password_hash(u->password, u->password_len, &why);
    if (hash == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "%s", why);
        return;
    }

    hashes = ngx_http_broadcast_auth_cred_hashes(ctx, conn, ctx->user_id);
    if (hashes == NULL) {
        free(hash);
        return;
    }

    snprintf(sql, sizeof(sql), "UPDATE admin_users SET password_hash = '%s' "
             "WHERE id = %lld", hash, ctx->user_id);
    free(hash);

    if (ngx_http_broadcast_users_exec(ctx, conn, sql) != 0) {
        json_decref(hashes);
        return;
    }

    snprintf(sql, sizeof(sql), "DELETE FROM admin_sessions WHERE "
             "admin_user_id = %lld AND id <> %lld", ctx->user_id,
             ctx->cred_id);

    if (ngx_http_broadcast_users_exec(ctx, conn, sql) != 0) {
        json_decref(hashes);
        return;
    }

    ngx_http_broadcast_auth_forget(ctx, conn, hashes);

    ctx->status = NGX_HTTP_NO_CONTENT;
    ctx->answer = ngx_http_broadcast_users_no_content;
}


static void
ngx_http_broadcast_users_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_users_t *u = ctx->op_data;

    MYSQL_RES  *res;

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return;
    }

    switch (u->variant) {

    case NGX_HTTP_BROADCAST_USERS_ME:
        ngx_http_broadcast_users_me(ctx, conn, u);
        return;

    case NGX_HTTP_BROADCAST_USERS_PASSWORD:
        ngx_http_broadcast_users_password(ctx, conn, u);
        return;

    case NGX_HTTP_BROADCAST_USERS_COLLECTION:
        if (u->method & NGX_HTTP_POST) {
            ngx_http_broadcast_users_create(ctx, conn, u);
            return;
        }

        res = ngx_http_broadcast_sql_select(ctx, conn, "SELECT "
                  NGX_HTTP_BROADCAST_USER_COLUMNS " FROM admin_users "
                  "ORDER BY id",
                  sizeof("SELECT " NGX_HTTP_BROADCAST_USER_COLUMNS
                         " FROM admin_users ORDER BY id") - 1);
        if (res == NULL) {
            return;
        }

        ctx->result = ngx_http_broadcast_sql_rows(ctx, res,
                          ngx_http_broadcast_users_item, NULL);
        if (ctx->result) {
            ctx->result = json_pack("{s:o}", "users", ctx->result);
        }

        return;

    default:
        ngx_http_broadcast_users_change(ctx, conn, u);
        return;
    }
}
