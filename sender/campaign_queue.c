/*
 * Step 4 of the dispatcher (docs/DESIGN.md "Campaigns"): pending recipient
 * rows are rendered and queued, paced by the campaign's rate_per_second
 * and kept to seconds of work in the send stream. The rows become
 * 'queued' with queue_seq+1 in one transaction under the campaign row's
 * lock; after the commit one MULTI XADDs their jobs and SETs bc:{q}:msg:<id>,
 * exactly as the module queues a send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"

/* one row being queued: its job JSON (NULL: skipped at render, or
   deferred by quiet hours when not_before is set, or held back by Meta's
   messaging limit) */
typedef struct {
    long long   row_id;
    char        message_id[27];
    char       *dump;
    long long   not_before;     /* seconds since the epoch, UTC; 0 none */
    const char *tier_pid;       /* Meta number whose limit it counts on */
    long long   tier_limit;
    const char *to;             /* the row's address (the result's) */
    int         held;           /* over the limit: stays pending */
} snd_cq_t;

/* a held campaign looks again this soon at most, since other campaigns'
   users leaving the window free slots too */
#define SND_CQ_HOLD_RECHECK_MS  5000

/* the columns of a pending row before the contact's (snd_cq_job) */
#define SND_CQ_ROW_COLS  7

/* entries of a lane's send stream the senders group has not been given
   yet (XINFO GROUPS "lag", Redis 7; the stream's length if Redis cannot
   tell); -1 unknown */
static long long
snd_cq_lane_lag(snd_t *s, unsigned lane)
{
    char         stream[64];
    const char  *argv[3] = { "XINFO", "GROUPS", NULL };
    redisReply  *r, *g, *k, *v;
    long long    lag = -1;
    size_t       i, j;

    argv[2] = snd_send_stream(stream, lane);

    r = snd_redis_argv(s, 3, argv);
    if (r == NULL) {
        return -1;
    }
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        g = r->element[i];
        if (g->type != REDIS_REPLY_ARRAY) {
            continue;
        }
        int ours = 0;
        long long found = -2;
        for (j = 0; j + 1 < g->elements; j += 2) {
            k = g->element[j];
            v = g->element[j + 1];
            if (k->type != REDIS_REPLY_STRING && k->type != REDIS_REPLY_STATUS)
            {
                continue;
            }
            if (strcmp(k->str, "name") == 0 && v->str != NULL) {
                ours = strcmp(v->str, BC_GROUP_SENDERS) == 0;
            } else if (strcmp(k->str, "lag") == 0) {
                found = v->type == REDIS_REPLY_INTEGER ? v->integer : -2;
            }
        }
        if (ours) {
            lag = found;
        }
    }
    freeReplyObject(r);
    if (lag == -2) {
        const char  *xlen[2] = { "XLEN", stream };

        r = snd_redis_argv(s, 2, xlen);
        if (r == NULL) {
            return -1;
        }
        lag = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
    }
    return lag;
}

/* the lag of every lane's send stream; -1 unknown */
static long long
snd_cq_lag(snd_t *s)
{
    long long  lag = 0, n;
    unsigned   lane;

    for (lane = 0; lane < SND_LANES(s); lane++) {
        n = snd_cq_lane_lag(s, lane);
        if (n < 0) {
            return -1;
        }
        lag += n;
    }
    return lag;
}

/* how many rows may be queued now: the batch, the campaign's tokens, the
   stream's headroom */
static int
snd_cq_allowance(snd_disp_t *d, snd_camp_t *c)
{
    long long  now = snd_now_ms(), lag;
    int        n = d->s->conf.campaign_batch;

    if (c->rate > 0) {
        /* at most a second's worth of tokens saved up */
        c->tokens += (double) c->rate * (double) (now - c->tokens_ms) / 1000;
        if (c->tokens > c->rate) {
            c->tokens = c->rate;
        }
        c->tokens_ms = now;
        if (c->tokens < n) {
            n = (int) c->tokens;
        }
    }
    if (n <= 0) {
        return 0;
    }
    lag = snd_cq_lag(d->s);
    if (lag < 0) {
        return -1;
    }
    if (lag >= d->s->conf.campaign_stream_max_lag) {
        return 0;
    }
    if (d->s->conf.campaign_stream_max_lag - lag < n) {
        n = (int) (d->s->conf.campaign_stream_max_lag - lag);
    }
    return n;
}

/* the job of one pending row (r: id, contact_id, variant, address,
   message_id, queue_seq, step, then the contact's columns) */
