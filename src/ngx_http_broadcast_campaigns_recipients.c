/*
 * Campaigns: who a campaign reached and who had a template.
 *
 *   GET  /api/campaigns/{id}/recipients   recipient rows + message status
 *   POST /api/campaigns/{id}/retry-failed new message ids for retryable
 *                                         failures (DESIGN.md)
 *   POST /api/campaigns/check-duplicates  template_sends for addresses or
 *                                         contact ids
 *   GET  /api/templates/{id}/history      template_sends of one template
 */


#include "ngx_http_broadcast_campaigns.h"

#include "bc_id.h"


#define NGX_HTTP_BROADCAST_CAMP_DUP_MAX    1000
#define NGX_HTTP_BROADCAST_CAMP_RETRY_RUN  500     /* rows a statement */


/*
 * the provider errors a retry cannot fix: the recipient opted out or is
 * blocked, the address is invalid or not a mobile, a WhatsApp window or
 * template problem; and unknown_after_crash: the message may have gone
 * out, and a campaign never sends a step twice
 */
static const char  *ngx_http_broadcast_camp_never_retry =
    "'21610','21211','21614','63016','131047','132001','131026',"
    "'opted_out','blacklisted','unknown_after_crash'";

static const char  *ngx_http_broadcast_camp_states[] = {
    "pending", "queued", "skipped", "cancelled", NULL
};

static const char  *ngx_http_broadcast_camp_msg_statuses[] = {
    "accepted", "sending", "sent", "delivered", "read", "failed",
    "undelivered", "blocked", "canceled", NULL
};




static json_t *
ngx_http_broadcast_camp_recipient(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    return json_pack("{s:I,s:I,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o}",
                     "id", (json_int_t) strtoll(row[0], NULL, 10),
                     "contact_id", (json_int_t) strtoll(row[1], NULL, 10),
                     "address", ngx_http_broadcast_camp_str(row[2]),
                     "variant", ngx_http_broadcast_camp_str(row[3]),
                     "step", (json_int_t) strtoll(row[4], NULL, 10),
                     "message_id", ngx_http_broadcast_camp_str(row[5]),
                     "state", ngx_http_broadcast_camp_str(row[6]),
                     "skip_reason", ngx_http_broadcast_camp_str(row[7]),
                     "status", ngx_http_broadcast_camp_str(row[8]),
                     "error_code", ngx_http_broadcast_camp_str(row[9]),
                     "error_message", ngx_http_broadcast_camp_str(row[10]));
}


/* thread: GET /api/campaigns/{id}/recipients */
void
ngx_http_broadcast_camp_recipients(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    char                      status[32];
    MYSQL_RES                *res;
    ngx_http_broadcast_sql_t  sql = { NULL, 0, 0, 0, 0 };

    if (ngx_http_broadcast_sql_read(ctx, conn) != 0) {
        return;
    }

    if (cp->status[0]
        && !ngx_http_broadcast_sql_enum(ngx_http_broadcast_camp_states,
                                        cp->status)
        && !ngx_http_broadcast_sql_enum(ngx_http_broadcast_camp_msg_statuses,
                                        cp->status))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BAD_REQUEST,
            "invalid_request", "status must be a recipient state (pending, "
            "queued, skipped, cancelled) or a message status (accepted, "
            "sending, sent, delivered, read, failed, undelivered, blocked, "
            "canceled)");
        return;
    }

    if (ngx_http_broadcast_camp_status(ctx, conn, cp->id, status,
                                       sizeof(status))
        != 1)
    {
        return;
    }

    ngx_http_broadcast_sql_cat(&sql, "SELECT r.id, r.contact_id, r.address, "
        "v.name, r.step, r.message_id, r.state, r.skip_reason, m.status, "
        "m.error_code, m.error_message FROM campaign_recipients r "
        "LEFT JOIN campaign_variants v ON v.campaign_id=r.campaign_id AND "
        "v.idx=r.variant LEFT JOIN messages m ON m.id=r.message_id "
        "WHERE r.campaign_id=%lld AND r.id>%lld", cp->id, cp->cursor);

    /* both lists are fixed words: nothing to escape */
    if (ngx_http_broadcast_sql_enum(ngx_http_broadcast_camp_states,
                                    cp->status))
    {
        ngx_http_broadcast_sql_cat(&sql, " AND r.state='%s'", cp->status);

    } else if (cp->status[0]) {
        ngx_http_broadcast_sql_cat(&sql, " AND m.status='%s'", cp->status);
    }

    if (cp->variant[0]) {
        ngx_http_broadcast_sql_cat(&sql, " AND v.name=");
        ngx_http_broadcast_sql_str(&sql, conn->mysql, cp->variant,
                                   strlen(cp->variant));
    }

    ngx_http_broadcast_sql_cat(&sql, " ORDER BY r.id LIMIT %u",
                               (unsigned) cp->limit + 1);

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return;
    }

    (void) ngx_http_broadcast_sql_page_result(ctx, res, cp->limit,
               ngx_http_broadcast_camp_recipient, NULL, "recipients");
}


