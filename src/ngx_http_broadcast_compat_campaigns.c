/*
 * The predecessor console's campaign routes (SMS, e-mail and "smart
 * marketing"), in the loop: the route's operation and the predecessor's
 * body become one request of our campaigns routes (campaigns.c), whose
 * checks and SQL do the work; the operation it sets is wrapped so that the
 * thread upserts the contacts of raw recipients first and reshapes the
 * answer (compat_campaigns_out.c).
 */

#include "ngx_http_broadcast_compat.h"
#include "ngx_http_broadcast_campaigns.h"


#define NGX_HTTP_BROADCAST_CC_RECIPIENTS   10000

/* no contact has it: the audience until the thread puts in the contacts
   of the recipients (a failure there sends to nobody) */
#define NGX_HTTP_BROADCAST_CC_NOBODY       9007199254740991LL


/* our campaigns route of each operation, and the method it is run with */
static const struct {
    ngx_uint_t   variant;     /* NGX_HTTP_BROADCAST_CAMPAIGNS_* */
    ngx_uint_t   method;      /* 0: the request's */
} ngx_http_broadcast_cc_targets[] = {
    { NGX_HTTP_BROADCAST_CAMPAIGNS_COLLECTION, 0 },        /* LIST */
    { NGX_HTTP_BROADCAST_CAMPAIGNS_ONE, 0 },               /* ONE */
    { NGX_HTTP_BROADCAST_CAMPAIGNS_START, 0 },
    { NGX_HTTP_BROADCAST_CAMPAIGNS_PAUSE, 0 },
    { NGX_HTTP_BROADCAST_CAMPAIGNS_RESUME, 0 },
    { NGX_HTTP_BROADCAST_CAMPAIGNS_CANCEL, 0 },
    { NGX_HTTP_BROADCAST_CAMPAIGNS_SCHEDULE, 0 },
    { NGX_HTTP_BROADCAST_CAMPAIGNS_ONE, NGX_HTTP_GET },    /* STATS */
    { NGX_HTTP_BROADCAST_CAMPAIGNS_RECIPIENTS, 0 },        /* FLOW */
    { NGX_HTTP_BROADCAST_CAMPAIGNS_CANCEL, 0 },            /* STOP */
    { NGX_HTTP_BROADCAST_CAMPAIGNS_ONE, 0 },               /* STEPS */
    { NGX_HTTP_BROADCAST_CAMPAIGNS_ONE, NGX_HTTP_PATCH },  /* STEPS_BATCH */
    { NGX_HTTP_BROADCAST_CAMPAIGNS_RECIPIENTS, 0 },        /* EXECUTIONS */
    { NGX_HTTP_BROADCAST_CAMPAIGNS_RECIPIENTS, 0 },        /* PROGRESS */
    { 0, 0 },                                              /* CUSTOMER */
};


int
ngx_http_broadcast_cc_unsupported(ngx_http_broadcast_api_ctx_t *ctx,
    const char *field, const char *why)
{
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CC_422,
        "not_supported", "%s is not supported here: %s", field, why);
    return -1;
}


int
ngx_http_broadcast_cc_invalid(ngx_http_broadcast_api_ctx_t *ctx,
    const char *field, const char *rule)
{
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CC_422,
        "invalid_request", "%s %s", field, rule);
    return -1;
}


/* a status filter of the predecessor's in our words, or NULL if unknown */
static const char *
ngx_http_broadcast_cc_status_in(const char *s)
{
    ngx_uint_t  i;

    static const char  *map[][2] = {
        { "draft", "draft" }, { "scheduled", "scheduled" },
        { "running", "running" }, { "paused", "paused" },
        { "completed", "completed" }, { "failed", "failed" },
        { "cancelled", "cancelled" }, { "canceled", "cancelled" },
        { "stopped", "cancelled" }, { "finished", "completed" },
        { NULL, NULL }
    };

    for (i = 0; map[i][0]; i++) {
        if (ngx_strcasecmp((u_char *) s, (u_char *) map[i][0]) == 0) {
            return map[i][1];
        }
    }

    return NULL;
}


