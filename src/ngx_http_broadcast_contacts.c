/*
 * POST /api/contacts, GET/PATCH/DELETE /api/contacts/{id}: one contact of
 * sql/006_contacts.sql. The loop checks and normalises every field (phone
 * and WhatsApp to +E164, e-mail lower-cased, tags trimmed and deduplicated,
 * attributes to compact JSON); the thread writes the contact and its tags
 * in one transaction. The UNIQUE keys on the addresses are the truth about
 * "an address belongs to one contact": a duplicate found by the look-up or
 * by the key itself (a concurrent write) answers 409 contact_exists.
 */


#include "ngx_http_broadcast_contacts.h"

#include "bc_phone.h"

#include <stdarg.h>


#define NGX_HTTP_BROADCAST_CONTACT_CREATE  0
#define NGX_HTTP_BROADCAST_CONTACT_GET     1
#define NGX_HTTP_BROADCAST_CONTACT_PATCH   2
#define NGX_HTTP_BROADCAST_CONTACT_DELETE  3

#define NGX_HTTP_BROADCAST_CF_NAME      0x01
#define NGX_HTTP_BROADCAST_CF_PHONE     0x02
#define NGX_HTTP_BROADCAST_CF_WHATSAPP  0x04
#define NGX_HTTP_BROADCAST_CF_EMAIL     0x08
#define NGX_HTTP_BROADCAST_CF_LOCALE    0x10
#define NGX_HTTP_BROADCAST_CF_TIMEZONE  0x20
#define NGX_HTTP_BROADCAST_CF_ATTRS     0x40
#define NGX_HTTP_BROADCAST_CF_TAGS      0x80

#define NGX_HTTP_BROADCAST_CF_ADDRS                                           \
    (NGX_HTTP_BROADCAST_CF_PHONE|NGX_HTTP_BROADCAST_CF_WHATSAPP              \
     |NGX_HTTP_BROADCAST_CF_EMAIL)

#define NGX_HTTP_BROADCAST_CONTACT_TAGS_MAX   100
#define NGX_HTTP_BROADCAST_CONTACT_NAME_MAX   255
#define NGX_HTTP_BROADCAST_CONTACT_ATTRS_MAX  65536

#define NGX_HTTP_BROADCAST_ER_DUP_ENTRY       1062

/* nginx has no name for 422 */
#define NGX_HTTP_BROADCAST_UNPROCESSABLE      422


typedef struct {
    ngx_uint_t   action;
    long long    id;
    ngx_uint_t   set;       /* CF_ bits given in the body */
    ngx_uint_t   nulls;     /* CF_ bits given as null (or "") */
    char         name[NGX_HTTP_BROADCAST_CONTACT_NAME_MAX * 4 + 1];
    char         phone[BC_PHONE_MAX];
    char         whatsapp[BC_PHONE_MAX];
    char         email[BC_EMAIL_MAX + 1];
    char         locale[36];
    char         timezone[65];
    char        *attrs;     /* malloc'd compact JSON */
    ngx_uint_t   ntags;
    char         tags[NGX_HTTP_BROADCAST_CONTACT_TAGS_MAX]
                     [NGX_HTTP_BROADCAST_TAG_SIZE];
    char         country[8];
} ngx_http_broadcast_contact_t;


/* loop: one field's value (not null) into ct; 0, or -1 with *why set */
typedef int (*ngx_http_broadcast_cfield_pt)(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);

typedef struct {
    const char                    *key;       /* JSON and column name */
    ngx_uint_t                     bit;
    ngx_http_broadcast_cfield_pt   parse;
    size_t                         offset;    /* char[] in the contact, */
    size_t                         size;      /* or 0: not a plain column */
} ngx_http_broadcast_cfield_t;


