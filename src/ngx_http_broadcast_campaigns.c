/*
 * Campaigns: the routes' entry (one handler, the row's variant and the
 * method choose the action) and POST/PATCH /api/campaigns[/{id}].
 *
 * What a variant sends is checked by the send handler of its channel
 * (send.c, whatsapp.c, email.c) with ctx->proto_only set: the same sender
 * whitelist, Twilio/Meta shapes, e-mail rules and SMS opt-out footer as a
 * send, and the batch it leaves is the proto's parts. The thread renders
 * a template into it with every placeholder kept ({{name}} for {{name}}),
 * checks a whitelisted sender in Redis, and writes the campaign and its
 * variants in one transaction.
 */


#include "ngx_http_broadcast_campaigns.h"
#include "ngx_http_broadcast_msgtpl.h"
#include "bc_tz.h"


typedef struct {
    const char                    *channel;
    ngx_http_broadcast_route_pt    send;       /* its send handler */
    const char                    *from_key;   /* its sender's field */
    const char                    *content[10];   /* its content keys */
} ngx_http_broadcast_camp_channel_t;


static const ngx_http_broadcast_camp_channel_t
    ngx_http_broadcast_camp_channels[] =
{
    { "sms", ngx_http_broadcast_send_prepare, "from_number",
      { "message", "append_opt_out", NULL } },
    { "whatsapp", ngx_http_broadcast_whatsapp_prepare, "from_address",
      { "body", "media_urls", "content_sid", "content_variables", "template",
        "media", NULL } },
    { "email", ngx_http_broadcast_email_prepare, "from_email",
      { "subject", "text", "html", "from_name", "reply_to", "sandbox",
        NULL } },
};


/* the variant of a route row: its action for GET, then for other methods */
static const ngx_uint_t  ngx_http_broadcast_camp_actions[][2] = {
    { NGX_HTTP_BROADCAST_CAMP_LIST, NGX_HTTP_BROADCAST_CAMP_CREATE },
    { NGX_HTTP_BROADCAST_CAMP_GET, NGX_HTTP_BROADCAST_CAMP_PATCH },
    { 0, NGX_HTTP_BROADCAST_CAMP_START },
    { 0, NGX_HTTP_BROADCAST_CAMP_PAUSE },
    { 0, NGX_HTTP_BROADCAST_CAMP_RESUME },
    { 0, NGX_HTTP_BROADCAST_CAMP_CANCEL },
    { 0, NGX_HTTP_BROADCAST_CAMP_SCHEDULE },
    { NGX_HTTP_BROADCAST_CAMP_RECIPIENTS, 0 },
    { 0, NGX_HTTP_BROADCAST_CAMP_RETRY },
    { 0, NGX_HTTP_BROADCAST_CAMP_DUPLICATES },
    { NGX_HTTP_BROADCAST_CAMP_HISTORY, 0 },
    { 0, NGX_HTTP_BROADCAST_CAMP_ESTIMATE },
};


static void ngx_http_broadcast_camp_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn);


static void
ngx_http_broadcast_camp_free(void *data)
{
    ngx_uint_t                  i;
    ngx_http_broadcast_camp_t  *cp = data;

    for (i = 0; i < cp->nvariants; i++) {
        if (cp->variants[i].b) {
            cp->variants[i].b_free(cp->variants[i].b);
        }

        free(cp->variants[i].proto);
    }

    ngx_http_broadcast_camp_steps_free(cp);

    free(cp->name);
    free(cp->audience);
    free(cp->vars);
    free(cp->quiet);
    free(cp->tname);
    ngx_free(cp->group_ids);
    json_decref(cp->items);
    ngx_free(cp);
}


int
ngx_http_broadcast_camp_invalid(ngx_http_broadcast_api_ctx_t *ctx,
    const char *field, const char *rule)
{
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                                 "invalid_request", "%s %s", field, rule);
    return -1;
}


