/*
 * The predecessor's campaign routes, in the thread: around our campaigns
 * operation (campaigns*.c). Before it: a campaign of another kind is not
 * found, and raw recipients become contacts (the one write of its own:
 * INSERT IGNORE by the address's UNIQUE key, then their ids, so the
 * audience is contacts as ours always is). After it: the answer in the
 * predecessor's shape, with what our campaign JSON does not carry (the
 * texts of the variants, the recipients' addresses) read by two SELECTs
 * for the whole page.
 */

#include "ngx_http_broadcast_compat.h"
#include "ngx_http_broadcast_campaigns.h"


static const char  *ngx_http_broadcast_cc_channels[] = { "sms", "email", "" };
static const char  *ngx_http_broadcast_cc_kinds[] = {
    "SMS", "e-mail", "marketing"
};


/* sets key to v, or to null when v is NULL */
static void
ngx_http_broadcast_cc_set(json_t *o, const char *key, json_t *v)
{
    json_object_set_new(o, key, v ? json_incref(v) : json_null());
}


/* v, or a new empty array when it is NULL (a new reference) */
static json_t *
ngx_http_broadcast_cc_list(json_t *v)
{
    return v ? json_incref(v) : json_array();
}


/* our status in the predecessor's words, by kind */
static const char *
ngx_http_broadcast_cc_status_out(ngx_uint_t kind, const char *s)
{
    ngx_uint_t  i;

    static const char  *mkt[][2] = {
        { "draft", "DRAFT" }, { "scheduled", "SCHEDULED" },
        { "running", "RUNNING" }, { "paused", "PAUSED" },
        { "completed", "COMPLETED" }, { "cancelled", "STOPPED" },
        { "failed", "FAILED" }, { NULL, NULL }
    };

    if (s == NULL) {
        return "";
    }

    if (kind == NGX_HTTP_BROADCAST_CC_SMS && ngx_strcmp(s, "cancelled") == 0)
    {
        return "canceled";
    }

    if (kind != NGX_HTTP_BROADCAST_CC_MKT) {
        return s;
    }

    for (i = 0; mkt[i][0]; i++) {
        if (ngx_strcmp(s, mkt[i][0]) == 0) {
            return mkt[i][1];
        }
    }

    return s;
}


/* thread: the campaign {id} is of the route's kind; 1, or 0 with a 404 */
static int
ngx_http_broadcast_cc_kind(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_cc_t *w)
{
    int          n, found;
    char         sql[128];
    MYSQL_ROW    row;
    MYSQL_RES   *res;
    const char  *want;

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return 0;
    }

    n = snprintf(sql, sizeof(sql), "SELECT channel FROM campaigns WHERE "
                 "id=%lld", w->id);
    res = ngx_http_broadcast_sql_printed(ctx, conn, sql, n, sizeof(sql));
    if (res == NULL) {
        return 0;
    }

    want = ngx_http_broadcast_cc_channels[w->kind];
    row = mysql_fetch_row(res);
    found = row && row[0] && (want[0] == '\0' || ngx_strcmp(row[0], want) == 0);

    if (found) {
        ngx_cpystrn((u_char *) w->channel, (u_char *) row[0],
                    sizeof(w->channel));
    }
    mysql_free_result(res);

    if (!found) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
            "no %s campaign with id %lld", ngx_http_broadcast_cc_kinds[w->kind],
            w->id);
    }

    return found;
}


/*
 * thread: the recipients as contacts (created when no contact has the
 * address) and the campaign's audience.contact_ids set to them; 0, or -1
 * with ctx's error
 */