static int ngx_http_broadcast_cfield_name(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);
static int ngx_http_broadcast_cfield_phone(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);
static int ngx_http_broadcast_cfield_email(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);
static int ngx_http_broadcast_cfield_locale(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);
static int ngx_http_broadcast_cfield_tz(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);
static int ngx_http_broadcast_cfield_attrs(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);
static int ngx_http_broadcast_cfield_tags(ngx_http_broadcast_contact_t *ct,
    json_t *v, char *out, size_t size, const char **why);

static void ngx_http_broadcast_contact_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_contact_free(void *data);


#define ngx_http_broadcast_cfield_col(f)                                      \
    offsetof(ngx_http_broadcast_contact_t, f),                                \
    sizeof(((ngx_http_broadcast_contact_t *) 0)->f)

/* the fields of a contact's request body; the order is the SQL's */
static const ngx_http_broadcast_cfield_t  ngx_http_broadcast_cfields[] = {
    { "name", NGX_HTTP_BROADCAST_CF_NAME, ngx_http_broadcast_cfield_name,
      ngx_http_broadcast_cfield_col(name) },
    { "phone", NGX_HTTP_BROADCAST_CF_PHONE, ngx_http_broadcast_cfield_phone,
      ngx_http_broadcast_cfield_col(phone) },
    { "whatsapp", NGX_HTTP_BROADCAST_CF_WHATSAPP,
      ngx_http_broadcast_cfield_phone,
      ngx_http_broadcast_cfield_col(whatsapp) },
    { "email", NGX_HTTP_BROADCAST_CF_EMAIL, ngx_http_broadcast_cfield_email,
      ngx_http_broadcast_cfield_col(email) },
    { "locale", NGX_HTTP_BROADCAST_CF_LOCALE, ngx_http_broadcast_cfield_locale,
      ngx_http_broadcast_cfield_col(locale) },
    { "timezone", NGX_HTTP_BROADCAST_CF_TIMEZONE, ngx_http_broadcast_cfield_tz,
      ngx_http_broadcast_cfield_col(timezone) },
    { "attributes", NGX_HTTP_BROADCAST_CF_ATTRS,
      ngx_http_broadcast_cfield_attrs, 0, 0 },
    { "tags", NGX_HTTP_BROADCAST_CF_TAGS, ngx_http_broadcast_cfield_tags,
      0, 0 },
};


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


/* ----------------------------------------------------------- the loop */


static void
ngx_http_broadcast_contact_trim(const char **s, size_t *len)
{
    while (*len && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
        (*s)++;
        (*len)--;
    }

    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) {
        (*len)--;
    }
}


