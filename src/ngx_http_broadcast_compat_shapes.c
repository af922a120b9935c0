/*
 * The predecessor's shapes (see compat.c): renames of fields, in (loop,
 * before our route checks the values) and out (thread, on our answer).
 * Only the renames live here: every value is checked by our route.
 */

#include "ngx_http_broadcast_compat.h"


/* a field of the predecessor and its name in ours */
typedef struct {
    const char  *from;
    const char  *to;
} ngx_http_broadcast_compat_rename_t;


static const ngx_http_broadcast_compat_rename_t
    ngx_http_broadcast_compat_customer_fields[] =
{
    { "name", "name" },
    { "email", "email" },
    { "whatsapp", "whatsapp" },
    { "mobile", "phone" },
    { "tags", "tags" },
    { NULL, NULL }
};

static const ngx_http_broadcast_compat_rename_t
    ngx_http_broadcast_compat_mtpl_fields[] =
{
    { "name", "name" },
    { "language", "language" },
    { "subject", "subject" },
    { "content", "body" },
    { NULL, NULL }
};

static const ngx_http_broadcast_compat_rename_t
    ngx_http_broadcast_compat_smstpl_fields[] =
{
    { "name", "name" },
    { "body", "body" },
    { NULL, NULL }
};

static const ngx_http_broadcast_compat_rename_t
    ngx_http_broadcast_compat_rule_fields[] =
{
    { "keyword", "keyword" },
    { "match_type", "match_type" },
    { "response_text", "response_text" },
    { "enabled", "enabled" },
    { NULL, NULL }
};

static const ngx_http_broadcast_compat_rename_t
    ngx_http_broadcast_compat_smscontact_fields[] =
{
    { "phone", "phone" },
    { "name", "name" },
    { "tags", "tags" },
    { NULL, NULL }
};


/*
 * loop: a new object with the known fields renamed (fields the predecessor
 * ignored are ignored); NULL + ctx's error for a body that is no object
 */
static json_t *
ngx_http_broadcast_compat_rename(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, const ngx_http_broadcast_compat_rename_t *map)
{
    json_t      *out, *v;
    ngx_uint_t   i;

    if (!json_is_object(in)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "the body must be a JSON object");
        return NULL;
    }

    out = json_object();
    if (out == NULL) {
        goto nomem;
    }

    for (i = 0; map[i].from; i++) {
        v = json_object_get(in, map[i].from);

        if (v != NULL && json_object_set(out, map[i].to, v) != 0) {
            json_decref(out);
            goto nomem;
        }
    }

    return out;

nomem:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                 "internal_error", "out of memory");
    return NULL;
}


/* a field of ours, or JSON null (a new reference) */
static json_t *
ngx_http_broadcast_compat_get(json_t *o, const char *name)
{
    json_t  *v;

    v = json_object_get(o, name);

    return v ? json_incref(v) : json_null();
}


/* thread: each item of ours[key] through item, under theirs[to] */
static json_t *
ngx_http_broadcast_compat_list(json_t *ours, const char *key, const char *to,
    json_t *(*item)(json_t *))
{
    json_t  *theirs, *list, *v;
    size_t   i;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    json_array_foreach(json_object_get(ours, key), i, v) {
        if (json_array_append_new(list, item(v)) != 0) {
            json_decref(list);
            return NULL;
        }
    }

    theirs = json_object();
    if (theirs == NULL) {
        json_decref(list);
        return NULL;
    }

    json_object_set_new(theirs, to, list);

    /* the predecessor's "total" where ours counts it; our cursor to page */
    if (json_object_get(ours, "total")) {
        json_object_set(theirs, "total", json_object_get(ours, "total"));
    }

    json_object_set_new(theirs, "next_cursor",
                        ngx_http_broadcast_compat_get(ours, "next_cursor"));

    return theirs;
}


/* thread: an answer of ours, a listing (ours[key]) or one item or a
   deletion, in the predecessor's shape */
static json_t *
ngx_http_broadcast_compat_out(json_t *ours, const char *key, const char *to,
    json_t *(*item)(json_t *))
{
    if (json_object_get(ours, "deleted")) {
        return json_incref(ours);
    }

    if (json_object_get(ours, key)) {
        return ngx_http_broadcast_compat_list(ours, key, to, item);
    }

    return item(ours);
}


/* thread: a body of the predecessor's SMS-only API by fields; a new one
   (POST) is for the channel "sms" */
static json_t *
ngx_http_broadcast_compat_sms_in(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, ngx_uint_t method,
    const ngx_http_broadcast_compat_rename_t *fields)
{
    json_t  *out;

    out = ngx_http_broadcast_compat_rename(ctx, in, fields);

    if (out != NULL && method == NGX_HTTP_POST) {
        json_object_set_new(out, "channel", json_string("sms"));
    }

    return out;
}


