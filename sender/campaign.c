/*
 * The campaign dispatcher's thread (docs/DESIGN.md "Campaigns"): its turn
 * (scheduled campaigns start, leases, fan-out, queue, completion), the
 * lease and the takeover recovery, and the thread's start and stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "campaign.h"

#define SND_CAMP_TURN_MS      200
#define SND_CAMP_COMPLETE_MS  1000   /* completion checked at most so often */

/* ---- the campaigns held ------------------------------------------------- */

static void
snd_camp_clear(snd_camp_t *c)
{
    json_decref(c->audience);
    json_decref(c->tvars);
    snd_camp_variants_free(c);
    snd_camp_steps_free(c);
    memset(c, 0, sizeof(*c));
}

static snd_camp_t *
snd_camp_find(snd_disp_t *d, long long id)
{
    int  i;

    for (i = 0; i < d->ncamps; i++) {
        if (d->camps[i].id == id) {
            return &d->camps[i];
        }
    }
    return NULL;
}

/* drops the campaigns not seen this turn (their lease is gone, or they
   are no longer running) */
static void
snd_camp_sweep(snd_disp_t *d)
{
    int  i = 0;

    while (i < d->ncamps) {
        if (d->camps[i].seen) {
            i++;
            continue;
        }
        snd_log(SND_LOG_INFO, "campaign %lld: released", d->camps[i].id);
        snd_camp_clear(&d->camps[i]);
        d->camps[i] = d->camps[--d->ncamps];
    }
}

int
snd_camp_fail(snd_disp_t *d, snd_camp_t *c, const char *why)
{
    snd_buf_t  q = { 0 };

    snd_log(SND_LOG_ERR, "campaign %lld failed: %s", c->id, why);
    snd_buf_add(&q, "UPDATE campaigns SET status='failed',error=");
    snd_buf_str(d->s, &q, why, snd_utf8_cut(why, 512));
    snd_buf_add(&q, ",lease_owner=NULL,lease_until=NULL,"
        "updated_at=UTC_TIMESTAMP(3) WHERE id=%lld AND status='running'",
        c->id);
    c->seen = 0;
    return snd_db_run_free(d->s, &q, 1);
}

int
snd_camp_lock(snd_disp_t *d, snd_camp_t *c, long long *cursor)
{
    snd_buf_t   q = { 0 };
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    int         ours;

    if (snd_db_exec(d->s, "START TRANSACTION", 17) != 0) {
        return -1;
    }
    snd_buf_add(&q, "SELECT status,lease_owner,fanout_cursor FROM campaigns "
        "WHERE id=%lld FOR UPDATE", c->id);
    res = snd_db_select(d->s, &q);
    if (res == NULL) {
        snd_db_rollback(d->s);
        return -1;
    }
    row = mysql_fetch_row(res);
    ours = row != NULL && strcmp(row[0], "running") == 0 && row[1] != NULL
           && strcmp(row[1], d->s->conf.consumer) == 0;
    if (ours && cursor != NULL) {
        *cursor = atoll(row[2]);
    }
    mysql_free_result(res);
    if (!ours) {
        /* paused, cancelled or taken over: the next turn lets it go */
        snd_db_rollback(d->s);
        c->seen = 0;
        return 0;
    }
    return 1;
}

/* ---- step 1 and 2: start what is due, take and renew leases ------------- */

/* how often a held campaign's queued rows are checked for lost jobs */
#define SND_CAMP_RECOVER_MS  10000

/*
 * Takeover: rows 'queued' in MySQL whose job may never have reached the
 * stream (the holder crashed between its commit and its MULTI): no
 * messages row and no msg key in its lane. Those go back to 'pending' and
 * are queued again with the next seq. A row with its msg key has its entry in the
 * stream (the MULTI writes both), and one with a messages row was claimed.
 */