/* a copy of a JSON value as compact text (malloc'd), or NULL */
static char *
ngx_http_broadcast_camp_dump(json_t *v)
{
    return json_dumps(v, JSON_COMPACT|JSON_SORT_KEYS|JSON_ENCODE_ANY);
}


/* "name": 1 to 255 characters, no NUL; 0 absent, 1, -1 */
static int
ngx_http_broadcast_camp_name(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *json, ngx_http_broadcast_camp_t *cp)
{
    json_t      *v;
    size_t       len;
    const char  *s;

    v = json_object_get(json, "name");
    if (v == NULL) {
        return 0;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (s == NULL || len == 0 || strlen(s) != len
        || ngx_http_broadcast_utf8_chars(s, len)
           > NGX_HTTP_BROADCAST_CAMP_NAME_MAX)
    {
        return ngx_http_broadcast_camp_invalid(ctx, "name", "must be a "
                   "string of 1 to 255 characters");
    }

    cp->name = strdup(s);
    cp->has_name = 1;

    return cp->name ? 1 : -1;
}


int
ngx_http_broadcast_camp_schedule(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *v, ngx_http_broadcast_camp_t *cp)
{
    int         i;
    char        id[32];
    time_t      sec;
    struct tm   tm;
    long long   ms;
    const char  *b32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    cp->has_schedule = 1;

    if (json_is_null(v)) {
        cp->schedule_at[0] = '\0';
        return 0;
    }

    /* sql.c reads ISO-8601 into a ULID bound: its first ten are the ms */
    if (!json_is_string(v)
        || json_string_length(v) > 40
        || ngx_http_broadcast_sql_time(json_string_value(v), 0, '0', id)
           != 0)
    {
        return ngx_http_broadcast_camp_invalid(ctx, "schedule_at", "must be "
                   "an ISO-8601 time such as 2026-12-24T09:00:00Z");
    }

    ms = 0;
    for (i = 0; i < 10; i++) {
        ms = ms * 32 + (strchr(b32, id[i]) - b32);
    }

    sec = (time_t) (ms / 1000);
    if (gmtime_r(&sec, &tm) == NULL) {
        return -1;
    }

    snprintf(cp->schedule_at, sizeof(cp->schedule_at),
             "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int) (ms % 1000));

    return 0;
}


/* "HH:MM" */
static ngx_uint_t
ngx_http_broadcast_camp_hhmm(json_t *v)
{
    const char  *s;

    s = json_string_value(v);

    return s != NULL && json_string_length(v) == 5 && isdigit((u_char) s[0])
           && isdigit((u_char) s[1]) && s[2] == ':'
           && isdigit((u_char) s[3]) && isdigit((u_char) s[4])
           && (s[0] - '0') * 10 + (s[1] - '0') < 24 && s[3] < '6';
}


/* rate_per_second, quiet_hours, template_variables, never_repeat */
static int
ngx_http_broadcast_camp_settings(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *json, ngx_http_broadcast_camp_t *cp)
{
    json_t      *v, *x;
    const char  *key;

    if ((v = json_object_get(json, "rate_per_second"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0
            || json_integer_value(v) > 10000)
        {
            return ngx_http_broadcast_camp_invalid(ctx, "rate_per_second",
                       "must be an integer of 0 (no limit) to 10000");
        }

        cp->rate = json_integer_value(v);
        cp->has_rate = 1;
    }

    if ((v = json_object_get(json, "quiet_hours"))) {
        cp->has_quiet = 1;

        if (!json_is_null(v)) {
            x = json_object_get(v, "timezone");

            if (!json_is_object(v)
                || json_object_size(v) != 2 + (x != NULL)
                || !ngx_http_broadcast_camp_hhmm(json_object_get(v, "start"))
                || !ngx_http_broadcast_camp_hhmm(json_object_get(v, "end"))
                || (x && (!json_is_string(x)
                          || !bc_tz_name_ok(json_string_value(x)))))
            {
                return ngx_http_broadcast_camp_invalid(ctx, "quiet_hours",
                           "must be {\"start\":\"HH:MM\",\"end\":\"HH:MM\"} "
                           "with an optional \"timezone\" (IANA, for "
                           "contacts without one), or null");
            }

            if (x) {
                ngx_cpystrn((u_char *) cp->quiet_tz,
                            (u_char *) json_string_value(x),
                            sizeof(cp->quiet_tz));
            }

            cp->quiet = ngx_http_broadcast_camp_dump(v);
        }
    }

    if ((v = json_object_get(json, "template_variables"))) {
        cp->has_vars = 1;

        json_object_foreach(v, key, x) {
            if (!(json_is_string(x) || json_is_number(x))
                || strlen(key) > NGX_HTTP_BROADCAST_MSGTPL_VAR_MAX)
            {
                goto bad_vars;
            }
        }

        if (!json_is_null(v)) {
            if (!json_is_object(v)) {
                goto bad_vars;
            }

            cp->vars = ngx_http_broadcast_camp_dump(v);
        }
    }

    if ((v = json_object_get(json, "never_repeat_template"))) {
        if (!json_is_boolean(v)) {
            return ngx_http_broadcast_camp_invalid(ctx,
                       "never_repeat_template", "must be true or false");
        }

        cp->never_repeat = json_is_true(v);
        cp->has_never = 1;
    }

    if ((v = json_object_get(json, "schedule_at"))) {
        return ngx_http_broadcast_camp_schedule(ctx, v, cp);
    }

    return 0;

bad_vars:

    return ngx_http_broadcast_camp_invalid(ctx, "template_variables",
               "must be an object of strings or numbers with names of at "
               "most 64 characters");
}


/*
 * one variant's content run through its channel's send handler with
 * proto_only: the batch it leaves is taken into v. field names the
 * content (or the template_id) in errors. 0, or -1 with ctx's 422 naming
 * field.
 */
static int
ngx_http_broadcast_camp_batch(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_camp_t *cp,
    const ngx_http_broadcast_camp_channel_t *ch, json_t *content,
    json_t *from, ngx_http_broadcast_camp_variant_t *v, const char *field)
{
    char                          *text, msg[sizeof(ctx->message)];
    json_t                        *req, *x;
    const char                    *key, *fkey;
    ngx_http_broadcast_api_args_t  args;

    if (content && !json_is_object(content)) {
        return ngx_http_broadcast_camp_invalid(ctx, field,
                                               "must be an object");
    }

    req = ngx_http_broadcast_json_pool(r, content ? json_deep_copy(content)
                                                  : json_object());
    if (req == NULL) {
        return -1;
    }

    json_object_foreach(req, key, x) {
        if (!ngx_http_broadcast_sql_enum((const char **) ch->content, key)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "%s.%s is not %s content", field, key,
                ch->channel);
            return -1;
        }
    }

    if (v->template_id) {
        json_object_set_new(req, "template_id",
                            json_integer(v->template_id));
    }

    if (ngx_http_broadcast_camp_given(from)) {
        fkey = ch->from_key;

        /* an SMS sender is a number or a messaging service (MG...) */
        if (ngx_strcmp(ch->channel, "sms") == 0 && json_is_string(from)
            && ngx_strncmp(json_string_value(from), "MG", 2) == 0)
        {
            fkey = "messaging_service_sid";
        }

        json_object_set(req, fkey, from);
    }

    text = json_dumps(req, JSON_COMPACT);
    if (text == NULL) {
        return -1;
    }

    args.body.len = strlen(text);
    args.body.data = ngx_pnalloc(r->pool, args.body.len);
    if (args.body.data == NULL) {
        free(text);
        return -1;
    }

    ngx_memcpy(args.body.data, text, args.body.len);
    free(text);
    ngx_str_null(&args.id);
    args.variant = 0;

    ctx->proto_only = 1;
    ch->send(r, ctx, &args);
    ctx->proto_only = 0;

    /* the batch, whether or not it is complete: freed with cp */
    if (ctx->op_data != cp) {
        v->b = ctx->op_data;
        v->b_free = ctx->op_free;
    }

    ctx->op = ngx_http_broadcast_camp_op;
    ctx->op_data = cp;
    ctx->op_free = ngx_http_broadcast_camp_free;
    ctx->op_fast = NULL;

    if (ctx->code) {
        /* the send's 400s are this request's 422s, naming the content */
        if (ctx->status == NGX_HTTP_BAD_REQUEST) {
            ctx->status = NGX_HTTP_BROADCAST_CAMP_422;
        }

        ngx_memcpy(msg, ctx->message, sizeof(msg));
        snprintf(ctx->message, sizeof(ctx->message), "%s: %.400s", field,
                 msg);
        return -1;
    }

    return v->b ? 0 : -1;
}


int
ngx_http_broadcast_camp_content(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_camp_t *cp,
    const char *channel, json_t *content, json_t *from,
    ngx_http_broadcast_camp_variant_t *v, const char *field)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_http_broadcast_camp_channels)
                    / sizeof(ngx_http_broadcast_camp_channels[0]); i++)
    {
        if (ngx_strcmp(channel, ngx_http_broadcast_camp_channels[i].channel)
            == 0)
        {
            return ngx_http_broadcast_camp_batch(r, ctx, cp,
                       &ngx_http_broadcast_camp_channels[i], content, from,
                       v, field);
        }
    }

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
        "invalid_request", "%s: the channel must be sms, whatsapp or email",
        field);
    return -1;
}


