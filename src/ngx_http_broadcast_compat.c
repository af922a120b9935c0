/*
 * The predecessor console's routes for customers, its customer groups,
 * SMS contacts, message and SMS templates and keyword rules: a row of the
 * table below per route names our route that does the work and the
 * translations in and out (compat_shapes.c).
 */

#include "ngx_http_broadcast_compat.h"
#include "ngx_http_broadcast_contacts.h"


/* what the thread needs to run our operation and reshape its answer */
typedef struct {
    ngx_http_broadcast_op_pt           op;
    void                              *data;
    ngx_http_broadcast_op_free_pt      free;
    ngx_http_broadcast_compat_out_pt   out;
    ngx_uint_t                         upsert;
} ngx_http_broadcast_compat_t;


/* the predecessor paged with offset: only the first page maps onto ours */
static const ngx_http_broadcast_compat_arg_t
    ngx_http_broadcast_compat_customer_args[] =
{
    { "search", "search", 0, NULL },
    { "tag", "tag", 0, NULL },
    { "group_id", "group_id", 0, NULL },
    { "limit", "limit", 0, "100" },
    { "cursor", "cursor", 0, NULL },
    /* no such columns here: refused rather than silently ignored */
    { "id", NULL, 0, NULL },
    { "has_marketed", NULL, 0, NULL },
    { "country", NULL, 0, NULL },
    { "country_code", NULL, 0, NULL },
    { NULL, NULL, 0, NULL }
};

static const ngx_http_broadcast_compat_arg_t
    ngx_http_broadcast_compat_smscontact_args[] =
{
    { "search", "search", 0, NULL },
    { "tag", "tag", 0, NULL },
    { "limit", "limit", 0, NULL },
    { "cursor", "cursor", 0, NULL },
    { NULL, NULL, 0, NULL }
};

static const ngx_http_broadcast_compat_arg_t
    ngx_http_broadcast_compat_page_args[] =
{
    { "limit", "limit", 0, NULL },
    { "cursor", "cursor", 0, NULL },
    { NULL, NULL, 0, NULL }
};

static const ngx_http_broadcast_compat_arg_t
    ngx_http_broadcast_compat_mtpl_args[] =
{
    { "channel", "channel", 1, NULL },
    { "limit", "limit", 0, NULL },
    { "cursor", "cursor", 0, NULL },
    { NULL, NULL, 0, NULL }
};

static const ngx_http_broadcast_compat_arg_t
    ngx_http_broadcast_compat_smstpl_args[] =
{
    { "limit", "limit", 0, NULL },
    { "cursor", "cursor", 0, NULL },
    { NULL, NULL, 0, NULL }
};


