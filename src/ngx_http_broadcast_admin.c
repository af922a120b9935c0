/*
 * Admin endpoints: POST /api/login, POST /api/logout, GET/POST /api/keys,
 * POST /api/keys/{id}/revoke. Password hashes are verified with argon2id in
 * the thread (CPU heavy); tokens and keys are stored as SHA-256 hex.
 */


#include "ngx_http_broadcast_api.h"

#include <argon2.h>

#include "bc_sig.h"
#include "bc_password.h"


#define NGX_HTTP_BROADCAST_TS(c)                                              \
    "CONCAT(LEFT(DATE_FORMAT(" c ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"

/* with the owner's username: FROM NGX_HTTP_BROADCAST_KEY_FROM */
#define NGX_HTTP_BROADCAST_KEY_COLUMNS                                        \
    "k.id,k.name,k.prefix,k.scope,k.admin_user_id,"                           \
    NGX_HTTP_BROADCAST_TS("k.expires_at") ","                                 \
    NGX_HTTP_BROADCAST_TS("k.created_at") ","                                 \
    NGX_HTTP_BROADCAST_TS("k.last_used_at") ","                               \
    NGX_HTTP_BROADCAST_TS("k.revoked_at") ",k.key_hash,u.username"

#define NGX_HTTP_BROADCAST_KEY_FROM                                           \
    " FROM api_keys k LEFT JOIN admin_users u ON u.id = k.admin_user_id "


typedef struct {
    ngx_uint_t   op;
    char         username[65];
    char        *password;          /* malloc'd, wiped on free */
    size_t       password_len;
    char         ip[NGX_SOCKADDR_STRLEN + 1];
    ngx_flag_t   secure;
    char         name[256];
    char         scope[8];
    long long    days;
    long long    id;
} ngx_http_broadcast_admin_t;


/* failed logins from one address lock it out for the key's lifetime */
#define NGX_HTTP_BROADCAST_USERNAME_MAX     64     /* bytes, as the column */
#define NGX_HTTP_BROADCAST_PASSWORD_MAX     1024   /* bytes */

#define NGX_HTTP_BROADCAST_A_LOGIN   1
#define NGX_HTTP_BROADCAST_A_LOGOUT  2
#define NGX_HTTP_BROADCAST_A_LIST    3
#define NGX_HTTP_BROADCAST_A_CREATE  4
#define NGX_HTTP_BROADCAST_A_REVOKE  5


static void ngx_http_broadcast_admin_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


static void
ngx_http_broadcast_admin_free(void *data)
{
    ngx_http_broadcast_admin_t *a = data;

    if (a->password) {
        explicit_bzero(a->password, a->password_len);
        free(a->password);
    }

    free(a);
}


static ngx_http_broadcast_admin_t *
ngx_http_broadcast_admin_new(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_uint_t op)
{
    ngx_http_broadcast_admin_t     *a;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    a = calloc(1, sizeof(ngx_http_broadcast_admin_t));
    if (a == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return NULL;
    }

    a->op = op;
    a->secure = lcf->cookie_secure;

    ctx->op = ngx_http_broadcast_admin_op;
    ctx->op_data = a;
    ctx->op_free = ngx_http_broadcast_admin_free;

    return a;
}


void
ngx_http_broadcast_login_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_str_t  *body = &args->body;

    json_t                      *json, *u, *p;
    ngx_http_broadcast_admin_t  *a;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    u = json_object_get(json, "username");
    p = json_object_get(json, "password");

    if (!json_is_string(u) || json_string_length(u) == 0
        || !json_is_string(p) || json_string_length(p) == 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "username and password must be non-empty "
            "strings");
        return;
    }

    if (json_string_length(u) > NGX_HTTP_BROADCAST_USERNAME_MAX
        || json_string_length(p) > NGX_HTTP_BROADCAST_PASSWORD_MAX)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "username or password too long: at most %d "
            "and %d bytes", NGX_HTTP_BROADCAST_USERNAME_MAX,
            NGX_HTTP_BROADCAST_PASSWORD_MAX);
        return;
    }

    a = ngx_http_broadcast_admin_new(r, ctx, NGX_HTTP_BROADCAST_A_LOGIN);
    if (a == NULL) {
        return;
    }

    ngx_memcpy(a->username, json_string_value(u), json_string_length(u));

    a->password_len = json_string_length(p);
    a->password = malloc(a->password_len + 1);
    if (a->password == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    ngx_memcpy(a->password, json_string_value(p), a->password_len);
    a->password[a->password_len] = '\0';

    ngx_memcpy(a->ip, r->connection->addr_text.data,
               ngx_min(r->connection->addr_text.len, NGX_SOCKADDR_STRLEN));
}


