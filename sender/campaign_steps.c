/*
 * The steps after a campaign's first message (docs/DESIGN.md "Campaigns",
 * Steps; sql/012_campaign_steps.sql). Step k of a recipient follows its
 * row of step k-1 once that row's message was handed to the provider (or
 * refused) and the step's delay has passed since: the row of step k is
 * written then, 'pending' when the condition holds on the previous message
 * (and none of the fan-out's skip reasons applies), else 'skipped'
 * condition_not_met, in one transaction under the campaign row's lock
 * with INSERT IGNORE on the UNIQUE (campaign, step, contact): a step is
 * decided and sent once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

#define SND_STEPS_EVERY_MS  500     /* due steps looked for at most so often */

/* the conditions, as campaign_steps.step_condition spells them, and what
   each asks of the previous step's message m at the deadline */
static const struct {
    const char  *name;
    const char  *holds;
} snd_step_conditions[] = {
    { "always", "1" },
    { "not_delivered", "m.status NOT IN ('delivered','read')" },
    { "not_read", "m.status<>'read'" },
    /* an inbound message from the peer since the message was sent */
    { "not_replied", "NOT EXISTS (SELECT 1 FROM messages i WHERE "
      "i.peer=m.peer AND i.direction='inbound' AND "
      "i.created_at>=COALESCE(m.sent_at,m.created_at))" },
};

void
snd_camp_steps_free(snd_camp_t *c)
{
    int  i;

    for (i = 0; i < c->nsteps; i++) {
        json_decref(c->steps[i].v.body);
        json_decref(c->steps[i].v.extra);
    }
    free(c->steps);
    c->steps = NULL;
    c->nsteps = 0;
}

/* one row of campaign_steps (idx, proto, delay_seconds, step_condition)
   into st; 0, or -1 with why */
static int
snd_camp_step_row(snd_camp_step_t *st, MYSQL_ROW row, int want, char *why,
    size_t whylen)
{
    size_t  k;

    if (row[0] == NULL || atoi(row[0]) != want) {
        snprintf(why, whylen, "the campaign's steps are not numbered 1 to N");
        return -1;
    }
    if (snd_camp_proto(&st->v, row[1] ? row[1] : "", why, whylen) != 0) {
        return -1;
    }
    st->delay_s = row[2] != NULL ? atoll(row[2]) : 0;
    st->condition = -1;
    for (k = 0; k < sizeof(snd_step_conditions) / sizeof(*snd_step_conditions);
         k++)
    {
        if (row[3] != NULL && strcmp(row[3], snd_step_conditions[k].name) == 0)
        {
            st->condition = (int) k;
        }
    }
    if (st->condition < 0 || st->delay_s < 0) {
        snprintf(why, whylen, "step %d has no known condition or a negative "
            "delay", want);
        return -1;
    }
    return 0;
}

int
snd_camp_steps_load(snd_disp_t *d, snd_camp_t *c)
{
    snd_buf_t    q = { 0 };
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    char         why[256];
    int          n;

    snd_camp_steps_free(c);
    snd_buf_add(&q, "SELECT idx,proto,delay_seconds,step_condition FROM "
        "campaign_steps WHERE campaign_id=%lld ORDER BY idx", c->id);
    res = snd_db_select(d->s, &q);
    if (res == NULL) {
        return -1;
    }
    n = (int) mysql_num_rows(res);
    c->steps = calloc(n > 0 ? n : 1, sizeof(*c->steps));
    if (c->steps == NULL) {
        mysql_free_result(res);
        return -1;
    }
    why[0] = '\0';
    while ((row = mysql_fetch_row(res)) != NULL) {
        if (snd_camp_step_row(&c->steps[c->nsteps], row, c->nsteps + 1, why,
                              sizeof(why)) != 0)
        {
            /* what it parsed is freed with the others */
            c->nsteps++;
            break;
        }
        c->nsteps++;
    }
    mysql_free_result(res);
    if (why[0] != '\0') {
        return snd_camp_fail(d, c, why) == 0 ? 1 : -1;
    }
    return 0;
}

/*
 * The rows of step k-1 whose message the provider call is done with
 * (send_state 'done': accepted or refused) and whose delay has passed
 * since it was sent (sent_at; a provider that reports no "sent", as
 * SendGrid, or a refusal: when the ledger row was written, at the claim),
 * with no row of step k yet: contact id, variant, whether the condition
 * holds, then the contact's columns.
 */