static ngx_uint_t
ngx_http_broadcast_cc_digits(const char *s)
{
    size_t  i;

    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return i > 0;
}


/* a status word: lower-case letters and '_' only */
static ngx_uint_t
ngx_http_broadcast_cc_word(const char *s)
{
    size_t  i;

    for (i = 0; s[i]; i++) {
        if (!(s[i] >= 'a' && s[i] <= 'z') && s[i] != '_') {
            return 0;
        }
    }

    return i > 0;
}


/* loop: r->args as our listing reads them; 0, or -1 with ctx's error */
static int
ngx_http_broadcast_cc_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_uint_t what)
{
    u_char      *p;
    char         status[32], limit[8], cursor[24];
    ssize_t      n;
    const char  *ours;

    if (ngx_http_broadcast_api_arg(r, "offset", limit, sizeof(limit)) > 0
        && !(limit[0] == '0' && limit[1] == '\0'))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "offset paging is not served: pass the "
            "previous page's next_cursor as cursor (offset may only be 0)");
        return -1;
    }

    ours = NULL;

    if (ngx_http_broadcast_api_arg(r, "step_id", limit, sizeof(limit)) != -1
        || ngx_http_broadcast_api_arg(r, "customer_id", limit, sizeof(limit))
           != -1)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "step_id and customer_id are not served as "
            "filters: filter by status, or read the page");
        return -1;
    }

    if (ngx_http_broadcast_api_arg(r, "status", status, sizeof(status))
        != -1)
    {
        /* the recipients' status is ours (a state or a message status) */
        ours = (what == NGX_HTTP_BROADCAST_CC_LIST)
               ? ngx_http_broadcast_cc_status_in(status)
               : ngx_http_broadcast_cc_word(status) ? status : NULL;

        if (ours == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "status must be one of draft, scheduled, "
                "running, paused, completed, failed, canceled");
            return -1;
        }
    }

    n = ngx_http_broadcast_api_arg(r, "limit", limit, sizeof(limit));
    if (n == -1) {
        ngx_cpystrn((u_char *) limit, (u_char *) "100", sizeof(limit));

    } else if (n < 0) {
        limit[0] = '\0';
    }

    n = ngx_http_broadcast_api_arg(r, "cursor", cursor, sizeof(cursor));
    if (n < 0) {
        ngx_cpystrn((u_char *) cursor, (u_char *) (n == -1 ? "" : "x"),
                    sizeof(cursor));
    }

    /* they go into our query as they are: nothing but what they may be */
    if (!ngx_http_broadcast_cc_digits(limit)
        || (cursor[0] && !ngx_http_broadcast_cc_digits(cursor)))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "limit and cursor must be positive integers");
        return -1;
    }

    p = ngx_pnalloc(r->pool, 128);
    if (p == NULL) {
        return -1;
    }

    r->args.data = p;
    r->args.len = ngx_snprintf(p, 128, "limit=%s%s%s%s%s", limit,
                               cursor[0] ? "&cursor=" : "", cursor,
                               ours ? "&status=" : "", ours ? ours : "")
                  - p;

    return 0;
}


/* schedule_at of the predecessor (naive UTC) as ours reads it */
int
ngx_http_broadcast_cc_time(ngx_http_broadcast_api_ctx_t *ctx, json_t *out,
    const char *key, json_t *v)
{
    char        buf[48];
    size_t      len;
    const char  *s;

    if (v == NULL || json_is_null(v)) {
        return v ? json_object_set_new(out, "schedule_at", json_null()) : 0;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || len < 10 || len > 40) {
        return ngx_http_broadcast_cc_invalid(ctx, key, "must be an ISO-8601 "
                                             "time such as 2026-12-24T09:00:00");
    }

    /* a time without a zone is UTC, as the predecessor stored it */
    ngx_memcpy(buf, s, len + 1);
    if (len > 10 && s[len - 1] != 'Z' && !strchr(s + 10, '+')
        && !strchr(s + 10, '-'))
    {
        buf[len] = 'Z';
        buf[len + 1] = '\0';
    }

    return json_object_set_new(out, "schedule_at", json_string(buf));
}