static int
snd_cq_job(snd_disp_t *d, snd_camp_t *c, MYSQL_ROW r, snd_cq_t *q)
{
    bc_job_t                   job;
    json_t                    *vars;
    int                        v, step, rc;
    const snd_camp_variant_t  *what;

    memset(&job, 0, sizeof(job));
    q->row_id = atoll(r[0]);
    snprintf(q->message_id, sizeof(q->message_id), "%s", r[4]);
    q->dump = NULL;
    q->not_before = 0;
    q->tier_pid = NULL;
    q->held = 0;
    q->to = r[3];
    v = atoi(r[2]);
    step = atoi(r[6]);
    if (v < 0 || v >= c->nvariants || step < 0 || step > c->nsteps
        || r[3] == NULL)
    {
        return 0;
    }
    /* step 0 sends the recipient's variant, a later step its own */
    what = step == 0 ? &c->variants[v] : &c->steps[step - 1].v;
    /* decided when the row is due, not at the fan-out: a row paced by
       the rate may become due inside the window */
    if (snd_camp_quiet(d, c, r[SND_CQ_ROW_COLS + SND_CAMP_CONTACT_TIMEZONE],
                       snd_now_ms() / 1000, &q->not_before))
    {
        return 0;
    }
    vars = snd_camp_vars(c, r + SND_CQ_ROW_COLS);
    if (vars == NULL) {
        return -1;
    }
    rc = snd_camp_render(what, vars, &job);
    json_decref(vars);
    if (rc <= 0) {
        return rc;
    }
    snprintf(job.id, sizeof(job.id), "%s", r[4]);
    snprintf(job.batch_id, sizeof(job.batch_id), "%s", c->batch_id);
    snprintf(job.to, sizeof(job.to), "%s", r[3]);
    job.created_ms = snd_now_ms();
    job.campaign_id = c->id;
    job.queue_seq = atoll(r[5]) + 1;
    q->dump = bc_job_dump(&job);
    bc_job_free(&job);
    if (strcmp(what->provider, "meta") == 0 && !what->free_form
        && strncmp(what->from, "meta:", 5) == 0)
    {
        q->tier_limit = snd_tier_limit(d->s->conf.meta_messaging_limits,
                                       what->from + 5);
        q->tier_pid = q->tier_limit > 0 ? what->from + 5 : NULL;
    }
    return q->dump != NULL ? 1 : -1;
}

/* the number's rows of q over its messaging limit are held (their dump
   freed); how many, or -1 */
static int
snd_cq_tier_lane(snd_disp_t *d, snd_cq_t *q, int n, const char *pid,
    long long limit, long long *wait_ms)
{
    const char  **to;
    int           i, k = 0, admitted, held = 0;
    long long     wait;

    to = malloc((size_t) n * sizeof(*to));
    if (to == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (q[i].dump != NULL && q[i].tier_pid != NULL
            && strcmp(q[i].tier_pid, pid) == 0)
        {
            to[k++] = q[i].to;
        }
    }
    if (snd_tier_admit(d, pid, limit, to, k, &admitted, &wait) != 0) {
        free(to);
        return -1;
    }
    free(to);
    /* the lane is done: its rows' tier_pid cleared */
    for (i = 0, k = 0; i < n; i++) {
        if (q[i].dump == NULL || q[i].tier_pid == NULL
            || strcmp(q[i].tier_pid, pid) != 0)
        {
            continue;
        }
        q[i].tier_pid = NULL;
        if (k++ >= admitted) {
            free(q[i].dump);
            q[i].dump = NULL;
            q[i].held = 1;
            held++;
        }
    }
    if (held > 0 && (*wait_ms == 0 || wait < *wait_ms)) {
        *wait_ms = wait;
    }
    return held;
}

/* Meta's messaging limit over the rows (campaign_tier.c); records the
   hold on the campaign (in the transaction) or clears it; the number of
   rows held, or -1 */