void
ngx_http_broadcast_logout_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    (void) ngx_http_broadcast_admin_new(r, ctx, NGX_HTTP_BROADCAST_A_LOGOUT);
}


void
ngx_http_broadcast_keys_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_str_t  *body = &args->body;
    ngx_str_t  *id = args->id.len ? &args->id : NULL;

    json_t                      *json, *name, *scope, *days;
    ngx_int_t                    n;
    ngx_http_broadcast_admin_t  *a;

    if (id) {
        n = ngx_atoi(id->data, id->len);
        if (n <= 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                         "no such API key");
            return;
        }

        a = ngx_http_broadcast_admin_new(r, ctx, NGX_HTTP_BROADCAST_A_REVOKE);
        if (a) {
            a->id = n;
        }

        return;
    }

    if (!(r->method & NGX_HTTP_POST)) {
        (void) ngx_http_broadcast_admin_new(r, ctx, NGX_HTTP_BROADCAST_A_LIST);
        return;
    }

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    name = json_object_get(json, "name");
    scope = json_object_get(json, "scope");
    days = json_object_get(json, "expires_in_days");

    if (name && !json_is_null(name)
        && (!json_is_string(name) || json_string_length(name) > 255))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "name must be a string of at most 255 "
            "characters");
        return;
    }

    if (scope && !json_is_null(scope)
        && (!json_is_string(scope)
            || (strcmp(json_string_value(scope), "read") != 0
                && strcmp(json_string_value(scope), "send") != 0
                && strcmp(json_string_value(scope), "manage") != 0)))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "scope must be one of read, send, manage");
        return;
    }

    if (days && !json_is_null(days)
        && (!json_is_integer(days) || json_integer_value(days) <= 0
            || json_integer_value(days) > 36500))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "expires_in_days must be a positive integer");
        return;
    }

    a = ngx_http_broadcast_admin_new(r, ctx, NGX_HTTP_BROADCAST_A_CREATE);
    if (a == NULL) {
        return;
    }

    if (json_is_string(name)) {
        ngx_memcpy(a->name, json_string_value(name),
                   json_string_length(name));
    }

    /* none: the highest the owner's role allows (decided in the thread) */
    if (json_is_string(scope)) {
        ngx_cpystrn((u_char *) a->scope, (u_char *) json_string_value(scope),
                    sizeof(a->scope));
    }

    a->days = json_is_integer(days) ? json_integer_value(days) : 0;
}


/* thread: a key item from a row of NGX_HTTP_BROADCAST_KEY_COLUMNS */
static json_t *
ngx_http_broadcast_key_item(MYSQL_ROW row)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "id", (json_int_t) strtoll(row[0], NULL, 10),
                     "name", row[1] ? row[1] : "",
                     "prefix", row[2] ? row[2] : "",
                     "scope", row[3] ? row[3] : "",
                     "admin_user_id",
                     row[4] ? json_integer(strtoll(row[4], NULL, 10))
                            : json_null(),
                     "expires_at", row[5] ? json_string(row[5]) : json_null(),
                     "created_at", row[6] ? json_string(row[6]) : json_null(),
                     "last_used_at",
                     row[7] ? json_string(row[7]) : json_null(),
                     "revoked_at", row[8] ? json_string(row[8]) : json_null(),
                     "owner", row[10] ? json_string(row[10]) : json_null());
}


static int
ngx_http_broadcast_admin_sql(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, MYSQL_RES **res)
{
    char  err[256];

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, strlen(sql), err,
                                       sizeof(err))
        != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    if (res == NULL) {
        return 0;
    }

    *res = mysql_store_result(conn->mysql);
    if (*res == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                 mysql_error(conn->mysql));
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    return 0;
}


