/*
 * Campaigns, in the loop: the "audience" of POST and PATCH. Its selectors
 * (group_ids, tags, contact_ids, all), filter and limit are checked here
 * and stored as given (tags normalised as contacts store them); the
 * groups' existence is the thread's (campaigns_write.c), the fan-out the
 * dispatcher's.
 */


#include "ngx_http_broadcast_campaigns.h"


ngx_int_t
ngx_http_broadcast_camp_ids(ngx_http_broadcast_api_ctx_t *ctx, json_t *list,
    const char *field, ngx_uint_t max)
{
    size_t   i;
    json_t  *v;

    if (!json_is_array(list) || json_array_size(list) > max) {
        goto invalid;
    }

    json_array_foreach(list, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            goto invalid;
        }
    }

    return json_array_size(list);

invalid:

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
        "invalid_request", "%s must be an array of at most %u ids "
        "(positive integers)", field, (unsigned) max);
    return -1;
}


/* audience.tags: contact tags by the contacts' rule; 0 or -1 */
static int
ngx_http_broadcast_camp_tags(ngx_http_broadcast_api_ctx_t *ctx, json_t *list)
{
    char         tag[512];
    size_t       i;
    json_t      *v;
    const char  *why;

    if (!json_is_array(list) || json_array_size(list) > 1000) {
        return ngx_http_broadcast_camp_invalid(ctx, "audience.tags",
                   "must be an array of at most 1000 tags");
    }

    json_array_foreach(list, i, v) {
        if (!json_is_string(v)
            || ngx_http_broadcast_contact_tag(json_string_value(v),
                                              json_string_length(v), tag,
                                              &why)
               != 0)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "audience.tags[%zu] is not a tag: a "
                "string of 1 to 64 characters", i);
            return -1;
        }

        json_array_set_new(list, i, json_string(tag));
    }

    return 0;
}


/* audience.filter: {"attributes"?{k:scalar},"country"?,"locale"?}; 0, -1 */
static int
ngx_http_broadcast_camp_filter(ngx_http_broadcast_api_ctx_t *ctx, json_t *f)
{
    json_t      *v, *attrs;
    const char  *key;

    if (!json_is_object(f)) {
        return ngx_http_broadcast_camp_invalid(ctx, "audience.filter",
                   "must be an object of attributes, country and locale");
    }

    json_object_foreach(f, key, v) {
        if (ngx_strcmp(key, "country") == 0
            || ngx_strcmp(key, "locale") == 0)
        {
            if (!json_is_string(v) || json_string_length(v) == 0
                || json_string_length(v) > 35)
            {
                ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                    "invalid_request", "audience.filter.%s must be a string "
                    "of 1 to 35 characters", key);
                return -1;
            }

            continue;
        }

        if (ngx_strcmp(key, "attributes") != 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "audience.filter.%s is not a filter: use "
                "attributes, country or locale", key);
            return -1;
        }
    }

    attrs = json_object_get(f, "attributes");

    json_object_foreach(attrs, key, v) {
        if (json_is_object(v) || json_is_array(v) || strlen(key) > 64) {
            return ngx_http_broadcast_camp_invalid(ctx,
                       "audience.filter.attributes", "must map names of at "
                       "most 64 characters to strings, numbers or booleans");
        }
    }

    if (attrs && !json_is_object(attrs)) {
        return ngx_http_broadcast_camp_invalid(ctx,
                   "audience.filter.attributes", "must be an object");
    }

    return 0;
}


/* "audience": its selectors, filter and limit; 0 or -1 */
int
ngx_http_broadcast_camp_audience(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *a,
    ngx_http_broadcast_camp_t *cp)
{
    size_t       i;
    json_t      *v, *all, *limit, *groups;
    ngx_int_t    ng, nc;
    const char  *key;

    static const char  *keys[] = {
        "group_ids", "tags", "contact_ids", "filter", "all", "limit", NULL
    };

    if (!json_is_object(a)) {
        return ngx_http_broadcast_camp_invalid(ctx, "audience", "must be an "
                   "object: group_ids, tags, contact_ids, filter, all, "
                   "limit");
    }

    json_object_foreach(a, key, v) {
        if (!ngx_http_broadcast_sql_enum(keys, key)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "audience.%s is not an audience field",
                key);
            return -1;
        }
    }

    groups = json_object_get(a, "group_ids");
    ng = groups ? ngx_http_broadcast_camp_ids(ctx, groups,
                      "audience.group_ids", 1000) : 0;
    nc = json_object_get(a, "contact_ids")
         ? ngx_http_broadcast_camp_ids(ctx, json_object_get(a, "contact_ids"),
                                       "audience.contact_ids",
                                       NGX_HTTP_BROADCAST_CAMP_IDS_MAX)
         : 0;

    if (ng < 0 || nc < 0) {
        return -1;
    }

    if ((json_object_get(a, "tags")
         && ngx_http_broadcast_camp_tags(ctx, json_object_get(a, "tags"))
            != 0)
        || (json_object_get(a, "filter")
            && ngx_http_broadcast_camp_filter(ctx, json_object_get(a,
                                                                  "filter"))
               != 0))
    {
        return -1;
    }

    all = json_object_get(a, "all");
    if (all && !json_is_boolean(all)) {
        return ngx_http_broadcast_camp_invalid(ctx, "audience.all",
                                               "must be true or false");
    }

    limit = json_object_get(a, "limit");
    if (ngx_http_broadcast_camp_given(limit)) {
        if (!json_is_integer(limit) || json_integer_value(limit) <= 0) {
            return ngx_http_broadcast_camp_invalid(ctx, "audience.limit",
                       "must be a positive integer");
        }

        cp->audience_limit = json_integer_value(limit);
    }

    if (ng == 0 && nc == 0 && json_array_size(json_object_get(a, "tags")) == 0
        && !json_is_true(all))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "audience_required", "audience needs group_ids, tags or "
            "contact_ids, or \"all\":true to send to every contact");
        return -1;
    }

    if (ng > 0) {
        cp->group_ids = ngx_alloc(ng * sizeof(long long), r->connection->log);
        if (cp->group_ids == NULL) {
            return -1;
        }

        for (i = 0; i < (size_t) ng; i++) {
            cp->group_ids[i] = json_integer_value(json_array_get(groups, i));
        }

        cp->ngroups = ng;
    }

    cp->audience = json_dumps(a, JSON_COMPACT|JSON_SORT_KEYS);
    cp->has_audience = 1;

    return cp->audience ? 0 : -1;
}