static int
snd_camp_recover(snd_disp_t *d, snd_camp_t *c, int min_age_s)
{
    snd_buf_t     q = { 0 }, u = { 0 };
    MYSQL_RES    *res;
    MYSQL_ROW     row;
    redisReply   *r;
    const char   *argv[2];
    char          key[64];
    int           n = 0;

    if (snd_redis_ok(d->s) != 0) {
        return -1;
    }
    snd_buf_add(&q, "SELECT r.message_id FROM campaign_recipients r "
        "LEFT JOIN messages m ON m.id=r.message_id WHERE r.campaign_id=%lld "
        "AND r.state='queued' AND m.id IS NULL AND r.updated_at <= "
        "UTC_TIMESTAMP(3) - INTERVAL %d SECOND", c->id, min_age_s);
    res = snd_db_select(d->s, &q);
    if (res == NULL) {
        return -1;
    }
    snd_buf_add(&u, "UPDATE campaign_recipients SET state='pending',"
        "updated_at=UTC_TIMESTAMP(3) WHERE campaign_id=%lld AND "
        "state='queued' AND message_id IN (", c->id);
    while ((row = mysql_fetch_row(res)) != NULL && d->s->redis != NULL) {
        bc_lane_key(key, sizeof(key), BC_LANE_SEND,
                    bc_lane_of_id(row[0], strlen(row[0]), SND_LANES(d->s)),
                    BC_SFX_MSG "%s", row[0]);
        argv[0] = "EXISTS";
        argv[1] = key;
        r = snd_redis_argv(d->s, 2, argv);
        if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
            snd_buf_add(&u, n++ ? "," : "");
            snd_buf_cstr(d->s, &u, row[0]);
        }
        if (r != NULL) {
            freeReplyObject(r);
        }
    }
    mysql_free_result(res);
    if (d->s->redis == NULL) {
        snd_buf_free(&u);
        return -1;
    }
    snd_buf_add(&u, ")");
    if (n > 0) {
        snd_log(SND_LOG_NOTICE, "campaign %lld: %d queued recipients never "
            "reached the stream; queuing them again", c->id, n);
    }
    return snd_db_run_free(d->s, &u, n);
}

/* the columns of a held campaign, in snd_camp_hold()'s order */
#define SND_CAMP_COLS                                                         \
    "id,channel,batch_id,IFNULL(template_id,0),never_repeat_template,"       \
    "audience,IFNULL(audience_limit,-1),template_variables,rate_per_second,"  \
    "fanout_cursor,fanout_done,eligible,quiet_hours,revision"

/* quiet_hours {"start":"HH:MM","end":"HH:MM","timezone"?} (the module
   checked it); anything else is no window */
static void
snd_camp_quiet_hours(snd_camp_t *c, const char *text)
{
    json_t  *q = text != NULL ? json_loads(text, 0, NULL) : NULL;

    c->quiet_start = bc_tz_hhmm(json_string_value(json_object_get(q,
                                                                  "start")));
    c->quiet_end = bc_tz_hhmm(json_string_value(json_object_get(q, "end")));
    if (c->quiet_start < 0 || c->quiet_end < 0) {
        c->quiet_start = c->quiet_end = -1;
    }
    snprintf(c->quiet_zone, sizeof(c->quiet_zone), "%s",
             json_string_value(json_object_get(q, "timezone")) != NULL
             ? json_string_value(json_object_get(q, "timezone")) : "");
    json_decref(q);
}

/* a campaign row we hold: new ones are set up (variants, recovery) */
static int
snd_camp_hold(snd_disp_t *d, MYSQL_ROW row)
{
    snd_camp_t  *c, *camps;
    long long    id = atoll(row[0]);
    int          rc;

    c = snd_camp_find(d, id);
    if (c != NULL && c->revision != atoll(row[13])) {
        /* patched since it was set up (paused, patched and resumed
           between two turns): set up again from the row */
        snd_log(SND_LOG_INFO, "campaign %lld: changed; reading it again", id);
        snd_camp_clear(c);
        *c = d->camps[--d->ncamps];
        c = NULL;
    }
    if (c == NULL) {
        camps = realloc(d->camps, (d->ncamps + 1) * sizeof(*camps));
        if (camps == NULL) {
            return -1;
        }
        d->camps = camps;
        c = &d->camps[d->ncamps];
        memset(c, 0, sizeof(*c));
        c->id = id;
        c->revision = atoll(row[13]);
        snprintf(c->channel, sizeof(c->channel), "%s", row[1]);
        snprintf(c->batch_id, sizeof(c->batch_id), "%s", row[2]);
        c->template_id = atoll(row[3]);
        c->never_repeat = atoi(row[4]);
        c->audience = json_loads(row[5] ? row[5] : "", 0, NULL);
        c->limit = atoll(row[6]);
        c->tvars = row[7] != NULL ? json_loads(row[7], 0, NULL) : NULL;
        c->rate = atoi(row[8]);
        snd_camp_quiet_hours(c, row[12]);
        c->tokens_ms = snd_now_ms();
        c->tokens = c->rate > 0 ? 1 : 0;
        c->held = 1;            /* a hold left by another sender clears */
        d->ncamps++;
        snd_log(SND_LOG_INFO, "campaign %lld: lease taken", id);
        rc = snd_camp_variants_load(d, c);
        if (rc == 0) {
            rc = snd_camp_steps_load(d, c);
        }
        if (rc == 0 && !json_is_object(c->audience)) {
            rc = snd_camp_fail(d, c, "the audience is not a JSON object")
                 == 0 ? 1 : -1;
        }
        if (rc == 0 && snd_camp_recover(d, c, 0) != 0) {
            rc = -1;
        }
        if (rc != 0) {
            /* failed (1) or to be set up again next turn (-1) */
            c->seen = 0;
            return rc < 0 ? -1 : 0;
        }
        c->redis_links = d->s->redis_links;
        c->recover_ms = snd_now_ms() + SND_CAMP_RECOVER_MS;

    } else if (c->redis_links != d->s->redis_links
               || snd_now_ms() >= c->recover_ms)
    {
        /*
         * A failover may have lost jobs the old master acknowledged before
         * its replica had them, and this dispatcher's own link may never
         * meet the dead master (nothing left to queue): after a reconnect,
         * and every SND_CAMP_RECOVER_MS, rows queued that long ago without
         * a trace (no messages row, no job key) go back to pending, as on
         * a takeover. Queued again under the same message id, a job that
         * was claimed meanwhile is refused by its ledger row.
         */
        if (snd_camp_recover(d, c, c->redis_links != d->s->redis_links
                                   ? 0 : SND_CAMP_RECOVER_MS / 1000) != 0)
        {
            c->seen = 0;
            return -1;
        }
        c->redis_links = d->s->redis_links;
        c->recover_ms = snd_now_ms() + SND_CAMP_RECOVER_MS;
    }
    c->seen = 1;
    c->cursor = atoll(row[9]);
    c->fanout_done = atoi(row[10]);
    c->eligible = atoll(row[11]);
    return 0;
}

