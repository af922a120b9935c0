/*
 * GET/POST /api/opt-outs, DELETE /api/opt-outs/{id} and the same for
 * /api/blacklist: the two lists the sender's claim consults before any
 * provider call (sender/claim.c). Addresses are stored in peer form (+E164,
 * lower-cased e-mail), the form the claim compares, so what is added here
 * matches every channel's recipients (a WhatsApp "whatsapp:+1..." too).
 * Listings page by id (keyset), never by OFFSET.
 *
 * The predecessor's /api/sms/opt-outs and /api/sms/blacklist are views of
 * the same tables in its shapes: SMS only, "phone" for "address".
 */


#include "ngx_http_broadcast_api.h"

#include "bc_addr.h"
#include "bc_phone.h"


#define NGX_HTTP_BROADCAST_COMPLIANCE_LIST   0
#define NGX_HTTP_BROADCAST_COMPLIANCE_ADD    1
#define NGX_HTTP_BROADCAST_COMPLIANCE_DEL    2

/* the columns' sizes: VARCHAR(255) counts characters */
#define NGX_HTTP_BROADCAST_COMPLIANCE_CHARS  255
#define NGX_HTTP_BROADCAST_COMPLIANCE_LIMIT  100
#define NGX_HTTP_BROADCAST_COMPLIANCE_MAX    1000

/* nginx names no 422 */
#define NGX_HTTP_BROADCAST_UNPROCESSABLE     422

#define NGX_HTTP_BROADCAST_COMPLIANCE_TS(c)                                   \
    "CONCAT(LEFT(DATE_FORMAT(" c ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"


/* what tells the two lists apart: one row per variant */
typedef struct {
    const char  *table;
    const char  *key;          /* the listing's member, the table's name */
    const char  *columns;      /* id, channel, address, reason, source, at */
    const char  *insert;       /* INSERT IGNORE ... VALUES ( */
    ngx_uint_t   channels;     /* has channel and source */
    const char  *field;        /* the address's member in JSON */
    const char  *scope;        /* the listing's extra WHERE */
    const char  *channel;      /* POST's fixed channel, or NULL */
    ngx_uint_t   legacy;       /* the predecessor's shape: phones only,
                                  "source" accepted, no "channel" */
} ngx_http_broadcast_compliance_list_t;


static const ngx_http_broadcast_compliance_list_t
    ngx_http_broadcast_compliance_lists[] =
{
    /* NGX_HTTP_BROADCAST_COMPLIANCE_OPT_OUTS */
    { "opt_outs", "opt_outs",
      "id,channel,address,reason,source,"
      NGX_HTTP_BROADCAST_COMPLIANCE_TS("created_at"),
      "INSERT IGNORE INTO opt_outs (address,channel,reason,source,"
      "created_at) VALUES (",
      1, "address", "", NULL, 0 },

    /* NGX_HTTP_BROADCAST_COMPLIANCE_BLACKLIST */
    { "blacklist", "blacklist",
      "id,NULL,address,reason,NULL,"
      NGX_HTTP_BROADCAST_COMPLIANCE_TS("created_at"),
      "INSERT IGNORE INTO blacklist (address,reason,created_at) VALUES (",
      0, "address", "", NULL, 0 },

    /*
     * NGX_HTTP_BROADCAST_COMPLIANCE_SMS_OPT_OUTS: the predecessor's opt-outs
     * were its SMS suppression list, so they list what blocks SMS and add
     * SMS opt-outs
     */
    { "opt_outs", "opt_outs",
      "id,channel,address,reason,source,"
      NGX_HTTP_BROADCAST_COMPLIANCE_TS("created_at"),
      "INSERT IGNORE INTO opt_outs (address,channel,reason,source,"
      "created_at) VALUES (",
      1, "phone", " AND channel IN ('','sms') AND address LIKE '+%'", "sms",
      1 },

    /* NGX_HTTP_BROADCAST_COMPLIANCE_SMS_BLACKLIST */
    { "blacklist", "blacklist",
      "id,NULL,address,reason,NULL,"
      NGX_HTTP_BROADCAST_COMPLIANCE_TS("created_at"),
      "INSERT IGNORE INTO blacklist (address,reason,created_at) VALUES (",
      0, "phone", " AND address LIKE '+%'", NULL, 1 },
};