/*
 * the recipients (phones or e-mail addresses) normalised into w->addrs;
 * the audience gets a stand-in the thread replaces with their contacts
 */
static int
ngx_http_broadcast_cc_recipients(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_cc_t *w,
    json_t *list, json_t *audience)
{
    char                           out[BC_EMAIL_MAX + 64];
    size_t                         i;
    json_t                        *v, *ids;
    const char                    *reason;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    if (!json_is_array(list)
        || json_array_size(list) > NGX_HTTP_BROADCAST_CC_RECIPIENTS)
    {
        return ngx_http_broadcast_cc_invalid(ctx, "recipients", "must be an "
                   "array of at most 10000 addresses");
    }

    w->addrs = json_array();
    if (w->addrs == NULL) {
        return -1;
    }

    json_array_foreach(list, i, v) {
        if (!json_is_string(v)
            || (w->kind == NGX_HTTP_BROADCAST_CC_EMAIL
                ? !bc_email_valid(json_string_value(v), json_string_length(v),
                                  out)
                : ngx_http_broadcast_phone(json_string_value(v),
                      json_string_length(v),
                      (char *) lcf->default_country.data, out, &reason)
                  != 0))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CC_422,
                "invalid_request", "recipients[%zu] is not a valid %s", i,
                w->kind == NGX_HTTP_BROADCAST_CC_EMAIL ? "e-mail address"
                                                       : "phone number");
            return -1;
        }

        json_array_append_new(w->addrs, json_string(out));
    }

    if (json_array_size(w->addrs) == 0) {
        return 0;
    }

    ids = json_pack("[I]", (json_int_t) NGX_HTTP_BROADCAST_CC_NOBODY);
    return json_object_set_new(audience, "contact_ids", ids);
}


/* group_ids, tags and recipients of an SMS or e-mail campaign */
static int
ngx_http_broadcast_cc_audience(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_cc_t *w,
    json_t *in, json_t *out)
{
    json_t  *a, *v;

    if (!json_object_get(in, "group_ids") && !json_object_get(in, "tags")
        && !json_object_get(in, "recipients"))
    {
        return 0;
    }

    a = json_object();
    if (a == NULL || json_object_set_new(out, "audience", a) != 0) {
        return -1;
    }

    if ((v = json_object_get(in, "group_ids")) && !json_is_null(v)) {
        json_object_set(a, "group_ids", v);
    }

    if ((v = json_object_get(in, "tags")) && !json_is_null(v)) {
        json_object_set(a, "tags", v);
    }

    if ((v = json_object_get(in, "recipients")) && !json_is_null(v)) {
        return ngx_http_broadcast_cc_recipients(r, ctx, w, v, a);
    }

    return 0;
}