static int
ngx_http_broadcast_cc_contacts(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_cc_t *w)
{
    char                       *text;
    size_t                      i;
    json_t                     *a, *ids, *v;
    MYSQL_ROW                   row;
    MYSQL_RES                  *res;
    const char                 *col, *s;
    ngx_http_broadcast_sql_t    sql = { NULL, 0, 0, 0, 0 };
    ngx_http_broadcast_camp_t  *cp = w->data;

    if (json_array_size(w->addrs) == 0 || cp->audience == NULL) {
        return 0;
    }

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return -1;
    }

    col = (w->kind == NGX_HTTP_BROADCAST_CC_EMAIL) ? "email" : "phone";

    ngx_http_broadcast_sql_cat(&sql, "INSERT IGNORE INTO contacts (%s,"
                               "created_at,updated_at) VALUES ", col);

    json_array_foreach(w->addrs, i, v) {
        s = json_string_value(v);
        ngx_http_broadcast_sql_cat(&sql, i ? ",(" : "(");
        ngx_http_broadcast_sql_str(&sql, conn->mysql, s, strlen(s));
        ngx_http_broadcast_sql_cat(&sql, ",UTC_TIMESTAMP(3),"
                                   "UTC_TIMESTAMP(3))");
    }

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        free(sql.data);
        return -1;
    }

    sql.len = 0;
    ngx_http_broadcast_sql_cat(&sql, "SELECT id FROM contacts WHERE %s IN (",
                               col);

    json_array_foreach(w->addrs, i, v) {
        s = json_string_value(v);
        ngx_http_broadcast_sql_cat(&sql, i ? "," : "");
        ngx_http_broadcast_sql_str(&sql, conn->mysql, s, strlen(s));
    }

    ngx_http_broadcast_sql_cat(&sql, ") ORDER BY id");

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return -1;
    }

    ids = json_array();
    while (ids && (row = mysql_fetch_row(res))) {
        json_array_append_new(ids, json_integer(strtoll(row[0], NULL, 10)));
    }

    mysql_free_result(res);

    a = json_loads(cp->audience, 0, NULL);
    if (ids == NULL || a == NULL) {
        json_decref(ids);
        json_decref(a);
        return -1;
    }

    /* none found (a write lost?): the stand-in stays, nobody is sent to */
    if (json_array_size(ids) > 0
        && json_object_set_new(a, "contact_ids", ids) != 0)
    {
        json_decref(a);
        return -1;
    }

    if (json_array_size(ids) == 0) {
        json_decref(ids);
    }

    text = json_dumps(a, JSON_COMPACT|JSON_SORT_KEYS);
    json_decref(a);

    if (text == NULL) {
        return -1;
    }

    free(cp->audience);
    cp->audience = text;

    return 0;
}


/* the ids of the campaigns of list as "1,2,3" into sql */
static void
ngx_http_broadcast_cc_ids(ngx_http_broadcast_sql_t *sql, json_t *list,
    const char *key)
{
    size_t   i, k, j;
    json_t  *c, *x, *ids;

    j = 0;

    json_array_foreach(list, i, c) {
        if (key == NULL) {
            ngx_http_broadcast_sql_cat(sql, j++ ? ",%lld" : "%lld",
                (long long) json_integer_value(json_object_get(c, "id")));
            continue;
        }

        ids = json_object_get(json_object_get(c, "audience"), key);

        json_array_foreach(ids, k, x) {
            ngx_http_broadcast_sql_cat(sql, j++ ? ",%lld" : "%lld",
                                       (long long) json_integer_value(x));
        }
    }

    if (j == 0) {
        ngx_http_broadcast_sql_cat(sql, "0");
    }
}


/*
 * thread: the variants of the campaigns of list ({"<id>":[{name, weight,
 * template_id, proto}]}), the protos of their later steps ({"<id>/steps":
 * [proto]}) and the addresses of their contact_ids ({"<id>":"address"});
 * 0, or -1 with ctx's error
 */