/* the channels an opt-out may name; "" (absent) means every channel */
static const char  *ngx_http_broadcast_compliance_channels[] = {
    "sms", "whatsapp", "email", NULL
};


typedef struct {
    const ngx_http_broadcast_compliance_list_t  *list;
    ngx_uint_t   action;
    long long    id;                 /* DELETE */
    long long    cursor;             /* GET: rows after this id */
    ngx_uint_t   limit;
    ngx_uint_t   has_channel;        /* GET: filter on channel */
    char         channel[16];        /* "" = every channel */
    char         search[NGX_HTTP_BROADCAST_ADDR_MAX];
    char         address[NGX_HTTP_BROADCAST_ADDR_MAX];
    ngx_uint_t   has_reason;
    char         reason[NGX_HTTP_BROADCAST_COMPLIANCE_CHARS * 4 + 1];
    char         source[33];         /* opt_outs.source is VARCHAR(32) */
} ngx_http_broadcast_compliance_t;


static void ngx_http_broadcast_compliance_op(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_conn_t *conn);
static int ngx_http_broadcast_compliance_reason(
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_compliance_t *cd,
    json_t *json);


/* 0 when s is one of the channels (copied into out), -1 otherwise */
static int
ngx_http_broadcast_compliance_channel(const char *s, char *out, size_t size)
{
    if (!ngx_http_broadcast_sql_enum(ngx_http_broadcast_compliance_channels,
                                     s))
    {
        return -1;
    }

    ngx_cpystrn((u_char *) out, (u_char *) s, size);

    return 0;
}


/* GET's query: channel, search, limit, cursor; 0 or -1 with ctx's error */
static int
ngx_http_broadcast_compliance_query(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_compliance_t *cd)
{
    char     buf[64], *p;
    ssize_t  n;

    cd->limit = NGX_HTTP_BROADCAST_COMPLIANCE_LIMIT;

    if (ngx_http_broadcast_sql_keyset(r, ctx, &cd->limit,
                                      NGX_HTTP_BROADCAST_COMPLIANCE_MAX,
                                      &cd->cursor)
        != 0)
    {
        return -1;
    }

    n = ngx_http_broadcast_api_arg(r, "channel", buf, sizeof(buf));
    if (n > 0 && cd->list->channels && !cd->list->legacy) {
        /* "all" lists the opt-outs of every channel (stored as "") */
        if (ngx_strcmp(buf, "all") != 0
            && ngx_http_broadcast_compliance_channel(buf, cd->channel,
                                                     sizeof(cd->channel))
               != 0)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "channel must be sms, whatsapp, email or "
                "all");
            return -1;
        }

        cd->has_channel = 1;
    }

    n = ngx_http_broadcast_api_arg(r, "search", cd->search,
                                   sizeof(cd->search));
    if (n == -2) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "search must be at most %d bytes",
            NGX_HTTP_BROADCAST_ADDR_MAX - 1);
        return -1;
    }

    if (n < 0) {
        cd->search[0] = '\0';
    }

    /*
     * an address has no spaces: a space is an unescaped '+' of a phone
     * prefix ("search=+1415" decodes to " 1415"); stored e-mails are
     * lower-case
     */
    for (p = cd->search; *p; p++) {
        *p = (*p == ' ') ? '+' : ngx_tolower(*p);
    }

    return 0;
}


