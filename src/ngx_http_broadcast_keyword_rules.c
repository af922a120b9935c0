/*
 * GET/POST /api/keyword-rules, GET/PATCH/DELETE /api/keyword-rules/{id}:
 * the auto-reply rules the sender's recorder matches inbound SMS and
 * WhatsApp texts against (sender/keywords.c). A regex is compiled here with
 * PCRE2 when it is written, so that a rule the sender cannot run is refused
 * with 422 invalid_regex instead of never matching. Listings page by id.
 */


#include "ngx_http_broadcast_api.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>


#define NGX_HTTP_BROADCAST_KR_LIST      0
#define NGX_HTTP_BROADCAST_KR_ADD       1
#define NGX_HTTP_BROADCAST_KR_GET       2
#define NGX_HTTP_BROADCAST_KR_PATCH     3
#define NGX_HTTP_BROADCAST_KR_DEL       4

/* the columns' sizes in characters (VARCHAR counts characters) */
#define NGX_HTTP_BROADCAST_KR_KEYWORD   255
#define NGX_HTTP_BROADCAST_KR_RESPONSE  1600
#define NGX_HTTP_BROADCAST_KR_LIMIT     100
#define NGX_HTTP_BROADCAST_KR_MAX       1000

#define NGX_HTTP_BROADCAST_UNPROCESSABLE  422

#define NGX_HTTP_BROADCAST_KR_TS(c)                                           \
    "CONCAT(LEFT(DATE_FORMAT(" c ",'%Y-%m-%dT%H:%i:%s.%f'),23),'Z')"

#define NGX_HTTP_BROADCAST_KR_COLUMNS                                         \
    "id,keyword,match_type,channel,response_text,enabled,"                    \
    NGX_HTTP_BROADCAST_KR_TS("created_at") ","                                \
    NGX_HTTP_BROADCAST_KR_TS("updated_at")


typedef struct {
    ngx_uint_t   action;
    long long    id;
    long long    cursor;
    ngx_uint_t   limit;
    /* the fields given (PATCH: each optional; POST: merged defaults) */
    ngx_uint_t   has_keyword, has_match, has_channel, has_response,
                 has_enabled;
    char         keyword[NGX_HTTP_BROADCAST_KR_KEYWORD * 4 + 1];
    char         match[16];
    char         channel[16];            /* "" = every channel (NULL) */
    char         response[NGX_HTTP_BROADCAST_KR_RESPONSE * 4 + 1];
    ngx_uint_t   enabled;
} ngx_http_broadcast_kr_t;


/* a text field: what is stored, its limit, and its 422 */
typedef struct {
    const char  *name;
    size_t       offset;
    size_t       size;
    size_t       chars;
    size_t       has;
} ngx_http_broadcast_kr_text_t;


static const ngx_http_broadcast_kr_text_t  ngx_http_broadcast_kr_texts[] = {
    { "keyword", offsetof(ngx_http_broadcast_kr_t, keyword),
      sizeof(((ngx_http_broadcast_kr_t *) 0)->keyword),
      NGX_HTTP_BROADCAST_KR_KEYWORD,
      offsetof(ngx_http_broadcast_kr_t, has_keyword) },
    { "response_text", offsetof(ngx_http_broadcast_kr_t, response),
      sizeof(((ngx_http_broadcast_kr_t *) 0)->response),
      NGX_HTTP_BROADCAST_KR_RESPONSE,
      offsetof(ngx_http_broadcast_kr_t, has_response) },
};


static const char  *ngx_http_broadcast_kr_matches[] = {
    "exact", "contains", "regex", NULL
};

static const char  *ngx_http_broadcast_kr_channels[] = {
    "sms", "whatsapp", NULL
};


static void ngx_http_broadcast_kr_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


/*
 * 0 if the pattern compiles as the sender compiles it (caseless, UTF),
 * else -1 with a 422 that says where and why
 */
static int
ngx_http_broadcast_kr_regex(ngx_http_broadcast_api_ctx_t *ctx,
    const char *pattern)
{
    int          err;
    u_char       msg[256];
    PCRE2_SIZE   off;
    pcre2_code  *re;

    re = pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED,
                       PCRE2_CASELESS|PCRE2_UTF, &err, &off, NULL);
    if (re != NULL) {
        pcre2_code_free(re);
        return 0;
    }

    if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0) {
        ngx_cpystrn(msg, (u_char *) "invalid pattern", sizeof(msg));
    }

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
        "invalid_regex", "keyword is not a valid PCRE2 regular expression: "
        "%s at offset %d", msg, (int) off);
    return -1;
}