static MYSQL_RES *
snd_camp_steps_due(snd_disp_t *d, snd_camp_t *c, int k)
{
    snd_buf_t               q = { 0 };
    const snd_camp_step_t  *st = &c->steps[k - 1];

    snd_buf_add(&q, "SELECT p.contact_id,p.variant,%s," SND_CAMP_CONTACT_COLS
        " FROM campaign_recipients p JOIN messages m ON m.id=p.message_id "
        "LEFT JOIN campaign_recipients n ON n.campaign_id=p.campaign_id AND "
        "n.step=%d AND n.contact_id=p.contact_id "
        "LEFT JOIN contacts c ON c.id=p.contact_id "
        "WHERE p.campaign_id=%lld AND p.step=%d AND p.state='queued' AND "
        "n.id IS NULL AND m.send_state='done' AND "
        "COALESCE(m.sent_at,m.created_at)+INTERVAL %lld SECOND<="
        "UTC_TIMESTAMP(3) ORDER BY p.contact_id LIMIT %d",
        snd_step_conditions[st->condition].holds, k, c->id, k - 1,
        st->delay_s, d->s->conf.campaign_batch);
    return snd_db_select(d->s, &q);
}

/* step k's rows that are due: decided and written; 1 a full batch (more
   may be due), 0, -1 */
static int
snd_camp_step_batch(snd_disp_t *d, snd_camp_t *c, int k)
{
    const snd_camp_step_t  *st = &c->steps[k - 1];
    MYSQL_RES              *res;
    MYSQL_ROW               row;
    snd_fan_t              *f;
    int                     n = 0, rows, rc = -1;

    res = snd_camp_steps_due(d, c, k);
    if (res == NULL) {
        return -1;
    }
    rows = (int) mysql_num_rows(res);
    if (rows == 0) {
        mysql_free_result(res);
        return 0;
    }
    f = calloc(rows, sizeof(*f));
    while (f != NULL && (row = mysql_fetch_row(res)) != NULL) {
        memset(&f[n], 0, sizeof(f[n]));
        f[n].contact_id = atoll(row[0]);
        f[n].variant = atoi(row[1]);
        if (snd_fan_prepare(c, &st->v, row + 3, &f[n]) != 0) {
            goto done;
        }
        /* the condition is the first reason: it is what the step asks */
        if (row[2] == NULL || strcmp(row[2], "1") != 0) {
            f[n].skip = "condition_not_met";
        }
        n++;
    }
    if (f == NULL || snd_fan_checks(d, st->v.channel, f, n) != 0) {
        goto done;
    }
    rc = snd_camp_lock(d, c, NULL);
    if (rc <= 0) {
        rc = rc < 0 ? -1 : 0;
        goto done;
    }
    if (snd_fan_rows(d, c, k, f, n) != 0
        || snd_db_exec(d->s, "COMMIT", 6) != 0)
    {
        snd_db_rollback(d->s);
        rc = -1;
        goto done;
    }
    snd_log(SND_LOG_DEBUG, "campaign %lld: step %d decided for %d", c->id,
        k, n);
    rc = rows == d->s->conf.campaign_batch;
done:
    mysql_free_result(res);
    free(f);
    return rc;
}

int
snd_camp_steps_advance(snd_disp_t *d, snd_camp_t *c)
{
    long long  now = snd_now_ms();
    int        k, rc, more = 0;

    if (c->nsteps == 0 || now < c->next_steps_ms) {
        return 0;
    }
    for (k = 1; k <= c->nsteps && c->seen; k++) {
        rc = snd_camp_step_batch(d, c, k);
        if (rc < 0) {
            return -1;
        }
        more |= rc;
    }
    if (!more) {
        c->next_steps_ms = now + SND_STEPS_EVERY_MS;
    }
    return more;
}

long long
snd_camp_steps_undecided(snd_disp_t *d, snd_camp_t *c)
{
    snd_buf_t   q = { 0 };
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    long long   n;

    if (c->nsteps == 0) {
        return 0;
    }
    snd_buf_add(&q, "SELECT COUNT(*) FROM campaign_recipients p LEFT JOIN "
        "campaign_recipients n ON n.campaign_id=p.campaign_id AND "
        "n.step=p.step+1 AND n.contact_id=p.contact_id WHERE "
        "p.campaign_id=%lld AND p.state='queued' AND p.step<%d AND "
        "n.id IS NULL", c->id, c->nsteps);
    res = snd_db_select(d->s, &q);
    if (res == NULL) {
        return -1;
    }
    row = mysql_fetch_row(res);
    n = row != NULL && row[0] != NULL ? atoll(row[0]) : -1;
    mysql_free_result(res);
    return n;
}