/* "variants": 1 to 10 of {name, weight, template_id | content}; 0, -1 */
static int
ngx_http_broadcast_camp_variants(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_camp_t *cp,
    const ngx_http_broadcast_camp_channel_t *ch)
{
    char                                field[48];
    size_t                              i, j, len;
    json_t                             *list, *x, *name, *weight, *tpl;
    ngx_http_broadcast_camp_variant_t  *v;

    list = json_object_get(json, "variants");

    if (!json_is_array(list) || json_array_size(list) == 0
        || json_array_size(list) > NGX_HTTP_BROADCAST_CAMP_VARIANTS_MAX)
    {
        return ngx_http_broadcast_camp_invalid(ctx, "variants", "must be an "
                   "array of 1 to 10 variants");
    }

    if (ngx_http_broadcast_camp_given(json_object_get(json, "content"))
        || ngx_http_broadcast_camp_given(json_object_get(json,
                                                         "template_id")))
    {
        return ngx_http_broadcast_camp_invalid(ctx, "variants", "carry the "
                   "content or template_id of each variant: give neither "
                   "at the top level with variants");
    }

    json_array_foreach(list, i, x) {
        v = &cp->variants[i];
        cp->nvariants = i + 1;
        name = json_object_get(x, "name");
        weight = json_object_get(x, "weight");
        tpl = json_object_get(x, "template_id");
        len = json_string_length(name);

        if (!json_is_string(name) || len == 0 || len >= sizeof(v->name)
            || strlen(json_string_value(name)) != len
            || ngx_http_broadcast_utf8_chars(json_string_value(name), len)
               > NGX_HTTP_BROADCAST_CAMP_VNAME_MAX)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "variants[%zu].name must be a string of "
                "1 to 64 characters", i);
            return -1;
        }

        ngx_memcpy(v->name, json_string_value(name), len + 1);

        for (j = 0; j < i; j++) {
            if (ngx_strcmp(cp->variants[j].name, v->name) == 0) {
                ngx_http_broadcast_api_error(ctx,
                    NGX_HTTP_BROADCAST_CAMP_422, "invalid_request",
                    "variants[%zu].name \"%s\" is taken by variants[%zu]: "
                    "names must be unique", i, v->name, j);
                return -1;
            }
        }

        if (!json_is_integer(weight) || json_integer_value(weight) <= 0
            || json_integer_value(weight) > 1000000)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "variants[%zu].weight must be a positive "
                "integer (at most 1000000)", i);
            return -1;
        }

        v->weight = json_integer_value(weight);

        if (ngx_http_broadcast_camp_given(tpl)
            == ngx_http_broadcast_camp_given(json_object_get(x, "content")))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "variants[%zu] needs template_id or "
                "content (one of them)", i);
            return -1;
        }

        if (tpl && (!json_is_integer(tpl) || json_integer_value(tpl) <= 0)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "variants[%zu].template_id must be a "
                "template's id", i);
            return -1;
        }

        v->template_id = tpl ? json_integer_value(tpl) : 0;
        snprintf(field, sizeof(field), "variants[%u].%s", (unsigned) i,
                 v->template_id ? "template_id" : "content");

        if (ngx_http_broadcast_camp_batch(r, ctx, cp, ch,
                json_object_get(x, "content"), json_object_get(json, "from"),
                v, field)
            != 0)
        {
            return -1;
        }

        /* the campaign's never-repeat key: the one template of them all */
        cp->template_id = (i == 0 || cp->template_id == v->template_id)
                          ? v->template_id : 0;
    }

    return 0;
}