/* the text fields of the body; 0 or -1 with ctx's error */
static int
ngx_http_broadcast_kr_texts_of(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_kr_t *kr, json_t *json)
{
    size_t                               len;
    ngx_uint_t                           i;
    json_t                              *v;
    const char                          *s;
    const ngx_http_broadcast_kr_text_t  *t;

    for (i = 0; i < sizeof(ngx_http_broadcast_kr_texts)
                    / sizeof(ngx_http_broadcast_kr_texts[0]); i++)
    {
        t = &ngx_http_broadcast_kr_texts[i];
        v = json_object_get(json, t->name);

        if (v == NULL) {
            continue;
        }

        s = json_string_value(v);
        len = json_string_length(v);

        if (s == NULL || len == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                "invalid_request", "%s must be a non-empty string", t->name);
            return -1;
        }

        /* jansson checked the UTF-8; the column counts characters */
        if (len >= t->size
            || ngx_http_broadcast_utf8_chars(s, len) > t->chars
            || memchr(s, '\0', len))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                "field_too_long", "%s must be text of at most %d characters",
                t->name, (int) t->chars);
            return -1;
        }

        ngx_memcpy((char *) kr + t->offset, s, len);
        ((char *) kr + t->offset)[len] = '\0';
        *(ngx_uint_t *) ((char *) kr + t->has) = 1;
    }

    return 0;
}


/* the body of POST or PATCH; 0 or -1 with ctx's error */
static int
ngx_http_broadcast_kr_body(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_kr_t *kr,
    ngx_str_t *body)
{
    json_t      *json, *v;
    const char  *s;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return -1;
    }

    if (ngx_http_broadcast_kr_texts_of(ctx, kr, json) != 0) {
        return -1;
    }

    v = json_object_get(json, "match_type");
    if (v != NULL) {
        s = json_string_value(v);

        if (s == NULL
            || !ngx_http_broadcast_sql_enum(ngx_http_broadcast_kr_matches, s))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                "invalid_match_type", "match_type must be \"exact\", "
                "\"contains\" or \"regex\"");
            return -1;
        }

        ngx_cpystrn((u_char *) kr->match, (u_char *) s, sizeof(kr->match));
        kr->has_match = 1;
    }

    v = json_object_get(json, "channel");
    if (v != NULL) {
        s = json_string_value(v);

        if (!json_is_null(v)
            && (s == NULL
                || !ngx_http_broadcast_sql_enum(
                        ngx_http_broadcast_kr_channels, s)))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
                "invalid_channel", "channel must be \"sms\", \"whatsapp\" "
                "or null (every channel)");
            return -1;
        }

        ngx_cpystrn((u_char *) kr->channel, (u_char *) (s ? s : ""),
                    sizeof(kr->channel));
        kr->has_channel = 1;
    }

    v = json_object_get(json, "enabled");
    if (v != NULL) {
        if (!json_is_boolean(v)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "enabled must be true or false");
            return -1;
        }

        kr->enabled = json_is_true(v);
        kr->has_enabled = 1;
    }

    if (kr->action == NGX_HTTP_BROADCAST_KR_PATCH) {
        if (!kr->has_keyword && !kr->has_match && !kr->has_channel
            && !kr->has_response && !kr->has_enabled)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "give at least one of keyword, "
                "match_type, channel, response_text, enabled");
            return -1;
        }

        /* the stored match type decides: checked in the thread */
        return 0;
    }

    if (!kr->has_keyword || !kr->has_response) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
            "invalid_request", "keyword and response_text are required");
        return -1;
    }

    if (!kr->has_match) {
        ngx_cpystrn((u_char *) kr->match, (u_char *) "exact",
                    sizeof(kr->match));
    }

    if (!kr->has_enabled) {
        kr->enabled = 1;
    }

    if (ngx_strcmp(kr->match, "regex") == 0) {
        return ngx_http_broadcast_kr_regex(ctx, kr->keyword);
    }

    return 0;
}


/* GET's query: limit, cursor; 0 or -1 with ctx's error */
static int
ngx_http_broadcast_kr_query(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_kr_t *kr)
{
    kr->limit = NGX_HTTP_BROADCAST_KR_LIMIT;

    return ngx_http_broadcast_sql_keyset(r, ctx, &kr->limit,
                                         NGX_HTTP_BROADCAST_KR_MAX,
                                         &kr->cursor);
}