static int
snd_camp_leases(snd_disp_t *d)
{
    snd_buf_t   q = { 0 };
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    snd_t      *s = d->s;
    int         i;

    static const char  start_due[] = "UPDATE campaigns SET "
        "status='running',started_at=IFNULL(started_at,UTC_TIMESTAMP(3)),"
        "updated_at=UTC_TIMESTAMP(3) WHERE status='scheduled' AND "
        "schedule_at<=UTC_TIMESTAMP(3)";

    if (snd_db_exec(s, start_due, sizeof(start_due) - 1) != 0) {
        return -1;
    }
    /* one conditional UPDATE takes what is free or expired and renews ours */
    snd_buf_add(&q, "UPDATE campaigns SET lease_owner=");
    snd_buf_cstr(s, &q, s->conf.consumer);
    snd_buf_add(&q, ",lease_until=UTC_TIMESTAMP(3)+INTERVAL %ld000 "
        "MICROSECOND,started_at=IFNULL(started_at,UTC_TIMESTAMP(3)) "
        "WHERE status='running' AND (lease_owner IS NULL OR "
        "lease_until<UTC_TIMESTAMP(3) OR lease_owner=",
        s->conf.campaign_lease_ms);
    snd_buf_cstr(s, &q, s->conf.consumer);
    snd_buf_add(&q, ")");
    if (snd_db_run_free(s, &q, 1) != 0) {
        return -1;
    }
    snd_buf_add(&q, "SELECT " SND_CAMP_COLS " FROM campaigns WHERE "
        "status='running' AND lease_owner=");
    snd_buf_cstr(s, &q, s->conf.consumer);
    snd_buf_add(&q, " ORDER BY id");
    res = snd_db_select(s, &q);
    if (res == NULL) {
        return -1;
    }
    for (i = 0; i < d->ncamps; i++) {
        d->camps[i].seen = 0;
    }
    while ((row = mysql_fetch_row(res)) != NULL) {
        if (snd_camp_hold(d, row) != 0) {
            break;
        }
    }
    mysql_free_result(res);
    snd_camp_sweep(d);
    return 0;
}

/* ---- step 5: complete ---------------------------------------------------- */

/* the first column of the first row of the SELECT in q (freed); -1 error */
static long long
snd_camp_count(snd_disp_t *d, snd_buf_t *q)
{
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    long long   n;

    res = snd_db_select(d->s, q);
    if (res == NULL) {
        return -1;
    }
    row = mysql_fetch_row(res);
    n = row != NULL && row[0] != NULL ? atoll(row[0]) : -1;
    mysql_free_result(res);
    return n;
}

/* fan-out done, no row pending, every queued row's message done in the
   ledger: completed (and the lease given back). The join over the queued
   rows runs only once nothing is pending (the cheap count first). */