/* content and variants of an SMS campaign: message, template or A/B */
static int
ngx_http_broadcast_cc_sms_content(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *in, json_t *out)
{
    json_t                         *a, *b, *split, *opt, *x;
    json_int_t                      pct;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    /* the predecessor appended its footer unless told not to: so do we
       when one is configured */
    opt = json_object_get(in, "append_opt_out");
    if (opt == NULL || json_is_null(opt)) {
        opt = json_boolean(lcf->sms_opt_out_text.len > 0);
    } else {
        json_incref(opt);
    }

    a = json_object_get(in, "variant_a");
    b = json_object_get(in, "variant_b");
    split = json_object_get(in, "ab_split");
    pct = json_is_integer(split) ? json_integer_value(split) : 50;

    if (split && !json_is_null(split)
        && (!json_is_integer(split) || pct < 0 || pct > 100))
    {
        json_decref(opt);
        return ngx_http_broadcast_cc_invalid(ctx, "ab_split", "must be a "
                                             "percentage (0 to 100) for A");
    }

    if (json_string_length(a) && json_string_length(b) && pct % 100) {
        x = json_pack("[{s:s,s:I,s:{s:O,s:O}},{s:s,s:I,s:{s:O,s:O}}]",
                      "name", "A", "weight", pct, "content", "message", a,
                      "append_opt_out", opt,
                      "name", "B", "weight", 100 - pct, "content",
                      "message", b, "append_opt_out", opt);
        json_decref(opt);
        return json_object_set_new(out, "variants", x);
    }

    if (json_string_length(a) && json_string_length(b)) {
        /* a split of 0 or 100 sends one text */
        x = (pct == 0) ? b : a;

    } else if ((x = json_object_get(in, "template_id"))
               && !json_is_null(x))
    {
        json_object_set(out, "template_id", x);
        json_decref(opt);
        return 0;

    } else {
        x = json_object_get(in, "message");
        if (x == NULL || json_is_null(x)) {
            x = json_string_length(a) ? a : b;
        }
    }

    if (x == NULL) {
        json_decref(opt);
        return ngx_http_broadcast_cc_invalid(ctx, "message", "or "
                   "template_id is required (or variant_a and variant_b)");
    }

    return json_object_set_new(out, "content",
               json_pack("{s:O,s:o}", "message", x, "append_opt_out", opt));
}


/* POST/PATCH of an SMS campaign: our body */
static int
ngx_http_broadcast_cc_sms_in(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_cc_t *w,
    json_t *in, json_t *out)
{
    json_t      *v;
    ngx_uint_t   i, given;
    const char  *key;

    static const char  *keys[] = {
        "name", "message", "template_id", "template_variables", "variant_a",
        "variant_b", "ab_split", "schedule_at", "from_number",
        "messaging_service_sid", "rate_per_minute", "batch_size",
        "append_opt_out", "group_ids", "tags", "recipients", NULL
    };
    static const char  *sending[] = {
        "message", "template_id", "variant_a", "variant_b", "ab_split",
        "from_number", "messaging_service_sid", "append_opt_out", NULL
    };

    json_object_foreach(in, key, v) {
        if (!ngx_http_broadcast_sql_enum(keys, key)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CC_422,
                "invalid_request", "%s is not a field of an SMS campaign%s",
                key, ngx_strcmp(key, "status") == 0
                ? ": use .../start, /pause, /resume, /cancel, /schedule" : "");
            return -1;
        }
    }

    if ((v = json_object_get(in, "name"))) {
        json_object_set(out, "name", v);
    }

    if ((v = json_object_get(in, "template_variables"))) {
        json_object_set(out, "template_variables", v);
    }

    if ((v = json_object_get(in, "rate_per_minute")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0
            || json_integer_value(v) > 600000)
        {
            return ngx_http_broadcast_cc_invalid(ctx, "rate_per_minute",
                       "must be an integer of 0 (no limit) to 600000");
        }

        /* ours counts per second: never slower than asked */
        json_object_set_new(out, "rate_per_second",
            json_integer((json_integer_value(v) + 59) / 60));
    }

    if ((v = json_object_get(in, "batch_size")) && !json_is_null(v)
        && (!json_is_integer(v) || json_integer_value(v) < 1
            || json_integer_value(v) > 10000))
    {
        return ngx_http_broadcast_cc_invalid(ctx, "batch_size",
                                             "must be an integer of 1 to 10000");
    }

    if (ngx_http_broadcast_cc_time(ctx, out, "schedule_at",
                                   json_object_get(in, "schedule_at")) != 0
        || ngx_http_broadcast_cc_audience(r, ctx, w, in, out) != 0)
    {
        return -1;
    }

    for (i = 0, given = 0; sending[i]; i++) {
        given |= (json_object_get(in, sending[i]) != NULL);
    }

    if (!given && r->method != NGX_HTTP_POST) {
        return 0;
    }

    json_object_set_new(out, "channel", json_string("sms"));

    v = json_object_get(in, "messaging_service_sid");
    if (!json_string_length(v)) {
        v = json_object_get(in, "from_number");
    }

    if (json_string_length(v)) {
        json_object_set(out, "from", v);
    }

    return ngx_http_broadcast_cc_sms_content(r, ctx, in, out);
}


