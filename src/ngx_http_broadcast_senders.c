/*
 * GET/POST/DELETE /api/email/senders and /api/whatsapp/senders: the
 * whitelists live in MySQL (email_senders, whatsapp_senders) with a Redis
 * set mirror (bc:senders:*) that the send path reads; the configured
 * senders (broadcast_email_from; broadcast_whatsapp_from and
 * meta:<broadcast_meta_phone_number_id>) are listed first, always allowed
 * and cannot be deleted.
 */


#include "ngx_http_broadcast_send.h"

#include "bc_addr.h"


#define NGX_HTTP_BROADCAST_SENDERS_LIST  0
#define NGX_HTTP_BROADCAST_SENDERS_ADD   1
#define NGX_HTTP_BROADCAST_SENDERS_DEL   2


typedef struct {
    ngx_uint_t   which;
    ngx_uint_t   action;
    char         addr[NGX_HTTP_BROADCAST_ADDR_MAX];
    char         name[NGX_HTTP_BROADCAST_ADDR_MAX * 4];  /* from_name */
    ngx_uint_t   has_name;
    char         def[NGX_HTTP_BROADCAST_ADDR_MAX];       /* the default */
    char         def_name[NGX_HTTP_BROADCAST_ADDR_MAX * 4];
    /* WhatsApp: meta:<broadcast_meta_phone_number_id>, also configured */
    char         meta_def[NGX_HTTP_BROADCAST_ADDR_MAX];
} ngx_http_broadcast_senders_t;


static void ngx_http_broadcast_senders_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


void
ngx_http_broadcast_senders_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_str_t   *body = &args->body;
    ngx_uint_t   which = args->variant;

    size_t                          len;
    json_t                         *json, *v, *name;
    const char                     *s, *field;
    ngx_http_broadcast_senders_t   *sd;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    sd = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_senders_t),
                                       ngx_http_broadcast_senders_op,
                                       ngx_free);
    if (sd == NULL) {
        return;
    }

    sd->which = which;

    if (which == NGX_HTTP_BROADCAST_SENDERS_EMAIL) {
        field = "from_email";
        ngx_cpystrn((u_char *) sd->def, lcf->email_from.data,
                    ngx_min(sizeof(sd->def), lcf->email_from.len + 1));
        ngx_cpystrn((u_char *) sd->def_name, lcf->email_from_name.data,
                    ngx_min(sizeof(sd->def_name),
                            lcf->email_from_name.len + 1));

    } else {
        field = "from_address";
        ngx_cpystrn((u_char *) sd->def, lcf->whatsapp_from.data,
                    ngx_min(sizeof(sd->def), lcf->whatsapp_from.len + 1));

        if (lcf->meta_phone_number_id.len) {
            ngx_snprintf((u_char *) sd->meta_def, sizeof(sd->meta_def) - 1,
                         "meta:%V", &lcf->meta_phone_number_id);
        }
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        sd->action = NGX_HTTP_BROADCAST_SENDERS_LIST;
        return;
    }

    sd->action = (r->method & NGX_HTTP_POST) ? NGX_HTTP_BROADCAST_SENDERS_ADD
                                             : NGX_HTTP_BROADCAST_SENDERS_DEL;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    v = json_object_get(json, field);
    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL) {
        goto invalid;
    }

    if (which == NGX_HTTP_BROADCAST_SENDERS_EMAIL) {
        if (!bc_email_valid(s, len, sd->addr)) {
            goto invalid;
        }

        name = json_object_get(json, "from_name");

        if (sd->action == NGX_HTTP_BROADCAST_SENDERS_ADD
            && name && !json_is_null(name))
        {
            if (!json_is_string(name) || json_string_length(name) > 255
                || strpbrk(json_string_value(name), "\r\n") != NULL)
            {
                ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                    "invalid_request", "from_name must be a single-line "
                    "string of at most 255 characters");
                return;
            }

            ngx_cpystrn((u_char *) sd->name, (u_char *) json_string_value(name),
                        sizeof(sd->name));
            sd->has_name = 1;
        }

        return;
    }

    /* whatsapp:+E164 (a bare +E164 gets the prefix) or meta:<digits> */
    if (ngx_http_broadcast_wa_sender(s, len, sd->addr) == 0) {
        return;
    }

invalid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST, "invalid_request",
        which == NGX_HTTP_BROADCAST_SENDERS_EMAIL
        ? "from_email must be an email address"
        : "from_address must be whatsapp:+E164 or meta:<phone-number-id>");
}


/* the configured senders: always allowed, never stored, never deleted */
static ngx_uint_t
ngx_http_broadcast_senders_configured(ngx_http_broadcast_senders_t *sd,
    const char *addr)
{
    return (sd->def[0] && strcmp(addr, sd->def) == 0)
           || (sd->meta_def[0] && strcmp(addr, sd->meta_def) == 0);
}