/*
 * thread, in the retry's transaction: one run of rows (id, message_id)
 * given new message ids, their template_sends rows following; 0 or -1
 */
static int
ngx_http_broadcast_camp_requeue(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id, MYSQL_ROW *rows,
    ngx_uint_t n, ngx_http_broadcast_sql_t *sql)
{
    char        ids[NGX_HTTP_BROADCAST_CAMP_RETRY_RUN][32];
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_http_broadcast_ulid(ids[i]) != 0) {
            return -1;
        }
    }

    ngx_http_broadcast_sql_cat(sql, "UPDATE template_sends SET "
                               "message_id=CASE message_id");
    for (i = 0; i < n; i++) {
        ngx_http_broadcast_sql_cat(sql, " WHEN '%s' THEN '%s'", rows[i][1],
                                   ids[i]);
    }

    ngx_http_broadcast_sql_cat(sql, " END WHERE campaign_id=%lld AND "
                               "message_id IN (", id);
    for (i = 0; i < n; i++) {
        ngx_http_broadcast_sql_cat(sql, "%s'%s'", i ? "," : "", rows[i][1]);
    }

    ngx_http_broadcast_sql_cat(sql, ")");

    if (ngx_http_broadcast_contacts_exec(ctx, conn, sql) != 0) {
        return -1;
    }

    sql->len = 0;
    ngx_http_broadcast_sql_cat(sql, "UPDATE campaign_recipients SET "
                               "state='pending', attempts=attempts+1, "
                               "updated_at=UTC_TIMESTAMP(3), "
                               "message_id=CASE id");
    for (i = 0; i < n; i++) {
        ngx_http_broadcast_sql_cat(sql, " WHEN %s THEN '%s'", rows[i][0],
                                   ids[i]);
    }

    ngx_http_broadcast_sql_cat(sql, " END WHERE id IN (");
    for (i = 0; i < n; i++) {
        ngx_http_broadcast_sql_cat(sql, "%s%s", i ? "," : "", rows[i][0]);
    }

    ngx_http_broadcast_sql_cat(sql, ")");

    if (ngx_http_broadcast_contacts_exec(ctx, conn, sql) != 0) {
        return -1;
    }

    sql->len = 0;

    return 0;
}


/* thread, in the transaction: the campaign locked; 1 when it may retry */
static int
ngx_http_broadcast_camp_retryable(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp,
    ngx_http_broadcast_sql_t *sql)
{
    static const char  *retryable[] = {
        "running", "paused", "completed", NULL
    };

    return ngx_http_broadcast_camp_lock_in(ctx, conn, cp, sql, retryable,
               "a running, paused or completed campaign",
               "retries its failures");
}