/* 1 if s has a control character (a newline in a tag or a name) */
static int
ngx_http_broadcast_contact_ctl(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((u_char) s[i] < 0x20 || s[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


int
ngx_http_broadcast_contact_tag(const char *in, size_t len, char *out,
    const char **why)
{
    size_t  chars;

    ngx_http_broadcast_contact_trim(&in, &len);

    chars = ngx_http_broadcast_utf8_chars(in, len);

    if (len == 0 || chars > NGX_HTTP_BROADCAST_TAG_CHARS
        || len >= NGX_HTTP_BROADCAST_TAG_SIZE)
    {
        *why = "a tag must have 1 to 64 characters (after trimming spaces)";
        return -1;
    }

    if (ngx_http_broadcast_contact_ctl(in, len)) {
        *why = "a tag must not contain control characters";
        return -1;
    }

    /* every tag must be a path segment of DELETE /api/contacts/tags/{tag} */
    if (memchr(in, '/', len) != NULL || (len == 1 && in[0] == '.')
        || (len == 2 && in[0] == '.' && in[1] == '.'))
    {
        *why = "a tag must not contain '/' nor be \".\" or \"..\"";
        return -1;
    }

    ngx_memcpy(out, in, len);
    out[len] = '\0';

    return 0;
}


static int
ngx_http_broadcast_cfield_name(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    size_t       len;
    const char  *s;

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL) {
        *why = "name must be a string";
        return -1;
    }

    ngx_http_broadcast_contact_trim(&s, &len);

    if (len >= size || ngx_http_broadcast_utf8_chars(s, len)
                       > NGX_HTTP_BROADCAST_CONTACT_NAME_MAX)
    {
        *why = "name must have at most 255 characters";
        return -1;
    }

    if (ngx_http_broadcast_contact_ctl(s, len)) {
        *why = "name must be one line without control characters";
        return -1;
    }

    ngx_memcpy(out, s, len);
    out[len] = '\0';

    return 0;
}


static int
ngx_http_broadcast_cfield_phone(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    size_t       len;
    const char  *s, *reason;

    s = json_string_value(v);
    len = json_string_length(v);

    /* bc_phone_normalize takes the optional "whatsapp:" prefix itself */
    if (s == NULL
        || ngx_http_broadcast_phone(s, len, ct->country, out, &reason) != 0)
    {
        *why = "phone and whatsapp must be phone numbers, E.164 such as "
               "+14155550100 or national for the configured default "
               "country (whatsapp may start with \"whatsapp:\")";
        return -1;
    }

    return 0;
}


static int
ngx_http_broadcast_cfield_email(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    size_t       len;
    const char  *s;

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL) {
        goto invalid;
    }

    ngx_http_broadcast_contact_trim(&s, &len);

    if (bc_email_valid(s, len, out)) {
        return 0;
    }

invalid:

    *why = "email must be an e-mail address of at most 254 characters";
    return -1;
}


/* BCP 47 by shape: a 2-8 letter language, then subtags of 1-8 alnum */
static int
ngx_http_broadcast_cfield_locale(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    size_t       len, i, n, sub;
    const char  *s;

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || len == 0 || len >= size) {
        goto invalid;
    }

    n = 0;
    sub = 0;

    for (i = 0; i <= len; i++) {
        if (i == len || s[i] == '-') {
            if (n == 0 || n > 8 || (sub == 0 && n < 2)) {
                goto invalid;
            }

            sub++;
            n = 0;
            continue;
        }

        if (!(isalpha((u_char) s[i])
              || (sub > 0 && isdigit((u_char) s[i]))))
        {
            goto invalid;
        }

        n++;
    }

    ngx_memcpy(out, s, len);
    out[len] = '\0';

    return 0;

invalid:

    *why = "locale must be a BCP 47 language tag such as \"en\" or "
           "\"pt-BR\" (at most 35 characters)";
    return -1;
}


/* IANA by shape: "UTC", or Area/Location with letters, digits, _ + - */
static int
ngx_http_broadcast_cfield_tz(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    size_t       len, i, n;
    const char  *s;

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || len == 0 || len >= size || !isalpha((u_char) s[0])) {
        goto invalid;
    }

    n = 0;

    for (i = 0; i <= len; i++) {
        if (i == len || s[i] == '/') {
            if (n == 0) {
                goto invalid;
            }

            n = 0;
            continue;
        }

        if (!(isalnum((u_char) s[i]) || s[i] == '_' || s[i] == '+'
              || s[i] == '-'))
        {
            goto invalid;
        }

        n++;
    }

    ngx_memcpy(out, s, len);
    out[len] = '\0';

    return 0;

invalid:

    *why = "timezone must be an IANA time zone such as \"Europe/Berlin\" "
           "or \"UTC\" (at most 64 characters)";
    return -1;
}


static int
ngx_http_broadcast_cfield_attrs(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    if (!json_is_object(v)) {
        *why = "attributes must be a JSON object";
        return -1;
    }

    ct->attrs = json_dumps(v, JSON_COMPACT);

    if (ct->attrs == NULL
        || strlen(ct->attrs) > NGX_HTTP_BROADCAST_CONTACT_ATTRS_MAX)
    {
        *why = "attributes must be at most 65536 bytes as compact JSON";
        return -1;
    }

    return 0;
}


