/*
 * Campaigns: the steps after the first message (sql/012_campaign_steps.sql,
 * DESIGN.md "Campaigns", Steps). "steps" of POST and PATCH is checked in
 * the loop, each step's content through its own channel's send handler as
 * a variant's is; the thread builds their protos and writes their rows in
 * the campaign's transaction. The sender's dispatcher runs them.
 */


#include "ngx_http_broadcast_campaigns.h"


static const char  *ngx_http_broadcast_camp_conditions[] = {
    "always", "not_delivered", "not_read", "not_replied", NULL
};


/* delay_minutes or delay_seconds (one of them) into st; 0 or -1 */
static int
ngx_http_broadcast_camp_step_delay(ngx_http_broadcast_api_ctx_t *ctx,
    json_t *x, size_t i, ngx_http_broadcast_camp_step_t *st)
{
    json_t  *min, *sec;

    min = json_object_get(x, "delay_minutes");
    sec = json_object_get(x, "delay_seconds");

    if ((min == NULL) == (sec == NULL)
        || !json_is_integer(min ? min : sec)
        || json_integer_value(min ? min : sec) < 0
        || json_integer_value(min ? min : sec) * (min ? 60 : 1)
           > NGX_HTTP_BROADCAST_CAMP_DELAY_MAX)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "invalid_request", "steps[%zu] needs delay_minutes or "
            "delay_seconds (one of them): a whole number, at most 30 days",
            i);
        return -1;
    }

    st->delay = json_integer_value(min ? min : sec) * (min ? 60 : 1);

    return 0;
}


/* one step {channel, template_id | content, from?, delay, condition?} */
static int
ngx_http_broadcast_camp_step(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, ngx_http_broadcast_camp_t *cp,
    json_t *x, size_t i)
{
    char                             field[48];
    json_t                          *channel, *tpl, *cond, *v;
    ngx_uint_t                       k;
    const char                      *key;
    ngx_http_broadcast_camp_step_t  *st = &cp->steps[i];

    static const char  *keys[] = {
        "channel", "template_id", "content", "from", "delay_minutes",
        "delay_seconds", "condition", NULL
    };

    if (!json_is_object(x)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "invalid_request", "steps[%zu] must be an object", i);
        return -1;
    }

    json_object_foreach(x, key, v) {
        if (!ngx_http_broadcast_sql_enum(keys, key)) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "steps[%zu].%s is not a step field", i,
                key);
            return -1;
        }
    }

    channel = json_object_get(x, "channel");
    tpl = json_object_get(x, "template_id");
    cond = json_object_get(x, "condition");

    if (!json_is_string(channel) || json_string_length(channel) == 0
        || json_string_length(channel) >= sizeof(st->channel))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "invalid_request", "steps[%zu].channel must be sms, whatsapp "
            "or email", i);
        return -1;
    }

    ngx_cpystrn((u_char *) st->channel, (u_char *) json_string_value(channel),
                sizeof(st->channel));

    st->condition = "always";

    if (cond) {
        st->condition = NULL;

        for (k = 0; json_is_string(cond)
                    && ngx_http_broadcast_camp_conditions[k]; k++)
        {
            if (ngx_strcmp(json_string_value(cond),
                           ngx_http_broadcast_camp_conditions[k]) == 0)
            {
                st->condition = ngx_http_broadcast_camp_conditions[k];
            }
        }

        if (st->condition == NULL) {
            ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
                "invalid_request", "steps[%zu].condition must be always, "
                "not_delivered, not_read or not_replied", i);
            return -1;
        }
    }

    if (ngx_http_broadcast_camp_step_delay(ctx, x, i, st) != 0) {
        return -1;
    }

    if (ngx_http_broadcast_camp_given(tpl)
        == ngx_http_broadcast_camp_given(json_object_get(x, "content")))
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "invalid_request", "steps[%zu] needs template_id or content "
            "(one of them)", i);
        return -1;
    }

    if (tpl && (!json_is_integer(tpl) || json_integer_value(tpl) <= 0)) {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_BROADCAST_CAMP_422,
            "invalid_request", "steps[%zu].template_id must be a template's "
            "id", i);
        return -1;
    }

    st->v.template_id = tpl ? json_integer_value(tpl) : 0;
    st->v.weight = 1;
    snprintf(field, sizeof(field), "steps[%u].%s", (unsigned) i,
             st->v.template_id ? "template_id" : "content");

    return ngx_http_broadcast_camp_content(r, ctx, cp, st->channel,
                                           json_object_get(x, "content"),
                                           json_object_get(x, "from"),
                                           &st->v, field);
}


int
ngx_http_broadcast_camp_steps(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx, json_t *json,
    ngx_http_broadcast_camp_t *cp)
{
    size_t   i;
    json_t  *list, *x;

    list = json_object_get(json, "steps");
    cp->has_steps = 1;

    if (json_is_null(list)) {
        return 0;
    }

    if (!json_is_array(list)
        || json_array_size(list) > NGX_HTTP_BROADCAST_CAMP_STEPS_MAX)
    {
        return ngx_http_broadcast_camp_invalid(ctx, "steps", "must be an "
                   "array of at most 5 steps (or null)");
    }

    json_array_foreach(list, i, x) {
        cp->nsteps = i + 1;

        if (ngx_http_broadcast_camp_step(r, ctx, cp, x, i) != 0) {
            return -1;
        }
    }

    return 0;
}


int
ngx_http_broadcast_camp_steps_protos(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    int         rc;
    ngx_uint_t  i;

    for (i = 0; i < cp->nsteps; i++) {
        /* each step may have its own sender: each is checked */
        rc = ngx_http_broadcast_camp_proto(ctx, conn, cp, &cp->steps[i].v,
                                           1);
        if (rc != 1) {
            return rc;
        }
    }

    return 1;
}


void
ngx_http_broadcast_camp_step_rows(ngx_http_broadcast_conn_t *conn,
    ngx_http_broadcast_camp_t *cp, ngx_http_broadcast_sql_t *sql)
{
    ngx_uint_t                       i;
    ngx_http_broadcast_camp_step_t  *st;

    ngx_http_broadcast_sql_cat(sql, "INSERT INTO campaign_steps "
        "(campaign_id, idx, channel, template_id, proto, delay_seconds, "
        "step_condition) VALUES ");

    for (i = 0; i < cp->nsteps; i++) {
        st = &cp->steps[i];
        /* channel and condition are from the lists above */
        ngx_http_broadcast_sql_cat(sql, "%s(%lld,%u,'%s',", i ? "," : "",
                                   cp->id, (unsigned) i + 1, st->channel);
        ngx_http_broadcast_sql_cat(sql, st->v.template_id ? "%lld," : "NULL,",
                                   st->v.template_id);
        ngx_http_broadcast_sql_str(sql, conn->mysql, st->v.proto,
                                   strlen(st->v.proto));
        ngx_http_broadcast_sql_cat(sql, ",%lld,'%s')", st->delay,
                                   st->condition);
    }
}


void
ngx_http_broadcast_camp_steps_free(ngx_http_broadcast_camp_t *cp)
{
    ngx_uint_t  i;

    for (i = 0; i < cp->nsteps; i++) {
        if (cp->steps[i].v.b) {
            cp->steps[i].v.b_free(cp->steps[i].v.b);
        }

        free(cp->steps[i].v.proto);
    }
}