static int
ngx_http_broadcast_cc_lookups(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, json_t *list, json_t *variants,
    json_t *addrs)
{
    char                       key[40];
    json_t                    *a, *v;
    MYSQL_ROW                  row;
    MYSQL_RES                 *res;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT campaign_id,name,weight,proto "
                               "FROM campaign_variants WHERE campaign_id IN (");
    ngx_http_broadcast_cc_ids(&sql, list, NULL);
    ngx_http_broadcast_sql_cat(&sql, ") ORDER BY campaign_id,idx");

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    if (res == NULL) {
        free(sql.data);
        return -1;
    }

    while ((row = mysql_fetch_row(res))) {
        a = json_object_get(variants, row[0]);
        if (a == NULL) {
            a = json_array();
            json_object_set_new(variants, row[0], a);
        }

        v = json_loads(row[3] ? row[3] : "{}", 0, NULL);
        json_array_append_new(a, json_pack("{s:s,s:I,s:o}", "name", row[1],
            "weight", (json_int_t) strtoll(row[2], NULL, 10),
            "proto", v ? v : json_object()));
    }

    mysql_free_result(res);

    /* the later steps' protos (a marketing plan's order_no 2...) */
    sql.len = 0;
    ngx_http_broadcast_sql_cat(&sql, "SELECT campaign_id,proto FROM "
                               "campaign_steps WHERE campaign_id IN (");
    ngx_http_broadcast_cc_ids(&sql, list, NULL);
    ngx_http_broadcast_sql_cat(&sql, ") ORDER BY campaign_id,idx");

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    if (res == NULL) {
        free(sql.data);
        return -1;
    }

    while ((row = mysql_fetch_row(res))) {
        snprintf(key, sizeof(key), "%s/steps", row[0]);
        a = json_object_get(variants, key);
        if (a == NULL) {
            a = json_array();
            json_object_set_new(variants, key, a);
        }

        v = json_loads(row[1] ? row[1] : "{}", 0, NULL);
        json_array_append_new(a, v ? v : json_object());
    }

    mysql_free_result(res);

    sql.len = 0;
    ngx_http_broadcast_sql_cat(&sql, "SELECT id,COALESCE(phone,email,"
                               "whatsapp) FROM contacts WHERE id IN (");
    ngx_http_broadcast_cc_ids(&sql, list, "contact_ids");
    ngx_http_broadcast_sql_cat(&sql, ")");

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return -1;
    }

    while ((row = mysql_fetch_row(res))) {
        json_object_set_new(addrs, row[0], json_string(row[1] ? row[1] : ""));
    }

    mysql_free_result(res);

    return 0;
}


/* an SMS text without the opt-out footer we appended; 1 if it had it */
static ngx_uint_t
ngx_http_broadcast_cc_unfoot(ngx_http_broadcast_cc_t *w, json_t *proto,
    json_t **text)
{
    size_t       len, flen;
    const char  *s;

    s = json_string_value(json_object_get(proto, "body"));
    len = s ? strlen(s) : 0;
    flen = w->footer.len;

    if (flen && len > flen && s[len - flen - 1] == '\n'
        && ngx_strncmp(s + len - flen, w->footer.data, flen) == 0)
    {
        *text = json_stringn(s, len - flen - 1);
        return 1;
    }

    *text = s ? json_string(s) : json_null();
    return 0;
}


/* the fields of an SMS campaign that its variants hold */
static void
ngx_http_broadcast_cc_sms_texts(ngx_http_broadcast_cc_t *w, json_t *item,
    json_t *vars, json_int_t tpl)
{
    json_t      *a, *b, *proto, *text;
    json_int_t   wa, wb;
    ngx_uint_t   opt;
    const char  *mss;

    a = json_array_get(vars, 0);
    b = json_array_get(vars, 1);
    proto = json_object_get(a, "proto");
    opt = ngx_http_broadcast_cc_unfoot(w, proto, &text);

    mss = json_string_value(json_object_get(proto,
                                            "messaging_service_sid"));
    ngx_http_broadcast_cc_set(item, "from_number",
                              json_object_get(proto, "from"));
    json_object_set_new(item, "messaging_service_sid",
                        mss && mss[0] ? json_string(mss) : json_null());
    json_object_set_new(item, "append_opt_out", json_boolean(opt));

    if (b == NULL) {
        json_object_set_new(item, "message", tpl ? json_null() : text);
        json_object_set_new(item, "variant_a", json_null());
        json_object_set_new(item, "variant_b", json_null());
        json_object_set_new(item, "ab_split", json_integer(100));

        if (tpl) {
            json_decref(text);
        }

        return;
    }

    wa = json_integer_value(json_object_get(a, "weight"));
    wb = json_integer_value(json_object_get(b, "weight"));

    json_object_set_new(item, "message", json_null());
    json_object_set_new(item, "variant_a", text);
    (void) ngx_http_broadcast_cc_unfoot(w, json_object_get(b, "proto"),
                                        &text);
    json_object_set_new(item, "variant_b", text);
    json_object_set_new(item, "ab_split",
                        json_integer(wa + wb ? wa * 100 / (wa + wb) : 50));
}