/* the stored form of an address: +E164 or a lower-cased e-mail */
static int
ngx_http_broadcast_compliance_address(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_compliance_t *cd,
    json_t *v, char *out)
{
    size_t                          len;
    const char                     *s, *reason;
    ngx_http_broadcast_loc_conf_t  *lcf;

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "%s is required: a phone number%s",
            cd->list->field, cd->list->legacy ? "" : " or an e-mail address");
        return -1;
    }

    if (len > NGX_HTTP_BROADCAST_COMPLIANCE_CHARS) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
            "field_too_long", "%s is longer than %d bytes", cd->list->field,
            NGX_HTTP_BROADCAST_COMPLIANCE_CHARS);
        return -1;
    }

    if (memchr(s, '@', len) != NULL && !cd->list->legacy) {
        if (bc_email_valid(s, len, out)) {
            return 0;
        }

        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
            "invalid_address", "address is not a valid e-mail address");
        return -1;
    }

    /* a WhatsApp recipient is stored as its number, as the claim reads it */
    if (len > 9 && ngx_strncmp(s, "whatsapp:", 9) == 0) {
        s += 9;
        len -= 9;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);
    reason = "not a phone number";

    if (len < BC_PHONE_MAX * 2
        && ngx_http_broadcast_phone(s, len,
                                    (char *) lcf->default_country.data, out,
                                    &reason)
           == 0)
    {
        return 0;
    }

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
        "invalid_address", "%s must be a phone number (E.164, or national "
        "for the default country)%s: %s", cd->list->field,
        cd->list->legacy ? "" : " or an e-mail address", reason);
    return -1;
}


/* the predecessor's optional "source" of an opt-out (default "api") */
static int
ngx_http_broadcast_compliance_source(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_compliance_t *cd, json_t *json)
{
    size_t       len;
    json_t      *v;
    const char  *s;

    v = json_object_get(json, "source");

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || len == 0 || len >= sizeof(cd->source)
        || strpbrk(s, "\r\n") != NULL || memchr(s, '\0', len) != NULL)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
            "invalid_source", "source must be a single-line string of 1 to "
            "%d bytes", (int) sizeof(cd->source) - 1);
        return -1;
    }

    ngx_memcpy(cd->source, s, len + 1);

    return 0;
}


/* POST's body: address, channel?, reason?; 0 or -1 with ctx's error */
static int
ngx_http_broadcast_compliance_body(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_compliance_t *cd,
    ngx_str_t *body)
{
    json_t  *json, *v;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return -1;
    }

    if (ngx_http_broadcast_compliance_address(r, ctx, cd,
            json_object_get(json, cd->list->field), cd->address)
        != 0)
    {
        return -1;
    }

    if (cd->list->legacy) {
        if (cd->list->channel) {
            ngx_cpystrn((u_char *) cd->channel, (u_char *) cd->list->channel,
                        sizeof(cd->channel));
        }

        if (ngx_http_broadcast_compliance_source(ctx, cd, json) != 0) {
            return -1;
        }

        return ngx_http_broadcast_compliance_reason(ctx, cd, json);
    }

    v = json_object_get(json, "channel");

    if (v && !json_is_null(v)) {
        if (!cd->list->channels) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                "invalid_channel", "the blacklist holds an address for "
                "every channel: send no channel");
            return -1;
        }

        if (!json_is_string(v)
            || ngx_http_broadcast_compliance_channel(json_string_value(v),
                   cd->channel, sizeof(cd->channel))
               != 0)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                "invalid_channel", "channel must be \"sms\", \"whatsapp\" "
                "or \"email\" (leave it out for every channel)");
            return -1;
        }
    }

    return ngx_http_broadcast_compliance_reason(ctx, cd, json);
}


/* the optional "reason"; 0 or -1 with ctx's error */
static int
ngx_http_broadcast_compliance_reason(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_compliance_t *cd, json_t *json)
{
    json_t  *v;

    v = json_object_get(json, "reason");

    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "reason must be a string");
            return -1;
        }

        /* jansson checked the UTF-8; the column counts characters */
        if (json_string_length(v) >= sizeof(cd->reason)
            || ngx_http_broadcast_utf8_chars(json_string_value(v),
                                             json_string_length(v))
               > NGX_HTTP_BROADCAST_COMPLIANCE_CHARS
            || memchr(json_string_value(v), '\0', json_string_length(v)))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                "field_too_long", "reason must be text of at most %d "
                "characters", NGX_HTTP_BROADCAST_COMPLIANCE_CHARS);
            return -1;
        }

        ngx_memcpy(cd->reason, json_string_value(v), json_string_length(v));
        cd->reason[json_string_length(v)] = '\0';
        cd->has_reason = 1;
    }

    return 0;
}


