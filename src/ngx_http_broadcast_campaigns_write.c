/*
 * Campaigns, the thread side of POST and PATCH: each variant's batch (the
 * send handler's, campaigns.c) becomes its proto, a template rendered into
 * it with its placeholders kept, a whitelisted sender checked in Redis as
 * a send checks it; then the campaign row and its variants are written in
 * one transaction.
 */


#include "ngx_http_broadcast_campaigns.h"
#include "ngx_http_broadcast_msgtpl.h"
#include "bc_tz.h"


/* a statement of the open transaction: never retried elsewhere */
static int
ngx_http_broadcast_camp_tx(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_sql_t *sql)
{
    int  rc;

    sql->tx = 1;
    rc = ngx_http_broadcast_contacts_exec(ctx, conn, sql);
    sql->len = 0;

    return rc;
}


/*
 * thread: the template of variant v rendered into its batch with each of
 * its variables (and the campaign's template_variables) as the
 * placeholder itself, so the dispatcher fills them per recipient. 1, or 0
 * with ctx's answer.
 */
static int
ngx_http_broadcast_camp_template(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp,
    ngx_http_broadcast_camp_variant_t *v)
{
    int          rc;
    char         ph[NGX_HTTP_BROADCAST_MSGTPL_VAR_MAX + 8];
    size_t       i;
    json_t      *names, *vars, *x;
    ngx_str_t    f[NGX_HTTP_BROADCAST_MSGTPL_NFIELDS];
    MYSQL_RES   *res;
    const char  *key;

    res = NULL;
    rc = ngx_http_broadcast_msgtpl_fetch(ctx, conn, v->template_id, "", &res,
                                         f);
    if (rc <= 0) {
        if (rc == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "unknown_template", "template_id %lld: no template has this "
                "id (GET /api/templates lists them)", v->template_id);
        }

        if (res) {
            mysql_free_result(res);
        }

        return 0;
    }

    names = ngx_http_broadcast_msgtpl_variables(f);
    mysql_free_result(res);

    vars = cp->vars ? json_loads(cp->vars, 0, NULL) : json_object();

    json_array_foreach(names, i, x) {
        json_object_set(vars, json_string_value(x), json_null());
    }

    json_decref(names);

    if (vars == NULL) {
        return -1;
    }

    /* each value is its own placeholder: rendering keeps it */
    json_object_foreach(vars, key, x) {
        snprintf(ph, sizeof(ph), "{{%s}}", key);
        json_object_set_new(vars, key, json_string(ph));
    }

    json_decref(v->b->tpl_vars);
    v->b->tpl_vars = vars;

    return ngx_http_broadcast_msgtpl_send(ctx, conn, v->b);
}


/* thread: a sender outside the configured ones must be whitelisted */
static int
ngx_http_broadcast_camp_sender(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_batch_t *b)
{
    int          ok;
    char         err[256];
    size_t       lens[3];
    const char  *argv[3];
    redisReply  *reply;

    argv[0] = "SISMEMBER"; argv[1] = b->sender_set; argv[2] = b->from;
    lens[0] = 9; lens[1] = strlen(b->sender_set); lens[2] = strlen(b->from);

    reply = ngx_http_broadcast_redis_cmd(conn, ctx->mcf, 3, argv, lens, err,
                                         sizeof(err));
    if (reply == NULL) {
        snprintf(ctx->detail, sizeof(ctx->detail), "%s", err);
        ngx_http_broadcast_api_redis_down(ctx);
        return 0;
    }

    ok = (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1);
    freeReplyObject(reply);

    if (!ok) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "sender_not_allowed", "from: %s is not a whitelisted %s sender: "
            "add it with POST /api/%s/senders", b->from, b->channel,
            b->channel);
    }

    return ok;
}


int
ngx_http_broadcast_camp_proto(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp,
    ngx_http_broadcast_camp_variant_t *v, ngx_uint_t check_sender)
{
    json_t                      *proto, *extra;
    ngx_http_broadcast_batch_t  *b = v->b;

    if (v->template_id
        && ngx_http_broadcast_camp_template(ctx, conn, cp, v) != 1)
    {
        return 0;
    }

    if (check_sender && b->sender_set
        && !ngx_http_broadcast_camp_sender(ctx, conn, b))
    {
        return 0;
    }

    extra = b->extra ? json_loads(b->extra, 0, NULL) : NULL;

    proto = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "channel", b->channel,
                      "provider", b->provider, "from", b->from,
                      "messaging_service_sid", b->mss, "body", b->text,
                      "extra", extra && json_object_size(extra)
                               ? extra : json_null());

    if (extra && json_object_size(extra) == 0) {
        json_decref(extra);
    }

    v->proto = proto ? json_dumps(proto, JSON_COMPACT) : NULL;
    json_decref(proto);

    return v->proto ? 1 : -1;
}