/* channel, from, content | template_id | variants: what is sent */
static int
ngx_http_broadcast_camp_sending(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_camp_t *cp)
{
    json_t                                   *channel, *tpl, *content;
    ngx_uint_t                                i;
    const ngx_http_broadcast_camp_channel_t  *ch;

    channel = json_object_get(json, "channel");
    ch = NULL;

    for (i = 0; json_is_string(channel)
                && i < sizeof(ngx_http_broadcast_camp_channels)
                       / sizeof(ngx_http_broadcast_camp_channels[0]); i++)
    {
        if (ngx_strcmp(json_string_value(channel),
                       ngx_http_broadcast_camp_channels[i].channel) == 0)
        {
            ch = &ngx_http_broadcast_camp_channels[i];
        }
    }

    if (ch == NULL) {
        return ngx_http_broadcast_camp_invalid(ctx, "channel", "must be "
                   "sms, whatsapp or email (and is needed to change from, "
                   "content, template_id or variants)");
    }

    ngx_cpystrn((u_char *) cp->channel, (u_char *) ch->channel,
                sizeof(cp->channel));
    cp->has_sending = 1;

    if (ngx_http_broadcast_camp_given(json_object_get(json, "variants"))) {
        return ngx_http_broadcast_camp_variants(r, ctx, json, cp, ch);
    }

    tpl = json_object_get(json, "template_id");
    content = json_object_get(json, "content");

    if (ngx_http_broadcast_camp_given(tpl)
        == ngx_http_broadcast_camp_given(content))
    {
        return ngx_http_broadcast_camp_invalid(ctx, "content", "or "
                   "template_id is needed (one of them), or variants");
    }

    if (tpl && (!json_is_integer(tpl) || json_integer_value(tpl) <= 0)) {
        return ngx_http_broadcast_camp_invalid(ctx, "template_id",
                                               "must be a template's id");
    }

    cp->nvariants = 1;
    ngx_memcpy(cp->variants[0].name, "default", sizeof("default"));
    cp->variants[0].weight = 1;
    cp->variants[0].template_id = tpl ? json_integer_value(tpl) : 0;
    cp->template_id = cp->variants[0].template_id;

    return ngx_http_broadcast_camp_batch(r, ctx, cp, ch, content,
                                         json_object_get(json, "from"),
                                         &cp->variants[0],
                                         tpl ? "template_id" : "content");
}