/*
 * thread: the session of a user whose password matched: its row, the
 * cookie, the answer (with the CSRF token of the session), last_login_at
 */
static void
ngx_http_broadcast_login_session(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_admin_t *a,
    long long uid)
{
    char        sql[512], token[64], hash[65], exp[32], csrf[65];
    char        cookie[256];
    long long   ttl;

    ttl = (long long) ctx->mcf->session_ttl;

    if (bc_random_token("bcs_", token, sizeof(token)) != 0
        || bc_csrf_token(token, strlen(token), csrf) != 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error",
                                     "cannot generate a session token");
        return;
    }

    bc_sha256_hex(token, strlen(token), hash);

    snprintf(sql, sizeof(sql), "INSERT INTO admin_sessions (token_hash, "
             "admin_user_id, created_at, expires_at) VALUES ('%s', %lld, "
             "UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) + INTERVAL %lld SECOND)",
             hash, uid, ttl);

    if (ngx_http_broadcast_admin_sql(ctx, conn, sql, NULL) != 0) {
        return;
    }

    /* the audit row names the new session's user */
    ctx->cred_kind = NGX_HTTP_BROADCAST_CRED_SESSION;
    ctx->cred_id = (long long) mysql_insert_id(conn->mysql);
    ctx->user_id = uid;

    snprintf(sql, sizeof(sql), "UPDATE admin_users SET last_login_at = "
             "UTC_TIMESTAMP(3) WHERE id = %lld", uid);

    if (ngx_http_broadcast_admin_sql(ctx, conn, sql, NULL) != 0) {
        return;
    }

    ngx_http_broadcast_login_limit_passed(ctx, conn, a->ip, a->username);

    ngx_http_broadcast_iso_ms(((long long) time(NULL) + ttl) * 1000, exp);

    snprintf(cookie, sizeof(cookie), "bc_session=%s; HttpOnly; "
             "SameSite=Strict; Path=/; Max-Age=%lld%s", token, ttl,
             a->secure ? "; Secure" : "");

    ctx->set_cookie = strdup(cookie);
    ctx->result = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s}", "status", "ok",
                            "token", token, "expires_at", exp,
                            "admin_user_id", (json_int_t) uid,
                            "username", a->username, "csrf_token", csrf);

    explicit_bzero(token, sizeof(token));
    explicit_bzero(cookie, sizeof(cookie));
}


static void
ngx_http_broadcast_login(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_admin_t *a)
{
    int          ok;
    char         sql[512], *quoted;
    long long    uid;
    MYSQL_RES   *res;
    MYSQL_ROW    row;

    /* recorded whatever the outcome; "login" once the session exists */
    ctx->audit_action = "login_failed";
    ngx_cpystrn((u_char *) ctx->audit_name, (u_char *) a->username,
                sizeof(ctx->audit_name));

    if (ngx_http_broadcast_login_limit_check(ctx, conn, a->ip, a->username)
        != NGX_OK)
    {
        return;
    }

    if (conn == NULL || (conn->mysql == NULL
        && (conn->mysql = bc_db_connect(&ctx->mcf->mysql, ctx->detail,
                                        sizeof(ctx->detail))) == NULL))
    {
        ngx_http_broadcast_api_mysql_down(ctx);
        return;
    }

    quoted = bc_db_quote(conn->mysql, a->username, strlen(a->username));
    if (quoted == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    snprintf(sql, sizeof(sql), "SELECT id, password_hash FROM admin_users "
             "WHERE username = %s AND disabled_at IS NULL", quoted);
    free(quoted);

    if (ngx_http_broadcast_admin_sql(ctx, conn, sql, &res) != 0) {
        return;
    }

    row = mysql_fetch_row(res);
    ok = 0;
    uid = 0;

    if (row && row[0] && row[1]) {
        uid = strtoll(row[0], NULL, 10);
    }

    /* an unknown user is checked against a dummy hash of the same cost */
    ok = bc_password_verify(uid ? row[1] : NULL, a->password,
                            a->password_len);

    mysql_free_result(res);

    if (!ok) {
        ngx_http_broadcast_login_limit_failed(ctx, conn, a->ip, a->username);

        /* the same answer for an unknown user and a wrong password */
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_UNAUTHORIZED,
                                     "unauthorized",
                                     "invalid username or password");
        return;
    }

    ngx_http_broadcast_login_session(ctx, conn, a, uid);

    if (ctx->code == NULL) {
        ctx->audit_action = "login";
    }
}