/* the recipients (addresses of the audience's contacts) of a campaign */
static json_t *
ngx_http_broadcast_cc_addresses(json_t *ours, json_t *addrs)
{
    char     key[24];
    size_t   i;
    json_t  *list, *x, *a;

    list = json_array();

    json_array_foreach(json_object_get(json_object_get(ours, "audience"),
                                       "contact_ids"), i, x)
    {
        snprintf(key, sizeof(key), "%lld", (long long) json_integer_value(x));
        a = json_object_get(addrs, key);
        if (a) {
            json_array_append(list, a);
        }
    }

    return list;
}


/* the fields of a marketing campaign: plan, audience and counters */
static void
ngx_http_broadcast_cc_mkt_item(json_t *it, json_t *ours, json_t *aud)
{
    json_t      *rules, *st, *x;
    json_int_t   failed;

    rules = json_object();
    if ((x = json_object_get(aud, "group_ids"))) {
        json_object_set(rules, "group_ids", x);
    }

    if ((x = json_object_get(aud, "tags"))) {
        json_object_set(rules, "tags", x);
    }

    if ((x = json_object_get(json_object_get(aud, "filter"), "country"))) {
        json_object_set(rules, "country_code", x);
    }

    json_object_set_new(it, "type", json_string("GENERAL"));
    json_object_set_new(it, "run_immediately", json_false());
    ngx_http_broadcast_cc_set(it, "schedule_time",
                              json_object_get(ours, "schedule_at"));
    json_object_set_new(it, "target_customer_ids", ngx_http_broadcast_cc_list(
                            json_object_get(aud, "contact_ids")));
    json_object_set_new(it, "filter_rules", rules);
    json_object_set_new(it, "created_by", json_null());

    /* counted from our recipient rows (the predecessor's were always 0;
       the list carries no stats, so there they are 0 still) */
    st = json_object_get(ours, "stats");
    failed = json_integer_value(json_object_get(st, "failed"))
             + json_integer_value(json_object_get(st, "undelivered"))
             + json_integer_value(json_object_get(st, "blocked"));

    json_object_set_new(it, "total_customers", json_integer(
        json_integer_value(json_object_get(st, "eligible"))));
    json_object_set_new(it, "success_count", json_integer(
        json_integer_value(json_object_get(st, "sent"))
        + json_integer_value(json_object_get(st, "delivered"))
        + json_integer_value(json_object_get(st, "read"))));
    json_object_set_new(it, "failed_count", json_integer(failed));
    json_object_set_new(it, "delivered_count", json_integer(
        json_integer_value(json_object_get(st, "delivered"))
        + json_integer_value(json_object_get(st, "read"))));
    json_object_set_new(it, "email_sent", json_integer(0));
    json_object_set_new(it, "email_opened", json_integer(0));
    json_object_set_new(it, "email_replied", json_integer(0));
    json_object_set_new(it, "whatsapp_replied", json_integer(0));
    json_object_set_new(it, "sms_replied", json_integer(0));
}