/* indexed by NGX_HTTP_BROADCAST_COMPAT_* (api.h) */
static const ngx_http_broadcast_compat_map_t
    ngx_http_broadcast_compat_maps[] =
{
    /* CUSTOMERS */
    { ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_LIST,
      ngx_http_broadcast_compat_customer_args, NULL,
      ngx_http_broadcast_compat_customers_out, 0 },

    /* CUSTOMER_NEW */
    { ngx_http_broadcast_contacts_prepare, NGX_HTTP_BROADCAST_CONTACTS_NEW,
      NULL, ngx_http_broadcast_compat_customer_in,
      ngx_http_broadcast_compat_customer_out, 0 },

    /* CUSTOMER_ONE */
    { ngx_http_broadcast_contacts_prepare, NGX_HTTP_BROADCAST_CONTACTS_ONE,
      NULL, ngx_http_broadcast_compat_customer_in,
      ngx_http_broadcast_compat_customer_out, 0 },

    /* CUSTOMER_TAGS: the same shape */
    { ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_TAGS, NULL, NULL, NULL, 0 },

    /* CUSTOMER_TAG_RENAME */
    { ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_TAG_RENAME, NULL, NULL,
      ngx_http_broadcast_compat_status_out, 0 },

    /* CUSTOMER_TAG_DELETE */
    { ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_TAG_DELETE, NULL, NULL,
      ngx_http_broadcast_compat_status_out, 0 },

    /* CGROUPS: groups have the same shape */
    { ngx_http_broadcast_groups_prepare, NGX_HTTP_BROADCAST_GROUPS_COLLECTION,
      ngx_http_broadcast_compat_page_args, NULL, NULL, 0 },

    /* CGROUP_ONE */
    { ngx_http_broadcast_groups_prepare, NGX_HTTP_BROADCAST_GROUPS_ONE,
      NULL, NULL, NULL, 0 },

    /* CGROUP_MEMBERS */
    { ngx_http_broadcast_groups_prepare, NGX_HTTP_BROADCAST_GROUPS_MEMBERS_OF,
      ngx_http_broadcast_compat_page_args,
      ngx_http_broadcast_compat_members_in,
      ngx_http_broadcast_compat_members_out, 0 },

    /* SMS_CONTACTS (GET) */
    { ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_LIST,
      ngx_http_broadcast_compat_smscontact_args, NULL,
      ngx_http_broadcast_compat_smscontacts_out, 0 },

    /* SMS_CONTACT_NEW (POST): the predecessor's upsert by phone */
    { ngx_http_broadcast_contacts_prepare, NGX_HTTP_BROADCAST_CONTACTS_NEW,
      NULL, ngx_http_broadcast_compat_smscontact_in,
      ngx_http_broadcast_compat_smscontacts_out, 1 },

    /* SMS_GROUPS */
    { ngx_http_broadcast_groups_prepare, NGX_HTTP_BROADCAST_GROUPS_COLLECTION,
      ngx_http_broadcast_compat_page_args, NULL, NULL, 0 },

    /* MTPL */
    { ngx_http_broadcast_msgtpl_prepare, NGX_HTTP_BROADCAST_MSGTPL_COLLECTION,
      ngx_http_broadcast_compat_mtpl_args, ngx_http_broadcast_compat_mtpl_in,
      ngx_http_broadcast_compat_mtpl_out, 0 },

    /* MTPL_ONE */
    { ngx_http_broadcast_msgtpl_prepare, NGX_HTTP_BROADCAST_MSGTPL_ONE,
      NULL, ngx_http_broadcast_compat_mtpl_in,
      ngx_http_broadcast_compat_mtpl_out, 0 },

    /* SMSTPL */
    { ngx_http_broadcast_msgtpl_prepare, NGX_HTTP_BROADCAST_MSGTPL_COLLECTION,
      ngx_http_broadcast_compat_smstpl_args,
      ngx_http_broadcast_compat_smstpl_in,
      ngx_http_broadcast_compat_smstpl_out, 0 },

    /* SMSTPL_ONE */
    { ngx_http_broadcast_msgtpl_prepare, NGX_HTTP_BROADCAST_MSGTPL_ONE,
      NULL, ngx_http_broadcast_compat_smstpl_in,
      ngx_http_broadcast_compat_smstpl_out, 0 },

    /* RULES */
    { ngx_http_broadcast_keyword_rules_prepare, 0,
      ngx_http_broadcast_compat_page_args, ngx_http_broadcast_compat_rule_in,
      ngx_http_broadcast_compat_rules_out, 0 },

    /* RULE_ONE */
    { ngx_http_broadcast_keyword_rules_prepare, 0,
      NULL, ngx_http_broadcast_compat_rule_in,
      ngx_http_broadcast_compat_rules_out, 0 },
};


static void ngx_http_broadcast_compat_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);
static void ngx_http_broadcast_compat_free(void *data);


/*
 * loop: r->args rebuilt from the predecessor's arguments under our names
 * (raw, still URL-encoded: they are decoded once, by our route); the SMS
 * template list also gets channel=sms. 0, or -1 + ctx's error
 */
static int
ngx_http_broadcast_compat_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx,
    const ngx_http_broadcast_compat_arg_t *map, ngx_uint_t sms)
{
    u_char     *p, *q;
    size_t      len;
    ngx_str_t   value;
    ngx_uint_t  i;

    /* offset paging is not served: the first page is offset 0 */
    if (ngx_http_arg(r, (u_char *) "offset", 6, &value) == NGX_OK
        && value.len > 0
        && !(value.len == 1 && value.data[0] == '0'))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "offset paging is not served: pass the "
            "previous page's next_cursor as cursor (offset may only be 0)");
        return -1;
    }

    len = r->args.len + sizeof("&channel=sms");

    for (i = 0; map[i].from; i++) {
        len += ngx_strlen(map[i].from) + 2
               + (map[i].dflt ? ngx_strlen(map[i].dflt) : 0);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    q = p;

    for (i = 0; map[i].from; i++) {
        if (ngx_http_arg(r, (u_char *) map[i].from, ngx_strlen(map[i].from),
                         &value)
            != NGX_OK || value.len == 0)
        {
            if (map[i].dflt == NULL) {
                continue;
            }

            value.data = (u_char *) map[i].dflt;
            value.len = ngx_strlen(map[i].dflt);
        }

        if (map[i].to == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "the filter %s is not served here (no "
                "such field); drop it", map[i].from);
            return -1;
        }

        if (q != p) {
            *q++ = '&';
        }

        q = ngx_cpymem(q, map[i].to, ngx_strlen(map[i].to));
        *q++ = '=';

        if (map[i].lower) {
            ngx_strlow(q, value.data, value.len);
            q += value.len;

        } else {
            q = ngx_cpymem(q, value.data, value.len);
        }
    }

    if (sms) {
        if (q != p) {
            *q++ = '&';
        }

        q = ngx_cpymem(q, "channel=sms", sizeof("channel=sms") - 1);
    }

    r->args.data = p;
    r->args.len = q - p;

    return 0;
}


