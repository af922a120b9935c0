/*
 * POST /api/contacts, GET/PATCH/DELETE /api/contacts/{id}: one contact of
 * sql/006_contacts.sql. The loop checks and normalises every field (phone
 * and WhatsApp to +E164, e-mail lower-cased, tags trimmed and deduplicated,
 * attributes to compact JSON, locale and timezone by shape), so the
 * thread (contacts_write.c) only writes what is already valid.
 */


#include "ngx_http_broadcast_contacts.h"

#include "bc_utf8.h"


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

static void ngx_http_broadcast_contact_free(void *data);


#define ngx_http_broadcast_cfield_col(f)                                      \
    offsetof(ngx_http_broadcast_contact_t, f),                                \
    sizeof(((ngx_http_broadcast_contact_t *) 0)->f)

/* the fields of a contact's request body; the order is the SQL's */
const ngx_http_broadcast_cfield_t  ngx_http_broadcast_cfields[] = {
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

const ngx_uint_t  ngx_http_broadcast_ncfields =
    sizeof(ngx_http_broadcast_cfields) / sizeof(ngx_http_broadcast_cfields[0]);


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

    /* a query argument or a path segment is not checked by jansson */
    if (bc_utf8_valid(in, len) != len) {
        *why = "a tag must be UTF-8 text";
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

    /* only spaces: no name, as "" */
    if (len == 0) {
        ct->nulls |= NGX_HTTP_BROADCAST_CF_NAME;
        return 0;
    }

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


/*
 * v, split at sep, each segment's characters passing ok() and each
 * segment passing end(), copied into out[size]; 0, or -1 when not so
 */
static int
ngx_http_broadcast_cfield_segments(json_t *v, char *out, size_t size,
    char sep, ngx_uint_t (*ok)(u_char c, size_t sub, size_t n),
    ngx_uint_t (*end)(size_t sub, size_t n))
{
    size_t       len, i, n, sub;
    const char  *s;

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || len == 0 || len >= size) {
        return -1;
    }

    n = 0;
    sub = 0;

    for (i = 0; i <= len; i++) {
        if (i == len || s[i] == sep) {
            if (!end(sub, n)) {
                return -1;
            }

            sub++;
            n = 0;
            continue;
        }

        if (!ok((u_char) s[i], sub, n)) {
            return -1;
        }

        n++;
    }

    ngx_memcpy(out, s, len);
    out[len] = '\0';

    return 0;
}


/* BCP 47 by shape: a 2-8 letter language, then subtags of 1-8 alnum */
static ngx_uint_t
ngx_http_broadcast_cfield_locale_ok(u_char c, size_t sub, size_t n)
{
    return isalpha(c) || (sub > 0 && isdigit(c));
}


static ngx_uint_t
ngx_http_broadcast_cfield_locale_end(size_t sub, size_t n)
{
    return !(n == 0 || n > 8 || (sub == 0 && n < 2));
}


static int
ngx_http_broadcast_cfield_locale(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    if (ngx_http_broadcast_cfield_segments(v, out, size, '-',
            ngx_http_broadcast_cfield_locale_ok,
            ngx_http_broadcast_cfield_locale_end)
        == 0)
    {
        return 0;
    }

    *why = "locale must be a BCP 47 language tag such as \"en\" or "
           "\"pt-BR\" (at most 35 characters)";
    return -1;
}


/*
 * IANA by shape: "UTC", or Area/Location with letters, digits, _ + -,
 * starting with a letter
 */
static ngx_uint_t
ngx_http_broadcast_cfield_tz_ok(u_char c, size_t sub, size_t n)
{
    if (sub == 0 && n == 0) {
        return isalpha(c) != 0;
    }

    return isalnum(c) || c == '_' || c == '+' || c == '-';
}


static ngx_uint_t
ngx_http_broadcast_cfield_tz_end(size_t sub, size_t n)
{
    return n != 0;
}


static int
ngx_http_broadcast_cfield_tz(ngx_http_broadcast_contact_t *ct, json_t *v,
    char *out, size_t size, const char **why)
{
    if (ngx_http_broadcast_cfield_segments(v, out, size, '/',
            ngx_http_broadcast_cfield_tz_ok,
            ngx_http_broadcast_cfield_tz_end)
        == 0)
    {
        return 0;
    }

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

    /* an object, freed with the request's pool */
    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return -1;
    }

    for (i = 0; i < ngx_http_broadcast_ncfields; i++) {
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
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request", "%s", why);
            return -1;
        }
    }

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

    ct->id = ngx_http_broadcast_sql_id(args->id.data, args->id.len);

    if (ct->id < 0) {
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