/* one campaign of ours in the predecessor's shape of the route's kind */
static json_t *
ngx_http_broadcast_cc_item(ngx_http_broadcast_cc_t *w, json_t *ours,
    json_t *variants, json_t *addrs)
{
    char         key[24];
    json_t      *it, *aud, *vars, *proto, *extra, *x;
    json_int_t   tpl;
    ngx_uint_t   i;

    static const char  *copied[] = {
        "id", "name", "error", "template_id", "template_variables",
        "started_at", "completed_at", "created_at", "updated_at", "stats",
        NULL
    };

    it = json_object();
    aud = json_object_get(ours, "audience");
    snprintf(key, sizeof(key), "%lld",
             (long long) json_integer_value(json_object_get(ours, "id")));
    vars = json_object_get(variants, key);
    proto = json_object_get(json_array_get(vars, 0), "proto");
    extra = json_object_get(proto, "extra");
    tpl = json_integer_value(json_object_get(ours, "template_id"));

    for (i = 0; copied[i]; i++) {
        if ((x = json_object_get(ours, copied[i]))) {
            json_object_set(it, copied[i], x);
        }
    }

    json_object_set_new(it, "status", json_string(
        ngx_http_broadcast_cc_status_out(w->kind, json_string_value(
            json_object_get(ours, "status")))));

    if (w->kind == NGX_HTTP_BROADCAST_CC_MKT) {
        ngx_http_broadcast_cc_mkt_item(it, ours, aud);
        return it;
    }

    ngx_http_broadcast_cc_set(it, "schedule_at",
                              json_object_get(ours, "schedule_at"));
    json_object_set_new(it, "recipients",
                        ngx_http_broadcast_cc_addresses(ours, addrs));

    if (w->kind == NGX_HTTP_BROADCAST_CC_EMAIL) {
        ngx_http_broadcast_cc_set(it, "from_email",
                                  json_object_get(proto, "from"));
        ngx_http_broadcast_cc_set(it, "subject",
                                  json_object_get(extra, "subject"));
        ngx_http_broadcast_cc_set(it, "text", json_object_get(extra, "text"));
        ngx_http_broadcast_cc_set(it, "html", json_object_get(extra, "html"));
        json_object_set_new(it, "followup_enabled", json_false());
        return it;
    }

    ngx_http_broadcast_cc_sms_texts(w, it, vars, tpl);
    json_object_set_new(it, "rate_per_minute", json_integer(60
        * json_integer_value(json_object_get(ours, "rate_per_second"))));
    json_object_set_new(it, "batch_size", json_null());
    json_object_set_new(it, "group_ids", ngx_http_broadcast_cc_list(
                            json_object_get(aud, "group_ids")));
    json_object_set_new(it, "tags", ngx_http_broadcast_cc_list(
                            json_object_get(aud, "tags")));

    return it;
}


/* a marketing step: order_no, channel, delay and what a proto sends */
static json_t *
ngx_http_broadcast_cc_step_of(json_t *ours, json_int_t order,
    const char *ch, json_int_t delay_s, json_t *tpl, json_t *proto)
{
    char     channel[16];
    size_t   k;
    json_t  *extra, *content;

    for (k = 0; ch && ch[k] && k + 1 < sizeof(channel); k++) {
        channel[k] = ngx_toupper(ch[k]);
    }
    channel[k] = '\0';

    extra = json_object_get(proto, "extra");
    content = (channel[0] == 'E') ? json_object_get(extra, "text")
                                  : json_object_get(proto, "body");

    return json_pack("{s:I,s:O,s:I,s:s,s:I,s:{},s:O*,s:O*,s:O*,s:O*,s:O*}",
        "id", order, "campaign_id", json_object_get(ours, "id"),
        "order_no", order, "channel", channel, "delay_days", delay_s / 86400,
        "filter_rules",
        "template_id", tpl,
        "subject", json_object_get(extra, "subject"),
        "content", content,
        "content_sid", json_object_get(extra, "content_sid"),
        "content_variables", json_object_get(extra, "content_variables"));
}


/* the marketing plan of a campaign of ours: order_no 1 is its own message
   (the first variant), 2... its steps */
static json_t *
ngx_http_broadcast_cc_step_items(json_t *ours, json_t *variants)
{
    char         key[40];
    size_t       i;
    json_t      *out, *protos, *st;
    long long    id;

    id = json_integer_value(json_object_get(ours, "id"));
    snprintf(key, sizeof(key), "%lld", id);

    out = json_array();
    json_array_append_new(out, ngx_http_broadcast_cc_step_of(ours, 1,
        json_string_value(json_object_get(ours, "channel")), 0,
        json_object_get(ours, "template_id"),
        json_object_get(json_array_get(json_object_get(variants, key), 0),
                        "proto")));

    snprintf(key, sizeof(key), "%lld/steps", id);
    protos = json_object_get(variants, key);

    json_array_foreach(json_object_get(ours, "steps"), i, st) {
        json_array_append_new(out, ngx_http_broadcast_cc_step_of(ours,
            (json_int_t) i + 2,
            json_string_value(json_object_get(st, "channel")),
            json_integer_value(json_object_get(st, "delay_seconds")),
            json_object_get(st, "template_id"),
            json_array_get(protos, i)));
    }

    return out;
}