json_t *
ngx_http_broadcast_compat_customer_in(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, ngx_uint_t method)
{
    json_t  *out, *attrs, *v;

    out = ngx_http_broadcast_compat_rename(ctx, in,
              ngx_http_broadcast_compat_customer_fields);
    if (out == NULL) {
        return NULL;
    }

    if (json_object_get(in, "country") == NULL
        && json_object_get(in, "country_code") == NULL)
    {
        return out;
    }

    /*
     * ours keeps them in attributes, which a PATCH replaces as a whole:
     * changing one would drop the other, so only a create takes them
     */
    if (method != NGX_HTTP_POST) {
        json_decref(out);
        ngx_http_broadcast_api_error(ctx, 422, "field_not_supported",
            "country and country_code can only be set when the customer is "
            "created; PATCH /api/contacts/{id} with attributes changes them");
        return NULL;
    }

    attrs = json_object();
    if (attrs == NULL) {
        json_decref(out);
        return NULL;
    }

    v = json_object_get(in, "country");
    if (json_is_string(v)) {
        json_object_set(attrs, "country", v);
    }

    v = json_object_get(in, "country_code");
    if (json_is_string(v)) {
        json_object_set(attrs, "country_code", v);
    }

    json_object_set_new(out, "attributes", attrs);

    return out;
}


json_t *
ngx_http_broadcast_compat_customer_out(json_t *c)
{
    json_t      *o, *attrs, *wa;
    const char  *addr;

    if (json_object_get(c, "deleted")) {
        return json_incref(c);
    }

    attrs = json_object_get(c, "attributes");

    /* the predecessor stored WhatsApp numbers as Twilio addresses */
    addr = json_string_value(json_object_get(c, "whatsapp"));
    wa = addr ? json_sprintf("whatsapp:%s", addr) : json_null();

    o = json_pack("{s:O,s:O,s:O,s:o,s:O,s:o,s:o,s:O,"
                  "s:b,s:n,s:n,s:i,s:i,s:i,s:n,s:n,s:n,s:O,s:O}",
        "id", json_object_get(c, "id"),
        "name", json_object_get(c, "name"),
        "email", json_object_get(c, "email"),
        "whatsapp", wa,
        "mobile", json_object_get(c, "phone"),
        "country", ngx_http_broadcast_compat_get(attrs, "country"),
        "country_code", ngx_http_broadcast_compat_get(attrs, "country_code"),
        "tags", json_object_get(c, "tags"),
        /* marketing counters: nothing here sends marketing steps */
        "has_marketed", 0,
        "last_campaign_id",
        "last_marketed_at",
        "email_sent_count", 0,
        "whatsapp_sent_count", 0,
        "sms_sent_count", 0,
        "last_email_status",
        "last_whatsapp_status",
        "last_sms_status",
        "created_at", json_object_get(c, "created_at"),
        "updated_at", json_object_get(c, "updated_at"));

    return o;
}


json_t *
ngx_http_broadcast_compat_customers_out(json_t *ours)
{
    return ngx_http_broadcast_compat_list(ours, "contacts", "customers",
               ngx_http_broadcast_compat_customer_out);
}


/* the predecessor's {"status":"ok",…} around our answer */
json_t *
ngx_http_broadcast_compat_status_out(json_t *ours)
{
    json_t  *o;

    o = json_deep_copy(ours);
    if (o == NULL) {
        return NULL;
    }

    json_object_set_new(o, "status", json_string("ok"));

    return o;
}


json_t *
ngx_http_broadcast_compat_members_in(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, ngx_uint_t method)
{
    json_t  *out;

    (void) method;

    if (!json_is_object(in)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "the body must be a JSON object");
        return NULL;
    }

    out = json_object();
    if (out == NULL) {
        return NULL;
    }

    if (json_object_get(in, "customer_ids")) {
        json_object_set(out, "contact_ids",
                        json_object_get(in, "customer_ids"));
    }

    return out;
}


json_t *
ngx_http_broadcast_compat_members_out(json_t *ours)
{
    json_t  *o;

    if (json_object_get(ours, "members") == NULL) {
        return ngx_http_broadcast_compat_status_out(ours);
    }

    o = ngx_http_broadcast_compat_list(ours, "members", "members",
            ngx_http_broadcast_compat_customer_out);

    if (o != NULL) {
        json_object_set(o, "group_id", json_object_get(ours, "group_id"));
    }

    return o;
}