void
ngx_http_broadcast_compliance_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_http_broadcast_compliance_t  *cd;

    cd = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_compliance_t),
                                       ngx_http_broadcast_compliance_op,
                                       ngx_free);
    if (cd == NULL) {
        return;
    }

    cd->list = &ngx_http_broadcast_compliance_lists[args->variant];
    ngx_cpystrn((u_char *) cd->source, (u_char *) "api", sizeof(cd->source));

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        cd->action = NGX_HTTP_BROADCAST_COMPLIANCE_LIST;
        (void) ngx_http_broadcast_compliance_query(r, ctx, cd);
        return;
    }

    if (r->method & NGX_HTTP_DELETE) {
        cd->action = NGX_HTTP_BROADCAST_COMPLIANCE_DEL;
        cd->id = ngx_http_broadcast_sql_id(args->id.data,
                                                  args->id.len);
        if (cd->id < 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND,
                "not_found", "no %s entry with id \"%.*s\"", cd->list->key,
                (int) ngx_min(args->id.len, 64), args->id.data);
        }

        return;
    }

    cd->action = NGX_HTTP_BROADCAST_COMPLIANCE_ADD;
    (void) ngx_http_broadcast_compliance_body(r, ctx, cd, &args->body);
}


/* one row of either list as JSON (the blacklist has no channel/source) */
static json_t *
ngx_http_broadcast_compliance_row(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    ngx_http_broadcast_compliance_t *cd = data;

    json_t  *o;

    o = json_pack("{s:I,s:s?,s:s?,s:s?}",
                  "id", (json_int_t) strtoll(row[0], NULL, 10),
                  cd->list->field, row[2], "reason", row[3],
                  "created_at", row[5]);

    if (o == NULL || !cd->list->channels) {
        return o;
    }

    if ((!cd->list->legacy
         && json_object_set_new(o, "channel",
                                row[1] && row[1][0] ? json_string(row[1])
                                                    : json_null())
            != 0)
        || json_object_set_new(o, "source", row[4] ? json_string(row[4])
                                                   : json_null())
           != 0)
    {
        json_decref(o);
        return NULL;
    }

    return o;
}


/* the LIKE pattern of an address prefix: its wildcards escaped, then % */
static char *
ngx_http_broadcast_compliance_like(MYSQL *m, const char *s)
{
    char    pat[NGX_HTTP_BROADCAST_ADDR_MAX * 2 + 2], *p;

    for (p = pat; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\') {
            *p++ = '\\';
        }

        *p++ = *s;
    }

    *p++ = '%';

    return bc_db_quote(m, pat, p - pat);
}


/* thread: a page of rows after the cursor, by id */
static void
ngx_http_broadcast_compliance_list(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_compliance_t *cd)
{
    int         n;
    char        sql[2048], *like, *ch;
    MYSQL_RES  *res;

    like = cd->search[0]
           ? ngx_http_broadcast_compliance_like(conn->mysql, cd->search)
           : NULL;
    ch = cd->has_channel
         ? bc_db_quote(conn->mysql, cd->channel, strlen(cd->channel)) : NULL;

    if ((cd->search[0] && like == NULL) || (cd->has_channel && ch == NULL)) {
        free(like);
        free(ch);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    /* one row more than asked tells whether there is a next page */
    n = snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE id > %lld%s%s%s"
                 "%s%s ORDER BY id LIMIT %u", cd->list->columns,
                 cd->list->table, cd->cursor, cd->list->scope,
                 ch ? " AND channel = " : "",
                 ch ? ch : "", like ? " AND address LIKE " : "",
                 like ? like : "", (unsigned) cd->limit + 1);

    free(like);
    free(ch);

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return;
    }

    /* the cursor is a string: opaque to clients, whatever it holds later */
    (void) ngx_http_broadcast_sql_page_result(ctx, res, cd->limit,
               ngx_http_broadcast_compliance_row, cd, cd->list->key);
}


/*
 * thread: the row of the address (and channel) into ctx->result: 1, or 0
 * if there is none, -1 with ctx's error. With "covering", any row that
 * already blocks the channel (the every-channel one first) will do.
 */