static int
ngx_http_broadcast_cfield_tags(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    char        tag[NGX_HTTP_BROADCAST_TAG_SIZE];
    size_t      i;
    json_t     *t;
    ngx_uint_t  k;

    if (!json_is_array(v)) {
        *why = "tags must be an array of strings";
        return -1;
    }

    json_array_foreach(v, i, t) {
        if (!json_is_string(t)) {
            *why = "tags must be an array of strings";
            return -1;
        }

        if (ngx_http_broadcast_contact_tag(json_string_value(t),
                                           json_string_length(t), tag, why)
            != 0)
        {
            return -1;
        }

        /* "VIP" and "vip" are one tag, as the table's collation says */
        for (k = 0; k < ct->ntags; k++) {
            if (strcasecmp(ct->tags[k], tag) == 0) {
                break;
            }
        }

        if (k < ct->ntags) {
            continue;
        }

        if (ct->ntags == NGX_HTTP_BROADCAST_CONTACT_TAGS_MAX) {
            *why = "a contact has at most 100 tags";
            return -1;
        }

        ngx_memcpy(ct->tags[ct->ntags++], tag, sizeof(tag));
    }

    return 0;
}


/* loop: the fields of the body into ct; 0, or -1 with ctx's error set */
static int
ngx_http_broadcast_contact_fields(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_contact_t *ct,
    ngx_str_t *body)
{
    json_t                             *json, *v;
    ngx_uint_t                          i;
    const char                         *why;
    const ngx_http_broadcast_cfield_t  *f;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return -1;
    }

    if (!json_is_object(json)) {
        json_decref(json);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "the body must be a JSON object");
        return -1;
    }

    for (i = 0; i < sizeof(ngx_http_broadcast_cfields)
                    / sizeof(ngx_http_broadcast_cfields[0]); i++)
    {
        f = &ngx_http_broadcast_cfields[i];

        v = json_object_get(json, f->key);
        if (v == NULL) {
            continue;
        }

        ct->set |= f->bit;

        /* "" is no value, as null: an import's empty cell */
        if (json_is_null(v)
            || (json_is_string(v) && json_string_length(v) == 0
                && f->bit != NGX_HTTP_BROADCAST_CF_TAGS))
        {
            ct->nulls |= f->bit;
            continue;
        }

        if (f->parse(ct, v, f->size ? (char *) ct + f->offset : NULL,
                     f->size, &why)
            != 0)
        {
            json_decref(json);
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request", "%s", why);
            return -1;
        }
    }

    json_decref(json);

    if (ct->action == NGX_HTTP_BROADCAST_CONTACT_PATCH && ct->set == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "give at least one of name, phone, whatsapp, "
            "email, tags, attributes, locale, timezone");
        return -1;
    }

    if (ct->action == NGX_HTTP_BROADCAST_CONTACT_CREATE
        && (ct->set & ~ct->nulls & NGX_HTTP_BROADCAST_CF_ADDRS) == 0)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_UNPROCESSABLE,
            "no_address", "a contact needs at least one of phone, whatsapp "
            "or email");
        return -1;
    }

    return 0;
}


/* loop: a positive decimal id; 0, or -1 when it cannot be one */
static int
ngx_http_broadcast_contact_id(ngx_str_t *s, long long *id)
{
    size_t  i;

    if (s->len == 0 || s->len > 18 || s->data[0] == '0') {
        return -1;
    }

    *id = 0;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return -1;
        }

        *id = *id * 10 + (s->data[i] - '0');
    }

    return 0;
}


void
ngx_http_broadcast_contacts_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_http_broadcast_contact_t   *ct;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    ct = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_contact_t),
                                       ngx_http_broadcast_contact_op,
                                       ngx_http_broadcast_contact_free);
    if (ct == NULL) {
        return;
    }

    ngx_cpystrn((u_char *) ct->country, lcf->default_country.data,
                ngx_min(sizeof(ct->country), lcf->default_country.len + 1));

    if (args->variant == NGX_HTTP_BROADCAST_CONTACTS_NEW) {
        ct->action = NGX_HTTP_BROADCAST_CONTACT_CREATE;
        (void) ngx_http_broadcast_contact_fields(r, ctx, ct, &args->body);
        return;
    }

    if (ngx_http_broadcast_contact_id(&args->id, &ct->id) != 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no contact with this id");
        return;
    }

    if (r->method & NGX_HTTP_PATCH) {
        ct->action = NGX_HTTP_BROADCAST_CONTACT_PATCH;
        (void) ngx_http_broadcast_contact_fields(r, ctx, ct, &args->body);

    } else if (r->method & NGX_HTTP_DELETE) {
        ct->action = NGX_HTTP_BROADCAST_CONTACT_DELETE;

    } else {
        ct->action = NGX_HTTP_BROADCAST_CONTACT_GET;
    }
}