void
ngx_http_broadcast_keyword_rules_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_http_broadcast_kr_t  *kr;

    kr = ngx_http_broadcast_api_op_new(r, ctx, sizeof(ngx_http_broadcast_kr_t),
                                       ngx_http_broadcast_kr_op, ngx_free);
    if (kr == NULL) {
        return;
    }

    if (args->id.len == 0) {
        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            kr->action = NGX_HTTP_BROADCAST_KR_LIST;
            (void) ngx_http_broadcast_kr_query(r, ctx, kr);
            return;
        }

        kr->action = NGX_HTTP_BROADCAST_KR_ADD;
        (void) ngx_http_broadcast_kr_body(r, ctx, kr, &args->body);
        return;
    }

    kr->action = (r->method & NGX_HTTP_DELETE) ? NGX_HTTP_BROADCAST_KR_DEL
                 : (r->method & NGX_HTTP_PATCH) ? NGX_HTTP_BROADCAST_KR_PATCH
                 : NGX_HTTP_BROADCAST_KR_GET;

    kr->id = ngx_http_broadcast_sql_id(args->id.data, args->id.len);
    if (kr->id < 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
            "no keyword rule with id \"%.*s\"",
            (int) ngx_min(args->id.len, 64), args->id.data);
        return;
    }

    if (kr->action == NGX_HTTP_BROADCAST_KR_PATCH) {
        (void) ngx_http_broadcast_kr_body(r, ctx, kr, &args->body);
    }
}


/* ---- thread -------------------------------------------------------------- */


/* one row of NGX_HTTP_BROADCAST_KR_COLUMNS as JSON */
static json_t *
ngx_http_broadcast_kr_row(void *data, MYSQL_ROW row, unsigned long *lengths)
{
    return json_pack("{s:I,s:s,s:s,s:s?,s:s,s:b,s:s,s:s}",
                     "id", (json_int_t) strtoll(row[0], NULL, 10),
                     "keyword", row[1], "match_type", row[2],
                     "channel", row[3], "response_text", row[4],
                     "enabled", row[5] != NULL && row[5][0] == '1',
                     "created_at", row[6], "updated_at", row[7]);
}


/* thread: runs sql; 0, or -1 with ctx's error (a duplicate of the UNIQUE
   keyword, match_type, channel: 409 rule_exists) */
static int
ngx_http_broadcast_kr_query_sql(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, const char *sql, size_t n)
{
    char  err[256];

    if (ngx_http_broadcast_mysql_query(conn, ctx->mcf, sql, n, err,
                                       sizeof(err))
        == 0)
    {
        return 0;
    }

    if (conn->mysql != NULL && mysql_errno(conn->mysql) == 1062) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT, "rule_exists",
            "a rule with this keyword, match_type and channel exists: "
            "change that one (PATCH) instead");
        return -1;
    }

    snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
    ngx_http_broadcast_api_mysql_down(ctx);
    return -1;
}


/*
 * thread: SELECT ... by id (or the page after the cursor) into
 * ctx->result; the rule: 1 found, 0 not (404 set), -1 error
 */
static int
ngx_http_broadcast_kr_select(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_kr_t *kr,
    ngx_uint_t one)
{
    int         n;
    char        sql[1024];
    json_t     *list;
    MYSQL_RES  *res;

    /* the columns are an argument: their DATE_FORMAT has '%' in it */
    n = one ? snprintf(sql, sizeof(sql), "SELECT %s FROM keyword_rules "
                       "WHERE id = %lld", NGX_HTTP_BROADCAST_KR_COLUMNS,
                       kr->id)
            : snprintf(sql, sizeof(sql), "SELECT %s FROM keyword_rules "
                       "WHERE id > %lld ORDER BY id LIMIT %u",
                       NGX_HTTP_BROADCAST_KR_COLUMNS, kr->cursor,
                       (unsigned) kr->limit + 1);

    if (ngx_http_broadcast_kr_query_sql(ctx, conn, sql, n) != 0) {
        return -1;
    }

    res = ngx_http_broadcast_sql_store(ctx, conn);
    if (res == NULL) {
        return -1;
    }

    list = ngx_http_broadcast_sql_page(ctx, res, kr->limit,
                                       ngx_http_broadcast_kr_row, NULL,
                                       sql, sizeof(sql));
    if (list == NULL) {
        return -1;
    }

    if (one) {
        return ngx_http_broadcast_sql_one(ctx, list, "keyword rule", kr->id);
    }

    ctx->result = json_pack("{s:o,s:s?}", "keyword_rules", list,
                            "next_cursor", sql[0] ? sql : NULL);
    return 1;
}


/* thread: PATCH's fields not given, from the stored rule; then the regex
   check of the merged rule. 0, or -1 with ctx's error */
