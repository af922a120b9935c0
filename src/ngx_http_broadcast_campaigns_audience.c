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


/* ---- POST /api/campaigns/estimate ---------------------------------------- */


/* loop: {"channel","audience","template_id"?,"never_repeat_template"?}; 0, -1 */
int
ngx_http_broadcast_camp_estimate_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_camp_t *cp)
{
    json_t       *tpl, *never;
    const char   *ch;

    static const char  *channels[] = { "sms", "whatsapp", "email", NULL };

    ch = json_string_value(json_object_get(json, "channel"));
    if (ch == NULL || !ngx_http_broadcast_sql_enum(channels, ch)) {
        return ngx_http_broadcast_camp_invalid(ctx, "channel",
                                               "must be sms, whatsapp or email");
    }

    ngx_cpystrn((u_char *) cp->channel, (u_char *) ch, sizeof(cp->channel));

    tpl = json_object_get(json, "template_id");
    if (ngx_http_broadcast_camp_given(tpl)
        && (!json_is_integer(tpl) || json_integer_value(tpl) <= 0))
    {
        return ngx_http_broadcast_camp_invalid(ctx, "template_id",
                                               "must be a template's id");
    }

    cp->template_id = json_is_integer(tpl) ? json_integer_value(tpl) : 0;

    never = json_object_get(json, "never_repeat_template");
    if (never && !json_is_boolean(never)) {
        return ngx_http_broadcast_camp_invalid(ctx, "never_repeat_template",
                                               "must be true or false");
    }

    /* the campaign's default: never twice when a template is given */
    cp->never_repeat = cp->template_id && !json_is_false(never);

    return ngx_http_broadcast_camp_audience(r, ctx,
                                            json_object_get(json, "audience"),
                                            cp);
}


/* appends ",v" for each integer (ints) or string of the array; the count */
static int
ngx_http_broadcast_camp_est_list(ngx_http_broadcast_sql_t *sql, MYSQL *m,
    json_t *arr, int ints)
{
    size_t   i;
    json_t  *v;
    int      n = 0;

    json_array_foreach(arr, i, v) {
        ngx_http_broadcast_sql_cat(sql, n++ ? "," : "");

        if (ints) {
            ngx_http_broadcast_sql_cat(sql, "%lld",
                                       (long long) json_integer_value(v));
        } else {
            ngx_http_broadcast_sql_str(sql, m, json_string_value(v),
                                       json_string_length(v));
        }
    }

    return n;
}


/*
 * The WHERE of the audience as the dispatcher's fan-out reads it
 * (sender/campaign_fanout.c): the union of group_ids, tags and contact_ids
 * (or every contact), narrowed by filter.locale and filter.attributes
 * (equal as JSON values); filter.country is the caller's, in C.
 */
static void
ngx_http_broadcast_camp_est_where(ngx_http_broadcast_sql_t *sql, MYSQL *m,
    json_t *a)
{
    int          n = 0;
    char        *path, *value;
    json_t      *filter, *v, *k;
    const char  *key, *s;

    ngx_http_broadcast_sql_cat(sql, " WHERE (");

    if (json_is_true(json_object_get(a, "all"))) {
        ngx_http_broadcast_sql_cat(sql, "1");
        n = 1;
    }

    if (!n && json_array_size(json_object_get(a, "group_ids"))) {
        ngx_http_broadcast_sql_cat(sql, "c.id IN (SELECT contact_id FROM "
                                   "contact_group_members WHERE group_id IN (");
        ngx_http_broadcast_camp_est_list(sql, m,
                                         json_object_get(a, "group_ids"), 1);
        ngx_http_broadcast_sql_cat(sql, "))");
        n++;
    }

    if (!json_is_true(json_object_get(a, "all"))
        && json_array_size(json_object_get(a, "tags")))
    {
        ngx_http_broadcast_sql_cat(sql, "%sc.id IN (SELECT contact_id FROM "
                                   "contact_tags WHERE tag IN (",
                                   n ? " OR " : "");
        ngx_http_broadcast_camp_est_list(sql, m, json_object_get(a, "tags"),
                                         0);
        ngx_http_broadcast_sql_cat(sql, "))");
        n++;
    }

    if (!json_is_true(json_object_get(a, "all"))
        && json_array_size(json_object_get(a, "contact_ids")))
    {
        ngx_http_broadcast_sql_cat(sql, "%sc.id IN (", n ? " OR " : "");
        ngx_http_broadcast_camp_est_list(sql, m,
                                         json_object_get(a, "contact_ids"), 1);
        ngx_http_broadcast_sql_cat(sql, ")");
    }

    ngx_http_broadcast_sql_cat(sql, ")");

    filter = json_object_get(a, "filter");
    s = json_string_value(json_object_get(filter, "locale"));

    if (s != NULL) {
        ngx_http_broadcast_sql_cat(sql, " AND c.locale=");
        ngx_http_broadcast_sql_str(sql, m, s, strlen(s));
    }

    json_object_foreach(json_object_get(filter, "attributes"), key, v) {
        k = json_string(key);
        path = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
        value = json_dumps(v, JSON_ENCODE_ANY);
        json_decref(k);

        if (path == NULL || value == NULL) {
            sql->failed = 1;
        } else {
            /* BINARY: jansson's json_equal is case-sensitive */
            ngx_http_broadcast_sql_cat(sql, " AND BINARY JSON_EXTRACT("
                                       "c.attributes,CONCAT('$.',");
            ngx_http_broadcast_sql_str(sql, m, path, strlen(path));
            ngx_http_broadcast_sql_cat(sql, "))=BINARY JSON_EXTRACT(");
            ngx_http_broadcast_sql_str(sql, m, value, strlen(value));
            ngx_http_broadcast_sql_cat(sql, ",'$')");
        }

        free(path);
        free(value);
    }
}