/* POST /api/logout: the session row, its cache entry and the cookie */
static void
ngx_http_broadcast_logout(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    char         sql[1024];

    snprintf(sql, sizeof(sql), "DELETE FROM admin_sessions WHERE id = "
             "%lld", ctx->cred_id);

    if (ngx_http_broadcast_admin_sql(ctx, conn, sql, NULL) != 0) {
        return;
    }

    ngx_http_broadcast_auth_forget_one(ctx, conn, ctx->cred_hash);

    ctx->audit_action = "logout";
    ctx->set_cookie = strdup("bc_session=; HttpOnly; SameSite=Strict; "
                             "Path=/; Max-Age=0");
    ctx->result = json_pack("{s:s}", "status", "ok");
}


/*
 * POST /api/keys: a new key (raw, 64 bytes, gets it) stored as its hash;
 * a->id is its row. 0, or -1 with ctx's answer set
 */
static int
ngx_http_broadcast_key_create(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_admin_t *a,
    char *raw)
{
    char         sql[1024], hash[65], prefix[13];
    char        *quoted;
    ngx_uint_t   most;

    /* a key never does more than its owner's role */
    most = ngx_http_broadcast_role_scope(ctx->role);

    if (a->scope[0] == '\0') {
        ngx_cpystrn((u_char *) a->scope,
                    (u_char *) ngx_http_broadcast_scope_name(most),
                    sizeof(a->scope));

    } else if (ngx_http_broadcast_scope_value(a->scope) > most)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_FORBIDDEN, "forbidden",
            "your role \"%s\" may mint keys of scope up to \"%s\", not "
            "\"%s\"", ngx_http_broadcast_role_name(ctx->role),
            ngx_http_broadcast_scope_name(most), a->scope);
        return -1;
    }

    if (bc_random_token("bck_", raw, 64) != 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error",
                                     "cannot generate a key");
        return -1;
    }

    bc_sha256_hex(raw, strlen(raw), hash);
    ngx_cpystrn((u_char *) prefix, (u_char *) raw, sizeof(prefix));

    if (conn == NULL || (conn->mysql == NULL
        && (conn->mysql = bc_db_connect(&ctx->mcf->mysql, ctx->detail,
                                        sizeof(ctx->detail))) == NULL))
    {
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    quoted = bc_db_quote(conn->mysql, a->name, strlen(a->name));
    if (quoted == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    if (a->days) {
        snprintf(sql, sizeof(sql), "INSERT INTO api_keys (name, prefix, "
                 "key_hash, admin_user_id, scope, expires_at, "
                 "created_at) VALUES (%s, '%s', '%s', %lld, '%s', "
                 "UTC_TIMESTAMP(3) + INTERVAL %lld DAY, "
                 "UTC_TIMESTAMP(3))", quoted, prefix, hash, ctx->user_id,
                 a->scope, a->days);
    } else {
        snprintf(sql, sizeof(sql), "INSERT INTO api_keys (name, prefix, "
                 "key_hash, admin_user_id, scope, created_at) VALUES "
                 "(%s, '%s', '%s', %lld, '%s', UTC_TIMESTAMP(3))",
                 quoted, prefix, hash, ctx->user_id, a->scope);
    }

    free(quoted);

    if (ngx_http_broadcast_admin_sql(ctx, conn, sql, NULL) != 0) {
        return -1;
    }

    a->id = (long long) mysql_insert_id(conn->mysql);

    return 0;
}


/* thread: the key exists and is the caller's, or the caller is an admin;
   0, or -1 with 404 / 403 set */
static int
ngx_http_broadcast_key_revocable(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id)
{
    int         n;
    char        sql[128];
    long long   owner;

    /* the owner's id + 1: 0 is no such key, 1 a key of no user */
    n = snprintf(sql, sizeof(sql), "SELECT COALESCE(admin_user_id, 0) + 1 "
                 "FROM api_keys WHERE id = %lld", id);

    owner = ngx_http_broadcast_sql_number(ngx_http_broadcast_sql_select(ctx,
                conn, sql, n)) - 1;

    if (ctx->code) {
        return -1;
    }

    if (owner < 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such API key");
        return -1;
    }

    if (owner != ctx->user_id && ctx->role != NGX_HTTP_BROADCAST_ROLE_ADMIN) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_FORBIDDEN, "forbidden",
            "this key is another user's: only an admin may revoke it");
        return -1;
    }

    return 0;
}