/* thread: each variant's proto (DESIGN.md "Campaigns"); 1, 0 or -1 */
static int
ngx_http_broadcast_camp_protos(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    int         rc;
    ngx_uint_t  i;

    for (i = 0; i < cp->nvariants; i++) {
        /* one sender for every variant: checked once */
        rc = ngx_http_broadcast_camp_proto(ctx, conn, cp, &cp->variants[i],
                                           i == 0);
        if (rc != 1) {
            return rc;
        }
    }

    return ngx_http_broadcast_camp_steps_protos(ctx, conn, cp);
}


/* thread: each audience group must exist; 1, or 0 with a 422 set */
static int
ngx_http_broadcast_camp_groups(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    char         sql[160];
    long long    n;
    ngx_uint_t   i;

    for (i = 0; i < cp->ngroups; i++) {
        n = ngx_http_broadcast_sql_number(ngx_http_broadcast_sql_printed(ctx,
                conn, sql, snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM "
                "contact_groups WHERE id=%lld", cp->group_ids[i]),
                sizeof(sql)));

        if (n < 0) {
            return 0;
        }

        if (n == 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "unknown_group", "audience.group_ids: no group has id %lld "
                "(GET /api/groups lists them)", cp->group_ids[i]);
            return 0;
        }
    }

    return 1;
}


/* a nullable text as a literal */
static void
ngx_http_broadcast_camp_lit(ngx_http_broadcast_sql_t *sql, MYSQL *m,
    const char *s)
{
    ngx_http_broadcast_sql_str(sql, m, s, s ? strlen(s) : 0);
}


/* the INSERT of a new campaign row */
static void
ngx_http_broadcast_camp_insert(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_camp_t *cp, ngx_http_broadcast_sql_t *sql,
    const char *batch_id)
{
    MYSQL  *m = conn->mysql;

    ngx_http_broadcast_sql_cat(sql, "INSERT INTO campaigns (name, channel, "
        "status, batch_id, template_id, never_repeat_template, audience, "
        "audience_limit, template_variables, rate_per_second, quiet_hours, "
        "schedule_at, created_at, updated_at) VALUES (");
    ngx_http_broadcast_camp_lit(sql, m, cp->name);
    ngx_http_broadcast_sql_cat(sql, ",'%s','%s','%s',", cp->channel,
                               cp->schedule_at[0] ? "scheduled" : "draft",
                               batch_id);
    ngx_http_broadcast_sql_cat(sql, cp->template_id ? "%lld," : "NULL,",
                               cp->template_id);
    ngx_http_broadcast_sql_cat(sql, "%d,", cp->never_repeat ? 1 : 0);
    ngx_http_broadcast_camp_lit(sql, m, cp->audience);
    ngx_http_broadcast_sql_cat(sql, cp->audience_limit ? ",%lld," : ",NULL,",
                               cp->audience_limit);
    ngx_http_broadcast_camp_lit(sql, m, cp->vars);
    ngx_http_broadcast_sql_cat(sql, ",%d,", (int) cp->rate);
    ngx_http_broadcast_camp_lit(sql, m, cp->quiet);
    ngx_http_broadcast_sql_cat(sql, ",");
    ngx_http_broadcast_camp_lit(sql, m, cp->schedule_at[0] ? cp->schedule_at
                                                           : NULL);
    ngx_http_broadcast_sql_cat(sql, ",UTC_TIMESTAMP(3),UTC_TIMESTAMP(3))");
}