/* POST /api/campaigns and PATCH /api/campaigns/{id} in the loop */
static void
ngx_http_broadcast_camp_fields(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body,
    ngx_http_broadcast_camp_t *cp)
{
    json_t      *json, *v;
    const char  *key;

    static const char  *keys[] = {
        "name", "channel", "from", "audience", "template_id", "content",
        "template_variables", "variants", "schedule_at", "rate_per_second",
        "never_repeat_template", "quiet_hours", "steps", NULL
    };
    static const char  *sending[] = {
        "channel", "from", "template_id", "content", "variants", NULL
    };

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    json_object_foreach(json, key, v) {
        if (!ngx_http_broadcast_sql_enum(keys, key)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "%s is not a campaign field", key);
            return;
        }

        if (ngx_http_broadcast_sql_enum(sending, key)) {
            cp->has_sending = 1;
        }
    }

    if (ngx_http_broadcast_camp_name(ctx, json, cp) < 0
        || (json_object_get(json, "audience")
            && ngx_http_broadcast_camp_audience(r, ctx,
                   json_object_get(json, "audience"), cp) != 0)
        || ngx_http_broadcast_camp_settings(ctx, json, cp) != 0)
    {
        goto failed;
    }

    if (cp->action == NGX_HTTP_BROADCAST_CAMP_CREATE) {
        if (!cp->has_name) {
            (void) ngx_http_broadcast_camp_invalid(ctx, "name", "is "
                       "required: a string of 1 to 255 characters");
            return;
        }

        if (!cp->has_audience) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "audience_required", "audience is required: group_ids, "
                "tags or contact_ids, or \"all\":true");
            return;
        }

    }

    if (cp->has_sending
        && ngx_http_broadcast_camp_sending(r, ctx, json, cp) != 0)
    {
        goto failed;
    }

    if (json_object_get(json, "steps")
        && ngx_http_broadcast_camp_steps(r, ctx, json, cp) != 0)
    {
        goto failed;
    }

    /* the template is the never-repeat key unless told otherwise */
    if (!cp->has_never) {
        cp->never_repeat = (cp->template_id != 0);
    }

    return;

