/*
 * The predecessor's "smart marketing" plans in, on our campaigns: the
 * campaign's fields, its customers and filter_rules as our audience, and
 * its steps (order_no 1 our campaign's own message, the later ones our
 * campaign steps). compat_campaigns.c routes them here.
 */


#include "ngx_http_broadcast_compat.h"
#include "ngx_http_broadcast_campaigns.h"


/*
 * a marketing step: its channel, template or content into out (our body
 * for the first step, one of our "steps" for a later one: its delay_days
 * after the previous step, condition always)
 */
static int
ngx_http_broadcast_cc_step(ngx_http_broadcast_api_ctx_t *ctx, json_t *step,
    json_t *out, const char *field, ngx_uint_t first)
{
    char         f[64], channel[16];
    json_t      *v, *content, *body;
    const char  *s;
    json_int_t   days;

    if (!json_is_object(step)) {
        return ngx_http_broadcast_cc_invalid(ctx, field, "must be an object");
    }

    v = json_object_get(step, "order_no");
    if (first && v && !json_is_null(v) && json_integer_value(v) != 1) {
        snprintf(f, sizeof(f), "%s.order_no %lld", field,
                 (long long) json_integer_value(v));
        return ngx_http_broadcast_cc_unsupported(ctx, f, "a later step "
                   "changes the plan: POST the whole plan to "
                   ".../steps/batch");
    }

    v = json_object_get(step, "delay_days");
    days = json_is_integer(v) ? json_integer_value(v) : 0;

    if (v && !json_is_null(v)
        && (!json_is_integer(v) || days < 0
            || days * 86400 > NGX_HTTP_BROADCAST_CAMP_DELAY_MAX
            || (first && days != 0)))
    {
        snprintf(f, sizeof(f), "%s.delay_days", field);
        if (first && json_is_integer(v) && days > 0) {
            return ngx_http_broadcast_cc_unsupported(ctx, f, "the first "
                       "step starts with the campaign (schedule_time)");
        }
        return ngx_http_broadcast_cc_invalid(ctx, f, "must be a whole "
                                             "number of days, 0 to 30");
    }

    if (!first) {
        json_object_set_new(out, "delay_minutes", json_integer(days * 1440));
        json_object_set_new(out, "condition", json_string("always"));
    }

    v = json_object_get(step, "filter_rules");
    if (v && !json_is_null(v) && json_object_size(v) > 0) {
        snprintf(f, sizeof(f), "%s.filter_rules", field);
        return ngx_http_broadcast_cc_unsupported(ctx, f, "filter the "
                   "campaign's audience (filter_rules of the campaign)");
    }

    s = json_string_value(json_object_get(step, "channel"));
    if (s == NULL || strlen(s) >= sizeof(channel)) {
        s = "";
    }

    ngx_strlow((u_char *) channel, (u_char *) s, strlen(s) + 1);

    if (ngx_strcmp(channel, "sms") != 0 && ngx_strcmp(channel, "email") != 0
        && ngx_strcmp(channel, "whatsapp") != 0)
    {
        snprintf(f, sizeof(f), "%s.channel", field);
        return ngx_http_broadcast_cc_invalid(ctx, f, "must be EMAIL, "
                                             "WHATSAPP or SMS");
    }

    json_object_set_new(out, "channel", json_string(channel));

    v = json_object_get(step, "template_id");
    if (v && !json_is_null(v)) {
        json_object_set(out, "template_id", v);
        return 0;
    }

    body = json_object_get(step, "content");
    content = json_object();
    if (content == NULL) {
        return -1;
    }

    json_object_set_new(out, "content", content);

    if (channel[0] == 'e') {
        json_object_set(content, "subject",
                        json_object_get(step, "subject")
                        ? json_object_get(step, "subject") : json_null());
        json_object_set(content, "text", body ? body : json_null());

    } else if (channel[0] == 's') {
        json_object_set(content, "message", body ? body : json_null());

    } else if (json_string_length(json_object_get(step, "content_sid"))) {
        json_object_set(content, "content_sid",
                        json_object_get(step, "content_sid"));
        if ((v = json_object_get(step, "content_variables"))) {
            json_object_set(content, "content_variables", v);
        }

    } else {
        json_object_set(content, "body", body ? body : json_null());
    }

    return 0;
}


/* the order_no of a step (0 when absent or not a number) */
static json_int_t
ngx_http_broadcast_cc_order(json_t *step)
{
    return json_integer_value(json_object_get(step, "order_no"));
}


/*
 * steps[], the whole plan: the lowest order_no is our campaign's own
 * message, each later one (by order_no) one of our steps, after the
 * previous step by its delay_days
 */