/* the recipients of ours as flow rows, executions or customer progress */
static json_t *
ngx_http_broadcast_cc_rows(ngx_http_broadcast_cc_t *w, json_t *ours)
{
    size_t       i;
    json_t      *list, *r, *row, *status, *note;
    const char  *name;

    list = json_array();

    json_array_foreach(json_object_get(ours, "recipients"), i, r) {
        status = json_object_get(r, "status");
        if (status == NULL || json_is_null(status)) {
            status = json_object_get(r, "state");
        }

        note = json_object_get(r, "skip_reason");
        if (note == NULL || json_is_null(note)) {
            note = json_object_get(r, "error_message");
        }

        if (w->what == NGX_HTTP_BROADCAST_CC_FLOW) {
            row = json_pack("{s:O,s:O,s:{s:O,s:O,s:O*,s:n,s:n},s:n,s:n,"
                            "s:s}",
                "recipient", json_object_get(r, "address"),
                "contact_id", json_object_get(r, "contact_id"),
                "initial", "message_id", json_object_get(r, "message_id"),
                "status", status, "note", note, "created_at", "read_at",
                "followup", "followup_due_at", "followup_state", "none");

        } else {
            row = json_pack("{s:O,s:O,s:I,s:O,s:s,s:O,s:O,s:O*}",
                "id", json_object_get(r, "id"),
                "customer_id", json_object_get(r, "contact_id"),
                "campaign_id", (json_int_t) w->id,
                "address", json_object_get(r, "address"),
                "channel", w->channel,
                "status", status,
                "message_id", json_object_get(r, "message_id"),
                "note", note);

            if (row) {
                name = (w->what == NGX_HTTP_BROADCAST_CC_EXECUTIONS)
                       ? "step_id" : "step";
                json_object_set_new(row, name, json_integer(1
                    + json_integer_value(json_object_get(r, "step"))));
                json_object_set_new(row, "paused", json_false());
            }
        }

        if (row == NULL) {
            json_decref(list);
            return NULL;
        }

        json_array_append_new(list, row);
    }

    return list;
}


/* the answer of a route that reads recipients or one campaign's stats */
static json_t *
ngx_http_broadcast_cc_reads(ngx_http_broadcast_cc_t *w, json_t *ours)
{
    json_t      *st, *rows;
    const char  *key;

    if (w->what == NGX_HTTP_BROADCAST_CC_STATS) {
        st = json_deep_copy(json_object_get(ours, "stats"));
        if (st == NULL) {
            return NULL;
        }

        json_object_set(st, "campaign_id", json_object_get(ours, "id"));
        json_object_set_new(st, "status", json_string(
            ngx_http_broadcast_cc_status_out(w->kind, json_string_value(
                json_object_get(ours, "status")))));
        json_object_set(st, "total", json_object_get(st, "audience"));
        return st;
    }

    rows = ngx_http_broadcast_cc_rows(w, ours);
    key = (w->what == NGX_HTTP_BROADCAST_CC_FLOW) ? "flow"
          : (w->what == NGX_HTTP_BROADCAST_CC_EXECUTIONS) ? "executions"
          : "customers";

    return rows ? json_pack("{s:o,s:O}", key, rows, "next_cursor",
                            json_object_get(ours, "next_cursor"))
                : NULL;
}