/* the UPDATE of a PATCH: only the fields given */
static void
ngx_http_broadcast_camp_update(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_camp_t *cp, ngx_http_broadcast_sql_t *sql)
{
    MYSQL  *m = conn->mysql;

    /* the revision tells a dispatcher holding it to read it again */
    ngx_http_broadcast_sql_cat(sql, "UPDATE campaigns SET "
                               "updated_at=UTC_TIMESTAMP(3),"
                               "revision=revision+1");

    if (cp->has_name) {
        ngx_http_broadcast_sql_cat(sql, ",name=");
        ngx_http_broadcast_camp_lit(sql, m, cp->name);
    }

    if (cp->has_audience) {
        ngx_http_broadcast_sql_cat(sql, ",audience=");
        ngx_http_broadcast_camp_lit(sql, m, cp->audience);
        ngx_http_broadcast_sql_cat(sql, cp->audience_limit
                                        ? ",audience_limit=%lld"
                                        : ",audience_limit=NULL",
                                   cp->audience_limit);
    }

    if (cp->has_vars) {
        ngx_http_broadcast_sql_cat(sql, ",template_variables=");
        ngx_http_broadcast_camp_lit(sql, m, cp->vars);
    }

    if (cp->has_quiet) {
        ngx_http_broadcast_sql_cat(sql, ",quiet_hours=");
        ngx_http_broadcast_camp_lit(sql, m, cp->quiet);
    }

    if (cp->has_rate) {
        ngx_http_broadcast_sql_cat(sql, ",rate_per_second=%d",
                                   (int) cp->rate);
    }

    if (cp->has_sending) {
        ngx_http_broadcast_sql_cat(sql, ",channel='%s'", cp->channel);
        ngx_http_broadcast_sql_cat(sql, cp->template_id ? ",template_id=%lld"
                                                        : ",template_id=NULL",
                                   cp->template_id);
    }

    if (cp->has_never || cp->has_sending) {
        ngx_http_broadcast_sql_cat(sql, ",never_repeat_template=%d",
                                   cp->never_repeat ? 1 : 0);
    }

    /* a draft with a time is scheduled, a scheduled one without is not */
    if (cp->has_schedule) {
        ngx_http_broadcast_sql_cat(sql, ",schedule_at=");
        ngx_http_broadcast_camp_lit(sql, m, cp->schedule_at[0]
                                            ? cp->schedule_at : NULL);
        ngx_http_broadcast_sql_cat(sql, ",status=IF(status='paused',status,"
                                   "'%s')", cp->schedule_at[0] ? "scheduled"
                                                               : "draft");
    }

    ngx_http_broadcast_sql_cat(sql, " WHERE id=%lld", cp->id);
}


/* the variants' rows, replacing those of the campaign */
static void
ngx_http_broadcast_camp_variant_rows(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_camp_t *cp, ngx_http_broadcast_sql_t *sql)
{
    ngx_uint_t                          i;
    ngx_http_broadcast_camp_variant_t  *v;

    ngx_http_broadcast_sql_cat(sql, "INSERT INTO campaign_variants "
        "(campaign_id, idx, name, weight, template_id, proto) VALUES ");

    for (i = 0; i < cp->nvariants; i++) {
        v = &cp->variants[i];
        ngx_http_broadcast_sql_cat(sql, "%s(%lld,%u,", i ? "," : "", cp->id,
                                   (unsigned) i);
        ngx_http_broadcast_camp_lit(sql, conn->mysql, v->name);
        ngx_http_broadcast_sql_cat(sql, ",%d,", (int) v->weight);
        ngx_http_broadcast_sql_cat(sql, v->template_id ? "%lld," : "NULL,",
                                   v->template_id);
        ngx_http_broadcast_camp_lit(sql, conn->mysql, v->proto);
        ngx_http_broadcast_sql_cat(sql, ")");
    }
}


/*
 * thread, in a transaction: the campaign row locked (FOR UPDATE); 1 when
 * its status is one of allowed (NULL-terminated), else 0 with 404, or 409
 * invalid_transition naming the status and "only <who> <what>"
 */
int
ngx_http_broadcast_camp_lock_in(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp,
    ngx_http_broadcast_sql_t *sql, const char **allowed, const char *who,
    const char *what)
{
    char         status[32];
    ngx_uint_t   i;
    MYSQL_RES   *res;
    MYSQL_ROW    row;

    ngx_http_broadcast_sql_cat(sql, "SELECT status FROM campaigns WHERE "
                               "id=%lld FOR UPDATE", cp->id);
    res = ngx_http_broadcast_contacts_select(ctx, conn, sql);
    sql->len = 0;

    if (res == NULL) {
        return 0;
    }

    row = mysql_fetch_row(res);
    ngx_cpystrn((u_char *) status, (u_char *) (row ? row[0] : ""),
                sizeof(status));
    mysql_free_result(res);

    if (row == NULL) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                     "no campaign with id %lld", cp->id);
        return 0;
    }

    for (i = 0; allowed[i]; i++) {
        if (ngx_strcmp(status, allowed[i]) == 0) {
            return 1;
        }
    }

    ctx->error_extra = json_pack("{s:s}", "status", status);
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_CONFLICT,
        "invalid_transition", "campaign %lld is %s: only %s %s", cp->id,
        status, who, what);

    return 0;
}