static int
ngx_http_broadcast_kr_merge(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_kr_t *kr)
{
    json_t      *old;
    const char  *s;

    kr->limit = 1;

    if (ngx_http_broadcast_kr_select(ctx, conn, kr, 1) != 1) {
        return -1;
    }

    old = ctx->result;
    ctx->result = NULL;

#define NGX_HTTP_BROADCAST_KR_KEEP(has, field, member)                        \
    if (!kr->has) {                                                           \
        s = json_string_value(json_object_get(old, member));                  \
        ngx_cpystrn((u_char *) kr->field, (u_char *) (s ? s : ""),           \
                    sizeof(kr->field));                                       \
    }

    NGX_HTTP_BROADCAST_KR_KEEP(has_keyword, keyword, "keyword");
    NGX_HTTP_BROADCAST_KR_KEEP(has_match, match, "match_type");
    NGX_HTTP_BROADCAST_KR_KEEP(has_channel, channel, "channel");
    NGX_HTTP_BROADCAST_KR_KEEP(has_response, response, "response_text");

#undef NGX_HTTP_BROADCAST_KR_KEEP

    if (!kr->has_enabled) {
        kr->enabled = json_is_true(json_object_get(old, "enabled"));
    }

    json_decref(old);

    if (ngx_strcmp(kr->match, "regex") == 0) {
        return ngx_http_broadcast_kr_regex(ctx, kr->keyword);
    }

    return 0;
}


/* thread: INSERT (POST) or UPDATE (PATCH) of the rule, then the row */
static void
ngx_http_broadcast_kr_write(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_kr_t *kr)
{
    int    n;
    char  *kw, *resp, *ch, *sql;

    if (kr->action == NGX_HTTP_BROADCAST_KR_PATCH
        && ngx_http_broadcast_kr_merge(ctx, conn, kr) != 0)
    {
        return;
    }

    kw = bc_db_quote(conn->mysql, kr->keyword, strlen(kr->keyword));
    resp = bc_db_quote(conn->mysql, kr->response, strlen(kr->response));
    ch = kr->channel[0]
         ? bc_db_quote(conn->mysql, kr->channel, strlen(kr->channel)) : NULL;
    sql = malloc(sizeof(kr->keyword) * 2 + sizeof(kr->response) * 2 + 512);

    if (kw == NULL || resp == NULL || sql == NULL
        || (kr->channel[0] && ch == NULL))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        goto done;
    }

    /* match_type is one of the table's words, checked in the loop */
    n = kr->action == NGX_HTTP_BROADCAST_KR_ADD
        ? sprintf(sql, "INSERT INTO keyword_rules (keyword,match_type,channel,"
                  "response_text,enabled,created_at,updated_at) VALUES "
                  "(%s,'%s',%s,%s,%d,UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))",
                  kw, kr->match, ch ? ch : "NULL", resp, kr->enabled ? 1 : 0)
        : sprintf(sql, "UPDATE keyword_rules SET keyword=%s,match_type='%s',"
                  "channel=%s,response_text=%s,enabled=%d,"
                  "updated_at=UTC_TIMESTAMP(3) WHERE id=%lld",
                  kw, kr->match, ch ? ch : "NULL", resp, kr->enabled ? 1 : 0,
                  kr->id);

    if (ngx_http_broadcast_kr_query_sql(ctx, conn, sql, n) != 0) {
        goto done;
    }

    if (kr->action == NGX_HTTP_BROADCAST_KR_ADD) {
        kr->id = (long long) mysql_insert_id(conn->mysql);
    }

    kr->limit = 1;

    if (ngx_http_broadcast_kr_select(ctx, conn, kr, 1) == 1
        && kr->action == NGX_HTTP_BROADCAST_KR_ADD)
    {
        ctx->status = NGX_HTTP_CREATED;
    }

done:

    free(kw);
    free(resp);
    free(ch);
    free(sql);
}


static void
ngx_http_broadcast_kr_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_kr_t *kr = ctx->op_data;

    int   n;
    char  sql[128];

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return;
    }

    switch (kr->action) {

    case NGX_HTTP_BROADCAST_KR_LIST:
        (void) ngx_http_broadcast_kr_select(ctx, conn, kr, 0);
        return;

    case NGX_HTTP_BROADCAST_KR_GET:
        kr->limit = 1;
        (void) ngx_http_broadcast_kr_select(ctx, conn, kr, 1);
        return;

    case NGX_HTTP_BROADCAST_KR_ADD:
    case NGX_HTTP_BROADCAST_KR_PATCH:
        ngx_http_broadcast_kr_write(ctx, conn, kr);
        return;
    }

    n = snprintf(sql, sizeof(sql), "DELETE FROM keyword_rules WHERE id = %lld",
                 kr->id);

    if (ngx_http_broadcast_kr_query_sql(ctx, conn, sql, n) == 0) {
        ngx_http_broadcast_sql_deleted(ctx, conn, "keyword rule", kr->id);
    }
}