failed:

    if (ctx->code == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }
}


/* the body of POST .../schedule, .../check-duplicates and .../estimate */
static void
ngx_http_broadcast_camp_body(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_str_t *body,
    ngx_http_broadcast_camp_t *cp)
{
    json_t  *json, *at;

    json = ngx_http_broadcast_api_parse(r, body, ctx);
    if (json == NULL) {
        return;
    }

    if (cp->action == NGX_HTTP_BROADCAST_CAMP_DUPLICATES) {
        (void) ngx_http_broadcast_camp_dup_args(r, ctx, json, cp);
        return;
    }

    if (cp->action == NGX_HTTP_BROADCAST_CAMP_ESTIMATE) {
        (void) ngx_http_broadcast_camp_estimate_args(r, ctx, json, cp);
        return;
    }

    at = json_object_get(json, "schedule_at");

    if (!ngx_http_broadcast_camp_given(at)) {
        (void) ngx_http_broadcast_camp_invalid(ctx, "schedule_at",
                   "is required: an ISO-8601 time");
        return;
    }

    (void) ngx_http_broadcast_camp_schedule(ctx, at, cp);
}


void
ngx_http_broadcast_campaigns_prepare(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_api_args_t *args)
{
    ngx_uint_t                  get;
    ngx_http_broadcast_camp_t  *cp;

    cp = ngx_http_broadcast_api_op_new(r, ctx,
                                       sizeof(ngx_http_broadcast_camp_t),
                                       ngx_http_broadcast_camp_op,
                                       ngx_http_broadcast_camp_free);
    if (cp == NULL) {
        return;
    }

    get = (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) != 0;
    cp->action = ngx_http_broadcast_camp_actions[args->variant][get ? 0 : 1];

    if (r->method & NGX_HTTP_DELETE) {
        cp->action = NGX_HTTP_BROADCAST_CAMP_DELETE;
    }

    cp->limit = NGX_HTTP_BROADCAST_CAMP_LIMIT;

    if (args->id.len) {
        cp->id = ngx_http_broadcast_sql_id(args->id.data, args->id.len);

        if (cp->id < 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                cp->action == NGX_HTTP_BROADCAST_CAMP_HISTORY
                ? "no such template" : "no such campaign");
            return;
        }
    }

    switch (cp->action) {

    case NGX_HTTP_BROADCAST_CAMP_LIST:
    case NGX_HTTP_BROADCAST_CAMP_RECIPIENTS:
        if (ngx_http_broadcast_sql_keyset(r, ctx, &cp->limit,
                                          NGX_HTTP_BROADCAST_CAMP_LIMIT_MAX,
                                          &cp->cursor)
            == 0
            && (ngx_http_broadcast_api_arg(r, "status", cp->status,
                                           sizeof(cp->status)) == -2
                || ngx_http_broadcast_api_arg(r, "variant", cp->variant,
                                              sizeof(cp->variant)) == -2))
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                "invalid_request", "status or variant is too long");
        }

        return;

    case NGX_HTTP_BROADCAST_CAMP_HISTORY:
        (void) ngx_http_broadcast_sql_keyset(r, ctx, &cp->limit,
                                             NGX_HTTP_BROADCAST_CAMP_LIMIT_MAX,
                                             &cp->cursor);
        return;

    case NGX_HTTP_BROADCAST_CAMP_CREATE:
    case NGX_HTTP_BROADCAST_CAMP_PATCH:
        ngx_http_broadcast_camp_fields(r, ctx, &args->body, cp);
        return;

    case NGX_HTTP_BROADCAST_CAMP_SCHEDULE:
    case NGX_HTTP_BROADCAST_CAMP_DUPLICATES:
    case NGX_HTTP_BROADCAST_CAMP_ESTIMATE:
        ngx_http_broadcast_camp_body(r, ctx, &args->body, cp);
        return;

    default:
        return;
    }
}