static int
snd_camp_complete(snd_disp_t *d, snd_camp_t *c)
{
    snd_buf_t   q = { 0 };
    long long   open, now = snd_now_ms();

    if (!c->fanout_done || now < c->next_complete_ms) {
        return 0;
    }
    c->next_complete_ms = now + SND_CAMP_COMPLETE_MS;
    snd_buf_add(&q, "SELECT COUNT(*) FROM campaign_recipients WHERE "
        "campaign_id=%lld AND state='pending'", c->id);
    open = snd_camp_count(d, &q);
    if (open != 0) {
        return open < 0 ? -1 : 0;
    }
    snd_buf_add(&q, "SELECT COUNT(*) FROM campaign_recipients r LEFT JOIN "
        "messages m ON m.id=r.message_id WHERE r.campaign_id=%lld AND "
        "r.state='queued' AND (m.send_state IS NULL OR "
        "m.send_state<>'done')", c->id);
    open = snd_camp_count(d, &q);
    if (open == 0) {
        /* a later step still to decide for a recipient */
        open = snd_camp_steps_undecided(d, c);
    }
    if (open != 0) {
        return open < 0 ? -1 : 0;
    }
    snd_buf_add(&q, "UPDATE campaigns SET status='completed',"
        "completed_at=UTC_TIMESTAMP(3),updated_at=UTC_TIMESTAMP(3),"
        "lease_owner=NULL,lease_until=NULL WHERE id=%lld AND "
        "status='running' AND lease_owner=", c->id);
    snd_buf_cstr(d->s, &q, d->s->conf.consumer);
    if (snd_db_run_free(d->s, &q, 1) != 0) {
        return -1;
    }
    snd_log(SND_LOG_INFO, "campaign %lld completed", c->id);
    c->seen = 0;
    return 0;
}

/* ---- the turn and the thread -------------------------------------------- */

/* one turn over every campaign held; 1 if work remains, 0 none, -1 error */
static int
snd_camp_turn(snd_disp_t *d)
{
    snd_camp_t  *c;
    int          i, rc, more, busy = 0;

    if (snd_db_ok(d->s) != 0 || snd_redis_ok(d->s) != 0) {
        return -1;
    }
    if (snd_camp_leases(d) != 0) {
        return -1;
    }
    for (i = 0; i < d->ncamps && !snd_stop; i++) {
        c = &d->camps[i];
        if (!c->seen) {
            continue;
        }
        rc = 0;
        more = 0;
        if (!c->fanout_done) {
            rc = snd_camp_fanout(d, c);
            more |= rc > 0;
        }
        if (rc >= 0 && c->seen && c->nsteps > 0) {
            rc = snd_camp_steps_advance(d, c);
            more |= rc > 0;
        }
        if (rc >= 0 && c->seen) {
            rc = snd_camp_queue(d, c);
            more |= rc > 0;
        }
        busy |= more;
        if (rc >= 0 && c->seen && !more) {
            rc = snd_camp_complete(d, c);
        }
        if (rc < 0) {
            return -1;
        }
    }
    snd_camp_sweep(d);
    rc = snd_camp_cancel_sweep(d);
    if (rc < 0) {
        return -1;
    }
    return busy | rc;
}

static void
snd_camp_sleep(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void *
snd_camp_main(void *arg)
{
    snd_disp_t  *d = arg;
    long long    start, left;
    int          rc;

    mysql_thread_init();
    while (!snd_stop) {
        start = snd_now_ms();
        rc = snd_camp_turn(d);
        if (rc > 0) {
            continue;               /* work remains: at once */
        }
        if (rc < 0 && d->s->db != NULL) {
            snd_db_rollback(d->s);
        }
        /* sleep out the turn in slices, so a SIGTERM is seen at once */
        while (!snd_stop && (left = start + SND_CAMP_TURN_MS - snd_now_ms())
                            > 0)
        {
            snd_camp_sleep(left < 50 ? (int) left : 50);
        }
    }
    while (d->ncamps > 0) {
        snd_camp_clear(&d->camps[--d->ncamps]);
    }
    free(d->camps);
    d->camps = NULL;
    snd_camp_zones_free(d);
    if (d->s->redis != NULL) {
        bc_rc_free(d->s->redis);
        d->s->redis = NULL;
    }
    if (d->s->db != NULL) {
        mysql_close(d->s->db);
        d->s->db = NULL;
    }
    snd_replica_close(d->s);
    snd_buf_release();
    mysql_thread_end();
    return NULL;
}

int
snd_campaign_start(snd_t *s)
{
    snd_disp_t  *d;
    sigset_t     block, old;
    int          err;

    if (!s->conf.campaigns) {
        return 0;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL || (d->s = calloc(1, sizeof(snd_t))) == NULL) {
        free(d);
        return -1;
    }
    /* the configuration by value; the provider secrets stay with the send
       loop: the dispatcher never calls out */
    d->s->conf = s->conf;
    d->s->conf.twilio_auth_token = NULL;
    d->s->conf.meta_access_token = NULL;
    d->s->conf.sendgrid_api_key = NULL;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    err = pthread_create(&s->camp_thread, NULL, snd_camp_main, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        snd_log(SND_LOG_ERR, "campaign thread: %s", strerror(err));
        free(d->s);
        free(d);
        return -1;
    }
    s->camp = d;
    return 0;
}

void
snd_campaign_join(snd_t *s)
{
    snd_disp_t  *d = s->camp;

    if (d == NULL) {
        return;
    }
    pthread_join(s->camp_thread, NULL);
    free(d->s);
    free(d);
    s->camp = NULL;
}
