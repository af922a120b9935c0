/*
 * What a cancel leaves behind, done by the dispatcher in the background:
 * the API's cancel only moves the campaign's status (one row, at once),
 * so a campaign of a million recipients cancels within the request's
 * deadline. Each turn, a cancelled campaign not yet swept (completed_at
 * NULL) gives back the never-repeat rows of its pending recipients and
 * marks them cancelled, a bounded batch per transaction, oldest first;
 * when none is left, completed_at records the end. Any number of senders
 * may sweep at once: every statement is idempotent. The claim already
 * drops a queued job of a cancelled campaign, so nothing is sent meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define SND_CANCEL_BATCH     2000
#define SND_CANCEL_BUDGET_MS 150     /* a turn's share for the sweep */

/* the id of the batch's last pending recipient, 0 if none left, -1 error */
static long long
snd_cancel_edge(snd_disp_t *d, long long id)
{
    snd_buf_t   q = { 0 };
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    long long   edge = 0;

    snd_buf_add(&q, "SELECT MAX(id) FROM (SELECT id FROM campaign_recipients "
        "WHERE campaign_id=%lld AND state='pending' ORDER BY id LIMIT %d) b",
        id, SND_CANCEL_BATCH);
    res = snd_db_select(d->s, &q);
    if (res == NULL) {
        return -1;
    }
    row = mysql_fetch_row(res);
    if (row != NULL && row[0] != NULL) {
        edge = atoll(row[0]);
    }
    mysql_free_result(res);
    return edge;
}

/* one batch: 1 if one was done, 0 if the campaign is swept, -1 error */
static int
snd_cancel_batch(snd_disp_t *d, long long id)
{
    snd_buf_t   q = { 0 };
    long long   edge;

    if (snd_db_exec(d->s, "START TRANSACTION", 17) != 0) {
        return -1;
    }
    edge = snd_cancel_edge(d, id);
    if (edge < 0) {
        snd_db_rollback(d->s);
        return -1;
    }
    if (edge == 0) {
        snd_buf_add(&q, "UPDATE campaigns SET completed_at=UTC_TIMESTAMP(3),"
            "updated_at=UTC_TIMESTAMP(3) WHERE id=%lld AND "
            "status='cancelled' AND completed_at IS NULL", id);
        if (snd_db_run_free(d->s, &q, 1) != 0
            || snd_db_exec(d->s, "COMMIT", 6) != 0)
        {
            snd_db_rollback(d->s);
            return -1;
        }
        snd_log(SND_LOG_INFO, "campaign %lld: cancel swept", id);
        return 0;
    }
    snd_buf_add(&q, "DELETE t FROM template_sends t JOIN campaign_recipients "
        "r ON r.message_id=t.message_id WHERE t.campaign_id=%lld AND "
        "r.campaign_id=%lld AND r.state='pending' AND r.id<=%lld",
        id, id, edge);
    if (snd_db_run_free(d->s, &q, 1) != 0) {
        snd_db_rollback(d->s);
        return -1;
    }
    snd_buf_add(&q, "UPDATE campaign_recipients SET state='cancelled',"
        "updated_at=UTC_TIMESTAMP(3) WHERE campaign_id=%lld AND "
        "state='pending' AND id<=%lld", id, edge);
    if (snd_db_run_free(d->s, &q, 1) != 0
        || snd_db_exec(d->s, "COMMIT", 6) != 0)
    {
        snd_db_rollback(d->s);
        return -1;
    }
    return 1;
}

int
snd_camp_cancel_sweep(snd_disp_t *d)
{
    snd_buf_t   q = { 0 };
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    long long   ids[8], until = snd_now_ms() + SND_CANCEL_BUDGET_MS;
    int         n = 0, i, rc = 0;

    snd_buf_add(&q, "SELECT id FROM campaigns WHERE status='cancelled' AND "
        "completed_at IS NULL ORDER BY id LIMIT 8");
    res = snd_db_select(d->s, &q);
    if (res == NULL) {
        return -1;
    }
    while (n < 8 && (row = mysql_fetch_row(res)) != NULL) {
        ids[n++] = atoll(row[0]);
    }
    mysql_free_result(res);

    for (i = 0; i < n && !snd_stop; i++) {
        do {
            rc = snd_cancel_batch(d, ids[i]);
        } while (rc > 0 && !snd_stop && snd_now_ms() < until);
        if (rc < 0) {
            return -1;
        }
        if (rc > 0) {
            return 1;               /* more next turn */
        }
    }
    return 0;
}