json_t *
ngx_http_broadcast_compat_mtpl_in(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, ngx_uint_t method)
{
    u_char   buf[16];
    json_t  *out, *ch;
    size_t   len;

    (void) method;

    out = ngx_http_broadcast_compat_rename(ctx, in,
              ngx_http_broadcast_compat_mtpl_fields);
    if (out == NULL) {
        return NULL;
    }

    /* EMAIL, WHATSAPP, SMS there; our route checks what it is */
    ch = json_object_get(in, "channel");

    if (json_is_string(ch) && json_string_length(ch) < sizeof(buf)) {
        len = json_string_length(ch);
        ngx_strlow(buf, (u_char *) json_string_value(ch), len);
        json_object_set_new(out, "channel",
                            json_stringn((char *) buf, len));

    } else if (ch != NULL) {
        json_object_set(out, "channel", ch);
    }

    return out;
}


static json_t *
ngx_http_broadcast_compat_mtpl_item(json_t *t)
{
    u_char       buf[16];
    size_t       i, len;
    json_t      *ch;
    const char  *s;

    s = json_string_value(json_object_get(t, "channel"));
    len = s ? ngx_min(ngx_strlen(s), sizeof(buf)) : 0;

    /* upper-cased, as the predecessor stored it */
    for (i = 0; i < len; i++) {
        buf[i] = ngx_toupper(s[i]);
    }

    ch = json_stringn((char *) buf, len);

    return json_pack("{s:O,s:o,s:O,s:O,s:O,s:O,s:O,s:O}",
                     "id", json_object_get(t, "id"),
                     "channel", ch,
                     "name", json_object_get(t, "name"),
                     "language", json_object_get(t, "language"),
                     "subject", json_object_get(t, "subject"),
                     "content", json_object_get(t, "body"),
                     "created_at", json_object_get(t, "created_at"),
                     "updated_at", json_object_get(t, "updated_at"));
}


json_t *
ngx_http_broadcast_compat_mtpl_out(json_t *ours)
{
    return ngx_http_broadcast_compat_out(ours, "templates", "templates",
                                         ngx_http_broadcast_compat_mtpl_item);
}


json_t *
ngx_http_broadcast_compat_smstpl_in(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, ngx_uint_t method)
{
    return ngx_http_broadcast_compat_sms_in(ctx, in, method,
               ngx_http_broadcast_compat_smstpl_fields);
}


/*
 * thread: the fields (a NULL-ended list) of ours, each there, and the
 * predecessor's "disabled_at" (null: ours has none); NULL when one lacks
 */
static json_t *
ngx_http_broadcast_compat_pick(json_t *ours, const char **fields)
{
    json_t  *o, *v;

    o = json_object();

    for ( /* void */ ; o && *fields; fields++) {
        v = json_object_get(ours, *fields);

        if (v == NULL || json_object_set(o, *fields, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }

    if (o && json_object_set_new(o, "disabled_at", json_null()) != 0) {
        json_decref(o);
        return NULL;
    }

    return o;
}


static json_t *
ngx_http_broadcast_compat_smstpl_item(json_t *t)
{
    static const char  *fields[] = {
        "id", "name", "body", "variables", "created_at", "updated_at", NULL
    };

    return ngx_http_broadcast_compat_pick(t, fields);
}


json_t *
ngx_http_broadcast_compat_smstpl_out(json_t *ours)
{
    return ngx_http_broadcast_compat_out(ours, "templates", "templates",
                                         ngx_http_broadcast_compat_smstpl_item);
}


json_t *
ngx_http_broadcast_compat_rule_in(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, ngx_uint_t method)
{
    /* the predecessor's rules answered inbound SMS only */
    return ngx_http_broadcast_compat_sms_in(ctx, in, method,
               ngx_http_broadcast_compat_rule_fields);
}


static json_t *
ngx_http_broadcast_compat_same(json_t *v)
{
    return json_incref(v);
}


json_t *
ngx_http_broadcast_compat_rules_out(json_t *ours)
{
    if (json_object_get(ours, "keyword_rules") == NULL) {
        return json_incref(ours);
    }

    return ngx_http_broadcast_compat_list(ours, "keyword_rules", "rules",
                                          ngx_http_broadcast_compat_same);
}


json_t *
ngx_http_broadcast_compat_smscontact_in(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, ngx_uint_t method)
{
    (void) method;

    return ngx_http_broadcast_compat_rename(ctx, in,
               ngx_http_broadcast_compat_smscontact_fields);
}


static json_t *
ngx_http_broadcast_compat_smscontact_item(json_t *c)
{
    static const char  *fields[] = {
        "id", "phone", "name", "tags", "created_at", "updated_at", NULL
    };

    return ngx_http_broadcast_compat_pick(c, fields);
}


json_t *
ngx_http_broadcast_compat_smscontacts_out(json_t *ours)
{
    if (json_object_get(ours, "contacts") == NULL) {
        return ngx_http_broadcast_compat_smscontact_item(ours);
    }

    return ngx_http_broadcast_compat_list(ours, "contacts", "contacts",
               ngx_http_broadcast_compat_smscontact_item);
}