static void
ngx_http_broadcast_admin_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_admin_t *a = ctx->op_data;

    char         sql[1024], raw[64];
    json_t      *list;
    MYSQL_RES   *res;
    MYSQL_ROW    row;

    switch (a->op) {

    case NGX_HTTP_BROADCAST_A_LOGIN:
        ngx_http_broadcast_login(ctx, conn, a);
        return;

    case NGX_HTTP_BROADCAST_A_LOGOUT:
        ngx_http_broadcast_logout(ctx, conn);
        return;

    case NGX_HTTP_BROADCAST_A_LIST:
        /* one's own keys; an admin sees every key with its owner */
        if (ctx->role == NGX_HTTP_BROADCAST_ROLE_ADMIN) {
            snprintf(sql, sizeof(sql), "SELECT %s%s ORDER BY k.id DESC",
                     NGX_HTTP_BROADCAST_KEY_COLUMNS,
                     NGX_HTTP_BROADCAST_KEY_FROM);

        } else {
            snprintf(sql, sizeof(sql), "SELECT %s%s WHERE k.admin_user_id "
                     "= %lld ORDER BY k.id DESC",
                     NGX_HTTP_BROADCAST_KEY_COLUMNS,
                     NGX_HTTP_BROADCAST_KEY_FROM, ctx->user_id);
        }

        if (ngx_http_broadcast_admin_sql(ctx, conn, sql, &res) != 0) {
            return;
        }

        list = json_array();

        while ((row = mysql_fetch_row(res)) != NULL) {
            json_array_append_new(list, ngx_http_broadcast_key_item(row));
        }

        mysql_free_result(res);

        ctx->result = json_pack("{s:o}", "keys", list);
        return;

    case NGX_HTTP_BROADCAST_A_CREATE:
        if (ngx_http_broadcast_key_create(ctx, conn, a, raw) != 0) {
            return;
        }

        break;

    default: /* NGX_HTTP_BROADCAST_A_REVOKE */
        if (ngx_http_broadcast_key_revocable(ctx, conn, a->id) != 0) {
            return;
        }

        snprintf(sql, sizeof(sql), "UPDATE api_keys SET revoked_at = "
                 "COALESCE(revoked_at, UTC_TIMESTAMP(3)) WHERE id = %lld",
                 a->id);

        if (ngx_http_broadcast_admin_sql(ctx, conn, sql, NULL) != 0) {
            return;
        }

        raw[0] = '\0';
        break;
    }

    /* create and revoke answer with the key item */
    snprintf(sql, sizeof(sql), "SELECT %s%s WHERE k.id = %lld",
             NGX_HTTP_BROADCAST_KEY_COLUMNS, NGX_HTTP_BROADCAST_KEY_FROM,
             a->id);

    if (ngx_http_broadcast_admin_sql(ctx, conn, sql, &res) != 0) {
        return;
    }

    row = mysql_fetch_row(res);

    if (row == NULL) {
        mysql_free_result(res);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no such API key");
        return;
    }

    ctx->result = ngx_http_broadcast_key_item(row);

    if (a->op == NGX_HTTP_BROADCAST_A_CREATE) {
        json_object_set_new(ctx->result, "api_key", json_string(raw));
        explicit_bzero(raw, sizeof(raw));

    } else if (row[9]) {
        /* a revoked key must stop working now, not when the cache ends */
        ngx_http_broadcast_auth_forget_one(ctx, conn, row[9]);
    }

    mysql_free_result(res);
}