/* POST/PATCH of an e-mail campaign: our body */
static int
ngx_http_broadcast_cc_email_in(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_cc_t *w,
    json_t *in, json_t *out)
{
    json_t      *v, *content;
    ngx_uint_t   i, sending;
    const char  *key;

    static const char  *keys[] = {
        "name", "recipients", "subject", "text", "html", "from_email",
        "schedule_at", "followup_enabled", "followup_delay_minutes",
        "followup_condition", "followup_subject", "followup_text",
        "followup_html", NULL
    };
    static const char  *parts[] = { "subject", "text", "html", NULL };

    json_object_foreach(in, key, v) {
        if (!ngx_http_broadcast_sql_enum(keys, key)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CC_422,
                "invalid_request", "%s is not a field of an e-mail "
                "campaign%s", key, ngx_strcmp(key, "status") == 0
                ? ": use .../start, /pause, /resume, /cancel, /schedule" : "");
            return -1;
        }
    }

    if (json_is_true(json_object_get(in, "followup_enabled"))) {
        return ngx_http_broadcast_cc_unsupported(ctx, "followup_enabled",
                   "our campaigns send one step yet; create the follow-up "
                   "as a campaign of its own");
    }

    if ((v = json_object_get(in, "name"))) {
        json_object_set(out, "name", v);
    }

    if (ngx_http_broadcast_cc_time(ctx, out, "schedule_at",
                                   json_object_get(in, "schedule_at")) != 0
        || ngx_http_broadcast_cc_audience(r, ctx, w, in, out) != 0)
    {
        return -1;
    }

    sending = (json_object_get(in, "from_email") != NULL);
    content = json_object();
    if (content == NULL) {
        return -1;
    }

    for (i = 0; parts[i]; i++) {
        if ((v = json_object_get(in, parts[i]))) {
            sending = 1;
            if (!json_is_null(v)) {
                json_object_set(content, parts[i], v);
            }
        }
    }

    if (!sending && r->method != NGX_HTTP_POST) {
        json_decref(content);
        return 0;
    }

    json_object_set_new(out, "channel", json_string("email"));
    json_object_set_new(out, "content", content);

    v = json_object_get(in, "from_email");
    if (json_string_length(v)) {
        json_object_set(out, "from", v);
    }

    return 0;
}


/* loop: our body from the predecessor's; 0, or -1 with ctx's error */
static int
ngx_http_broadcast_cc_body(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_cc_t *w,
    ngx_str_t *body)
{
    int      rc;
    char    *text;
    json_t  *in, *out;

    in = ngx_http_broadcast_api_parse(r, body, ctx);
    if (in == NULL) {
        return -1;
    }

    if (!json_is_object(in)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "the body must be a JSON object");
        return -1;
    }

    if (w->what == NGX_HTTP_BROADCAST_CC_SCHEDULE) {
        out = json_object();
        rc = out ? ngx_http_broadcast_cc_time(ctx, out, "schedule_at",
                       json_object_get(in, "schedule_at")) : -1;

    } else {
        out = json_object();
        rc = (out == NULL) ? -1
             : (w->kind == NGX_HTTP_BROADCAST_CC_SMS)
               ? ngx_http_broadcast_cc_sms_in(r, ctx, w, in, out)
             : (w->kind == NGX_HTTP_BROADCAST_CC_EMAIL)
               ? ngx_http_broadcast_cc_email_in(r, ctx, w, in, out)
             : ngx_http_broadcast_cc_mkt_in(r, ctx, w, in, out);
    }

    text = (rc == 0) ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);

    if (text == NULL) {
        if (ctx->code == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "internal_error", "out of memory");
        }

        return -1;
    }

    body->len = ngx_strlen(text);
    body->data = ngx_pnalloc(r->pool, body->len + 1);

    if (body->data != NULL) {
        ngx_memcpy(body->data, text, body->len + 1);
    }

    free(text);

    return body->data ? 0 : -1;
}