static void
ngx_http_broadcast_camp_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    json_t                     *c;
    ngx_http_broadcast_camp_t  *cp = ctx->op_data;

    switch (cp->action) {

    case NGX_HTTP_BROADCAST_CAMP_LIST:
        ngx_http_broadcast_camp_list(ctx, conn, cp);
        break;

    case NGX_HTTP_BROADCAST_CAMP_GET:
        c = ngx_http_broadcast_camp_one(ctx, conn, cp->id, 1);
        if (c) {
            ctx->result = c;
        }

        break;

    case NGX_HTTP_BROADCAST_CAMP_CREATE:
    case NGX_HTTP_BROADCAST_CAMP_PATCH:
        ngx_http_broadcast_camp_write(ctx, conn, cp);
        break;

    case NGX_HTTP_BROADCAST_CAMP_DELETE:
        ngx_http_broadcast_camp_delete(ctx, conn, cp);
        break;

    case NGX_HTTP_BROADCAST_CAMP_RECIPIENTS:
        ngx_http_broadcast_camp_recipients(ctx, conn, cp);
        break;

    case NGX_HTTP_BROADCAST_CAMP_RETRY:
        ngx_http_broadcast_camp_retry(ctx, conn, cp);
        break;

    case NGX_HTTP_BROADCAST_CAMP_DUPLICATES:
        ngx_http_broadcast_camp_duplicates(ctx, conn, cp);
        break;

    case NGX_HTTP_BROADCAST_CAMP_HISTORY:
        ngx_http_broadcast_camp_history(ctx, conn, cp);
        break;

    case NGX_HTTP_BROADCAST_CAMP_ESTIMATE:
        ngx_http_broadcast_camp_estimate(ctx, conn, cp);
        break;

    default:
        ngx_http_broadcast_camp_move(ctx, conn, cp);
        break;
    }

    if (ctx->result == NULL && ctx->code == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
    }
}