/* thread: the list, the configured ones first; NULL with ctx's error set */
static json_t *
ngx_http_broadcast_senders_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_senders_t *sd)
{
    int          email;
    const char  *sql;
    json_t      *list, *item;
    MYSQL_RES   *res;
    MYSQL_ROW    row;

    email = (sd->which == NGX_HTTP_BROADCAST_SENDERS_EMAIL);

    sql = email ? "SELECT from_email, from_name FROM email_senders ORDER BY id"
                : "SELECT from_address, NULL FROM whatsapp_senders "
                  "ORDER BY from_address";

    res = ngx_http_broadcast_sql_select(ctx, conn, sql, strlen(sql));
    if (res == NULL) {
        return NULL;
    }

    list = json_array();

    if (list && sd->def[0]) {
        item = email ? json_pack("{s:s,s:s?}", "from_email", sd->def,
                                 "from_name", sd->def_name[0] ? sd->def_name
                                                              : NULL)
                     : json_string(sd->def);
        json_array_append_new(list, item);
    }

    if (list && sd->meta_def[0]) {
        json_array_append_new(list, json_string(sd->meta_def));
    }

    while (list && (row = mysql_fetch_row(res)) != NULL) {
        if (row[0] == NULL || ngx_http_broadcast_senders_configured(sd, row[0]))
        {
            continue;
        }

        item = email ? json_pack("{s:s,s:s?}", "from_email", row[0],
                                 "from_name", row[1])
                     : json_string(row[0]);
        json_array_append_new(list, item);
    }

    mysql_free_result(res);

    if (list == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }

    return list;
}


/* thread: SADD/SREM of the mirror; 0 or -1 with ctx's error set */
static int
ngx_http_broadcast_senders_mirror(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_senders_t *sd)
{
    char         err[256];
    size_t       lens[3];
    redisReply  *reply;
    const char  *argv[3];

    argv[0] = sd->action == NGX_HTTP_BROADCAST_SENDERS_ADD ? "SADD" : "SREM";
    argv[1] = sd->which == NGX_HTTP_BROADCAST_SENDERS_EMAIL
              ? BC_KEY_SENDERS_EMAIL : BC_KEY_SENDERS_WHATSAPP;
    argv[2] = sd->addr;
    lens[0] = 4;
    lens[1] = strlen(argv[1]);
    lens[2] = strlen(sd->addr);

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 3, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                 reply ? reply->str : err);
        if (reply) {
            freeReplyObject(reply);
        }

        ngx_http_broadcast_api_redis_down(ctx);
        return -1;
    }

    freeReplyObject(reply);

    return 0;
}


static void
ngx_http_broadcast_senders_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_senders_t *sd = ctx->op_data;

    int          email, n;
    char         sql[2048], err[256], *qaddr, *qname;
    json_t      *list;
    const char  *status, *field;

    email = (sd->which == NGX_HTTP_BROADCAST_SENDERS_EMAIL);
    field = email ? "from_email" : "from_address";

    if (sd->action == NGX_HTTP_BROADCAST_SENDERS_LIST) {
        list = ngx_http_broadcast_senders_list(ctx, conn, sd);

        if (list) {
            ctx->result = json_pack("{s:o}", "senders", list);
        }

        return;
    }

    if (ngx_http_broadcast_senders_configured(sd, sd->addr)) {
        status = sd->action == NGX_HTTP_BROADCAST_SENDERS_ADD ? "exists"
                                                               : "protected";
        goto answer;
    }

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return;
    }

    qaddr = bc_db_quote(conn->mysql, sd->addr, strlen(sd->addr));
    qname = sd->has_name ? bc_db_quote(conn->mysql, sd->name, strlen(sd->name))
                         : NULL;

    if (qaddr == NULL || (sd->has_name && qname == NULL)) {
        free(qaddr);
        free(qname);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    if (sd->action == NGX_HTTP_BROADCAST_SENDERS_ADD) {
        n = email
            ? snprintf(sql, sizeof(sql), "INSERT IGNORE INTO email_senders "
                       "(from_email, from_name, created_at) VALUES "
                       "(%s, %s, UTC_TIMESTAMP(3))", qaddr,
                       qname ? qname : "NULL")
            : snprintf(sql, sizeof(sql), "INSERT IGNORE INTO whatsapp_senders "
                       "(from_address, created_at) VALUES "
                       "(%s, UTC_TIMESTAMP(3))", qaddr);

    } else {
        n = snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = %s",
                     email ? "email_senders" : "whatsapp_senders", field,
                     qaddr);
    }

    free(qaddr);
    free(qname);

    if (n <= 0 || (size_t) n >= sizeof(sql)
        || ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n, err,
                                          sizeof(err))
           != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        return;
    }

    if (sd->action == NGX_HTTP_BROADCAST_SENDERS_ADD) {
        status = mysql_affected_rows(conn->mysql) ? "added" : "exists";

    } else {
        status = mysql_affected_rows(conn->mysql) ? "deleted" : "not_found";
    }

    /* MySQL is the truth; the mirror is rewritten even when unchanged */
    if (ngx_http_broadcast_senders_mirror(ctx, conn, sd) != 0) {
        return;
    }

answer:

    list = ngx_http_broadcast_senders_list(ctx, conn, sd);
    if (list == NULL) {
        return;
    }

    ctx->result = json_pack("{s:s,s:s,s:o}", field, sd->addr, "status",
                            status, "senders", list);
}