static void
ngx_http_broadcast_cc_free(void *data)
{
    ngx_http_broadcast_cc_t  *w = data;

    if (w->free && w->data) {
        w->free(w->data);
    }

    json_decref(w->addrs);
    ngx_free(w);
}


NGX_HTTP_BROADCAST_ROUTE(compat_campaigns)
{
    ngx_uint_t                      method, what;
    ngx_http_broadcast_cc_t        *w;
    ngx_http_broadcast_api_args_t   ours;
    ngx_http_broadcast_loc_conf_t  *lcf;

    what = args->variant % 16;

    if (what == NGX_HTTP_BROADCAST_CC_CUSTOMER
        || (what == NGX_HTTP_BROADCAST_CC_EXECUTIONS
            && r->method == NGX_HTTP_POST))
    {
        (void) ngx_http_broadcast_cc_unsupported(ctx,
            what == NGX_HTTP_BROADCAST_CC_CUSTOMER
            ? "pausing one customer" : "writing an execution",
            what == NGX_HTTP_BROADCAST_CC_CUSTOMER
            ? "our campaigns pause as a whole; opt the contact out "
              "(POST /api/opt-outs) to stop sending to them"
            : "executions are the recipients our dispatcher writes");
        return;
    }

    w = ngx_calloc(sizeof(ngx_http_broadcast_cc_t), r->connection->log);
    if (w == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    w->kind = args->variant / 16;
    w->what = what;
    w->method = r->method;
    w->footer = lcf->sms_opt_out_text;
    w->id = args->id.len ? ngx_http_broadcast_sql_id(args->id.data,
                                                     args->id.len) : 0;

    ours.body = args->body;
    ours.id = args->id;
    ours.variant = ngx_http_broadcast_cc_targets[what].variant;

    if (((r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
         && ngx_http_broadcast_cc_args(r, ctx, what) != 0)
        || ((r->method & (NGX_HTTP_POST|NGX_HTTP_PATCH))
            && (ours.body.len > 0
                || what == NGX_HTTP_BROADCAST_CC_SCHEDULE)
            && what != NGX_HTTP_BROADCAST_CC_START
            && what != NGX_HTTP_BROADCAST_CC_PAUSE
            && what != NGX_HTTP_BROADCAST_CC_RESUME
            && what != NGX_HTTP_BROADCAST_CC_CANCEL
            && what != NGX_HTTP_BROADCAST_CC_STOP
            && ngx_http_broadcast_cc_body(r, ctx, w, &ours.body) != 0))
    {
        ngx_http_broadcast_cc_free(w);
        return;
    }

    /* POST .../steps changes the campaign: our PATCH */
    method = r->method;
    if (ngx_http_broadcast_cc_targets[what].method) {
        r->method = ngx_http_broadcast_cc_targets[what].method;
    }

    ngx_http_broadcast_campaigns_prepare(r, ctx, &ours);
    r->method = method;

    if (ctx->code != NULL || ctx->op == NULL) {
        ngx_http_broadcast_cc_free(w);
        return;
    }

    w->op = ctx->op;
    w->data = ctx->op_data;
    w->free = ctx->op_free;

    ctx->op = ngx_http_broadcast_cc_op;
    ctx->op_data = w;
    ctx->op_free = ngx_http_broadcast_cc_free;
}