/* loop: our body, as text in the pool, from the predecessor's; 0 or -1 */
static int
ngx_http_broadcast_compat_body(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx,
    const ngx_http_broadcast_compat_map_t *m, ngx_str_t *body)
{
    char    *text;
    json_t  *in, *ours;

    in = ngx_http_broadcast_api_parse(r, body, ctx);
    if (in == NULL) {
        return -1;
    }

    /* in is the pool's (freed with the request), ours is ours */
    ours = m->in(ctx, in, r->method);

    if (ours == NULL) {
        return -1;
    }

    text = json_dumps(ours, JSON_COMPACT);
    json_decref(ours);

    if (text == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    body->len = ngx_strlen(text);
    body->data = ngx_pnalloc(r->pool, body->len + 1);

    if (body->data == NULL) {
        free(text);
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return -1;
    }

    ngx_memcpy(body->data, text, body->len + 1);
    free(text);

    return 0;
}


NGX_HTTP_BROADCAST_ROUTE(compat)
{
    ngx_http_broadcast_compat_t            *w;
    ngx_http_broadcast_api_args_t           ours;
    const ngx_http_broadcast_compat_map_t  *m;

    m = &ngx_http_broadcast_compat_maps[args->variant];

    ours.body = args->body;
    ours.id = args->id;
    ours.variant = m->variant;

    if (m->args && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        && ngx_http_broadcast_compat_args(r, ctx, m->args,
               args->variant == NGX_HTTP_BROADCAST_COMPAT_SMSTPL) != 0)
    {
        return;
    }

    if (m->in && ours.body.len > 0
        && ngx_http_broadcast_compat_body(r, ctx, m, &ours.body) != 0)
    {
        return;
    }

    m->target(r, ctx, &ours);

    if (ctx->code != NULL || ctx->op == NULL || m->out == NULL) {
        return;
    }

    w = ngx_calloc(sizeof(ngx_http_broadcast_compat_t), r->connection->log);
    if (w == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    w->op = ctx->op;
    w->data = ctx->op_data;
    w->free = ctx->op_free;
    w->out = m->out;
    w->upsert = m->upsert;

    ctx->op = ngx_http_broadcast_compat_op;
    ctx->op_data = w;
    ctx->op_free = ngx_http_broadcast_compat_free;
}


/*
 * thread: a create refused because another contact holds the phone becomes
 * a PATCH of that contact with the same fields (the body only has phone,
 * name and tags: the phone is the holder's own). Our create's look-up and
 * UNIQUE keys decide who holds it, so concurrent upserts cannot duplicate
 */
static void
ngx_http_broadcast_compat_upsert(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_compat_t *w)
{
    json_t                        *id;
    ngx_http_broadcast_contact_t  *ct = w->data;

    if (ctx->code == NULL || ngx_strcmp(ctx->code, "contact_exists") != 0) {
        return;
    }

    id = json_object_get(ctx->error_extra, "existing_id");
    if (!json_is_integer(id)) {
        return;
    }

    ct->action = NGX_HTTP_BROADCAST_CONTACT_PATCH;
    ct->id = (long long) json_integer_value(id);

    json_decref(ctx->error_extra);
    ctx->error_extra = NULL;
    ctx->code = NULL;
    ctx->message[0] = '\0';
    ctx->status = NGX_HTTP_OK;

    w->op(ctx, conn);
}


/* thread: our operation on its own data, then the answer reshaped */
static void
ngx_http_broadcast_compat_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    json_t                       *theirs;
    ngx_http_broadcast_compat_t  *w = ctx->op_data;

    ctx->op_data = w->data;
    w->op(ctx, conn);

    if (w->upsert) {
        ngx_http_broadcast_compat_upsert(ctx, conn, w);
    }

    ctx->op_data = w;

    if (ctx->code != NULL || ctx->result == NULL) {
        return;
    }

    theirs = w->out(ctx->result);

    if (theirs == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    json_decref(ctx->result);
    ctx->result = theirs;
}


static void
ngx_http_broadcast_compat_free(void *data)
{
    ngx_http_broadcast_compat_t  *w = data;

    if (w->free && w->data) {
        w->free(w->data);
    }

    ngx_free(w);
}