static int
snd_cq_tier(snd_disp_t *d, snd_camp_t *c, snd_cq_t *q, int n)
{
    snd_buf_t    b = { 0 };
    const char  *pid;
    char         why[400];
    long long    wait = 0, limit = 0;
    int          i, k, held = 0;

    for (i = 0; i < n; i++) {
        if (q[i].dump == NULL || q[i].tier_pid == NULL) {
            continue;
        }
        pid = q[i].tier_pid;
        limit = q[i].tier_limit;
        k = snd_cq_tier_lane(d, q, n, pid, limit, &wait);
        if (k < 0) {
            return -1;
        }
        held += k;
        if (k > 0) {
            snprintf(why, sizeof(why), "Meta's messaging limit of %lld "
                "unique users in 24 hours is reached for number %s; the "
                "campaign continues as users leave the window", limit, pid);
            snd_buf_add(&b, "UPDATE campaigns SET hold_reason="
                "'meta_tier_limit',hold_message=");
            snd_buf_str(d->s, &b, why, strlen(why));
            snd_buf_add(&b, ",hold_until=UTC_TIMESTAMP(3)+INTERVAL %lld "
                "MICROSECOND WHERE id=%lld", wait * 1000, c->id);
            if (snd_db_run_free(d->s, &b, 1) != 0) {
                return -1;
            }
            snd_log(SND_LOG_INFO, "campaign %lld: Meta number %s at its "
                "messaging limit (%lld); %d held", c->id, pid, limit, k);
            c->held = 1;
        }
    }
    if (held == 0 && c->held) {
        snd_buf_add(&b, "UPDATE campaigns SET hold_reason=NULL,"
            "hold_message=NULL,hold_until=NULL WHERE id=%lld", c->id);
        if (snd_db_run_free(d->s, &b, 1) != 0) {
            return -1;
        }
        c->held = 0;
    }
    if (held > 0) {
        c->hold_check_ms = snd_now_ms()
            + (wait < SND_CQ_HOLD_RECHECK_MS ? wait : SND_CQ_HOLD_RECHECK_MS);
    }
    return held;
}

/* rows in their quiet hours: not_before, one CASE for the batch (as
   DATETIME arithmetic, whatever the session's time_zone) */
static int
snd_cq_defer(snd_disp_t *d, snd_cq_t *q, int n)
{
    snd_buf_t  b = { 0 };
    int        i, k = 0;

    snd_buf_add(&b, "UPDATE campaign_recipients SET not_before=CASE id");
    for (i = 0; i < n; i++) {
        if (q[i].not_before > 0) {
            snd_buf_add(&b, " WHEN %lld THEN TIMESTAMP'1970-01-01 00:00:00'"
                "+INTERVAL %lld SECOND", q[i].row_id, q[i].not_before);
            k++;
        }
    }
    snd_buf_add(&b, " END,updated_at=UTC_TIMESTAMP(3) WHERE id IN (");
    for (i = 0, k = 0; i < n; i++) {
        if (q[i].not_before > 0) {
            snd_buf_add(&b, "%s%lld", k++ ? "," : "", q[i].row_id);
        }
    }
    snd_buf_add(&b, ")");
    return snd_db_run_free(d->s, &b, k);
}

/* the rows' new states: queued (with the next seq), skipped, or deferred
   by quiet hours (still pending) */
static int
snd_cq_mark(snd_disp_t *d, snd_cq_t *q, int n)
{
    snd_buf_t  b = { 0 };
    int        i, k, queued;

    if (snd_cq_defer(d, q, n) != 0) {
        return -1;
    }

    for (queued = 1; queued >= 0; queued--) {
        if (queued) {
            snd_buf_add(&b, "UPDATE campaign_recipients SET state='queued',"
                "queue_seq=queue_seq+1,updated_at=UTC_TIMESTAMP(3) WHERE "
                "id IN (");
        } else {
            snd_buf_add(&b, "UPDATE campaign_recipients SET state='skipped',"
                "skip_reason='missing_variables',updated_at="
                "UTC_TIMESTAMP(3) WHERE id IN (");
        }
        for (i = 0, k = 0; i < n; i++) {
            if (q[i].not_before == 0 && !q[i].held
                && (q[i].dump != NULL) == queued)
            {
                snd_buf_add(&b, "%s%lld", k++ ? "," : "", q[i].row_id);
            }
        }
        snd_buf_add(&b, ")");
        if (snd_db_run_free(d->s, &b, k) != 0) {
            return -1;
        }
    }
    return 0;
}

/* one MULTI a lane: XADD and SET bc:{q..}:msg:<id> of every job in the
   lane its message id names (bc_lane.h), then the WAIT for replicas, if
   set, on that lane's node; 0, or -1 if any lane's failed (its rows stay
   'queued' without a job key: snd_camp_recover queues them again) */