static int
ngx_http_broadcast_compliance_fetch(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_compliance_t *cd,
    const char *addr, const char *ch, ngx_uint_t covering)
{
    int         n, found;
    char        sql[2048];
    MYSQL_RES  *res;
    MYSQL_ROW   row;

    n = snprintf(sql, sizeof(sql),
                 "SELECT %s FROM %s WHERE address = %s%s%s%s",
                 cd->list->columns, cd->list->table, addr,
                 !cd->list->channels ? ""
                 : covering ? " AND channel IN ('', " : " AND channel = ",
                 cd->list->channels ? ch : "",
                 !cd->list->channels ? ""
                 : covering ? ") ORDER BY channel LIMIT 1" : "");

    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(res);
    found = (row != NULL);

    if (found) {
        ctx->result = ngx_http_broadcast_compliance_row(cd, row, NULL);
    }

    mysql_free_result(res);

    if (found && ctx->result == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    return found;
}


/* thread: INSERT IGNORE, then the row (new: 201, already there: 200) */
static void
ngx_http_broadcast_compliance_add(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_compliance_t *cd)
{
    int            n;
    char           sql[4096], err[256], *addr, *reason, *ch, *src;
    my_ulonglong   added;

    addr = bc_db_quote(conn->mysql, cd->address, strlen(cd->address));
    reason = cd->has_reason
             ? bc_db_quote(conn->mysql, cd->reason, strlen(cd->reason))
             : NULL;
    ch = bc_db_quote(conn->mysql, cd->channel, strlen(cd->channel));
    src = bc_db_quote(conn->mysql, cd->source, strlen(cd->source));

    if (addr == NULL || ch == NULL || src == NULL
        || (cd->has_reason && reason == NULL))
    {
        goto nomem;
    }

    /*
     * the predecessor's opt-outs are idempotent by phone: an every-channel
     * opt-out of that phone already is its SMS opt-out
     */
    if (cd->list->legacy && cd->list->channels
        && ngx_http_broadcast_compliance_fetch(ctx, conn, cd, addr, ch, 1)
           != 0)
    {
        goto done;
    }

    n = cd->list->channels
        ? snprintf(sql, sizeof(sql), "%s%s,%s,%s,%s,UTC_TIMESTAMP(3))",
                   cd->list->insert, addr, ch, reason ? reason : "NULL", src)
        : snprintf(sql, sizeof(sql), "%s%s,%s,UTC_TIMESTAMP(3))",
                   cd->list->insert, addr, reason ? reason : "NULL");

    if (n <= 0 || (size_t) n >= sizeof(sql)) {
        goto nomem;
    }

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n, err,
                                       sizeof(err))
        != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        goto done;
    }

    added = mysql_affected_rows(conn->mysql);

    switch (ngx_http_broadcast_compliance_fetch(ctx, conn, cd, addr, ch, 0)) {

    case 1:
        ctx->status = (added == 1) ? NGX_HTTP_CREATED : NGX_HTTP_OK;
        break;

    case 0:
        /* deleted between the two statements */
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT, "conflict",
            "the entry was deleted while it was being added: retry");
        break;
    }

    goto done;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");

done:

    free(addr);
    free(reason);
    free(ch);
    free(src);
}


static void
ngx_http_broadcast_compliance_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_compliance_t *cd = ctx->op_data;

    int   n;
    char  sql[256], err[256], what[64];

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return;
    }

    switch (cd->action) {

    case NGX_HTTP_BROADCAST_COMPLIANCE_LIST:
        ngx_http_broadcast_compliance_list(ctx, conn, cd);
        return;

    case NGX_HTTP_BROADCAST_COMPLIANCE_ADD:
        ngx_http_broadcast_compliance_add(ctx, conn, cd);
        return;
    }

    n = snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = %lld",
                 cd->list->table, cd->id);

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n, err,
                                       sizeof(err))
        != 0)
    {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_mysql_down(ctx);
        return;
    }

    snprintf(what, sizeof(what), "%s entry", cd->list->key);
    ngx_http_broadcast_sql_deleted(ctx, conn, what, cd->id);
}