/* the answer of ours (one campaign or a page of them) reshaped */
static json_t *
ngx_http_broadcast_cc_reshape(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_cc_t *w,
    json_t *ours)
{
    size_t       i;
    json_t      *list, *out, *variants, *addrs, *c, *step;
    const char  *want, *ch;

    if (w->what == NGX_HTTP_BROADCAST_CC_STATS
        || w->what == NGX_HTTP_BROADCAST_CC_FLOW
        || w->what == NGX_HTTP_BROADCAST_CC_EXECUTIONS
        || w->what == NGX_HTTP_BROADCAST_CC_PROGRESS)
    {
        return ngx_http_broadcast_cc_reads(w, ours);
    }

    if (json_is_true(json_object_get(ours, "deleted"))) {
        out = json_deep_copy(ours);
        json_object_set_new(out, "status", json_string("deleted"));
        return out;
    }

    list = json_object_get(ours, "campaigns");
    list = list ? json_incref(list) : json_pack("[O]", ours);
    variants = json_object();
    addrs = json_object();
    out = json_array();

    if (list == NULL || variants == NULL || addrs == NULL || out == NULL
        || ngx_http_broadcast_cc_lookups(ctx, conn, list, variants, addrs)
           != 0)
    {
        goto done;
    }

    want = ngx_http_broadcast_cc_channels[w->kind];

    json_array_foreach(list, i, c) {
        ch = json_string_value(json_object_get(c, "channel"));

        /* our list holds every channel: a page may come out shorter */
        if (want[0] && (ch == NULL || ngx_strcmp(ch, want) != 0)) {
            continue;
        }

        if (w->what == NGX_HTTP_BROADCAST_CC_STEPS
            || w->what == NGX_HTTP_BROADCAST_CC_STEPS_BATCH)
        {
            step = ngx_http_broadcast_cc_step_items(c, variants);

            /* GET .../steps and .../steps/batch answer the plan, a POST
               of one step that step (the first: the only one it sets) */
            json_array_append_new(out, (w->method == NGX_HTTP_POST
                                        && w->what
                                           == NGX_HTTP_BROADCAST_CC_STEPS)
                                       ? json_incref(json_array_get(step, 0))
                                       : json_pack("{s:O}", "steps", step));
            json_decref(step);
            continue;
        }

        json_array_append_new(out,
                              ngx_http_broadcast_cc_item(w, c, variants,
                                                         addrs));
    }

done:

    json_decref(variants);
    json_decref(addrs);

    if (json_object_get(ours, "campaigns")) {
        json_decref(list);
        return json_pack("{s:o,s:O}", "campaigns", out, "next_cursor",
                         json_object_get(ours, "next_cursor"));
    }

    json_decref(list);
    c = json_incref(json_array_get(out, 0));
    json_decref(out);

    return c;
}


/* our error in the predecessor's words: the status of a 409 */
static void
ngx_http_broadcast_cc_error(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_cc_t *w)
{
    const char  *s;

    s = json_string_value(json_object_get(ctx->error_extra, "status"));

    if (s && ctx->status == NGX_HTTP_CONFLICT) {
        json_object_set_new(ctx->error_extra, "status", json_string(
            ngx_http_broadcast_cc_status_out(w->kind, s)));
    }
}


void
ngx_http_broadcast_cc_op(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn)
{
    json_t                   *theirs;
    ngx_http_broadcast_cc_t  *w = ctx->op_data;

    if ((w->id > 0 && !ngx_http_broadcast_cc_kind(ctx, conn, w))
        || (w->addrs && ngx_http_broadcast_cc_contacts(ctx, conn, w) != 0))
    {
        if (ctx->code == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "internal_error", "out of memory");
        }

        return;
    }

    ctx->op_data = w->data;
    w->op(ctx, conn);
    ctx->op_data = w;

    if (ctx->code != NULL) {
        ngx_http_broadcast_cc_error(ctx, w);
        return;
    }

    if (ctx->result == NULL) {
        return;
    }

    theirs = ngx_http_broadcast_cc_reshape(ctx, conn, w, ctx->result);

    if (ctx->code != NULL) {
        json_decref(theirs);
        return;
    }

    if (theirs == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "internal_error", "out of memory");
        return;
    }

    json_decref(ctx->result);
    ctx->result = theirs;
}