static int
snd_cq_push_lane(snd_disp_t *d, snd_cq_t *q, int n, unsigned lane)
{
    bc_rc_t       *rc = d->s->redis;
    redisReply    *r;
    const char    *argv[5];
    char           key[64], stream[64];
    unsigned       lanes = SND_LANES(d->s);
    int            i, sent = 0, ok = 0;

    argv[0] = "MULTI";
    bc_rc_append(rc, 1, argv, NULL);
    sent++;
    for (i = 0; i < n; i++) {
        if (q[i].dump == NULL
            || bc_lane_of_id(q[i].message_id, strlen(q[i].message_id), lanes)
               != lane)
        {
            continue;
        }
        argv[0] = "XADD"; argv[1] = snd_send_stream(stream, lane);
        argv[2] = "*"; argv[3] = "job"; argv[4] = q[i].dump;
        bc_rc_append(rc, 5, argv, NULL);
        bc_lane_key(key, sizeof(key), BC_LANE_SEND, lane, BC_SFX_MSG "%s",
                    q[i].message_id);
        argv[0] = "SET"; argv[1] = key; argv[2] = q[i].dump; argv[3] = "EX";
        argv[4] = BC_MSG_TTL;
        bc_rc_append(rc, 5, argv, NULL);
        sent += 2;
    }
    argv[0] = "EXEC";
    bc_rc_append(rc, 1, argv, NULL);
    sent++;
    for (i = 0; i < sent; i++) {
        if (bc_rc_get_reply(rc, &r) != REDIS_OK) {
            snd_redis_lost(d->s, bc_rc_errstr(rc));
            return -1;
        }
        if (i == sent - 1) {
            ok = r->type == REDIS_REPLY_ARRAY;
        }
        freeReplyObject(r);
    }
    if (ok) {
        snd_redis_wait(d->s);
    }
    return ok ? 0 : -1;
}

static int
snd_cq_push(snd_disp_t *d, snd_cq_t *q, int n)
{
    unsigned  lanes = SND_LANES(d->s), lane;
    int       i, used[BC_LANES_MAX] = { 0 }, rc = 0;

    for (i = 0; i < n; i++) {
        if (q[i].dump != NULL) {
            used[bc_lane_of_id(q[i].message_id, strlen(q[i].message_id),
                               lanes)] = 1;
        }
    }
    for (lane = 0; lane < lanes && d->s->redis != NULL; lane++) {
        if (used[lane] && snd_cq_push_lane(d, q, n, lane) != 0) {
            rc = -1;
        }
    }
    return d->s->redis == NULL ? -1 : rc;
}

int
snd_camp_queue(snd_disp_t *d, snd_camp_t *c)
{
    snd_buf_t   b = { 0 };
    MYSQL_RES  *res;
    MYSQL_ROW   row;
    snd_cq_t   *q;
    int         want, n = 0, queued = 0, held = 0, i, rc = -1;

    if (c->held && snd_now_ms() < c->hold_check_ms) {
        return 0;
    }
    want = snd_cq_allowance(d, c);
    if (want <= 0) {
        return want;
    }
    if (snd_camp_lock(d, c, NULL) <= 0) {
        return c->seen ? -1 : 0;
    }
    snd_buf_add(&b, "SELECT r.id,r.contact_id,r.variant,r.address,"
        "r.message_id,r.queue_seq,r.step," SND_CAMP_CONTACT_COLS " FROM "
        "campaign_recipients r LEFT JOIN contacts c ON c.id=r.contact_id "
        "WHERE r.campaign_id=%lld AND r.state='pending' AND (r.not_before "
        "IS NULL OR r.not_before<=UTC_TIMESTAMP(3)) ORDER BY r.id LIMIT %d",
        c->id, want);
    res = snd_db_select(d->s, &b);
    if (res == NULL) {
        snd_db_rollback(d->s);
        return -1;
    }
    q = calloc(mysql_num_rows(res) + 1, sizeof(*q));
    while (q != NULL && (row = mysql_fetch_row(res)) != NULL) {
        if (snd_cq_job(d, c, row, &q[n]) < 0) {
            break;
        }
        queued += q[n++].dump != NULL;
    }
    if (q == NULL || row != NULL) {
        goto done;
    }
    if (n == 0) {
        snd_db_exec(d->s, "COMMIT", 6);
        rc = 0;
        goto done;
    }
    held = snd_cq_tier(d, c, q, n);
    if (held < 0) {
        goto done;
    }
    queued -= held;
    if (snd_cq_mark(d, q, n) != 0 || snd_db_exec(d->s, "COMMIT", 6) != 0) {
        goto done;
    }
    if (queued > 0 && snd_cq_push(d, q, n) != 0) {
        /* queued in MySQL, maybe not in the stream: let the lease go
           round, whose takeover puts such rows back to pending */
        snd_log(SND_LOG_ERR, "campaign %lld: queuing %d jobs failed; "
            "recovering", c->id, queued);
        c->seen = 0;
        rc = -1;
        goto freed;
    }
    c->tokens -= queued;
    snd_log(SND_LOG_DEBUG, "campaign %lld: queued %d", c->id, queued);
    rc = n == want && held == 0 ? 1 : 0;
    goto freed;
done:
    if (rc < 0) {
        snd_db_rollback(d->s);
    }
freed:
    mysql_free_result(res);
    for (i = 0; q != NULL && i < n; i++) {
        free(q[i].dump);
    }
    free(q);
    return rc;
}