/* thread: POST /api/campaigns/{id}/retry-failed */
void
ngx_http_broadcast_camp_retry(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    MYSQL_ROW                 rows[NGX_HTTP_BROADCAST_CAMP_RETRY_RUN], row;
    MYSQL_RES                *res;
    long long                 done;
    ngx_uint_t                n;
    ngx_http_broadcast_sql_t  sql = { NULL, 0, 0, 0, 0 };

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0
        || ngx_http_broadcast_contacts_begin(ctx, conn, &sql) != 0)
    {
        return;
    }

    if (!ngx_http_broadcast_camp_retryable(ctx, conn, cp, &sql)) {
        goto failed;
    }

    ngx_http_broadcast_sql_cat(&sql, "SELECT r.id, r.message_id FROM "
        "campaign_recipients r JOIN messages m ON m.id=r.message_id WHERE "
        "r.campaign_id=%lld AND r.state='queued' AND m.status IN "
        "('failed','undelivered') AND (m.error_code IS NULL OR "
        "m.error_code NOT IN (%s)) ORDER BY r.id FOR UPDATE", cp->id,
        ngx_http_broadcast_camp_never_retry);

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    sql.len = 0;

    if (res == NULL) {
        goto failed;
    }

    done = 0;
    n = 0;

    /* the rows stay in res (mysql_store_result) while runs are updated */
    do {
        row = mysql_fetch_row(res);

        if (row) {
            rows[n++] = row;
        }

        if (n == NGX_HTTP_BROADCAST_CAMP_RETRY_RUN || (row == NULL && n)) {
            if (ngx_http_broadcast_camp_requeue(ctx, conn, cp->id, rows, n,
                                                &sql)
                != 0)
            {
                mysql_free_result(res);
                goto failed;
            }

            done += n;
            n = 0;
        }

    } while (row);

    mysql_free_result(res);

    ngx_http_broadcast_sql_cat(&sql, "UPDATE campaigns SET status='running',"
        " completed_at=NULL, updated_at=UTC_TIMESTAMP(3) WHERE id=%lld AND "
        "status='completed' AND %lld>0", cp->id, done);

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        goto failed;
    }

    sql.len = 0;
    ngx_http_broadcast_sql_cat(&sql, "COMMIT");

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        goto failed;
    }

    free(sql.data);
    ctx->result = json_pack("{s:I}", "requeued", (json_int_t) done);

    return;

failed:

    free(sql.data);

    if (conn->mysql) {
        (void) mysql_query(conn->mysql, "ROLLBACK");
    }
}


/* an address in the form contacts store it (contacts.c's field rules) */
static int
ngx_http_broadcast_camp_address(ngx_http_request_t *r, json_t *v,
    ngx_http_broadcast_contact_t *ct, char *out, size_t size)
{
    ngx_uint_t   i;
    const char  *key, *why;

    key = strchr(json_string_value(v), '@') ? "email" : "phone";

    for (i = 0; i < ngx_http_broadcast_ncfields; i++) {
        if (ngx_strcmp(ngx_http_broadcast_cfields[i].key, key) == 0) {
            return ngx_http_broadcast_cfields[i].parse(ct, v, out, size,
                                                       &why);
        }
    }

    return -1;
}


/*
 * loop: check-duplicates' template (id, or name and optional channel)
 * and its items: {"address", "normalized"} or {"contact_id"}; 0 or -1
 */
int
ngx_http_broadcast_camp_dup_args(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_camp_t *cp)
{
    char                            out[512];
    size_t                          i;
    json_t                         *tpl, *name, *channel, *addrs, *ids, *v;
    ngx_http_broadcast_contact_t   *ct;
    ngx_http_broadcast_loc_conf_t  *lcf;

    tpl = json_object_get(json, "template_id");
    name = json_object_get(json, "template_name");
    channel = json_object_get(json, "channel");
    addrs = json_object_get(json, "addresses");
    ids = json_object_get(json, "contact_ids");

    if ((tpl != NULL) == (name != NULL)
        || (tpl && (!json_is_integer(tpl) || json_integer_value(tpl) <= 0))
        || (name && (!json_is_string(name) || json_string_length(name) == 0
                     || json_string_length(name) > 512)))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "invalid_request", "template_id (a template's id) or "
            "template_name is required, one of them");
        return -1;
    }

    if (channel && !json_is_string(channel)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "invalid_request", "channel must be sms, whatsapp or email");
        return -1;
    }

    cp->template_id = tpl ? json_integer_value(tpl) : 0;
    cp->tname = name ? strdup(json_string_value(name)) : NULL;
    ngx_cpystrn((u_char *) cp->channel,
                (u_char *) (channel ? json_string_value(channel) : ""),
                sizeof(cp->channel));

    if ((addrs && (!json_is_array(addrs)
                   || json_array_size(addrs) > NGX_HTTP_BROADCAST_CAMP_DUP_MAX))
        || (ids && ngx_http_broadcast_camp_ids(ctx, ids, "contact_ids",
                       NGX_HTTP_BROADCAST_CAMP_DUP_MAX) < 0)
        || json_array_size(addrs) + json_array_size(ids) == 0)
    {
        if (ctx->code == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "addresses and/or contact_ids are "
                "required: arrays of at most 1000 each");
        }

        return -1;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);
    ct = ngx_pcalloc(r->pool, sizeof(ngx_http_broadcast_contact_t));
    cp->items = json_array();

    if (ct == NULL || cp->items == NULL) {
        return -1;
    }

    ngx_cpystrn((u_char *) ct->country, lcf->default_country.data,
                ngx_min(sizeof(ct->country), lcf->default_country.len + 1));

    json_array_foreach(addrs, i, v) {
        if (!json_is_string(v)
            || ngx_http_broadcast_camp_address(r, v, ct, out, sizeof(out))
               != 0)
        {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "addresses[%zu] is not a phone number or "
                "an e-mail address", i);
            return -1;
        }

        json_array_append_new(cp->items, json_pack("{s:O,s:s}", "address", v,
                                                   "normalized", out));
    }

    json_array_foreach(ids, i, v) {
        json_array_append_new(cp->items, json_pack("{s:O}", "contact_id", v));
    }

    return 0;
}