/*
 * The estimate's query: one row per audience contact with its peer (the
 * channel's address, WhatsApp falling back to the phone, as
 * snd_camp_address), then whether that peer is blacklisted, opted out
 * (everywhere or on the channel), and whether the contact had the
 * template; the skip order is the fan-out's (no address, blacklisted,
 * opted out, already sent).
 */
static void
ngx_http_broadcast_camp_est_sql(ngx_http_broadcast_sql_t *sql, MYSQL *m,
    ngx_http_broadcast_camp_t *cp, json_t *a, int rows)
{
    const char  *peer;

    peer = ngx_strcmp(cp->channel, "email") == 0 ? "NULLIF(c.email,'')"
           : ngx_strcmp(cp->channel, "whatsapp") == 0
             ? "COALESCE(NULLIF(c.whatsapp,''),NULLIF(c.phone,''))"
             : "NULLIF(c.phone,'')";

    /* a filter.country is matched in C, row by row; else one row of sums */
    ngx_http_broadcast_sql_cat(sql, rows
        ? "SELECT x.peer IS NULL,x.peer IS NOT NULL AND x.bl,"
          "x.peer IS NOT NULL AND NOT x.bl AND x.oo,"
          "x.peer IS NOT NULL AND NOT x.bl AND NOT x.oo AND x.ts,"
          "x.phone,x.whatsapp,1"
        : "SELECT SUM(x.peer IS NULL),SUM(x.peer IS NOT NULL AND x.bl),"
          "SUM(x.peer IS NOT NULL AND NOT x.bl AND x.oo),"
          "SUM(x.peer IS NOT NULL AND NOT x.bl AND NOT x.oo AND x.ts),"
          "NULL,NULL,COUNT(*)");
    ngx_http_broadcast_sql_cat(sql, " FROM (SELECT p.peer,p.phone,p.whatsapp,"
        "EXISTS(SELECT 1 FROM blacklist b WHERE b.address=p.peer) bl,"
        "EXISTS(SELECT 1 FROM opt_outs o WHERE o.address=p.peer AND "
        "o.channel IN ('','%s')) oo,", cp->channel);

    if (cp->never_repeat) {
        ngx_http_broadcast_sql_cat(sql, "EXISTS(SELECT 1 FROM template_sends "
            "t WHERE t.template_id=%lld AND t.contact_id=p.id) ts",
            cp->template_id);
    } else {
        ngx_http_broadcast_sql_cat(sql, "0 ts");
    }

    ngx_http_broadcast_sql_cat(sql, " FROM (SELECT c.id,%s peer,c.phone,"
                               "c.whatsapp FROM contacts c", peer);
    ngx_http_broadcast_camp_est_where(sql, m, a);
    ngx_http_broadcast_sql_cat(sql, ") p) x");
}


/* thread: POST /api/campaigns/estimate */
void
ngx_http_broadcast_camp_estimate(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    char                       region[3];
    json_t                    *a, *limit;
    MYSQL_RES                 *res;
    MYSQL_ROW                  row;
    long long                  n[4] = { 0, 0, 0, 0 }, audience = 0, eligible;
    const char                *country, *number;
    ngx_uint_t                 i, ok;
    ngx_http_broadcast_sql_t   sql = { 0 };

    a = json_loads(cp->audience, 0, NULL);
    if (a == NULL || ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        json_decref(a);
        return;
    }

    country = json_string_value(json_object_get(json_object_get(a, "filter"),
                                                "country"));

    ngx_http_broadcast_camp_est_sql(&sql, conn->mysql, cp, a,
                                    country != NULL);

    /* row by row (filter.country) the result is streamed: an audience of
       millions is not held in the thread's memory */
    res = NULL;
    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) == 0) {
        res = country ? mysql_use_result(conn->mysql)
                      : ngx_http_broadcast_sql_store(ctx, conn);
    }

    free(sql.data);
    ok = res != NULL;

    while (res && (row = mysql_fetch_row(res)) != NULL) {
        if (country != NULL) {
            /* the fan-out's rule: the region of the phone, else WhatsApp */
            number = row[4] != NULL ? row[4] : row[5];
            if (bc_phone_region(number, region) != 0
                || strcasecmp(country, region) != 0)
            {
                continue;
            }
        }

        /* a row per contact (each flag 0 or 1), or the sums */
        audience += row[6] ? strtoll(row[6], NULL, 10) : 0;

        for (i = 0; i < 4; i++) {
            n[i] += row[i] ? strtoll(row[i], NULL, 10) : 0;
        }
    }

    /* a streamed result ends early on a lost connection: not a count */
    if (res && mysql_errno(conn->mysql) != 0) {
        ok = 0;
    }

    if (res) {
        mysql_free_result(res);
    }

    limit = json_object_get(a, "limit");
    eligible = audience - n[0] - n[1] - n[2] - n[3];

    if (json_is_integer(limit) && json_integer_value(limit) < eligible) {
        eligible = json_integer_value(limit);
    }

    json_decref(a);

    if (!ok) {
        if (ctx->code == NULL) {
            snprintf(ctx->detail, sizeof(ctx->detail), "%s",
                     mysql_error(conn->mysql));
            ngx_http_broadcast_api_mysql_down(ctx);
        }

        return;
    }

    ctx->result = json_pack("{s:I,s:I,s:{s:I,s:I,s:I,s:I}}",
                            "audience", (json_int_t) audience,
                            "eligible", (json_int_t) eligible,
                            "skipped",
                            "no_address", (json_int_t) n[0],
                            "blacklisted", (json_int_t) n[1],
                            "opted_out", (json_int_t) n[2],
                            "already_sent_template", (json_int_t) n[3]);
}