/* thread, in the transaction of a PATCH: 1 when the campaign may change */
static int
ngx_http_broadcast_camp_editable(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp,
    ngx_http_broadcast_sql_t *sql)
{
    static const char  *editable[] = { "draft", "scheduled", "paused", NULL };

    sql->tx = 1;

    return ngx_http_broadcast_camp_lock_in(ctx, conn, cp, sql, editable,
               "a draft, scheduled or paused campaign", "can be changed");
}


void
ngx_http_broadcast_camp_write(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    int                        rc;
    char                       batch_id[32];
    json_t                    *c;
    ngx_http_broadcast_sql_t   sql = { NULL, 0, 0, 0, 0 };

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0) {
        return;
    }

    /* the zone is read here, in the thread: a file of the tz database */
    if (cp->quiet_tz[0]) {
        bc_tz_t  *tz = bc_tz_load(cp->quiet_tz);

        if (tz == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "quiet_hours.timezone \"%s\" is not in "
                "this server's time zone database (" BC_TZ_DIR "): use an "
                "IANA name such as \"Europe/Berlin\"", cp->quiet_tz);
            return;
        }

        bc_tz_free(tz);
    }

    rc = ngx_http_broadcast_camp_protos(ctx, conn, cp);
    if (rc != 1) {
        if (rc < 0) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                         "internal_error", "out of memory");
        }

        return;
    }

    if (!ngx_http_broadcast_camp_groups(ctx, conn, cp)
        || ngx_http_broadcast_ulid(batch_id) != 0
        || ngx_http_broadcast_contacts_begin(ctx, conn, &sql) != 0)
    {
        return;
    }

    if (cp->action == NGX_HTTP_BROADCAST_CAMP_CREATE) {
        ngx_http_broadcast_camp_insert(conn, cp, &sql, batch_id);
        if (ngx_http_broadcast_camp_tx(ctx, conn, &sql) != 0) {
            goto failed;
        }

        cp->id = (long long) mysql_insert_id(conn->mysql);

    } else {
        if (!ngx_http_broadcast_camp_editable(ctx, conn, cp, &sql)) {
            goto failed;
        }

        ngx_http_broadcast_camp_update(conn, cp, &sql);
        if (ngx_http_broadcast_camp_tx(ctx, conn, &sql) != 0) {
            goto failed;
        }

        if (cp->has_sending) {
            ngx_http_broadcast_sql_cat(&sql, "DELETE FROM campaign_variants "
                                       "WHERE campaign_id=%lld", cp->id);
            if (ngx_http_broadcast_camp_tx(ctx, conn, &sql) != 0) {
                goto failed;
            }
        }
    }

    if (cp->has_sending) {
        ngx_http_broadcast_camp_variant_rows(conn, cp, &sql);
        if (ngx_http_broadcast_camp_tx(ctx, conn, &sql) != 0) {
            goto failed;
        }
    }

    /* new quiet hours: rows deferred by the old ones are due again (the
       dispatcher decides each row's window when it is due) */
    if (cp->has_quiet && cp->action != NGX_HTTP_BROADCAST_CAMP_CREATE) {
        ngx_http_broadcast_sql_cat(&sql, "UPDATE campaign_recipients SET "
                                   "not_before=NULL WHERE campaign_id=%lld "
                                   "AND state='pending' AND not_before IS "
                                   "NOT NULL", cp->id);
        if (ngx_http_broadcast_camp_tx(ctx, conn, &sql) != 0) {
            goto failed;
        }
    }

    /* steps given replace the campaign's (none: [] or null) */
    if (cp->has_steps && cp->action != NGX_HTTP_BROADCAST_CAMP_CREATE) {
        ngx_http_broadcast_sql_cat(&sql, "DELETE FROM campaign_steps WHERE "
                                   "campaign_id=%lld", cp->id);
        if (ngx_http_broadcast_camp_tx(ctx, conn, &sql) != 0) {
            goto failed;
        }
    }

    if (cp->nsteps) {
        ngx_http_broadcast_camp_step_rows(conn, cp, &sql);
        if (ngx_http_broadcast_camp_tx(ctx, conn, &sql) != 0) {
            goto failed;
        }
    }

    ngx_http_broadcast_sql_cat(&sql, "COMMIT");
    if (ngx_http_broadcast_camp_tx(ctx, conn, &sql) != 0) {
        goto failed;
    }

    free(sql.data);

    c = ngx_http_broadcast_camp_one(ctx, conn, cp->id, 0);
    if (c) {
        ctx->result = c;

        if (cp->action == NGX_HTTP_BROADCAST_CAMP_CREATE) {
            ctx->status = NGX_HTTP_CREATED;
        }
    }

    return;

failed:

    free(sql.data);

    if (conn->mysql) {
        (void) mysql_query(conn->mysql, "ROLLBACK");
    }
}