/* thread: the template of check-duplicates by id or name; 1, or 0 */
static int
ngx_http_broadcast_camp_dup_template(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    MYSQL_RES                *res;
    MYSQL_ROW                 row;
    my_ulonglong              n;
    ngx_http_broadcast_sql_t  sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT id FROM message_templates "
                               "WHERE ");

    if (cp->tname) {
        ngx_http_broadcast_sql_cat(&sql, "name=");
        ngx_http_broadcast_sql_str(&sql, conn->mysql, cp->tname,
                                   strlen(cp->tname));

        if (cp->channel[0]) {
            ngx_http_broadcast_sql_cat(&sql, " AND channel=");
            ngx_http_broadcast_sql_str(&sql, conn->mysql, cp->channel,
                                       strlen(cp->channel));
        }

    } else {
        ngx_http_broadcast_sql_cat(&sql, "id=%lld", cp->template_id);
    }

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return 0;
    }

    n = mysql_num_rows(res);
    row = mysql_fetch_row(res);
    cp->template_id = row ? strtoll(row[0], NULL, 10) : 0;
    mysql_free_result(res);

    if (n == 0) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "unknown_template", "no template matches the template_id or "
            "template_name given (GET /api/templates lists them)");
        return 0;
    }

    if (n > 1) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "invalid_request", "template_name \"%s\" names a template of "
            "several channels: give channel too", cp->tname);
        return 0;
    }

    return 1;
}


/*
 * thread: one item of check-duplicates looked up: its contact and, when
 * the contact had the template, the campaign and message; 1 had it, 0
 * not, -1 with ctx's error set
 */
static int
ngx_http_broadcast_camp_dup_item(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long tpl, json_t *item)
{
    int                        had;
    json_t                    *addr, *id;
    MYSQL_RES                 *res;
    MYSQL_ROW                  row;
    const char                *s;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    addr = json_object_get(item, "normalized");
    id = json_object_get(item, "contact_id");

    /* the contact that had it first, else the first that matches */
    ngx_http_broadcast_sql_cat(&sql, "SELECT c.id, t.campaign_id, "
        "t.message_id, %s FROM contacts c LEFT JOIN template_sends t ON "
        "t.contact_id=c.id AND t.template_id=%lld WHERE ",
        NGX_HTTP_BROADCAST_CAMP_TIME("t.created_at"), tpl);

    if (addr) {
        s = json_string_value(addr);
        ngx_http_broadcast_sql_cat(&sql, "c.phone=");
        ngx_http_broadcast_sql_str(&sql, conn->mysql, s, strlen(s));
        ngx_http_broadcast_sql_cat(&sql, " OR c.whatsapp=");
        ngx_http_broadcast_sql_str(&sql, conn->mysql, s, strlen(s));
        ngx_http_broadcast_sql_cat(&sql, " OR c.email=");
        ngx_http_broadcast_sql_str(&sql, conn->mysql, s, strlen(s));

    } else {
        ngx_http_broadcast_sql_cat(&sql, "c.id=%lld",
                                   (long long) json_integer_value(id));
    }

    ngx_http_broadcast_sql_cat(&sql, " ORDER BY t.campaign_id IS NULL, c.id "
                               "LIMIT 1");

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return -1;
    }

    row = mysql_fetch_row(res);
    had = row && row[1];

    if (addr) {
        json_object_del(item, "normalized");
        json_object_set_new(item, "contact_id", row
                            ? json_integer(strtoll(row[0], NULL, 10))
                            : json_null());
    }

    if (had) {
        json_object_set_new(item, "campaign_id",
                            json_integer(strtoll(row[1], NULL, 10)));
        json_object_set_new(item, "message_id", json_string(row[2]));
        json_object_set_new(item, "sent_at", json_string(row[3]));
    }

    mysql_free_result(res);

    return had;
}


