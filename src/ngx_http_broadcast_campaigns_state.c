/*
 * Campaigns: the module's transitions (DESIGN.md "Campaigns", States) and
 * DELETE. Each transition is one conditional UPDATE; when no row moved,
 * the campaign's status is read for the 409 (or the 404). A cancel moves
 * the status only, so it answers at once for any size: the claim drops a
 * queued job of a cancelled campaign, and the dispatcher gives back the
 * never-repeat rows of the recipients never queued and marks them
 * cancelled, in batches (sender/campaign_cancel.c).
 */


#include "ngx_http_broadcast_campaigns.h"


typedef struct {
    ngx_uint_t    action;
    const char   *from;       /* the statuses it leaves, as SQL */
    const char   *to;
    const char   *set;        /* more columns */
    const char   *rule;       /* why not, for the 409 */
} ngx_http_broadcast_camp_move_t;


static const ngx_http_broadcast_camp_move_t  ngx_http_broadcast_camp_moves[] =
{
    { NGX_HTTP_BROADCAST_CAMP_START, "'draft','scheduled'", "running",
      ",started_at=COALESCE(started_at,UTC_TIMESTAMP(3))",
      "only a draft or scheduled campaign can be started" },
    { NGX_HTTP_BROADCAST_CAMP_PAUSE, "'running'", "paused", "",
      "only a running campaign can be paused" },
    { NGX_HTTP_BROADCAST_CAMP_RESUME, "'paused'", "running", "",
      "only a paused campaign can be resumed" },
    { NGX_HTTP_BROADCAST_CAMP_CANCEL, "'draft','scheduled','running','paused'",
      "cancelled", "",
      "only a draft, scheduled, running or paused campaign can be "
      "cancelled" },
    { NGX_HTTP_BROADCAST_CAMP_SCHEDULE, "'draft','scheduled'", "scheduled",
      ",schedule_at=",
      "only a draft or scheduled campaign can be scheduled" },
};


/* thread, in the transaction: what a DELETE gives back first (the
   never-repeat rows of recipients never queued); 0 or -1 */
static int
ngx_http_broadcast_camp_unqueue(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, long long id,
    ngx_http_broadcast_sql_t *sql)
{
    ngx_http_broadcast_sql_cat(sql, "DELETE t FROM template_sends t JOIN "
        "campaign_recipients r ON r.message_id=t.message_id WHERE "
        "t.campaign_id=%lld AND r.campaign_id=%lld AND r.state='pending'",
        id, id);

    if (ngx_http_broadcast_contacts_exec(ctx, conn, sql) != 0) {
        return -1;
    }

    sql->len = 0;
    ngx_http_broadcast_sql_cat(sql, "UPDATE campaign_recipients SET "
        "state='cancelled', updated_at=UTC_TIMESTAMP(3) WHERE "
        "campaign_id=%lld AND state='pending'", id);

    if (ngx_http_broadcast_contacts_exec(ctx, conn, sql) != 0) {
        return -1;
    }

    sql->len = 0;

    return 0;
}


/* thread: POST /api/campaigns/{id}/start|pause|resume|cancel|schedule */
void
ngx_http_broadcast_camp_move(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    json_t                                *c;
    ngx_uint_t                             i, moved;
    ngx_http_broadcast_sql_t               sql = { NULL, 0, 0, 0, 0 };
    const ngx_http_broadcast_camp_move_t  *m;

    m = NULL;

    for (i = 0; i < sizeof(ngx_http_broadcast_camp_moves)
                    / sizeof(ngx_http_broadcast_camp_moves[0]); i++)
    {
        if (ngx_http_broadcast_camp_moves[i].action == cp->action) {
            m = &ngx_http_broadcast_camp_moves[i];
        }
    }

    if (m == NULL
        || ngx_http_broadcast_sql_connect(ctx, conn) != 0
        || ngx_http_broadcast_contacts_begin(ctx, conn, &sql) != 0)
    {
        return;
    }

    ngx_http_broadcast_sql_cat(&sql, "UPDATE campaigns SET status='%s', "
                               "updated_at=UTC_TIMESTAMP(3)%s", m->to,
                               m->set);

    if (cp->action == NGX_HTTP_BROADCAST_CAMP_SCHEDULE) {
        ngx_http_broadcast_sql_cat(&sql, "'%s'", cp->schedule_at);
    }

    ngx_http_broadcast_sql_cat(&sql, " WHERE id=%lld AND status IN (%s)",
                               cp->id, m->from);

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        goto failed;
    }

    sql.len = 0;
    moved = mysql_affected_rows(conn->mysql) > 0;

    ngx_http_broadcast_sql_cat(&sql, moved ? "COMMIT" : "ROLLBACK");

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        goto failed;
    }

    free(sql.data);

    if (!moved) {
        ngx_http_broadcast_camp_refused(ctx, conn, cp->id, m->rule);
        return;
    }

    c = ngx_http_broadcast_camp_one(ctx, conn, cp->id, 0);
    if (c) {
        ctx->result = c;
    }

    return;

failed:

    free(sql.data);

    if (conn->mysql) {
        (void) mysql_query(conn->mysql, "ROLLBACK");
    }
}


/*
 * thread: DELETE /api/campaigns/{id}, not while running (the dispatcher
 * works on it); the never-repeat rows of recipients never queued go with
 * it, those of sent messages stay: the contacts did get the template
 */
void
ngx_http_broadcast_camp_delete(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_http_broadcast_conn_t *conn, ngx_http_broadcast_camp_t *cp)
{
    ngx_uint_t                gone;
    ngx_http_broadcast_sql_t  sql = { NULL, 0, 0, 0, 0 };

    if (ngx_http_broadcast_sql_connect(ctx, conn) != 0
        || ngx_http_broadcast_contacts_begin(ctx, conn, &sql) != 0)
    {
        return;
    }

    if (ngx_http_broadcast_camp_unqueue(ctx, conn, cp->id, &sql) != 0) {
        goto failed;
    }

    ngx_http_broadcast_sql_cat(&sql, "DELETE FROM campaigns WHERE id=%lld "
                               "AND status<>'running'", cp->id);

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        goto failed;
    }

    sql.len = 0;
    gone = mysql_affected_rows(conn->mysql) > 0;

    ngx_http_broadcast_sql_cat(&sql, gone ? "COMMIT" : "ROLLBACK");

    if (ngx_http_broadcast_contacts_exec(ctx, conn, &sql) != 0) {
        goto failed;
    }

    free(sql.data);

    if (!gone) {
        ngx_http_broadcast_camp_refused(ctx, conn, cp->id, "a running "
                                        "campaign cannot be deleted: pause "
                                        "or cancel it first");
        return;
    }

    ctx->result = json_pack("{s:b,s:I}", "deleted", 1, "id",
                            (json_int_t) cp->id);

    return;

failed:

    free(sql.data);

    if (conn->mysql) {
        (void) mysql_query(conn->mysql, "ROLLBACK");
    }
}