static int
ngx_http_broadcast_cc_steps(ngx_http_broadcast_api_ctx_t *ctx, json_t *steps,
    json_t *out)
{
    char         field[24];
    size_t       i, j, n;
    json_t      *ours, *st, *sorted;
    json_int_t   a, b;

    if (!json_is_array(steps) || json_array_size(steps) == 0) {
        return ngx_http_broadcast_cc_invalid(ctx, "steps", "must be an "
                   "array with the campaign's steps (order_no 1 first): "
                   "ours are created with what they send");
    }

    n = json_array_size(steps);

    if (n > NGX_HTTP_BROADCAST_CAMP_STEPS_MAX + 1) {
        return ngx_http_broadcast_cc_invalid(ctx, "steps", "at most 6 "
                   "steps: the first and 5 more");
    }

    /* by order_no (insertion sort: a handful of steps); a repeated one
       is refused as the predecessor did */
    sorted = json_copy(steps);
    if (sorted == NULL) {
        return -1;
    }

    for (i = 1; i < n; i++) {
        for (j = i; j > 0; j--) {
            a = ngx_http_broadcast_cc_order(json_array_get(sorted, j - 1));
            b = ngx_http_broadcast_cc_order(json_array_get(sorted, j));
            if (a == b) {
                json_decref(sorted);
                ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
                    "invalid_request", "steps: order_no %lld is given "
                    "twice", (long long) a);
                return -1;
            }
            if (a < b) {
                break;
            }
            st = json_incref(json_array_get(sorted, j));
            json_array_set(sorted, j, json_array_get(sorted, j - 1));
            json_array_set_new(sorted, j - 1, st);
        }
    }

    if (ngx_http_broadcast_cc_step(ctx, json_array_get(sorted, 0), out,
                                   "steps[0]", 1)
        != 0)
    {
        json_decref(sorted);
        return -1;
    }

    ours = json_array();
    json_object_set_new(out, "steps", ours);

    for (i = 1; i < n; i++) {
        st = json_object();
        json_array_append_new(ours, st);
        snprintf(field, sizeof(field), "steps[%zu]", i);

        if (ngx_http_broadcast_cc_step(ctx, json_array_get(sorted, i), st,
                                       field, 0)
            != 0)
        {
            json_decref(sorted);
            return -1;
        }
    }

    json_decref(sorted);

    return 0;
}


/* a marketing campaign's customers and filter_rules as our audience */
static int
ngx_http_broadcast_cc_mkt_audience(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *in, json_t *out)
{
    char         f[96];
    json_t      *a, *ids, *rules, *v, *groups;
    const char  *key;

    ids = json_object_get(in, "customer_ids");
    rules = json_object_get(in, "filter_rules");

    if (ids == NULL && rules == NULL) {
        return 0;
    }

    a = json_object();
    if (a == NULL || json_object_set_new(out, "audience", a) != 0) {
        return -1;
    }

    groups = json_array();
    json_object_set_new(a, "group_ids", groups);

    json_object_foreach(rules, key, v) {
        if (ngx_strcmp(key, "group_ids") == 0 && json_is_array(v)) {
            json_array_extend(groups, v);

        } else if (ngx_strcmp(key, "group_id") == 0 && !json_is_null(v)) {
            json_array_append(groups, v);

        } else if (ngx_strcmp(key, "tags") == 0 && json_is_array(v)) {
            json_object_set(a, "tags", v);

        } else if (ngx_strcmp(key, "tag") == 0 && json_is_string(v)) {
            json_object_set_new(a, "tags", json_pack("[O]", v));

        } else if (ngx_strcmp(key, "country_code") == 0 && json_is_string(v)) {
            json_object_set_new(a, "filter", json_pack("{s:O}", "country",
                                                       v));
        } else {
            snprintf(f, sizeof(f), "filter_rules.%.64s", key);
            return ngx_http_broadcast_cc_unsupported(ctx, f, "the audience "
                       "takes group_ids, group_id, tags, tag and "
                       "country_code");
        }
    }

    if (json_array_size(ids) > 0) {
        /* the predecessor intersected the customers with the groups */
        if (json_array_size(groups) > 0 || json_object_get(a, "tags")) {
            return ngx_http_broadcast_cc_unsupported(ctx, "customer_ids with "
                       "filter_rules groups or tags", "give one of them");
        }

        json_object_set(a, "contact_ids", ids);
    }

    if (json_array_size(groups) == 0) {
        json_object_del(a, "group_ids");
    }

    return 0;
}


/* POST/PATCH of a marketing campaign (and POST .../steps[/batch]) */
int
ngx_http_broadcast_cc_mkt_in(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_cc_t *w,
    json_t *in, json_t *out)
{
    json_t      *v;
    const char  *key;

    static const char  *keys[] = {
        "name", "type", "run_immediately", "schedule_time", "customer_ids",
        "filter_rules", "created_by", "steps", NULL
    };

    if (w->what == NGX_HTTP_BROADCAST_CC_STEPS) {
        return ngx_http_broadcast_cc_step(ctx, in, out, "step", 1);
    }

    if (w->what == NGX_HTTP_BROADCAST_CC_STEPS_BATCH) {
        return ngx_http_broadcast_cc_steps(ctx, json_object_get(in, "steps"),
                                           out);
    }

    json_object_foreach(in, key, v) {
        if (!ngx_http_broadcast_sql_enum(keys, key)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CC_422,
                "invalid_request", "%s is not a field of a marketing "
                "campaign%s", key, ngx_strcmp(key, "status") == 0
                ? ": use .../start and .../stop" : "");
            return -1;
        }
    }

    if (json_is_true(json_object_get(in, "run_immediately"))) {
        return ngx_http_broadcast_cc_unsupported(ctx, "run_immediately",
                   "create it, then POST .../start (the predecessor "
                   "ignored it and kept a DRAFT)");
    }

    if ((v = json_object_get(in, "name"))) {
        json_object_set(out, "name", v);
    }

    if (ngx_http_broadcast_cc_time(ctx, out, "schedule_time",
                                   json_object_get(in, "schedule_time")) != 0
        || ngx_http_broadcast_cc_mkt_audience(ctx, in, out) != 0)
    {
        return -1;
    }

    if (r->method == NGX_HTTP_POST || json_object_get(in, "steps")) {
        return ngx_http_broadcast_cc_steps(ctx, json_object_get(in, "steps"),
                                           out);
    }

    return 0;
}