/* thread: POST /api/campaigns/check-duplicates */
void
ngx_http_broadcast_camp_duplicates(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    int      rc;
    size_t   i;
    json_t  *item, *sent, *not_sent;

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0
        || !ngx_http_broadcast_camp_dup_template(ctx, conn, cp))
    {
        return;
    }

    sent = json_array();
    not_sent = json_array();

    json_array_foreach(cp->items, i, item) {
        rc = ngx_http_broadcast_camp_dup_item(ctx, conn, cp->template_id,
                                              item);
        if (rc < 0) {
            json_decref(sent);
            json_decref(not_sent);
            return;
        }

        json_array_append(rc ? sent : not_sent, item);
    }

    ctx->result = json_pack("{s:I,s:o,s:o}", "template_id",
                            (json_int_t) cp->template_id, "already_sent",
                            sent, "not_sent", not_sent);
}


static json_t *
ngx_http_broadcast_camp_history_row(void *data, MYSQL_ROW row,
    unsigned long *lengths)
{
    return json_pack("{s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o}",
                     "contact_id", (json_int_t) strtoll(row[0], NULL, 10),
                     "address", ngx_http_broadcast_camp_str(row[1]),
                     "campaign_id", (json_int_t) strtoll(row[2], NULL, 10),
                     "campaign_name", ngx_http_broadcast_camp_str(row[3]),
                     "message_id", ngx_http_broadcast_camp_str(row[4]),
                     "status", ngx_http_broadcast_camp_str(row[5]),
                     "sent_at", ngx_http_broadcast_camp_str(row[6]),
                     "created_at", ngx_http_broadcast_camp_str(row[7]));
}


/* thread: GET /api/templates/{id}/history, by contact id */
void
ngx_http_broadcast_camp_history(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    long long                 n;
    MYSQL_RES                *res;
    ngx_http_broadcast_sql_t  sql = { NULL, 0, 0, 0, 0 };

    ngx_http_broadcast_sql_cat(&sql, "SELECT COUNT(*) FROM "
                               "message_templates WHERE id=%lld", cp->id);
    n = ngx_http_broadcast_sql_number(
            ngx_http_broadcast_contacts_select(ctx, conn, &sql));
    sql.len = 0;

    if (n <= 0) {
        if (n == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND,
                "not_found", "no template with id %lld", cp->id);
        }

        free(sql.data);
        return;
    }

    ngx_http_broadcast_sql_cat(&sql, "SELECT t.contact_id, "
        "COALESCE(r.address, c.phone, c.whatsapp, c.email), t.campaign_id, "
        "k.name, t.message_id, m.status, %s, %s FROM template_sends t "
        "LEFT JOIN campaigns k ON k.id=t.campaign_id "
        "LEFT JOIN campaign_recipients r ON r.message_id=t.message_id "
        "LEFT JOIN messages m ON m.id=t.message_id "
        "LEFT JOIN contacts c ON c.id=t.contact_id "
        "WHERE t.template_id=%lld AND t.contact_id>%lld "
        "ORDER BY t.contact_id LIMIT %u",
        NGX_HTTP_BROADCAST_CAMP_TIME("m.sent_at"),
        NGX_HTTP_BROADCAST_CAMP_TIME("t.created_at"), cp->id, cp->cursor,
        (unsigned) cp->limit + 1);

    res = ngx_http_broadcast_contacts_select(ctx, conn, &sql);
    free(sql.data);

    if (res == NULL) {
        return;
    }

    (void) ngx_http_broadcast_sql_page_result(ctx, res, cp->limit,
               ngx_http_broadcast_camp_history_row, NULL, "history");
}