static void
ngx_http_broadcast_contact_free(void *data)
{
    ngx_http_broadcast_contact_t *ct = data;

    free(ct->attrs);
    ngx_free(ct);
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
    json_t                    *list;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT %s FROM contacts c "
                               "WHERE c.id = %lld",
                               NGX_HTTP_BROADCAST_CONTACT_COLUMNS, id);

    list = ngx_http_broadcast_contacts_fetch(ctx, conn, &sql);
    free(sql.data);

    if (list == NULL) {
        return;
    }

    if (json_array_size(list) == 0) {
        json_decref(list);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no contact with id %lld", id);
        return;
    }

    ctx->result = json_incref(json_array_get(list, 0));
    json_decref(list);
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
    long long                           id;
    MYSQL_RES                          *res;
    MYSQL_ROW                           row;
    ngx_uint_t                          i, n;
    ngx_http_broadcast_sql_t            sql = { NULL, 0, 0, 0 };
    const ngx_http_broadcast_cfield_t  *f;

    ngx_http_broadcast_sql_cat(&sql, "SELECT id FROM contacts WHERE id <> "
                               "%lld AND (", ct->id);
    n = 0;

    for (i = 0; i < sizeof(ngx_http_broadcast_cfields)
                    / sizeof(ngx_http_broadcast_cfields[0]); i++)
    {
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

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        free(sql.data);
        return -1;
    }

    free(sql.data);

    res = mysql_store_result(conn->mysql);
    if (res == NULL) {
        ngx_http_broadcast_api_mysql_down(ctx);
        return -1;
    }

    row = mysql_fetch_row(res);
    id = (row && row[0]) ? strtoll(row[0], NULL, 10) : 0;
    mysql_free_result(res);

    return id;
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

    for (i = 0; i < sizeof(ngx_http_broadcast_cfields)
                    / sizeof(ngx_http_broadcast_cfields[0]); i++)
    {
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
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0 };

    static const ngx_uint_t  bits[] = { NGX_HTTP_BROADCAST_CF_PHONE,
        NGX_HTTP_BROADCAST_CF_WHATSAPP, NGX_HTTP_BROADCAST_CF_EMAIL };

    ngx_http_broadcast_sql_cat(&sql, "SELECT phone IS NOT NULL, whatsapp IS "
                               "NOT NULL, email IS NOT NULL FROM contacts "
                               "WHERE id = %lld FOR UPDATE", ct->id);

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        free(sql.data);
        return -1;
    }

    free(sql.data);

    res = mysql_store_result(conn->mysql);
    if (res == NULL) {
        ngx_http_broadcast_api_mysql_down(ctx);
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
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0 };

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
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "START TRANSACTION");
    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        free(sql.data);
        return;
    }

    sql.len = 0;

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
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0 };

    /* its tags and group memberships go by ON DELETE CASCADE */
    ngx_http_broadcast_sql_cat(&sql, "DELETE FROM contacts WHERE id = %lld",
                               id);
    rc = ngx_http_broadcast_contacts_exec(ctx, conn, &sql);
    free(sql.data);

    if (rc != 0) {
        return;
    }

    if (mysql_affected_rows(conn->mysql) == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no contact with id %lld", id);
        return;
    }

    ctx->result = json_pack("{s:b,s:I}", "deleted", 1, "id", (json_int_t) id);
}


static void
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
